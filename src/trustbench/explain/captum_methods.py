"""Attribution methods from captum (Kokhlikyan et al. 2020, arXiv:2009.07896), with documented settings,
and LRP-ε written here.

Every class is an explainer (:mod:`trustbench.explain.base`): constructor = configuration,
``explain(model, X, target, *, context)``. Attributions are taken for the logit of the target class.
Reference ("baseline") inputs are zeros — the data mean of every ``xai`` problem — unless a method
draws them from the training data (DeepLiftShap, GradientShap: ``n_background`` training inputs).

Perturbation methods switch *feature groups* on and off (:func:`~trustbench.explain.base.feature_groups`:
single pixels up to 16 x 16 images, ``size // 16`` blocks above, single features of a vector) and
replace what is off by 0. Their sample counts are parameters:

=====================  =========================================================================
Saliency               ``|∂ logit / ∂x|`` (Simonyan et al. 2014)
Input×Gradient         ``x ∂ logit / ∂x`` (Shrikumar et al. 2016)
IntegratedGradients    ``n_steps`` = 32 Gauss-Legendre steps from 0 (Sundararajan et al. 2017)
DeepLift               rescale rule, reference 0 (Shrikumar et al. 2017)
DeepLiftShap           DeepLift averaged over ``n_background`` = 16 training references
GradientShap           ``n_samples`` = 16 random points between ``n_background`` = 16 training references
                       and x, no added noise (Lundberg & Lee 2017)
GuidedBackprop         Springenberg et al. 2015
Deconvolution          Zeiler & Fergus 2014
GuidedGradCam          GradCAM at the last convolution (bilinear upsampling) times guided backprop
                       (Selvaraju et al. 2017); models with a convolution only
LRP (LRP-ε)            ε-rule on every linear, convolutional and max-pooling layer, ``epsilon`` = 0.01
                       (Bach et al. 2015); written here (captum's LRP cannot pass reshapes)
Occlusion              windows of ``window`` pixels (default: 2 up to 16 x 16 images, else size // 8)
                       moved by ``stride`` (default window // 2, at least 1), replaced by 0
                       (Zeiler & Fergus 2014); 1 feature at a time for vectors
Lime                   ``n_samples`` = 256 perturbed copies, cosine-kernel weights, Lasso surrogate
                       (captum's default ``alpha`` = 0.01) (Ribeiro et al. 2016)
KernelShap             ``n_samples`` = 256 coalitions (Lundberg & Lee 2017)
ShapleyValueSampling   ``n_samples`` = 8 permutations of the feature groups (Castro et al. 2009)
=====================  =========================================================================
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from trustbench.explain.base import Context, check_explain_inputs, feature_groups, forward_logits, has_module
from trustbench.validation import check_int, short_repr

__all__ = [
    "Saliency", "InputXGradient", "IntegratedGradients", "DeepLift", "DeepLiftShap", "GradientShap",
    "GuidedBackprop", "Deconvolution", "GuidedGradCam", "LRP", "Occlusion", "Lime", "KernelShap",
    "ShapleyValueSampling",
]


class _Captum:
    """Runs ``_attribute`` on batches of float32 tensors and returns float64 arrays."""

    needs_module = True
    batch_size = 256

    def supports(self, model: Any, sample_shape: tuple[int, ...]) -> bool:
        return has_module(model) or not self.needs_module

    def validate(self) -> None:
        for name, value in vars(self).items():
            if name in ("n_steps", "n_samples", "n_background") or (name in ("window", "stride", "block")
                                                                    and value is not None):
                check_int(value, name, minimum=1)

    def _attribute(self, model: Any, x, t, context: Context):
        raise NotImplementedError

    def explain(self, model: Any, X: Any, target: Any, *, context: Context) -> np.ndarray:
        import torch

        self.validate()
        X, target = check_explain_inputs(X, target)
        if not self.supports(model, X.shape[1:]):
            raise ValueError(f"{type(self).__name__} does not apply to {type(model).__name__} on samples of shape {X.shape[1:]}.")
        x_all = torch.tensor(X, dtype=torch.float32)
        t_all = torch.from_numpy(target)
        parts = []
        for start in range(0, len(X), self.batch_size):
            x = x_all[start : start + self.batch_size].clone().requires_grad_(True)
            a = self._attribute(model, x, t_all[start : start + self.batch_size], context)
            parts.append(a.detach().double().numpy())
        return np.concatenate(parts).reshape(X.shape)


class Saliency(_Captum):
    """Absolute gradient of the target logit (Simonyan et al. 2014)."""

    def _attribute(self, model, x, t, context):
        from captum.attr import Saliency as S

        return S(model.module_).attribute(x, target=t, abs=True)


class InputXGradient(_Captum):
    """Input times the gradient of the target logit (Shrikumar et al. 2016)."""

    def _attribute(self, model, x, t, context):
        from captum.attr import InputXGradient as M

        return M(model.module_).attribute(x, target=t)


class IntegratedGradients(_Captum):
    """Path integral of gradients from the zero input, n_steps Gauss-Legendre points (Sundararajan et al. 2017)."""

    def __init__(self, *, n_steps: int = 32) -> None:
        self.n_steps = n_steps

    def _attribute(self, model, x, t, context):
        from captum.attr import IntegratedGradients as M

        return M(model.module_).attribute(x, baselines=0.0, target=t, n_steps=int(self.n_steps),
                                          method="gausslegendre")


class DeepLift(_Captum):
    """DeepLIFT rescale rule against the zero input (Shrikumar et al. 2017)."""

    def _attribute(self, model, x, t, context):
        from captum.attr import DeepLift as M

        return M(copy.deepcopy(model.module_)).attribute(x, baselines=0.0, target=t)


def _background(context: Context, k: int, like):
    import torch

    return torch.tensor(context.background(int(k)), dtype=like.dtype)


class DeepLiftShap(_Captum):
    """DeepLIFT averaged over n_background training inputs as references (Lundberg & Lee 2017)."""

    def __init__(self, *, n_background: int = 16) -> None:
        self.n_background = n_background

    def _attribute(self, model, x, t, context):
        from captum.attr import DeepLiftShap as M

        return M(copy.deepcopy(model.module_)).attribute(x, baselines=_background(context, self.n_background, x), target=t)


class GradientShap(_Captum):
    """Expected gradients between n_background training references and the input (Lundberg & Lee 2017)."""

    def __init__(self, *, n_samples: int = 16, n_background: int = 16) -> None:
        self.n_samples = n_samples
        self.n_background = n_background

    def _attribute(self, model, x, t, context):
        import torch
        from captum.attr import GradientShap as M

        torch.manual_seed(context.seed)
        state = np.random.get_state()  # captum 0.9 draws references and interpolation points from
        np.random.seed(context.seed % 2**32)  # numpy's global generator: seed it, then restore it
        try:
            return M(model.module_).attribute(x, baselines=_background(context, self.n_background, x), target=t,
                                              n_samples=int(self.n_samples), stdevs=0.0)
        finally:
            np.random.set_state(state)


class GuidedBackprop(_Captum):
    """Gradient with negative signals stopped at every ReLU (Springenberg et al. 2015)."""

    def _attribute(self, model, x, t, context):
        from captum.attr import GuidedBackprop as M

        return M(copy.deepcopy(model.module_)).attribute(x, target=t)


class Deconvolution(_Captum):
    """Deconvolution: ReLU applied to the backward signal (Zeiler & Fergus 2014)."""

    def _attribute(self, model, x, t, context):
        from captum.attr import Deconvolution as M

        return M(copy.deepcopy(model.module_)).attribute(x, target=t)


def _last_conv(module: Any):
    import torch.nn as nn

    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    return convs[-1] if convs else None


class GuidedGradCam(_Captum):
    """GradCAM of the last convolution, upsampled bilinearly to the image, times guided backprop.

    (captum's ``GuidedGradCam`` expects a channel axis in the input; the inputs here are (n, h, w),
    so the two parts are combined here from captum's ``LayerGradCam`` and ``GuidedBackprop``.)"""

    def supports(self, model: Any, sample_shape: tuple[int, ...]) -> bool:
        return has_module(model) and len(sample_shape) == 2 and _last_conv(model.module_) is not None

    def _attribute(self, model, x, t, context):
        from captum.attr import GuidedBackprop as GB
        from captum.attr import LayerAttribution, LayerGradCam

        module = copy.deepcopy(model.module_)
        cam = LayerGradCam(module, _last_conv(module)).attribute(x, target=t, relu_attributions=True)
        cam = LayerAttribution.interpolate(cam, tuple(x.shape[1:]), interpolate_mode="bilinear")[:, 0]
        return cam * GB(module).attribute(x, target=t)


class LRP(_Captum):
    """LRP-ε (Bach et al. 2015; Montavon et al. 2019, "Layer-wise relevance propagation: an overview").

    For every linear, convolutional and max-pooling layer with input ``a`` and output ``z``:
    ``R_a = a ⊙ Wᵀ (R_z / (z + ε sign z))`` (``Wᵀ`` applied by autograd, ``sign 0 = 1``; biases
    absorb their share); ReLU passes relevance unchanged, reshapes reshape it. The output relevance
    is the target logit. Written here for ``nn.Sequential`` models: captum's LRP cannot pass
    relevance through ``Flatten``/``Unflatten`` layers."""

    def __init__(self, *, epsilon: float = 0.01) -> None:
        self.epsilon = epsilon

    def validate(self) -> None:
        if isinstance(self.epsilon, bool) or not isinstance(self.epsilon, (int, float)) or not self.epsilon > 0:
            raise ValueError(f"epsilon must be a number > 0; got {short_repr(self.epsilon)}.")

    def supports(self, model: Any, sample_shape: tuple[int, ...]) -> bool:
        import torch.nn as nn

        module = getattr(model, "module_", None)
        allowed = (nn.Linear, nn.Conv2d, nn.MaxPool2d, nn.ReLU, nn.Flatten, nn.Unflatten, nn.Identity, nn.Dropout)
        return isinstance(module, nn.Sequential) and all(isinstance(m, allowed) for m in module)

    def _attribute(self, model, x, t, context):
        import torch
        import torch.nn as nn

        eps = float(self.epsilon)
        inputs, a = [], x.detach()
        for layer in model.module_:
            inputs.append(a)
            with torch.no_grad():
                a = layer(a)
        relevance = torch.zeros_like(a)
        rows = torch.arange(len(a))
        relevance[rows, t] = a[rows, t]
        for layer, a_in in zip(reversed(model.module_), reversed(inputs)):
            if isinstance(layer, (nn.Linear, nn.Conv2d, nn.MaxPool2d)):
                a_in = a_in.clone().requires_grad_(True)
                z = layer(a_in)
                s = relevance / (z + eps * torch.where(z >= 0, 1.0, -1.0)).detach()
                (c,) = torch.autograd.grad(z, a_in, grad_outputs=s)
                relevance = (a_in * c).detach()
            elif isinstance(layer, (nn.Flatten, nn.Unflatten)):
                relevance = relevance.reshape(a_in.shape)
        return relevance


# ------------------------------------------------------------------------------ perturbation methods


class _Perturbation(_Captum):
    """Captum's perturbation methods over feature groups switched to 0 (by default sampling methods
    named by ``captum_class``, ``n_samples`` draws, seeded)."""

    needs_module = False
    batch_size = 64
    captum_class = ""

    def __init__(self, *, n_samples: int = 256, block: int | None = None) -> None:
        self.n_samples = n_samples
        self.block = block

    def _mask(self, x):
        import torch

        return torch.from_numpy(feature_groups(tuple(x.shape[1:]), self.block)).unsqueeze(0)

    def _attribute(self, model, x, t, context):
        import importlib

        import torch

        method = getattr(importlib.import_module("captum.attr"), self.captum_class)
        torch.manual_seed(context.seed)
        with _no_grad():
            return method(forward_logits(model)).attribute(
                x.detach(), target=t, baselines=0.0, feature_mask=self._mask(x), n_samples=int(self.n_samples),
                perturbations_per_eval=64)


class Occlusion(_Perturbation):
    """Change of the target logit when a sliding window is set to 0 (Zeiler & Fergus 2014)."""

    def __init__(self, *, window: int | None = None, stride: int | None = None) -> None:
        self.window = window
        self.stride = stride

    def _attribute(self, model, x, t, context):
        from captum.attr import Occlusion as M

        shape = tuple(x.shape[1:])
        if len(shape) == 1:
            window, stride = (1,), (1,)
        else:
            w = self.window or (2 if max(shape) <= 16 else min(shape) // 8)
            s = self.stride or max(1, w // 2)
            window, stride = (int(w), int(w)), (int(s), int(s))
        with _no_grad():
            return M(forward_logits(model)).attribute(x.detach(), sliding_window_shapes=window, strides=stride,
                                                      baselines=0.0, target=t, perturbations_per_eval=16)


def _no_grad():
    import torch

    return torch.no_grad()


class Lime(_Perturbation):
    """LIME: sparse linear surrogate on feature groups switched off (Ribeiro et al. 2016)."""

    captum_class = "Lime"


class KernelShap(_Perturbation):
    """KernelSHAP: Shapley values by weighted regression over coalitions (Lundberg & Lee 2017)."""

    captum_class = "KernelShap"


class ShapleyValueSampling(_Perturbation):
    """Shapley values by sampling permutations of the feature groups (Castro et al. 2009)."""

    captum_class = "ShapleyValueSampling"

    def __init__(self, *, n_samples: int = 8, block: int | None = None) -> None:
        super().__init__(n_samples=n_samples, block=block)
