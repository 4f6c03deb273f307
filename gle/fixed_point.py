"""Replica-symmetric fixed point of the Gaussian-prior GLM (docs/theory.md section 4).

Order parameters: the overlap ``q`` (``0 <= q <= rho``) and its conjugate ``r``, with
``q = rho^2 r / (1 + rho r)``. Everything is solved in the excess ``e = rho - q``, which the
prior update turns into ``e = rho / (1 + rho r(e))``; this keeps full relative precision when
``q -> rho`` (large alpha, small noise).

Each channel is a small class with one contract (after TRAMP): ``solve`` (excess, r, converged),
``output_information`` (``I_out``) and ``errors`` (eps_bo, eps_gibbs, eps_bo against the clean
target). ``s2 = delta_eff + Delta`` is the GLM's total noise.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
from scipy import special

from .coefficients import gauss_hermite

SIGN_QUADRATURE_NODES = 96
_LOG_2PI = np.log(2 * np.pi)


class ChannelSolution(NamedTuple):
    excess: np.ndarray  # e = rho - q
    r: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray


class GaussianChannel:
    """``P_out(y | z) = N(y; z + c, s2)`` (docs/theory.md 4, closed form).

    ``r = alpha / (s2 + e)`` and ``e^2 + e B - rho s2 = 0`` with ``B = s2 + rho (alpha - 1)``,
    so ``e = 2 rho s2 / (B + sqrt(B^2 + 4 rho s2))`` (``rho (1 - alpha)_+`` at ``s2 = 0``).
    A known offset ``c`` shifts every label and nothing else: the fixed point, the information
    and the errors do not depend on it (docs/theory.md 4.1).
    """

    name = "gaussian"

    @staticmethod
    def solve(
        alpha: np.ndarray, rho: float, s2: float, offset: np.ndarray | float = 0.0
    ) -> ChannelSolution:
        alpha = np.broadcast_to(np.asarray(alpha, dtype=float), np.broadcast(alpha, offset).shape)
        if s2 > 0:
            B = s2 + rho * (alpha - 1)
            e = 2 * rho * s2 / (B + np.sqrt(B**2 + 4 * rho * s2))
        else:
            e = rho * np.clip(1 - alpha, 0, None)
        with np.errstate(divide="ignore"):
            r = alpha / (s2 + e)
        ones = np.ones_like(alpha)
        return ChannelSolution(e, r, ones.astype(bool), 0 * ones.astype(int))

    @staticmethod
    def output_information(
        rho: float, s2: float, excess: np.ndarray, offset: np.ndarray | float = 0.0
    ) -> np.ndarray:
        """``I_out = (1/2) ln(1 + e / s2)`` (infinite for a noiseless channel with ``e > 0``)."""
        with np.errstate(divide="ignore"):
            return 0.5 * np.log1p(excess / s2) if s2 > 0 else np.where(excess > 0, np.inf, 0.0)

    @staticmethod
    def errors(
        rho: float,
        s2: float,
        delta_eff: float,
        excess: np.ndarray,
        offset: np.ndarray | float = 0.0,
    ) -> tuple:
        """``eps_bo = e + delta_eff`` (clean target), ``eps_gibbs = 2 eps_bo``."""
        eps = excess + delta_eff
        return eps, 2 * eps, eps


def _gaussian_smoothed(log_k, a: np.ndarray, b: np.ndarray | float = 0.0) -> np.ndarray:
    """``E_{xi~N(0,1)}[phi(u) k(u)]`` with ``u = a xi + b``, for smooth ``k``.

    The product of ``phi(u)`` and the density of ``u ~ N(b, a^2)`` is
    ``N(b; 0, 1 + a^2) N(u; b / (1 + a^2), tau^2)`` with ``tau^2 = a^2 / (1 + a^2)``, so the
    expectation is ``exp(-b^2 / (2 (1 + a^2))) E_{u~N(b/(1+a^2), tau^2)}[k(u)] / sqrt(2 pi (1 + a^2))``.
    The Gaussian factor is absorbed exactly: a Gauss-Hermite rule in ``u`` is accurate uniformly
    in ``a``, including ``a -> infinity``. ``log_k`` gives ``ln k``.
    """
    z, w = gauss_hermite(SIGN_QUADRATURE_NODES)
    a, b = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    tau = np.where(np.isinf(a), 1.0, a / np.sqrt(1 + a**2))
    with np.errstate(invalid="ignore", over="ignore"):
        centre = np.where(np.isinf(a), 0.0, b / (1 + a**2))
        values = np.exp(log_k(centre[..., None] + tau[..., None] * z)) @ w
        return values * np.exp(-0.5 * b**2 / (1 + a**2)) / np.sqrt(2 * np.pi * (1 + a**2))


def _log_phi(u: np.ndarray) -> np.ndarray:
    return -0.5 * u**2 - 0.5 * _LOG_2PI


def _log_tails(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(ln Phi(|u|), ln Phi(-|u|))`` from one ``log_ndtr``: ``Phi(|u|) = 1 - Phi(-|u|) >= 1/2``."""
    small = special.log_ndtr(-np.abs(u))
    return np.log1p(-np.exp(small)), small


