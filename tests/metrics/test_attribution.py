"""Attribution metrics against slow references (sklearn, brute force, POT) and closed forms."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from trustbench.metrics.attribution import (
    attribution_ap,
    attribution_auroc,
    emd_score,
    grid_emd,
    precision_at_k,
    relevance_mass_accuracy,
    suppressor_share,
)

RANKING = [precision_at_k, attribution_auroc, attribution_ap]
ALL = RANKING + [relevance_mass_accuracy, suppressor_share, emd_score]


def random_case(rng, n=6, shape=(8, 8), p=0.3, decimals=None):
    a = rng.normal(size=(n, *shape))
    if decimals is not None:  # many ties
        a = np.round(a, decimals)
    m = rng.random((n, *shape)) < p
    m.reshape(n, -1)[:, 0] = True
    m.reshape(n, -1)[:, 1] = False
    return a, m


def pot_emd(a, m):
    ot = pytest.importorskip("ot")
    h, w = a.shape
    yx = np.stack(np.unravel_index(np.arange(h * w), (h, w)), axis=1).astype(float)
    cost = np.sqrt(((yx[:, None] - yx[None]) ** 2).sum(-1))
    p = np.abs(a).ravel() / np.abs(a).sum()
    return ot.emd2(p, m.ravel() / m.sum(), cost, numItermax=10**7)


# ---------------------------------------------------------------- references


def brute_precision_at_k(a, m):
    """Expectation over all orders of the tied features, by enumerating the orders (small d)."""
    s, m = np.abs(a).ravel(), m.ravel()
    k = int(m.sum())
    total, count = 0.0, 0
    for perm in itertools.permutations(range(len(s))):
        order = sorted(perm, key=lambda i: -s[i])  # stable: ties in the order of perm
        total += m[order[:k]].sum() / k
        count += 1
    return total / count


@pytest.mark.parametrize("decimals", [None, 0])
def test_auroc_ap_match_sklearn(decimals):
    a, m = random_case(np.random.default_rng(0), n=8, shape=(7, 9), decimals=decimals)
    auc = attribution_auroc(a, m)
    ap = attribution_ap(a, m)
    for i in range(len(a)):
        y, s = m[i].ravel(), np.abs(a[i]).ravel()
        assert auc[i] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
        assert ap[i] == pytest.approx(average_precision_score(y, s), abs=1e-12)


def test_precision_at_k_matches_brute_force_with_ties():
    rng = np.random.default_rng(1)
    for _ in range(6):
        a = rng.integers(-2, 3, size=6).astype(float)  # heavy ties, signs
        m = rng.random(6) < 0.5
        m[0] = True
        assert precision_at_k(a, m) == pytest.approx(brute_precision_at_k(a, m), abs=1e-12)


def test_precision_at_k_without_ties_is_top_k_share():
    a, m = random_case(np.random.default_rng(2), n=5, shape=(30,))
    got = precision_at_k(a, m)
    for i in range(5):
        k = m[i].sum()
        top = np.argsort(-np.abs(a[i]))[:k]
        assert got[i] == pytest.approx(m[i][top].mean())


@pytest.mark.parametrize("shape", [(8, 8), (12, 10)])
def test_emd_matches_pot(shape):
    a, m = random_case(np.random.default_rng(3), n=4, shape=shape)
    got = grid_emd(a, m)
    ref = np.array([pot_emd(a[i], m[i]) for i in range(len(a))])
    np.testing.assert_allclose(got, ref, atol=1e-9, rtol=0)
    diameter = math.hypot(shape[0] - 1, shape[1] - 1)
    np.testing.assert_allclose(emd_score(a, m), 1 - ref / diameter, atol=1e-9, rtol=0)


def test_emd_highs_fallback_matches_pot():
    a, m = random_case(np.random.default_rng(4), n=3, shape=(6, 7))
    ref = np.array([pot_emd(a[i], m[i]) for i in range(len(a))])
    np.testing.assert_allclose(grid_emd(a, m, solver="highs"), ref, atol=1e-8, rtol=0)


def test_emd_1d_grid_matches_scipy():
    from scipy.stats import wasserstein_distance

    a, m = random_case(np.random.default_rng(5), n=4, shape=(15,))
    got = grid_emd(a, m, sample_ndim=1)
    x = np.arange(15)
    for i in range(4):
        ref = wasserstein_distance(x, x, np.abs(a[i]), m[i].astype(float))
        assert got[i] == pytest.approx(ref, abs=1e-12)
    np.testing.assert_allclose(emd_score(a, m, sample_ndim=1), 1 - got / 14)


def test_mass_metrics_closed_form():
    a, m = random_case(np.random.default_rng(6), n=5, shape=(4, 5))
    abs_a = np.abs(a).reshape(5, -1)
    mm = m.reshape(5, -1)
    expected = (abs_a * mm).sum(1) / abs_a.sum(1)
    np.testing.assert_allclose(relevance_mass_accuracy(a, m), expected)
    np.testing.assert_allclose(suppressor_share(a, m), expected)
    pos = np.maximum(a, 0).reshape(5, -1)
    np.testing.assert_allclose(relevance_mass_accuracy(a, m, sign="positive"), (pos * mm).sum(1) / pos.sum(1))


# ---------------------------------------------------------------- identities and closed forms


def test_perfect_attribution_scores_one():
    _, m = random_case(np.random.default_rng(7), n=4, shape=(9, 9))
    perfect = m * 2.5
    for fn in [precision_at_k, attribution_auroc, attribution_ap, relevance_mass_accuracy, emd_score]:
        np.testing.assert_allclose(fn(perfect, m), 1.0, atol=1e-12, err_msg=fn.__name__)
    np.testing.assert_allclose(suppressor_share(perfect, ~m), 0.0)


def test_emd_corner_to_corner_is_zero_and_shift_by_one():
    h, w = 10, 7
    diameter = math.hypot(h - 1, w - 1)
    a = np.zeros((h, w))
    a[0, 0] = 1.0
    m = np.zeros((h, w), bool)
    m[-1, -1] = True
    assert grid_emd(a, m) == pytest.approx(diameter, abs=1e-12)
    assert emd_score(a, m) == pytest.approx(0.0, abs=1e-12)
    pattern = np.zeros((h, w), bool)
    pattern[2:5, 1:3] = True
    pattern[5, 2] = True
    shifted = np.roll(pattern, 1, axis=1).astype(float)  # the whole pattern one pixel right
    assert grid_emd(shifted, pattern) == pytest.approx(1.0, abs=1e-12)
    assert emd_score(shifted, pattern) == pytest.approx(1 - 1 / diameter, abs=1e-12)


def test_emd_score_in_unit_interval_and_sign_free():
    a, m = random_case(np.random.default_rng(8), n=6, shape=(7, 7))
    s = emd_score(a, m)
    assert np.all((s >= 0) & (s <= 1))
    np.testing.assert_allclose(emd_score(-a, m), s, atol=1e-12)


def test_zero_attribution_gives_nan():
    a, m = random_case(np.random.default_rng(9), n=3, shape=(5, 5))
    a[1] = 0.0
    s = emd_score(a, m)
    assert np.isnan(s[1]) and np.isfinite(s[[0, 2]]).all()
    assert np.isnan(relevance_mass_accuracy(a, m)[1])


@pytest.mark.parametrize("fn", ALL)
def test_batched_equals_per_sample_and_shared_mask(fn):
    a, m = random_case(np.random.default_rng(10), n=4, shape=(6, 5))
    batch = fn(a, m)
    assert batch.shape == (4,)
    single = [fn(a[i], m[i], sample_ndim=2) for i in range(4)]
    assert all(isinstance(v, float) for v in single)
    np.testing.assert_allclose(batch, single, atol=1e-12)
    shared = fn(a, m[0])  # one mask for all samples
    np.testing.assert_allclose(shared, [fn(a[i], m[0], sample_ndim=2) for i in range(4)], atol=1e-12)


def test_tabular_single_sample_and_parallel():
    a, m = random_case(np.random.default_rng(11), n=3, shape=(12,))
    assert isinstance(precision_at_k(a[0], m[0]), float)
    np.testing.assert_allclose(attribution_auroc(a, m), [attribution_auroc(a[i], m[i]) for i in range(3)])
    a2, m2 = random_case(np.random.default_rng(12), n=3, shape=(6, 6))
    np.testing.assert_allclose(emd_score(a2, m2, n_jobs=2), emd_score(a2, m2), atol=1e-12)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("fn", ALL)
def test_bad_inputs_raise(fn):
    mask_name = "suppressor" if fn is suppressor_share else "mask"
    a, m = random_case(np.random.default_rng(13), n=3, shape=(4, 4))
    with pytest.raises(ValueError, match=mask_name):
        fn(a, m[:, :3])  # shape mismatch
    bad = a.copy()
    bad[1, 2, 2] = np.nan
    with pytest.raises(ValueError, match="attribution"):
        fn(bad, m)
    empty = m.copy()
    empty[2] = False
    with pytest.raises(ValueError, match=f"{mask_name}.*sample 2"):
        fn(a, empty)
    with pytest.raises(ValueError, match=mask_name):
        fn(a, m * 2.0)  # not boolean


def test_auroc_needs_a_false_and_option_errors():
    a, m = random_case(np.random.default_rng(14), n=2, shape=(3, 3))
    full = m.copy()
    full[1] = True
    with pytest.raises(ValueError, match="mask.*sample 1"):
        attribution_auroc(a, full)
    with pytest.raises(ValueError, match="solver"):
        emd_score(a, m, solver="sinkhorn")
    with pytest.raises(ValueError, match="sign"):
        relevance_mass_accuracy(a, m, sign="neg")
    with pytest.raises(ValueError, match="sample_ndim"):
        emd_score(a, m, sample_ndim=3)
    with pytest.raises(ValueError, match="n_jobs"):
        emd_score(a, m, n_jobs=0)


def test_module_does_not_import_pot():
    code = "import sys, trustbench.metrics.attribution; print('ot' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------- exact multiscale EMD solver


def xai_tris_case(rng, size, n=1):
    """Smooth-noise attribution plus a misplaced T pattern; the mask a T of four blocks (as the benchmark)."""
    from scipy.ndimage import gaussian_filter

    b = max(size // 8, 1)
    a = np.empty((n, size, size))
    m = np.zeros((n, size, size), bool)
    for i in range(n):
        r, c = rng.integers(0, size - 2 * b + 1), rng.integers(0, size - 3 * b + 1)
        for dr, dc in [(0, 0), (0, 1), (0, 2), (1, 1)]:
            m[i, r + dr * b : r + (dr + 1) * b, c + dc * b : c + (dc + 1) * b] = True
        a[i] = gaussian_filter(rng.normal(size=(size, size)), size / 32) + 3 * gaussian_filter(np.roll(m[i], 1, 0) * 1.0, 1)
    return a, m


def test_multiscale_matches_full_pot_64x64():
    a, m = xai_tris_case(np.random.default_rng(21), 64, n=1)
    ref = pot_emd(a[0], m[0])  # POT on the full 4096 × 4096 cost
    assert grid_emd(a, m, solver="multiscale")[0] == pytest.approx(ref, abs=1e-9)
    assert grid_emd(a, m)[0] == pytest.approx(ref, abs=1e-9)  # auto


@pytest.mark.parametrize("p", [0.02, 0.1, 0.5])
def test_multiscale_matches_full_pot_mask_sizes(p):
    rng = np.random.default_rng(int(p * 100))
    a = rng.normal(size=(2, 32, 32))
    m = rng.random((2, 32, 32)) < p
    m[:, 0, 0] = True
    ref = np.array([pot_emd(a[i], m[i]) for i in range(2)])
    np.testing.assert_allclose(grid_emd(a, m, solver="multiscale"), ref, atol=1e-9, rtol=0)


@pytest.fixture
def multiscale_everywhere(monkeypatch):
    """Route even small grids through the multiscale solver (it is skipped below 512 rows)."""
    from trustbench.metrics import attribution

    calls = []
    original = attribution._transport_multiscale
    monkeypatch.setattr(attribution, "_MS_MIN_ROWS", 1)
    monkeypatch.setattr(attribution, "_transport_multiscale", lambda *args: calls.append(1) or original(*args))
    return calls


@pytest.mark.parametrize("shape, decimals", [((8, 8), None), ((12, 10), None), ((9, 13), 0), ((16, 16), 1)])
def test_multiscale_small_grids_and_ties_match_pot_and_highs(multiscale_everywhere, shape, decimals):
    a, m = random_case(np.random.default_rng(sum(shape)), n=3, shape=shape, decimals=decimals)
    a[0] = np.where(m[0], 1.0, 0.0) + (a[0] > 1)  # integer-valued: tied costs and tied masses
    ref = np.array([pot_emd(a[i], m[i]) for i in range(len(a))])
    got = grid_emd(a, m, solver="multiscale")
    assert len(multiscale_everywhere) == len(a)
    np.testing.assert_allclose(got, ref, atol=1e-9, rtol=0)
    np.testing.assert_allclose(grid_emd(a, m, solver="highs"), got, atol=1e-8, rtol=0)


def test_multiscale_attribution_equal_to_mask_and_large_mask_side(multiscale_everywhere):
    rng = np.random.default_rng(22)
    m = rng.random((2, 20, 20)) < 0.3
    m[:, 0, 0] = True
    assert grid_emd(m * 2.5, m, solver="multiscale") == pytest.approx([0.0, 0.0], abs=1e-15)
    a = np.zeros((2, 20, 20))
    a[:, 3:6, 4:6] = rng.random((2, 3, 2)) + 0.1  # the attribution side (6 pixels) is the small one
    big = np.ones((2, 20, 20), bool)
    ref = [pot_emd(a[i], big[i]) for i in range(2)]
    np.testing.assert_allclose(grid_emd(a, big, solver="multiscale"), ref, atol=1e-9, rtol=0)


def test_certified_colgen_prices_in_missing_arcs():
    """Started from the arcs of a poor feasible plan only, the pricing loop still reaches the optimum."""
    ot = pytest.importorskip("ot")
    from trustbench.metrics.attribution import _certified_colgen

    rng = np.random.default_rng(23)
    ps, pk = rng.random(300), rng.random(20)
    ps, pk = ps / ps.sum(), pk / ps.sum() * ps.sum() / pk.sum()
    cost = np.hypot(*(rng.random((2, 300, 1)) * 30 - rng.random((2, 1, 20)) * 30))
    arcs = np.zeros(cost.shape, bool)  # north-west corner rule: a feasible plan with n + m - 1 arcs
    i = j = 0
    rest_s, rest_k = ps.copy(), pk.copy()
    while i < 300 and j < 20:
        arcs[i, j] = True
        step = min(rest_s[i], rest_k[j])
        rest_s[i] -= step
        rest_k[j] -= step
        if rest_s[i] <= rest_k[j]:
            i += 1
        else:
            j += 1
    value, v, plan = _certified_colgen(ps, pk, cost, arcs, None)
    assert value == pytest.approx(ot.emd2(ps, pk, cost), abs=1e-12)
    f = (cost - v).min(axis=1)
    assert ps @ f + pk @ v == pytest.approx(value, abs=1e-10)  # the dual certificate closes the gap


@pytest.mark.parametrize("k", [1, 3, 7])
def test_add_best_marks_the_k_smallest_reduced_costs(k):
    """argmin sweeps against a full sort (distinct values: no ties), on all rows and on a subset."""
    from trustbench.metrics.attribution import _add_best

    rng = np.random.default_rng(24 + k)
    reduced = rng.permutation(40 * 6).reshape(40, 6).astype(float)  # 6 columns: k = 7 takes them all
    want = np.zeros(reduced.shape, bool)
    np.put_along_axis(want, np.argsort(reduced, axis=1)[:, :k], True, axis=1)
    arcs = np.zeros(reduced.shape, bool)
    np.testing.assert_array_equal(_add_best(arcs, reduced.copy(), k), reduced.min(axis=1))
    np.testing.assert_array_equal(arcs, want)
    rows = np.array([3, 17, 30])
    arcs = np.zeros(reduced.shape, bool)
    _add_best(arcs, reduced[rows], k, rows)
    np.testing.assert_array_equal(arcs[rows], want[rows])
    assert arcs.sum() == len(rows) * min(k, 6)


def test_multiscale_cost_helpers_match_cdist():
    from scipy.spatial.distance import cdist

    from trustbench.metrics.attribution import _centre_cost, _grid_cost

    rng = np.random.default_rng(25)
    shape = (13, 21)
    rows, cols = rng.choice(13 * 21, 50, replace=False), rng.choice(13 * 21, 9, replace=False)
    yx = np.stack(np.unravel_index(np.arange(13 * 21), shape), axis=1).astype(float)
    np.testing.assert_allclose(_grid_cost(rows, cols, shape), cdist(yx[rows], yx[cols]), rtol=1e-15, atol=0)
    centre = rng.random((30, 2)) * 20
    np.testing.assert_allclose(_centre_cost(centre, yx[cols]), cdist(centre, yx[cols]), rtol=1e-14, atol=1e-14)
