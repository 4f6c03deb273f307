"""Gaussian moments of activations (docs/theory.md section 3).

For ``g ~ N(0, v)`` and an offset ``b``::

    m(b) = E_g sigma(b + g),   c(b) = E_g[g sigma(b + g)] / v  (= E_g sigma'(b + g)),
    s(b) = E_g sigma(b + g)^2

At ``b = 0`` these give the Gaussian-equivalence coefficients ``mu_0 = m``, ``mu_1 = c`` and
``mu_*^2 = s - mu_0^2 - v mu_1^2``. Closed forms are used for linear, relu, sign and erf;
every other activation (tanh, tanh2x, registered ones) uses the trapezoidal rule in
``u = g / sqrt(v)`` on ``|u| <= 38`` with step ``h = 1 / (32 max(1, sqrt(v)))``. For an integrand
analytic in a strip of half-width ``delta`` the error is ``~ exp(-2 pi delta / h)``: about 1e-15 for
tanh(2x) at ``v <= 4`` (Gauss-Hermite with 160 nodes is only 6e-9 at ``v = 1`` there, because
tanh(2x) has poles at ``+-i pi / 4``). Non-smooth registered activations converge as ``h^2``;
give them a closed form in ``CLOSED_FORMS`` if they need more.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import NamedTuple

import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from scipy import special

from teacher_student import Activation, get_activation

GAUSS_HERMITE_NODES = 160
TRAPEZOID_HALF_WIDTH = 38.0
TRAPEZOID_STEPS_PER_UNIT = 32


@cache
def gauss_hermite(n: int = GAUSS_HERMITE_NODES) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights with ``E_{z ~ N(0,1)} f(z) ~ sum_i w_i f(z_i)`` (for smooth outer
    integrands such as ``E_b m(b)^2`` over Gaussian-smoothed functions)."""
    z, w = hermegauss(n)
    return z, w / np.sqrt(2 * np.pi)


@cache
def gaussian_trapezoid(steps_per_unit: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``u_k = k h`` on ``|u| <= 38`` and weights ``h phi(u_k)`` for ``E_{u ~ N(0,1)}``."""
    h = 1.0 / steps_per_unit
    u = h * np.arange(-round(TRAPEZOID_HALF_WIDTH / h), round(TRAPEZOID_HALF_WIDTH / h) + 1)
    return u, h * np.exp(-0.5 * u**2) / np.sqrt(2 * np.pi)


class OffsetMoments(NamedTuple):
    """``m(b)``, ``c(b)``, ``s(b)`` of one activation (arrays shaped like ``b``)."""

    mean: np.ndarray
    slope: np.ndarray
    second: np.ndarray


def _linear(b: np.ndarray, v: float) -> OffsetMoments:
    return OffsetMoments(b, np.ones_like(b), b**2 + v)


def _relu(b: np.ndarray, v: float) -> OffsetMoments:
    s = np.sqrt(v)
    cdf, pdf = special.ndtr(b / s), np.exp(-0.5 * (b / s) ** 2) / np.sqrt(2 * np.pi)
    return OffsetMoments(b * cdf + s * pdf, cdf, (b**2 + v) * cdf + b * s * pdf)


def _sign(b: np.ndarray, v: float) -> OffsetMoments:
    s = np.sqrt(v)
    pdf = np.exp(-0.5 * (b / s) ** 2) / np.sqrt(2 * np.pi)
    return OffsetMoments(special.erf(b / (s * np.sqrt(2))), 2 * pdf / s, np.ones_like(b))


def _erf(b: np.ndarray, v: float) -> OffsetMoments:
    # E erf(X)^2 = 1 - 8 T(sqrt(2) b / sqrt(1 + 2v), 1 / sqrt(1 + 4v)) (Owen's T), X ~ N(b, v).
    w = 1 + 2 * v
    mean = special.erf(b / np.sqrt(w))
    slope = 2 / np.sqrt(np.pi * w) * np.exp(-(b**2) / w)
    second = 1 - 8 * special.owens_t(np.sqrt(2) * b / np.sqrt(w), 1 / np.sqrt(1 + 4 * v))
    return OffsetMoments(mean, slope, second)


CLOSED_FORMS: dict[str, Callable[[np.ndarray, float], OffsetMoments]] = {
    "linear": _linear,
    "relu": _relu,
    "sign": _sign,
    "erf": _erf,
}


def quadrature_moments(act: Activation, b: np.ndarray, v: float) -> OffsetMoments:
    """``m, c, s`` by the trapezoidal rule over ``g`` (any activation; see the module docstring)."""
    z, w = gaussian_trapezoid(int(np.ceil(TRAPEZOID_STEPS_PER_UNIT * max(1.0, np.sqrt(v)))))
    g = np.sqrt(v) * z
    values = act(np.asarray(b)[..., None] + g)
    return OffsetMoments(values @ w, (values * g) @ w / v, values**2 @ w)


def offset_moments(activation: str | Activation, b: np.ndarray | float, v: float) -> OffsetMoments:
    """``m(b), c(b), s(b)`` for ``g ~ N(0, v)``: closed form when known, else quadrature."""
    act = get_activation(activation) if isinstance(activation, str) else activation
    if not v > 0:
        raise ValueError(f"variance v = {v!r}: must be > 0")
    b = np.asarray(b, dtype=float)
    closed = CLOSED_FORMS.get(act.name)
    if closed is not None and get_activation(act.name) is act:
        return closed(b, v)
    return quadrature_moments(act, b, v)


class GaussianCoefficients(NamedTuple):
    """``mu_0, mu_1, mu_*`` of an activation at pre-activation variance ``r``."""

    mu0: float
    mu1: float
    mustar: float


def gaussian_coefficients(activation: str | Activation, r: float = 1.0) -> GaussianCoefficients:
    """Hermite coefficients of ``sigma`` at ``h ~ N(0, r)`` (docs/theory.md 3).

    ``mu_0 = E sigma(h)``, ``mu_1 = E[h sigma(h)]/r``, ``mu_*^2 = E sigma^2 - mu_0^2 - r mu_1^2``.
    """
    m, c, s = (float(x) for x in offset_moments(activation, 0.0, r))
    return GaussianCoefficients(m, c, float(np.sqrt(max(s - m**2 - r * c**2, 0.0))))
