"""Recalibration, conformal prediction sets and selective risk for binary classifiers."""

import math

import numpy as np
import pytest
from scipy.special import expit, logit
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss

from trustbench.uq.classification import (
    IsotonicCalibration,
    MondrianConformalClassifier,
    PlattScaling,
    SplitConformalClassifier,
    TemperatureScaling,
    conformal_scores,
    recalibrator,
    selective_risk,
)


def draw(n, rng, scale=2.0):
    """True logits z, labels y ~ Bernoulli(σ(z))."""
    z = rng.normal(0.0, scale, size=n)
    return z, rng.binomial(1, expit(z))


def ece(p, y, bins=10):
    """Binned expected calibration error (equal-width bins), written independently of the package."""
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        m = (p >= lo) & ((p < hi) if hi < 1 else (p <= hi))
        if m.any():
            total += m.sum() / len(p) * abs(p[m].mean() - y[m].mean())
    return total


# ----------------------------------------------------------------------------------- recalibration


@pytest.mark.parametrize("true_t", [3.0, 0.5])
def test_temperature_scaling_recovers_a_known_temperature(true_t):
    """p = σ(T·z) with y ~ Bernoulli(σ(z)): the fitted temperature is T (MLE, n = 20000)."""
    rng = np.random.default_rng(1)
    z, y = draw(20_000, rng)
    cal = TemperatureScaling().fit(expit(true_t * z), y)
    assert cal.temperature_ == pytest.approx(true_t, rel=0.06)
    # independent check: a grid search of the NLL finds the same minimiser
    grid = np.exp(np.linspace(np.log(true_t) - 0.3, np.log(true_t) + 0.3, 121))
    nll = [log_loss(y, expit(true_t * z / t)) for t in grid]
    assert cal.temperature_ == pytest.approx(grid[int(np.argmin(nll))], rel=3e-3)


def test_platt_scaling_recovers_slope_and_intercept_and_matches_sklearn():
    """logit(p) = (z − b)/a, so σ(a·logit(p) + b) = σ(z) is the truth: (a, b) = (2, −0.7)."""
    rng = np.random.default_rng(2)
    z, y = draw(20_000, rng)
    a, b = 2.0, -0.7
    p = expit((z - b) / a)
    cal = PlattScaling().fit(p, y)
    assert cal.a_ == pytest.approx(a, rel=0.06)
    assert cal.b_ == pytest.approx(b, abs=0.08)
    ref = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(logit(p)[:, None], y)
    assert cal.a_ == pytest.approx(ref.coef_[0, 0], rel=1e-5)
    assert cal.b_ == pytest.approx(ref.intercept_[0], abs=1e-5)
    np.testing.assert_allclose(cal.transform(p), ref.predict_proba(logit(p)[:, None])[:, 1], atol=1e-6)


def test_platt_smoothed_targets_stay_finite_on_separable_data():
    p = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    y = np.array([0, 0, 0, 1, 1, 1])
    cal = PlattScaling(smooth_targets=True).fit(p, y)
    assert np.isfinite([cal.a_, cal.b_]).all() and cal.a_ > 0
    # independent check: soft targets t = 1/(3+2), 4/(3+2) are a weighted logistic regression with
    # every row once as y = 1 (weight t) and once as y = 0 (weight 1 − t)
    t = np.where(y == 1, 4 / 5, 1 / 5)
    x = np.concatenate([logit(p), logit(p)])[:, None]
    ref = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(
        x, np.r_[np.ones(6), np.zeros(6)], sample_weight=np.r_[t, 1 - t]
    )
    assert cal.a_ == pytest.approx(ref.coef_[0, 0], rel=1e-5)
    assert cal.b_ == pytest.approx(ref.intercept_[0], abs=1e-6)
    with pytest.warns(UserWarning, match="did not converge"):
        PlattScaling(max_iter=200).fit(p, y)  # plain MLE: the slope runs off to infinity


def test_isotonic_is_monotone_reduces_ece_and_matches_sklearn():
    rng = np.random.default_rng(3)
    z, y = draw(8000, rng)
    p = expit(2.5 * z + 0.8)  # over-confident and shifted
    z2, y2 = draw(8000, rng)
    p2 = expit(2.5 * z2 + 0.8)
    cal = IsotonicCalibration().fit(p, y)
    out = cal.transform(p2)
    order = np.argsort(p2)
    assert np.all(np.diff(out[order]) >= -1e-12)
    assert ece(out, y2) < 0.5 * ece(p2, y2)
    ref = IsotonicRegression(out_of_bounds="clip").fit(p, y)
    np.testing.assert_allclose(out, ref.predict(p2), atol=1e-12)


