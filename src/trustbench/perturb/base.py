"""The decorator that turns a function into a validated perturbation."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np

from trustbench.validation import check_array

__all__ = ["perturbation", "check_severity"]


def check_severity(fn: Callable, severity: float, name: str = "severity") -> float:
    """``severity`` must be a finite number inside the perturbation's ``bounds``."""
    lo, hi = fn.bounds
    if isinstance(severity, bool) or not isinstance(severity, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} of perturbation {fn.__name__!r} must be a number; got {severity!r}.")
    if not (np.isfinite(severity) and lo <= severity <= hi):
        raise ValueError(
            f"{name} of perturbation {fn.__name__!r} must lie in [{lo}, {hi}]; got {severity!r}."
        )
    return float(severity)


def perturbation(*, severities: Sequence[float], bounds: tuple[float, float], shift: bool = False):
    """Declare a perturbation: default ``severities``, allowed ``bounds``, and whether it is a ``shift``.

    The wrapped function receives validated float arrays and a ``numpy.random.Generator``.
    """

    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def checked(X, severity, rng, *, train_X):
            X = check_array(X, "X", ndim=2, allow_nan=True)
            train_X = check_array(train_X, "train_X", ndim=2, allow_nan=True)
            if X.shape[1] != train_X.shape[1]:
                raise ValueError(
                    f"X and train_X must have the same number of features; got {X.shape[1]} and {train_X.shape[1]}."
                )
            if not isinstance(rng, np.random.Generator):
                raise TypeError(f"rng must be a numpy.random.Generator; got {type(rng).__name__}.")
            return fn(X, check_severity(checked, severity), rng, train_X=train_X)

        checked.severities = tuple(float(s) for s in severities)
        checked.bounds = (float(bounds[0]), float(bounds[1]))
        checked.shift = shift
        return checked

    return wrap
