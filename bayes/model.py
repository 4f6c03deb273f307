"""The Bayes-optimal student: the teacher's architecture, priors and channel (docs/theory.md 1).

The sampler sees standard-normal coordinates ``z``: one flat vector holding every weight divided
by its prior standard deviation, so the prior is ``N(0, I)`` and the weights
``W_l = sqrt(Delta_l) z_l`` are rebuilt in the forward pass. The potential energy is

    U(z) = |z|^2 / 2 - sum_mu mask_mu log P_out(y_mu | f(x_mu; W(z)))

with ``log P_out = log N(y; f, Delta)`` (gaussian) or ``log Phi(y f / sqrt(Delta))`` (sign,
computed with ``log_ndtr``). ``mask`` lets padded rows (for compile-once sweeps) count for nothing.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import jax.numpy as jnp
import numpy as np
from jax.scipy.special import log_ndtr

from teacher_student import TeacherSpec, layer_activations, network_output


class NonMixingWarning(UserWarning):
    """The posterior can be sampled exactly but HMC will not explore it."""


def check_samplable(spec: TeacherSpec) -> None:
    """HMC needs a smooth likelihood: ``Delta = 0`` is refused (the theory side handles it), and
    an activation whose derivative vanishes almost everywhere (``sign``) gets a
    ``NonMixingWarning``: the weights below it feel only the prior force, and NUTS runs to its
    maximum tree depth without mixing (data/validation/sign_activation)."""
    if spec.noise <= 0:
        raise ValueError(
            f"noise = {spec.noise!r}: HMC cannot sample the noiseless (Delta = 0) posterior, whose "
            "likelihood is a hard constraint; use noise > 0 (gle's theory handles Delta = 0)"
        )
    for layer, name in flat_activations(spec):
        warnings.warn(
            f"activations[{layer}] = {name!r}: zero derivative almost everywhere, "
            "HMC will not mix the weights below it (expect R-hat >> 1)",
            NonMixingWarning,
            stacklevel=2,
        )


def flat_activations(spec: TeacherSpec) -> list[tuple[int, str]]:
    """``(index into spec.activations, name)`` of each activation whose derivative is 0 on a
    grid over [-3, 3] (e.g. ``sign``): HMC's gradient carries no likelihood below it."""
    probe, step = np.linspace(-3.0, 3.0, 25) + 0.01, 1e-3  # numpy: no JAX compile per call
    flat = []
    for layer, act in enumerate(layer_activations(spec)):
        slope = (act.fn(probe + step, np) - act.fn(probe - step, np)) / (2 * step)
        if not np.any(slope != 0):
            flat.append((layer, act.name))
    return flat


class StudentNetwork:
    """Flat standard-normal parametrisation of the student of ``spec`` at dimension ``d``."""

    def __init__(self, spec: TeacherSpec, d: int) -> None:
        self.spec, self.d = spec, d
        self.shapes = spec.weight_shapes(d)
        self.scales = tuple(math.sqrt(v) for v in spec.weight_variances())
        self.sizes = tuple(math.prod(s) for s in self.shapes)
        self.num_params = sum(self.sizes)
        self.activations = layer_activations(spec)

    def weights(self, z: Any) -> list[Any]:
        """``(W_1, ..., W_L, a)`` from the flat coordinates ``z`` shaped (..., num_params), each
        shaped (..., *layer shape)."""
        out, start, batch = [], 0, z.shape[:-1]
        for shape, size, scale in zip(self.shapes, self.sizes, self.scales, strict=True):
            out.append(scale * z[..., start : start + size].reshape(*batch, *shape))
            start += size
        return out

    def coordinates(self, weights: list[np.ndarray]) -> np.ndarray:
        """The flat ``z`` of given weights (inverse of :meth:`weights`), e.g. the teacher's."""
        return np.concatenate([w.ravel() / s for w, s in zip(weights, self.scales, strict=True)])

    def output(self, z: Any, x: Any) -> Any:
        return network_output(x, self.weights(z), self.activations, jnp)

    def pointwise_log_likelihood(self, f: Any, y: Any) -> Any:
        """``log P_out(y_mu | f_mu)`` per sample for the spec's channel and noise."""
        noise = self.spec.noise
        if self.spec.channel == "gaussian":
            return -0.5 * (y - f) ** 2 / noise - 0.5 * math.log(2 * math.pi * noise)
        return log_ndtr(y * f / math.sqrt(noise))

    def log_likelihood(self, f: Any, y: Any, mask: Any) -> Any:
        """``sum_mu mask_mu log P_out(y_mu | f_mu)``."""
        return jnp.sum(mask * self.pointwise_log_likelihood(f, y))

    def weight_draws(self, z: np.ndarray) -> dict[str, np.ndarray]:
        """:meth:`weights` of coordinate draws ``z``, named ``W1, ..., WL, a``."""
        names = [f"W{layer}" for layer in range(1, len(self.shapes))] + ["a"]
        return dict(zip(names, self.weights(z), strict=True))

    def potential(self, x: Any, y: Any, mask: Any):
        """``U(z)`` for one dataset (a ``potential_fn_gen`` for NumPyro's HMC/NUTS)."""

        def potential_energy(z: Any) -> Any:
            return 0.5 * jnp.sum(z * z) - self.log_likelihood(self.output(z, x), y, mask)

        return potential_energy