@pytest.mark.parametrize("name", ["temperature", "platt", "isotonic"])
def test_every_recalibrator_keeps_values_in_unit_interval_and_improves_nll(name):
    rng = np.random.default_rng(4)
    z, y = draw(4000, rng)
    p = expit(3.0 * z - 0.5)
    z2, y2 = draw(4000, rng)
    p2 = expit(3.0 * z2 - 0.5)
    cal = recalibrator(name).fit(p, y)
    extremes = np.array([0.0, 1e-300, 0.5, 1 - 1e-16, 1.0])
    for out in (cal.transform(p2), cal.transform(extremes)):
        assert np.all((out >= 0) & (out <= 1)) and np.isfinite(out).all()
    assert ece(cal.transform(p2), y2) < ece(p2, y2)
    if name != "isotonic":  # isotonic is a step function and can give exact 0/1 on new rows
        assert log_loss(y2, cal.transform(p2)) < log_loss(y2, p2)


def test_recalibrator_factory_returns_fresh_instances_and_rejects_unknown_names():
    a, b = recalibrator("platt"), recalibrator("platt")
    assert isinstance(a, PlattScaling) and a is not b
    with pytest.raises(ValueError, match="name must be one of.*isotonic.*platt.*temperature"):
        recalibrator("platts")


@pytest.mark.parametrize("cls", [TemperatureScaling, PlattScaling, IsotonicCalibration])
def test_recalibrators_validate_inputs(cls):
    with pytest.raises(ValueError, match=r"^p must hold probabilities"):
        cls().fit([0.2, 1.3], [0, 1])
    with pytest.raises(ValueError, match=r"^y must hold binary labels"):
        cls().fit([0.2, 0.3], [0, 2])
    with pytest.raises(ValueError, match="same length"):
        cls().fit([0.2, 0.3], [0, 1, 1])
    with pytest.raises(ValueError, match=r"^p must be finite"):
        cls().fit([0.2, np.nan], [0, 1])
    with pytest.raises(ValueError, match=r"^p must be 1-D"):
        cls().fit([[0.2, 0.3]], [0])
    with pytest.raises(RuntimeError, match="not fitted"):
        cls().transform([0.5])
    fitted = cls().fit([0.2, 0.4, 0.6, 0.8], [0, 1, 0, 1])
    with pytest.raises(ValueError, match=r"^p must hold probabilities"):
        fitted.transform([-0.1])


# ----------------------------------------------------------------------------------- conformal


def test_scores_by_hand():
    p = np.array([0.9, 0.3, 0.5])
    np.testing.assert_allclose(conformal_scores(p, "lac"), [[0.9, 0.1], [0.3, 0.7], [0.5, 0.5]])
    # APS, two classes: π_c for the more likely class, 1 for the other; 0.5 for both on a tie
    np.testing.assert_allclose(conformal_scores(p, "aps"), [[1.0, 0.9], [0.7, 1.0], [0.5, 0.5]])
    with pytest.raises(ValueError, match="score must be one of"):
        conformal_scores(p, "raps")


@pytest.mark.parametrize("alpha", [0.1, 0.2, 0.05])
def test_threshold_is_the_finite_sample_quantile(alpha):
    """q̂ is the k-th smallest score, k = ⌈(n+1)(1−α)⌉: NumPy's inverted-CDF quantile at k/n.
    (NumPy's method="higher" at k/n would give the (k+1)-th smallest: conservative by one rank.)"""
    rng = np.random.default_rng(5)
    z, y = draw(101, rng)
    p = expit(z + rng.normal(size=101))
    cc = SplitConformalClassifier(alpha=alpha).fit(p, y)
    scores = 1.0 - np.where(y == 1, p, 1 - p)
    n = len(scores)
    k = math.ceil((n + 1) * (1 - alpha))
    assert cc.threshold_ == np.quantile(scores, k / n, method="inverted_cdf") == np.sort(scores)[k - 1]
    sets = cc.predict_sets(p)
    assert sets.shape == (n, 2) and sets.dtype == bool
    # calibration rows: at least ⌈(n+1)(1−α)⌉ of them hold their own label
    assert sets[np.arange(n), y].sum() >= math.ceil((n + 1) * (1 - alpha))


