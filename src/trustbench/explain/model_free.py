"""Model-free baselines and global explanations.

Baselines (``baseline = True``; they ignore the model and the target): an explanation method that
does not beat them on a ground-truth metric has not shown that it explains anything (Clark et al.
2024, XAI-TRIS, use the same edge filters).

- :class:`RandomBaseline`: i.i.d. uniform(0, 1) per feature (seeded).
- :class:`InputBaseline`: the input itself.
- :class:`SobelBaseline`: gradient magnitude of the image, ``hypot(sobel_x, sobel_y)`` (images only).
- :class:`LaplaceBaseline`: ``|Laplacian|`` of the image (images only).

Global explanations (one map for the whole model, repeated for every sample):

- :class:`HaufePattern`: the activation pattern ``a = Cov(x) w`` of a linear model (Haufe et al.
  2014, NeuroImage 87:96-110), estimated on the training inputs; unlike the weights ``w`` it gives a
  suppressor no importance.
- :class:`PermutationImportance`: mean increase of the test log-loss when a feature group is
  permuted across the samples (Breiman 2001; Fisher, Rudin & Dominici 2019), ``n_repeats`` times.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from trustbench.explain.base import Context, check_explain_inputs, feature_groups
from trustbench.validation import check_int

__all__ = ["RandomBaseline", "InputBaseline", "SobelBaseline", "LaplaceBaseline", "HaufePattern",
           "PermutationImportance"]


class _Baseline:
    baseline = True

    def supports(self, model: Any, sample_shape: tuple[int, ...]) -> bool:
        return True

    def explain(self, model: Any, X: Any, target: Any, *, context: Context) -> np.ndarray:
        X, _ = check_explain_inputs(X, target)
        return self._map(X, context)


class RandomBaseline(_Baseline):
    """Baseline: uniform(0, 1) noise per feature, seeded."""

    def _map(self, X: np.ndarray, context: Context) -> np.ndarray:
        return np.random.default_rng([context.seed, 11]).random(X.shape)


class InputBaseline(_Baseline):
    """Baseline: the input itself."""

    def _map(self, X: np.ndarray, context: Context) -> np.ndarray:
        return X.copy()


class _ImageBaseline(_Baseline):
    def supports(self, model: Any, sample_shape: tuple[int, ...]) -> bool:
        return len(sample_shape) == 2


class SobelBaseline(_ImageBaseline):
    """Baseline: Sobel gradient magnitude of the image."""

    def _map(self, X: np.ndarray, context: Context) -> np.ndarray:
        from scipy.ndimage import sobel

        # per image: sobel smooths along every other axis, the batch axis included
        return np.stack([np.hypot(sobel(x, axis=-1, mode="reflect"), sobel(x, axis=-2, mode="reflect")) for x in X])


class LaplaceBaseline(_ImageBaseline):
    """Baseline: absolute Laplacian of the image."""

    def _map(self, X: np.ndarray, context: Context) -> np.ndarray:
        from scipy.ndimage import laplace

        return np.abs(np.stack([laplace(x, mode="reflect") for x in X]))


def linear_weights(model: Any) -> np.ndarray | None:
    """``w`` of a linear two-logit model (difference of the two logits' weights), else None."""
    if getattr(model, "coef_", None) is not None:
        return np.asarray(model.coef_, dtype=float)
    module = getattr(model, "module_", None)
    if module is None:
        return None
    import torch.nn as nn

    layers = [m for m in module.modules() if not isinstance(m, (nn.Sequential, nn.Flatten, nn.Identity))]
    if len(layers) != 1 or not isinstance(layers[0], nn.Linear):
        return None
    weight = layers[0].weight.detach().double().numpy()
    return weight[1] - weight[0]


class HaufePattern:
    """The activation pattern ``Cov(x) w`` of a linear model, from the training inputs."""

    def supports(self, model: Any, sample_shape: tuple[int, ...]) -> bool:
        return linear_weights(model) is not None

    def explain(self, model: Any, X: Any, target: Any, *, context: Context) -> np.ndarray:
        from trustbench.domains.xai.data import haufe_pattern

        X, _ = check_explain_inputs(X, target)
        w = linear_weights(model)
        if w is None:
            raise ValueError(f"HaufePattern needs a linear model; {type(model).__name__} is not one.")
        flat = context.X_train.reshape(len(context.X_train), -1)
        pattern = haufe_pattern(flat, w.reshape(-1)).reshape(X.shape[1:])
        return np.broadcast_to(pattern, X.shape).copy()


class PermutationImportance:
    """Mean increase of the log-loss on the explained samples when a feature group is permuted."""

    def __init__(self, *, n_repeats: int = 5, block: int | None = None) -> None:
        self.n_repeats = n_repeats
        self.block = block

    def supports(self, model: Any, sample_shape: tuple[int, ...]) -> bool:
        return True

    def explain(self, model: Any, X: Any, target: Any, *, context: Context) -> np.ndarray:
        X, target = check_explain_inputs(X, target)
        n_repeats = check_int(self.n_repeats, "n_repeats", minimum=1)
        groups = feature_groups(X.shape[1:], self.block)
        rng = np.random.default_rng([context.seed, 13])
        rows = np.arange(len(X))

        def loss(data: np.ndarray) -> float:
            p = np.asarray(model.predict_proba(data), dtype=float)[rows, target]
            return float(-np.log(np.clip(p, 1e-12, 1.0)).mean())

        base = loss(X)
        importance = np.zeros(X.shape[1:])
        for g in np.unique(groups):
            sel = groups == g
            total = 0.0
            for _ in range(n_repeats):
                perm = X.copy()
                perm[:, sel] = X[rng.permutation(len(X))][:, sel]
                total += loss(perm) - base
            importance[sel] = total / n_repeats
        return np.broadcast_to(importance, X.shape).copy()
