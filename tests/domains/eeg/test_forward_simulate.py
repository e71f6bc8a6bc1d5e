"""The offline head model and the Haufe & Ewald-style simulation: exact bookkeeping, the SNR
definition, the noise colour, the MVAR coupling and the patch geometry."""

from __future__ import annotations

import numpy as np
import pytest

from trustbench.domains.eeg.forward import head_from_forward, sphere_head
from trustbench.domains.eeg.simulate import band_limited, mvar_chain, pink_noise, simulate, simulate_noise


@pytest.fixture(scope="module")
def head():
    return sphere_head("biosemi32", 20.0)


def test_sphere_head_is_average_referenced_and_inside_the_brain(head):
    assert head.gain.shape == (32, 3 * head.n_sources) and head.n_orient == 3
    np.testing.assert_allclose(head.gain.sum(axis=0), 0.0, atol=1e-12 * np.abs(head.gain).max())
    r0 = np.asarray(head.forward["mri_head_t"]["trans"])[:3, 3]  # identity: head coordinates
    assert np.allclose(r0, 0)
    radius = np.linalg.norm(head.positions - head.positions.mean(axis=0), axis=1)
    assert radius.max() < 0.095  # inside the fitted scalp sphere (95 mm)
    assert not head.gain.flags.writeable


def test_a_users_forward_gives_the_same_head(head):
    again = head_from_forward(head.forward)
    np.testing.assert_allclose(again.gain, head.gain)
    np.testing.assert_allclose(again.positions, head.positions)
    assert again.ch_names == head.ch_names


def test_bad_head_arguments_name_the_parameter():
    with pytest.raises(ValueError, match="montage must be one of"):
        sphere_head("biosemi65")
    with pytest.raises(ValueError, match="spacing"):
        sphere_head("biosemi32", 1.0)
    with pytest.raises(TypeError, match="forward must be an mne.Forward"):
        head_from_forward(42)


def test_eeg_is_gain_times_moments_plus_noise_and_hits_the_snr(head):
    sim = simulate(head, 6, np.random.default_rng(0), n_active=2, extent=0.02, snr_db=3.0)
    m = sim.moments()
    signal = np.einsum("mk,bkt->bmt", head.gain, m.reshape(6, -1, m.shape[-1]))
    np.testing.assert_allclose(signal + sim.noise, sim.eeg, rtol=0, atol=1e-12 * np.abs(sim.eeg).max())

    def fro(x):
        return np.linalg.norm(band_limited(x, 100.0, (8.0, 13.0)), axis=(1, 2))

    np.testing.assert_allclose(20 * np.log10(fro(signal) / fro(sim.noise)), 3.0, atol=1e-9)
    assert sim.amplitude().shape == (6, head.n_sources)
    np.testing.assert_allclose(np.sqrt((sim.noise**2).mean(axis=(1, 2))), 1e-6)


def test_patches_stay_within_their_extent_and_seeds_keep_their_distance(head):
    sim = simulate(head, 20, np.random.default_rng(1), n_active=3, extent=0.025, min_distance=0.05)
    seeds = head.positions[sim.seeds]  # (B, k, 3)
    for b in range(20):
        d = np.linalg.norm(seeds[b][:, None] - seeds[b][None], axis=-1)
        assert d[np.triu_indices(3, 1)].min() >= 0.05 - 1e-12
        for k in range(3):
            on = np.flatnonzero(sim.profiles[b, k])
            assert np.linalg.norm(head.positions[on] - seeds[b, k], axis=1).max() <= 0.025 + 1e-12
            assert sim.profiles[b, k, sim.seeds[b, k]] == 1.0
    dipoles = simulate(head, 5, np.random.default_rng(2), n_active=2)
    assert (dipoles.active().sum(axis=1) == 2).all()


def test_simulation_is_deterministic_for_a_seed(head):
    a = simulate(head, 3, np.random.default_rng(5))
    b = simulate(head, 3, np.random.default_rng(5))
    c = simulate(head, 3, np.random.default_rng(6))
    np.testing.assert_array_equal(a.eeg, b.eeg)
    assert not np.allclose(a.eeg, c.eeg)


@pytest.mark.parametrize("beta", [0.0, 1.0, 2.0])
def test_pink_noise_has_the_asked_spectral_slope(beta):
    x = pink_noise((200, 1024), beta, np.random.default_rng(0))
    power = (np.abs(np.fft.rfft(x, axis=-1)) ** 2).mean(axis=0)[1:]
    f = np.fft.rfftfreq(1024)[1:]
    slope = np.polyfit(np.log(f), np.log(power), 1)[0]
    assert slope == pytest.approx(-beta, abs=0.05)


def test_the_mvar_chain_has_the_coupling_it_reports():
    """A least-squares VAR fit of long series recovers the AR(2) coefficients and the directed
    coupling j -> j+1 at the lag, and nothing in the reverse direction."""
    x, c = mvar_chain(1, 3, 40_000, sfreq=100.0, peak_freq=10.0, pole=0.9, coupling=0.5, lag=2,
                      rng=np.random.default_rng(0))
    x = x[0]
    lags = [1, 2]
    design = np.concatenate([x[:, 2 - lag:-lag] for lag in lags]).T  # (T-2, 6): x(t-1), x(t-2)
    coef = np.linalg.lstsq(design, x[:, 2:].T, rcond=None)[0].T  # (3, 6)
    lag2 = coef[:, 3:]
    assert c[1, 0] == c[2, 1] == 0.5 and c[0, 1] == 0
    assert lag2[1, 0] == pytest.approx(0.5, abs=0.02) and lag2[2, 1] == pytest.approx(0.5, abs=0.02)
    assert abs(lag2[0, 1]) < 0.02 and abs(lag2[0, 2]) < 0.02
    a1 = 2 * 0.9 * np.cos(2 * np.pi * 10 / 100)
    assert coef[0, 0] == pytest.approx(a1, abs=0.02)


def test_noise_only_has_the_asked_mix(head):
    rng = np.random.default_rng(0)
    white = simulate_noise(head, 4, 64, rng, n_background=0, sensor_noise=1.0)
    np.testing.assert_allclose(white.sum(axis=1), 0.0, atol=1e-18)  # average-referenced
    with pytest.raises(ValueError, match="sensor_noise must lie in"):
        simulate_noise(head, 4, 64, rng, sensor_noise=1.5)
    with pytest.raises(ValueError, match="there is no noise"):
        simulate(head, 2, rng, n_background=0, sensor_noise=0.0)
    with pytest.raises(ValueError, match="band must be"):
        simulate(head, 2, rng, band=(8.0, 80.0))
