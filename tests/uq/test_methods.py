"""The Method contract of every UQ method: determinism, parameter and input validation, lazy imports."""

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from tests.uq.helpers import hetero_sine
from trustbench.registry import METHODS
from trustbench.types import Predictive

FAST = {"steps": 40, "hidden": (8, 8)}
SMALL = {  # registry name -> cheap parameters (the behaviour tests use the defaults)
    "mlp": FAST,
    "quantile_mlp": FAST,
    "deep_ensemble": {**FAST, "n_members": 3, "adversarial": True},
    "mc_dropout": {**FAST, "p": 0.2, "n_passes": 7},
    "laplace": FAST,
    "bbb": {**FAST, "n_samples": 7},
    "gp": {"n_restarts": 1},
    "split_conformal": {"base_params": FAST},
    "cqr": {"base_params": FAST},
}


def summary(pred):
    return np.c_[pred.mean(), pred.std(), pred.quantile([0.05, 0.5, 0.95])]


@pytest.mark.parametrize("name", sorted(SMALL))
def test_same_seed_same_bits_other_seed_other_result(name):
    X, y = hetero_sine(60, seed=1)
    Xt = np.linspace(-4, 4, 13)[:, None]
    fit = lambda seed: METHODS.create(name, **SMALL[name]).fit(X, y, seed=seed)  # noqa: E731
    a, b, c = fit(3), fit(3), fit(4)
    pa = a.predict(Xt)
    assert isinstance(pa, Predictive) and len(pa) == len(Xt)
    np.testing.assert_array_equal(summary(pa), summary(b.predict(Xt)))
    np.testing.assert_array_equal(summary(pa), summary(a.predict(Xt)))  # predict is repeatable too
    # a row's predictive does not depend on the rows predicted with it
    np.testing.assert_allclose(summary(a.predict(Xt[3:5])), summary(pa)[3:5], rtol=1e-6, atol=1e-9)
    if name != "gp":  # the GP's seed only picks restarts, which may all reach the same optimum
        assert not np.array_equal(summary(pa), summary(c.predict(Xt)))


@pytest.mark.parametrize("name", sorted(SMALL))
def test_constructor_is_the_configuration(name):
    method = METHODS.create(name, **SMALL[name])
    config = {f.name: getattr(method, f.name) for f in dataclasses.fields(method)}
    assert all(config[k] is v for k, v in SMALL[name].items())  # stored as given
    assert repr(method) == f"{type(method).__name__}({', '.join(f'{k}={v!r}' for k, v in config.items())})"
    assert repr(type(method)(**config)) == repr(method)  # the repr rebuilds the method
    with pytest.raises(TypeError, match="positional"):
        type(method)(config[next(iter(config))])
    X, y = hetero_sine(40)
    method.fit(X, y)
    assert {f.name: getattr(method, f.name) for f in dataclasses.fields(method)} == config
    assert repr(type(method)(**config)) == repr(method)  # fitted state is not configuration
    assert all(k.endswith("_") for k in set(vars(method)) - set(config))


BAD = [
    ("mlp", {"hidden": (50, -1)}, ValueError, r"hidden must hold positive integer layer widths; got -1"),
    ("mlp", {"hidden": 50}, TypeError, "hidden must be a sequence"),
    ("mlp", {"holdout": 1.0}, ValueError, r"holdout must lie in \[0, 1\); got 1.0"),
    ("mlp", {"activation": "rleu"}, ValueError, "Did you mean 'relu'"),
    ("quantile_mlp", {"levels": [0.5]}, ValueError, "levels must be at least two"),
    ("quantile_mlp", {"steps": 0}, ValueError, "steps must be >= 1"),
    ("quantile_mlp", {"lr": -1e-3}, ValueError, "lr must lie in"),
    ("mc_dropout", {"p": 1.0}, ValueError, r"p must lie in \[0, 1\); got 1.0"),
    ("mc_dropout", {"p": -0.1}, ValueError, r"p must lie in \[0, 1\)"),
    ("mc_dropout", {"n_passes": 0}, ValueError, "n_passes must be >= 1"),
    ("deep_ensemble", {"n_members": 0}, ValueError, "n_members must be >= 1; got 0"),
    ("deep_ensemble", {"n_members": 2.5}, TypeError, "n_members must be an integer"),
    ("laplace", {"weight_decay": -1.0}, ValueError, "weight_decay must lie in"),
    ("bbb", {"prior_std": 0.0}, ValueError, "prior_std must lie in"),
    ("bbb", {"kl_warmup": 1.0}, ValueError, "kl_warmup must lie in"),
    ("gp", {"n_restarts": -1}, ValueError, "n_restarts must be >= 0"),
    ("split_conformal", {"cal_fraction": 0.0}, ValueError, r"cal_fraction must lie in \(0, 1\); got 0.0"),
    ("split_conformal", {"cal_fraction": 1.0}, ValueError, r"cal_fraction must lie in \(0, 1\)"),
    ("cqr", {"cal_fraction": 1.5}, ValueError, "cal_fraction must lie in"),
    ("split_conformal", {"base": "mpl"}, ValueError, r"unknown base 'mpl'\. Did you mean 'mlp'\?"),
    ("cqr", {"base": "quantile_mpl"}, ValueError, r"Did you mean 'quantile_mlp'\?"),
    ("split_conformal", {"base_params": {"hidden": (0,)}}, ValueError, "hidden must hold positive"),
    ("split_conformal", {"base_params": {"nope": 1}}, TypeError, "does not accept parameters"),
    ("cqr", {"levels": [0.05, 0.5, 0.9]}, ValueError, "symmetric pairs"),
]


@pytest.mark.parametrize("name, params, error, match", BAD)
def test_bad_parameters_raise_before_any_work(name, params, error, match):
    method = METHODS.create(name, **params)  # construction stores, never checks
    with pytest.raises(error, match=match):
        method.validate()
    X, y = hetero_sine(40)
    with pytest.raises(error, match=match):
        method.fit(X, y)
    assert not hasattr(method, "n_features_in_")  # nothing was looked at or learned


def test_bad_data_and_predict_before_fit():
    m = METHODS.create("mlp", **FAST)
    X, y = hetero_sine(40)
    with pytest.raises(RuntimeError, match="not fitted yet"):
        m.predict(X)
    with pytest.raises(ValueError, match="X must be 2-D"):
        m.fit(X[:, 0], y)
    with pytest.raises(ValueError, match="same number of rows"):
        m.fit(X, y[:-1])
    with pytest.raises(ValueError, match="X must be finite"):
        m.fit(np.where(X > 2, np.nan, X), y)
    with pytest.raises(TypeError, match="seed must be an integer"):
        m.fit(X, y, seed=1.5)
    m.fit(X, y)
    with pytest.raises(ValueError, match=r"X must have 1 feature\(s\), as in fit; got shape \(3, 2\)"):
        m.predict(np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"cal_fraction=0.1 of 4 training rows leaves 0 for the split-off"):
        METHODS.create("split_conformal", cal_fraction=0.1).fit(X[:4], y[:4])


def test_importing_the_package_and_the_method_modules_loads_no_torch():
    code = (
        "import sys, trustbench.uq as u\n"
        "from trustbench.registry import METHODS\n"
        "for n in ['mlp', 'deep_ensemble', 'mc_dropout', 'laplace', 'bbb', 'gp', 'split_conformal', 'cqr']:\n"
        "    METHODS.create(n).validate()\n"
        "assert u.CQR.__name__ == 'CQR'\n"
        "print(sorted(m for m in ('torch', 'scipy.optimize', 'scipy.linalg') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
