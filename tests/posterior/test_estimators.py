"""Posterior estimators against closed-form posteriors, numerical quadrature and brute-force references.

The main reference is the conjugate Gaussian problem θ ~ N(0, I_2), x = θ + N(0, σ² I_2), σ = 0.5,
whose posterior is N(x / (1 + σ²), σ² / (1 + σ²) I) (sd 0.447). With 2,000 simulations a learned
estimator is not exact: on this problem the flows, the MDN and the ensemble land within 0.03-0.09 of
the posterior mean and within 10 % (at most 16 %) of its sd, so the tolerances are a third of the posterior sd
for the mean and [0.8, 1.25] for the sd ratio. Monte Carlo error of 4,000 draws (0.007 on a mean,
1.1 % on an sd) is negligible next to them. ABC with a 5 % acceptance share is biased towards the
prior and inflated by its tolerance, so its bounds are looser.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from trustbench.posterior.estimators import CINN, MDN, NPE, GaussianEnsemble, RejectionABC, SbiNPE  # noqa: E402
from trustbench.posterior.priors import BoxUniform, Normal  # noqa: E402

SIGMA = 0.5
POST_SD = np.sqrt(SIGMA**2 / (1 + SIGMA**2))
X_OBS = np.array([[0.5, -1.0], [1.5, 0.3], [-1.2, 0.8]])
FAST = dict(learning_rate=2e-3, patience=5)  # quicker than sbi's defaults (5e-4, 20), same answers here


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Two shared cores: torch's intra-op threads fight each other (10-20x slower steps)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def gaussian_data(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal((n, 2))
    return theta, theta + SIGMA * rng.standard_normal((n, 2)), Normal(np.zeros(2), np.eye(2))


def analytic_logpdf(theta, x):
    """log N(theta; x / (1 + σ²), σ² / (1 + σ²) I) for theta (m, k, 2), x (m, 2)."""
    from scipy.stats import multivariate_normal

    return np.stack([multivariate_normal(xi / (1 + SIGMA**2), POST_SD**2 * np.eye(2)).logpdf(t)
                     for t, xi in zip(theta, x, strict=True)])


DENSITY = {
    "npe_nsf": lambda: NPE(num_simulations=2000, **FAST),
    "npe_maf": lambda: NPE(flow="maf", num_simulations=2000, **FAST),
    "cinn": lambda: CINN(num_simulations=2000, **FAST),
    "mdn": lambda: MDN(num_simulations=2000, **FAST),
    "ensemble": lambda: GaussianEnsemble(num_simulations=2000, **FAST),
}


@pytest.fixture(scope="module")
def fitted():
    theta, x, prior = gaussian_data()
    return {name: make().fit(theta, x, prior=prior, seed=0) for name, make in DENSITY.items()}


def check_gaussian_posterior(samples, mean_tol=0.15, sd_range=(0.8, 1.25)):
    assert samples.shape == (len(X_OBS), 4000, 2)
    mean_err = np.abs(samples.mean(axis=1) - X_OBS / (1 + SIGMA**2))
    sd_ratio = samples.std(axis=1) / POST_SD
    assert mean_err.max() < mean_tol, mean_err
    assert sd_range[0] < sd_ratio.min() and sd_ratio.max() < sd_range[1], sd_ratio


# ----------------------------------------------------------------------------- accuracy


@pytest.mark.parametrize("name", list(DENSITY))
def test_conjugate_gaussian_moments(fitted, name):
    est = fitted[name]
    check_gaussian_posterior(est.sample(X_OBS, 4000, np.random.default_rng(1)))
    assert est.epochs_ >= 1 and est.training_seconds_ > 0 and est.leakage_ == 0.0 and est.n_dropped_ == 0
    assert len(est.history_["val_loss"]) == est.epochs_


@pytest.mark.parametrize("name", list(DENSITY))
def test_log_prob_matches_analytic_and_normalises(fitted, name):
    est = fitted[name]
    rng = np.random.default_rng(2)
    # at draws from the true posterior: close to the analytic log density
    theta = X_OBS[:, None] / (1 + SIGMA**2) + POST_SD * rng.standard_normal((len(X_OBS), 500, 2))
    lp, ref = est.log_prob(theta, X_OBS), analytic_logpdf(theta, X_OBS)
    assert lp.shape == (len(X_OBS), 500)
    # a 10 % sd error alone gives ~0.2 at 2 σ; the coupling NSF here is up to 12 % too wide (0.27;
    # sbi's own nsf on the same data: 0.24, up to 27 % too wide)
    assert np.mean(np.abs(lp - ref)) < 0.3
    assert np.corrcoef(lp.ravel(), ref.ravel())[0, 1] > 0.9
    # integrates to one: midpoint rule on a ±3.5 posterior-sd grid (the tails beyond hold < 1e-5)
    g = np.linspace(-3.5, 3.5, 71) * POST_SD
    h = g[1] - g[0]
    grid = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    mass = np.exp(est.log_prob(X_OBS[:, None] / (1 + SIGMA**2) + grid[None], X_OBS)).sum(axis=1) * h * h
    np.testing.assert_allclose(mass, 1.0, atol=0.06)


@pytest.mark.slow
def test_npe_autoregressive_nsf_conjugate_gaussian():
    theta, x, prior = gaussian_data()
    est = NPE(flow="nsf_ar", num_simulations=2000, **FAST).fit(theta, x, prior=prior, seed=0)
    check_gaussian_posterior(est.sample(X_OBS, 4000, np.random.default_rng(1)))


def test_ensemble_is_diagonal_mixture(fitted):
    """Each member is a diagonal Gaussian; the marginal sd of the mixture is the posterior sd and the
    correlation between the two parameters is ~0 (the true posterior has none either)."""
    est = fitted["ensemble"]
    s = est.sample(X_OBS, 4000, np.random.default_rng(3))
    corr = [np.corrcoef(si.T)[0, 1] for si in s]
    assert np.max(np.abs(corr)) < 0.1  # 4,000 draws: sd of a null correlation 0.016
    with torch.no_grad():
        mean, var = est.model_.head.params(torch.as_tensor((X_OBS - est.x_loc_) / est.x_scale_, dtype=torch.float32))
    assert mean.shape == (5, len(X_OBS), 2)
    member_sd = np.sqrt(var.numpy()) * est.theta_scale_
    assert 0.75 < member_sd.mean() / POST_SD < 1.25


def test_abc_matches_brute_force_and_posterior():
    theta, x, prior = gaussian_data()
    est = RejectionABC(num_simulations=2000, quantile=0.05).fit(theta, x, prior=prior)
    assert est.n_accept_ == 100 and est.epochs_ == 0 and est.leakage_ == 0.0
    idx, dist = est.accepted(X_OBS)
    xz = (x - x.mean(0)) / x.std(0)
    for i, xo in enumerate(X_OBS):  # brute force: distances one by one, sorted
        d = np.array([np.linalg.norm(row - (xo - x.mean(0)) / x.std(0)) for row in xz])
        np.testing.assert_array_equal(idx[i], np.argsort(d, kind="stable")[:100])
        np.testing.assert_allclose(dist[i], np.sort(d)[:100], rtol=1e-9)
    s = est.sample(X_OBS, 4000, np.random.default_rng(1))
    assert np.isin(s.reshape(-1, 2), theta).all()
    check_gaussian_posterior(s, mean_tol=0.3, sd_range=(0.8, 1.6))
    assert not hasattr(est, "log_prob")


def test_mdn_recovers_bimodal_posterior():
    """x = |θ| + N(0, 0.2²), θ ~ N(0, 1): the posterior given x = 1 has modes at ±0.96 with equal mass.
    Reference: the unnormalised density on a fine grid."""
    rng = np.random.default_rng(4)
    theta = rng.standard_normal((3000, 1))
    x = np.abs(theta) + 0.2 * rng.standard_normal((3000, 1))
    est = MDN(num_simulations=3000, **FAST).fit(theta, x, prior=Normal([0.0], [[1.0]]), seed=0)
    s = est.sample(np.array([[1.0]]), 4000, np.random.default_rng(5))[0, :, 0]
    g = np.linspace(-4, 4, 8001)
    w = np.exp(-0.5 * g**2 - 0.5 * ((1.0 - np.abs(g)) / 0.2) ** 2)
    w /= w.sum()
    assert 0.4 < (s > 0).mean() < 0.6  # exact 0.5; binomial sd 0.008 plus the MDN's imbalance
    assert abs(np.abs(s).mean() - (w * np.abs(g)).sum()) < 0.1
    assert (np.abs(s) < 0.3).mean() < 0.05  # little mass between the modes (reference: ~0)
    assert (w[np.abs(g) < 0.3]).sum() < 1e-3


# ----------------------------------------------------------------------------- leakage, seeds, data


def test_leakage_is_rejected_on_a_box_prior():
    rng = np.random.default_rng(6)
    prior = BoxUniform([0.0, 0.0], [1.0, 1.0])
    theta = prior.sample(1500, rng)
    x = theta + 0.3 * rng.standard_normal(theta.shape)
    est = MDN(num_simulations=1500, **FAST).fit(theta, x, prior=prior, seed=0)
    x_edge = np.array([[0.0, 1.0], [-0.3, 0.5]])  # posteriors piled against the boundary
    s = est.sample(x_edge, 2000, np.random.default_rng(7))
    assert s.shape == (2, 2000, 2)
    assert ((s >= 0) & (s <= 1)).all()
    assert est.leakage_ > 0 and est.sample_leakage_ > 0.05  # a Gaussian mixture must leak here
    lp = est.log_prob(np.array([[[0.5, 0.5], [1.2, 0.5]]] * 2), x_edge)
    assert np.isfinite(lp[:, 0]).all() and np.isneginf(lp[:, 1]).all()
    # the normalised density is the unnormalised one divided by the mass inside the box
    raw = est.log_prob(np.array([[[0.5, 0.5]]] * 2), x_edge, normalize=False)
    draws = est._raw(x_edge, 1000, np.random.default_rng([0, 4]))  # the draws log_prob uses (fit seed 0)
    mass = ((draws >= 0) & (draws <= 1)).all(axis=2).mean(axis=1)
    np.testing.assert_allclose(lp[:, 0], raw[:, 0] - np.log(mass), rtol=1e-5)  # float32 nets
    # the cap: one round of raw draws only -> a warning, and still every draw inside the box
    capped = MDN(num_simulations=1500, max_draws=1, **FAST).fit(theta, x, prior=prior, seed=0)
    with pytest.warns(RuntimeWarning, match="prior support"):
        s = capped.sample(x_edge, 500, np.random.default_rng(7))
    assert ((s >= 0) & (s <= 1)).all()


def test_same_seed_same_samples():
    theta, x, prior = gaussian_data(400)
    kw = dict(num_simulations=400, max_epochs=3)
    a = CINN(**kw).fit(theta, x, prior=prior, seed=3).sample(X_OBS, 50, np.random.default_rng(9))
    b = CINN(**kw).fit(theta, x, prior=prior, seed=3).sample(X_OBS, 50, np.random.default_rng(9))
    c = CINN(**kw).fit(theta, x, prior=prior, seed=4).sample(X_OBS, 50, np.random.default_rng(9))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    before = torch.random.get_rng_state()
    NPE(flow="maf", **kw).fit(theta, x, prior=prior, seed=1).sample(X_OBS, 5, np.random.default_rng(0))
    assert torch.equal(before, torch.random.get_rng_state())  # the global torch RNG is left alone


def test_non_finite_simulations_are_dropped():
    theta, x, prior = gaussian_data(300)
    x[[3, 7]] = np.nan
    theta[11, 0] = np.inf
    est = MDN(num_simulations=300, max_epochs=2).fit(theta, x, prior=prior)
    assert est.n_dropped_ == 3


def waveforms(n, rng):
    """Damped sines: θ = (amplitude, frequency) -> two channels of 64 samples with noise."""
    theta = rng.uniform([0.5, 1.0], [2.0, 4.0], size=(n, 2))
    t = np.linspace(0, 1, 64)
    s = theta[:, :1, None] * np.sin(2 * np.pi * theta[:, 1:, None] * t) * np.exp(-t)
    x = np.concatenate([s, 10 + 5 * np.cumsum(s, axis=2) / 64], axis=1)
    return theta, x + 0.1 * rng.standard_normal(x.shape), BoxUniform([0.5, 1.0], [2.0, 4.0])


@pytest.mark.parametrize("make", [lambda: NPE(flow="maf", num_simulations=200, max_epochs=2),
                                  lambda: GaussianEnsemble(num_simulations=200, members=2, max_epochs=2)],
                         ids=["npe", "ensemble"])
def test_cnn_embedding_on_waveforms(make):
    from trustbench.posterior.networks import WaveformCNN

    theta, x, prior = waveforms(200, np.random.default_rng(0))
    assert x.shape == (200, 2, 64)
    est = make().fit(theta, x, prior=prior, seed=0)
    assert est.x_loc_.shape == (2, 1)  # per-channel z-scoring
    assert any(isinstance(m, WaveformCNN) for m in est.model_.modules())
    s = est.sample(x[:3], 7, np.random.default_rng(0))
    assert s.shape == (3, 7, 2) and ((s >= [0.5, 1.0]) & (s <= [2.0, 4.0])).all()
    assert est.log_prob(s, x[:3]).shape == (3, 7)
    with pytest.raises(ValueError, match=r"x must have shape \(m, 2, 64\)"):
        est.sample(x[:3, :, :32], 7, np.random.default_rng(0))
    abc = RejectionABC(n_accept=5).fit(theta, x, prior=prior)
    assert abc.sample(x[:3], 7, np.random.default_rng(0)).shape == (3, 7, 2)


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize(("est", "match"), [
    (NPE(num_simulations=5), "num_simulations"),
    (NPE(num_simulations=1000.0), "num_simulations"),
    (NPE(flow="nsff"), "flow.*Did you mean 'nsf'"),
    (NPE(hidden_features=(50, 0)), "hidden_features"),
    (NPE(hidden_features=(64, 32)), "hidden_features must be equal widths for flow='nsf'"),
    (CINN(clamp=-1.0), "clamp"),
    (MDN(components=0), "components"),
    (GaussianEnsemble(members=0), "members"),
    (MDN(embedding="rnn"), "embedding"),
    (MDN(validation_fraction=1.0), "validation_fraction"),
    (MDN(learning_rate=0), "learning_rate"),
    (RejectionABC(quantile=0.0), "quantile"),
    (RejectionABC(n_accept=0), "n_accept"),
    (SbiNPE(flow="made"), "flow"),
])
def test_bad_parameters_fail_before_any_work(est, match):
    with pytest.raises((ValueError, TypeError), match=match):
        est.validate()
    with pytest.raises((ValueError, TypeError), match=match):  # fit checks the parameters before the data
        est.fit(None, None, prior=None)


def test_bad_data_is_named():
    theta, x, prior = gaussian_data(100)
    est = MDN(num_simulations=100, max_epochs=1)
    with pytest.raises(ValueError, match="theta and x .* 100 and 99"):
        est.fit(theta, x[:99], prior=prior)
    with pytest.raises(ValueError, match="prior.dim = 3"):
        est.fit(theta, x, prior=Normal(np.zeros(3), np.eye(3)))
    with pytest.raises(ValueError, match="embedding='cnn'"):
        MDN(num_simulations=100, embedding="cnn").fit(theta, x, prior=prior)
    with pytest.raises(RuntimeError, match="not fitted"):
        est.sample(X_OBS, 5, np.random.default_rng(0))
    est.fit(theta, x, prior=prior)
    with pytest.raises(ValueError, match=r"x must have shape \(m, 2\)"):
        est.sample(np.zeros((3, 3)), 5, np.random.default_rng(0))
    with pytest.raises(ValueError, match="x must be 2-D"):
        est.sample(np.zeros(2), 5, np.random.default_rng(0))
    with pytest.raises(TypeError, match="rng"):
        est.sample(X_OBS, 5, 0)
    with pytest.raises(ValueError, match="n_samples"):
        est.sample(X_OBS, 0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="theta must have shape"):
        est.log_prob(np.zeros((2, 4, 2)), X_OBS)


# ----------------------------------------------------------------------------- sbi peer


@pytest.mark.slow
def test_sbi_npe_conjugate_gaussian(tmp_path, monkeypatch):
    pytest.importorskip("sbi")
    monkeypatch.chdir(tmp_path)
    theta, x, prior = gaussian_data()
    est = SbiNPE(num_simulations=2000, learning_rate=1e-3).fit(theta, x, prior=prior, seed=0)
    assert list(tmp_path.iterdir()) == []  # no TensorBoard logs (sbi's default ./sbi-logs) in the user's folder
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no progress bars or warnings leak out
        s = est.sample(X_OBS, 4000, np.random.default_rng(1))
    check_gaussian_posterior(s)
    assert est.epochs_ >= 1 and est.leakage_ == 0.0
    theta_q = X_OBS[:, None] / (1 + SIGMA**2) + POST_SD * np.random.default_rng(2).standard_normal((3, 500, 2))
    lp, ref = est.log_prob(theta_q, X_OBS), analytic_logpdf(theta_q, X_OBS)
    # the wrapper is checked here, not sbi: its NSF comes out ~15 % wide at 2,000 simulations
    # (measured MAE 0.26), and an sd 20 % off alone gives a mean |log-density error| of ~0.35
    assert np.mean(np.abs(lp - ref)) < 0.35
    assert np.corrcoef(lp.ravel(), ref.ravel())[0, 1] > 0.9
    again = SbiNPE(num_simulations=2000, learning_rate=1e-3, max_epochs=3)
    a = again.fit(theta, x, prior=prior, seed=1).sample(X_OBS, 20, np.random.default_rng(0))
    b = again.fit(theta, x, prior=prior, seed=1).sample(X_OBS, 20, np.random.default_rng(0))
    np.testing.assert_array_equal(a, b)
