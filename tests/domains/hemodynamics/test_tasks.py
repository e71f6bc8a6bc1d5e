"""Haemodynamic inversion task: reference posteriors against exact grid posteriors, the ridge of an
uncalibrated gain, model error, the measurement model against scipy, determinism, validation, pickling.

Monte Carlo error of reference draws: ``n_reference`` multinomial resamples of importance-weighted
draws whose Kish ESS is ``meta["ess_min"]``, so the effective size is n_eff = 1 / (1/ESS + 1/n_reference)
(Owen 2013, ch. 9). Means are compared within 5 sd/√n_eff, sds within 5·sd/√(2 n_eff) (Gaussian-like
marginals; the uniform-like marginal of the ridge has a smaller kurtosis, so this is conservative),
quantiles through the grid CDF at the reference quantile within 5·√(q(1−q)/n_eff), and whole
distributions by the Kolmogorov–Smirnov distance against its 0.1 % critical value 1.95/√n_eff.
"""

from __future__ import annotations

import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
from scipy import stats

from trustbench.domains.hemodynamics.simulators import PARAMETERS, simulate
from trustbench.domains.hemodynamics.tasks import CHANNEL_SCALE, GAIN_RANGE, Inversion

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
CENTRE = np.array([(p.low + p.high) / 2 for p in PARAMETERS])
INDEX = {p.name: i for i, p in enumerate(PARAMETERS)}


# ---------------------------------------------------------------------------------- grid helpers
def weighted_cdf(values, weights):
    """CDF of a discrete distribution (grid points with masses), linearly interpolated at mid-steps."""
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order] / weights.sum()
    mid = np.cumsum(w) - w / 2

    def cdf(x):
        return np.interp(x, v, mid, left=0.0, right=1.0)

    return cdf


def compare(draws, grid_values, grid_weights, n_eff, what):
    """Reference draws of one scalar against the grid's exact distribution of it."""
    w = grid_weights / grid_weights.sum()
    mean = w @ grid_values
    sd = np.sqrt(w @ (grid_values - mean) ** 2)
    assert abs(draws.mean() - mean) < 5 * sd / np.sqrt(n_eff), (what, "mean", draws.mean(), mean)
    assert abs(draws.std() - sd) < 5 * sd / np.sqrt(2 * n_eff), (what, "sd", draws.std(), sd)
    cdf = weighted_cdf(grid_values, grid_weights)
    for q in QUANTILES:
        assert abs(cdf(np.quantile(draws, q)) - q) < 5 * np.sqrt(q * (1 - q) / n_eff), (what, "quantile", q)
    assert stats.kstest(draws, cdf).statistic < 1.95 / np.sqrt(n_eff), (what, "KS")


def n_effective(meta, n_reference):
    return 1.0 / (1.0 / meta["ess_min"] + 1.0 / n_reference)


def normalised(log_post):
    w = np.exp(log_post - log_post.max())
    return w / w.sum()


# ---------------------------------------------------------------------------------- (1)+(2) ridge
@pytest.fixture(scope="module")
def ridge():
    """θ = (sv, gain): uncalibrated pressures, so only gain·sv is identified."""
    task = Inversion(simulator="windkessel3", parameters=("sv",), uncalibrated=True, n_observations=2,
                     n_reference=1000)
    obs = task.observations(0)[0]
    return task, obs


def test_likelihood_depends_on_gain_times_sv_only(ridge):
    task, obs = ridge
    sv = np.linspace(55.0, 95.0, 9)
    product = obs.theta.prod()
    ll = task.log_likelihood(np.c_[sv, product / sv], obs.x)
    np.testing.assert_allclose(ll, ll[0], rtol=1e-9, atol=1e-6)
    # ...and moving off the ridge by 1 % costs many log units (the data identify the product)
    assert task.log_likelihood(np.c_[sv[:1], 1.01 * product / sv[:1]], obs.x)[0] < ll[0] - 10


