"""Reference-posterior machinery against closed forms, scipy and numpyro's MCMC diagnostics."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats

from trustbench.posterior.priors import BoxUniform
from trustbench.posterior.reference import (
    ensemble_mcmc,
    ess,
    reference_posterior,
    rejection_sample,
    split_rhat,
)
from trustbench.posterior.toy import GaussianLinear


@pytest.fixture(scope="module")
def gaussian_linear_run():
    """Ensemble MCMC on the exact GaussianLinear posterior (d = 10) of one observation."""
    task = GaussianLinear()
    x = task.simulate(task.prior.sample(1, np.random.default_rng(1)), np.random.default_rng(2))[0]

    def log_post(t):  # N(0, 0.1 I) prior times N(x; θ, 0.1 I) likelihood, unnormalized
        return -0.5 * (t**2).sum(1) / 0.1 - 0.5 * ((x - t) ** 2).sum(1) / 0.1

    rng = np.random.default_rng(3)
    result = ensemble_mcmc(log_post, task.prior.sample(64, rng), 4000, rng, thin=10, burn=1000)
    return task, x, result


def test_ensemble_mcmc_recovers_gaussian_linear_posterior(gaussian_linear_run):
    task, x, result = gaussian_linear_run
    mean, cov = task.posterior_mean_cov(x)
    samples = result.samples
    assert result.chains.shape == (400, 64, 10)
    n_eff = result.ess()
    assert (n_eff > 500).all()
    sd = np.sqrt(np.diag(cov))
    # Monte Carlo error of a mean: sd / sqrt(ESS); of a variance: var * sqrt(2 / ESS) (Gaussian)
    assert np.all(np.abs(samples.mean(0) - mean) < 5 * sd / np.sqrt(n_eff))
    assert np.all(np.abs(samples.var(0) - np.diag(cov)) < 5 * np.diag(cov) * np.sqrt(2 / n_eff))
    off = np.cov(samples.T) - cov
    assert np.abs(off[~np.eye(10, dtype=bool)]).max() < 6 * cov[0, 0] / np.sqrt(n_eff.min())
    # the stretch move's acceptance in 10-D is about 0.3-0.5 (Goodman & Weare 2010; emcee)
    assert 0.2 < result.acceptance.mean() < 0.6
    assert result.n_evals == 64 + 64 * 5000


def test_diagnostics_match_numpyro(gaussian_linear_run):
    diag = pytest.importorskip("numpyro.diagnostics")
    _, _, result = gaussian_linear_run
    chains = result.chains  # (steps, walkers, d); numpyro wants (chains, draws, d)
    x = np.swapaxes(chains, 0, 1)
    np.testing.assert_allclose(split_rhat(chains, rank=False), diag.split_gelman_rubin(x), rtol=1e-6)
    np.testing.assert_allclose(ess(chains, rank=False), diag.effective_sample_size(x), rtol=1e-6)

    # rank-normalized versions (Vehtari et al. 2021), rebuilt here with scipy
    half = x.shape[1] // 2
    split = np.concatenate([x[:, :half], x[:, -half:]], axis=0)

    def rank_norm(a):
        flat = a.reshape(-1, a.shape[-1])
        r = stats.rankdata(flat, axis=0)
        return stats.norm.ppf((r - 0.375) / (len(flat) + 0.25)).reshape(a.shape)

    folded = np.abs(split - np.median(split.reshape(-1, 10), axis=0))
    want_rhat = np.maximum(diag.gelman_rubin(rank_norm(split)), diag.gelman_rubin(rank_norm(folded)))
    np.testing.assert_allclose(split_rhat(chains), want_rhat, rtol=1e-6)
    np.testing.assert_allclose(ess(chains), diag.effective_sample_size(rank_norm(split)), rtol=1e-6)


def test_diagnostics_flag_unconverged_and_iid_chains():
    rng = np.random.default_rng(0)
    iid = rng.standard_normal((1000, 4))
    assert abs(split_rhat(iid) - 1) < 0.01
    assert 3000 < ess(iid) < 5500  # 4000 independent draws
    shifted = iid + np.array([0.0, 0.0, 0.0, 1.0])  # one chain elsewhere
    assert split_rhat(shifted) > 1.1
    ar = np.empty((2000, 4))  # AR(1) with φ = 0.9: ESS = N (1 - φ) / (1 + φ)
    ar[0] = rng.standard_normal(4)
    for i in range(1, 2000):
        ar[i] = 0.9 * ar[i - 1] + np.sqrt(1 - 0.81) * rng.standard_normal(4)
    assert ess(ar) == pytest.approx(8000 * 0.1 / 1.9, rel=0.25)


def test_reference_posterior_correlated_gaussian():
    cov = np.array([[1.0, 0.9], [0.9, 1.0]])
    prec = np.linalg.inv(cov)
    mean = np.array([1.0, -1.0])
    log_lik = lambda t: -0.5 * np.einsum("ni,ij,nj->n", t - mean, prec, t - mean)
    prior = BoxUniform(-10 * np.ones(2), 10 * np.ones(2))
    samples, diag = reference_posterior(log_lik, prior, 5000, np.random.default_rng(1), n_walkers=16, burn=500, thin=10)
    assert samples.shape == (5000, 2)
    assert {"method", "rhat_max", "ess_min", "acceptance", "n_likelihood_evals", "warnings"} <= set(diag)
    assert diag["rhat_max"] < 1.02 and diag["ess_min"] > 1000 and diag["warnings"] == []
    se = 5 / np.sqrt(diag["ess_min"])
    np.testing.assert_allclose(samples.mean(0), [1.0, -1.0], atol=se)
    np.testing.assert_allclose(np.cov(samples.T), cov, atol=4 * se)
    # too short a run is flagged, both as a warning and in the record
    with pytest.warns(RuntimeWarning, match="R-hat"):
        _, short = reference_posterior(log_lik, prior, 256, np.random.default_rng(1), burn=0, thin=1, n_init=100)
    assert short["warnings"]


def test_rejection_sample_truncated_normal():
    # target N(0, 1) truncated to [0.5, 2]; proposal U(0.5, 2); bound = max density ratio
    a, b = 0.5, 2.0
    log_target = lambda t: np.where((t[:, 0] >= a) & (t[:, 0] <= b), -0.5 * t[:, 0] ** 2, -np.inf)
    sample = lambda n, rng: rng.uniform(a, b, (n, 1))
    log_q = lambda t: np.full(len(t), -np.log(b - a))
    log_bound = -0.5 * a**2 + np.log(b - a)
    draws, diag = rejection_sample(log_target, sample, log_q, log_bound, 20_000, np.random.default_rng(0))
    assert draws.shape == (20_000, 1) and diag["bound_violations"] == 0
    ref = stats.truncnorm(a, b)
    assert stats.kstest(draws[:, 0], ref.cdf).pvalue > 1e-3
    # acceptance = Z / M with Z = ∫ exp(-t²/2) = √(2π) (Φ(b) - Φ(a))
    z = np.sqrt(2 * np.pi) * (stats.norm.cdf(b) - stats.norm.cdf(a))
    assert diag["acceptance"] == pytest.approx(z / np.exp(log_bound), abs=4 * np.sqrt(0.5 / diag["n_proposals"]))
    with pytest.warns(RuntimeWarning, match="exceeded the bound"):
        _, bad = rejection_sample(log_target, sample, log_q, log_bound - 1.0, 100, np.random.default_rng(0))
    assert bad["bound_violations"] > 0
    with pytest.raises(RuntimeError, match="max_draws"):
        rejection_sample(lambda t: np.full(len(t), -np.inf), sample, log_q, 0.0, 10, np.random.default_rng(0), max_draws=5000)


def test_bad_input():
    lp = lambda t: -0.5 * (t**2).sum(1)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="at least max"):
        ensemble_mcmc(lp, np.zeros((5, 3)), 10, rng)
    init = rng.normal(size=(8, 2))
    with pytest.raises(ValueError, match="finite log density"):
        ensemble_mcmc(lambda t: np.where(t[:, 0] > 0, 0.0, -np.inf), init, 10, rng)
    with pytest.raises(ValueError, match="log_prob must map"):
        ensemble_mcmc(lambda t: np.zeros(3), init, 10, rng)
    with pytest.raises(TypeError, match="rng"):
        ensemble_mcmc(lp, init, 10, 0)
    with pytest.raises(ValueError, match="n_steps must be >= thin"):
        ensemble_mcmc(lp, init, 5, rng, thin=10)
    with pytest.raises(ValueError, match="chains"):
        split_rhat(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="init must have shape"):
        reference_posterior(lp, BoxUniform([-1, -1], [1, 1]), 10, rng, init=np.zeros((8, 3)))
    with pytest.raises(TypeError, match="prior"):
        reference_posterior(lp, "uniform", 10, rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="cannot give n_samples"):
            reference_posterior(lp, BoxUniform([-1, -1], [1, 1]), 1000, rng, n_walkers=8, n_steps=10, thin=1)


def test_prune_moves_stranded_walkers_only():
    from trustbench.posterior.reference import _prune

    rng = np.random.default_rng(0)
    walkers = rng.normal(size=(16, 3))
    lp = -0.5 * (walkers**2).sum(1)
    walkers[5], lp[5] = [20.0, 0.0, 0.0], -200.0  # χ²_3(0.999)/2 ≈ 8.1 below the median: stranded
    out, n = _prune(walkers, lp, 3, rng)
    assert n == 1 and np.abs(out[5]).max() < 5
    np.testing.assert_array_equal(np.delete(out, 5, 0), np.delete(walkers, 5, 0))
