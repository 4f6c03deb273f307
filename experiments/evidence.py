"""``[evidence]``: the free-entropy columns of a point (docs/theory.md 8): the deep student's
log evidence per sample on the point's data and the equivalent GLM's on the same data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from teacher_student import Data, TeacherSpec


def free_entropy_values(
    spec: TeacherSpec, train: Any, evidence: Any, seed: int, progress: bool = False
) -> dict:
    """``free_entropy`` (the deep student's ``(1/n) ln p(Y | X)``, ``bayes.log_evidence``) and
    ``free_entropy_glm``, the equivalent GLM's on the same data (docs/theory.md 8): exact for
    the Gaussian channel; for the sign channel the same estimator on the probit GLM
    (``probit_glm``, its output offset included). ``progress``: a bar per tempering."""
    from bayes import log_evidence
    from gle import equivalent_glm, glm_log_evidence

    with tempering_bar("deep student", train.n, progress) as report:
        deep = log_evidence(spec, train, evidence, seed=seed, progress=report)
    glm = equivalent_glm(spec)
    glm_se = 0.0
    if spec.channel == "gaussian":
        glm_value = glm_log_evidence(train.x, train.y, glm)
    else:
        with tempering_bar("probit GLM", train.n, progress) as report:
            linear = log_evidence(*probit_glm(glm, train), evidence, seed=seed, progress=report)
        glm_value, glm_se = linear.value, linear.se
    return {
        "free_entropy": deep.value,
        "free_entropy_se": deep.se,
        "free_entropy_glm": glm_value,
        "free_entropy_glm_se": glm_se,
        "evidence_s": deep.seconds,
        "evidence_temperatures": float(np.mean(deep.num_temperatures)),
        "evidence_replicas": len(deep.replica_values),
    }


@contextmanager
def tempering_bar(
    label: str, n: int, enabled: bool
) -> Iterator[Callable[[float, int], None] | None]:
    """A tqdm bar of one tempering's temperatures (the slowest replica's), its lowest ``beta``
    beside; its length is ``dgep check``'s expectation (``preflight.EVIDENCE_TEMPERATURES``),
    stretched if a run needs more. Yields ``bayes.log_evidence``'s ``progress`` (None if not
    ``enabled``); the bar is cleared when the tempering ends."""
    if not enabled:
        yield None
        return
    from tqdm.auto import tqdm

    from .preflight import EVIDENCE_TEMPERATURES

    base, per_root_n = EVIDENCE_TEMPERATURES
    expected = math.ceil(base + per_root_n * math.sqrt(n))
    with tqdm(total=expected, desc=f"tempering ({label})", unit="temperature", leave=False) as bar:

        def report(beta: float, temperatures: int) -> None:
            bar.total = max(bar.total, temperatures)
            bar.set_postfix_str(f"beta = {beta:.3g}", refresh=False)
            bar.update(temperatures - bar.n)

        yield report


def probit_glm(glm: Any, train: Data) -> tuple[TeacherSpec, Data]:
    """The probit GLM ``y = sign(c + sqrt(rho) theta . x / sqrt(d) + sqrt(s2) xi)``,
    ``theta ~ N(0, I_d)``, ``c ~ N(0, offset_var)`` (docs/theory.md 8), as a depth-0 student
    and its data, with the same evidence ``p(Y | X)``.

    Centred (``offset_var = 0``): ``readout_var = rho`` on ``train`` itself. Otherwise the offset
    is one more weight on a constant input: with ``r = rho + offset_var`` and ``d' = d + 1``, the
    student ``a . x' / sqrt(d')``, ``a ~ N(0, r I_{d'})``, on
    ``x' = [x sqrt(rho d' / (r d)), sqrt(offset_var d' / r)]`` has the output covariance
    ``rho x x^T / d + offset_var``, the GLM's.
    """
    if not glm.offset_var:
        return TeacherSpec((), readout_var=glm.rho, channel="sign", noise=glm.s2), train
    r, wide = glm.rho + glm.offset_var, train.d + 1
    column = np.full((train.n, 1), np.sqrt(glm.offset_var * wide / r))
    x = np.hstack([train.x * np.sqrt(glm.rho * wide / (r * train.d)), column])
    spec = TeacherSpec((), readout_var=r, channel="sign", noise=glm.s2)
    return spec, Data(x, train.f_star, train.y, {**train.attrs, "kind": "glm with intercept"})