def ridge_grid(task, x, n_sv=300, n_p=300):
    """Exact posterior on a grid in (sv, p = gain·sv): density prior(sv, p/sv)·L(sv, p/sv) / sv."""
    lo, hi = task.prior.low, task.prior.high
    # window in p from a 1-D likelihood scan (the likelihood depends on p only: see the test above)
    p_scan = np.linspace(lo[0] * lo[1], hi[0] * hi[1], 4000)
    ll_scan = task.log_likelihood(np.c_[np.full_like(p_scan, 75.0), p_scan / 75.0], x)
    w_scan = normalised(ll_scan)
    p_hat = w_scan @ p_scan
    p_sd = max(np.sqrt(w_scan @ (p_scan - p_hat) ** 2), p_scan[1] - p_scan[0])
    sv = np.linspace(lo[0], hi[0], n_sv + 1)
    sv = (sv[1:] + sv[:-1]) / 2  # cell midpoints
    p = np.linspace(p_hat - 10 * p_sd, p_hat + 10 * p_sd, n_p)
    SV, P = np.meshgrid(sv, p, indexing="ij")
    theta = np.c_[SV.ravel(), (P / SV).ravel()]
    log_prior = task.prior.log_prob(theta)
    log_post = np.full(len(theta), -np.inf)
    inside = np.isfinite(log_prior)
    log_post[inside] = task.log_likelihood(theta[inside], x) - np.log(theta[inside, 0])
    w = normalised(log_post).reshape(SV.shape)
    assert w[:, [0, -1]].sum() < 1e-8  # the p window holds the whole posterior
    return SV.ravel(), (P / SV).ravel(), w.ravel()


def test_ridge_reference_matches_grid_posterior(ridge):
    task, obs = ridge
    ref, meta = obs.reference, obs.meta
    assert ref.shape == (1000, 2) and task.parameter_names == ("sv", "gain")
    assert ((ref >= task.prior.low) & (ref <= task.prior.high)).all()
    n_eff = n_effective(meta, 1000)
    assert meta["ess_min"] > 1000 and meta["warnings"] == []
    sv, gain, w = ridge_grid(task, obs.x)
    compare(ref[:, 0], sv, w, n_eff, "sv")
    compare(ref[:, 1], gain, w, n_eff, "gain")
    compare(ref.prod(1), sv * gain, w, n_eff, "gain*sv")
    # closed form along the ridge: given p, sv has density ∝ 1/sv on [max(50, p/1.3), min(100, p/0.7)]
    p = ref.prod(1).mean()
    a, b = max(task.prior.low[0], p / GAIN_RANGE[1]), min(task.prior.high[0], p / GAIN_RANGE[0])
    assert abs(ref[:, 0].mean() - (b - a) / np.log(b / a)) < 5 * ref[:, 0].std() / np.sqrt(n_eff)


def test_ridge_shape_in_log_space(ridge):
    task, obs = ridge
    u = np.log(obs.reference)
    assert np.corrcoef(u.T)[0, 1] < -0.99
    sd_product = np.log(obs.reference.prod(1)).std()
    assert sd_product < 0.05 * u.std(0).min()
    # the grid agrees on how thin the ridge is
    sv, gain, w = ridge_grid(task, obs.x, n_sv=100, n_p=200)
    lp = np.log(sv * gain)
    sd_grid = np.sqrt(w @ (lp - w @ lp) ** 2)
    assert abs(sd_product - sd_grid) < 5 * sd_grid / np.sqrt(2 * n_effective(obs.meta, 1000))


# ---------------------------------------------------------------------------------- (1) identifiable
def test_identifiable_reference_matches_grid_posterior():
    task = Inversion(simulator="windkessel3", parameters=("hr", "r_periph"), noise=0.5, n_observations=2,
                     n_reference=1000, reference=False)
    obs = task.observations(3)[0]
    ref, meta = task.reference_posterior(obs.x, obs.theta, np.random.default_rng(7))
    assert ref.shape == (1000, 2) and meta["warnings"] == []
    lo, hi = task.prior.low, task.prior.high
    # coarse grid over the whole prior box to find the posterior's support, then a fine one on it
    axes = [np.linspace(lo[i], hi[i], 100) for i in range(2)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 2)
    ll = task.log_likelihood(grid, obs.x)
    keep = grid[ll > ll.max() - 30]
    step = (hi - lo) / 99
    a, b = np.maximum(keep.min(0) - 2 * step, lo), np.minimum(keep.max(0) + 2 * step, hi)
    axes = [np.linspace(a[i], b[i], 300) for i in range(2)]
    H, R = np.meshgrid(*axes, indexing="ij")
    grid = np.c_[H.ravel(), R.ravel()]
    w = normalised(task.log_likelihood(grid, obs.x))  # uniform prior: posterior ∝ likelihood
    # the window holds the whole posterior: no mass on a side that cuts through the prior box
    w2 = w.reshape(H.shape)
    sides = [(a[0] > lo[0], w2[0]), (b[0] < hi[0], w2[-1]), (a[1] > lo[1], w2[:, 0]), (b[1] < hi[1], w2[:, -1])]
    assert all(m.sum() < 1e-6 for cut, m in sides if cut)
    n_eff = n_effective(meta, 1000)
    compare(ref[:, 0], grid[:, 0], w, n_eff, "hr")
    compare(ref[:, 1], grid[:, 1], w, n_eff, "r_periph")
    wm = w @ grid
    grid_corr = (w @ ((grid[:, 0] - wm[0]) * (grid[:, 1] - wm[1]))) / np.sqrt(np.prod(w @ (grid - wm) ** 2))
    assert abs(np.corrcoef(ref.T)[0, 1] - grid_corr) < 5 * (1 - grid_corr**2) / np.sqrt(n_eff)


