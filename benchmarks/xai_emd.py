"""Exact EMD score: trustbench's solver against a per-sample POT ``ot.emd2`` loop, side by side.

    python benchmarks/xai_emd.py [--n 5] [--size 64] [--seed 0] [--jobs 2] [--solver auto]

Samples are XAI-TRIS-like (Clark et al. 2024): the attribution is smoothed Gaussian noise plus a
tetromino-like block of positive attribution, the mask a T tetromino of four 8 × 8 blocks (scaled
to the grid) at a random place. The peer is ``ot.emd2`` on the full (h·w) × (h·w) Euclidean cost,
one call per sample (``numItermax`` raised so that it reaches optimality); ours is
:func:`trustbench.metrics.attribution.grid_emd` with ``--solver`` (exact; ``auto`` = ``multiscale``:
shared mass cancelled, then coarse-to-fine column generation with POT's sparse network simplex,
certified optimal on the full cost by LP duality; ``pot``: one dense POT solve of the cancelled
problem), once one sample at a time and once over the whole batch with ``--jobs`` threads (POT's
simplex releases the GIL). The table prints per-sample times, the ratio peer/ours (> 1: ours is
faster), the totals, the median of the per-sample ratios and the largest difference between the
EMD values. Runs at ``--size`` and at 8 × 8. Not a test.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.ndimage import gaussian_filter

from trustbench.metrics.attribution import grid_emd


def make_samples(n: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n attribution maps and T-shaped masks on a size × size grid."""
    b = max(size // 8, 1)  # block side (8 at 64 × 64)
    cells = [(0, 0), (0, 1), (0, 2), (1, 1)]  # a T of four blocks
    attr = np.empty((n, size, size))
    mask = np.zeros((n, size, size), bool)
    for i in range(n):
        r, c = rng.integers(0, size - 2 * b + 1), rng.integers(0, size - 3 * b + 1)
        for dr, dc in cells:
            mask[i, r + dr * b : r + (dr + 1) * b, c + dc * b : c + (dc + 1) * b] = True
        noise = gaussian_filter(rng.normal(size=(size, size)), sigma=max(size / 32, 0.5))
        blob = np.zeros((size, size))
        r2, c2 = r + rng.integers(-1, 2), c + rng.integers(-1, 2)  # slightly misplaced pattern
        r2, c2 = int(np.clip(r2, 0, size - 2 * b)), int(np.clip(c2, 0, size - 3 * b))
        blob[r2 : r2 + b, c2 : c2 + 3 * b] = 1.0
        blob[r2 + b : r2 + 2 * b, c2 + b : c2 + 2 * b] = 1.0
        attr[i] = noise + 3.0 * gaussian_filter(blob, 1.0)
    return attr, mask


def pot_loop(attr: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, list[float]]:
    import ot
    from scipy.spatial.distance import cdist

    h, w = attr.shape[1:]
    yx = np.stack(np.unravel_index(np.arange(h * w), (h, w)), axis=1).astype(float)
    cost = cdist(yx, yx)
    values, times = [], []
    for a, m in zip(attr, mask):
        start = time.perf_counter()
        p = np.abs(a).ravel() / np.abs(a).sum()
        q = m.ravel() / m.sum()
        values.append(ot.emd2(p, q, cost, numItermax=100_000_000))
        times.append(time.perf_counter() - start)
    return np.array(values), times


def run(n: int, size: int, jobs: int, rng: np.random.Generator, solver: str = "auto") -> None:
    attr, mask = make_samples(n, size, rng)
    ref, ref_times = pot_loop(attr, mask)
    ours_times = []
    ours = np.empty(n)
    for i in range(n):
        start = time.perf_counter()
        ours[i] = grid_emd(attr[i : i + 1], mask[i : i + 1], solver=solver)[0]
        ours_times.append(time.perf_counter() - start)
    start = time.perf_counter()
    par = grid_emd(attr, mask, n_jobs=jobs, solver=solver)
    par_time = time.perf_counter() - start
    print(f"\n{size} x {size}, {n} samples, solver {solver!r}")
    print(f"{'sample':>6} {'POT emd2 [s]':>13} {'ours [s]':>10} {'ratio':>7} {'|diff|':>9}")
    for i in range(n):
        print(f"{i:>6} {ref_times[i]:>13.4f} {ours_times[i]:>10.4f} "
              f"{ref_times[i] / ours_times[i]:>7.2f} {abs(ours[i] - ref[i]):>9.1e}")
    tr, to = sum(ref_times), sum(ours_times)
    median = np.median(np.array(ref_times) / np.array(ours_times))
    print(f"total  POT {tr:.3f} s, ours {to:.3f} s: ratio {tr / to:.2f} (median per sample {median:.2f}); "
          f"ours on the batch with {jobs} threads {par_time:.3f} s: ratio {tr / par_time:.2f}")
    print(f"max |EMD difference| {max(np.max(np.abs(ours - ref)), np.max(np.abs(par - ref))):.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5, help="samples per grid size")
    parser.add_argument("--size", type=int, default=64, help="grid side of the large case")
    parser.add_argument("--jobs", type=int, default=2, help="threads for the batch run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--solver", default="auto", help="grid_emd solver: auto, multiscale, pot, highs")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    run(args.n, args.size, args.jobs, rng, args.solver)
    run(max(args.n, 20), 8, args.jobs, rng, args.solver)


if __name__ == "__main__":
    main()
