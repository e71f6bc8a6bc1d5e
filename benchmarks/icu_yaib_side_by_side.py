"""Our ICU LightGBM beside YAIB's LightGBM on the same demo cohort (mortality24, eICU demo), side by side.

    python benchmarks/icu_yaib_side_by_side.py [--seeds 5] [--yaib-python PATH] [--yaib-folds 5]

Ours: ``trustbench.domains.icu.models.LightGBM`` on ``YaibTask(cohort="mortality24", source="eicu_demo")``
for seeds 0..N-1, each seed a fresh stratified split of the stays (55% train, 15% calibration, unused
here, 30% test); prints the test AUROC (mean ± sd over seeds) and the fit time.

YAIB (van de Water et al., "Yet Another ICU Benchmark", ICLR 2024; PyPI ``yaib``): its
``LGBMClassifier`` on the same cohort folder (dyn/sta/outc.parquet), run in a subprocess by the
Python of a separate environment, ``--yaib-python`` or ``$YAIB_PYTHON``. Without one, the script
says why in one line and exits 0 (``make bench`` runs it so). yaib cannot share the project's
environment: yaib 1.0.8 pins torch==2.6.0 (a CUDA build, about 3 GB of nvidia-* wheels),
numpy==1.26.0, scikit-learn==1.5.0 and lightgbm==4.6.0, against our torch==2.13.0 (CPU) and
lightgbm>=4.7. One-off setup (about 8 GB, a few minutes)::

    python3 -m venv /tmp/yaibenv && /tmp/yaibenv/bin/pip install yaib==1.0.8 'polars<2'

(``polars<2``: recipies 1.0, a yaib dependency, calls ``rolling_mean(min_periods=...)``, removed in
polars 2.) yaib 1.0.8's ``icu-benchmarks`` command fails at import (``No module named 'scripts'``) and
its wheel ships no gin configs, so the driver below follows the CLI's default path (no ``--tune``:
one random draw of the hyperparameters from their bounds) with the settings of YAIB's
``LGBMClassifier.gin``, ``MLCommon.gin`` and ``BinaryClassification.gin`` restated inline.

The splits differ: YAIB runs its own nested CV (outer stratified 5-fold: 20% test; inner 5-fold:
16% validation for early stopping, 64% train), so the AUROCs compare in expectation, not split by
split. YAIB's shipped ``min_child_samples = 1000`` exceeds the ~875 training stays of this demo
cohort: LightGBM then finds no split and every prediction is the base rate (AUROC 0.5). Both that
and ``min_child_samples = 20`` (LightGBM's default and ours) run by default; see
``--yaib-min-child-samples``. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings

from trustbench.domains.icu.models import LightGBM
from trustbench.domains.icu.tasks import YaibTask
from trustbench.domains.icu.yaib import demo_path
from trustbench.metrics import auroc

NOT_AVAILABLE = (
    "YAIB: not run (no --yaib-python / $YAIB_PYTHON). yaib 1.0.8 installs from PyPI only into a venv "
    "of its own (it pins torch==2.6.0 CUDA, numpy==1.26.0, scikit-learn==1.5.0, lightgbm==4.6.0), needs "
    "'polars<2', and its icu-benchmarks CLI fails at import; see this script's --help to set one up."
)

# Runs under the yaib environment's Python: argv = data_dir seed n_test_folds min_child_samples.
YAIB_DRIVER = r'''
import json, logging, shutil, sys, tempfile, warnings
from pathlib import Path
import polars
if int(polars.__version__.split(".")[0]) >= 2:
    sys.exit(f"polars {polars.__version__}: recipies 1.0 (a yaib dependency) calls rolling_mean(min_periods=...), "
             "removed in polars 2; run: pip install 'polars<2'")
import gin
from icu_benchmarks.constants import RunMode
from icu_benchmarks.cross_validation import execute_repeated_cv
from icu_benchmarks.tuning.hyperparameters import choose_and_bind_hyperparameters_optuna
warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)
src, seed, n_folds, min_child = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
DYNAMIC = ["alb", "alp", "alt", "ast", "be", "bicar", "bili", "bili_dir", "bnd", "bun", "ca", "cai", "ck", "ckmb",
           "cl", "crea", "crp", "dbp", "fgn", "fio2", "glu", "hgb", "hr", "inr_pt", "k", "lact", "lymph", "map", "mch",
           "mchc", "mcv", "methb", "mg", "na", "neut", "o2sat", "pco2", "ph", "phos", "plt", "po2", "ptt", "resp",
           "sbp", "temp", "tnt", "urine", "wbc"]
CONFIG = f"""
import gin.torch.external_configurables
import icu_benchmarks.data.split_process_data
import icu_benchmarks.data.loader
import icu_benchmarks.models.wrappers
import icu_benchmarks.models.ml_models
import icu_benchmarks.models.utils
vars = {{"GROUP": "stay_id", "LABEL": "label", "SEQUENCE": "time", "DYNAMIC": {DYNAMIC!r},
         "STATIC": ["age", "sex", "height", "weight"]}}
