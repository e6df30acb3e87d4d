"""Compares the Spark job's top-k (a CSV folder written by score_catalog.py) with one `reckit
score` run (its CSV and the user ids in state order): same users, items and ranks, and scores
equal as Float32 bit patterns. Exits 1 naming the first difference.

    python compare_topk.py SPARK_CSV_DIR SINGLE.csv USER_IDS.txt
"""
import csv
import glob
import os
import struct
import sys


def f32(text):
    return struct.unpack("<I", struct.pack("<f", float(text)))[0]


spark_dir, single_path, ids_path = sys.argv[1:4]
with open(ids_path) as f:
    ids = [l.rstrip("\n") for l in f]
single = {}
with open(single_path) as f:
    r = csv.reader(f)
    next(r)
    for state, rank, item, score in r:
        single[(ids[int(state)], int(rank))] = (int(item), f32(score))
spark = {}
files = glob.glob(os.path.join(spark_dir, "part-*.csv")) if os.path.isdir(spark_dir) else [spark_dir]
for path in files:
    with open(path) as f:
        r = csv.reader(f)
        next(r)
        for user, rank, item, score in r:
            spark[(user, int(rank))] = (int(item), f32(score))
if set(spark) != set(single):
    missing = sorted(set(single) - set(spark))[:3]
    extra = sorted(set(spark) - set(single))[:3]
    print("compare_topk: different (user, rank) cells: missing %s, extra %s" % (missing, extra), file=sys.stderr)
    sys.exit(1)
bad = [key for key in sorted(single) if single[key] != spark[key]]
if bad:
    key = bad[0]
    print("compare_topk: %d cells differ, first %s: single %s, spark %s" % (len(bad), key, single[key], spark[key]), file=sys.stderr)
    sys.exit(1)
print("compare_topk: %d users × ranks equal (items, ranks, Float32 scores)" % len(single), file=sys.stderr)
