"""Shared numpy pieces of the UQ methods: parameter and input checks, standardization, level grids.

No torch here: :mod:`trustbench.uq.gp` and :mod:`trustbench.uq.conformal` use it without loading torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from trustbench.validation import check_array, check_choice, check_int, check_levels, short_repr

__all__ = [
    "ACTIVATIONS",
    "LEVELS",
    "NetworkConfig",
    "Scaler",
    "begin_fit",
    "check_fit_data",
    "check_predict_X",
    "check_seed",
    "check_number",
    "check_network",
    "check_level_grid",
    "split",
]

ACTIVATIONS = ("relu", "tanh", "silu")
"""Hidden-layer nonlinearities the torch methods accept."""

LEVELS = np.round(np.r_[0.025, np.arange(0.05, 0.951, 0.05), 0.975], 3)
"""Default quantile levels: 0.025, 0.05, 0.10, ..., 0.95, 0.975 — symmetric pairs for the 95 %, 90 %,
80 %, ... central intervals, the median, and a grid fine enough for PIT histograms."""


@dataclass(frozen=True)
class Scaler:
    """Per-feature and target standardization learned on the training data (zero-spread features keep scale 1)."""

    x_mean: np.ndarray
    x_scale: np.ndarray
    y_mean: float
    y_scale: float

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray) -> Scaler:
        x_scale, y_scale = X.std(axis=0), float(y.std())
        x_scale = np.where(x_scale > 0, x_scale, 1.0)
        return cls(X.mean(axis=0), x_scale, float(y.mean()), y_scale if y_scale > 0 else 1.0)

    def x(self, X: np.ndarray) -> np.ndarray:
        """Standardized inputs."""
        return (X - self.x_mean) / self.x_scale

    def y(self, y: np.ndarray) -> np.ndarray:
        """Standardized targets."""
        return (y - self.y_mean) / self.y_scale

    def loc(self, m: np.ndarray) -> np.ndarray:
        """Locations (means, quantiles) back in target units."""
        return np.asarray(m, dtype=float) * self.y_scale + self.y_mean

    def scale(self, s: np.ndarray) -> np.ndarray:
        """Scales (standard deviations) back in target units."""
        return np.asarray(s, dtype=float) * self.y_scale


def check_fit_data(X: Any, y: Any, *, min_samples: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """``X`` (n, d) and ``y`` (n,) finite float arrays with the same n ≥ ``min_samples``."""
    X = check_array(X, "X", ndim=2)
    y = check_array(y, "y", ndim=1)
    if len(X) != len(y):
        raise ValueError(f"X and y must have the same number of rows; got {len(X)} and {len(y)}.")
    if len(y) < min_samples:
        raise ValueError(f"fitting needs at least {min_samples} training rows; got {len(y)}.")
    return X, y


def begin_fit(method: Any, X: Any, y: Any, seed: Any, *, min_samples: int = 2) -> tuple[np.ndarray, np.ndarray, int]:
    """What every ``fit`` does first: ``method.validate()``, check the data and the seed, and
    record the number of features (``n_features_in_``, checked by :func:`check_predict_X`)."""
    method.validate()
    X, y = check_fit_data(X, y, min_samples=min_samples)
    seed = check_seed(seed)
    method.n_features_in_ = X.shape[1]
    return X, y, seed


def check_predict_X(method: Any, X: Any) -> np.ndarray:
    """``X`` (n, d) finite, with as many features as the fitted ``method`` saw; raise if not fitted."""
    d = getattr(method, "n_features_in_", None)
    if d is None:
        raise RuntimeError(f"{type(method).__name__} is not fitted yet; call fit(X, y) before predict(X).")
    X = check_array(X, "X", ndim=2, min_size=0)
    if X.shape[1] != d:
        raise ValueError(f"X must have {d} feature(s), as in fit; got shape {X.shape}.")
    return X


def check_seed(seed: Any) -> int:
    """A non-negative integer seed."""
    return check_int(seed, "seed", minimum=0)


def check_number(value: Any, name: str, low: float, high: float, *, closed: str = "neither") -> float:
    """A finite real number between ``low`` and ``high``; ``closed`` is 'neither', 'left', 'right' or 'both'."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number; got {short_repr(value)}.")
    value = float(value)
    left_ok = value >= low if closed in ("left", "both") else value > low
    right_ok = value <= high if closed in ("right", "both") else value < high
    if not np.isfinite(value) or not (left_ok and right_ok):
        lb = "[" if closed in ("left", "both") else "("
        rb = "]" if closed in ("right", "both") else ")"
        raise ValueError(f"{name} must lie in {lb}{low:g}, {high:g}{rb}; got {value!r}.")
    return value


