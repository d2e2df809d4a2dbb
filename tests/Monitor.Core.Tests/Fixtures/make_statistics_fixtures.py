#!/usr/bin/python3
"""Makes statistics.json: reference values of the drift statistics, computed with numpy and scipy.

Run with Debian's python3 (it has numpy and scipy):  /usr/bin/python3 make_statistics_fixtures.py
The C# tests (StatisticsOracleTests) read the JSON and compare within stated tolerances.
Definitions follow README.md ("Statistics"); every case is seeded, so the file is reproducible.
"""
import json
import os

import numpy as np
import scipy
from scipy import stats
from scipy.spatial.distance import jensenshannon

EPS = 1e-4
BINS = 20
rng = np.random.default_rng(20261125)


def edges_of(values, bins=BINS):
    """Quantile edges rounded to float32, duplicates collapsed, top edge just above the maximum."""
    x = np.sort(values.astype(np.float64))
    probs = np.arange(bins + 1) / bins
    q = np.quantile(x, probs, method="linear").astype(np.float32)
    q[-1] = np.nextafter(np.float32(values.max()), np.float32(np.inf))
    edges = []
    for v in q:
        if not edges or v > edges[-1]:
            edges.append(v)
    if len(edges) == 1:
        edges.append(np.nextafter(edges[0], np.float32(np.inf)))
    return np.array(edges, dtype=np.float32)


def bin_counts(edges, values):
    """Bin of v = number of edges <= v; len(edges) + 1 bins."""
    idx = np.searchsorted(edges, values.astype(np.float32), side="right")
    return np.bincount(idx, minlength=len(edges) + 1)


def psi(p, q):
    a = np.maximum(p, EPS)
    b = np.maximum(q, EPS)
    return float(np.sum((b - a) * np.log(b / a)))


def hellinger(p, q):
    return float(np.sqrt(0.5 * np.sum((np.sqrt(p) - np.sqrt(q)) ** 2)))


def numeric_case(name, baseline, window):
    baseline = baseline.astype(np.float32)
    window = window.astype(np.float32)
    edges = edges_of(baseline)
    cb = bin_counts(edges, baseline)
    cw = bin_counts(edges, window)
    p = cb / cb.sum()
    q = cw / cw.sum()
    n, m = int(cb.sum()), int(cw.sum())

    cdf_gap = np.abs(np.cumsum(p) - np.cumsum(q))
    d = float(cdf_gap.max())
    # The binned statistic is the KS statistic of the data with every value moved to its bin's
    # upper end; scipy's two-sample KS on such data must agree with it.
    upper = np.append(edges, np.float32(np.inf))
    d_scipy = float(stats.ks_2samp(np.repeat(np.arange(len(upper)), cb), np.repeat(np.arange(len(upper)), cw)).statistic)
    assert abs(d - d_scipy) < 1e-12, (d, d_scipy)
    en = n * m / (n + m)

    positions = np.empty(len(edges) + 1)
    positions[0] = edges[0]
    positions[1:-1] = 0.5 * (edges[:-1].astype(np.float64) + edges[1:].astype(np.float64))
    positions[-1] = edges[-1]
    wpos = positions.copy()
    w64 = window.astype(np.float64)
    if cw[0] > 0:
        wpos[0] = min(w64[window < edges[0]].mean(), positions[0])
    if cw[-1] > 0:
        wpos[-1] = max(w64[window >= edges[-1]].mean(), positions[-1])
    std_b = float(np.std(baseline.astype(np.float64), ddof=1))
    scale = std_b if std_b > 0 else 1.0
    std_w = float(np.std(w64, ddof=1))
    floor = 1e-9 * scale
    return {
        "name": name,
        "baseline": baseline.astype(np.float64).tolist(),
        "window": window.astype(np.float64).tolist(),
        "edges": edges.astype(np.float64).tolist(),
        "baseline_counts": cb.tolist(),
        "window_counts": cw.tolist(),
        "baseline_positions": positions.tolist(),
        "window_positions": wpos.tolist(),
        "psi": psi(p, q),
        "jensen_shannon": float(jensenshannon(p, q, base=2)),
        "hellinger": hellinger(p, q),
        "ks": d,
        "ks_pvalue": float(stats.kstwobign.sf(np.sqrt(en) * d)),
        "wasserstein": float(stats.wasserstein_distance(positions, wpos, p, q)) / scale,
        "mean_shift": float(abs(w64.mean() - baseline.astype(np.float64).mean()) / scale),
        "std_shift": float(abs(np.log((std_w + floor) / (std_b + floor)))),
        "baseline_mean": float(baseline.astype(np.float64).mean()),
        "baseline_std": std_b,
    }


