"""The numpy GP against scikit-learn's GaussianProcessRegressor."""

import numpy as np
import pytest
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

from trustbench.uq.gp import GaussianProcess, log_marginal_likelihood


def data(n=80, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2)) * [1.0, 5.0] + [0.0, 10.0]
    y = 3.0 * np.sin(X[:, 0]) + 0.1 * X[:, 1] + 0.3 * rng.standard_normal(n) + 7.0
    return X, y


def sklearn_at(gp, X, y):
    """sklearn's GP at our hyperparameters (lengthscales converted to raw input units), not refitted."""
    kernel = (ConstantKernel(gp.amplitude2_, "fixed") * RBF(gp.lengthscales_ * X.std(0), "fixed")
              + WhiteKernel(gp.noise_var_, "fixed"))
    return GaussianProcessRegressor(kernel, optimizer=None, normalize_y=True).fit(X, y)


def test_same_hyperparameters_same_predictive_as_sklearn():
    X, y = data()
    gp = GaussianProcess().fit(X, y, seed=0)
    Xt = data(50, seed=1)[0] * 1.5
    mean, std = sklearn_at(gp, X, y).predict(Xt, return_std=True)
    pred = gp.predict(Xt)
    np.testing.assert_allclose(pred.mean(), mean, atol=1e-6 * y.std())
    np.testing.assert_allclose(pred.std(), std, atol=1e-6 * y.std())


def test_log_marginal_likelihood_and_gradient_match_sklearn():
    X, y = data()
    Xs, ys = (X - X.mean(0)) / X.std(0), (y - y.mean()) / y.std()
    rng = np.random.default_rng(2)
    for _ in range(3):
        ell, a2, s2 = np.exp(rng.normal(size=2)), np.exp(rng.normal()), np.exp(rng.normal() - 2)
        lml, grad = log_marginal_likelihood(np.log(np.r_[ell, a2, s2]), Xs, ys)
        kernel = ConstantKernel(a2) * RBF(ell) + WhiteKernel(s2)
        ref = GaussianProcessRegressor(kernel, alpha=0.0, optimizer=None).fit(Xs, ys)
        # sklearn's θ = log(a², ℓ1, ℓ2, σ²)
        ref_lml, ref_grad = ref.log_marginal_likelihood(kernel.theta, eval_gradient=True)
        assert lml == pytest.approx(ref_lml, rel=1e-10)
        np.testing.assert_allclose(grad, np.r_[ref_grad[1:3], ref_grad[0], ref_grad[3]], rtol=1e-7, atol=1e-9)


def test_optimized_marginal_likelihood_is_as_good_as_sklearn():
    X, y = data()
    gp = GaussianProcess().fit(X, y, seed=0)
    kernel = ConstantKernel() * RBF(np.ones(2)) + WhiteKernel()
    ref = GaussianProcessRegressor(kernel, normalize_y=True, n_restarts_optimizer=3, random_state=0).fit(X, y)
    # both on the standardized targets; ours must not be a worse optimum
    assert gp.log_marginal_likelihood_ >= ref.log_marginal_likelihood_value_ - 1e-3
    assert gp.log_marginal_likelihood_ == pytest.approx(ref.log_marginal_likelihood_value_, abs=0.05)
    at_ours = sklearn_at(gp, X, y).log_marginal_likelihood_value_
    np.testing.assert_allclose(at_ours, gp.log_marginal_likelihood_, rtol=1e-8)


def test_large_data_refines_on_all_rows():
    """Above ``subset`` rows the restarts run on a subset; the answer is still an optimum on all rows."""
    X, y = data(300, seed=4)
    gp = GaussianProcess(subset=100).fit(X, y, seed=0)
    full = GaussianProcess(subset=300).fit(X, y, seed=0)
    assert gp.log_marginal_likelihood_ == pytest.approx(full.log_marginal_likelihood_, abs=0.05)
    Xs, ys = (X - X.mean(0)) / X.std(0), (y - y.mean()) / y.std()
    lml, grad = log_marginal_likelihood(gp.theta_, Xs, ys)
    assert lml == pytest.approx(gp.log_marginal_likelihood_, rel=1e-10)
