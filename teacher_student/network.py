"""The forward pass of the network, shared by the numpy teacher and the JAX student.

docs/theory.md section 1::

    h_1 = W_1 x / sqrt(d),   h_l = W_l sigma_{l-1}(h_{l-1}) / sqrt(k_{l-1}),
    f(x) = a . sigma_L(h_L) / sqrt(k_L)
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np

from .activations import Activation, get_activation
from .spec import TeacherSpec


def layer_activations(spec: TeacherSpec) -> tuple[Activation, ...]:
    """The activation objects sigma_1..sigma_L of a spec."""
    return tuple(get_activation(name) for name in spec.activations)


def network_output(
    x: Any, weights: Sequence[Any], activations: Sequence[Activation], xp: ModuleType = np
) -> Any:
    """``f(x; W)`` for inputs ``x`` of shape ``(..., d)`` and ``weights = (W_1, ..., W_L, a)``.

    Works with numpy arrays (``xp = numpy``) and JAX arrays (``xp = jax.numpy``).
    """
    h = x
    for W, act in zip(weights[:-1], activations, strict=True):
        h = act((h @ W.T) / np.sqrt(h.shape[-1]), xp)
    return (h @ weights[-1]) / np.sqrt(h.shape[-1])
