"""Suite validation: every error names the file and the field, suggests the closest name, and
comes before any work."""

import re
from pathlib import Path

import pytest
import yaml

from tests.runner.conftest import HERE, suite
from trustbench.registry import BENCHMARKS, METRICS
from trustbench.runner.api import run_suite
from trustbench.runner.config import SUITES_DIR, SuiteError, SuiteModel, builtin_suites, load_suite

GOOD = f"""
name: my-suite
seeds: [0, 1]
n_boot: 200
benchmarks:
  - name: fake
    tasks: [{HERE}:Line, {{name: "{HERE}:Line", params: {{n: 20}}}}]
    methods: [{HERE}:Mean, {{name: "{HERE}:LeastSquares", params: {{jitter: 0.1}}}}]
    perturbations: [{{name: gaussian_noise, severities: [0.1, 0.3]}}, missing_mcar]
    metrics: [rmse, mae]
"""


def error_of(path_or_mapping):
    with pytest.raises(SuiteError) as info:
        load_suite(path_or_mapping)
    return str(info.value)


def test_a_good_suite_resolves_every_field(fake, write_suite):
    s = load_suite(write_suite(GOOD))
    (entry,) = s.entries
    assert s.name == "my-suite" and entry.protocol == HERE
    assert [t.params for t in entry.tasks] == [{}, {"n": 20}]
    assert entry.methods[1].params == {"jitter": 0.1}
    # given severities are kept; a bare name gets the perturbation's defaults
    assert entry.perturbations[0].params == {"severities": [0.1, 0.3]}
    from trustbench.perturb import missing_mcar

    assert entry.perturbations[1].params == {"severities": list(missing_mcar.severities)}
    assert entry.seeds == (0, 1) and entry.n_boot == 200 and entry.metrics == ("rmse", "mae")


def test_unknown_method_names_file_field_and_suggestion(fake, write_suite):
    text = GOOD.replace("methods: [", "methods: [deep_ensemble, deep_ensembel, ")
    msg = error_of(write_suite(text))
    assert re.search(r"suite\.yaml: benchmarks\[0\]\.methods\[1\]: unknown method 'deep_ensembel'\. "
                     r"Did you mean 'deep_ensemble'\?", msg), msg


@pytest.mark.parametrize("old, new, expected", [
    ("    metrics:", "    metricz: [rmse]\n    metrics:",
     r"benchmarks\[0\]: unknown key 'metricz'\. Did you mean 'metrics'\? Allowed keys: name, preset"),
    ("seeds: [0, 1]", "seeds: [0, one]", r"seeds\[1\]: input should be a valid integer; got 'one'"),
    ("n_boot: 200", "n_boot: '200'", r"n_boot: input should be a valid integer; got '200'"),
    ("n_boot: 200", "n_boot: 0", r"n_boot: input should be greater than or equal to 1"),
    ("severities: [0.1, 0.3]", "severities: [0.1, 30]",
     r"benchmarks\[0\]\.perturbations\[0\]\.severities\[1\]: severity of perturbation 'gaussian_noise' must lie in \[0\.0, 10\.0\]; got 30"),
    ("missing_mcar", "missing_mcra", r"benchmarks\[0\]\.perturbations\[1\]: unknown perturbation 'missing_mcra'\. Did you mean 'missing_mcar'\?"),
    ("metrics: [rmse, mae]", "metrics: [rmse, mea]", r"benchmarks\[0\]\.metrics\[1\]: unknown metric 'mea'"),
    ("  - name: fake", "  - name: fak", r"benchmarks\[0\]\.name: unknown benchmark 'fak'\. Did you mean 'fake'\?"),
    ("methods: [", "methods: [3, ", r"benchmarks\[0\]\.methods\[0\]: expected a name or a mapping; got 3"),
    ("seeds: [0, 1]", "seeds: [1, 1]", r"seeds: seeds must be distinct"),
    (f"{HERE}:Mean", "tests.runner.fake_protocol:Nope",
     r"benchmarks\[0\]\.methods\[0\]: module 'tests\.runner\.fake_protocol' has no attribute 'Nope'"),
])
def test_bad_fields_are_named(fake, write_suite, old, new, expected):
    assert old in GOOD
    msg = error_of(write_suite(GOOD.replace(old, new, 1)))
    assert re.search(r"suite\.yaml: " + expected, msg), msg


