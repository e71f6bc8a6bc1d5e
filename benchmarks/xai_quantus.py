"""trustbench's localisation metrics beside Quantus's on the same attributions, side by side.

    python benchmarks/xai_quantus.py [--n 1000] [--sizes 8 64] [--repeat 3] [--seed 0]
                                     [--quantus-batch-size 64] [--quantus-python PATH]

Peer: Quantus 0.6.0 (Hedström et al. 2023, "Quantus: an explainable AI toolkit for responsible
evaluation of neural network explanations and beyond", JMLR 24(34)), PyPI ``quantus``. It pulls in
opencv-python, scikit-image and friends, so it lives in a venv of its own, never in the project's.
One-off setup, from the repository root (about 1.6 GB, a minute)::

    python3 -m venv .venv-quantus
    .venv-quantus/bin/pip install torch==2.13.0 quantus==0.6.0 numpy scipy scikit-learn
    .venv-quantus/bin/pip install --no-deps -e .
    echo '*' > .venv-quantus/.gitignore

(the last line keeps git from listing the venv). Run under the project's Python, the script
re-runs itself under ``--quantus-python`` / ``$QUANTUS_PYTHON`` / ``.venv-quantus/bin/python`` when
that exists; without any, it says so in one line and exits 0 (``make bench`` runs it so).

Data: ``n`` XAI-TRIS RIGID masks (Clark, Wilming & Haufe 2024: a "T" or "L" tetromino of four
cells, randomly rotated and placed; one pixel per cell at 8 × 8, 4 × 4 at 64 × 64, from
:func:`trustbench.domains.xai.data.xai_tris`) and signed attributions: the smoothed mask with a
random sign (+ with probability 0.8) and amplitude, plus smoothed Gaussian noise. Continuous, so no
ties. Both libraries get the same arrays (Quantus: ``(n, 1, h, w)``, ``a_batch`` and ``s_batch``
given so no explanation is computed; its unused model is ``Sequential(Flatten, Linear)``).

(1) Definitions: every pair is run on the same inputs and the largest |difference| printed.
Where they coincide (Quantus with ``normalise=False``; its default ``normalise_by_max`` divides the
whole batch by one positive number, which changes none of these scores):

* ``attribution_auroc`` = ``quantus.AUC(abs=True)``: sklearn ``roc_curve`` + ``auc`` per sample,
  which counts ties ½ like our midrank Mann-Whitney form.
* ``precision_at_k`` = ``quantus.RelevanceRankAccuracy(abs=True)``: the share of the |mask| most
  attributed features inside the mask (k = |mask| per sample), and = ``quantus.TopKIntersection(
  k=|mask|, abs=True)`` when every mask has the same size (true here: 4 and 64 pixels). Ties at the
  k-th value differ: Quantus takes ``np.argsort`` order (arbitrary), we take the expectation over
  the orders of the tied features; a check on attributions rounded to one decimal shows it.
* ``relevance_mass_accuracy(sign="abs")`` = ``quantus.RelevanceMassAccuracy(abs=True)`` and, up to
  the ``+ 1e-9`` in its denominator, = ``quantus.AttributionLocalisation(abs=True, weighted=False)``.
* ``relevance_mass_accuracy(sign="positive")`` (Arras et al. 2022: positive relevance only) =
  ``quantus.RelevanceMassAccuracy(abs=False)`` on ``max(a, 0)``. On signed input Quantus's code sums
  the signed attribution (inside / total, either of which can be negative); the gap is printed.

Not compared: ``attribution_ap`` and ``emd_score`` (Quantus has neither), ``quantus.PointingGame``
(argmax in the mask; we have no such metric), ``quantus.Focus`` (mosaics of four images and their
labels, not a mask). Quantus 0.6.0's ``AttributionLocalisation`` computes its ``weighted`` ratio
with ``x_batch[2:].size`` (the batch less two samples, not the image size), so only
``weighted=False`` is meaningful.

(2) Speed: the best of ``--repeat`` wall times of one call over all n samples; Quantus's call is
its ``__call__`` (default ``batch_size=64``, as a user calls it; the metric object is built
outside the timing), ours the function on the ``(n, h, w)`` batch, input checks included. The
ratio is Quantus / ours (> 1: ours faster); the issue's target is ≥ 10. Quantus's ``__call__``
checks its input with ``len(set(a_batch.flatten().tolist())) > 1`` (a Python set of every value:
about 1 s for 1000 maps of 64 × 64), so the table also times its scoring step alone ("Q kernel":
``evaluate_batch`` on all n maps at once, ``abs`` included) and that ratio ("k ratio"), which says
how much of the gap is the algorithm. One thread. Not a test.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VENV_PYTHON = ROOT / ".venv-quantus" / "bin" / "python"
SETUP = (
    "python3 -m venv .venv-quantus && .venv-quantus/bin/pip install torch==2.13.0 quantus==0.6.0 "
    "numpy scipy scikit-learn && .venv-quantus/bin/pip install --no-deps -e . && "
    "echo '*' > .venv-quantus/.gitignore"
)
TARGET = 10.0


def _quantus_missing() -> str | None:
    try:
        import quantus  # noqa: F401
    except Exception as err:  # ImportError, or a broken binary dependency
        return f"{type(err).__name__}: {err}"
    return None


def _reexec_under(python: str | None) -> None:
    """Run this script again under ``python`` (a venv with quantus), if it is another interpreter."""
    if not python or not Path(python).exists():
        return
    if os.path.abspath(python) == os.path.abspath(sys.executable) or os.environ.get("_XAI_QUANTUS_CHILD"):
        return
    os.environ["_XAI_QUANTUS_CHILD"] = "1"
    sys.stdout.flush()
    os.execv(python, [python, str(Path(__file__).resolve()), *sys.argv[1:]])


# ----------------------------------------------------------------------------- data


def make_samples(n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(attribution (n, size, size) float64, mask (n, size, size) bool): RIGID tetromino masks."""
    from scipy.ndimage import gaussian_filter

    from trustbench.domains.xai.data import xai_tris

    mask = xai_tris(n, scenario="rigid", size=size, seed=seed).mask
    rng = np.random.default_rng(seed + 1)
    sigma = (0.0, max(size / 32, 0.5), max(size / 32, 0.5))
    signal = gaussian_filter(mask.astype(float), sigma)
    signal /= signal.max(axis=(1, 2), keepdims=True)
    noise = gaussian_filter(rng.normal(size=mask.shape), sigma)
    noise /= noise.std(axis=(1, 2), keepdims=True)
    amp = rng.uniform(0.5, 3.0, size=n) * np.where(rng.random(n) < 0.8, 1.0, -1.0)
    return amp[:, None, None] * signal + noise, mask


