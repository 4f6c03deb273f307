"""The theory columns of a sweep point, from its spec, its size and its measured teacher.

One function, ``theory_columns``, used by ``run_point`` when a point finishes and by
``build_dataset`` when ``results.nc`` is built, so a results file always carries the theory of
the current ``gle`` (points sampled before a theory correction get the corrected columns).
Everything is evaluated at the realised sample ratio ``n / d`` (``alpha_realised``), not the
nominal ``alpha`` of the grid (``n = round(alpha d)``).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

import numpy as np

from teacher_student import TeacherSpec

#: The measured teacher properties the theory needs (``teacher_student.TeacherStats`` names).
TEACHER_COLUMNS = ("rho_teacher", "delta_eff_teacher", "mean_f_teacher")
THEORY_COLUMNS = (
    "alpha_realised",
    "eps_theory",
    "eps_gibbs_theory",
    "eps_theory_clean",
    "eps_theory_teacher",
    "intercept_cost_teacher",
    "q_theory",
    "rho_theory",
    "delta_eff_theory",
    "offset_var_theory",
    "free_entropy_theory",
    "eps_ridge_theory",
)


@cache
def _glm(spec: TeacherSpec):
    from gle import equivalent_glm

    return equivalent_glm(spec)


@cache
def _ensemble(spec: TeacherSpec, alpha: float):
    from gle import bayes_optimal

    return bayes_optimal(_glm(spec), alpha)


def theory_columns(spec: TeacherSpec, d: int, n: int, teacher: Mapping[str, float]) -> dict:
    """Ensemble and per-teacher theory of one point (``_theory_columns``, cached: a sweep
    reads its records several times)."""
    return dict(_theory_columns(spec, d, n, *(float(teacher[k]) for k in TEACHER_COLUMNS)))


@cache
def _theory_columns(
    spec: TeacherSpec, d: int, n: int, rho_t: float, de_t: float, c_t: float
) -> tuple:
    """Ensemble and per-teacher theory of one point (docs/theory.md 4, 4.1, 7, 7.1), as
    ``(column, value)`` pairs.

    ``rho_t``, ``de_t``, ``c_t``: the measured ``TEACHER_COLUMNS``. The ensemble columns average
    over the output offset ``c ~ N(0, offset_var)`` (sign channel); the per-teacher prediction
    uses the teacher's own ``rho_T``, ``delta_eff_T`` and offset ``c_T = mean_f_teacher``, and
    for the Gaussian channel adds the finite-``n`` cost of learning ``c_T``
    (``intercept_cost_teacher``, 0 for a centred ensemble).
    """
    from gle import free_entropy_theory, intercept_cost, ridge_error, teacher_prediction

    glm = _glm(spec)
    alpha = n / d
    fp = _ensemble(spec, alpha)
    cost = float(intercept_cost(alpha, d, glm, c_t)[0]) if glm.channel == "gaussian" else 0.0
    return tuple(
        {
            "alpha_realised": alpha,
            "eps_theory": float(fp.eps_bo[0]),
            "eps_gibbs_theory": float(fp.eps_gibbs[0]),
            "eps_theory_clean": float(fp.eps_bo_clean[0]),
            "eps_theory_teacher": float(teacher_prediction(alpha, glm, rho_t, de_t, c_t, d)[0]),
            "intercept_cost_teacher": cost,
            "q_theory": float(fp.q[0]),
            "rho_theory": glm.rho,
            "delta_eff_theory": glm.delta_eff,
            "offset_var_theory": glm.offset_var,
            "free_entropy_theory": float(free_entropy_theory(glm, alpha, fp, d)[0]),
            "eps_ridge_theory": float(ridge_error(alpha, glm.lam_bo, glm)[0])
            if glm.channel == "gaussian"
            else float("nan"),
        }.items()
    )


def theory_note(spec: TeacherSpec) -> str | None:
    """A line saying how the theory treats a non-centred teacher, or ``None`` for a centred one."""
    glm = _glm(spec)
    if glm.offset_var == 0:
        return None
    how = (
        "the sign channel's theory averages over it, the per-teacher theory uses E_x f*; at "
        "small n the offset is not yet learned and errors lie between these and the centred "
        "ones (docs/theory.md 4.1)"
        if glm.channel == "sign"
        else "it leaves the asymptotic error unchanged; the per-teacher theory adds its "
        "finite-n learning cost (docs/theory.md 7.1)"
    )
    return f"{spec.label()}: the output has a constant part of variance {glm.offset_var:.4g}: {how}"


def has_finite(values: Mapping[str, float]) -> bool:
    """Whether a point's values carry every measured teacher property the theory needs."""
    return all(np.isfinite(values.get(k, np.nan)) for k in (*TEACHER_COLUMNS, "n"))
