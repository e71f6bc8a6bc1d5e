"""A tiny task with a known truth and two methods, for protocol and runner tests (importable by workers)."""

import numpy as np

from trustbench.types import Data, Dataset, Gaussian


class LinearTask:
    """y = 2x + N(0, 0.5²), x ~ U(-1, 1); the truth is known everywhere."""

    name = "tests/linear"

    def __init__(self, n_train=80, n_test=60, simulator=True):
        self.n_train = n_train
        self.n_test = n_test
        self.simulator = simulator

    def truth(self, X):
        return Gaussian(2.0 * np.asarray(X)[:, 0], np.full(len(X), 0.5))

    def simulate(self, X, rng):
        return 2.0 * np.asarray(X)[:, 0] + 0.5 * rng.standard_normal(len(X))

    def make(self, seed):
        rng = np.random.default_rng(seed)
        parts = []
        for n in (self.n_train, self.n_test):
            X = rng.uniform(-1, 1, size=(n, 1))
            truth = self.truth(X) if self.simulator else None
            parts.append(Data(X, self.simulate(X, rng), truth=truth))
        return Dataset(*parts)

    def reference(self):
        return Oracle()

    def plot_grid(self):
        return np.linspace(-1.5, 1.5, 31)[:, None]


class RealTask:
    """The same data without a simulator or truth, as on real data."""

    name = "tests/real"

    def make(self, seed):
        return LinearTask(simulator=False).make(seed)

    def reference(self):
        return Oracle()


class Oracle:
    """Predicts the true distribution."""

    def fit(self, X, y, *, seed=0):
        return self

    def predict(self, X):
        return LinearTask().truth(X)


class Overconfident:
    """Least-squares line with a far too small std."""

    def __init__(self, std=0.1):
        self.std = std

    def fit(self, X, y, *, seed=0):
        self.coef_ = np.polyfit(X[:, 0], y, 1)
        return self

    def predict(self, X):
        return Gaussian(np.polyval(self.coef_, X[:, 0]), np.full(len(X), self.std))


class Broken:
    def fit(self, X, y, *, seed=0):
        raise RuntimeError("this method always fails")

    def predict(self, X):  # pragma: no cover
        raise AssertionError
