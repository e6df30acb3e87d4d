"""Writes a synthetic catalog and user states for the sharded-scoring test and figures: items
(`item_id` 0..N-1, `vector` array<float>, `bias` float) and users (`user_id` string, `state`
array<float>) as Parquet, and optionally the same as headerless CSV matrices in id order (what a
single `reckit score` reads). Deterministic for a seed.

    python generate_catalog.py ITEMS USERS DIM OUT_DIR [--csv] [--seed S] [--partitions N]
"""
import argparse
import os

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

ap = argparse.ArgumentParser()
ap.add_argument("items", type=int)
ap.add_argument("users", type=int)
ap.add_argument("dim", type=int)
ap.add_argument("out")
ap.add_argument("--csv", action="store_true", help="also write items.csv, bias.csv, states.csv for a single reckit run")
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--partitions", type=int, default=8)
a = ap.parse_args()

spark = (SparkSession.builder.master("local[2]").appName("reckit-generate-catalog")
         .config("spark.driver.memory", "4g").getOrCreate())


def gaussian(seed, n):
    """n standard normal floats from hashes of the row id (independent of partitioning)."""
    cols = []
    for j in range(n):
        u1 = (F.abs(F.xxhash64("id", F.lit(seed), F.lit(2 * j))) % 1000003 + 1) / 1000004.0
        u2 = (F.abs(F.xxhash64("id", F.lit(seed), F.lit(2 * j + 1))) % 1000003) / 1000003.0
        cols.append(F.sqrt(-2 * F.log(u1)) * F.cos(2 * 3.141592653589793 * u2) / F.lit(a.dim ** 0.5))
    return F.array(*cols).cast("array<float>")


items = (spark.range(a.items, numPartitions=a.partitions)
         .select(F.col("id").cast("int").alias("item_id"), gaussian(a.seed, a.dim).alias("vector"),
                 ((F.abs(F.xxhash64("id", F.lit(a.seed + 7))) % 1000) / 1000.0 - 0.5).cast("float").alias("bias")))
users = (spark.range(a.users, numPartitions=a.partitions)
         .select(F.format_string("u%08d", F.col("id")).alias("user_id"), gaussian(a.seed + 1, a.dim).alias("state")))
items.write.mode("overwrite").parquet(os.path.join(a.out, "items.parquet"))
users.write.mode("overwrite").parquet(os.path.join(a.out, "users.parquet"))
if a.csv:
    def write_lines(df, path):
        # One file, rows in order; floats as Spark prints them (shortest round-trip), which
        # reckit's strtof reads back to the same Float.
        with open(path, "w") as f:
            for r in df.toLocalIterator():   # streamed: a million rows need not fit the driver
                f.write(r[0] + "\n")
    items_sorted = spark.read.parquet(os.path.join(a.out, "items.parquet")).orderBy("item_id")
    write_lines(items_sorted.select(F.concat_ws(",", F.col("vector").cast("array<string>"))), os.path.join(a.out, "items.csv"))
    write_lines(items_sorted.select(F.col("bias").cast("string")), os.path.join(a.out, "bias.csv"))
    users_sorted = spark.read.parquet(os.path.join(a.out, "users.parquet")).orderBy("user_id")
    write_lines(users_sorted.select(F.concat_ws(",", F.col("state").cast("array<string>"))), os.path.join(a.out, "states.csv"))
    write_lines(users_sorted.select("user_id"), os.path.join(a.out, "user_ids.txt"))
spark.stop()
