"""A generic posterior task around any batched simulator, and :func:`from_simulator` for a user's own.

:class:`SimulatorTask` implements the :class:`~trustbench.posterior.base.PosteriorTask` protocol
for a prior and a NumPy simulator ``(θ (n, d), rng) -> x (n, *x_shape)``: observations are either
given (fixed, with optional true parameters and reference posterior samples) or drawn from the
prior for a seed (θ_true ~ prior, x = test_simulator(θ_true)), with reference samples from an
optional ``reference`` function.

:func:`from_simulator` wraps a simulator written for sbi / sbibm (a torch prior, a simulator taking
and returning torch tensors and drawing from torch's global RNG) or for NumPy (drawing from
``np.random``) into such a task, and makes it reproducible: every call runs under a forked torch RNG
and a saved-and-restored NumPy global state, both seeded from the task's Generator.

References
----------
Lueckmann JM, Boelts J, Greenberg D, Gonçalves P, Macke J (2021). Benchmarking simulation-based
inference. AISTATS, PMLR 130, 343-351 (the task shape: prior, simulator, observations, reference
posterior samples).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from trustbench.posterior.base import Observation
from trustbench.posterior.priors import _is_torch, as_prior
from trustbench.validation import check_array, check_int, short_repr

__all__ = ["SimulatorTask", "from_simulator", "make_observations", "as_prior"]

_MAX_CACHE = 4


def _check_rng(rng: Any) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator; got {short_repr(rng)}.")
    return rng


def _parameter_names(names: Any, dim: int) -> tuple[str, ...]:
    if names is None:
        return tuple(f"theta_{i + 1}" for i in range(dim))
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise TypeError(f"parameter_names must be a sequence of strings; got {short_repr(names)}.")
    names = tuple(names)
    if len(names) != dim:
        raise ValueError(f"parameter_names must hold one name per prior dimension ({dim}); got {len(names)}: {short_repr(names)}.")
    if len(set(names)) != len(names):
        raise ValueError(f"parameter_names must be unique; got {short_repr(names)}.")
    return names


def make_observations(
    prior: Any,
    simulate_test: Callable[[np.ndarray, np.random.Generator], np.ndarray],
    n_observations: int,
    seed: int,
    reference: Callable[[np.ndarray, int, np.random.Generator], Any] | None = None,
    n_reference: int = 10_000,
) -> list[Observation]:
    """Observations drawn from the prior for a seed: θ_i ~ prior, x_i = simulate_test(θ_i).

    Parameters
    ----------
    prior : trustbench prior
    simulate_test : callable
        ``(θ (n, d), rng) -> x (n, *x_shape)``.
    n_observations, seed : int
    reference : callable, optional
        ``(x (x_shape), n_reference, rng) -> samples (n_reference, d)`` or ``(samples, meta dict)``;
        each observation gets its own independent stream (``SeedSequence(seed).spawn``).
    n_reference : int

    Returns
    -------
    list of Observation
    """
    n_observations = check_int(n_observations, "n_observations", minimum=1)
    seed = check_int(seed, "seed", minimum=0)
    ss = np.random.SeedSequence([seed, 0x7B7E5C])  # distinct from the training-data streams of seed
    data_ss, *ref_ss = ss.spawn(1 + n_observations)
    rng = np.random.default_rng(data_ss)
    theta = np.asarray(prior.sample(n_observations, rng), dtype=np.float64)
    x = np.asarray(simulate_test(theta, rng), dtype=np.float64)
    out = []
    for i in range(n_observations):
        ref, meta = None, {}
        if reference is not None:
            got = reference(x[i], n_reference, np.random.default_rng(ref_ss[i]))
            ref, meta = (got if isinstance(got, tuple) else (got, {}))
            ref = np.asarray(ref, dtype=np.float64)
        out.append(Observation(x=x[i], theta=theta[i], reference=ref, meta=dict(meta)))
    return out


def cached_observations(cache: dict, seed: int, make: Callable[[int], list[Observation]]) -> list[Observation]:
    """``make(seed)``, remembered in ``cache`` for the last few seeds (references can be costly)."""
    seed = check_int(seed, "seed", minimum=0)
    if seed not in cache:
        if len(cache) >= _MAX_CACHE:
            cache.pop(next(iter(cache)))
        cache[seed] = make(seed)
    return list(cache[seed])


@dataclass(frozen=True, eq=False)
class SimulatorTask:
    """A posterior task from a prior and a batched NumPy simulator.

    Parameters
    ----------
    name : str
    prior : trustbench prior or torch Distribution
        Wrapped by :func:`as_prior`.
    simulator : callable
        ``(θ (n, d), rng) -> x (n, *x_shape)``, NumPy float arrays. Its output is returned as given
        (NaN simulations included: the protocol handles them).
    parameter_names : sequence of str, optional
        Default ``theta_1 ... theta_d``.
    test_simulator : callable, optional
        Makes the observations (``simulate_test``); default the simulator itself. A different one
        studies model misspecification.
    fixed_observations : sequence of Observation, optional
        Returned by :meth:`observations` for every seed.
    n_observations : int
        Observations drawn from the prior per seed when none are fixed.
    reference : callable, optional
        ``(x, n_samples, rng) -> samples`` or ``(samples, meta)``: reference posterior samples.
    n_reference : int
        Reference samples per observation.
    x_shape : tuple of int, optional
        Shape of one simulation, where known.
    n_calibration, n_calibration_draws : int
        Simulations from the prior on which the posterior protocol checks calibration (SBC, coverage,
        TARP), and posterior draws per simulation.
    """

    protocol: ClassVar[str] = "posterior"
    name: str
    prior: Any
    simulator: Callable[[np.ndarray, np.random.Generator], np.ndarray]
    parameter_names: Sequence[str] | None = None
    test_simulator: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None
    fixed_observations: Sequence[Observation] | None = None
    n_observations: int = 10
    reference: Callable[..., Any] | None = None
    n_reference: int = 10_000
    x_shape: tuple[int, ...] | None = None
    n_calibration: int = 200
    n_calibration_draws: int = 100

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"name must be a non-empty string; got {short_repr(self.name)}.")
        prior = as_prior(self.prior)
        object.__setattr__(self, "prior", prior)
        object.__setattr__(self, "parameter_names", _parameter_names(self.parameter_names, int(prior.dim)))
        for arg in ("simulator", "test_simulator", "reference"):
            fn = getattr(self, arg)
            if fn is not None and not callable(fn):
                raise TypeError(f"{arg} must be callable; got {short_repr(fn)}.")
        if self.simulator is None:
            raise TypeError("simulator must be callable; got None.")
        check_int(self.n_observations, "n_observations", minimum=1)
        check_int(self.n_reference, "n_reference", minimum=1)
        check_int(self.n_calibration, "n_calibration", minimum=2)
        check_int(self.n_calibration_draws, "n_calibration_draws", minimum=2)
        if self.fixed_observations is not None:
            obs = tuple(self.fixed_observations)
            if not obs or not all(isinstance(o, Observation) for o in obs):
                raise TypeError(f"fixed_observations must be a non-empty sequence of Observation; got {short_repr(self.fixed_observations)}.")
            object.__setattr__(self, "fixed_observations", obs)
        object.__setattr__(self, "_cache", {})

    @property
    def dim(self) -> int:
        """Number of parameters d."""
        return int(self.prior.dim)

    def _theta(self, theta: Any) -> np.ndarray:
        arr = check_array(theta, "theta", ndim=2)
        if arr.shape[1] != self.dim:
            raise ValueError(f"theta must have shape (n, {self.dim}) for task {self.name!r}; got {arr.shape}.")
        return arr

    def simulate(self, theta: Any, rng: np.random.Generator) -> np.ndarray:
        """Training simulations ``x ~ p(x | θ)``, ``(n, *x_shape)``."""
        return np.asarray(self.simulator(self._theta(theta), _check_rng(rng)), dtype=np.float64)

    def simulate_test(self, theta: Any, rng: np.random.Generator) -> np.ndarray:
        """Simulations from the test simulator (the training one unless ``test_simulator`` is set)."""
        fn = self.test_simulator or self.simulator
        return np.asarray(fn(self._theta(theta), _check_rng(rng)), dtype=np.float64)

    def observations(self, seed: int) -> list[Observation]:
        """The fixed observations, or ``n_observations`` drawn from the prior for ``seed`` (cached)."""
        if self.fixed_observations is not None:
            return list(self.fixed_observations)
        return cached_observations(self._cache, seed, lambda s: make_observations(  # type: ignore[attr-defined]
            self.prior, self.simulate_test, self.n_observations, s, self.reference, self.n_reference))

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_cache"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


# ----------------------------------------------------------------------------- from_simulator


def _to_numpy(value: Any, name: str) -> np.ndarray:
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu().numpy()
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be an array or tensor of numbers; got {short_repr(value)}.")
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be an array or tensor of numbers; got {short_repr(value)} ({err}).") from None


@dataclass(frozen=True, eq=False)
class _ReproducibleSimulator:
    """A user's simulator as ``(θ, rng) -> x``: torch / NumPy global RNGs seeded from ``rng``.

    Torch's global RNG is forked (``torch.random.fork_rng``) and NumPy's legacy global state saved
    and restored around the call, so the user's global state is untouched and the result depends
    only on θ and ``rng``.
    """

    function: Callable[[Any], Any]
    torch_input: bool

    def __call__(self, theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        torch_seed = int(rng.integers(2**63 - 1))
        numpy_seed = int(rng.integers(2**32 - 1))
        state = np.random.get_state()
        try:
            np.random.seed(numpy_seed)
            try:
                import torch
            except ImportError:  # pragma: no cover - torch is a dependency
                torch = None
            if torch is None:
                out = self.function(theta)
            else:
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(torch_seed)
                    arg = torch.as_tensor(theta, dtype=torch.float32) if self.torch_input else theta
                    out = self.function(arg)
        finally:
            np.random.set_state(state)
        x = _to_numpy(out, "simulator output")
        if x.ndim == 0 or x.shape[0] != len(theta):
            raise ValueError(
                f"simulator must return one row per parameter vector: θ of shape {theta.shape} gave output of shape {x.shape}."
            )
        if x.ndim == 1:
            x = x[:, None]
        return x


def _rows(value: Any, name: str, inner: tuple[int, ...], what: str) -> np.ndarray:
    """An array (m, *inner) from a (m, *inner) array/tensor, one (*inner) or (1, *inner) item, or a list of them."""
    if isinstance(value, (list, tuple)):
        if not value:
            raise ValueError(f"{name} must not be empty.")
        items = []
        for i, v in enumerate(value):
            a = _to_numpy(v, f"{name}[{i}]")
            if a.shape == (1, *inner):
                a = a[0]
            if a.shape != inner:
                raise ValueError(f"{name}[{i}] must have shape {inner} or (1, *{inner}) ({what}); got {a.shape}.")
            items.append(a)
        return np.stack(items)
    a = _to_numpy(value, name)
    if a.shape == inner:
        a = a[None]
    if a.ndim != len(inner) + 1 or a.shape[1:] != inner:
        raise ValueError(f"{name} must have shape (m, *{inner}) ({what}); got {a.shape}.")
    return a


def from_simulator(
    simulator: Callable[[Any], Any],
    prior: Any,
    *,
    name: str,
    observations: Any = None,
    reference_samples: Any = None,
    true_parameters: Any = None,
    parameter_names: Sequence[str] | None = None,
    n_observations: int = 10,
    n_calibration: int = 200,
    n_calibration_draws: int = 100,
) -> SimulatorTask:
    """A posterior task from any batched simulator ``simulator(θ) -> x``.

    Parameters
    ----------
    simulator : callable
        ``θ (n, d) -> x (n, *x_shape)``. With a torch ``prior`` it receives a float32 torch tensor
        (sbi / sbibm's ``task.get_simulator()``), with a trustbench prior a float64 NumPy array; it
        may return a tensor or an array (converted to float64 NumPy). It may draw from torch's or
        NumPy's global RNG: each call is seeded from the task's Generator and leaves both global
        states as they were.
    prior : torch.distributions.Distribution or trustbench prior
        Over ``(d,)`` parameter vectors.
    name : str
    observations : array_like (m, *x_shape), or a list of ``x_shape`` / ``(1, *x_shape)`` items, optional
        Fixed observations (sbibm's ``task.get_observation(i)`` is ``(1, k)``). Without them
        ``n_observations`` are drawn from the prior for each seed.
    reference_samples : list of m arrays (n_ref, d), or one array (m, n_ref, d), optional
        Reference posterior samples of the fixed observations (``task.get_reference_posterior_samples(i)``).
    true_parameters : array_like (m, d) or list of (d,) / (1, d), optional
        The parameters that made the fixed observations.
    parameter_names : sequence of str, optional
    n_observations : int
    n_calibration, n_calibration_draws : int
        Calibration simulations and posterior draws per simulation (posterior protocol).

    Returns
    -------
    SimulatorTask

    Examples
    --------
    >>> import sbibm                                            # doctest: +SKIP
    >>> t = sbibm.get_task("two_moons")                         # doctest: +SKIP
    >>> task = from_simulator(t.get_simulator(), t.get_prior_dist(), name="two_moons",
    ...     observations=[t.get_observation(i) for i in range(1, 11)],
    ...     reference_samples=[t.get_reference_posterior_samples(i) for i in range(1, 11)],
    ...     true_parameters=[t.get_true_parameters(i) for i in range(1, 11)])  # doctest: +SKIP
    """
    if not callable(simulator):
        raise TypeError(f"simulator must be callable (θ (n, d) -> x (n, ...)); got {short_repr(simulator)}.")
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty string; got {short_repr(name)}.")
    torch_prior = _is_torch(prior)
    tb_prior = as_prior(prior)
    d = int(tb_prior.dim)
    names = _parameter_names(parameter_names, d)
    n_observations = check_int(n_observations, "n_observations", minimum=1)
    sim = _ReproducibleSimulator(simulator, torch_input=torch_prior)

    probe_rng = np.random.default_rng(0)
    probe = np.asarray(tb_prior.sample(2, probe_rng), dtype=np.float64)
    try:
        x_probe = sim(probe, probe_rng)
    except ValueError as err:
        raise ValueError(f"simulator (probed with 2 prior draws): {err}") from None
    x_shape = tuple(int(s) for s in x_probe.shape[1:])

    fixed = None
    if observations is None:
        if reference_samples is not None or true_parameters is not None:
            given = "reference_samples" if reference_samples is not None else "true_parameters"
            raise ValueError(f"{given} needs fixed observations: pass observations as well (got observations=None).")
    else:
        xs = _rows(observations, "observations", x_shape, f"the simulator returns x_shape {x_shape}")
        m = len(xs)
        thetas: list[Any] = [None] * m
        refs: list[Any] = [None] * m
        if true_parameters is not None:
            tp = _rows(true_parameters, "true_parameters", (d,), f"the prior has dimension {d}")
            if len(tp) != m:
                raise ValueError(f"true_parameters must hold one row per observation ({m}); got {len(tp)}.")
            thetas = list(tp)
        if reference_samples is not None:
            if isinstance(reference_samples, (list, tuple)):
                raw = [_to_numpy(r, f"reference_samples[{i}]") for i, r in enumerate(reference_samples)]
            else:
                arr = _to_numpy(reference_samples, "reference_samples")
                raw = list(arr) if arr.ndim == 3 else [arr]
            if len(raw) != m:
                raise ValueError(f"reference_samples must hold one sample set per observation ({m}); got {len(raw)}.")
            for i, r in enumerate(raw):
                if r.ndim != 2 or r.shape[1] != d or len(r) < 1:
                    raise ValueError(f"reference_samples[{i}] must have shape (n_ref, {d}) (the prior has dimension {d}); got {r.shape}.")
            refs = raw
        fixed = tuple(Observation(x=xs[i], theta=thetas[i], reference=refs[i],
                                  meta={"method": "given"} if refs[i] is not None else {}) for i in range(m))
    return SimulatorTask(name=name, prior=tb_prior, simulator=sim, parameter_names=names,
                         fixed_observations=fixed, n_observations=n_observations, x_shape=x_shape,
                         n_calibration=n_calibration, n_calibration_draws=n_calibration_draws)
