"""The ICU robustness suite: measurement perturbations of a test :class:`Cohort`.

Every perturbation has the signature ``fn(cohort, severity, rng, *, train) -> Cohort`` and is pure:
it never modifies its inputs and returns ``cohort.with_dyn(new_dyn)``, a cohort whose ``sta``,
``outc`` and ``truth`` are the very same objects (the patient is the same, only the measurement is
worse). Reference statistics (per-variable mean and standard deviation) come from ``train``'s
observed values, never from the test cohort. Values that were not measured (NaN) stay NaN, except
that perturbations may turn observed values into NaN. Each function carries ``severities`` (three
increasing defaults), ``bounds`` (the closed allowed range) and ``shift = False`` (the inputs are
corrupted, the population does not move, so labels and ground truth are kept).

The missing-data mechanisms follow Rubin (1976), "Inference and missing data", Biometrika 63(3):
MCAR (independent of everything), MAR (dependent on observed quantities only) and MNAR
(dependent on the unobserved value itself). In the MAR and MNAR mechanisms the removal probability
of an observed value is logistic, ``p = expit(a_v + b * z)``, with slope ``b`` (:data:`MAR_SLOPE`,
:data:`MNAR_SLOPE`, per standard deviation of the driver ``z``) and an intercept ``a_v`` solved per
variable ``v`` (bisection) so that the mean probability over that variable's observed values equals
``severity``: every variable loses a fraction ``severity`` of its observations in expectation,
dense vitals and sparse labs alike.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np

from trustbench.domains.icu.cohort import Cohort

__all__ = [
    "PERTURBATIONS",
    "NONNEGATIVE",
    "VITALS",
    "UNIT_ERRORS",
    "TYPO_RATE",
    "MAR_SLOPE",
    "MNAR_SLOPE",
    "icu_perturbation",
    "icu_noise",
    "icu_missing_mcar",
    "icu_missing_mar",
    "icu_missing_mnar",
    "icu_outliers",
    "icu_unit_errors",
    "icu_downsample",
]

#: ricu concepts that cannot be negative: every YAIB variable except base excess (``be``, mmol/L,
#: negative in metabolic acidosis). Noise is clipped at 0 on these; other variables are not clipped.
NONNEGATIVE = frozenset(
    {
        "alb", "alp", "alt", "ast", "bicar", "bili", "bili_dir", "bnd", "bun", "ca", "cai", "ck",
        "ckmb", "cl", "crea", "crp", "dbp", "fgn", "fio2", "glu", "hgb", "hr", "inr_pt", "k", "lact",
        "lymph", "map", "mch", "mchc", "mcv", "methb", "mg", "na", "neut", "o2sat", "pco2", "ph",
        "phos", "plt", "po2", "ptt", "resp", "sbp", "temp", "tnt", "urine", "wbc",
    }
)  # fmt: skip

#: The bedside vitals charted (about) hourly; :func:`icu_downsample` thins these only.
VITALS = ("hr", "sbp", "dbp", "map", "resp", "o2sat", "temp")

#: Wrong-unit recordings of :func:`icu_unit_errors`: variable -> (factor, offset), recorded value =
#: factor * value + offset. temp °C -> °F; crea mg/dL -> µmol/L (x 88.42); glu mg/dL -> mmol/L
#: (/ 18.016, molar mass of glucose 180.16 g/mol).
UNIT_ERRORS: dict[str, tuple[float, float]] = {
    "temp": (9.0 / 5.0, 32.0),
    "crea": (88.42, 0.0),
    "glu": (1.0 / 18.016, 0.0),
}

#: Within a stay hit by :func:`icu_unit_errors`, the probability that an observed value of any other
#: variable carries a x10 typo (a shifted decimal point).
TYPO_RATE = 0.1

#: Log-odds of removal per standard deviation of the hour since admission (MAR driver).
MAR_SLOPE = 2.0

#: Log-odds of removal per training standard deviation of the value itself (MNAR driver).
MNAR_SLOPE = 2.0


# --------------------------------------------------------------------------------------------------
# the decorator
# --------------------------------------------------------------------------------------------------


def _check_severity(fn: Callable, severity, *, integer: bool) -> float:
    lo, hi = fn.bounds
    if isinstance(severity, bool) or not isinstance(severity, (int, float, np.integer, np.floating)):
        raise TypeError(f"severity of perturbation {fn.__name__!r} must be a number; got {severity!r}.")
    if not (np.isfinite(severity) and lo <= severity <= hi):
        raise ValueError(f"severity of perturbation {fn.__name__!r} must lie in [{lo}, {hi}]; got {severity!r}.")
    if integer and float(severity) != int(severity):
        raise ValueError(
            f"severity of perturbation {fn.__name__!r} must be a whole number in [{lo}, {hi}]; got {severity!r}."
        )
    return float(severity)


def icu_perturbation(*, severities: Sequence[float], bounds: tuple[float, float], integer: bool = False):
    """Declare a cohort perturbation: default ``severities``, allowed closed ``bounds``.

    The wrapper checks that ``cohort`` and ``train`` are :class:`Cohort` objects, that ``train`` has
    every dynamic variable of ``cohort``, that ``rng`` is a ``numpy.random.Generator`` and that
    ``severity`` is a number inside ``bounds`` (a whole number when ``integer``), all before any
    work; it then calls ``fn(cohort, severity, rng, train=train)`` with ``severity`` as a float.
    """

    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def checked(cohort, severity, rng, *, train):
            for name, value in (("cohort", cohort), ("train", train)):
                if not isinstance(value, Cohort):
                    raise TypeError(f"{name} must be a Cohort; got {type(value).__name__}.")
            if not isinstance(rng, np.random.Generator):
                raise TypeError(f"rng must be a numpy.random.Generator; got {type(rng).__name__}.")
            severity = _check_severity(checked, severity, integer=integer)
            missing = [v for v in cohort.variables if v not in train.dyn.columns]
            if missing:
                raise ValueError(
                    f"train must have every dynamic variable of cohort; missing {missing} "
                    f"(train has {train.variables})."
                )
            return fn(cohort, severity, rng, train=train)

        checked.severities = tuple(float(s) for s in severities)
        checked.bounds = (float(bounds[0]), float(bounds[1]))
        checked.shift = False
        return checked

    return wrap


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------


def _values(cohort: Cohort) -> tuple[list[str], np.ndarray]:
    """The dynamic variables and a float64 copy of their values (rows x variables)."""
    variables = cohort.variables
    return variables, cohort.dyn[variables].to_numpy(dtype=np.float64, copy=True)


def _rebuild(cohort: Cohort, variables: list[str], values: np.ndarray) -> Cohort:
    dyn = cohort.dyn.copy()
    dyn[variables] = values
    return cohort.with_dyn(dyn)


def _train_stats(train: Cohort, variables: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per-variable mean and (population) standard deviation of ``train``'s observed values.

    NaN for a variable never observed in ``train`` (and std 0 for one observed once or constant).
    """
    x = train.dyn[variables].to_numpy(dtype=np.float64)
    n = np.sum(~np.isnan(x), axis=0)
    safe = np.where(np.isnan(x), 0.0, x)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = safe.sum(axis=0) / n
        var = np.where(np.isnan(x), 0.0, (x - mean) ** 2).sum(axis=0) / n
    return mean, np.sqrt(var)


