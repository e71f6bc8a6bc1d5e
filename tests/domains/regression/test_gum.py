"""GUM methods: LPU against the closed form of a linear model, LPU against Monte Carlo, task binding."""

import numpy as np
import pytest

from trustbench.domains.regression import tasks
from trustbench.domains.regression.gum import GumLPU, GumMC, PhysicalModel
from trustbench.types import Gaussian, Mixture


def line(X, theta, xp=np):
    return theta[..., 0, None] + theta[..., 1, None] * X[:, 0]


LINE = PhysicalModel(f=line, param_names=("intercept", "slope"), units=("V", "V/s"), theta0=(0.0, 0.0),
                     lower=(-np.inf, -np.inf), upper=(np.inf, np.inf))


def test_lpu_on_a_linear_model_equals_ordinary_least_squares():
    """θ̂ = (AᵀA)⁻¹Aᵀy, U(θ̂) = s²(AᵀA)⁻¹ with s² = RSS/(n − p), u²(y at x) = aᵀU a + s²."""
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 3, size=(25, 1))
    y = 1.0 - 2.0 * X[:, 0] + 0.3 * rng.standard_normal(25)
    A = np.column_stack([np.ones(25), X[:, 0]])
    theta, rss, *_ = np.linalg.lstsq(A, y, rcond=None)
    s2 = rss[0] / (25 - 2)
    cov = s2 * np.linalg.inv(A.T @ A)
    gum = GumLPU(physical_model=LINE).fit(X, y)
    np.testing.assert_allclose(gum.theta_, theta, rtol=1e-6)
    np.testing.assert_allclose(gum.cov_, cov, rtol=1e-6)
    x_new = np.array([[0.5], [4.0]])
    a = np.column_stack([np.ones(2), x_new[:, 0]])
    pred = gum.predict(x_new)
    assert isinstance(pred, Gaussian)
    np.testing.assert_allclose(pred.mean(), a @ theta, rtol=1e-6)
    np.testing.assert_allclose(pred.var(), np.einsum("ni,ij,nj->n", a, cov, a) + s2, rtol=1e-6)


def test_lpu_and_monte_carlo_agree_when_the_uncertainty_is_small():
    """With many data the model is linear over the spread of θ and ν is large: the GUM's two answers agree."""
    task = tasks.ExpDecay(n_train=400, noise=0.02)
    data = task.make(0)
    lpu = GumLPU().for_task(task).fit(data.train.X, data.train.y)
    mc = GumMC(n_draws=4000).for_task(task).fit(data.train.X, data.train.y, seed=0)
    X = task.plot_grid()
    p_lpu, p_mc = lpu.predict(X), mc.predict(X)
    assert isinstance(p_mc, Mixture)
    np.testing.assert_allclose(p_mc.mean(), p_lpu.mean(), atol=0.05 * p_lpu.std().min())
    np.testing.assert_allclose(p_mc.std(), p_lpu.std(), rtol=0.02)
    # and the fitted parameters are within 3 standard uncertainties of the truth
    assert np.all(np.abs(lpu.theta_ - task.theta) < 3 * np.sqrt(np.diag(lpu.cov_)))


def hessian(f, X, theta, h=1e-4):
    """(n, p, p) second derivatives of f in θ by central differences."""
    p = len(theta)
    step = np.eye(p) * h
    return np.stack([[(f(X, theta + step[i] + step[j]) - f(X, theta + step[i] - step[j])
                       - f(X, theta - step[i] + step[j]) + f(X, theta - step[i] - step[j])) / (4 * h * h)
                      for j in range(p)] for i in range(p)]).transpose(2, 0, 1)


def test_monte_carlo_sees_the_curvature_that_lpu_ignores():
    """f is curved in τ: E[f(x, θ)] - f(x, θ̂) ≈ ½ tr(H U(θ)) (second-order propagation, JCGM 100 §5.1.2
    note), with U(θ) = ν/(ν-2) · s²(JᵀJ)⁻¹ for the t state of knowledge. LPU's mean is f(x, θ̂); the MC
    mean shifts by the second-order term, many Monte Carlo standard errors away from zero."""
    task = tasks.ExpDecay(n_train=20, noise=0.1, offset=None, t_max=1.0)
    data = task.make(0)
    lpu = GumLPU().for_task(task).fit(data.train.X, data.train.y)
    mc = GumMC(n_draws=20_000).for_task(task).fit(data.train.X, data.train.y, seed=0)
    x, f = np.array([[0.5]]), task.physical_model.f
    values = f(x, mc.theta_draws_)[:, 0]
    shift = mc.predict(x).mean()[0] - lpu.predict(x).mean()[0]
    se = values.std() / np.sqrt(len(values))
    nu = lpu.fit_["dof"]
    second_order = 0.5 * np.sum(hessian(f, x, lpu.theta_)[0] * lpu.cov_) * nu / (nu - 2)
    assert abs(shift) > 10 * se
    assert abs(shift - second_order) < 0.15 * abs(second_order) + 3 * se


def test_monte_carlo_is_deterministic_for_a_seed():
    task = tasks.ExpDecay()
    data = task.make(0)
    a = GumMC().for_task(task).fit(data.train.X, data.train.y, seed=3)
    b = GumMC().for_task(task).fit(data.train.X, data.train.y, seed=3)
    c = GumMC().for_task(task).fit(data.train.X, data.train.y, seed=4)
    assert np.array_equal(a.theta_draws_, b.theta_draws_) and not np.array_equal(a.theta_draws_, c.theta_draws_)
    assert np.all(a.theta_draws_[:, :2] > 0)  # the bounds (A, τ > 0) are respected


def test_supports_only_tasks_with_a_physical_model():
    for method in (GumLPU(), GumMC()):
        assert method.supports(tasks.ExpDecay()) and not method.supports(tasks.Polynomial())
        assert method.for_task(tasks.ExpDecay()).physical_model.param_names[1] == "tau"
        method.validate()  # an unbound method is a valid configuration (the protocol binds it)
        with pytest.raises(ValueError, match="needs physical_model"):
            method.fit(np.zeros((5, 1)), np.zeros(5))


def test_bad_input_raises():
    with pytest.raises(ValueError, match="more than 2 observations"):
        GumLPU(physical_model=LINE).fit(np.zeros((2, 1)), np.zeros(2))
    with pytest.raises(TypeError, match="physical_model must be a PhysicalModel"):
        GumLPU(physical_model="exp").validate()
    with pytest.raises(ValueError, match="n_draws must be >= 2"):
        GumMC(physical_model=LINE, n_draws=1).fit(np.zeros((5, 1)), np.arange(5.0))


def test_the_protocol_binds_the_task():
    from trustbench.protocols.predictive import grid, make_method
    from trustbench.runner.cells import Spec

    method = make_method(Spec("gum_lpu"), tasks.ExpDecay())
    assert method.physical_model is not None
    entry = {"tasks": ["regression/polynomial", "regression/exp_decay"], "methods": ["gum_lpu", "gum_mc"],
             "metrics": ["crps"], "n_boot": 10}
    cells = grid("s", "regression", entry, [0])
    assert sorted((c.task.name, c.method.name) for c in cells if c.method.name != "reference") == [
        ("regression/exp_decay", "gum_lpu"), ("regression/exp_decay", "gum_mc")]
