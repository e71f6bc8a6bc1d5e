"""Shared torch pieces of the network methods: batched MLPs, the training loop, Gaussian heads, losses.

This module imports torch at its top; the method modules import it inside ``fit`` and ``predict``,
so ``import trustbench.uq.<method>`` (and the registry) never loads torch.

Networks are plain lists of weight tensors ``[W1, b1, W2, b2, ...]`` with a leading *member* axis,
``W: (E, d_in, d_out)``, ``b: (E, 1, d_out)``: a deep ensemble of E networks trains as one batched
network (one Adam loop instead of E), and a single network is E = 1. All randomness (initialization,
dropout masks, noise draws) comes from a local ``torch.Generator``; the global torch state and the
thread settings are left alone, so a fit is bit-for-bit reproducible on CPU for a seed.

Training is full-batch Adam (Kingma & Ba 2015) for a fixed number of steps with a cosine-decayed
learning rate (Loshchilov & Hutter 2017), which ends every run at a small step size instead of
oscillating: the fixed step budget needs no early-stopping split.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from trustbench.uq._common import LEVELS

__all__ = [
    "DTYPE",
    "generator",
    "as_tensor",
    "numpy",
    "activation",
    "init_mlp",
    "forward",
    "train",
    "fit_mlp",
    "predict",
    "predict_gaussian",
    "mse",
    "gaussian_head",
    "gaussian_nll",
    "nll",
    "pinball",
]

DTYPE = torch.float32
MIN_VAR = 1e-6
"""Floor of a predicted variance (standardized units), added after the softplus."""

Loss = Callable[[Callable[[torch.Tensor], torch.Tensor], torch.Tensor, torch.Tensor], torch.Tensor]


def generator(seed: int) -> torch.Generator:
    """A local CPU generator seeded with ``seed`` (the global torch seed is never touched)."""
    return torch.Generator().manual_seed(int(seed))


def as_tensor(a: Any) -> torch.Tensor:
    return torch.tensor(np.asarray(a), dtype=DTYPE)


def numpy(t: torch.Tensor) -> np.ndarray:
    """A float64 numpy copy of a tensor."""
    return t.detach().to(torch.float64).numpy()


def activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    return {"relu": torch.relu, "tanh": torch.tanh, "silu": torch.nn.functional.silu}[name]


def init_mlp(sizes: Sequence[int], gen: torch.Generator, members: int = 1) -> list[torch.Tensor]:
    """Independent random weights for ``members`` MLPs with layer widths ``sizes`` (input ... output).

    PyTorch's default ``nn.Linear`` initialization: weights and biases ~ U(-1/√fan_in, 1/√fan_in).
    """
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        bound = 1.0 / math.sqrt(fan_in)
        for shape in ((members, fan_in, fan_out), (members, 1, fan_out)):
            w = (torch.rand(shape, generator=gen, dtype=DTYPE) * 2 - 1) * bound
            params.append(w.requires_grad_())
    return params


def forward(
    params: Sequence[torch.Tensor],
    x: torch.Tensor,
    act: str,
    *,
    dropout: float = 0.0,
    gen: torch.Generator | None = None,
    per_row: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Outputs (E, n, d_out) and last-hidden-layer features (E, n, h) of a batched MLP.

    ``x`` is (n, d), shared by every member, or (E, n, d). With ``dropout`` > 0 every hidden unit is
    dropped with probability ``dropout`` (inverted scaling), masks drawn from ``gen``: per row
    (training), or with ``per_row=False`` one mask per leading index shared by all rows, so each
    pass is one thinned network (MC dropout: a row's prediction does not depend on the other rows).
    With no hidden layer the features are the inputs.
    """
    f = activation(act)
    h = x
    for i in range(0, len(params) - 2, 2):
        h = f(torch.matmul(h, params[i]) + params[i + 1])
        if dropout > 0:
            shape = h.shape if per_row else (h.shape[0], 1, h.shape[2])
            h = h * (torch.rand(shape, generator=gen, dtype=DTYPE) >= dropout) / (1.0 - dropout)
    if h.dim() == 2:
        h = h.expand(params[-1].shape[0], *h.shape)
    return torch.matmul(h, params[-2]) + params[-1], h