def categorical_case(name, p_counts, w_counts):
    p_counts = np.asarray(p_counts, dtype=np.float64)
    w_counts = np.asarray(w_counts, dtype=np.int64)
    p = p_counts / p_counts.sum()
    q = w_counts / w_counts.sum()
    used = (p > 0) | (w_counts > 0)
    floor = np.maximum(p[used], EPS)
    expected = w_counts[used].sum() * floor / floor.sum()
    chi = stats.chisquare(w_counts[used], expected)
    return {
        "name": name,
        "baseline_probabilities": p.tolist(),
        "window_counts": w_counts.tolist(),
        "chi_squared": float(chi.statistic),
        "chi_squared_pvalue": float(chi.pvalue),
        "chi_squared_dof": int(used.sum() - 1),
        "psi": psi(p, q),
        "jensen_shannon": float(jensenshannon(p, q, base=2)),
        "l_infinity": float(np.max(np.abs(p - q))),
    }


numeric = [
    numeric_case("normal, no drift", rng.normal(0, 1, 5000), rng.normal(0, 1, 1000)),
    numeric_case("normal, mean +0.25 sd", rng.normal(10, 2, 5000), rng.normal(10.5, 2, 1000)),
    numeric_case("lognormal, scale x1.3", rng.lognormal(3.5, 1.0, 5000), 1.3 * rng.lognormal(3.5, 1.0, 1000)),
    numeric_case("uniform, window beyond both ends", rng.uniform(0, 1, 4000), rng.uniform(-0.5, 1.7, 800)),
    numeric_case("integers with ties", rng.poisson(2.0, 5000).astype(float), rng.poisson(2.6, 1000).astype(float)),
    numeric_case("exponential, wider", rng.exponential(1.0, 3000), rng.exponential(1.8, 1500)),
]

categorical = [
    categorical_case("same mix", [500, 300, 150, 50, 0], [48, 31, 16, 5, 0]),
    categorical_case("shifted mix", [500, 300, 150, 50, 0], [30, 30, 30, 10, 0]),
    categorical_case("unseen values appear", [500, 300, 150, 50, 0], [45, 28, 14, 4, 9]),
    categorical_case("category missing in window", [400, 400, 200, 0], [0, 70, 30, 0]),
]

kolmogorov = [{"x": float(x), "sf": float(stats.kstwobign.sf(x))} for x in
              [0.05, 0.2, 0.4, 0.6, 0.8, 0.9, 0.99, 1.0, 1.1, 1.36, 1.63, 2.0, 2.5, 3.0, 4.0]]

chi_tail = [{"statistic": s, "dof": k, "sf": float(stats.chi2.sf(s, k))} for s, k in
            [(0.5, 1), (3.84, 1), (12.0, 3), (40.0, 10), (150.0, 20), (2.0, 7)]]

sample = rng.gamma(2.0, 3.0, 1001)
quantiles = {
    "values": sample.tolist(),
    "probabilities": [0.0, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.999, 1.0],
    "expected": np.quantile(sample, [0.0, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.999, 1.0], method="linear").tolist(),
}

chunks = [rng.normal(5, 3, k) * (1 + i) for i, k in enumerate([1, 2, 17, 500, 3, 1000])]
merged = np.concatenate(chunks)
moments = {
    "chunks": [c.tolist() for c in chunks],
    "mean": float(merged.mean()),
    "variance": float(merged.var(ddof=1)),
}

out = {
    "generated_by": f"make_statistics_fixtures.py with numpy {np.__version__}, scipy {scipy.__version__}",
    "epsilon": EPS,
    "bins": BINS,
    "numeric": numeric,
    "categorical": categorical,
    "kolmogorov": kolmogorov,
    "chi_squared_tail": chi_tail,
    "quantiles": quantiles,
    "moments": moments,
}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "statistics.json")
with open(path, "w") as f:
    json.dump(out, f)
print(f"wrote {path}: {len(numeric)} numeric, {len(categorical)} categorical cases")
