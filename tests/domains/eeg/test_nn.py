"""The neural-network inverse (deep ensemble trained on simulations).

Localisation is checked against chance on held-out single dipoles (a random map's peak lies ~80 mm
from the source on the 20 mm grid), the ensemble's variance against the law of total variance
computed by hand from the members' outputs, and the fit for determinism, member independence and
its argument checks. The model is small (biosemi32, 20 mm grid: 32 channels, 257 sources) so the
module runs in well under a minute on 2 cores.
"""

from __future__ import annotations

import numpy as np
import pytest

from trustbench.domains.eeg.forward import sphere_head
from trustbench.domains.eeg.nn import NNEnsemble, covariance_features
from trustbench.domains.eeg.simulate import simulate
from trustbench.metrics.sources import peak_localization_error

SNR_DB = 20.0


@pytest.fixture(scope="module")
def head():
    return sphere_head("biosemi32", 20.0)


def _dipoles(head, snr_db=SNR_DB, n_active=1):
    return lambda n, rng: simulate(head, n, rng, n_active=n_active, snr_db=snr_db)


@pytest.fixture(scope="module")
def trained(head):
    est = NNEnsemble(n_train=3000, members=3, max_epochs=30, patience=5)
    return est.fit(head, np.eye(head.n_channels), simulate=_dipoles(head), seed=0)


@pytest.fixture(scope="module")
def held_out(head):
    return simulate(head, 300, np.random.default_rng(12345), n_active=1, snr_db=SNR_DB)


def test_localises_single_dipoles_far_better_than_chance(trained, held_out, head):
    truth = held_out.amplitude()
    est = trained.apply(held_out.eeg)
    err = peak_localization_error(head.positions, truth, est.amplitude)
    chance = peak_localization_error(head.positions, truth, np.random.default_rng(0).random(truth.shape))
    print(f"\npeak localisation error, mm: nn median {1e3 * np.median(err):.1f} mean {1e3 * err.mean():.1f}; "
          f"random map median {1e3 * np.median(chance):.1f} mean {1e3 * chance.mean():.1f}")
    assert np.median(chance) > 0.06
    assert np.median(err) < 0.025
    assert err.mean() < 0.03
    assert est.moments is None and est.std_of == "amplitude"
    assert est.amplitude.shape == est.std.shape == (300, head.n_sources)
    assert ((est.amplitude >= 0) & (est.amplitude <= 1)).all()  # sigmoid means: the max-normalised units


def test_ensemble_variance_is_mixture_variance(trained, held_out):
    eeg = held_out.eeg[:40]
    members = trained.predict_members(eeg)
    est = trained.apply(eeg)
    assert members.mean.shape == members.var.shape == (3, 40, trained.head_.n_sources)
    # law of total variance written the other way: E[X²] - E[X]², X the equal-weight mixture
    second = np.zeros(members.mean.shape[1:])
    first = np.zeros(members.mean.shape[1:])
    for mu_k, var_k in zip(members.mean, members.var, strict=True):
        first += mu_k / 3
        second += (var_k + mu_k**2) / 3
    np.testing.assert_allclose(est.amplitude, first, rtol=1e-12)
    np.testing.assert_allclose(est.std**2, second - first**2, rtol=1e-6, atol=1e-12)
    spread = members.mean.std(axis=0)
    assert spread.max() > 1e-3  # the members do disagree, so the epistemic term is not empty
    assert (est.std**2 >= (1 - 1e-9) * (members.var.mean(axis=0) + spread**2)).all()


def test_std_rises_out_of_distribution(trained, held_out, head):
    rng = np.random.default_rng(7)
    base = trained.apply(held_out.eeg).std.mean()
    low_snr = trained.apply(simulate(head, 300, rng, n_active=1, snr_db=SNR_DB - 20).eeg).std.mean()
    three = trained.apply(simulate(head, 300, rng, n_active=3, snr_db=SNR_DB).eeg).std.mean()
    print(f"\nmean predicted std: in distribution {base:.4f}, SNR - 20 dB {low_snr:.4f}, 3 sources {three:.4f}")
    assert low_snr > 1.5 * base


def test_deterministic_for_a_seed_and_members_independent(head):
    cfg = {"n_train": 300, "hidden": (32,), "max_epochs": 4, "batch_size": 64, "patience": 2}
    eeg = simulate(head, 20, np.random.default_rng(3), n_active=1, snr_db=SNR_DB).eeg
    fit = lambda members, seed: NNEnsemble(members=members, **cfg).fit(
        head, np.eye(head.n_channels), simulate=_dipoles(head), seed=seed)
    a, b, c = fit(2, 5), fit(2, 5), fit(2, 6)
    ea, eb, ec = a.apply(eeg), b.apply(eeg), c.apply(eeg)
    np.testing.assert_array_equal(ea.amplitude, eb.amplitude)
    np.testing.assert_array_equal(ea.std, eb.std)
    np.testing.assert_array_equal(a.history_, b.history_)
    assert np.abs(ea.amplitude - ec.amplitude).max() > 1e-3
    # member 0 is the same network whether or not a second member trains beside it
    single = fit(1, 5).predict_members(eeg)
    np.testing.assert_allclose(single.mean[0], a.predict_members(eeg).mean[0], rtol=1e-4, atol=1e-6)


def test_fit_needs_the_simulator(head):
    est = NNEnsemble(n_train=100)
    with pytest.raises(ValueError, match="simulate"):
        est.fit(head, np.eye(head.n_channels))
    with pytest.raises(TypeError, match="simulate"):
        est.fit(head, np.eye(head.n_channels), simulate="not callable")
    with pytest.raises(ValueError, match="noise_cov"):
        est.fit(head, np.eye(3), simulate=_dipoles(head))


@pytest.mark.parametrize("kwargs, match", [
    ({"validation": 1.0}, "validation"),
    ({"validation": 0.0}, "validation"),
    ({"n_train": 1}, "n_train"),
    ({"n_train": 4, "validation": 0.1}, "validation"),
    ({"hidden": ()}, "hidden"),
    ({"hidden": (16, 0)}, r"hidden\[1\]"),
    ({"members": 0}, "members"),
    ({"learning_rate": -1.0}, "learning_rate"),
    ({"patience": 0}, "patience"),
])
def test_bad_configuration_names_the_parameter(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NNEnsemble(**kwargs)


def test_covariance_features_hand_computed():
    rng = np.random.default_rng(0)
    y = rng.standard_normal((2, 4, 9))
    feats = covariance_features(y)
    assert feats.shape == (2, 10)
    for b in range(2):
        s = sum(np.outer(y[b, :, t], y[b, :, t]) for t in range(9)) / 9
        s /= np.trace(s)
        expect = [s[i, j] for i in range(4) for j in range(i, 4)]
        np.testing.assert_allclose(feats[b], expect, rtol=1e-12)
    np.testing.assert_allclose(covariance_features(-3.0 * y), feats, rtol=1e-12)  # sign and scale invariant
