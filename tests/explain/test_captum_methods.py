"""captum-based attribution methods and LRP-ε on tiny hand-set networks, against closed forms and
numpy references written here (gradients of ReLU networks in closed form, the ε-rule as a loop,
exact Shapley values by enumeration, occlusion by explicit masking)."""

from __future__ import annotations

import copy
import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn

from trustbench.domains.xai.models import Logistic
from trustbench.explain import captum_methods as C
from trustbench.explain.base import Context, feature_groups, forward_logits, has_module

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


# ------------------------------------------------------------------------------ tiny models
class TorchModel:
    """The explainer's model protocol around a hand-set torch module."""

    def __init__(self, module: nn.Module) -> None:
        self.module_ = module.eval()

    def predict_proba(self, X):
        with torch.no_grad():
            return torch.softmax(self.module_(torch.tensor(np.asarray(X), dtype=torch.float32)), 1).double().numpy()


class ProbaOnly:
    """A model with ``predict_proba`` only: logistic in ``s = w·x + b`` (numpy, float64)."""

    def __init__(self, w: np.ndarray, b: float = 0.0) -> None:
        self.w, self.b = np.asarray(w, dtype=float), float(b)

    def predict_proba(self, X):
        X = np.asarray(X, dtype=float)
        s = X.reshape(len(X), -1) @ self.w.reshape(-1) + self.b
        p1 = 1.0 / (1.0 + np.exp(-s))
        return np.column_stack([1.0 - p1, p1])


def _fill(module: nn.Module, seed: int, *, bias: bool = True, scale: float = 1.0) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("bias") and not bias:
                p.zero_()
            else:
                p.copy_(scale * torch.randn(p.shape, generator=g))
    return module


def linear_net(d: int, seed: int = 0) -> nn.Sequential:
    return _fill(nn.Sequential(nn.Flatten(), nn.Linear(d, 2)), seed)


def mlp_net(d: int, seed: int = 0, *, bias: bool = True) -> nn.Sequential:
    return _fill(nn.Sequential(nn.Flatten(), nn.Linear(d, 8), nn.ReLU(), nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 2)),
                 seed, bias=bias, scale=0.7)


def cnn_net(size: int = 8, seed: int = 0, *, bias: bool = True) -> nn.Sequential:
    net = nn.Sequential(
        nn.Unflatten(1, (1, size)), nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(4 * (size // 4) ** 2, 5), nn.ReLU(), nn.Linear(5, 2),
    )
    return _fill(net, seed, bias=bias, scale=0.6)


def _linear_w(net: nn.Sequential) -> tuple[np.ndarray, np.ndarray]:
    lin = net[1]
    return lin.weight.detach().double().numpy(), lin.bias.detach().double().numpy()


def _mlp_params(net):
    lins = [m for m in net if isinstance(m, nn.Linear)]
    return [(m.weight.detach().double().numpy(), m.bias.detach().double().numpy()) for m in lins]


def mlp_forward_np(net, X):
    """Logits and pre-activations of the MLP in float64 numpy."""
    a, pres = X.reshape(len(X), -1), []
    params = _mlp_params(net)
    for k, (W, b) in enumerate(params):
        z = a @ W.T + b
        pres.append(z)
        a = np.maximum(z, 0) if k < len(params) - 1 else z
    return a, pres


def mlp_grad_np(net, X, t):
    """Closed-form gradient of logit t of a ReLU MLP: W1ᵀ D1 W2ᵀ D2 w3[t]."""
    params = _mlp_params(net)
    _, pres = mlp_forward_np(net, X)
    g = params[-1][0][t]  # (n, h_last)
    for (W, _), z in zip(reversed(params[:-1]), reversed(pres[:-1])):
        g = (g * (z > 0)) @ W
    return g.reshape(X.shape)


def autograd_grad64(net, X, t):
    """Gradient of logit t in float64 by torch autograd on a float64 copy (independent of captum)."""
    net64 = copy.deepcopy(net).double()
    x = torch.tensor(X, dtype=torch.float64, requires_grad=True)
    out = net64(x)[torch.arange(len(X)), torch.as_tensor(t)]
    (g,) = torch.autograd.grad(out.sum(), x)
    return g.numpy(), out.detach().numpy()


def logits_np(net, X):
    with torch.no_grad():
        return copy.deepcopy(net).double()(torch.tensor(X, dtype=torch.float64)).numpy()


def _data(shape, n=12, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, *shape)), rng.integers(0, 2, n)


def _ctx(X, seed=0):
    return Context(X_train=np.asarray(X), y_train=np.zeros(len(X), dtype=int), seed=seed)


def _rel(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-12))


