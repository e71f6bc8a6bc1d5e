"""Binary-classification metrics against scikit-learn, fairlearn, scipy, closed forms and hand
computations; the cluster bootstrap against the row bootstrap, its fast paths against its loop, and
its coverage on clustered data."""

import itertools

import numpy as np
import pytest
from scipy import optimize, special
from sklearn import calibration as skcal
from sklearn import metrics as skm

from trustbench.metrics import classification as cls
from trustbench.metrics.bootstrap import CI, bootstrap_ci
from trustbench.metrics.classification import (
    ate_error,
    aurc,
    auprc,
    auroc,
    brier,
    calibration_curve,
    calibration_intercept,
    calibration_intercept_slope,
    calibration_slope,
    cluster_bootstrap_ci,
    decision_curve,
    ece,
    equalized_odds_difference,
    log_loss,
    max_gap,
    net_benefit,
    pehe,
    risk_coverage_curve,
    set_coverage,
    set_size,
    subgroup_metric,
    true_risk_ece,
    true_risk_mae,
)
from trustbench.metrics.scores import mean_score


def sample(n, seed, ties=False, scale=1.0):
    rng = np.random.default_rng(seed)
    p_true = special.expit(rng.normal(-0.5, 1.2, n))
    y = (rng.uniform(size=n) < p_true).astype(int)
    p = special.expit(scale * special.logit(p_true) + rng.normal(0, 0.5, n))
    return y, (np.round(p, 1) if ties else p), p_true


def plain(metric):
    """The same metric without .pointwise/.weighted: forces the per-replicate loop."""
    return lambda *arrays: metric(*arrays)


# ------------------------------------------------------------------------------ sklearn references


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_discrimination_and_scores_match_sklearn(ties, seed):
    y, p, _ = sample(400, seed, ties)
    assert auroc(y, p) == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)
    assert auprc(y, p) == pytest.approx(skm.average_precision_score(y, p), abs=1e-12)
    assert brier(y, p) == pytest.approx(skm.brier_score_loss(y, p), abs=1e-12)
    assert log_loss(y, p) == pytest.approx(skm.log_loss(y, p), abs=1e-12)


def test_log_loss_clips_like_sklearn():
    y, p = np.array([1, 0, 1, 0]), np.array([0.0, 1.0, 1.0, 0.3])
    assert np.isfinite(log_loss(y, p))
    assert log_loss(y, p) == pytest.approx(skm.log_loss(y, p), rel=1e-12)


def test_one_class_gives_nan():
    y, p = np.ones(5), np.linspace(0.1, 0.9, 5)
    assert np.isnan(auroc(y, p)) and np.isnan(auprc(y, p))
    assert np.isnan(auroc(1 - y, p)) and np.isnan(auprc(1 - y, p))
    assert np.isnan(calibration_slope(y, p)) and np.isnan(calibration_intercept(y, p))
    assert all(np.isnan(calibration_intercept_slope(y, p)))


