"""sbibm-compatible toy posterior tasks with exact (or diagnosed) reference posteriors.

Four tasks of the simulation-based inference benchmark of Lueckmann et al. (2021), same priors,
simulators and names as the ``sbibm`` package: :class:`GaussianLinear`, :class:`TwoMoons`,
:class:`GaussianMixture` and :class:`SLCP`. Each has a vectorized NumPy simulator, its exact
``log_likelihood`` and a ``reference_posterior(x, n_samples, rng)``:

========================  ======================================================================
task                      reference posterior
========================  ======================================================================
``sbibm/gaussian_linear`` closed form: N(x/2, 0.05 I) (conjugate Gaussian)
``sbibm/two_moons``       exact: inverse transform of the simulator noise, then truncation to the box
``sbibm/gaussian_mixture`` exact: the likelihood mixture centred at x, truncated to the box
``sbibm/slcp``            ensemble MCMC on the exact likelihood in the orthant θ3, θ4 ≥ 0, then
                          random sign flips of θ3 and θ4 (the posterior is invariant under each)
========================  ======================================================================

Observations are drawn from the prior for a seed (θ_true ~ prior, x = simulator(θ_true)); sbibm's
ten stored observations and reference samples are not downloadable here. A user who has sbibm
installed passes them through :func:`trustbench.posterior.task.from_simulator` (``observations=``,
``reference_samples=``, ``true_parameters=``).

References
----------
Lueckmann JM, Boelts J, Greenberg D, Gonçalves P, Macke J (2021). Benchmarking simulation-based
inference. AISTATS, PMLR 130, 343-351 (appendix T.1 Gaussian linear, T.3 SLCP, T.7 Gaussian mixture,
T.8 two moons).
Greenberg D, Nonnenmacher M, Macke J (2019). Automatic posterior transformation for
likelihood-free inference. ICML (the two-moons simulator).
Papamakarios G, Sterratt D, Murray I (2019). Sequential neural likelihood. AISTATS (SLCP).
Sisson SA, Fan Y, Tanaka MM (2007). Sequential Monte Carlo without likelihoods. PNAS 104, 1760-1765
(the Gaussian mixture).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from trustbench.posterior.base import Observation
from trustbench.posterior.priors import BoxUniform, Normal
from trustbench.posterior.reference import reference_posterior as _mcmc_reference
from trustbench.posterior.task import cached_observations, make_observations
from trustbench.validation import check_array, check_int, short_repr

__all__ = ["GaussianLinear", "TwoMoons", "GaussianMixture", "SLCP", "PUBLISHED_NPE_C2ST", "PUBLISHED_SOURCE"]

PUBLISHED_SOURCE = (
    "sbibm NPE (sbi's nsf, 1 round), C2ST on sbibm's 10 observations: the maintainers' re-run of Lueckmann et al. "
    "(2021) with sbi 0.23 (github.com/sbi-benchmark/results, benchmarking_sbi_023/results/re-sbibm_sbi_023.csv); "
    "their observations and reference samples, not ours")
"""Where :data:`PUBLISHED_NPE_C2ST` comes from."""

PUBLISHED_NPE_C2ST: dict[str, dict[int, tuple[float, ...]]] = {
    "sbibm/gaussian_linear": {
        1_000: (0.77195, 0.75895, 0.77905, 0.8331, 0.6936, 0.64625, 0.71745, 0.8186, 0.70855, 0.80565),
        10_000: (0.57005, 0.54285, 0.5674, 0.60545, 0.54625, 0.53615, 0.54065, 0.5966, 0.5537, 0.5719),
        100_000: (0.50195, 0.501, 0.51005, 0.51465, 0.4991, 0.5032, 0.50295, 0.5213, 0.5106, 0.51575)},
    "sbibm/two_moons": {
        1_000: (0.6053, 0.6076, 0.6343, 0.6685, 0.8144, 0.68145, 0.6076, 0.66145, 0.6394, 0.754),
        10_000: (0.5654, 0.5463, 0.5862, 0.55045, 0.61645, 0.58555, 0.6102, 0.6047, 0.5502, 0.56725),
        100_000: (0.5061, 0.5437, 0.52305, 0.519, 0.5245, 0.53, 0.534, 0.52275, 0.5308, 0.55245)},
    "sbibm/gaussian_mixture": {
        1_000: (0.604, 0.63375, 0.6543, 0.58085, 0.6675, 0.6454, 0.65555, 0.61155, 0.67705, 0.6602),
        10_000: (0.51855, 0.5266, 0.6049, 0.4996, 0.5367, 0.65735, 0.5341, 0.52965, 0.62885, 0.5945),
        100_000: (0.5042, 0.53235, 0.52285, 0.5267, 0.5075, 0.51205, 0.5202, 0.51955, 0.53555, 0.53225)},
    "sbibm/slcp": {
        1_000: (0.98695, 0.9825, 0.9652, 0.9902, 0.9563, 0.96305, 0.99235, 0.99055, 0.9584, 0.9731),
        10_000: (0.93675, 0.9111, 0.84815, 0.9313, 0.8337, 0.869, 0.9345, 0.90215, 0.9084, 0.8958),
        100_000: (0.8672, 0.91405, 0.80155, 0.81885, 0.80225, 0.7864, 0.90025, 0.854, 0.8283, 0.7828)},
}
"""Published C2ST of sbibm's NPE by task and number of simulations, one value per sbibm observation
1..10 (from :data:`PUBLISHED_SOURCE`): the level our estimators should reach at the same budget."""



class _SBIBMTask:
    """Shared plumbing of the toy tasks (abstract): protocol methods, observation cache, checks."""

    name: ClassVar[str]
    x_dim: ClassVar[int]
    protocol: ClassVar[str] = "posterior"
    n_observations: int
    n_reference: int

    def __post_init__(self) -> None:
        check_int(self.n_observations, "n_observations", minimum=1)
        check_int(self.n_reference, "n_reference", minimum=1)
        object.__setattr__(self, "_cache", {})

    @property
    def dim(self) -> int:
        return int(self.prior.dim)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(f"theta_{i + 1}" for i in range(self.dim))

    @property
    def x_shape(self) -> tuple[int, ...]:
        return (self.x_dim,)

    def _theta(self, theta: Any) -> np.ndarray:
        arr = check_array(theta, "theta", ndim=(1, 2), allow_nan=False)
        if arr.ndim == 1 and arr.size == self.dim:
            arr = arr[None]
        if arr.ndim != 2 or arr.shape[1] != self.dim:
            raise ValueError(f"theta must have shape (n, {self.dim}) for {self.name}; got {arr.shape}.")
        return arr

    def _x(self, x: Any) -> np.ndarray:
        if isinstance(x, Observation):
            x = x.x
        arr = check_array(x, "x")
        if arr.shape == (1, self.x_dim):
            arr = arr[0]
        if arr.shape != (self.x_dim,):
            raise ValueError(f"x must be one observation of shape ({self.x_dim},) for {self.name}; got {arr.shape}.")
        return arr

    @staticmethod
    def _rng(rng: Any) -> np.random.Generator:
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator; got {short_repr(rng)}.")
        return rng

    def simulate_test(self, theta: Any, rng: np.random.Generator) -> np.ndarray:
        """Same simulator as :meth:`simulate` (no model error in these tasks)."""
        return self.simulate(theta, rng)

    def _timed_reference(self, x: np.ndarray, n_samples: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        start = time.perf_counter()
        samples, meta = self.reference_posterior(x, n_samples, rng)
        return samples, {**meta, "seconds": time.perf_counter() - start}

    @property
    def published_c2st(self) -> dict[int, tuple[float, ...]]:
        """sbibm's published NPE C2ST by number of simulations (:data:`PUBLISHED_NPE_C2ST`); empty for
        a variant sbibm did not run."""
        return PUBLISHED_NPE_C2ST.get(self.name, {})

    @property
    def published_source(self) -> str:
        """Where :attr:`published_c2st` comes from."""
        return PUBLISHED_SOURCE

    def observations(self, seed: int) -> list[Observation]:
        """``n_observations`` observations drawn from the prior for ``seed``, each with
        ``n_reference`` reference posterior samples (cached per seed)."""
        return cached_observations(self._cache, seed, lambda s: make_observations(  # type: ignore[attr-defined]
            self.prior, self.simulate_test, self.n_observations, s, self._timed_reference, self.n_reference))

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_cache": {}}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


# ----------------------------------------------------------------------------- Gaussian linear


@dataclass(frozen=True, eq=False)
class GaussianLinear(_SBIBMTask):
    """sbibm's ``gaussian_linear``: θ ~ N(0, 0.1 I_d), x | θ ~ N(θ, 0.1 I_d), d = 10.

    The posterior is Gaussian (conjugacy): precision 1/0.1 + 1/0.1 = 20, so
    ``θ | x ~ N(x / 2, 0.05 I)``. ``dim`` other than 10 gives the same family under the name
    ``gaussian_linear_<dim>d``.
    """

    n_observations: int = 10
    n_reference: int = 10_000
    dim: int = 10

    name: ClassVar[str] = "sbibm/gaussian_linear"
    prior_var: ClassVar[float] = 0.1
    noise_var: ClassVar[float] = 0.1

    def __post_init__(self) -> None:
        check_int(self.dim, "dim", minimum=1)
        super().__post_init__()
        if self.dim != 10:
            object.__setattr__(self, "name", f"gaussian_linear_{self.dim}d")

    @property
    def x_dim(self) -> int:  # type: ignore[override]
        return self.dim

    @property
    def prior(self) -> Normal:
        return Normal(np.zeros(self.dim), self.prior_var * np.eye(self.dim))

    def simulate(self, theta: Any, rng: np.random.Generator) -> np.ndarray:
        t = self._theta(theta)
        return t + math.sqrt(self.noise_var) * self._rng(rng).standard_normal(t.shape)

    def log_likelihood(self, theta: Any, x: Any) -> np.ndarray:
        """log N(x; θ, 0.1 I) for each row of θ, ``(n,)``."""
        t, xo = self._theta(theta), self._x(x)
        return -0.5 * ((xo - t) ** 2).sum(axis=1) / self.noise_var - 0.5 * self.dim * math.log(2 * math.pi * self.noise_var)

    def posterior_mean_cov(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        """Closed-form posterior mean and covariance: Σ = (Σ_p⁻¹ + Σ_n⁻¹)⁻¹, μ = Σ Σ_n⁻¹ x."""
        xo = self._x(x)
        var = 1.0 / (1.0 / self.prior_var + 1.0 / self.noise_var)
        return var / self.noise_var * xo, var * np.eye(self.dim)

    def reference_posterior(self, x: Any, n_samples: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        """Exact draws from the Gaussian posterior."""
        mean, cov = self.posterior_mean_cov(x)
        n = check_int(n_samples, "n_samples", minimum=1)
        draws = mean + np.sqrt(np.diag(cov)) * self._rng(rng).standard_normal((n, self.dim))
        return draws, {"method": "analytic"}


# ----------------------------------------------------------------------------- two moons


@dataclass(frozen=True, eq=False)
class TwoMoons(_SBIBMTask):
    """sbibm's ``two_moons``: θ ~ U(-1, 1)², a ~ U(-π/2, π/2), r ~ N(0.1, 0.01²),
    x = (r cos a + 0.25, r sin a) + (-|θ1 + θ2| / √2, (θ2 - θ1) / √2).

    Likelihood (change of variables): with u = x - (0.25, 0) - s(θ), s(θ) the shift above,
    r = sign(u1) |u| and a = arctan(u2 / u1), the map (r, a) -> u has Jacobian |r|, so
    ``p(x | θ) = N(r; 0.1, 0.01²) / (π |r|)``.

    Exact reference: s(θ) is a rotation of (θ1 + θ2, θ2 - θ1) with the first coordinate folded, so
    each shift s with s1 ≤ 0 has exactly two preimages θ (one per sign of θ1 + θ2), each with
    |det ∂s/∂θ| = 1. Drawing u from the simulator noise, s = x - (0.25, 0) - u, a random branch, and
    keeping θ in the box gives exact posterior draws. The posterior is bimodal (two crescents
    mirrored in θ1 + θ2 = 0).
    """

    n_observations: int = 10
    n_reference: int = 10_000

    name: ClassVar[str] = "sbibm/two_moons"
    x_dim: ClassVar[int] = 2
    r_mean: ClassVar[float] = 0.1
    r_std: ClassVar[float] = 0.01
    offset: ClassVar[float] = 0.25

    @property
    def prior(self) -> BoxUniform:
        return BoxUniform(-np.ones(2), np.ones(2))

    @staticmethod
    def _shift(t: np.ndarray) -> np.ndarray:
        return np.stack([-np.abs(t[:, 0] + t[:, 1]), t[:, 1] - t[:, 0]], axis=1) / math.sqrt(2.0)

    def _noise(self, n: int, rng: np.random.Generator) -> np.ndarray:
        a = rng.uniform(-math.pi / 2, math.pi / 2, n)
        r = self.r_mean + self.r_std * rng.standard_normal(n)
        return np.stack([r * np.cos(a) + self.offset, r * np.sin(a)], axis=1)

    def simulate(self, theta: Any, rng: np.random.Generator) -> np.ndarray:
        t = self._theta(theta)
        return self._noise(len(t), self._rng(rng)) + self._shift(t)

    def log_likelihood(self, theta: Any, x: Any) -> np.ndarray:
        """log p(x | θ) = log N(r; 0.1, 0.01²) - log π - log |r| (see the class docstring), ``(n,)``."""
        t, xo = self._theta(theta), self._x(x)
        u = xo - np.array([self.offset, 0.0]) - self._shift(t)
        r = np.where(u[:, 0] >= 0, 1.0, -1.0) * np.hypot(u[:, 0], u[:, 1])
        with np.errstate(divide="ignore"):
            out = (-0.5 * ((r - self.r_mean) / self.r_std) ** 2 - math.log(self.r_std * math.sqrt(2 * math.pi))
                   - math.log(math.pi) - np.log(np.abs(r)))
        return np.where(np.abs(r) > 0, out, -np.inf)

    @property
    def max_log_likelihood(self) -> float:
        """sup_θ,x log p(x | θ): N(r; μ, σ²)/r peaks at r* = (μ + √(μ² - 4σ²)) / 2 (a bound for rejection)."""
        mu, sd = self.r_mean, self.r_std
        r = 0.5 * (mu + math.sqrt(mu**2 - 4 * sd**2))
        return -0.5 * ((r - mu) / sd) ** 2 - math.log(sd * math.sqrt(2 * math.pi)) - math.log(math.pi) - math.log(r)

    def reference_posterior(self, x: Any, n_samples: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        """Exact draws by inverting the simulator noise (class docstring); rejection outside the box."""
        xo = self._x(x)
        n = check_int(n_samples, "n_samples", minimum=1)
        rng = self._rng(rng)
        out, n_acc, n_prop = [], 0, 0
        while n_acc < n:
            if n_prop > 1000 * n + 1_000_000:
                raise RuntimeError(f"x = {xo} lies too far from the simulator's range: no posterior mass inside the prior box.")
            m = max(2 * (n - n_acc), 1000)
            u = self._noise(m, rng)
            s = xo - u
            branch = np.where(rng.random(m) < 0.5, 1.0, -1.0)
            total = branch * math.sqrt(2.0) * np.abs(s[:, 0])  # θ1 + θ2
            diff = math.sqrt(2.0) * s[:, 1]  # θ2 - θ1
            theta = np.stack([(total - diff) / 2, (total + diff) / 2], axis=1)
            keep = (s[:, 0] <= 0) & (np.abs(theta) <= 1).all(axis=1)
            out.append(theta[keep])
            n_acc += int(keep.sum())
            n_prop += m
        return np.concatenate(out)[:n], {"method": "exact (noise inversion + rejection)", "acceptance": n_acc / n_prop}


# ----------------------------------------------------------------------------- Gaussian mixture


@dataclass(frozen=True, eq=False)
class GaussianMixture(_SBIBMTask):
    """sbibm's ``gaussian_mixture``: θ ~ U(-10, 10)², x | θ ~ 0.5 N(θ, I) + 0.5 N(θ, 0.01 I).

    The likelihood depends on x - θ only and is symmetric, so the posterior is the same mixture
    centred at x, truncated to the box: sampled exactly by drawing from the mixture and rejecting
    draws outside the box (the truncation reweights the components correctly).
    """

    n_observations: int = 10
    n_reference: int = 10_000

    name: ClassVar[str] = "sbibm/gaussian_mixture"
    x_dim: ClassVar[int] = 2
    scales: ClassVar[tuple[float, float]] = (1.0, 0.1)
    bound: ClassVar[float] = 10.0

    @property
    def prior(self) -> BoxUniform:
        return BoxUniform(-self.bound * np.ones(2), self.bound * np.ones(2))

    def _mixture(self, centre: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        scale = np.where(rng.random(len(centre)) < 0.5, self.scales[0], self.scales[1])
        return centre + scale[:, None] * rng.standard_normal(centre.shape)

    def simulate(self, theta: Any, rng: np.random.Generator) -> np.ndarray:
        t = self._theta(theta)
        return self._mixture(t, self._rng(rng))

    def log_likelihood(self, theta: Any, x: Any) -> np.ndarray:
        """log(0.5 N(x; θ, I) + 0.5 N(x; θ, 0.01 I)), ``(n,)``."""
        from scipy.special import logsumexp

        t, xo = self._theta(theta), self._x(x)
        sq = ((xo - t) ** 2).sum(axis=1)
        comps = [math.log(0.5) - 0.5 * sq / s**2 - 2 * math.log(s) - math.log(2 * math.pi) for s in self.scales]
        return logsumexp(np.stack(comps), axis=0)

    def reference_posterior(self, x: Any, n_samples: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        """Exact draws: the mixture centred at x, truncated to the prior box by rejection."""
        xo = self._x(x)
        n = check_int(n_samples, "n_samples", minimum=1)
        rng = self._rng(rng)
        out, n_acc, n_prop = [], 0, 0
        while n_acc < n:
            if n_prop > 1000 * n + 1_000_000:
                raise RuntimeError(f"x = {xo} lies too far outside the prior box: no posterior mass inside it.")
            m = max(2 * (n - n_acc), 1000)
            theta = self._mixture(np.broadcast_to(xo, (m, 2)), rng)
            keep = (np.abs(theta) <= self.bound).all(axis=1)
            out.append(theta[keep])
            n_acc += int(keep.sum())
            n_prop += m
        return np.concatenate(out)[:n], {"method": "exact (truncated mixture)", "acceptance": n_acc / n_prop}


# ----------------------------------------------------------------------------- SLCP


@dataclass(frozen=True, eq=False)
class SLCP(_SBIBMTask):
    """sbibm's ``slcp`` (simple likelihood, complex posterior): θ ~ U(-3, 3)⁵ and x holds 4 i.i.d.
    draws (flattened, ``(8,)``) of a 2-D Gaussian with mean (θ1, θ2), standard deviations
    s1 = θ3², s2 = θ4² and correlation ρ = tanh(θ5).

    The likelihood depends on θ3 and θ4 through their squares, so the posterior is invariant under
    θ3 -> -θ3 and θ4 -> -θ4 (four symmetric modes). The reference runs
    :func:`~trustbench.posterior.reference.reference_posterior` (ensemble MCMC) on the exact
    likelihood restricted to θ3, θ4 ≥ 0, where the prior is still uniform, then flips the signs of
    θ3 and θ4 independently with probability 1/2 — exact, since flips map the folded posterior
    onto the full one. Its diagnostics (R-hat, ESS, acceptance) are recorded in the meta.

    Parameters
    ----------
    n_observations, n_reference : int
    mcmc : dict, optional
        Keyword arguments for :func:`~trustbench.posterior.reference.reference_posterior`
        (``n_walkers``, ``burn``, ``thin``, ...). Default ``n_walkers=32, burn=2000, thin=50``
        (15,650 kept-phase iterations per walker for 10,000 samples: rank-normalized split-R̂ ≈ 1.005
        over the 32 walkers, bulk ESS ≈ 4,000; about 5-15 s per observation on one core).
    """

    n_observations: int = 10
    n_reference: int = 10_000
    mcmc: dict | None = None

    name: ClassVar[str] = "sbibm/slcp"
    x_dim: ClassVar[int] = 8
    n_draws: ClassVar[int] = 4
    bound: ClassVar[float] = 3.0

    @property
    def prior(self) -> BoxUniform:
        return BoxUniform(-self.bound * np.ones(5), self.bound * np.ones(5))

    def simulate(self, theta: Any, rng: np.random.Generator) -> np.ndarray:
        t = self._theta(theta)
        rng = self._rng(rng)
        s1, s2, rho = t[:, 2] ** 2, t[:, 3] ** 2, np.tanh(t[:, 4])
        e = rng.standard_normal((len(t), self.n_draws, 2))
        x1 = t[:, None, 0] + s1[:, None] * e[..., 0]
        x2 = t[:, None, 1] + s2[:, None] * (rho[:, None] * e[..., 0] + np.sqrt(1 - rho[:, None] ** 2) * e[..., 1])
        return np.stack([x1, x2], axis=2).reshape(len(t), 2 * self.n_draws)

    def log_likelihood(self, theta: Any, x: Any) -> np.ndarray:
        """Σ_j log N(x_j; (θ1, θ2), S) with S = [[s1², ρ s1 s2], [ρ s1 s2, s2²]], ``(n,)``;
        -inf where s1 or s2 is 0."""
        return self._log_likelihood(self._theta(theta), self._x(x).reshape(self.n_draws, 2))

    def _log_likelihood(self, t: np.ndarray, xo: np.ndarray) -> np.ndarray:
        """:meth:`log_likelihood` without argument checks (the MCMC inner loop): t (n, 5), xo (4, 2)."""
        s1, s2, a5 = t[:, 2] ** 2, t[:, 3] ** 2, np.abs(t[:, 4])
        rho = np.tanh(t[:, 4])
        log_1mr2 = -2.0 * (a5 + np.log1p(np.exp(-2.0 * a5)) - math.log(2.0))  # log(1 - ρ²) = -2 log cosh θ5
        with np.errstate(divide="ignore", invalid="ignore"):
            z1 = (xo[:, 0] - t[:, 0:1]) / s1[:, None]
            z2 = (xo[:, 1] - t[:, 1:2]) / s2[:, None]
            q = (z1 * z1 - 2 * rho[:, None] * z1 * z2 + z2 * z2).sum(axis=1) * np.exp(-log_1mr2)
            out = -self.n_draws * (math.log(2 * math.pi) + np.log(s1 * s2) + 0.5 * log_1mr2) - 0.5 * q
        return np.where((s1 > 0) & (s2 > 0) & np.isfinite(out), out, -np.inf)

    def _folded_prior(self) -> BoxUniform:
        low = -self.bound * np.ones(5)
        low[2:4] = 0.0
        return BoxUniform(low, self.bound * np.ones(5))

    def reference_posterior(self, x: Any, n_samples: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        """Ensemble MCMC on the folded posterior (θ3, θ4 ≥ 0), then random sign flips of θ3, θ4."""
        xo = self._x(x)
        n = check_int(n_samples, "n_samples", minimum=1)
        rng = self._rng(rng)
        options = {"n_walkers": 32, "burn": 2000, "thin": 50, **(self.mcmc or {})}
        xr = xo.reshape(self.n_draws, 2)
        samples, meta = _mcmc_reference(lambda t: self._log_likelihood(t, xr), self._folded_prior(), n, rng, **options)
        signs = np.where(rng.random((n, 2)) < 0.5, -1.0, 1.0)
        samples = samples.copy()
        samples[:, 2:4] *= signs
        return samples, {**meta, "method": "ensemble_mcmc (folded θ3, θ4 >= 0) + sign flips"}

    def modes(self, x: Any) -> np.ndarray:
        """The four sign-symmetric posterior modes ``(4, 5)`` (θ3, θ4 signs ++, +-, -+, --).

        With a flat prior the mode is the maximum-likelihood estimate: the sample mean, the biased
        sample standard deviations (θ3 = s1^(1/2), θ4 = s2^(1/2)) and the sample correlation
        (θ5 = artanh ρ̂). If it falls outside the prior box, the box-constrained maximum is found
        numerically (L-BFGS-B) from the clipped estimate.
        """
        xo = self._x(x).reshape(self.n_draws, 2)
        mean = xo.mean(axis=0)
        cov = np.cov(xo.T, bias=True)
        sd = np.sqrt(np.diag(cov))
        with np.errstate(divide="ignore", invalid="ignore"):
            rho = cov[0, 1] / (sd[0] * sd[1])
            mode = np.array([mean[0], mean[1], math.sqrt(sd[0]), math.sqrt(sd[1]), float(np.arctanh(np.clip(rho, -1, 1)))])
        if not (np.isfinite(mode).all() and (np.abs(mode) <= self.bound).all()):
            from scipy.optimize import minimize

            start = np.clip(np.nan_to_num(mode, nan=0.0, posinf=self.bound, neginf=-self.bound), -self.bound, self.bound)
            start[2:4] = np.clip(start[2:4], 1e-3, self.bound)
            bounds = [(-self.bound, self.bound)] * 2 + [(1e-6, self.bound)] * 2 + [(-self.bound, self.bound)]
            res = minimize(lambda t: -self.log_likelihood(t[None], xo.ravel())[0], start, method="L-BFGS-B", bounds=bounds)
            mode = res.x
        signs = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]], dtype=float)
        out = np.repeat(mode[None], 4, axis=0)
        out[:, 2:4] *= signs
        return out