def check_network(method: Any) -> None:
    """Check the network configuration shared by the torch methods.

    Reads ``hidden`` (sequence of positive ints, may be empty), ``activation`` (one of
    :data:`ACTIVATIONS`), ``steps`` (≥ 1), ``lr`` (> 0) and, where the method has one,
    ``weight_decay`` (≥ 0) from ``method``.
    """
    hidden = method.hidden
    if isinstance(hidden, (str, bytes)) or not hasattr(hidden, "__iter__"):
        raise TypeError(f"hidden must be a sequence of layer widths such as (50, 50); got {short_repr(hidden)}.")
    for i, width in enumerate(hidden):
        if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 1:
            raise ValueError(
                f"hidden must hold positive integer layer widths; got {short_repr(width)} "
                f"at position {i} of {tuple(hidden)!r}."
            )
    check_choice(method.activation, "activation", ACTIVATIONS)
    check_int(method.steps, "steps", minimum=1)
    check_number(method.lr, "lr", 0.0, np.inf)
    check_number(getattr(method, "weight_decay", 0.0), "weight_decay", 0.0, np.inf, closed="left")


@dataclass(kw_only=True, eq=False)
class NetworkConfig:
    """The network configuration the torch methods share; each adds its own fields in a subclass.

    The fields ``hidden``, ``activation``, ``steps``, ``lr`` and ``weight_decay`` are documented in
    :class:`trustbench.uq.mlp.MLP`; ``_torch.fit_mlp`` builds and trains the network from them.
    """

    hidden: tuple[int, ...] = (50, 50)
    activation: str = "relu"
    steps: int = 2000
    lr: float = 1e-2
    weight_decay: float = 1e-3

    def validate(self) -> None:
        """Raise ValueError/TypeError on a bad parameter, before any work."""
        check_network(self)


def check_level_grid(levels: Any, name: str = "levels", *, symmetric: bool = False) -> np.ndarray:
    """At least two increasing levels in (0, 1); None means :data:`LEVELS`.

    With ``symmetric`` the levels must come in pairs (l, 1 - l) (the median may stand alone), as
    the central intervals of conformal methods need.
    """
    if levels is None:
        return LEVELS
    lv = check_levels(levels, name)
    if len(lv) < 2 or (np.diff(lv) <= 0).any():
        raise ValueError(f"{name} must be at least two increasing values in (0, 1); got {lv!r}.")
    unpaired = [float(v) for v in lv if symmetric and not np.isclose(lv, 1.0 - v, atol=1e-9).any()]
    if unpaired:
        raise ValueError(f"{name} must come in symmetric pairs (l, 1 - l); {unpaired} have no partner.")
    return lv


def split(n: int, fraction: float, seed: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random split of ``range(n)`` into (rest, part) with ``round(fraction * n)`` rows in ``part``.

    Both sides must keep enough rows (part ≥ 1, rest ≥ 2); the error names the parameter ``name``.
    """
    m = int(round(fraction * n))
    if m < 1 or n - m < 2:
        raise ValueError(
            f"{name}={fraction!r} of {n} training rows leaves {m} for the split-off part and {n - m} "
            f"for the rest; both need rows (at least 1 and 2). Use more data or another {name}."
        )
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[m:]), np.sort(perm[:m])
