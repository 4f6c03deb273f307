"""Free entropy (log evidence per sample) of the equivalent GLM (docs/theory.md 8).

For one dataset ``(X, Y)``, ``f = (1/n) ln p(Y | X)``. The GLM's, Gaussian channel, is exact at
any size: ``theta ~ N(0, rho I_d)`` and the output offset ``c ~ N(0, offset_var)`` make ``Y``
Gaussian given ``X``::

    f_glm = (1/n) ln N(Y; 0, K),   K = rho X X^T / d + s2 I_n + offset_var 1 1^T

Its replica limit (``E`` over data, ``d -> infinity``), from section 4's mutual information
``i`` per input dimension::

    gaussian:  E f_glm -> -i / alpha - (1/2) ln(2 pi e s2)
    sign:      E f_glm -> -i / alpha - E_c E_z h2(Phi((c + sqrt(rho) z) / sqrt(s2)))

(``h2`` the binary entropy in nats: the label's entropy given the GLM's signal; averaged over
the offset ``c ~ N(0, offset_var)`` like ``i``). At finite ``n`` the offset, which the limit
treats as known, lowers ``E f_glm`` by ``offset_evidence_cost``: integrating ``c`` out of
``p(Y | X, c)`` by Laplace's method costs ``ln(1 + offset_var n J(c)) / (2n)``, with ``n J(c)``
the curvature of ``ln p(Y | X, c)`` in ``c`` and ``J(c) = r(c) / alpha`` the fixed point's
information per sample about a shift of the output (Gaussian channel: ``1^T K0^{-1} 1 / n``,
exactly the rank-one term ``offset_var 1 1^T`` of ``K`` in ``ln det K``); ``O(ln n / n)``, so
absent from the limit.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

from .curve import bayes_optimal
from .equivalent import EquivalentGLM, equivalent_glm
from .fixed_point import FixedPoint, _check_alpha, offset_rule, probit_entropy, solve_at_offsets

_LOG_2PI = np.log(2 * np.pi)


def glm_log_evidence(x: np.ndarray, y: np.ndarray, glm: EquivalentGLM) -> float:
    """``f_glm = (1/n) ln N(Y; 0, rho X X^T / d + s2 I + offset_var 1 1^T)`` (Gaussian channel).

    ``x``: (n, d) inputs, ``y``: (n,) labels. Exact, by a Cholesky factorisation of the
    ``n x n`` covariance.
    """
    if glm.channel != "gaussian":
        raise ValueError(f"channel = {glm.channel!r}: the exact evidence is the Gaussian channel's")
    if not glm.s2 > 0:
        raise ValueError(f"s2 = {glm.s2!r}: the Gaussian evidence needs delta_eff + noise > 0")
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n, d = x.shape
    cov = glm.rho * (x @ x.T) / d + glm.s2 * np.eye(n) + glm.offset_var
    factor, lower = linalg.cho_factor(cov, lower=True)
    white = linalg.solve_triangular(factor, y, lower=lower)
    log_det = 2 * np.sum(np.log(np.diag(factor)))
    return float(-0.5 * (white @ white + log_det + n * _LOG_2PI) / n)


def free_entropy_theory(
    spec_or_glm,
    alpha: np.ndarray | float,
    fixed_point: FixedPoint | None = None,
    d: int | None = None,
) -> np.ndarray:
    """The replica prediction ``E f_glm`` per sample over an alpha grid (nats per sample);
    ``fixed_point``: ``bayes_optimal(spec_or_glm, alpha)`` when already solved. With ``d``
    (``n = alpha d`` samples), the prediction also subtracts the output offset's finite-``n``
    term ``offset_evidence_cost``."""
    fp = bayes_optimal(spec_or_glm, alpha) if fixed_point is None else fixed_point
    glm = spec_or_glm if isinstance(spec_or_glm, EquivalentGLM) else equivalent_glm(spec_or_glm)
    cost = 0.0 if d is None else offset_evidence_cost(fp.alpha, d, glm)
    if glm.channel == "gaussian":
        return -fp.mutual_information / fp.alpha - 0.5 * np.log(2 * np.pi * np.e * glm.s2) - cost
    return -fp.mutual_information / fp.alpha - _label_entropy(glm) - cost


def offset_evidence_cost(alpha: np.ndarray | float, d: int, glm: EquivalentGLM) -> np.ndarray:
    """What the output offset takes from ``E f_glm`` at ``n = alpha d`` samples (module
    docstring): ``E_c ln(1 + offset_var n J(c)) / (2n)``, ``c ~ N(0, offset_var)`` by
    ``solve_at_offsets``, with ``n J(c) = d r(c)`` from the fixed point at offset ``c``
    (Gaussian channel: ``1^T K0^{-1} 1``, ``ridge.ones_quadratic``, whatever ``c``); 0 when
    ``offset_var = 0``."""
    alpha = _check_alpha(alpha)
    if glm.offset_var == 0:
        return np.zeros_like(alpha)
    args = (glm.rho, glm.delta_eff, glm.noise, glm.channel, glm.offset_var)
    cost = [np.log1p(glm.offset_var * d * fp.r) @ w for _, fp, w in solve_at_offsets(alpha, *args)]
    return np.concatenate(cost) / (2 * alpha * d)


def _label_entropy(glm: EquivalentGLM) -> float:
    """``E_c E_z h2(Phi((c + sqrt(rho) z) / sqrt(s2)))`` (sign channel), by the offset rule of
    ``solve_glm_ensemble``."""
    if glm.s2 == 0:
        return 0.0
    a = np.sqrt(glm.rho / glm.s2)
    if glm.offset_var == 0:
        return float(probit_entropy(np.array(a)))
    c, weight = offset_rule(glm.offset_var)
    return float(probit_entropy(np.full_like(c, a), c / np.sqrt(glm.s2)) @ weight)
