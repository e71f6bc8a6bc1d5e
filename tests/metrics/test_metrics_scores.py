"""Scores against independent implementations: scikit-learn, scipy, properscoring, scoringrules, UCT."""

import numpy as np
import properscoring as ps
import pytest
import scoringrules as sr
import uncertainty_toolbox as uct
from numpy.testing import assert_allclose
from scipy import stats
from scipy.special import ndtri
from sklearn.metrics import mean_absolute_error, mean_pinball_loss, mean_squared_error

from trustbench.metrics import scores
from trustbench.metrics.scores import (
    crps_gaussian,
    crps_mixture,
    crps_samples,
    crps_student_t,
    gaussian_nll,
    interval_coverage,
    interval_score,
    interval_width,
    mae,
    mean_score,
    pinball_loss,
    rmse,
)


@pytest.fixture
def data():
    rng = np.random.default_rng(1)
    n = 300
    return rng.normal(size=n), rng.normal(size=n), rng.uniform(0.3, 2.0, n), rng


def test_point_errors_match_sklearn(data):
    y, mu, _, _ = data
    assert rmse(y, mu) == pytest.approx(np.sqrt(mean_squared_error(y, mu)), rel=1e-12)
    assert mae(y, mu) == pytest.approx(mean_absolute_error(y, mu), rel=1e-12)
    assert rmse.transform is np.sqrt and mae.transform is None
    assert_allclose(rmse.pointwise(y, mu), (y - mu) ** 2)


def test_gaussian_nll_matches_scipy_and_uct(data):
    y, mu, sd, _ = data
    assert_allclose(gaussian_nll.pointwise(y, mu, sd), -stats.norm.logpdf(y, mu, sd), rtol=1e-12)
    assert gaussian_nll(y, mu, sd) == pytest.approx(uct.nll_gaussian(mu, sd, y), rel=1e-12)


def test_crps_gaussian_matches_three_peers(data):
    y, mu, sd, _ = data
    ours = crps_gaussian.pointwise(y, mu, sd)
    assert_allclose(ours, ps.crps_gaussian(y, mu, sd), rtol=1e-10, atol=1e-14)
    assert_allclose(ours, sr.crps_normal(y, mu, sd), rtol=1e-10, atol=1e-14)
    assert crps_gaussian(y, mu, sd) == pytest.approx(uct.crps_gaussian(mu, sd, y), rel=1e-10)


@pytest.mark.parametrize("df", [1.2, 3.0, 30.0])
def test_crps_student_t_matches_scoringrules(data, df):
    y, mu, sd, _ = data
    assert_allclose(crps_student_t.pointwise(y, mu, sd, df), sr.crps_t(y, df, mu, sd), rtol=1e-9, atol=1e-14)


def test_crps_student_t_per_row_df_and_gaussian_limit(data):
    y, mu, sd, rng = data
    df = rng.uniform(1.5, 10, len(y))
    assert_allclose(crps_student_t.pointwise(y, mu, sd, df), sr.crps_t(y, df, mu, sd), rtol=1e-9, atol=1e-14)
    assert_allclose(crps_student_t.pointwise(y, mu, sd, 1e7), crps_gaussian.pointwise(y, mu, sd), rtol=1e-5)


@pytest.mark.parametrize("m", [2, 5, 20])
def test_crps_samples_is_the_empirical_crps(data, m):
    y, mu, sd, rng = data
    x = mu[:, None] + sd[:, None] * rng.normal(size=(len(y), m))
    ours = crps_samples.pointwise(y, x)
    assert_allclose(ours, ps.crps_ensemble(y, x), rtol=1e-10, atol=1e-14)
    assert_allclose(ours, sr.crps_ensemble(y, x, estimator="nrg"), rtol=1e-10, atol=1e-14)
    brute = np.abs(x - y[:, None]).mean(1) - 0.5 * np.abs(x[:, :, None] - x[:, None, :]).mean((1, 2))
    assert_allclose(ours, brute, rtol=1e-10, atol=1e-14)
    fair = crps_samples.pointwise(y, x, fair=True)
    assert_allclose(fair, sr.crps_ensemble(y, x, estimator="fair"), rtol=1e-10, atol=1e-14)
    assert (fair <= ours + 1e-15).all()


