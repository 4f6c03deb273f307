"""The equivalent GLM of a deep teacher: ``rho`` and ``delta_eff`` (docs/theory.md 3.1, 3.2).

``equivalent_glm`` uses the offset recursion of 3.2, valid for any activation: with offsets
``b ~ N(0, beta_l)`` and fluctuations ``g ~ N(0, v_l)``::

    beta_1 = 0,  v_1 = s_1 = Delta_1
    beta_{l+1} = D E_b m(b)^2,  v_{l+1} = D E_b Var_g sigma(b + g),  s_{l+1} = D E_b c(b)^2 s_l
    (D = Delta_{l+1}, Delta_{L+1} = Delta_a);   rho = s_{L+1},  delta_eff = v_{L+1} - s_{L+1}
    offset_var = beta_{L+1}   (variance over teachers of the output's constant part c)

``equivalent_glm_centred`` is the recursion of 3.1 (exact when every mu_0 = 0, wrong for
non-centred activations at L >= 2; kept for comparison)::

    r_1 = Delta_1,  r_{l+1} = Delta_{l+1} E sigma_l(h_l)^2
    rho = Delta_a prod_l Delta_l mu_{1,l}^2,
    delta_eff = Delta_a sum_l mu_{*,l}^2 prod_{m > l} Delta_m mu_{1,m}^2
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from teacher_student import TeacherSpec

from .coefficients import gauss_hermite, gaussian_coefficients, offset_moments

ROUND_OFF = 1e-20  # offset variances below this fraction of the fluctuation's are exactly 0


class LayerTheory(NamedTuple):
    """Per-layer diagnostics of the recursion, for hidden layer ``l`` (pre-activation ``h_l``).

    ``beta``: variance of the frozen per-neuron offsets; ``v``: variance of the fluctuation;
    ``s``: variance carried by the linear part of the input; ``gain2 = E_b c(b)^2`` (squared
    linear gain, ``mu_1^2`` when centred); ``nonlinear = E_b Var_g sigma - v gain2``.
    """

    beta: float
    v: float
    s: float
    gain2: float
    nonlinear: float


class EquivalentGLM(NamedTuple):
    """The GLM equivalent to a teacher spec (docs/theory.md 3.3).

    ``s2 = delta_eff + noise`` is the total noise of the GLM channel; ``lam_bo = s2 / rho``
    the regularisation of ridge regression that equals the Bayes-optimal estimator.
    ``offset_var = beta_{L+1}`` is the variance over teachers of the output's x-independent
    constant ``c`` (0 when every activation is centred): the GLM's labels are
    ``P_out(y | z + c)`` with ``c ~ N(0, offset_var)`` (docs/theory.md 3.2, 4.1).
    """

    rho: float
    delta_eff: float
    channel: str
    noise: float
    layers: tuple[LayerTheory, ...]
    offset_var: float = 0.0

    @property
    def s2(self) -> float:
        return self.delta_eff + self.noise

    @property
    def lam_bo(self) -> float:
        return self.s2 / self.rho if self.rho > 0 else float("inf")

    @property
    def second_moment(self) -> float:
        """``rho + delta_eff``: the ``x``-dependent variance of ``f*`` (``E f*^2`` when centred)."""
        return self.rho + self.delta_eff


def equivalent_glm(spec: TeacherSpec) -> EquivalentGLM:
    """``rho`` and ``delta_eff`` of ``spec`` by the offset recursion (docs/theory.md 3.2).

    The state ``(beta, v, s)`` starts at the inputs, ``(0, 1, 1)``; each layer multiplies it by
    its prior variance and then applies its activation; the readout multiplies by ``Delta_a``.
    """
    z, w = gauss_hermite()
    beta, v, s = 0.0, 1.0, 1.0
    layers = []
    for act, D in zip(spec.activations, spec.prior_var, strict=True):
        beta, v, s = D * beta, D * v, D * s
        m, c, second = offset_moments(act, np.sqrt(beta) * z, v)
        gain2 = float(w @ c**2)
        variance = float(w @ (second - m**2))
        layers.append(LayerTheory(beta, v, s, gain2, variance - v * gain2))
        beta, v, s = float(w @ m**2), variance, gain2 * s
    D = spec.readout_var
    if beta <= ROUND_OFF * v:  # the quadrature's zero mean of an odd activation
        beta = 0.0
    return EquivalentGLM(D * s, D * (v - s), spec.channel, spec.noise, tuple(layers), D * beta)


def equivalent_glm_centred(spec: TeacherSpec) -> EquivalentGLM:
    """``rho`` and ``delta_eff`` by the centred recursion of docs/theory.md 3.1 (mu_0 ignored;
    ``offset_var = Delta_a mu_{0,L}^2``, the readout of the last layer's mean alone)."""
    r, rho, delta_eff, layers, mu0 = 1.0, 1.0, 0.0, [], 0.0
    for act, D in zip(spec.activations, spec.prior_var, strict=True):
        r, rho, delta_eff = D * r, D * rho, D * delta_eff
        mu0, mu1, mustar = gaussian_coefficients(act, r)
        layers.append(LayerTheory(0.0, r, rho, mu1**2, mustar**2))
        rho, delta_eff = rho * mu1**2, delta_eff * mu1**2 + mustar**2
        r = mu0**2 + r * mu1**2 + mustar**2
    D = spec.readout_var
    return EquivalentGLM(
        D * rho, D * delta_eff, spec.channel, spec.noise, tuple(layers), D * mu0**2
    )
