"""Speed of the ``eeg`` benchmark's data side: labelled simulations beside MNE's simulation route,
and the cost of the neural-network inverse trained on them.

    python benchmarks/eeg_simulation.py [--quick] [--n-sim 10000] [--n-mne 100]
                                        [--n-train 10000] [--members 1] [--max-epochs 100] [--seed 0]

(a) **Simulation.** Ours: one call ``simulate(sphere_head(), n, rng, n_active=2, n_times=50)``
(biosemi64, 15 mm grid: 64 channels, 647 free-orientation sources), which returns data *and* its
ground truth (seeds, orientations, MVAR time courses, coupling, pink background sources + white
sensor noise, the exact SNR). Peer: MNE's own route, one sample at a time, as a user would write
it: ``mne.simulation.simulate_sparse_stc`` (2 random dipoles on the forward's source space, 10 Hz
sinusoids of random phase) made a vector estimate with random orientations, then
``mne.simulation.simulate_evoked`` with a noise covariance (Gaussian with the covariance of our noise;
no pink background sources, no SNR control — the peer does less). MNE's route is timed on ``--n-mne``
samples and extrapolated linearly to ``--n-sim`` (it is a per-sample loop); the output says so.
Printed: samples/s of each and the ratio ours / MNE (> 1: ours faster).

(b) **NN inverse.** ``NNEnsemble(n_train, members)`` (:mod:`trustbench.domains.eeg.nn`) on the
same head and simulator: wall time of the fit split into simulation and training, training per
member (the members are independent, so 5 members cost ~5 × one), the epochs each member kept,
its median peak localisation error on 200 held-out samples (beside a random map's) and the
prediction time per sample. Default one member to stay within ~5 minutes on 2 cores; the time for
the default 5 members is extrapolated from the per-member time and labelled so.

``--quick`` shrinks everything (2 000 simulations, 30 MNE samples, 2 000 training samples, 10
epochs). Wall times depend on the load of the machine; torch uses ``torch.get_num_threads()``
threads (printed). Not a test: no assertion on times.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def mne_route(head, n: int, n_times: int, noise_cov, rng: np.random.Generator) -> float:
    """Seconds for ``n`` samples simulated by MNE, one at a time."""
    import mne

    times = np.arange(n_times) / 100.0
    src, info, fwd = head.forward["src"], head.info, head.forward

    def data_fun(t):
        return 1e-8 * np.sin(2 * np.pi * 10.0 * t + rng.uniform(0, 2 * np.pi))

    start = time.perf_counter()
    for _ in range(n):
        stc = mne.simulation.simulate_sparse_stc(src, 2, times, data_fun=data_fun, rng=rng)
        orient = rng.standard_normal((2, 3))
        orient /= np.linalg.norm(orient, axis=1, keepdims=True)
        vstc = mne.VolVectorSourceEstimate(stc.data[:, None, :] * orient[:, :, None], stc.vertices,
                                           tmin=0.0, tstep=0.01)
        mne.simulation.simulate_evoked(fwd, vstc, info, noise_cov, nave=1, rng=rng, verbose=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small run (about a minute)")
    parser.add_argument("--n-sim", type=int, default=None, help="samples simulated by ours (default 10000)")
    parser.add_argument("--n-mne", type=int, default=None, help="samples simulated by MNE's route (default 100)")
    parser.add_argument("--n-train", type=int, default=None, help="NN training samples (default 10000)")
    parser.add_argument("--members", type=int, default=1, help="ensemble members to train (default 1)")
    parser.add_argument("--max-epochs", type=int, default=None, help="NN max epochs (default 100)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    n_sim = args.n_sim or (2_000 if args.quick else 10_000)
    n_mne = args.n_mne or (30 if args.quick else 100)
    n_train = args.n_train or (2_000 if args.quick else 10_000)
    max_epochs = args.max_epochs or (10 if args.quick else 100)

    import torch

    from trustbench.domains.eeg.forward import sphere_head
    from trustbench.domains.eeg.nn import NNEnsemble
    from trustbench.domains.eeg.simulate import simulate, simulate_noise
    from trustbench.metrics.sources import peak_localization_error

    head = sphere_head()
    print(f"head: {head.name}: {head.n_channels} channels, {head.n_sources} sources x {head.n_orient} orientations; "
          f"torch threads {torch.get_num_threads()}")

    # ---------------------------------------------------------------- (a) simulation
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    sim = simulate(head, n_sim, rng, n_active=2, n_times=50)
    ours = time.perf_counter() - start
    noise = simulate_noise(head, 200, 50, np.random.default_rng(args.seed + 1))
    cov = np.einsum("bmt,bnt->mn", noise, noise) / (200 * 50)
    mne_cov = head.mne_covariance(cov, nfree=200 * 50)
    mne_route(head, 2, 50, mne_cov, np.random.default_rng(args.seed))  # warm-up (imports, caches)
    mne_s = mne_route(head, n_mne, 50, mne_cov, np.random.default_rng(args.seed))
    mne_total = mne_s * n_sim / n_mne
    print(f"\n(a) simulating {n_sim} labelled samples (2 sources, 50 time points)")
    print(f"  {'route':<44}{'seconds':>10}{'samples/s':>12}")
    print(f"  {'trustbench simulate (one call)':<44}{ours:>10.2f}{n_sim / ours:>12.0f}")
    print(f"  {'MNE simulate_sparse_stc + simulate_evoked':<44}{mne_total:>10.1f}{n_mne / mne_s:>12.1f}"
          f"   (measured on {n_mne} samples in {mne_s:.2f} s, extrapolated to {n_sim})")
    print(f"  ratio ours / MNE (samples/s): {(n_sim / ours) / (n_mne / mne_s):.0f}x")
    del sim

    # ---------------------------------------------------------------- (b) NN inverse
    sim_seconds = []

    def timed_simulate(n, rng):
        t0 = time.perf_counter()
        out = simulate(head, n, rng, n_active=2, n_times=50)
        sim_seconds.append(time.perf_counter() - t0)
        return out

    est = NNEnsemble(n_train=n_train, members=args.members, max_epochs=max_epochs)
    start = time.perf_counter()
    est.fit(head, cov, simulate=timed_simulate, seed=args.seed)
    fit_s = time.perf_counter() - start
    train_s = fit_s - sum(sim_seconds)
    held = simulate(head, 200, np.random.default_rng(args.seed + 2), n_active=2, n_times=50)
    est.apply(held.eeg[:8])  # warm-up
    pred = est.apply(held.eeg)
    truth = held.amplitude()
    err = peak_localization_error(head.positions, truth, pred.amplitude)
    chance = peak_localization_error(head.positions, truth, np.random.default_rng(0).random(truth.shape))
    per_member = train_s / args.members
    print(f"\n(b) NNEnsemble(n_train={n_train}, members={args.members}, hidden={est.hidden}, max_epochs={max_epochs}) "
          f"on {est.x_mean_.size} covariance features ({est.basis_.shape[0]} whitened components) -> "
          f"{head.n_sources} sources")
    print(f"  fit {fit_s:.1f} s = simulation {sum(sim_seconds):.1f} s + training {train_s:.1f} s (targets, features and "
          f"the one-off torch optimiser import included; "
          f"{per_member:.1f} s per member; epochs kept {est.epochs_.tolist()}, ran {len(est.history_)})")
    if args.members != 5:
        print(f"  5 members (the default), extrapolated: training <= ~{5 * per_member:.0f} s "
              f"(the per-member time above includes the one-off setup)")
    print(f"  prediction: {1e3 * pred.seconds / len(held):.3f} ms per sample (batch of {len(held)})")
    print(f"  held-out median peak localisation error (nearest of 2 sources): {1e3 * np.median(err):.1f} mm "
          f"(random map {1e3 * np.median(chance):.1f} mm)")


if __name__ == "__main__":
    main()
