"""Arterial pulse-wave simulators, vectorised over batches of parameter vectors θ.

Parameters θ ``(n, 7)``, in the order of :data:`PARAMETERS`: ``pwv_elastic`` (m/s, aortic pulse
wave velocity), ``pwv_muscular`` (m/s, brachial/radial), ``d_elastic`` (mm, aortic diameter),
``d_muscular`` (mm, brachial/radial diameter), ``hr`` (beats/min), ``sv`` (ml, stroke volume) and
``r_periph`` (mmHg·s/ml, total peripheral resistance = mean pressure / cardiac output).

Models (``model=``)
-------------------
All models are linear and time-invariant, driven by the same periodic cardiac inflow Q(t)
(:func:`inflow`) and solved exactly in periodic steady state in the frequency domain: Q is sampled on
a per-beat grid of ``m`` points, ``P = irfft(Z(ω_k) · rfft(Q))`` with ω_k = 2πk/T (T = 60/HR).
Venous (outflow) pressure is 0, so the mean pressure is CO · Z(0) = CO · r_periph in every model.

``"windkessel3"``  Z = Zc + R / (1 + iωRC) (Westerhof et al. 2009), R = r_periph − Zc.
``"windkessel4"``  Z = (iωL ∥ Zc) + R / (1 + iωRC), L in parallel with Zc (Stergiopulos et al.
                   1999), R = r_periph (at ω = 0 the inertance shunts Zc).
``"wave"``         linearised 1-D wave propagation as transmission lines (Westerhof, Noordergraaf;
                   Milnor 1989): aortic root → ascending aorta + arch (elastic, ``length_ascending``)
                   → junction ─┬─ arm: subclavian→radial (muscular, ``length_arm``) → WK3 load
                               └─ descending aorta (elastic, ``length_descending``) → WK3 load.
                   A uniform segment has Z0 = ρc/A and γ = iω/c; its input impedance is
                   Z_in = Z0 (Z_L + Z0 tanh γl) / (Z0 + Z_L tanh γl) and its pressure transfer
                   P_distal / P_proximal = 1 / (cosh γl + (Z0/Z_L) sinh γl). Each terminal load is a
                   WK3 whose characteristic impedance equals the Z0 of its segment (no reflection at
                   high frequency) and whose resistances split r_periph by flow (a fraction
                   ``arm_flow_fraction`` to the arm), so the two branches in parallel give r_periph.
                   Optional Kelvin–Voigt wall viscosity: c*(ω) = c·sqrt(1 + iωτ_v).

The arm is a branch rather than a continuation of the aorta because a single radial artery
carrying the whole cardiac output would have Z0 = ρc/A (≈ 7 mmHg·s/ml) several times r_periph.

Lumped parameters from θ (SI inside, clinical units outside): A = πd²/4; characteristic impedance
by the water-hammer relation Zc = ρ·PWV_e/A_e; compliance by Bramwell–Hill C = A·l/(ρ·PWV²),
summed over the aorta (``length_ascending + length_descending``) and the arm (``length_arm``),
plus a fixed peripheral compliance ``c_periph`` (small arteries not represented by the segments,
which the wave model puts in its terminal Windkessels); inertance L = ρ·l_aorta/A_e
(Stergiopulos 1999). So the Windkessels and the wave model share R_total, C_total and Zc: training
on one and testing on another isolates model-form error.

Channels: ``"central"`` (aortic root pressure, mmHg), ``"radial"`` (pressure at the distal end of
the arm segment; in the Windkessel models the central pressure delayed by the path transit time
``length_ascending/PWV_e + length_arm/PWV_m``, no reflections), ``"ppg"`` (unit-free
photoplethysmogram-like volume signal: the radial pressure through a first-order low pass of time
constant ``ppg_time_constant`` (microvascular compliance × resistance), as relative volume change
V/mean(V) − 1 with V ∝ the filtered pressure). A real PPG is uncalibrated: its gain is unknown, so
:func:`measure` takes a ``gain``. Because every model is linear in Q and Q is linear in SV, the PPG
channel does not depend on SV at all (a non-identifiable direction).

References
----------
Charlton PH, Mariscal Harana J, Vennin S, Li Y, Chowienczyk P, Alastruey J (2019). Modeling arterial
pulse waves in healthy aging: a database for in silico evaluation of haemodynamics and pulse wave
indexes. Am. J. Physiol. Heart Circ. Physiol. 317, H1062-H1085 (parameters, ranges of 25-75 yr olds).
Westerhof N, Lankhaar JW, Westerhof BE (2009). The arterial Windkessel. Med. Biol. Eng. Comput. 47,
131-141.
Stergiopulos N, Westerhof BE, Westerhof N (1999). Total arterial inertance as the fourth element of
the windkessel model. Am. J. Physiol. 276, H81-H88.
Weissler AM, Harris WS, Schoenfeld CD (1968). Systolic time intervals in heart failure in man.
Circulation 37, 149-159 (LVET [ms] = 413 − 1.7·HR, men).
Murgo JP, Westerhof N, Giolma JP, Altobelli SA (1980). Aortic input impedance in normal man:
relationship to pressure wave forms. Circulation 62, 105-116 (shape of aortic flow).
Bramwell JC, Hill AV (1922). The velocity of the pulse wave in man. Proc. R. Soc. B 93, 298-306.
Milnor WR (1989). Hemodynamics, 2nd ed., ch. 7-8 (transmission-line theory of arterial impedance).
Reference Values for Arterial Stiffness' Collaboration (2010). Eur. Heart J. 31, 2338-2350
(carotid-femoral PWV of adults).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from trustbench.validation import check_array, check_choice, short_repr

__all__ = [
    "Parameter",
    "PARAMETERS",
    "PARAMETER_NAMES",
    "MODELS",
    "CHANNELS",
    "Constants",
    "Beat",
    "prior",
    "lvet",
    "inflow",
    "inflow_spectrum",
    "derived_quantities",
    "windkessel3_impedance",
    "windkessel4_impedance",
    "line_input_impedance",
    "line_pressure_transfer",
    "simulate_beat",
    "simulate",
    "measure",
]

MMHG = 133.322387415  # Pa per mmHg
ML = 1e-6  # m³ per ml
_Z_UNIT = MMHG / ML  # Pa·s/m³ per mmHg·s/ml
_C_UNIT = ML / MMHG  # m³/Pa per ml/mmHg

MODELS = ("wave", "windkessel3", "windkessel4")
CHANNELS = ("central", "radial", "ppg")

# Shape of the ejection pulse: q(s) = sin(πs)·exp(−k s) on s = t/LVET ∈ [0, 1]; its maximum lies at
# s = atan(π/k)/π = 0.35 (peak aortic flow at about a third of ejection, Murgo et al. 1980).
_SKEW = math.pi / math.tan(0.35 * math.pi)


@dataclass(frozen=True)
class Parameter:
    """One entry of θ: its name, unit, prior range [low, high] and meaning."""

    name: str
    unit: str
    low: float
    high: float
    description: str


PARAMETERS: tuple[Parameter, ...] = (
    Parameter("pwv_elastic", "m/s", 4.0, 14.0,
              "aortic (elastic artery) pulse wave velocity; carotid-femoral PWV of 25-75 yr olds"),
    Parameter("pwv_muscular", "m/s", 6.0, 14.0, "brachial-radial (muscular artery) pulse wave velocity"),
    Parameter("d_elastic", "mm", 18.0, 35.0, "mean aortic lumen diameter"),
    Parameter("d_muscular", "mm", 2.5, 5.0, "mean brachial-radial lumen diameter"),
    Parameter("hr", "beats/min", 50.0, 100.0, "heart rate"),
    Parameter("sv", "ml", 50.0, 100.0, "left-ventricular stroke volume"),
    Parameter("r_periph", "mmHg·s/ml", 0.6, 1.4,
              "total peripheral resistance (mean arterial pressure / cardiac output)"),
)
PARAMETER_NAMES: tuple[str, ...] = tuple(p.name for p in PARAMETERS)
_HR_MAX = 413.0 / 1.7  # Weissler's LVET reaches 0 here
_CHUNK = 2048  # rows per block in simulate
_WK_GRID = 256  # per-beat grid of the smooth part of the Windkessel solution


def prior():
    """The box-uniform prior over :data:`PARAMETERS` (a ``trustbench.posterior.priors.BoxUniform``)."""
    from trustbench.posterior.priors import BoxUniform

    return BoxUniform(low=np.array([p.low for p in PARAMETERS]), high=np.array([p.high for p in PARAMETERS]))


@dataclass(frozen=True)
class Constants:
    """Fixed anatomy and model constants (not inferred).

    Parameters
    ----------
    rho : blood density, kg/m³.
    length_ascending : aortic root to the origin of the arm artery (ascending aorta + arch), m.
    length_descending : rest of the aorta to the iliac bifurcation, m (aorta ≈ 0.5 m in total).
    length_arm : subclavian origin to the radial measurement site (muscular segment), m; with the
        default ascending length, root-to-radial transit ≈ 0.1 s.
    arm_flow_fraction : share of the cardiac output through the arm (brachial flow ≈ 2 % of CO).
    c_periph : compliance of arteries outside the segments, ml/mmHg.
    wall_viscosity : Kelvin–Voigt wall time constant τ_v, s (0: lossless lines).
    ppg_time_constant : first-order low-pass time constant from radial pressure to PPG volume, s.
    beat_samples : points of the per-beat grid; None: a power of two ≥ max(512, 8·fs) (1024 at
        125 Hz: linear interpolation then errs by < 0.5 % of the pulse pressure).
    """

    rho: float = 1060.0
    length_ascending: float = 0.10
    length_descending: float = 0.40
    length_arm: float = 0.65
    arm_flow_fraction: float = 0.02
    c_periph: float = 0.3
    wall_viscosity: float = 0.0
    ppg_time_constant: float = 0.1
    beat_samples: int | None = None

    def __post_init__(self) -> None:
        for name in ("rho", "length_ascending", "length_descending", "length_arm", "c_periph",
                     "wall_viscosity", "ppg_time_constant", "arm_flow_fraction"):
            value = getattr(self, name)
            strict = name not in ("c_periph", "wall_viscosity", "ppg_time_constant")
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                    or not math.isfinite(value) or (value <= 0 if strict else value < 0):
                rule = "> 0" if strict else ">= 0"
                raise ValueError(f"Constants.{name} must be a finite number {rule}; got {short_repr(value)}.")
        if not self.arm_flow_fraction < 1:
            raise ValueError(f"Constants.arm_flow_fraction must lie in (0, 1); got {self.arm_flow_fraction!r}.")
        if self.beat_samples is not None and (isinstance(self.beat_samples, bool)
                                              or not isinstance(self.beat_samples, (int, np.integer))
                                              or self.beat_samples < 16 or self.beat_samples % 2):
            raise ValueError(f"Constants.beat_samples must be None or an even integer >= 16; "
                             f"got {short_repr(self.beat_samples)}.")


@dataclass(frozen=True, eq=False)
class Beat:
    """One periodic beat per parameter vector on its own grid ``t[i] = arange(m) · period[i] / m``.

    ``flow`` in ml/s, ``central`` and ``radial`` in mmHg, ``ppg`` unit-free; each ``(n, m)``.
    """

    t: np.ndarray
    period: np.ndarray
    flow: np.ndarray
    central: np.ndarray
    radial: np.ndarray
    ppg: np.ndarray


# ----------------------------------------------------------------------------- validation


def _check_theta(theta: Any) -> np.ndarray:
    arr = check_array(theta, "theta", ndim=(1, 2))
    if arr.ndim == 1:
        arr = arr[None, :] if arr.size == len(PARAMETERS) else arr
    if arr.ndim != 2 or arr.shape[1] != len(PARAMETERS):
        raise ValueError(f"theta must have shape (n, {len(PARAMETERS)}) with columns {list(PARAMETER_NAMES)}; "
                         f"got shape {np.shape(theta)}.")
    for j, p in enumerate(PARAMETERS):
        bad = arr[:, j] <= 0
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"theta[:, {j}] ({p.name}, {p.unit}) must be > 0; got {float(arr[i, j])!r} in row {i}.")
    bad = arr[:, 4] >= _HR_MAX
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"theta[:, 4] (hr, beats/min) must be < {_HR_MAX:.1f} (where the ejection time "
                         f"LVET = 413 - 1.7·HR reaches 0); got {float(arr[i, 4])!r} in row {i}.")
    return arr


def _check_model(model: Any) -> str:
    if not isinstance(model, str):
        raise TypeError(f"model must be one of {list(MODELS)}; got {short_repr(model)}.")
    return check_choice(model, "model", MODELS)


def _check_channels(channels: Any) -> tuple[str, ...]:
    chans = (channels,) if isinstance(channels, str) else channels
    try:
        chans = tuple(chans)
    except TypeError:
        raise TypeError(f"channels must be a sequence of names from {list(CHANNELS)}; "
                        f"got {short_repr(channels)}.") from None
    if not chans:
        raise ValueError(f"channels must name at least one of {list(CHANNELS)}; got an empty sequence.")
    for c in chans:
        if not isinstance(c, str):
            raise TypeError(f"channels must hold names from {list(CHANNELS)}; got {short_repr(c)}.")
        check_choice(c, "channels", CHANNELS)
    if len(set(chans)) != len(chans):
        raise ValueError(f"channels must not repeat a name; got {chans}.")
    return chans


def _check_scalar(value: Any, name: str, *, strict: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number; got {short_repr(value)}.")
    v = float(value)
    if not math.isfinite(v) or (v <= 0 if strict else v < 0):
        raise ValueError(f"{name} must be a finite number {'> 0' if strict else '>= 0'}; got {value!r}.")
    return v


def _check_constants(constants: Any) -> Constants:
    if constants is None:
        return Constants()
    if not isinstance(constants, Constants):
        raise TypeError(f"constants must be a Constants instance or None; got {short_repr(constants)}.")
    return constants


def _as_rng(rng: Any) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be a numpy.random.Generator or an integer seed; got {short_repr(rng)}.")


# ----------------------------------------------------------------------------- building blocks


def lvet(hr: Any) -> np.ndarray:
    """Left-ventricular ejection time in seconds, LVET[ms] = 413 − 1.7·HR (Weissler et al. 1968)."""
    return (413.0 - 1.7 * np.asarray(hr, dtype=float)) / 1000.0


def _ejection(th: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Period T (s), ejection time E (s) and amplitude A (ml/s) with ∫Q dt = SV."""
    period = 60.0 / th[:, 4]
    ejection = lvet(th[:, 4])
    # ∫_0^E sin(πt/E) exp(−κt/E) dt = E·π(1 + e^{−κ})/(π² + κ²)
    area = ejection * np.pi * (1 + math.exp(-_SKEW)) / (np.pi**2 + _SKEW**2)
    return period, ejection, th[:, 5] / area


