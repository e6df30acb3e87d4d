"""Offline A/B testing of ranking policies on Spark, with RecKit's Python package doing the
arithmetic in the executors.

Every partition of the log DataFrame reaches its executor as Arrow record batches (`mapInArrow`)
and goes to `reckit.offline_ab(..., partial=True)` as columns: no CSV text, no subprocess. The
driver merges the partitions' states with `reckit.merge`. Ratio estimators need one pass; the
reward models more: the driver repeats the partition pass with the merged state (`after=`) until
the merge gives the report. The report equals the one a single `reckit offline-ab` run gives on
the whole log, as long as rows carry a key column (`row_key`, which the Poisson bootstrap weights
and cross-fitting folds hash).

    spark-submit integrations/spark/offline_ab.py --logs events.parquet --config job.json --json report.json

`job.json` holds `reckit.offline_ab`'s keyword arguments (`format`, `columns`, `row_key`, `k` —
required —, `targets`, `logging`, `caps`, `bootstrap`, `seed`, `item_features`, `piece_groups`,
`reward_models`, `method`, `simulations`), with `threads` for RecKit's threads in each task.
Policy spec paths and item features must exist on the executors (a shared filesystem).

The executors need the `reckit` wheel: in the cluster image (`pip install reckit-*.whl`), or in
a packed virtual environment shipped with the job (`venv-pack -o env.tar.gz`, then
`spark-submit --archives env.tar.gz#env` with `PYSPARK_PYTHON=./env/bin/python`).
"""

import argparse
import json
import sys
import time

import pyarrow as pa
from pyspark.sql import SparkSession

import reckit

SCHEMA = "state binary"


def partition_pass(options, after, threads):
    """A mapInArrow function: this partition's rows through one pass, its state out."""

    def run(batches):
        import pyarrow as pa
        import reckit

        table = pa.Table.from_batches(list(batches))
        if table.num_rows == 0:
            return
        reckit.set_threads(threads)
        state = reckit.offline_ab(table, partial=True, after=after, **options)
        yield pa.RecordBatch.from_pydict({"state": [state]}, schema=pa.schema([("state", pa.binary())]))

    return run


def main(argv):
    ap = argparse.ArgumentParser(description="Offline A/B with RecKit on Spark (Arrow, the Python API)")
    ap.add_argument("--logs", required=True, help="the log: a Parquet path, or a CSV with a header")
    ap.add_argument("--input-format", choices=["parquet", "csv"], default=None,
                    help="default: from the extension (.csv is CSV, else Parquet)")
    ap.add_argument("--config", required=True, help="reckit.offline_ab's keyword arguments as JSON (k required)")
    ap.add_argument("--json", help="write the report as JSON here (on the driver)")
    ap.add_argument("--html", help="write the HTML report here (on the driver)")
    args = ap.parse_args(argv)
    with open(args.config, encoding="utf-8") as f:
        options = json.load(f)
    threads = int(options.pop("threads", 1))
    if options.get("k") is None:
        print("offline_ab.py: the configuration needs \"k\" (every partition evaluates the same positions)",
              file=sys.stderr)
        return 2

    spark = SparkSession.builder.appName("reckit-offline-ab").getOrCreate()
    fmt = args.input_format or ("csv" if args.logs.endswith(".csv") else "parquet")
    df = (spark.read.option("header", True).option("inferSchema", True).csv(args.logs) if fmt == "csv"
          else spark.read.parquet(args.logs))
    after = None
    passes = 0
    t0 = time.time()
    while True:
        passes += 1
        rows = df.mapInArrow(partition_pass(options, after, threads), SCHEMA).collect()
        merged = reckit.merge([bytes(r.state) for r in rows])
        if isinstance(merged, reckit.OfflineABReport):
            break
        after = merged
    if args.json:
        merged.to_json(args.json)
    if args.html:
        merged.to_html(args.html)
    print("offline-ab on Spark: %d partitions, %d passes, %.1f s (%d rows, %d estimates)"
          % (df.rdd.getNumPartitions(), passes, time.time() - t0, merged.rows, len(merged.records())),
          file=sys.stderr, flush=True)
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
