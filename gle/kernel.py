"""The student's infinite-width kernel (NNGP) of a spec (docs/theory.md 9).

With ``W_l`` entries of variance ``Delta_l`` (``spec.prior_var``) and readout variance
``Delta_a`` (``spec.readout_var``), the network of docs/theory.md 1 is, as every width grows, a
Gaussian process in ``x`` whose covariance follows the layers::

    K_1(x, x')     = Delta_1 x . x' / d
    K_{l+1}(x, x') = Delta_{l+1} E[sigma_l(u) sigma_l(v)]
    K(x, x')       = Delta_a     E[sigma_L(u) sigma_L(v)],
    (u, v) ~ N(0, [[K_l(x, x), K_l(x, x')], [K_l(x, x'), K_l(x', x')]])   (layer l = L last)

The bivariate expectation (the activation's "dual", ``dual_expectation``) has closed forms for
linear, relu (arc-cosine, Cho and Saul 2009), erf and sign (arcsine, Williams 1997); any other
activation uses its Hermite series ``sum_k h_k(a) h_k(b) rho^k`` with
``h_k(a) = E_z[sigma(sqrt(a) z) He_k(z)] / sqrt(k!)`` and ``rho = c / sqrt(a b)``, summed until
the Parseval remainder ``E[sigma(sqrt(a) z)^2] - sum h_k(a)^2``, which bounds the tail at any
``rho``, is below ``HERMITE_TOLERANCE`` (a function analytic in a strip, such as tanh, gets
there in tens to a few hundred terms; a kinked one, such as relu, would stop at
``HERMITE_TERMS`` with an error of order 1e-3: give it a closed form). The diagonal ``K(x, x)`` is the one-dimensional
``E[sigma(sqrt(a) z)^2]``, exact for every activation.

References: Neal 1996; Williams 1997; Cho and Saul 2009; Lee et al. 2018 and Matthews et al.
2018 (deep networks as Gaussian processes).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.polynomial import chebyshev

from teacher_student import Activation, TeacherSpec, get_activation

from .coefficients import gaussian_trapezoid
from .equivalent import EquivalentGLM
from .ridge import ridge_error

HERMITE_TERMS = 400
HERMITE_TOLERANCE = 1e-12
CHEBYSHEV_NODES = 24


def _closed_form(name: str, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray | None:
    """``E[sigma(u) sigma(v)]`` in closed form, or None; ``a``, ``b`` the variances (broadcast
    against the covariance ``c``)."""
    if name == "linear":
        return c
    scale = np.sqrt(a * b)
    if name == "relu":
        cos = np.clip(c / scale, -1.0, 1.0)
        theta = np.arccos(cos)
        return scale / (2 * np.pi) * (np.sin(theta) + (np.pi - theta) * cos)
    if name == "erf":
        return 2 / np.pi * np.arcsin(np.clip(2 * c / np.sqrt((1 + 2 * a) * (1 + 2 * b)), -1, 1))
    if name == "sign":
        return 2 / np.pi * np.arcsin(np.clip(c / scale, -1.0, 1.0))
    return None


def _nodes(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The trapezoidal rule of ``gle.coefficients`` for ``E_z`` of ``sigma(sqrt(a) z)``, its
    step ``1 / (32 max(1, sqrt(max a)))`` (an integrand analytic in a strip: error
    ``~ exp(-2 pi delta / h)``)."""
    return gaussian_trapezoid(math.ceil(32 * max(1.0, math.sqrt(float(np.max(a))))))


def hermite_coefficients(act: Activation, a: np.ndarray) -> np.ndarray:
    """``h_k(a) = E_z[sigma(sqrt(a) z) He_k(z)] / sqrt(k!)`` for ``k < K``, shaped
    ``(K, *a.shape)``: ``K`` is the first order whose Parseval remainder
    ``E[sigma(sqrt(a) z)^2] - sum_{k<K} h_k^2`` (which bounds the series' tail at any rho) is
    below ``HERMITE_TOLERANCE`` at every ``a``, at most ``HERMITE_TERMS``. Many variances are
    served by Chebyshev interpolation in ``a`` on ``CHEBYSHEV_NODES`` nodes spanning them (the
    coefficients are analytic in ``a > 0``)."""
    a = np.asarray(a, dtype=float)
    lo, hi = float(np.min(a)), float(np.max(a))
    if a.size <= CHEBYSHEV_NODES or hi - lo < 1e-12 * hi:
        return _hermite_coefficients(act, a)
    t = np.cos(np.pi * (np.arange(CHEBYSHEV_NODES) + 0.5) / CHEBYSHEV_NODES)
    at_nodes = _hermite_coefficients(act, lo + (hi - lo) * (t + 1) / 2)  # (K, nodes)
    fit = chebyshev.chebfit(t, at_nodes.T, CHEBYSHEV_NODES - 1)
    return chebyshev.chebval(2 * (a - lo) / (hi - lo) - 1, fit)


