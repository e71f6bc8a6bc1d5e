"""A supervised neural-network EEG inverse with deep-ensemble uncertainty.

The network learns the map from sensor data to the source map on samples drawn from the task's own
simulator (:func:`.simulate.simulate`), in the spirit of ConvDip (Hecker et al. 2021) and esinet:
the simulator is the training set, so the network's prior is the simulator's prior.

**Input.** Per sample the data are whitened with the noise covariance (its null space dropped) and
projected on the ``n_components`` leading left singular vectors of the whitened gain (the directions
in which sources rise above the noise; default 32); then the second-moment matrix ``S = Z Zᵀ / T``
of the projected data ``Z`` (k, T), divided by its trace and reduced to its upper triangle
(k(k+1)/2 features), standardised with the training statistics. ``S`` does not change when a
source's time course changes sign or the data its scale, and it determines the second-order source
map in that subspace. Measured on the quick task (1 dipole, 6 dB, 2,000 training samples, 3
members): median peak localisation error 58 mm on the raw 64-channel moments (2,080 features; the
members stop after 7-10 epochs: overfitting), 28 mm with 32 whitened components (528 features).

**Target.** The true source map ``a = sim.amplitude()`` (n,) (RMS over time of the moment norm)
divided by its maximum: the network predicts the *shape* of the map in [0, 1], not its scale in A·m.

**Network.** Each member is an MLP (ReLU hidden layers) with two heads per source: a mean in
(0, 1) (sigmoid) and a variance (softplus plus a floor of :data:`MIN_VAR`), trained on the Gaussian
negative log-likelihood (Nix & Weigend 1994) with Adam (Kingma & Ba 2015) on mini-batches; a
``validation`` share of the simulated samples picks each member's epoch with the lowest validation
NLL (early stopping with ``patience``). The members differ by seed: initial weights and the order of
the mini-batches. They train together as one batched network (:mod:`trustbench.uq._torch`), but every
member's arithmetic is its own, so member ``k`` is the same network whatever the others do.

**Prediction.** The deep ensemble (Lakshminarayanan, Pritzel & Blundell 2017) is the equal-weight
mixture of the members' Gaussians, summarised by its first two moments per source:
``μ = mean_k μ_k`` and ``σ² = mean_k σ_k² + var_k μ_k`` (aleatoric + epistemic, population variance
over members). :meth:`NNEnsemble.apply` returns ``SourceEstimate(moments=None, amplitude=μ, std=σ,
std_of="amplitude")``; its ``amplitude`` is in the max-normalised units the network was trained on,
so metrics that compare it with the truth must be scale-free (peak localisation error, centre of
gravity, spatial dispersion, EMD of normalised maps): they compare the *shapes* of the maps.

References
----------
Hecker L, Rupprecht R, Tebartz van Elst L, Kornmeier J (2021). ConvDip: a convolutional neural network
for better EEG source imaging. Front Neurosci 15, 569918.
Lakshminarayanan B, Pritzel A, Blundell C (2017). Simple and scalable predictive uncertainty
estimation using deep ensembles. NeurIPS 30.
Nix DA, Weigend AS (1994). Estimating the mean and variance of the target probability distribution.
IEEE ICNN, 55-60.
Kingma DP, Ba J (2015). Adam: a method for stochastic optimization. ICLR.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from trustbench.domains.eeg.methods import SourceEstimate, _check_eeg, _Fitted
from trustbench.validation import check_int, check_positive, short_repr

__all__ = ["MIN_VAR", "MemberOutputs", "NNEnsemble", "covariance_features"]

logger = logging.getLogger("trustbench")

MIN_VAR = 1e-4
"""Floor of a member's predicted variance (target units: the source map normalised to max 1), so
the NLL stays bounded where the target is exactly 0 (inactive sources)."""

_CHUNK = 1024


def covariance_features(eeg: np.ndarray) -> np.ndarray:
    """Upper triangle (B, m(m+1)/2) of the trace-normalised sensor second moment ``Y Yᵀ / T`` of
    data ``eeg`` (B, m, T)."""
    x = np.asarray(eeg, dtype=float)
    m, t = x.shape[1], x.shape[2]
    iu = np.triu_indices(m)
    out = np.empty((len(x), len(iu[0])))
    for i in range(0, len(x), _CHUNK):
        s = np.matmul(x[i:i + _CHUNK], x[i:i + _CHUNK].transpose(0, 2, 1)) / t
        tr = np.trace(s, axis1=1, axis2=2)[:, None, None]
        out[i:i + _CHUNK] = (s / np.where(tr > 0, tr, 1.0))[:, iu[0], iu[1]]
    return out


@dataclass(frozen=True, eq=False)
class MemberOutputs:
    """The members' predictions for a batch: ``mean`` and ``var`` (E, B, n) in max-normalised units."""

    mean: np.ndarray
    var: np.ndarray