def _log_h(u: np.ndarray) -> np.ndarray:
    # h(u) = phi(u) / (Phi(u) Phi(-u)),  so that  phi(u)^2 (1/Phi(u) + 1/Phi(-u)) = phi(u) h(u)
    large, small = _log_tails(u)
    return _log_phi(u) - large - small


def _log_entropy_ratio(u: np.ndarray) -> np.ndarray:
    # k(u) = h2(Phi(u)) / phi(u), h2 the binary entropy in nats (symmetric in u)
    large, small = _log_tails(u)
    h2 = -np.exp(large) * large - np.exp(small) * small
    return np.log(h2) - _log_phi(u)


def probit_fisher(a: np.ndarray, b: np.ndarray | float = 0.0) -> np.ndarray:
    """``J(a, b) = E_xi [phi(u)^2 (1/Phi(u) + 1/Phi(-u))]``, ``u = a xi + b``; ``r = alpha J / S2``."""
    return _gaussian_smoothed(_log_h, a, b)


def probit_entropy(a: np.ndarray, b: np.ndarray | float = 0.0) -> np.ndarray:
    """``H(a, b) = E_xi h2(Phi(a xi + b))`` in nats (0 at ``a = infinity``)."""
    return _gaussian_smoothed(_log_entropy_ratio, a, b)


