"""Last-layer Laplace against Bayesian linear regression in its function-space (GP) form."""

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.stats import multivariate_normal

from tests.uq.helpers import hetero_sine
from trustbench.uq.laplace import LastLayerLaplace, evidence, log_evidence


def blr_dual(Phi, y, Phi_star, alpha, sigma2):
    """Predictive mean and variance of y = φᵀw + ε, w ~ N(0, I/α), via the kernel K = ΦΦᵀ/α
    (Rasmussen & Williams 2006, eq. 2.12): no weight-space posterior involved."""
    K = Phi @ Phi.T / alpha + sigma2 * np.eye(len(y))
    k_star = Phi_star @ Phi.T / alpha
    mean = k_star @ np.linalg.solve(K, y)
    var = (Phi_star**2).sum(1) / alpha - np.einsum("ij,ji->i", k_star, np.linalg.solve(K, k_star.T)) + sigma2
    return mean, var


def dual_lml(Phi, y, alpha, sigma2):
    return multivariate_normal(np.zeros(len(y)), Phi @ Phi.T / alpha + sigma2 * np.eye(len(y))).logpdf(y)


def linear_data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2)) * [1.0, 3.0] + [0.5, -2.0]
    return X, 1.5 * X[:, 0] - 0.3 * X[:, 1] + 4.0 + 0.5 * rng.standard_normal(n)


@pytest.mark.parametrize("hidden", [(), (16,)])
def test_predictive_is_bayesian_linear_regression_on_the_features(hidden):
    """With hidden=() the features are the standardized inputs (a fixed feature map); with a hidden
    layer they are the trained network's. Either way the predictive equals closed-form BLR on
    [φ(x), 1] with the fitted σ² and λ, back in target units."""
    X, y = linear_data()
    m = LastLayerLaplace(hidden=hidden, steps=100).fit(X, y, seed=0)
    Xt = np.random.default_rng(1).normal(size=(15, 2)) * 4
    Phi, Phi_t = m.features(X), m.features(Xt)
    if not hidden:
        np.testing.assert_allclose(Phi[:, :2], (X - X.mean(0)) / X.std(0))
    mean, var = blr_dual(Phi, (y - y.mean()) / y.std(), Phi_t, m.prior_precision_, m.sigma2_)
    pred = m.predict(Xt)
    np.testing.assert_allclose(pred.mean(), mean * y.std() + y.mean(), rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(pred.std(), np.sqrt(var) * y.std(), rtol=1e-7)


def test_log_evidence_matches_the_marginal_gaussian():
    rng = np.random.default_rng(0)
    Phi, y = rng.normal(size=(30, 4)), rng.normal(size=30)
    for alpha, beta in [(0.5, 2.0), (3.0, 0.7)]:
        assert log_evidence(Phi, y, alpha, beta) == pytest.approx(dual_lml(Phi, y, alpha, 1 / beta), rel=1e-10)


def test_evidence_fixed_point_maximizes_the_marginal_likelihood():
    """MacKay's fixed point lands where a generic optimizer of the marginal likelihood does."""
    X, y = linear_data(60, seed=3)
    Phi = np.c_[X, X[:, :1] ** 2, np.ones(len(X))]
    y = (y - y.mean()) / y.std()
    post = evidence(Phi, y)
    best = minimize(lambda t: -dual_lml(Phi, y, np.exp(t[0]), np.exp(t[1])), x0=[2.0, 1.0], method="Nelder-Mead",
                    options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 2000})
    np.testing.assert_allclose([np.log(post["alpha"]), np.log(1 / post["beta"])], best.x, atol=1e-3)
    assert log_evidence(Phi, y, post["alpha"], post["beta"]) >= -best.fun - 1e-8
    # the returned posterior is the BLR posterior at those hyperparameters
    A = post["alpha"] * np.eye(Phi.shape[1]) + post["beta"] * Phi.T @ Phi
    np.testing.assert_allclose(post["cov"], np.linalg.inv(A), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(post["mean"], post["beta"] * np.linalg.solve(A, Phi.T @ y), rtol=1e-8)


def test_noise_estimate_on_the_sine():
    """The evidence recovers the noise level: σ on the heteroscedastic sine ≈ its rms noise (0.22)."""
    X, y = hetero_sine(200, seed=0)
    m = LastLayerLaplace().fit(X, y, seed=0)
    sigma = np.sqrt(m.sigma2_) * y.std()
    assert 0.15 < sigma < 0.3
