"""Generic uncertainty-quantification methods for regression, each a :class:`trustbench.types.Method`.

=====================  ==========================================================  =============
class                  method                                                      predictive
=====================  ==========================================================  =============
``MLP``                network on squared error, held-out residual noise level     Gaussian
``QuantileMLP``        network on the pinball loss at a grid of levels             Quantiles
``DeepEnsemble``       M heteroscedastic networks (Lakshminarayanan et al. 2017)   Mixture
``MCDropout``          dropout at test time (Gal & Ghahramani 2016)                Mixture
``LastLayerLaplace``   last-layer Laplace, evidence-tuned (MacKay 1992)            Gaussian
``BayesByBackprop``    mean-field variational inference (Blundell et al. 2015)     Mixture
``GaussianProcess``    exact GP, ARD kernel (Rasmussen & Williams 2006)            Gaussian
``SplitConformal``     split conformal around a point method (Lei et al. 2018)     Quantiles
``CQR``                conformalized quantile regression (Romano et al. 2019)      Quantiles
=====================  ==========================================================  =============

All standardize inputs and targets internally and are deterministic for a ``seed`` on CPU.
The classes load on first access, so ``import trustbench.uq`` imports neither torch nor scipy.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "MLP",
    "QuantileMLP",
    "DeepEnsemble",
    "MCDropout",
    "LastLayerLaplace",
    "BayesByBackprop",
    "GaussianProcess",
    "SplitConformal",
    "CQR",
]

_WHERE = {
    "MLP": "mlp",
    "QuantileMLP": "mlp",
    "DeepEnsemble": "ensemble",
    "MCDropout": "mc_dropout",
    "LastLayerLaplace": "laplace",
    "BayesByBackprop": "bbb",
    "GaussianProcess": "gp",
    "SplitConformal": "conformal",
    "CQR": "conformal",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f"trustbench.uq.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'trustbench.uq' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
