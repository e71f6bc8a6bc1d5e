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
