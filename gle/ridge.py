"""Asymptotic ridge regression and the per-teacher prediction (docs/theory.md sections 4 and 7).

Ridge ``argmin_w sum_mu (y_mu - w.x_mu/sqrt(d))^2 + lam |w|^2`` on data with a linear truth of
variance ``rho`` and noise of variance ``sigma2`` has the asymptotic excess error

    e(lam) = rho lam^2 m'(-lam) + sigma2 (m(-lam) - lam m'(-lam)),

with ``m`` the Stieltjes transform of the spectrum of ``X^T X / d``:
``m(z) = m_MP(z / alpha; c = 1/alpha) / alpha`` and
``m_MP(z; c) = [(1 - c - z) - sqrt((1 - c - z)^2 - 4 c z)] / (2 c z)`` (real ``z < 0``).
At ``lam = lam_bo = s2 / rho`` with ``sigma2 = s2`` it equals the Bayes-optimal excess of the
Gaussian-channel fixed point.
"""

from __future__ import annotations

import numpy as np

from .equivalent import EquivalentGLM
from .fixed_point import _check_alpha, solve_glm


def marchenko_pastur_stieltjes(z: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``m_MP(z; c)`` and its derivative ``m'_MP`` for real ``z < 0`` (unit-variance MP law).

    ``m`` solves ``c z m^2 - (1 - c - z) m + 1 = 0``;
    ``m' = -(c m^2 + m) / (2 c z m - (1 - c - z))``.
    Each branch of the root is evaluated in its cancellation-free form.
    """
    z, c = np.broadcast_arrays(np.asarray(z, dtype=float), np.asarray(c, dtype=float))
    A = 1 - c - z
    root = np.sqrt(A**2 - 4 * c * z)
    with np.errstate(divide="ignore", invalid="ignore"):
        m = np.where(A >= 0, 2 / (A + root), (A - root) / (2 * c * z))
    dm = -(c * m**2 + m) / (2 * c * z * m - A)
    return m, dm


def spectrum_stieltjes(z: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``m(z) = tr (X^T X/d - z)^{-1} / d`` and ``m'(z)`` as ``d -> infinity``, ``n = alpha d``."""
    alpha = np.asarray(alpha, dtype=float)
    m, dm = marchenko_pastur_stieltjes(np.asarray(z) / alpha, 1 / alpha)
    return m / alpha, dm / alpha**2


def ridge_excess_error(
    alpha: np.ndarray | float, lam: np.ndarray | float, rho: float, sigma2: float
) -> np.ndarray:
    """Asymptotic ``|w_ridge - theta|^2 / d`` for truth variance ``rho`` and noise ``sigma2``."""
    alpha = _check_alpha(alpha)
    lam = np.asarray(lam, dtype=float)
    if np.any(~(lam > 0)):
        raise ValueError(f"lam = {lam!r}: must be > 0")
    m, dm = spectrum_stieltjes(-lam, alpha)
    return rho * lam**2 * dm + sigma2 * (m - lam * dm)


def ridge_error(
    alpha: np.ndarray | float, lam: np.ndarray | float, glm: EquivalentGLM
) -> np.ndarray:
    """Test error of ridge at ``lam`` on a deep teacher, against the clean target.

    ``eps = e(lam) + delta_eff`` with truth ``rho`` and noise ``s2 = delta_eff + Delta``
    (Gaussian channel; at ``lam_bo`` this is the Bayes-optimal error).
    """
    return ridge_excess_error(alpha, lam, glm.rho, glm.s2) + glm.delta_eff


def ones_quadratic(alpha: np.ndarray | float, d: int, glm: EquivalentGLM) -> np.ndarray:
    """``1^T K^{-1} 1`` for ``K = rho X X^T / d + s2 I_n``, ``X`` (n, d) Gaussian, ``n = alpha d``
    (its large-``d`` value): ``(d m(-lam) + (n - d) / lam) / rho`` with ``lam = s2 / rho`` and
    ``m`` the Stieltjes transform of the spectrum of ``X^T X / d`` (``spectrum_stieltjes``)."""
    alpha = _check_alpha(alpha)
    lam = glm.lam_bo
    m, _ = spectrum_stieltjes(-lam, alpha)
    return d * (m + (alpha - 1) / lam) / glm.rho


def intercept_cost(
    alpha: np.ndarray | float,
    d: int,
    glm: EquivalentGLM,
    offset_teacher: np.ndarray | float | None = None,
) -> np.ndarray:
    """Finite-``n`` excess error of learning the output offset ``c`` (Gaussian channel,
    docs/theory.md 7.1).

    The GLM with a random intercept ``c ~ N(0, beta)`` (``beta = offset_var``) has as Bayes
    estimator ridge at ``lam = lam_bo`` with the intercept penalised by ``1 / beta``. Its excess
    over the same estimator without intercept, for a teacher whose offset is ``c_T``, is
    ``(1 + t2) (c_T^2 / beta^2 + t1) / (1 / beta + t1)^2``, with (``n = alpha d``)
    ``t1 = 1^T K^{-1} 1 = (d m(-lam) + (n - d) / lam) / rho``,
    ``K = rho X X^T / d + s2 I``, and ``t2 = m(-lam) - lam m'(-lam)``;
    averaged over ``c_T^2 = beta`` (``offset_teacher=None``) it is ``(1 + t2) / (1 / beta + t1)``.
    Zero when ``offset_var = 0``; it is ``O(1 / n)`` and vanishes in the proportional limit.
    """
    alpha = _check_alpha(alpha)
    beta = glm.offset_var
    if beta == 0:
        return np.zeros_like(alpha)
    lam = glm.lam_bo
    m, dm = spectrum_stieltjes(-lam, alpha)
    t1 = ones_quadratic(alpha, d, glm)
    t2 = m - lam * dm
    c2 = beta if offset_teacher is None else np.asarray(offset_teacher, dtype=float) ** 2
    return (1 + t2) * (c2 / beta**2 + t1) / (1 / beta + t1) ** 2


def teacher_prediction(
    alpha: np.ndarray | float,
    glm: EquivalentGLM,
    rho_teacher: float,
    delta_eff_teacher: float,
    offset_teacher: float = 0.0,
    d: int | None = None,
) -> np.ndarray:
    """Bayes error predicted for one given teacher (docs/theory.md 7).

    Gaussian channel (exact to leading order): the ensemble's Bayes estimator, ridge at
    ``lam_bo = s2 / rho``, on a truth with the teacher's ``rho_T`` and noise
    ``delta_eff_T + Delta``: ``eps_T = e_T + delta_eff_T``; with ``d`` given, plus the finite-size
    cost of learning the teacher's offset ``c_T = offset_teacher`` (``intercept_cost``).
    Sign channel (a plug-in approximation, not derived): the fixed point's ``eps_bo`` of a GLM
    with ``rho_T``, ``delta_eff_T`` and the known offset ``c_T`` (docs/theory.md 4.1).
    """
    rho_t, de_t = max(rho_teacher, 1e-12), max(delta_eff_teacher, 0.0)
    if glm.channel == "gaussian":
        eps = ridge_excess_error(alpha, glm.lam_bo, rho_t, de_t + glm.noise) + de_t
        return eps if d is None else eps + intercept_cost(alpha, d, glm, offset_teacher)
    return solve_glm(alpha, rho_t, de_t, glm.noise, glm.channel, offset_teacher).eps_bo
