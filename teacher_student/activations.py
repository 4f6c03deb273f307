"""Activation functions, each defined once for numpy and JAX (docs/theory.md section 1).

An activation is a function ``fn(x, xp)`` of an array ``x`` and an array namespace ``xp``
(``numpy`` or ``jax.numpy``). The same definition is used by the numpy teacher, by the
JAX student in ``bayes`` and by the quadratures of ``gle``, so they cannot drift apart.
Custom activations are added with :func:`register_activation` and are then usable by name
everywhere (specs, configs, netCDF attributes). A config (or a spec) can also name a function by
reference, ``"package.module:function"``: it is imported and registered under that reference on
first use, in every process that needs it (sweep workers too), so the module must be importable
there (installed, or on ``PYTHONPATH``).
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np
from scipy import special as _scipy_special

ActivationFn = Callable[[Any, ModuleType], Any]


class Activation(NamedTuple):
    """A named activation ``sigma``; ``act(x)`` evaluates it with numpy, ``act(x, jnp)`` with
    JAX."""

    name: str
    fn: ActivationFn

    def __call__(self, x: Any, xp: ModuleType = np) -> Any:
        return self.fn(x, xp)


def _erf(x: Any, xp: ModuleType) -> Any:
    if xp is np:
        return _scipy_special.erf(x)
    from jax.scipy.special import erf  # only reached with a JAX namespace

    return erf(x)


_REGISTRY: dict[str, Activation] = {}


def register_activation(name: str, fn: ActivationFn, *, overwrite: bool = False) -> Activation:
    """Register ``fn(x, xp)`` under ``name`` so specs and configs can refer to it.

    ``fn`` must work for ``xp = numpy`` and ``xp = jax.numpy`` (use ``xp.tanh``, ``xp.exp``, ...
    and arithmetic). Registering an existing name raises unless ``overwrite=True``.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"activation name must be an identifier, got {name!r}")
    if name in _REGISTRY and not overwrite:
        raise ValueError(f"activation {name!r} is already registered")
    if not callable(fn):
        raise ValueError(f"activation {name!r}: fn must be callable, got {fn!r}")
    act = Activation(name, fn)
    _REGISTRY[name] = act
    return act


def _import_reference(reference: str) -> Activation:
    """Import ``module:function`` and register the function under that reference."""
    import importlib

    module_name, _, attribute = reference.partition(":")
    try:
        fn = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError) as err:
        raise ValueError(
            f"activations: {reference!r}: cannot import it ({type(err).__name__}: {err})"
        ) from None
    if not callable(fn):
        raise ValueError(f"activations: {reference!r}: not callable")
    act = Activation(reference, fn)
    _REGISTRY[reference] = act
    return act


def get_activation(name: str) -> Activation:
    """The registered activation called ``name``, or the function a ``"module:function"``
    reference names (imported and registered); ``ValueError`` naming it if unknown."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        if isinstance(name, str) and ":" in name:
            return _import_reference(name)
        known = ", ".join(sorted(_REGISTRY))
        raise ValueError(
            f"activations: unknown activation {name!r} (known: {known}, or a "
            "'package.module:function' reference)"
        ) from None


def activation_names() -> tuple[str, ...]:
    """Names of all registered activations."""
    return tuple(sorted(_REGISTRY))


register_activation("linear", lambda x, xp: x)
register_activation("tanh", lambda x, xp: xp.tanh(x))
register_activation("tanh2x", lambda x, xp: xp.tanh(2.0 * x))
register_activation("erf", _erf)
register_activation("relu", lambda x, xp: xp.maximum(x, 0.0))
register_activation("sign", lambda x, xp: xp.sign(x))