def test_malformed_yaml_gives_the_line(write_suite):
    msg = error_of(write_suite("name: x\nbenchmarks:\n  - name: fake\n    tasks: [a, b\n    methods: [c]\n"))
    assert re.search(r"suite\.yaml: line \d+, column \d+: malformed YAML", msg), msg
    assert error_of(write_suite("- just\n- a list\n")).endswith("suite: expected a mapping; got ['just', 'a list'].")


def test_objects_are_built_and_validated_before_any_work(fake, write_suite, tmp_path):
    bad_task = GOOD.replace("params: {n: 20}", "params: {n: 2}")
    msg = error_of(write_suite(bad_task))
    assert re.search(r"suite\.yaml: benchmarks\[0\]\.tasks\[1\]: n must be >= 4; got 2\.", msg), msg
    bad_method = GOOD.replace("params: {jitter: 0.1}", "params: {width: 64}")
    msg = error_of(write_suite(bad_method))
    assert re.search(r"benchmarks\[0\]\.methods\[1\]: method '.*LeastSquares' does not accept parameters", msg), msg
    db = tmp_path / "out" / "x.sqlite"
    with pytest.raises(SuiteError):
        run_suite(write_suite(bad_task), db=db, progress=False)
    assert not db.exists() and not db.parent.exists()  # nothing written, not even the folder


def test_preset_and_precedence(fake):
    # fields come from the entry, then the suite's explicit seeds / n_boot, then the preset
    s = load_suite({"name": "p", "seeds": [4], "benchmarks": [
        {"name": "fake", "preset": "full"},
        {"name": "fake", "preset": "full", "seeds": [7], "methods": [f"{HERE}:Mean"]},
    ]})
    a, b = s.entries
    assert a.seeds == (4,) and b.seeds == (7,)
    assert a.n_boot == fake.PRESET["n_boot"] and len(a.methods) == 2 and len(b.methods) == 1
    assert load_suite({"name": "p", "benchmarks": [{"name": "fake", "preset": "full"}]}).entries[0].seeds == (0, 1)
    # no metrics anywhere: every registered metric
    no_metrics = {k: v for k, v in fake.PRESET.items() if k != "metrics"}
    s = load_suite({"name": "m", "benchmarks": [{"name": "fake", **no_metrics}]})
    assert s.entries[0].metrics == tuple(METRICS.names())
    msg = error_of({"name": "p", "benchmarks": [{"name": "fake", "preset": "quik"}]})
    assert "benchmarks[0].preset: benchmark 'fake' has no preset 'quik'. Did you mean 'quick'?" in msg
    assert "no tasks given" in error_of({"name": "p", "benchmarks": [{"name": "fake"}]})


def test_errors_inside_a_preset_say_so(fake, monkeypatch):
    bad = {**fake.PRESET, "methods": [f"{HERE}:Mean", "gpp"]}
    monkeypatch.setitem(fake.BENCHMARK.presets, "quick", bad)
    msg = error_of({"name": "p", "benchmarks": [{"name": "fake", "preset": "quick"}]})
    assert "benchmarks[0] (preset 'quick' of benchmark 'fake').methods[1]: unknown method 'gpp'" in msg


def test_builtin_suites_cover_every_registered_benchmark(fake):
    assert {"quick", "full"} <= set(builtin_suites())
    for name in ("quick", "full"):
        model = SuiteModel.model_validate(yaml.safe_load((SUITES_DIR / f"{name}.yaml").read_text()))
        assert [e.name for e in model.benchmarks] == BENCHMARKS.names() and model.preset == name
    (entry,) = load_suite("quick", benchmarks=["fake"]).entries
    assert entry.tasks[0].name == fake.PRESET["tasks"][0] and entry.n_boot == fake.PRESET["n_boot"]
    assert load_suite("full", benchmarks=["fake"]).entries[0].seeds == (0, 1)


def test_unknown_suite_and_benchmark_filter():
    msg = error_of("quik")
    assert "suite 'quik' not found" in msg and "Did you mean 'quick'?" in msg
    with pytest.raises(SuiteError, match=r"benchmark 'fak' is not in suite 's'\. Did you mean 'fake'\?"):
        load_suite(suite(), benchmarks=["fak"])
    with pytest.raises(TypeError, match="suite must be"):
        load_suite(3)


def test_in_code_suites_name_themselves(fake):
    msg = error_of(suite(methods=["gpp"]))
    assert msg.startswith("<suite 's'>: benchmarks[0].methods[0]: unknown method 'gpp'")
    assert Path(SUITES_DIR / "quick.yaml").is_file()
