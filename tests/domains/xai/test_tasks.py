"""Tasks of the xai benchmark: deterministic, independent train/test draws of the right sizes,
labels, training-statistics z-scoring of the clinical table, parameter validation."""

from __future__ import annotations

import numpy as np
import pytest

from trustbench.domains.xai import data as D
from trustbench.domains.xai.tasks import Clinical, Linear8x8, Suppressor2D, Tris, XaiSplit

TASKS = {
    "suppressor_2d": lambda: Suppressor2D(n_train=40, n_test=12, correlation=0.8),
    "linear_8x8": lambda: Linear8x8(n_train=40, n_test=12),
    "tris_lin": lambda: Tris(scenario="lin", n_train=40, n_test=12),
    "tris_rigid_64": lambda: Tris(scenario="rigid", size=64, background="corr", n_train=20, n_test=6),
    "clinical": lambda: Clinical(n_train=60, n_test=12),
}


def _arrays(d):
    return d.X, d.y, d.mask, d.suppressor


@pytest.mark.parametrize("name", list(TASKS))
def test_make_is_deterministic_sized_and_train_test_independent(name):
    task = TASKS[name]()
    s1, s2, s3 = task.make(3), TASKS[name]().make(3), task.make(4)
    assert isinstance(s1, XaiSplit)
    for a, b in zip(_arrays(s1.train) + _arrays(s1.test), _arrays(s2.train) + _arrays(s2.test)):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(s1.train.X, s3.train.X)
    assert not np.allclose(s1.test.X, s3.test.X)
    assert len(s1.train) == task.n_train and len(s1.test) == task.n_test
    assert s1.train.X.shape[1:] == tuple(task.sample_shape) == s1.test.X.shape[1:]
    # different streams: no test sample is a training sample, and test is not the start of train
    flat_tr = s1.train.X.reshape(len(s1.train), -1)
    flat_te = s1.test.X.reshape(len(s1.test), -1)
    assert not np.allclose(flat_te, flat_tr[: len(flat_te)])
    dist = np.abs(flat_te[:, None, :] - flat_tr[None, :, :]).max(axis=2)
    assert dist.min() > 1e-6
    assert set(np.unique(s1.train.y)) == {0, 1}


def test_tris_label_and_shape():
    assert Tris().label == "xai/tris/lin/white/8"
    assert Tris(scenario="xor", background="corr", size=64).label == "xai/tris/xor/corr/64"
    assert Tris(alpha=0.5).label == "xai/tris/lin/white/8/alpha=0.5"
    assert Tris(size=64).sample_shape == (64, 64)
    assert Suppressor2D().label == "xai/suppressor_2d"
    assert Linear8x8().label == "xai/linear_8x8"
    assert Clinical().label == "xai/clinical"


def test_tris_passes_its_parameters_to_the_generator():
    split = Tris(scenario="lin", alpha=0.0, n_train=40, n_test=8).make(0)
    assert split.train.meta["alpha"] == 0.0
    split = Tris(scenario="xor", n_train=40, n_test=8).make(0)
    assert split.train.meta["scenario"] == "xor"
    # xor: both tetrominoes are in every sample's mask
    assert np.all(split.train.mask.sum(axis=(1, 2)) == 8)


class _RecordingClinical(Clinical):
    """Clinical that keeps the raw (unscaled) draws, to check the scaling against numpy."""

    def _draw(self, n, seed):
        d = super()._draw(n, seed)
        self.raw = getattr(self, "raw", []) + [d]
        return d


def test_clinical_is_z_scored_with_training_statistics():
    task = _RecordingClinical(n_train=300, n_test=50)
    split = task.make(1)
    raw_train, raw_test = task.raw[-2], task.raw[-1]
    assert len(raw_train) == 300 and len(raw_test) == 50
    mean, std = raw_train.X.mean(axis=0), raw_train.X.std(axis=0)
    np.testing.assert_allclose(split.train.X, (raw_train.X - mean) / std, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(split.test.X, (raw_test.X - mean) / std, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(split.train.X.mean(axis=0), 0.0, atol=1e-10)
    np.testing.assert_allclose(split.train.X.std(axis=0), 1.0, rtol=1e-10)
    assert np.abs(split.test.X.mean(axis=0)).max() > 1e-3  # not scaled with its own statistics
    np.testing.assert_array_equal(split.train.mask, raw_train.mask)
    np.testing.assert_array_equal(split.test.suppressor, raw_test.suppressor)
    np.testing.assert_array_equal(split.train.y, raw_train.y)
    np.testing.assert_allclose(split.test.meta["feature_mean"], mean)
    np.testing.assert_allclose(split.test.meta["feature_std"], std)
    # the same draws as the plain task
    plain = Clinical(n_train=300, n_test=50).make(1)
    np.testing.assert_array_equal(plain.test.X, split.test.X)
    assert Clinical().feature_names == list(D.CLINICAL_FEATURES)
    assert Clinical.sample_shape == (len(D.CLINICAL_FEATURES),)
    # raw age is in years around 65: the z-scoring did not change the data's meaning
    age = list(D.CLINICAL_FEATURES).index("age")
    assert 55 < mean[age] < 75


@pytest.mark.parametrize("task, exc, word", [
    (Tris(n_train=10), ValueError, "n_train"),
    (Tris(n_train=20.5), TypeError, "n_train"),
    (Suppressor2D(n_test=2), ValueError, "n_test"),
    (Clinical(n_train=5), ValueError, "n_train"),
    (Tris(scenario="linear"), ValueError, "scenario"),
    (Tris(background="pink"), ValueError, "background"),
    (Tris(size=16), ValueError, "size"),
    (Tris(alpha=1.5), ValueError, "alpha"),
    (Suppressor2D(correlation=1.5), ValueError, "correlation"),
    (Suppressor2D(distractor_std=0), ValueError, "distractor_std"),
    (Linear8x8(weights=(1.0, 2.0)), ValueError, "weights"),
    (Linear8x8(noise_sigma=-1.0), ValueError, "noise_sigma"),
    (Clinical(prevalence=1.0), ValueError, "prevalence"),
])
def test_bad_parameters_raise_in_validate_naming_them(task, exc, word):
    with pytest.raises(exc, match=word):
        task.validate()
    with pytest.raises(exc, match=word):
        task.make(0)


@pytest.mark.parametrize("name", list(TASKS))
def test_default_parameters_validate(name):
    TASKS[name]().validate()
    cls = type(TASKS[name]())
    cls().validate()
