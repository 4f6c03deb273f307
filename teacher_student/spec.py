"""The one specification of a teacher network (docs/theory.md section 1).

Architecture (one activation per hidden layer, width ratios ``gamma_l = k_l / d``), Gaussian
priors (``Delta_l`` per layer, ``Delta_a`` for the readout) and the output channel
(``gaussian`` or ``sign``, label noise ``Delta``). ``bayes`` builds the student from it, ``gle``
its equivalent GLM, ``experiments`` reads it from the ``[teacher]`` table of a config.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from .activations import get_activation

Channel = Literal["gaussian", "sign"]
CHANNELS: tuple[str, ...] = ("gaussian", "sign")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _positive(name: str, value: Any, *, allow_zero: bool = False) -> float:
    ok = _is_number(value) and math.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} = {value!r}: must be a finite number {bound}")
    return float(value)


def _tuple(name: str, value: Any) -> tuple:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError(f"{name} = {value!r}: must be a list")
    return tuple(value)


def check_dimension(d: Any) -> int:
    """Validate an input dimension ``d >= 1`` (an integer)."""
    if not isinstance(d, int) or isinstance(d, bool) or d < 1:
        raise ValueError(f"d = {d!r}: must be an integer >= 1")
    return d


@dataclass(frozen=True)
class TeacherSpec:
    """Immutable, validated teacher specification (docs/theory.md section 1).

    ``activations[l]`` is sigma_{l+1}; the depth is ``L = len(activations)`` (``L = 0`` is the
    linear model ``f = a . x / sqrt(d)``, whose posterior is Gaussian). ``widths[l]`` is
    ``gamma_{l+1} = k_{l+1} / d``; ``prior_var[l]`` is ``Delta_{l+1}``; ``readout_var`` is
    ``Delta_a``; ``noise`` is the label-noise variance ``Delta`` of the channel.
    """

    activations: tuple[str, ...]
    widths: tuple[float, ...] | None = None
    prior_var: tuple[float, ...] | None = None
    readout_var: float = 1.0
    channel: Channel = "gaussian"
    noise: float = 0.0

    def __post_init__(self) -> None:
        acts = _tuple("activations", self.activations)
        for name in acts:
            get_activation(name)
        depth = len(acts)
        widths = (1.0,) * depth if self.widths is None else _tuple("widths", self.widths)
        prior = (1.0,) * depth if self.prior_var is None else _tuple("prior_var", self.prior_var)
        for key, values in (("widths", widths), ("prior_var", prior)):
            if len(values) != depth:
                raise ValueError(
                    f"{key} = {list(values)!r}: has {len(values)} entries but activations has "
                    f"{depth}"
                )
            for i, v in enumerate(values):
                _positive(f"{key}[{i}]", v)
        if self.channel not in CHANNELS:
            raise ValueError(f"channel = {self.channel!r}: must be one of {', '.join(CHANNELS)}")
        set_ = object.__setattr__
        set_(self, "activations", tuple(acts))
        set_(self, "widths", tuple(float(w) for w in widths))
        set_(self, "prior_var", tuple(float(p) for p in prior))
        set_(self, "readout_var", _positive("readout_var", self.readout_var))
        set_(self, "noise", _positive("noise", self.noise, allow_zero=True))

    @property
    def depth(self) -> int:
        """Number of hidden layers L."""
        return len(self.activations)

    def hidden_sizes(self, d: int) -> tuple[int, ...]:
        """Hidden widths ``k_l = round(gamma_l d)``; a width that rounds to 0 is an error."""
        check_dimension(d)
        sizes = tuple(round(g * d) for g in self.widths)
        for i, (g, k) in enumerate(zip(self.widths, sizes, strict=True)):
            if k < 1:
                raise ValueError(f"widths[{i}] = {g!r}: k = round({g} * {d}) = 0 at d = {d}")
        return sizes

    def weight_shapes(self, d: int) -> tuple[tuple[int, ...], ...]:
        """Shapes of (W_1, ..., W_L, a): ``W_l`` is ``k_l x k_{l-1}`` (``k_0 = d``), ``a`` is
        ``k_L``."""
        sizes = (d, *self.hidden_sizes(d))
        return (*((sizes[i + 1], sizes[i]) for i in range(self.depth)), (sizes[-1],))

    def weight_variances(self) -> tuple[float, ...]:
        """Prior variances of (W_1, ..., W_L, a): ``(Delta_1, ..., Delta_L, Delta_a)``."""
        return (*self.prior_var, self.readout_var)

    def num_weights(self, d: int) -> int:
        """Total number of weights of the network at input dimension d."""
        return sum(math.prod(s) for s in self.weight_shapes(d))

    def label(self) -> str:
        """Short human-readable name, e.g. ``tanh-tanh gaussian noise=0.1``."""
        return f"{'-'.join(self.activations)} {self.channel} noise={self.noise:g}"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["activations"] = list(self.activations)
        out["widths"] = list(self.widths)
        out["prior_var"] = list(self.prior_var)
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, table: Mapping[str, Any], *, where: str = "teacher") -> TeacherSpec:
        """Build from a mapping with exactly the field names; unknown keys are an error.

        Error messages are prefixed by ``where`` (e.g. ``teacher``) and name the key and value.
        """
        known = {"activations", "widths", "prior_var", "readout_var", "channel", "noise"}
        for key in table:
            if key not in known:
                raise ValueError(f"{where}.{key} = {table[key]!r}: unknown key")
        if "activations" not in table:
            raise ValueError(f"{where}.activations: missing (one activation per hidden layer)")
        try:
            return cls(**dict(table))
        except ValueError as err:
            raise ValueError(f"{where}.{err}") from None

    @classmethod
    def from_json(cls, text: str) -> TeacherSpec:
        return cls.from_dict(json.loads(text))