def _hermite_coefficients(act: Activation, a: np.ndarray) -> np.ndarray:
    z, w = _nodes(a)
    values = act(np.sqrt(a)[..., None] * z) * w  # (..., nodes)
    remainder = second_moment(act, a)
    out = []
    previous, current = np.zeros_like(z), np.ones_like(z)  # normalised He_{k-1}, He_k
    for k in range(HERMITE_TERMS):
        out.append(values @ current)
        remainder = remainder - out[-1] ** 2
        if np.max(remainder) < HERMITE_TOLERANCE:
            break
        previous, current = current, (z * current - math.sqrt(k) * previous) / math.sqrt(k + 1)
    return np.array(out)


def dual_expectation(act: Activation, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``E[sigma(u) sigma(v)]`` for ``(u, v)`` centred Gaussian with variances ``a`` (shape
    ``(m, 1)``), ``b`` (``(1, n)``) and covariance ``c`` (``(m, n)``)."""
    closed = _closed_form(act.name, a, b, c)
    if closed is not None:
        return closed
    rho = np.clip(c / np.sqrt(a * b), -1.0, 1.0)
    ha, hb = hermite_coefficients(act, a[:, 0]), hermite_coefficients(act, b[0])
    out = np.zeros_like(c)
    power = np.ones_like(c)
    for k in range(min(len(ha), len(hb))):  # the tail beyond is below the tolerance
        out += np.outer(ha[k], hb[k]) * power
        power *= rho
    return out


def second_moment(act: Activation, a: np.ndarray) -> np.ndarray:
    """``E[sigma(sqrt(a) z)^2]``, the dual on the diagonal (``u = v``)."""
    closed = _closed_form(act.name, a, a, a)
    if closed is not None:
        return closed
    a = np.asarray(a, dtype=float)
    z, w = _nodes(a)
    return act(np.sqrt(a)[..., None] * z) ** 2 @ w


def nngp_kernel(spec: TeacherSpec, x1: np.ndarray, x2: np.ndarray | None = None) -> np.ndarray:
    """The output kernel ``K(x1_i, x2_j)`` (module docstring), shaped ``(len(x1), len(x2))``;
    ``x2 = None`` gives the symmetric ``K(x1, x1)`` with its exact diagonal."""
    same = x2 is None
    x2 = x1 if same else x2
    d = x1.shape[1]
    first = spec.weight_variances()[0]
    a = first * np.einsum("ij,ij->i", x1, x1) / d
    b = first * np.einsum("ij,ij->i", x2, x2) / d
    return _layers(spec, a, b, first * (x1 @ x2.T) / d, same)


def _layers(spec: TeacherSpec, a: np.ndarray, b: np.ndarray, c: np.ndarray, same: bool):
    """The recursion of the module docstring from layer 1's variances ``a``, ``b`` and
    covariances ``c``."""
    for name, var in zip(spec.activations, spec.weight_variances()[1:], strict=True):
        act = get_activation(name)
        c = var * dual_expectation(act, a[:, None], b[None, :], c)
        a, b = var * second_moment(act, a), var * second_moment(act, b)
        if same:
            np.fill_diagonal(c, a)
    return c


def kernel_linearisation(spec: TeacherSpec) -> tuple[float, float, float]:
    """``(kappa_0, kappa_1, kappa_*)`` with ``K(x, x') = kappa_0 + kappa_1 t + O(t^2)`` at
    ``t = x . x' / d`` and ``K(x, x) = kappa_0 + kappa_1 + kappa_*``, for ``|x|^2 / d = 1``
    (docs/theory.md 9; El Karoui 2010): ``kappa_1`` by a central difference in ``t``."""
    first = spec.weight_variances()[0]
    one = np.array([first])
    t = np.array([[-1e-5, 0.0, 1e-5]]) * first
    k = _layers(spec, one, np.full(3, first), t, same=False)[0]
    diag = _layers(spec, one, one, one[:, None], same=True)[0, 0]
    kappa_0, kappa_1 = k[1], (k[2] - k[0]) / 2e-5
    return float(kappa_0), float(kappa_1), float(diag - kappa_0 - kappa_1)


def kernel_ridge_error(
    alpha: np.ndarray | float, lam: np.ndarray | float, glm: EquivalentGLM
) -> np.ndarray:
    """Asymptotic test error (clean target, Gaussian channel) of kernel ridge with the student's
    NNGP kernel at ``lam``: with ``K = kappa_0 1 1^T + rho X X^T / d + delta_eff I + o(1)``
    (``kernel_linearisation`` equals the GLM's ``(offset_var, rho, delta_eff)``), kernel ridge is
    linear ridge at ``(lam + delta_eff) / rho`` (docs/theory.md 9), whose error is
    ``ridge_error``; at ``lam = Delta`` that is ``lam_bo``, the Bayes-optimal error."""
    return ridge_error(alpha, (np.asarray(lam) + glm.delta_eff) / glm.rho, glm)
