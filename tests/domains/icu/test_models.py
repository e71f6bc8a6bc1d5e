"""Reference ICU models on the real YAIB demo cohorts: discrimination, regression, determinism, ensembles."""

from __future__ import annotations

import copy
import time

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from tests.domains.icu._load import load, split
from trustbench.domains.icu.models import GRU, MODELS, LightGBM, LogReg, Transformer
from trustbench.types import Gaussian, Mixture


@pytest.fixture(scope="module")
def mort():
    return split(load("mortality24", "eicu_demo"), seed=0)


@pytest.fixture(scope="module")
def kidney():
    return split(load("kidney_function", "eicu_demo"), seed=0)


@pytest.fixture(scope="module")
def aki():
    return split(load("aki", "mimic_demo"), seed=0)


def test_registry():
    assert MODELS == {"logreg": LogReg, "lightgbm": LightGBM, "gru": GRU, "transformer": Transformer}


@pytest.mark.parametrize(
    "cls, floor",
    [(LogReg, 0.7), (LightGBM, 0.7),
     (GRU, 0.65), (Transformer, 0.65)],
)
def test_mortality24_auroc(mort, cls, floor):
    train, test = mort
    t0 = time.perf_counter()
    p = cls().fit(train, seed=0).predict(test)
    elapsed = time.perf_counter() - t0
    assert p.dtype == np.float64 and p.shape == (len(test.outc),)
    assert ((p >= 0) & (p <= 1)).all()
    auc = roc_auc_score(test.y, p)
    print(f"{cls.__name__}: AUROC {auc:.3f} on mortality24/eicu_demo ({elapsed:.1f} s)")
    assert auc > floor


@pytest.mark.parametrize("cls", [LogReg, LightGBM, GRU, Transformer])
def test_hourly_task_one_prediction_per_row(aki, cls):
    train, test = aki
    params = {"all_missing": "drop"}
    if cls in (GRU, Transformer):
        params["epochs"] = 2
    if cls is LightGBM:
        params["n_estimators"] = 50
    p = cls(**params).fit(train).predict(test)
    assert p.shape == (len(test.outc),) and np.isfinite(p).all() and ((p >= 0) & (p <= 1)).all()


@pytest.mark.parametrize(
    "cls, params",
    [(LogReg, {}), (LightGBM, {"n_estimators": 100}), (LightGBM, {"n_estimators": 100, "scale": "lgbm"}),
     (GRU, {}), (Transformer, {})],
)
def test_regression_gaussian_beats_training_mean(kidney, cls, params):
    train, test = kidney
    pred = cls(**params).fit(train).predict(test)
    assert isinstance(pred, Gaussian) and len(pred) == len(test.outc)
    assert (pred.scale > 0).all() and np.isfinite(pred.loc).all()
    mae = np.abs(test.y - pred.mean()).mean()
    base = np.abs(test.y - train.y.mean()).mean()
    print(f"{cls.__name__}{params}: MAE {mae:.3f} vs training mean {base:.3f}, NLL {-pred.logpdf(test.y).mean():.3f}")
    assert mae < 0.8 * base


def test_ridge_scale_is_training_residual_std(kidney):
    from sklearn.linear_model import Ridge
    from sklearn.preprocessing import StandardScaler

    train, _ = kidney
    m = LogReg(C=0.5).fit(train)
    X = StandardScaler().fit_transform(m.preprocessor_.tabular(train))
    r = train.y - Ridge(alpha=2.0).fit(X, train.y).predict(X)
    assert m.scale_ == pytest.approx(np.sqrt(np.mean(r**2)), rel=1e-6)


@pytest.mark.parametrize(
    "cls, params", [(LogReg, {}), (LightGBM, {"n_estimators": 50}), (GRU, {"epochs": 2}), (Transformer, {"epochs": 2})]
)
def test_deterministic_for_a_seed(mort, cls, params):
    train, test = mort
    a = cls(**params).fit(train, seed=3).predict(test)
    b = cls(**params).fit(train, seed=3).predict(test)
    np.testing.assert_array_equal(a, b)
    if cls in (GRU, Transformer):
        assert not np.array_equal(a, cls(**params).fit(train, seed=4).predict(test))


def _member(model, k):
    single = copy.copy(model)
    single.members_ = [model.members_[k]]
    return single


def test_ensemble_binary_averages_member_probabilities(mort):
    train, test = mort
    ens = GRU(epochs=2, n_members=3).fit(train, seed=5)
    p = ens.predict(test)
    singles = [_member(ens, k).predict(test) for k in range(3)]
    np.testing.assert_allclose(p, np.mean(singles, axis=0), rtol=1e-12)
    assert not np.allclose(singles[0], singles[1])
    # member 0 is the single model of the same seed
    np.testing.assert_array_equal(singles[0], GRU(epochs=2).fit(train, seed=5).predict(test))


def test_ensemble_regression_collapses_the_mixture(kidney):
    train, test = kidney
    ens = Transformer(epochs=2, n_members=3).fit(train, seed=1)
    pred = ens.predict(test)
    members = [_member(ens, k).predict(test) for k in range(3)]
    mix = Mixture(loc=np.column_stack([m.loc for m in members]), scale=np.column_stack([m.scale for m in members]))
    np.testing.assert_allclose(pred.mean(), mix.mean(), rtol=1e-10)
    np.testing.assert_allclose(pred.var(), mix.var(), rtol=1e-8)


def test_predicts_another_site(mort):
    train, _ = mort
    other = load("mortality24", "mimic_demo")
    for model in (LogReg(), GRU(epochs=1)):
        p = model.fit(train).predict(other)
        assert p.shape == (len(other.outc),) and np.isfinite(p).all()


@pytest.mark.parametrize(
    "make, name, err",
    [
        (lambda: LogReg(C=0), "C", ValueError),
        (lambda: LogReg(class_weight="auto"), "class_weight", ValueError),
        (lambda: LogReg(max_iter=1.5), "max_iter", TypeError),
        (lambda: LightGBM(n_estimators=0), "n_estimators", ValueError),
        (lambda: LightGBM(learning_rate=-0.1), "learning_rate", ValueError),
        (lambda: LightGBM(scale="quantile"), "scale", ValueError),
        (lambda: GRU(hidden=0), "hidden", ValueError),
        (lambda: GRU(dropout=1.0), "dropout", ValueError),
        (lambda: GRU(n_members=True), "n_members", TypeError),
        (lambda: Transformer(hidden=30, heads=4), "hidden", ValueError),
    ],
)
def test_hyperparameters_are_validated(make, name, err):
    with pytest.raises(err, match=name):
        make()


def test_predict_before_fit_and_bad_seed(mort):
    train, test = mort
    with pytest.raises(RuntimeError, match="not fitted"):
        GRU().predict(test)
    with pytest.raises(ValueError, match="seed"):
        LogReg().fit(train, seed=-1)
