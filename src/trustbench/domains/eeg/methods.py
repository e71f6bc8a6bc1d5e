"""Inverse solvers of the ``eeg`` benchmark, one interface for MNE's solvers and ours.

A solver is configured by its constructor, then ``fit(head, noise_cov, simulate=None, seed=0)``
(``head`` a :class:`~.forward.HeadModel`, ``noise_cov`` (m, m) estimated from a noise-only baseline,
``simulate(n, rng)`` the task's simulator for solvers trained on simulations) and
``apply(eeg) -> SourceEstimate`` for a batch (B, m, T).

- ``mne``, ``dspm``, ``sloreta``, ``eloreta``: MNE's minimum-norm family (Hämäläinen & Ilmoniemi
  1994; Dale et al. 2000; Pascual-Marqui 2002, 2007). They are linear: the kernel (n·o, m) is taken
  from ``mne.minimum_norm.apply_inverse`` once and applied to every sample.
- ``lcmv``: MNE's LCMV beamformer (Van Veen et al. 1997), unit-noise-gain-invariant weights from each
  sample's data covariance.
- ``gamma_map``, ``mxne``: MNE's sparse solvers (Wipf & Nagarajan 2009; Gramfort et al. 2012), per sample.
- ``bayes_mn``, ``champagne``: ours (:mod:`.solvers`), with posterior standard deviations.
- ``nn_ensemble``: :mod:`.nn`.

Every solver returns the moments (B, n, n_orient, T); the Bayesian ones also a posterior std.

The ICA algorithms ``fastica``, ``picard`` and ``infomax`` run on ``eeg/ica`` tasks instead:
``run(data, seed)`` gives the :class:`.ica.IcaStability` of ``n_runs`` bootstrap (or restart) runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from trustbench.validation import check_choice, check_int, check_positive

__all__ = ["SourceEstimate", "MinimumNorm", "MNE", "DSPM", "SLORETA", "ELORETA", "LCMV", "GammaMAP", "MxNE",
           "BayesMN", "Champagne", "ICA", "FastICA", "Picard", "Infomax", "SOLVERS"]

SOLVERS = ("mne", "dspm", "sloreta", "eloreta", "lcmv", "gamma_map", "mxne", "bayes_mn", "champagne", "nn_ensemble")
"""Registry names of the inverse solvers."""


@dataclass(frozen=True, eq=False)
class SourceEstimate:
    """What a solver returns for a batch: ``moments`` (B, n, n_orient, T) or None, the source map
    ``amplitude`` (B, n) (RMS over time of the moment norm unless the solver estimates it directly),
    and, for solvers with uncertainty, ``std`` with the posterior standard deviation of ``moments``
    (broadcastable to it) or of ``amplitude`` (``std_of`` says which)."""

    moments: np.ndarray | None
    amplitude: np.ndarray
    std: np.ndarray | None = None
    std_of: str = "moments"
    seconds: float = 0.0

    @classmethod
    def from_moments(cls, moments: np.ndarray, std: np.ndarray | None = None, seconds: float = 0.0) -> SourceEstimate:
        from trustbench.domains.eeg.simulate import source_map

        return cls(moments=moments, amplitude=source_map(moments), std=std, seconds=seconds)


def _check_eeg(eeg: Any, head) -> np.ndarray:
    x = np.asarray(eeg, dtype=float)
    if x.ndim != 3 or x.shape[1] != head.n_channels:
        raise ValueError(f"eeg must be (samples, {head.n_channels} channels, times); got shape {x.shape}.")
    return x


class _Fitted:
    """fit() stores the head and the noise covariance; subclasses add what they precompute."""

    def supports(self, task) -> bool:
        return getattr(task, "kind", None) == "sources"

    def fit(self, head, noise_cov: np.ndarray, simulate=None, seed: int = 0):
        cov = np.asarray(noise_cov, dtype=float)
        if cov.shape != (head.n_channels, head.n_channels):
            raise ValueError(f"noise_cov must be ({head.n_channels}, {head.n_channels}); got {cov.shape}.")
        self.head_, self.noise_cov_ = head, cov
        self._prepare(simulate, seed)
        return self

    def _prepare(self, simulate, seed: int) -> None:
        pass

    def apply(self, eeg: Any) -> SourceEstimate:
        x = _check_eeg(eeg, self.head_)
        t0 = time.perf_counter()
        moments, std = self._solve(x)
        return SourceEstimate.from_moments(moments, std, seconds=time.perf_counter() - t0)

    def _mne_cov(self):
        return self.head_.mne_covariance(self.noise_cov_, nfree=1000)


# ------------------------------------------------------------------ MNE's minimum-norm family


@dataclass
class MinimumNorm(_Fitted):
    """MNE's linear inverse ``method`` (MNE, dSPM, sLORETA, eLORETA) with regularisation
    λ² = 1/snr² and depth weighting ``depth`` (None: none)."""

    method: str = "MNE"
    snr: float = 3.0
    depth: float | None = 0.8

    def __post_init__(self) -> None:
        check_choice(self.method, "method", ("MNE", "dSPM", "sLORETA", "eLORETA"))
        check_positive(self.snr, "snr")
        if self.depth is not None:
            check_positive(self.depth, "depth", strict=False)

    def _prepare(self, simulate, seed: int) -> None:
        import mne

        head = self.head_
        inv = mne.minimum_norm.make_inverse_operator(head.info, head.forward, self._mne_cov(), loose=1.0 if head.n_orient == 3 else 0.0,
                                                     fixed=head.n_orient == 1, depth=self.depth, verbose=False)
        ident = head.evoked(np.eye(head.n_channels))
        stc = mne.minimum_norm.apply_inverse(ident, inv, lambda2=1.0 / self.snr**2, method=self.method,
                                             pick_ori="vector" if head.n_orient == 3 else None, verbose=False)
        self.kernel_ = np.asarray(stc.data).reshape(head.n_sources * head.n_orient, head.n_channels)

    def _solve(self, x: np.ndarray):
        out = np.matmul(self.kernel_, x)  # (B, n*o, T)
        return out.reshape(len(x), self.head_.n_sources, self.head_.n_orient, x.shape[-1]), None


@dataclass
class MNE(MinimumNorm):
    """Minimum-norm estimate (Hämäläinen & Ilmoniemi 1994), depth-weighted as MNE's default."""

    method: str = "MNE"