def test_auroc_perfect_and_reversed():
    y = np.array([0, 0, 1, 1])
    assert auroc(y, [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert auroc(y, [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert auroc(y, [0.5, 0.5, 0.5, 0.5]) == 0.5  # all tied: each pair counts 1/2


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
@pytest.mark.parametrize("n_bins", [1, 5, 10, 17])
def test_calibration_curve_matches_sklearn(strategy, n_bins):
    y, p, _ = sample(500, 3, ties=True)  # ties put rows on bin edges
    curve = calibration_curve(y, p, n_bins=n_bins, strategy=strategy)
    prob_true, prob_pred = skcal.calibration_curve(y, p, n_bins=n_bins, strategy=strategy)
    np.testing.assert_allclose(curve["prob_true"], prob_true, atol=1e-12)
    np.testing.assert_allclose(curve["prob_pred"], prob_pred, atol=1e-12)
    assert curve["count"].sum() == len(y) and (curve["count"] > 0).all()
    # ECE from the same bins: Σ (n_b / n) |prob_true - prob_pred|
    want = np.sum(curve["count"] * np.abs(prob_true - prob_pred)) / len(y)
    assert ece(y, p, n_bins=n_bins, strategy=strategy) == pytest.approx(want, abs=1e-12)


def test_ece_by_hand():
    y, p = np.array([0, 0, 1, 1]), np.array([0.1, 0.3, 0.6, 0.9])
    # two bins {0.1, 0.3} and {0.6, 0.9}: (2/4)|0 - 0.2| + (2/4)|1 - 0.75| = 0.1 + 0.125
    assert ece(y, p, n_bins=2) == pytest.approx(0.225)
    assert ece(y, p, n_bins=2, strategy="quantile") == pytest.approx(0.225)  # median 0.45 splits alike
    assert ece(y, p, n_bins=1) == pytest.approx(abs(0.5 - 0.475))
    # 0.5 lies on the edge of two uniform bins and goes to the lower one, as in sklearn
    assert ece([1, 0], [0.5, 0.6], n_bins=2) == pytest.approx(0.5 * 0.5 + 0.5 * 0.6)


def test_true_risk_metrics():
    _, p, p_true = sample(300, 4)
    assert true_risk_ece(p_true, p_true) == 0.0
    assert true_risk_mae(p_true, p) == pytest.approx(np.mean(np.abs(p - p_true)))
    # by hand: bins {0.2, 0.4} and {0.7}: (2/3)|0.25 - 0.3| + (1/3)|0.9 - 0.7|
    assert true_risk_ece([0.1, 0.4, 0.9], [0.2, 0.4, 0.7], n_bins=2) == pytest.approx(
        2 / 3 * 0.05 + 1 / 3 * 0.2
    )
    assert true_risk_ece(p_true, p, n_bins=10) <= true_risk_mae(p_true, p) + 1e-12  # Jensen


# ------------------------------------------------------------------------------ calibration regression


def _nll(beta, X, y, offset):
    eta = X @ beta + offset
    return np.sum(np.logaddexp(0, eta) - y * eta)


def test_intercept_and_slope_match_a_generic_optimiser():
    y, p, _ = sample(800, 5, scale=1.4)
    z = special.logit(p)
    X = np.column_stack([np.ones_like(z), z])
    ref = optimize.minimize(_nll, [0.0, 1.0], args=(X, y, 0.0), method="BFGS", options={"gtol": 1e-10}).x
    ref_a = optimize.minimize_scalar(lambda a: _nll(np.array([a]), X[:, :1], y, z)).x
    a, b = calibration_intercept_slope(y, p)
    assert b == pytest.approx(ref[1], abs=1e-5)
    assert a == pytest.approx(ref_a, abs=1e-5)
    assert calibration_slope(y, p) == b and calibration_intercept(y, p) == a
    # and the slope against sklearn's unpenalised logistic regression
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(z[:, None], y)
    assert b == pytest.approx(lr.coef_[0, 0], abs=1e-4)


def _fisher_se(X, y, beta, offset=0.0):
    mu = special.expit(X @ beta + offset)
    return np.sqrt(np.diag(np.linalg.inv(X.T @ (X * (mu * (1 - mu))[:, None]))))


@pytest.mark.parametrize(
    ("scale", "shift", "slope", "intercept"),
    [(1.0, 0.0, 1.0, 0.0), (2.0, 0.0, 0.5, None), (1.0, -1.0, 1.0, 1.0)],
)
def test_calibration_closed_forms(scale, shift, slope, intercept):
    """p = sigmoid(scale·logit(p_true) + shift) with y ~ Bernoulli(p_true): slope 1/scale, and for
    scale 1 the offset intercept -shift; within 4 standard errors."""
    rng = np.random.default_rng(11)
    p_true = special.expit(rng.normal(-0.3, 1.0, 20_000))
    y = (rng.uniform(size=p_true.size) < p_true).astype(float)
    p = special.expit(scale * special.logit(p_true) + shift)
    a, b = calibration_intercept_slope(y, p)
    z = special.logit(p)
    X = np.column_stack([np.ones_like(z), z])
    se_b = _fisher_se(X, y, np.array([0.0, 1 / scale]) - np.array([shift / scale, 0]))[1]
    assert abs(b - slope) < 4 * se_b
    if intercept is not None:
        se_a = _fisher_se(X[:, :1], y, np.array([intercept]), z)[0]
        assert abs(a - intercept) < 4 * se_a


def test_constant_p_slope_is_nan_but_intercept_is_the_log_odds_shift():
    y = np.array([0, 1, 1, 0, 1])
    a, b = calibration_intercept_slope(y, np.full(5, 0.3))
    assert np.isnan(b)
    assert a == pytest.approx(special.logit(0.6) - special.logit(0.3))  # closed form


# -------------------------------------------------------------------------------------- decisions


def test_net_benefit_by_hand():
    y, p = np.array([1, 1, 0, 0, 1]), np.array([0.9, 0.4, 0.6, 0.2, 0.7])
    assert net_benefit(y, p, 0.5) == pytest.approx(2 / 5 - 1 / 5 * 1.0)  # treat rows 0, 2, 4
    assert net_benefit(y, p, 0.25) == pytest.approx(3 / 5 - 1 / 5 * (0.25 / 0.75))
    assert net_benefit(y, p, 0.6) == pytest.approx(2 / 5 - 1 / 5 * 1.5)  # p == t is treated
    assert net_benefit(y, p, 0.95) == 0.0


def test_decision_curve():
    y, p, _ = sample(300, 6, ties=True)
    t = np.array([0.05, 0.1, 0.2, 0.3, 0.5, 0.8])
    dc = decision_curve(y, p, t)
    np.testing.assert_allclose(dc["model"], [net_benefit(y, p, ti) for ti in t], atol=1e-14)
    np.testing.assert_allclose(dc["treat_all"], [net_benefit(y, np.ones_like(p), ti) for ti in t], atol=1e-14)
    np.testing.assert_array_equal(dc["treat_none"], 0.0)
    np.testing.assert_array_equal(dc["threshold"], t)


# ----------------------------------------------------------------------------------------- fairness


@pytest.fixture
def grouped():
    y, p, _ = sample(600, 7)
    groups = np.random.default_rng(8).choice(np.array(["a", "b", "c"]), size=len(y))
    return y, p, groups


def test_subgroup_metric_and_gap_match_fairlearn(grouped):
    from fairlearn.metrics import MetricFrame

    y, p, groups = grouped
    mine = subgroup_metric(auroc, groups, y, p)
    mf = MetricFrame(metrics=skm.roc_auc_score, y_true=y, y_pred=p, sensitive_features=groups)
    assert list(mine) == ["a", "b", "c"]
    for g, v in mf.by_group.items():
        assert mine[g] == pytest.approx(v, abs=1e-12)
    assert max_gap(auroc, groups, y, p) == pytest.approx(mf.difference(), abs=1e-12)
    assert max_gap(brier, groups, y, p) == pytest.approx(
        MetricFrame(metrics=skm.brier_score_loss, y_true=y, y_pred=p, sensitive_features=groups).difference()
    )


def test_max_gap_is_nan_when_a_group_is_undefined():
    y, p = np.array([0, 1, 0, 1, 1, 1]), np.linspace(0.1, 0.9, 6)
    assert np.isnan(max_gap(auroc, [0, 0, 0, 0, 1, 1], y, p))  # group 1 holds only positives


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equalized_odds_difference_matches_fairlearn(grouped, seed):
    from fairlearn.metrics import equalized_odds_difference as fl_eod

    y, p, groups = grouped
    yhat = (p > np.random.default_rng(seed).uniform(0.2, 0.6)).astype(int)
    assert equalized_odds_difference(y, yhat, groups) == pytest.approx(
        fl_eod(y, yhat, sensitive_features=groups), abs=1e-12
    )
    assert equalized_odds_difference(y, y, groups) == 0.0  # perfect predictions


def test_equalized_odds_undefined_group_is_nan():
    assert np.isnan(equalized_odds_difference([0, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]))


# ------------------------------------------------------------------------- sets, effects, intervals


def test_sets():
    y = np.array([0, 1, 1, 0])
    sets = np.array([[True, False], [True, True], [True, False], [False, False]])
    assert set_coverage(y, sets) == pytest.approx(2 / 4)
    assert set_size(sets) == pytest.approx((1 + 2 + 1 + 0) / 4)
    assert set_coverage(y, sets.astype(int)) == set_coverage(y, sets)


def test_treatment_effects():
    rng = np.random.default_rng(9)
    tau = rng.normal(size=200)
    assert pehe(tau, tau + 0.3) == pytest.approx(0.3)
    assert ate_error(tau, tau + 0.3) == pytest.approx(0.3)
    noise = rng.normal(size=200)
    noise -= noise.mean()
    assert ate_error(tau, tau + noise) == pytest.approx(0.0, abs=1e-12)  # errors cancel in the mean
    assert pehe(tau, tau + noise) == pytest.approx(np.sqrt(np.mean(noise**2)))


def test_interval_coverage_is_the_scores_one():
    from trustbench.metrics.scores import interval_coverage

    assert cls.interval_coverage is interval_coverage
    assert cls.interval_coverage([1.0, 2.0, 5.0], [0.0, 2.5, 4.0], [1.5, 3.0, 5.0]) == pytest.approx(2 / 3)


# --------------------------------------------------------------------------------- selective prediction


def _brute_risk(y, p, loss):
    conf = np.maximum(p, 1 - p)
    order = np.argsort(-conf, kind="stable")
    per = ((p >= 0.5) != y).astype(float) if loss == "error" else (p - y) ** 2
    return np.array([per[order[:k]].mean() for k in range(1, len(y) + 1)])


@pytest.mark.parametrize("loss", ["error", "brier"])
def test_risk_coverage_without_ties_matches_brute_force(loss):
    y, p, _ = sample(200, 10)
    rc = risk_coverage_curve(y, p, loss=loss)
    np.testing.assert_allclose(rc["risk"], _brute_risk(y, p, loss), atol=1e-12)
    np.testing.assert_allclose(rc["coverage"], np.arange(1, 201) / 200)
    assert aurc(y, p, loss=loss) == pytest.approx(_brute_risk(y, p, loss).mean())


def test_risk_coverage_ties_are_order_free():
    y, p, _ = sample(300, 12, ties=True)
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(y))
    a, b = risk_coverage_curve(y, p), risk_coverage_curve(y[perm], p[perm])
    np.testing.assert_allclose(a["risk"], b["risk"], atol=1e-12)
    # by hand: the curve is the mean of the curves over all orders of the tied rows
    yt, pt = np.array([1, 0, 1, 0, 1]), np.array([0.9, 0.9, 0.7, 0.7, 0.7])  # errors: rows 1 and 3
    perms = [np.array(q) for q in itertools.permutations(range(5))]
    exact = np.mean([_brute_risk(yt[q], pt[q], "error") for q in perms], axis=0)
    np.testing.assert_allclose(exact, [1 / 2, 1 / 2, (1 + 1 / 3) / 3, (1 + 2 / 3) / 4, 2 / 5])
    np.testing.assert_allclose(risk_coverage_curve(yt, pt)["risk"], exact, atol=1e-12)
    assert a["risk"][-1] == pytest.approx(np.mean((p >= 0.5) != y))


def test_aurc_rewards_confidence_that_ranks_errors_last():
    y = np.array([1, 1, 0, 0])
    good = np.array([0.95, 0.45, 0.1, 0.2])  # the one error (row 1) has the lowest confidence, 0.55
    bad = np.array([0.55, 0.05, 0.1, 0.2])  # the one error (row 1) has the highest, 0.95
    assert aurc(y, good) == pytest.approx(np.mean([0, 0, 0, 1 / 4]))
    assert aurc(y, bad) == pytest.approx(np.mean([1, 1 / 2, 1 / 3, 1 / 4]))


# ------------------------------------------------------------------------------------ cluster bootstrap


def test_no_clusters_is_the_row_bootstrap():
    y, p, _ = sample(150, 13)
    for metric in (plain(auroc), brier):
        row = bootstrap_ci(metric, y, p, n_boot=300, seed=4)
        for clusters in (None, np.arange(150)):
            ci = cluster_bootstrap_ci(metric, y, p, clusters=clusters, n_boot=300, seed=4)
            assert ci.estimate == row.estimate
            assert (ci.low, ci.high) == pytest.approx((row.low, row.high), abs=1e-12)


def test_one_row_per_cluster_has_the_row_bootstrap_distribution():
    y, p, _ = sample(300, 14)
    labels = np.random.default_rng(1).permutation(10_000)[:300]  # distinct, unordered labels
    row = bootstrap_ci(auroc, y, p, n_boot=2000, seed=2)
    ci = cluster_bootstrap_ci(auroc, y, p, clusters=labels, n_boot=2000, seed=3)
    assert ci.high - ci.low == pytest.approx(row.high - row.low, rel=0.1)
    assert (ci.low + ci.high) / 2 == pytest.approx((row.low + row.high) / 2, abs=0.01)


@pytest.mark.parametrize("metric", [auroc, auprc, brier, log_loss])
def test_fast_paths_equal_the_loop(metric):
    y, p, _ = sample(240, 15, ties=True)
    clusters = np.random.default_rng(0).integers(0, 40, 240)
    fast = cluster_bootstrap_ci(metric, y, p, clusters=clusters, n_boot=200, seed=6)
    slow = cluster_bootstrap_ci(plain(metric), y, p, clusters=clusters, n_boot=200, seed=6)
    assert fast.estimate == slow.estimate
    assert (fast.low, fast.high) == pytest.approx((slow.low, slow.high), abs=1e-12)
    assert fast.low < fast.estimate < fast.high


def test_fast_path_replicates_equal_the_metric_on_concatenated_clusters():
    y, p, _ = sample(90, 16, ties=True)
    clusters = np.repeat(np.arange(30), 3)
    for metric in (auroc, auprc):
        f = cls._cluster_replicate_fn(metric, [y, p], clusters, 30)[0]
        idx = np.random.default_rng(0).integers(0, 30, (5, 30))
        rows_of = [np.concatenate([np.flatnonzero(clusters == g) for g in draw]) for draw in idx]
        want = [metric(y[r], p[r]) for r in rows_of]
        np.testing.assert_allclose(f(idx), want, atol=1e-12)


def test_duplicated_rows_widen_the_cluster_interval():
    y, p, _ = sample(200, 17)
    k = 5
    yy, pp, clusters = np.repeat(y, k), np.repeat(p, k), np.repeat(np.arange(200), k)
    for metric in (auroc, brier):
        naive = bootstrap_ci(metric, yy, pp, n_boot=500, seed=0)
        clus = cluster_bootstrap_ci(metric, yy, pp, clusters=clusters, n_boot=500, seed=0)
        ratio = (clus.high - clus.low) / (naive.high - naive.low)
        assert 1.6 < ratio < 2.9  # ≈ sqrt(5) = 2.24: the copies carry no new information
        single = cluster_bootstrap_ci(metric, y, p, n_boot=500, seed=0)
        assert clus.high - clus.low == pytest.approx(single.high - single.low, rel=0.15)


def test_cluster_interval_covers_a_clustered_mean():
    """95% cluster-bootstrap CIs for a mean over 200 clustered datasets cover the true mean
    0.9-0.99 of the time; the row bootstrap, ignoring the clusters, covers far less."""
    rng = np.random.default_rng(18)
    hits_cluster = hits_row = 0
    reps = 200
    for r in range(reps):
        sizes = rng.integers(5, 15, 60)
        clusters = np.repeat(np.arange(60), sizes)
        x = rng.normal(0, 1, 60)[clusters] + rng.normal(0, 0.5, clusters.size)
        ci = cluster_bootstrap_ci(mean_score, x, clusters=clusters, n_boot=400, seed=r)
        row = bootstrap_ci(mean_score, x, n_boot=400, seed=r)
        hits_cluster += ci.low <= 0 <= ci.high
        hits_row += row.low <= 0 <= row.high
    assert 0.9 <= hits_cluster / reps <= 0.99
    assert hits_row / reps < 0.8


def test_nan_replicates():
    rng = np.random.default_rng(19)
    n = 400
    clusters = np.repeat(np.arange(40), 10)
    p = rng.uniform(size=n)
    y_rare = np.zeros(n)
    y_rare[clusters == 0] = 1  # all positives in one cluster: ~37% of replicates lack it
    ci = cluster_bootstrap_ci(auroc, y_rare, p, clusters=clusters, n_boot=300)
    assert np.isfinite(ci.estimate) and np.isnan(ci.low) and np.isnan(ci.high)
    y_few = y_rare.copy()
    y_few[clusters < 3] = 1  # positives in three clusters: ~5% of replicates lack them all
    ci = cluster_bootstrap_ci(auroc, y_few, p, clusters=clusters, n_boot=300)
    assert ci.low < ci.estimate < ci.high


def test_degenerate_cluster_bootstrap():
    y, p, _ = sample(50, 20)
    one = cluster_bootstrap_ci(brier, y, p, clusters=np.zeros(50), n_boot=100)
    assert one.estimate == brier(y, p) and np.isnan(one.low) and np.isnan(one.high)
    none = cluster_bootstrap_ci(brier, y, p, n_boot=0)
    assert isinstance(none, CI) and np.isnan(none.low) and none.n == 50 and none.level == 0.95
    a = cluster_bootstrap_ci(auroc, y, p, clusters=np.arange(50) % 7, n_boot=50, seed=np.random.default_rng(1))
    assert a == cluster_bootstrap_ci(auroc, y, p, clusters=np.arange(50) % 7, n_boot=50, seed=1)
    strings = cluster_bootstrap_ci(auroc, y, p, clusters=(np.arange(50) % 7).astype(str), n_boot=50, seed=1)
    assert strings == a  # labels are only compared: their type is irrelevant


# --------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: auroc([0, 2, 1], [0.1, 0.2, 0.3]), "y must hold binary labels"),
        (lambda: brier([0, 1, 1], [0.1, 1.2, 0.3]), "p must hold probabilities in \\[0, 1\\]"),
        (lambda: log_loss([0, 1], [0.1, 0.2, 0.3]), "p must have one value per row"),
        (lambda: ece([0, 1], [0.1, np.nan]), "p must be finite"),
        (lambda: ece([0, 1], [0.1, 0.2], n_bins=0), "n_bins must be >= 1"),
        (lambda: ece([0, 1], [0.1, 0.2], strategy="quantiles"), "Did you mean 'quantile'"),
        (lambda: net_benefit([0, 1], [0.1, 0.2], 1.0), "threshold must lie strictly between 0 and 1"),
        (lambda: decision_curve([0, 1], [0.1, 0.2], [0.1, 0.0]), "thresholds must lie strictly"),
        (lambda: true_risk_ece([0.1, 1.5], [0.1, 0.2]), "p_true must hold probabilities"),
        (lambda: equalized_odds_difference([0, 1], [0, 0.5], [0, 1]), "yhat must hold binary labels"),
        (lambda: equalized_odds_difference([0, 1], [0, 1], [0, 1, 1]), "groups must have one label per row"),
        (lambda: set_coverage([0, 1], np.ones((2, 3), bool)), "sets must have shape \\(n, 2\\)"),
        (lambda: set_size(np.full((2, 2), 2)), "sets must be boolean"),
        (lambda: pehe([0.0, 1.0], [0.0]), "ite_hat must have one value per row"),
        (lambda: risk_coverage_curve([0, 1], [0.1, 0.2], loss="nll"), "loss must be one of"),
        (lambda: cluster_bootstrap_ci(brier, [0, 1], [0.1, 0.2], clusters=[0]), "clusters must have one label"),
        (lambda: cluster_bootstrap_ci(brier, [0, 1], [0.1, 0.2], n_boot=-1), "n_boot must be >= 0"),
        (lambda: cluster_bootstrap_ci(brier, [0, 1], [0.1], n_boot=5), "arrays\\[1\\] must have one row"),
        (lambda: cluster_bootstrap_ci(brier, [0, 1], [0.1, 0.2], level=1.0), "level must lie strictly"),
        (lambda: subgroup_metric(brier, [0, 1, 1], [0, 1], [0.1, 0.2]), "groups must have one label per row"),
    ],
)
def test_bad_input_names_the_parameter(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: ece([0, 1], [0.1, 0.2], n_bins=2.0), "n_bins must be an integer"),
        (lambda: cluster_bootstrap_ci("auroc", [0, 1], [0.1, 0.2]), "metric must be callable"),
        (lambda: subgroup_metric(brier, None, [0, 1], [0.1, 0.2]), "groups must be"),
        (lambda: auroc(None, [0.1]), "y must be an array"),
    ],
)
def test_bad_types_name_the_parameter(call, match):
    with pytest.raises(TypeError, match=match):
        call()


