"""A synthetic ICU with a known data-generating process (a latent-physiology structural causal model).

Every stay has four latent physiological states, standardised scores that evolve hour by hour as a
stable vector autoregression around a stay-specific mean (a multivariate AR(1)),

    Z_t - mu_i = A (Z_{t-1} - mu_i) + eps_t,   eps_t ~ N(0, diag(sigma^2)),
    Z = (severity S, kidney K, inflammation I, neuro N),

and 20 hourly vitals and labs (YAIB / ricu short names, the units of MIMIC, see ``UNITS``) are
functions of the latents plus between-stay and measurement noise. Vitals are recorded almost every
hour, labs in panels every few hours, more often when the patient is sicker (informative
missingness: the chance of a panel rises with exp(severity)); on top, each site removes recorded
values by a configurable mechanism (MCAR, MAR given age and time, MNAR given the value itself).

Outcomes and what their truth conditions on (all exact, from the generating model):

``mortality``
    One label per stay: death in the ICU after the first 24 h. ``p_true = sigmoid(eta + tau * t)``
    with ``eta`` linear in the first-24-h means of S, K and I, age, age band, sex and the site's
    ``prevalence``, ``t`` the stay's treatment and ``tau`` its (heterogeneous) treatment effect on
    the log-odds. Conditions on the latent path of hours 0-23, the statics and the treatment.
``effect``
    The same death label (one world, one outcome). Treatment is decided at hour 24 with a
    propensity that rises with first-day severity and inflammation (confounding). The truth holds
    ``p0 = P(death | do(t=0))``, ``p1 = P(death | do(t=1))``, ``ite = p1 - p0`` and ``p_true``
    (the assigned arm's probability). The treatment does not change the recorded series.
``delirium``
    One label per stay; ``p_true = sigmoid(...)`` of the first-24-h mean of N and S, age, age band,
    sex and first-day sedation (a latent stay-level 0/1 that lowers hr, resp and sbp).
``aki``
    Hourly labels, KDIGO-style acute kidney injury with onset in the next 6 h. In discrete time the
    onset hazard at hour s >= 1 is ``lambda_s = exp(a + 0.9 K_s + 0.35 S_s + ...)``:
    ``P(onset at s | no onset before s) = 1 - exp(-lambda_s)``. The onset is the first hour of
    oliguria: from it on, urine output is < 0.4 mL/kg/h, before it always >= 0.55 mL/kg/h, and the
    creatinine never rises by 0.3 mg/dL or by a factor 1.5 within a stay, so the KDIGO urine
    criterion (< 0.5 mL/kg/h for 6 h) is what marks the injury and nothing else does. One ``outc``
    row per stay-hour ``t = 0, 1, ...`` while no onset has happened by ``t`` (rows from the onset
    hour on are dropped, as in YAIB); ``label = 1`` when the onset ``T`` lies in ``(t, t + 6]``.
    ``p_true = 1 - exp(-(lambda_{t+1} + ... + lambda_{t+6}))``, conditional on the latent path
    (latents are simulated 6 h past the end of the series, so there is no end effect).
``kidney_function``
    Regression: the creatinine measured at hour 48 (in the site's units). Its creatinine is
    ``B_i exp(clip(g K_48, -c_i, c_i)) exp(clip(e, -d_i, d_i))`` with a stay baseline ``B_i`` and
    Gaussian ``e``. ``mu_true = E[label | Z_23, mu_i, B_i, site]``, which, the latent process being
    Markov, equals the conditional mean given the whole latent path of hours 0-23 and the statics.
    ``K_48 | Z_23`` is Gaussian (mean ``mu + A^25 (Z_23 - mu)``, covariance
    ``sum_{j<25} A^j Sigma A^j'``) and ``E[exp(a clip(X, lo, hi))]`` has a closed form in normal
    CDFs, so ``mu_true`` is exact.

For ``mortality``, ``delirium``, ``kidney_function`` and ``effect`` the cohort's ``dyn`` holds the
first 24 h only (as YAIB's mortality24); for ``aki`` the full series.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trustbench.domains.icu.cohort import Cohort
from trustbench.validation import check_choice, check_int

__all__ = [
    "ENDPOINTS",
    "VARIABLES",
    "UNITS",
    "LATENTS",
    "Site",
    "SITES",
    "SyntheticICU",
    "simulate_icu",
]

ENDPOINTS = ("mortality", "aki", "delirium", "kidney_function", "effect")
VARIABLES = (
    "hr", "sbp", "dbp", "map", "resp", "o2sat", "temp", "fio2", "glu", "crea",
    "bun", "k", "na", "lact", "wbc", "hgb", "plt", "ph", "bicar", "urine",
)  # fmt: skip
UNITS = {
    "hr": "/min", "sbp": "mmHg", "dbp": "mmHg", "map": "mmHg", "resp": "/min", "o2sat": "%",
    "temp": "C", "fio2": "%", "glu": "mg/dL", "crea": "mg/dL", "bun": "mg/dL", "k": "mmol/L",
    "na": "mmol/L", "lact": "mmol/L", "wbc": "G/L", "hgb": "g/dL", "plt": "G/L", "ph": "1",
    "bicar": "mmol/L", "urine": "mL/h",
}  # fmt: skip
LATENTS = ("severity", "kidney", "inflammation", "neuro")
MECHANISMS = ("mcar", "mar", "mnar")

# Other units a site may record in: (variable, unit) -> (scale, shift), recorded = scale * x + shift.
_CONVERSIONS = {
    ("temp", "F"): (9.0 / 5.0, 32.0),
    ("crea", "umol/L"): (88.42, 0.0),
    ("glu", "mmol/L"): (1.0 / 18.016, 0.0),
    ("bun", "mmol/L"): (0.357, 0.0),  # urea nitrogen mg/dL -> urea mmol/L
    ("hgb", "g/L"): (10.0, 0.0),
    ("lact", "mg/dL"): (9.008, 0.0),
    ("fio2", "fraction"): (0.01, 0.0),
}

AKI_HORIZON = 6  # hours ahead for the AKI label
KF_HOUR = 48  # kidney_function: the creatinine at this hour
FIRST_DAY = 24

# Latent dynamics: Z_t - mu = A (Z_{t-1} - mu) + eps, order (S, K, I, N); spectral radius < 1.
_A = np.array([
    [0.92, 0.00, 0.04, 0.00],
    [0.05, 0.94, 0.00, 0.00],
    [0.03, 0.00, 0.93, 0.00],
    [0.03, 0.00, 0.03, 0.94],
])  # fmt: skip
_SIGMA = np.array([0.25, 0.18, 0.25, 0.22])  # innovation standard deviations
_SD0 = _SIGMA / np.sqrt(1.0 - np.diag(_A) ** 2)  # admission deviation from the stay mean
_SD_MU = np.array([0.8, 0.7, 0.8, 0.7])  # between-stay sd of the stay means
_CORR_MU = np.array([
    [1.0, 0.4, 0.5, 0.3],
    [0.4, 1.0, 0.2, 0.2],
    [0.5, 0.2, 1.0, 0.2],
    [0.3, 0.2, 0.2, 1.0],
])  # fmt: skip
_CHOL_MU = np.linalg.cholesky(_CORR_MU * np.outer(_SD_MU, _SD_MU))
_G_CREA = 0.15  # log-creatinine per unit kidney latent

# Outcome intercepts (tuned for site A: mortality ~ 15 %, delirium ~ 28 %, AKI within 48 h ~ 25 %).
_MORT0, _DEL0, _AKI0, _PROP0 = -2.3, -1.95, -5.6, -0.9
_AGE_BANDS = np.array([45.0, 65.0, 75.0])  # bands <45, 45-65, 65-75, >=75
_MORT_BAND = np.array([-0.3, 0.0, 0.25, 0.5])
_DEL_BAND = np.array([-0.4, 0.0, 0.4, 0.8])


@dataclass(frozen=True)
class Site:
    """A hospital: how its patients, measurements and outcomes differ from the reference site.

    Parameters
    ----------
    name : str
        The site's name (``sta["site"]``).
    case_mix : float
        Shift of the mean latent severity of its stays (standard-score units).
    offsets : dict
        ``variable -> additive offset`` in the canonical units (``UNITS``), added to every recorded
        value before unit conversion (a miscalibrated device or lab).
    units : dict
        ``variable -> unit tag`` the site records in, e.g. ``{"temp": "F", "crea": "umol/L",
        "glu": "mmol/L"}``; also ``bun: mmol/L`` (urea), ``hgb: g/L``, ``lact: mg/dL``,
        ``fio2: fraction``. Labels of ``kidney_function`` follow the site's creatinine unit.
    sampling : float
        Multiplier of the mean interval between lab panels (> 1: fewer labs).
    missingness : {"mcar", "mar", "mnar"}
        Mechanism that removes recorded values on top of the informative schedule: completely at
        random, at random given age and time (observed), or not at random (normal values are
        dropped more often than abnormal ones).
    missing_rate : float
        Approximate fraction of scheduled values the mechanism removes, in [0, 1).
    prevalence : float
        Logit shift of the intercepts of mortality and delirium and log shift of the AKI hazard.
    age_mean : float
        Mean age of the site's patients (years; sd 15, clipped to 18-95).
    """

    name: str
    case_mix: float = 0.0
    offsets: dict = field(default_factory=dict)
    units: dict = field(default_factory=dict)
    sampling: float = 1.0
    missingness: str = "mar"
    missing_rate: float = 0.3
    prevalence: float = 0.0
    age_mean: float = 65.0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"Site.name must be a non-empty string; got {self.name!r}.")
        for attr in ("case_mix", "sampling", "missing_rate", "prevalence", "age_mean"):
            value = getattr(self, attr)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise TypeError(f"Site.{attr} must be a number; got {value!r}.")
            if not np.isfinite(value):
                raise ValueError(f"Site.{attr} must be finite; got {value!r}.")
        if not isinstance(self.offsets, Mapping):
            raise TypeError(f"Site.offsets must be a dict variable -> offset; got {self.offsets!r}.")
        for var, off in self.offsets.items():
            check_choice(var, "Site.offsets key", VARIABLES)
            if isinstance(off, bool) or not isinstance(off, (int, float, np.integer, np.floating)):
                raise TypeError(f"Site.offsets[{var!r}] must be a number; got {off!r}.")
        if not isinstance(self.units, Mapping):
            raise TypeError(f"Site.units must be a dict variable -> unit; got {self.units!r}.")
        for var, unit in self.units.items():
            check_choice(var, "Site.units key", VARIABLES)
            allowed = [UNITS[var]] + [u for (v, u) in _CONVERSIONS if v == var]
            if unit not in allowed:
                raise ValueError(f"Site.units[{var!r}] must be one of {allowed}; got {unit!r}.")
        if self.sampling <= 0:
            raise ValueError(f"Site.sampling must be > 0; got {self.sampling!r}.")
        check_choice(self.missingness, "Site.missingness", MECHANISMS)
        if not 0.0 <= self.missing_rate < 1.0:
            raise ValueError(f"Site.missing_rate must lie in [0, 1); got {self.missing_rate!r}.")
        if not 18.0 <= self.age_mean <= 95.0:
            raise ValueError(f"Site.age_mean must lie in [18, 95]; got {self.age_mean!r}.")

    def __hash__(self) -> int:
        return hash((self.name, self.case_mix, tuple(sorted(self.offsets.items())),
                     tuple(sorted(self.units.items())), self.sampling, self.missingness,
                     self.missing_rate, self.prevalence, self.age_mean))

    def conversion(self, var: str) -> tuple[float, float]:
        """``(scale, shift)`` such that recorded = scale * (canonical + offset) + shift."""
        unit = self.units.get(var, UNITS[var])
        return _CONVERSIONS.get((var, unit), (1.0, 0.0))


SITES = {
    "A": Site("A"),
    "B": Site("B", case_mix=0.3, offsets={"sbp": -6.0}, units={"temp": "F"}, sampling=1.5,
              missingness="mcar", missing_rate=0.4, prevalence=0.2, age_mean=68.0),
    "C": Site("C", case_mix=0.6, offsets={"hr": 5.0}, units={"crea": "umol/L", "glu": "mmol/L"},
              sampling=0.7, missingness="mnar", missing_rate=0.3, prevalence=-0.2, age_mean=60.0),
}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _logit(p: float) -> float:
    return float(np.log(p) - np.log1p(-p))


def _expect_exp_clip(a: float, m: np.ndarray, s: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``E[exp(a * clip(X, lo, hi))]`` for ``X ~ N(m, s^2)``, ``a > 0``, in closed form.

    ``= e^{a lo} Phi(alpha) + e^{a hi} (1 - Phi(beta)) + e^{a m + a^2 s^2 / 2}
    [Phi(beta - a s) - Phi(alpha - a s)]`` with ``alpha = (lo - m) / s``, ``beta = (hi - m) / s``
    (the lognormal partial expectation).
    """
    from scipy.special import ndtr

    alpha, beta = (lo - m) / s, (hi - m) / s
    return (np.exp(a * lo) * ndtr(alpha) + np.exp(a * hi) * ndtr(-beta)
            + np.exp(a * m + 0.5 * (a * s) ** 2) * (ndtr(beta - a * s) - ndtr(alpha - a * s)))


