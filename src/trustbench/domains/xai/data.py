"""Data with known ground-truth feature importance for the explainable-AI benchmark (``xai``).

Importance is **statistical association with the target** (Haufe et al. 2014, NeuroImage 87:96-110;
Wilming et al. 2022, Mach. Learn. 111:1903-1923; Wilming et al. 2023, ICML, "Theoretical behavior of
XAI methods in the presence of suppressor variables"; Clark, Wilming & Haufe 2024, Mach. Learn.,
"XAI-TRIS"). A *suppressor* has no association with the target, but a model uses it to cancel noise
in an important feature; it is **not** important. Every generator returns an :class:`XaiData`:

``X``
    float64, ``(n, d)`` (tabular) or ``(n, h, w)`` (images).
``y``
    int64 labels in {0, 1}, shape ``(n,)``.
``mask``
    bool, same shape as ``X``: the ground-truth important features **of each sample** (per-sample
    arrays everywhere, also where the mask is the same for every sample).
``suppressor``
    bool, same shape as ``X``: features that are suppressors (distractor-only); all False where a
    problem defines none. ``mask & suppressor`` is always empty.
``meta``
    the generating parameters (and, for the image scenarios, the per-sample latent placements).

Generators
----------
:func:`linear_suppressor_2d`
    Haufe et al. (2014, the two-feature example) and Wilming et al. (2023): ``x = a z + eta``,
    ``a = (signal_std, 0)``, ``z = 2y - 1`` (Rademacher, as in Wilming et al. 2023),
    ``eta ~ N(0, Sigma)``, ``Sigma = [[s^2, c s^2], [c s^2, s^2]]``, ``s = distractor_std``,
    ``c = correlation``. The default ``c = 1`` is the classic example ``x1 = z + d, x2 = d``; the
    Bayes-optimal linear model ``w ~ Sigma^-1 a ~ (1, -c)`` uses ``x2`` to cancel ``d``
    (:func:`optimal_linear_weights_2d`), while the activation pattern ``Cov(x) w``
    (:func:`haufe_pattern`) is ``~ a`` and gives ``x2`` no importance.
:func:`linear_image_8x8`
    The linear 8x8 model of Wilming et al. (2022): ``x = l1 a^ z + l2 d^ eta + l3 eps``.
:func:`xai_tris`
    The XAI-TRIS scenarios LIN, MULT, RIGID, XOR on WHITE or CORR backgrounds, 8x8 or 64x64
    (Clark et al. 2024; constants from github.com/braindatalab/xai-tris ``data/data_config.json``
    and ``data/data_utils.py``).
:func:`tabular_clinical`
    A clinical-style tabular problem with causal, confounded, suppressor and irrelevant features.

Normalisation convention (all image generators). XAI-TRIS normalises each component (signal,
distractor, background) to unit Frobenius norm before mixing with weights. Here each component is
scaled to unit *mean energy per pixel*: a pattern image ``s`` becomes ``s sqrt(h w) / ||s||_F``
(per sample), and a noise field is scaled to unit variance at every pixel, computed exactly from
the smoothing operator (not estimated from the batch). This is the population version of XAI-TRIS's
normalisation times the constant ``sqrt(n h w)``, so the mixing weights (``alpha``, ``l1..l3``)
mean the same, samples stay independent of each other, and ``X`` does not depend on ``n``.
XAI-TRIS's final division of the whole data set by ``max |x|`` (a global constant) is omitted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trustbench.validation import check_choice, check_int, short_repr

__all__ = [
    "XaiData",
    "SCENARIOS",
    "BACKGROUNDS",
    "DEFAULT_ALPHA",
    "SIZES",
    "TETROMINOES",
    "SIGNAL_PATTERN_8X8",
    "DISTRACTOR_PATTERN_8X8",
    "CLINICAL_FEATURES",
    "linear_suppressor_2d",
    "optimal_linear_weights_2d",
    "haufe_pattern",
    "linear_image_8x8",
    "xai_tris",
    "tabular_clinical",
    "upscale_mask",
]


@dataclass(frozen=True, eq=False)
class XaiData:
    """Inputs, labels and the ground truth of an explanation problem (see the module docstring)."""

    X: np.ndarray
    y: np.ndarray
    mask: np.ndarray
    suppressor: np.ndarray
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.y.shape != (len(self.X),):
            raise ValueError(f"y must have shape ({len(self.X)},); got {self.y.shape}.")
        for name in ("mask", "suppressor"):
            arr = getattr(self, name)
            if arr.shape != self.X.shape or arr.dtype != bool:
                raise ValueError(
                    f"{name} must be a boolean array of shape {self.X.shape}; "
                    f"got {arr.dtype} of shape {arr.shape}."
                )

    def __len__(self) -> int:
        return len(self.X)


# --------------------------------------------------------------------------------------------
# shared helpers


def _rng(seed: Any) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(check_int(seed, "seed", minimum=0))


def _check_n(n: Any) -> int:
    return check_int(n, "n", minimum=2)


def _check_real(value: Any, name: str, *, low: float | None = None, high: float | None = None,
                low_open: bool = False) -> float:
    """A finite real number in [low, high] (``low_open``: in (low, high])."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number; got {short_repr(value)}.")
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"{name} must be finite; got {value!r}.")
    if low is not None and (v < low or (low_open and v == low)):
        rule = f"> {low}" if low_open else f">= {low}"
        raise ValueError(f"{name} must be {rule}; got {value!r}.")
    if high is not None and v > high:
        raise ValueError(f"{name} must be <= {high}; got {value!r}.")
    return v


