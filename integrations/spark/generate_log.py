"""Writes a synthetic impression log for scale tests: `rows` rows logged by a uniform-random
top-K ranking of `items` items (propensity 1/items at every position), clicks from a per-item,
per-position rate, a 20-value context column and a `row_id` key. Deterministic for a seed.

    python generate_log.py ROWS OUT.parquet [OUT.csv] [--partitions N] [--seed S]
"""
import argparse

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

ap = argparse.ArgumentParser()
ap.add_argument("rows", type=int)
ap.add_argument("parquet")
ap.add_argument("csv", nargs="?")
ap.add_argument("--items", type=int, default=80)
ap.add_argument("--positions", type=int, default=3)
ap.add_argument("--partitions", type=int, default=8)
ap.add_argument("--seed", type=int, default=1)
a = ap.parse_args()

spark = SparkSession.builder.master("local[2]").appName("reckit-generate-log").getOrCreate()
df = (spark.range(a.rows, numPartitions=a.partitions).withColumnRenamed("id", "row_id")
      .withColumn("item_id", (F.abs(F.xxhash64("row_id", F.lit(a.seed))) % a.items).cast("int"))
      .withColumn("position", (F.col("row_id") % a.positions + 1).cast("int"))
      .withColumn("u", F.abs(F.xxhash64("row_id", F.lit(a.seed + 1))) % 1000000 / 1000000.0)
      .withColumn("click", F.when(F.col("u") < 0.004 * (1 + F.col("item_id") % 5) / F.col("position"), 1).otherwise(0))
      .withColumn("propensity_score", F.lit(1.0 / a.items))
      .withColumn("user_feature_0", F.concat(F.lit("u"), (F.abs(F.xxhash64("row_id", F.lit(a.seed + 2))) % 20).cast("string")))
      .drop("u"))
df.write.mode("overwrite").parquet(a.parquet)
if a.csv:
    df.coalesce(1).write.mode("overwrite").option("header", True).csv(a.csv)
spark.stop()
