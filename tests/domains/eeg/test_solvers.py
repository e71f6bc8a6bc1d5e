"""Bayesian EEG inverse solvers against independent references.

bayes_mn: the Gaussian conjugate posterior written the other way (information form), a brute-force
grid of scipy's multivariate-normal log density for the evidence-maximising prior variance, and
interval coverage when the model is right (Monte Carlo). champagne: recovery of the active set on a
spherical-head gain (MNE), the majorisation-minimisation guarantee (the cost never increases),
stationarity of its fixed point for blocks of 3 orientations (the n_orient normalisation), and a
direct scipy minimisation of the Type-II cost with one orientation.

Monte Carlo error of the coverage tests: T independent columns, each with N coordinates whose
interval hits are correlated; the fraction of hits over all N·T is then no more variable than a
single coordinate's over T, so sd ≤ sqrt(p(1−p)/T) and the tolerance is 4 of those.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from scipy import optimize, stats

from trustbench.domains.eeg import solvers
from trustbench.domains.eeg.solvers import Posterior, bayes_mn, champagne


def _spd(rng: np.random.Generator, m: int) -> np.ndarray:
    A = rng.normal(size=(m, m))
    return A @ A.T / m + 0.5 * np.eye(m)


def _problem(seed: int = 0, m: int = 8, n: int = 4, d: int = 3, T: int = 6):
    rng = np.random.default_rng(seed)
    L = rng.normal(size=(m, n * d))
    C = _spd(rng, m)
    Y = rng.normal(size=(m, T))
    return L, Y, C


def _conjugate(L, Y, C, gamma_cols):
    """Information form: Σ = (Lᵀ C⁻¹ L + Γ⁻¹)⁻¹, mean = Σ Lᵀ C⁻¹ Y."""
    Ci = np.linalg.inv(C)
    Sigma = np.linalg.inv(L.T @ Ci @ L + np.diag(1.0 / gamma_cols))
    return Sigma @ L.T @ Ci @ Y, Sigma


# ---------------------------------------------------------------------------------------------
# bayes_mn
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("d", [1, 3])
@pytest.mark.parametrize("depth", [None, 0.8])
def test_bayes_mn_equals_conjugate_posterior(d, depth):
    L, Y, C = _problem(seed=d, d=d)
    n = L.shape[1] // d
    post = bayes_mn(L, Y, C, prior_var=0.7, n_orient=d, depth=depth)
    if depth is None:
        w = np.ones(n)
    else:  # whitened column norms through C⁻¹ (not the eigen-whitener of the solver)
        Ci = np.linalg.inv(C)
        w = np.array(
            [np.trace(L[:, d * i : d * i + d].T @ Ci @ L[:, d * i : d * i + d]) for i in range(n)]
        )
        w = w**-depth
        w /= w.mean()
    mean, Sigma = _conjugate(L, Y, C, np.repeat(0.7 * w, d))
    np.testing.assert_allclose(post.mean, mean, rtol=1e-8, atol=1e-12 * np.abs(mean).max())
    np.testing.assert_allclose(post.std, np.sqrt(np.diag(Sigma)), rtol=1e-8)
    np.testing.assert_allclose(post.covariance(), Sigma, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(post.gamma, 0.7 * w, rtol=1e-12)
    assert post.n_iter == 0 and post.converged
    assert isinstance(post, Posterior) and post.mean.shape == (n * d, Y.shape[1])


def _loglik(L, Y, C, gamma_cols):
    cov = L @ np.diag(gamma_cols) @ L.T + C
    return stats.multivariate_normal(np.zeros(len(C)), cov).logpdf(Y.T).sum()


@pytest.mark.parametrize("d, depth", [(3, None), (1, 0.5)])
def test_bayes_mn_evidence_maximum_matches_grid_search(d, depth):
    rng = np.random.default_rng(10 + d)
    m, n, T = 10, 6, 20
    L = rng.normal(size=(m, n * d))
    C = _spd(rng, m)
    x = rng.normal(scale=np.sqrt(0.3), size=(n * d, T))
    Y = L @ x + np.linalg.cholesky(C) @ rng.normal(size=(m, T))
    post = bayes_mn(L, Y, C, n_orient=d, depth=depth)
    assert post.converged and post.n_iter > 0
    w = post.gamma / post.gamma.mean()  # depth weights (mean 1), checked in the closed-form test
    alpha_hat = post.gamma.mean()
    grid = np.exp(np.linspace(np.log(alpha_hat) - 3, np.log(alpha_hat) + 3, 1501))
    ll = np.array([_loglik(L, Y, C, np.repeat(a * w, d)) for a in grid])
    best = grid[ll.argmax()]
    step = np.log(grid[1] / grid[0])
    assert abs(np.log(alpha_hat / best)) <= step
    assert 0 < ll.argmax() < len(grid) - 1
    # ours is at least as good as the best grid point (to rounding)
    assert _loglik(L, Y, C, np.repeat(alpha_hat * w, d)) >= ll.max() - 1e-9 * abs(ll.max())
    # the reported cost is −2/T log-evidence up to a constant: differences agree with scipy
    other = bayes_mn(L, Y, C, n_orient=d, depth=depth, prior_var=3 * alpha_hat)
    diff_ours = (other.cost - post.cost)[0] * T / -2
    diff_scipy = _loglik(L, Y, C, np.repeat(3 * alpha_hat * w, d)) - _loglik(
        L, Y, C, np.repeat(alpha_hat * w, d)
    )
    np.testing.assert_allclose(diff_ours, diff_scipy, rtol=1e-8)


def test_bayes_mn_batch_equals_per_sample():
    rng = np.random.default_rng(3)
    L, _, C = _problem(seed=3, m=9, n=5)
    Yb = rng.normal(size=(4, 9, 7)) * np.array([0.5, 1.0, 3.0, 10.0])[:, None, None]
    batch = bayes_mn(L, Yb, C)
    assert (
        batch.mean.shape == (4, 15, 7)
        and batch.std.shape == (4, 15)
        and batch.gamma.shape == (4, 5)
    )
    assert batch.cost.shape == (4, 1)
    for b in range(4):
        one = bayes_mn(L, Yb[b], C)
        np.testing.assert_allclose(batch.mean[b], one.mean, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(batch.std[b], one.std, rtol=1e-10)
        np.testing.assert_allclose(
            batch.covariance(sample=b), one.covariance(), rtol=1e-10, atol=1e-14
        )
    np.testing.assert_allclose(
        np.diagonal(batch.covariance(), axis1=1, axis2=2), batch.std**2, rtol=1e-10
    )
    with pytest.raises(ValueError, match="sample"):
        batch.covariance(sample=4)
    with pytest.raises(ValueError, match="sample"):
        one.covariance(sample=0)


def _average_reference(m: int) -> np.ndarray:
    return np.eye(m) - np.ones((m, m)) / m


def test_bayes_mn_rank_deficient_noise_equals_reduced_problem():
    """Average reference: C = P C0 P has rank m − 1; the solver must equal the full-rank problem in
    an orthonormal basis of range(P)."""
    rng = np.random.default_rng(4)
    m, n, d, T = 9, 4, 3, 5
    P = _average_reference(m)
    L = P @ rng.normal(size=(m, n * d))
    C = P @ _spd(rng, m) @ P
    Y = P @ rng.normal(size=(m, T))
    assert np.linalg.matrix_rank(C) == m - 1
    post = bayes_mn(L, Y, C, prior_var=2.0, n_orient=d)
    Q = np.linalg.svd(P)[0][:, : m - 1]
    mean, Sigma = _conjugate(Q.T @ L, Q.T @ Y, Q.T @ C @ Q, np.full(n * d, 2.0))
    np.testing.assert_allclose(post.mean, mean, rtol=1e-8, atol=1e-12 * np.abs(mean).max())
    np.testing.assert_allclose(post.covariance(), Sigma, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(
        bayes_mn(L, Y, C, prior_var=2.0, rank=m - 1).mean, post.mean, rtol=1e-10
    )
    # a lower explicit rank drops information: a different answer
    assert not np.allclose(bayes_mn(L, Y, C, prior_var=2.0, rank=m - 3).std, post.std, rtol=1e-3)
    with pytest.raises(ValueError, match="rank"):
        bayes_mn(L, Y, C, prior_var=2.0, rank=m)


@pytest.mark.parametrize("prior_var", ["true", None])
def test_bayes_mn_intervals_are_calibrated_when_the_model_is_right(prior_var):
    rng = np.random.default_rng(5)
    m, n, d, T, alpha = 12, 6, 3, 4000, 0.4
    P = _average_reference(m)
    L = P @ rng.normal(size=(m, n * d))
    C0 = _spd(rng, m)
    C = P @ C0 @ P
    x = rng.normal(scale=np.sqrt(alpha), size=(n * d, T))
    Y = L @ x + P @ np.linalg.cholesky(C0) @ rng.normal(size=(m, T))
    post = bayes_mn(L, Y, C, prior_var=alpha if prior_var == "true" else None)
    if prior_var is None:  # the evidence recovers the prior variance
        assert abs(post.gamma[0] / alpha - 1) < 0.1
    z = (x - post.mean) / post.std[:, None]
    for level in (0.5, 0.9):
        half = stats.norm.ppf(0.5 + level / 2)
        cover = np.mean(np.abs(z) <= half)
        assert abs(cover - level) < 4 * np.sqrt(level * (1 - level) / T), (level, cover)


def test_bayes_mn_intervals_fail_when_the_prior_is_wrong():
    """The coverage check has power: a prior 20 times too narrow under-covers badly."""
    rng = np.random.default_rng(6)
    m, n, d, T, alpha = 12, 6, 3, 2000, 0.4
    L = rng.normal(size=(m, n * d))
    C = _spd(rng, m)
    x = rng.normal(scale=np.sqrt(alpha), size=(n * d, T))
    Y = L @ x + np.linalg.cholesky(C) @ rng.normal(size=(m, T))
    post = bayes_mn(L, Y, C, prior_var=alpha / 20)
    cover = np.mean(np.abs((x - post.mean) / post.std[:, None]) <= stats.norm.ppf(0.95))
    assert cover < 0.75


def test_bayes_mn_pure_noise_is_flagged(caplog):
    rng = np.random.default_rng(7)
    L, _, C = _problem(seed=7, m=10, n=4)
    Y = np.linalg.cholesky(C) @ rng.normal(size=(10, 200)) * 0.5  # less power than the noise model
    with caplog.at_level(logging.WARNING, logger="trustbench"):
        post = bayes_mn(L, Y, C)
    assert not post.converged
    assert "end of the search range" in caplog.text


def test_solvers_are_scale_free():
    """Volts and A·m or microvolts and nA·m: the same answer in the same physical units."""
    L, Y, C = _problem(seed=8, m=8, n=5, T=12)
    a, b = 1e-7, 1e-6  # gain and data units
    for solve in (bayes_mn, lambda *args: champagne(*args, max_iter=50)):
        ref = solve(L, Y, C)
        scaled = solve(L * a, Y * b, C * b**2)
        np.testing.assert_allclose(
            scaled.mean, ref.mean * b / a, rtol=1e-7, atol=1e-12 * np.abs(ref.mean).max() * b / a
        )
        np.testing.assert_allclose(
            scaled.std, ref.std * b / a, rtol=1e-7, atol=1e-12 * ref.std.max() * b / a
        )
        np.testing.assert_allclose(scaled.cost, ref.cost, rtol=1e-9)


# ---------------------------------------------------------------------------------------------
# champagne
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sphere_gain():
    mne = pytest.importorskip("mne")
    mne.set_log_level("ERROR")
    mont = mne.channels.make_standard_montage("biosemi64")
    info = mne.create_info(mont.ch_names, 100.0, "eeg")
    info.set_montage(mont)
    sphere = mne.make_sphere_model(r0="auto", head_radius="auto", info=info)
    src = mne.setup_volume_source_space(sphere=sphere, pos=20.0, mindist=5.0)
    fwd = mne.make_forward_solution(info, trans=None, src=src, bem=sphere, eeg=True, meg=False)
    return fwd["sol"]["data"], fwd["source_rr"]


def _simulate(L, pos, rng, k=3, T=50, snr=10.0, min_dist=0.04):
    n = len(pos)
    while True:
        act = rng.choice(n, k, replace=False)
        dist = np.linalg.norm(pos[act][:, None] - pos[act][None], axis=-1)
        if dist[np.triu_indices(k, 1)].min() > min_dist:
            break
    X = np.zeros((3 * n, T))
    t = np.arange(T) / 100.0
    for j, i in enumerate(act):
        ori = rng.normal(size=3)
        wave = np.sin(2 * np.pi * (5 + 4 * j) * t + rng.uniform(0, 2 * np.pi))
        X[3 * i : 3 * i + 3] = np.outer(ori / np.linalg.norm(ori), wave) * 1e-8
    signal = L @ X
    noise = rng.normal(size=signal.shape)
    noise *= np.linalg.norm(signal) / np.linalg.norm(noise) / snr
    return act, signal + noise, np.eye(len(L)) * noise.var()


def test_champagne_recovers_active_sources_and_never_increases_its_cost(sphere_gain):
    L, pos = sphere_gain
    rng = np.random.default_rng(11)
    for _ in range(2):
        act, Y, C = _simulate(L, pos, rng)
        post = champagne(L, Y, C, max_iter=300)
        assert set(np.argsort(post.gamma)[-3:]) == set(act)
        cost = post.cost
        assert len(cost) == post.n_iter + 1 and post.n_iter > 10
        assert np.all(np.diff(cost) <= 1e-12 * np.abs(cost[:-1])), np.diff(cost).max()
        assert cost[-1] < cost[0] - 1.0
        # the posterior sd is the diagonal of the returned covariance, and 0 where γ = 0
        idx = np.repeat(np.arange(len(post.gamma)), 3)
        assert np.all(post.std[post.gamma[idx] == 0] == 0)
        sub = np.flatnonzero(post.gamma[idx] > 0)[:30]
        np.testing.assert_allclose(np.diag(post.covariance())[sub], post.std[sub] ** 2, rtol=1e-8)


def _stationarity(L, Y, C, gamma, d):
    """z_i − ‖L_iᵀ Σ_y⁻¹ Y‖²/T (∂cost/∂γ_i) and z_i, with raw (unwhitened) matrices."""
    Sy = C + (L * np.repeat(gamma, d)) @ L.T
    Si = np.linalg.inv(Sy)
    B = Si @ L
    z = (L * B).sum(axis=0).reshape(-1, d).sum(axis=1)
    num = ((B.T @ Y) ** 2).sum(axis=1).reshape(-1, d).sum(axis=1) / Y.shape[1]
    return z - num, z


def test_champagne_fixed_point_is_stationary_for_orientation_blocks(sphere_gain):
    """With n_orient = 3 the fixed point is a stationary point of the Type-II cost: the gradient of
    log|Σ_y| + tr(Σ_y⁻¹S) in γ_i vanishes on the active sources (no extra 1/n_orient factor)."""
    L, pos = sphere_gain
    rng = np.random.default_rng(12)
    act, Y, C = _simulate(L, pos, rng, k=2, snr=3.0)
    post = champagne(L, Y, C, max_iter=3000, tol=1e-9)
    grad, z = _stationarity(L, Y, C, post.gamma, 3)
    big = post.gamma > 1e-2 * post.gamma.max()
    assert big.sum() >= 2
    assert np.abs(grad[big] / z[big]).max() < 1e-4
    # an update with an extra 1/3 moves the active γ by a factor of ~3: far from stationary
    grad3, z3 = _stationarity(L, Y, C, post.gamma / 3, 3)
    assert np.abs(grad3[big] / z3[big]).max() > 0.1


def _type2_cost(log_gamma, L, S, C):
    Sy = C + (L * np.exp(log_gamma)) @ L.T
    sign, logdet = np.linalg.slogdet(Sy)
    return logdet + np.trace(np.linalg.solve(Sy, S))


def test_champagne_fixed_point_matches_direct_minimisation_one_orientation():
    rng = np.random.default_rng(13)
    m, n, T = 8, 5, 400
    L = rng.normal(size=(m, n))
    C = _spd(rng, m)
    g_true = np.array([1.0, 0.5, 2.0, 0.3, 1.5])
    X = rng.normal(size=(n, T)) * np.sqrt(g_true)[:, None]
    Y = L @ X + np.linalg.cholesky(C) @ rng.normal(size=(m, T))
    S = Y @ Y.T / T
    post = champagne(L, Y, C, n_orient=1, max_iter=20000, tol=1e-13, prune=0.0)
    assert post.converged
    res = optimize.minimize(
        _type2_cost, np.zeros(n), args=(L, S, C), method="BFGS", options={"gtol": 1e-10}
    )
    np.testing.assert_allclose(post.gamma, np.exp(res.x), rtol=1e-4)
    # same objective up to the constant log det C of whitening
    np.testing.assert_allclose(post.cost[-1] + np.linalg.slogdet(C)[1], res.fun, rtol=1e-9)


def test_champagne_sparse_case_reaches_the_direct_minimum():
    """More sources than sensors: γ → 0 for some, so compare objective values (the MM run, from
    its default start, against BFGS over log γ from several starts)."""
    rng = np.random.default_rng(14)
    m, n, T = 6, 10, 60
    L = rng.normal(size=(m, n))
    C = np.eye(m) * 0.1
    X = np.zeros((n, T))
    X[[2, 7]] = rng.normal(size=(2, T)) * 2.0
    Y = L @ X + rng.normal(size=(m, T)) * np.sqrt(0.1)
    S = Y @ Y.T / T
    post = champagne(L, Y, C, n_orient=1, max_iter=5000, tol=1e-10)
    best = min(
        optimize.minimize(_type2_cost, rng.normal(size=n) - 1, args=(L, S, C), method="BFGS").fun
        for _ in range(5)
    )
    ours = post.cost[-1] + np.linalg.slogdet(C)[1]
    assert ours <= best + 1e-4
    assert set(np.argsort(post.gamma)[-2:]) == {2, 7}


def test_champagne_batch_gram_and_direct_paths_agree(monkeypatch):
    rng = np.random.default_rng(15)
    L, _, C = _problem(seed=15, m=10, n=12)
    X = np.zeros((3, 36, 8))
    X[:, 3:6] = rng.normal(size=(3, 3, 8)) * 3
    Yb = L @ X + np.linalg.cholesky(C) @ rng.normal(size=(3, 10, 8))
    batch = champagne(L, Yb, C, max_iter=40)
    assert (
        batch.mean.shape == (3, 36, 8) and batch.gamma.shape == (3, 12) and batch.cost.shape[0] == 3
    )
    one = champagne(L, Yb[1], C, max_iter=40)
    np.testing.assert_allclose(batch.gamma[1], one.gamma, rtol=1e-12)
    np.testing.assert_allclose(batch.mean[1], one.mean, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(batch.covariance(sample=1), one.covariance(), rtol=1e-12, atol=1e-15)
    monkeypatch.setattr(solvers, "_GRAM_MAX_BYTES", 0)  # force the triangular-solve path
    direct = champagne(L, Yb, C, max_iter=40)
    np.testing.assert_allclose(direct.gamma, batch.gamma, rtol=1e-8)
    np.testing.assert_allclose(direct.cost, batch.cost, rtol=1e-10)
    # gamma_init: a source started at 0 stays at 0; the start changes the path
    g0 = np.ones(12)
    g0[3] = 0.0
    started = champagne(L, Yb[0], C, max_iter=40, gamma_init=g0)
    assert started.gamma[3] == 0.0 and np.all(started.mean[9:12] == 0)


# ---------------------------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------------------------

_L, _Y, _C = _problem(seed=20, m=6, n=3, d=3, T=4)
_bad_C = _C.copy()
_bad_C[0, 1] += 1.0


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"L": _L[0]}, ValueError, "L must be 2-D"),
        ({"Y": _Y[:5]}, ValueError, "Y must have 6 rows"),
        ({"Y": np.ones((2, 2, 6, 3))}, ValueError, "Y must be 2-D or 3-D"),
        ({"Y": np.where(_Y > 1, np.nan, _Y)}, ValueError, "Y must be finite"),
        ({"C": _C[:5, :5]}, ValueError, r"C must be \(6, 6\)"),
        ({"C": _bad_C}, ValueError, "C must be symmetric"),
        ({"C": -_C}, ValueError, "C must be positive semidefinite"),
        ({"n_orient": 2}, ValueError, "n_orient must be a positive integer dividing the 9"),
        ({"n_orient": 0}, ValueError, "n_orient"),
        ({"n_orient": 1.5}, TypeError, "n_orient"),
        ({"rank": 7}, ValueError, "rank"),
        ({"rank": 0}, ValueError, "rank"),
    ],
)
@pytest.mark.parametrize("solve", [bayes_mn, champagne])
def test_shared_validation_names_the_parameter(solve, kwargs, error, match):
    args = {"L": _L, "Y": _Y, "C": _C, **kwargs}
    rest = {k: v for k, v in kwargs.items() if k not in ("L", "Y", "C")}
    with pytest.raises(error, match=match):
        solve(args["L"], args["Y"], args["C"], **rest)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (
            {"prior_var": -1.0},
            ValueError,
            r"prior_var must be None or a finite number > 0; got -1.0",
        ),
        ({"prior_var": 0.0}, ValueError, "prior_var"),
        ({"prior_var": "big"}, TypeError, "prior_var"),
        ({"depth": -0.5}, ValueError, "depth"),
        ({"depth": np.ones(4)}, ValueError, "depth weights must be 3 positive"),
    ],
)
def test_bayes_mn_validation(kwargs, error, match):
    with pytest.raises(error, match=match):
        bayes_mn(_L, _Y, _C, **kwargs)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"max_iter": -1}, ValueError, "max_iter"),
        ({"tol": 0.0}, ValueError, "tol must be a finite number > 0"),
        ({"prune": -1.0}, ValueError, "prune"),
        ({"gamma_init": np.ones(4)}, ValueError, r"gamma_init must have shape \(3,\)"),
        ({"gamma_init": -np.ones(3)}, ValueError, "gamma_init must be >= 0"),
    ],
)
def test_champagne_validation(kwargs, error, match):
    with pytest.raises(error, match=match):
        champagne(_L, _Y, _C, **kwargs)
