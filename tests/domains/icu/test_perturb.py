"""The ICU robustness suite on real YAIB demo cohorts: each perturbation is pure, reproducible, hits
the stated fraction and has the stated dependence structure.

Train: MIMIC-III demo, test: eICU demo (mortality24, 34k stay-hours). Reference statistics are
recomputed here with pandas / scikit-learn, independently of the module's helpers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trustbench.domains.icu.cohort import Cohort
from trustbench.domains.icu.perturb import (
    NONNEGATIVE,
    PERTURBATIONS,
    TYPO_RATE,
    VITALS,
    icu_downsample,
    icu_missing_mar,
    icu_missing_mcar,
    icu_missing_mnar,
    icu_noise,
    icu_outliers,
    icu_unit_errors,
)

ROOT = Path(__file__).resolve().parents[3]
CANDIDATES = [ROOT.parent / "shared" / "data" / "yaib-demo", ROOT / "src/trustbench/domains/icu/data/yaib-demo"]
DATA = next((p for p in CANDIDATES if (p / "mortality24").is_dir()), None)
pytestmark = pytest.mark.skipif(DATA is None, reason="YAIB demo cohorts not available")


def load(task: str, source: str) -> Cohort:
    folder = DATA / task / source
    dyn = pd.read_parquet(folder / "dyn.parquet")
    dyn["stay_id"] = dyn["stay_id"].astype("int64")
    dyn["time"] = dyn["time"] / pd.Timedelta(hours=1)
    sta = pd.read_parquet(folder / "sta.parquet")
    sta["stay_id"] = sta["stay_id"].astype("int64")
    outc = pd.read_parquet(folder / "outc.parquet")
    outc["stay_id"] = outc["stay_id"].astype("int64")
    return Cohort(dyn=dyn, sta=sta, outc=outc, name=task, site=source)


@pytest.fixture(scope="module")
def train():
    return load("mortality24", "mimic_demo")


@pytest.fixture(scope="module")
def test(train):
    return load("mortality24", "eicu_demo")


def rng(seed=0):
    return np.random.default_rng(seed)


def values(c: Cohort, var=None) -> np.ndarray:
    return c.dyn[var if var is not None else c.variables].to_numpy(dtype=float)


def binom_tol(p, n, k=4.0):
    return k * np.sqrt(p * (1 - p) / n)


FNS = list(PERTURBATIONS.values())


def test_registry_and_attributes():
    assert set(PERTURBATIONS) == {
        "icu_noise", "icu_missing_mcar", "icu_missing_mar", "icu_missing_mnar",
        "icu_outliers", "icu_unit_errors", "icu_downsample",
    }  # fmt: skip
    for name, fn in PERTURBATIONS.items():
        assert fn.__name__ == name
        s = fn.severities
        assert len(s) >= 3 and all(a < b for a, b in zip(s, s[1:]))
        lo, hi = fn.bounds
        assert all(lo <= x <= hi for x in s)
        assert fn.shift is False
    assert icu_downsample.severities == (2, 4, 8) and icu_downsample.bounds == (1, 24)


@pytest.mark.parametrize("fn", FNS, ids=lambda f: f.__name__)
def test_pure_labels_kept_and_reproducible(fn, train, test):
    before = (test.dyn.copy(), test.sta.copy(), test.outc.copy(), train.dyn.copy())
    a = fn(test, fn.severities[1], rng(3), train=train)
    b = fn(test, fn.severities[1], rng(3), train=train)
    # inputs untouched
    pd.testing.assert_frame_equal(test.dyn, before[0])
    pd.testing.assert_frame_equal(test.sta, before[1])
    pd.testing.assert_frame_equal(test.outc, before[2])
    pd.testing.assert_frame_equal(train.dyn, before[3])
    assert not np.shares_memory(values(a), values(test))
    # same patients, same labels
    assert isinstance(a, Cohort)
    pd.testing.assert_frame_equal(a.sta, test.sta)
    pd.testing.assert_frame_equal(a.outc, test.outc)
    assert a.truth is test.truth and a.name == test.name and a.site == test.site
    # same grid and columns
    assert list(a.dyn.columns) == list(test.dyn.columns)
    assert (a.dyn.dtypes == test.dyn.dtypes).all()
    pd.testing.assert_frame_equal(a.dyn[["stay_id", "time"]], test.dyn[["stay_id", "time"]])
    # nothing that was missing becomes observed
    assert not (~np.isnan(values(a)) & np.isnan(values(test))).any()
    # determinism; another seed differs (downsampling is deterministic)
    pd.testing.assert_frame_equal(a.dyn, b.dyn)
    c = fn(test, fn.severities[1], rng(4), train=train)
    same = np.array_equal(values(a), values(c), equal_nan=True)
    assert same == (fn is icu_downsample)
    # the mildest end of the range is the identity
    pd.testing.assert_frame_equal(fn(test, fn.bounds[0], rng(5), train=train).dyn, test.dyn)


@pytest.mark.parametrize("fn", FNS, ids=lambda f: f.__name__)
def test_bad_severity_names_value_and_bounds(fn, train, test):
    lo, hi = fn.bounds
    for bad in (hi + 1.5, lo - 0.5, float("nan")):
        with pytest.raises(ValueError) as err:
            fn(test, bad, rng(), train=train)
        msg = str(err.value)
        assert "severity" in msg and repr(bad) in msg and f"[{lo}, {hi}]" in msg
    with pytest.raises(TypeError, match="severity"):
        fn(test, "0.1", rng(), train=train)
    with pytest.raises(TypeError, match="rng"):
        fn(test, fn.severities[0], 0, train=train)
    with pytest.raises(TypeError, match="cohort"):
        fn(test.dyn, fn.severities[0], rng(), train=train)


def test_downsample_needs_whole_number_and_train_needs_variables(train, test):
    with pytest.raises(ValueError, match=r"severity.*whole number.*2\.5"):
        icu_downsample(test, 2.5, rng(), train=train)
    small = Cohort(train.dyn.drop(columns=["hr"]), train.sta, train.outc)
    with pytest.raises(ValueError, match=r"train.*\['hr'\]"):
        icu_noise(test, 0.1, rng(), train=small)


# ------------------------------------------------------------------------------------------ noise


@pytest.mark.parametrize("severity", icu_noise.severities)
def test_noise_sd_is_severity_times_training_std(severity, train, test):
    out = icu_noise(test, severity, rng(1), train=train)
    for var in ("hr", "sbp", "dbp", "map", "resp", "o2sat", "temp", "glu", "na"):
        x, y = values(test, var), values(out, var)
        keep = ~np.isnan(x) & (y > 0)  # drop the (rare) values clipped at 0
        d = (y - x)[keep]
        sd_train = train.dyn[var].std(ddof=0)
        rtol = 4 / np.sqrt(2 * d.size) + 0.01
        assert abs(d.std() / (severity * sd_train) - 1) < rtol, var
        assert abs(d.mean()) < 4 * severity * sd_train / np.sqrt(d.size), var
        np.testing.assert_array_equal(np.isnan(y), np.isnan(x))


def test_noise_clips_nonnegative_variables_only(train, test):
    out = icu_noise(test, 0.5, rng(2), train=train)
    for var in test.variables:
        y = values(out, var)
        if var in NONNEGATIVE and np.isfinite(y).any():
            assert np.nanmin(y) >= 0.0, var
    # urine has many zeros: about half of them stay exactly 0 (noise < 0 clipped), none negative
    x, y = values(test, "urine"), values(out, "urine")
    zeros = x == 0
    assert zeros.sum() > 100
    frac = (y[zeros] == 0).mean()
    assert abs(frac - 0.5) < binom_tol(0.5, zeros.sum())
    # base excess is not clipped: noise pushes some positive values below 0
    bx, by = values(test, "be"), values(out, "be")
    assert "be" not in NONNEGATIVE and ((bx >= 0) & (by < 0)).any()


# ------------------------------------------------------------------------------------------ missing


def removed_mask(before: Cohort, after: Cohort) -> tuple[np.ndarray, np.ndarray]:
    x, y = values(before), values(after)
    observed = ~np.isnan(x)
    # removal only, no value changed
    np.testing.assert_array_equal(y[observed & ~np.isnan(y)], x[observed & ~np.isnan(y)])
    return observed, observed & np.isnan(y)


@pytest.mark.parametrize("fn", [icu_missing_mcar, icu_missing_mar, icu_missing_mnar], ids=lambda f: f.__name__)
def test_missing_fraction_overall_and_per_variable(fn, train, test):
    for severity in fn.severities:
        observed, removed = removed_mask(test, fn(test, severity, rng(7), train=train))
        n = observed.sum()
        assert abs(removed.sum() / n - severity) < binom_tol(severity, n)
        j = test.variables.index
        for var in ("hr", "temp", "crea", "glu"):
            nv = observed[:, j(var)].sum()
            fv = removed[:, j(var)].sum() / nv
            assert abs(fv - severity) < binom_tol(severity, nv), (var, fv)


def _logit_fit(features: np.ndarray, y: np.ndarray) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=np.inf, max_iter=1000).fit(features, y).coef_[0]


def test_mcar_independent_of_time_and_value(train, test):
    out = icu_missing_mcar(test, 0.3, rng(8), train=train)
    x = values(test, "hr")
    obs = ~np.isnan(x)
    lost = np.isnan(values(out, "hr"))[obs]
    t = test.dyn["time"].to_numpy()[obs]
    z = np.column_stack([(t - t.mean()) / t.std(), (x[obs] - x[obs].mean()) / x[obs].std()])
    coef = _logit_fit(z, lost)
    assert np.all(np.abs(coef) < 0.1), coef


def test_mar_depends_on_hour_not_on_value_given_hour(train, test):
    from trustbench.domains.icu.perturb import MAR_SLOPE

    out = icu_missing_mar(test, 0.3, rng(9), train=train)
    t_all = test.dyn["time"].to_numpy()
    zt_all = (t_all - t_all.mean()) / t_all.std()
    for var in ("hr", "sbp"):
        x = values(test, var)
        obs = ~np.isnan(x)
        lost = np.isnan(values(out, var))[obs]
        zt, zx = zt_all[obs], (x[obs] - x[obs].mean()) / x[obs].std()
        # marginally the removal correlates with the hour ...
        assert np.corrcoef(lost, zt)[0, 1] > 0.3
        # ... and the logistic model recovers the slope on the hour, none on the value
        coef = _logit_fit(np.column_stack([zt, zx]), lost)
        assert abs(coef[0] - MAR_SLOPE) < 0.25, coef
        assert abs(coef[1]) < 0.1, coef
        # within each hour the removed and kept values have the same mean
        hours = t_all[obs]
        diffs = [zx[(hours == h) & lost].mean() - zx[(hours == h) & ~lost].mean()
                 for h in np.unique(hours) if 50 <= ((hours == h) & lost).sum() <= ((hours == h).sum() - 50)]
        assert len(diffs) >= 5 and abs(np.mean(diffs)) < 0.1, diffs


def test_mnar_removes_larger_values(train, test):
    from trustbench.domains.icu.perturb import MNAR_SLOPE

    for severity in icu_missing_mnar.severities:
        out = icu_missing_mnar(test, severity, rng(10), train=train)
        for var in ("hr", "sbp", "resp", "glu"):
            x = values(test, var)
            obs = ~np.isnan(x)
            lost = np.isnan(values(out, var))[obs]
            assert x[obs][lost].mean() > x[obs][~lost].mean() + 0.5 * x[obs].std(), var
    # the removal log-odds is MNAR_SLOPE per training std of the value, and nothing per hour
    out = icu_missing_mnar(test, 0.3, rng(11), train=train)
    x = values(test, "hr")
    obs = ~np.isnan(x)
    lost = np.isnan(values(out, "hr"))[obs]
    zx = (x[obs] - train.dyn["hr"].mean()) / train.dyn["hr"].std(ddof=0)
    t = test.dyn["time"].to_numpy()[obs]
    coef = _logit_fit(np.column_stack([zx, (t - t.mean()) / t.std()]), lost)
    assert abs(coef[0] - MNAR_SLOPE) < 0.25 and abs(coef[1]) < 0.1, coef


# ------------------------------------------------------------------------------------------ outliers


@pytest.mark.parametrize("severity", icu_outliers.severities)
def test_outliers_fraction_and_distance(severity, train, test):
    out = icu_outliers(test, severity, rng(12), train=train)
    x, y = values(test), values(out)
    observed = ~np.isnan(x)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(x))
    changed = observed & (y != x)
    n = observed.sum()
    assert abs(changed.sum() / n - severity) < binom_tol(severity, n)
    mean = train.dyn[test.variables].mean().to_numpy()
    sd = train.dyn[test.variables].std(ddof=0).to_numpy()
    ok = (sd > 0)[None, :] & changed
    with np.errstate(divide="ignore", invalid="ignore"):
        dist = np.abs(y - mean[None, :]) / sd[None, :]
    assert ok.sum() > 0.9 * changed.sum()
    assert np.all((dist[ok] >= 5 - 1e-9) & (dist[ok] <= 10 + 1e-9))
    up = (y > mean[None, :])[ok].mean()
    assert abs(up - 0.5) < binom_tol(0.5, ok.sum())


# ------------------------------------------------------------------------------------------ units


@pytest.mark.parametrize("severity", icu_unit_errors.severities)
def test_unit_errors_convert_whole_stays_exactly(severity, train, test):
    out = icu_unit_errors(test, severity, rng(13), train=train)
    x, y = values(test), values(out)
    stays = test.dyn["stay_id"].to_numpy()
    diff = ~np.isclose(x, y, rtol=0, atol=0, equal_nan=True)
    affected_stays = np.unique(stays[diff.any(axis=1)])
    affected = np.isin(stays, affected_stays)
    # unaffected stays untouched
    np.testing.assert_array_equal(y[~affected], x[~affected])
    j = test.variables.index
    conversions = {"temp": lambda v: v * 9 / 5 + 32, "crea": lambda v: v * 88.42, "glu": lambda v: v / 18.016}
    for var, f in conversions.items():
        np.testing.assert_allclose(y[affected, j(var)], f(x[affected, j(var)]), rtol=1e-12, equal_nan=True)
    # other variables: either unchanged or exactly x10, the latter at rate TYPO_RATE
    others = [j(v) for v in test.variables if v not in conversions]
    xo, yo = x[affected][:, others], y[affected][:, others]
    obs = ~np.isnan(xo) & (xo != 0)
    times10 = np.isclose(yo, 10 * xo, rtol=1e-12) & obs
    assert np.all(times10 | (yo == xo) | np.isnan(xo))
    assert abs(times10.sum() / obs.sum() - TYPO_RATE) < binom_tol(TYPO_RATE, obs.sum())
    # stays with temperature recorded: affected with probability severity
    has_temp = np.unique(stays[~np.isnan(x[:, j("temp")])])
    frac = np.isin(has_temp, affected_stays).mean()
    assert abs(frac - severity) < binom_tol(severity, has_temp.size)


def test_unit_errors_only_on_variables_present(train, test):
    sub = test.with_dyn(test.dyn.drop(columns=["temp", "glu"]))
    out = icu_unit_errors(sub, 0.5, rng(14), train=train)
    assert list(out.dyn.columns) == list(sub.dyn.columns)
    x, y = values(sub, "crea"), values(out, "crea")
    obs = ~np.isnan(x) & (x > 0)
    ratio = y[obs] / x[obs]
    assert np.all(np.isclose(ratio, 1.0) | np.isclose(ratio, 88.42))
    assert np.isclose(ratio, 88.42).any() and np.isclose(ratio, 1.0).any()


# ------------------------------------------------------------------------------------------ downsample


@pytest.mark.parametrize("k", icu_downsample.severities)
def test_downsample_keeps_every_kth_hour_of_vitals(k, train, test):
    out = icu_downsample(test, k, rng(), train=train)
    t = test.dyn["time"].to_numpy()
    kept = (t % k) == 0
    vitals = [v for v in test.variables if v in VITALS]
    assert sorted(vitals) == sorted(VITALS)
    x, y = values(test, vitals), values(out, vitals)
    assert np.all(np.isnan(y[~kept]))
    np.testing.assert_array_equal(y[kept], x[kept])
    others = [v for v in test.variables if v not in VITALS]
    np.testing.assert_array_equal(values(out, others), values(test, others))
    # fraction of observed vital values kept ~ 1/k (hours 0..24: 1 + 24 // k of 25 hours)
    frac = (~np.isnan(y)).sum() / (~np.isnan(x)).sum()
    assert abs(frac - (1 + 24 // k) / 25) < 0.05