@pytest.mark.parametrize(
    "metric, kwargs",
    [
        (ece, {"n_bins": 10, "strategy": "uniform"}),
        (calibration_intercept, {}),
        (calibration_slope, {}),
        (net_benefit, {"threshold": 0.2}),
    ],
)
@pytest.mark.parametrize("ties", [False, True])
def test_weighted_forms_equal_the_metric_on_repeated_rows(metric, kwargs, ties):
    """The vectorised bootstrap path of each metric: integer weights = the rows repeated."""
    y, p, _ = sample(120, 22, ties=ties)
    order, f = metric.weighted(y, p, **kwargs)
    w = np.random.default_rng(1).integers(0, 4, (6, 120)).astype(float)
    got = f(w)
    for r in range(len(w)):
        rows_ = np.repeat(order, w[r].astype(int))
        assert got[r] == pytest.approx(metric(y[rows_], p[rows_], **kwargs), abs=1e-9)


def test_true_risk_ece_weighted_form():
    y, p, p_true = sample(100, 23)
    order, f = true_risk_ece.weighted(p_true, p)
    w = np.random.default_rng(2).integers(0, 3, (4, 100)).astype(float)
    want = [true_risk_ece(p_true[np.repeat(order, r.astype(int))], p[np.repeat(order, r.astype(int))]) for r in w]
    np.testing.assert_allclose(f(w), want, atol=1e-12)
    assert ece.weighted(y, p, strategy="quantile") is None  # equal-mass edges move: per-replicate call


@pytest.mark.parametrize("ties", [False, True])
def test_fairness_gaps_weighted_forms_equal_the_metric_on_repeated_rows(ties):
    """Group gaps in the bootstrap: weights = repeated rows; a group absent from a replicate is left out."""
    from trustbench.metrics.classification import group_gap

    y, p, _ = sample(150, 24, ties=ties)
    groups = np.random.default_rng(3).choice(np.array(["a", "b", "c"]), size=150)
    treat = (p >= 0.3).astype(float)
    w = np.random.default_rng(4).integers(0, 3, (8, 150)).astype(float)
    w[0, groups == "c"] = 0  # one group absent
    gap = group_gap(auroc)
    for metric, arrays in ((gap, (y, p, groups)), (equalized_odds_difference, (y, treat, groups))):
        order, f = metric.weighted(*arrays)
        got = f(w)
        for r in range(len(w)):
            rows_ = np.repeat(order, w[r].astype(int))
            want = metric(*(a[rows_] for a in arrays))
            assert got[r] == pytest.approx(want, abs=1e-12, nan_ok=True)
    assert gap(y, p, groups) == max_gap(auroc, groups, y, p)
