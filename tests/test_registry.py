import pytest

from trustbench.registry import METHODS, PERTURBATIONS, TASKS, registry


def test_builtins_are_listed_from_entry_points():
    assert {"deep_ensemble", "gp", "laplace", "split_conformal", "cqr"} <= set(METHODS.names())
    assert "regression/polynomial" in TASKS.names()
    assert set(PERTURBATIONS.names()) >= {"gaussian_noise", "covariate_shift", "missing_mcar", "outliers"}


def test_unknown_name_suggests_the_closest():
    with pytest.raises(ValueError, match=r"unknown method 'deep_ensembel'\. Did you mean 'deep_ensemble'\?"):
        METHODS.check("deep_ensembel")
    with pytest.raises(ValueError, match="kind must be one of"):
        registry("method")


def test_module_attr_references_and_in_process_registration():
    fn = PERTURBATIONS.load("trustbench.perturb.tabular:outliers")
    assert fn is PERTURBATIONS.load("outliers")
    with pytest.raises(ValueError, match="has no attribute 'nope'"):
        METHODS.check("trustbench.perturb.tabular:nope")
    with pytest.raises(ValueError, match="cannot import module"):
        METHODS.check("no_such_module_xyz:Thing")
    PERTURBATIONS.register("my_noise", fn)
    try:
        assert PERTURBATIONS.load("my_noise") is fn
        with pytest.raises(ValueError, match="already registered"):
            PERTURBATIONS.register("my_noise", fn)
    finally:
        PERTURBATIONS.unregister("my_noise")
    assert "my_noise" not in PERTURBATIONS.names()


def test_describe_gives_one_line_for_every_kind():
    from trustbench.registry import BENCHMARKS, METRICS

    assert BENCHMARKS.describe("regression").startswith("How close do deep-learning uncertainty methods")
    assert METRICS.describe("crps") == "Mean continuous ranked probability score."
    assert METHODS.describe("cqr").startswith("Conformalized quantile regression")
    assert PERTURBATIONS.describe("outliers").startswith("Gross input errors")
    assert "\n" not in TASKS.describe("regression/gap")