class SignChannel:
    """``P_out(y | z) = Phi(y (z + c) / sqrt(s2))``: the probit channel with a known output offset
    ``c`` (docs/theory.md 4.1); the sign channel at ``s2 = 0``, the centred one at ``c = 0``.

    With ``S2 = s2 + e``, ``a = sqrt(q / S2)`` and ``b = c / sqrt(S2)``:
    ``r = (alpha / S2) J(a, b)``. The fixed point ``e = rho / (1 + rho r(e))`` is bracketed in
    ``ln e`` on ``[ln rho - 80, ln rho]`` and solved by Chandrupatla's method (scipy's vectorised
    ``find_root``) to ``1e-13`` relative in ``e``. ``alpha`` and ``offset`` broadcast.
    """

    name = "sign"
    LOG_BRACKET = 80.0

    @staticmethod
    def field(rho: float, s2: float, excess: np.ndarray, offset: np.ndarray | float = 0.0):
        """``S2 = s2 + e``, ``a = sqrt(q / S2)``, ``b = c / sqrt(S2)``: the estimate's field
        ``u = a xi + b`` in units of its residual noise."""
        S2 = s2 + excess
        return S2, np.sqrt(np.clip(rho - excess, 0, None) / S2), offset / np.sqrt(S2)

    @classmethod
    def conjugate(
        cls,
        alpha: np.ndarray,
        rho: float,
        s2: float,
        excess: np.ndarray,
        offset: np.ndarray | float = 0.0,
    ) -> np.ndarray:
        """``r(e) = (alpha / S2) J(sqrt(q / S2), c / sqrt(S2))``."""
        S2, a, b = cls.field(rho, s2, excess, offset)
        return alpha / S2 * probit_fisher(a, b)

    @classmethod
    def solve(
        cls, alpha: np.ndarray, rho: float, s2: float, offset: np.ndarray | float = 0.0
    ) -> ChannelSolution:
        from scipy.optimize.elementwise import (
            find_root,
        )  # imported on first use: it is slow to import

        alpha, offset = np.broadcast_arrays(
            np.asarray(alpha, dtype=float), np.asarray(offset, dtype=float)
        )
        if rho == 0:
            zeros = np.zeros_like(alpha)
            r = alpha / s2 * probit_fisher(0.0, offset / np.sqrt(s2))
            return ChannelSolution(zeros, r, zeros == 0, zeros.astype(int))

        def residual(log_e, alpha, offset):
            e = np.exp(log_e)
            return np.log(rho) - np.log1p(rho * cls.conjugate(alpha, rho, s2, e, offset)) - log_e

        lo = np.full_like(alpha, np.log(rho) - cls.LOG_BRACKET)
        hi = np.full_like(alpha, np.log(rho))
        res = find_root(
            residual,
            (lo, hi),
            args=(alpha, offset),
            tolerances={"xatol": 1e-13, "xrtol": 0.0, "fatol": 1e-14, "frtol": 0.0},
            maxiter=200,
        )
        e = np.exp(res.x)
        converged = res.success & np.isfinite(e) & (np.abs(res.f_x) < 1e-9)
        return ChannelSolution(e, cls.conjugate(alpha, rho, s2, e, offset), converged, res.nit)

    @staticmethod
    def output_information(
        rho: float, s2: float, excess: np.ndarray, offset: np.ndarray | float = 0.0
    ) -> np.ndarray:
        """``I_out = E h2(Phi(a xi + c / sqrt(S2))) - E h2(Phi(sqrt(rho / s2) xi + c / sqrt(s2)))``
        (docs/theory.md 4.1): the label's entropy given the estimate minus that given the signal."""
        _, a, b = SignChannel.field(rho, s2, excess, offset)
        given_estimate = probit_entropy(a, b)
        if s2 == 0:
            return given_estimate
        return given_estimate - probit_entropy(np.sqrt(rho / s2), offset / np.sqrt(s2))

    @staticmethod
    def errors(
        rho: float,
        s2: float,
        delta_eff: float,
        excess: np.ndarray,
        offset: np.ndarray | float = 0.0,
    ) -> tuple:
        """Errors against a fresh noisy label and against the clean ``sign f*`` (docs/theory.md 4.1).

        With ``h = c / sqrt(rho + s2)`` and Owen's ``T``:
        ``eps_bo = 2 T(h, sqrt((s2 + e) / q))``, ``eps_gibbs = 4 T(h, sqrt((1 - k) / (1 + k)))``
        with ``k = q / (rho + s2)``; clean: ``s2 -> delta_eff``. At ``c = 0``:
        ``arccos(sqrt(q / (rho + s2))) / pi`` and ``arccos(q / (rho + s2)) / pi``.
        """
        q = np.clip(rho - excess, 0, None)
        with np.errstate(divide="ignore"):
            eps_bo = _bayes_disagreement(offset, rho + s2, s2 + excess, q)
            clean = _bayes_disagreement(offset, rho + delta_eff, delta_eff + excess, q)
        k = q / (rho + s2)
        eps_gibbs = 4 * special.owens_t(offset / np.sqrt(rho + s2), np.sqrt((1 - k) / (1 + k)))
        return eps_bo, eps_gibbs, clean


