"""Argument checks shared by the whole package: one place, one style of message.

Every check raises before any work is done, with a message that names the parameter, shows the
value that was given and says what is allowed (MNE's house rule).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = [
    "check_array",
    "check_same_length",
    "check_positive",
    "check_level",
    "check_levels",
    "check_int",
    "check_choice",
    "did_you_mean",
    "short_repr",
]


def short_repr(value: Any, limit: int = 80) -> str:
    """``repr`` of a value, cut to ``limit`` characters; arrays are shown by shape and a sample."""
    if isinstance(value, np.ndarray):
        text = f"array(shape={value.shape}, dtype={value.dtype})"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def did_you_mean(value: str, options: Iterable[str]) -> str:
    """A " Did you mean 'x'?" suffix for the closest option, or an empty string."""
    close = difflib.get_close_matches(str(value), list(options), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def check_choice(value: Any, name: str, allowed: Iterable[str]) -> str:
    """``value`` must be one of ``allowed``; the error suggests the closest one."""
    allowed = list(allowed)
    if value not in allowed:
        raise ValueError(
            f"{name} must be one of {sorted(allowed)}; got {value!r}.{did_you_mean(value, allowed)}"
        )
    return value


def check_array(
    x: Any,
    name: str,
    *,
    ndim: int | tuple[int, ...] | None = None,
    finite: bool = True,
    allow_nan: bool = False,
    min_size: int = 1,
) -> np.ndarray:
    """Convert ``x`` to a float64 array and check its dimension, size and values.

    ``finite=True`` rejects NaN and ±inf; ``allow_nan=True`` accepts NaN (a missing value) but
    still rejects ±inf.
    """
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"{name} must be an array of numbers; got {short_repr(x)}.")
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be an array of numbers; got {short_repr(x)} ({err}).") from None
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            raise ValueError(f"{name} must be {want}; got an array of shape {arr.shape}.")
    if arr.size < min_size:
        raise ValueError(f"{name} must have at least {min_size} element(s); got shape {arr.shape}.")
    if finite:
        bad = ~np.isfinite(arr)
        if allow_nan:
            bad &= ~np.isnan(arr)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            what = "±inf" if allow_nan else "NaN or ±inf"
            raise ValueError(
                f"{name} must be finite (no {what}); got {arr[first]!r} at index {first}."
            )
    return arr


def check_same_length(**arrays: np.ndarray) -> int:
    """All arrays share their first dimension; return it."""
    lengths = {name: len(a) for name, a in arrays.items() if a is not None}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{k}: {v}" for k, v in lengths.items())
        raise ValueError(f"arrays must have the same length along axis 0; got {shown}.")
    return next(iter(lengths.values())) if lengths else 0


def check_positive(x: Any, name: str, *, strict: bool = True) -> np.ndarray:
    """``x`` (scalar or array) must be > 0 (``strict``) or ≥ 0 everywhere."""
    arr = check_array(x, name, min_size=0)
    bad = arr <= 0 if strict else arr < 0
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(np.atleast_1d(bad))[0])
        value = np.atleast_1d(arr)[first]
        rule = "> 0" if strict else ">= 0"
        raise ValueError(f"{name} must be {rule} everywhere; got {value!r} at index {first}.")
    return arr


def check_level(level: Any, name: str = "level") -> float:
    """A probability level strictly inside (0, 1)."""
    if isinstance(level, bool) or not isinstance(level, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a number in (0, 1); got {short_repr(level)}.")
    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"{name} must lie strictly between 0 and 1; got {level!r}.")
    return float(level)


def check_levels(levels: Any, name: str = "levels") -> np.ndarray:
    """A 1-D array of probability levels strictly inside (0, 1)."""
    arr = check_array(levels, name, ndim=(0, 1))
    arr = np.atleast_1d(arr)
    bad = (arr <= 0) | (arr >= 1)
    if bad.any():
        raise ValueError(
            f"{name} must lie strictly between 0 and 1; got {arr[bad][0]!r} "
            f"at index {int(np.flatnonzero(bad)[0])}."
        )
    return arr


def check_int(value: Any, name: str, *, minimum: int | None = None) -> int:
    """An integer (not a bool), optionally at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer; got {short_repr(value)}.")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value!r}.")
    return int(value)
