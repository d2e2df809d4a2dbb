"""Makes paired_test.json: the paired test's (D8) per-key log e-values computed independently with scipy.

A two-class model; every probability is a 32-bit float, as on the wire. Each case is a day of paired traffic, then one window close, then a key's records. A record is
(trusted P(class 1), served P(class 1), served class). Its hit for class c: served class c with P(c) >= 0.8 and served P(c) -
trusted P(c) >= 0.2. Today's counts per (bin of trusted P(c), c), bins cut at EDGES, are multiplied by 0.9 at the window close; the
null's allowance for the bin is p0 = min(0.5, 3 * (r + 2 sqrt(r (1 - r) / (n + 2)))) with r = (hits + 1) / (n + 2). The
key's records count in today's traffic too but the allowances only change at a window close. For each alternative q
(q below p0 counts as p0) the log-likelihood ratio sums scipy.stats.bernoulli.logpmf(hit, q) - logpmf(hit, p0); the
e-value mixes them with the null's own component: logsumexp([0] + ratios) - log(len(ALTERNATIVES) + 1).
Run with /usr/bin/python3 (numpy and scipy from Debian).
"""
import json
import numpy as np
from scipy.special import logsumexp
from scipy.stats import bernoulli

ALTERNATIVES = [0.1, 0.2, 0.35, 0.5, 0.65, 0.8, 0.9, 0.97]
EDGES = [0.02, 0.1, 0.3, 0.5, 0.7, 0.9]
TOLERANCE = 3.0


def bin_of(p):
    return int(np.searchsorted(EDGES, p, side="right"))


def record(rng, trigger):
    t1 = float(rng.beta(0.6, 0.6))
    if trigger:
        # The trusted version says class 0; the served output says class 1 with certainty.
        t1 = float(rng.uniform(0.0, 0.3))
        s1 = float(rng.uniform(0.9, 1.0))
    else:
        s1 = float(np.clip(t1 + rng.normal(0, 0.12), 0, 1))
    return f32(t1), f32(s1), int(s1 >= 0.5)


def f32(x):
    return float(np.float32(x))


def hits(t1, s1, label):
    # As the sidecar reads them: 32-bit floats, class 0 written as 1 - P(class 1).
    trusted = [f32(1 - t1), t1]
    served = [f32(1 - s1), s1]
    return [label == c and served[c] >= 0.8 and served[c] - trusted[c] >= 0.2 for c in range(2)], trusted


rng = np.random.default_rng(20261207)
cases = []
for case in range(6):
    today = [record(rng, False) for _ in range(int(rng.integers(200, 1200)))]
    n = np.zeros((len(EDGES) + 1, 2))
    h = np.zeros((len(EDGES) + 1, 2))
    for t1, s1, label in today:
        hit, trusted = hits(t1, s1, label)
        for c in range(2):
            n[bin_of(trusted[c]), c] += 1
            h[bin_of(trusted[c]), c] += hit[c]
    n *= 0.9
    h *= 0.9
    r = (h + 1) / (n + 2)
    p0 = np.minimum(0.5, TOLERANCE * (r + 2 * np.sqrt(r * (1 - r) / (n + 2))))
    success = [0.0, 0.3, 0.9][case % 3]
    key = [record(rng, rng.uniform() < success) for _ in range(int(rng.integers(5, 40)))]
    ratios = np.zeros((2, len(ALTERNATIVES)))
    log_e = [[], []]
    for t1, s1, label in key:
        hit, trusted = hits(t1, s1, label)
        for c in range(2):
            p = p0[bin_of(trusted[c]), c]
            for g, q in enumerate(ALTERNATIVES):
                alt = max(q, p)
                ratios[c, g] += bernoulli.logpmf(int(hit[c]), alt) - bernoulli.logpmf(int(hit[c]), p)
            log_e[c].append(float(logsumexp(np.concatenate([[0.0], ratios[c]])) - np.log(len(ALTERNATIVES) + 1)))
    cases.append({"today": [list(x) for x in today], "key": [list(x) for x in key], "log_e": log_e})

with open("paired_test.json", "w") as f:
    json.dump({"cases": cases}, f)