# ------------------------------------------------------------------------------ gradients
def test_saliency_on_fitted_logistic_is_half_abs_coef_for_either_class():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 4))
    y = (X @ np.array([1.0, -2.0, 0.5, 0.0]) > 0).astype(int)
    model = Logistic().fit(X, y)
    target = rng.integers(0, 2, 300)  # 300 > batch size 256: two batches
    sal = C.Saliency().explain(model, X, target, context=_ctx(X))
    ref = np.broadcast_to(np.abs(model.coef_) / 2, X.shape)
    np.testing.assert_allclose(sal, ref, rtol=1e-6)
    # the module's weight rows are ±coef/2 (up to float32)
    W = model.module_[1].weight.detach().double().numpy()
    np.testing.assert_allclose(np.abs(W), np.abs(np.stack([model.coef_, model.coef_])) / 2, rtol=1e-6)


def test_saliency_is_abs_gradient_of_mlp():
    net = mlp_net(5)
    X, t = _data((5,), 20)
    sal = C.Saliency().explain(TorchModel(net), X, t, context=_ctx(X))
    np.testing.assert_allclose(sal, np.abs(mlp_grad_np(net, X, t)), rtol=1e-5, atol=1e-6)


def test_input_x_gradient_is_x_times_closed_form_gradient():
    net = mlp_net(5, seed=1)
    X, t = _data((5,), 300, seed=1)  # two batches
    ixg = C.InputXGradient().explain(TorchModel(net), X, t, context=_ctx(X))
    np.testing.assert_allclose(ixg, X * mlp_grad_np(net, X, t), rtol=1e-5, atol=1e-6)


def test_input_x_gradient_on_cnn_matches_float64_autograd():
    net = cnn_net(8)
    X, t = _data((8, 8), 6)
    ixg = C.InputXGradient().explain(TorchModel(net), X, t, context=_ctx(X))
    g, _ = autograd_grad64(net, X, t)
    assert _rel(ixg, X * g) < 1e-5


def test_integrated_gradients_on_linear_model_is_x_times_w():
    net = linear_net(6)
    W, _ = _linear_w(net)
    X, t = _data((6,), 15)
    for n_steps in (1, 7, 32):
        ig = C.IntegratedGradients(n_steps=n_steps).explain(TorchModel(net), X, t, context=_ctx(X))
        np.testing.assert_allclose(ig, X * W[t], rtol=1e-5, atol=1e-6)


def test_integrated_gradients_completeness_and_riemann_reference_on_mlp():
    net = _fill(nn.Sequential(nn.Flatten(), nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 2)), 2)
    X, t = _data((5,), 30, seed=2)
    ig = C.IntegratedGradients(n_steps=64).explain(TorchModel(net), X, t, context=_ctx(X))
    L = logits_np(net, X)
    L0 = logits_np(net, np.zeros((1, 5)))
    delta = L[np.arange(len(X)), t] - L0[0, t]
    assert np.linalg.norm(ig.sum(1) - delta) / np.linalg.norm(delta) < 1e-2
    # numpy midpoint rule with 4000 steps on the closed-form gradient along the path 0 -> x
    a = (np.arange(4000) + 0.5) / 4000
    ref = X * np.mean([mlp_grad_np(net, s * X, t) for s in a], axis=0)
    assert np.max(np.abs(ref.sum(1) - delta)) < 2e-3 * np.abs(delta).max()  # the reference is complete
    assert _rel(ig, ref) < 2e-2


