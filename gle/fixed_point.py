"""Replica-symmetric fixed point of the Gaussian-prior GLM (THEORY.md section 4).

Order parameters: the overlap ``q`` (``0 <= q <= rho``) and its conjugate ``r``, with
``q = rho^2 r / (1 + rho r)``. Everything is solved in the excess ``e = rho - q``, which the
prior update turns into ``e = rho / (1 + rho r(e))``; this keeps full relative precision when
``q -> rho`` (large alpha, small noise).

Each channel is a small class with one contract (after TRAMP): ``solve`` (excess, r, converged),
``output_information`` (``I_out``) and ``errors`` (eps_bo, eps_gibbs, eps_bo against the clean
target). ``s2 = delta_eff + Delta`` is the GLM's total noise.
"""

from __future__ import annotations

from functools import cache
from typing import NamedTuple

import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from scipy import special

SIGN_QUADRATURE_NODES = 96
_LOG_2PI = np.log(2 * np.pi)


class ChannelSolution(NamedTuple):
    excess: np.ndarray  # e = rho - q
    r: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray


class GaussianChannel:
    """``P_out(y | z) = N(y; z, s2)`` (THEORY.md 4, closed form).

    ``r = alpha / (s2 + e)`` and ``e^2 + e B - rho s2 = 0`` with ``B = s2 + rho (alpha - 1)``,
    so ``e = 2 rho s2 / (B + sqrt(B^2 + 4 rho s2))`` (``rho (1 - alpha)_+`` at ``s2 = 0``).
    """

    name = "gaussian"

    @staticmethod
    def solve(alpha: np.ndarray, rho: float, s2: float) -> ChannelSolution:
        alpha = np.asarray(alpha, dtype=float)
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
    def output_information(rho: float, s2: float, excess: np.ndarray) -> np.ndarray:
        """``I_out = (1/2) ln(1 + e / s2)`` (infinite for a noiseless channel with ``e > 0``)."""
        with np.errstate(divide="ignore"):
            return 0.5 * np.log1p(excess / s2) if s2 > 0 else np.where(excess > 0, np.inf, 0.0)

    @staticmethod
    def errors(rho: float, s2: float, delta_eff: float, excess: np.ndarray) -> tuple:
        """``eps_bo = e + delta_eff`` (clean target), ``eps_gibbs = 2 eps_bo``."""
        eps = excess + delta_eff
        return eps, 2 * eps, eps


@cache
def _gauss_hermite(n: int) -> tuple[np.ndarray, np.ndarray]:
    z, w = hermegauss(n)
    return z, w / np.sqrt(2 * np.pi)


def _gaussian_smoothed(log_k, a: np.ndarray) -> np.ndarray:
    """``E_{xi~N(0,1)}[phi(a xi) k(a xi)]`` for smooth ``k``, written as
    ``E_{u~N(0,tau^2)}[k(u)] / sqrt(2 pi (1 + a^2))`` with ``tau^2 = a^2 / (1 + a^2)``.

    The Gaussian factor ``phi(u)`` of the integrand is absorbed exactly, so a Gauss-Hermite rule
    in ``u`` is accurate uniformly in ``a``, including ``a -> infinity``. ``log_k`` gives ``ln k``.
    """
    z, w = _gauss_hermite(SIGN_QUADRATURE_NODES)
    a = np.asarray(a, dtype=float)
    tau = np.where(np.isinf(a), 1.0, a / np.sqrt(1 + a**2))
    values = np.exp(log_k(tau[..., None] * z)) @ w
    with np.errstate(over="ignore"):
        return values / np.sqrt(2 * np.pi * (1 + a**2))


def _log_phi(u: np.ndarray) -> np.ndarray:
    return -0.5 * u**2 - 0.5 * _LOG_2PI


def _log_h(u: np.ndarray) -> np.ndarray:
    # h(u) = phi(u) / (Phi(u) Phi(-u)),  so that  phi(u)^2 (1/Phi(u) + 1/Phi(-u)) = phi(u) h(u)
    return _log_phi(u) - special.log_ndtr(u) - special.log_ndtr(-u)


def _log_entropy_ratio(u: np.ndarray) -> np.ndarray:
    # k(u) = h2(Phi(u)) / phi(u), h2 the binary entropy in nats
    lp, lm = special.log_ndtr(u), special.log_ndtr(-u)
    h2 = -np.exp(lp) * lp - np.exp(lm) * lm
    return np.log(h2) - _log_phi(u)


def probit_fisher(a: np.ndarray) -> np.ndarray:
    """``J(a) = E_xi [phi(a xi)^2 (1/Phi(a xi) + 1/Phi(-a xi))]``, so that ``r = alpha J / S2``."""
    return _gaussian_smoothed(_log_h, a)


def probit_entropy(a: np.ndarray) -> np.ndarray:
    """``H(a) = E_xi h2(Phi(a xi))`` in nats (0 at ``a = infinity``)."""
    return _gaussian_smoothed(_log_entropy_ratio, a)


