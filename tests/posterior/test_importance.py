"""Adaptive importance sampling (``importance_posterior``) against closed-form targets and scipy.

Monte Carlo error of the returned draws: they are ``n_samples`` multinomial resamples of weighted
proposal draws whose Kish ESS is reported, so a mean over them has variance ≈ σ²·(1/ESS + 1/n)
(importance sampling error plus resampling error; Owen 2013, ch. 9). Tolerances are 5 of these
standard errors.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats

from trustbench.posterior.reference import importance_posterior


def n_effective(meta, n_samples):
    """Effective size of the resampled draws: IS error (Kish ESS) plus multinomial resampling."""
    return 1.0 / (1.0 / meta["ess_min"] + 1.0 / n_samples)


def gaussian_log_density(mean, cov):
    prec = np.linalg.inv(cov)

    def log_target(u):
        z = u - mean
        return -0.5 * np.einsum("ni,ij,nj->n", z, prec, z) + 7.0  # unnormalised on purpose

    return log_target


def assert_moments(draws, mean, cov, n_eff, k=5.0):
    """Sample mean and covariance within k Monte Carlo standard errors of the truth."""
    sd = np.sqrt(np.diag(cov))
    assert np.all(np.abs(draws.mean(0) - mean) < k * sd / np.sqrt(n_eff)), (draws.mean(0), mean)
    c = draws - draws.mean(0)
    # sd of a (co)variance estimate: sqrt(Var[(x_i - m_i)(x_j - m_j)] / n), estimated from the draws
    prod = c[:, :, None] * c[:, None, :]
    se = prod.std(0) / np.sqrt(n_eff)
    assert np.all(np.abs(prod.mean(0) - cov) < k * se + 1e-12), (prod.mean(0), cov)


def test_correlated_gaussian_from_a_poor_start():
    mean = np.array([1.0, -2.0, 0.5])
    sd = np.array([1.0, 0.5, 2.0])
    corr = np.array([[1.0, 0.9, -0.5], [0.9, 1.0, -0.3], [-0.5, -0.3, 1.0]])
    cov = corr * np.outer(sd, sd)
    n = 2000
    draws, meta = importance_posterior(gaussian_log_density(mean, cov), mean + sd, np.eye(3), n,
                                       np.random.default_rng(0), adapt=3)
    assert draws.shape == (n, 3)
    n_eff = n_effective(meta, n)
    assert meta["ess_min"] > 0.3 * meta["n_proposals"]  # after adaptation the t proposal fits well
    assert_moments(draws, mean, cov, n_eff)
    # marginals against the exact normal CDFs (Kolmogorov–Smirnov, 0.1 % critical value 1.95/√n)
    for i in range(3):
        ks = stats.kstest(draws[:, i], stats.norm(mean[i], sd[i]).cdf).statistic
        assert ks < 1.95 / np.sqrt(n_eff)


def test_banana_target_moments():
    # x1 ~ N(0, a²), x2 | x1 ~ N(b (x1² − a²), 1): E = 0, Var x2 = 1 + 2 b² a⁴, Cov(x1, x2) = b E[x1³] = 0
    a, b = 1.5, 0.5

    def log_target(u):
        return stats.norm.logpdf(u[:, 0], 0, a) + stats.norm.logpdf(u[:, 1] - b * (u[:, 0] ** 2 - a**2))

    mean = np.zeros(2)
    cov = np.diag([a**2, 1 + 2 * b**2 * a**4])
    n = 3000
    draws, meta = importance_posterior(log_target, [0.5, 0.5], np.eye(2), n, np.random.default_rng(1))
    assert_moments(draws, mean, cov, n_effective(meta, n))
    assert stats.kstest(draws[:, 0], stats.norm(0, a).cdf).statistic < 1.95 / np.sqrt(n_effective(meta, n))


def test_uniform_box_target():
    low, high = np.array([0.0, -1.0]), np.array([2.0, 3.0])

    def log_target(u):
        inside = ((u >= low) & (u <= high)).all(axis=1)
        return np.where(inside, 0.0, -np.inf)

    n = 2000
    draws, meta = importance_posterior(log_target, (low + high) / 2, np.diag((high - low) ** 2 / 12), n,
                                       np.random.default_rng(2))
    assert ((draws >= low) & (draws <= high)).all()
    assert_moments(draws, (low + high) / 2, np.diag((high - low) ** 2 / 12), n_effective(meta, n))
    for i in range(2):
        ks = stats.kstest(draws[:, i], stats.uniform(low[i], high[i] - low[i]).cdf).statistic
        assert ks < 1.95 / np.sqrt(n_effective(meta, n))


def test_adaptation_improves_ess_from_a_shifted_start():
    log_target = gaussian_log_density(np.zeros(2), np.array([[1.0, 0.8], [0.8, 1.0]]))
    start, start_cov = np.array([3.0, -2.0]), 0.25 * np.eye(2)
    kw = dict(oversample=10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the unadapted proposal is poor on purpose
        _, poor = importance_posterior(log_target, start, start_cov, 500, np.random.default_rng(3), adapt=0, **kw)
    _, adapted = importance_posterior(log_target, start, start_cov, 500, np.random.default_rng(3), adapt=4, **kw)
    assert poor["ess_min"] < 0.02 * poor["n_proposals"]
    assert adapted["ess_min"] > 0.3 * adapted["n_proposals"]
    assert adapted["ess_min"] > 20 * poor["ess_min"]


def test_ess_is_kish_on_independently_recomputed_weights():
    """With adapt=0 the proposal is t_df(mean, cov): recompute its log density with scipy at the
    draws the target was evaluated at, and Kish's ESS (Σw)²/Σw² of the weights."""
    target_mean, target_cov = np.array([0.3, -0.2]), np.array([[1.0, 0.5], [0.5, 2.0]])
    log_p = gaussian_log_density(target_mean, target_cov)
    seen = []

    def log_target(u):
        seen.append(u.copy())
        return log_p(u)

    mean, cov, df, n, over = np.array([0.0, 0.0]), np.array([[1.5, 0.2], [0.2, 1.0]]), 4.0, 300, 7
    draws, meta = importance_posterior(log_target, mean, cov, n, np.random.default_rng(4), df=df,
                                       oversample=over, adapt=0, min_ess=0)
    assert len(seen) == 1 and seen[0].shape == (n * over, 2)
    proposal = seen[0]
    log_w = log_p(proposal) - stats.multivariate_t(loc=mean, shape=cov, df=df).logpdf(proposal)
    w = np.exp(log_w - log_w.max())
    np.testing.assert_allclose(meta["ess_min"], w.sum() ** 2 / (w**2).sum(), rtol=1e-9)
    # every returned draw is one of the weighted proposal draws; counts match n_distinct
    rows = {tuple(r) for r in proposal}
    assert all(tuple(r) in rows for r in draws)
    assert meta["n_distinct"] == len(np.unique(draws, axis=0))
    assert meta["n_proposals"] == n * over and meta["n_likelihood_evals"] == n * over
    # the proposal draws themselves are t_df(mean, cov): KS on a linear projection
    white = np.linalg.solve(np.linalg.cholesky(cov), (proposal - mean).T).T
    assert stats.kstest(white[:, 0], stats.t(df).cdf).pvalue > 1e-3


