"""Linear learners on the raw inputs: ridge regression (Gaussian channel, error against the
clean target) and L2-regularised logistic regression (sign channel, error against the noisy
labels)."""

from __future__ import annotations

import numpy as np
from scipy import optimize, special

from teacher_student import Data


def ridge_errors(
    train: Data, test: Data, lams: np.ndarray, intercept_var: float = 0.0
) -> np.ndarray:
    """Test errors ``mean (f* - w . x / sqrt(d) - b)^2`` of ridge with an intercept,
    ``w, b = argmin sum_mu (y_mu - w . x_mu / sqrt(d) - b)^2 + lam (|w|^2 + b^2 / intercept_var)``,
    at each ``lam``: the posterior mean of the GLM whose weights have prior variance ``rho`` and
    whose output offset has ``intercept_var x rho`` (at ``lam = lam_bo`` and ``intercept_var =
    offset_var / rho``, the equivalent GLM's Bayes estimator, docs/theory.md 7.1); ``0``: no
    intercept. Solved as plain ridge on the inputs with a constant feature ``sqrt(intercept_var)``
    (one eigendecomposition serves the grid)."""

    def features(x):
        return np.hstack([x / np.sqrt(train.d), np.full((len(x), 1), np.sqrt(intercept_var))])

    z, z_test = features(train.x), features(test.x)
    evals, evecs = np.linalg.eigh(z.T @ z)
    proj = evecs.T @ (z.T @ train.y)
    return np.array(
        [np.mean((test.f_star - z_test @ (evecs @ (proj / (evals + lam)))) ** 2) for lam in lams]
    )


def logistic_errors(train: Data, test: Data, lams: np.ndarray) -> np.ndarray:
    """Test classification errors ``mean(sign(w . x / sqrt(d) + b) != y)`` of
    ``w, b = argmin sum_mu ln(1 + exp(-y_mu (w . x_mu / sqrt(d) + b))) + (lam / 2) |w|^2``
    (intercept ``b`` not penalised; L-BFGS, gradient tolerance 1e-9, warm-started from the
    most regularised fit) at each ``lam`` (docs/theory.md 10)."""
    x = np.hstack([train.x / np.sqrt(train.d), np.ones((train.n, 1))])
    y = train.y

    def objective(p, lam):
        margin = y * (x @ p)
        penalty = np.r_[p[:-1], 0.0]
        value = np.sum(np.logaddexp(0.0, -margin)) + 0.5 * lam * penalty @ penalty
        return value, -x.T @ (y * special.expit(-margin)) + lam * penalty

    out, start = {}, np.zeros(train.d + 1)
    for lam in sorted(lams, reverse=True):
        fit = optimize.minimize(
            objective, start, args=(lam,), jac=True, method="L-BFGS-B", options={"gtol": 1e-9}
        )
        start = fit.x
        score = test.x @ fit.x[:-1] / np.sqrt(test.d) + fit.x[-1]
        out[lam] = np.mean(np.where(score >= 0, 1.0, -1.0) != test.y)
    return np.array([out[lam] for lam in lams])