def _expit(t: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * t))  # logistic, overflow-free


def _calibrated_probs(z: np.ndarray, observed: np.ndarray, fraction: float, slope: float) -> np.ndarray:
    """Removal probabilities ``expit(a_v + slope * z)`` with ``a_v`` per column (variable) such that
    the mean over the observed entries of each column is ``fraction`` (0 where not observed).

    ``z`` holds a standardised driver (finite where ``observed``). The mean is increasing in ``a_v``;
    ``a_v`` is found by bisection (60 halvings of a bracket where the mean goes from < 1e-13 to
    > 1 - 1e-13), vectorised over the observed entries of all columns.
    """
    p = np.zeros(z.shape)
    if fraction <= 0.0:
        return p
    if fraction >= 1.0:
        return observed.astype(np.float64)
    rows, cols = np.nonzero(observed)
    if rows.size == 0:
        return p
    sz = slope * z[rows, cols]
    d = z.shape[1]
    n = np.maximum(np.bincount(cols, minlength=d), 1)
    big = np.full(d, -np.inf)
    small = np.full(d, np.inf)
    np.maximum.at(big, cols, sz)
    np.minimum.at(small, cols, sz)
    lo = np.where(np.isfinite(big), -30.0 - big, 0.0)
    hi = np.where(np.isfinite(small), 30.0 - small, 0.0)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        mean = np.bincount(cols, weights=_expit(mid[cols] + sz), minlength=d) / n
        below = mean < fraction
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    p[rows, cols] = _expit(0.5 * (lo + hi)[cols] + sz)
    return p


