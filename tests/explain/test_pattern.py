"""PatternNet / PatternAttribution against closed forms (Haufe patterns, the suppressor problem) and a
slow per-neuron, per-position numpy reference (Kindermans et al. 2018)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from trustbench.explain.pattern import PatternExplainer

torch.set_num_threads(1)


# ----------------------------------------------------------------------------- slow reference
def _conv_windows(layer, shape):
    """(padded input, output size) helpers for a zero-padded Conv2d on one (C, H, W) sample."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = layer.kernel_size, layer.stride, layer.padding, layer.dilation
    _, H, W = shape
    oh = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1

    def window(i, j):
        return (slice(None), slice(i * sh, i * sh + dh * (kh - 1) + 1, dh), slice(j * sw, j * sw + dw * (kw - 1) + 1, dw))

    return (ph, pw), oh, ow, window


def ref_forward(layers, x):
    """One sample through the layers with explicit loops; per layer the record needed backwards."""
    records = []
    for layer in layers:
        rec = {"layer": layer, "in": x}
        if isinstance(layer, nn.Linear):
            W, b = layer.weight.detach().double().numpy(), layer.bias.detach().double().numpy()
            y0 = np.array([W[j] @ x for j in range(W.shape[0])])
            rec["units"] = [(x, y0)]
            x = y0 + b
        elif isinstance(layer, nn.Conv2d):
            W, b = layer.weight.detach().double().numpy(), layer.bias.detach().double().numpy()
            (ph, pw), oh, ow, window = _conv_windows(layer, x.shape)
            xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw)))
            y = np.empty((W.shape[0], oh, ow))
            units = []
            for i in range(oh):
                for j in range(ow):
                    patch = xp[window(i, j)]
                    y0 = np.array([np.sum(W[o] * patch) for o in range(W.shape[0])])
                    units.append((patch.ravel(), y0))
                    y[:, i, j] = y0 + b
            rec["units"] = units
            x = y
        elif isinstance(layer, nn.ReLU):
            x = np.maximum(x, 0.0)
        elif isinstance(layer, nn.MaxPool2d):
            k, s = layer.kernel_size, layer.stride
            C, H, W_ = x.shape
            oh, ow = (H - k) // s + 1, (W_ - k) // s + 1
            out, arg = np.empty((C, oh, ow)), {}
            for c in range(C):
                for i in range(oh):
                    for j in range(ow):
                        win = x[c, i * s : i * s + k, j * s : j * s + k]
                        r, q = np.unravel_index(np.argmax(win), win.shape)
                        arg[c, i, j] = (c, i * s + r, j * s + q)
                        out[c, i, j] = win[r, q]
            rec["arg"] = arg
            x = out
        elif isinstance(layer, nn.Flatten):
            x = x.ravel()
        elif isinstance(layer, nn.Unflatten):
            x = x.reshape(layer.unflattened_size + x.shape[1:])
        elif isinstance(layer, nn.Dropout):
            pass
        else:  # pragma: no cover - test models only
            raise AssertionError(layer)
        records.append(rec)
    return x, records


def ref_patterns(layers, X, gated):
    """Per neuron j: a = (E+[x y] - E+[x] E[y]) / w^T(...), with explicit loops over units (samples x positions)."""
    per_sample = [ref_forward(layers, x)[1] for x in X]
    kernel_idx = [i for i, layer in enumerate(layers) if isinstance(layer, (nn.Linear, nn.Conv2d))]
    patterns = []
    for k, li in enumerate(kernel_idx):
        layer = layers[li]
        W = layer.weight.detach().double().numpy().reshape(layer.weight.shape[0], -1)
        b = layer.bias.detach().double().numpy()
        units = [u for recs in per_sample for u in recs[li]["units"]]
        xs = np.array([u[0] for u in units])
        ys = np.array([u[1] for u in units])
        A = np.zeros_like(W)
        for j in range(W.shape[0]):
            pos = ys[:, j] + b[j] > 0 if gated[k] else np.ones(len(ys), bool)
            if not pos.any():
                continue
            ex = xs[pos].mean(axis=0)
            exy = (xs[pos] * ys[pos, j][:, None]).mean(axis=0)
            ey = ys[:, j].mean()
            cov = exy - ex * ey
            denom = W[j] @ cov
            if denom != 0:
                A[j] = cov / denom
        patterns.append(A.reshape(layer.weight.shape))
    return patterns