def _bayes_disagreement(offset, total: float, residual: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``P(sign(w + c) != sign(w + c + n))`` for ``w ~ N(0, q)``, ``n ~ N(0, residual)``,
    ``q + residual = total``: ``2 T(c / sqrt(total), sqrt(residual / q))`` (Owen's ``T``)."""
    return 2 * special.owens_t(offset / np.sqrt(total), np.sqrt(residual / q))


CHANNEL_SOLVERS = {"gaussian": GaussianChannel, "sign": SignChannel}


class FixedPoint(NamedTuple):
    """Replica-symmetric solution on an alpha grid (arrays over alpha).

    ``eps_bo``/``eps_gibbs``: regression errors against the clean target, classification errors
    against a fresh noisy label; ``eps_bo_clean``: classification against ``sign f*`` (equal to
    ``eps_bo`` for regression). ``mutual_information``: per input dimension, in nats.
    """

    alpha: np.ndarray
    q: np.ndarray
    r: np.ndarray
    excess: np.ndarray
    eps_bo: np.ndarray
    eps_gibbs: np.ndarray
    eps_bo_clean: np.ndarray
    mutual_information: np.ndarray
    converged: np.ndarray


def _check_alpha(alpha: np.ndarray | float) -> np.ndarray:
    alpha = np.atleast_1d(np.asarray(alpha, dtype=float))
    bad = ~(np.isfinite(alpha) & (alpha > 0))
    if bad.any():
        raise ValueError(f"alpha = {float(alpha[bad][0])!r}: must be a finite number > 0")
    return alpha


def solve_glm(
    alpha: np.ndarray | float,
    rho: float,
    delta_eff: float,
    noise: float,
    channel: str,
    offset: np.ndarray | float = 0.0,
) -> FixedPoint:
    """Bayes-optimal fixed point of the GLM with prior ``N(0, rho)``, noise ``s2`` and a known
    output offset ``c`` (``offset``; it broadcasts against ``alpha``).

    Mutual information per dimension (docs/theory.md 4):
    ``i = (1/2) ln(1 + r rho) + alpha I_out(q) - r (rho - q) / 2``.
    """
    alpha = _check_alpha(alpha)
    for name, value in (("rho", rho), ("delta_eff", delta_eff), ("noise", noise)):
        if not (np.isfinite(value) and value >= 0):
            raise ValueError(f"{name} = {value!r}: must be a finite number >= 0")
    if not np.all(np.isfinite(offset)):
        raise ValueError(f"offset = {offset!r}: must be finite")
    if channel not in CHANNEL_SOLVERS:
        raise ValueError(f"channel = {channel!r}: must be one of {', '.join(CHANNEL_SOLVERS)}")
    solver = CHANNEL_SOLVERS[channel]
    s2 = delta_eff + noise
    if channel == "sign" and s2 == 0 and rho == 0:
        raise ValueError("rho = 0 and s2 = 0: the sign channel carries no information")
    e, r, converged, _ = solver.solve(alpha, rho, s2, offset)
    alpha = np.broadcast_to(alpha, e.shape)
    eps_bo, eps_gibbs, clean = solver.errors(rho, s2, delta_eff, e, offset)
    with np.errstate(invalid="ignore"):
        finite_r = np.where(np.isinf(r), 0.0, r)
        info = (
            0.5 * np.log1p(r * rho)
            + alpha * solver.output_information(rho, s2, e, offset)
            - 0.5 * finite_r * e
        )
    return FixedPoint(alpha, rho - e, r, e, eps_bo, eps_gibbs, clean, info, converged)


OFFSET_NODES = 24  # Gauss-Legendre nodes in c on [0, 8 sqrt(offset_var)]
OFFSET_RANGE = 8.0  # the Gaussian mass beyond 8 standard deviations is 1e-15
_CHUNK = 4096  # alphas solved at once by the ensemble average (memory: chunk x nodes x 96)


def offset_rule(offset_var: float, nodes: int = OFFSET_NODES) -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``c`` and weights with ``E_{c ~ N(0, offset_var)} g(c) ~ sum w g(c)`` for ``g`` even
    in ``c``: ``2 int_0^{8 sd} N(c; 0, offset_var) g(c) dc`` by ``nodes``-point Gauss-Legendre."""
    x, w = np.polynomial.legendre.leggauss(nodes)
    u = 0.5 * OFFSET_RANGE * (x + 1)  # c / sd on [0, OFFSET_RANGE]
    return np.sqrt(offset_var) * u, OFFSET_RANGE * w * np.exp(-0.5 * u**2) / np.sqrt(2 * np.pi)


def solve_glm_ensemble(
    alpha: np.ndarray | float,
    rho: float,
    delta_eff: float,
    noise: float,
    channel: str,
    offset_var: float = 0.0,
    nodes: int = OFFSET_NODES,
) -> FixedPoint:
    """The fixed point averaged over a random output offset ``c ~ N(0, offset_var)``, known to
    the student (docs/theory.md 4.1): every field of ``FixedPoint`` is ``E_c`` of its value at ``c``
    (the average of the errors, not the errors at the average ``q``); ``converged`` is the
    conjunction over ``c``. Everything is even in ``c`` and smooth on ``c >= 0`` but not at
    ``c = 0`` (at ``q = 0``, ``eps_bo = Phi(-|c| / sqrt(rho + s2))``), so the average is
    ``2 int_0^{8 sd} N(c; 0, offset_var) g(c) dc`` by a ``nodes``-point Gauss-Legendre rule.

    For the Gaussian channel, or ``offset_var = 0``, this is ``solve_glm`` at ``c = 0``.
    """
    if not (np.isfinite(offset_var) and offset_var >= 0):
        raise ValueError(f"offset_var = {offset_var!r}: must be a finite number >= 0")
    if channel == "gaussian" or offset_var == 0:
        return solve_glm(alpha, rho, delta_eff, noise, channel)
    parts = []
    for part, fp, weight in solve_at_offsets(
        alpha, rho, delta_eff, noise, channel, offset_var, nodes
    ):
        averaged = {f: getattr(fp, f) @ weight for f in FixedPoint._fields[1:-1]}
        parts.append(FixedPoint(part, **averaged, converged=fp.converged.all(axis=-1)))
    return FixedPoint(*(np.concatenate(values) for values in zip(*parts, strict=True)))


def solve_at_offsets(
    alpha: np.ndarray | float,
    rho: float,
    delta_eff: float,
    noise: float,
    channel: str,
    offset_var: float,
    nodes: int = OFFSET_NODES,
) -> Iterator[tuple[np.ndarray, FixedPoint, np.ndarray]]:
    """``solve_glm`` at each node ``c`` of ``offset_rule(offset_var, nodes)``, by chunks of
    ``_CHUNK`` alphas (memory): per chunk the alphas, the fixed point (chunk x nodes) and the
    nodes' weights, so that ``E_c g(c) ~ g @ weight``."""
    alpha = _check_alpha(alpha)
    c, weight = offset_rule(offset_var, nodes)
    for start in range(0, alpha.size, _CHUNK):
        part = alpha[start : start + _CHUNK]
        yield part, solve_glm(part[:, None], rho, delta_eff, noise, channel, c), weight


def damped_iteration(
    alpha: float,
    rho: float,
    s2: float,
    channel: str,
    damping: float = 0.1,
    tol: float = 1e-13,
    max_iter: int = 100_000,
    offset: float = 0.0,
) -> tuple[float, int]:
    """The fixed point by damped iteration, as the published notebooks do it (for comparison).

    ``q <- damping q + (1 - damping) rho^2 r(q) / (1 + rho r(q))`` from ``q = 0`` until
    ``|Delta q| < tol``; ``offset`` is the sign channel's known output offset ``c``.
    Returns ``(q, iterations)``.
    """
    q = 0.0
    conj = CHANNEL_SOLVERS[channel]
    for it in range(1, max_iter + 1):
        e = np.array(rho - q)
        r = alpha / (s2 + e) if channel == "gaussian" else conj.conjugate(alpha, rho, s2, e, offset)
        q_new = damping * q + (1 - damping) * float(rho**2 * r / (1 + rho * r))
        if abs(q_new - q) < tol:
            return q_new, it
        q = q_new
    return q, max_iter