class SignChannel:
    """``P_out(y | z) = Phi(y z / sqrt(s2))``: the probit channel, sign at ``s2 = 0``.

    With ``S2 = s2 + e`` and ``a = sqrt(q / S2)``: ``r = (alpha / S2) J(a)``. The fixed point
    ``e = rho / (1 + rho r(e))`` is bracketed in ``ln e`` on ``[ln rho - 80, ln rho]`` and solved
    by Chandrupatla's method (scipy's vectorised ``find_root``) to ``1e-13`` relative in ``e``.
    """

    name = "sign"
    LOG_BRACKET = 80.0

    @staticmethod
    def conjugate(alpha: np.ndarray, rho: float, s2: float, excess: np.ndarray) -> np.ndarray:
        """``r(e) = (alpha / S2) J(sqrt(q / S2))``."""
        S2 = s2 + excess
        return alpha / S2 * probit_fisher(np.sqrt(np.clip(rho - excess, 0, None) / S2))

    @classmethod
    def solve(cls, alpha: np.ndarray, rho: float, s2: float) -> ChannelSolution:
        from scipy.optimize.elementwise import find_root  # scipy.optimize costs 0.2 s to import

        alpha = np.asarray(alpha, dtype=float)
        if rho == 0:
            zeros = np.zeros_like(alpha)
            return ChannelSolution(zeros, alpha * 2 / np.pi / s2, zeros == 0, zeros.astype(int))

        def residual(log_e, alpha):
            e = np.exp(log_e)
            return np.log(rho) - np.log1p(rho * cls.conjugate(alpha, rho, s2, e)) - log_e

        lo = np.full_like(alpha, np.log(rho) - cls.LOG_BRACKET)
        hi = np.full_like(alpha, np.log(rho))
        res = find_root(
            residual,
            (lo, hi),
            args=(alpha,),
            tolerances={"xatol": 1e-13, "xrtol": 0.0, "fatol": 1e-14, "frtol": 0.0},
            maxiter=200,
        )
        e = np.exp(res.x)
        converged = res.success & np.isfinite(e) & (np.abs(res.f_x) < 1e-9)
        return ChannelSolution(e, cls.conjugate(alpha, rho, s2, e), converged, res.nit)

    @staticmethod
    def output_information(rho: float, s2: float, excess: np.ndarray) -> np.ndarray:
        """``I_out = E h2(Phi(a xi)) - E h2(Phi(sqrt(rho / s2) xi))`` (THEORY.md 4)."""
        a = np.sqrt(np.clip(rho - excess, 0, None) / (s2 + excess))
        a0 = np.sqrt(rho / s2) if s2 > 0 else np.inf
        return probit_entropy(a) - (0.0 if np.isinf(a0) else probit_entropy(a0))

    @staticmethod
    def errors(rho: float, s2: float, delta_eff: float, excess: np.ndarray) -> tuple:
        """Errors against a fresh noisy label and against the clean ``sign f*`` (THEORY.md 4).

        ``eps_bo = arccos(sqrt(q / (rho + s2))) / pi = arcsin(sqrt((s2 + e) / (rho + s2))) / pi``,
        ``eps_gibbs = arccos(q / (rho + s2)) / pi``, clean: ``s2 -> delta_eff``.
        """
        x = (s2 + excess) / (rho + s2)
        eps_bo = np.arcsin(np.sqrt(x)) / np.pi
        eps_gibbs = 2 * np.arcsin(np.sqrt(x / 2)) / np.pi
        clean = np.arcsin(np.sqrt((delta_eff + excess) / (rho + delta_eff))) / np.pi
        return eps_bo, eps_gibbs, clean


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
    alpha: np.ndarray | float, rho: float, delta_eff: float, noise: float, channel: str
) -> FixedPoint:
    """Bayes-optimal fixed point of the GLM with prior ``N(0, rho)`` and noise ``s2``.

    Mutual information per dimension (THEORY.md 4):
    ``i = (1/2) ln(1 + r rho) + alpha I_out(q) - r (rho - q) / 2``.
    """
    alpha = _check_alpha(alpha)
    for name, value in (("rho", rho), ("delta_eff", delta_eff), ("noise", noise)):
        if not (np.isfinite(value) and value >= 0):
            raise ValueError(f"{name} = {value!r}: must be a finite number >= 0")
    if channel not in CHANNEL_SOLVERS:
        raise ValueError(f"channel = {channel!r}: must be one of {', '.join(CHANNEL_SOLVERS)}")
    solver = CHANNEL_SOLVERS[channel]
    s2 = delta_eff + noise
    if channel == "sign" and s2 == 0 and rho == 0:
        raise ValueError("rho = 0 and s2 = 0: the sign channel carries no information")
    e, r, converged, _ = solver.solve(alpha, rho, s2)
    eps_bo, eps_gibbs, clean = solver.errors(rho, s2, delta_eff, e)
    with np.errstate(invalid="ignore"):
        finite_r = np.where(np.isinf(r), 0.0, r)
        info = (
            0.5 * np.log1p(r * rho)
            + alpha * solver.output_information(rho, s2, e)
            - 0.5 * finite_r * e
        )
    return FixedPoint(alpha, rho - e, r, e, eps_bo, eps_gibbs, clean, info, converged)


def damped_iteration(
    alpha: float,
    rho: float,
    s2: float,
    channel: str,
    damping: float = 0.1,
    tol: float = 1e-13,
    max_iter: int = 100_000,
) -> tuple[float, int]:
    """The fixed point by damped iteration, as the published notebooks do it (for comparison).

    ``q <- damping q + (1 - damping) rho^2 r(q) / (1 + rho r(q))`` from ``q = 0`` until
    ``|Delta q| < tol``. Returns ``(q, iterations)``.
    """
    q = 0.0
    conj = CHANNEL_SOLVERS[channel]
    for it in range(1, max_iter + 1):
        e = np.array(rho - q)
        r = alpha / (s2 + e) if channel == "gaussian" else conj.conjugate(alpha, rho, s2, e)
        q_new = damping * q + (1 - damping) * float(rho**2 * r / (1 + rho * r))
        if abs(q_new - q) < tol:
            return q_new, it
        q = q_new
    return q, max_iter