def test_crps_samples_converges_to_gaussian(data):
    y, mu, sd, _ = data
    u = (np.arange(4000) + 0.5) / 4000  # evenly spread quantile "samples"
    x = mu[:, None] + sd[:, None] * ndtri(u)[None, :]
    assert_allclose(crps_samples.pointwise(y, x), crps_gaussian.pointwise(y, mu, sd), rtol=2e-3, atol=1e-4)


def test_crps_mixture_matches_scoringrules_and_reduces_to_gaussian(data, monkeypatch):
    y, mu, sd, rng = data
    k = 4
    loc = mu[:, None] + rng.normal(size=(len(y), k))
    scale = rng.uniform(0.2, 1.5, (len(y), k))
    w = rng.uniform(0.1, 1.0, (len(y), k))
    ours = crps_mixture.pointwise(y, loc, scale, w)
    assert_allclose(ours, sr.crps_mixnorm(y, loc, scale, w / w.sum(1, keepdims=True)), rtol=1e-9, atol=1e-14)
    shared = crps_mixture.pointwise(y, loc, scale, w[0])  # (k,) weights shared by every row
    assert_allclose(shared, sr.crps_mixnorm(y, loc, scale, np.tile(w[0] / w[0].sum(), (len(y), 1))), rtol=1e-9)
    assert_allclose(crps_mixture.pointwise(y, mu[:, None], sd[:, None]), crps_gaussian.pointwise(y, mu, sd), rtol=1e-12)
    monkeypatch.setattr(scores, "_MIXTURE_CHUNK", 40)  # a few rows per chunk: same numbers
    assert_allclose(crps_mixture.pointwise(y, loc, scale, w), ours, rtol=1e-14)


def test_pinball_matches_sklearn_and_crps_quantile(data):
    y, mu, sd, _ = data
    for level in (0.05, 0.5, 0.9):
        q = mu + sd * ndtri(level)
        assert pinball_loss(y, q, level) == pytest.approx(mean_pinball_loss(y, q, alpha=level), rel=1e-12)
    levels = np.array([0.1, 0.3, 0.5, 0.7, 0.9])
    q = mu[:, None] + sd[:, None] * ndtri(levels)[None, :]
    per_level = np.stack([pinball_loss.pointwise(y, q[:, j], lv) for j, lv in enumerate(levels)], 1)
    assert_allclose(pinball_loss.pointwise(y, q, levels), per_level.mean(1), rtol=1e-12)
    assert_allclose(2 * pinball_loss.pointwise(y, q, levels), sr.crps_quantile(y, q, levels), rtol=1e-12)


def test_interval_metrics(data):
    y, mu, sd, _ = data
    lo, hi = mu - 1.64 * sd, mu + 1.64 * sd
    inside = (lo <= y) & (y <= hi)
    assert interval_coverage(y, lo, hi) == pytest.approx(inside.mean())
    assert interval_width(lo, hi) == pytest.approx(np.mean(hi - lo))
    assert_allclose(interval_score.pointwise(y, lo, hi, 0.1), sr.interval_score(y, lo, hi, 0.1), rtol=1e-12)
    # hand value: width 2, y 1 below the lower end, alpha 0.5 -> 2 + (2/0.5) * 1 = 6
    assert interval_score([-2.0], [-1.0], [1.0], 0.5) == pytest.approx(6.0)
    assert interval_coverage([1.0, 2.0], [1.0, 0.0], [1.0, 1.5]) == 0.5  # closed interval, y == lower counts


def test_mean_score_is_mean_type():
    s = np.array([1.0, 2.0, 6.0])
    assert mean_score(s) == 3.0
    assert_allclose(mean_score.pointwise(s), s)
    assert mean_score.transform is None
