"""Posterior estimators (the methods under test of the posterior protocol).

Each learns p(θ | x) from simulated pairs ``theta (n, d)``, ``x (n, *x_shape)`` and draws posterior
samples ``(m, n_samples, d)`` for new observations ``x (m, *x_shape)``:

========  =========================  =============================================================
name      class                      method
========  =========================  =============================================================
npe       :class:`NPE`               flow NPE: coupling or autoregressive NSF, or MAF (zuko)
cinn      :class:`CINN`              conditional invertible network (affine couplings, soft clamp)
mdn       :class:`MDN`               mixture density network, full-covariance Gaussians
ensemble  :class:`GaussianEnsemble`  deep ensemble of diagonal-Gaussian MLPs (no correlations)
abc       :class:`RejectionABC`      rejection ABC on the same simulations (no training)
sbi_npe   :class:`SbiNPE`            the ``sbi`` package's NPE, as an external peer
========  =========================  =============================================================

Shared conventions (those of sbi, Tejero-Cantero et al. 2020): θ and x are z-scored with the
training statistics (x per feature for vectors, per channel for waveforms ``(n, channels, time)``);
rows with a non-finite θ or x are dropped (``n_dropped_``); a ``validation_fraction`` share is held
out for early stopping (training stops after ``patience`` epochs without a better validation loss,
the best weights are restored); mini-batch Adam with gradient clipping. ``embedding="auto"`` passes
vectors as they are and summarises waveforms with a 1-D CNN
(:class:`trustbench.posterior.networks.WaveformCNN`) trained jointly with the estimator.

Draws outside the prior support ("leakage", Greenberg et al. 2019) are rejected and redrawn, up to
``max_draws`` times ``n_samples`` raw draws per observation; past that cap a warning is issued and
the missing draws are resampled from the accepted ones. ``leakage_`` is the share of raw draws that
fell outside the support, measured after fitting on the validation observations (100 draws each);
each ``sample`` call stores its own share in ``sample_leakage_``. ``log_prob`` is -inf outside the
support and, with ``normalize=True``, divided by the estimated mass inside it (as sbi's
``leakage_correction``), so it is the density of what ``sample`` draws.

Randomness: ``fit(seed=...)`` seeds the initialization (a forked torch RNG), the validation split
and the batch order (a local ``torch.Generator``); ``sample`` draws all its noise from the NumPy
Generator it is given. Same seed and Generator state → identical samples on CPU.

References
----------
Papamakarios G, Murray I (2016). Fast ε-free inference of simulation models with Bayesian
conditional density estimation. NeurIPS.
Greenberg D, Nonnenmacher M, Macke J (2019). Automatic posterior transformation for
likelihood-free inference. ICML (leakage and its correction).
Durkan C, Bekasov A, Murray I, Papamakarios G (2019). Neural spline flows. NeurIPS.
Papamakarios G, Pavlakou T, Murray I (2017). Masked autoregressive flow for density estimation. NeurIPS.
Ardizzone L, Lüth C, Kruse J, Rother C, Köthe U (2019). Guided image generation with conditional
invertible neural networks. arXiv:1907.02392.
Dinh L, Sohl-Dickstein J, Bengio S (2017). Density estimation using Real NVP. ICLR.
Bishop CM (1994). Mixture density networks. Aston University, NCRG/94/004.
Lakshminarayanan B, Pritzel A, Blundell C (2017). Simple and scalable predictive uncertainty
estimation using deep ensembles. NeurIPS.
Pritchard JK, Seielstad MT, Perez-Lezaun A, Feldman MW (1999). Population growth of human Y
chromosomes: a study of Y chromosome microsatellites. Mol. Biol. Evol. 16, 1791-1798.
Tejero-Cantero A et al. (2020). sbi: a toolkit for simulation-based inference. JOSS 5, 2505.
Lueckmann JM et al. (2021). Benchmarking simulation-based inference. AISTATS.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from trustbench.validation import check_array, check_choice, check_int, short_repr

__all__ = ["NPE", "CINN", "MDN", "GaussianEnsemble", "RejectionABC", "SbiNPE"]

logger = logging.getLogger("trustbench")

EMBEDDINGS = ("auto", "identity", "mlp", "cnn")
"""Embedding (summary) networks: see :func:`trustbench.posterior.networks.make_embedding`."""

_MIN_NEURAL = 10
"""Fewest usable simulations a trained estimator accepts (a validation split needs rows)."""

_CHUNK = 200_000
"""Most (observation, draw) rows pushed through a network at once."""


# ----------------------------------------------------------------------------- checks


def _check_real(value: Any, name: str, low: float, high: float, *, closed: str = "neither") -> float:
    """A finite number in an interval; ``closed`` in 'neither', 'left', 'right', 'both'."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number; got {short_repr(value)}.")
    v = float(value)
    lo = v >= low if closed in ("left", "both") else v > low
    hi = v <= high if closed in ("right", "both") else v < high
    if not (math.isfinite(v) and lo and hi):
        lb, rb = "[" if closed in ("left", "both") else "(", "]" if closed in ("right", "both") else ")"
        raise ValueError(f"{name} must lie in {lb}{low:g}, {high:g}{rb}; got {value!r}.")
    return v