def inflow(theta: Any, t: Any) -> np.ndarray:
    """Aortic inflow Q(t) in ml/s at times ``t`` (s; ``(m,)`` for all rows or ``(n, m)``), periodic.

    Q(t) = A · sin(πs)·exp(−κs) for s = (t mod T)/LVET ≤ 1, 0 in diastole: a skewed half-sine with
    its peak at 35 % of ejection (κ = π/tan(0.35π)); LVET by :func:`lvet`; A is set in closed form so
    that ∫_0^T Q dt = SV exactly: A = SV (π² + κ²) / (LVET · π (1 + e^{−κ})).
    """
    th = _check_theta(theta)
    tt = check_array(t, "t", ndim=(1, 2))
    return _inflow_at(th, tt[None, :] if tt.ndim == 1 else tt)


def _inflow_at(th: np.ndarray, tt: np.ndarray) -> np.ndarray:
    period, ejection, amp = _ejection(th)
    s = np.mod(tt, period[:, None]) / ejection[:, None]
    inside = s <= 1
    return np.where(inside, amp[:, None] * np.sin(np.pi * np.where(inside, s, 0)) * np.exp(-_SKEW * s), 0.0)


def inflow_spectrum(theta: Any, n_harmonics: int) -> np.ndarray:
    """Complex Fourier coefficients ``c_k`` (k = 0..n_harmonics−1, ``(n, n_harmonics)``, ml/s) of
    :func:`inflow`, Q(t) = Re(c_0 + 2 Σ_{k≥1} c_k e^{iω_k t}), ω_k = 2πk/T, in closed form:
    c_k = (A/T) · b(1 + e^{−aE})/(a² + b²) with a = κ/E + iω_k, b = π/E, E = LVET. c_0 = SV/T exactly."""
    th = _check_theta(theta)
    period, ejection, amp = _ejection(th)
    n_harmonics = int(n_harmonics)
    phi = 2 * np.pi * ejection / period  # ω_1 E
    a_e = _SKEW + 1j * phi[:, None] * np.arange(n_harmonics)  # a·E
    # b(1 + e^{−aE})/(a² + b²) = E · π (1 + e^{−κ} e^{−ikφ}) / ((aE)² + π²); e^{−ikφ} as powers
    decay = math.exp(-_SKEW) * _powers(np.exp(-1j * phi), n_harmonics)
    return (amp * ejection * np.pi / period)[:, None] * (1 + decay) / (a_e * a_e + np.pi**2)