def test_too_few_calibration_rows_give_full_sets():
    cc = SplitConformalClassifier(alpha=0.1).fit([0.9, 0.2, 0.6, 0.1, 0.7], [1, 0, 1, 0, 0])  # ⌈6·0.9⌉ = 6 > 5
    assert cc.threshold_ == 1.0
    assert cc.predict_sets(np.array([0.0, 0.5, 1.0])).all()


@pytest.mark.parametrize("score", ["lac", "aps"])
def test_split_conformal_marginal_coverage_over_many_seeds(score):
    """For exchangeable rows the coverage is exactly k/(n+1), k = ⌈(n+1)(1−α)⌉, with continuous scores.

    n = 45, α = 0.1: k = 42 and 42/46 = 0.913, inside the guarantee [0.9, 0.9 + 1/46]. The mean
    over 300 seeds must land in that band up to 3.5 Monte-Carlo standard errors (the per-seed
    coverage is Beta(k, n + 1 − k) distributed, sd ≈ 0.04, so the MC error is ≈ 0.0025).

    Binary APS gives every row whose top class is wrong the same score 1: with those ties only the
    lower bound holds, so APS is checked on an accurate model (few ties) for 1 − α ≤ coverage < 1.
    """
    alpha, n_cal, n_test = 0.1, 45, 500
    scale = 1.0 if score == "lac" else 6.0
    cover = []
    for seed in range(300):
        rng = np.random.default_rng(seed)
        z, y = draw(n_cal + n_test, rng, scale=scale)
        p = expit(1.5 * z + 0.3 * rng.normal(size=len(z)))  # a miscalibrated, noisy model
        cc = SplitConformalClassifier(alpha=alpha, score=score).fit(p[:n_cal], y[:n_cal])
        sets = cc.predict_sets(p[n_cal:])
        cover.append(sets[np.arange(n_test), y[n_cal:]].mean())
    cover = np.array(cover)
    mean, se = cover.mean(), cover.std(ddof=1) / np.sqrt(len(cover))
    assert mean >= 1 - alpha - 3.5 * se
    if score == "lac":
        k = math.ceil((n_cal + 1) * (1 - alpha))
        assert mean <= 1 - alpha + 1 / (n_cal + 1) + 3.5 * se
        assert mean == pytest.approx(k / (n_cal + 1), abs=3.5 * se)
    else:
        assert mean < 0.97  # not trivially the full set


def _two_groups(n, rng):
    """Group 0 (70 %): a calibrated, confident model. Group 1 (30 %): an over-confident model of a
    hard problem (p = σ(4z) for y ~ Bernoulli(σ(z)), z ~ N(0, 1))."""
    g = (rng.uniform(size=n) < 0.3).astype(int)
    z = np.where(g == 0, rng.normal(0, 3.0, n), rng.normal(0, 1.0, n))
    y = rng.binomial(1, expit(z))
    p = np.where(g == 0, expit(z), expit(4.0 * z))
    return p, y, g


def test_mondrian_covers_every_group_where_pooled_conformal_does_not():
    alpha, n_cal, n_test, n_seeds = 0.1, 400, 2000, 150
    per_group = {"mondrian": [], "pooled": []}
    for seed in range(n_seeds):
        rng = np.random.default_rng(seed)
        p, y, g = _two_groups(n_cal + n_test, rng)
        cal, test = slice(0, n_cal), slice(n_cal, None)
        mond = MondrianConformalClassifier(alpha=alpha).fit(p[cal], y[cal], g[cal])
        pooled = SplitConformalClassifier(alpha=alpha).fit(p[cal], y[cal])
        for key, sets in (("mondrian", mond.predict_sets(p[test], g[test])), ("pooled", pooled.predict_sets(p[test]))):
            hit = sets[np.arange(n_test), y[test]]
            per_group[key].append([hit[g[test] == k].mean() for k in (0, 1)])
    mond, pooled = np.array(per_group["mondrian"]), np.array(per_group["pooled"])
    se = mond.std(axis=0, ddof=1) / np.sqrt(n_seeds)
    assert np.all(mond.mean(axis=0) >= 1 - alpha - 3 * se)
    # pooled conformal still covers marginally but under-covers the hard group by a wide margin
    assert pooled[:, 1].mean() < 1 - alpha - 0.05
    assert pooled[:, 0].mean() > 1 - alpha


