"""What every explainer shares: its calling convention, the context it may use, feature groups.

An **explainer** is constructed from keyword parameters (its configuration) and offers

``explain(model, X, target, *, context) -> ndarray``
    attributions of the same shape as ``X`` (``(n, *sample_shape)``) for the logit of class
    ``target[i]`` of sample ``i``;
``supports(model, sample_shape) -> bool``
    whether it applies (Guided GradCAM needs a convolution, the Haufe pattern a linear model, the
    edge filters images, gradient methods a torch ``module_``).

``model`` has ``predict_proba(X)`` and, for gradient methods, ``module_``: a torch module mapping
float32 ``(n, *sample_shape)`` to two logits (``trustbench.domains.xai.models``). Model-free
**baselines** set ``baseline = True``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from trustbench.validation import check_int

__all__ = ["Context", "feature_groups", "has_module", "check_explain_inputs", "forward_logits"]


@dataclass(frozen=True, eq=False)
class Context:
    """What an explainer may use besides the model and the inputs: the training data and a seed."""

    X_train: np.ndarray
    y_train: np.ndarray
    seed: int = 0

    def background(self, k: int) -> np.ndarray:
        """``k`` training inputs drawn without replacement (deterministic for the seed): reference
        inputs of DeepLiftShap and GradientShap."""
        rng = np.random.default_rng([self.seed, 7])
        return self.X_train[rng.choice(len(self.X_train), size=min(k, len(self.X_train)), replace=False)]


def has_module(model: Any) -> bool:
    return getattr(model, "module_", None) is not None


def check_explain_inputs(X: Any, target: Any) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=float)
    target = np.asarray(target)
    if X.ndim < 2:
        raise ValueError(f"X must be a batch (n, *sample_shape); got shape {X.shape}.")
    if target.shape != (len(X),) or not np.isin(target, (0, 1)).all():
        raise ValueError(f"target must be (n,) = ({len(X)},) class indices in {{0, 1}}; got shape {target.shape}.")
    return X, target.astype(np.int64)


def feature_groups(sample_shape: tuple[int, ...], block: int | None = None) -> np.ndarray:
    """Integer group ids of shape ``sample_shape``: square ``block x block`` pixel blocks of an image
    (``None``: 1 pixel up to 16 x 16, else ``min(h, w) // 16``), one group per feature of a vector.
    Perturbation methods (Occlusion windows, LIME, KernelSHAP, Shapley sampling, permutation
    importance) switch these groups on and off."""
    if len(sample_shape) == 1:
        return np.arange(sample_shape[0])
    h, w = sample_shape
    if block is None:
        block = 1 if max(h, w) <= 16 else min(h, w) // 16
    block = check_int(block, "block", minimum=1)
    rows, cols = np.arange(h) // block, np.arange(w) // block
    return rows[:, None] * (cols.max() + 1) + cols[None, :]


def forward_logits(model: Any):
    """A torch callable ``(n, *shape) float32 -> (n, 2)``: the model's ``module_``, or its
    ``predict_proba`` (as log-probabilities) for models without one (perturbation methods only)."""
    if has_module(model):
        return model.module_
    import torch

    def forward(x):
        p = np.asarray(model.predict_proba(x.detach().cpu().numpy().astype(float)), dtype=float)
        return torch.from_numpy(np.log(np.clip(p, 1e-12, 1.0))).to(x.dtype)

    return forward