def _remove(cohort: Cohort, variables: list[str], x: np.ndarray, p: np.ndarray, rng) -> Cohort:
    lost = rng.uniform(size=x.shape) < p
    x[lost] = np.nan
    return _rebuild(cohort, variables, x)


# --------------------------------------------------------------------------------------------------
# perturbations
# --------------------------------------------------------------------------------------------------


@icu_perturbation(severities=(0.1, 0.25, 0.5), bounds=(0.0, 10.0))
def icu_noise(cohort, severity, rng, *, train):
    """Gaussian measurement noise on every observed value: ``x + N(0, (severity * s_v)^2)``.

    ``s_v`` is variable ``v``'s standard deviation over ``train``'s observed values (0, hence no
    noise, for a variable constant or never observed in ``train``). Variables in
    :data:`NONNEGATIVE` (all but base excess ``be``) are clipped at 0 afterwards, so a noisy
    value that would be negative is recorded as 0. Missing values stay missing.
    """
    variables, x = _values(cohort)
    _, scale = _train_stats(train, variables)
    scale = np.where(np.isfinite(scale), scale, 0.0)
    x = x + severity * scale[None, :] * rng.standard_normal(x.shape)
    clip = np.array([v in NONNEGATIVE for v in variables])
    x[:, clip] = np.where(x[:, clip] < 0.0, 0.0, x[:, clip])  # NaN compares False: stays NaN
    return _rebuild(cohort, variables, x)


@icu_perturbation(severities=(0.1, 0.3, 0.5), bounds=(0.0, 1.0))
def icu_missing_mcar(cohort, severity, rng, *, train):
    """Missing completely at random: each observed value is removed (set to NaN) independently with
    probability ``severity`` (Rubin 1976). No imputation: the method sees the gaps."""
    variables, x = _values(cohort)
    return _remove(cohort, variables, x, np.where(np.isnan(x), 0.0, severity), rng)


@icu_perturbation(severities=(0.1, 0.3, 0.5), bounds=(0.0, 1.0))
def icu_missing_mar(cohort, severity, rng, *, train):
    """Missing at random, driven by the hour since admission (always observed).

    An observed value of variable ``v`` at hour ``t`` is removed with probability
    ``expit(a_v + MAR_SLOPE * (t - mean_t) / sd_t)`` (mean and sd of ``t`` over the cohort's rows;
    monitoring thins out later in a stay), ``a_v`` such that the expected fraction removed of each
    variable's observed values is ``severity``. Given the hour, removal is independent of the value.
    """
    variables, x = _values(cohort)
    t = cohort.dyn["time"].to_numpy(dtype=np.float64)
    sd = t.std()
    z = (t - t.mean()) / (sd if sd > 0 else 1.0)
    observed = ~np.isnan(x)
    p = _calibrated_probs(np.broadcast_to(z[:, None], x.shape), observed, severity, MAR_SLOPE)
    return _remove(cohort, variables, x, p, rng)


@icu_perturbation(severities=(0.1, 0.3, 0.5), bounds=(0.0, 1.0))
def icu_missing_mnar(cohort, severity, rng, *, train):
    """Missing not at random: larger values are more often lost.

    An observed value ``x`` of variable ``v`` is removed with probability
    ``expit(a_v + MNAR_SLOPE * (x - m_v) / s_v)``, ``m_v``, ``s_v`` the training mean and std
    (``m_v = 0``, ``s_v = 1`` for a variable never observed in ``train``; ``s_v = 1`` when it is
    constant there), ``a_v`` such that the expected fraction removed of each
    variable's observed values is ``severity``. Removed values are larger on average than kept
    ones (e.g. readings above an analyser's range that are never charted).
    """
    variables, x = _values(cohort)
    mean, scale = _train_stats(train, variables)
    observed = ~np.isnan(x)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
    z = (x - mean[None, :]) / scale[None, :]
    p = _calibrated_probs(z, observed, severity, MNAR_SLOPE)
    return _remove(cohort, variables, x, p, rng)