def _powers(base: np.ndarray, n: int) -> np.ndarray:
    """``base[:, None] ** arange(n)`` by a cumulative product (relative error ~ n·eps)."""
    out = np.empty((len(base), n), dtype=complex)
    out[:, 0] = 1.0
    out[:, 1:] = base[:, None]
    return np.cumprod(out, axis=1, out=out)


def derived_quantities(theta: Any, constants: Constants | None = None) -> dict[str, np.ndarray]:
    """Lumped quantities implied by θ, each ``(n,)``, in clinical units.

    Keys: ``period`` (s), ``lvet`` (s), ``cardiac_output`` (ml/s), ``mean_pressure`` (mmHg, = CO ·
    r_periph), ``zc`` (mmHg·s/ml, ρ·PWV_e/A_e), ``compliance`` (ml/mmHg, Bramwell–Hill over the aorta
    and the arm + c_periph), ``inertance`` (mmHg·s²/ml, ρ·l_aorta/A_e), ``transit_time`` (s, root to
    radial), ``z0_muscular`` (mmHg·s/ml).
    """
    th = _check_theta(theta)
    lp = _lumped(th, _check_constants(constants))
    cardiac_output = th[:, 5] * th[:, 4] / 60.0
    return {
        "period": 60.0 / th[:, 4],
        "lvet": lvet(th[:, 4]),
        "cardiac_output": cardiac_output,
        "mean_pressure": cardiac_output * th[:, 6],
        "zc": lp["zc"] / _Z_UNIT,
        "z0_muscular": lp["z0_muscular"] / _Z_UNIT,
        "compliance": lp["compliance"] / _C_UNIT,
        "inertance": lp["inertance"] / _Z_UNIT,  # Pa·s²/m³ -> mmHg·s²/ml: the same factor as Pa·s/m³
        "transit_time": lp["transit_time"],
    }


