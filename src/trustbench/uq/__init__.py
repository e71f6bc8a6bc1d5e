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

from trustbench.registry import lazy_getattr

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
    "MLP": "trustbench.uq.mlp:MLP",
    "QuantileMLP": "trustbench.uq.mlp:QuantileMLP",
    "DeepEnsemble": "trustbench.uq.ensemble:DeepEnsemble",
    "MCDropout": "trustbench.uq.mc_dropout:MCDropout",
    "LastLayerLaplace": "trustbench.uq.laplace:LastLayerLaplace",
    "BayesByBackprop": "trustbench.uq.bbb:BayesByBackprop",
    "GaussianProcess": "trustbench.uq.gp:GaussianProcess",
    "SplitConformal": "trustbench.uq.conformal:SplitConformal",
    "CQR": "trustbench.uq.conformal:CQR",
}

__getattr__ = lazy_getattr(__name__, _WHERE)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
