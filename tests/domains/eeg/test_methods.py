"""Inverse solvers through one interface: the issue's point-spread check (eLORETA localises every
noise-free dipole exactly on the sphere model, MNE does not), our batched kernels against MNE's own
apply_inverse and resolution matrix, and the per-sample MNE solvers on a clear single dipole."""

from __future__ import annotations

import numpy as np
import pytest

from trustbench.domains.eeg import methods as M
from trustbench.domains.eeg.forward import sphere_head
from trustbench.domains.eeg.simulate import simulate, simulate_noise
from trustbench.metrics.sources import peak_localization_error


@pytest.fixture(scope="module")
def head():
    return sphere_head("biosemi64", 20.0)


@pytest.fixture(scope="module")
def noise_cov(head):
    noise = simulate_noise(head, 40, 50, np.random.default_rng(0))
    return np.einsum("bmt,bnt->mn", noise, noise) / (40 * 50)


def point_spread_errors(solver, head) -> np.ndarray:
    """Peak localisation error (mm) of the point spread of every dipole component (noise-free)."""
    n = head.n_sources
    resolution = solver.kernel_ @ head.gain  # (n*3, n*3): estimate of each unit dipole component
    maps = np.linalg.norm(resolution.reshape(n, 3, n * 3), axis=1).T
    return peak_localization_error(head.positions, np.repeat(np.eye(n), 3, axis=0), maps) * 1000


def test_eloreta_has_zero_peak_localisation_error_noise_free_and_mne_does_not(head):
    """Pascual-Marqui (2007): eLORETA localises any single source with zero error in the noise-free
    case; the depth-weighted minimum norm does not (its point spreads peak elsewhere)."""
    white = np.eye(head.n_channels) * 1e-12
    eloreta = point_spread_errors(M.ELORETA().fit(head, white), head)
    mne_ = point_spread_errors(M.MNE().fit(head, white), head)
    assert eloreta.max() == 0.0
    assert np.median(mne_) > 10.0 and (mne_ > 0).mean() > 0.5


def test_the_batched_kernel_equals_mnes_apply_inverse(head, noise_cov):
    import mne

    sim = simulate(head, 2, np.random.default_rng(1), snr_db=5.0)
    solver = M.DSPM().fit(head, noise_cov)
    ours = solver.apply(sim.eeg).moments
    inv = mne.minimum_norm.make_inverse_operator(head.info, head.forward, solver._mne_cov(), loose=1.0, depth=0.8,
                                                 verbose=False)
    for b in range(2):
        stc = mne.minimum_norm.apply_inverse(head.evoked(sim.eeg[b]), inv, lambda2=1 / 9, method="dSPM",
                                             pick_ori="vector", verbose=False)
        np.testing.assert_allclose(ours[b], stc.data, rtol=1e-8, atol=1e-10 * np.abs(stc.data).max())


def test_our_resolution_matrix_equals_mnes(head, noise_cov):
    """MNE's resolution metrics accept surface source spaces only; the resolution matrix itself is
    the cross-check for the volume grid."""
    import mne

    solver = M.ELORETA().fit(head, noise_cov)
    inv = mne.minimum_norm.make_inverse_operator(head.info, head.forward, solver._mne_cov(), loose=1.0, depth=None,
                                                 verbose=False)
    theirs = mne.minimum_norm.make_inverse_resolution_matrix(head.forward, inv, method="eLORETA", lambda2=1 / 9,
                                                             verbose=False)
    ours = solver.kernel_ @ head.gain
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-8 * np.abs(theirs).max())


@pytest.mark.parametrize("name", ["gamma_map", "mxne", "lcmv"])
def test_per_sample_solvers_find_a_clear_dipole(head, noise_cov, name):
    from trustbench.registry import METHODS

    sim = simulate(head, 2, np.random.default_rng(3), n_active=1, snr_db=15.0, n_times=200 if name == "lcmv" else 50)
    est = METHODS.create(name).fit(head, noise_cov).apply(sim.eeg)
    assert est.moments.shape == (2, head.n_sources, 3, sim.eeg.shape[-1])
    assert peak_localization_error(head.positions, sim.amplitude(), est.amplitude).max() <= 0.0201


def test_solvers_check_their_inputs(head, noise_cov):
    with pytest.raises(ValueError, match="method must be one of"):
        M.MinimumNorm(method="LORETA")
    with pytest.raises(ValueError, match="alpha must lie in"):
        M.MxNE(alpha=150)
    with pytest.raises(ValueError, match="noise_cov must be"):
        M.MNE().fit(head, np.eye(3))
    with pytest.raises(ValueError, match="eeg must be"):
        M.MNE().fit(head, noise_cov).apply(np.zeros((2, 10, 5)))


def _as_surface(src):
    """The volume grid relabelled as a two-'hemisphere' surface source space (same positions, same
    order): MNE's resolution_metrics accept only surface source spaces."""
    import copy

    import mne

    vert = src[0]["vertno"]
    halves = []
    for part in np.array_split(vert, 2):
        s = copy.deepcopy(src[0])
        s.update(type="surf", vertno=part, nuse=len(part))
        halves.append(s)
    return mne.SourceSpaces(halves)


def test_map_metrics_equal_mnes_resolution_metrics_on_point_spreads():
    """Cross-check with MNE: peak localisation error, centre-of-gravity error and spatial deviation
    of every point spread of the depth-weighted MNE (x-oriented unit dipoles)."""
    from mne.minimum_norm import resolution_metrics

    from trustbench.metrics.sources import centre_of_gravity_error, spatial_dispersion

    head = sphere_head("biosemi32", 25.0)
    n = head.n_sources
    resolution = (M.MNE().fit(head, np.eye(32) * 1e-12).kernel_ @ head.gain)[:, 0::3]  # (3n targets, n inputs)
    maps = np.linalg.norm(resolution.reshape(n, 3, n), axis=1)  # (targets, inputs): MNE's rectification
    src = _as_surface(head.forward["src"])
    truth = np.eye(n)
    for metric, ours, rmat in (("peak_err", peak_localization_error, resolution),
                               ("cog_err", centre_of_gravity_error, maps), ("sd_ext", spatial_dispersion, maps)):
        theirs = resolution_metrics(rmat, src, function="psf", metric=metric, verbose=False).data[:, 0] * 10  # cm -> mm
        np.testing.assert_allclose(ours(head.positions, truth, maps.T) * 1000, theirs, rtol=1e-9, atol=1e-9)
        assert theirs.max() > 10  # not trivially zero


def test_sparse_estimates_land_on_their_rows_in_two_hemisphere_source_spaces():
    """A surface forward has two source spaces whose vertex numbers both start at 0."""
    from types import SimpleNamespace

    head = SimpleNamespace(n_sources=5, n_orient=1,
                           forward={"src": [{"vertno": np.array([0, 2, 5])}, {"vertno": np.array([1, 3])}]})
    stc = SimpleNamespace(vertices=[np.array([2]), np.array([3])], data=np.array([[1.0], [2.0]]))
    out = M._vector_stc_to_moments(stc, head, 1)
    np.testing.assert_array_equal(out[:, 0, 0], [0.0, 1.0, 0.0, 0.0, 2.0])
