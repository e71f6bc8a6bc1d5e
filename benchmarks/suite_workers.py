"""Wall time of a suite with 1 and with 2 worker processes, each into its own temporary database.

Prints both times, their ratio (1 worker / 2 workers: the speed-up) and whether the two databases
hold identical records (timings and ids aside): cells are pure and run single-threaded, so they must.

    python benchmarks/suite_workers.py [--suite quick] [--benchmark NAME]...
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def run(suite: str, benchmarks: list[str] | None, workers: int, db: Path) -> float:
    from trustbench.runner.api import run_suite

    start = time.perf_counter()
    summary = run_suite(suite, db=db, workers=workers, benchmarks=benchmarks, progress=False)
    if summary.n_failed:
        raise SystemExit(f"{summary.n_failed} cell(s) failed with {workers} worker(s):\n" + "\n".join(summary.failures))
    return time.perf_counter() - start


def records(db: Path):
    from trustbench.runner.store import Store

    df = Store(db).records().drop(columns=["run_id", "seconds", "created_at"])
    return df.sort_values(["cell_key", "perturbation", "severity", "metric"]).reset_index(drop=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="quick", help="built-in suite name or YAML file (default: quick)")
    parser.add_argument("--benchmark", action="append", help="only this benchmark (repeatable)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        one, two = Path(tmp) / "one.sqlite", Path(tmp) / "two.sqlite"
        t1 = run(args.suite, args.benchmark, 1, one)
        t2 = run(args.suite, args.benchmark, 2, two)
        a, b = records(one), records(two)
        identical = a.equals(b)
        print(f"suite {args.suite}: {len(a)} records")
        print(f"1 worker : {t1:8.2f} s")
        print(f"2 workers: {t2:8.2f} s")
        print(f"ratio (1 / 2 workers): {t1 / t2:.2f}x")
        print(f"records identical: {identical}")
        if not identical:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
