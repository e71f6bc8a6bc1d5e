"""Point-error and proper scoring rules over arrays: one float per call, the mean over rows.

Every function here is mean-type (made by :func:`~trustbench.metrics.bootstrap.mean_metric`):
``f.pointwise(*arrays)`` gives the (n,) per-row scores and ``f.transform`` the function applied
to their mean (``np.sqrt`` for ``rmse``, else None). Lower is better for every score here but
``interval_coverage``, a share whose ideal is the nominal level.

References
----------
Gneiting T, Raftery AE, Westveld AH, Goldman T (2005). Calibrated probabilistic forecasting using
ensemble model output statistics and minimum CRPS estimation. Mon. Weather Rev. 133, 1098-1118.
Gneiting T, Raftery AE (2007). Strictly proper scoring rules, prediction, and estimation.
JASA 102(477), 359-378.
Jordan A, Krüger F, Lerch S (2019). Evaluating probabilistic forecasts with scoringRules.
J. Stat. Softw. 90(12), 1-37.
Grimit EP, Gneiting T, Berrocal VJ, Johnson NA (2006). The continuous ranked probability score
for circular variables and its application to mesoscale forecast ensemble verification.
Q. J. R. Meteorol. Soc. 132, 2925-2942.
Ferro CAT (2014). Fair scores for ensemble forecasts. Q. J. R. Meteorol. Soc. 140, 1917-1923.
Koenker R, Bassett G (1978). Regression quantiles. Econometrica 46(1), 33-50.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from trustbench.metrics.bootstrap import mean_metric
from trustbench.validation import check_array, check_level, check_levels, check_positive

__all__ = [
    "rmse",
    "mae",
    "gaussian_nll",
    "crps_gaussian",
    "crps_student_t",
    "crps_samples",
    "crps_mixture",
    "pinball_loss",
    "interval_coverage",
    "interval_width",
    "interval_score",
    "mean_score",
]

_LOG_2PI = float(np.log(2 * np.pi))
_INV_SQRT_PI = float(1 / np.sqrt(np.pi))
_INV_SQRT_2PI = float(1 / np.sqrt(2 * np.pi))
_INV_SQRT_2 = float(1 / np.sqrt(2))
_MIXTURE_CHUNK = 1 << 21  # rows x k x k elements per chunk in crps_mixture


def rows(name: str, x: Any, n: int | None = None) -> np.ndarray:
    """A finite 1-D float array (of length ``n`` when given); the check every metric shares."""
    arr = check_array(x, name, ndim=1)
    if n is not None and len(arr) != n:
        raise ValueError(f"{name} must have one value per row ({n}); got {len(arr)}.")
    return arr


def rows_positive(name: str, x: Any, n: int | None = None) -> np.ndarray:
    """Like :func:`rows`, and every value > 0 (a standard deviation or a scale)."""
    return check_positive(rows(name, x, n), name)


def _abs_moment(z: np.ndarray) -> np.ndarray:
    """z(2Φ(z) - 1) + 2φ(z) = E|Z - z| for Z ~ N(0, 1), with 2Φ(z) - 1 = erf(z/√2) (no cancellation).

    Works in place on one temporary: this is the hot loop of the Gaussian and mixture CRPS.
    """
    from scipy.special import erf

    out = z * _INV_SQRT_2
    erf(out, out=out)
    out *= z
    dens = z * z
    dens *= -0.5
    np.exp(dens, out=dens)
    dens *= 2 * _INV_SQRT_2PI
    out += dens
    return out


def _pair(y: Any, pred: Any, pred_name: str) -> tuple[np.ndarray, np.ndarray]:
    y = rows("y", y)
    return y, rows(pred_name, pred, len(y))


@mean_metric(transform=np.sqrt)
def rmse(y: Any, mean: Any) -> np.ndarray:
    """Root mean squared error: sqrt(mean((y - mean)²)); ``pointwise`` gives the squared errors."""
    y, mean = _pair(y, mean, "mean")
    return (y - mean) ** 2


@mean_metric
def mae(y: Any, mean: Any) -> np.ndarray:
    """Mean absolute error: mean(|y - mean|)."""
    y, mean = _pair(y, mean, "mean")
    return np.abs(y - mean)


def _gaussian_args(y: Any, mean: Any, std: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y, mean = _pair(y, mean, "mean")
    return y, mean, rows_positive("std", std, len(y))


@mean_metric
def gaussian_nll(y: Any, mean: Any, std: Any) -> np.ndarray:
    """Negative log-likelihood of ``y`` under N(mean, std²): ½z² + log std + ½ log 2π."""
    y, mean, std = _gaussian_args(y, mean, std)
    out = y - mean  # in place from here on: one temporary instead of five
    out /= std
    out *= out
    out *= 0.5
    out += np.log(std)
    out += 0.5 * _LOG_2PI
    return out


@mean_metric
def crps_gaussian(y: Any, mean: Any, std: Any) -> np.ndarray:
    """CRPS of N(mean, std²) at ``y``, closed form (Gneiting et al. 2005, MWR 133).

    CRPS = std · [z(2Φ(z) - 1) + 2φ(z) - 1/√π], z = (y - mean)/std.
    """
    y, mean, std = _gaussian_args(y, mean, std)
    z = y - mean
    z /= std
    out = _abs_moment(z)
    out -= _INV_SQRT_PI
    out *= std
    return out


@mean_metric
def crps_student_t(y: Any, loc: Any, scale: Any, df: Any) -> np.ndarray:
    """CRPS of the location-scale Student-t at ``y``, closed form (Jordan, Krüger & Lerch 2019, appendix).

    With z = (y - loc)/scale and F_ν, f_ν the standard t cdf and pdf,
    CRPS = scale · [z(2F_ν(z) - 1) + 2 f_ν(z)(ν + z²)/(ν - 1)
    - 2√ν B(½, ν - ½) / ((ν - 1) B(½, ν/2)²)].
    The formula needs ``df`` > 1 (a finite mean); ``df`` is a scalar or one value per row.
    """
    from scipy.special import betaln, stdtr

    y, loc = _pair(y, loc, "loc")
    scale = rows_positive("scale", scale, len(y))
    nu = check_array(df, "df", ndim=(0, 1))
    nu = np.broadcast_to(nu, y.shape) if nu.ndim == 0 else nu
    if len(nu) != len(y):
        raise ValueError(f"df must be a scalar or have one value per row ({len(y)}); got {len(nu)}.")
    if (nu <= 1).any():
        raise ValueError(f"df must be > 1 for the closed-form CRPS of a Student-t; got {nu[nu <= 1][0]!r}.")
    z = (y - loc) / scale
    log_pdf = -betaln(0.5, nu / 2) - 0.5 * np.log(nu) - (nu + 1) / 2 * np.log1p(z * z / nu)
    const = 2 * np.sqrt(nu) * np.exp(betaln(0.5, nu - 0.5) - 2 * betaln(0.5, nu / 2)) / (nu - 1)
    core = z * (2 * stdtr(nu, z) - 1) + 2 * np.exp(log_pdf) * (nu + z * z) / (nu - 1) - const
    return scale * core


@mean_metric
def crps_samples(y: Any, samples: Any, *, fair: bool = False) -> np.ndarray:
    """CRPS of the empirical distribution of ``samples`` (n, m) at ``y`` (n,).

    By default the exact CRPS of the empirical CDF (the "nrg"/"pwm" estimator of scoringrules,
    properscoring's ``crps_ensemble``): E|X - y| - ½ E|X - X'| with X, X' drawn from the m samples.
    ``fair=True`` gives the fair (unbiased for the underlying distribution) estimator, which
    divides the spread term by m(m - 1) instead of m² (Ferro 2014). Sorting each row gives the
    spread term in O(m log m): Σ_ij |x_i - x_j| = 2 Σ_i (2i - m - 1) x_(i).
    """
    y = rows("y", y)
    x = check_array(samples, "samples", ndim=2)
    if x.shape[0] != len(y):
        raise ValueError(f"samples must have one row per value of y ({len(y)}); got shape {x.shape}.")
    m = x.shape[1]
    if fair and m < 2:
        raise ValueError(f"samples must have at least 2 columns for the fair CRPS; got shape {x.shape}.")
    d = np.sort(x, axis=1)  # a copy; centred in place below (the order and the spread stay)
    d -= y[:, None]
    spread = d @ (2.0 * np.arange(1, m + 1) - m - 1)  # = ½ Σ_ij |x_i - x_j|
    abs_err = np.abs(d, out=d) @ np.full(m, 1.0 / m)  # a matrix-vector product beats .mean(axis=1)
    return abs_err - spread / (m * (m - 1) if fair else m * m)


def _mixture_weights(weights: Any, n: int, k: int) -> np.ndarray:
    """``None`` (equal), (k,) or (n, k) non-negative weights, normalised per row -> (1|n, k)."""
    if weights is None:
        return np.full((1, k), 1.0 / k)
    w = np.atleast_2d(check_array(weights, "weights", ndim=(1, 2)))
    if w.shape not in ((1, k), (n, k)):
        raise ValueError(f"weights must have shape ({k},) or ({n}, {k}); got {np.shape(weights)}.")
    total = w.sum(axis=1, keepdims=True)
    if (w < 0).any() or (total <= 0).any():
        raise ValueError("weights must be >= 0 with a positive sum in every row.")
    return w / total


def _a(mu: np.ndarray, var: np.ndarray) -> np.ndarray:
    """A(μ, σ²) = E|X| for X ~ N(μ, σ²) = μ(2Φ(μ/σ) - 1) + 2σφ(μ/σ) (Grimit et al. 2006)."""
    sd = np.sqrt(var)
    return sd * _abs_moment(mu / sd)


@mean_metric
def crps_mixture(y: Any, loc: Any, scale: Any, weights: Any = None) -> np.ndarray:
    """CRPS of the Gaussian mixture Σ_k w_k N(loc_k, scale_k²) at ``y``, closed form.

    CRPS = Σ_k w_k A(y - μ_k, σ_k²) - ½ Σ_kl w_k w_l A(μ_k - μ_l, σ_k² + σ_l²) with
    A(μ, σ²) = E|N(μ, σ²)| (Grimit et al. 2006). ``loc``, ``scale`` are (n, k); ``weights``
    None (equal), (k,) or (n, k), normalised per row. O(n k²), computed in row chunks.
    """
    y = rows("y", y)
    mu = check_array(loc, "loc", ndim=2)
    n, k = mu.shape
    if n != len(y):
        raise ValueError(f"loc must have one row per value of y ({len(y)}); got shape {mu.shape}.")
    sd = check_positive(check_array(scale, "scale", ndim=2), "scale")
    if sd.shape != mu.shape:
        raise ValueError(f"scale must have the shape of loc {mu.shape}; got {sd.shape}.")
    w = np.broadcast_to(_mixture_weights(weights, n, k), (n, k))
    var = sd * sd
    first = (w * _a(y[:, None] - mu, var)).sum(axis=1)
    second = np.empty(n)
    step = max(1, _MIXTURE_CHUNK // (k * k))
    for s in range(0, n, step):
        sl = slice(s, s + step)
        a = _a(mu[sl, :, None] - mu[sl, None, :], var[sl, :, None] + var[sl, None, :])
        second[sl] = np.einsum("ik,ikl,il->i", w[sl], a, w[sl])
    return first - 0.5 * second


@mean_metric
def pinball_loss(y: Any, q: Any, level: Any) -> np.ndarray:
    """Pinball (quantile) loss of the ``level`` quantile ``q`` at ``y`` (Koenker & Bassett 1978).

    ρ_τ(y - q) = max(τ(y - q), (τ - 1)(y - q)). Either ``q`` (n,) with a scalar ``level``, or
    ``q`` (n, L) with ``level`` (L,): the per-row score is then the mean over the L levels.
    """
    y = rows("y", y)
    qq = check_array(q, "q", ndim=(1, 2))
    if qq.shape[0] != len(y):
        raise ValueError(f"q must have one row per value of y ({len(y)}); got shape {qq.shape}.")
    if qq.ndim == 1:
        tau = check_level(level, "level")
        diff = y - qq
    else:
        tau = check_levels(level, "level")
        if tau.shape != (qq.shape[1],):
            raise ValueError(f"level must have one value per column of q ({qq.shape[1]}); got shape {tau.shape}.")
        diff = y[:, None] - qq
    loss = np.maximum(tau * diff, (tau - 1) * diff)
    return loss if loss.ndim == 1 else loss.mean(axis=1)


def _interval_args(y: Any, lower: Any, upper: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y, lower = _pair(y, lower, "lower")
    upper = rows("upper", upper, len(y))
    _check_ordered(lower, upper)
    return y, lower, upper


def _check_ordered(lower: np.ndarray, upper: np.ndarray) -> None:
    bad = lower > upper
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"lower must be <= upper in every row; got lower={lower[i]!r} > upper={upper[i]!r} at row {i}."
        )


@mean_metric
def interval_coverage(y: Any, lower: Any, upper: Any) -> np.ndarray:
    """Share of rows with lower <= y <= upper (the empirical coverage of the intervals)."""
    y, lower, upper = _interval_args(y, lower, upper)
    return ((lower <= y) & (y <= upper)).astype(float)


@mean_metric
def interval_width(lower: Any, upper: Any) -> np.ndarray:
    """Mean width upper - lower of the intervals."""
    lower = rows("lower", lower)
    upper = rows("upper", upper, len(lower))
    _check_ordered(lower, upper)
    return upper - lower


@mean_metric
def interval_score(y: Any, lower: Any, upper: Any, alpha: Any) -> np.ndarray:
    """Interval score of the central (1 - alpha) interval (Gneiting & Raftery 2007, section 6.2).

    IS = (u - l) + (2/α)(l - y)·1{y < l} + (2/α)(y - u)·1{y > u}.
    """
    y, lower, upper = _interval_args(y, lower, upper)
    a = check_level(alpha, "alpha")
    return (upper - lower) + (2 / a) * (np.maximum(lower - y, 0) + np.maximum(y - upper, 0))


@mean_metric
def mean_score(scores: Any) -> np.ndarray:
    """Mean of precomputed per-row scores (e.g. a per-row CRPS or NLL), bootstrapped like any metric."""
    return rows("scores", scores)
