"""What the evidence's replicas cost a free-entropy sweep (docs/theory.md 8): the core time to
a standard-error target on the mean ``f_deep - f_glm`` over teachers, with ``[evidence]
replicas = 2`` against the default 4.

A cell's mean over N teachers has variance ``V_R / N``, ``V_R = s_T^2 + s_e^2 / R``: ``s_T^2``
the spread of the gap over teachers, ``s_e^2`` the variance of one SMC replica's ``f_deep``
(Gaussian channel: ``f_glm`` is exact). The teachers a target needs scale as ``V_R`` and each
costs ``t_R``, so the core time to the target scales as ``t_R V_R``; the ratio
``(t_2 V_2) / (t_4 V_4)`` is the cost of replicas = 2 relative to 4 (below 1: cheaper).

* ``t_R``: the deep student's ``bayes.log_evidence`` at the config's ``[evidence]`` defaults,
  on one teacher's data per cell, measured here with R = 4 and 2 in turn (a first call, its
  compile or the persistent compilation cache's load, as in ``dgep run``; then a second
  teacher's data, warm, as a sweep's later points of one shape run, the time used), plus the rest of a point (the posterior), the median
  ``wall_s - evidence_s`` of the committed points of that cell.
* ``V_R``: from the committed sweep ``data/free_entropy/dD`` (R = 4 replicas per point): ``s_e^2
  = 4 mean(free_entropy_se^2)`` and ``s_T^2 = spread^2 - s_e^2 / 4`` over its teachers.

Run: python benchmarks/replicas.py [--record FILE] [D ...]   (default sizes: 20 30; the cells
are tanh-tanh and relu-relu, Delta = 0.1, alpha = 0.5 and 2)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from records import append_record, read_records

import bayes
from experiments.results import open_results
from teacher_student import TeacherSpec, sample_teacher

DATA = Path(__file__).resolve().parents[1] / "data" / "free_entropy"
SETTINGS = {1: ("tanh", "tanh"), 2: ("relu", "relu")}  # setting index in free_entropy.toml
ALPHAS = (0.5, 2.0)
REPLICAS = (4, 2)


def spec_of(activations: tuple[str, ...]) -> TeacherSpec:
    return TeacherSpec(activations=activations, widths=(1.0,) * len(activations), noise=0.1)


def evidence_seconds(spec: TeacherSpec, d: int, alpha: float) -> dict[int, list[float]]:
    """Per replica count, seconds of ``bayes.log_evidence`` on two teachers' data (cold, warm),
    the replica counts taking turns so that both see the same load."""
    seconds: dict[int, list[float]] = {r: [] for r in REPLICAS}
    for teacher_seed in (0, 1):
        train = sample_teacher(spec, d, teacher_seed).sample(round(alpha * d), 1)
        for replicas in REPLICAS:
            cfg = bayes.EvidenceConfig(replicas=replicas)
            start = time.perf_counter()
            bayes.log_evidence(spec, train, cfg, seed=teacher_seed)
            seconds[replicas].append(time.perf_counter() - start)
    return seconds


def committed(d: int, setting: int, alpha: float) -> dict[str, float]:
    """``s_T^2``, ``s_e^2``, teachers and the median rest of a point (``wall_s - evidence_s``)
    of one committed cell."""
    cell = open_results(DATA / f"d{d}" / "results.nc").sel(setting=setting, alpha=alpha, d=d)
    gap = (cell["free_entropy"] - cell["free_entropy_glm"]).dropna("seed").values
    se = cell["free_entropy_se"].dropna("seed").values
    rest = (cell["wall_s"] - cell["evidence_s"]).dropna("seed").values
    s_e2 = 4 * float(np.mean(se**2))
    return {
        "teachers": int(gap.size),
        "s_e2": s_e2,
        "s_t2": float(np.var(gap, ddof=1)) - s_e2 / 4,
        "rest_s": float(np.median(rest)),
    }


def measure(d: int, setting: int, alpha: float) -> dict:
    seconds = evidence_seconds(spec_of(SETTINGS[setting]), d, alpha)
    return {"d": d, "setting": setting, "alpha": alpha, "seconds": seconds} | committed(
        d, setting, alpha
    )


def cost_ratio(row: dict) -> tuple[float, float, float]:
    """Warm seconds per point at R = 2 over R = 4, ``V_2 / V_4`` and their product, the cost to
    a target with replicas = 2 relative to 4."""
    t = {r: row["seconds"][str(r)][-1] + row["rest_s"] for r in REPLICAS}
    v = {r: row["s_t2"] + row["s_e2"] / r for r in REPLICAS}
    return t[2] / t[4], v[2] / v[4], t[2] * v[2] / (t[4] * v[4])


def recorded(record: Path | None) -> dict[tuple[int, int, float], dict]:
    """The cells already in ``record``, keyed by (d, setting, alpha)."""
    return {(r["d"], r["setting"], r["alpha"]): r for r in read_records(record)}


def main(sizes: list[int], record: Path | None) -> None:
    bayes.prepare_process()
    done = recorded(record)
    print(
        "| d | setting | alpha | teachers | s_e^2 / s_T^2 | evidence s, R = 4 (cold, warm) | "
        "R = 2 (cold, warm) | point time 2/4 | V_2 / V_4 | cost to a target 2/4 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for d in sizes:
        for setting in SETTINGS:
            for alpha in ALPHAS:
                key = (d, setting, alpha)
                if key not in done:
                    done[key] = append_record(record, measure(*key))
                row = done[key]
                time_ratio, v_ratio, cost = cost_ratio(row)
                s4, s2 = (row["seconds"][str(r)] for r in REPLICAS)
                print(
                    f"| {d} | {'-'.join(SETTINGS[setting])} | {alpha:g} | {row['teachers']} | "
                    f"{row['s_e2'] / row['s_t2']:.3f} | {s4[0]:.1f}, {s4[1]:.1f} | "
                    f"{s2[0]:.1f}, {s2[1]:.1f} | {time_ratio:.2f} | {v_ratio:.3f} | {cost:.2f} |",
                    flush=True,
                )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[20, 30])
    parser.add_argument("--record", type=Path, default=None)
    args = parser.parse_args()
    main(args.sizes, args.record)
