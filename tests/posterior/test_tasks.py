"""Posterior tasks: the sbibm toy tasks' references against closed forms, grids and scipy;
``from_simulator`` with a torch simulator (reproducibility, validation)."""

from __future__ import annotations

import math
import pickle
import warnings

import numpy as np
import pytest
from scipy import optimize, stats

from trustbench.posterior.base import Observation, PosteriorTask
from trustbench.posterior.priors import BoxUniform
from trustbench.posterior.reference import rejection_sample
from trustbench.posterior.task import SimulatorTask, from_simulator
from trustbench.posterior.toy import SLCP, GaussianLinear, GaussianMixture, TwoMoons

N_REF = 10_000


# ----------------------------------------------------------------------------- protocol


@pytest.mark.parametrize("cls", [GaussianLinear, TwoMoons, GaussianMixture])
def test_toy_tasks_follow_the_protocol(cls):
    task = cls(n_observations=3, n_reference=200)
    assert isinstance(task, PosteriorTask)
    assert task.name.startswith("sbibm/") and len(task.parameter_names) == task.prior.dim
    obs = task.observations(4)
    again = pickle.loads(pickle.dumps(task)).observations(4)  # recomputed (the cache is not pickled)
    other = task.observations(5)
    assert len(obs) == 3 and all(isinstance(o, Observation) for o in obs)
    for a, b in zip(obs, again):
        np.testing.assert_array_equal(a.x, b.x)
        np.testing.assert_array_equal(a.theta, b.theta)
        np.testing.assert_array_equal(a.reference, b.reference)
        assert a.x.shape == task.x_shape and a.reference.shape == (200, task.prior.dim)
        assert np.isfinite(task.prior.log_prob(a.reference)).all()  # inside the prior support
        assert "method" in a.meta and a.meta["seconds"] >= 0
    assert not np.array_equal(obs[0].x, other[0].x)
    theta = task.prior.sample(5, np.random.default_rng(0))
    assert task.simulate(theta, np.random.default_rng(0)).shape == (5, *task.x_shape)


# ----------------------------------------------------------------------------- Gaussian linear


def test_gaussian_linear_reference_matches_closed_form():
    task = GaussianLinear()
    obs = task.observations(0)[0]
    # conjugate Gaussian written out independently: Σ = (P⁻¹ + N⁻¹)⁻¹, μ = Σ N⁻¹ x
    p, n = 0.1 * np.eye(10), 0.1 * np.eye(10)
    cov = np.linalg.inv(np.linalg.inv(p) + np.linalg.inv(n))
    mean = cov @ np.linalg.inv(n) @ obs.x
    ref = obs.reference
    assert ref.shape == (N_REF, 10)
    sd = np.sqrt(np.diag(cov))
    assert np.all(np.abs(ref.mean(0) - mean) < 4.5 * sd / math.sqrt(N_REF))
    assert np.all(np.abs(ref.var(0) / np.diag(cov) - 1) < 4.5 * math.sqrt(2 / N_REF))
    assert np.abs(np.corrcoef(ref.T)[np.triu_indices(10, 1)]).max() < 4.5 / math.sqrt(N_REF)
    # the likelihood is the simulator's density
    theta = task.prior.sample(3, np.random.default_rng(1))
    want = stats.multivariate_normal(theta[1], n).logpdf(obs.x)
    assert task.log_likelihood(theta, obs.x)[1] == pytest.approx(want, rel=1e-12)


# ----------------------------------------------------------------------------- two moons


def _grid_posterior(task, x, m=1000):
    edges = np.linspace(-1, 1, m + 1)
    mid = 0.5 * (edges[1:] + edges[:-1])
    g1, g2 = np.meshgrid(mid, mid, indexing="ij")
    logp = task.log_likelihood(np.column_stack([g1.ravel(), g2.ravel()]), x).reshape(m, m)
    p = np.exp(logp - logp.max())
    return edges, mid, p / p.sum()


def _ks_to_grid(samples, edges, mass):
    """max |ECDF - grid CDF| over the grid edges for one marginal."""
    cdf = np.concatenate([[0.0], np.cumsum(mass)])
    ecdf = np.searchsorted(np.sort(samples), edges, side="right") / len(samples)
    return np.abs(ecdf - cdf).max()


