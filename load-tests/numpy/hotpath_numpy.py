#!/usr/bin/python3
"""numpy's best equivalent of the sidecar's per-window hot path, on the benchmark's shapes.

Per batch of 512 records: d numeric features on 20 bins (searchsorted + bincount per contiguous column,
plus the sums for the moments and the missing count), and 10 output classes (argmax, max and entropy).
Prints records/s per d, on one core. Run with Debian's python3-numpy:

    /usr/bin/python3 load-tests/numpy/hotpath_numpy.py
"""
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402

BATCH = 512
CLASSES = 10
BINS = 20


def make(d, rng):
    reference = rng.standard_normal((4000, d)).astype(np.float32) + (np.arange(d, dtype=np.float32) * 0.01)
    edges = [np.quantile(reference[:, j], np.linspace(0, 1, BINS + 1)).astype(np.float32) for j in range(d)]
    numeric = rng.standard_normal((BATCH, d)).astype(np.float32) + (np.arange(d, dtype=np.float32) * 0.01)
    numeric[rng.random((BATCH, d)) < 0.01] = np.nan
    weights = np.exp(2 * rng.standard_normal((BATCH, CLASSES))).astype(np.float32)
    scores = weights / weights.sum(axis=1, keepdims=True)
    # Column-major: each feature's values contiguous, numpy's best case for searchsorted and bincount.
    return np.asfortranarray(numeric), scores, edges


def window_pass(numeric, scores, edges, counts, sums):
    d = numeric.shape[1]
    for j in range(d):
        column = numeric[:, j]
        finite = column[np.isfinite(column)]
        bins = np.searchsorted(edges[j], finite, side="right")
        counts[j] += np.bincount(bins, minlength=BINS + 2)
        sums[j, 0] += finite.size
        sums[j, 1] += finite.sum(dtype=np.float64)
        sums[j, 2] += np.dot(finite, finite)
        sums[j, 3] += column.size - finite.size
    best = scores.argmax(axis=1)
    top = scores.max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(scores > 0, -scores * np.log2(scores), 0.0)
    entropy = terms.sum(axis=1)
    return best, top, entropy


def measure(d, seconds=3.0):
    rng = np.random.default_rng(11)
    numeric, scores, edges = make(d, rng)
    counts = np.zeros((d, BINS + 2), dtype=np.int64)
    sums = np.zeros((d, 4), dtype=np.float64)
    for _ in range(20):
        window_pass(numeric, scores, edges, counts, sums)
    batches = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(10):
            window_pass(numeric, scores, edges, counts, sums)
        batches += 10
    elapsed = time.perf_counter() - start
    return batches * BATCH / elapsed


def main():
    dims = [int(a) for a in sys.argv[1:]] or [8, 64, 256]
    print(f"numpy {np.__version__}, one thread, batches of {BATCH} records, {BINS} bins, {CLASSES} classes")
    print("| d | numpy records/s |")
    print("|---:|---:|")
    for d in dims:
        print(f"| {d} | {measure(d):,.0f} |")


if __name__ == "__main__":
    main()