def _forecast(h: int) -> tuple[np.ndarray, np.ndarray]:
    """``A^h`` and ``sum_{j<h} A^j diag(sigma^2) A^j'``: the h-step law of the latent deviation."""
    power, cov = np.eye(4), np.zeros((4, 4))
    sig = np.diag(_SIGMA**2)
    for _ in range(h):
        cov = cov + power @ sig @ power.T
        power = _A @ power
    return power, cov


def _check_sites(sites: Any) -> tuple[Site, ...]:
    if isinstance(sites, (str, Site)):
        sites = (sites,)
    if not isinstance(sites, Sequence) or len(sites) == 0:
        raise ValueError(f"sites must be a non-empty sequence of Site or names in {sorted(SITES)}; got {sites!r}.")
    out = []
    for s in sites:
        if isinstance(s, str):
            out.append(SITES[check_choice(s, "sites", SITES)])
        elif isinstance(s, Site):
            out.append(s)
        else:
            raise TypeError(f"sites must hold Site objects or names in {sorted(SITES)}; got {s!r}.")
    names = [s.name for s in out]
    if len(set(names)) != len(names):
        raise ValueError(f"sites must have distinct names; got {names}.")
    return tuple(out)


def _simulate_site(site: Site, n: int, hours: int, rng: np.random.Generator) -> dict[str, Any]:
    """Everything about ``n`` stays of one site (arrays over stays, and stays x hours)."""
    L = max(hours + AKI_HORIZON, KF_HOUR + 1)  # latent hours simulated
    H = hours
    # --- statics
    age = np.clip(rng.normal(site.age_mean, 15.0, n), 18.0, 95.0)
    male = rng.random(n) < 0.56
    height = np.where(male, rng.normal(176.0, 7.5, n), rng.normal(163.0, 7.0, n))
    weight = np.exp(rng.normal(np.log(27.0), 0.18, n)) * (height / 100.0) ** 2
    za = (age - 65.0) / 15.0
    band = np.searchsorted(_AGE_BANDS, age, side="right")
    # --- latent stay means and AR(1) paths; Z has shape (L, n, 4)
    u = rng.standard_normal((n, 4)) @ _CHOL_MU.T
    mu = u + np.column_stack([site.case_mix + 0.25 * za, 0.2 * za, np.zeros(n), 0.3 * za])
    eps = rng.standard_normal((L, n, 4)) * _SIGMA
    Z = np.empty((L, n, 4))
    dev = rng.standard_normal((n, 4)) * _SD0
    Z[0] = mu + dev
    for t in range(1, L):
        dev = dev @ _A.T + eps[t]
        Z[t] = mu + dev
    Z = np.ascontiguousarray(Z.transpose(2, 1, 0))  # (4, n, L)
    S, K, I, N = Z  # noqa: E741
    Sh, Kh, Ih, Nh = S[:, :H], K[:, :H], I[:, :H], N[:, :H]
    Sbar, Kbar, Ibar, Nbar = (z[:, :FIRST_DAY].mean(axis=1) for z in Z)
    sed = (rng.random(n) < _sigmoid(-0.8 + 1.0 * Sbar)).astype(float)

    # --- AKI: discrete-time hazard from the kidney latent, onset = first hour of oliguria
    lam = np.exp(_AKI0 + site.prevalence + 0.9 * K + 0.35 * S + 0.15 * male[:, None])
    lam[:, 0] = 0.0
    cum = np.cumsum(lam, axis=1)  # Lambda_s = sum_{r<=s} lambda_r
    onset = (cum < rng.exponential(1.0, n)[:, None]).sum(axis=1)  # in 1..L (L: none simulated)

    # --- series (stays x hours), canonical units
    def noise(sd: float) -> np.ndarray:
        return rng.normal(0.0, sd, (n, H))

    def between(sd: float) -> np.ndarray:
        return rng.normal(0.0, sd, (n, 1))

    sed_ = sed[:, None]
    x: dict[str, np.ndarray] = {}
    x["hr"] = np.clip(84 + 9 * Sh + 6 * Ih + 4 * Nh - 5 * sed_ + between(8) + noise(6), 30, 200)
    x["sbp"] = np.clip(121 - 11 * Sh - 4 * Ih + 2 * Nh - 6 * sed_ + between(10) + noise(9), 60, 230)
    x["dbp"] = np.clip(62 - 6 * Sh - 3 * Ih - 3 * sed_ + between(7) + noise(6), 30, None)
    x["dbp"] = np.minimum(x["dbp"], x["sbp"] - 15)
    x["map"] = (x["sbp"] + 2 * x["dbp"]) / 3 + noise(1.0)
    x["resp"] = np.clip(19 + 2.8 * Sh + 1.5 * Ih + 1.0 * Nh - 2.5 * sed_ + between(2.5) + noise(2.5), 6, 50)
    x["o2sat"] = np.clip(98.5 - 1.8 * np.logaddexp(0, 1.3 * Sh) + between(0.8) + noise(1.2), 60, 100)
    x["temp"] = np.clip(36.9 + 0.55 * Ih - 0.1 * Sh + between(0.25) + noise(0.25), 33, 42)
    x["fio2"] = 21 + 79 * _sigmoid(-1.3 + 1.0 * Sh + 0.3 * Ih + between(0.5) + noise(0.3))
    x["glu"] = np.clip(128 * np.exp(0.10 * Sh + 0.07 * Ih + 0.04 * Nh + between(0.2) + noise(0.15)), 30, 900)
    # creatinine: baseline B, bounded within-stay variation (no KDIGO creatinine criterion can fire)
    B = np.maximum(0.3, 0.95 * np.exp(0.45 * u[:, 1] + 0.3 * rng.standard_normal(n)))
    w = np.minimum(0.2, np.arcsinh(0.145 / B))  # 2 B sinh(w) <= 0.29 mg/dL, exp(2 w) <= 1.49
    c, d = 0.75 * w, 0.25 * w
    e = np.clip(rng.normal(0.0, 1.0, (n, L)) * (0.5 * d)[:, None], -d[:, None], d[:, None])
    crea_full = B[:, None] * np.exp(np.clip(_G_CREA * K, -c[:, None], c[:, None]) + e)
    x["crea"] = crea_full[:, :H]
    x["bun"] = 20 * B[:, None] ** 0.85 * np.exp(0.12 * Kh + 0.08 * Sh + between(0.1) + noise(0.08))
    x["k"] = np.clip(4.05 + 0.25 * Kh + 0.08 * Sh + between(0.25) + noise(0.25), 2, 8)
    x["na"] = np.clip(139.5 - 1.6 * Nh + 0.3 * Sh + between(3) + noise(1.5), 110, 170)
    x["lact"] = np.clip(1.3 * np.exp(0.38 * Sh + 0.18 * Ih + between(0.25) + noise(0.2)), 0.3, 25)
    x["wbc"] = 10.5 * np.exp(0.32 * Ih + between(0.3) + noise(0.1))
    x["hgb"] = np.clip(10.4 - 0.35 * Sh + between(1.3) + noise(0.4), 4, 18)
    x["plt"] = np.clip(200 * np.exp(-0.18 * Ih - 0.1 * Sh + between(0.4) + noise(0.08)), 5, 1000)
    x["ph"] = np.clip(7.385 - 0.045 * Sh - 0.02 * Kh + between(0.03) + noise(0.03), 6.8, 7.7)
    x["bicar"] = np.clip(24 - 2.2 * Sh - 1.2 * Kh + between(2.5) + noise(1.5), 5, 50)
    rate_pre = 0.55 + 0.9 * np.exp(-0.45 * Kh - 0.2 * Sh + noise(0.35))  # mL/kg/h, >= 0.55
    rate_post = 0.1 + 0.3 * _sigmoid(noise(1.0))  # mL/kg/h, < 0.4
    oliguric = np.arange(H)[None, :] >= onset[:, None]
    x["urine"] = np.where(oliguric, rate_post, rate_pre) * weight[:, None]

    # --- measurement schedule (informative: sicker -> more often), then the site's mechanism
    hour = np.arange(H)[None, :]

    def panel(interval: float, slope: float, first: float = 0.9) -> np.ndarray:
        rate = np.exp(slope * Sh) / (interval * site.sampling)
        p = np.where(hour == 0, first, -np.expm1(-rate))
        return rng.random((n, H)) < p

    monitor = rng.random((n, H)) < 0.97
    chem, cbc, gas = panel(8.0, 0.6), panel(12.0, 0.5), panel(8.0, 0.9, first=0.6)
    sched = {v: monitor & (rng.random((n, H)) < 0.98) for v in ("hr", "sbp", "dbp", "resp", "o2sat")}
    sched["map"] = sched["sbp"] & sched["dbp"] | (monitor & (rng.random((n, H)) < 0.02))
    sched["temp"] = rng.random((n, H)) < 0.3
    sched["fio2"] = rng.random((n, H)) < 0.05 + 0.4 * _sigmoid(2.0 * (Sh - 1.0))
    sched["urine"] = rng.random((n, H)) < 0.8
    sched.update({v: chem for v in ("crea", "bun", "k", "na", "bicar")})
    sched["glu"] = chem | (rng.random((n, H)) < 0.1)
    sched.update({v: cbc for v in ("wbc", "hgb", "plt")})
    sched.update({"ph": gas, "lact": gas})

    base = _logit(site.missing_rate) if site.missing_rate > 0 else -np.inf
    for v in VARIABLES:
        if site.missing_rate == 0:
            break
        if site.missingness == "mcar":
            p_drop = np.full((n, H), site.missing_rate)
        elif site.missingness == "mar":  # given the observed age and time
            p_drop = _sigmoid(base + 0.6 * za[:, None] + 0.6 * (2.0 * hour / max(H - 1, 1) - 1.0))
        else:  # mnar: the further the value from the population centre, the more likely recorded
            z = np.abs(x[v] - np.median(x[v])) / (np.std(x[v]) + 1e-12)
            p_drop = _sigmoid(base + 0.8 - z)
        sched[v] = sched[v] & ~(rng.random((n, H)) < p_drop)

    # --- outcomes
    male_f = male.astype(float)
    propensity = _sigmoid(_PROP0 + 1.3 * Sbar + 0.3 * Ibar)
    treatment = (rng.random(n) < propensity).astype(np.int64)
    eta = (_MORT0 + site.prevalence + 0.9 * Sbar + 0.3 * Kbar + 0.3 * Ibar + 0.15 * za
           + _MORT_BAND[band] + 0.2 * male_f)
    tau = -0.4 - 0.4 * Ibar + 0.25 * za  # treatment effect on the log-odds of death
    p0, p1 = _sigmoid(eta), _sigmoid(eta + tau)
    u_death = rng.random(n)
    p_mort = np.where(treatment == 1, p1, p0)
    death = (u_death < p_mort).astype(np.int64)
    p_del = _sigmoid(_DEL0 + site.prevalence + 1.0 * Nbar + 0.3 * Sbar + 0.25 * za
                     + _DEL_BAND[band] + 0.15 * male_f + 0.8 * sed)
    delirium = (rng.random(n) < p_del).astype(np.int64)

    # kidney_function: creatinine at KF_HOUR and its exact conditional mean given Z_23
    power, cov = _forecast(KF_HOUR - (FIRST_DAY - 1))
    dev23 = Z[:, :, FIRST_DAY - 1].T - mu
    m48 = mu[:, 1] + dev23 @ power[1]
    s48 = np.full(n, np.sqrt(cov[1, 1]))
    lat_part = _expect_exp_clip(_G_CREA, m48, s48, -c / _G_CREA, c / _G_CREA)
    noise_part = _expect_exp_clip(1.0, np.zeros(n), 0.5 * d, -d, d)
    kf_label, kf_mu = crea_full[:, KF_HOUR], B * lat_part * noise_part

    # --- recorded values: offsets (canonical units), then unit conversion
    def record(v: str, val: np.ndarray) -> np.ndarray:
        scale, shift = site.conversion(v)
        return scale * (val + site.offsets.get(v, 0.0)) + shift

    values = np.empty((n, H, len(VARIABLES)))
    for j, v in enumerate(VARIABLES):
        values[:, :, j] = np.where(sched.pop(v), record(v, x.pop(v)), np.nan)

    # AKI rows: t = 0 .. min(onset, H) - 1
    n_rows = np.minimum(onset, H)
    row_stay = np.repeat(np.arange(n), n_rows)
    starts = np.cumsum(n_rows) - n_rows
    row_t = np.arange(n_rows.sum()) - np.repeat(starts, n_rows)
    window = cum[row_stay, row_t + AKI_HORIZON] - cum[row_stay, row_t]  # L >= H + 6 columns
    aki_p = -np.expm1(-window)
    aki_label = ((onset[row_stay] > row_t) & (onset[row_stay] <= row_t + AKI_HORIZON)).astype(np.int64)

    return {
        "static": {"age": age, "sex": np.where(male, "Male", "Female"), "height": height,
                   "weight": weight, "treatment": treatment},
        "values": values,
        "latent": {"severity": S, "kidney": K, "inflammation": I, "neuro": N, "mu": mu,
                   "sedation": sed, "aki_onset": onset, "aki_hazard": lam, "propensity": propensity,
                   "crea_baseline": B, "creatinine": crea_full, "tau": tau},
        "mortality": (death, p_mort),
        "effect": (death, p_mort, p0, p1, p1 - p0),
        "delirium": (delirium, p_del),
        "kidney_function": (record("crea", kf_label), record("crea", kf_mu)),
        "aki": (row_stay, row_t.astype(float), aki_label, aki_p),
    }


