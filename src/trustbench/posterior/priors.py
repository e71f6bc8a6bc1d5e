"""Priors over parameter vectors: NumPy sampling with an explicit Generator, log densities, and
the equivalent ``torch.distributions`` object (for external peers such as the ``sbi`` package).

:func:`as_prior` wraps a user's ``torch.distributions.Distribution`` (sbibm's and sbi's shape) into
the same interface; its draws are made reproducible by seeding a forked torch RNG from the Generator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from trustbench.validation import check_array, short_repr

__all__ = ["BoxUniform", "Normal", "TorchPrior", "as_prior"]


def _theta(theta: Any, dim: int) -> np.ndarray:
    arr = check_array(theta, "theta", ndim=(1, 2), allow_nan=True)
    arr = arr.reshape(-1, dim) if arr.ndim == 1 and arr.size == dim else arr
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise ValueError(f"theta must have shape (n, {dim}) for this prior; got {arr.shape}.")
    return arr


@dataclass(frozen=True, eq=False)
class BoxUniform:
    """Independent uniform priors on ``[low_i, high_i]`` (sbibm's BoxUniform)."""

    low: Any
    high: Any

    def __post_init__(self) -> None:
        low = np.atleast_1d(check_array(self.low, "low"))
        high = np.atleast_1d(check_array(self.high, "high"))
        if low.shape != high.shape or low.ndim != 1:
            raise ValueError(f"low and high must be 1-D of equal length; got shapes {low.shape} and {high.shape}.")
        if (high <= low).any():
            i = int(np.flatnonzero(high <= low)[0])
            raise ValueError(f"high must exceed low in every dimension; got low={low[i]}, high={high[i]} at {i}.")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    @property
    def dim(self) -> int:
        return len(self.low)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(self.low, self.high, size=(int(n), self.dim))

    def log_prob(self, theta: Any) -> np.ndarray:
        t = _theta(theta, self.dim)
        inside = ((t >= self.low) & (t <= self.high)).all(axis=1)
        return np.where(inside, -np.log(self.high - self.low).sum(), -np.inf)

    def to_torch(self):
        import torch

        low, high = torch.as_tensor(self.low, dtype=torch.float32), torch.as_tensor(self.high, dtype=torch.float32)
        return torch.distributions.Independent(torch.distributions.Uniform(low, high), 1)


@dataclass(frozen=True, eq=False)
class Normal:
    """Multivariate normal prior N(mean, cov)."""

    mean: Any
    cov: Any

    def __post_init__(self) -> None:
        mean = np.atleast_1d(check_array(self.mean, "mean"))
        cov = np.atleast_2d(check_array(self.cov, "cov"))
        if mean.ndim != 1 or cov.shape != (len(mean), len(mean)):
            raise ValueError(f"cov must be ({len(mean)}, {len(mean)}) for a mean of length {len(mean)}; got {cov.shape}.")
        try:
            chol = np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            raise ValueError("cov must be symmetric positive definite.") from None
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "cov", cov)
        object.__setattr__(self, "_chol", chol)

    @property
    def dim(self) -> int:
        return len(self.mean)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.mean + rng.standard_normal((int(n), self.dim)) @ self._chol.T

    def log_prob(self, theta: Any) -> np.ndarray:
        from scipy.linalg import solve_triangular

        t = _theta(theta, self.dim)
        z = solve_triangular(self._chol, (t - self.mean).T, lower=True)
        logdet = np.log(np.diag(self._chol)).sum()
        return -0.5 * (z**2).sum(axis=0) - logdet - 0.5 * self.dim * np.log(2 * np.pi)

    def to_torch(self):
        import torch

        return torch.distributions.MultivariateNormal(torch.as_tensor(self.mean, dtype=torch.float32),
                                                      torch.as_tensor(self.cov, dtype=torch.float32))


@dataclass(frozen=True, eq=False)
class TorchPrior:
    """A ``torch.distributions.Distribution`` over ``(d,)`` vectors as a trustbench prior."""

    distribution: Any

    def __post_init__(self) -> None:
        shape = tuple(self.distribution.event_shape) or tuple(self.distribution.batch_shape)
        if len(shape) != 1:
            raise ValueError(
                f"prior must be a distribution over 1-D parameter vectors (event_shape (d,)); got event_shape "
                f"{tuple(self.distribution.event_shape)} and batch_shape {tuple(self.distribution.batch_shape)}."
            )
        object.__setattr__(self, "_dim", int(shape[0]))

    @property
    def dim(self) -> int:
        return self._dim

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        import torch

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(rng.integers(2**63 - 1)))
            draws = self.distribution.sample((int(n),))
        return draws.detach().cpu().numpy().astype(float).reshape(int(n), self.dim)

    def log_prob(self, theta: Any) -> np.ndarray:
        import torch

        t = torch.as_tensor(_theta(theta, self.dim), dtype=torch.float32)
        out = np.full(len(t), -np.inf)
        with torch.no_grad():
            support = getattr(self.distribution, "support", None)
            inside = torch.ones(len(t), dtype=torch.bool)
            if support is not None:
                check = support.check(t)
                inside = check.reshape(len(t), -1).all(dim=1) if check.dim() > 1 else check
            inside &= torch.isfinite(t).all(dim=1)
            if inside.any():  # torch raises or returns NaN outside the support: evaluate inside only
                lp = self.distribution.log_prob(t[inside])
                out[inside.numpy()] = (lp.reshape(int(inside.sum()), -1).sum(dim=1) if lp.dim() > 1 else lp).double().numpy()
        return out

    def to_torch(self):
        return self.distribution


def as_prior(prior: Any) -> Any:
    """A trustbench prior from a trustbench prior or a ``torch.distributions.Distribution``."""
    if all(hasattr(prior, a) for a in ("dim", "sample", "log_prob")) and not _is_torch(prior):
        return prior
    if _is_torch(prior):
        return TorchPrior(prior)
    raise TypeError(
        f"prior must be a torch.distributions.Distribution or a trustbench prior (BoxUniform, Normal); "
        f"got {short_repr(prior)}."
    )


def _is_torch(obj: Any) -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return isinstance(obj, torch.distributions.Distribution)
