"""Build your own tasks.

``from_simulator(simulator, prior, *, name, observations=None, reference_samples=None, ...)`` makes
a posterior task from any batched ``simulator(theta) -> x`` and a prior (a
``torch.distributions.Distribution`` or a trustbench prior), in the shape of sbibm's tasks, so
sbibm's simulators with their stored observations and reference posteriors, or your own, run under
trustbench's posterior protocol: ``trustbench.evaluate(task, "npe")``.
"""

from __future__ import annotations

from trustbench.registry import lazy_getattr

__all__ = ["from_simulator"]

__getattr__ = lazy_getattr(__name__, {"from_simulator": "trustbench.posterior.task:from_simulator"})
