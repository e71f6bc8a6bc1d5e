"""Torch building blocks of the posterior estimators: embedding (summary) networks, conditional
density heads, the spline coupling flow, the cINN coupling flow and the early-stopped training loop.

This module imports torch and zuko at its top; :mod:`trustbench.posterior.estimators` imports it
inside ``fit``, so importing the estimators (and the registry) never loads torch.

Every head maps a context ``c`` (the embedded, z-scored observation, ``(B, c_dim)``) to a density
over z-scored parameters ``(B, d)``: ``head.log_prob(theta, c) -> (B,)`` and, for sampling,
``head.draw(c, z)`` which turns standard-normal noise (and, for mixtures, uniform draws) made by a
NumPy Generator into parameter draws, so sampling randomness never touches the torch RNG.

References
----------
Ardizzone L, Lüth C, Kruse J, Rother C, Köthe U (2019). Guided image generation with conditional
invertible neural networks. arXiv:1907.02392 (cINN: affine couplings, soft-clamped log-scales,
fixed random permutations).
Dinh L, Sohl-Dickstein J, Bengio S (2017). Density estimation using Real NVP. ICLR.
Durkan C, Bekasov A, Murray I, Papamakarios G (2019). Neural spline flows. NeurIPS (RQ-NSF (C):
rational-quadratic spline couplings with residual conditioners, linear tails, LU layers).
He K, Zhang X, Ren S, Sun J (2016). Identity mappings in deep residual networks. ECCV.
Bishop CM (1994). Mixture density networks. Aston University, NCRG/94/004.
Lakshminarayanan B, Pritzel A, Blundell C (2017). Simple and scalable predictive uncertainty
estimation using deep ensembles. NeurIPS.
Prechelt L (1998). Early stopping - but when? In: Neural Networks: Tricks of the Trade.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
import zuko
from torch import nn
from zuko.flows.coupling import GeneralCouplingTransform
from zuko.lazy import Flow, LazyTransform, UnconditionalDistribution, UnconditionalTransform
from zuko.transforms import (CouplingTransform, DependentTransform, LULinearTransform, MonotonicRQSTransform,
                             PermutationTransform)
from zuko.utils import broadcast, unpack

__all__ = [
    "DTYPE",
    "WaveformCNN",
    "Flatten",
    "mlp",
    "make_embedding",
    "FlowHead",
    "SoftClampAffineTransform",
    "ResidualNet",
    "spline_coupling_flow",
    "cinn_flow",
    "MDNHead",
    "GaussianHead",
    "Conditional",
    "TrainResult",
    "train",
]

DTYPE = torch.float32


# ----------------------------------------------------------------------------- embeddings


def mlp(sizes: Sequence[int], activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """Linear layers of widths ``sizes`` (input ... output) with ``activation`` between them."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


class WaveformCNN(nn.Module):
    """1-D convolutional summary network for waveforms ``(B, channels, time)``.

    Blocks of Conv1d (kernel 5, same padding) → ReLU → MaxPool1d(2) (no pooling once the length is
    below 2), then an adaptive average pool to ``pooled_length`` steps and a linear layer to
    ``summary_dim`` features — the shape of the CNN embedding nets used with sbi (Tejero-Cantero
    et al. 2020).
    """

    def __init__(self, channels: int, length: int, summary_dim: int = 16,
                 conv_channels: Sequence[int] = (16, 32, 32), pooled_length: int = 8) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in, t = channels, length
        for c_out in conv_channels:
            layers += [nn.Conv1d(c_in, c_out, kernel_size=5, padding=2), nn.ReLU()]
            if t >= 2:
                layers.append(nn.MaxPool1d(2))
                t //= 2
            c_in = c_out
        pooled = max(1, min(pooled_length, t))
        layers += [nn.AdaptiveAvgPool1d(pooled), nn.Flatten(), nn.Linear(c_in * pooled, summary_dim)]
        self.net = nn.Sequential(*layers)
        self.out_features = summary_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Flatten(nn.Module):
    """The identity embedding: the observation flattened to a vector."""

    def __init__(self, out_features: int) -> None:
        super().__init__()
        self.out_features = out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)


class _MLPEmbedding(nn.Module):
    def __init__(self, in_features: int, summary_dim: int, hidden: int = 64) -> None:
        super().__init__()
        self.net = mlp((in_features, hidden, hidden, summary_dim))
        self.out_features = summary_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))