@pytest.mark.parametrize("simulator", ["windkessel3", pytest.param("wave", marks=pytest.mark.slow)])
def test_seven_parameter_reference_is_stationary_under_exact_likelihood_mcmc(simulator):
    """All 7 parameters, where no grid reaches: importance draws started as 1,000 walkers of an
    ensemble sampler on the exact posterior (Goodman & Weare 2010; in log θ, whose density carries the
    Jacobian) must stay distributed as the reference. The sampler leaves the posterior invariant, so a
    biased reference would drift towards it; after 300 steps each walker has moved ~√2 posterior sds
    (as far as an independent draw), so drift would show. Measured: mean shifts <= 0.09 sd, sd
    ratios 0.96-1.03, C2ST 0.50 (Windkessel) and 0.52 (wave) against fresh reference draws."""
    from trustbench.domains.hemodynamics.tasks import _LogBox
    from trustbench.metrics.posterior import c2st
    from trustbench.posterior.reference import ensemble_mcmc

    task = Inversion(simulator=simulator, noise=0.02 if simulator == "windkessel3" else 0.01,
                     n_observations=2, n_reference=4000)
    obs = task.observations(0)[0]
    assert obs.reference.shape == (4000, 7)
    log_box = _LogBox(task.prior)

    def log_post(u):
        out = log_box.log_prob(u)
        inside = np.isfinite(out)
        out[inside] += task.log_likelihood(np.exp(u[inside]), obs.x)
        return out

    start, fresh = np.log(obs.reference[:1000]), np.log(obs.reference[1000:2000])
    final = ensemble_mcmc(log_post, start, 300, np.random.default_rng(1)).chains[-1]
    sd = np.log(obs.reference[1000:]).std(axis=0)
    moved = np.sqrt(((final - start) ** 2).mean(axis=0)) / sd
    assert moved.min() > 1.2, moved  # walkers decorrelated from their start (independent: √2)
    shift = np.abs(final.mean(axis=0) - fresh.mean(axis=0)) / sd
    assert shift.max() < 0.25, shift  # its standard error: sqrt(2 / 1000) = 0.045 (more with duplicates)
    ratio = final.std(axis=0) / sd
    assert 0.85 < ratio.min() and ratio.max() < 1.15, ratio
    assert c2st(fresh, final, seed=0) < 0.56


# ---------------------------------------------------------------------------------- (3) model error
@pytest.fixture(scope="module")
def model_error():
    task = Inversion(simulator="windkessel3", test_simulator="wave", reference=False)
    return task, task.observations(0)


def test_model_error_description(model_error):
    task, _ = model_error
    assert task.sweep["model_error"] is True
    assert "windkessel3→wave" in task.label
    assert task.sweep["family"] == "hemodynamics/windkessel3"
    plain = Inversion(simulator="windkessel3", test_simulator="windkessel3", reference=False)
    assert plain.sweep["model_error"] is False and "→" not in plain.label


