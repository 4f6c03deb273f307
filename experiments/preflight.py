"""The check of a whole configuration before anything is sampled or written (``dgep check``, and
the first step of ``dgep run``).

Every point's sizes are validated (``n = round(alpha d) >= 1``, hidden widths ``>= 1``, a
channel HMC can sample); the memory a point needs is estimated and a point that cannot fit in
this machine's memory is refused; the time is estimated; alphas that give the same ``n`` at a
``d`` (identical recomputations) are warned about. Errors are ``ConfigError`` lines naming the
key and the value.

The estimates are rough models, stated here (``point_memory``, ``point_seconds``); they size a
sweep, they are not measurements.
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Any, NamedTuple

import numpy as np

from teacher_student import TeacherSpec, num_samples

from .config import Config, ConfigError

BASE_MEMORY = 300 * 2**20  # the process with JAX and the compiled sampler, bytes
TEACHER_CHUNK = 20_000  # inputs per block of measure_teacher
FLOPS_PER_SECOND = 5e10  # float32 gradients on 2 cores, chains on 2 host devices
COMPILE_SECONDS = 5.0  # one compile per shape
NUTS_STEPS_PER_DRAW = 31  # typical leapfrog steps per draw at the default target
#: temperatures of the evidence's adaptive tempering at ``n`` samples: about
#: ``2 + 1.5 sqrt(n)`` (the stored ``evidence_temperatures`` of a sweep check it)
EVIDENCE_TEMPERATURES = (2.0, 1.5)


class DuplicateSizeWarning(UserWarning):
    """Several alphas of a sweep give the same ``n`` at some ``d``: their points are the same
    computation (the seeds, hence teachers and data, are the same too)."""


class ShapePlan(NamedTuple):
    setting: int
    d: int
    alpha: float
    n: int
    memory: float  # bytes, estimated
    seconds: float  # per point, estimated


def _where(config: Config, setting: int) -> str:
    return "[teacher]" if len(config.settings) == 1 else f"[[teacher]] #{setting + 1}"


def physical_memory() -> float:
    """This machine's physical memory in bytes."""
    return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def point_memory(spec: TeacherSpec, d: int, n: int, n_test: int, chains: int) -> float:
    """Rough peak memory of one point, bytes: the process, ten float64 copies of the weights,
    train and test inputs in numpy and JAX, the teacher measurement's input block (three
    arrays of ``20000 x max(d, k)``) and the test set's activations per chain (forward and
    backward, float32)."""
    widths = spec.hidden_sizes(d)
    weights = spec.num_weights(d)
    inputs = 12 * (n + n_test) * d
    block = 3 * 8 * TEACHER_CHUNK * max((d, *widths))
    activations = 3 * 4 * n_test * sum(widths) * chains
    return BASE_MEMORY + 80 * weights + inputs + block + activations


def point_seconds(config: Config, spec: TeacherSpec, d: int, n: int) -> float:
    """Rough wall time of one point: gradients of ``6 n W`` FLOPs (``W`` weights) per leapfrog
    step, the test set's outputs (``2 n_test W``) per draw, with ``[evidence]`` the SMC's
    moves over ``EVIDENCE_TEMPERATURES`` temperatures (on the sign channel also for the probit
    GLM's ``d + 1`` weights) and a compile per estimate, and with a trained network among the
    ``[estimators]`` its full-batch steps, at ``FLOPS_PER_SECOND``."""
    sampler = config.sampler
    weights = spec.num_weights(d)
    steps = NUTS_STEPS_PER_DRAW if sampler.kernel == "nuts" else sampler.num_steps
    draws = sampler.num_chains * (sampler.num_warmup + sampler.num_samples)
    flops = draws * (steps * 6 * n * weights + 2 * config.data.n_test * weights)
    seconds = 0.0
    if config.evidence is not None:  # tempered SMC: particles x moves per temperature
        ev = config.evidence
        moves = ev.num_particles * ev.num_mcmc_steps * ev.num_leapfrog * ev.replicas
        base, per_root_n = EVIDENCE_TEMPERATURES
        probit = spec.channel == "sign"  # the probit GLM's estimate too, d + 1 weights
        flops += (base + per_root_n * math.sqrt(n)) * moves * 6 * n * (weights + probit * (d + 1))
        seconds += COMPILE_SECONDS * (1 + probit)
    if config.estimators is not None and "trained" in config.estimators.names:
        from learners import TRAIN_STEPS  # full-batch gradients, one run per decay

        flops += len(config.estimators.trained_grid) * TRAIN_STEPS * 6 * n * weights
    return seconds + flops / FLOPS_PER_SECOND


