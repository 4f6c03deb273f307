"""The learners people use, on a point's own train and test data, next to the posterior
(Cui, Krzakala, Zdeborova 2023: optimally regularised ridge reaches the Bayes error in the
proportional regime). Gaussian channel: ridge regression on the raw inputs,
``w = argmin sum_mu (y_mu - w.x_mu / sqrt(d))^2 + lam |w|^2``, solved exactly, at
``lam_bo = s2 / rho`` and on a grid of multiples of it; its test error against the clean
target, next to the asymptotic ridge error of ``gle.ridge_error`` (docs/theory.md 7).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from teacher_student import Data, TeacherSpec

KNOWN = ("ridge",)


class EstimatorsTable(BaseModel):
    """``[estimators]``: which learners run (``ridge``: Gaussian channel) and ridge's grid, as
    multiples of ``lam_bo``; an empty table runs every learner that applies, with this grid."""

    model_config = ConfigDict(extra="forbid", strict=True)
    names: list[str] = Field(default_factory=lambda: ["ridge"])
    ridge_grid: list[float] = Field(default_factory=lambda: [0.1, 0.3, 1.0, 3.0, 10.0])

    @field_validator("names")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        for name in value:
            if name not in KNOWN:
                raise ValueError(f"unknown estimator {name!r} (known: {', '.join(KNOWN)})")
        return value

    @field_validator("ridge_grid")
    @classmethod
    def _grid(cls, value: list[float]) -> list[float]:
        if not value or any(not (g > 0 and np.isfinite(g)) for g in value):
            raise ValueError("needs numbers > 0")
        return value


def ridge_errors(train: Data, test: Data, lams: np.ndarray) -> np.ndarray:
    """Test errors ``mean (f* - w_lam.x / sqrt(d))^2`` of ridge at each ``lam`` (one
    eigendecomposition of ``X^T X / d`` serves the grid)."""
    d = train.d
    evals, evecs = np.linalg.eigh(train.x.T @ train.x / d)
    proj = evecs.T @ (train.x.T @ train.y / np.sqrt(d))
    out = []
    for lam in lams:
        w = evecs @ (proj / (evals + lam))
        out.append(np.mean((test.f_star - test.x @ w / np.sqrt(d)) ** 2))
    return np.array(out)


def estimator_values(spec: TeacherSpec, table: EstimatorsTable, train: Data, test: Data) -> dict:
    """The columns of the learners that apply to the spec's channel: ``eps_ridge`` (best over
    the grid), ``eps_ridge_lam`` (its lambda), ``eps_ridge_bo`` (at ``lam_bo``)."""
    from gle import equivalent_glm

    if "ridge" not in table.names or spec.channel != "gaussian":
        return {}
    lam_bo = equivalent_glm(spec).lam_bo
    grid = lam_bo * np.asarray(sorted({*table.ridge_grid, 1.0}))
    errors = ridge_errors(train, test, grid)
    best = int(np.argmin(errors))
    return {
        "eps_ridge": float(errors[best]),
        "eps_ridge_lam": float(grid[best]),
        "eps_ridge_bo": float(errors[np.argmin(abs(grid - lam_bo))]),
    }