def _check_widths(value: Any, name: str) -> tuple[int, ...]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{name} must be a sequence of layer widths such as (50, 50); got {short_repr(value)}.")
    widths = tuple(value)
    for i, w in enumerate(widths):
        if isinstance(w, bool) or not isinstance(w, (int, np.integer)) or w < 1:
            raise ValueError(
                f"{name} must hold positive integer widths; got {short_repr(w)} at position {i} of {widths!r}."
            )
    if not widths:
        raise ValueError(f"{name} must hold at least one hidden layer width; got {widths!r}.")
    return tuple(int(w) for w in widths)


def _check_rng(rng: Any) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)); got {short_repr(rng)}.")
    return rng


def _check_training_data(theta: Any, x: Any, prior: Any, seed: Any, min_rows: int):
    """Validated (theta, x, prior, seed, n_dropped): rows with a non-finite value are dropped."""
    from trustbench.posterior.priors import as_prior

    seed = check_int(seed, "seed", minimum=0)
    prior = as_prior(prior)
    theta = check_array(theta, "theta", ndim=2, finite=False)
    x = check_array(x, "x", ndim=(2, 3), finite=False)
    if len(theta) != len(x):
        raise ValueError(f"theta and x must hold the same number of simulations; got {len(theta)} and {len(x)}.")
    if theta.shape[1] != prior.dim:
        raise ValueError(f"theta must have prior.dim = {prior.dim} columns; got shape {theta.shape}.")
    keep = np.isfinite(theta).all(axis=1) & np.isfinite(x.reshape(len(x), -1)).all(axis=1)
    n_dropped = int((~keep).sum())
    if keep.sum() < min_rows:
        raise ValueError(
            f"fitting needs at least {min_rows} simulations with finite theta and x; got {int(keep.sum())} "
            f"of {len(x)} ({n_dropped} dropped for NaN/inf)."
        )
    if n_dropped:
        logger.warning("dropped %d of %d simulations with a non-finite theta or x", n_dropped, len(x))
    return theta[keep], x[keep], prior, seed, n_dropped


def _check_embedding(kind: str, x: np.ndarray) -> None:
    if kind == "cnn" and x.ndim != 3:
        raise ValueError(f"embedding='cnn' needs waveforms x of shape (n, channels, time); got x of shape {x.shape}.")


