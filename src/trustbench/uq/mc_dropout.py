"""Monte Carlo dropout (Gal & Ghahramani 2016) with a heteroscedastic Gaussian head."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from trustbench.types import Mixture
from trustbench.uq._common import NetworkConfig, Scaler, begin_fit, check_number, check_predict_X
from trustbench.validation import check_int

__all__ = ["MCDropout"]


@dataclass(kw_only=True, eq=False)
class MCDropout(NetworkConfig):
    """A dropout network whose dropout stays on at test time: T stochastic passes, one mixture.

    Every hidden layer is followed by dropout with probability ``p``; the L2 ``weight_decay`` plays
    the role of the prior (Gal & Ghahramani 2016). The network has a mean and a variance output
    and is trained on the Gaussian negative log-likelihood, so the noise is *heteroscedastic*
    and learned (the aleatoric head of Kendall & Gal 2017) rather than a fixed precision τ. At test
    time T passes, each one thinned network (one mask shared by all test rows), give the mixture
    Σ_t N(μ_t(x), σ_t²(x)) / T. The masks come from a generator seeded with the fit seed, so
    ``predict`` is deterministic and a row's predictive does not depend on the other rows.

    Gal, Y. & Ghahramani, Z. (2016). Dropout as a Bayesian approximation: representing model
    uncertainty in deep learning. ICML. Kendall, A. & Gal, Y. (2017). What uncertainties do we
    need in Bayesian deep learning for computer vision? NeurIPS 30.

    Parameters
    ----------
    p : dropout probability in [0, 1).
    n_passes : T, the stochastic forward passes at test time (≥ 1).
    hidden, activation, steps, lr, weight_decay : as in :class:`trustbench.uq.mlp.MLP`.
    """

    p: float = 0.05
    n_passes: int = 50

    def validate(self) -> None:
        """Raise ValueError/TypeError on a bad parameter, before any work."""
        check_number(self.p, "p", 0.0, 1.0, closed="left")
        check_int(self.n_passes, "n_passes", minimum=1)
        super().validate()

    def fit(self, X: Any, y: Any, *, seed: int = 0) -> MCDropout:
        X, y, seed = begin_fit(self, X, y, seed)
        from trustbench.uq import _torch

        self.scaler_ = Scaler.fit(X, y)
        self.seed_ = seed
        self.params_ = _torch.fit_mlp(
            self, self.scaler_.x(X), self.scaler_.y(y), _torch.generator(seed), _torch.nll, out=2, dropout=self.p
        )
        return self

    def predict(self, X: Any) -> Mixture:
        from trustbench.uq import _torch

        X = check_predict_X(self, X)
        Xs = np.broadcast_to(self.scaler_.x(X), (self.n_passes, *X.shape))
        mean, std = _torch.predict_gaussian(
            self.params_, Xs, self.activation, dropout=self.p, gen=_torch.generator(self.seed_), per_row=False
        )
        return Mixture(self.scaler_.loc(mean), self.scaler_.scale(std))
