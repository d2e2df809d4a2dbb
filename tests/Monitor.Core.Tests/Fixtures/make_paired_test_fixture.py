"""Makes paired_test.json: the paired test's (D8) per-key log e-values computed independently with scipy.

A two-class model; every probability is a 32-bit float, as on the wire. Each case is a day of paired traffic, then some of a
key's records, then one window close, then more of the key's records. A record is (trusted P(class 1), served P(class 1),
served class). Its hit for class c: served class c with P(c) >= 0.8 and served P(c) - trusted P(c) >= 0.2. A record whose
trusted P(c) is above 1 - 0.2 cannot be a hit for c (no served P(c) exceeds 1) and counts for c nowhere: not in today's
counts, not in the key's test. Today's counts per (bin of trusted P(c), c), bins cut at EDGES, keep 0.9 of themselves at
the window close but never fall below 200 records there (a bin holding fewer keeps all). The key's own records count in
today's counts and in the key's own counts, which keep the same share at the close; a key's record is judged against
today's counts as they stand with the key's own records (this one included) taken out, a bin holding fewer than 20 such
records pooled with the next bins towards the decision boundary until it holds 20 or reaches the bin next to 0.5 (bins
below the one holding 0.5 pool upwards, it and those above downwards): r = (hits + 1) / (n + 2),
u = r + 2 sqrt(r (1 - r) / (n + 2)) and p0 = min(max(min(0.5, 3 u), u), 0.99). For each alternative q (q below p0 counts as p0) the
log-likelihood ratio sums scipy.stats.bernoulli.logpmf(hit, q) - logpmf(hit, p0); the e-value mixes them with the
null's own component: logsumexp([0] + ratios) - log(len(ALTERNATIVES) + 1).
Run with /usr/bin/python3 (numpy and scipy from Debian).
"""
import json
import numpy as np
from scipy.special import logsumexp
from scipy.stats import bernoulli

ALTERNATIVES = [0.1, 0.2, 0.35, 0.5, 0.65, 0.8, 0.9, 0.97]
EDGES = [0.02, 0.1, 0.3, 0.5, 0.7, 0.9]
TOLERANCE = 3.0
MIN_RESIDUAL = 0.2
MIN_LIVE = 200.0
MIN_POOLED = 20.0


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
    hit = [1 - trusted[c] >= MIN_RESIDUAL and label == c and served[c] >= 0.8 and served[c] - trusted[c] >= MIN_RESIDUAL for c in range(2)]
    possible = [1 - trusted[c] >= MIN_RESIDUAL for c in range(2)]
    return hit, possible, trusted


def allowance(hits, records):
    r = (hits + 1) / (records + 2)
    u = r + 2 * np.sqrt(r * (1 - r) / (records + 2))
    return min(max(min(0.5, TOLERANCE * u), u), 0.99)


def pooled_allowance(n, h, kn, kh, b, c):
    # Today's counts in the bin with the key's own taken out; while fewer than MIN_POOLED records, the next bin towards the
    # boundary's too (bins below the one holding 0.5 pool upwards, to the bin below it; it and those above pool downwards).
    boundary = bin_of(0.5)
    step = 1 if b < boundary else -1
    records = hits_ = 0.0
    while True:
        records += max(n[b, c] - kn[b, c], 0)
        hits_ += max(h[b, c] - kh[b, c], 0)
        if records >= MIN_POOLED or b in (boundary, boundary - 1):
            break
        b += step
    return allowance(min(hits_, records), records)


rng = np.random.default_rng(20261207)
cases = []
for case in range(8):
    # Some days are short, so that some bins are sparse and keep all their records at the close.
    today = [record(rng, False) for _ in range(int(rng.integers(30, 1200)))]
    n = np.zeros((len(EDGES) + 1, 2))
    h = np.zeros((len(EDGES) + 1, 2))
    kn = np.zeros((len(EDGES) + 1, 2))
    kh = np.zeros((len(EDGES) + 1, 2))
    for t1, s1, label in today:
        hit, possible, trusted = hits(t1, s1, label)
        for c in range(2):
            if possible[c]:
                n[bin_of(trusted[c]), c] += 1
                h[bin_of(trusted[c]), c] += hit[c]
    success = [0.0, 0.3, 0.9, 0.6][case % 4]
    before = [record(rng, rng.uniform() < success) for _ in range(int(rng.integers(0, 30)))]
    key = [record(rng, rng.uniform() < success) for _ in range(int(rng.integers(5, 40)))]
    ratios = np.zeros((2, len(ALTERNATIVES)))
    log_e = [[], []]
    for i, (t1, s1, label) in enumerate(before + key):
        if i == len(before):
            # The window's close: a tenth forgotten, but not below MIN_LIVE records per cell; the key's counts alike.
            factor = np.where(n > 0, np.maximum(0.9 * n, np.minimum(n, MIN_LIVE)) / np.where(n > 0, n, 1), 0.9)
            n *= factor
            h *= factor
            kn *= factor
            kh *= factor
        hit, possible, trusted = hits(t1, s1, label)
        for c in range(2):
            if possible[c]:
                b = bin_of(trusted[c])
                n[b, c] += 1
                h[b, c] += hit[c]
                kn[b, c] += 1
                kh[b, c] += hit[c]
                p = pooled_allowance(n, h, kn, kh, b, c)
                for g, q in enumerate(ALTERNATIVES):
                    alt = max(q, p)
                    ratios[c, g] += bernoulli.logpmf(int(hit[c]), alt) - bernoulli.logpmf(int(hit[c]), p)
            log_e[c].append(float(logsumexp(np.concatenate([[0.0], ratios[c]])) - np.log(len(ALTERNATIVES) + 1)))
    cases.append({"today": [list(x) for x in today], "before": [list(x) for x in before], "key": [list(x) for x in key], "log_e": log_e})

with open("paired_test.json", "w") as f:
    json.dump({"cases": cases}, f)