def test_two_moons_likelihood_is_a_density_and_matches_the_simulator():
    task = TwoMoons()
    theta = np.array([[0.3, -0.6]])
    shift = np.array([-abs(theta[0, 0] + theta[0, 1]), theta[0, 1] - theta[0, 0]]) / math.sqrt(2)
    centre = shift + [0.25, 0.0]
    h = 0.0005
    g = np.arange(-0.2, 0.2, h) + h / 2
    gx, gy = np.meshgrid(centre[0] + g, centre[1] + g, indexing="ij")
    xs = np.column_stack([gx.ravel(), gy.ravel()])
    # the density in polar coordinates, written out: N(r; 0.1, 0.01²) / (π |r|), u = x - centre
    u = xs - centre
    r = np.where(u[:, 0] >= 0, 1, -1) * np.hypot(u[:, 0], u[:, 1])
    picks = np.random.default_rng(0).choice(len(xs), 50, replace=False)
    p_task = np.exp([task.log_likelihood(theta, xs[i])[0] for i in picks])
    want = stats.norm(0.1, 0.01).pdf(r[picks]) / (math.pi * np.abs(r[picks]))
    np.testing.assert_allclose(p_task, want, rtol=1e-9, atol=1e-300)
    total = (stats.norm(0.1, 0.01).pdf(r) / (math.pi * np.abs(r))).sum() * h * h
    assert total == pytest.approx(1.0, abs=2e-3)  # the change of variables integrates to one
    sims = task.simulate(np.repeat(theta, 200_000, 0), np.random.default_rng(0))
    frac = (sims[:, 1] > centre[1] + 0.05).mean()
    want_frac = (stats.norm(0.1, 0.01).pdf(r) / (math.pi * np.abs(r)) * (u[:, 1] > 0.05)).sum() * h * h
    assert frac == pytest.approx(want_frac, abs=4 * math.sqrt(0.25 / 200_000) + 2e-3)


def test_two_moons_reference_matches_grid_posterior():
    task = TwoMoons(n_observations=2)
    for obs in task.observations(0):
        edges, mid, p = _grid_posterior(task, obs.x)
        ref = obs.reference
        assert ref.shape == (N_REF, 2)
        ks_crit = 1.95 / math.sqrt(N_REF)  # KS 0.1 % level
        assert _ks_to_grid(ref[:, 0], edges, p.sum(1)) < ks_crit
        assert _ks_to_grid(ref[:, 1], edges, p.sum(0)) < ks_crit
        g1, g2 = np.meshgrid(mid, mid, indexing="ij")
        upper = p[(g1 + g2) > 0].sum()  # the two crescents' masses
        assert (ref.sum(1) > 0).mean() == pytest.approx(upper, abs=4 * math.sqrt(0.25 / N_REF) + 2e-3)
        rot = (ref[:, 1] - ref[:, 0]) / math.sqrt(2)  # along the crescent
        grid_rot = ((g2 - g1) / math.sqrt(2) * p).sum()
        assert rot.mean() == pytest.approx(grid_rot, abs=5 * rot.std() / math.sqrt(N_REF) + 1e-3)


def test_two_moons_rejection_from_prior_matches_grid():
    task = TwoMoons()
    obs = task.observations(1)[0]
    prior = task.prior
    draws, diag = rejection_sample(
        lambda t: task.log_likelihood(t, obs.x), prior.sample, lambda t: np.zeros(len(t)), task.max_log_likelihood,
        2000, np.random.default_rng(0),
    )
    assert diag["bound_violations"] == 0
    edges, _, p = _grid_posterior(task, obs.x)
    assert _ks_to_grid(draws[:, 0], edges, p.sum(1)) < 1.95 / math.sqrt(2000)
    assert _ks_to_grid(draws[:, 1], edges, p.sum(0)) < 1.95 / math.sqrt(2000)


# ----------------------------------------------------------------------------- Gaussian mixture


