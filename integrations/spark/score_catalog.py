"""Top-k of a sharded catalog for every user on Spark, with RecKit doing the arithmetic.

Users (a DataFrame with a user id and a state vector) are ordered by user id and cut into
blocks; items (an integer id 0..N-1, a vector and optionally a bias) are cut into shards of
consecutive ids. Every (user block, item shard) pair is one task: `reckit score --partial` on
its executor. The pieces of each user block are merged with `reckit score merge` (a k-way merge),
which gives exactly the top-k one `reckit score` over the whole catalog gives: same items, same
scores (RecKit's canonical scores do not depend on the shard), ties to the lower item id.

    spark-submit integrations/spark/score_catalog.py --users users.parquet --items items.parquet \\
        --reckit /path/to/reckit --k 10 --item-shards 16 --user-blocks 8 --output topk.parquet

The output has one row per (user, rank): user id, rank (from 1), item id, score. With
`--items-from CHECKPOINT` the items are a trained model's head instead (`--item-count` rows,
shards read by `--item-range`; the checkpoint must be readable on the executors).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

from reckit_spark import executable, ship
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import FloatType, IntegerType, StringType, StructField, StructType


def run(cmd):
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if res.returncode != 0:
        raise RuntimeError(" ".join(cmd[:3]) + " failed: " + res.stderr.decode("utf-8", "replace").strip())
    return res.stdout


def main(argv):
    ap = argparse.ArgumentParser(description="Sharded catalog top-k with RecKit on Spark")
    ap.add_argument("--users", required=True, help="Parquet: a user id column and a state (array<float>) column")
    ap.add_argument("--items", help="Parquet: an integer id 0..N-1, a vector (array<float>) and optionally a bias column")
    ap.add_argument("--items-from", help="a reckit train checkpoint whose head gives the items (instead of --items)")
    ap.add_argument("--item-count", type=int, help="with --items-from: the head's rows")
    ap.add_argument("--head", default="supervised", choices=["supervised", "q"])
    ap.add_argument("--user-col", default="user_id")
    ap.add_argument("--state-col", default="state")
    ap.add_argument("--item-col", default="item_id")
    ap.add_argument("--vector-col", default="vector")
    ap.add_argument("--bias-col", default="bias", help="used when present")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--item-shards", type=int, default=4)
    ap.add_argument("--user-blocks", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1, help="reckit threads per task")
    ap.add_argument("--reckit", default="reckit")
    ap.add_argument("--output", required=True, help="Parquet (default) or .csv")
    args = ap.parse_args(argv)
    if (args.items is None) == (args.items_from is None):
        ap.error("give --items or --items-from")

    spark = SparkSession.builder.appName("reckit-score-catalog").getOrCreate()
    sc = spark.sparkContext
    local_reckit, shipped = ship(sc, args.reckit)
    t0 = time.time()

    # Users in id order, numbered: the global state index of each.
    users = spark.read.parquet(args.users)
    vec = lambda c: F.concat_ws(",", F.col(c).cast("array<float>").cast("array<string>"))
    indexed = (users.select(F.col(args.user_col).cast("string").alias("u"), vec(args.state_col).alias("line"))
               .orderBy("u").rdd.zipWithIndex().map(lambda p: (p[1], p[0][0], p[0][1])))
    n_users = indexed.count()
    block = max(1, -(-n_users // args.user_blocks))
    user_blocks = (indexed.map(lambda t: (t[0] // block, (t[0], t[2])))
                   .groupByKey()
                   .map(lambda kv: (kv[0], kv[0] * block, "\n".join(l for _, l in sorted(kv[1])) + "\n")))
    user_ids = indexed.map(lambda t: (t[0], t[1]))

    # Item shards of consecutive ids.
    if args.items:
        items = spark.read.parquet(args.items)
        has_bias = args.bias_col in items.columns
        cols = [F.col(args.item_col).cast("long").alias("i"), vec(args.vector_col).alias("line")]
        if has_bias:
            cols.append(F.col(args.bias_col).cast("float").cast("string").alias("b"))
        stats = items.agg(F.count("*"), F.min(args.item_col), F.max(args.item_col)).first()
        n_items = stats[0]
        if n_items == 0 or stats[1] != 0 or stats[2] != n_items - 1:
            raise SystemExit("score_catalog: item ids must be 0..N-1 without gaps (count %s, min %s, max %s)" % tuple(stats))
        shard = max(1, -(-n_items // args.item_shards))
        shards = (items.select(*cols).rdd.map(lambda r: (r[0] // shard, (r[0], r[1], r[2] if has_bias else None)))
                  .groupByKey()
                  .map(lambda kv: (kv[0], kv[0] * shard, sorted(kv[1]))))
        shards = shards.map(lambda s: (s[0], s[1], len(s[2]), "\n".join(x[1] for x in s[2]) + "\n",
                                       ("\n".join(x[2] for x in s[2]) + "\n") if has_bias else None))
    else:
        if not args.item_count:
            raise SystemExit("score_catalog: --items-from needs --item-count")
        n_items = args.item_count
        shard = max(1, -(-n_items // args.item_shards))
        shards = sc.parallelize([(s, s * shard, min(shard, n_items - s * shard), None, None)
                                 for s in range(-(-n_items // shard))], numSlices=-(-n_items // shard))

    k, threads, head, items_from, catalog = args.k, args.threads, args.head, args.items_from, n_items
    block_size = block

    def score_piece(pair):
        (b, first_state, states_text), (s, first_item, count, items_text, bias_text) = pair
        work = tempfile.mkdtemp(prefix="reckit-piece-")
        try:
            states = os.path.join(work, "states.csv")
            with open(states, "w") as f:
                f.write(states_text)
            out = os.path.join(work, "piece.bin")
            cmd = [executable(local_reckit, shipped), "score", "--states-file", states, "--first-state", str(first_state),
                   "--k", str(k), "--threads", str(threads), "--partial", out]
            if items_from:
                cmd += ["--items-from", items_from, "--head", head, "--item-range", "%d:%d" % (first_item, first_item + count)]
            else:
                path = os.path.join(work, "items.csv")
                with open(path, "w") as f:
                    f.write(items_text)
                cmd += ["--items-file", path, "--first-item", str(first_item), "--catalog-size", str(catalog)]
                if bias_text is not None:
                    bias = os.path.join(work, "bias.csv")
                    with open(bias, "w") as f:
                        f.write(bias_text)
                    cmd += ["--bias-file", bias]
            run(cmd)
            with open(out, "rb") as f:
                return (b, (s, f.read()))
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def merge_block(kv):
        b, pieces = kv
        first_state = b * block_size
        work = tempfile.mkdtemp(prefix="reckit-merge-")
        try:
            files = []
            for s, data in sorted(pieces):
                path = os.path.join(work, "piece%05d.bin" % s)
                with open(path, "wb") as f:
                    f.write(data)
                files.append(path)
            text = run([executable(local_reckit, shipped), "score", "merge", *files, "--first-state", str(first_state),
                        "--format", "csv"]).decode()
            for line in text.splitlines()[1:]:
                state, rank, item, score = line.split(",")
                yield (int(state), (int(rank), int(item), score))
        finally:
            shutil.rmtree(work, ignore_errors=True)

    pieces = user_blocks.cartesian(shards).map(score_piece)
    tops = pieces.groupByKey().flatMap(merge_block)
    rows = tops.join(user_ids).map(lambda kv: (kv[1][1], kv[1][0][0], kv[1][0][1], float(kv[1][0][2])))
    schema = StructType([StructField("user_id", StringType()), StructField("rank", IntegerType()),
                         StructField("item_id", IntegerType()), StructField("score", FloatType())])
    out = spark.createDataFrame(rows, schema)
    if args.output.endswith(".csv"):
        out.orderBy("user_id", "rank").coalesce(1).write.mode("overwrite").option("header", True).csv(args.output)
    else:
        out.write.mode("overwrite").parquet(args.output)
    print("score_catalog on Spark: %d users in %d blocks x %d items in %d shards, k=%d: %.1f s"
          % (n_users, -(-n_users // block), n_items, -(-n_items // shard), k, time.time() - t0), file=sys.stderr, flush=True)
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