def test_deeplift_on_linear_model_is_x_times_w_and_sums_to_delta_on_mlp():
    net = linear_net(6, seed=3)
    W, _ = _linear_w(net)
    X, t = _data((6,), 10, seed=3)
    dl = C.DeepLift().explain(TorchModel(net), X, t, context=_ctx(X))
    np.testing.assert_allclose(dl, X * W[t], rtol=1e-5, atol=1e-6)
    # summation-to-delta (Shrikumar et al. 2017) holds exactly for the rescale rule
    mlp = mlp_net(6, seed=3)
    dl = C.DeepLift().explain(TorchModel(mlp), X, t, context=_ctx(X))
    L, L0 = logits_np(mlp, X), logits_np(mlp, np.zeros((1, 6)))
    delta = L[np.arange(len(X)), t] - L0[0, t]
    np.testing.assert_allclose(dl.sum(1), delta, rtol=1e-4, atol=1e-5)
    # the model's own module is not modified (hooks go on a copy)
    assert not mlp._forward_hooks and all(not m._forward_hooks for m in mlp.modules())


def test_deeplift_shap_on_linear_model_uses_training_mean_as_reference():
    net = linear_net(4, seed=4)
    W, _ = _linear_w(net)
    X, t = _data((4,), 8, seed=4)
    X_train = np.random.default_rng(9).standard_normal((10, 4)) + 1.0
    # n_background >= len(X_train): every training input is a reference
    dls = C.DeepLiftShap(n_background=16).explain(TorchModel(net), X, t, context=_ctx(X_train))
    np.testing.assert_allclose(dls, (X - X_train.mean(0)) * W[t], rtol=1e-5, atol=1e-5)