def _x_scaling(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Location and scale broadcastable to ``x[0]``: per feature (vectors) or per channel (waveforms)."""
    axes = (0,) if x.ndim == 2 else (0, 2)
    loc, scale = x.mean(axis=axes, keepdims=True)[0], x.std(axis=axes, keepdims=True)[0]
    return loc, np.where(scale > 0, scale, 1.0)


def _check_x(est: Any, x: Any) -> np.ndarray:
    shape = getattr(est, "x_shape_", None)
    if shape is None:
        raise RuntimeError(f"{type(est).__name__} is not fitted yet; call fit(theta, x, prior=...) first.")
    arr = check_array(x, "x", ndim=1 + len(shape))
    if arr.shape[1:] != shape:
        raise ValueError(f"x must have shape (m, {', '.join(map(str, shape))}) as in fit; got {arr.shape}.")
    return arr


def _split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    n_val = max(1, int(round(fraction * n)))
    if n - n_val < 2:
        raise ValueError(
            f"validation_fraction={fraction!r} of {n} simulations leaves {n - n_val} for training; need >= 2."
        )
    perm = np.random.default_rng([seed, 1]).permutation(n)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def _inside(prior: Any, theta: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows of ``theta (..., d)`` inside the prior support."""
    flat = theta.reshape(-1, theta.shape[-1])
    return np.isfinite(prior.log_prob(flat)).reshape(theta.shape[:-1])


def _reject(draw, prior: Any, m: int, n: int, d: int, max_draws: int, rng: np.random.Generator,
            name: str) -> tuple[np.ndarray, float]:
    """Rejection of draws outside the prior support: ``draw(index, k) -> (len(index), k, d)``.

    Returns the accepted draws ``(m, n, d)`` and the share of raw draws outside the support. Past
    ``max_draws * n`` raw draws for an observation, the missing draws are resampled from its
    accepted ones (raw draws where none was accepted) and a warning is issued.
    """
    out = np.empty((m, n, d))
    filled = np.zeros(m, dtype=int)
    pending = np.arange(m)
    raw_total = outside = 0
    for _ in range(max_draws):
        if not pending.size:
            break
        raw = draw(pending, n)
        ok = _inside(prior, raw)
        raw_total += ok.size
        outside += int((~ok).sum())
        for j, i in enumerate(pending):
            take = raw[j][ok[j]][: n - filled[i]]
            out[i, filled[i]: filled[i] + len(take)] = take
            filled[i] += len(take)
        last = raw
        last_pending = pending
        pending = pending[filled[pending] < n]
    if pending.size:
        short = {int(i): int(n - filled[i]) for i in pending}
        warnings.warn(
            f"{name}: after {max_draws * n} raw draws per observation, {len(pending)} observation(s) still lack "
            f"draws inside the prior support (missing counts {short_repr(short)}); the posterior leaks "
            f"{outside / max(raw_total, 1):.1%} of its mass. Missing draws are resampled from the accepted ones "
            f"(raw draws where none was accepted). Raise max_draws or check the estimator.",
            RuntimeWarning, stacklevel=3,
        )
        where = {int(i): j for j, i in enumerate(last_pending)}
        for i in pending:
            k = n - filled[i]
            if filled[i]:
                out[i, filled[i]:] = out[i, rng.integers(filled[i], size=k)]
            else:
                out[i] = last[where[int(i)]]
    return out, outside / max(raw_total, 1)


# ----------------------------------------------------------------------------- neural estimators


@dataclass(kw_only=True, eq=False)
class _Neural:
    """Configuration and machinery shared by the estimators trained here (abstract).

    Parameters
    ----------
    num_simulations : how many simulations the protocol gives the estimator.
    embedding : "auto" (identity for vectors, 1-D CNN for waveforms), "identity", "mlp" or "cnn".
    summary_dim : output size of the "mlp" and "cnn" embeddings.
    batch_size, learning_rate : Adam mini-batch size and step size (sbi's defaults: 200, 5e-4).
    max_epochs : most training epochs.
    patience : epochs without a better validation loss before training stops (sbi: 20).
    validation_fraction : share of the simulations held out for early stopping (sbi: 0.1).
    clip_grad_norm : gradient norm clip (None: off; sbi: 5).
    max_draws : cap on raw draws per observation, in multiples of ``n_samples``, when rejecting
        draws outside the prior support.
    """

    num_simulations: int = 1000
    embedding: str = "auto"
    summary_dim: int = 16
    batch_size: int = 200
    learning_rate: float = 5e-4
    max_epochs: int = 1000
    patience: int = 20
    validation_fraction: float = 0.1
    clip_grad_norm: float | None = 5.0
    max_draws: int = 100

    def validate(self) -> None:
        """Raise ValueError/TypeError on a bad parameter, before any work."""
        check_int(self.num_simulations, "num_simulations", minimum=_MIN_NEURAL)
        check_choice(self.embedding, "embedding", EMBEDDINGS)
        check_int(self.summary_dim, "summary_dim", minimum=1)
        check_int(self.batch_size, "batch_size", minimum=1)
        _check_real(self.learning_rate, "learning_rate", 0.0, math.inf)
        check_int(self.max_epochs, "max_epochs", minimum=1)
        check_int(self.patience, "patience", minimum=1)
        _check_real(self.validation_fraction, "validation_fraction", 0.0, 1.0)
        if self.clip_grad_norm is not None:
            _check_real(self.clip_grad_norm, "clip_grad_norm", 0.0, math.inf)
        check_int(self.max_draws, "max_draws", minimum=1)

    # subclasses build their network
    def _build(self, d: int, x_shape: tuple[int, ...], rng: np.random.Generator):  # pragma: no cover
        raise NotImplementedError

    def _loss(self, model):
        return lambda theta, x: -model.log_prob(theta, x)

    def fit(self, theta: Any, x: Any, *, prior: Any, seed: int = 0):
        """Train on ``theta (n, d)`` and ``x (n, *x_shape)`` simulated from ``prior``; returns self."""
        self.validate()
        theta, x, prior, seed, n_dropped = _check_training_data(theta, x, prior, seed, _MIN_NEURAL)
        _check_embedding(self.embedding, x)
        import torch

        from trustbench.posterior import networks as nets

        start = time.perf_counter()
        self.prior_, self.dim_, self.x_shape_, self.n_dropped_ = prior, theta.shape[1], x.shape[1:], n_dropped
        self.seed_ = seed
        self.theta_loc_, self.theta_scale_ = theta.mean(axis=0), np.where(theta.std(axis=0) > 0, theta.std(axis=0), 1.0)
        self.x_loc_, self.x_scale_ = _x_scaling(x)
        tz = torch.as_tensor((theta - self.theta_loc_) / self.theta_scale_, dtype=nets.DTYPE)
        xz = torch.as_tensor((x - self.x_loc_) / self.x_scale_, dtype=nets.DTYPE)
        train_idx, val_idx = _split(len(x), float(self.validation_fraction), seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.model_ = self._build(self.dim_, self.x_shape_, np.random.default_rng([seed, 2]))
        result = nets.train(
            self.model_, self._loss(self.model_), (tz[train_idx], xz[train_idx]), (tz[val_idx], xz[val_idx]),
            batch_size=int(self.batch_size), learning_rate=float(self.learning_rate),
            max_epochs=int(self.max_epochs), patience=int(self.patience),
            clip_grad_norm=None if self.clip_grad_norm is None else float(self.clip_grad_norm),
            gen=torch.Generator().manual_seed(seed),
        )
        self.epochs_, self.best_val_loss_ = result.epochs, result.best_loss
        self.history_ = {"train_loss": result.train_loss, "val_loss": result.val_loss}
        self.training_seconds_ = time.perf_counter() - start
        # leakage on (at most 100) held-out observations, 100 raw draws each
        check = x[val_idx[:100]]
        raw = self._raw(check, 100, np.random.default_rng([seed, 3]))
        self.leakage_ = float(1.0 - _inside(prior, raw).mean())
        logger.debug("%s: %d epochs, %.1f s, leakage %.3f", type(self).__name__, self.epochs_,
                     self.training_seconds_, self.leakage_)
        return self

    def _raw(self, x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draws ``(m, n, d)`` from the network (no rejection), in θ units."""
        import torch

        m, d = len(x), self.dim_
        out = np.empty((m, n, d))
        step = max(1, _CHUNK // n)
        for lo in range(0, m, step):
            xs = torch.as_tensor((x[lo:lo + step] - self.x_loc_) / self.x_scale_, dtype=torch.float32)
            k = len(xs)
            z = torch.as_tensor(rng.standard_normal((n, k, d)), dtype=torch.float32)
            u = torch.as_tensor(rng.random((n, k)), dtype=torch.float32)
            with torch.no_grad():
                draws = self.model_.draw(xs, z, u)
            out[lo:lo + k] = draws.double().numpy().transpose(1, 0, 2)
        return out * self.theta_scale_ + self.theta_loc_

    def sample(self, x: Any, n_samples: int, rng: np.random.Generator) -> np.ndarray:
        """Posterior draws ``(m, n_samples, d)`` inside the prior support for ``x (m, *x_shape)``."""
        x = _check_x(self, x)
        n = check_int(n_samples, "n_samples", minimum=1)
        rng = _check_rng(rng)
        out, self.sample_leakage_ = _reject(lambda idx, k: self._raw(x[idx], k, rng), self.prior_, len(x), n,
                                            self.dim_, int(self.max_draws), rng, type(self).__name__)
        return out

    def log_prob(self, theta: Any, x: Any, *, normalize: bool = True, n_normalize: int = 1000) -> np.ndarray:
        """Log posterior density ``(m, k)`` of ``theta (m, k, d)`` given ``x (m, *x_shape)``.

        -inf outside the prior support; with ``normalize`` the density is divided by its mass inside
        the support, estimated from ``n_normalize`` raw draws per observation (fixed seed), so it is
        the density of :meth:`sample`'s draws.
        """
        import torch

        x = _check_x(self, x)
        theta = check_array(theta, "theta", ndim=3)
        if theta.shape[0] != len(x) or theta.shape[2] != self.dim_:
            raise ValueError(f"theta must have shape (m={len(x)}, k, d={self.dim_}) for x of {len(x)} observation(s); "
                             f"got {theta.shape}.")
        m, k, d = theta.shape
        xz = torch.as_tensor((x - self.x_loc_) / self.x_scale_, dtype=torch.float32)
        tz = (theta - self.theta_loc_) / self.theta_scale_
        out = np.empty((m, k))
        step = max(1, _CHUNK // m)
        with torch.no_grad():
            for lo in range(0, k, step):
                t = torch.as_tensor(tz[:, lo:lo + step].transpose(1, 0, 2).copy(), dtype=torch.float32)
                out[:, lo:lo + step] = self.model_.log_prob(t, xz).double().numpy().T
        out -= np.log(self.theta_scale_).sum()
        out[~_inside(self.prior_, theta)] = -np.inf
        if normalize:
            raw = self._raw(x, check_int(n_normalize, "n_normalize", minimum=1), np.random.default_rng([self.seed_, 4]))
            mass = _inside(self.prior_, raw).mean(axis=1)
            out -= np.log(np.maximum(mass, 1.0 / raw.shape[1]))[:, None]
        return out


@dataclass(kw_only=True, eq=False)
class NPE(_Neural):
    """Neural posterior estimation with a conditional normalizing flow on zuko.

    Trains q(θ | x) by maximum likelihood on simulations from the prior (Papamakarios & Murray
    2016; Greenberg et al. 2019, first round) with ``transforms`` transformations of z-scored θ:

    - ``flow="nsf"``: coupling neural spline flow, RQ-NSF (C) of Durkan et al. (2019) — splines with
      ``bins`` bins on [-3, 3] (identity outside), residual conditioners with one block per entry
      of ``hidden_features`` (equal widths), alternating halves and LU-linear layers (the sbi
      package's default "nsf" architecture, :func:`~trustbench.posterior.networks.spline_coupling_flow`);
    - ``flow="nsf_ar"``: autoregressive neural spline flow, RQ-NSF (AR) (zuko's ``NSF``: splines on
      [-5, 5], masked-MLP conditioners with ``hidden_features``);
    - ``flow="maf"``: masked autoregressive flow (Papamakarios et al. 2017, zuko's ``MAF``).
    """

    flow: str = "nsf"
    transforms: int = 5
    hidden_features: Sequence[int] = (50, 50)
    bins: int = 10

    def validate(self) -> None:
        super().validate()
        check_choice(self.flow, "flow", ("nsf", "nsf_ar", "maf"))
        check_int(self.transforms, "transforms", minimum=1)
        widths = _check_widths(self.hidden_features, "hidden_features")
        if self.flow == "nsf" and len(set(widths)) > 1:
            raise ValueError(f"hidden_features must be equal widths for flow='nsf' (one residual block each); "
                             f"got {list(widths)}.")
        check_int(self.bins, "bins", minimum=2)

    def _build(self, d, x_shape, rng):
        import zuko

        from trustbench.posterior import networks as nets

        emb = nets.make_embedding(self.embedding, x_shape, int(self.summary_dim))
        hidden = _check_widths(self.hidden_features, "hidden_features")
        if self.flow == "nsf":
            flow = nets.spline_coupling_flow(d, emb.out_features, int(self.transforms), hidden[0], len(hidden),
                                             int(self.bins))
        else:
            kw = dict(features=d, context=emb.out_features, transforms=int(self.transforms), hidden_features=hidden)
            flow = zuko.flows.NSF(bins=int(self.bins), **kw) if self.flow == "nsf_ar" else zuko.flows.MAF(**kw)
        return nets.Conditional(emb, nets.FlowHead(flow))


@dataclass(kw_only=True, eq=False)
class CINN(_Neural):
    """Conditional invertible neural network (Ardizzone et al. 2019) trained by maximum likelihood.

    ``blocks`` GLOW-style blocks, each two conditional affine couplings (RealNVP, Dinh et al. 2017)
    that transform one half of z-scored θ given the other half and the embedded x, with log-scales
    soft-clamped to ``(-clamp, clamp)`` by ``2 clamp / π · atan(s / clamp)``, then a fixed random
    permutation (drawn from the fit seed). Built on zuko's ``GeneralCouplingTransform``.
    """

    blocks: int = 5
    hidden_features: Sequence[int] = (50, 50)
    clamp: float = 2.0

    def validate(self) -> None:
        super().validate()
        check_int(self.blocks, "blocks", minimum=1)
        _check_widths(self.hidden_features, "hidden_features")
        _check_real(self.clamp, "clamp", 0.0, math.inf)

    def _build(self, d, x_shape, rng):
        from trustbench.posterior import networks as nets

        emb = nets.make_embedding(self.embedding, x_shape, int(self.summary_dim))
        hidden = _check_widths(self.hidden_features, "hidden_features")
        flow = nets.cinn_flow(d, emb.out_features, int(self.blocks), hidden, float(self.clamp), rng)
        return nets.Conditional(emb, nets.FlowHead(flow))


@dataclass(kw_only=True, eq=False)
class MDN(_Neural):
    """Mixture density network (Bishop 1994): an MLP maps the embedded x to the weights, means and
    Cholesky factors of ``components`` full-covariance Gaussians over θ; trained by maximum
    likelihood. Captures multimodal and correlated posteriors with few parameters."""

    components: int = 5
    hidden_features: Sequence[int] = (50, 50)

    def validate(self) -> None:
        super().validate()
        check_int(self.components, "components", minimum=1)
        _check_widths(self.hidden_features, "hidden_features")

    def _build(self, d, x_shape, rng):
        from trustbench.posterior import networks as nets

        emb = nets.make_embedding(self.embedding, x_shape, int(self.summary_dim))
        hidden = _check_widths(self.hidden_features, "hidden_features")
        head = nets.MDNHead(d, emb.out_features, int(self.components), hidden)
        return nets.Conditional(emb, head)


@dataclass(kw_only=True, eq=False)
class GaussianEnsemble(_Neural):
    """Deep ensemble (Lakshminarayanan et al. 2017) of ``members`` MLPs, each predicting a diagonal
    Gaussian N(μ_m(x), diag σ²_m(x)) over θ and trained on the Gaussian negative log-likelihood from
    its own random initialization (each with its own embedding network); the posterior is the
    equal-weight mixture of the members.

    A point + variance baseline: every member is a diagonal Gaussian, so the posterior has no
    correlations between parameters and one mode per member at most. (No adversarial training.)
    """

    members: int = 5
    hidden_features: Sequence[int] = (50, 50)

    def validate(self) -> None:
        super().validate()
        check_int(self.members, "members", minimum=1)
        _check_widths(self.hidden_features, "hidden_features")

    def _build(self, d, x_shape, rng):
        from torch import nn

        from trustbench.posterior import networks as nets

        embs = [nets.make_embedding(self.embedding, x_shape, int(self.summary_dim)) for _ in range(int(self.members))]
        hidden = _check_widths(self.hidden_features, "hidden_features")
        return nets.Conditional(nn.Identity(), nets.GaussianHead(d, embs, hidden))

    def _loss(self, model):
        return lambda theta, x: model.head.member_nll(theta, x)


# ----------------------------------------------------------------------------- rejection ABC


@dataclass(kw_only=True, eq=False)
class RejectionABC:
    """Rejection approximate Bayesian computation (Pritchard et al. 1999) on the given simulations.

    The distance between an observation and a simulation is the Euclidean distance of their
    z-scored, flattened x (per-feature training mean and standard deviation); the ``quantile``
    share of the simulations closest to the observation (or the ``n_accept`` closest, when given)
    is accepted, and posterior draws are the accepted θ resampled with replacement. No training
    (``epochs_ = 0``), no density (no ``log_prob``); accepted θ are prior draws, so ``leakage_ = 0``.

    Parameters
    ----------
    num_simulations : how many simulations the protocol gives the estimator.
    quantile : accepted share of the simulations, in (0, 1].
    n_accept : number of accepted simulations (overrides ``quantile``); None: ``quantile``.
    """

    num_simulations: int = 1000
    quantile: float = 0.01
    n_accept: int | None = None

    def validate(self) -> None:
        """Raise ValueError/TypeError on a bad parameter, before any work."""
        check_int(self.num_simulations, "num_simulations", minimum=1)
        _check_real(self.quantile, "quantile", 0.0, 1.0, closed="right")
        if self.n_accept is not None:
            check_int(self.n_accept, "n_accept", minimum=1)

    def fit(self, theta: Any, x: Any, *, prior: Any, seed: int = 0) -> RejectionABC:
        """Store the simulations and their x scaling; returns self."""
        self.validate()
        start = time.perf_counter()
        theta, x, prior, seed, self.n_dropped_ = _check_training_data(theta, x, prior, seed, 1)
        n = len(x)
        k = int(self.n_accept) if self.n_accept is not None else max(1, int(round(float(self.quantile) * n)))
        if k > n:
            raise ValueError(f"n_accept must not exceed the {n} usable simulations; got {k}.")
        flat = x.reshape(n, -1)
        loc, scale = flat.mean(axis=0), flat.std(axis=0)
        self.prior_, self.dim_, self.x_shape_, self.n_accept_ = prior, theta.shape[1], x.shape[1:], k
        self.x_loc_, self.x_scale_ = loc, np.where(scale > 0, scale, 1.0)
        self.theta_, self.xz_ = theta, (flat - self.x_loc_) / self.x_scale_
        self.epochs_, self.leakage_ = 0, 0.0
        self.training_seconds_ = time.perf_counter() - start
        return self

    def accepted(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        """Indices ``(m, n_accept)`` of the accepted simulations (closest first) and their distances."""
        x = _check_x(self, x)
        q = (x.reshape(len(x), -1) - self.x_loc_) / self.x_scale_
        sq = (self.xz_**2).sum(axis=1)
        k = self.n_accept_
        idx, dist = np.empty((len(q), k), dtype=int), np.empty((len(q), k))
        step = max(1, 50_000_000 // max(len(self.xz_), 1) // 8)
        for lo in range(0, len(q), step):
            block = q[lo:lo + step]
            d2 = np.maximum((block**2).sum(axis=1)[:, None] + sq[None] - 2.0 * block @ self.xz_.T, 0.0)
            if k < d2.shape[1]:
                part = np.argpartition(d2, k - 1, axis=1)[:, :k]
            else:
                part = np.tile(np.arange(k), (len(block), 1))
            order = np.argsort(np.take_along_axis(d2, part, 1), axis=1, kind="stable")
            idx[lo:lo + step] = np.take_along_axis(part, order, 1)
            dist[lo:lo + step] = np.sqrt(np.take_along_axis(d2, idx[lo:lo + step], 1))
        return idx, dist

    def sample(self, x: Any, n_samples: int, rng: np.random.Generator) -> np.ndarray:
        """Accepted θ resampled with replacement, ``(m, n_samples, d)``."""
        n = check_int(n_samples, "n_samples", minimum=1)
        rng = _check_rng(rng)
        idx, _ = self.accepted(x)
        pick = np.take_along_axis(idx, rng.integers(self.n_accept_, size=(len(idx), n)), 1)
        self.sample_leakage_ = 0.0
        return self.theta_[pick]


# ----------------------------------------------------------------------------- sbi peer


class _NullTracker:
    """sbi's ``Tracker`` protocol, recording nothing (the training history is read from sbi's summary)."""

    log_dir = None

    def log_metric(self, name: str, value: float, step: int | None = None) -> None:
        pass

    def log_metrics(self, metrics: dict, step: int | None = None) -> None:
        pass

    def log_params(self, params: dict) -> None:
        pass

    def add_figure(self, name: str, figure: Any, step: int | None = None) -> None:
        pass

    def flush(self) -> None:
        pass


@dataclass(kw_only=True, eq=False)
class SbiNPE:
    """The ``sbi`` package's NPE (Tejero-Cantero et al. 2020; sbi 0.27) on the very same simulations:
    an external peer for :class:`NPE`.

    ``sbi.inference.NPE`` with ``posterior_nn(model=flow, hidden_features, num_transforms,
    embedding_net)``, trained with sbi's own loop (same batch size, learning rate, early stopping,
    validation share and clipping as given here), sampled with sbi's ``sample_batched`` (sbi rejects
    draws outside the prior support itself). x is z-scored here with the same statistics as the
    other estimators (sbi's own x z-scoring is off) and the same embedding is used ("auto": 1-D CNN
    for waveforms); θ is z-scored by sbi. The prior is ``prior.to_torch()``.

    Parameters
    ----------
    flow : "nsf", "maf" or "mdn" (sbi's model names).
    transforms : sbi's ``num_transforms``; hidden_features : sbi's ``hidden_features`` (one int).
    Other parameters as in :class:`NPE`.
    """

    num_simulations: int = 1000
    flow: str = "nsf"
    transforms: int = 5
    hidden_features: int = 50
    embedding: str = "auto"
    summary_dim: int = 16
    batch_size: int = 200
    learning_rate: float = 5e-4
    max_epochs: int = 1000
    patience: int = 20
    validation_fraction: float = 0.1
    clip_grad_norm: float | None = 5.0

    def validate(self) -> None:
        """Raise ValueError/TypeError on a bad parameter, before any work."""
        check_int(self.num_simulations, "num_simulations", minimum=_MIN_NEURAL)
        check_choice(self.flow, "flow", ("nsf", "maf", "mdn"))
        check_int(self.transforms, "transforms", minimum=1)
        check_int(self.hidden_features, "hidden_features", minimum=1)
        check_choice(self.embedding, "embedding", EMBEDDINGS)
        check_int(self.summary_dim, "summary_dim", minimum=1)
        check_int(self.batch_size, "batch_size", minimum=1)
        _check_real(self.learning_rate, "learning_rate", 0.0, math.inf)
        check_int(self.max_epochs, "max_epochs", minimum=1)
        check_int(self.patience, "patience", minimum=1)
        _check_real(self.validation_fraction, "validation_fraction", 0.0, 1.0)
        if self.clip_grad_norm is not None:
            _check_real(self.clip_grad_norm, "clip_grad_norm", 0.0, math.inf)

    def fit(self, theta: Any, x: Any, *, prior: Any, seed: int = 0) -> SbiNPE:
        """Train sbi's NPE on ``theta (n, d)``, ``x (n, *x_shape)``; returns self."""
        self.validate()
        theta, x, prior, seed, self.n_dropped_ = _check_training_data(theta, x, prior, seed, _MIN_NEURAL)
        _check_embedding(self.embedding, x)
        import torch

        from trustbench.posterior import networks as nets

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from sbi.inference import NPE as _SbiNPE
            from sbi.neural_nets import posterior_nn
        start = time.perf_counter()  # after the (~9 s) sbi import: training time only
        self.prior_, self.dim_, self.x_shape_, self.seed_ = prior, theta.shape[1], x.shape[1:], seed
        self.x_loc_, self.x_scale_ = _x_scaling(x)
        tt = torch.as_tensor(theta, dtype=torch.float32)
        xt = torch.as_tensor((x - self.x_loc_) / self.x_scale_, dtype=torch.float32)
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.manual_seed(seed)
            emb = nets.make_embedding(self.embedding, self.x_shape_, int(self.summary_dim))
            if isinstance(emb, nets.Flatten) and x.ndim == 2:
                emb = torch.nn.Identity()  # sbi needs parameters in any other embedding net
            builder = posterior_nn(model=self.flow, hidden_features=int(self.hidden_features),
                                   num_transforms=int(self.transforms), embedding_net=emb,
                                   z_score_theta="independent", z_score_x="none")
            # a no-op tracker: by default sbi writes TensorBoard logs into ./sbi-logs of the working directory
            inference = _SbiNPE(prior=prior.to_torch(), density_estimator=builder, show_progress_bars=False,
                                tracker=_NullTracker())
            inference.append_simulations(tt, xt)
            with contextlib.redirect_stdout(io.StringIO()):  # sbi prints its convergence line
                estimator = inference.train(
                    training_batch_size=int(self.batch_size), learning_rate=float(self.learning_rate),
                    validation_fraction=float(self.validation_fraction), stop_after_epochs=int(self.patience),
                    max_num_epochs=int(self.max_epochs),
                    clip_max_norm=None if self.clip_grad_norm is None else float(self.clip_grad_norm),
                    show_train_summary=False,
                )
            self.posterior_ = inference.build_posterior(estimator)
        self.epochs_ = int(inference.epoch)
        summary = dict(getattr(inference, "summary", {}) or {})
        self.history_ = {"train_loss": tuple(summary.get("training_loss", ())),
                         "val_loss": tuple(summary.get("validation_loss", ()))}
        self.training_seconds_ = time.perf_counter() - start
        val = x[: min(100, len(x))]
        raw = self._raw(val, 100, np.random.default_rng([seed, 3]))
        self.leakage_ = float(1.0 - _inside(prior, raw).mean())
        return self

    def _raw(self, x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draws ``(m, n, d)`` from sbi's density estimator without rejection."""
        import torch

        xt = torch.as_tensor((x - self.x_loc_) / self.x_scale_, dtype=torch.float32)
        with torch.random.fork_rng(devices=[]), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            torch.manual_seed(int(rng.integers(2**63 - 1)))
            draws = self.posterior_.posterior_estimator.sample((n,), condition=xt)
        return draws.double().numpy().transpose(1, 0, 2).reshape(len(x), n, self.dim_)

    def sample(self, x: Any, n_samples: int, rng: np.random.Generator) -> np.ndarray:
        """sbi's posterior draws ``(m, n_samples, d)`` (inside the prior support) for ``x (m, *x_shape)``."""
        import torch

        x = _check_x(self, x)
        n = check_int(n_samples, "n_samples", minimum=1)
        rng = _check_rng(rng)
        xt = torch.as_tensor((x - self.x_loc_) / self.x_scale_, dtype=torch.float32)
        with torch.random.fork_rng(devices=[]), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            torch.manual_seed(int(rng.integers(2**63 - 1)))
            draws = self.posterior_.sample_batched((n,), x=xt, show_progress_bars=False)
        return draws.double().numpy().transpose(1, 0, 2).reshape(len(x), n, self.dim_)

    def log_prob(self, theta: Any, x: Any) -> np.ndarray:
        """sbi's log posterior density ``(m, k)`` of ``theta (m, k, d)`` given ``x`` (not leakage-normalised;
        -inf outside the prior support)."""
        import torch

        x = _check_x(self, x)
        theta = check_array(theta, "theta", ndim=3)
        if theta.shape[0] != len(x) or theta.shape[2] != self.dim_:
            raise ValueError(f"theta must have shape (m={len(x)}, k, d={self.dim_}); got {theta.shape}.")
        xt = torch.as_tensor((x - self.x_loc_) / self.x_scale_, dtype=torch.float32)
        tt = torch.as_tensor(theta.transpose(1, 0, 2).copy(), dtype=torch.float32)
        with torch.no_grad():
            lp = self.posterior_.log_prob_batched(tt, x=xt, norm_posterior=False)
        return lp.double().numpy().T
