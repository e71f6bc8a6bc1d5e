"""ICA stability tool: simulations, the three algorithms against the true mixing, ICASSO against
closed forms, determinism, the MNE Raw entry point and argument validation."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from scipy.signal import welch
from scipy.stats import kurtosis

from trustbench.domains.eeg.ica import (
    ALGORITHMS,
    IcassoResult,
    amari_per_run,
    ica_runs,
    ica_stability,
    ica_stability_raw,
    icasso,
    plot_stability,
    simulate_ica,
    source_match,
)

N_SOURCES, N_SAMPLES, N_RUNS = 5, 4000, 5
N_GAUSSIAN = 3  # with 2 Gaussian sources among 5 a random 2-D rotation gives an Amari index of only ~0.04


# --------------------------------------------------------------------------------------------
# simulation


@pytest.mark.parametrize("scenario", ["nongaussian", "gaussian", "pink", "nonstationary"])
def test_simulation_shapes_unit_variance_and_mixing(scenario):
    d = simulate_ica(scenario, n_sources=4, n_sensors=6, n_samples=2000, seed=3)
    assert d.X.shape == (6, 2000) and d.mixing.shape == (6, 4) and d.sources.shape == (4, 2000)
    assert len(d.kinds) == 4
    np.testing.assert_allclose(d.sources.mean(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(d.sources.std(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(d.X, d.mixing @ d.sources, rtol=1e-12, atol=1e-12)  # no noise by default
    again = simulate_ica(scenario, n_sources=4, n_sensors=6, n_samples=2000, seed=3)
    np.testing.assert_array_equal(again.X, d.X)
    other = simulate_ica(scenario, n_sources=4, n_sensors=6, n_samples=2000, seed=4)
    assert not np.allclose(other.X, d.X)


def test_simulation_kinds_and_distributions():
    d = simulate_ica("gaussian", n_sources=5, n_sensors=5, n_samples=40_000, n_gaussian=2, seed=0)
    assert d.kinds == ("laplace", "uniform", "laplace", "gaussian", "gaussian")
    k = kurtosis(d.sources, axis=1)  # excess kurtosis: Laplace 3, uniform -1.2, Gaussian 0
    np.testing.assert_allclose(k, [3.0, -1.2, 3.0, 0.0, 0.0], atol=0.25)


def test_snr_is_the_ratio_of_frobenius_norms_and_mixing_is_used():
    mixing = np.random.default_rng(9).standard_normal((6, 3))
    d = simulate_ica("nongaussian", n_sources=3, n_sensors=6, n_samples=1000, snr=4.0, mixing=mixing, seed=1)
    np.testing.assert_array_equal(d.mixing, mixing)
    signal = mixing @ d.sources
    assert np.linalg.norm(signal) / np.linalg.norm(d.X - signal) == pytest.approx(4.0, rel=1e-10)


@pytest.mark.parametrize("beta", [1.0, 2.0])
def test_pink_sources_have_the_requested_spectral_slope(beta):
    d = simulate_ica("pink", n_sources=3, n_sensors=3, n_samples=2**15, beta=beta, seed=2)
    f, p = welch(d.sources, fs=1.0, nperseg=2048)
    band = (f > 0.005) & (f < 0.2)
    slope = np.polyfit(np.log(f[band]), np.log(p[:, band].mean(axis=0)), 1)[0]
    assert slope == pytest.approx(-beta, abs=0.1)


def test_nonstationary_envelopes_are_source_specific_and_kurtosis_matches_the_closed_form():
    depth, n = 0.9, 60_000
    d = simulate_ica("nonstationary", n_sources=3, n_sensors=3, n_samples=n, depth=depth, seed=5)
    power = np.abs(np.fft.rfft(d.sources**2, axis=1))[:, 1:20]
    np.testing.assert_array_equal(np.argmax(power, axis=1) + 1, [1, 2, 3])  # i + 1 cycles per record
    # a Gaussian scale mixture with variance 1 + depth sin(.): excess kurtosis 3 Var(σ²) / E[σ²]² = 1.5 depth²
    np.testing.assert_allclose(kurtosis(d.sources, axis=1), 1.5 * depth**2, atol=0.12)


# --------------------------------------------------------------------------------------------
# the three algorithms on solvable and unsolvable mixtures (shared, computed once per algorithm)


@pytest.fixture(scope="module", params=ALGORITHMS)
def checks(request):
    algorithm = request.param
    ng = simulate_ica("nongaussian", n_sources=N_SOURCES, n_sensors=N_SOURCES, n_samples=N_SAMPLES, seed=11)
    ga = simulate_ica("gaussian", n_sources=N_SOURCES, n_sensors=N_SOURCES, n_samples=N_SAMPLES,
                      n_gaussian=N_GAUSSIAN, seed=11)
    out = {"algorithm": algorithm, "nongaussian_data": ng, "gaussian_data": ga}
    for name, d in (("nongaussian", ng), ("gaussian", ga)):
        out[name] = ica_stability(d.X, algorithm, mixing=d.mixing, sources=d.sources, n_runs=N_RUNS, seed=0)
    return out


def test_nongaussian_sources_are_separated_accurately_and_stably(checks):
    r = checks["nongaussian"]
    assert r.amari.shape == (N_RUNS,) and r.iq.shape == (N_SOURCES,)
    assert r.amari_mean < 0.05
    assert r.amari.max() < 0.05  # every run, not only on average
    assert r.mean_iq > 0.9
    assert r.match.min() > 0.98
    assert np.all(np.diff(r.iq) <= 0)  # sorted, most stable first


def test_gaussian_sources_are_neither_accurate_nor_stable(checks):
    r, good = checks["gaussian"], checks["nongaussian"]
    d = checks["gaussian_data"]
    gauss = np.array([k == "gaussian" for k in d.kinds])
    assert gauss.sum() == N_GAUSSIAN
    assert r.amari_mean > 0.1
    assert r.amari_mean > 4 * good.amari_mean
    # tie every cluster to the true source its centrotype resembles most
    y = r.icasso.centrotypes @ (d.X - d.X.mean(axis=1, keepdims=True))
    corr = np.abs(np.corrcoef(np.vstack([y, d.sources]))[: len(y), len(y):])
    best = corr.argmax(axis=1)
    iq_non = r.iq[~gauss[best]]
    iq_gauss = r.iq[gauss[best]]
    assert len(iq_non) >= 1 and len(iq_gauss) >= 1
    assert iq_non.min() > 0.9
    assert iq_gauss.min() < iq_non.min() - 0.15  # the lowest Iq values belong to Gaussian components
    assert r.mean_iq < good.mean_iq - 0.05
    assert r.match[gauss].min() < r.match[~gauss].min() - 0.01  # a Gaussian source is matched worst
    assert r.match[~gauss].min() > 0.98


# --------------------------------------------------------------------------------------------
# ICASSO against closed forms


def _closed_form_iq(sources):
    """Identical runs of the true unmixing: intra = 1, extra = mean |corr| with the other sources."""
    c = np.abs(np.corrcoef(sources))
    k = len(c)
    return 1.0 - (c.sum(axis=1) - 1.0) / (k - 1)


def test_identical_runs_give_the_closed_form_iq():
    d = simulate_ica("nongaussian", n_sources=4, n_sensors=4, n_samples=3000, seed=7)
    w = np.linalg.inv(d.mixing)
    res = icasso(d.X, np.repeat(w[None], 6, axis=0))
    np.testing.assert_allclose(res.intra, 1.0, atol=1e-12)
    expected = _closed_form_iq(d.sources)
    np.testing.assert_allclose(res.iq, np.sort(expected)[::-1], atol=1e-10)
    assert (res.iq > 0.95).all() and (res.iq < 1.0).all()  # the sample correlations are small, not zero
    # every cluster is the 6 copies of one row, and its centrotype is that row
    labels = res.labels.reshape(6, 4)
    assert (labels == labels[0]).all() and sorted(labels[0]) == [0, 1, 2, 3]
    for c in range(4):
        np.testing.assert_allclose(res.centrotypes[c], w[list(labels[0]).index(c)])


def test_clustering_recovers_permuted_sign_flipped_copies():
    d = simulate_ica("nongaussian", n_sources=5, n_sensors=5, n_samples=3000, seed=8)
    w = np.linalg.inv(d.mixing)
    rng = np.random.default_rng(0)
    runs, origin = [], []
    for _ in range(7):
        perm = rng.permutation(5)
        scale = rng.choice([-1.0, 1.0], size=5) * rng.uniform(0.2, 5.0, size=5)
        runs.append(scale[:, None] * w[perm])
        origin.append(perm)
    res = icasso(d.X, np.array(runs))
    origin = np.concatenate(origin)
    for c in range(5):
        members = origin[res.labels == c]
        assert len(members) == 7 and len(set(members)) == 1  # one copy per run, all of the same row
    np.testing.assert_allclose(res.iq, np.sort(_closed_form_iq(d.sources))[::-1], atol=1e-10)


def test_iq_of_two_rotated_runs_on_white_data():
    # data with exactly identity covariance: similarity = |cosine| of the unmixing rows
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 500))
    x -= x.mean(axis=1, keepdims=True)
    evals, evecs = np.linalg.eigh(np.cov(x))
    x = (evecs / np.sqrt(evals)).T @ x
    theta = 0.3
    rot = np.array([[np.cos(theta), np.sin(theta)], [-np.sin(theta), np.cos(theta)]])
    res = icasso(x, np.array([np.eye(2), rot]))
    # cluster {e1, r1}: intra = (1 + 1 + 2 cos θ) / 4, extra = (0 + sin θ + sin θ + 0) / 4
    expected = (1 + np.cos(theta)) / 2 - np.sin(theta) / 2
    np.testing.assert_allclose(res.iq, [expected, expected], rtol=1e-10)
    np.testing.assert_array_equal(res.labels[:2], res.labels[2:])


def test_keep_similarity_false_and_n_clusters():
    d = simulate_ica("nongaussian", n_sources=3, n_sensors=3, n_samples=1000, seed=2)
    w = np.repeat(np.linalg.inv(d.mixing)[None], 3, axis=0)
    res = icasso(d.X, w, n_clusters=2, keep_similarity=False)
    assert res.similarity is None and res.iq.shape == (2,) and set(res.labels) == {0, 1}


# --------------------------------------------------------------------------------------------
# accuracy helpers


def test_amari_per_run_uses_the_best_square_subproblem_when_overcomplete():
    rng = np.random.default_rng(4)
    a = rng.standard_normal((3, 4))  # 4 sources, 3 sensors
    w = np.linalg.inv(a[:, [2, 0, 3]])  # separates sources 2, 0, 3 perfectly; source 1 leaks in
    assert amari_per_run(w[None], a)[0] == pytest.approx(0.0, abs=1e-12)
    noisy = w + 0.3 * rng.standard_normal(w.shape)
    assert amari_per_run(noisy[None], a)[0] > 0.01


def test_overcomplete_scenario_runs_end_to_end():
    d = simulate_ica("overcomplete", n_sources=5, n_sensors=4, n_samples=3000, seed=3)
    r = ica_stability(d.X, "fastica", mixing=d.mixing, sources=d.sources, n_runs=3, seed=0)
    assert r.amari.shape == (3,) and np.isfinite(r.amari).all()
    assert r.match.shape == (5,) and r.match.max() < 1.0


def test_source_match_is_one_for_the_true_unmixing():
    d = simulate_ica("nongaussian", n_sources=3, n_sensors=4, n_samples=1000, seed=6)
    np.testing.assert_allclose(source_match(d.X, np.linalg.pinv(d.mixing), d.sources), 1.0, atol=1e-10)
    assert source_match(d.X, np.linalg.pinv(d.mixing)[:1], d.sources)[1:].max() < 0.2


# --------------------------------------------------------------------------------------------
# determinism


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("resample", ["bootstrap", "restart"])
def test_runs_are_deterministic_for_a_seed(algorithm, resample):
    d = simulate_ica("nongaussian", n_sources=3, n_sensors=3, n_samples=300, seed=0)
    kw = {"n_runs": 2, "resample": resample, "max_iter": 5}
    a = ica_runs(d.X, algorithm, seed=5, **kw)
    b = ica_runs(d.X, algorithm, seed=5, **kw)
    c = ica_runs(d.X, algorithm, seed=6, **kw)
    g = ica_runs(d.X, algorithm, seed=np.random.default_rng(5), **kw)
    assert a.shape == (2, 3, 3)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert np.isfinite(g).all()
    assert not np.allclose(a[0], a[1])  # the runs themselves differ (random initial points)


def test_unmixing_maps_back_to_sensor_space_with_pca_reduction():
    d = simulate_ica("nongaussian", n_sources=3, n_sensors=6, n_samples=4000, snr=20.0, seed=1)
    w = ica_runs(d.X, "picard", n_components=3, n_runs=2, resample="restart", seed=0)
    assert w.shape == (2, 3, 6)
    assert amari_per_run(w, d.mixing).max() < 0.1
    # components have unit-ish variance structure and reproduce the sources
    np.testing.assert_array_less(0.95, source_match(d.X, w[0], d.sources))


# --------------------------------------------------------------------------------------------
# MNE Raw entry point


def test_raw_entry_point_matches_the_array_version():
    import mne

    montage = mne.channels.make_standard_montage("biosemi32")
    d = simulate_ica("nongaussian", n_sources=5, n_sensors=5, n_samples=2500, seed=4)
    info = mne.create_info(montage.ch_names[:5], sfreq=250.0, ch_types="eeg")
    raw = mne.io.RawArray(d.X * 1e-6, info, verbose=False)
    raw.set_montage(montage)
    kw = {"n_runs": 3, "seed": 0}
    r_raw = ica_stability_raw(raw, "fastica", **kw)
    r_arr = ica_stability(raw.get_data(picks="eeg"), "fastica", **kw)
    np.testing.assert_array_equal(r_raw.iq, r_arr.iq)
    assert np.isnan(r_raw.amari).all() and r_raw.amari.shape == (3,) and np.isnan(r_raw.amari_mean)
    assert r_raw.match.size == 0 and np.isnan(r_raw.match_mean)
    # ICA is scale invariant: the microvolt array gives the same clusters
    r_uv = ica_stability(d.X, "fastica", **kw)
    np.testing.assert_allclose(r_raw.iq, r_uv.iq, atol=1e-6)
    r_sub = ica_stability_raw(raw, "fastica", picks=montage.ch_names[:4], **kw)
    assert r_sub.n_components == 4


# --------------------------------------------------------------------------------------------
# output: dict and figure


def test_to_dict_is_strict_json_and_plot_is_agg_safe():
    d = simulate_ica("nongaussian", n_sources=3, n_sensors=3, n_samples=1500, seed=0)
    r = ica_stability(d.X, "fastica", n_runs=3, seed=0)
    row = r.to_dict()
    text = json.dumps(row, allow_nan=False)
    assert json.loads(text)["iq"] == pytest.approx(list(r.iq))
    assert row["amari"] == [None, None, None] and row["amari_mean"] is None
    fig = plot_stability(r)
    assert len(fig.axes) == 3  # Iq bars, similarity matrix, colour bar
    assert len(fig.axes[0].patches) == 3
    fig.savefig(io.BytesIO(), format="png")
    from matplotlib.figure import Figure

    ax = Figure().subplots()
    assert plot_stability(r.icasso, ax=ax) is ax.figure and len(ax.patches) == 3
    assert isinstance(r.icasso, IcassoResult)


# --------------------------------------------------------------------------------------------
# validation


@pytest.fixture(scope="module")
def small():
    return simulate_ica("nongaussian", n_sources=3, n_sensors=3, n_samples=500, seed=0)


def test_validation_names_the_parameter(small):
    x = small.X
    with pytest.raises(ValueError, match=r"algorithm must be one of .*'fastica'.*got 'fastca'.*Did you mean"):
        ica_runs(x, "fastca", seed=0)
    with pytest.raises(ValueError, match=r"n_components must be <= n_sensors \(3\); got 4"):
        ica_stability(x, "fastica", n_components=4, seed=0)
    with pytest.raises(ValueError, match=r"n_runs must be >= 2; got 1"):
        ica_stability(x, "picard", n_runs=1, seed=0)
    with pytest.raises(ValueError, match=r"resample must be one of"):
        ica_runs(x, "picard", resample="jackknife", seed=0)
    with pytest.raises(TypeError, match=r"raw must be an mne.io.BaseRaw.*got ndarray"):
        ica_stability_raw(x, "fastica", seed=0)
    with pytest.raises(ValueError, match=r"more samples \(columns\) than sensors"):
        ica_runs(x.T, "fastica", seed=0)
    with pytest.raises(ValueError, match=r"mixing must be \(n_sensors, n_sources\)"):
        ica_stability(x, "fastica", mixing=np.ones((4, 3)), seed=0)
    with pytest.raises(TypeError, match=r"seed must be an integer"):
        ica_runs(x, "fastica", seed=None)
    rank_deficient = simulate_ica("nongaussian", n_sources=2, n_sensors=4, n_samples=500, seed=0).X
    with pytest.raises(ValueError, match=r"n_components must not exceed the rank of X.*rank 2"):
        ica_runs(rank_deficient, "fastica", seed=0)
    with pytest.raises(ValueError, match=r"unmixings must have one column per sensor of X \(3\)"):
        icasso(x, np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match=r"n_clusters must lie in \[2, n_runs \* n_components = 6\]; got 7"):
        icasso(x, np.ones((2, 3, 3)), n_clusters=7)


def test_simulation_validation_names_the_parameter():
    base = {"n_sources": 3, "n_sensors": 3, "n_samples": 500, "seed": 0}
    with pytest.raises(ValueError, match=r"scenario must be one of .*got 'gausian'.*Did you mean 'gaussian'"):
        simulate_ica("gausian", **base)
    with pytest.raises(ValueError, match=r"n_sources must be <= n_sensors \(3\).*overcomplete"):
        simulate_ica("nongaussian", **{**base, "n_sources": 4})
    with pytest.raises(ValueError, match=r"snr must lie in \(0, inf\); got -1"):
        simulate_ica("nongaussian", **base, snr=-1)
    with pytest.raises(ValueError, match=r"n_gaussian must be <= n_sources \(3\); got 4"):
        simulate_ica("gaussian", **base, n_gaussian=4)
    with pytest.raises(ValueError, match=r"mixing must have shape \(n_sensors, n_sources\)"):
        simulate_ica("nongaussian", **base, mixing=np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"mixing must have full column rank \(3\).*rank 1"):
        simulate_ica("nongaussian", **base, mixing=np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"beta must lie in \[0, 4\]"):
        simulate_ica("pink", **base, beta=5.0)
    with pytest.raises(ValueError, match=r"depth must lie in \[0, 1\); got 1"):
        simulate_ica("nonstationary", **base, depth=1.0)
    with pytest.raises(ValueError, match=r"n_samples must be >= 4; got 3"):
        simulate_ica("nongaussian", **{**base, "n_samples": 3})