def test_gaussian_mixture_reference_closed_form():
    task = GaussianMixture()
    x = np.array([1.0, -2.0])
    ref, meta = task.reference_posterior(x, N_REF, np.random.default_rng(0))
    var = 0.5 * 1.0 + 0.5 * 0.01
    assert np.all(np.abs(ref.mean(0) - x) < 4.5 * math.sqrt(var / N_REF))
    fourth = 0.5 * 3 * 1.0 + 0.5 * 3 * 1e-4  # E(θ - x)⁴ per coordinate
    assert np.all(np.abs(ref.var(0) - var) < 4.5 * math.sqrt((fourth - var**2) / N_REF))
    # radial mass within 0.2 of x: a χ² with 2 dof per component, weights 1/2
    want = 0.5 * (1 - math.exp(-0.02)) + 0.5 * (1 - math.exp(-2.0))
    got = (np.hypot(*(ref - x).T) < 0.2).mean()
    assert got == pytest.approx(want, abs=4 * math.sqrt(want * (1 - want) / N_REF))
    theta = np.array([[0.5, -1.5]])
    lik = 0.5 * stats.multivariate_normal(theta[0], np.eye(2)).pdf(x) + 0.5 * stats.multivariate_normal(theta[0], 0.01 * np.eye(2)).pdf(x)
    assert task.log_likelihood(theta, x)[0] == pytest.approx(math.log(lik), rel=1e-10)


def test_gaussian_mixture_truncation_near_the_box():
    task = GaussianMixture()
    x = np.array([9.6, 0.0])
    ref, _ = task.reference_posterior(x, N_REF, np.random.default_rng(1))
    assert ref[:, 0].max() <= 10.0
    # grid posterior of θ1 (θ2 integrates out: the components are isotropic)
    h = 0.002
    t1 = np.arange(3.0, 10.0, h) + h / 2
    dens = 0.5 * stats.norm(x[0], 1).pdf(t1) + 0.5 * stats.norm(x[0], 0.1).pdf(t1)
    dens /= dens.sum()
    mean = (t1 * dens).sum()
    assert ref[:, 0].mean() == pytest.approx(mean, abs=4.5 * ref[:, 0].std() / math.sqrt(N_REF))
    assert (ref[:, 0] > x[0]).mean() == pytest.approx(dens[t1 > x[0]].sum(), abs=4 * math.sqrt(0.25 / N_REF))


# ----------------------------------------------------------------------------- SLCP


def test_slcp_likelihood_and_simulator():
    task = SLCP()
    theta = np.array([[0.5, -1.0, 1.2, -0.8, 0.7]])
    s1, s2, rho = 1.2**2, 0.8**2, math.tanh(0.7)
    cov = np.array([[s1**2, rho * s1 * s2], [rho * s1 * s2, s2**2]])
    x = task.simulate(theta, np.random.default_rng(0))[0]
    want = stats.multivariate_normal([0.5, -1.0], cov).logpdf(x.reshape(4, 2)).sum()
    assert task.log_likelihood(theta, x)[0] == pytest.approx(want, rel=1e-10)
    flipped = theta * [1, 1, -1, -1, 1]
    assert task.log_likelihood(flipped, x)[0] == pytest.approx(want, rel=1e-12)
    sims = task.simulate(np.repeat(theta, 20_000, 0), np.random.default_rng(1)).reshape(-1, 2)
    np.testing.assert_allclose(np.cov(sims.T), cov, rtol=0.03, atol=0.02)
    np.testing.assert_allclose(sims.mean(0), [0.5, -1.0], atol=5 * 1.44 / math.sqrt(80_000))


def test_slcp_modes_are_the_likelihood_maxima():
    task = SLCP()
    x = task.simulate(np.array([[0.5, -1.0, 1.2, -0.8, 0.7]]), np.random.default_rng(2))[0]
    modes = task.modes(x)
    assert modes.shape == (4, 5)
    ll = task.log_likelihood(modes, x)
    np.testing.assert_allclose(ll, ll[0], rtol=1e-12)
    neg = lambda t: -task.log_likelihood(t[None], x)[0]
    bounds = [(-3, 3)] * 2 + [(1e-3, 3)] * 2 + [(-3, 3)]
    best = min((optimize.minimize(neg, s, method="L-BFGS-B", bounds=bounds) for s in
                np.random.default_rng(0).uniform([-3, -3, 0.2, 0.2, -3], 3, (8, 5))), key=lambda r: r.fun)
    assert -best.fun <= ll[0] + 1e-6
    np.testing.assert_allclose(best.x, modes[0], atol=1e-3)


