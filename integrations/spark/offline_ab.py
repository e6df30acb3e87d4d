"""Offline A/B testing of ranking policies on Spark, with RecKit doing the arithmetic.

Every partition of the log DataFrame is piped as CSV into `reckit offline-ab --logs - --partial
STATE` on its executor; the driver merges the partitions' states with `reckit offline-ab merge`.
Ratio estimators need one pass; the reward models more (one per Newton iteration of the
logistic model): the driver repeats the partition pass with `--after MERGED` until the merge
prints the report. The report equals the one a single `reckit offline-ab` run prints on the
whole log, as long as rows carry a key column (`--row-key`, which Poisson-bootstrap weights and
cross-fitting folds hash).

    spark-submit integrations/spark/offline_ab.py --logs events.parquet --reckit /path/to/reckit \\
        --json report.json -- --format csv --columns item=item_id,position=pos,reward=click,... \\
        --row-key row_id --k 3 --target policy.json

Everything after `--` is passed to `reckit offline-ab` unchanged (policy spec paths must exist on
the executors: a shared filesystem, or ship them with `--files` and give bare names).
"""

import argparse
import csv
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time

from reckit_spark import executable, ship
from pyspark.sql import SparkSession


def cell(v):
    """A DataFrame value as reckit's CSV reader reads it (floats in shortest round-trip form)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def as_csv_lines(df):
    """One CSV line per row, built in the JVM (no Python per field): strings are quoted when they
    hold a comma, a quote or a line break; doubles print in Java's shortest round-trip form."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType

    def field(name, dtype):
        c = F.col("`%s`" % name)
        if isinstance(dtype, StringType):
            quoted = F.concat(F.lit('"'), F.regexp_replace(c, '"', '""'), F.lit('"'))
            return F.when(c.rlike('[,"\\r\\n]'), quoted).otherwise(c)
        return F.coalesce(c.cast("string"), F.lit(""))

    return df.select(F.concat_ws(",", *[F.coalesce(field(f.name, f.dataType), F.lit("")) for f in df.schema.fields]).alias("line"))


def partition_pass(reckit, shipped, header, options, after):
    """A mapPartitions function: this partition's rows (one CSV line each) through one reckit
    pass, its state out."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(header)
    header_line = out.getvalue()

    def run(rows):
        work = tempfile.mkdtemp(prefix="reckit-partition-")
        try:
            state = os.path.join(work, "state.json")
            cmd = [executable(reckit, shipped), "offline-ab", "--logs", "-", *options, "--partial", state]
            if after is not None:
                previous = os.path.join(work, "after.json")
                with open(previous, "wb") as f:
                    f.write(after)
                cmd += ["--after", previous]
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            text = io.TextIOWrapper(proc.stdin, encoding="utf-8", newline="", write_through=False)
            try:
                text.write(header_line)
                # Rows arrive as CSV lines built in the JVM; batches keep Python's per-row cost low.
                batch = []
                for r in rows:
                    batch.append(r[0])
                    if len(batch) == 4096:
                        text.write("\n".join(batch) + "\n")
                        batch = []
                if batch:
                    text.write("\n".join(batch) + "\n")
                text.close()
            except BrokenPipeError:
                pass
            err = proc.stderr.read().decode("utf-8", "replace")
            if proc.wait() != 0:
                raise RuntimeError("reckit offline-ab --partial failed: " + err.strip())
            with open(state, "rb") as f:
                yield f.read()
        finally:
            shutil.rmtree(work, ignore_errors=True)

    return run


def main(argv):
    if "--" in argv:
        i = argv.index("--")
        ours, options = argv[:i], argv[i + 1:]
    else:
        ours, options = argv, []
    ap = argparse.ArgumentParser(description="Offline A/B with RecKit on Spark")
    ap.add_argument("--logs", required=True, help="the log: a Parquet path, or a CSV with a header")
    ap.add_argument("--input-format", choices=["parquet", "csv"], default=None,
                    help="default: from the extension (.csv is CSV, else Parquet)")
    ap.add_argument("--reckit", default="reckit", help="the reckit binary: a file is shipped to the executors, a bare name is found on their PATH")
    ap.add_argument("--json", help="write the report as JSON here (on the driver)")
    ap.add_argument("--html", help="write the HTML report here (on the driver)")
    ap.add_argument("--work", help="a driver folder for the merged states (default: a temporary one)")
    args = ap.parse_args(ours)

    spark = SparkSession.builder.appName("reckit-offline-ab").getOrCreate()
    fmt = args.input_format or ("csv" if args.logs.endswith(".csv") else "parquet")
    df = spark.read.option("header", True).csv(args.logs) if fmt == "csv" else spark.read.parquet(args.logs)
    header = df.columns
    lines = as_csv_lines(df)
    local_reckit, shipped = ship(spark.sparkContext, args.reckit)

    work = args.work or tempfile.mkdtemp(prefix="reckit-driver-")
    os.makedirs(work, exist_ok=True)
    after = None
    n = 0
    t0 = time.time()
    while True:
        n += 1
        states = lines.rdd.mapPartitions(partition_pass(local_reckit, shipped, header, options, after)).collect()
        files = []
        for i, s in enumerate(states):
            path = os.path.join(work, "pass%d-part%05d.json" % (n, i))
            with open(path, "wb") as f:
                f.write(s)
            files.append(path)
        merged = os.path.join(work, "merged%d.json" % n)
        cmd = [local_reckit, "offline-ab", "merge", *files, "--output", merged]
        if args.json:
            cmd += ["--json", args.json]
        if args.html:
            cmd += ["--html", args.html]
        res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if res.returncode != 0:
            print(res.stderr, end="", file=sys.stderr, flush=True)
            spark.stop()
            return res.returncode
        if not os.path.exists(merged):
            print(res.stdout, end="", flush=True)
            print(res.stderr, end="", file=sys.stderr, flush=True)
            break
        with open(merged, "rb") as f:
            after = f.read()
    print("offline-ab on Spark: %d partitions, %d passes, %.1f s" % (df.rdd.getNumPartitions(), n, time.time() - t0),
          file=sys.stderr, flush=True)
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