def make_embedding(kind: str, x_shape: tuple[int, ...], summary_dim: int) -> nn.Module:
    """The embedding network ``kind`` for observations of shape ``x_shape``.

    "auto": identity for vectors, :class:`WaveformCNN` for ``(channels, time)`` waveforms;
    "identity": the flattened observation; "mlp": a two-hidden-layer MLP (64 units) to
    ``summary_dim``; "cnn": :class:`WaveformCNN` (waveforms only). The module's ``out_features``
    is the context size.
    """
    if kind == "auto":
        kind = "cnn" if len(x_shape) == 2 else "identity"
    flat = int(np.prod(x_shape))
    if kind == "identity":
        return Flatten(flat)
    if kind == "mlp":
        return _MLPEmbedding(flat, summary_dim)
    if len(x_shape) != 2:
        raise ValueError(f"embedding='cnn' needs waveforms x of shape (n, channels, time); got x_shape {x_shape}.")
    return WaveformCNN(x_shape[0], x_shape[1], summary_dim)


# ----------------------------------------------------------------------------- heads


class FlowHead(nn.Module):
    """A zuko conditional flow as a head: log densities and draws from base noise."""

    def __init__(self, flow: nn.Module) -> None:
        super().__init__()
        self.flow = flow

    def log_prob(self, theta: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.flow(c).log_prob(theta)

    def draw(self, c: torch.Tensor, z: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """``z`` (n, B, d) standard normal → draws (n, B, d); ``u`` is unused."""
        return self.flow(c).transform.inv(z)


class SoftClampAffineTransform(torch.distributions.Transform):
    r"""Affine map :math:`y = e^{s} x + t` with the soft-clamped log-scale
    :math:`s = \frac{2 \alpha}{\pi} \arctan(a / \alpha)` of Ardizzone et al.'s cINN (FrEIA's
    ``clamp``), which bounds :math:`|s| < \alpha` and keeps training stable."""

    domain = torch.distributions.constraints.real
    codomain = torch.distributions.constraints.real
    bijective = True
    sign = +1

    def __init__(self, shift: torch.Tensor, scale: torch.Tensor, clamp: float = 2.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.shift = shift
        self.log_scale = (2.0 * clamp / math.pi) * torch.atan(scale / clamp)

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.log_scale.exp() + self.shift

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        return (y - self.shift) * torch.exp(-self.log_scale)

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.log_scale.expand(x.shape)


class ResidualNet(nn.Module):
    """Residual conditioner ``(x, c) -> out`` of Durkan et al.'s coupling NSF.

    A linear layer of ``[x, c]`` to ``width`` units, ``blocks`` pre-activation residual blocks (He et
    al. 2016; ReLU, linear, ReLU, linear) whose update is gated by ``sigmoid(linear(c))`` so every
    block sees the context, and a linear read-out. The blocks' last layers start near zero, so each
    block starts as the identity.
    """

    def __init__(self, in_features: int, out_features: int, context: int, width: int, blocks: int) -> None:
        super().__init__()
        self.first = nn.Linear(in_features + context, width)
        self.blocks = nn.ModuleList(
            nn.ModuleList((nn.Linear(width, width), nn.Linear(width, width), nn.Linear(context, width)))
            for _ in range(blocks))
        for _, second, _ in self.blocks:
            nn.init.uniform_(second.weight, -1e-3, 1e-3)
            nn.init.uniform_(second.bias, -1e-3, 1e-3)
        self.last = nn.Linear(width, out_features)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = self.first(torch.cat((x, c), dim=-1))
        for first, second, gate in self.blocks:
            h = h + second(torch.relu(first(torch.relu(h)))) * torch.sigmoid(gate(c))
        return self.last(h)


class _SplineCoupling(LazyTransform):
    """Lazy zuko transform ``c -> CouplingTransform``: the features where ``mask`` is False go
    through rational-quadratic splines on ``[-bound, bound]`` (identity outside) whose knots a
    :class:`ResidualNet` computes from the other features and the context. An all-False mask (one
    feature) conditions the spline on the context alone."""

    def __init__(self, mask: torch.Tensor, context: int, width: int, blocks: int, bins: int,
                 bound: float) -> None:
        super().__init__()
        self.register_buffer("mask", mask)
        self.univariate = partial(MonotonicRQSTransform, bound=bound)
        self.shapes = ((bins,), (bins,), (bins - 1,))  # knot widths, heights, inner derivatives
        self.total = 3 * bins - 1
        kept = int(mask.sum())
        self.hyper = ResidualNet(kept, (len(mask) - kept) * self.total, context, width, blocks)

    def meta(self, c: torch.Tensor, x_a: torch.Tensor):
        x_a, c = broadcast(x_a, c, ignore=1)
        phi = self.hyper(x_a, c).unflatten(-1, (-1, self.total))
        return DependentTransform(self.univariate(*unpack(phi, self.shapes)), 1)

    def forward(self, c: torch.Tensor):
        return CouplingTransform(partial(self.meta, c), self.mask)


def spline_coupling_flow(features: int, context: int, transforms: int, width: int, blocks: int, bins: int,
                         bound: float = 3.0) -> nn.Module:
    """Conditional coupling neural spline flow, RQ-NSF (C) of Durkan et al. (2019), on zuko parts.

    ``transforms`` spline couplings with alternating halves (:class:`_SplineCoupling`, ``bins``
    bins on ``[-bound, bound]``, :class:`ResidualNet` conditioners of ``blocks`` blocks of ``width``
    units), each followed by a learnable LU-factorised linear map initialised at the identity (so
    every feature depends on every other); a standard-normal base. The sbi package's default "nsf"
    has the same architecture.
    """
    parts: list[nn.Module] = []
    for i in range(transforms):
        mask = (torch.arange(features) % 2 == i % 2) if features > 1 else torch.zeros(1, dtype=torch.bool)
        parts.append(_SplineCoupling(mask, context, width, blocks, bins, bound))
        if features > 1:
            parts.append(UnconditionalTransform(LULinearTransform, torch.eye(features)))
    base = UnconditionalDistribution(zuko.distributions.DiagNormal, torch.zeros(features),
                                     torch.ones(features), buffer=True)
    return Flow(parts, base)


def cinn_flow(features: int, context: int, blocks: int, hidden_features: Sequence[int],
              clamp: float, rng: np.random.Generator) -> nn.Module:
    """A conditional RealNVP / cINN flow built from zuko parts.

    Each block is a GLOW-style pair of affine couplings (Dinh et al. 2017) — the second half
    conditioned on the first, then the first on the second, both also on the context — with
    soft-clamped log-scales (:class:`SoftClampAffineTransform`), followed by a fixed random
    permutation drawn from ``rng`` (Ardizzone et al. 2019). One feature: element-wise affine maps.
    """
    univariate = partial(SoftClampAffineTransform, clamp=float(clamp))
    first = torch.arange(features) < max(1, features // 2)
    parts: list[nn.Module] = []
    for _ in range(blocks):
        for mask in (first, ~first):
            parts.append(GeneralCouplingTransform(features=features, context=context, mask=mask,
                                                  univariate=univariate, shapes=((), ()),
                                                  hidden_features=tuple(hidden_features)))
        if features > 1:
            perm = torch.as_tensor(rng.permutation(features), dtype=torch.long)
            parts.append(UnconditionalTransform(PermutationTransform, perm, buffer=True))
    base = UnconditionalDistribution(zuko.distributions.DiagNormal, torch.zeros(features),
                                     torch.ones(features), buffer=True)
    return Flow(parts, base)


def _tril(raw: torch.Tensor, d: int, min_diag: float) -> torch.Tensor:
    """Lower-triangular Cholesky factors ``(..., d, d)`` from ``d(d+1)/2`` raw numbers: softplus diagonal."""
    rows, cols = torch.tril_indices(d, d)
    L = raw.new_zeros(*raw.shape[:-1], d, d)
    L[..., rows, cols] = raw
    diag = torch.nn.functional.softplus(torch.diagonal(L, dim1=-2, dim2=-1)) + min_diag
    return torch.tril(L, diagonal=-1) + torch.diag_embed(diag)


class MDNHead(nn.Module):
    """Mixture density network head (Bishop 1994): an MLP from the context to the weights, means and
    Cholesky factors of ``components`` full-covariance Gaussians over θ."""

    def __init__(self, features: int, context: int, components: int, hidden_features: Sequence[int],
                 min_scale: float = 1e-3) -> None:
        super().__init__()
        self.d, self.k, self.min_scale = features, components, min_scale
        self.n_tril = features * (features + 1) // 2
        self.net = mlp((context, *hidden_features, components * (1 + features + self.n_tril)))

    def params(self, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(log weights (B, K), means (B, K, d), Cholesky factors (B, K, d, d))."""
        out = self.net(c)
        k, d = self.k, self.d
        logits, rest = out[..., :k], out[..., k:].unflatten(-1, (k, d + self.n_tril))
        return torch.log_softmax(logits, -1), rest[..., :d], _tril(rest[..., d:], d, self.min_scale)

    def log_prob(self, theta: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        logw, mu, L = self.params(c)
        comp = torch.distributions.MultivariateNormal(mu, scale_tril=L)
        return torch.logsumexp(logw + comp.log_prob(theta.unsqueeze(-2)), dim=-1)

    def draw(self, c: torch.Tensor, z: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """``z`` (n, B, d) standard normal, ``u`` (n, B) uniform → draws (n, B, d): the component is
        found by inverting the cumulative weights at ``u``."""
        logw, mu, L = self.params(c)
        cum = torch.cumsum(logw.exp(), -1)
        k = torch.searchsorted(cum.expand(u.shape[0], *cum.shape).contiguous(), u.unsqueeze(-1)).squeeze(-1)
        k = k.clamp_(max=self.k - 1)
        b = torch.arange(c.shape[0])
        return mu[b, k] + (L[b, k] @ z.unsqueeze(-1)).squeeze(-1)


class GaussianHead(nn.Module):
    """Deep-ensemble head (Lakshminarayanan et al. 2017): ``members`` MLPs, each with its own
    embedding, predicting a diagonal Gaussian over θ; the density is their equal-weight mixture."""

    def __init__(self, features: int, embeddings: Sequence[nn.Module], hidden_features: Sequence[int],
                 min_var: float = 1e-6) -> None:
        super().__init__()
        self.d, self.min_var = features, min_var
        self.embeddings = nn.ModuleList(embeddings)
        self.nets = nn.ModuleList(mlp((e.out_features, *hidden_features, 2 * features)) for e in embeddings)

    def params(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Means and variances ``(M, B, d)`` of every member."""
        outs = torch.stack([net(emb(x)) for emb, net in zip(self.embeddings, self.nets, strict=True)])
        mean, raw = outs[..., : self.d], outs[..., self.d:]
        return mean, torch.nn.functional.softplus(raw) + self.min_var

    def member_nll(self, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Sum over members of each member's Gaussian negative log-likelihood, ``(B,)``."""
        mean, var = self.params(x)
        nll = 0.5 * (torch.log(2 * math.pi * var) + (theta - mean) ** 2 / var).sum(-1)
        return nll.sum(0)

    def log_prob(self, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        mean, var = self.params(x)  # (M, B, d); theta (..., B, d) -> (..., M, B, d)
        t = theta.unsqueeze(-3)
        lp = -0.5 * (torch.log(2 * math.pi * var) + (t - mean) ** 2 / var).sum(-1)
        return torch.logsumexp(lp, -2) - math.log(len(self.nets))

    def draw(self, x: torch.Tensor, z: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        mean, var = self.params(x)  # (M, B, d)
        m = (u * len(self.nets)).long().clamp_(max=len(self.nets) - 1)  # (n, B)
        b = torch.arange(x.shape[0])
        return mean[m, b] + var[m, b].sqrt() * z


class Conditional(nn.Module):
    """An embedding network followed by a conditional density head over z-scored θ."""

    def __init__(self, embedding: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.embedding, self.head = embedding, head

    def log_prob(self, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.head.log_prob(theta, self.embedding(x))

    def draw(self, x: torch.Tensor, z: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        return self.head.draw(self.embedding(x), z, u)


# ----------------------------------------------------------------------------- training


@dataclass(frozen=True)
class TrainResult:
    """What a training run did: epochs run, best validation loss and the per-epoch history."""

    epochs: int
    best_loss: float
    train_loss: tuple[float, ...]
    val_loss: tuple[float, ...]


def _mean_loss(loss: Callable[..., torch.Tensor], tensors: Sequence[torch.Tensor], chunk: int) -> float:
    n = len(tensors[0])
    total = 0.0
    for i in range(0, n, chunk):
        total += float(loss(*(t[i:i + chunk] for t in tensors)).sum())
    return total / n


def train(model: nn.Module, loss: Callable[..., torch.Tensor], train_data: Sequence[torch.Tensor],
          val_data: Sequence[torch.Tensor], *, batch_size: int, learning_rate: float, max_epochs: int,
          patience: int, clip_grad_norm: float | None, gen: torch.Generator) -> TrainResult:
    """Mini-batch Adam on ``loss(*batch) -> (B,)`` with early stopping (Prechelt 1998), as sbi does.

    Each epoch visits the training rows in an order drawn from ``gen``; training stops when the mean
    validation loss has not improved for ``patience`` epochs (or after ``max_epochs``), and the
    weights of the best validation epoch are restored. Gradients are clipped to ``clip_grad_norm``.
    """
    opt = torch.optim.Adam(model.parameters(), lr=learning_rate)
    n = len(train_data[0])
    best, best_state, wait = math.inf, copy.deepcopy(model.state_dict()), 0
    history_train, history_val = [], []
    epoch = 0
    for epoch in range(1, max_epochs + 1):
        model.train()
        order = torch.randperm(n, generator=gen)
        running = 0.0
        for i in range(0, n, batch_size):
            idx = order[i:i + batch_size]
            value = loss(*(t[idx] for t in train_data)).mean()
            opt.zero_grad(set_to_none=True)
            value.backward()
            if clip_grad_norm is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
            opt.step()
            running += value.item() * len(idx)
        model.eval()
        with torch.no_grad():
            val = _mean_loss(loss, val_data, 4096)
        history_train.append(running / n)
        history_val.append(val)
        if val < best:
            best, best_state, wait = val, copy.deepcopy(model.state_dict()), 0
        else:
            wait += 1
            if wait >= patience:
                break
    model.load_state_dict(best_state)
    model.eval()
    return TrainResult(epoch, best, tuple(history_train), tuple(history_val))
