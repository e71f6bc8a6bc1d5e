"""LightGBM on 10 000 synthetic ICU stays end to end, and the scoring's cluster bootstrap, side by side.

    python benchmarks/icu_lightgbm.py [--n 10000] [--n-boot 1000]

1. End to end, one process, each phase timed: simulate the synthetic ICU (``--n`` stays x 48 h,
   20 variables), split by stay, preprocess and fit LightGBM (early stopping, one thread), predict
   the test stays, score every binary metric with its stay-bootstrap CI. Logistic regression runs
   the same pipeline beside it (ratio of fit times).
2. The scoring: the vectorised bootstrap forms (weights per replicate: AUROC, AUPRC, calibration
   intercept and slope by batched Newton, equal-width ECE, net benefit; means by cluster sums) against
   calling each metric on the concatenated rows of every replicate, on the same draws; the values
   must agree (largest difference printed). Not a test.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="stays")
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap replicates")
    args = parser.parse_args()

    from trustbench.domains.icu.cohort import split_stays
    from trustbench.domains.icu.evaluation import BINARY, TRUE_RISK, score_rows
    from trustbench.domains.icu.models import LightGBM, LogReg
    from trustbench.domains.icu.synthetic import simulate_icu
    from trustbench.metrics.classification import cluster_bootstrap_ci

    sim, t_sim = timed(lambda: simulate_icu(args.n, hours=48, sites=("A",), seed=0))
    cohort = sim.cohort("mortality", site="A")
    (train, test), t_split = timed(lambda: split_stays(cohort, [0.7], seed=0))
    print(f"{args.n} stays x 48 h: simulate {t_sim:.2f} s, split {t_split:.2f} s "
          f"({len(np.unique(train.row_stays))} train / {len(np.unique(test.row_stays))} test stays)")
    fits = {}
    for name, model in (("lightgbm", LightGBM()), ("logreg", LogReg())):
        _, t_fit = timed(lambda model=model: model.fit(train, seed=0))
        p, t_pred = timed(lambda model=model: model.predict(test))
        arrays = {"y": test.y, "p": p, "p_true": test.truth["p_true"].to_numpy(float)}
        rows, t_score = timed(lambda a=arrays: score_rows(BINARY[:9] + TRUE_RISK, a, test.row_stays,
                                                          n_boot=args.n_boot, seed=0))
        auroc = next(r for r in rows if r["metric"] == "auroc")
        fits[name] = t_fit
        print(f"  {name:9s} fit {t_fit:6.2f} s  predict {t_pred:5.2f} s  score {len(rows)} metrics x {args.n_boot} "
              f"replicates {t_score:5.2f} s  AUROC {auroc['value']:.3f} [{auroc['ci_low']:.3f}, {auroc['ci_high']:.3f}]")
        if name == "lightgbm":
            arrays_lgbm = arrays
    total = t_sim + t_split + fits["lightgbm"]
    print(f"LightGBM end to end (simulate + split + fit): {total:.1f} s; fit time lightgbm/logreg = "
          f"{fits['lightgbm'] / fits['logreg']:.2f}")

    print(f"\ncluster bootstrap, {args.n_boot} replicates over {len(np.unique(test.row_stays))} stays "
          "(vectorised vs one call per replicate):")
    print(f"  {'metric':16s} {'vectorised':>11s} {'loop':>9s} {'ratio':>7s} {'max |diff|':>11s}")
    for d in BINARY[:9] + TRUE_RISK:
        fast_fn = d.bound()
        cols = [arrays_lgbm[k] for k in d.args]
        fast, t_fast = timed(lambda f=fast_fn, c=cols: cluster_bootstrap_ci(f, *c, clusters=test.row_stays,
                                                                            n_boot=args.n_boot, seed=1))
        slow, t_slow = timed(lambda f=fast_fn, c=cols: cluster_bootstrap_ci(lambda *a: f(*a), *c, clusters=test.row_stays,
                                                                            n_boot=args.n_boot, seed=1))
        diff = max(abs(fast.low - slow.low), abs(fast.high - slow.high), abs(fast.estimate - slow.estimate))
        print(f"  {d.name:16s} {t_fast:10.3f}s {t_slow:8.3f}s {t_slow / t_fast:7.1f} {diff:11.1e}")


if __name__ == "__main__":
    main()
