"""Makes wilson.json: Wilson score 95% intervals from scipy.stats.binomtest(k, n).proportion_ci(0.95, 'wilson').

Run with /usr/bin/python3 (scipy from Debian).
"""
import json
from scipy.stats import binomtest

cases = []
for k, n in [(0, 5), (1, 5), (5, 5), (0, 1), (3, 30), (9, 30), (50, 1000), (999, 1000), (1, 20000), (7, 12)]:
    ci = binomtest(k, n).proportion_ci(0.95, "wilson")
    cases.append({"k": k, "n": n, "low": float(ci.low), "high": float(ci.high)})

with open("wilson.json", "w") as out:
    json.dump({"cases": cases}, out, indent=1)