@dataclass
class NNEnsemble(_Fitted):
    """Deep ensemble of MLPs from the sensor covariance to the normalised source map (see the module
    docstring), trained on ``n_train`` samples of the task's simulator.

    Parameters
    ----------
    n_train : number of simulated samples, ``simulate(n_train, rng)``; a ``validation`` share of them
        is held out for early stopping.
    members : number of networks in the ensemble (≥ 1).
    hidden : widths of the hidden layers (ReLU).
    max_epochs : most passes over the training samples.
    batch_size : samples per Adam step.
    learning_rate : Adam's step size.
    patience : epochs without a lower validation NLL before a member stops.
    validation : share of the simulated samples held out, in (0, 1).
    n_components : dimension of the whitened signal subspace the data are projected on (None: all
        whitened channels).

    Attributes
    ----------
    basis_ : (k, m) the whitening projection applied to the data.
    params_ : the batched network weights (torch tensors with a leading member axis).
    x_mean_, x_scale_ : feature standardisation (training statistics).
    epochs_ : (members,) epoch (1-based) whose weights each member kept.
    val_nll_ : (members,) each member's best validation NLL per source.
    history_ : (epochs, members) validation NLL per epoch.
    fit_seconds_ : wall time of simulation plus training.
    """

    n_train: int = 5000
    members: int = 5
    hidden: tuple[int, ...] = (256, 256)
    max_epochs: int = 100
    batch_size: int = 128
    learning_rate: float = 1e-3
    patience: int = 10
    validation: float = 0.1
    n_components: int | None = 32

    def __post_init__(self) -> None:
        check_int(self.n_train, "n_train", minimum=2)
        check_int(self.members, "members", minimum=1)
        if not isinstance(self.hidden, (tuple, list)) or not self.hidden:
            raise ValueError(f"hidden must be a non-empty tuple of layer widths; got {short_repr(self.hidden)}.")
        for k, h in enumerate(self.hidden):
            check_int(h, f"hidden[{k}]", minimum=1)
        check_int(self.max_epochs, "max_epochs", minimum=1)
        check_int(self.batch_size, "batch_size", minimum=1)
        check_positive(self.learning_rate, "learning_rate")
        check_int(self.patience, "patience", minimum=1)
        if isinstance(self.validation, bool) or not isinstance(self.validation, (int, float)) \
                or not 0.0 < float(self.validation) < 1.0:
            raise ValueError(f"validation must lie strictly between 0 and 1 (the held-out share); "
                             f"got {short_repr(self.validation)}.")
        n_val = self._n_val()
        if n_val < 1 or n_val >= self.n_train:
            raise ValueError(f"n_train = {self.n_train} with validation = {self.validation} leaves {n_val} validation "
                             f"and {self.n_train - n_val} training samples; both must be at least 1.")
        if self.n_components is not None:
            check_int(self.n_components, "n_components", minimum=1)

    def _n_val(self) -> int:
        return round(float(self.validation) * self.n_train)

    # ------------------------------------------------------------------ training

    def _prepare(self, simulate, seed: int) -> None:
        if simulate is None:
            raise ValueError("nn_ensemble is trained on simulated data: fit(head, noise_cov, simulate=...) needs the "
                             "task's simulator simulate(n, rng); got simulate=None.")
        if not callable(simulate):
            raise TypeError(f"simulate must be a callable simulate(n, rng); got {short_repr(simulate)}.")
        import torch

        from trustbench.uq import _torch

        t0 = time.perf_counter()
        seq = np.random.SeedSequence(check_int(seed, "seed", minimum=0))
        sim_seq, split_seq, *member_seqs = seq.spawn(2 + self.members)
        sim = simulate(self.n_train, np.random.default_rng(sim_seq))
        eeg = _check_eeg(sim.eeg, self.head_)
        if len(eeg) != self.n_train:
            raise ValueError(f"simulate({self.n_train}, rng) returned {len(eeg)} samples.")
        target = np.asarray(sim.amplitude(), dtype=float)
        if target.shape != (self.n_train, self.head_.n_sources):
            raise ValueError(f"simulate's amplitude() must be ({self.n_train}, {self.head_.n_sources}); got {target.shape}.")
        peak = target.max(axis=1, keepdims=True)
        target = target / np.where(peak > 0, peak, 1.0)

        self.basis_ = _signal_basis(self.head_.gain, self.noise_cov_, self.n_components)
        feats = covariance_features(np.matmul(self.basis_, eeg))
        order = np.random.default_rng(split_seq).permutation(self.n_train)
        val, tr = order[:self._n_val()], order[self._n_val():]
        self.x_mean_ = feats[tr].mean(axis=0)
        scale = feats[tr].std(axis=0)
        self.x_scale_ = np.where(scale > 0, scale, 1.0)
        x = _torch.as_tensor((feats - self.x_mean_) / self.x_scale_)
        y = _torch.as_tensor(target)

        n, e = self.head_.n_sources, self.members
        seeds = [int(s.generate_state(1)[0]) for s in member_seqs]
        member_params = [_torch.init_mlp([x.shape[1], *(int(h) for h in self.hidden), 2 * n], _torch.generator(s)) for s in seeds]
        params = [torch.cat([p[i].detach() for p in member_params]).requires_grad_() for i in range(len(member_params[0]))]
        gens = [_torch.generator(s + 1) for s in seeds]  # mini-batch order, one stream per member
        opt = torch.optim.Adam(params, lr=float(self.learning_rate), foreach=True)

        x_tr, y_tr = x[tr], y[tr]
        x_val, y_val = x[val], y[val]
        best = [p.detach().clone() for p in params]
        best_nll = np.full(e, np.inf)
        epochs = np.zeros(e, dtype=int)
        waited = np.zeros(e, dtype=int)
        active = np.ones(e, dtype=bool)
        history = []
        bs = int(self.batch_size)
        for epoch in range(1, int(self.max_epochs) + 1):
            perm = torch.stack([torch.randperm(len(tr), generator=g) for g in gens])  # (E, n_tr)
            for i in range(0, len(tr), bs):
                idx = perm[:, i:i + bs]
                opt.zero_grad(set_to_none=True)
                mean, var = _heads(_torch.forward(params, x_tr[idx], "relu")[0], n)
                _nll(mean, var, y_tr[idx]).sum().backward()
                opt.step()
            with torch.no_grad():
                nll = _torch.numpy(_nll(*_heads(_torch.forward(params, x_val, "relu")[0], n), y_val))
            history.append(nll)
            better = active & (nll < best_nll)
            for k in np.flatnonzero(better):
                for b, p in zip(best, params, strict=True):
                    b[k] = p.detach()[k]
            best_nll[better], epochs[better], waited[better] = nll[better], epoch, 0
            waited[active & ~better] += 1
            active &= waited < int(self.patience)
            if not active.any():
                break
        self.params_ = best
        self.epochs_ = epochs
        self.val_nll_ = best_nll
        self.history_ = np.array(history)
        self.fit_seconds_ = time.perf_counter() - t0
        logger.info("nn_ensemble: %d members trained on %d simulated samples in %.1f s (epochs kept %s, val NLL %s)",
                    e, self.n_train, self.fit_seconds_, epochs.tolist(), np.round(best_nll, 4).tolist())

    # ------------------------------------------------------------------ prediction

    def predict_members(self, eeg: Any) -> MemberOutputs:
        """Every member's mean and variance (E, B, n) for data ``eeg`` (B, m, T)."""
        import torch

        from trustbench.uq import _torch

        x = _check_eeg(eeg, self.head_)
        feats = (covariance_features(np.matmul(self.basis_, x)) - self.x_mean_) / self.x_scale_
        n, means, variances = self.head_.n_sources, [], []
        with torch.no_grad():
            for i in range(0, len(feats), _CHUNK):
                mean, var = _heads(_torch.forward(self.params_, _torch.as_tensor(feats[i:i + _CHUNK]), "relu")[0], n)
                means.append(_torch.numpy(mean))
                variances.append(_torch.numpy(var))
        return MemberOutputs(np.concatenate(means, axis=1), np.concatenate(variances, axis=1))

    def apply(self, eeg: Any) -> SourceEstimate:
        """The ensemble's normalised source map μ (B, n) and its standard deviation σ (B, n)."""
        t0 = time.perf_counter()
        out = self.predict_members(eeg)
        mu = out.mean.mean(axis=0)
        var = out.var.mean(axis=0) + out.mean.var(axis=0)
        return SourceEstimate(moments=None, amplitude=mu, std=np.sqrt(var), std_of="amplitude",
                              seconds=time.perf_counter() - t0)


def _signal_basis(gain: np.ndarray, noise_cov: np.ndarray, k: int | None) -> np.ndarray:
    """(k, m): whiten with the noise covariance (its null space dropped), then keep the ``k`` leading
    left singular vectors of the whitened gain, the directions in which sources show above the
    noise. ``k=None``: the whitener alone."""
    from trustbench.domains.eeg.solvers import _whitener

    whitener = _whitener(noise_cov, None)  # (r, m), the solvers' rank rule
    if k is None:
        return whitener
    left = np.linalg.svd(whitener @ gain, full_matrices=False)[0]
    return left[:, : min(int(k), left.shape[1])].T @ whitener


def _heads(out, n: int):
    """Mean (sigmoid) and variance (softplus + floor) of network outputs (E, b, 2n)."""
    import torch

    return torch.sigmoid(out[..., :n]), torch.nn.functional.softplus(out[..., n:]) + MIN_VAR


def _nll(mean, var, t):
    """Gaussian NLL without the constant, averaged over samples and sources: one value per member (E,)."""
    import torch

    return 0.5 * (torch.log(var) + (t - mean) ** 2 / var).mean(dim=(-2, -1))
