"""Throughput of trustbench.metrics against its peers on 10⁶ predictions, measured side by side.

    python benchmarks/metrics_throughput.py [--n 1000000] [--repeat 3]

For each task every implementation runs on the same arrays in the same process; the table shows
the best of ``--repeat`` wall times, the ratio peer/ours (> 1: ours is faster) and the largest
difference between the values. Ours includes its argument checks. Peers run as installed: with
no numba, properscoring and scoringrules use their numpy code paths (properscoring's
``crps_ensemble`` then builds an (n, m, m) array, so it is fed in chunks of 10⁵ rows to bound
memory). Not a test.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
import warnings

import numpy as np
from scipy.special import ndtr

from trustbench.metrics import crps_gaussian, crps_samples, gaussian_nll, pit_calibration_error


def best_times(impls: dict, repeat: int) -> dict[str, tuple[float, float]]:
    """Best wall time and value of each implementation, the implementations interleaved per round
    (so a burst of load on the machine hits all of them alike)."""
    out = {name: (np.inf, np.nan) for name in impls}
    for _ in range(repeat):
        for name, fn in impls.items():
            start = time.perf_counter()
            value = float(fn())
            out[name] = (min(out[name][0], time.perf_counter() - start), value)
    return out


def chunked_mean(fn, n: int, *arrays, chunk: int = 100_000) -> float:
    return sum(float(np.sum(fn(*(a[s : s + chunk] for a in arrays)))) for s in range(0, n, chunk)) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--m", type=int, default=20, help="ensemble size")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    import properscoring as ps
    import scoringrules as sr
    import uncertainty_toolbox as uct

    rng = np.random.default_rng(0)
    n, m = args.n, args.m
    mu = rng.normal(size=n)
    sd = rng.uniform(0.5, 2.0, n)
    y = mu + 1.1 * sd * rng.normal(size=n)  # slightly over-confident, so the area is not ~0
    ens = mu[:, None] + sd[:, None] * rng.normal(size=(n, m))
    pit = ndtr((y - mu) / sd)

    tasks = {
        "CRPS Gaussian": (
            lambda: crps_gaussian(y, mu, sd),
            {
                "properscoring.crps_gaussian": lambda: ps.crps_gaussian(y, mu, sd).mean(),
                "scoringrules.crps_normal": lambda: sr.crps_normal(y, mu, sd).mean(),
                "uct.crps_gaussian": lambda: uct.crps_gaussian(mu, sd, y),
            },
            1e-12,
        ),
        f"CRPS ensemble (m={m})": (
            lambda: crps_samples(y, ens),
            {
                "properscoring.crps_ensemble": lambda: chunked_mean(ps.crps_ensemble, n, y, ens),
                "scoringrules.crps_ensemble": lambda: sr.crps_ensemble(y, ens).mean(),
            },
            1e-12,
        ),
        "Gaussian NLL": (
            lambda: gaussian_nll(y, mu, sd),
            {
                "uct.nll_gaussian": lambda: uct.nll_gaussian(mu, sd, y),
                "scoringrules.logs_normal": lambda: sr.logs_normal(y, mu, sd).mean(),
            },
            1e-12,
        ),
        # ours: exact area of the PIT ECDF; UCT: the same area traced on its default 100-point grid
        # (prop_type="quantile"), so the values agree to the grid error. The PIT is computed once per
        # evaluation set and shared by several metrics, so ours is timed from it; the line
        # "incl. PIT" adds computing it from (y, mean, std), as UCT does internally.
        "miscalibration area": (
            lambda: pit_calibration_error(pit),
            {
                "trustbench incl. PIT": lambda: pit_calibration_error(ndtr((y - mu) / sd)),
                "uct.miscalibration_area": lambda: uct.miscalibration_area(mu, sd, y, prop_type="quantile"),
            },
            1e-3,
        ),
    }

    numba = importlib.util.find_spec("numba") is not None
    print(f"n = {n:,} predictions, best of {args.repeat}; numba installed: {numba}")
    header = f"{'task':<22} {'implementation':<30} {'seconds':>9} {'peer/ours':>10} {'|Δ value|':>10}"
    print(header)
    print("-" * len(header))
    for task, (ours, peers, tol) in tasks.items():
        times = best_times({"trustbench": ours, **peers}, args.repeat)
        t_ours, v_ours = times.pop("trustbench")
        print(f"{task:<22} {'trustbench':<30} {t_ours:>9.4f} {'':>10} {'':>10}")
        for name, (t_peer, v_peer) in times.items():
            diff = abs(v_peer - v_ours)
            flag = "" if diff <= tol * max(1.0, abs(v_ours)) else "  <- values differ!"
            print(f"{'':<22} {name:<30} {t_peer:>9.4f} {t_peer / t_ours:>10.2f} {diff:>10.2e}{flag}")

if __name__ == "__main__":
    main()
