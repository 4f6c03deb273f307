"""The Gaussian-equivalence side: equivalent GLM and its Bayes-optimal fixed point.

docs/theory.md sections 3 and 4, numpy/scipy only (no JAX)::

    glm = equivalent_glm(spec)                 # rho, delta_eff, per-layer diagnostics
    fp = bayes_optimal(spec, alpha_grid)       # q, r, eps_bo, eps_gibbs, mutual_information
    solve_glm(alpha, rho, delta_eff, noise, channel, offset)   # one GLM, a known offset c
    solve_glm_ensemble(..., offset_var)        # averaged over c ~ N(0, offset_var)
    ds = theory_dataset(spec, alpha_grid)      # the same as an xarray.Dataset
    ridge_error(alpha, lam, glm)               # asymptotic ridge test error (Gaussian channel)
    teacher_prediction(alpha, glm, rho_T, delta_eff_T, c_T, d)   # per-teacher theory
    intercept_cost(alpha, d, glm, c_T)         # finite-n cost of learning the offset
    glm_log_evidence(x, y, glm)                # exact (1/n) ln p(Y | X) of the GLM (Gaussian)
    free_entropy_theory(spec, alpha_grid)      # its replica limit (docs/theory.md 8)
    nngp_kernel(spec, x1, x2)                  # the student's infinite-width kernel (9)
    kernel_ridge_error(alpha, lam, glm)        # kernel ridge with it, asymptotically
    erm_error(alpha, lam, glm, "logistic")     # regularised ERM on the GLM (10)
"""

from .coefficients import GaussianCoefficients, gaussian_coefficients, offset_moments
from .curve import bayes_optimal, theory_dataset
from .equivalent import EquivalentGLM, LayerTheory, equivalent_glm, equivalent_glm_centred
from .erm import erm_error, erm_overlaps
from .fixed_point import FixedPoint, damped_iteration, solve_glm, solve_glm_ensemble
from .free_entropy import free_entropy_theory, glm_log_evidence
from .kernel import kernel_linearisation, kernel_ridge_error, nngp_kernel
from .ridge import (
    intercept_cost,
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
    "erm_error",
    "erm_overlaps",
    "free_entropy_theory",
    "gaussian_coefficients",
    "glm_log_evidence",
    "intercept_cost",
    "kernel_linearisation",
    "kernel_ridge_error",
    "marchenko_pastur_stieltjes",
    "nngp_kernel",
    "offset_moments",
    "ridge_error",
    "ridge_excess_error",
    "solve_glm",
    "solve_glm_ensemble",
    "spectrum_stieltjes",
    "teacher_prediction",
    "theory_dataset",
]
