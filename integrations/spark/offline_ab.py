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

Two ways rows reach the executors (`--reader`):

- `spark` (any input Spark reads): Spark reads the log and gives each partition's rows to the
  executor's Python worker as Arrow record batches (`mapInArrow`).
- `pyarrow` (Parquet only): Spark schedules one task per Parquet row group, and each task reads
  its row group itself with pyarrow, only the columns the run needs. The rows skip the JVM (its
  Parquet decoding and Arrow conversion cost more than RecKit's arithmetic at 10M rows); the
  executors must reach the files through a filesystem pyarrow knows (local or shared paths,
  `hdfs://`, `s3://`, `gs://`).
- `auto` (the default): `pyarrow` for a Parquet log whose files pyarrow opens on the driver,
  else `spark` (saying why on stderr).

Both give the same report.

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


def row_group_pass(options, after, threads, columns):
    """An RDD function over (file URI, row group) units: each read with pyarrow, its state out."""

    def run(units):
        import pyarrow.fs as pafs
        import pyarrow.parquet as pq
        import reckit

        reckit.set_threads(threads)
        for uri, group in units:
            fs, path = pafs.FileSystem.from_uri(uri)
            f = pq.ParquetFile(path, filesystem=fs)
            names = [c for c in columns if c in f.schema_arrow.names]  # a missing one: reckit names it
            table = f.read_row_group(group, columns=names)
            if table.num_rows:
                yield reckit.offline_ab(table, partial=True, after=after, **options)

    return run


def parquet_row_groups(files):
    """(URI, row group, rows) of every row group of the files (their footers, read on the driver)."""
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

    units = []
    for uri in files:
        fs, path = pafs.FileSystem.from_uri(uri)
        meta = pq.ParquetFile(path, filesystem=fs).metadata
        units += [(uri, g, meta.row_group(g).num_rows) for g in range(meta.num_row_groups)]
    return units


def main(argv):
    ap = argparse.ArgumentParser(description="Offline A/B with RecKit on Spark (Arrow, the Python API)")
    ap.add_argument("--logs", required=True, help="the log: a Parquet path, or a CSV with a header")
    ap.add_argument("--input-format", choices=["parquet", "csv"], default=None,
                    help="default: from the extension (.csv is CSV, else Parquet)")
    ap.add_argument("--reader", choices=["auto", "spark", "pyarrow"], default="auto",
                    help="spark: Spark reads the log, partitions go as Arrow batches (any input); pyarrow: each "
                         "task reads one Parquet row group with pyarrow (Parquet only; see the docstring); auto "
                         "(default): pyarrow where it can open the files, else spark")
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
    # Only the columns the run reads travel (a missing one stays missing: reckit names it).
    columns = reckit.log_columns(format=options.get("format", "obd"), columns=options.get("columns"),
                                 row_key=options.get("row_key"))
    df = df.select(*[c for c in columns if c in df.columns])
    reader = args.reader
    if reader == "pyarrow" and fmt != "parquet":
        print("offline_ab.py: --reader pyarrow reads Parquet logs only", file=sys.stderr)
        return 2
    if reader == "auto":
        reader = "spark"
        if fmt == "parquet":
            try:
                groups = parquet_row_groups(df.inputFiles())
                reader = "pyarrow"
            except Exception as e:  # a filesystem pyarrow does not know: Spark reads the rows
                print("offline_ab.py: Spark reads the log (pyarrow cannot open its files: %s)" % e, file=sys.stderr)
    if reader == "pyarrow":
        if args.reader == "pyarrow":
            groups = parquet_row_groups(df.inputFiles())
        units = [(uri, g) for uri, g, n in groups if n > 0]
        tasks = spark.sparkContext.parallelize(units, numSlices=max(1, len(units)))
    after = None
    passes = 0
    t0 = time.time()
    while True:
        passes += 1
        if reader == "pyarrow":
            states = tasks.mapPartitions(row_group_pass(options, after, threads, columns)).collect()
        else:
            states = [bytes(r.state) for r in df.mapInArrow(partition_pass(options, after, threads), SCHEMA).collect()]
        merged = reckit.merge(states)
        if isinstance(merged, reckit.OfflineABReport):
            break
        after = merged
    if args.json:
        merged.to_json(args.json)
    if args.html:
        merged.to_html(args.html)
    pieces = len(units) if reader == "pyarrow" else df.rdd.getNumPartitions()
    print("offline-ab on Spark (%s reader): %d %s, %d passes, %.1f s (%d rows, %d estimates)"
          % (reader, pieces, "row groups" if reader == "pyarrow" else "partitions", passes,
             time.time() - t0, merged.rows, len(merged.records())), flush=True)
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