def test_simulate_test_uses_the_test_simulator(model_error):
    task, _ = model_error
    theta = task.prior.sample(4, np.random.default_rng(1))
    train, test = task.simulate(theta, np.random.default_rng(2)), task.simulate_test(theta, np.random.default_rng(2))
    noise = train - task.clean(theta, "windkessel3")
    np.testing.assert_allclose(test - task.clean(theta, "wave"), noise, atol=1e-9)  # same noise draws
    assert np.abs(train - test).max() > 5 * task._sd.max()
    same = Inversion(simulator="windkessel3", reference=False)
    np.testing.assert_array_equal(same.simulate(theta, np.random.default_rng(2)),
                                  same.simulate_test(theta, np.random.default_rng(2)))


def test_observations_come_from_the_wave_model(model_error):
    task, obs = model_error
    sd = task._sd[:, None]
    z_wave = np.concatenate([((o.x - task.clean(o.theta, "wave")[0]) / sd).ravel() for o in obs])
    z_wk = np.concatenate([((o.x - task.clean(o.theta, "windkessel3")[0]) / sd).ravel() for o in obs])
    # standardised residuals under the wave model are N(0, 1): mean square 1 ± 5·√(2/N)
    assert abs((z_wave**2).mean() - 1) < 5 * np.sqrt(2 / z_wave.size)
    assert (z_wk**2).mean() > 2
    # the likelihood (and so the reference posterior) is the test simulator's
    theta = np.stack([o.theta for o in obs])
    np.testing.assert_allclose(task.log_likelihood(theta, obs[0].x), task.log_likelihood(theta, obs[0].x, model="wave"))
    assert not np.allclose(task.log_likelihood(theta, obs[0].x), task.log_likelihood(theta, obs[0].x, "windkessel3"))


# ---------------------------------------------------------------------------------- (4) measurement
@pytest.mark.parametrize("uncalibrated", [False, True])
def test_noise_has_the_per_channel_sd(uncalibrated):
    task = Inversion(noise=0.05, uncalibrated=uncalibrated, reference=False)
    theta = task.prior.sample(400, np.random.default_rng(0))
    resid = task.simulate(theta, np.random.default_rng(1)) - task.clean(theta, task.simulator)
    n = resid.shape[0] * resid.shape[2]
    expected = 0.05 * np.array([CHANNEL_SCALE[c] for c in task.channels])
    sd = np.sqrt((resid**2).mean(axis=(0, 2)))  # the mean is known to be 0
    np.testing.assert_array_less(np.abs(sd / expected - 1), 5 / np.sqrt(2 * n))
    np.testing.assert_array_less(np.abs(resid.mean(axis=(0, 2))) / expected, 5 / np.sqrt(n))
    white = (resid / expected[None, :, None]).ravel()
    assert abs(np.corrcoef(white[:-1], white[1:])[0, 1]) < 5 / np.sqrt(white.size)


def test_clean_is_the_simulator_with_fixed_parameters_and_gain():
    task = Inversion(parameters=("sv", "hr"), uncalibrated=True, reference=False)
    assert task.parameters == ("hr", "sv") and task.parameter_names == ("hr", "sv", "gain")
    theta = np.array([[70.0, 80.0, 1.2], [90.0, 60.0, 0.8]])
    full = np.tile(CENTRE, (2, 1))
    full[:, INDEX["hr"]], full[:, INDEX["sv"]] = theta[:, 0], theta[:, 1]
    raw = simulate(full, model="windkessel3", fs=task.fs, duration=task.duration, channels=task.channels)
    got = task.clean(theta, "windkessel3")
    np.testing.assert_allclose(got[:, :2], theta[:, 2, None, None] * raw[:, :2], rtol=1e-12)  # pressures × gain
    np.testing.assert_allclose(got[:, 2], raw[:, 2], rtol=1e-12)  # the PPG carries no gain
    np.testing.assert_array_equal(task.prior.low, [50.0, 50.0, GAIN_RANGE[0]])


def test_log_likelihood_equals_scipy():
    task = Inversion(noise=0.03, channels=("central", "ppg"), parameters=("hr", "sv", "r_periph"),
                     uncalibrated=True, reference=False)
    rng = np.random.default_rng(5)
    x = task.simulate(task.prior.sample(1, rng), rng)[0]
    theta = task.prior.sample(6, rng)
    sd = 0.03 * np.array([CHANNEL_SCALE["central"], CHANNEL_SCALE["ppg"]])
    expected = [stats.norm.logpdf(x, task.clean(t, "windkessel3")[0], sd[:, None]).sum() for t in theta]
    np.testing.assert_allclose(task.log_likelihood(theta, x), expected, rtol=1e-10)


