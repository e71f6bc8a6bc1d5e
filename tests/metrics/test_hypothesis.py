"""Paired Wilcoxon test and Holm correction against independent references: a literal simulation of
Holm's (1979) step-down procedure, the textbook example, scipy's ``wilcoxon`` called directly, and an
exact sign-flip enumeration of the signed-rank statistic."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.stats import rankdata, wilcoxon

from trustbench.metrics.hypothesis import holm, paired_wilcoxon


# ----------------------------------------------------------------------------------- Holm
def _holm_step_down_rejects(p: np.ndarray, alpha: float) -> np.ndarray:
    """Holm's procedure at level ``alpha``, literally: walk the sorted p-values, reject H_(k) while
    p_(k) <= alpha / (m - k + 1), stop at the first that is not; NaN entries are not tested."""
    finite = [i for i in range(len(p)) if np.isfinite(p[i])]
    m = len(finite)
    order = sorted(finite, key=lambda i: p[i])
    rejected = np.zeros(len(p), dtype=bool)
    for k, i in enumerate(order, start=1):
        if p[i] * (m - k + 1) <= alpha:  # same as p <= alpha / (m - k + 1)
            rejected[i] = True
        else:
            break
    return rejected


def _holm_brute_force(p: np.ndarray) -> np.ndarray:
    """Adjusted p-value of H_i = the smallest level at which the step-down procedure rejects H_i
    (1 where no level <= 1 does); searched over all candidate levels (m - k + 1) p_(k)."""
    p = np.asarray(p, dtype=float)
    finite = [i for i in range(len(p)) if np.isfinite(p[i])]
    m = len(finite)
    srt = sorted(p[finite])
    candidates = sorted({min(1.0, (m - k + 1) * srt[k - 1]) for k in range(1, m + 1)} | {1.0})
    out = np.full(len(p), np.nan)
    for i in finite:
        out[i] = 1.0
        for alpha in candidates:
            if _holm_step_down_rejects(p, alpha)[i]:
                out[i] = alpha
                break
    return out


def test_holm_textbook_example():
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02], rtol=1e-12)


@pytest.mark.parametrize("seed", range(12))
def test_holm_matches_brute_force_step_down_with_ties_and_nan(seed):
    rng = np.random.default_rng(seed)
    m = int(rng.integers(1, 12))
    p = rng.random(m) ** 3  # many small p-values, so some adjusted values stay below 1
    if m > 2:  # ties
        p[rng.integers(m)] = p[rng.integers(m)]
        p[rng.integers(m)] = p[0]
    if seed % 3 == 0:  # NaN entries
        p[rng.integers(m, size=max(1, m // 3))] = np.nan
    if seed % 4 == 1:  # exact 0 and 1
        p[0] = 0.0
        p[-1] = 1.0
    got = holm(p)
    ref = _holm_brute_force(p)
    assert got.shape == p.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(p))
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=0, equal_nan=True)


def test_holm_ties_get_equal_adjusted_values_and_nan_does_not_count():
    got = holm([0.02, 0.02, np.nan, 0.5])
    assert got[0] == got[1] == pytest.approx(0.06)  # m = 3, not 4
    assert np.isnan(got[2])
    assert got[3] == pytest.approx(0.5)


def test_holm_is_monotone_in_p_and_never_below_p():
    rng = np.random.default_rng(5)
    p = rng.random(30) ** 2
    adj = holm(p)
    order = np.argsort(p)
    assert np.all(np.diff(adj[order]) >= 0)
    assert np.all(adj >= p) and np.all(adj <= 1)


def test_holm_all_nan_and_empty():
    assert np.isnan(holm([np.nan, np.nan])).all()
    assert holm([]).shape == (0,)


@pytest.mark.parametrize("bad", [[0.1, 1.2], [-0.01, 0.5]])
def test_holm_rejects_values_outside_unit_interval(bad):
    with pytest.raises(ValueError, match="pvalues"):
        holm(bad)


# ------------------------------------------------------------------------------- Wilcoxon
def _exact_signed_rank_p_greater(d: np.ndarray) -> float:
    """P(W+ >= observed W+) under the null, by enumerating all 2^n sign patterns (no ties/zeros)."""
    ranks = rankdata(np.abs(d))
    w_obs = ranks[d > 0].sum()
    count = 0
    total = 0
    for signs in itertools.product((0, 1), repeat=len(d)):
        total += 1
        count += ranks[np.array(signs, dtype=bool)].sum() >= w_obs - 1e-9
    return count / total


@pytest.mark.parametrize("seed", range(4))
def test_wilcoxon_matches_scipy_called_directly(seed):
    rng = np.random.default_rng(seed)
    n = [8, 20, 60, 120][seed]
    a = rng.normal(0.3, 1.0, n)
    b = rng.normal(0.0, 1.0, n)
    assert paired_wilcoxon(a, b) == pytest.approx(wilcoxon(a - b, alternative="greater").pvalue, rel=1e-12)


def test_wilcoxon_matches_exact_enumeration_for_small_samples():
    rng = np.random.default_rng(3)
    for n in (6, 9, 12):
        a, b = rng.normal(0.4, 1.0, n), rng.normal(0.0, 1.0, n)
        assert paired_wilcoxon(a, b) == pytest.approx(_exact_signed_rank_p_greater(a - b), rel=1e-9)


def test_wilcoxon_drops_nan_pairs():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0.5, 1, 30), rng.normal(0, 1, 30)
    a_nan, b_nan = a.copy(), b.copy()
    a_nan[[2, 7]] = np.nan
    b_nan[[11]] = np.nan
    keep = np.ones(30, dtype=bool)
    keep[[2, 7, 11]] = False
    ref = wilcoxon(a[keep] - b[keep], alternative="greater").pvalue
    assert paired_wilcoxon(a_nan, b_nan) == pytest.approx(ref, rel=1e-12)


def test_wilcoxon_higher_is_better_false_flips_direction():
    rng = np.random.default_rng(2)
    a, b = rng.normal(0, 1, 25), rng.normal(0.8, 1, 25)  # a is lower
    p_lower = paired_wilcoxon(a, b, higher_is_better=False)
    assert p_lower == pytest.approx(wilcoxon(b - a, alternative="greater").pvalue, rel=1e-12)
    assert p_lower == pytest.approx(paired_wilcoxon(b, a), rel=1e-12)
    assert p_lower < 0.05 < paired_wilcoxon(a, b)


def test_wilcoxon_zero_differences_dropped():
    rng = np.random.default_rng(4)
    a, b = rng.normal(0.5, 1, 20), rng.normal(0, 1, 20)
    b[:5] = a[:5]  # five zero differences
    ref = wilcoxon((a - b)[5:], alternative="greater").pvalue
    assert paired_wilcoxon(a, b) == pytest.approx(ref, rel=1e-12)
    # the non-zero pairs get the exact signed-rank p-value (Wilcoxon 1945 discards zeros)
    a, b = a[:12], b[:12]  # 7 non-zero pairs: small enough to enumerate
    assert paired_wilcoxon(a, b) == pytest.approx(_exact_signed_rank_p_greater((a - b)[5:]), rel=1e-9)


@pytest.mark.parametrize("higher", [True, False])
def test_wilcoxon_all_zero_or_no_pairs_gives_one(higher):
    x = np.arange(10.0)
    assert paired_wilcoxon(x, x.copy(), higher_is_better=higher) == 1.0
    assert paired_wilcoxon([np.nan, 1.0], [0.0, np.nan], higher_is_better=higher) == 1.0


@pytest.mark.parametrize("a, b", [(np.zeros(3), np.zeros(4)), (np.zeros((2, 3)), np.zeros((2, 3)))])
def test_wilcoxon_shape_mismatch_raises(a, b):
    with pytest.raises(ValueError, match="a and b"):
        paired_wilcoxon(a, b)
