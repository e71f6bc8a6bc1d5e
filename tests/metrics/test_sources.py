"""Source-imaging and ICA metrics against closed forms and independent implementations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import special_ortho_group, wasserstein_distance

from trustbench.metrics.sources import (
    amari_distance,
    centre_of_gravity_error,
    peak_localization_error,
    source_emd,
    spatial_dispersion,
)


def amari_loops(p):
    """The index written out with loops, straight from Amari et al. (1996)."""
    p = np.abs(p)
    n = len(p)
    total = 0.0
    for i in range(n):
        total += sum(p[i, j] for j in range(n)) / max(p[i]) - 1
    for j in range(n):
        total += sum(p[i, j] for i in range(n)) / max(p[:, j]) - 1
    return total / (2 * n * (n - 1))


def test_amari_is_zero_for_scaled_permutations_and_one_for_flat_products():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 4))
    perm = np.eye(4)[[2, 0, 3, 1]] * np.array([3.0, -0.5, 2.0, 7.0])[:, None]
    assert amari_distance(perm @ np.linalg.inv(a), a) == pytest.approx(0.0, abs=1e-12)
    assert amari_distance(np.ones((3, 3)), np.eye(3)) == pytest.approx(1.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_amari_equals_the_written_out_index(seed):
    rng = np.random.default_rng(seed)
    w, a = rng.standard_normal((5, 7)), rng.standard_normal((7, 5))
    value = amari_distance(w, a)
    assert value == pytest.approx(amari_loops(w @ a), rel=1e-12)
    assert 0.0 < value < 1.0


def test_amari_validation_names_the_problem():
    with pytest.raises(ValueError, match="chain to a square matrix"):
        amari_distance(np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="all-zero row or column"):
        amari_distance(np.diag([1.0, 0.0]), np.eye(2))


POS = np.array([[0.0, 0, 0], [3.0, 0, 0], [0.0, 4, 0], [0.0, 0, 12]])


def test_peak_error_is_the_distance_between_peaks():
    true = np.array([1.0, 0, 0, 0])
    assert peak_localization_error(POS, true, [0.1, 0.2, -0.9, 0.0]) == pytest.approx(4.0)  # magnitudes count
    assert peak_localization_error(POS, true, true) == 0.0
    # several true sources: the nearest one
    assert peak_localization_error(POS, [0, 1.0, 0, 1.0], [0, 0, 1.0, 0]) == pytest.approx(5.0)
    assert np.isnan(peak_localization_error(POS, true, np.zeros(4)))  # no peak at all


def test_centre_of_gravity_closed_form():
    true = np.array([1.0, 0, 0, 0])
    est = np.array([1.0, 1.0, 0, 0])  # centre at (1.5, 0, 0)
    assert centre_of_gravity_error(POS, true, est) == pytest.approx(1.5)


def test_spatial_dispersion_closed_form():
    true = np.array([1.0, 0, 0, 0])
    assert spatial_dispersion(POS, true, true) == 0.0
    # equal energy at distances 3 and 4 from the true source: sqrt((9 + 16) / 2)
    assert spatial_dispersion(POS, true, [0, 2.0, -2.0, 0]) == pytest.approx(np.sqrt(12.5))


def test_batches_give_one_value_per_map():
    true = np.eye(4)[:2]
    est = np.stack([np.eye(4)[1], np.eye(4)[3]])
    np.testing.assert_allclose(peak_localization_error(POS, true, est), [3.0, np.sqrt(9 + 144)])
    assert spatial_dispersion(POS, true, est).shape == (2,)


def test_emd_equals_scipy_on_a_line_and_is_rotation_invariant():
    rng = np.random.default_rng(4)
    x = np.sort(rng.uniform(0, 10, 30))
    pos = np.c_[x, np.zeros(30), np.zeros(30)]
    a, b = rng.random(30) * (rng.random(30) < 0.5), rng.random(30)
    a[0] = 1.0
    expected = wasserstein_distance(x, x, a, b)
    assert source_emd(pos, a, b) == pytest.approx(expected, rel=1e-9)
    rot = special_ortho_group.rvs(3, random_state=5)
    assert source_emd(pos @ rot.T, a, -b) == pytest.approx(expected, rel=1e-9)


def test_emd_of_point_masses_is_their_distance_and_zero_estimate_is_nan():
    assert source_emd(POS, [1.0, 0, 0, 0], [0, 0, 0, 5.0]) == pytest.approx(12.0)
    assert np.isnan(source_emd(POS, [1.0, 0, 0, 0], np.zeros(4)))


def test_bad_maps_are_named():
    with pytest.raises(ValueError, match="one amplitude per source position"):
        peak_localization_error(POS, np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="without any active source"):
        spatial_dispersion(POS, np.zeros(4), np.ones(4))


# ----------------------------------------------------------------------- detection and active sets


def test_detection_auc_equals_sklearn_per_map_with_ties():
    from sklearn.metrics import roc_auc_score

    from trustbench.metrics.sources import detection_auc

    rng = np.random.default_rng(3)
    true = np.where(rng.random((6, 40)) < 0.2, rng.random((6, 40)) + 0.1, 0.0)
    true[:, 0] = 1.0  # every map has an active source
    est = np.round(rng.random((6, 40)) + 0.5 * (true > 0), 1)  # rounding makes ties
    got = detection_auc(true, est)
    want = [roc_auc_score(t > 0, e) for t, e in zip(true, est, strict=True)]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert detection_auc(true[0], true[0]) == pytest.approx(1.0)


def test_active_set_scores_equal_sklearn_at_the_half_max_rule():
    from sklearn.metrics import f1_score, jaccard_score

    from trustbench.metrics.sources import active_set_f1, active_set_jaccard

    rng = np.random.default_rng(4)
    true = np.where(rng.random((5, 30)) < 0.3, 1.0, 0.0)
    true[:, 1] = 2.0
    est = rng.random((5, 30)) * (1 + true)
    for threshold in (0.5, 0.8):
        pred = est >= threshold * est.max(axis=1, keepdims=True)
        np.testing.assert_allclose(active_set_f1(true, est, threshold),
                                   [f1_score(t > 0, p) for t, p in zip(true, pred, strict=True)])
        np.testing.assert_allclose(active_set_jaccard(true, est, threshold),
                                   [jaccard_score(t > 0, p) for t, p in zip(true, pred, strict=True)])
    assert active_set_f1(true[0], np.zeros(30)) == 0.0
    with pytest.raises(ValueError, match="threshold"):
        active_set_f1(true, est, threshold=0.0)


def test_map_nmse_is_scale_free_and_matches_the_formula():
    from trustbench.metrics.sources import map_nmse

    true = np.array([0.0, 2.0, 1.0, 0.0])
    assert map_nmse(true, 7.0 * true) == pytest.approx(0.0)
    est = np.array([1.0, 4.0, 0.0, 0.0])
    t, e = true / 2.0, est / 4.0
    assert map_nmse(true, est) == pytest.approx(((e - t) ** 2).sum() / (t**2).sum())
    assert map_nmse(true, np.zeros(4)) == pytest.approx(1.0)
