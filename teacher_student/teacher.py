"""Teachers (deep network or equivalent GLM) and the data they generate (docs/theory.md 1, 3.3).

Reproducibility. Every random stream comes from ``numpy.random.SeedSequence(seed,
spawn_key=(stream,))`` with a fixed stream number, so

* ``sample_teacher(spec, d, seed)`` gives bitwise the same weights in any run;
* ``teacher.sample(n, seed)`` draws inputs, channel noise and (for the GLM) the effective noise
  ``eta`` from three separate streams, one row per sample: a larger ``n`` extends a smaller one,
  and the teacher stays the same when ``n`` (``alpha``) changes;
* a deep teacher and its equivalent GLM sampled with the same data seed see the same inputs.

:func:`problem_seeds` is the documented derivation of (teacher, train, test) seeds from one seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .data import Data
from .network import layer_activations, network_output
from .spec import TeacherSpec, check_dimension

_WEIGHTS, _INPUTS, _LABEL_NOISE, _ETA, _THETA = range(5)
OUTPUT_BLOCK = 512


def _rng(seed: int, stream: int) -> np.random.Generator:
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed = {seed!r}: must be an integer >= 0")
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(stream,)))


class ProblemSeeds(NamedTuple):
    """Seeds of the teacher, the training data and the test data of one experiment point."""

    teacher: int
    train: int
    test: int


def problem_seeds(seed: int) -> ProblemSeeds:
    """Derive (teacher, train, test) seeds from one seed:
    ``SeedSequence(seed).generate_state(3)``."""
    state = np.random.SeedSequence(int(seed)).generate_state(3)
    return ProblemSeeds(*(int(s) for s in state))


def check_num_samples(n: int, name: str = "n") -> int:
    if not isinstance(n, int | np.integer) or isinstance(n, bool) or n < 1:
        raise ValueError(f"{name} = {n!r}: must be an integer >= 1")
    return int(n)


def num_samples(alpha: float, d: int) -> int:
    """``n = round(alpha d)``, validated (``alpha > 0`` and ``n >= 1``)."""
    if not isinstance(alpha, int | float) or isinstance(alpha, bool) or not alpha > 0:
        raise ValueError(f"alpha = {alpha!r}: must be a number > 0")
    n = round(alpha * check_dimension(d))
    if n < 1:
        raise ValueError(f"alpha = {alpha!r}: n = round(alpha * d) = {n} at d = {d}; need n >= 1")
    return n


def apply_channel(f: np.ndarray, channel: str, noise: float, xi: np.ndarray) -> np.ndarray:
    """Labels through the output channel (docs/theory.md 1): ``f + sqrt(Delta) xi`` or its sign.

    ``sign(0)`` is taken as +1 so that every label is +-1.
    """
    z = f + np.sqrt(noise) * xi
    if channel == "gaussian":
        return z
    return np.where(z >= 0, 1.0, -1.0)


def input_rng(seed: int) -> np.random.Generator:
    """The input stream of a data seed: rows ``x_mu ~ N(0, I_d)`` are drawn from it in order."""
    return _rng(seed, _INPUTS)


def _inputs(n: int, d: int, seed: int) -> np.ndarray:
    return input_rng(seed).standard_normal((check_num_samples(n), d))


@dataclass(frozen=True, eq=False)
class Teacher:
    """A deep teacher network drawn from the prior of ``spec`` at input dimension ``d``.

    ``weights = (W_1, ..., W_L, a)`` with the shapes of ``spec.weight_shapes(d)``.
    """

    spec: TeacherSpec
    d: int
    weights: tuple[np.ndarray, ...]
    seed: int

    def output(self, x: np.ndarray) -> np.ndarray:
        """Clean output ``f*(x)`` for inputs of shape (n, d).

        Rows are evaluated in zero-padded blocks of ``OUTPUT_BLOCK`` rows, so every row goes
        through a matrix product of the same shape at the same position whatever ``n`` is: a
        row's value is bitwise independent of the other rows (BLAS rounding depends on shapes).
        """
        acts = layer_activations(self.spec)
        n = x.shape[0]
        blocks = -(-n // OUTPUT_BLOCK)
        padded = np.zeros((blocks * OUTPUT_BLOCK, self.d))
        padded[:n] = x
        out = [
            network_output(padded[i : i + OUTPUT_BLOCK], self.weights, acts)
            for i in range(0, padded.shape[0], OUTPUT_BLOCK)
        ]
        return np.concatenate(out)[:n]

    def sample(self, n: int, seed: int) -> Data:
        """``n`` samples ``(x, f*(x), y)``; see the module docstring for the seed streams."""
        x = _inputs(n, self.d, seed)
        f = self.output(x)
        xi = _rng(seed, _LABEL_NOISE).standard_normal(n)
        y = apply_channel(f, self.spec.channel, self.spec.noise, xi)
        attrs = {
            "kind": "deep",
            "spec": self.spec.to_json(),
            "d": self.d,
            "n": n,
            "teacher_seed": self.seed,
            "data_seed": seed,
        }
        return Data(x, f, y, attrs)


def sample_teacher(spec: TeacherSpec, d: int, seed: int) -> Teacher:
    """Draw a teacher: independent ``W_l ~ N(0, Delta_l)``, ``a ~ N(0, Delta_a)`` entries."""
    rng = _rng(seed, _WEIGHTS)
    weights = tuple(
        np.sqrt(var) * rng.standard_normal(shape)
        for shape, var in zip(spec.weight_shapes(d), spec.weight_variances(), strict=True)
    )
    return Teacher(spec, check_dimension(d), weights, int(seed))


@dataclass(frozen=True, eq=False)
class GLMTeacher:
    """The equivalent GLM of a deep teacher (docs/theory.md 3.3).

    ``f*(x) = offset + theta . x / sqrt(d) + sqrt(delta_eff) eta`` with ``theta ~ N(0, rho I_d)``,
    the teacher's output offset ``offset ~ N(0, offset_var)`` (docs/theory.md 3.2) and
    ``eta ~ N(0, 1)`` fresh per sample; labels go through the spec's channel with its noise.
    ``rho``, ``delta_eff`` and ``offset_var`` are inputs (``gle.equivalent_glm(spec)`` computes
    them).
    """

    spec: TeacherSpec
    d: int
    theta: np.ndarray
    rho: float
    delta_eff: float
    seed: int
    offset: float = 0.0

    def sample(self, n: int, seed: int) -> Data:
        x = _inputs(n, self.d, seed)
        eta = _rng(seed, _ETA).standard_normal(n)
        f = self.offset + x @ self.theta / np.sqrt(self.d) + np.sqrt(self.delta_eff) * eta
        xi = _rng(seed, _LABEL_NOISE).standard_normal(n)
        y = apply_channel(f, self.spec.channel, self.spec.noise, xi)
        attrs = {
            "kind": "glm",
            "spec": self.spec.to_json(),
            "d": self.d,
            "n": n,
            "teacher_seed": self.seed,
            "data_seed": seed,
            "rho": self.rho,
            "delta_eff": self.delta_eff,
            "offset": self.offset,
        }
        return Data(x, f, y, attrs)


def sample_glm_teacher(
    spec: TeacherSpec,
    d: int,
    seed: int,
    *,
    rho: float,
    delta_eff: float,
    offset_var: float = 0.0,
) -> GLMTeacher:
    """Draw the equivalent-GLM teacher of ``spec``: ``theta ~ N(0, rho I_d)`` and, with
    ``offset_var > 0``, its output offset ``N(0, offset_var)``."""
    values = (("rho", rho), ("delta_eff", delta_eff), ("offset_var", offset_var))
    for name, value in values:
        if not (np.isfinite(value) and value >= 0):
            raise ValueError(f"{name} = {value!r}: must be a finite number >= 0")
    rng = _rng(seed, _THETA)
    theta = np.sqrt(rho) * rng.standard_normal(check_dimension(d))
    offset = float(np.sqrt(offset_var) * rng.standard_normal()) if offset_var else 0.0
    return GLMTeacher(spec, d, theta, float(rho), float(delta_eff), int(seed), offset)
