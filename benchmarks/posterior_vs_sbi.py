"""Our flow NPE beside the sbi package's NPE on the same simulations (two moons, SLCP), side by side.

    python benchmarks/posterior_vs_sbi.py [--tasks two_moons,slcp] [--simulations 10000]
        [--observations 10] [--reference 10000] [--seed 0] [--quick]

For each task (sbibm's ``two_moons`` and ``slcp``, :mod:`trustbench.posterior.toy`): one set of
``--simulations`` training pairs (θ ~ prior, x = task.simulate(θ), a fixed stream per (task, seed))
is given to both ``trustbench.posterior.estimators.NPE(flow="nsf")`` (zuko) and
``SbiNPE(flow="nsf")`` (sbi 0.27's NPE), with the same training settings (both estimators' defaults,
which are sbi's: batch 200, Adam 5e-4, patience 20, 10 % validation, gradient clip 5). For each of
``--observations`` fixed observations (``task.observations(seed)``: θ_true ~ prior, exact (two
moons) or diagnosed-MCMC (SLCP) reference posteriors of ``--reference`` draws) each method draws as
many posterior samples as the reference holds and is scored by C2ST against it
(:func:`trustbench.metrics.posterior.c2st`, seed 0, 5 folds).

Printed: per task and method, the C2ST of every observation and their mean, training seconds,
epochs, sampling seconds, the ratio sbi / ours of training time, and the verdict "not worse":
**mean C2ST of ours <= mean C2ST of sbi + 0.02** (a margin on the means over the same observations;
the paired differences ours - sbi are printed beside it). Also the wall time of every C2ST call
(each is reference vs samples, ``--reference`` vs ``--reference`` draws; target <= 30 s for
10k vs 10k). Torch runs on one thread (``torch.set_num_threads(1)``, as the runner's workers).

sbibm's own NPE C2ST at 10k simulations (its 10 observations; the maintainers' re-run of Lueckmann
et al. 2021 with sbi 0.23, github.com/sbi-benchmark/results) is printed beside them
(``trustbench.posterior.toy.PUBLISHED_NPE_C2ST``):
different observations, reference samples, sbi version and batch size (10,000 there), so only the
level compares, not the digits.

Exit code 1 (full runs only, not ``--quick``) when ours is worse by that margin on a task or a
C2ST call exceeds the 30 s budget. Not a test.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
import zlib

import numpy as np

C2ST_BUDGET_S = 30.0
MARGIN = 0.02
TASKS = ("two_moons", "slcp")


def make_task(name: str, n_observations: int, n_reference: int):
    from trustbench.posterior.toy import SLCP, TwoMoons

    classes = {"two_moons": TwoMoons, "slcp": SLCP}
    if name not in classes:
        raise ValueError(f"--tasks must name tasks among {', '.join(classes)}; got {name!r}.")
    return classes[name](n_observations=n_observations, n_reference=n_reference)


def training_data(task, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` pairs θ ~ prior, x = task.simulate(θ) from a stream fixed by (task, seed)."""
    rng = np.random.default_rng([seed, zlib.crc32(f"{task.name}/train".encode())])
    theta = np.asarray(task.prior.sample(n, rng), dtype=float)
    return theta, np.asarray(task.simulate(theta, rng), dtype=float)


def _diagnostics(observations) -> str:
    """MCMC diagnostics of the references (worst over observations), empty for exact references."""
    rhat = [o.meta["rhat_max"] for o in observations if "rhat_max" in o.meta]
    ess = [o.meta["ess_min"] for o in observations if "ess_min" in o.meta]
    return f"; R-hat max {max(rhat):.4f}, ESS min {min(ess):.0f}" if rhat and ess else ""