def test_evaluation_count_and_reproducibility():
    calls = []
    log_p = gaussian_log_density(np.zeros(2), np.eye(2))

    def log_target(u):
        calls.append(len(u))
        return log_p(u)

    a, meta = importance_posterior(log_target, [0.1, 0.0], np.eye(2), 100, np.random.default_rng(5),
                                   oversample=5, adapt=3)
    assert calls == [500] * 4 and meta["n_likelihood_evals"] == 2000
    b, _ = importance_posterior(log_p, [0.1, 0.0], np.eye(2), 100, np.random.default_rng(5), oversample=5, adapt=3)
    np.testing.assert_array_equal(a, b)


def test_warns_when_ess_below_min_ess():
    log_p = gaussian_log_density(np.zeros(2), 0.01 * np.eye(2))
    with pytest.warns(RuntimeWarning, match="ESS"):
        _, meta = importance_posterior(log_p, [2.0, 2.0], np.eye(2), 200, np.random.default_rng(6), adapt=0)
    assert meta["ess_min"] < 200 and len(meta["warnings"]) == 1
    with pytest.warns(RuntimeWarning, match="ESS"):  # an explicit threshold above the achieved ESS
        _, meta = importance_posterior(gaussian_log_density(np.zeros(2), np.eye(2)), [0, 0], np.eye(2), 100,
                                       np.random.default_rng(6), min_ess=1e9)
    assert meta["warnings"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a good fit: no warning
        _, meta = importance_posterior(gaussian_log_density(np.zeros(2), np.eye(2)), [0, 0], np.eye(2), 100,
                                       np.random.default_rng(6))
    assert meta["ess_min"] >= 100 and meta["warnings"] == []


@pytest.mark.parametrize(
    "kwargs, error, name",
    [
        (dict(cov=np.eye(3)), ValueError, "cov"),
        (dict(cov=np.ones(2)), ValueError, "cov"),
        (dict(mean=np.zeros((2, 1))), ValueError, "mean"),
        (dict(n_samples=0), ValueError, "n_samples"),
        (dict(n_samples=10.0), TypeError, "n_samples"),
        (dict(oversample=0), ValueError, "oversample"),
        (dict(adapt=-1), ValueError, "adapt"),
    ],
)
def test_validation_names_the_parameter(kwargs, error, name):
    args = dict(mean=np.zeros(2), cov=np.eye(2), n_samples=10)
    args.update(kwargs)
    calls = []

    def log_target(u):
        calls.append(1)
        return np.zeros(len(u))

    with pytest.raises(error, match=name):
        importance_posterior(log_target, args["mean"], args["cov"], args["n_samples"], np.random.default_rng(0),
                             **{k: v for k, v in kwargs.items() if k in ("oversample", "adapt")})
    assert calls == []  # validated before any work


@pytest.mark.parametrize("df", [0.0, -1.0])
def test_df_validation_names_value(df):
    with pytest.raises(ValueError, match=r"df must .*got"):
        importance_posterior(lambda u: np.zeros(len(u)), [0.0], [[1.0]], 10, np.random.default_rng(0), df=df)


def test_non_positive_definite_cov_is_a_value_error():
    with pytest.raises(ValueError, match="cov"):
        importance_posterior(lambda u: np.zeros(len(u)), [0.0, 0.0], [[1.0, 2.0], [2.0, 1.0]], 10,
                             np.random.default_rng(0))


@pytest.mark.parametrize("value", [
    -np.inf,
    np.nan,
])
def test_target_without_finite_density_raises(value):
    with pytest.raises(ValueError, match="finite target density"):
        importance_posterior(lambda u: np.full(len(u), value), [0.0, 0.0], np.eye(2), 50, np.random.default_rng(0))