preprocess.file_names = {{"DYNAMIC": "dyn.parquet", "OUTCOME": "outc.parquet", "STATIC": "sta.parquet"}}
preprocess.vars = %vars
PredictionPolarsDataset.vars = %vars
PredictionPolarsDataset.ram_cache = True
base_classification_preprocessor.generate_features = True
train_common.weight = "balanced"
train_common.model = @LGBMClassifier
MLWrapper.patience = 10
LGBMClassifier.min_child_samples = {min_child}
model/hyperparameter.class_to_tune = @LGBMClassifier
model/hyperparameter.colsample_bytree = (0.33, 1.0)
model/hyperparameter.max_depth = (3, 7)
model/hyperparameter.n_estimators = 100000
model/hyperparameter.num_leaves = (8, 128, "log-uniform", 2)
model/hyperparameter.subsample = (0.33, 1.0)
model/hyperparameter.subsample_freq = 1
"""
with tempfile.TemporaryDirectory(prefix="yaib_") as tmp:
    data, run = Path(tmp) / "data", Path(tmp) / "run"
    shutil.copytree(src, data)
    run.mkdir()
    gin.parse_config(CONFIG)
    choose_and_bind_hyperparameters_optuna(do_tune=False, data_dir=data, log_dir=run, seed=seed, scopes=["model"],
                                           folds_to_tune_on=1, plot=False)
    execute_repeated_cv(data, run, seed, cv_repetitions=5, cv_folds=5, cv_repetitions_to_train=n_folds,
                        cv_folds_to_train=1, cpu=True, mode=RunMode.classification)
    aucs = [json.loads(f.read_text())["AUC"] for f in sorted(run.glob("repetition_*/fold_0/test_metrics.json"))]
print("YAIB_RESULT " + json.dumps({"auroc": aucs}))
'''


def summary(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {sd:.3f}"


def run_ours(seeds: int) -> None:
    task = YaibTask(cohort="mortality24", source="eicu_demo")
    aucs, fits = [], []
    for seed in range(seeds):
        split = task.make(seed)
        start = time.perf_counter()
        model = LightGBM().fit(split.train, seed=seed)
        fits.append(time.perf_counter() - start)
        aucs.append(auroc(split.test.y, model.predict(split.test)))
    print(f"{'ours  LightGBM':<34} AUROC {summary(aucs)}  ({seeds} seed(s); 30% test split each; "
          f"fit {statistics.mean(fits):.2f} s/seed)")


def run_yaib(python: str, folds: int, seed: int, min_child: int) -> bool:
    cmd = [python, "-c", YAIB_DRIVER, str(demo_path("mortality24", "eicu_demo")), str(seed), str(folds), str(min_child)]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800,
                              env={**os.environ, "WANDB_MODE": "disabled", "PYTHONWARNINGS": "ignore"})
    except (OSError, subprocess.TimeoutExpired) as err:
        print(f"YAIB: could not run {python}: {err}")
        return False
    result = [line for line in proc.stdout.splitlines() if line.startswith("YAIB_RESULT ")]
    if proc.returncode != 0 or not result:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        print(f"YAIB: {python} failed (exit {proc.returncode}):\n    " + "\n    ".join(tail))
        return False
    aucs = json.loads(result[-1].split(" ", 1)[1])["auroc"]
    label = f"YAIB  LGBMClassifier (mcs={min_child})"
    print(f"{label:<34} AUROC {summary(aucs)}  ({len(aucs)} outer CV folds, seed {seed}; 20% test fold each; "
          f"{time.perf_counter() - start:.0f} s in all)")
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(__doc__.split("\n\n")[2:]))
    parser.add_argument("--seeds", type=int, default=5, help="seeds (splits) for our model (default 5)")
    parser.add_argument("--yaib-python", default=os.environ.get("YAIB_PYTHON"),
                        help="Python of an environment with yaib installed (default: $YAIB_PYTHON)")
    parser.add_argument("--yaib-folds", type=int, default=5, choices=range(1, 6), metavar="1-5",
                        help="YAIB's outer CV folds to train and test (default 5, all)")
    parser.add_argument("--yaib-seed", type=int, default=1234, help="YAIB's seed (default 1234, its CLI's)")
    parser.add_argument("--yaib-min-child-samples", type=int, nargs="+", default=[1000, 20], metavar="N",
                        help="LightGBM min_child_samples for YAIB, one run each (default: 1000, YAIB's "
                             "shipped value, and 20, LightGBM's default)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    import pandas as pd

    y = pd.read_parquet(demo_path("mortality24", "eicu_demo") / "outc.parquet")["label"]
    print(f"icu/mortality24/eicu_demo ({len(y)} stays, {int(y.sum())} deaths): test AUROC")
    run_ours(args.seeds)
    if not args.yaib_python:
        print(NOT_AVAILABLE)
        return 0
    print("Splits differ: YAIB uses its own nested CV (64% train / 16% validation / 20% test), ours a "
          "55/15/30 split per seed; compare the means, not split by split.")
    ok = [run_yaib(args.yaib_python, args.yaib_folds, args.yaib_seed, m) for m in args.yaib_min_child_samples]
    return 0 if all(ok) else 1


if __name__ == "__main__":
    sys.exit(main())