def _lumped(th: np.ndarray, k: Constants) -> dict[str, np.ndarray]:
    """SI lumped quantities (Pa·s/m³, m³/Pa, Pa·s²/m³, s)."""
    ce, cm = th[:, 0], th[:, 1]
    ae, am = np.pi * (th[:, 2] * 1e-3) ** 2 / 4, np.pi * (th[:, 3] * 1e-3) ** 2 / 4
    l_aorta = k.length_ascending + k.length_descending
    compliance = ae * l_aorta / (k.rho * ce**2) + am * k.length_arm / (k.rho * cm**2) + k.c_periph * _C_UNIT
    return {
        "zc": k.rho * ce / ae,
        "z0_muscular": k.rho * cm / am,
        "compliance": compliance,
        "inertance": k.rho * l_aorta / ae,
        "transit_time": k.length_ascending / ce + k.length_arm / cm,
    }


def windkessel3_impedance(omega: Any, zc: Any, r: Any, c: Any) -> np.ndarray:
    """Input impedance of the 3-element Windkessel, Zc + R/(1 + iωRC) (Westerhof et al. 2009)."""
    omega = np.asarray(omega)
    return zc + r / (1 + 1j * omega * r * c)


def windkessel4_impedance(omega: Any, zc: Any, r: Any, c: Any, inertance: Any) -> np.ndarray:
    """Input impedance of the 4-element Windkessel with L parallel to Zc (Stergiopulos et al. 1999):
    iωL·Zc/(Zc + iωL) + R/(1 + iωRC). L → ∞ gives the 3-element model at every ω > 0 (at ω = 0 the
    inertance shunts Zc for any finite L: Z(0) = R); L → 0 gives the 2-element one."""
    omega = np.asarray(omega)
    jwl = 1j * omega * inertance
    return jwl * zc / (zc + jwl) + r / (1 + 1j * omega * r * c)