def _balanced_labels(n: int, rng: np.random.Generator) -> np.ndarray:
    """Exactly balanced labels in random order: floor(n/2) zeros and ceil(n/2) ones (XAI-TRIS)."""
    return rng.permutation(np.arange(n, dtype=np.int64) % 2)


def _pixel_std(shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Exact per-pixel std of ``gaussian_filter(white, sigma, mode='reflect')`` for unit white noise.

    The filter is separable: its 1-D operator ``K`` (rows = outputs) gives ``Var = sum_j K_ij^2`` per
    axis, and the 2-D variance is the outer product of the two axes' variances.
    """
    from scipy.ndimage import gaussian_filter1d

    var = [np.sum(gaussian_filter1d(np.eye(m), sigma, axis=0, mode="reflect") ** 2, axis=1) for m in shape]
    return np.sqrt(np.outer(var[0], var[1]))


def _smooth_noise(rng: np.random.Generator, n: int, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Unit-variance Gaussian noise fields ``(n, h, w)``, smoothed with ``sigma`` pixels (0: white)."""
    noise = rng.standard_normal((n, *shape))
    if sigma == 0:
        return noise
    from scipy.ndimage import gaussian_filter

    smooth = gaussian_filter(noise, sigma=(0, sigma, sigma), mode="reflect")
    return smooth / _pixel_std(shape, sigma)


def _unit_energy(images: np.ndarray) -> np.ndarray:
    """Scale each image to Frobenius norm ``sqrt(h w)`` (unit mean energy per pixel); zeros stay zero."""
    norm = np.sqrt(np.sum(images**2, axis=(-2, -1), keepdims=True))
    scale = np.sqrt(images.shape[-2] * images.shape[-1])
    return np.divide(images * scale, norm, out=np.zeros_like(images), where=norm > 0)


def upscale_mask(mask: np.ndarray, factor: int) -> np.ndarray:
    """Each pixel of the last two axes becomes a ``factor x factor`` block (``np.kron``-style)."""
    factor = check_int(factor, "factor", minimum=1)
    return np.repeat(np.repeat(np.asarray(mask), factor, axis=-2), factor, axis=-1)


# --------------------------------------------------------------------------------------------
# 1. the two-dimensional analytic suppressor problem


def linear_suppressor_2d(
    n: int,
    *,
    seed: Any = 0,
    signal_std: float = 1.0,
    distractor_std: float = 1.0,
    correlation: float = 1.0,
) -> XaiData:
    """Two features, one of them a suppressor (Haufe et al. 2014; Wilming et al. 2023).

    ``y`` is exactly balanced, ``z = 2y - 1`` and ``x = a z + eta`` with ``a = (signal_std, 0)``,
    ``eta ~ N(0, s^2 [[1, c], [c, 1]])``, ``s = distractor_std``, ``c = correlation``. With the
    default ``c = 1``: ``x1 = signal_std z + d``, ``x2 = d``, ``d ~ N(0, s^2)`` (a perfectly
    separable problem: ``x1 - x2 = signal_std z``; take ``c < 1`` for a finite Bayes error).

    ``x2`` is independent of ``y`` (mask ``[True, False]``) but the Bayes-optimal linear model puts
    weight ``-c`` on it relative to ``x1`` (suppressor ``[False, True]``, where ``c != 0``).
    """
    n = _check_n(n)
    rng = _rng(seed)
    signal_std = _check_real(signal_std, "signal_std", low=0, low_open=True)
    distractor_std = _check_real(distractor_std, "distractor_std", low=0, low_open=True)
    correlation = _check_real(correlation, "correlation", low=-1.0, high=1.0)
    y = _balanced_labels(n, rng)
    z = 2.0 * y - 1.0
    e = rng.standard_normal((n, 2))
    d = distractor_std * e[:, 0]
    x2 = distractor_std * (correlation * e[:, 0] + np.sqrt(1.0 - correlation**2) * e[:, 1])
    X = np.column_stack([signal_std * z + d, x2])
    mask = np.broadcast_to(np.array([True, False]), X.shape).copy()
    suppressor = np.broadcast_to(np.array([False, correlation != 0]), X.shape).copy()
    meta = {
        "generator": "linear_suppressor_2d",
        "n": n,
        "signal_std": signal_std,
        "distractor_std": distractor_std,
        "correlation": correlation,
        "signal_pattern": [signal_std, 0.0],
        "noise_cov": (distractor_std**2 * np.array([[1.0, correlation], [correlation, 1.0]])).tolist(),
        "label_rule": "z = 2y - 1 (Rademacher), y exactly balanced",
        "source": "Haufe et al. 2014 NeuroImage; Wilming et al. 2023 ICML",
    }
    return XaiData(X, y, mask, suppressor, meta)


def optimal_linear_weights_2d(
    *, signal_std: float = 1.0, distractor_std: float = 1.0, correlation: float = 1.0
) -> np.ndarray:
    """Direction of the Bayes-optimal linear classifier of :func:`linear_suppressor_2d`.

    Gaussian class conditionals with a shared covariance give LDA, ``w ~ Sigma^-1 a`` with no
    offset (class means ``+-a``). For ``a = (a1, 0)`` and ``Sigma = s^2 [[1, c], [c, 1]]`` this is
    ``(1, -c)`` up to a positive factor, also in the limit ``|c| -> 1``; returned with ``w[0] = 1``
    (Wilming et al. 2023). Least squares on ``y`` finds the same direction, since
    ``Cov(x)^-1 a ~ Sigma^-1 a`` (Sherman-Morrison).
    """
    _check_real(signal_std, "signal_std", low=0, low_open=True)
    _check_real(distractor_std, "distractor_std", low=0, low_open=True)
    c = _check_real(correlation, "correlation", low=-1.0, high=1.0)
    return np.array([1.0, -c])


def haufe_pattern(X: Any, w: Any) -> np.ndarray:
    """Activation pattern ``A = Cov(X) w`` of a linear model ``w`` (Haufe et al. 2014).

    ``X`` is ``(n, d)`` (or ``(n, h, w)``, flattened), ``w`` is ``(d,)`` or ``(d, k)``; the sample
    covariance uses ``ddof = 1``. Haufe's scalar factor ``Cov(w' x)^-1`` is omitted (it rescales
    the pattern of a single output, not its shape).
    """
    from trustbench.validation import check_array

    X = check_array(X, "X", ndim=(2, 3))
    X = X.reshape(len(X), -1)
    if len(X) < 2:
        raise ValueError(f"X must have at least 2 samples; got {len(X)}.")
    w = check_array(w, "w", ndim=(1, 2))
    if w.shape[0] != X.shape[1]:
        raise ValueError(f"w must have {X.shape[1]} rows (one per feature of X); got shape {w.shape}.")
    Xc = X - X.mean(axis=0)
    return Xc.T @ (Xc @ w) / (len(X) - 1)


# --------------------------------------------------------------------------------------------
# 2. the linear 8x8 image model with a distractor


def _block(shape: tuple[int, int], rows: slice, cols: slice) -> np.ndarray:
    out = np.zeros(shape)
    out[rows, cols] = 1.0
    return out


#: Signal pattern ``a`` (3x3 block, upper left) and distractor ``d`` (``a`` plus the 3x3 block
#: below it) of :func:`linear_image_8x8`; the lower block is the suppressor.
SIGNAL_PATTERN_8X8 = _block((8, 8), slice(1, 4), slice(1, 4))
DISTRACTOR_PATTERN_8X8 = SIGNAL_PATTERN_8X8 + _block((8, 8), slice(4, 7), slice(1, 4))


def linear_image_8x8(
    n: int,
    *,
    seed: Any = 0,
    weights: Sequence[float] = (0.15, 0.425, 0.425),
    noise_sigma: float = 1.0,
) -> XaiData:
    """Linear 8x8 images with a suppressor (Wilming et al. 2022): ``x = l1 a^ z + l2 d^ eta + l3 eps``.

    ``z = 2y - 1`` (``y`` exactly balanced), ``eta ~ N(0, 1)`` one scalar per image, ``eps``
    white Gaussian noise smoothed with a Gaussian of ``noise_sigma`` pixels (``0``: white) and scaled
    to unit variance at every pixel. ``a^``, ``d^`` are :data:`SIGNAL_PATTERN_8X8` and
    :data:`DISTRACTOR_PATTERN_8X8` scaled to unit mean energy per pixel, so ``weights = (l1, l2, l3)``
    weigh three components of equal energy. The default weights are XAI-TRIS's 8x8 WHITE
    ``distractor_additive`` setting ``(0.15, 0.425, 0.425)``; the pattern geometry (signal block
    and a distractor covering it and the block below it) and ``noise_sigma`` are this module's
    choices, as the exact values of Wilming et al. (2022) could not be consulted.

    ``mask = a != 0``; ``suppressor = (d != 0) & (a == 0)``: the lower block carries ``eta`` but no
    ``z``, so it is independent of ``y`` while a linear model subtracts it to cancel ``eta``. (Under
    correlated noise every pixel may help to cancel ``eps``; only the distractor-only pixels are
    flagged.)
    """
    n = _check_n(n)
    rng = _rng(seed)
    weights = _check_weights(weights)
    noise_sigma = _check_real(noise_sigma, "noise_sigma", low=0.0)
    y = _balanced_labels(n, rng)
    z = 2.0 * y - 1.0
    eta = rng.standard_normal(n)
    eps = _smooth_noise(rng, n, (8, 8), noise_sigma)
    a_hat = _unit_energy(SIGNAL_PATTERN_8X8)
    d_hat = _unit_energy(DISTRACTOR_PATTERN_8X8)
    l1, l2, l3 = weights
    X = l1 * z[:, None, None] * a_hat + l2 * eta[:, None, None] * d_hat + l3 * eps
    a_on, d_on = SIGNAL_PATTERN_8X8 != 0, DISTRACTOR_PATTERN_8X8 != 0
    mask = np.broadcast_to(a_on, X.shape).copy()
    suppressor = np.broadcast_to(d_on & ~a_on, X.shape).copy()
    meta = {
        "generator": "linear_image_8x8",
        "n": n,
        "weights": list(weights),
        "noise_sigma": noise_sigma,
        "signal_pattern": SIGNAL_PATTERN_8X8.tolist(),
        "distractor_pattern": DISTRACTOR_PATTERN_8X8.tolist(),
        "label_rule": "z = 2y - 1, y exactly balanced",
        "source": "Wilming et al. 2022 Mach. Learn.; weights: XAI-TRIS data_config.json (8x8, white)",
    }
    return XaiData(X, y, mask, suppressor, meta)


def _check_weights(weights: Any) -> tuple[float, float, float]:
    if isinstance(weights, (str, bytes)) or not isinstance(weights, Sequence) or len(weights) != 3:
        raise ValueError(f"weights must be a sequence of 3 numbers (l1, l2, l3); got {short_repr(weights)}.")
    out = tuple(_check_real(w, f"weights[{i}]", low=0.0) for i, w in enumerate(weights))
    if sum(out) == 0:
        raise ValueError(f"weights must not all be 0; got {short_repr(weights)}.")
    return out  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------
# 3. XAI-TRIS

SCENARIOS = ("lin", "mult", "rigid", "xor")
BACKGROUNDS = ("white", "corr")
SIZES = (8, 64)

#: The two tetrominoes of XAI-TRIS (``data_utils.get_patterns``), on the 8x8 grid: class 0 is "T",
#: class 1 is "L".
TETROMINOES = {
    "T": np.array([[1, 0], [1, 1], [1, 0]], dtype=bool),
    "L": np.array([[1, 0], [1, 0], [1, 1]], dtype=bool),
}
#: Top-left corners of "T" and "L" on the 8x8 grid (LIN, MULT, XOR); times 8 at 64x64.
POSITIONS_8X8 = ((1, 1), (4, 5))

#: Default ``alpha`` per (scenario, background, size): XAI-TRIS ``data/data_config.json``
#: (github.com/braindatalab/xai-tris, commit 53a01e7), the values the authors chose so that
#: their models learn (LIN/RIGID/XOR: ``additive``, MULT: ``multiplicative``).
DEFAULT_ALPHA = {
    ("lin", "white", 8): 0.18, ("lin", "corr", 8): 0.0125,
    ("mult", "white", 8): 0.7, ("mult", "corr", 8): 0.1,
    ("rigid", "white", 8): 0.65, ("rigid", "corr", 8): 0.2,
    ("xor", "white", 8): 0.35, ("xor", "corr", 8): 0.15,
    ("lin", "white", 64): 0.03, ("lin", "corr", 64): 0.02,
    ("mult", "white", 64): 0.2, ("mult", "corr", 64): 0.65,
    ("rigid", "white", 64): 0.575, ("rigid", "corr", 64): 0.375,
    ("xor", "white", 64): 0.35, ("xor", "corr", 64): 0.15,
}  # fmt: skip
#: Background smoothing (pixels) of CORR and pattern smoothing per image size (XAI-TRIS).
BACKGROUND_SIGMA = {8: 3.0, 64: 10.0}
PATTERN_SIGMA = {8: 0.0, 64: 1.5}
#: Tetromino cell size in pixels: x8 at 64x64 except RIGID (x4), as in XAI-TRIS.
PATTERN_SCALE = {("rigid", 64): 4}


def _pattern_cells(name: str, scale: int) -> np.ndarray:
    return upscale_mask(TETROMINOES[name], scale)


def _fixed_images(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Unsmoothed "T" and "L" images at their fixed XAI-TRIS positions, ``(2, size, size)`` bool."""
    scale = size // 8
    out = np.zeros((2, size, size), dtype=bool)
    for k, (name, (r, c)) in enumerate(zip(("T", "L"), POSITIONS_8X8)):
        cells = _pattern_cells(name, scale)
        r0, c0 = r * scale, c * scale
        out[k, r0 : r0 + cells.shape[0], c0 : c0 + cells.shape[1]] = cells
    return out


def _smooth_patterns(images: np.ndarray, sigma: float) -> np.ndarray:
    images = images.astype(np.float64)
    if sigma == 0:
        return images
    from scipy.ndimage import gaussian_filter

    sig = (0,) * (images.ndim - 2) + (sigma, sigma)
    return gaussian_filter(images, sigma=sig, mode="constant")


def _rigid_masks(y: np.ndarray, size: int, scale: int, rng: np.random.Generator):
    """Tetromino of each sample's class, rotated by ``k * 90`` degrees and placed uniformly at random.

    Vectorised: one fancy-indexing assignment per (class, rotation), not per sample.
    """
    n = len(y)
    k = rng.integers(0, 4, size=n)
    u = rng.random((n, 2))
    masks = np.zeros((n, size, size), dtype=bool)
    offsets = np.zeros((n, 2), dtype=np.int64)
    for cls, name in enumerate(("T", "L")):
        for rot in range(4):
            idx = np.flatnonzero((y == cls) & (k == rot))
            if idx.size == 0:
                continue
            cells = np.rot90(_pattern_cells(name, scale), rot)
            span = np.array([size - cells.shape[0] + 1, size - cells.shape[1] + 1])
            off = np.floor(u[idx] * span).astype(np.int64)
            offsets[idx] = off
            rr, cc = np.nonzero(cells)
            masks[idx[:, None], off[:, :1] + rr, off[:, 1:] + cc] = True
    return masks, k, offsets


def xai_tris(
    n: int,
    *,
    scenario: str,
    background: str = "white",
    size: int = 8,
    alpha: float | None = None,
    smoothing_sigma: float | None = None,
    seed: Any = 0,
) -> XaiData:
    """XAI-TRIS image classification (Clark, Wilming & Haufe 2024, Mach. Learn.), ``(n, size, size)``.

    Patterns: the tetrominoes "T" (class 0) and "L" (class 1) of :data:`TETROMINOES` on the 8x8
    grid; at 64x64 each cell is an 8x8 block (4x4 for RIGID) and the pattern image is smoothed with
    a Gaussian of 1.5 pixels (XAI-TRIS ``pattern_scale > 3``). ``y`` is exactly balanced.

    ``scenario``
        ``"lin"``: ``x = alpha s^ + (1 - alpha) b``, ``s`` the class's tetromino at its fixed
        position; ``"mult"``: ``x = (1 - alpha s) / rms(1 - alpha s) * b`` (pixelwise);
        ``"rigid"``: as ``"lin"`` but the class's tetromino is rotated by a random multiple of 90
        degrees and placed uniformly at random, fully inside the image (``meta["rotation"]``,
        ``meta["offset"]``); ``"xor"``: both tetrominoes at their fixed positions with random signs
        ``s_T, s_L`` in {-1, +1} (``meta["signs"]``), ``y = 1`` iff ``s_T s_L = -1``, mixed as LIN.
    ``background``
        ``"white"``: i.i.d. N(0, 1) pixels; ``"corr"``: white noise smoothed with a Gaussian of
        ``smoothing_sigma`` pixels (default 3 at 8x8, 10 at 64x64, as XAI-TRIS; ``mode='reflect'``)
        and scaled to unit variance at every pixel.
    ``alpha``
        Signal weight in [0, 1]; ``None`` takes :data:`DEFAULT_ALPHA` (XAI-TRIS's choice per
        scenario, background and size). ``alpha = 0`` carries no class information.

    ``mask`` is the (unsmoothed) tetromino support of the sample's class pattern (XOR: both), so at
    64x64 LIN/MULT/XOR it equals the 8x8 mask upscaled by 8. The 1.5-pixel smoothing at 64x64 lets a
    little signal leak up to ~6 pixels outside the mask. ``suppressor`` is all False: XAI-TRIS
    defines no distractor here (under CORR any off-pattern pixel can serve to cancel background).
    """
    n = _check_n(n)
    scenario = check_choice(scenario, "scenario", SCENARIOS)
    background = check_choice(background, "background", BACKGROUNDS)
    if isinstance(size, bool) or size not in SIZES:
        raise ValueError(f"size must be one of {list(SIZES)}; got {size!r}.")
    rng = _rng(seed)
    size = int(size)
    if alpha is None:
        alpha = DEFAULT_ALPHA[(scenario, background, size)]
    alpha = _check_real(alpha, "alpha", low=0.0, high=1.0)
    if smoothing_sigma is None:
        smoothing_sigma = BACKGROUND_SIGMA[size]
    smoothing_sigma = _check_real(smoothing_sigma, "smoothing_sigma", low=0.0)
    scale = PATTERN_SCALE.get((scenario, size), size // 8)
    pattern_sigma = PATTERN_SIGMA[size]

    y = _balanced_labels(n, rng)
    meta: dict[str, Any] = {}
    if scenario == "rigid":
        masks, rotation, offset = _rigid_masks(y, size, scale, rng)
        signal = _smooth_patterns(masks, pattern_sigma)
        meta.update(rotation=rotation, offset=offset)
    else:
        fixed = _fixed_images(size)
        templates = _smooth_patterns(fixed, pattern_sigma)
        if scenario == "xor":
            s_t = rng.choice(np.array([-1.0, 1.0]), size=n)
            s_l = s_t * np.where(y == 1, -1.0, 1.0)
            signal = s_t[:, None, None] * templates[0] + s_l[:, None, None] * templates[1]
            masks = np.broadcast_to(fixed[0] | fixed[1], (n, size, size)).copy()
            meta["signs"] = np.column_stack([s_t, s_l])
        else:
            signal = templates[y]
            masks = fixed[y]
    sigma_bg = smoothing_sigma if background == "corr" else 0.0
    b = _smooth_noise(rng, n, (size, size), sigma_bg)
    if scenario == "mult":
        X = _unit_energy(1.0 - alpha * signal) * b
    else:
        X = alpha * _unit_energy(signal) + (1.0 - alpha) * b
    meta = {
        "generator": "xai_tris",
        "n": n,
        "scenario": scenario,
        "background": background,
        "size": size,
        "alpha": alpha,
        "smoothing_sigma": sigma_bg,
        "pattern_sigma": pattern_sigma,
        "pattern_scale": scale,
        "patterns": {"0": "T", "1": "L"},
        "positions": [[r * (size // 8), c * (size // 8)] for r, c in POSITIONS_8X8],
        "source": "Clark, Wilming & Haufe 2024 Mach. Learn.; github.com/braindatalab/xai-tris",
        **meta,
    }
    return XaiData(X, y, masks, np.zeros_like(masks), meta)


# --------------------------------------------------------------------------------------------
# 4. a clinical-style tabular problem

#: name -> (role, unit). Roles: ``causal`` (a measurement of a quantity in the outcome model),
#: ``confounded`` (shares a cause with the outcome, is not in the outcome model), ``suppressor``
#: (independent of the outcome, correlated with the measurement error of a causal feature),
#: ``irrelevant`` (independent of everything).
CLINICAL_FEATURES = {
    "age": ("causal", "years"),
    "creatinine": ("causal", "mg/dL"),
    "lab_qc_deviation": ("suppressor", "%"),
    "lactate": ("causal", "mmol/L"),
    "sbp": ("causal", "mmHg"),
    "arm_circumference": ("suppressor", "cm"),
    "grip_strength": ("confounded", "kg"),
    "bun": ("confounded", "mg/dL"),
    "height": ("irrelevant", "cm"),
}
#: Log-odds coefficients of the standardised latent causes (age, kidney dysfunction, true lactate,
#: hypotension, frailty).
CLINICAL_COEF = {"age": 0.7, "kidney": 0.8, "lactate": 0.8, "hypotension": 0.6, "frailty": 0.7}


def _intercept_for_prevalence(scale: float, prevalence: float) -> float:
    """``b`` with ``E[sigmoid(b + scale Z)] = prevalence``, ``Z ~ N(0, 1)`` (Gauss-Hermite, bisection)."""
    nodes, wts = np.polynomial.hermite_e.hermegauss(80)
    wts = wts / wts.sum()

    def mean_p(b: float) -> float:
        return float(np.sum(wts / (1.0 + np.exp(-(b + scale * nodes)))))

    lo, hi = -30.0, 30.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if mean_p(mid) < prevalence else (lo, mid)
    return 0.5 * (lo + hi)


def tabular_clinical(n: int, *, seed: Any = 0, prevalence: float = 0.3) -> XaiData:
    """Clinical-style tabular outcome with known important, confounded and suppressor features.

    Latent standardised quantities (all independent N(0, 1)): age ``A``, kidney dysfunction ``K``,
    true lactate ``L``, hypotension ``H``, frailty ``F``, a creatinine assay offset ``O`` and the
    patient's arm size ``R``. The outcome is ``y ~ Bernoulli(sigmoid(b + 0.7A + 0.8K + 0.8L + 0.6H
    + 0.7F))``, ``b`` set so that ``P(y = 1) = prevalence``. Features (``e_i`` independent N(0, 1)):

    ==================  ==========  ===============================================
    age                 causal      ``65 + 12 A``
    creatinine          causal      ``exp(0.3 (K + O))`` (the assay offset adds error)
    lab_qc_deviation    suppressor  ``8 (O + 0.25 e1)``: the day's QC control reading
    lactate             causal      ``exp(0.3 + 0.45 (L + 0.3 e2))``
    sbp                 causal      ``120 - 15 H + 8 R + 5 e3`` (cuff too small for large arms)
    arm_circumference   suppressor  ``31 + 4 R``
    grip_strength       confounded  ``32 - 6 F + 4 e4`` (frailty causes grip and outcome)
    bun                 confounded  ``exp(2.8 + 0.35 (K + 0.6 e5))`` (kidney causes bun and outcome)
    height              irrelevant  ``170 + 9 e6``
    ==================  ==========  ===============================================

    Importance is association with ``y`` (Haufe et al. 2014; Wilming et al. 2022), so ``mask`` marks
    the causal **and** the confounded features (both are associated with ``y``); ``suppressor``
    marks ``lab_qc_deviation`` and ``arm_circumference``: independent of ``y`` (they depend only on
    ``O``, ``R`` and noise), yet a model that knows them can remove the assay offset from creatinine
    and the cuff error from sbp. ``height`` is neither. ``meta["roles"]`` names every feature's role.
    """
    n = _check_n(n)
    rng = _rng(seed)
    prevalence = _check_real(prevalence, "prevalence", low=0.0, low_open=True, high=1.0)
    if prevalence >= 1.0:
        raise ValueError(f"prevalence must lie strictly between 0 and 1; got {prevalence!r}.")
    lat = rng.standard_normal((n, 7))
    A, K, L, H, F, O, R = lat.T
    e = rng.standard_normal((n, 6))
    coef = CLINICAL_COEF
    eta = (
        coef["age"] * A + coef["kidney"] * K + coef["lactate"] * L
        + coef["hypotension"] * H + coef["frailty"] * F
    )
    b = _intercept_for_prevalence(float(np.sqrt(sum(v**2 for v in coef.values()))), prevalence)
    p = 1.0 / (1.0 + np.exp(-(b + eta)))
    y = (rng.random(n) < p).astype(np.int64)
    columns = {
        "age": 65 + 12 * A,
        "creatinine": np.exp(0.3 * (K + O)),
        "lab_qc_deviation": 8 * (O + 0.25 * e[:, 0]),
        "lactate": np.exp(0.3 + 0.45 * (L + 0.3 * e[:, 1])),
        "sbp": 120 - 15 * H + 8 * R + 5 * e[:, 2],
        "arm_circumference": 31 + 4 * R,
        "grip_strength": 32 - 6 * F + 4 * e[:, 3],
        "bun": np.exp(2.8 + 0.35 * (K + 0.6 * e[:, 4])),
        "height": 170 + 9 * e[:, 5],
    }
    names = list(CLINICAL_FEATURES)
    X = np.column_stack([columns[k] for k in names])
    roles = {k: CLINICAL_FEATURES[k][0] for k in names}
    important = np.array([roles[k] in ("causal", "confounded") for k in names])
    is_supp = np.array([roles[k] == "suppressor" for k in names])
    meta = {
        "generator": "tabular_clinical",
        "n": n,
        "prevalence": prevalence,
        "feature_names": names,
        "roles": roles,
        "units": {k: CLINICAL_FEATURES[k][1] for k in names},
        "coefficients": dict(coef),
        "intercept": b,
        "suppresses": {"lab_qc_deviation": "creatinine", "arm_circumference": "sbp"},
        "common_cause": {"grip_strength": "frailty", "bun": "kidney"},
    }
    return XaiData(
        X, y, np.broadcast_to(important, X.shape).copy(), np.broadcast_to(is_supp, X.shape).copy(), meta
    )
