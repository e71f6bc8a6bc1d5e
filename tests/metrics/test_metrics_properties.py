"""Hypothesis property tests: what must hold for every input."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from trustbench.metrics import (
    bootstrap_ci,
    coverage_curve,
    coverage_error,
    crps_gaussian,
    crps_mixture,
    crps_samples,
    gaussian_kl,
    interval_coverage,
    mae,
    pit_calibration_error,
    rmse,
    wasserstein_1d,
)

FAST = settings(max_examples=60, deadline=None)
values = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
scales = st.floats(1e-2, 1e2, allow_nan=False, allow_infinity=False)
probs = st.floats(0.0, 1.0, allow_nan=False)


def vec(elements, min_size=1, max_size=30):
    return st.integers(min_size, max_size).flatmap(lambda n: arrays(np.float64, n, elements=elements))


@FAST
@given(st.data())
def test_crps_nonnegative_and_zero_only_at_a_point_mass(data):
    n = data.draw(st.integers(1, 10))
    m = data.draw(st.integers(1, 8))
    y = data.draw(arrays(np.float64, n, elements=values))
    x = data.draw(arrays(np.float64, (n, m), elements=values))
    c = crps_samples.pointwise(y, x)
    tol = 1e-9 * (1 + np.abs(x).max(1) + np.abs(y))
    assert (c >= -tol).all()
    point_mass = (x == y[:, None]).all(1)
    assert (np.abs(c[point_mass]) <= tol[point_mass]).all()
    clearly_spread = np.abs(x - y[:, None]).max(1) > 1e-6  # not a point mass at y, beyond rounding
    assert (c[clearly_spread] > 0).all()
    sd = data.draw(arrays(np.float64, n, elements=scales))
    assert (crps_gaussian.pointwise(y, x[:, 0], sd) > 0).all()  # a Gaussian is never a point mass
    assert (crps_mixture.pointwise(y, x, np.ones_like(x) * sd[:, None]) > 0).all()


@FAST
@given(vec(values), vec(values), vec(values))
def test_w1_is_a_metric(a, b, c):
    ab, ba = wasserstein_1d(a, b), wasserstein_1d(b, a)
    scale = 1e-9 * (1 + max(np.abs(a).max(), np.abs(b).max(), np.abs(c).max()))
    assert abs(ab - ba) <= scale
    assert wasserstein_1d(a, a) == 0.0
    assert ab <= wasserstein_1d(a, c) + wasserstein_1d(c, b) + scale


@FAST
@given(st.data())
def test_kl_nonnegative_and_zero_for_equal(data):
    n = data.draw(st.integers(1, 20))
    mp, mq = (data.draw(arrays(np.float64, n, elements=values)) for _ in range(2))
    sp, sq = (data.draw(arrays(np.float64, n, elements=scales)) for _ in range(2))
    assert (gaussian_kl.pointwise(mp, sp, mq, sq) >= 0).all()
    assert gaussian_kl(mp, sp, mp, sp) == 0.0


@FAST
@given(vec(probs), vec(st.floats(0.01, 0.99)))
def test_coverage_in_unit_interval_and_monotone(pit, levels):
    curve = coverage_curve(pit, np.sort(levels))
    assert ((0 <= curve) & (curve <= 1)).all() and (np.diff(curve) >= 0).all()
    assert 0 <= coverage_error(pit) <= 1
    assert 0 <= pit_calibration_error(pit) <= 0.5


@FAST
@given(vec(values), vec(values), vec(scales))
def test_interval_coverage_in_unit_interval(y, lo, width):
    n = min(len(y), len(lo), len(width))
    assert 0 <= interval_coverage(y[:n], lo[:n], lo[:n] + width[:n]) <= 1


@FAST
@given(st.data())
def test_bootstrap_ci_contains_the_estimate_for_mean_metrics(data):
    n = data.draw(st.integers(5, 40))
    y = data.draw(arrays(np.float64, n, elements=values))
    m = data.draw(arrays(np.float64, n, elements=values))
    metric = data.draw(st.sampled_from([rmse, mae]))
    ci = bootstrap_ci(metric, y, m, n_boot=200, seed=data.draw(st.integers(0, 2**32)))
    slack = 1e-9 * (1 + abs(ci.estimate))  # replicates equal to the estimate up to summation order
    assert ci.low - slack <= ci.estimate <= ci.high + slack


@FAST
@given(st.integers(0, 2**32))
def test_calibrated_pit_gives_small_errors(seed):
    pit = np.random.default_rng(seed).uniform(size=2000)
    # E[area] ≈ √(π/32)/√n ≈ 0.007 at n = 2000 (Brownian bridge: E|B(p)| = √(2p(1-p)/π),
    # ∫√(p(1-p)) dp = π/8); the same order for the coverage error. 0.04 is far out in the tail.
    assert pit_calibration_error(pit) < 0.04
    assert coverage_error(pit) < 0.04
    overconfident = np.random.default_rng(seed).beta(0.5, 0.5, size=2000)  # U-shaped PIT
    assert pit_calibration_error(overconfident) > 0.05
