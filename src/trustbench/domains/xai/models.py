"""Classifiers whose explanations the ``xai`` benchmark evaluates: logistic regression, an MLP and a CNN.

Each is a PyTorch ``nn.Sequential`` (``module_``) that maps a float32 batch ``(n, *sample_shape)`` to
two logits (class 0, class 1), so every attribution method — gradient-based (captum), PatternNet,
perturbation-based — sees the same kind of model, and a user's own model only has to offer the same
``module_``. ``fit(X, y, seed=...)`` is deterministic on CPU; ``predict_proba(X)`` gives ``(n, 2)``.

- ``logistic``: L2-regularised logistic regression fitted to convergence (scikit-learn, L-BFGS, tol 1e-6), written
  into ``Flatten -> Linear(d, 2)`` with logits ``(-s/2, s/2)``, ``s = w·x + b`` (same probabilities;
  the gradient of either logit is ``±w/2``, so attributions do not depend on the class explained).
- ``mlp_classifier``: ``Flatten -> [Linear -> ReLU] x len(hidden) -> Linear(·, 2)``.
- ``cnn``: ``Unflatten -> [Conv3x3 -> ReLU -> MaxPool2] x len(channels) -> Flatten -> Linear -> ReLU
  -> Linear(·, 2)`` (images only); the architecture of XAI-TRIS's CNN in spirit (Clark et al. 2024),
  smaller.

MLP and CNN are trained with Adam on cross-entropy; a validation share of the training data picks
the epoch with the lowest validation loss (early stopping with ``patience``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from trustbench.validation import check_int, short_repr

__all__ = ["Logistic", "MLPClassifier", "CNN"]


def _check_xy(X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=float)
    y = np.asarray(y)
    if X.ndim < 2 or len(X) != len(y) or y.ndim != 1:
        raise ValueError(f"X must be (n, *sample_shape) and y (n,) with the same n; got X {X.shape}, y {y.shape}.")
    if not np.isin(y, (0, 1)).all() or len(np.unique(y)) < 2:
        raise ValueError("y must hold both labels 0 and 1 (and nothing else).")
    if not np.isfinite(X).all():
        raise ValueError("X must be finite (no NaN or inf).")
    return X, y.astype(np.int64)


def _positive(value: Any, name: str, *, integer: bool = False) -> Any:
    if integer:
        return check_int(value, name, minimum=1)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a number > 0; got {short_repr(value)}.")
    return float(value)


class _TorchClassifier:
    """Shared prediction code: ``module_`` maps float32 ``(n, *shape)`` to 2 logits."""

    module_: Any
    sample_shape_: tuple[int, ...]

    def _tensor(self, X: Any):
        import torch

        X = np.asarray(X, dtype=np.float32)
        if X.shape[1:] != self.sample_shape_:
            raise ValueError(f"X must have samples of shape {self.sample_shape_}; got {X.shape[1:]}.")
        return torch.from_numpy(np.ascontiguousarray(X))

    def logits(self, X: Any) -> np.ndarray:
        import torch

        with torch.no_grad():
            return self.module_(self._tensor(X)).double().numpy()

    def predict_proba(self, X: Any) -> np.ndarray:
        z = self.logits(X)
        z = z - z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        return self.logits(X).argmax(axis=1)


class Logistic(_TorchClassifier):
    """L2-regularised logistic regression (``C`` as in scikit-learn), as a two-logit torch module."""

    def __init__(self, *, C: float = 1.0) -> None:
        self.C = C

    def validate(self) -> None:
        _positive(self.C, "C")

    def fit(self, X: Any, y: Any, *, seed: int = 0) -> Logistic:
        import torch
        from sklearn.linear_model import LogisticRegression

        self.validate()
        X, y = _check_xy(X, y)
        self.sample_shape_ = X.shape[1:]
        flat = X.reshape(len(X), -1)
        lr = LogisticRegression(C=self.C, max_iter=5000, tol=1e-6).fit(flat, y)
        w, b = lr.coef_[0], lr.intercept_[0]
        self.coef_, self.intercept_ = w.reshape(self.sample_shape_), float(b)
        linear = torch.nn.Linear(flat.shape[1], 2)
        with torch.no_grad():
            linear.weight.copy_(torch.tensor(np.stack([-w / 2, w / 2]), dtype=torch.float32))
            linear.bias.copy_(torch.tensor([-b / 2, b / 2], dtype=torch.float32))
        self.module_ = torch.nn.Sequential(torch.nn.Flatten(), linear).eval()
        return self


class _Trained(_TorchClassifier):
    """Adam on cross-entropy with validation-loss early stopping; subclasses build the network."""

    def _build(self, shape: tuple[int, ...]):
        raise NotImplementedError

    def _check(self) -> None:
        _positive(self.epochs, "epochs", integer=True)
        _positive(self.batch_size, "batch_size", integer=True)
        _positive(self.patience, "patience", integer=True)
        _positive(self.lr, "lr")
        if isinstance(self.weight_decay, bool) or not isinstance(self.weight_decay, (int, float)) or self.weight_decay < 0:
            raise ValueError(f"weight_decay must be a number >= 0; got {short_repr(self.weight_decay)}.")
        if not isinstance(self.val_fraction, (int, float)) or not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must lie strictly between 0 and 1; got {short_repr(self.val_fraction)}.")

    def fit(self, X: Any, y: Any, *, seed: int = 0) -> _Trained:
        import torch

        self.validate()
        X, y = _check_xy(X, y)
        self.sample_shape_ = X.shape[1:]
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(X))
        n_val = max(1, int(round(self.val_fraction * len(X))))
        val, tr = order[:n_val], order[n_val:]
        torch.manual_seed(seed)
        net = self._build(self.sample_shape_)
        opt = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        Xt, yt = self._tensor(X), torch.from_numpy(y)
        loss_fn = torch.nn.CrossEntropyLoss()
        best, best_state, waited = np.inf, None, 0
        self.history_: list[float] = []
        for _ in range(int(self.epochs)):
            net.train()
            for idx in np.array_split(rng.permutation(tr), max(1, len(tr) // int(self.batch_size))):
                opt.zero_grad()
                loss_fn(net(Xt[idx]), yt[idx]).backward()
                opt.step()
            net.eval()
            with torch.no_grad():
                val_loss = float(loss_fn(net(Xt[val]), yt[val]))
            self.history_.append(val_loss)
            if val_loss < best - 1e-6:
                best, waited = val_loss, 0
                best_state = {k: v.clone() for k, v in net.state_dict().items()}
            else:
                waited += 1
                if waited >= int(self.patience):
                    break
        net.load_state_dict(best_state)
        self.module_ = net.eval()
        self.val_loss_ = best
        return self


class MLPClassifier(_Trained):
    """Fully connected ReLU network, two logits out."""

    def __init__(self, *, hidden: tuple[int, ...] | list[int] = (64, 64), epochs: int = 60, lr: float = 1e-3,
                 weight_decay: float = 1e-4, batch_size: int = 64, val_fraction: float = 0.2, patience: int = 8) -> None:
        self.hidden = hidden
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.val_fraction = val_fraction
        self.patience = patience

    def validate(self) -> None:
        self._check()
        if not isinstance(self.hidden, (list, tuple)) or not self.hidden:
            raise ValueError(f"hidden must be a non-empty list of layer widths; got {short_repr(self.hidden)}.")
        for k, h in enumerate(self.hidden):
            _positive(h, f"hidden[{k}]", integer=True)

    def _build(self, shape: tuple[int, ...]):
        import torch.nn as nn

        layers: list[Any] = [nn.Flatten()]
        width = int(np.prod(shape))
        for h in self.hidden:
            layers += [nn.Linear(width, int(h)), nn.ReLU()]
            width = int(h)
        return nn.Sequential(*layers, nn.Linear(width, 2))


class CNN(_Trained):
    """Convolutional ReLU network for ``(h, w)`` images: conv blocks with 2x2 max pooling, then a small head."""

    def __init__(self, *, channels: tuple[int, ...] | list[int] = (8, 16), dense: int = 32, epochs: int = 60,
                 lr: float = 1e-3, weight_decay: float = 1e-4, batch_size: int = 64, val_fraction: float = 0.2,
                 patience: int = 8) -> None:
        self.channels = channels
        self.dense = dense
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.val_fraction = val_fraction
        self.patience = patience

    def validate(self) -> None:
        self._check()
        if not isinstance(self.channels, (list, tuple)) or not self.channels:
            raise ValueError(f"channels must be a non-empty list of channel counts; got {short_repr(self.channels)}.")
        for k, c in enumerate(self.channels):
            _positive(c, f"channels[{k}]", integer=True)
        _positive(self.dense, "dense", integer=True)

    def supports(self, task: Any) -> bool:
        """Images only."""
        return len(getattr(task, "sample_shape", ())) == 2

    def _build(self, shape: tuple[int, ...]):
        import torch.nn as nn

        if len(shape) != 2:
            raise ValueError(f"the cnn takes (h, w) images; got samples of shape {shape}.")
        h, w = shape
        if min(h, w) < 2 ** len(self.channels):
            raise ValueError(f"channels: {len(self.channels)} pooling stages need images of at least "
                             f"{2 ** len(self.channels)} pixels a side; got {shape}.")
        layers: list[Any] = [nn.Unflatten(1, (1, h))]
        c_in = 1
        for c in self.channels:
            layers += [nn.Conv2d(c_in, int(c), 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            c_in, h, w = int(c), h // 2, w // 2
        return nn.Sequential(*layers, nn.Flatten(), nn.Linear(c_in * h * w, int(self.dense)), nn.ReLU(),
                             nn.Linear(int(self.dense), 2))