def test_mondrian_thresholds_match_per_group_split_conformal_and_edge_cases():
    rng = np.random.default_rng(7)
    p, y, g = _two_groups(600, rng)
    labels = np.array(["icu", "ward"])[g]
    labels[:5] = "rare"  # 5 rows: ⌈6 · 0.9⌉ = 6 > 5, too few for α = 0.1
    mond = MondrianConformalClassifier(alpha=0.1, score="aps").fit(p, y, labels)
    for name in ("icu", "ward"):
        m = labels == name
        ref = SplitConformalClassifier(alpha=0.1, score="aps").fit(p[m], y[m]).threshold_
        assert mond.thresholds_[name] == ref
    assert mond.thresholds_["rare"] == 1.0 and mond.group_sizes_["rare"] == 5
    assert mond.threshold_ == SplitConformalClassifier(alpha=0.1, score="aps").fit(p, y).threshold_
    new = np.array([0.01, 0.5, 0.99, 0.3])
    thr = mond.thresholds_for(["unseen", "rare", "icu", "unseen"])
    np.testing.assert_array_equal(thr, [mond.threshold_, 1.0, mond.thresholds_["icu"], mond.threshold_])
    assert mond.predict_sets(new, ["unseen", "rare", "icu", "unseen"])[1].all()


def test_conformal_validates_inputs():
    with pytest.raises(ValueError, match=r"^alpha must lie in"):
        SplitConformalClassifier(alpha=1.5).fit([0.5, 0.2], [0, 1])
    with pytest.raises(ValueError, match="score must be one of"):
        SplitConformalClassifier(score="bad").fit([0.5, 0.2], [0, 1])
    with pytest.raises(ValueError, match=r"^p_cal must hold probabilities"):
        SplitConformalClassifier().fit([0.5, 2.0], [0, 1])
    with pytest.raises(ValueError, match=r"^y_cal must hold binary labels"):
        SplitConformalClassifier().fit([0.5, 0.2], [0, 3])
    with pytest.raises(RuntimeError, match="not fitted"):
        SplitConformalClassifier().predict_sets([0.5])
    with pytest.raises(ValueError, match="same length"):
        MondrianConformalClassifier().fit([0.5, 0.2], [0, 1], [0, 1, 1])
    with pytest.raises(ValueError, match=r"^groups_cal must not contain NaN"):
        MondrianConformalClassifier().fit([0.5, 0.2], [0, 1], [0.0, np.nan])
    mond = MondrianConformalClassifier().fit([0.5, 0.2], [0, 1], [0, 1])
    with pytest.raises(ValueError, match="same length"):
        mond.predict_sets([0.5, 0.2], [0])
    with pytest.raises(ValueError, match=r"^groups must be 1-D"):
        mond.predict_sets([0.5], [[0]])


# ----------------------------------------------------------------------------------- selective risk


def test_selective_risk_by_hand_and_against_sklearn():
    y = np.array([1, 0, 1, 0, 1, 0])
    p = np.array([0.95, 0.9, 0.4, 0.1, 0.55, 0.5])
    # confidence: .95 .9 .6 .9 .55 .5 -> order 0, 1, 3, 2, 4, 5; predictions 1 1 0 0 1 0
    assert selective_risk(y, p, 1.0) == pytest.approx(1 - accuracy_score(y, p > 0.5))
    assert selective_risk(y, p, 1 / 6) == 0.0  # row 0 right
    assert selective_risk(y, p, 2 / 6) == 0.5  # row 1 wrong
    assert selective_risk(y, p, 0.5) == pytest.approx(1 / 3)  # rows 0, 1, 3
    assert selective_risk(y, p, 4 / 6) == 0.5  # + row 2 wrong
    assert selective_risk(y, p, 0.01) == 0.0  # at least one row is kept


def test_selective_risk_falls_with_coverage_for_a_calibrated_model():
    rng = np.random.default_rng(8)
    z, y = draw(20_000, rng)
    p = expit(z)
    risks = [selective_risk(y, p, c) for c in (1.0, 0.8, 0.5, 0.2)]
    assert all(a > b for a, b in zip(risks[:-1], risks[1:], strict=True))
    # the expected error on the kept rows is the mean of min(p, 1 − p) there
    keep = np.argsort(-np.maximum(p, 1 - p))[:10_000]
    assert risks[2] == pytest.approx(np.minimum(p, 1 - p)[keep].mean(), abs=0.01)


def test_selective_risk_validates_inputs():
    with pytest.raises(ValueError, match=r"^coverage must lie in \(0, 1\]"):
        selective_risk([0, 1], [0.2, 0.8], 0.0)
    with pytest.raises(ValueError, match=r"^coverage must lie in"):
        selective_risk([0, 1], [0.2, 0.8], 1.2)
    with pytest.raises(ValueError, match=r"^y must hold binary labels"):
        selective_risk([0, 0.5], [0.2, 0.8], 0.5)