def test_slcp_reference_four_symmetric_modes():
    n = 4000
    task = SLCP(n_observations=1, n_reference=n, mcmc={"n_walkers": 32, "burn": 1500, "thin": 20})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a short run may flag R-hat; recorded in meta
        obs = task.observations(3)[0]
    ref, meta = obs.reference, obs.meta
    assert ref.shape == (n, 5)
    assert {"rhat_max", "ess_min", "acceptance", "n_likelihood_evals", "warnings", "seconds"} <= set(meta)
    assert meta["rhat_max"] < 1.05 and 0.2 < meta["acceptance"] < 0.8
    quadrant = 2 * (ref[:, 2] > 0) + (ref[:, 3] > 0)
    frac = np.bincount(quadrant, minlength=4) / n
    np.testing.assert_allclose(frac, 0.25, atol=4 * math.sqrt(3 / 16 / n))
    # the folded posterior against self-normalized importance sampling from a wide Student-t fitted to it
    folded = ref * [1, 1, np.nan, np.nan, 1]
    folded[:, 2:4] = np.abs(ref[:, 2:4])
    prop = stats.multivariate_t(folded.mean(0), 2.0 * np.cov(folded.T), df=5, seed=7)
    z = prop.rvs(40_000)
    logw = task.prior.log_prob(z) + task.log_likelihood(z, obs.x) - prop.logpdf(z)
    inside = (z[:, 2] >= 0) & (z[:, 3] >= 0)
    logw = np.where(inside, logw, -np.inf)
    w = np.exp(logw - logw.max())
    w /= w.sum()
    ess_is = 1 / (w**2).sum()
    assert ess_is > 2000
    mean_is = w @ z
    se = folded.std(0) * np.sqrt(1 / meta["ess_min"] + 1 / ess_is)
    assert np.all(np.abs(folded.mean(0) - mean_is) < 5 * se)


# ----------------------------------------------------------------------------- from_simulator


torch = pytest.importorskip("torch")


def torch_two_moons(theta):
    """sbibm's two-moons simulator re-written in torch for the test (torch global RNG)."""
    n = theta.shape[0]
    a = torch.rand(n) * math.pi - math.pi / 2
    r = 0.1 + 0.01 * torch.randn(n)
    p = torch.stack([r * torch.cos(a) + 0.25, r * torch.sin(a)], dim=1)
    z0 = -torch.abs(theta[:, 0] + theta[:, 1]) / math.sqrt(2)
    z1 = (theta[:, 1] - theta[:, 0]) / math.sqrt(2)
    return p + torch.stack([z0, z1], dim=1)


def torch_prior():
    return torch.distributions.Independent(torch.distributions.Uniform(-torch.ones(2), torch.ones(2)), 1)


def test_from_simulator_torch_reproducible_and_correct():
    calls = []

    def sim(theta):
        calls.append(type(theta))
        return torch_two_moons(theta)

    task = from_simulator(sim, torch_prior(), name="user/two_moons", parameter_names=["a", "b"], n_observations=3)
    assert isinstance(task, SimulatorTask) and isinstance(task, PosteriorTask)
    assert task.parameter_names == ("a", "b") and task.x_shape == (2,)
    assert calls[0] is torch.Tensor
    theta = task.prior.sample(500, np.random.default_rng(0))
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()
    x1 = task.simulate(theta, np.random.default_rng(1))
    x2 = task.simulate(theta, np.random.default_rng(1))
    x3 = task.simulate(theta, np.random.default_rng(2))
    assert torch.equal(torch.get_rng_state(), torch_state)  # the user's global RNG is untouched
    assert np.array_equal(np.random.get_state()[1], np_state[1])
    assert x1.dtype == np.float64 and x1.shape == (500, 2)
    np.testing.assert_array_equal(x1, x2)
    assert not np.array_equal(x1, x3)
    obs_a, obs_b = task.observations(0), task.observations(0)
    assert len(obs_a) == 3 and obs_a[0].reference is None
    np.testing.assert_array_equal(obs_a[2].x, obs_b[2].x)
    # same distribution as the NumPy TwoMoons: compare the simulations' means for one θ
    th = np.repeat([[0.2, 0.4]], 20_000, 0)
    ours = TwoMoons().simulate(th, np.random.default_rng(3))
    theirs = task.simulate(th, np.random.default_rng(3))
    np.testing.assert_allclose(theirs.mean(0), ours.mean(0), atol=5 * 0.08 / math.sqrt(10_000))


