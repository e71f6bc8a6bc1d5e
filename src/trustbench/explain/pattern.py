"""PatternNet and PatternAttribution for PyTorch ReLU networks (Kindermans et al. 2018).

A linear filter ``w`` extracts the signal from ``x = s + d`` but its weights also cancel the
distractor ``d``, so ``w`` itself (the gradient) is no explanation. The *pattern*
``a = cov(x, y) / (w^T cov(x, y))`` (Haufe et al. 2014) is the direction in which the signal lives.
PatternNet back-projects the output along the patterns (a signal estimate in input space);
PatternAttribution back-propagates with ``w ⊙ a`` (the contribution of the signal part of each
input, a Deep-Taylor root point ``x0 = x - a w^T x``).

Supported models
----------------
A :class:`torch.nn.Sequential` (nested ones are flattened) of ``Linear``, ``Conv2d`` (any
stride, padding, padding mode, dilation, bias; ``groups=1``), ``ReLU``, ``MaxPool2d``, ``Flatten``,
``Unflatten``, and the eval-time no-ops ``Identity``, ``Dropout``/``Dropout1d``/``2d``/``3d``
(always skipped, whatever the module's training flag). The last computing layer must be a
``Linear`` whose outputs are the logits (pre-softmax). Inputs are ``(n, *sample_shape)``.

Estimators (paper Sec. 4), per output neuron ``j`` of every Linear/Conv2d layer, ``y = w^T x``
its pre-activation *without* bias (both estimators are invariant to the bias):

* ``"linear"`` (S_a): ``a = (E[x y] - E[x] E[y]) / (w^T (E[x y] - E[x] E[y]))``.
* ``"two_component"`` (S_a+-, the positive regime): ``a+ = (E+[x y] - E+[x] E[y]) /
  (w^T E+[x y] - w^T E+[x] E[y])`` where ``E+`` averages over the samples whose pre-activation
  *with* bias is ``> 0`` and ``E[y]`` over all samples — the formula of the paper and of
  iNNvestigate (``ReLUPositivePattern``).

The two-component estimator only makes sense where a ReLU follows; a layer whose next computing
layer (skipping Flatten, Unflatten, Identity, Dropout and MaxPool2d, which commutes with ReLU) is
not a ReLU — in particular the output layer — uses the linear estimator on its pre-softmax logits,
as in the paper. ``estimators_`` records the choice per layer. For Conv2d layers the statistics run
over samples *and* output positions, ``x`` being the input patch (``unfold``); likewise a Linear
applied to ``(n, ..., d)`` treats every leading position as a unit. A neuron that never
fires (no sample in its positive regime) or whose denominator is exactly 0 gets pattern 0.

Backward pass (paper Sec. 5)
----------------------------
Both methods start at the target logit with its value ``y_c(x)`` (bias included; other logits 0)
and go back layer by layer: a Linear/Conv2d layer multiplies by its pattern ``a`` (PatternNet) or by
``w ⊙ a`` (PatternAttribution) in place of ``w``; a ReLU passes where its forward input was > 0; a
MaxPool2d routes to the forward argmax. For a linear model ``y = w^T x + b`` this gives
``PatternNet(x) = a · y(x)`` (the signal estimate ``s``) and ``PatternAttribution(x) = (w ⊙ a) · y(x)``:
the input-independent map ``w ⊙ a`` scaled by the output.

All statistics and explanations are computed in float64 on the model's device, from a float64
copy of the weights taken by :meth:`PatternExplainer.fit` (later changes to the model are not seen
until the next ``fit``). Results do not depend on the batch size (up to rounding).

References
----------
Kindermans PJ, Schütt KT, Alber M, Müller KR, Erhan D, Kim B, Dähne S (2018). Learning how to
explain neural networks: PatternNet and PatternAttribution. ICLR 2018 (arXiv:1705.05598).
Haufe S, Meinecke F, Görgen K, Dähne S, Haynes JD, Blankertz B, Bießmann F (2014). On the
interpretation of weight vectors of linear models in multivariate neuroimaging. NeuroImage 87,
96-110.
Alber M et al. (2019). iNNvestigate neural networks! JMLR 20(93), 1-8.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from trustbench.validation import check_array, check_choice, check_int, short_repr

__all__ = ["ESTIMATORS", "PatternExplainer", "PatternNet", "PatternAttribution"]

ESTIMATORS = ("two_component", "linear")
"""Pattern estimators: the two-component S_a+- (positive regime of ReLU layers) and the linear S_a."""

_ALLOWED = "Linear, Conv2d, ReLU, MaxPool2d, Flatten, Unflatten, Identity, Dropout"


def _layers(model: Any) -> list[Any]:
    """The leaf layers of a (nested) ``nn.Sequential``; TypeError naming the first unsupported one."""
    from torch import nn

    if not isinstance(model, nn.Sequential):
        raise TypeError(f"model must be a torch.nn.Sequential; got {short_repr(model)}.")
    noop = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)
    ok = (nn.Linear, nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.Flatten, nn.Unflatten)
    out: list[Any] = []
    for name, layer in model.named_children():
        if isinstance(layer, nn.Sequential):
            out += _layers(layer)
        elif isinstance(layer, noop):
            continue
        elif not isinstance(layer, ok):
            raise TypeError(
                f"model layer {name!r} ({layer!r}) is not supported by PatternExplainer; "
                f"allowed layers: {_ALLOWED}."
            )
        elif isinstance(layer, nn.Conv2d) and layer.groups != 1:
            raise TypeError(f"model layer {name!r} ({layer!r}) has groups={layer.groups}; only groups=1 is supported.")
        else:
            out.append(layer)
    return out


def _gated(layers: list[Any], i: int) -> bool:
    """Whether the next computing layer after ``layers[i]`` is a ReLU (reshapes and max-pooling skipped)."""
    from torch import nn

    for layer in layers[i + 1 :]:
        if isinstance(layer, nn.ReLU):
            return True
        if not isinstance(layer, (nn.Flatten, nn.Unflatten, nn.MaxPool2d)):
            return False
    return False


def _conv_pad(layer: Any) -> tuple[list[int], str]:
    """Explicit ``F.pad`` widths (left, right, top, bottom) and mode equivalent to a Conv2d's padding."""
    if isinstance(layer.padding, str):
        if layer.padding == "valid":
            pads = [0, 0, 0, 0]
        else:  # "same" (stride 1): total d (k - 1), the extra one at the end, as torch does
            pads = []
            for d, k in zip(reversed(layer.dilation), reversed(layer.kernel_size), strict=True):
                total = d * (k - 1)
                pads += [total // 2, total - total // 2]
    else:
        ph, pw = layer.padding
        pads = [pw, pw, ph, ph]
    mode = "constant" if layer.padding_mode == "zeros" else layer.padding_mode
    return pads, mode


class _Kernel:
    """A float64 snapshot of one Linear/Conv2d layer and its pattern statistics."""

    def __init__(self, layer: Any, gated: bool, device: Any) -> None:
        import torch
        from torch import nn

        self.conv = isinstance(layer, nn.Conv2d)
        self.gated = gated
        self.weight = layer.weight.detach().to(device=device, dtype=torch.float64).clone()
        bias = layer.bias if layer.bias is not None else torch.zeros(self.weight.shape[0])
        self.bias = bias.detach().to(device=device, dtype=torch.float64).clone()
        if self.conv:
            self.stride, self.dilation = layer.stride, layer.dilation
            self.pads, self.mode = _conv_pad(layer)
        out = self.weight.shape[0]
        self.count = torch.zeros(out, dtype=torch.float64, device=device)
        self.sum_x = torch.zeros_like(self.weight)
        self.sum_xy = torch.zeros_like(self.weight)
        self.sum_y = torch.zeros(out, dtype=torch.float64, device=device)
        self.n_all = 0

    def pad(self, h: Any) -> Any:
        import torch.nn.functional as F

        return F.pad(h, self.pads, mode=self.mode) if any(self.pads) else h

    def linear(self, h: Any, weight: Any) -> Any:
        """The layer's map with ``weight`` in place of its own, without bias, on the (unpadded) input ``h``."""
        import torch.nn.functional as F

        if self.conv:
            return F.conv2d(self.pad(h), weight, None, self.stride, 0, self.dilation)
        return F.linear(h, weight)

    def add_bias(self, y: Any) -> Any:
        """``y + b``, the bias broadcast over positions for Conv2d."""
        return y + (self.bias[:, None, None] if self.conv else self.bias)

    def accumulate(self, h: Any) -> Any:
        """Add one batch of layer inputs ``h`` to the running sums; return the layer's output.

        Per output neuron: the count and sums of ``x`` and ``x y`` over its positive regime (all
        units for the linear estimator) and the sum of ``y`` over all units (Kindermans et al. 2018,
        Sec. 4). For Conv2d the two patch sums are one weight-gradient call.
        """
        import torch
        from torch.nn.grad import conv2d_weight

        y = self.linear(h, self.weight)  # pre-activation without bias
        out = self.add_bias(y)
        mask = (out > 0).to(y.dtype) if self.gated else torch.ones_like(y)
        k = self.weight.shape[0]
        if self.conv:
            both = torch.cat([mask, y * mask], dim=1)
            shape = (2 * k, *self.weight.shape[1:])
            sums = conv2d_weight(self.pad(h), shape, both, self.stride, 0, self.dilation)
            axes = (0, 2, 3)
            self.n_all += y.shape[0] * y.shape[2] * y.shape[3]
        else:  # a Linear on (n, ..., d) inputs: every leading position is a unit
            mask, y = mask.reshape(-1, k), y.reshape(-1, k)
            sums = torch.cat([mask, y * mask], dim=1).T @ h.reshape(len(y), -1)
            axes = (0,)
            self.n_all += y.shape[0]
        self.sum_x += sums[:k]
        self.sum_xy += sums[k:]
        self.count += mask.sum(dim=axes)
        self.sum_y += y.sum(dim=axes)
        return out

    def pattern(self) -> Any:
        """``a = (E+[x y] - E+[x] E[y]) / (w^T (E+[x y] - E+[x] E[y]))``; 0 for dead neurons."""
        import torch

        shape = (-1,) + (1,) * (self.weight.ndim - 1)
        count = self.count.reshape(shape)
        alive = count > 0
        safe = torch.where(alive, count, torch.ones_like(count))
        mean_y = (self.sum_y / max(self.n_all, 1)).reshape(shape)
        cov = (self.sum_xy - self.sum_x * mean_y) / safe
        denom = (self.weight * cov).flatten(1).sum(dim=1).reshape(shape)
        ok = alive & (denom != 0) & torch.isfinite(denom)
        return torch.where(ok, cov / torch.where(ok, denom, torch.ones_like(denom)), torch.zeros_like(cov))


class PatternExplainer:
    """PatternNet and PatternAttribution for a ReLU ``nn.Sequential`` (Kindermans et al. 2018).

    Parameters
    ----------
    model : torch.nn.Sequential
        Linear/Conv2d/ReLU/MaxPool2d/Flatten/Unflatten/Identity/Dropout layers, ending in a Linear
        that gives the logits. Not modified.
    estimator : {"two_component", "linear"}
        Pattern estimator for layers followed by a ReLU (paper Sec. 4); other layers, the output
        layer included, always use ``"linear"``.
    batch_size : int
        Samples per forward/backward batch in :meth:`fit` and the explanations.

    Attributes
    ----------
    patterns_ : list of numpy.ndarray
        One float64 pattern per Linear/Conv2d layer, in order, shaped like the layer's weight.
    estimators_ : list of str
        The estimator used for each of those layers.
    sample_shape_ : tuple of int
        The shape of one input sample seen by :meth:`fit`.

    Examples
    --------
    >>> explainer = PatternExplainer(model).fit(X_train)           # doctest: +SKIP
    >>> signal = explainer.pattern_net(X_test, target=1)           # doctest: +SKIP
    >>> relevance = explainer.pattern_attribution(X_test, target=y_test)  # doctest: +SKIP
    """

    def __init__(self, model: Any, *, estimator: str = "two_component", batch_size: int = 256) -> None:
        from torch import nn

        self._layers = _layers(model)
        kernels = [layer for layer in self._layers if isinstance(layer, (nn.Linear, nn.Conv2d))]
        if not kernels or not isinstance(kernels[-1], nn.Linear) or self._layers[-1] is not kernels[-1]:
            raise TypeError(
                f"the last computing layer of model must be an nn.Linear giving the logits; "
                f"got {self._layers[-1] if self._layers else 'no layers'!r}."
            )
        self.model = model
        self.estimator = check_choice(estimator, "estimator", ESTIMATORS)
        self.batch_size = check_int(batch_size, "batch_size", minimum=1)
        self.n_outputs = kernels[-1].out_features
        params = list(model.parameters())
        self._device = params[0].device if params else None
        self._kernels: list[_Kernel] | None = None

    # ------------------------------------------------------------------ checks
    @staticmethod
    def _as_array(X: Any) -> np.ndarray:
        if hasattr(X, "detach") and hasattr(X, "cpu"):
            X = X.detach().cpu().numpy()
        X = check_array(X, "X")
        if X.ndim < 2:
            raise ValueError(f"X must have shape (n, *sample_shape) with at least 2 dimensions; got shape {X.shape}.")
        return X

    def _check_explain(self, X: Any, target: Any) -> tuple[np.ndarray, np.ndarray]:
        if self._kernels is None:
            raise RuntimeError("PatternExplainer is not fitted yet; call fit(X) before explaining.")
        X = self._as_array(X)
        if X.shape[1:] != self.sample_shape_:
            raise ValueError(
                f"X must have shape (n, {', '.join(map(str, self.sample_shape_))}) like the data seen by fit; "
                f"got shape {X.shape}."
            )
        t = np.asarray(target)
        if t.dtype == bool or not np.issubdtype(t.dtype, np.integer):
            raise TypeError(f"target must be an integer class index or an array of them; got {short_repr(target)}.")
        if t.ndim > 1 or (t.ndim == 1 and len(t) != len(X)):
            raise ValueError(f"target must be an integer or have shape ({len(X)},); got shape {t.shape}.")
        if t.size and (t.min() < 0 or t.max() >= self.n_outputs):
            bad = t[(t < 0) | (t >= self.n_outputs)].flat[0]
            raise ValueError(f"target must be in [0, {self.n_outputs - 1}] (the model's logits); got {int(bad)}.")
        return X, np.broadcast_to(t, (len(X),)).astype(np.int64)

    # -------------------------------------------------------------------- fit
    def fit(self, X: Any) -> PatternExplainer:
        """Learn the pattern of every Linear/Conv2d layer from training inputs ``X`` (n ≥ 2, ``(n, *sample_shape)``).

        One batched forward pass accumulates, per output neuron, ``E+[x]``, ``E+[x y]`` (over
        the neuron's positive regime, or all samples for the linear estimator) and ``E[y]``
        (Kindermans et al. 2018, Sec. 4), in float64. Returns ``self``.
        """
        import torch
        from torch import nn

        X = self._as_array(X)
        if len(X) < 2:
            raise ValueError(f"X must hold at least 2 samples to estimate patterns; got {len(X)}.")
        kernels = [
            _Kernel(layer, self.estimator == "two_component" and _gated(self._layers, i), self._device)
            for i, layer in enumerate(self._layers)
            if isinstance(layer, (nn.Linear, nn.Conv2d))
        ]
        with torch.no_grad():
            for start in range(0, len(X), self.batch_size):
                h = torch.as_tensor(X[start : start + self.batch_size], device=self._device)
                k = 0
                for i, layer in enumerate(self._layers):
                    try:
                        if isinstance(layer, (nn.Linear, nn.Conv2d)):
                            h = kernels[k].accumulate(h)
                            k += 1
                        else:
                            h = self._apply(layer, h)
                    except RuntimeError as err:
                        raise ValueError(
                            f"X of shape {X.shape} does not fit model layer {i} ({layer!r}): {err}"
                        ) from None
                if h.shape[1:] != (self.n_outputs,):
                    raise ValueError(
                        f"model must map X to logits of shape (n, {self.n_outputs}); X of shape {X.shape} "
                        f"gives shape {tuple(h.shape)}."
                    )
        self._kernels = kernels
        self._patterns = [kernel.pattern() for kernel in kernels]
        self.patterns_ = [p.cpu().numpy() for p in self._patterns]
        self.estimators_ = ["two_component" if kernel.gated else "linear" for kernel in kernels]
        self.sample_shape_ = tuple(X.shape[1:])
        return self

    @staticmethod
    def _apply(layer: Any, h: Any) -> Any:
        """Forward of a parameter-free layer (MaxPool2d without returned indices)."""
        import torch.nn.functional as F
        from torch import nn

        if isinstance(layer, nn.MaxPool2d):
            return F.max_pool2d(
                h, layer.kernel_size, layer.stride, layer.padding, layer.dilation, layer.ceil_mode
            )
        if isinstance(layer, nn.ReLU):
            return F.relu(h)
        return layer(h)

    # -------------------------------------------------------------- explain
    def _backward(self, X: Any, target: Any, attribution: bool) -> np.ndarray:
        """Back-propagate the target logit with weights replaced by ``a`` or ``w ⊙ a`` (paper Sec. 5).

        Autograd does the walk: each Linear/Conv2d output is ``f(x; w, b) + g(x; m) - g(x; m).detach()``
        — the original value, whose gradient is that of the map with weight ``m`` — so ReLU gates
        and MaxPool argmaxes are those of the original forward pass.
        """
        import torch
        from torch import nn

        X, t = self._check_explain(X, target)
        weights = [kernel.weight for kernel in self._kernels]
        maps = [w * a if attribution else a for w, a in zip(weights, self._patterns, strict=True)]
        out = np.empty_like(X)
        with torch.enable_grad():
            for start in range(0, len(X), self.batch_size):
                x = torch.as_tensor(X[start : start + self.batch_size], device=self._device).requires_grad_(True)
                h, k = x, 0
                for layer in self._layers:
                    if isinstance(layer, (nn.Linear, nn.Conv2d)):
                        kernel = self._kernels[k]
                        value = kernel.add_bias(kernel.linear(h.detach(), kernel.weight))
                        back = kernel.linear(h, maps[k])
                        h = value + (back - back.detach())
                        k += 1
                    else:
                        h = self._apply(layer, h)
                rows = torch.arange(h.shape[0], device=h.device)
                cols = torch.as_tensor(t[start : start + self.batch_size], device=h.device)
                seed = torch.zeros_like(h)
                seed[rows, cols] = h.detach()[rows, cols]
                (grad,) = torch.autograd.grad(h, x, grad_outputs=seed)
                out[start : start + len(grad)] = grad.cpu().numpy()
        return out

    def pattern_net(self, X: Any, target: Any) -> np.ndarray:
        """PatternNet signal estimate, shape of ``X`` (Kindermans et al. 2018, Sec. 5.1).

        The target logit value is back-projected with every weight replaced by its pattern ``a``;
        for a linear model this is ``a · y_c(x)``. ``target`` is one class index or one per sample.
        """
        return self._backward(X, target, attribution=False)

    def pattern_attribution(self, X: Any, target: Any) -> np.ndarray:
        """PatternAttribution relevance, shape of ``X`` (Kindermans et al. 2018, Sec. 5.2).

        The target logit value is back-propagated with every weight replaced by ``w ⊙ a``; for a
        linear model this is ``(w ⊙ a) · y_c(x)``. ``target`` is one class index or one per sample.
        """
        return self._backward(X, target, attribution=True)


# ----------------------------------------------------------------------------- explainers


_FITTED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _fitted(model: Any, context: Any, estimator: str) -> PatternExplainer:
    """The model's patterns, learned from the training inputs once per (model, training inputs, estimator):
    PatternNet and PatternAttribution of one model share them."""
    per_model = _FITTED.setdefault(model.module_, {})
    key = (estimator, id(context.X_train))
    if key not in per_model:
        per_model[key] = PatternExplainer(model.module_, estimator=estimator).fit(context.X_train)
    return per_model[key]


class _PatternMethod:
    def __init__(self, *, estimator: str = "two_component") -> None:
        self.estimator = estimator

    def validate(self) -> None:
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"estimator must be one of {list(ESTIMATORS)}; got {self.estimator!r}.")

    def supports(self, model: Any, sample_shape: tuple[int, ...]) -> bool:
        import torch.nn as nn

        module = getattr(model, "module_", None)
        return isinstance(module, nn.Sequential) and isinstance(list(module)[-1], nn.Linear)


class PatternNet(_PatternMethod):
    """Explainer: PatternNet's signal estimate for the target logit (Kindermans et al. 2018), patterns
    learned from the training inputs (``estimator``: ``two_component`` = the paper's S_a+-, or ``linear``)."""

    def explain(self, model: Any, X: Any, target: Any, *, context: Any) -> np.ndarray:
        self.validate()
        return _fitted(model, context, self.estimator).pattern_net(X, target)


class PatternAttribution(_PatternMethod):
    """Explainer: PatternAttribution (Kindermans et al. 2018): relevance backpropagated through ``w ⊙ a``."""

    def explain(self, model: Any, X: Any, target: Any, *, context: Any) -> np.ndarray:
        self.validate()
        return _fitted(model, context, self.estimator).pattern_attribution(X, target)
