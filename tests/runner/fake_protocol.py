"""A tiny protocol for runner tests (numpy only, milliseconds per cell), importable by workers.

``grid`` makes one reference cell per (task, seed) (a least-squares line) and one cell per method
that depends on it; ``run_cell`` scores rmse, mae and the mean distance to the reference
prediction ("reference_w1") on clean and perturbed test inputs, with a bootstrap CI.
"""

import os
import time
from pathlib import Path

import numpy as np

from trustbench.registry import BENCHMARKS, METHODS, PERTURBATIONS, TASKS
from trustbench.runner.cells import Cell, CellResult, Spec
from trustbench.types import Benchmark

HERE = "tests.runner.fake_protocol"
PRESET = {
    "tasks": [f"{HERE}:Line"],
    "methods": [f"{HERE}:Mean", f"{HERE}:LeastSquares"],
    "perturbations": [{"name": "gaussian_noise", "severities": [0.5]}],
    "metrics": ["rmse", "mae", "reference_w1"],
    "n_boot": 50,
}
BENCHMARK = Benchmark(name="fake", question="Does the runner work?", protocol=HERE,
                      presets={"quick": PRESET, "full": {**PRESET, "seeds": [0, 1]}})


def register():
    BENCHMARKS.register("fake", BENCHMARK, overwrite=True)


class Line:
    """y = slope·x + N(0, 0.1²)."""

    def __init__(self, slope=2.0, n=40):
        self.slope = slope
        self.n = n

    def validate(self):
        if self.n < 4:
            raise ValueError(f"n must be >= 4; got {self.n}.")

    def make(self, seed):
        rng = np.random.default_rng(seed)
        x = rng.uniform(-1, 1, size=(2 * self.n, 1))
        y = self.slope * x[:, 0] + 0.1 * rng.standard_normal(2 * self.n)
        return x[: self.n], y[: self.n], x[self.n:], y[self.n:]


class Mean:
    """Predicts the training mean."""

    def fit(self, X, y, *, seed=0):
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(len(X), self.mean_)


class LeastSquares:
    """A least-squares line; ``jitter`` adds seeded noise to the slope (to make seeds matter)."""

    def __init__(self, jitter=0.0):
        self.jitter = jitter

    def fit(self, X, y, *, seed=0):
        self.coef_ = np.polyfit(X[:, 0], y, 1) + self.jitter * np.random.default_rng(seed).standard_normal(2)
        return self

    def predict(self, X):
        return np.polyval(self.coef_, X[:, 0])


class Broken(Mean):
    """Always fails to fit."""

    def fit(self, X, y, *, seed=0):
        raise RuntimeError("this method always fails")


class Dies(Mean):
    """Kills its own process while fitting (a worker lost to the OOM killer, say)."""

    def fit(self, X, y, *, seed=0):
        os._exit(3)


class Sleepy(Mean):
    """The mean, slowly."""

    def __init__(self, seconds=0.2):
        self.seconds = seconds

    def fit(self, X, y, *, seed=0):
        time.sleep(self.seconds)
        return super().fit(X, y, seed=seed)


class Flaky(Mean):
    """Fails while the file ``flag`` exists."""

    def __init__(self, flag=""):
        self.flag = flag

    def fit(self, X, y, *, seed=0):
        if Path(self.flag).exists():
            raise RuntimeError(f"flag file {self.flag} exists")
        return super().fit(X, y, seed=seed)


def grid(suite, benchmark, entry, seeds):
    cells = []
    for task in entry.tasks:
        for seed in seeds:
            common = dict(suite=suite, benchmark=benchmark, protocol=entry.protocol, task=task, seed=int(seed),
                          perturbations=entry.perturbations, metrics=entry.metrics, n_boot=entry.n_boot)
            ref = Cell(method=Spec("reference"), **common)
            cells.append(ref)
            cells.extend(Cell(method=m, depends_on=(ref.key,), **common) for m in entry.methods)
    return cells


def _score(per_row, n_boot, rng, root=False):
    f = (lambda v: float(np.sqrt(np.mean(v)))) if root else (lambda v: float(np.mean(v)))
    boots = [f(per_row[rng.integers(0, len(per_row), len(per_row))]) for _ in range(n_boot)]
    return f(per_row), float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975))


def run_cell(cell, inputs):
    start = time.perf_counter()
    task = TASKS.create(cell.task.name, **cell.task.params)
    x_train, y_train, x_test, y_test = task.make(cell.seed)
    is_ref = cell.method.name == "reference"
    method = LeastSquares() if is_ref else METHODS.create(cell.method.name, **cell.method.params)
    method.fit(x_train, y_train, seed=cell.seed)
    reference = {} if is_ref else inputs[cell.depends_on[0]]
    sets = [("none", 0.0, x_test)]
    for p in cell.perturbations:
        fn = PERTURBATIONS.load(p.name)
        for s in p.params["severities"]:
            sets.append((p.name, s, fn(x_test, s, np.random.default_rng([cell.seed, int(s * 1000)]), train_X=x_train)))
    records, payload = [], {}
    for name, severity, X in sets:
        pred = method.predict(X)
        payload[f"{name}/{severity}"] = pred
        per_metric = {"rmse": ((pred - y_test) ** 2, True), "mae": (np.abs(pred - y_test), False)}
        if not is_ref:
            per_metric["reference_w1"] = (np.abs(pred - reference[f"{name}/{severity}"]), False)
        rng = np.random.default_rng(cell.seed)
        for metric in cell.metrics:
            if metric in per_metric:
                rows, root = per_metric[metric]
                value, lo, hi = _score(rows, cell.n_boot, rng, root=root)
                records.append({"benchmark": cell.benchmark, "task": cell.task.name, "method": cell.method.label(),
                                "perturbation": name, "severity": severity, "seed": cell.seed, "metric": metric,
                                "value": value, "ci_low": lo, "ci_high": hi, "n": len(y_test)})
    artifacts = {"fit": {"mean": float(np.mean(pred)), "missing": float("nan"), "array": np.arange(3)}}
    return CellResult(key=cell.key, records=records, artifacts=artifacts, payload=payload if is_ref else None,
                      seconds=time.perf_counter() - start)