@dataclass(frozen=True, eq=False)
class SyntheticICU:
    """A simulated multi-site ICU: the tables, the latent states and every endpoint's exact truth.

    Attributes
    ----------
    dyn, sta : pandas.DataFrame
        All stays of all sites (``dyn`` with ``hours`` rows per stay, times 0..hours-1).
    latent : dict
        Arrays over all stays (rows ordered as ``sta``): ``severity``, ``kidney``,
        ``inflammation``, ``neuro`` (stays x simulated hours, ``max(hours + 6, 49)``), ``mu``
        (stay means, stays x 4), ``sedation``, ``aki_onset`` (hour; ``== simulated hours`` when
        none), ``aki_hazard``, ``propensity``, ``crea_baseline``, ``creatinine`` (canonical,
        noise included, all simulated hours), ``tau`` (treatment effect on the log-odds).
    outcomes : dict
        ``endpoint -> DataFrame`` of the labels and truth of every stay (all sites).
    sites : tuple of Site
    hours, seed : int
    """

    dyn: Any
    sta: Any
    latent: dict
    outcomes: dict
    sites: tuple
    hours: int
    seed: int

    @property
    def site_names(self) -> list[str]:
        return [s.name for s in self.sites]

    def cohort(self, endpoint: str, *, site: str | None = None) -> Cohort:
        """The YAIB-format cohort of one endpoint, for one site or (``site=None``) all of them.

        ``dyn`` holds the first 24 h for every endpoint but ``aki`` (the full series). ``truth``
        holds ``p_true`` (binary endpoints), ``mu_true`` (``kidney_function``) and additionally
        ``p0``, ``p1``, ``ite`` (``effect``), aligned row by row with ``outc``.
        """
        check_choice(endpoint, "endpoint", ENDPOINTS)
        if site is not None:
            check_choice(site, "site", self.site_names)
            stays = self.sta.loc[self.sta["site"] == site, "stay_id"].to_numpy()
            keep = lambda df: df[df["stay_id"].isin(stays)].reset_index(drop=True)  # noqa: E731
            name = site
        else:
            keep = lambda df: df.reset_index(drop=True)  # noqa: E731
            name = "+".join(self.site_names)
        dyn = self.dyn if endpoint == "aki" else self.dyn[self.dyn["time"] < FIRST_DAY]
        table = keep(self.outcomes[endpoint])
        keys = ["stay_id", "time", "label"] if endpoint == "aki" else ["stay_id", "label"]
        truth_cols = [c for c in table.columns if c not in keys]
        units = {s.name: {v: s.units.get(v, UNITS[v]) for v in VARIABLES} for s in self.sites
                 if site is None or s.name == site}
        meta = {"endpoint": endpoint, "hours": self.hours, "seed": self.seed, "units": units,
                "synthetic": True}
        return Cohort(dyn=keep(dyn), sta=keep(self.sta), outc=table[keys].copy(),
                      truth=table[truth_cols].copy(), name=f"synthetic/{endpoint}", site=name,
                      meta=meta)