def _segment(z_load: Any, z0: Any, e1: Any) -> tuple[np.ndarray, np.ndarray]:
    """(Z_in, P_distal/P_proximal) of a uniform line from e1 = e^{−γl}, in reflection form:
    Γ = (Z_L − Z0)/(Z_L + Z0), Z_in = Z0 (1 + Γe^{−2γl})/(1 − Γe^{−2γl}),
    H = e^{−γl}(1 + Γ)/(1 + Γe^{−2γl}) (equal to the hyperbolic forms; |e^{−2γl}| ≤ 1 keeps it stable)."""
    refl = (z_load - z0) / (z_load + z0)
    ge2 = refl * (e1 * e1)
    return z0 * (1 + ge2) / (1 - ge2), e1 * (1 + refl) / (1 + ge2)


def line_input_impedance(z_load: Any, z0: Any, gamma: Any, length: float) -> np.ndarray:
    """Input impedance of a uniform line of length l loaded by Z_L (Milnor 1989):
    Z0 (Z_L + Z0 tanh γl) / (Z0 + Z_L tanh γl), computed in its reflection form."""
    return _segment(z_load, z0, np.exp(-np.asarray(gamma) * length))[0]


def line_pressure_transfer(z_load: Any, z0: Any, gamma: Any, length: float) -> np.ndarray:
    """Distal over proximal pressure of a uniform line loaded by Z_L: 1/(cosh γl + (Z0/Z_L) sinh γl).

    A matched load (Z_L = Z0) gives exp(−γl): a pure delay l/c when γ = iω/c.
    """
    return _segment(z_load, z0, np.exp(-np.asarray(gamma) * length))[1]


# ----------------------------------------------------------------------------- models