def check_platforms(config: Config) -> None:
    """``ConfigError`` where ``[sampler]`` or ``[evidence]`` asks for a ``platform`` this machine
    lacks. JAX starts here only then, after ``prepare_process`` (its host devices are fixed at
    the start)."""
    from bayes import platform_device, prepare_process

    asked = {"sampler": config.sampler.platform}
    if config.evidence is not None:
        asked["evidence"] = config.evidence.platform
    asked = {table: platform for table, platform in asked.items() if platform is not None}
    if asked:
        prepare_process()
    for table, platform in asked.items():
        try:
            platform_device(platform, f"[{table}].platform")
        except ValueError as err:
            raise ConfigError(f"{config.source}: {err}") from None


def plan(config: Config) -> list[ShapePlan]:
    """Every (setting, d, alpha) of the config with its ``n`` and estimates; raises
    ``ConfigError`` for a point that cannot run (naming the key and value) and warns
    (``DuplicateSizeWarning``) about alphas that repeat an ``n``."""
    from bayes import check_estimable, check_samplable

    check_point = check_samplable if config.evidence is None else check_estimable

    if config.sampler.num_probes > config.data.n_test:
        raise ConfigError(
            f"{config.source}: [sampler].num_probes = {config.sampler.num_probes}: more than "
            f"[data].n_test = {config.data.n_test}"
        )
    check_platforms(config)
    available = physical_memory()
    shapes = []
    for s, spec in enumerate(config.settings):
        where = _where(config, s)
        try:
            check_point(spec)
        except ValueError as err:
            raise ConfigError(f"{config.source}: {where}.{err}") from None
        for d in config.data.d:
            try:
                spec.hidden_sizes(d)
            except ValueError as err:
                raise ConfigError(f"{config.source}: {where}.{err}") from None
            seen: dict[int, float] = {}
            for alpha in config.alphas:
                try:
                    n = num_samples(alpha, d)
                except ValueError as err:
                    raise ConfigError(f"{config.source}: [data].{err}") from None
                memory = point_memory(spec, d, n, config.data.n_test, config.sampler.num_chains)
                if memory > available:
                    raise ConfigError(
                        f"{config.source}: [data].d = {d}: a point needs about "
                        f"{memory / 2**30:.1f} GiB (estimated), more than this machine's "
                        f"{available / 2**30:.1f} GiB"
                    )
                seen.setdefault(n, alpha)
                shapes.append(ShapePlan(s, d, alpha, n, memory, point_seconds(config, spec, d, n)))
            repeats = len(config.alphas) - len(seen)
            if repeats:
                warnings.warn(
                    f"[data].alpha: at d = {d}, {repeats} of {len(config.alphas)} alphas give an "
                    f"n already given by another (n = round(alpha * d) takes {len(seen)} values): "
                    "those points repeat the same computation",
                    DuplicateSizeWarning,
                    stacklevel=2,
                )
                break  # one warning per sweep
    return shapes


def format_plan(config: Config, shapes: list[ShapePlan]) -> str:
    """What ``dgep check`` prints: per setting and d, the n of each alpha; the totals."""
    seeds = len(config.run.seeds)
    lines = []
    for s, spec in enumerate(config.settings):
        lines.append(f"setting {s}: {spec.label()}")
        for d in config.data.d:
            ns = [p.n for p in shapes if p.setting == s and p.d == d]
            lines.append(f"  d = {d}: n = {', '.join(map(str, ns))}")
    points = len(shapes) * seeds
    seconds = sum(p.seconds for p in shapes) * seeds / config.run.workers
    seconds += COMPILE_SECONDS * len(shapes) / config.run.workers
    peak = max(p.memory for p in shapes)
    extra = ""
    if config.run.adds_seeds:
        extra = f", up to {config.run.max_seeds} where a standard-error target asks"
    if config.run.keep:
        draws = config.sampler.num_chains * config.sampler.num_samples
        kept = (
            sum(
                4
                * draws
                * (
                    config.settings[p.setting].num_weights(p.d) * ("weights" in config.run.keep)
                    + p.n * ("log_likelihood" in config.run.keep)
                )
                for p in shapes
            )
            * seeds
        )
        lines.append(
            f"[run].keep = {config.run.keep}: the draws take about {kept / 2**20:.0f} MiB on disk"
        )
    lines.append(
        f"{points} points ({len(shapes)} shapes x {seeds} seeds{extra}), about "
        f"{seconds / 60:.0f} min with {config.run.workers} worker(s) (rough estimate); "
        f"largest point about {peak / 2**30:.2f} GiB of {physical_memory() / 2**30:.1f} GiB"
    )
    return "\n".join(lines)