# ---------------------------------------------------------------------------------- (5) determinism
@pytest.fixture(scope="module")
def small():
    return Inversion(parameters=("sv", "r_periph"), noise=0.1, n_observations=2, n_reference=50,
                     reference_options={"oversample": 4, "adapt": 1})


def test_observations_deterministic_for_a_seed(small):
    a, b, c = small.observations(11), small.observations(11), small.observations(12)
    for oa, ob in zip(a, b, strict=True):
        np.testing.assert_array_equal(oa.x, ob.x)
        np.testing.assert_array_equal(oa.theta, ob.theta)
        np.testing.assert_array_equal(oa.reference, ob.reference)
        assert oa.meta["ess_min"] == ob.meta["ess_min"]
    for oa, oc in zip(a, c, strict=True):
        assert not np.array_equal(oa.x, oc.x) and not np.array_equal(oa.theta, oc.theta)
        assert not np.array_equal(oa.reference, oc.reference)
    assert not np.array_equal(a[0].x, a[1].x)
    # the data do not depend on whether references are made
    bare = Inversion(parameters=("sv", "r_periph"), noise=0.1, n_observations=2, reference=False).observations(11)
    np.testing.assert_array_equal(bare[1].x, a[1].x)
    assert bare[1].reference is None


# ---------------------------------------------------------------------------------- (6) validation
@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(simulator="windkessel5"), "simulator"),
        (dict(test_simulator="wav"), "test_simulator"),
        (dict(channels=("central", "ecg")), "channels"),
        (dict(channels=("central", "central")), "channels"),
        (dict(channels=()), "channels"),
        (dict(parameters=("sv", "compliance")), "parameters"),
        (dict(parameters=("sv", "sv")), "parameters"),
        (dict(parameters=()), "parameters"),
        (dict(noise=0.0), "noise"),
        (dict(noise=-0.1), "noise"),
        (dict(uncalibrated=True, channels=("ppg",)), "uncalibrated"),
        (dict(reference_options={"n_walkers": 32}), "reference_options"),
        (dict(n_reference=1), "n_reference"),
        (dict(fs=0.0), "fs"),
    ],
)
def test_validation_names_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Inversion(**kwargs)


def test_observations_seed_is_validated(small):
    with pytest.raises(ValueError, match="seed"):
        small.observations(-1)
    with pytest.raises(TypeError, match="seed"):
        small.observations(1.5)


# ---------------------------------------------------------------------------------- (7) pickling
def test_pickles_and_works_in_another_process(small):
    _ = small.prior, small._sd  # cached state travels too
    clone = pickle.loads(pickle.dumps(small))
    assert clone.parameter_names == small.parameter_names and clone.label == small.label
    expected = small.observations(21)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        remote = pool.submit(clone.observations, 21).result(timeout=120)
    for a, b in zip(expected, remote, strict=True):
        np.testing.assert_array_equal(a.x, b.x)
        np.testing.assert_array_equal(a.reference, b.reference)


# ---------------------------------------------------------------------------------- (1) prior limit
def test_uninformed_parameter_keeps_its_prior():
    """The PPG does not depend on SV (simulators' docstring): from the PPG alone the posterior of sv
    is its uniform prior, independent of hr. This checks the log-θ Jacobian of the proposal space."""
    task = Inversion(simulator="windkessel3", parameters=("hr", "sv"), channels=("ppg",), noise=0.1,
                     n_observations=2, n_reference=1000)
    obs = task.observations(0)[0]
    ll = task.log_likelihood(np.c_[np.full(5, obs.theta[0]), np.linspace(50, 100, 5)], obs.x)
    np.testing.assert_allclose(ll, ll[0], rtol=1e-12)
    n_eff = n_effective(obs.meta, 1000)
    sv = obs.reference[:, 1]
    assert stats.kstest(sv, stats.uniform(50.0, 50.0).cdf).statistic < 1.95 / np.sqrt(n_eff)
    assert abs(sv.mean() - 75.0) < 5 * (50 / np.sqrt(12)) / np.sqrt(n_eff)
    assert abs(np.corrcoef(obs.reference.T)[0, 1]) < 5 / np.sqrt(n_eff)