# ----------------------------------------------------------------------------- the pairs


def _pairs(quantus, k: int | None):
    """(name, Quantus metric, input transform for Quantus, our function) per compared definition."""
    from trustbench.metrics.attribution import (
        attribution_auroc,
        precision_at_k,
        relevance_mass_accuracy,
    )

    common = dict(normalise=False, disable_warnings=True, return_aggregate=False)
    same = None
    positive = lambda a: np.maximum(a, 0.0)  # noqa: E731
    rows = [
        ("AUROC | AUC(abs)", quantus.AUC(abs=True, **common), same, attribution_auroc),
        (
            "precision@k | RelevanceRankAccuracy(abs)",
            quantus.RelevanceRankAccuracy(abs=True, **common),
            same,
            precision_at_k,
        ),
    ]
    if k is not None:
        rows.append(
            (
                f"precision@k | TopKIntersection(k={k}, abs)",
                quantus.TopKIntersection(k=k, abs=True, **common),
                same,
                precision_at_k,
            )
        )
    rows += [
        (
            "RMA abs | RelevanceMassAccuracy(abs)",
            quantus.RelevanceMassAccuracy(abs=True, **common),
            same,
            lambda a, m: relevance_mass_accuracy(a, m, sign="abs"),
        ),
        (
            "RMA abs | AttributionLocalisation(abs)",
            quantus.AttributionLocalisation(abs=True, weighted=False, **common),
            same,
            lambda a, m: relevance_mass_accuracy(a, m, sign="abs"),
        ),
        (
            "RMA positive | RelevanceMassAccuracy(max(a,0))",
            quantus.RelevanceMassAccuracy(abs=False, **common),
            positive,
            lambda a, m: relevance_mass_accuracy(a, m, sign="positive"),
        ),
    ]
    return rows


class _Peer:
    """Calls a Quantus metric on (n, h, w) arrays: adds the channel axis and the unused model/x/y."""

    def __init__(self, size: int, n: int, batch_size: int):
        import torch

        torch.manual_seed(0)
        self.model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(size * size, 2)).eval()
        self.x = np.zeros((n, 1, size, size), dtype=np.float32)
        self.y = np.zeros(n, dtype=np.int64)
        self.batch_size = batch_size

    def __call__(self, metric, transform, a: np.ndarray, m: np.ndarray) -> np.ndarray:
        if transform is not None:
            a = transform(a)
        scores = metric(
            model=self.model,
            x_batch=self.x,
            y_batch=self.y,
            a_batch=a[:, None],
            s_batch=m[:, None],
            channel_first=True,
            batch_size=self.batch_size,
        )
        return np.asarray(scores, dtype=float)

    def kernel(self, metric, transform, a: np.ndarray, m: np.ndarray) -> np.ndarray:
        """Quantus's scoring step alone (``evaluate_batch`` on all n at once), without its ``__call__``
        checks and batching; ``abs`` applied as its preprocessing would."""
        if transform is not None:
            a = transform(a)
        if metric.abs:
            a = np.abs(a)
        scores = metric.evaluate_batch(x_batch=self.x, y_batch=self.y, a_batch=a[:, None], s_batch=m[:, None])
        return np.asarray(scores, dtype=float)


