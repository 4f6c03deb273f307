"""Regularised empirical risk minimisation on the equivalent GLM: its asymptotic test error
(docs/theory.md 10).

The estimator ``w = argmin_w sum_mu loss(y_mu, w . x_mu / sqrt(d)) + (lam / 2) |w|^2`` on data of
the GLM of docs/theory.md 3.3 (teacher ``theta ~ N(0, rho I)``, labels through the channel with
noise ``s2``). As ``n, d -> infinity`` at ``alpha = n / d`` its overlaps ``m = w . theta / d``,
``q = |w|^2 / d`` and ``V`` solve the replica / state-evolution fixed point of convex ERM
(Thrampoulidis et al. 2018; Aubin, Krzakala, Lu, Zdeborova 2020; Loureiro et al. 2021)::

    m = rho mh / (lam + Vh),   q = (rho mh^2 + qh) / (lam + Vh)^2,   V = 1 / (lam + Vh)
    mh =  alpha E_xi sum_y dZ(y, w*) f(y, w),   qh = alpha E_xi sum_y Z(y, w*) f(y, w)^2,
    Vh = -alpha E_xi sum_y Z(y, w*) d_w f(y, w)

with ``w = sqrt(q) xi``, ``w* = m xi / sqrt(q)``, ``Z(y, w*) = P(y | w*)`` of the teacher
channel at variance ``V* + s2`` (``V* = rho - m^2 / q``), ``dZ = d_{w*} Z`` and
``f(y, w) = (prox(y, w) - w) / V`` through ``prox(y, w) = argmin_z loss(y, z) + (z - w)^2 / (2V)``.
Test errors: sign channel ``arccos(m / sqrt(q (rho + s2))) / pi`` (against the noisy label, as
``eps_bayes``); Gaussian channel ``rho - 2 m + q`` plus ``delta_eff`` (clean target).
"""

from __future__ import annotations

import numpy as np
from scipy import special

from .coefficients import gauss_hermite
from .equivalent import EquivalentGLM

LOSSES = ("square", "logistic")
BISECTIONS = 64


def _prox(loss: str, y: np.ndarray, w: np.ndarray, v: float) -> tuple[np.ndarray, np.ndarray]:
    """``prox(y, w)`` at variance ``v`` and its derivative in ``w``."""
    if loss == "square":  # loss = (y - z)^2 / 2
        return (w + v * y) / (1 + v), np.full_like(w, 1 / (1 + v))
    # logistic, loss = ln(1 + exp(-y z)): the root of z - w - v y expit(-y z), increasing in z,
    # lies between w and w + v y; bisection to v 2^-BISECTIONS
    lo, hi = np.minimum(w, w + v * y), np.maximum(w, w + v * y)
    for _ in range(BISECTIONS):
        z = 0.5 * (lo + hi)
        above = z - w - v * y * special.expit(-y * z) > 0
        lo, hi = np.where(above, lo, z), np.where(above, z, hi)
    z = 0.5 * (lo + hi)
    s = special.expit(-y * z)
    return z, 1 / (1 + v * s * (1 - s))


def _channel(glm: EquivalentGLM, w_star: np.ndarray, v_star: float):
    """Labels ``y``, their probabilities ``Z`` and ``dZ = d_{w*} Z`` given the teacher's field
    ``w*`` (shape ``(nodes,)``), as arrays ``(nodes, labels)``."""
    v = v_star + glm.s2
    if glm.channel == "sign":
        y = np.array([-1.0, 1.0])[None, :]
        u = w_star[:, None] / np.sqrt(v)
        return (
            np.broadcast_to(y, (w_star.size, 2)),
            special.ndtr(y * u),
            y * np.exp(-0.5 * u**2) / np.sqrt(2 * np.pi * v),
        )
    eta, weight = gauss_hermite(40)
    y = w_star[:, None] + np.sqrt(v) * eta[None, :]
    return y, np.broadcast_to(weight, y.shape), weight * eta / np.sqrt(v)


def _hat(loss: str, glm: EquivalentGLM, alpha: float, m: float, q: float, v: float):
    xi, weight = gauss_hermite(80)
    y, z, dz = _channel(glm, m * xi / np.sqrt(q), glm.rho - m**2 / q)
    w = np.sqrt(q) * xi[:, None] * np.ones_like(y)
    prox, slope = _prox(loss, y, w, v)
    f, df = (prox - w) / v, (slope - 1) / v
    m_hat = alpha * weight @ np.sum(dz * f, axis=1)
    q_hat = alpha * weight @ np.sum(z * f**2, axis=1)
    v_hat = -alpha * weight @ np.sum(z * df, axis=1)
    return m_hat, q_hat, v_hat


def erm_overlaps(
    alpha: float, lam: float, glm: EquivalentGLM, loss: str, *, damping: float = 0.5
) -> tuple[float, float, float]:
    """``(m, q, V)`` of the fixed point (module docstring), by damped iteration to 1e-11."""
    if loss not in LOSSES:
        raise ValueError(f"loss = {loss!r}: known losses are {', '.join(LOSSES)}")
    if not (lam > 0 and alpha > 0):
        raise ValueError(f"lam = {lam!r}, alpha = {alpha!r}: both must be > 0")
    if glm.offset_var:
        raise ValueError("the ERM theory covers centred teachers (offset_var = 0) only")
    m, q, v = 0.5 * glm.rho, glm.rho, 1.0
    for _ in range(5000):
        m_hat, q_hat, v_hat = _hat(loss, glm, alpha, m, q, v)
        new = (
            glm.rho * m_hat / (lam + v_hat),
            (glm.rho * m_hat**2 + q_hat) / (lam + v_hat) ** 2,
            1 / (lam + v_hat),
        )
        done = max(abs(a - b) for a, b in zip(new, (m, q, v), strict=True)) < 1e-11
        m, q, v = (damping * b + (1 - damping) * a for a, b in zip(new, (m, q, v), strict=True))
        if done:
            return float(m), float(q), float(v)
    raise RuntimeError(f"ERM fixed point at alpha = {alpha}, lam = {lam}: no convergence")


def erm_error(alpha: np.ndarray | float, lam: float, glm: EquivalentGLM, loss: str) -> np.ndarray:
    """Asymptotic test error of the ERM estimator at each alpha (module docstring)."""
    out = []
    for a in np.atleast_1d(np.asarray(alpha, dtype=float)):
        m, q, _ = erm_overlaps(float(a), lam, glm, loss)
        if glm.channel == "sign":
            out.append(np.arccos(np.clip(m / np.sqrt(q * (glm.rho + glm.s2)), -1, 1)) / np.pi)
        else:
            out.append(glm.rho - 2 * m + q + glm.delta_eff)
    return np.array(out)