@dataclass
class DSPM(MinimumNorm):
    """Dynamic statistical parametric mapping: noise-normalised MNE (Dale et al. 2000)."""

    method: str = "dSPM"


@dataclass
class SLORETA(MinimumNorm):
    """Standardised low-resolution tomography (Pascual-Marqui 2002)."""

    method: str = "sLORETA"
    depth: float | None = None


@dataclass
class ELORETA(MinimumNorm):
    """Exact low-resolution tomography (Pascual-Marqui 2007): zero localisation error for single
    noise-free sources."""

    method: str = "eLORETA"
    depth: float | None = None


# ------------------------------------------------------------------ MNE's per-sample solvers


def _vector_stc_to_moments(stc, head, n_times: int) -> np.ndarray:
    """A (vector) source estimate on a subset of vertices as dense moments (n, o, T)."""
    out = np.zeros((head.n_sources, head.n_orient, n_times))
    idx, offset = [], 0  # per source space (one, or two hemispheres): its vertices' rows in the gain
    for space, vertices in zip(head.forward["src"], stc.vertices, strict=True):
        idx.append(offset + np.searchsorted(space["vertno"], vertices))
        offset += len(space["vertno"])
    idx = np.concatenate(idx)
    data = np.asarray(stc.data)
    out[idx] = data.reshape(len(idx), head.n_orient, n_times)
    return out


@dataclass
class LCMV(_Fitted):
    """MNE's LCMV beamformer (Van Veen et al. 1997) with the sample's own data covariance,
    Tikhonov ``reg`` and unit-noise-gain-invariant weight normalisation (Sekihara & Nagarajan 2008)."""

    reg: float = 0.05

    def __post_init__(self) -> None:
        check_positive(self.reg, "reg", strict=False)

    def _solve(self, x: np.ndarray):
        from mne.beamformer import apply_lcmv, make_lcmv

        head, out = self.head_, []
        noise = self._mne_cov()
        for y in x:
            yc = y - y.mean(axis=1, keepdims=True)
            data_cov = head.mne_covariance(yc @ yc.T / y.shape[1], nfree=y.shape[1])
            filters = make_lcmv(head.info, head.forward, data_cov, reg=self.reg, noise_cov=noise,
                                pick_ori="vector" if head.n_orient == 3 else None,
                                rank={"eeg": head.n_channels - 1}, verbose=False)
            stc = apply_lcmv(head.evoked(y), filters, verbose=False)
            out.append(_vector_stc_to_moments(stc, head, y.shape[1]))
        return np.stack(out), None


@dataclass
class GammaMAP(_Fitted):
    """MNE's gamma-MAP sparse Bayesian learning (Wipf & Nagarajan 2009), orientation-shared
    variances, regularisation ``alpha``."""

    alpha: float = 0.2
    tol: float = 1e-5

    def __post_init__(self) -> None:
        check_positive(self.alpha, "alpha")

    def _solve(self, x: np.ndarray):
        from mne.inverse_sparse import gamma_map

        head, noise = self.head_, self._mne_cov()
        out = [_vector_stc_to_moments(gamma_map(head.evoked(y), head.forward, noise, self.alpha, loose=1.0, depth=None,
                                                tol=self.tol, pick_ori="vector", verbose=False), head, y.shape[1])
               for y in x]
        return np.stack(out), None


