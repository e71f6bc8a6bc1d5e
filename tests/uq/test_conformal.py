"""Split conformal and CQR: the finite-sample coverage guarantee, checked over many exchangeable draws."""

import logging
import math

import numpy as np
import pytest

from trustbench.uq.conformal import CQR, SplitConformal, conformal_quantile

CHEAP = "tests.uq.helpers:LeastSquares"


def draw(n, rng):
    """Exchangeable rows with skewed, heteroscedastic noise: the linear Gaussian base is misspecified."""
    X = rng.uniform(-2, 2, size=(n, 1))
    return X, 1.0 + 2.0 * X[:, 0] + (0.2 + 0.5 * np.abs(X[:, 0])) * (rng.exponential(size=n) - 1.0)


def test_conformal_quantile_is_the_finite_sample_rank():
    scores = np.random.default_rng(0).permutation(np.arange(1.0, 20.0))  # n = 19
    assert conformal_quantile(scores, 0.9) == 18.0  # ⌈20 · 0.9⌉ = 18
    assert conformal_quantile(scores, 0.5) == 10.0  # ⌈10⌉ = 10
    assert conformal_quantile(scores, 0.96) == 19.0  # ⌈19.2⌉ = 20 > n: the largest score


@pytest.mark.parametrize("cls", [SplitConformal, CQR])
def test_marginal_coverage_over_many_seeds(cls):
    """With n_cal = 24 the 90 % interval covers with probability ⌈25 · 0.9⌉ / 25 = 0.92 exactly
    (continuous scores), inside the guarantee [0.90, 0.90 + 1/25]; the 80 % one with 20/25 = 0.80."""
    n_seeds, n_cal = 300, 24
    covered = {0.9: [], 0.8: []}
    for seed in range(n_seeds):
        rng = np.random.default_rng(seed)
        X, y = draw(32, rng)
        Xt, yt = draw(400, rng)
        pred = cls(base=CHEAP, cal_fraction=0.75).fit(X, y, seed=seed).predict(Xt)
        assert pred.__class__.__name__ == "Quantiles"
        for level in covered:
            lo, hi = pred.interval(level)
            covered[level].append(np.mean((lo <= yt) & (yt <= hi)))
    for level, cov in covered.items():
        mean, se = np.mean(cov), np.std(cov) / np.sqrt(n_seeds)
        exact = math.ceil((n_cal + 1) * level - 1e-12) / (n_cal + 1)
        assert abs(mean - exact) < 4 * se, (level, mean, exact, se)
        assert level - 3 * se <= mean <= level + 1 / (n_cal + 1) + 3 * se


def test_split_conformal_band_is_symmetric_around_the_base_mean():
    rng = np.random.default_rng(0)
    X, y = draw(200, rng)
    m = SplitConformal(base=CHEAP).fit(X, y, seed=1)
    pred = m.predict(X[:20])
    mean = m.base_.predict(X[:20]).mean()
    np.testing.assert_allclose(pred.values + pred.values[:, ::-1], np.repeat(2 * mean[:, None], 21, axis=1), atol=1e-12)
    widths = pred.values[:, -1] - pred.values[:, 0]
    assert np.ptp(widths) < 1e-12 and widths[0] > 0
    assert m.n_cal_ == 50


def test_cqr_keeps_adaptive_widths_and_sorted_quantiles():
    """CQR moves every pair of base quantiles out (or in) by one constant, then sorts: the base's
    width profile survives."""
    rng = np.random.default_rng(0)
    X, y = draw(400, rng)
    m = CQR(base="quantile_mlp", base_params={"steps": 300, "hidden": (16,)}).fit(X, y, seed=0)
    Xt = np.linspace(-2, 2, 9)[:, None]
    pred, base = m.predict(Xt), m.base_.predict(Xt).quantile(m.levels_)
    np.testing.assert_allclose(pred.values, np.sort(base + m.shift_, axis=1), atol=1e-12)
    np.testing.assert_allclose(m.shift_, -m.shift_[::-1], atol=1e-15)
    lo, hi = np.searchsorted(m.levels_, [0.05, 0.95])
    width = pred.values[:, hi] - pred.values[:, lo]
    assert width[0] > 1.5 * width[4] and width[-1] > 1.5 * width[4]  # noise sd 1.2 at |x| = 2, 0.2 at 0


def test_warns_when_calibration_is_too_small_for_a_level(caplog):
    rng = np.random.default_rng(0)
    X, y = draw(40, rng)  # n_cal = 10: ⌈11 · 0.95⌉ = 11 > 10
    with caplog.at_level(logging.WARNING, logger="trustbench"):
        SplitConformal(base=CHEAP).fit(X, y, seed=0)
    assert "too few for the central levels [0.95]" in caplog.text
