"""The learners people use, fitted on a point's own train data and scored on its test data,
next to the posterior (Cui, Krzakala, Zdeborova 2023; docs/theory.md 7, 9, 10):

* ``ridge_errors``: ridge regression on the raw inputs, exact solve (docs/theory.md 7);
* ``kernel_errors``: kernel ridge with the student's infinite-width (NNGP) kernel
  (``gle.nngp_kernel``, docs/theory.md 9);
* ``logistic_errors``: L2-regularised logistic regression, sign channel (docs/theory.md 10);
* ``trained_errors``: the student network trained by full-batch Adam (optax) from a prior draw.

Each takes a grid of its regularisation and returns the test error at every grid value; the
asymptotic errors of the first three are ``gle.ridge_error``, ``gle.kernel_ridge_error`` and
``gle.erm_error``.

References: Cui, Krzakala, Zdeborova, "Bayes-optimal learning of deep random networks of
extensive width", ICML 2023; Loureiro et al., "Learning curves of generic features maps for
realistic datasets with a teacher-student model", NeurIPS 2021.
"""

from .kernel import kernel_errors
from .linear import logistic_errors, ridge_errors
from .trained import TRAIN_GRAD_TOL, TRAIN_LR, TRAIN_STEPS, trained_errors

__all__ = [
    "TRAIN_GRAD_TOL",
    "TRAIN_LR",
    "TRAIN_STEPS",
    "kernel_errors",
    "logistic_errors",
    "ridge_errors",
    "trained_errors",
]
