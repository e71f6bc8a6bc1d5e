"""Each perturbation does what its docstring says, at the stated severity, reproducibly."""

import numpy as np
import pytest

from trustbench.perturb import covariate_shift, gaussian_noise, missing_mcar, outliers

TRAIN = np.random.default_rng(0).normal([1.0, -2.0], [2.0, 0.5], size=(2000, 2))
TEST = np.random.default_rng(1).normal([1.0, -2.0], [2.0, 0.5], size=(20000, 2))
SCALE = TRAIN.std(axis=0)


def rng(seed=0):
    return np.random.default_rng(seed)


@pytest.mark.parametrize("fn", [gaussian_noise, covariate_shift, missing_mcar, outliers])
def test_pure_and_reproducible(fn):
    a = fn(TEST, fn.severities[1], rng(3), train_X=TRAIN)
    b = fn(TEST, fn.severities[1], rng(3), train_X=TRAIN)
    np.testing.assert_array_equal(a, b)
    assert a.shape == TEST.shape and not np.shares_memory(a, TEST)
    np.testing.assert_array_equal(fn(TEST, 0.0, rng(), train_X=TRAIN), TEST)
    assert len(fn.severities) >= 3


def test_gaussian_noise_std_is_severity_times_training_std():
    d = gaussian_noise(TEST, 0.3, rng(), train_X=TRAIN) - TEST
    np.testing.assert_allclose(d.std(axis=0), 0.3 * SCALE, rtol=0.03)
    assert not gaussian_noise.shift


def test_covariate_shift_moves_outward_by_exactly_severity_stds():
    d = covariate_shift(TEST, 2.0, rng(), train_X=TRAIN) - TEST
    np.testing.assert_allclose(np.abs(d), 2.0 * SCALE[None, :] * np.ones_like(d))
    assert np.all(np.sign(d) == np.sign(TEST - TRAIN.mean(axis=0)))
    assert covariate_shift.shift


def test_missing_mcar_fraction_and_mean_imputation():
    out = missing_mcar(TEST, 0.3, rng(), train_X=TRAIN)
    lost = out != TEST
    assert abs(lost.mean() - 0.3) < 0.01
    np.testing.assert_allclose(out[lost[:, 0], 0], TRAIN[:, 0].mean())


def test_outliers_fraction_and_size():
    out = outliers(TEST, 0.1, rng(), train_X=TRAIN)
    changed = (out != TEST).any(axis=1)
    assert abs(changed.mean() - 0.1) < 0.01
    assert ((out != TEST).sum(axis=1) <= 1).all()
    jump = np.abs(out - TEST)[changed].max(axis=1)
    assert np.allclose(np.sort(np.unique(np.round(jump, 8))), np.round(5 * SCALE, 8)[np.argsort(5 * SCALE)])


@pytest.mark.parametrize(
    "call, err, match",
    [
        (lambda: missing_mcar(TEST, 1.5, rng(), train_X=TRAIN), ValueError, r"severity of perturbation 'missing_mcar' must lie in \[0.0, 1.0\]; got 1.5"),
        (lambda: gaussian_noise(TEST, "high", rng(), train_X=TRAIN), TypeError, "must be a number"),
        (lambda: gaussian_noise(TEST, np.nan, rng(), train_X=TRAIN), ValueError, "must lie in"),
        (lambda: gaussian_noise(TEST, 0.1, 0, train_X=TRAIN), TypeError, "rng must be a numpy.random.Generator"),
        (lambda: gaussian_noise(TEST[:, :1], 0.1, rng(), train_X=TRAIN), ValueError, "same number of features"),
        (lambda: outliers(np.full((2, 2), np.inf), 0.1, rng(), train_X=TRAIN), ValueError, "X must be finite"),
    ],
)
def test_bad_input(call, err, match):
    with pytest.raises(err, match=match):
        call()
