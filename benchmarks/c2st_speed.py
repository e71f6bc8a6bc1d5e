"""Speed of C2ST: the fast torch classifier against sbibm's scikit-learn recipe (target: 10k vs 10k <= 30 s on 2 cores).

    python benchmarks/c2st_speed.py [--n 10000] [--dims 2,10] [--shift 1.0] [--skip-sklearn-above 5]

Two Gaussians N(0, I) and N(shift e_1, I) (Bayes-optimal accuracy Phi(shift / 2)); for each
dimension prints the wall and CPU time of ``c2st(classifier="mlp")`` and ``c2st(classifier="sklearn")``,
their ratio and both accuracies next to the Bayes accuracy. Exit code 1 when "mlp" is over the budget
(wall time). Not a test.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from scipy.stats import norm

from trustbench.metrics.posterior import c2st

BUDGET_S = 30.0


def timed(p: np.ndarray, q: np.ndarray, classifier: str) -> tuple[float, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    value = c2st(p, q, seed=0, classifier=classifier)
    return value, time.perf_counter() - wall, time.process_time() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="samples per set")
    parser.add_argument("--dims", default="2,10", help="comma-separated dimensions")
    parser.add_argument("--shift", type=float, default=1.0, help="mean shift along the first axis")
    parser.add_argument("--skip-sklearn-above", type=int, default=5,
                        help="no sklearn run above this dim (sbibm's recipe took > 16 CPU-minutes at 10-D, 10k vs 10k)")
    args = parser.parse_args()

    c2st(np.random.default_rng(0).normal(size=(50, 2)), np.random.default_rng(1).normal(size=(50, 2)))  # warm imports
    over = False
    print(f"n = {args.n} vs {args.n}, shift = {args.shift}, Bayes accuracy = {norm.cdf(args.shift / 2):.4f}")
    print(f"{'dim':>4} {'mlp acc':>8} {'wall s':>7} {'cpu s':>7} {'sk acc':>8} {'wall s':>8} {'cpu s':>8} {'ratio':>6}")
    for d in (int(x) for x in args.dims.split(",")):
        rng = np.random.default_rng(d)
        p = rng.normal(size=(args.n, d))
        q = rng.normal(size=(args.n, d))
        q[:, 0] += args.shift
        fast, fast_wall, fast_cpu = timed(p, q, "mlp")
        over |= fast_wall > BUDGET_S
        if d > args.skip_sklearn_above:
            print(f"{d:>4} {fast:8.4f} {fast_wall:7.1f} {fast_cpu:7.1f} {'-':>8} {'-':>8} {'-':>8} {'-':>6}", flush=True)
            continue
        slow, slow_wall, slow_cpu = timed(p, q, "sklearn")
        print(
            f"{d:>4} {fast:8.4f} {fast_wall:7.1f} {fast_cpu:7.1f} {slow:8.4f} {slow_wall:8.1f} {slow_cpu:8.1f} "
            f"{slow_wall / fast_wall:6.1f}",
            flush=True,
        )
    print(f"budget for mlp: {BUDGET_S:.0f} s wall -> {'OVER' if over else 'ok'}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