def _impedances(th: np.ndarray, model: str, k: Constants, omega: np.ndarray):
    """Root input impedance Z (n, K) and root→radial pressure transfer H (n, K), SI."""
    lp = _lumped(th, k)
    r_total = th[:, 6] * _Z_UNIT
    col = (lambda v: v[:, None])
    if model == "windkessel3":
        z = windkessel3_impedance(omega, col(lp["zc"]), col(r_total - lp["zc"]), col(lp["compliance"]))
    elif model == "windkessel4":
        z = windkessel4_impedance(omega, col(lp["zc"]), col(r_total), col(lp["compliance"]), col(lp["inertance"]))
    n_harm, w1 = omega.shape[1], omega[:, 1] if omega.shape[1] > 1 else omega[:, 0]  # omega[:, j] = j·w1
    if model != "wave":
        return z, _powers(np.exp(-1j * w1 * lp["transit_time"]), n_harm)

    f = k.arm_flow_fraction
    visc = np.sqrt(1 + 1j * omega * k.wall_viscosity) if k.wall_viscosity > 0 else 1.0
    ce, cm = col(th[:, 0]) * visc, col(th[:, 1]) * visc  # complex wave speeds (Kelvin–Voigt wall)
    z0e = k.rho * ce / col(np.pi * (th[:, 2] * 1e-3) ** 2 / 4)
    z0m = k.rho * cm / col(np.pi * (th[:, 3] * 1e-3) ** 2 / 4)
    if k.wall_viscosity > 0:
        gam_e, gam_m = 1j * omega / ce, 1j * omega / cm
        e_asc, e_desc = np.exp(-gam_e * k.length_ascending), np.exp(-gam_e * k.length_descending)
        e_arm = np.exp(-gam_m * k.length_arm)
    else:  # lossless: e^{−iω_k l/c} = (e^{−iω_1 l/c})^k
        e_asc = _powers(np.exp(-1j * w1 * k.length_ascending / th[:, 0]), n_harm)
        e_desc = _powers(np.exp(-1j * w1 * k.length_descending / th[:, 0]), n_harm)
        e_arm = _powers(np.exp(-1j * w1 * k.length_arm / th[:, 1]), n_harm)
    cp = k.c_periph * _C_UNIT
    z_body = windkessel3_impedance(omega, col(lp["zc"]), col(r_total / (1 - f) - lp["zc"]), (1 - f) * cp)
    z_arm_load = windkessel3_impedance(omega, col(lp["z0_muscular"]), col(r_total / f - lp["z0_muscular"]), f * cp)
    z_desc, _ = _segment(z_body, z0e, e_desc)
    z_arm, h_arm = _segment(z_arm_load, z0m, e_arm)
    z_junction = z_desc * z_arm / (z_desc + z_arm)
    z_root, h_asc = _segment(z_junction, z0e, e_asc)
    return z_root, h_asc * h_arm


def _check_resistances(th: np.ndarray, model: str, k: Constants) -> None:
    lp = _lumped(th, k)
    r = th[:, 6] * _Z_UNIT
    checks = []
    if model == "windkessel3":
        checks.append((r - lp["zc"], "the aortic characteristic impedance Zc = rho·pwv_elastic/A_elastic"))
    if model == "wave":
        checks.append((r / (1 - k.arm_flow_fraction) - lp["zc"],
                       "the aortic characteristic impedance Zc = rho·pwv_elastic/A_elastic (body branch)"))
        checks.append((r / k.arm_flow_fraction - lp["z0_muscular"],
                       "the muscular characteristic impedance Z0 = rho·pwv_muscular/A_muscular (arm branch)"))
    for margin, what in checks:
        bad = margin <= 0
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"theta[:, 6] (r_periph) is too small for the {model!r} model in row {i}: "
                f"{float(th[i, 6])!r} mmHg·s/ml leaves no positive terminal resistance after {what} "
                f"(check pwv and diameter in that row)."
            )


def _beat_samples(fs: float, k: Constants) -> int:
    if k.beat_samples is not None:
        return int(k.beat_samples)
    return int(2 ** math.ceil(math.log2(max(512.0, 8.0 * fs))))


def _beat_spectra(th: np.ndarray, model: str, k: Constants, m: int):
    """Spectra (rfft scaling for an m-point beat grid) of flow (ml/s), central and radial pressure
    (mmHg) and PPG."""
    period = 60.0 / th[:, 4]
    n_harm = m // 2 + 1
    omega = 2 * np.pi * np.arange(n_harm) / period[:, None]
    # rfft convention: the coefficient of a real signal sampled at m points is m·c_k
    qf = inflow_spectrum(th, n_harm) * (m * ML)
    z, h = _impedances(th, model, k, omega)
    pc = z * qf / MMHG
    pr = pc * h
    # PPG: V(ω) = P_radial(ω)/(1 + iωτ); relative volume V/mean(V) − 1 (mean V = mean radial pressure)
    ppg = pr * (m / pr[:, :1].real) / (1 + 1j * omega * k.ppg_time_constant)  # DC bin = m·mean
    ppg[:, 0] = 0.0
    return period, qf / ML, pc, pr, ppg


