"""Isotonic PIT recalibration: the map is the calibration ECDF and fixes a miscalibrated forecaster."""

import numpy as np
import pytest
from scipy.stats import norm

from trustbench.metrics.calibration import coverage_error
from trustbench.uq.recalibration import IsotonicPIT


def test_recalibration_fixes_an_overconfident_gaussian_on_a_fresh_split():
    rng = np.random.default_rng(0)
    y_cal, y_test = rng.standard_normal(5000), rng.standard_normal(5000)
    pit_cal, pit_test = norm.cdf(y_cal / 0.5), norm.cdf(y_test / 0.5)  # predictive sd 0.5, true 1
    before = coverage_error(pit_test)
    after = coverage_error(IsotonicPIT().fit(pit_cal).transform(pit_test))
    assert before > 0.15
    assert after < 0.02


def test_the_map_follows_the_empirical_cdf_of_the_calibration_values():
    rng = np.random.default_rng(1)
    pit = rng.beta(2.0, 5.0, 400)
    rec = IsotonicPIT(max_points=10_000).fit(pit)
    grid = np.sort(pit)
    np.testing.assert_allclose(rec.transform(grid), np.searchsorted(grid, grid, side="right") / 400,
                               atol=1 / 400 + 1e-12)  # linear between knots: within one step of the ECDF
    assert rec.transform(np.array([0.0, 1.0])).tolist() == [0.0, 1.0]


def test_bad_pit_is_rejected():
    with pytest.raises(ValueError, match="pit must lie in"):
        IsotonicPIT().fit(np.array([0.2, 1.5]))