def simulate_icu(
    n_stays: int = 1000,
    *,
    hours: int = 48,
    sites: Sequence[Site | str] = ("A",),
    seed: int = 0,
) -> SyntheticICU:
    """Simulate ``n_stays`` ICU stays per site from the latent-physiology model (module docstring).

    Parameters
    ----------
    n_stays : int
        Stays per site (>= 1).
    hours : int
        Length of the recorded hourly series (>= 24); latents are simulated to
        ``max(hours + 6, 49)`` so every endpoint's truth is defined.
    sites : sequence of Site or str
        Sites or names in ``SITES``; site ``k`` draws from the ``k``-th child of ``seed``'s
        ``SeedSequence``, so a site's stays do not depend on the sites after it.
    seed : int
        Non-negative seed.

    Returns
    -------
    SyntheticICU
        Stay ids are ``1 .. n_stays * len(sites)``, unique across sites.
    """
    n_stays = check_int(n_stays, "n_stays", minimum=1)
    hours = check_int(hours, "hours", minimum=FIRST_DAY)
    seed = check_int(seed, "seed", minimum=0)
    sites = _check_sites(sites)
    import pandas as pd

    children = np.random.SeedSequence(seed).spawn(len(sites))
    parts = [_simulate_site(s, n_stays, hours, np.random.default_rng(ss)) for s, ss in zip(sites, children)]
    n_total = n_stays * len(sites)
    stay_id = np.arange(1, n_total + 1, dtype=np.int64)

    sta = pd.DataFrame({"stay_id": stay_id})
    for col in ("age", "sex", "height", "weight"):
        sta[col] = np.concatenate([p["static"][col] for p in parts])
    sta["site"] = np.repeat([s.name for s in sites], n_stays)
    sta["treatment"] = np.concatenate([p["static"]["treatment"] for p in parts])

    values = np.concatenate([p["values"] for p in parts]).reshape(n_total * hours, len(VARIABLES))
    dyn = pd.DataFrame(values, columns=list(VARIABLES))
    dyn.insert(0, "time", np.tile(np.arange(hours, dtype=float), n_total))
    dyn.insert(0, "stay_id", np.repeat(stay_id, hours))

    outcomes = {}
    for ep, cols in (("mortality", ["label", "p_true"]), ("delirium", ["label", "p_true"]),
                     ("kidney_function", ["label", "mu_true"]),
                     ("effect", ["label", "p_true", "p0", "p1", "ite"])):
        frame = pd.DataFrame({"stay_id": stay_id})
        for j, col in enumerate(cols):
            frame[col] = np.concatenate([p[ep][j] for p in parts])
        outcomes[ep] = frame
    aki_stay = np.concatenate([p["aki"][0] + k * n_stays for k, p in enumerate(parts)])
    outcomes["aki"] = pd.DataFrame({
        "stay_id": stay_id[aki_stay],
        "time": np.concatenate([p["aki"][1] for p in parts]),
        "label": np.concatenate([p["aki"][2] for p in parts]),
        "p_true": np.concatenate([p["aki"][3] for p in parts]),
    })
    latent = {key: np.concatenate([p["latent"][key] for p in parts]) for key in parts[0]["latent"]}
    return SyntheticICU(dyn=dyn, sta=sta, latent=latent, outcomes=outcomes, sites=sites,
                        hours=hours, seed=seed)
