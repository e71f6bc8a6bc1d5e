"""Calibration metrics against uncertainty-toolbox, exact integrals and a hand-computed ENCE."""

import numpy as np
import pytest
import uncertainty_toolbox as uct
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import ndtr

from trustbench.metrics.calibration import (
    coverage_curve,
    coverage_error,
    ence,
    pit_calibration_error,
    pit_histogram,
    sharpness,
)


@pytest.fixture
def gaussian_case():
    """Over-confident Gaussian forecasts: predicted std 0.7 where the truth has 1."""
    rng = np.random.default_rng(3)
    n = 400
    mu = rng.normal(size=n)
    y = mu + rng.normal(size=n)
    sd = np.full(n, 0.7) * rng.uniform(0.9, 1.1, n)
    return y, mu, sd, ndtr((y - mu) / sd)


def test_pit_error_exact_on_known_cases():
    # all PIT at 1/2: ∫|1{p >= 1/2} - p| dp = 1/4; all at 0: ∫(1 - p) dp = 1/2
    assert pit_calibration_error(np.full(7, 0.5)) == pytest.approx(0.25, abs=1e-15)
    assert pit_calibration_error(np.zeros(3)) == pytest.approx(0.5, abs=1e-15)
    pit = np.array([0.1, 0.4, 0.45, 0.9])
    grid = (np.arange(2_000_000) + 0.5) / 2_000_000
    brute = np.mean(np.abs(np.searchsorted(np.sort(pit), grid, side="right") / len(pit) - grid))
    assert pit_calibration_error(pit) == pytest.approx(brute, abs=1e-9)


@pytest.mark.parametrize("kind", ["uniform", "u-shaped", "ties", "grid", "one"])
def test_pit_error_bucketed_equals_sorted_piecewise(kind):
    """The O(n) bucketed integral equals the plain sort-based one on inputs built to stress it."""
    rng = np.random.default_rng(len(kind))
    for n in (1, 2, 7, 50, 1000):
        pit = {
            "uniform": rng.uniform(size=n),
            "u-shaped": rng.beta(0.3, 0.3, size=n),
            "ties": rng.integers(0, 5, size=n) / 4,  # many values exactly on bucket edges
            "grid": (np.arange(n) + 0.5) / n,  # Ĝ hugs the diagonal: every bucket is mixed
            "one": np.ones(n),
        }[kind]
        p = np.sort(pit)
        edges, level = np.concatenate([[0.0], p, [1.0]]), np.arange(n + 1) / n
        hi, lo = edges[1:] - level, edges[:-1] - level
        sorted_piecewise = 0.5 * np.sum(hi * np.abs(hi) - lo * np.abs(lo))
        assert pit_calibration_error(pit) == pytest.approx(sorted_piecewise, abs=1e-14)


def test_pit_error_is_the_limit_of_uct_quantile_area(gaussian_case):
    # UCT (prop_type="quantile") traces 1 - Ĝ(1 - p) against p on a grid: the same area in the limit.
    # The polygon through 20001 grid points differs from the step function by at most one grid
    # step (5e-5) in total.
    y, mu, sd, pit = gaussian_case
    theirs = uct.miscalibration_area(mu, sd, y, num_bins=20001, vectorized=True, prop_type="quantile")
    assert pit_calibration_error(pit) == pytest.approx(theirs, abs=1e-4)
    assert pit_calibration_error(pit) > 0.05  # the over-confidence is visible


def test_coverage_curve_is_exactly_uct_interval_proportions(gaussian_case):
    y, mu, sd, pit = gaussian_case
    expected, observed = uct.get_proportion_lists_vectorized(mu, sd, y, num_bins=101, prop_type="interval")
    inner = slice(1, -1)  # levels 0 and 1 are not central intervals of (0, 1)
    assert_array_equal(coverage_curve(pit, expected[inner]), observed[inner])


def test_coverage_error_is_the_limit_of_uct_interval_area(gaussian_case):
    y, mu, sd, pit = gaussian_case
    levels = (np.arange(20000) + 0.5) / 20000
    theirs = uct.miscalibration_area(mu, sd, y, num_bins=20001, vectorized=True)
    assert coverage_error(pit, levels) == pytest.approx(theirs, abs=2e-4)


def test_coverage_error_default_levels_by_hand():
    pit = np.array([0.5, 0.52, 0.2, 0.99])  # |pit - 1/2| = 0, .02, .3, .49
    observed = coverage_curve(pit)
    expected = np.array([2, 2, 2, 2, 2, 3, 3, 3, 3]) / 4
    assert_allclose(observed, expected)
    assert coverage_error(pit) == pytest.approx(np.mean(np.abs(expected - np.arange(1, 10) / 10)))


def test_pit_histogram():
    pit = np.array([0.0, 0.01, 0.26, 0.5, 0.99, 1.0])
    counts, edges = pit_histogram(pit, bins=4)
    assert_array_equal(counts, [2, 1, 1, 2])
    assert_allclose(edges, [0, 0.25, 0.5, 0.75, 1.0])


def test_ence_by_hand():
    # sorted by std: bins {0,1,2} and {3,4,5} (rows shuffled on input)
    std = np.array([1.0, 1.0, 1.0, 2.0, 2.0, 2.0])
    err = np.array([1.0, -1.0, 2.0, 0.0, 2.0, -2.0])  # bin RMSE sqrt(2) and sqrt(8/3)
    perm = np.array([4, 0, 5, 2, 1, 3])
    value = ence(err[perm], np.zeros(6), std[perm], n_bins=2)
    by_hand = (abs(1 - np.sqrt(2)) / 1 + abs(2 - np.sqrt(8 / 3)) / 2) / 2
    assert value == pytest.approx(by_hand, rel=1e-12)


def test_ence_unequal_bins_follow_array_split():
    rng = np.random.default_rng(0)
    y, std = rng.normal(size=11), rng.uniform(0.5, 2, 11)
    order = np.argsort(std)
    parts = np.array_split(order, 3)
    ref = np.mean([abs(np.sqrt(np.mean(std[p] ** 2)) - np.sqrt(np.mean(y[p] ** 2))) / np.sqrt(np.mean(std[p] ** 2))
                   for p in parts])
    assert ence(y, np.zeros(11), std, n_bins=3) == pytest.approx(ref, rel=1e-12)


def test_sharpness_matches_uct():
    std = np.random.default_rng(0).uniform(0.1, 3, 50)
    assert sharpness(std) == pytest.approx(uct.sharpness(std), rel=1e-12)
    assert sharpness.transform is np.sqrt
