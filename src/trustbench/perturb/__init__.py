"""Perturbations: pure functions that corrupt test inputs at a severity.

Signature: ``fn(X, severity, rng, *, train_X) -> X_perturbed``. Attributes set by
:func:`perturbation`: ``severities`` (defaults), ``bounds`` (allowed range) and ``shift`` (True when
the inputs really move, so targets and truth must be re-simulated at the new inputs).
"""

from trustbench.perturb.base import check_severity, perturbation
from trustbench.perturb.tabular import covariate_shift, gaussian_noise, missing_mcar, outliers

__all__ = ["perturbation", "check_severity", "gaussian_noise", "covariate_shift", "missing_mcar", "outliers"]
