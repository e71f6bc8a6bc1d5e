"""Reference models of the ICU benchmark (the YAIB baselines: van de Water et al., ICLR 2024).

Every model is a dataclass (constructor = configuration), ``fit(cohort, seed=0)`` on a training
:class:`~trustbench.domains.icu.cohort.Cohort` and ``predict(cohort)`` on any cohort with the same
variables (another split, another site), one prediction per row of ``cohort.outc``:

- binary tasks: a float64 array of P(label = 1);
- regression tasks: a :class:`trustbench.types.Gaussian` (loc, scale).

Preprocessing is the one :class:`~trustbench.domains.icu.features.Preprocessor`, fitted on the
training cohort inside ``fit``. ``LogReg`` and ``LightGBM`` use its tabular summary features,
``GRU`` and ``Transformer`` its hourly sequences (causal models read at each prediction hour).
A variable never observed in the training stays (a rare lab in a small split) is dropped with a
warning (``all_missing="drop"``); ``all_missing="raise"`` makes it an error instead.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from trustbench.domains.icu.cohort import Cohort
from trustbench.domains.icu.features import Preprocessor
from trustbench.types import Gaussian
from trustbench.validation import check_choice, check_int

__all__ = ["LogReg", "LightGBM", "GRU", "Transformer", "MODELS"]


# ----------------------------------------------------------------------------------- helpers


def _check_float(value, name: str, *, minimum: float = 0.0, strict: bool = True, maximum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number; got {value!r}.")
    v = float(value)
    ok = np.isfinite(v) and (v > minimum if strict else v >= minimum) and (maximum is None or v < maximum)
    if not ok:
        rule = f"{'>' if strict else '>='} {minimum}" + (f" and < {maximum}" if maximum is not None else "")
        raise ValueError(f"{name} must be {rule}; got {value!r}.")
    return v


def _check_class_weight(value) -> None:
    if value is not None and value != "balanced":
        raise ValueError(f"class_weight must be 'balanced' or None; got {value!r}.")


def _labels(cohort: Cohort) -> tuple[np.ndarray, np.ndarray, str]:
    """Labels, the mask of rows with a label, and the task kind."""
    y = cohort.y
    keep = ~np.isnan(y)
    if not keep.any():
        raise ValueError(f"cohort {cohort.name!r} has no labelled outc row to train on.")
    kind = cohort.kind
    if kind == "binary" and len(np.unique(y[keep])) < 2:
        raise ValueError(f"cohort {cohort.name!r} has a single class in its labels; a classifier needs both.")
    return y, keep, kind


def _check_seed(seed) -> int:
    return check_int(seed, "seed", minimum=0)


class _Fitted:
    """Shared checks of fitted state, and the training data of the tabular models."""

    def _check_fitted(self) -> None:
        if not hasattr(self, "kind_"):
            raise RuntimeError(f"this {type(self).__name__} is not fitted yet; call fit(train_cohort) first.")

    def _tabular_training_data(self, cohort: Cohort, seed) -> tuple[int, np.ndarray, np.ndarray, str, np.ndarray]:
        """Checked seed, summary features and labels of the labelled rows, the task kind and the row mask;
        fits ``self.preprocessor_`` on ``cohort``."""
        self._check_params()
        seed = _check_seed(seed)
        y, keep, kind = _labels(cohort)
        self.preprocessor_ = Preprocessor(all_missing=self.all_missing).fit(cohort)
        return seed, self.preprocessor_.tabular(cohort)[keep], y[keep], kind, keep


# ------------------------------------------------------------------------------- tabular


@dataclass
class LogReg(_Fitted):
    """Logistic regression on standardised tabular summary features (YAIB's LR baseline).

    Binary tasks: ``StandardScaler`` + ``LogisticRegression(C, class_weight, max_iter)``.
    Regression tasks: ``StandardScaler`` + ``Ridge(alpha = 1 / C)``, predictive
    N(ridge(x), s²) with s the training residual standard deviation (homoscedastic).

    Note ``class_weight="balanced"`` (the default, as in YAIB) re-weights the classes, so the
    probabilities are shifted upwards for a rare positive class (ranking is unaffected).
    """

    C: float = 0.01
    class_weight: str | None = "balanced"
    max_iter: int = 2000
    all_missing: str = "drop"

    def __post_init__(self) -> None:
        self._check_params()

    def _check_params(self) -> None:
        _check_float(self.C, "C")
        _check_class_weight(self.class_weight)
        check_int(self.max_iter, "max_iter", minimum=1)
        check_choice(self.all_missing, "all_missing", ("raise", "drop"))

    def fit(self, cohort: Cohort, seed: int = 0) -> LogReg:
        from sklearn.linear_model import LogisticRegression, Ridge
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        seed, X, y, kind, keep = self._tabular_training_data(cohort, seed)
        if kind == "binary":
            est = LogisticRegression(
                C=float(self.C), class_weight=self.class_weight, max_iter=int(self.max_iter), random_state=seed
            )
            self.model_ = make_pipeline(StandardScaler(), est).fit(X, y.astype(int))
        else:
            self.model_ = make_pipeline(StandardScaler(), Ridge(alpha=1.0 / float(self.C))).fit(X, y)
            resid = y - self.model_.predict(X)
            self.scale_ = max(float(np.sqrt(np.mean(resid**2))), 1e-12)
        self.kind_ = kind
        return self

    def predict(self, cohort: Cohort):
        self._check_fitted()
        X = self.preprocessor_.tabular(cohort)
        if self.kind_ == "binary":
            return self.model_.predict_proba(X)[:, 1].astype(np.float64)
        return Gaussian(loc=self.model_.predict(X).astype(np.float64), scale=np.full(len(X), self.scale_))


@dataclass
class LightGBM(_Fitted):
    """Gradient-boosted trees (LightGBM; Ke et al., NeurIPS 2017) on tabular summary features.

    Binary tasks: ``LGBMClassifier`` with ``scale_pos_weight = n_negative / n_positive`` when
    ``class_weight="balanced"``.

    Regression tasks: ``LGBMRegressor`` for the mean; the predictive scale is estimated honestly
    from **out-of-fold** residuals (``n_folds`` stay-grouped folds, so the scale is not the
    optimistic in-sample residual of a boosted model):

    - ``scale="constant"`` (default, cheap): one s = RMS of the out-of-fold residuals;
    - ``scale="lgbm"``: heteroscedastic, a second LightGBM fitted on the absolute out-of-fold
      residuals; for a Gaussian E|r| = s sqrt(2/pi), so s(x) = sqrt(pi/2) * mean|r|(x)
      (floored at 1% of the constant s).

    The number of trees is chosen by early stopping: boosting on ``1 - validation`` of the training
    stays stops when the log-loss (or squared error) on the other stays has not improved for
    ``early_stopping`` rounds, and the model is refitted on all training stays with that many trees
    (at most ``n_estimators``). Without it, 300 trees of 31 leaves overfit the demo cohorts (calibration
    slope 0.14-0.5 on mortality24); ``early_stopping=None`` uses ``n_estimators`` as given.

    Parameters follow LightGBM (``n_estimators``, ``learning_rate``, ``num_leaves``,
    ``min_child_samples``); training is single-threaded and deterministic for a seed.
    """

    n_estimators: int = 1000
    learning_rate: float = 0.05
    num_leaves: int = 15
    min_child_samples: int = 20
    early_stopping: int | None = 30
    validation: float = 0.2
    class_weight: str | None = "balanced"
    scale: str = "constant"
    n_folds: int = 3
    n_jobs: int = 1
    all_missing: str = "drop"

    def __post_init__(self) -> None:
        self._check_params()

    def _check_params(self) -> None:
        check_int(self.n_estimators, "n_estimators", minimum=1)
        _check_float(self.learning_rate, "learning_rate")
        check_int(self.num_leaves, "num_leaves", minimum=2)
        check_int(self.min_child_samples, "min_child_samples", minimum=1)
        if self.early_stopping is not None:
            check_int(self.early_stopping, "early_stopping", minimum=1)
        _check_float(self.validation, "validation", maximum=0.5)
        _check_class_weight(self.class_weight)
        check_choice(self.scale, "scale", ("constant", "lgbm"))
        check_int(self.n_folds, "n_folds", minimum=2)
        check_int(self.n_jobs, "n_jobs", minimum=1)
        check_choice(self.all_missing, "all_missing", ("raise", "drop"))

    def _params(self, seed: int) -> dict:
        return dict(
            n_estimators=int(self.n_estimators),
            learning_rate=float(self.learning_rate),
            num_leaves=int(self.num_leaves),
            min_child_samples=int(self.min_child_samples),
            n_jobs=int(self.n_jobs),
            deterministic=True,
            force_col_wise=True,
            verbose=-1,
            random_state=seed,
        )

    def fit(self, cohort: Cohort, seed: int = 0) -> LightGBM:
        import lightgbm as lgb

        seed, X, y, kind, keep = self._tabular_training_data(cohort, seed)
        params = self._params(seed)
        groups = cohort.row_stays[keep]
        if kind == "binary":
            y = y.astype(int)
            if self.class_weight == "balanced":
                params["scale_pos_weight"] = float((y == 0).sum() / (y == 1).sum())
        estimator = lgb.LGBMClassifier if kind == "binary" else lgb.LGBMRegressor
        params["n_estimators"] = self._n_trees(estimator, X, y, groups, params, seed)
        self.n_trees_ = params["n_estimators"]
        self.model_ = estimator(**params).fit(X, y)
        if kind != "binary":
            oof = self._oof(X, y, groups, params, seed)
            resid = y - oof
            self.scale_ = max(float(np.sqrt(np.mean(resid**2))), 1e-12)
            self.scale_model_ = None
            if self.scale == "lgbm":
                self.scale_model_ = lgb.LGBMRegressor(**params).fit(X, np.abs(resid))
        self.kind_ = kind
        return self

    def _n_trees(self, estimator, X, y, groups, params, seed) -> int:
        """Trees chosen by early stopping on a held-out share of the training stays."""
        import lightgbm as lgb

        stays = np.unique(groups)
        if self.early_stopping is None or len(stays) < 10:
            return int(self.n_estimators)
        held = np.random.default_rng(seed + 1).permutation(stays)[: max(1, round(float(self.validation) * len(stays)))]
        val = np.isin(groups, held)
        if estimator is lgb.LGBMClassifier and (np.unique(y[val]).size < 2 or np.unique(y[~val]).size < 2):
            return int(self.n_estimators)
        # the validation loss weighs classes as the training loss does (scale_pos_weight)
        w = np.where(y[val] == 1, params.get("scale_pos_weight", 1.0), 1.0) if estimator is lgb.LGBMClassifier else None
        model = estimator(**params).fit(X[~val], y[~val], eval_X=(X[val],), eval_y=(y[val],), eval_sample_weight=[w],
                                         callbacks=[lgb.early_stopping(int(self.early_stopping), verbose=False)])
        return max(1, int(model.best_iteration_ or self.n_estimators))

    def _oof(self, X, y, groups, params, seed) -> np.ndarray:
        import lightgbm as lgb

        stays = np.unique(groups)
        k = min(int(self.n_folds), len(stays))
        if k < 2:
            raise ValueError(f"n_folds: out-of-fold residuals need at least 2 training stays; got {len(stays)}.")
        fold_of_stay = np.random.default_rng(seed).permutation(len(stays)) % k
        fold = fold_of_stay[np.searchsorted(stays, groups)]
        oof = np.empty(len(y))
        for f in range(k):
            test = fold == f
            oof[test] = lgb.LGBMRegressor(**params).fit(X[~test], y[~test]).predict(X[test])
        return oof

    def predict(self, cohort: Cohort):
        self._check_fitted()
        X = self.preprocessor_.tabular(cohort)
        if self.kind_ == "binary":
            return self.model_.predict_proba(X)[:, 1].astype(np.float64)
        loc = self.model_.predict(X).astype(np.float64)
        if self.scale_model_ is None:
            scale = np.full(len(X), self.scale_)
        else:
            scale = np.maximum(math.sqrt(math.pi / 2) * self.scale_model_.predict(X), 0.01 * self.scale_)
        return Gaussian(loc=loc, scale=scale)


# ------------------------------------------------------------------------------ sequences


@contextmanager
def _torch_threads(n: int):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _build_net(arch: str, n_in: int, hidden: int, layers: int, dropout: float, n_out: int, heads: int):
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.arch = arch
            if arch == "gru":
                self.body = nn.GRU(
                    n_in, hidden, num_layers=layers, batch_first=True, dropout=dropout if layers > 1 else 0.0
                )
            else:
                self.proj = nn.Linear(n_in, hidden)
                layer = nn.TransformerEncoderLayer(
                    hidden, heads, dim_feedforward=2 * hidden, dropout=dropout, batch_first=True, norm_first=True
                )
                self.body = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
                self.norm = nn.LayerNorm(hidden)
            self.drop = nn.Dropout(dropout)
            self.head = nn.Linear(hidden, n_out)

        def forward(self, x):  # (B, T, F) -> (B, T, n_out)
            if self.arch == "gru":
                h, _ = self.body(x)
            else:
                T = x.shape[1]
                h = self.proj(x) + _sinusoid(T, hidden, x.device)
                mask = torch.triu(torch.full((T, T), float("-inf"), device=x.device), diagonal=1)
                h = self.norm(self.body(h, mask=mask, is_causal=True))
            return self.head(self.drop(h))

    return Net()


def _sinusoid(T: int, d: int, device):
    """Sinusoidal position encoding (Vaswani et al. 2017): sin/cos of t / 10000^(2i/d)."""
    import torch

    pos = torch.arange(T, dtype=torch.float32, device=device)[:, None]
    i = torch.arange(0, d, 2, dtype=torch.float32, device=device)
    angle = pos / torch.pow(10000.0, i / d)
    pe = torch.zeros(T, d, device=device)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle)[:, : d // 2]
    return pe


@dataclass
class _Sequence(_Fitted):
    """Shared training of the causal sequence models (see ``GRU`` and ``Transformer``)."""

    hidden: int = 32
    layers: int = 1
    epochs: int = 15
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-4
    dropout: float = 0.1
    n_members: int = 1
    patience: int = 5
    val_fraction: float = 0.15
    n_threads: int = 1
    all_missing: str = "drop"

    _arch = "gru"

    def __post_init__(self) -> None:
        self._check_params()

    def _check_params(self) -> None:
        check_int(self.hidden, "hidden", minimum=1)
        check_int(self.layers, "layers", minimum=1)
        check_int(self.epochs, "epochs", minimum=1)
        check_int(self.batch_size, "batch_size", minimum=1)
        _check_float(self.lr, "lr")
        _check_float(self.weight_decay, "weight_decay", strict=False)
        _check_float(self.dropout, "dropout", strict=False, maximum=1.0)
        check_int(self.n_members, "n_members", minimum=1)
        check_int(self.patience, "patience", minimum=1)
        _check_float(self.val_fraction, "val_fraction", strict=False, maximum=1.0)
        check_int(self.n_threads, "n_threads", minimum=1)
        check_choice(self.all_missing, "all_missing", ("raise", "drop"))

    def _heads(self) -> int:
        return 1

    # -------------------------------------------------------------- fit
    def fit(self, cohort: Cohort, seed: int = 0):
        """Train ``n_members`` networks (seeds ``seed + member``) with early stopping.

        Loss at every labelled (stay, hour) read-out position: BCE with logits and
        ``pos_weight = n_negative / n_positive`` (binary), or the Gaussian negative log-likelihood
        0.5 (log v + (y - mu)² / v) on standardised targets (regression; Nix & Weigend 1994).
        Early stopping: the epoch with the lowest loss on a ``val_fraction`` split of the training
        stays (drawn once from ``seed``) is kept, training stops after ``patience`` epochs without
        improvement.
        """
        import torch

        self._check_params()
        seed = _check_seed(seed)
        y, keep, kind = _labels(cohort)
        self.preprocessor_ = Preprocessor(all_missing=self.all_missing).fit(cohort)
        X, lengths, rows = self.preprocessor_.sequences(cohort)
        n, T = X.shape[:2]
        # targets on the grid: weight = number of labelled rows at the cell, target = their mean
        W = np.zeros((n, T))
        S = np.zeros((n, T))
        np.add.at(W, (rows[keep, 0], rows[keep, 1]), 1.0)
        np.add.at(S, (rows[keep, 0], rows[keep, 1]), y[keep])
        Y = np.divide(S, W, out=np.zeros_like(S), where=W > 0)
        if kind == "binary":
            pos = float(y[keep].sum())
            self.pos_weight_ = (keep.sum() - pos) / pos
            self.y_mean_, self.y_std_ = 0.0, 1.0
        else:
            self.y_mean_ = float(y[keep].mean())
            self.y_std_ = float(y[keep].std()) or 1.0
            Y = np.where(W > 0, (Y - self.y_mean_) / self.y_std_, 0.0)
        self.kind_ = kind
        rng = np.random.default_rng(seed)
        labelled = np.flatnonzero(W.sum(axis=1) > 0)
        n_val = int(round(self.val_fraction * len(labelled)))
        n_val = min(n_val, len(labelled) - 1)
        perm = rng.permutation(labelled)
        val, train = np.sort(perm[:n_val]), np.sort(perm[n_val:])
        data = (torch.from_numpy(X), torch.from_numpy(Y.astype(np.float32)), torch.from_numpy(W.astype(np.float32)))
        self.members_ = []
        self.history_ = []
        with _torch_threads(int(self.n_threads)):
            for m in range(int(self.n_members)):
                net, hist = self._fit_member(data, lengths, train, val, seed + m)
                self.members_.append(net)
                self.history_.append(hist)
        self.n_features_ = X.shape[2]
        return self

    def _loss(self, out, Y, W):
        import torch
        import torch.nn.functional as F

        if self.kind_ == "binary":
            pw = torch.tensor(self.pos_weight_, dtype=out.dtype)
            per = F.binary_cross_entropy_with_logits(out[..., 0], Y, pos_weight=pw, reduction="none")
        else:
            mu, logv = out[..., 0], out[..., 1].clamp(-10.0, 10.0)
            per = 0.5 * (logv + (Y - mu) ** 2 * torch.exp(-logv))
        return (per * W).sum(), W.sum()

    def _fit_member(self, data, lengths, train, val, seed):
        import torch

        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        X, Y, W = data
        n_out = 1 if self.kind_ == "binary" else 2
        net = _build_net(
            self._arch, X.shape[2], int(self.hidden), int(self.layers), float(self.dropout), n_out, self._heads()
        )
        opt = torch.optim.AdamW(net.parameters(), lr=float(self.lr), weight_decay=float(self.weight_decay))
        bs = int(self.batch_size)
        best, best_state, bad, hist = np.inf, None, 0, []
        for _epoch in range(int(self.epochs)):
            net.train()
            order = rng.permutation(train)
            for start in range(0, len(order), bs):
                idx = order[start : start + bs]
                Tb = int(lengths[idx].max())
                i = torch.from_numpy(idx)
                total, weight = self._loss(net(X[i, :Tb]), Y[i, :Tb], W[i, :Tb])
                loss = total / weight.clamp_min(1.0)
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                opt.step()
            if len(val) == 0:
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                continue
            net.eval()
            with torch.no_grad():
                tot, wsum = 0.0, 0.0
                for start in range(0, len(val), 256):
                    idx = val[start : start + 256]
                    Tb = int(lengths[idx].max())
                    i = torch.from_numpy(idx)
                    a, b = self._loss(net(X[i, :Tb]), Y[i, :Tb], W[i, :Tb])
                    tot, wsum = tot + float(a), wsum + float(b)
            v = tot / max(wsum, 1e-12)
            hist.append(v)
            if v < best - 1e-6:
                best, bad = v, 0
                best_state = {k: t.detach().clone() for k, t in net.state_dict().items()}
            else:
                bad += 1
                if bad >= int(self.patience):
                    break
        net.load_state_dict(best_state)
        net.eval()
        return net, hist

    # ---------------------------------------------------------- predict
    def _outputs(self, cohort: Cohort) -> list[np.ndarray]:
        """Per member, the network output at each outc row's read-out position: (n_rows, n_out)."""
        import torch

        X, lengths, rows = self.preprocessor_.sequences(cohort)
        Xt = torch.from_numpy(X)
        order = np.argsort(lengths, kind="stable")  # batches of similar length
        outs = []
        with _torch_threads(int(self.n_threads)), torch.no_grad():
            for net in self.members_:
                full = None
                for start in range(0, len(order), 256):
                    idx = order[start : start + 256]
                    Tb = int(lengths[idx].max())
                    o = net(Xt[torch.from_numpy(idx), :Tb]).numpy().astype(np.float64)
                    if full is None:
                        full = np.zeros((X.shape[0], X.shape[1], o.shape[2]))
                    full[idx, :Tb] = o
                outs.append(full[rows[:, 0], rows[:, 1]])
        return outs

    def predict(self, cohort: Cohort):
        """P(label = 1) averaged over members (binary), or the members' Gaussian mixture collapsed
        to one Gaussian: mean of means, variance = mean variance + variance of means
        (Lakshminarayanan et al., NeurIPS 2017)."""
        self._check_fitted()
        outs = self._outputs(cohort)
        if self.kind_ == "binary":
            from scipy.special import expit

            return np.mean([expit(o[:, 0]) for o in outs], axis=0).astype(np.float64)
        mus = np.stack([o[:, 0] for o in outs]) * self.y_std_ + self.y_mean_
        vars_ = np.stack([np.exp(np.clip(o[:, 1], -10.0, 10.0)) for o in outs]) * self.y_std_**2
        loc = mus.mean(axis=0)
        var = vars_.mean(axis=0) + mus.var(axis=0)
        return Gaussian(loc=loc, scale=np.sqrt(var))


@dataclass
class GRU(_Sequence):
    """Causal GRU (Cho et al. 2014) over the hourly sequences, linear head read at each
    prediction hour; deep ensemble of ``n_members`` networks (Lakshminarayanan et al. 2017)."""

    _arch = "gru"


@dataclass
class Transformer(_Sequence):
    """Causal Transformer encoder (Vaswani et al. 2017): linear input projection, sinusoidal
    position encoding, pre-norm layers with a causal attention mask (hour t attends to hours <= t),
    linear head read at each prediction hour; deep ensemble of ``n_members`` networks."""

    heads: int = 4

    _arch = "transformer"

    def _check_params(self) -> None:
        super()._check_params()
        check_int(self.heads, "heads", minimum=1)
        if self.hidden % self.heads:
            raise ValueError(f"hidden must be a multiple of heads ({self.heads}); got hidden={self.hidden}.")

    def _heads(self) -> int:
        return int(self.heads)


MODELS = {"logreg": LogReg, "lightgbm": LightGBM, "gru": GRU, "transformer": Transformer}