def ref_backward(layers, x, target, maps):
    """Target logit value back through the layers: Linear/Conv use ``maps`` (loops), ReLU forward mask, MaxPool argmax."""
    logits, records = ref_forward(layers, x)
    r = np.zeros_like(logits)
    r[target] = logits[target]
    k = len(maps)
    for rec in reversed(records):
        layer, xin = rec["layer"], rec["in"]
        if isinstance(layer, nn.Linear):
            k -= 1
            M = maps[k]
            r = np.array([sum(M[j, i] * r[j] for j in range(M.shape[0])) for i in range(M.shape[1])])
        elif isinstance(layer, nn.Conv2d):
            k -= 1
            M = maps[k]
            (ph, pw), oh, ow, window = _conv_windows(layer, xin.shape)
            rp = np.zeros((xin.shape[0], xin.shape[1] + 2 * ph, xin.shape[2] + 2 * pw))
            for o in range(M.shape[0]):
                for i in range(oh):
                    for j in range(ow):
                        rp[window(i, j)] += M[o] * r[o, i, j]
            r = rp[:, ph : ph + xin.shape[1], pw : pw + xin.shape[2]]
        elif isinstance(layer, nn.ReLU):
            r = r * (xin > 0)
        elif isinstance(layer, nn.MaxPool2d):
            rin = np.zeros_like(xin)
            for (c, i, j), where in rec["arg"].items():
                rin[where] += r[c, i, j]
            r = rin
        elif isinstance(layer, (nn.Flatten, nn.Unflatten)):
            r = r.reshape(xin.shape)
    return r


def _close(got, ref, rtol=1e-8):
    got, ref = np.asarray(got), np.asarray(ref)
    np.testing.assert_allclose(got, ref, rtol=rtol, atol=rtol * max(np.abs(ref).max(), 1e-300))


# ----------------------------------------------------------------------------- 1. linear model
@pytest.mark.parametrize("estimator", ["linear", "two_component"])
def test_linear_model_gives_haufe_pattern(estimator):
    rng = np.random.default_rng(0)
    d, n = 5, 400
    L = rng.normal(size=(d, d))
    X = rng.normal(size=(n, d)) @ L + rng.normal(size=d) * 3  # correlated, non-centred
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(d, 2))
    w = model[1].weight.detach().double().numpy()
    b = model[1].bias.detach().double().numpy()
    ex = PatternExplainer(model, estimator=estimator).fit(X[:, None, :])  # samples of shape (1, d)
    assert ex.estimators_ == ["linear"]  # output layer: linear estimator whatever is asked
    Xe = rng.normal(size=(7, d)) @ L
    target = np.array([0, 1, 1, 0, 1, 0, 0])
    pn = ex.pattern_net(Xe[:, None, :], target)[:, 0]
    pa = ex.pattern_attribution(Xe[:, None, :], target)[:, 0]
    for c in (0, 1):
        s = X @ w[c]
        haufe = np.cov(X.T, s)[:d, d] / np.var(s, ddof=1)  # cov(x, s) / var(s), Haufe et al. 2014
        _close(ex.patterns_[0][c], haufe, rtol=1e-9)
        assert np.isclose(w[c] @ haufe, 1.0)
        rows = target == c
        y = Xe[rows] @ w[c] + b[c]
        _close(pn[rows], haufe[None, :] * y[:, None], rtol=1e-9)  # signal estimate s = a y
        _close(pa[rows], (w[c] * haufe)[None, :] * y[:, None], rtol=1e-9)  # (w ⊙ a) y


# ----------------------------------------------------------------------------- 2. suppressor
def test_suppressor_gets_no_attribution():
    rng = np.random.default_rng(1)
    n = 20_000
    z = rng.choice([-1.0, 1.0], size=n)
    dist = rng.normal(scale=1.5, size=n)
    X = np.stack([z + dist, dist], axis=1)  # x1 = signal + distractor, x2 = distractor (a suppressor)
    model = nn.Sequential(nn.Flatten(), nn.Linear(2, 2))
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[-1.0, 1.0], [1.0, -1.0]]))  # optimal: w^T x = z exactly
        model[1].bias.zero_()
    ex = PatternExplainer(model).fit(X)
    a = ex.patterns_[0][1]
    assert abs(a[1]) < 0.02 * abs(a[0])  # pattern ∝ (1, 0)
    assert a[0] == pytest.approx(1.0, abs=0.03)
    Xe = X[:500]
    pa = np.abs(ex.pattern_attribution(Xe, 1)).sum(axis=0)
    pn = np.abs(ex.pattern_net(Xe, 1)).sum(axis=0)
    assert pa[1] / pa.sum() < 0.02 and pn[1] / pn.sum() < 0.02
    x = torch.tensor(Xe, dtype=torch.float32, requires_grad=True)
    (grad,) = torch.autograd.grad(model(x)[:, 1].sum(), x)
    share = np.abs(grad.numpy()).sum(axis=0)
    assert share[1] / share.sum() == pytest.approx(0.5)  # the gradient (w) credits the suppressor half


# ----------------------------------------------------------------------------- 3. slow reference
def _mlp():
    torch.manual_seed(3)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 6), nn.ReLU(), nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 2))
    with torch.no_grad():
        model[1].bias[0] = -100.0  # a neuron that never fires
    return model, (3, 4), [True, True, False]


