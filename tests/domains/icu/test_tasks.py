"""ICU tasks: disjoint stratified splits, transfer across sites with shared variables, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from trustbench.domains.icu.tasks import SyntheticTask, YaibTask


def _stays(c):
    return set(np.unique(c.row_stays))


def test_within_site_split_is_disjoint_stratified_and_deterministic():
    task = YaibTask(cohort="mortality24", source="eicu_demo")
    split = task.make(0)
    parts = [_stays(split.train), _stays(split.cal), _stays(split.test)]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    n = sum(map(len, parts))
    assert n == 1367 and abs(len(parts[2]) / n - 0.3) < 0.01 and abs(len(parts[1]) / n - 0.15) < 0.01
    prev = [p.y.mean() for p in (split.train, split.cal, split.test)]
    assert max(prev) - min(prev) < 0.01  # 70 deaths spread by stratification
    again = task.make(0)
    assert _stays(again.test) == parts[2] and _stays(task.make(1).test) != parts[2]
    assert task.label == "icu/mortality24/eicu_demo"


def test_transfer_tests_on_every_stay_of_the_other_site_with_shared_variables():
    task = YaibTask(cohort="mortality24", source="eicu_demo", test_source="mimic_demo")
    split = task.make(0)
    assert task.label == "icu/mortality24/eicu_demo→mimic_demo" and task.transfer
    assert len(_stays(split.test)) == 99
    assert "crp" not in split.train.variables  # never measured in the MIMIC demo
    assert split.train.variables == split.test.variables == split.cal.variables


def test_hourly_task_rows_stay_with_their_stay():
    split = YaibTask(cohort="aki", source="mimic_demo").make(0)
    assert split.test.hourly and not (_stays(split.train) & _stays(split.test))
    assert len(split.test.outc) > len(_stays(split.test))


@pytest.mark.parametrize("kwargs, match", [
    ({"cohort": "mortality"}, r"cohort must be one of .*Did you mean 'mortality24'"),
    ({"source": "mimic"}, r"source must be one of"),
    ({"test_source": "hirid"}, r"test_source must be one of"),
    ({"test_size": 0.95}, r"test_size must lie in \(0, 0.9\)"),
    ({"test_size": 0.5, "cal_size": 0.45}, r"test_size \+ cal_size must be < 0.9"),
])
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        YaibTask(**kwargs)


def test_user_folder_and_kind_mismatch(tmp_path):
    from trustbench.domains.icu.yaib import demo_path

    task = YaibTask(path=str(demo_path("los", "mimic_demo")), test_path=str(demo_path("mortality24", "eicu_demo")))
    with pytest.raises(ValueError, match="is a binary task per stay; the training cohort .* is regression per hour"):
        task.make(0)
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        YaibTask(path=str(tmp_path / "missing")).make(0)


def test_synthetic_task_bad_parameters():
    with pytest.raises(ValueError, match="endpoint must be one of"):
        SyntheticTask(endpoint="sepsis")
    with pytest.raises(ValueError, match="n_stays must be >= 100"):
        SyntheticTask(n_stays=10)


def test_synthetic_site_of_ones_own_from_a_mapping():
    """A site configured in a suite file: its case-mix, units and missingness are what the test sees."""
    from trustbench.runner.config import load_suite
    from trustbench.runner.grid import expand

    own = {"name": "D", "case_mix": 1.0, "units": {"temp": "F"}, "missingness": "mnar", "prevalence": 0.5}
    task = SyntheticTask(n_stays=300, test_site=own)
    split = task.make(0)
    assert task.label == "icu/synthetic/mortality/A→D" and split.test.site == "D"
    assert split.train.dyn["temp"].mean() < 40 < split.test.dyn["temp"].mean()  # °C at A, °F at D
    assert split.test.y.mean() > split.train.y.mean()  # higher severity and prevalence
    suite = {"name": "s", "seeds": [0], "benchmarks": [{"name": "icu", "methods": ["logreg"],
             "tasks": [{"name": "icu/synthetic", "params": {"n_stays": 300, "test_site": own}}]}]}
    (cell,) = expand(load_suite(suite))
    assert cell.task_label == "icu/synthetic/mortality/A→D"
    with pytest.raises(TypeError, match="fields of a Site"):
        SyntheticTask(test_site={"name": "D", "severity": 1})
    with pytest.raises(ValueError, match="test_site must differ"):
        SyntheticTask(test_site="A")
