"""Expanding a suite into cells, and their order."""

import random
from types import SimpleNamespace

import pytest

import trustbench
from tests.runner.conftest import suite
from trustbench.runner.cells import Cell, Spec
from trustbench.runner.config import load_suite
from trustbench.runner.grid import expand, order


def node(key, *deps):
    return SimpleNamespace(key=key, depends_on=deps)


def test_order_puts_dependencies_first_and_keeps_the_rest_stable():
    cells = [node("c", "a"), node("x"), node("b", "a", "c"), node("a"), node("y", "outside")]
    assert [c.key for c in order(cells)] == ["x", "a", "y", "c", "b"]
    for _ in range(20):
        shuffled = random.Random(_).sample(cells, len(cells))
        pos = {c.key: i for i, c in enumerate(order(shuffled))}
        assert pos["a"] < pos["c"] < pos["b"]
    with pytest.raises(ValueError, match="cycle"):
        order([node("p", "q"), node("q", "p")])


def test_expand_makes_reference_cells_first_and_drops_duplicates(fake):
    s = load_suite({**suite(seeds=[0, 1]), "benchmarks": suite()["benchmarks"] * 2})
    cells = expand(s)
    assert len(cells) == 2 * 3 == len({c.key for c in cells})
    seen = set()
    for c in cells:
        assert set(c.depends_on) <= seen
        seen.add(c.key)
    assert {c.method.name for c in cells if not c.depends_on} == {"reference"}


def test_cell_key_depends_on_configuration_and_version(monkeypatch):
    base = Cell("s", "b", "predictive", Spec("t"), Spec("m", {"w": 1}), seed=0)
    same = Cell("s", "b", "predictive", Spec("t"), Spec("m", {"w": 1}), seed=0)
    assert base.key == same.key
    assert base.key != Cell("s", "b", "predictive", Spec("t"), Spec("m", {"w": 2}), seed=0).key
    assert base.key != Cell("s", "b", "predictive", Spec("t"), Spec("m", {"w": 1}), seed=1).key
    before = base.key
    monkeypatch.setattr(trustbench, "__version__", "99.0")
    assert base.key != before  # a new version re-runs every cell
