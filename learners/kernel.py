"""Kernel ridge regression with the student's infinite-width (NNGP) kernel (docs/theory.md 9)."""

from __future__ import annotations

import numpy as np

from gle import nngp_kernel
from teacher_student import Data, TeacherSpec


def kernel_errors(spec: TeacherSpec, train: Data, test: Data, lams: np.ndarray) -> np.ndarray:
    """Test errors ``mean (f* - K(x, X) (K(X, X) + lam I)^{-1} y)^2`` of kernel ridge with the
    NNGP kernel of ``spec`` at each ``lam`` (one eigendecomposition of ``K(X, X)`` serves the
    grid). At ``lam = Delta`` this is the posterior mean of the network's infinite-width
    Gaussian process, asymptotically Bayes-optimal (``gle.kernel_ridge_error``)."""
    evals, evecs = np.linalg.eigh(nngp_kernel(spec, train.x))
    cross = nngp_kernel(spec, test.x, train.x) @ evecs
    proj = evecs.T @ train.y
    return np.array([np.mean((test.f_star - cross @ (proj / (evals + lam))) ** 2) for lam in lams])