def train(
    params: Sequence[torch.Tensor],
    objective: Callable[[int], torch.Tensor],
    *,
    steps: int,
    lr: float,
    weight_decay: float = 0.0,
    extra: Sequence[torch.Tensor] = (),
) -> None:
    """Minimize ``objective(step)`` by full-batch Adam for ``steps`` steps.

    ``weight_decay`` (an L2 penalty, i.e. a Gaussian prior on the weights) applies to ``params``,
    not to the ``extra`` parameters (noise scales, variational spreads).
    """
    groups = [{"params": list(params), "weight_decay": weight_decay}]
    if extra:
        groups.append({"params": list(extra), "weight_decay": 0.0})
    opt = torch.optim.Adam(groups, lr=lr, foreach=True)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
    for step in range(steps):
        opt.zero_grad(set_to_none=True)
        objective(step).backward()
        opt.step()
        sched.step()


def fit_mlp(
    method: Any,
    X: np.ndarray,
    y: np.ndarray,
    gen: torch.Generator,
    loss: Loss,
    *,
    out: int,
    members: int = 1,
    dropout: float = 0.0,
) -> list[torch.Tensor]:
    """Initialize and train a (batched) MLP on standardized ``X`` (n, d), ``y`` (n,); return its weights.

    The architecture and optimizer settings come from ``method`` (``hidden``, ``activation``,
    ``steps``, ``lr``, ``weight_decay``). ``loss(net, x, t)`` gets the network as a function of
    its inputs, so a loss may evaluate it at perturbed inputs (adversarial training).
    """
    params = init_mlp([X.shape[1], *method.hidden, out], gen, members)
    x, t = as_tensor(X), as_tensor(y)

    def net(inputs: torch.Tensor) -> torch.Tensor:
        return forward(params, inputs, method.activation, dropout=dropout, gen=gen)[0]

    train(params, lambda step: loss(net, x, t), steps=method.steps, lr=method.lr,
          weight_decay=method.weight_decay)
    return [p.detach() for p in params]


def predict(params: Sequence[torch.Tensor], X: np.ndarray, act: str, **kwargs: Any) -> np.ndarray:
    """Network outputs (E, n, d_out) at standardized inputs ``X``, without gradients, as float64 numpy."""
    with torch.no_grad():
        return numpy(forward(params, as_tensor(X), act, **kwargs)[0])


def predict_gaussian(
    params: Sequence[torch.Tensor], X: np.ndarray, act: str, **kwargs: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Means and standard deviations (n, E) of a heteroscedastic Gaussian head, one column per member or pass."""
    with torch.no_grad():
        mean, var = gaussian_head(forward(params, as_tensor(X), act, **kwargs)[0])
    return numpy(mean).T, np.sqrt(numpy(var)).T


# --------------------------------------------------------------------------------------------
# losses over outputs (E, n, k) and targets (n,); summed over members, averaged over rows
# --------------------------------------------------------------------------------------------


def mse(net: Callable, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Mean squared error of output 0."""
    return ((net(x)[..., 0] - t) ** 2).mean(dim=-1).sum()


def gaussian_head(out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance (softplus of output 1, floored) of a heteroscedastic Gaussian head."""
    return out[..., 0], torch.nn.functional.softplus(out[..., 1]) + MIN_VAR


def gaussian_nll(mean: torch.Tensor, var: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Gaussian negative log-likelihood (without the constant)."""
    return (0.5 * (torch.log(var) + (t - mean) ** 2 / var)).mean(dim=-1).sum()


def nll(net: Callable, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Gaussian negative log-likelihood of a heteroscedastic head (outputs 0 and 1)."""
    return gaussian_nll(*gaussian_head(net(x)), t)


def pinball(levels: np.ndarray = LEVELS) -> Loss:
    """Pinball (quantile) loss at ``levels``, one output per level (Koenker & Bassett 1978)."""
    tau = as_tensor(levels)

    def loss(net: Callable, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        err = t[:, None] - net(x)
        return torch.maximum(tau * err, (tau - 1) * err).mean(dim=(-2, -1)).sum()

    return loss
