"""Makes key_test.json: the whole-output key test's log e-values computed independently with scipy.

Each case is a sequence of records, each a hit (served the class beyond its stratum's tail) or a miss, with the null's
allowance p0 for that record. For each alternative q in ALTERNATIVES (q below p0 counts as p0) the log-likelihood ratio is
the sum of scipy.stats.bernoulli.logpmf(hit, q) - logpmf(hit, p0); the mixture with the null's own component is
logsumexp([0] + ratios) - log(len(ALTERNATIVES) + 1). Run with /usr/bin/python3 (numpy and scipy from Debian).
"""
import json
import numpy as np
from scipy.special import logsumexp
from scipy.stats import bernoulli

ALTERNATIVES = [0.1, 0.2, 0.35, 0.5, 0.65, 0.8, 0.9, 0.97]

rng = np.random.default_rng(20261206)
cases = []
for case in range(12):
    n = int(rng.integers(1, 60))
    p0 = rng.uniform(0.005, 0.5, n)
    success = rng.choice([0.0, 0.05, 0.3, 0.85, 1.0])
    hits = rng.uniform(size=n) < np.maximum(p0 * (success == 0.0), success)
    running = []
    ratios = np.zeros(len(ALTERNATIVES))
    for hit, p in zip(hits, p0):
        for g, q in enumerate(ALTERNATIVES):
            alt = max(q, p)
            ratios[g] += bernoulli.logpmf(int(hit), alt) - bernoulli.logpmf(int(hit), p)
        running.append(float(logsumexp(np.concatenate([[0.0], ratios])) - np.log(len(ALTERNATIVES) + 1)))
    cases.append({"hits": [bool(h) for h in hits], "p0": [float(p) for p in p0], "log_e": running})

with open("key_test.json", "w") as f:
    json.dump({"alternatives": ALTERNATIVES, "cases": cases}, f, indent=1)