def simulate_beat(theta: Any, *, model: str = "wave", constants: Constants | None = None,
                  beat_samples: int = 1024) -> Beat:
    """One periodic steady-state beat per row of θ on a per-beat grid of ``beat_samples`` points.

    Every signal is the exact periodic response to the inflow's first ``beat_samples/2 + 1``
    harmonics (so ``flow`` shows a small Gibbs ripple at the kinks of Q; its grid mean is SV/T
    exactly and so the grid mean of ``central`` is CO·r_periph exactly).

    See the module docstring for the models. ``constants.beat_samples`` is ignored here.
    """
    model = _check_model(model)
    k = _check_constants(constants)
    th = _check_theta(theta)
    m = int(_check_scalar(beat_samples, "beat_samples"))
    if m != beat_samples or m < 16 or m % 2:
        raise ValueError(f"beat_samples must be an even integer >= 16; got {beat_samples!r}.")
    _check_resistances(th, model, k)
    period, qf, pc, pr, ppg = _beat_spectra(th, model, k, m)
    irf = lambda s: np.fft.irfft(s, n=m, axis=1)  # noqa: E731
    t = np.arange(m) * (period / m)[:, None]
    return Beat(t=t, period=period, flow=irf(qf), central=irf(pc), radial=irf(pr), ppg=irf(ppg))


def _resample(beat: np.ndarray, period: np.ndarray, fs: float, n_out: int) -> np.ndarray:
    """Periodic linear interpolation of (n, c, m) beats at t_j = j/fs, j < n_out -> (n, c, n_out)."""
    n, c, m = beat.shape
    pos = (np.arange(n_out) / fs)[None, :] / period[:, None] % 1.0 * m  # (n, n_out)
    i0 = np.floor(pos).astype(np.intp)
    w = (pos - i0)[:, None, :]
    i0 %= m
    i1 = (i0 + 1) % m
    flat = beat.reshape(n * c, m)
    rows = (np.arange(n)[:, None] * c + np.arange(c)[None, :])[:, :, None] * m  # (n, c, 1)
    a = flat.ravel()[rows + i0[:, None, :]]
    b = flat.ravel()[rows + i1[:, None, :]]
    return a + w * (b - a)


