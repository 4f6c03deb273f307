"""The linear part of a network and its overlaps (docs/theory.md section 5).

``theta_lin(W) = sqrt(d) E_x[x f(x; W)]``. From ``N`` Gaussian inputs ``x_mu`` with outputs
``f_mu``, ``g_mu`` the U-statistic

    ( (sum_mu x_mu f_mu) . (sum_mu x_mu g_mu) - sum_mu |x_mu|^2 f_mu g_mu ) / (N (N - 1))

is an unbiased estimate of ``theta_lin(f) . theta_lin(g) / d`` (the diagonal terms, which carry
the bias ``E|x|^2 f g / N``, are removed).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import numpy as np

from .spec import TeacherSpec
from .teacher import Teacher, check_num_samples, input_rng, problem_seeds, sample_teacher


def linear_overlaps(x: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """Unbiased ``theta_lin(f_i) . theta_lin(f_j) / d`` for all pairs of networks.

    ``x``: (N, d) standard Gaussian inputs; ``outputs``: (N,) or (N, K) outputs of K networks on
    them. Returns a scalar for one network (its ``|theta_lin|^2 / d``), else a (K, K) matrix.
    """
    F = outputs[:, None] if outputs.ndim == 1 else outputs
    N = x.shape[0]
    S = x.T @ F
    diagonal = (F * np.einsum("nd,nd->n", x, x)[:, None]).T @ F
    overlaps = (S.T @ S - diagonal) / (N * (N - 1))
    return overlaps[0, 0] if outputs.ndim == 1 else overlaps


class TeacherStats(NamedTuple):
    """Measured properties of one teacher (docs/theory.md 7).

    ``rho`` = ``|theta_lin(W*)|^2 / d``; ``delta_eff`` = ``Var_x f* - rho``; ``rho_se`` is the
    standard error of ``rho`` from the finite number of inputs ``num_inputs``.
    """

    rho: float
    rho_se: float
    var_f: float
    mean_f: float
    delta_eff: float
    num_inputs: int


def measure_teacher(
    teacher: Teacher, num_inputs: int = 200_000, seed: int = 0, chunk: int = 20_000
) -> TeacherStats:
    """Measure ``rho_T``, ``Var f*_T``, ``E f*_T`` and ``Delta_eff_T`` on fresh Gaussian inputs.

    Why 2 x 10^5 inputs by default: for Gaussian inputs the estimator's variance is about
    ``(4 rho E f*^2 + 2 d (E f*^2)^2 / N) / N``, i.e. a standard error of ``2e-3`` at ``rho ~ 0.4``,
    ``E f*^2 ~ 0.6``, small next to the ``~1e-2`` test-set error of a run's Bayes error with a few
    thousand test points. Inputs are drawn and processed in chunks (memory ``chunk x max(d, k)``)
    from the seed's input stream, so the result is reproducible. ``rho_se`` uses that formula.
    """
    N = check_num_samples(num_inputs, "num_inputs")
    if N < 2:
        raise ValueError(f"num_inputs = {N}: need at least 2")
    rng = input_rng(seed)
    S = np.zeros(teacher.d)
    diag = sum_f = sum_f2 = 0.0
    for start in range(0, N, chunk):
        x = rng.standard_normal((min(chunk, N - start), teacher.d))
        f = teacher.output(x)
        S += x.T @ f
        diag += float(np.einsum("nd,nd,n->", x, x, f * f))
        sum_f += float(f.sum())
        sum_f2 += float(f @ f)
    rho = (S @ S - diag) / (N * (N - 1))
    mean_f = sum_f / N
    var_f = (sum_f2 - N * mean_f**2) / (N - 1)
    second = sum_f2 / N
    rho_se = np.sqrt((4 * max(rho, 0.0) * second + 2 * teacher.d * second**2 / N) / N)
    return TeacherStats(
        float(rho), float(rho_se), float(var_f), float(mean_f), float(var_f - rho), N
    )


def seed_teacher_stats(
    spec: TeacherSpec, d: int, seed: int, num_inputs: int = 200_000
) -> TeacherStats:
    """``measure_teacher`` of the teacher of seed ``seed`` as a sweep point measures it: the
    teacher ``sample_teacher(spec, d, problem_seeds(seed).teacher)`` on ``num_inputs`` inputs of
    the test seed + 1."""
    seeds = problem_seeds(seed)
    return measure_teacher(sample_teacher(spec, d, seeds.teacher), num_inputs, seed=seeds.test + 1)


class TeacherLaw(NamedTuple):
    """``TeacherStats`` of independent teachers of one spec and ``d`` (one entry per seed): a
    sample of the law over teachers of the per-teacher columns (docs/theory.md 8.1)."""

    seeds: np.ndarray
    rho: np.ndarray
    delta_eff: np.ndarray
    mean_f: np.ndarray


#: the first seed of ``teacher_law``'s teachers in ``dgep teacher-law``: above any sweep's seeds,
#: so that the law's teachers are independent of the sweep's
LAW_FIRST_SEED = 1_000_000


def teacher_law(
    spec: TeacherSpec, d: int, seeds: Iterable[int], num_inputs: int = 200_000
) -> TeacherLaw:
    """``seed_teacher_stats`` of the teacher of each seed in ``seeds``."""
    seeds = np.array(list(seeds), dtype=np.int64)
    stats = [seed_teacher_stats(spec, d, int(s), num_inputs) for s in seeds]
    rho, delta_eff, mean_f = (
        np.array([(s.rho, s.delta_eff, s.mean_f) for s in stats], dtype=float).reshape(-1, 3).T
    )
    return TeacherLaw(seeds, rho, delta_eff, mean_f)
