"""Haemodynamics simulators against closed forms, scipy ODE solutions and transmission-line theory."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import quad, solve_ivp

from trustbench.domains.hemodynamics import simulators as hs
from trustbench.domains.hemodynamics.simulators import (
    CHANNELS,
    MODELS,
    PARAMETERS,
    Constants,
    derived_quantities,
    inflow,
    inflow_spectrum,
    line_input_impedance,
    line_pressure_transfer,
    lvet,
    measure,
    prior,
    simulate,
    simulate_beat,
    windkessel3_impedance,
    windkessel4_impedance,
)

TYPICAL = np.array([[6.0, 9.0, 26.0, 3.5, 72.0, 75.0, 1.0]])  # a healthy middle-aged adult
MIDPOINT = np.array([[(p.low + p.high) / 2 for p in PARAMETERS]])
KAPPA = math.pi / math.tan(0.35 * math.pi)  # skew of the documented ejection pulse


def draws(n, seed=0):
    return prior().sample(n, np.random.default_rng(seed))


def q_reference(theta_row, t):
    """The documented inflow written out independently: k·sin(πs)·exp(−κs), ∫ over the beat = SV."""
    hr, sv = theta_row[4], theta_row[5]
    period, e = 60.0 / hr, (413.0 - 1.7 * hr) / 1000.0
    amp = sv / (e * math.pi * (1 + math.exp(-KAPPA)) / (math.pi**2 + KAPPA**2))
    s = np.mod(t, period) / e
    return np.where(s <= 1, amp * np.sin(np.pi * np.minimum(s, 1)) * np.exp(-KAPPA * s), 0.0)


# ----------------------------------------------------------------------------- parameters, inflow


def test_prior_is_the_parameter_table():
    p = prior()
    assert p.dim == 7
    np.testing.assert_array_equal(p.low, [q.low for q in PARAMETERS])
    np.testing.assert_array_equal(p.high, [q.high for q in PARAMETERS])
    assert [q.name for q in PARAMETERS] == ["pwv_elastic", "pwv_muscular", "d_elastic", "d_muscular",
                                            "hr", "sv", "r_periph"]
    th = draws(500)
    assert np.isfinite(p.log_prob(th)).all()
    assert np.isfinite(simulate(th, model="wave")).all()  # the whole box is simulable


def test_lvet_is_weissler():
    np.testing.assert_allclose(lvet([60.0, 75.0, 100.0]), [0.311, 0.2855, 0.243])


def test_inflow_integrates_to_stroke_volume():
    th = draws(5, seed=1)
    for row in th:
        period, e = 60 / row[4], lvet(row[4])
        f = lambda t: float(inflow(row, [t])[0, 0])  # noqa: E731
        total = quad(f, 0, e, limit=200)[0] + quad(f, e, period)[0]
        assert total == pytest.approx(row[5], rel=1e-10)
        t = np.linspace(0, period, 2001)
        q = inflow(row, t)[0]
        np.testing.assert_allclose(q, q_reference(row, t), rtol=1e-12, atol=1e-12)
        assert (q >= 0).all() and (q[t > e] == 0).all()
        assert t[q.argmax()] / e == pytest.approx(0.35, abs=1e-3)  # peak at 35 % of ejection
    # closed-form Fourier coefficients: c_0 = SV/T, and c_k against the DFT of a fine sampling
    m = 2**15
    c = inflow_spectrum(th, 40)
    np.testing.assert_allclose(c[:, 0].real * 60 / th[:, 4], th[:, 5], rtol=1e-13)
    t = np.arange(m) * (60 / th[:, 4])[:, None] / m
    dft = np.fft.rfft(inflow(th, t), axis=1)[:, :40] / m
    np.testing.assert_allclose(c, dft, atol=1e-6 * np.abs(c).max())  # aliasing of a kinked pulse ~ m^-2


# ----------------------------------------------------------------------------- Windkessels


def test_mean_pressure_is_cardiac_output_times_total_resistance():
    th = draws(20, seed=2)
    co_r = th[:, 5] * th[:, 4] / 60 * th[:, 6]
    np.testing.assert_allclose(derived_quantities(th)["mean_pressure"], co_r, rtol=1e-14)
    for model in MODELS:
        beat = simulate_beat(th, model=model, beat_samples=512)
        np.testing.assert_allclose(beat.flow.mean(axis=1) * 60 / th[:, 4], th[:, 5], rtol=1e-10)  # grid ∑Q·dt = SV
        np.testing.assert_allclose(beat.central.mean(axis=1), co_r, rtol=1e-8)
        np.testing.assert_allclose(beat.radial.mean(axis=1), co_r, rtol=1e-8)
        np.testing.assert_allclose(beat.ppg.mean(axis=1), 0.0, atol=1e-12)


def _periodic_ode(rhs, y0, period, e, t_grid, max_beats=300):
    """Integrate beat after beat (split at the end of ejection) until the state repeats."""
    y = np.asarray(y0, dtype=float)
    opts = dict(method="DOP853", rtol=1e-11, atol=1e-10, dense_output=True)
    for _ in range(max_beats):
        s1 = solve_ivp(rhs, (0, e), y, **opts)
        s2 = solve_ivp(rhs, (e, period), s1.y[:, -1], **opts)
        if np.abs(s2.y[:, -1] - y).max() < 1e-9:
            break
        y = s2.y[:, -1]
    else:  # pragma: no cover
        raise AssertionError("ODE did not reach a periodic state")
    return np.where(t_grid <= e, s1.sol(np.minimum(t_grid, e)), s2.sol(np.maximum(t_grid, e)))


@pytest.mark.parametrize("model", ["windkessel3", "windkessel4"])
def test_windkessel_matches_time_domain_ode(model):
    """Frequency-domain periodic solution vs scipy solve_ivp run until periodic.

    The spectral solution is exact for the inflow's first m/2 harmonics; the ODE is driven by the
    continuous inflow. Their difference is the truncated part of Q times Zc (a Gibbs ripple at the two
    kinks of Q), so the ODE's sharp term is formed with the spectral flow and the rest must agree to
    the ODE's own tolerance.
    """
    th = TYPICAL
    d = derived_quantities(th)
    period, e = d["period"][0], d["lvet"][0]
    zc, c, r, ell = d["zc"][0], d["compliance"][0], th[0, 6], d["inertance"][0]
    q = lambda t: q_reference(th[0], t)  # noqa: E731
    m = 2048
    beat = simulate_beat(th, model=model, beat_samples=m)
    t_grid = beat.t[0]
    if model == "windkessel3":  # P = Zc·Q + Pc,  C·Pc' = Q − Pc/R,  R = r_total − Zc
        big_r = r - zc
        ys = _periodic_ode(lambda t, y: [(q(t) - y[0] / big_r) / c], [60.0], period, e, t_grid)
        p_ref = zc * beat.flow[0] + ys[0]
        p_cont = zc * q(t_grid) + ys[0]
    else:  # L ∥ Zc (Stergiopulos 1999): L·Q_L' = Zc·(Q − Q_L), P = Zc·(Q − Q_L) + Pc, C·Pc' = Q − Pc/R
        ys = _periodic_ode(lambda t, y: [zc * (q(t) - y[0]) / ell, (q(t) - y[1] / r) / c],
                           [0.0, 60.0], period, e, t_grid)
        p_ref = zc * (beat.flow[0] - ys[0]) + ys[1]
        p_cont = zc * (q(t_grid) - ys[0]) + ys[1]
    pulse = p_cont.max() - p_cont.min()
    assert np.abs(beat.central[0] - p_ref).max() < 1e-6 * pulse
    # against the continuous-inflow ODE directly: the Gibbs ripple of Q at m = 2048 is < 0.1 % of PP
    assert np.abs(beat.central[0] - p_cont).max() < 1e-3 * pulse
    assert np.median(np.abs(beat.central[0] - p_cont)) < 1e-6 * pulse


def test_windkessel4_limits():
    """L → ∞ gives the 3-element model at every ω > 0; at ω = 0 any finite L shunts Zc (Z(0) = R), so
    the pulsatile waveforms agree and the means differ by Zc·CO. L → 0 gives the 2-element model."""
    omega = 2 * np.pi * np.linspace(0, 30, 301)[1:]
    zc, r, c = 0.08, 1.0, 1.5
    np.testing.assert_allclose(windkessel4_impedance(omega, zc, r, c, 1e9), windkessel3_impedance(omega, zc, r, c),
                               rtol=1e-7)
    assert windkessel4_impedance(0.0, zc, r, c, 1e9) == r
    np.testing.assert_allclose(windkessel4_impedance(omega, zc, r, c, 1e-12), r / (1 + 1j * omega * r * c),
                               rtol=1e-9, atol=1e-9)
    th = TYPICAL
    m = 256
    omega_k = 2 * np.pi * np.arange(m // 2 + 1) / (60 / th[0, 4])
    qf = inflow_spectrum(th, m // 2 + 1)[0] * m
    p3 = np.fft.irfft(windkessel3_impedance(omega_k, zc, r, c) * qf, n=m)
    p4 = np.fft.irfft(windkessel4_impedance(omega_k, zc, r, c, 1e9) * qf, n=m)
    np.testing.assert_allclose(p4 - p4.mean(), p3 - p3.mean(), atol=1e-7 * np.ptp(p3))
    assert p3.mean() - p4.mean() == pytest.approx(zc * th[0, 5] * th[0, 4] / 60, rel=1e-10)


# ----------------------------------------------------------------------------- transmission lines


def test_line_formulas_match_the_chain_matrix():
    """Z_in and P2/P1 against the ABCD (chain) matrix of a uniform line, and two halves = one line."""
    rng = np.random.default_rng(3)
    omega = 2 * np.pi * np.linspace(0.1, 40, 50)
    z0 = 3.0 * (1 + 0.05j)
    gamma = 1j * omega / 8.0 + 0.02 * omega
    z_load = rng.uniform(0.5, 10, 50) + 1j * rng.uniform(-3, 3, 50)
    ell = 0.6
    a, b = np.cosh(gamma * ell), z0 * np.sinh(gamma * ell)
    cc, d = np.sinh(gamma * ell) / z0, np.cosh(gamma * ell)
    q2 = 1.0 / z_load  # P2 = 1, Q2 = P2/Z_L
    p1, q1 = a + b * q2, cc + d * q2
    np.testing.assert_allclose(line_input_impedance(z_load, z0, gamma, ell), p1 / q1, rtol=1e-10)
    np.testing.assert_allclose(line_pressure_transfer(z_load, z0, gamma, ell), 1 / p1, rtol=1e-10)
    z_mid = line_input_impedance(z_load, z0, gamma, ell / 2)
    np.testing.assert_allclose(line_input_impedance(z_mid, z0, gamma, ell / 2),
                               line_input_impedance(z_load, z0, gamma, ell), rtol=1e-10)
    np.testing.assert_allclose(line_pressure_transfer(z_mid, z0, gamma, ell / 2)
                               * line_pressure_transfer(z_load, z0, gamma, ell / 2),
                               line_pressure_transfer(z_load, z0, gamma, ell), rtol=1e-10)


def test_matched_line_has_no_reflection():
    """Load = Z0: Z_in = Z0 and the distal pressure is the proximal one delayed by l/c."""
    m, period, c = 1000, 0.8, 8.0
    shift = 90  # samples; l/c = 90 · 0.8 ms = 72 ms
    ell = c * shift * period / m
    omega = 2 * np.pi * np.arange(m // 2 + 1) / period
    z0 = 6.0
    np.testing.assert_allclose(line_input_impedance(z0, z0, 1j * omega / c, ell), z0, rtol=1e-12)
    p_in = simulate_beat(TYPICAL, model="windkessel3", beat_samples=m).central[0]
    p_out = np.fft.irfft(np.fft.rfft(p_in) * line_pressure_transfer(z0, z0, 1j * omega / c, ell), n=m)
    np.testing.assert_allclose(p_out, np.roll(p_in, shift), rtol=1e-10)
    # a mismatched load does reflect
    p_bad = np.fft.irfft(np.fft.rfft(p_in) * line_pressure_transfer(3 * z0, z0, 1j * omega / c, ell), n=m)
    assert np.abs(p_bad - np.roll(p_in, shift)).max() > 1.0


def _foot(p, period):
    """Foot = the kink where the upstroke starts: the peak of the second difference in the first
    half of the beat, refined by a parabola through its neighbours (maximum-curvature method)."""
    m = p.shape[1]
    d2 = (np.roll(p, -1, 1) - 2 * p + np.roll(p, 1, 1))[:, : m // 2]
    i = d2[:, 1:-1].argmax(axis=1) + 1
    rows = np.arange(len(p))
    y0, y1, y2 = d2[rows, i - 1], d2[rows, i], d2[rows, i + 1]
    return (i + 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2)) * period / m


@pytest.mark.parametrize("model", MODELS)
def test_foot_to_foot_delay_is_the_path_transit_time(model):
    """Central-to-radial foot delay = l_asc/PWV_e + l_arm/PWV_m (lossless lines: wave fronts travel at c).

    Tolerance: one step of the beat grid (T/m ≈ 0.1 ms, 0.1-0.2 % of the delay); the foot is the kink
    of a band-limited signal, located to a fraction of a step by the parabola.
    """
    th = draws(6, seed=4)
    m = 8192
    beat = simulate_beat(th, model=model, beat_samples=m)
    quarter = m // 4  # the central foot sits at t = 0: move it off the wrap-around
    central_foot = _foot(np.roll(beat.central, quarter, axis=1), beat.period) - beat.period / 4
    delay = _foot(beat.radial, beat.period) - central_foot
    tau = derived_quantities(th)["transit_time"]
    k = Constants()
    np.testing.assert_allclose(tau, k.length_ascending / th[:, 0] + k.length_arm / th[:, 1])
    np.testing.assert_allclose(np.abs(central_foot), 0, atol=beat.period.max() / m)
    np.testing.assert_allclose(delay, tau, atol=beat.period.max() / m)


def test_wave_model_physiology():
    """Radial pulse pressure exceeds central (amplification, 1.1-2 in adults) and radial diastolic and
    mean pressures sit slightly below/at the central ones; systolic central pressure is in a human range."""
    for th in (TYPICAL, MIDPOINT):
        beat = simulate_beat(th, model="wave")
        c, r = beat.central[0], beat.radial[0]
        amplification = (r.max() - r.min()) / (c.max() - c.min())
        assert 1.1 < amplification < 2.0
        assert r.max() > c.max() and r.min() < c.min()
        assert 90 < c.max() < 160 and 50 < c.min() < 95


def test_windkessel_radial_is_the_delayed_central_pressure():
    th = draws(4, seed=5)
    m = 512
    for model in ("windkessel3", "windkessel4"):
        beat = simulate_beat(th, model=model, beat_samples=m)
        tau = derived_quantities(th)["transit_time"]
        omega = 2 * np.pi * np.arange(m // 2 + 1) / beat.period[:, None]
        shifted = np.fft.rfft(beat.central, axis=1) * np.exp(-1j * omega * tau[:, None])
        # every harmonic but the Nyquist one (whose phase a real m-point signal cannot hold)
        np.testing.assert_allclose(np.fft.rfft(beat.radial, axis=1)[:, :-1], shifted[:, :-1], atol=1e-9 * m)


# ----------------------------------------------------------------------------- simulate, measure


@pytest.mark.parametrize("model", MODELS)
def test_simulate_samples_the_beat(model):
    """simulate's fast path (1024-point grid, linear interpolation; Windkessels: closed-form Zc·Q)
    against a 16384-point beat: within 1 % of the pulse pressure (measured ≤ 0.3 %)."""
    th = draws(30, seed=6)
    fs, duration = 125.0, 2.5
    x = simulate(th, model=model, fs=fs, duration=duration)
    assert x.shape == (30, 3, 312)
    beat = simulate_beat(th, model=model, beat_samples=16384)
    t = np.arange(x.shape[2]) / fs
    for ci, name in enumerate(CHANNELS):
        sig = getattr(beat, name)
        ref = np.stack([np.interp(t % beat.period[i], np.r_[beat.t[i], beat.period[i]], np.r_[sig[i], sig[i, 0]])
                        for i in range(len(th))])
        span = sig.max(axis=1) - sig.min(axis=1)
        assert (np.abs(x[:, ci] - ref).max(axis=1) < 0.01 * span).all(), name


def test_shapes_channels_window_and_determinism(monkeypatch):
    th = np.repeat(TYPICAL, 3, axis=0)
    th[:, 4] = 75.0  # T = 0.8 s = 100 samples at 125 Hz
    x = simulate(th, model="wave", fs=125.0, duration=2.0)
    assert x.shape == (3, 3, 250) and x.dtype == np.float64
    np.testing.assert_allclose(x[..., :100], x[..., 100:200], atol=1e-9)  # the beat repeats
    sub = simulate(th, model="wave", fs=125.0, duration=2.0, channels=("ppg", "central"))
    np.testing.assert_array_equal(sub, x[:, [2, 0]])
    assert simulate(th, channels="radial", fs=50.0, duration=0.3).shape == (3, 1, 15)
    np.testing.assert_array_equal(simulate(th), simulate(th))
    for model in ("windkessel3", "windkessel4"):  # the window starts at the onset of ejection (diastolic minimum)
        xc = simulate(th[:1], model=model, fs=1000.0, duration=0.8, channels=("central",))[0, 0]
        assert xc[0] == pytest.approx(xc.min(), abs=0.01)
    # a row's waveform does not depend on its batch, chunking or threads
    big = draws(50, seed=7)
    for model in MODELS:
        full = simulate(big, model=model, duration=0.5)
        monkeypatch.setattr(hs, "_CHUNK", 16)
        np.testing.assert_allclose(simulate(big, model=model, duration=0.5), full, atol=1e-9)
        np.testing.assert_allclose(simulate(big[[5, 49]], model=model, duration=0.5), full[[5, 49]], atol=1e-9)
        np.testing.assert_allclose(simulate(big, model=model, duration=0.5, workers=2), full, atol=1e-9)
        monkeypatch.undo()
    a = simulate(th, noise_std=0.5, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(a, simulate(th, noise_std=0.5, rng=np.random.default_rng(1)))
    np.testing.assert_array_equal(a, simulate(th, noise_std=0.5, rng=1))
    assert not np.array_equal(a, simulate(th, noise_std=0.5, rng=np.random.default_rng(2)))


def test_measure_noise_gain_offset():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(400, 2, 250))
    y = measure(x, np.random.default_rng(9), noise_std=[0.5, 2.0], gain=[1.0, 3.0], offset=[0.0, -1.0])
    resid = y - np.array([1.0, 3.0])[:, None] * x - np.array([0.0, -1.0])[:, None]
    # 100 000 draws per channel: the sample sd has relative standard error 1/sqrt(2N) ≈ 0.22 %
    np.testing.assert_allclose(resid.std(axis=(0, 2)), [0.5, 2.0], rtol=0.01)
    np.testing.assert_allclose(resid.mean(axis=(0, 2)), 0.0, atol=4 * 2.0 / math.sqrt(1e5))
    per_row = measure(x, 0, noise_std=0.0, gain=np.full((400, 2), 2.0))
    np.testing.assert_array_equal(per_row, 2 * x)
    with pytest.raises(ValueError, match="noise_std"):
        measure(x, 0, noise_std=-1.0)
    with pytest.raises(ValueError, match="gain"):
        measure(x, 0, noise_std=0.0, gain=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="x must be 3-D"):
        measure(x[0], 0, noise_std=0.0)
    with pytest.raises(TypeError, match="rng"):
        measure(x, "seed", noise_std=0.1)


def test_stroke_volume_scales_pressure_and_leaves_ppg_unchanged():
    """Linearity in Q: P(k·SV) = k·P(SV) exactly, and the normalised PPG is invariant, so a PPG of
    unknown gain carries no information on SV (a non-identifiable direction)."""
    th = draws(5, seed=10)
    th2 = th.copy()
    th2[:, 5] *= 1.3
    for model in MODELS:
        x, x2 = simulate(th, model=model), simulate(th2, model=model)
        np.testing.assert_allclose(x2[:, :2], 1.3 * x[:, :2], rtol=1e-12, atol=1e-10)
        np.testing.assert_allclose(x2[:, 2], x[:, 2], rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(theta=np.ones((3, 6))), ValueError, r"shape \(n, 7\)"),
    (dict(theta=[[6, 9, 26, 3.5, 72, -75, 1.0]]), ValueError, r"sv, ml\) must be > 0; got -75"),
    (dict(theta=[[6, 9, 26, 3.5, 250, 75, 1.0]]), ValueError, "hr"),
    (dict(theta=[[6, 9, 26, np.nan, 72, 75, 1.0]]), ValueError, "finite"),
    (dict(theta=[[14, 9, 10, 3.5, 72, 75, 0.05]]), ValueError, "r_periph"),
    (dict(model="windkessel"), ValueError, "Did you mean"),
    (dict(model=3), TypeError, "model"),
    (dict(fs=0.0), ValueError, "fs"),
    (dict(duration=-1.0), ValueError, "duration"),
    (dict(fs=1.0, duration=0.1), ValueError, "at least one sample"),
    (dict(channels=("central", "femoral")), ValueError, "channels"),
    (dict(channels=()), ValueError, "channels"),
    (dict(channels=("ppg", "ppg")), ValueError, "repeat"),
    (dict(noise_std=0.1), ValueError, "rng must be given"),
    (dict(noise_std=[0.1, 0.2]), ValueError, "noise_std"),
    (dict(constants="default"), TypeError, "constants"),
    (dict(workers=1.5), ValueError, "workers"),
])
def test_validation(kwargs, exc, match):
    args = dict(theta=TYPICAL) | kwargs
    with pytest.raises(exc, match=match):
        simulate(args.pop("theta"), **args)


def test_constants_validation():
    with pytest.raises(ValueError, match="length_arm"):
        Constants(length_arm=0.0)
    with pytest.raises(ValueError, match="arm_flow_fraction"):
        Constants(arm_flow_fraction=1.2)
    with pytest.raises(ValueError, match="beat_samples"):
        Constants(beat_samples=101)
    x = simulate(TYPICAL, constants=Constants(wall_viscosity=0.002, beat_samples=512))
    assert np.isfinite(x).all()


def test_one_dimensional_theta_is_one_row():
    np.testing.assert_array_equal(simulate(TYPICAL[0]), simulate(TYPICAL))
    assert hs.PARAMETER_NAMES[6] == "r_periph"
