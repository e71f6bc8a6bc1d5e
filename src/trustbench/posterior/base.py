"""The words of posterior estimation (simulation-based inference) as protocols.

A :class:`PosteriorTask` is a reference problem with a prior over parameters θ and a batched
simulator x ~ p(x | θ); it gives fixed observations with their true parameters and, where it can,
reference posterior samples (sbibm's shape: Lueckmann et al. 2021). A :class:`PosteriorEstimator`
learns p(θ | x) from simulated pairs and draws posterior samples for new observations.

Arrays cross these boundaries as NumPy float64: θ is ``(n, d)``, x is ``(n, *x_shape)`` (a vector
``(n, k)`` or waveforms ``(n, channels, time)``). Randomness is explicit: every random call takes a
``numpy.random.Generator``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["Prior", "Observation", "PosteriorTask", "PosteriorEstimator"]


@runtime_checkable
class Prior(Protocol):
    """A prior over θ: draws ``(n, d)`` and log densities ``(n,)`` (-inf outside its support).

    A ``torch.distributions.Distribution`` is wrapped into this shape by
    :func:`trustbench.posterior.task.as_prior`.
    """

    dim: int

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray: ...

    def log_prob(self, theta: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True, eq=False)
class Observation:
    """One fixed observation: the data ``x`` (``x_shape``), the parameters ``theta`` that made it
    (``(d,)``, None when unknown), and reference posterior samples ``(n_ref, d)`` (None when the task
    has none). ``meta`` holds diagnostics of how the reference was made (method, R-hat, ESS, ...)."""

    x: np.ndarray
    theta: np.ndarray | None = None
    reference: np.ndarray | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class PosteriorTask(Protocol):
    """A simulation-based inference problem with known ground truth.

    ``simulate`` makes training data; ``simulate_test`` makes the observations and calibration data
    (the same simulator unless the task studies model error: train on one simulator, test on
    another). ``observations(seed)`` returns the fixed observations with their reference posteriors
    (deterministic for a seed).
    """

    name: str
    parameter_names: tuple[str, ...]
    prior: Prior

    def simulate(self, theta: np.ndarray, rng: np.random.Generator) -> np.ndarray: ...

    def simulate_test(self, theta: np.ndarray, rng: np.random.Generator) -> np.ndarray: ...

    def observations(self, seed: int) -> list[Observation]: ...


@runtime_checkable
class PosteriorEstimator(Protocol):
    """Learns p(θ | x) from simulations. Constructor = configuration (``num_simulations`` is one
    of its parameters: how many simulations the protocol gives it)."""

    num_simulations: int

    def fit(self, theta: np.ndarray, x: np.ndarray, *, prior: Prior, seed: int = 0) -> PosteriorEstimator: ...

    def sample(self, x: np.ndarray, n_samples: int, rng: np.random.Generator) -> np.ndarray:
        """Posterior draws ``(m, n_samples, d)`` for the observations ``x`` (``(m, *x_shape)``)."""
        ...
