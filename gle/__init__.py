"""The Gaussian-equivalence side: equivalent GLM and its Bayes-optimal fixed point.

THEORY.md sections 3 and 4, numpy/scipy only (no JAX)::

    glm = equivalent_glm(spec)                 # rho, delta_eff, per-layer diagnostics
    fp = bayes_optimal(spec, alpha_grid)       # q, r, eps_bo, eps_gibbs, mutual_information
    ds = theory_dataset(spec, alpha_grid)      # the same as an xarray.Dataset
    ridge_error(alpha, lam, glm)               # asymptotic ridge test error (Gaussian channel)
    teacher_prediction(alpha, glm, rho_T, delta_eff_T)   # per-teacher theory (THEORY.md 7)
"""

from .coefficients import GaussianCoefficients, gaussian_coefficients, offset_moments
from .curve import bayes_optimal, theory_dataset
from .equivalent import EquivalentGLM, LayerTheory, equivalent_glm, equivalent_glm_centred
from .fixed_point import FixedPoint, damped_iteration, solve_glm
from .ridge import (
    marchenko_pastur_stieltjes,
    ridge_error,
    ridge_excess_error,
    spectrum_stieltjes,
    teacher_prediction,
)

__all__ = [
    "EquivalentGLM",
    "FixedPoint",
    "GaussianCoefficients",
    "LayerTheory",
    "bayes_optimal",
    "damped_iteration",
    "equivalent_glm",
    "equivalent_glm_centred",
    "gaussian_coefficients",
    "marchenko_pastur_stieltjes",
    "offset_moments",
    "ridge_error",
    "ridge_excess_error",
    "solve_glm",
    "spectrum_stieltjes",
    "teacher_prediction",
    "theory_dataset",
]
