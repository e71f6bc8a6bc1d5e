"""The bootstrap: fast path = generic loop, pairing, edge cases, and its coverage on normal data."""

import numpy as np
import pytest
from scipy import stats

from trustbench.metrics import bootstrap
from trustbench.metrics.bootstrap import CI, bootstrap_ci, mean_metric, paired_bootstrap_ci
from trustbench.metrics.calibration import sharpness
from trustbench.metrics.scores import crps_gaussian, mean_score, rmse


@pytest.fixture
def data():
    rng = np.random.default_rng(7)
    n = 120
    return rng.normal(size=n), rng.normal(size=n), rng.uniform(0.5, 1.5, n)


def plain(metric):
    """The same metric without ``.pointwise``: forces the generic loop."""
    return lambda *arrays: metric(*arrays)


@pytest.mark.parametrize(("metric", "cols"), [(rmse, 2), (crps_gaussian, 3), (sharpness, 1)])
def test_fast_path_gives_the_same_numbers_as_the_loop(data, metric, cols):
    arrays = data[-cols:] if cols == 1 else data[:cols]
    fast = bootstrap_ci(metric, *arrays, n_boot=300, seed=5)
    slow = bootstrap_ci(plain(metric), *arrays, n_boot=300, seed=5)
    assert fast == slow
    assert fast.low < fast.estimate < fast.high


def test_chunking_does_not_change_the_stream(data, monkeypatch):
    whole = bootstrap_ci(rmse, *data[:2], n_boot=200, seed=1)
    monkeypatch.setattr(bootstrap, "_CHUNK_ELEMENTS", 7 * len(data[0]))  # 7 replicates per chunk
    assert bootstrap_ci(rmse, *data[:2], n_boot=200, seed=1) == whole
    assert bootstrap_ci(plain(rmse), *data[:2], n_boot=200, seed=1) == whole


def test_reproducible_and_generator_seed(data):
    a = bootstrap_ci(rmse, *data[:2], n_boot=100, seed=3)
    assert a == bootstrap_ci(rmse, *data[:2], n_boot=100, seed=3)
    assert a == bootstrap_ci(rmse, *data[:2], n_boot=100, seed=np.random.default_rng(3))
    assert a != bootstrap_ci(rmse, *data[:2], n_boot=100, seed=4)
    assert isinstance(a, CI) and a.n == len(data[0]) and a.level == 0.95


def test_transform_is_applied_per_replicate(data):
    y, mu, _ = data
    ci = bootstrap_ci(rmse, y, mu, n_boot=400, seed=0)
    sq = bootstrap_ci(mean_metric(lambda a, b: (a - b) ** 2), y, mu, n_boot=400, seed=0)
    assert ci.estimate == pytest.approx(np.sqrt(sq.estimate))
    assert (ci.low, ci.high) == pytest.approx((np.sqrt(sq.low), np.sqrt(sq.high)))  # percentiles commute


def test_paired_bootstrap(data):
    y, noise, sd = data
    good = y + 0.3 * noise  # a forecaster whose mean tracks y, and the same one shifted
    a, b = (y, good, sd / 2), (y, good + 0.5, sd / 2)
    paired = paired_bootstrap_ci(crps_gaussian, a, b, n_boot=500, seed=0)
    assert paired.estimate == pytest.approx(crps_gaussian(*a) - crps_gaussian(*b))
    assert paired == paired_bootstrap_ci(plain(crps_gaussian), a, b, n_boot=500, seed=0)
    assert paired.high < 0  # the shifted forecaster is worse, and pairing makes that clear
    # two independent intervals would overlap: pairing removes the shared difficulty of the rows
    ca, cb = (bootstrap_ci(crps_gaussian, *x, n_boot=500, seed=0) for x in (a, b))
    assert paired.high - paired.low < (ca.high - ca.low) + (cb.high - cb.low)


def test_no_interval_cases(data):
    y, mu, _ = data
    one = bootstrap_ci(rmse, y[:1], mu[:1], n_boot=100)
    assert one.estimate == abs(y[0] - mu[0]) and np.isnan(one.low) and np.isnan(one.high) and one.n == 1
    none = bootstrap_ci(rmse, y, mu, n_boot=0)
    assert none.estimate == rmse(y, mu) and np.isnan(none.low) and np.isnan(none.high)


def test_nan_metric_does_not_crash(data):
    y, _, _ = data
    ci = bootstrap_ci(lambda a: np.nan, y, n_boot=50)
    assert np.isnan(ci.estimate) and np.isnan(ci.low) and np.isnan(ci.high)
    # NaN in some replicates only (the metric is undefined when the first row is drawn twice)
    partial = bootstrap_ci(lambda a: np.nan if (a == y[0]).sum() > 1 else a.mean(), y, n_boot=200)
    assert not np.isnan(partial.estimate) and np.isnan(partial.low)


def test_bootstrap_ci_covers_the_true_mean_about_95_percent():
    rng = np.random.default_rng(2024)
    reps, n = 200, 60
    hits = 0
    for _ in range(reps):
        ci = bootstrap_ci(mean_score, rng.normal(1.0, 2.0, n), n_boot=400, seed=rng)
        hits += ci.low <= 1.0 <= ci.high
    # binomial(200, p) with p near 0.95 (the percentile bootstrap under-covers a little at n = 60):
    # the central 99.9% range of binomial(200, 0.94) is inside [0.89, 0.98]
    lo, hi = stats.binom(reps, 0.94).ppf([0.0005, 0.9995]) / reps
    assert lo - 0.01 <= hits / reps <= hi + 0.01


def test_finite_mean_ci_drops_missing_values_and_reports_an_empty_set():
    from trustbench.metrics.bootstrap import bootstrap_ci, finite_mean_ci, mean_metric

    values = np.array([1.0, np.nan, 3.0, np.inf, 2.0, 6.0])
    ci = finite_mean_ci(values, n_boot=200, seed=1)
    want = bootstrap_ci(mean_metric(lambda x: x), np.array([1.0, 3.0, 2.0, 6.0]), n_boot=200, seed=1)
    assert (ci.estimate, ci.low, ci.high, ci.n) == (3.0, want.low, want.high, 4)
    empty = finite_mean_ci(np.array([np.nan, np.inf]))
    assert empty.n == 0 and np.isnan([empty.estimate, empty.low, empty.high]).all()