def run_method(est, theta, x, task, observations, n_draws: int, seed: int) -> dict:
    from trustbench.metrics.posterior import c2st

    est.fit(theta, x, prior=task.prior, seed=seed)
    xs = np.stack([np.asarray(o.x, dtype=float) for o in observations])
    start = time.perf_counter()
    draws = est.sample(xs, n_draws, np.random.default_rng([seed, 7]))
    sample_s = time.perf_counter() - start
    scores, c2st_s = [], []
    for o, d in zip(observations, draws):
        start = time.perf_counter()
        scores.append(c2st(np.asarray(o.reference, dtype=float), d, seed=0))
        c2st_s.append(time.perf_counter() - start)
    return {"c2st": np.array(scores), "c2st_s": c2st_s, "train_s": est.training_seconds_,
            "epochs": est.epochs_, "sample_s": sample_s, "leakage": getattr(est, "leakage_", float("nan"))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated: two_moons, slcp")
    parser.add_argument("--simulations", type=int, default=10_000, help="training simulations per task")
    parser.add_argument("--observations", type=int, default=10, help="fixed observations per task (as sbibm)")
    parser.add_argument("--reference", type=int, default=10_000, help="reference draws = posterior draws per observation")
    parser.add_argument("--seed", type=int, default=0, help="seed of simulations, observations, training, sampling")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1000 simulations, 1 observation, 1000 draws")
    args = parser.parse_args()
    if args.quick:
        args.simulations, args.observations, args.reference = 1000, 1, 1000
    names = [t.strip() for t in args.tasks.split(",") if t.strip()]

    import torch

    torch.set_num_threads(1)
    from trustbench.posterior.estimators import NPE, SbiNPE

    warnings.filterwarnings("ignore", category=UserWarning)
    print(f"posterior_vs_sbi: {args.simulations} simulations, {args.observations} observation(s), "
          f"{args.reference} reference draws, seed {args.seed}; torch {torch.__version__} on "
          f"{torch.get_num_threads()} thread (torch.set_num_threads(1))", flush=True)
    import sbi
    import zuko

    ours_cfg = NPE(num_simulations=args.simulations, flow="nsf")
    sbi_cfg = SbiNPE(num_simulations=args.simulations, flow="nsf")
    train_keys = ("batch_size", "learning_rate", "max_epochs", "patience", "validation_fraction", "clip_grad_norm")
    same = {k: getattr(ours_cfg, k) for k in train_keys}
    assert same == {k: getattr(sbi_cfg, k) for k in train_keys}, "training settings differ"
    print(f"training settings (both): {same}")
    print(f"ours: NPE(flow='nsf', transforms={ours_cfg.transforms}, hidden_features={tuple(ours_cfg.hidden_features)}, "
          f"bins={ours_cfg.bins}) on zuko {zuko.__version__}")
    print(f"sbi : SbiNPE(flow='nsf', transforms={sbi_cfg.transforms}, hidden_features={sbi_cfg.hidden_features}) "
          f"on sbi {sbi.__version__} (its nsf defaults: num_bins=10, tail_bound=3, num_blocks=2)", flush=True)

    rows, failed, timings = [], False, []
    for name in names:
        task = make_task(name, args.observations, args.reference)
        start = time.perf_counter()
        observations = task.observations(args.seed)
        print(f"\n[{name}] reference posteriors: {time.perf_counter() - start:.1f} s for {len(observations)} "
              f"observation(s) ({observations[0].meta.get('method', '?')}{_diagnostics(observations)})", flush=True)
        theta, x = training_data(task, args.simulations, args.seed)
        res = {}
        for label, make in (("ours", NPE), ("sbi", SbiNPE)):
            est = make(num_simulations=args.simulations, flow="nsf")  # a fresh, unfitted estimator per task
            res[label] = r = run_method(est, theta, x, task, observations, args.reference, args.seed)
            timings += r["c2st_s"]
            print(f"[{name}] {label}: trained {r['train_s']:.1f} s, {r['epochs']} epochs, sampled {r['sample_s']:.1f} s, "
                  f"C2ST {np.round(r['c2st'], 4).tolist()} ({', '.join(f'{s:.1f}' for s in r['c2st_s'])} s)", flush=True)
        diff = res["ours"]["c2st"] - res["sbi"]["c2st"]
        ok = res["ours"]["c2st"].mean() <= res["sbi"]["c2st"].mean() + MARGIN
        failed |= not ok
        rows.append((name, res, diff, ok))

    print("\n" + "=" * 118)
    print(f"{'task':<10} {'method':<5} {'mean C2ST':>9}  {'C2ST per observation':<28} {'train s':>8} {'epochs':>6} "
          f"{'sample s':>8} {'leakage':>7}  {'sbi/ours train':>14}")
    for name, res, diff, ok in rows:
        ratio = res["sbi"]["train_s"] / res["ours"]["train_s"]
        for label in ("ours", "sbi"):
            r = res[label]
            per = " ".join(f"{v:.3f}" for v in r["c2st"])
            print(f"{name:<10} {label:<5} {r['c2st'].mean():9.4f}  {per:<28} {r['train_s']:8.1f} {r['epochs']:6d} "
                  f"{r['sample_s']:8.1f} {r['leakage']:7.3f}  " + (f"{ratio:14.2f}" if label == "ours" else ""))
        sd = diff.std(ddof=1) if len(diff) > 1 else float("nan")
        print(f"{'':<10} ours - sbi per observation: {' '.join(f'{d:+.3f}' for d in diff)}; mean {diff.mean():+.4f} "
              f"(sd {sd:.4f}); not worse (mean ours <= mean sbi + {MARGIN}): {'YES' if ok else 'NO'}")
        published = task.published_c2st.get(args.simulations)
        if published:
            pub = np.array(published)
            print(f"{'':<10} sbibm published NPE C2ST at {args.simulations} simulations (re-sbibm, sbi 0.23, its 10 "
                  f"observations): mean {pub.mean():.4f}, sd {pub.std(ddof=1):.4f}, range {pub.min():.3f}-{pub.max():.3f}")
        else:
            print(f"{'':<10} sbibm published NPE C2ST at {args.simulations} simulations: none (sbibm ran 1k, 10k, 100k)")
    over = max(timings) > C2ST_BUDGET_S
    print(f"C2ST wall time per call ({args.reference} vs {args.reference} draws): median {np.median(timings):.1f} s, "
          f"max {max(timings):.1f} s, budget {C2ST_BUDGET_S:.0f} s -> {'OVER' if over else 'ok'} "
          f"(torch 1 thread; machine shared)")
    if args.quick:
        print("--quick: smoke run only; verdicts are not meaningful at this size.")
        return 0
    return 1 if (failed or over) else 0


if __name__ == "__main__":
    sys.exit(main())
