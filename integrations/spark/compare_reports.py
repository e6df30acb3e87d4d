"""Exits 0 when two offline A/B report JSON files agree: the same estimates, point values and
normal intervals to 1e-12 relative, bootstrap intervals and diagnostics' counts exactly."""
import json
import math
import sys


def close(a, b):
    if a is None or b is None:
        return a is b
    return abs(a - b) <= 1e-12 * max(abs(a), abs(b)) + 1e-300


a, b = (json.load(open(p)) for p in sys.argv[1:3])
bad = []
if a["rows"] != b["rows"]:
    bad.append("rows %s vs %s" % (a["rows"], b["rows"]))
for ea, eb in zip(a["evaluations"], b["evaluations"]):
    if len(ea["estimates"]) != len(eb["estimates"]):
        bad.append("estimate counts differ")
    for x, y in zip(ea["estimates"], eb["estimates"]):
        label = "%s %s %s %s" % (x["estimator"], x["grouping"], x["model"], x["cap"])
        if (x["estimator"], x["grouping"], x["model"], x["cap"]) != (y["estimator"], y["grouping"], y["model"], y["cap"]):
            bad.append("order differs at " + label)
        for k in ("value",):
            if not close(x[k], y[k]):
                bad.append("%s value %r vs %r" % (label, x[k], y[k]))
        for k in ("low", "high"):
            if not close(x["normal"][k], y["normal"][k]):
                bad.append("%s normal %s %r vs %r" % (label, k, x["normal"][k], y["normal"][k]))
            if x["interval"][k] != y["interval"][k]:
                bad.append("%s bootstrap %s %r vs %r" % (label, k, x["interval"][k], y["interval"][k]))
if len(a["evaluations"]) != len(b["evaluations"]):
    bad.append("policy counts differ")
for line in bad[:20]:
    print("compare_reports: " + line, file=sys.stderr)
print("compare_reports: %s (%d estimates)" % ("equal" if not bad else "DIFFERENT", sum(len(e["estimates"]) for e in a["evaluations"])), file=sys.stderr)
sys.exit(1 if bad else 0)