def point_wall(values: dict[str, Any], replicas: int | None) -> float:
    """A finished point's ``wall_s`` as it would be with the evidence's ``replicas`` (None: as
    it ran): the evidence's replicas run vectorized, in a time close to linear in their number
    (docs/performance.md), so the time past the posterior's (``sampler_s``) scales by
    ``replicas / evidence_replicas``."""
    ran = values.get("evidence_replicas")
    if replicas is None or ran is None:
        return values["wall_s"]
    return values["sampler_s"] + (values["wall_s"] - values["sampler_s"]) * replicas / ran


def _seconds_per_point(
    config: Config, shapes: list[ShapePlan], records: list[dict[str, Any]]
) -> dict[tuple[int, int, float], float]:
    """Per shape (setting, d, alpha): the median time of its finished points in ``records`` (the
    machine and load they ran on) at the config's evidence replicas (``point_wall``), else
    ``ShapePlan.seconds``."""
    replicas = config.evidence.replicas if config.evidence is not None else None
    walls: dict[tuple[int, int, float], list[float]] = {}
    for record in records:
        if record["status"] == "ok":
            p = record["point"]
            walls.setdefault((p["setting"], p["d"], p["alpha"]), []).append(
                point_wall(record["values"], replicas)
            )
    rough = {(s.setting, s.d, s.alpha): s.seconds for s in shapes}
    return {
        shape: float(np.median(walls[shape])) if shape in walls else rough[shape] for shape in rough
    }


def format_round(
    config: Config,
    shapes: list[ShapePlan],
    records: list[dict[str, Any]],
    todo: list[tuple[int, int, float, int]],
    to_target: dict[tuple[int, int, float], tuple[int, float]] | None = None,
) -> str:
    """What ``dgep check --out DIR`` adds for a directory holding ``records``: how many points are
    finished, the points a run starts with (``todo``, ``sweep.pending_points``) per setting and d,
    and their time (``_seconds_per_point``); with ``to_target`` (``sweep.seeds_to_target``), the
    seeds each shape would need to reach the standard-error targets and their core-hours."""
    per_point = _seconds_per_point(config, shapes, records)
    counts: dict[tuple[int, int], dict[float, int]] = {}
    seconds = 0.0
    for setting, d, alpha, _ in todo:
        row = counts.setdefault((setting, d), {})
        row[alpha] = row.get(alpha, 0) + 1
        seconds += per_point[(setting, d, alpha)]
    finished = sum(r["status"] == "ok" for r in records)
    lines = [f"{finished} points finished; a run starts with {len(todo)} more"]
    for (setting, d), row in sorted(counts.items()):
        more = ", ".join(f"alpha {a:g}: {k}" for a, k in row.items())
        lines.append(f"  setting {setting}, d = {d}: {more}")
    later = " (a standard-error target may add rounds after it)" if config.run.adds_seeds else ""
    lines.append(
        f"about {seconds / 60 / config.run.workers:.0f} min with {config.run.workers} worker(s), "
        f"from the finished points' wall times{later}"
    )
    if to_target:
        lines += _format_to_target(config, to_target, per_point)
    return "\n".join(lines)


def _format_to_target(
    config: Config,
    to_target: dict[tuple[int, int, float], tuple[int, float]],
    per_point: dict[tuple[int, int, float], float],
) -> list[str]:
    """Lines of ``format_round`` for the seeds that would reach the standard-error targets:
    per setting and d, finished -> needed seeds of each shape that misses them; their points and
    core-hours from ``per_point``; the shapes beyond ``run.max_seeds``."""
    rows: dict[tuple[int, int], list[str]] = {}
    points, seconds = 0, 0.0
    for (setting, d, alpha), (num, needed) in to_target.items():
        shown = f"{needed:.0f}" if np.isfinite(needed) else "never (a bound of 0)"
        rows.setdefault((setting, d), []).append(f"alpha {alpha:g}: {num} -> {shown}")
        if np.isfinite(needed):
            points += int(needed) - num
            seconds += (needed - num) * per_point[(setting, d, alpha)]
    capped = sum(needed > config.run.max_seeds for _, needed in to_target.values())
    lines = ["to reach the standard-error target(s), seeds N (SE / bound)^2 from N finished:"]
    lines += [f"  setting {s}, d = {d}: {', '.join(row)}" for (s, d), row in sorted(rows.items())]
    lines.append(
        f"about {points} more points, {seconds / 3600:.1f} core-h from the finished points' wall "
        f"times; run.max_seeds = {config.run.max_seeds} stops {capped} shape(s) short of it"
    )
    return lines
