"""Makes regression_mass.json: the regression key tests' residual bins and the pinned test's baseline mass, computed with numpy.

Each case draws heavy-tailed residuals (Student's t, scipy.stats.t, rounded to 4 decimals), cuts them at numpy's default (type 7) quantiles j/50,
j = 1..49, and gives for a few points their bin (numpy.searchsorted, side="right": the edges at or below the point) and for a
few intervals [low, high] the mass of the distribution function interpolated linearly through (min, 0), (edge_j, j/50) and
(max, 1) (numpy.interp). Run with /usr/bin/python3 (numpy and scipy from Debian).
"""
import json
import numpy as np
from scipy.stats import t

BINS = 50
rng = np.random.default_rng(20261207)
cases = []
for case in range(6):
    n = int(rng.integers(200, 600))
    df = float(rng.choice([1.5, 3.0, 30.0]))
    x = np.round(t.rvs(df, size=n, random_state=rng) * float(rng.uniform(1, 40)) + float(rng.uniform(-20, 20)), 4)
    edges = np.quantile(x, np.arange(1, BINS) / BINS)
    xp = np.concatenate([[x.min()], edges, [x.max()]])
    fp = np.concatenate([[0.0], np.arange(1, BINS) / BINS, [1.0]])
    points = np.concatenate([rng.choice(x, 5), rng.uniform(x.min() - 5, x.max() + 5, 5)])
    bins = np.searchsorted(edges, points, side="right")
    intervals = []
    for _ in range(10):
        centre = float(rng.choice(x)) + float(rng.normal(0, 5))
        h = float(rng.uniform(0.1, 10))
        mass = max(0.0, float(np.interp(centre + h, xp, fp) - np.interp(centre - h, xp, fp)))
        intervals.append({"low": centre - h, "high": centre + h, "mass": mass})
    cases.append({"residuals": [float(v) for v in x], "edges": [float(e) for e in edges],
                  "points": [float(p) for p in points], "bins": [int(b) for b in bins], "intervals": intervals})

with open("regression_mass.json", "w") as f:
    json.dump({"bins": BINS, "cases": cases}, f)