@dataclass
class MxNE(_Fitted):
    """MNE's mixed-norm estimate (Gramfort et al. 2012), ``alpha`` in percent of the largest useful
    regularisation."""

    alpha: float = 40.0

    def __post_init__(self) -> None:
        if not 0 < float(self.alpha) < 100:
            raise ValueError(f"alpha must lie in (0, 100) (percent of alpha_max); got {self.alpha}.")

    def _solve(self, x: np.ndarray):
        from mne.inverse_sparse import mixed_norm

        head, noise, out = self.head_, self._mne_cov(), []
        for y in x:
            stc = mixed_norm(head.evoked(y), head.forward, noise, alpha=self.alpha, loose=1.0, depth=0.8,
                             pick_ori="vector", verbose=False)
            out.append(_vector_stc_to_moments(stc, head, y.shape[1]) if stc is not None else
                       np.zeros((head.n_sources, head.n_orient, y.shape[1])))
        return np.stack(out), None


# ------------------------------------------------------------------ ours, with posterior std


@dataclass
class BayesMN(_Fitted):
    """Bayesian minimum norm (Gaussian prior, prior variance by maximum evidence when
    ``prior_var`` is None) with its posterior standard deviation; :func:`.solvers.bayes_mn`."""

    prior_var: float | None = None

    def __post_init__(self) -> None:
        if self.prior_var is not None:
            check_positive(self.prior_var, "prior_var")

    def _solve(self, x: np.ndarray):
        from trustbench.domains.eeg.solvers import bayes_mn

        post = bayes_mn(self.head_.gain, x, self.noise_cov_, prior_var=self.prior_var, n_orient=self.head_.n_orient)
        return _posterior_moments(post.mean, post.std, self.head_, x)


@dataclass
class Champagne(_Fitted):
    """Champagne / sparse Bayesian learning with orientation-shared variances (Wipf et al. 2010;
    MM updates of Hashemi et al. 2021), posterior std; :func:`.solvers.champagne`."""

    max_iter: int = 300
    tol: float = 1e-6

    def __post_init__(self) -> None:
        check_int(self.max_iter, "max_iter", minimum=1)
        check_positive(self.tol, "tol")

    def _solve(self, x: np.ndarray):
        from trustbench.domains.eeg.solvers import champagne

        post = champagne(self.head_.gain, x, self.noise_cov_, n_orient=self.head_.n_orient, max_iter=self.max_iter,
                         tol=self.tol)
        return _posterior_moments(post.mean, post.std, self.head_, x)


def _posterior_moments(mean: np.ndarray, std: np.ndarray, head, x: np.ndarray):
    b, t = len(x), x.shape[-1]
    shape = (b, head.n_sources, head.n_orient)
    std = np.broadcast_to(np.asarray(std), (b, head.n_sources * head.n_orient)).reshape(*shape, 1)
    return np.asarray(mean).reshape(*shape, t), std


# ------------------------------------------------------------------ ICA algorithms (eeg/ica tasks)


@dataclass
class ICA:
    """An ICA algorithm run ``n_runs`` times (``resample``: bootstrap or random restarts) and
    assessed by ICASSO clustering; :func:`.ica.ica_stability`."""

    algorithm: str = "fastica"
    n_runs: int = 10
    resample: str = "bootstrap"
    n_components: int | None = None

    def __post_init__(self) -> None:
        from trustbench.domains.eeg.ica import ALGORITHMS, RESAMPLING

        check_choice(self.algorithm, "algorithm", ALGORITHMS)
        check_choice(self.resample, "resample", RESAMPLING)
        check_int(self.n_runs, "n_runs", minimum=2)
        if self.n_components is not None:
            check_int(self.n_components, "n_components", minimum=2)

    def supports(self, task) -> bool:
        return getattr(task, "kind", None) == "ica"

    def run(self, data, seed: int = 0):
        from trustbench.domains.eeg.ica import ica_stability

        return ica_stability(data.X, self.algorithm, mixing=data.mixing, sources=data.sources,
                             n_components=self.n_components, n_runs=self.n_runs, resample=self.resample, seed=seed)


@dataclass
class FastICA(ICA):
    """FastICA (Hyvärinen 1999), scikit-learn's implementation."""

    algorithm: str = "fastica"


@dataclass
class Picard(ICA):
    """Picard, preconditioned ICA for real data (Ablin, Cardoso & Gramfort 2018), extended."""

    algorithm: str = "picard"


@dataclass
class Infomax(ICA):
    """Extended Infomax (Lee, Girolami & Sejnowski 1999), MNE's implementation."""

    algorithm: str = "infomax"