def test_gradient_shap_on_linear_model_with_one_reference():
    net = linear_net(4, seed=5)
    W, _ = _linear_w(net)
    X, t = _data((4,), 8, seed=5)
    ref_row = np.array([[0.5, -1.0, 2.0, 0.25]])
    gs = C.GradientShap(n_samples=5, n_background=3).explain(TorchModel(net), X, t, context=_ctx(ref_row))
    np.testing.assert_allclose(gs, (X - ref_row) * W[t], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("method", [C.GradientShap(n_samples=4, n_background=5), C.DeepLiftShap(n_background=5)])
def test_shap_methods_reproducible_for_a_context_seed(method):
    net = mlp_net(5, seed=6)
    X, t = _data((5,), 10, seed=6)
    X_train = np.random.default_rng(10).standard_normal((40, 5))
    model = TorchModel(net)
    a1 = method.explain(model, X, t, context=_ctx(X_train, seed=3))
    torch.manual_seed(12345)  # global torch state must not matter
    np.random.seed(999)
    a2 = method.explain(model, X, t, context=_ctx(X_train, seed=3))
    b = method.explain(model, X, t, context=_ctx(X_train, seed=4))
    np.testing.assert_array_equal(a1, a2)
    assert not np.allclose(a1, b)


def test_context_background_draws_distinct_training_rows_deterministically():
    X_train = np.arange(40.0).reshape(20, 2)
    ctx = _ctx(X_train, seed=1)
    bg = ctx.background(7)
    assert bg.shape == (7, 2)
    rows = {tuple(r) for r in X_train}
    assert all(tuple(r) in rows for r in bg) and len({tuple(r) for r in bg}) == 7
    np.testing.assert_array_equal(bg, _ctx(X_train, seed=1).background(7))
    assert not np.array_equal(bg, _ctx(X_train, seed=2).background(7))
    assert ctx.background(100).shape == (20, 2)  # capped at the training size


# ------------------------------------------------------------------------------ LRP
def lrp_eps_reference(net, x, t, eps):
    """ε-rule for a Flatten/Linear/ReLU MLP as explicit loops over neurons (one sample)."""
    params = _mlp_params(net)
    acts = [x.reshape(-1)]
    for k, (W, b) in enumerate(params):
        z = W @ acts[-1] + b
        acts.append(np.maximum(z, 0) if k < len(params) - 1 else z)
    R = np.zeros(2)
    R[t] = acts[-1][t]
    for (W, b), a in zip(reversed(params), reversed(acts[:-1])):
        R_in = np.zeros(len(a))
        for j in range(W.shape[0]):
            z_j = sum(a[i] * W[j, i] for i in range(len(a))) + b[j]
            denom = z_j + eps * (1.0 if z_j >= 0 else -1.0)
            for i in range(len(a)):
                R_in[i] += a[i] * W[j, i] * R[j] / denom
        R = R_in
    return R.reshape(x.shape)


def test_lrp_epsilon_matches_loop_reference_on_mlp_with_biases():
    net = mlp_net(5, seed=7)
    X, t = _data((5,), 6, seed=7)
    lrp = C.LRP(epsilon=0.25).explain(TorchModel(net), X, t, context=_ctx(X))
    ref = np.stack([lrp_eps_reference(net, x, ti, 0.25) for x, ti in zip(X, t)])
    assert _rel(lrp, ref) < 1e-5


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_lrp_tiny_epsilon_equals_input_x_gradient_and_conserves_on_bias_free_nets(kind):
    if kind == "mlp":
        net, shape = mlp_net(6, seed=8, bias=False), (6,)
    else:
        net, shape = cnn_net(8, seed=8, bias=False), (8, 8)
    X, t = _data(shape, 8, seed=8)
    model = TorchModel(net)
    lrp = C.LRP(epsilon=1e-9).explain(model, X, t, context=_ctx(X))
    g, logit = autograd_grad64(net, X, t)
    assert _rel(lrp, X * g) < 1e-5  # Ancona et al. 2018: ε-LRP -> gradient x input for ReLU nets, no bias
    axes = tuple(range(1, X.ndim))
    np.testing.assert_allclose(lrp.sum(axis=axes), logit, rtol=1e-5, atol=1e-5 * np.abs(logit).max())
    ixg = C.InputXGradient().explain(model, X, t, context=_ctx(X))
    assert _rel(lrp, ixg) < 1e-5


def test_lrp_biases_break_conservation():
    net = mlp_net(6, seed=8, bias=True)
    X, t = _data((6,), 8, seed=8)
    lrp = C.LRP(epsilon=1e-9).explain(TorchModel(net), X, t, context=_ctx(X))
    _, logit = autograd_grad64(net, X, t)
    assert np.max(np.abs(lrp.sum(1) - logit)) > 1e-3


def test_lrp_supports_sequential_of_known_layers_only():
    class Wrapped(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = nn.Linear(3, 2)

        def forward(self, x):
            return self.inner(x)

    assert C.LRP().supports(TorchModel(mlp_net(3)), (3,))
    assert C.LRP().supports(TorchModel(cnn_net(8)), (8, 8))
    assert not C.LRP().supports(TorchModel(Wrapped()), (3,))
    assert not C.LRP().supports(TorchModel(nn.Sequential(nn.Linear(3, 2), nn.Tanh())), (3,))
    assert not C.LRP().supports(ProbaOnly(np.ones(3)), (3,))


# ------------------------------------------------------------------------------ perturbation
def test_occlusion_single_pixel_on_linear_model_is_w_times_x():
    net = linear_net(16, seed=9)
    W, _ = _linear_w(net)
    X, t = _data((4, 4), 5, seed=9)
    occ = C.Occlusion(window=1, stride=1).explain(TorchModel(net), X, t, context=_ctx(X))
    np.testing.assert_allclose(occ, X * W[t].reshape(-1, 4, 4), rtol=1e-5, atol=1e-5)
    X1, t1 = _data((16,), 5, seed=9)  # vectors: one feature at a time
    occ1 = C.Occlusion().explain(TorchModel(net), X1, t1, context=_ctx(X1))
    np.testing.assert_allclose(occ1, X1 * W[t1], rtol=1e-5, atol=1e-5)


def test_occlusion_default_window_matches_explicit_sliding_average():
    net = linear_net(36, seed=10)
    W, _ = _linear_w(net)
    X, t = _data((6, 6), 3, seed=10)
    occ = C.Occlusion().explain(TorchModel(net), X, t, context=_ctx(X))  # window 2, stride 1 at 6x6
    contrib = X * W[t].reshape(-1, 6, 6)
    total, count = np.zeros_like(X), np.zeros((6, 6))
    for i in range(5):
        for j in range(5):
            total[:, i:i + 2, j:j + 2] += contrib[:, i:i + 2, j:j + 2].sum(axis=(1, 2))[:, None, None]
            count[i:i + 2, j:j + 2] += 1
    np.testing.assert_allclose(occ, total / count, rtol=1e-5, atol=1e-5)


def test_shapley_value_sampling_on_linear_model_is_w_times_x():
    net = linear_net(16, seed=11)
    W, _ = _linear_w(net)
    X, t = _data((4, 4), 4, seed=11)
    sv = C.ShapleyValueSampling(n_samples=2).explain(TorchModel(net), X, t, context=_ctx(X))
    np.testing.assert_allclose(sv, X * W[t].reshape(-1, 4, 4), rtol=1e-5, atol=1e-5)


def test_kernel_shap_on_linear_model_is_close_to_w_times_x():
    net = linear_net(5, seed=12)
    W, _ = _linear_w(net)
    X, t = _data((5,), 6, seed=12)
    ks = C.KernelShap(n_samples=200).explain(TorchModel(net), X, t, context=_ctx(X))
    assert ks.shape == X.shape and np.isfinite(ks).all()
    np.testing.assert_allclose(ks, X * W[t], atol=0.05 * np.abs(X * W[t]).max())


def test_lime_and_kernel_shap_shapes_finite_and_seeded():
    net = cnn_net(8, seed=13)
    X, t = _data((8, 8), 3, seed=13)
    for m in (C.Lime(n_samples=40), C.KernelShap(n_samples=40), C.Lime(n_samples=40, block=4)):
        a = m.explain(TorchModel(net), X, t, context=_ctx(X, seed=1))
        assert a.shape == X.shape and np.isfinite(a).all()
        np.testing.assert_array_equal(a, m.explain(TorchModel(net), X, t, context=_ctx(X, seed=1)))
    blocky = C.KernelShap(n_samples=40, block=4).explain(TorchModel(net), X, t, context=_ctx(X))
    # block=4 on 8x8: 4 groups of 4x4 pixels, one value each
    for r in (0, 4):
        for c in (0, 4):
            blk = blocky[:, r:r + 4, c:c + 4].reshape(len(X), -1)
            np.testing.assert_array_equal(blk, np.repeat(blk[:, :1], 16, axis=1))


# ------------------------------------------------------------------------------ models without a module
def _log_p(model, X, t):
    return np.log(model.predict_proba(X)[np.arange(len(X)), t])


def test_forward_logits_of_proba_only_model_is_log_proba():
    model = ProbaOnly(np.array([1.0, -0.5, 2.0]), 0.3)
    X = np.random.default_rng(0).standard_normal((7, 3))
    f = forward_logits(model)
    out = f(torch.tensor(X, dtype=torch.float32))
    assert isinstance(out, torch.Tensor) and out.shape == (7, 2)
    np.testing.assert_allclose(out.double().numpy(), np.log(model.predict_proba(X.astype(np.float32))), rtol=1e-5)
    net = mlp_net(3)
    assert forward_logits(TorchModel(net)) is net
    assert has_module(TorchModel(net)) and not has_module(model)


def test_perturbation_methods_work_on_proba_only_model():
    w = np.array([1.0, -0.5, 2.0, 0.7])
    model = ProbaOnly(w, 0.2)
    X, t = _data((4,), 5, seed=14)
    X = X.astype(np.float32).astype(float)  # the methods run in float32
    occ = C.Occlusion().explain(model, X, t, context=_ctx(X))
    ref = np.zeros_like(X)
    for i in range(4):
        Xo = X.copy()
        Xo[:, i] = 0.0
        ref[:, i] = _log_p(model, X, t) - _log_p(model, Xo, t)
    np.testing.assert_allclose(occ, ref, rtol=1e-4, atol=1e-5)
    # exact Shapley values of v(S) = log p_t(x_S, 0 elsewhere), by enumerating the coalitions
    exact = np.zeros_like(X)
    for i in range(4):
        others = [j for j in range(4) if j != i]
        for r in range(4):
            for S in itertools.combinations(others, r):
                weight = math.factorial(r) * math.factorial(4 - r - 1) / math.factorial(4)
                keep = np.zeros(4, dtype=bool)
                keep[list(S)] = True
                with_i = keep.copy()
                with_i[i] = True
                exact[:, i] += weight * (_log_p(model, X * with_i, t) - _log_p(model, X * keep, t))
    sv = C.ShapleyValueSampling(n_samples=150).explain(model, X, t, context=_ctx(X))
    np.testing.assert_allclose(sv, exact, atol=0.1 * np.abs(exact).max())
    for m in (C.Lime(n_samples=30), C.KernelShap(n_samples=30)):
        a = m.explain(model, X, t, context=_ctx(X))
        assert a.shape == X.shape and np.isfinite(a).all()


GRADIENT_METHODS = [C.Saliency(), C.InputXGradient(), C.IntegratedGradients(n_steps=4), C.DeepLift(),
                    C.DeepLiftShap(n_background=3), C.GradientShap(n_samples=2, n_background=3), C.GuidedBackprop(),
                    C.Deconvolution(), C.GuidedGradCam(), C.LRP()]
PERTURBATION_METHODS = [C.Occlusion(), C.Lime(n_samples=20), C.KernelShap(n_samples=20),
                        C.ShapleyValueSampling(n_samples=1)]


@pytest.mark.parametrize("method", GRADIENT_METHODS, ids=lambda m: type(m).__name__)
def test_gradient_methods_do_not_support_proba_only_models(method):
    model = ProbaOnly(np.ones(4))
    assert not method.supports(model, (4,))
    X, t = _data((4,), 3)
    with pytest.raises(ValueError, match=type(method).__name__):
        method.explain(model, X, t, context=_ctx(X))


@pytest.mark.parametrize("method", PERTURBATION_METHODS, ids=lambda m: type(m).__name__)
def test_perturbation_methods_support_proba_only_models(method):
    assert method.supports(ProbaOnly(np.ones(4)), (4,))


# ------------------------------------------------------------------------------ shapes and errors
def test_guided_gradcam_needs_a_convolution():
    assert not C.GuidedGradCam().supports(TorchModel(mlp_net(64)), (8, 8))
    assert not C.GuidedGradCam().supports(TorchModel(mlp_net(5)), (5,))
    assert C.GuidedGradCam().supports(TorchModel(cnn_net(8)), (8, 8))
    X, t = _data((64,), 2)
    with pytest.raises(ValueError, match="GuidedGradCam"):
        C.GuidedGradCam().explain(TorchModel(mlp_net(64)), X, t, context=_ctx(X))


def test_guided_gradcam_is_zero_where_guided_backprop_is():
    net = cnn_net(8, seed=15)
    X, t = _data((8, 8), 4, seed=15)
    ggc = C.GuidedGradCam().explain(TorchModel(net), X, t, context=_ctx(X))
    gb = C.GuidedBackprop().explain(TorchModel(net), X, t, context=_ctx(X))
    assert np.all(ggc[gb == 0] == 0)
    # GradCAM is a non-negative factor: signs agree wherever both are non-zero
    both = (ggc != 0) & (gb != 0)
    assert np.all(np.sign(ggc[both]) == np.sign(gb[both]))


@pytest.mark.parametrize("method", GRADIENT_METHODS + PERTURBATION_METHODS, ids=lambda m: type(m).__name__)
@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_output_shape_equals_input_shape(method, kind):
    net, shape = (mlp_net(5), (5,)) if kind == "mlp" else (cnn_net(8), (8, 8))
    model = TorchModel(net)
    if not method.supports(model, shape):
        assert isinstance(method, C.GuidedGradCam) and kind == "mlp"
        return
    X, t = _data(shape, 3)
    a = method.explain(model, X, t, context=_ctx(np.random.default_rng(1).standard_normal((10, *shape))))
    assert a.shape == X.shape and a.dtype == np.float64 and np.isfinite(a).all()
    if not isinstance(method, C.GuidedGradCam) or kind == "cnn":
        assert np.any(a != 0)


@pytest.mark.parametrize("target", [np.array([0, 1]), np.array([0, 1, 2]), np.array([0, -1, 1]),
                                    np.array([[0, 1, 1]]), np.array([0.5, 1, 0])])
@pytest.mark.parametrize("method", [C.Saliency(), C.LRP(), C.Occlusion()], ids=lambda m: type(m).__name__)
def test_bad_target_raises(method, target):
    X = np.zeros((3, 5))
    with pytest.raises(ValueError, match="target"):
        method.explain(TorchModel(mlp_net(5)), X, target, context=_ctx(X))


def test_bad_inputs_and_configuration_raise_naming_the_parameter():
    model, X, t = TorchModel(mlp_net(5)), np.zeros((3, 5)), np.zeros(3, dtype=int)
    with pytest.raises(ValueError, match="X"):
        C.Saliency().explain(model, np.zeros(5), np.zeros(5, dtype=int), context=_ctx(X))
    with pytest.raises(ValueError, match="n_steps"):
        C.IntegratedGradients(n_steps=0).explain(model, X, t, context=_ctx(X))
    with pytest.raises(TypeError, match="n_samples"):
        C.KernelShap(n_samples=2.5).explain(model, X, t, context=_ctx(X))
    with pytest.raises(ValueError, match="n_background"):
        C.DeepLiftShap(n_background=0).explain(model, X, t, context=_ctx(X))
    for eps in (0, -1.0, True, "0.1"):
        with pytest.raises(ValueError, match="epsilon"):
            C.LRP(epsilon=eps).explain(model, X, t, context=_ctx(X))


# ------------------------------------------------------------------------------ feature groups
def _groups_loop(h, w, b):
    ncols = -(-w // b)
    out = np.zeros((h, w), dtype=int)
    for i in range(h):
        for j in range(w):
            out[i, j] = (i // b) * ncols + j // b
    return out


def test_feature_groups_vectors_pixels_and_blocks():
    np.testing.assert_array_equal(feature_groups((7,)), np.arange(7))
    np.testing.assert_array_equal(feature_groups((8, 8)), np.arange(64).reshape(8, 8))
    np.testing.assert_array_equal(feature_groups((16, 12)), np.arange(192).reshape(16, 12))
    g64 = feature_groups((64, 64))  # default block 64 // 16 = 4
    np.testing.assert_array_equal(g64, _groups_loop(64, 64, 4))
    assert len(np.unique(g64)) == 256 and all(np.sum(g64 == k) == 16 for k in (0, 17, 255))
    for (h, w, b) in [(7, 7, 3), (8, 5, 2), (6, 6, 6), (5, 9, 4)]:
        g = feature_groups((h, w), b)
        np.testing.assert_array_equal(g, _groups_loop(h, w, b))
        np.testing.assert_array_equal(np.unique(g), np.arange(len(np.unique(g))))  # ids 0..k-1
    with pytest.raises(ValueError, match="block"):
        feature_groups((8, 8), 0)
    with pytest.raises(TypeError, match="block"):
        feature_groups((8, 8), 1.5)
