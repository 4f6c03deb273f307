"""``[estimators]``: the learners of ``learners`` run on each point's own train and test data,
next to the posterior, as result columns (docs/theory.md 7, 9, 10; Cui, Krzakala, Zdeborova
2023). Gaussian channel: ``ridge`` (its intercept's prior variance the output offset's,
``offset_var``; at ``lam_bo = s2 / rho``, the GLM's Bayes estimator, and on a grid of multiples
of it) and ``kernel`` (NNGP kernel ridge on a grid of multiples of ``Delta``; ``lam = Delta``
always run); sign channel: ``logistic`` (a grid of ``lam``, with ``gle.erm_error`` at the best
one); both: ``trained`` (the student by Adam on a grid of weight decays). Test errors are against the
clean target (Gaussian) or the noisy labels (sign), as ``eps_bayes``.
"""

from __future__ import annotations

import numpy as np

from gle import equivalent_glm, erm_error
from learners import kernel_errors, logistic_errors, ridge_errors, trained_errors
from teacher_student import Data, TeacherSpec

from .config import EstimatorsTable, grid_values


def _best(errors: np.ndarray, grid: np.ndarray, name: str) -> dict:
    best = int(np.argmin(errors))
    return {
        f"eps_{name}": float(errors[best]),
        f"eps_{name}_lam": float(grid[best]),
        f"eps_{name}_grid": [float(e) for e in errors],
    }


def estimator_values(
    spec: TeacherSpec, table: EstimatorsTable, train: Data, test: Data, seed: int = 0
) -> dict:
    """Every applicable learner's columns (``_channel_values``), and with ``trained``:
    ``eps_trained`` (best decay of the grid; NaN if every run diverged), ``eps_trained_decay``,
    ``eps_trained_grid`` (every decay's error) and ``eps_trained_grad`` (its final gradient RMS: below ``learners.TRAIN_GRAD_TOL`` if converged)."""
    values = _channel_values(spec, table, train, test)
    if "trained" in table.names:
        grid = np.asarray(grid_values(table, "trained_grid", False))
        errors, grads = trained_errors(spec, train, test, grid, seed)
        finite = np.isfinite(errors)
        best = int(np.nanargmin(errors)) if finite.any() else 0
        values |= {
            "eps_trained": float(errors[best]) if finite.any() else float("nan"),
            "eps_trained_decay": float(grid[best]),
            "eps_trained_grad": float(grads[best]),
            "eps_trained_grid": [float(e) for e in errors],
        }
    return values


def _channel_values(spec: TeacherSpec, table: EstimatorsTable, train: Data, test: Data) -> dict:
    """The columns of the learners that apply to the spec's channel: ``eps_ridge`` (best over
    the grid), ``eps_ridge_lam`` (its lambda), ``eps_ridge_bo`` (at ``lam_bo``); ``eps_kernel``
    (best over the grid), ``eps_kernel_lam`` and ``eps_kernel_gp`` (at ``lam = Delta``, the
    Gaussian process's posterior mean, asymptotically Bayes-optimal: ``gle.kernel_ridge_error``)."""
    if spec.channel == "sign":
        return _sign_values(spec, table, train, test)
    values = {}
    if "ridge" in table.names:
        glm = equivalent_glm(spec)
        grid = glm.lam_bo * np.asarray(grid_values(table, "ridge_grid", True))
        errors = ridge_errors(train, test, grid, glm.offset_var / glm.rho)
        values |= _best(errors, grid, "ridge")
        values["eps_ridge_bo"] = float(errors[np.argmin(abs(grid - glm.lam_bo))])
    if "kernel" in table.names:
        grid = spec.noise * np.asarray(grid_values(table, "kernel_grid", True))
        errors = kernel_errors(spec, train, test, grid)
        values |= _best(errors, grid, "kernel")
        values["eps_kernel_gp"] = float(errors[np.argmin(abs(grid - spec.noise))])
    return values


def _sign_values(spec: TeacherSpec, table: EstimatorsTable, train: Data, test: Data) -> dict:
    """``eps_logistic`` (best over the grid), ``eps_logistic_lam`` and ``eps_logistic_theory``
    (``gle.erm_error`` at that lam and the realised ``n / d``; NaN for a non-centred teacher)."""
    if "logistic" not in table.names:
        return {}
    grid = np.asarray(grid_values(table, "logistic_grid", False))
    values = _best(logistic_errors(train, test, grid), grid, "logistic")
    glm = equivalent_glm(spec)
    theory = float("nan")
    if not glm.offset_var:
        theory = float(erm_error(train.n / train.d, values["eps_logistic_lam"], glm, "logistic")[0])
    return values | {"eps_logistic_theory": theory}
