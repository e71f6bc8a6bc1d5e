"""Speed and memory of the synthetic ICU generator (target: 10 000 stays x 48 h in <= 10 s on 2 cores).

    python benchmarks/icu_generator.py [--n 10000] [--hours 48] [--sites A] [--repeat 3]

Times ``simulate_icu`` (20 variables, every endpoint's truth) and then building all five cohorts;
prints the best of ``--repeat`` wall times, stays per second and the peak traced memory (Python
``tracemalloc``: numpy and pandas buffers). Exit code 1 when the generator is over the budget.
Not a test.
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc

from trustbench.domains.icu.synthetic import ENDPOINTS, VARIABLES, simulate_icu

BUDGET_S = 10.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="stays per site")
    parser.add_argument("--hours", type=int, default=48)
    parser.add_argument("--sites", default="A", help="comma-separated site names")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sites = tuple(args.sites.split(","))

    simulate_icu(50, hours=args.hours, sites=sites)  # warm imports (pandas, scipy.special)
    best_sim, best_coh = float("inf"), float("inf")
    for _ in range(args.repeat):
        start = time.perf_counter()
        icu = simulate_icu(args.n, hours=args.hours, sites=sites, seed=0)
        mid = time.perf_counter()
        for ep in ENDPOINTS:
            icu.cohort(ep)
        end = time.perf_counter()
        best_sim, best_coh = min(best_sim, mid - start), min(best_coh, end - mid)
    tracemalloc.start()
    icu = simulate_icu(args.n, hours=args.hours, sites=sites, seed=0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    n_total = args.n * len(sites)
    print(f"simulate_icu({args.n}, hours={args.hours}, sites={sites}): {len(VARIABLES)} variables, "
          f"{len(icu.dyn):,} dyn rows")
    print(f"  simulate: {best_sim:.2f} s  ({n_total / best_sim:,.0f} stays/s)")
    print(f"  5 cohorts: {best_coh:.2f} s")
    print(f"  peak traced memory: {peak / 2**20:.0f} MiB; dyn frame {icu.dyn.memory_usage().sum() / 2**20:.0f} MiB")
    over = best_sim > BUDGET_S * n_total / 10_000 * args.hours / 48
    print(f"  budget {BUDGET_S:.0f} s per 10 000 stays x 48 h: {'OVER' if over else 'ok'}")
    return int(over)


if __name__ == "__main__":
    sys.exit(main())