def _best_time(fn, repeat: int) -> float:
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _max_diff(x: np.ndarray, y: np.ndarray) -> float:
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.shape != y.shape or not np.array_equal(np.isnan(x), np.isnan(y)):
        return float("inf")
    ok = ~np.isnan(x)
    return float(np.max(np.abs(x[ok] - y[ok]), initial=0.0))


def run_size(quantus, size: int, n: int, repeat: int, seed: int, batch_size: int) -> list[tuple]:
    from trustbench.metrics.attribution import precision_at_k, relevance_mass_accuracy

    a, m = make_samples(n, size, seed)
    sizes = np.unique(m.reshape(n, -1).sum(axis=1))
    k = int(sizes[0]) if len(sizes) == 1 else None
    peer = _Peer(size, n, batch_size)
    print(f"\n{n} maps of {size}x{size}, |mask| = {', '.join(map(str, sizes))} pixels; "
          f"Quantus batch_size={batch_size}; best of {repeat}")
    header = (f"{'ours | Quantus':<48} {'max|diff|':>9} {'Quantus s':>9} {'ours s':>7} {'ratio':>7}"
              f" {'Q kernel s':>10} {'k ratio':>7}")
    print(header)
    print("-" * len(header))
    rows = []
    for name, metric, transform, ours in _pairs(quantus, k):
        q_val = peer(metric, transform, a, m)
        o_val = ours(a, m)
        diff = _max_diff(o_val, q_val)
        t_q = _best_time(lambda: peer(metric, transform, a, m), repeat)
        t_o = _best_time(lambda: ours(a, m), repeat)
        diff = max(diff, _max_diff(peer.kernel(metric, transform, a, m), q_val))
        t_k = _best_time(lambda: peer.kernel(metric, transform, a, m), repeat)
        ratio = t_q / t_o
        flag = "" if ratio >= TARGET else f"  < {TARGET:g}x"
        print(f"{name:<48} {diff:>9.2e} {t_q:>9.4f} {t_o:>7.4f} {ratio:>6.1f}x"
              f" {t_k:>10.4f} {t_k / t_o:>6.1f}x{flag}")
        rows.append((size, name, diff, t_q, t_o, ratio, t_k))

    # where the definitions part (values only, not timed)
    common = dict(normalise=False, disable_warnings=True)
    signed = peer(quantus.RelevanceMassAccuracy(abs=False, **common), None, a, m)
    print(f"  differs: RMA positive vs Quantus RelevanceMassAccuracy(abs=False) on signed a: "
          f"max|diff| = {_max_diff(relevance_mass_accuracy(a, m, sign='positive'), signed):.3g}")
    tied = np.round(a, 1)
    rra = peer(quantus.RelevanceRankAccuracy(abs=True, **common), None, tied, m)
    print(f"  ties (a rounded to 0.1): precision@k vs RelevanceRankAccuracy max|diff| = "
          f"{_max_diff(precision_at_k(tied, m), rra):.3g} (tie rule: expectation vs argsort order)")
    default = peer(quantus.AUC(abs=True, disable_warnings=True), None, a, m)  # normalise=True
    print(f"  Quantus default normalise=True (normalise_by_max) changes AUC by "
          f"{_max_diff(peer(quantus.AUC(abs=True, **common), None, a, m), default):.3g}")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="attribution maps per size (default 1000)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 64], choices=[8, 64])
    parser.add_argument("--repeat", type=int, default=3, help="timings per metric; the best is kept")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quantus-batch-size", type=int, default=64,
                        help="Quantus's batch_size argument (its default 64)")
    parser.add_argument("--quantus-python", default=os.environ.get("QUANTUS_PYTHON"),
                        help="Python of a venv with quantus (default $QUANTUS_PYTHON, else .venv-quantus)")
    args = parser.parse_args(argv)

    why = _quantus_missing()
    if why is not None:
        _reexec_under(args.quantus_python or str(DEFAULT_VENV_PYTHON))
        print(f"Quantus: not run ({why}); it needs a venv of its own, from the repository root: {SETUP}")
        return 0

    import quantus
    import torch

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    print(f"trustbench localisation metrics vs Quantus {quantus.__version__} "
          f"(numpy {np.__version__}, Python {sys.version.split()[0]}, {sys.executable})")
    rows = []
    for size in args.sizes:
        rows += run_size(quantus, size, args.n, args.repeat, args.seed, args.quantus_batch_size)
    def shortfall(ratio) -> str:
        slow = [(r, ratio(r)) for r in rows if ratio(r) < TARGET]
        if not slow:
            return "met for every pair"
        return "not met for " + "; ".join(f"{r[1]} at {r[0]}x{r[0]} ({x:.1f}x)" for r, x in slow)

    print(f"\ntarget >= {TARGET:g}x where definitions coincide, Quantus's call: {shortfall(lambda r: r[5])}")
    print(f"same against Quantus's scoring step alone (k ratio): {shortfall(lambda r: r[6] / r[4])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