def _cnn():
    torch.manual_seed(4)
    model = nn.Sequential(
        nn.Unflatten(1, (1, 8)),
        nn.Conv2d(1, 3, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(3, 4, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(16, 5),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(5, 2),
    )
    return model, (8, 8), [True, True, True, False]


@pytest.mark.parametrize("estimator", ["two_component", "linear"])
@pytest.mark.parametrize("make", [_mlp, _cnn], ids=["mlp", "cnn"])
def test_against_slow_reference(make, estimator):
    model, shape, gated = make()
    model.eval()
    if estimator == "linear":
        gated = [False] * len(gated)
    rng = np.random.default_rng(5)
    X = rng.normal(size=(40, *shape)) + 0.3
    Xe = rng.normal(size=(4, *shape)) + 0.3
    target = np.array([0, 1, 1, 0])
    ex = PatternExplainer(model, estimator=estimator, batch_size=16).fit(torch.tensor(X))
    layers = [m for m in model]
    ref = ref_patterns(layers, X, gated)
    assert ex.estimators_ == ["two_component" if g else "linear" for g in gated]
    assert len(ex.patterns_) == len(ref)
    for got, want in zip(ex.patterns_, ref, strict=True):
        assert got.shape == want.shape and np.isfinite(got).all()
        _close(got, want)
    if make is _mlp:
        assert estimator == "linear" or np.all(ex.patterns_[0][0] == 0)  # the dead neuron
    weights = [m.weight.detach().double().numpy() for m in layers if isinstance(m, (nn.Linear, nn.Conv2d))]
    pn, pa = ex.pattern_net(Xe, target), ex.pattern_attribution(Xe, target)
    for i in range(len(Xe)):
        _close(pn[i], ref_backward(layers, Xe[i], target[i], ref))
        _close(pa[i], ref_backward(layers, Xe[i], target[i], [w * a for w, a in zip(weights, ref, strict=True)]))


def test_batching_and_determinism():
    model, shape, _ = _cnn()
    X = np.random.default_rng(6).normal(size=(50, *shape))
    a = PatternExplainer(model, batch_size=7).fit(X)
    b = PatternExplainer(model, batch_size=7).fit(torch.tensor(X))
    c = PatternExplainer(model, batch_size=50).fit(X)
    for pa, pb, pc in zip(a.patterns_, b.patterns_, c.patterns_, strict=True):
        np.testing.assert_array_equal(pa, pb)
        _close(pa, pc, rtol=1e-9)
    e1, e2 = a.pattern_attribution(X[:9], 1), c.pattern_attribution(X[:9], 1)
    _close(e1, e2, rtol=1e-9)


# ----------------------------------------------------------------------------- 4. bad input
def test_bad_model():
    with pytest.raises(TypeError, match="Tanh"):
        PatternExplainer(nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2)))
    with pytest.raises(TypeError, match="groups=2"):
        PatternExplainer(nn.Sequential(nn.Conv2d(2, 2, 3, groups=2), nn.Flatten(), nn.Linear(2, 2)))
    with pytest.raises(TypeError, match="Sequential"):
        PatternExplainer(nn.Linear(4, 2))
    with pytest.raises(TypeError, match="last computing layer"):
        PatternExplainer(nn.Sequential(nn.Flatten(), nn.Linear(4, 2), nn.ReLU()))
    with pytest.raises(ValueError, match="estimator"):
        PatternExplainer(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)), estimator="two-component")


def test_bad_data_and_target():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    ex = PatternExplainer(model)
    with pytest.raises(RuntimeError, match="fit"):
        ex.pattern_net(np.zeros((2, 4)), 0)
    with pytest.raises(ValueError, match="X"):
        ex.fit(np.zeros((10, 5)))  # does not fit the Linear(4, 2)
    with pytest.raises(ValueError, match="X"):
        ex.fit(np.zeros(4))
    with pytest.raises(ValueError, match="X"):
        ex.fit(np.full((10, 4), np.nan))
    ex.fit(np.random.default_rng(0).normal(size=(10, 4)))
    with pytest.raises(ValueError, match="X"):
        ex.pattern_net(np.zeros((3, 2, 2)), 0)
    with pytest.raises(ValueError, match="target"):
        ex.pattern_attribution(np.zeros((3, 4)), 2)
    with pytest.raises(ValueError, match="target"):
        ex.pattern_attribution(np.zeros((3, 4)), [0, -1, 1])
    with pytest.raises(ValueError, match="target"):
        ex.pattern_attribution(np.zeros((3, 4)), [0, 1])
    with pytest.raises(TypeError, match="target"):
        ex.pattern_attribution(np.zeros((3, 4)), 0.5)
