"""The evidence estimator's HMC acceptance target (docs/theory.md 8, docs/performance.md):
``bayes.EvidenceConfig.target_accept`` at the default 0.65 against higher ones, over several
teachers and both channels, at equal gradients.

L = 2 tanh, widths 1, alpha = 2, Delta = 0.1, per channel (Gaussian, sign) and d the teachers
of seeds 0 .. T-1 (their training data: seed 1000 + teacher). Per (channel, d, teacher, target)
one call of ``bayes.log_evidence`` with ``--replicas`` replicas (16: the SE of an SE is then
about 18 % of it) and otherwise the defaults. Each call's cost per unit of precision is
``SE x sqrt(gradients)`` (replicas x temperatures x particles x moves x leapfrog steps; it does
not depend on the machine); per target, over the teachers:

* ``cost / default``: the geometric mean over teachers of its ``SE x sqrt(gradients)`` over the
  default target's on the same teacher's data, with the SE of that mean from the spread of the
  log ratios (below 1: the target buys precision more cheaply);
* ``shift``: the mean over teachers of ``evidence.shift_from`` the default's value, with its
  SE (a smaller step that mixes less would bias the log evidence low and show as a negative
  shift);
* ``honesty``: ``evidence.honesty``, its mean over the teachers: the spread of estimates of 4
  replicas over the SE they report, about 1 where the reported SE is honest.

With ``--record FILE`` every finished call is appended to FILE (JSON lines); a rerun with the
same file measures only what is missing, and two processes (e.g. one per channel) can share it.
Run: python benchmarks/target_accept.py [--teachers T] [--replicas R] [--channels C ...]
[--targets A ...] [--record FILE] [D ...]   (default: d = 30, 4 teachers, both channels,
targets 0.65 0.8 0.9)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from evidence import honesty, shift_from
from records import append_record, read_records

import bayes
from teacher_student import TeacherSpec, sample_teacher

ALPHA = 2.0
DEFAULT = bayes.EvidenceConfig().target_accept


def spec_of(channel: str) -> TeacherSpec:
    return TeacherSpec(activations=("tanh", "tanh"), widths=(1.0, 1.0), channel=channel, noise=0.1)


def measure(channel: str, d: int, teacher: int, target: float, replicas: int) -> dict:
    """One call of ``bayes.log_evidence`` on the teacher's training data: its wall time (compile
    included), replica values, temperatures per replica and gradients per temperature."""
    spec = spec_of(channel)
    train = sample_teacher(spec, d, teacher).sample(round(ALPHA * d), 1000 + teacher)
    cfg = bayes.EvidenceConfig(target_accept=target, replicas=replicas)
    start = time.perf_counter()
    est = bayes.log_evidence(spec, train, cfg, seed=1)
    return {
        "channel": channel,
        "d": d,
        "teacher": teacher,
        "target_accept": target,
        "replicas": replicas,
        "seconds": time.perf_counter() - start,
        "values": est.replica_values.tolist(),
        "temperatures": np.asarray(est.num_temperatures).tolist(),
        "gradients_per_temperature": cfg.num_particles * cfg.num_mcmc_steps * cfg.num_leapfrog,
    }


def key(row: dict) -> tuple:
    return row["channel"], row["d"], row["teacher"], row["target_accept"]


def cost(row: dict) -> float:
    """``SE x sqrt(gradients)`` of one call."""
    values = np.asarray(row["values"])
    gradients = int(np.sum(row["temperatures"])) * row["gradients_per_temperature"]
    return float(values.std(ddof=1) / np.sqrt(values.size) * np.sqrt(gradients))


def _mean_se(values: list[float]) -> tuple[float, float]:
    v = np.asarray(values)
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else np.nan


def table(done: dict, channels, sizes, teachers: int, targets) -> list[str]:
    """Markdown rows per (channel, d, target) over the teachers measured at both this target and
    the default."""
    lines = [
        "| channel | d | target_accept | teachers | seconds | temperatures | SE x sqrt(gradients) "
        "| cost / default | shift (SE) | honesty |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for channel in channels:
        for d in sizes:
            for target in targets:
                pairs = [
                    (done[channel, d, t, target], done[channel, d, t, DEFAULT])
                    for t in range(teachers)
                    if (channel, d, t, target) in done and (channel, d, t, DEFAULT) in done
                ]
                if not pairs:
                    continue
                rows = [row for row, _ in pairs]
                ratio, ratio_se = _mean_se([np.log(cost(r) / cost(b)) for r, b in pairs])
                moved, moved_se = _mean_se(
                    [shift_from(np.asarray(r["values"]), b) for r, b in pairs]
                )
                # the mean over teachers; NaN with fewer than 8 replicas
                honest = np.mean([honesty(np.asarray(r["values"])) for r in rows])
                lines.append(
                    f"| {channel} | {d} | {target:g} | {len(pairs)} | "
                    f"{np.mean([r['seconds'] for r in rows]):.1f} | "
                    f"{np.mean([np.mean(r['temperatures']) for r in rows]):.1f} | "
                    f"{np.mean([cost(r) for r in rows]):.2f} | "
                    f"{np.exp(ratio):.2f} ± {np.exp(ratio) * ratio_se:.2f} | "
                    f"{moved:+.1f} ± {moved_se:.1f} | {honest:.2f} |"
                )
    return lines


def main(sizes, teachers, replicas, channels, targets, record) -> None:
    bayes.prepare_process()
    targets = sorted({DEFAULT, *targets})
    done = {key(r): r for r in read_records(record) if r["replicas"] == replicas}
    for channel in channels:
        for d in sizes:
            for teacher in range(teachers):
                for target in targets:
                    if (channel, d, teacher, target) not in done:
                        row = measure(channel, d, teacher, target, replicas)
                        done[key(row)] = append_record(record, row)
    done.update({key(r): r for r in read_records(record) if r["replicas"] == replicas})
    print("\n".join(table(done, channels, sizes, teachers, targets)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[30])
    parser.add_argument("--teachers", type=int, default=4)
    parser.add_argument("--replicas", type=int, default=16)
    parser.add_argument("--channels", nargs="+", default=["gaussian", "sign"])
    parser.add_argument("--targets", nargs="+", type=float, default=[0.8, 0.9])
    parser.add_argument("--record", type=Path, default=None)
    args = parser.parse_args()
    main(args.sizes, args.teachers, args.replicas, args.channels, args.targets, args.record)
