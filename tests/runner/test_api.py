"""evaluate(): one method on one task, by name, module:attr, class or instance."""

import numpy as np
import pandas as pd
import pytest

import trustbench
from tests.runner import fake_protocol
from tests.runner.conftest import HERE
from trustbench.registry import METHODS
from trustbench.runner.store import Store

KW = {"metrics": ["rmse", "mae", "reference_w1"], "n_boot": 20}


def test_evaluate_by_reference_with_perturbations_and_seeds(fake):
    df = trustbench.evaluate(f"{HERE}:Line", f"{HERE}:LeastSquares", params={"n": 30}, method_params={"jitter": 0.2},
                             perturbations={"gaussian_noise": [0.1, 0.3], "missing_mcar": None}, seeds=[0, 1], **KW)
    assert set(df.suite) == {"evaluate"} and set(df.benchmark) == {"fake"}  # the task's benchmark and protocol
    assert set(df.method) == {"reference", f"{HERE}:LeastSquares(jitter=0.2)"}
    from trustbench.perturb import missing_mcar

    assert set(zip(df.perturbation, df.severity)) == {("none", 0.0), ("gaussian_noise", 0.1), ("gaussian_noise", 0.3),
                                                      *(("missing_mcar", s) for s in missing_mcar.severities)}
    assert set(df.seed) == {0, 1} and set(df.n) == {30}
    # the least-squares line on clean data: rmse close to the noise level 0.1
    clean = df[(df.method == "reference") & (df.perturbation == "none") & (df.metric == "rmse")]
    assert np.all((clean.value > 0.05) & (clean.value < 0.2))


def test_objects_classes_and_instances(fake):
    by_name = trustbench.evaluate(f"{HERE}:Line", f"{HERE}:LeastSquares", method_params={"jitter": 0.2}, **KW)
    by_class = trustbench.evaluate(fake_protocol.Line, fake_protocol.LeastSquares, method_params={"jitter": 0.2}, **KW)
    by_instance = trustbench.evaluate(fake_protocol.Line(n=30), fake_protocol.LeastSquares(jitter=0.2), **KW)
    explicit = trustbench.evaluate(f"{HERE}:Line", f"{HERE}:LeastSquares", params={"slope": 2.0, "n": 30},
                                   method_params={"jitter": 0.2}, **KW)
    volatile = ["run_id", "seconds", "created_at"]
    pd.testing.assert_frame_equal(by_class.drop(columns=volatile), by_name.drop(columns=volatile))
    # an instance is its class with its configuration, spelled out
    pd.testing.assert_frame_equal(by_instance.drop(columns=volatile), explicit.drop(columns=volatile))
    assert set(by_instance.n) == {30}

    class Shrunk:  # not importable by name: registered for the call only
        """Half the training mean."""

        def __init__(self, factor=0.5):
            self.factor = factor

        def fit(self, X, y, *, seed=0):
            self.mean_ = self.factor * float(np.mean(y))
            return self

        def predict(self, X):
            return np.full(len(X), self.mean_)

    df = trustbench.evaluate(f"{HERE}:Line", Shrunk(factor=0.25), **KW)
    assert set(df.method) == {"reference", "Shrunk(factor=0.25)"}
    assert "Shrunk" not in METHODS.names()

    class Opaque:
        def __init__(self):
            self.net = object()

    with pytest.raises(TypeError, match="cannot be rebuilt from its attributes"):
        trustbench.evaluate(f"{HERE}:Line", Opaque(), **KW)
    with pytest.raises(TypeError, match="carries its own configuration"):
        trustbench.evaluate(f"{HERE}:Line", Shrunk(), method_params={"factor": 2}, **KW)


def test_evaluate_stores_when_given_a_db(fake, tmp_path):
    db = tmp_path / "e.sqlite"
    first = trustbench.evaluate(f"{HERE}:Line", f"{HERE}:Mean", db=db, **KW)
    assert len(Store(db).records()) == len(first)
    second = trustbench.evaluate(f"{HERE}:Line", f"{HERE}:Mean", db=db, **KW)  # stored cells are read back
    pd.testing.assert_frame_equal(first, second)
    assert len(Store(db).runs()) == 2 and len(Store(db).records()) == len(first)


def test_evaluate_errors(fake):
    with pytest.raises(ValueError, match=r"unknown method 'meen'"):
        trustbench.evaluate(f"{HERE}:Line", "meen", **KW)
    with pytest.raises(ValueError, match=r"benchmarks\[0\]\.perturbations\[0\]\.severities\[0\]: severity"):
        trustbench.evaluate(f"{HERE}:Line", f"{HERE}:Mean", perturbations={"gaussian_noise": [-1]}, **KW)
    with pytest.raises(TypeError, match="perturbations must be a mapping"):
        trustbench.evaluate(f"{HERE}:Line", f"{HERE}:Mean", perturbations=["gaussian_noise"], **KW)
    with pytest.raises(RuntimeError, match="(?s)1 cell\\(s\\) failed.*this method always fails"):
        trustbench.evaluate(f"{HERE}:Line", f"{HERE}:Broken", **KW)