def test_from_simulator_numpy_global_rng_and_fixed_observations():
    def sim(theta):  # a NumPy simulator drawing from the legacy global RNG
        assert isinstance(theta, np.ndarray)
        return theta + np.random.normal(size=theta.shape)

    prior = BoxUniform([-1.0, -1.0, -1.0], [1.0, 1.0, 1.0])
    task = from_simulator(sim, prior, name="user/shift")
    theta = prior.sample(4, np.random.default_rng(0))
    np.testing.assert_array_equal(task.simulate(theta, np.random.default_rng(5)), task.simulate(theta, np.random.default_rng(5)))
    obs_x = torch.zeros(2, 3)
    refs = [np.zeros((7, 3)), np.ones((7, 3))]
    fixed = from_simulator(sim, prior, name="user/shift", observations=[obs_x[:1], obs_x[1:]],
                           true_parameters=np.ones((2, 3)), reference_samples=refs)
    obs = fixed.observations(0)
    assert len(obs) == 2 and obs[0].x.shape == (3,)
    np.testing.assert_array_equal(obs[1].reference, refs[1])
    np.testing.assert_array_equal(obs[0].theta, np.ones(3))
    assert fixed.observations(9)[1] is obs[1]  # fixed: the same for every seed
    stacked = from_simulator(sim, prior, name="s", observations=np.zeros((2, 3)), reference_samples=np.zeros((2, 5, 3)))
    assert stacked.observations(0)[1].reference.shape == (5, 3)


def test_from_simulator_validation():
    prior = torch_prior()
    with pytest.raises(ValueError, match="parameter_names must hold one name per prior dimension \\(2\\); got 3"):
        from_simulator(torch_two_moons, prior, name="t", parameter_names=["a", "b", "c"])
    with pytest.raises(ValueError, match="one row per parameter vector"):
        from_simulator(lambda t: torch_two_moons(t)[:1], prior, name="t")
    with pytest.raises(ValueError, match="observations must have shape \\(m, \\*\\(2,\\)\\)"):
        from_simulator(torch_two_moons, prior, name="t", observations=np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"observations\[1\] must have shape \(2,\)"):
        from_simulator(torch_two_moons, prior, name="t", observations=[np.zeros((1, 2)), np.zeros((1, 3))])
    with pytest.raises(ValueError, match=r"reference_samples\[0\] must have shape \(n_ref, 2\)"):
        from_simulator(torch_two_moons, prior, name="t", observations=np.zeros((1, 2)), reference_samples=[np.zeros((10, 3))])
    with pytest.raises(ValueError, match="one sample set per observation"):
        from_simulator(torch_two_moons, prior, name="t", observations=np.zeros((2, 2)), reference_samples=[np.zeros((10, 2))])
    with pytest.raises(ValueError, match="true_parameters must have shape"):
        from_simulator(torch_two_moons, prior, name="t", observations=np.zeros((2, 2)), true_parameters=np.zeros((2, 5)))
    with pytest.raises(ValueError, match="needs fixed observations"):
        from_simulator(torch_two_moons, prior, name="t", reference_samples=[np.zeros((10, 2))])
    with pytest.raises(TypeError, match="prior must be a torch.distributions.Distribution"):
        from_simulator(torch_two_moons, "uniform", name="t")
    with pytest.raises(TypeError, match="simulator must be callable"):
        from_simulator(None, prior, name="t")
    with pytest.raises(ValueError, match="theta must have shape \\(n, 2\\)"):
        from_simulator(torch_two_moons, prior, name="t").simulate(np.zeros((3, 3)), np.random.default_rng(0))