def _windkessel_rows(th: np.ndarray, model: str, k: Constants, fs: float, n_out: int,
                     chans: tuple[str, ...], m: int = _WK_GRID) -> np.ndarray:
    """Windkessel waveforms at t_j = j/fs, split as P = Zc·Q(t) + p_s(t).

    Z(ω) → Zc as ω → ∞ in both Windkessels, so p_s = irfft((Z − Zc)·Q̂) is smooth (its harmonics fall
    as 1/k³) and a coarse beat grid resolves it; the sharp part Zc·Q(t) (kinks at the start and end of
    ejection) is evaluated in closed form at the sample times. Same result as the full spectral
    solution (:func:`simulate_beat`) to about 0.1 mmHg (≤ 0.1 % of the pulse pressure), several times
    faster.
    """
    lp = _lumped(th, k)
    zc = lp["zc"] / _Z_UNIT
    period = 60.0 / th[:, 4]
    omega = 2 * np.pi * np.arange(m // 2 + 1) / period[:, None]
    qf = inflow_spectrum(th, m // 2 + 1) * m
    z, h = _impedances(th, model, k, omega)
    z = z / _Z_UNIT
    spectra = {}
    if "central" in chans or "radial" in chans:
        smooth = (z - zc[:, None]) * qf
        spectra["central"], spectra["radial"] = smooth, smooth * h
    if "ppg" in chans:
        pr = z * qf * h
        ppg = pr * (m / pr[:, :1].real) / (1 + 1j * omega * k.ppg_time_constant)  # DC bin = m·mean
        ppg[:, 0] = 0.0
        spectra["ppg"] = ppg
    beats = np.fft.irfft(np.stack([spectra[c] for c in chans], axis=1), n=m, axis=2)
    x = _resample(beats, period, fs, n_out)
    t = np.arange(n_out) / fs
    if "central" in chans:
        x[:, chans.index("central")] += zc[:, None] * _inflow_at(th, np.broadcast_to(t, (len(th), n_out)))
    if "radial" in chans:
        x[:, chans.index("radial")] += zc[:, None] * _inflow_at(th, t[None, :] - lp["transit_time"][:, None])
    return x


def simulate(
    theta: Any,
    *,
    model: str = "wave",
    fs: float = 125.0,
    duration: float = 1.0,
    channels: Any = CHANNELS,
    rng: Any = None,
    noise_std: Any = 0.0,
    constants: Constants | None = None,
    workers: int = 1,
) -> np.ndarray:
    """Pulse waveforms ``x`` of shape ``(n, len(channels), round(fs·duration))``.

    A fixed-length window sampled at ``fs`` Hz that starts at the onset of ejection; when it is
    longer than one beat the periodic beat repeats. Channels in the order given (see
    :data:`CHANNELS`). ``noise_std > 0`` (scalar or one value per channel) adds Gaussian noise by
    :func:`measure` and needs ``rng`` (a Generator or a seed); without noise the output is
    deterministic and ``rng`` is unused.

    The beat is computed on a per-beat grid of ``constants.beat_samples`` points (all its harmonics:
    sampling the continuous waveform, no anti-aliasing filter) and interpolated linearly at the
    sample times; the Windkessel models put only their smooth part on the grid (256 points by
    default) and add the sharp part Zc·Q(t) in closed form (see ``_windkessel_rows``). Rows are
    processed in chunks of 2048; ``workers > 1`` runs chunks in threads. A row's waveform does not
    depend on ``workers`` or on the batch it is in.
    """
    th = _check_theta(theta)
    model = _check_model(model)
    fs = _check_scalar(fs, "fs")
    duration = _check_scalar(duration, "duration")
    n_out = int(round(fs * duration))
    if n_out < 1:
        raise ValueError(f"fs·duration must give at least one sample; got fs={fs!r}, duration={duration!r}.")
    chans = _check_channels(channels)
    k = _check_constants(constants)
    noise = check_array(noise_std, "noise_std", ndim=(0, 1), min_size=1)
    if (noise < 0).any() or (noise.ndim == 1 and noise.size not in (1, len(chans))):
        raise ValueError(f"noise_std must be >= 0, a scalar or one value per channel ({len(chans)}); "
                         f"got {short_repr(noise_std)}.")
    noisy = bool((noise > 0).any())
    if noisy:
        if rng is None:
            raise ValueError("rng must be given (a numpy.random.Generator or a seed) when noise_std > 0.")
        rng = _as_rng(rng)
    _check_resistances(th, model, k)
    workers = _check_scalar(workers, "workers")
    if workers != int(workers):
        raise ValueError(f"workers must be a positive integer; got {workers!r}.")
    m = _beat_samples(fs, k)

    def rows(sl: slice) -> np.ndarray:
        if model == "wave":
            period, _, pc, pr, ppg = _beat_spectra(th[sl], model, k, m)
            spectra = {"central": pc, "radial": pr, "ppg": ppg}
            beats = np.fft.irfft(np.stack([spectra[c] for c in chans], axis=1), n=m, axis=2)
            return _resample(beats, period, fs, n_out)
        return _windkessel_rows(th[sl], model, k, fs, n_out, chans, m=k.beat_samples or _WK_GRID)

    chunks = [slice(i, i + _CHUNK) for i in range(0, len(th), _CHUNK)]
    if int(workers) > 1 and len(chunks) > 1:
        from concurrent.futures import ThreadPoolExecutor  # NumPy releases the GIL in ufuncs and FFTs

        with ThreadPoolExecutor(max_workers=int(workers)) as pool:
            x = np.concatenate(list(pool.map(rows, chunks)), axis=0)
    else:
        x = np.concatenate([rows(c) for c in chunks], axis=0)
    if noisy:
        x = measure(x, rng, noise_std=noise)
    return x


def measure(x: Any, rng: Any, *, noise_std: Any, gain: Any = 1.0, offset: Any = 0.0) -> np.ndarray:
    """Measurement model: ``gain · x + offset + noise_std · ε``, ε ~ N(0, 1) i.i.d.

    ``x`` is ``(n, channels, time)``; ``noise_std``, ``gain`` and ``offset`` are each a scalar, one
    value per channel ``(channels,)`` or one per waveform and channel ``(n, channels)`` (an
    uncalibrated sensor: a PPG's gain is unknown). Noise is drawn from ``rng`` (Generator or seed).
    """
    arr = check_array(x, "x", ndim=3)
    n, c, _ = arr.shape

    def per(value: Any, name: str, nonneg: bool = False) -> np.ndarray:
        v = check_array(value, name, ndim=(0, 1, 2))
        if v.ndim == 1 and v.shape != (c,) and v.size != 1 or v.ndim == 2 and v.shape != (n, c):
            raise ValueError(f"{name} must be a scalar, shape ({c},) or ({n}, {c}); got shape {v.shape}.")
        if nonneg and (v < 0).any():
            raise ValueError(f"{name} must be >= 0; got {short_repr(value)} (min {v.min()!r}).")
        return v.reshape(-1, 1) if v.ndim == 1 and v.size == c else v[..., None] if v.ndim == 2 else v

    sd = per(noise_std, "noise_std", nonneg=True)
    g = per(gain, "gain")
    o = per(offset, "offset")
    gen = _as_rng(rng)
    return g * arr + o + sd * gen.standard_normal(arr.shape)