@icu_perturbation(severities=(0.01, 0.05, 0.1), bounds=(0.0, 1.0))
def icu_outliers(cohort, severity, rng, *, train):
    """Gross recording errors: each observed value is, with probability ``severity``, replaced by
    ``m_v ± u * s_v`` with ``u ~ Uniform(5, 10)`` and a random sign (``m_v``, ``s_v`` the training
    mean and std of the variable; for a variable constant in ``train`` ``s_v = max(|m_v|, 1)``, for
    one never observed in ``train`` ``m_v = 0``, ``s_v = 1``). The replacement lies 5 to 10
    training stds from the training mean; on the low side it is often physiologically impossible
    (a negative heart rate), as in real charting errors. Missing values stay missing.
    """
    variables, x = _values(cohort)
    mean, scale = _train_stats(train, variables)
    known = np.isfinite(mean)
    mean = np.where(known, mean, 0.0)
    scale = np.where(~known, 1.0, np.where(scale > 0, scale, np.maximum(np.abs(mean), 1.0)))
    hit = (rng.uniform(size=x.shape) < severity) & ~np.isnan(x)
    rows, cols = np.nonzero(hit)
    sign = np.where(rng.uniform(size=rows.size) < 0.5, -1.0, 1.0)
    u = rng.uniform(5.0, 10.0, size=rows.size)
    x[rows, cols] = mean[cols] + sign * u * scale[cols]
    return _rebuild(cohort, variables, x)


@icu_perturbation(severities=(0.05, 0.2, 0.5), bounds=(0.0, 1.0))
def icu_unit_errors(cohort, severity, rng, *, train):
    """Values recorded in the wrong unit for whole stays (e.g. data merged from another system).

    Each stay is affected independently with probability ``severity``. On an affected stay every
    value of each variable in :data:`UNIT_ERRORS` that is present is converted: ``temp`` °C -> °F
    (x 9/5 + 32), ``crea`` mg/dL -> µmol/L (x 88.42), ``glu`` mg/dL -> mmol/L (/ 18.016); and each
    observed value of every other variable is multiplied by 10 (a decimal-point typo) with
    probability :data:`TYPO_RATE`. Unaffected stays are untouched.
    """
    variables, x = _values(cohort)
    stays = cohort.dyn["stay_id"].to_numpy()
    unique, inverse = np.unique(stays, return_inverse=True)
    affected = (rng.uniform(size=unique.size) < severity)[inverse.reshape(-1)]
    converted = np.array([v in UNIT_ERRORS for v in variables])
    factor = np.array([UNIT_ERRORS.get(v, (1.0, 0.0))[0] for v in variables])
    offset = np.array([UNIT_ERRORS.get(v, (1.0, 0.0))[1] for v in variables])
    typo = rng.uniform(size=x.shape) < TYPO_RATE
    rows = affected[:, None]
    x = np.where(rows & converted[None, :], factor * x + offset, x)
    x = np.where(rows & ~converted[None, :] & typo, 10.0 * x, x)
    return _rebuild(cohort, variables, x)


@icu_perturbation(severities=(2, 4, 8), bounds=(1, 24), integer=True)
def icu_downsample(cohort, severity, rng, *, train):
    """Reduced sampling frequency of the bedside vitals: only every ``k``-th hour is kept.

    ``k = severity`` (a whole number). Values of the :data:`VITALS` present (hr, sbp, dbp, map,
    resp, o2sat, temp) are kept at rows with ``floor(time) % k == 0`` (hour 0 of the stay is
    always kept) and set to NaN elsewhere; the rows, the hour grid and all other variables (labs,
    urine, fio2) are unchanged. ``k = 1`` is the identity. ``rng`` is not used (deterministic).
    """
    variables, x = _values(cohort)
    k = int(severity)
    t = cohort.dyn["time"].to_numpy(dtype=np.float64)
    dropped = np.floor(t).astype(np.int64) % k != 0
    vital = np.array([v in VITALS for v in variables])
    x[np.ix_(dropped, vital)] = np.nan
    return _rebuild(cohort, variables, x)


PERTURBATIONS: dict[str, Callable] = {
    "icu_noise": icu_noise,
    "icu_missing_mcar": icu_missing_mcar,
    "icu_missing_mar": icu_missing_mar,
    "icu_missing_mnar": icu_missing_mnar,
    "icu_outliers": icu_outliers,
    "icu_unit_errors": icu_unit_errors,
    "icu_downsample": icu_downsample,
}
