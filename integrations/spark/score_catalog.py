"""Top-k of a sharded catalog for every user on Spark, with RecKit's Python package doing the
arithmetic in the executors.

Users (a user id and a state vector) are cut into blocks by a hash of the id; items (an integer
id 0..N-1, a vector and optionally a bias) into shards of consecutive ids. Every (user block,
item shard) pair is one Arrow group (`cogroup(...).applyInArrow`): its executor scores the
block's states against the shard with `reckit.CatalogScorer(..., first_item=, catalog_size=)`.
Each block's pieces are then merged with `reckit.merge_topk` (`groupBy(...).applyInArrow`),
which gives exactly the top-k one `reckit score` over the whole catalog gives: same items, same
scores (RecKit's canonical scores do not depend on the shard), ties to the lower item id. Rows
travel as Arrow columns: no CSV text, no subprocess.

    spark-submit integrations/spark/score_catalog.py --users users.parquet --items items.parquet \\
        --k 10 --item-shards 16 --user-blocks 8 --output topk.parquet

The output has one row per (user, rank): user id, rank (from 1), item id, score. With
`--items-from CHECKPOINT` the items are a trained model's head instead (row i is item i; the
checkpoint must be readable on the executors, which load it once per Python worker).

The executors need the `reckit` wheel: in the cluster image (`pip install reckit-*.whl`), or in
a packed virtual environment shipped with the job (`venv-pack -o env.tar.gz`, then
`spark-submit --archives env.tar.gz#env` with `PYSPARK_PYTHON=./env/bin/python`).
"""

import argparse
import sys
import time

import pyarrow as pa
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

import reckit

PIECE = pa.schema([("block", pa.int32()), ("u", pa.string()), ("shard", pa.int32()), ("slot", pa.int32()),
                   ("item_id", pa.int32()), ("score", pa.float32())])
TOP = pa.schema([("user_id", pa.string()), ("rank", pa.int32()), ("item_id", pa.int32()), ("score", pa.float32())])


def ddl(schema):
    names = {pa.int32(): "int", pa.string(): "string", pa.float32(): "float"}
    return ", ".join(f"{f.name} {names[f.type]}" for f in schema)


def matrix(column, what):
    """A list<float> column as a float32 [rows, d] array (every list of one length)."""
    import numpy as np

    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if column.null_count:
        raise ValueError(f"{what}: a row has no vector")
    lengths = column.value_lengths().to_numpy(zero_copy_only=False)
    if len(lengths) and (lengths != lengths[0]).any():
        raise ValueError(f"{what}: vectors of different lengths ({lengths.min()} to {lengths.max()})")
    values = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    return values.reshape(len(column), int(lengths[0]) if len(lengths) else 0)


def piece_rows(block, users, shard, idx, sc):
    """A piece's top-k as rows (block, user, shard, slot, item, score); unused slots left out."""
    import numpy as np

    b, k = idx.shape
    keep = (idx >= 0).ravel()
    return pa.table({
        "block": pa.array(np.full(keep.sum(), block, dtype=np.int32)),
        "u": pa.array(np.repeat(np.asarray(users, dtype=object), k)[keep], type=pa.string()),
        "shard": pa.array(np.full(keep.sum(), shard, dtype=np.int32)),
        "slot": pa.array(np.tile(np.arange(k, dtype=np.int32), b)[keep]),
        "item_id": pa.array(idx.ravel()[keep].astype(np.int32)),
        "score": pa.array(sc.ravel()[keep]),
    }, schema=PIECE)


def score_piece(k, threads, shard_size, catalog):
    """cogroup applyInArrow: one (user block, item shard) pair's states against its items."""

    def run(users, items):
        import numpy as np
        import reckit

        if users.num_rows == 0 or items.num_rows == 0:
            return PIECE.empty_table()
        reckit.set_threads(threads)
        block, shard = users.column("block")[0].as_py(), users.column("shard")[0].as_py()
        ids = items.column("i").to_numpy()
        order = np.argsort(ids, kind="stable")
        first = shard * shard_size
        if not np.array_equal(ids[order], np.arange(first, first + len(ids))):
            raise ValueError(f"item shard {shard}: ids are not {first}..{first + len(ids) - 1} without gaps")
        vectors = matrix(items.column("vector").take(pa.array(order)), "items")
        bias = items.column("b").take(pa.array(order)).to_numpy().astype(np.float32) \
            if "b" in items.column_names else None
        states = matrix(users.column("state"), "users")
        scorer = reckit.CatalogScorer(vectors, bias=bias, first_item=first, catalog_size=catalog)
        idx, sc = scorer.topk(states, k)
        return piece_rows(block, users.column("u").to_pylist(), shard, idx, sc)

    return run


_heads = {}


def score_model_piece(k, threads, shard_size, catalog, checkpoint, head):
    """groupBy applyInArrow: one (user block, item shard) pair against a model head's rows."""

    def run(users):
        import reckit

        if users.num_rows == 0:
            return PIECE.empty_table()
        reckit.set_threads(threads)
        if (checkpoint, head) not in _heads:  # once per Python worker
            _heads[(checkpoint, head)] = reckit.load_model(checkpoint).item_vectors(head=head)
        vectors, bias = _heads[(checkpoint, head)]
        block, shard = users.column("block")[0].as_py(), users.column("shard")[0].as_py()
        a, b = shard * shard_size, min(catalog, (shard + 1) * shard_size)
        scorer = reckit.CatalogScorer(vectors[a:b], bias=bias[a:b], first_item=a, catalog_size=catalog)
        idx, sc = scorer.topk(matrix(users.column("state"), "users"), k)
        return piece_rows(block, users.column("u").to_pylist(), shard, idx, sc)

    return run


