"""Our Champagne and Bayesian minimum norm beside MNE's gamma_map and eLORETA, on the same EEG data.

    python benchmarks/eeg_solvers.py [--n-samples 20] [--n-gamma-map 4] [--spacing 15] [--snr 3]
                                     [--max-iter 300] [--threads 1] [--seed 0]

Head model: :func:`trustbench.domains.eeg.forward.sphere_head` — MNE's spherical head with the 64
BioSemi electrodes, a volume source grid at ``--spacing`` mm (15 mm: 647 sources, free orientation,
1941 columns), average-referenced. Built offline in about a second.

Data: per sample, 2 dipoles at distinct random grid points with random unit orientations, 10 nA·m
amplitude, sinusoidal time courses (6 and 11 Hz, random phase), T = 50 samples at 100 Hz, plus
white sensor noise of one level σ for all samples, chosen so that the mean ‖signal‖_F over the mean
‖noise‖_F is ``--snr`` (each sample's SNR varies with the depth of its dipoles), both
average-referenced. The noise covariance is the true one, σ² P (P the average-reference projector,
rank 63), given to MNE as an ``mne.Covariance`` and to ours as an array (ours drops the null
direction by its rank rule).

Solvers, each on the same arrays:

* ours ``champagne`` (convex-bounding MM updates, γ shared by the 3 orientations of a source,
  ``max_iter``, ``tol=1e-6``) and ``bayes_mn`` without and with depth weighting 0.8 (prior
  variance by evidence maximisation; all samples in one batched call, time per sample = total / n);
* MNE ``mne.inverse_sparse.gamma_map(evoked, fwd, cov, alpha=1.0, loose=1.0, depth=None,
  xyz_same_gamma=True, update_mode=2, maxit=max_iter, tol=1e-6)``: the same model and the same
  (convex-bounding) update family and stopping rule; alpha = 1 is the noise variance after
  whitening, i.e. the true one;
* MNE eLORETA: ``make_inverse_operator(info, fwd, cov, loose=1.0, depth=None)`` once (its time
  shown apart) and ``apply_inverse(evoked, inv, lambda2=1/snr², method="eLORETA")`` per sample
  (which computes the eLORETA weights each call, as a user's call does);
* trustbench's ``eloreta`` method: the same MNE operator, its kernel taken once (``fit``, not in the
  row) and applied to the whole batch in one product.

MNE's gamma_map takes about 10 s per sample here (one thread), so by default it runs on the first
``--n-gamma-map`` samples only (all of them with ``--n-gamma-map 20``, about 4 minutes); the others
run on all ``--n-samples``. Reported per solver: the samples it ran on, median wall time per sample
(``time.perf_counter``) and process (CPU) time (``time.process_time``, less sensitive to a busy
machine), each with its ratio to our champagne's median on the same samples (> 1: ours faster),
and the peak localisation error (mm; distance from the grid point of
largest ‖x̂_i‖ summed over time to the nearer true dipole, :func:`trustbench.metrics.sources.
peak_localization_error`), median and mean, so that speed is compared at comparable accuracy.
BLAS is limited to ``--threads`` threads for everything (default 1: the per-core comparison).
Not a test.
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np


def simulate(L, n_samples: int, snr: float, rng: np.random.Generator, T: int = 50):
    m, N = L.shape
    n = N // 3
    P = np.eye(m) - np.ones((m, m)) / m
    t = np.arange(T) / 100.0
    signals, truth = [], []
    for _ in range(n_samples):
        act = rng.choice(n, 2, replace=False)
        X = np.zeros((N, T))
        for j, i in enumerate(act):
            ori = rng.normal(size=3)
            wave = np.sin(2 * np.pi * (6 + 5 * j) * t + rng.uniform(0, 2 * np.pi))
            X[3 * i : 3 * i + 3] = np.outer(ori / np.linalg.norm(ori), wave) * 1e-8
        signals.append(P @ L @ X)
        truth.append(act)
    # one noise level for all samples: the mean signal norm over the noise norm is `snr`
    noise = np.stack([P @ rng.normal(size=(m, T)) for _ in range(n_samples)])
    sigma = (
        np.mean([np.linalg.norm(x) for x in signals])
        / np.mean(np.linalg.norm(noise, axis=(1, 2)))
        / snr
    )
    return [x + sigma * e for x, e in zip(signals, noise, strict=True)], truth, sigma**2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=20)
    parser.add_argument("--n-gamma-map", type=int, default=4)
    parser.add_argument("--spacing", type=float, default=15.0)
    parser.add_argument("--snr", type=float, default=3.0)
    parser.add_argument("--max-iter", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import mne
    from threadpoolctl import threadpool_limits

    from trustbench.domains.eeg.forward import sphere_head
    from trustbench.domains.eeg.methods import ELORETA
    from trustbench.domains.eeg.solvers import bayes_mn, champagne
    from trustbench.metrics.sources import peak_localization_error

    logging.getLogger("trustbench").setLevel(logging.ERROR)
    limits = threadpool_limits(args.threads)
    t0 = time.perf_counter()
    mne.set_log_level("ERROR")
    head = sphere_head("biosemi64", args.spacing)
    info, fwd, L, pos = head.info, head.forward, head.gain, head.positions
    n = len(pos)
    print(
        f"forward: {L.shape[0]} channels x {n} sources x 3 orientations, built in "
        f"{time.perf_counter() - t0:.2f} s; {args.n_samples} samples, SNR {args.snr:g}, "
        f"BLAS threads {args.threads}"
    )
    rng = np.random.default_rng(args.seed)
    Ys, truth, s2 = simulate(L, args.n_samples, args.snr, rng)
    m = L.shape[0]
    P = np.eye(m) - np.ones((m, m)) / m
    C = s2 * P
    cov = head.mne_covariance(s2 * np.eye(m), nfree=1000)
    t = time.perf_counter()
    inv = mne.minimum_norm.make_inverse_operator(info, fwd, cov, loose=1.0, depth=None)
    make_inv_s = time.perf_counter() - t

    def ple(act, mags):
        true = np.zeros(n)
        true[act] = 1.0
        return 1000.0 * float(peak_localization_error(pos, true, mags))

    def mags_from(X):  # (3n, T) -> (n,) energy per source
        return (X**2).reshape(n, 3, -1).sum(axis=(1, 2))

    rows: dict[str, dict[str, list[float]]] = {}

    def record(name, k, seconds, cpu, err):
        rows.setdefault(name, {"k": [], "t": [], "c": [], "e": []})
        rows[name]["k"].append(k)
        rows[name]["t"].append(seconds)
        rows[name]["c"].append(cpu)
        rows[name]["e"].append(err)

    def timed(fn, *fargs, **fkwargs):
        t, c = time.perf_counter(), time.process_time()
        out = fn(*fargs, **fkwargs)
        return out, time.perf_counter() - t, time.process_time() - c

    n_iter, n_conv = [], 0
    for k, (Y, act) in enumerate(zip(Ys, truth, strict=True)):
        evoked = mne.EvokedArray(Y, info, tmin=0.0)

        post, dt, dc = timed(champagne, L, Y, C, max_iter=args.max_iter, tol=1e-6)
        record("ours champagne", k, dt, dc, ple(act, mags_from(post.mean)))
        n_iter.append(post.n_iter)
        n_conv += post.converged

        stc, dt, dc = timed(
            mne.minimum_norm.apply_inverse, evoked, inv, lambda2=1.0 / args.snr**2, method="eLORETA"
        )
        record("MNE eLORETA", k, dt, dc, ple(act, (stc.data**2).sum(axis=1)))

        if k < args.n_gamma_map:
            stc, dt, dc = timed(
                mne.inverse_sparse.gamma_map,
                evoked,
                fwd,
                cov,
                alpha=1.0,
                loose=1.0,
                depth=None,
                xyz_same_gamma=True,
                update_mode=2,
                maxit=args.max_iter,
                tol=1e-6,
            )
            mags = np.zeros(n)
            mags[np.searchsorted(fwd["src"][0]["vertno"], stc.vertices[0])] = (stc.data**2).sum(
                axis=1
            )
            record("MNE gamma_map", k, dt, dc, ple(act, mags))

    # trustbench's `eloreta`: MNE's eLORETA weights once, then one kernel product for the whole batch
    eloreta, _, _ = timed(ELORETA(snr=args.snr).fit, head, C)
    est, dt, dc = timed(eloreta.apply, np.stack(Ys))
    for b, act in enumerate(truth):
        record("trustbench eloreta (batch)", b, dt / len(Ys), dc / len(Ys),
               ple(act, (est.moments[b] ** 2).sum(axis=(1, 2))))

    for name, depth in (("ours bayes_mn", None), ("ours bayes_mn depth=0.8", 0.8)):
        post, dt, dc = timed(bayes_mn, L, np.stack(Ys), C, depth=depth)  # one batched call
        for b, act in enumerate(truth):
            record(name, b, dt / len(Ys), dc / len(Ys), ple(act, mags_from(post.mean[b])))

    ours, ours_cpu = np.array(rows["ours champagne"]["t"]), np.array(rows["ours champagne"]["c"])
    print(
        f"\n{'solver':28s} {'n':>3s} {'wall s':>7s} {'ratio':>6s} {'cpu s':>7s} {'ratio':>6s} "
        f"{'PLE med':>8s} {'PLE mean':>9s}"
    )
    for name, r in rows.items():
        tm, cm = float(np.median(r["t"])), float(np.median(r["c"]))
        ratio = tm / float(np.median(ours[r["k"]]))
        cratio = cm / float(np.median(ours_cpu[r["k"]]))
        print(
            f"{name:28s} {len(r['t']):3d} {tm:7.3f} {ratio:6.2f} {cm:7.3f} {cratio:6.2f} "
            f"{np.median(r['e']):8.1f} {np.mean(r['e']):9.1f}"
        )
    print(
        f"\nper sample, medians; ratio = solver / our champagne on the same samples "
        f"(> 1: ours faster); cpu = process time. PLE: peak localisation error, mm.\n"
        f"MNE make_inverse_operator (once, shared by the eLORETA rows): {make_inv_s:.3f} s, "
        "not in the rows."
    )
    print(
        f"ours champagne: median {int(np.median(n_iter))} iterations, {n_conv}/{len(Ys)} converged "
        f"(tol 1e-6, max_iter {args.max_iter}); grid spacing {args.spacing:g} mm."
    )
    limits.restore_original_limits()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
