"""Writes the Open Bandit Dataset sample as the Spark test reads it: a CSV whose key column is
named `row_id`, and the same rows as Parquet in 4 partitions (typed columns, as a Spark table has)."""
import sys

from pyspark.sql import SparkSession

src, csv_out, parquet_out = sys.argv[1:4]
with open(src, encoding="utf-8") as f, open(csv_out, "w", encoding="utf-8") as g:
    header = f.readline()
    g.write("row_id" + header)
    for line in f:
        g.write(line)
spark = SparkSession.builder.master("local[2]").appName("prepare-obd").getOrCreate()
df = spark.read.option("header", True).option("inferSchema", True).csv(csv_out)
df.repartition(4).write.mode("overwrite").parquet(parquet_out)
print("prepare_obd: %d rows, %d partitions" % (df.count(), spark.read.parquet(parquet_out).rdd.getNumPartitions()), file=sys.stderr)
spark.stop()
