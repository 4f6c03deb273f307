"""Linear learners on the raw inputs: ridge regression (Gaussian channel, error against the
clean target) and L2-regularised logistic regression (sign channel, error against the noisy
labels)."""

from __future__ import annotations

import numpy as np
from scipy import optimize, special

from teacher_student import Data


def ridge_errors(train: Data, test: Data, lams: np.ndarray) -> np.ndarray:
    """Test errors ``mean (f* - w_lam . x / sqrt(d) - b_lam)^2`` of ridge with an unpenalised
    intercept, ``w_lam, b_lam = argmin sum_mu (y_mu - w . x_mu / sqrt(d) - b)^2 + lam |w|^2``,
    at each ``lam``: ``w_lam`` is ridge on the train data centred by their means, ``b_lam =
    mean(y) - w_lam . mean(x) / sqrt(d)`` (one eigendecomposition serves the grid). The
    intercept learns a non-centred teacher's output offset (docs/theory.md 4.1, 7)."""
    d = train.d
    x_mean, y_mean = train.x.mean(0), train.y.mean()
    x = train.x - x_mean
    evals, evecs = np.linalg.eigh(x.T @ x / d)
    proj = evecs.T @ (x.T @ (train.y - y_mean) / np.sqrt(d))
    out = []
    for lam in lams:
        w = evecs @ (proj / (evals + lam))
        f = (test.x - x_mean) @ w / np.sqrt(d) + y_mean
        out.append(np.mean((test.f_star - f) ** 2))
    return np.array(out)


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