def merge_block(k, shards):
    """groupBy applyInArrow: a user block's pieces (every shard's top-k) merged to its top-k."""

    def run(pieces):
        import numpy as np
        import reckit

        if pieces.num_rows == 0:
            return TOP.empty_table()
        users = pieces.column("u").to_numpy(zero_copy_only=False)
        names, row = np.unique(users, return_inverse=True)
        shard = pieces.column("shard").to_numpy()
        slot = pieces.column("slot").to_numpy()
        parts = []
        for s in range(shards):
            idx = np.full((len(names), k), -1, dtype=np.int64)
            sc = np.full((len(names), k), np.nan, dtype=np.float32)
            mine = shard == s
            idx[row[mine], slot[mine]] = pieces.column("item_id").to_numpy()[mine]
            sc[row[mine], slot[mine]] = pieces.column("score").to_numpy()[mine]
            parts.append((idx, sc))
        idx, sc = reckit.merge_topk(parts, k)
        keep = (idx >= 0).ravel()
        return pa.table({
            "user_id": pa.array(np.repeat(names, k)[keep], type=pa.string()),
            "rank": pa.array(np.tile(np.arange(1, k + 1, dtype=np.int32), len(names))[keep]),
            "item_id": pa.array(idx.ravel()[keep].astype(np.int32)),
            "score": pa.array(sc.ravel()[keep]),
        }, schema=TOP)

    return run


def main(argv):
    ap = argparse.ArgumentParser(description="Sharded catalog top-k with RecKit on Spark (Arrow, the Python API)")
    ap.add_argument("--users", required=True, help="Parquet: a user id column and a state (array<float>) column")
    ap.add_argument("--items", help="Parquet: an integer id 0..N-1, a vector (array<float>) and optionally a bias column")
    ap.add_argument("--items-from", help="a reckit train checkpoint whose head gives the items (instead of --items)")
    ap.add_argument("--head", default="supervised", choices=["supervised", "q"])
    ap.add_argument("--user-col", default="user_id")
    ap.add_argument("--state-col", default="state")
    ap.add_argument("--item-col", default="item_id")
    ap.add_argument("--vector-col", default="vector")
    ap.add_argument("--bias-col", default="bias", help="used when present")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--item-shards", type=int, default=4)
    ap.add_argument("--user-blocks", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1, help="RecKit threads per task")
    ap.add_argument("--output", required=True, help="Parquet (default) or .csv")
    args = ap.parse_args(argv)
    if (args.items is None) == (args.items_from is None):
        ap.error("give --items or --items-from")
    if args.k < 1 or args.item_shards < 1 or args.user_blocks < 1:
        ap.error("--k, --item-shards and --user-blocks must be positive")

    spark = SparkSession.builder.appName("reckit-score-catalog").getOrCreate()
    t0 = time.time()
    blocks, k = args.user_blocks, args.k
    # Users in blocks by a hash of their id; every block meets every shard.
    users = (spark.read.parquet(args.users)
             .select(F.col(args.user_col).cast("string").alias("u"),
                     F.col(args.state_col).cast("array<float>").alias("state"))
             .withColumn("block", F.pmod(F.xxhash64("u"), F.lit(blocks)).cast("int")))

    if args.items:
        items = spark.read.parquet(args.items)
        cols = [F.col(args.item_col).cast("long").alias("i"), F.col(args.vector_col).cast("array<float>").alias("vector")]
        if args.bias_col in items.columns:
            cols.append(F.col(args.bias_col).cast("float").alias("b"))
        items = items.select(*cols)
        stats = items.agg(F.count("*"), F.min("i"), F.max("i")).first()
        catalog = stats[0]
        if catalog == 0 or stats[1] != 0 or stats[2] != catalog - 1:
            raise SystemExit("score_catalog: item ids must be 0..N-1 without gaps (count %s, min %s, max %s)" % tuple(stats))
    else:
        catalog = reckit.load_model(args.items_from).items
    shard_size = max(1, -(-catalog // args.item_shards))
    shards = -(-catalog // shard_size)
    pairs = users.withColumn("shard", F.explode(F.sequence(F.lit(0), F.lit(shards - 1))))
    if args.items:
        items = (items.withColumn("shard", (F.col("i") / F.lit(shard_size)).cast("int"))
                 .withColumn("block", F.explode(F.sequence(F.lit(0), F.lit(blocks - 1)))))
        pieces = (pairs.groupBy("block", "shard").cogroup(items.groupBy("block", "shard"))
                  .applyInArrow(score_piece(k, args.threads, shard_size, catalog), ddl(PIECE)))
    else:
        pieces = pairs.groupBy("block", "shard").applyInArrow(
            score_model_piece(k, args.threads, shard_size, catalog, args.items_from, args.head), ddl(PIECE))
    out = pieces.groupBy("block").applyInArrow(merge_block(k, shards), ddl(TOP))
    if args.output.endswith(".csv"):
        out.orderBy("user_id", "rank").coalesce(1).write.mode("overwrite").option("header", True).csv(args.output)
    else:
        out.write.mode("overwrite").parquet(args.output)
    print("score_catalog on Spark: users in %d blocks x %d items in %d shards, k=%d: %.1f s"
          % (blocks, catalog, shards, k, time.time() - t0), flush=True)
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
