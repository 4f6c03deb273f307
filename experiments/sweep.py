"""Sweeps: every point (setting x d x alpha x seed) sampled, measured and compared with theory.

Each finished point is one small JSON file written atomically (temporary file, then
``os.replace``) in ``DIR/points``; a rerun skips the points already there, so a killed sweep
loses only the points in flight. ``DIR/config.json`` holds the configuration: one whose points
would differ (``config.point_identity``) is refused in the same directory unless ``fresh=True``;
more seeds, or a standard-error target that adds them (``more_points``), extend it.
``DIR/results.nc`` is rebuilt from the point files at the end of every run (``store``).
"""

from __future__ import annotations

import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from teacher_student import (
    TeacherSpec,
    num_samples,
    problem_seeds,
    sample_teacher,
    seed_teacher_stats,
)

from .config import Config
from .estimates import gap_control_variate
from .estimators import estimator_values
from .evidence import free_entropy_values
from .law import law_delta_eff
from .processes import map_unordered
from .results import write_results
from .store import (
    Point,
    ResultStore,
    atomic_write,
    free_entropy_gap,
    paired_difference,
    point_values,
)
from .theory import theory_columns


def sweep_points(config: Config) -> list[Point]:
    """The points every sweep runs, grouped by shape (setting, d, alpha): the seeds of one shape
    share a compile."""
    return [
        Point(s, d, alpha, seed)
        for s in range(len(config.settings))
        for d in config.data.d
        for alpha in config.alphas
        for seed in config.run.seeds
    ]


def seeds_wanted(num: int, se: float, bound: float) -> int:
    """Seeds one shape asks for in its next round: ``teachers_needed``, at most doubled per round
    as the estimate is noisy (and so for a bound of 0); 2 below 2 finished seeds."""
    if num < 2:
        return 2
    return int(min(2 * num, teachers_needed(num, se, bound)))


def teachers_needed(num: int, se: float, bound: float) -> float:
    """Seeds for ``se <= bound`` from the standard error ``se`` of ``num`` finished ones,
    ``num (se / bound)^2`` rounded up (SE ~ 1 / sqrt(seeds)); ``num`` where ``se`` is within the
    bound or unknown (NaN), infinite for a bound of 0."""
    excess = target_excess(se, bound)
    if not excess > 1:
        return float(num)
    return float(np.ceil(num * excess**2)) if np.isfinite(excess) else np.inf


def target_excess(se: float, bound: float) -> float:
    """How far ``se`` is from ``bound``, ``se / bound`` (infinite for a bound of 0); 0 where
    either is unknown (NaN), as ``seeds_wanted`` then asks for nothing more."""
    if not (np.isfinite(se) and bound >= 0):
        return 0.0
    return se / bound if bound > 0 else np.inf


def standard_error(diff: np.ndarray) -> float:
    """Standard error of the mean of ``diff`` over seeds (NaN below 2 seeds)."""
    return float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else np.nan


def free_entropy_se(values: list[dict[str, Any]], law: np.ndarray | None = None) -> float:
    """SE of the mean ``free_entropy - free_entropy_glm`` over one shape's finished ``values``;
    with ``law``, the shape's ``Delta_eff_T`` of independent teachers (``dgep teacher-law``), the
    smaller of it and the control variate's SE (docs/theory.md 8.1), the two estimates that
    ``dgep summary`` reports."""
    gap = np.array([free_entropy_gap(v) for v in values])
    se = standard_error(gap)
    if law is None or not values:
        return se
    delta_eff_teacher = np.array([v["delta_eff_teacher"] for v in values])
    delta_eff = np.mean([v["delta_eff_theory"] for v in values])
    return float(np.fmin(se, gap_control_variate(gap, delta_eff_teacher, law, delta_eff)[1]))


def precision_targets(
    config: Config, values: list[dict[str, Any]], law: np.ndarray | None = None
) -> list[tuple[float, float]]:
    """``(se, bound)`` per standard-error target of ``[run]`` over one shape's finished
    ``values``: ``target_rel_se`` bounds the SE of the paired difference by that fraction of the
    mean ``eps_bayes``, ``target_free_entropy_se`` bounds ``free_entropy_se(values, law)``."""
    run, out = config.run, []
    if run.target_rel_se is not None:
        eps = np.array([v["eps_bayes"] for v in values])
        bound = run.target_rel_se * abs(eps.mean()) if values else np.nan
        out.append((standard_error(np.array([paired_difference(v) for v in values])), bound))
    if run.target_free_entropy_se is not None:
        out.append((free_entropy_se(values, law), run.target_free_entropy_se))
    return out


def _shape_targets(
    config: Config,
    records: Iterable[dict[str, Any]],
    law: Mapping[tuple[int, int], np.ndarray] | None,
) -> list[tuple[tuple[int, int, float], int, list[tuple[float, float]]]]:
    """Per shape (setting, d, alpha) of the sweep, in config order: its number of finished
    seeds and ``precision_targets`` over them."""
    law = law or {}
    finished: dict[tuple[int, int, float], list[dict[str, float]]] = {}
    for record in records:
        if record["status"] == "ok":
            p = Point(**record["point"])
            finished.setdefault((p.setting, p.d, p.alpha), []).append(point_values(config, record))
    out = []
    for shape in dict.fromkeys(p[:3] for p in sweep_points(config)):
        values = finished.get(shape, [])
        out.append((shape, len(values), precision_targets(config, values, law.get(shape[:2]))))
    return out


def more_points(
    config: Config,
    records: Iterable[dict[str, Any]],
    law: Mapping[tuple[int, int], np.ndarray] | None = None,
) -> list[Point]:
    """With a standard-error target in ``[run]``: the next seeds of every shape whose finished
    seeds do not reach it (``seeds_wanted`` of each of ``precision_targets``, the most wanted,
    up to ``max_seeds``), from ``RunTable.seed_sequence``; the shapes farthest from a target
    (largest SE / bound) first, so that a round cut short has spent its time where the SE is
    largest. ``law`` maps (setting, d) to the teacher law's ``Delta_eff_T``
    (``law.law_delta_eff``) for the free-entropy target."""
    if not config.run.adds_seeds:
        return []
    sequence = config.run.seed_sequence()
    rounds = []
    for shape, num, targets in _shape_targets(config, records, law):
        want = max(seeds_wanted(num, se, bound) for se, bound in targets)
        excess = max(target_excess(se, bound) for se, bound in targets)
        rounds.append(
            (excess, [Point(*shape, seed) for seed in sequence[: min(want, len(sequence))]])
        )
    rounds.sort(key=lambda r: -r[0])  # stable: config order among equals
    return [point for _, points in rounds for point in points]


def seeds_to_target(
    config: Config,
    records: Iterable[dict[str, Any]],
    law: Mapping[tuple[int, int], np.ndarray] | None = None,
) -> dict[tuple[int, int, float], tuple[int, float]]:
    """With a standard-error target in ``[run]``: per shape that misses it, its finished seeds
    and the seeds that would reach every target, ``teachers_needed`` from the current SEs with
    no cap per round nor ``max_seeds`` (a projection: the SE itself is estimated from the
    finished seeds). Shapes with fewer than 2 finished seeds have no SE and are left out."""
    if not config.run.adds_seeds:
        return {}
    out = {}
    for shape, num, targets in _shape_targets(config, records, law):
        needed = max(teachers_needed(num, se, bound) for se, bound in targets)
        if num >= 2 and needed > num:
            out[shape] = (num, needed)
    return out


def pending_points(
    config: Config,
    records: Iterable[dict[str, Any]],
    law: Mapping[tuple[int, int], np.ndarray] | None = None,
) -> list[Point]:
    """The points a run of ``config`` on a directory holding ``records`` starts with: its
    unfinished points and, with a standard-error target, the first round's more seeds
    (``more_points``; later rounds follow from the points this one finishes)."""
    records = list(records)
    done = _finished(records)
    points = sweep_points(config) + more_points(config, records, law)
    return [p for p in dict.fromkeys(points) if p.key not in done]


def padded_size(config: Config, point: Point) -> int | None:
    """``n_pad`` of a point: the largest ``n`` at its ``d`` when ``[run] pad_n``, else none.

    Padding compiles the sampler once per ``d`` instead of once per ``(d, alpha)``, at the price
    of every point costing as much as the largest ``alpha``: worth it for few seeds and small ``d``.
    """
    if not config.run.pad_n:
        return None
    return max(num_samples(a, point.d) for a in config.alphas)


def run_point(
    spec: TeacherSpec,
    point: Point,
    n_test: int,
    sampler: Any,
    teacher_inputs: int,
    n_pad: int | None = None,
    keep: tuple[str, ...] = (),
    draws_dir: str | None = None,
    evidence: Any = None,
    estimators: Any = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Teacher, data, posterior, measurements and theory of one point, as a flat dict.

    ``n_pad`` (see ``padded_size``) pads the training set with masked rows. Seeds:
    ``problem_seeds(seed)`` gives teacher, train and test seeds; the teacher's ``rho_T`` is
    measured on ``teacher_inputs`` inputs from the test seed + 1; the theory columns are
    ``theory.theory_columns`` at the realised ``n / d``. ``keep`` (``[run] keep``) also writes
    the point's draws (``bayes.to_inference_data``) to ``draws_dir/KEY.nc``. ``progress`` shows
    a bar per tempering of the evidence.
    """
    from bayes import measure, sample_posterior, to_inference_data

    start = time.perf_counter()
    seeds = problem_seeds(point.seed)
    teacher = sample_teacher(spec, point.d, seeds.teacher)
    train = teacher.sample(num_samples(point.alpha, point.d), seeds.train)
    test = teacher.sample(n_test, seeds.test)
    run = sample_posterior(teacher, train, test, sampler, seed=point.seed, n_pad=n_pad, keep=keep)
    measured = measure(run, test, spec.channel).flat()
    if keep:  # the draws as ArviZ InferenceData, next to the point's record
        idata = to_inference_data(run)
        atomic_write(Path(draws_dir) / f"{point.key}.nc", lambda p: idata.to_netcdf(str(p)))

    stats = seed_teacher_stats(spec, point.d, point.seed, teacher_inputs)
    teacher_values = {
        "rho_teacher": stats.rho,
        "rho_teacher_se": stats.rho_se,
        "delta_eff_teacher": stats.delta_eff,
        "mean_f_teacher": stats.mean_f,
    }
    return {
        **measured,
        **(free_entropy_values(spec, train, evidence, point.seed, progress) if evidence else {}),
        **(estimator_values(spec, estimators, train, test, point.seed) if estimators else {}),
        **teacher_values,
        **theory_columns(spec, point.d, train.n, teacher_values),
        "n": train.n,
        "wall_s": time.perf_counter() - start,
        "sampler_s": run.timing["run_s"],
    }


class Task(NamedTuple):
    """``run_point``'s arguments in its order, picklable for process pools and Dask workers."""

    spec: TeacherSpec
    point: Point
    n_test: int
    sampler: Any
    teacher_inputs: int
    n_pad: int | None
    keep: tuple[str, ...] = ()
    draws_dir: str | None = None
    evidence: Any = None
    estimators: Any = None
    progress: bool = False


def run_task(task: Task) -> dict[str, Any]:
    """Run one point (in a process prepared by ``bayes.prepare_process``); an exception becomes
    an error record with its one-line message."""
    from bayes import ShortWarmupWarning, prepare_process

    prepare_process()

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ShortWarmupWarning)  # run_sweep says it once
            values = run_point(*task)
        return {"status": "ok", "point": task.point._asdict(), "values": values}
    except Exception as err:  # recorded, and the sweep goes on
        return {
            "status": "error",
            "point": task.point._asdict(),
            "error": f"{type(err).__name__}: {err}".splitlines()[0],
            "traceback": traceback.format_exc(),
        }


def _finished(records: Iterable[dict[str, Any]]) -> set[str]:
    """Keys of the points finished without error."""
    return {Point(**r["point"]).key for r in records if r["status"] == "ok"}


def _dask_results(
    tasks: list[Task], workers: int, scheduler: str | None
) -> Iterable[dict[str, Any]]:
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None:
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
    client = Client(scheduler or cluster)
    try:
        futures = client.map(run_task, tasks, pure=False)
        for future in as_completed(futures):
            yield future.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_sweep(
    config: Config,
    out: str | Path,
    *,
    fresh: bool = False,
    scheduler: str | None = None,
    progress: bool = True,
    report: Callable[[Path], None] | None = None,
) -> Path:
    """Run every unfinished point of ``config`` into ``out``, then, with a standard-error target
    in ``[run]``, rounds of more seeds where the standard error is above it (``more_points``)
    until none is; returns the path of results.nc. Each point is tried once per call. The directory is
    locked for the run (``ResultStore.lock``), ``report(results_path)`` (the figures) included."""
    from bayes import prepare_process

    config.sampler.check_warmup()  # once for the sweep, not once per point
    prepare_process()  # before JAX's first computation here (workers do it in run_task)
    store = ResultStore(out)
    store.lock()
    try:
        results = _sweep(config, store, fresh, scheduler, progress)
        if report is not None:
            report(results)
        return results
    finally:
        store.unlock()


def _sweep(
    config: Config, store: ResultStore, fresh: bool, scheduler: str | None, progress: bool
) -> Path:
    from tqdm.auto import tqdm

    store.open(config, fresh=fresh)
    records = store.records()
    done = _finished(records)
    attempted: set[str] = set()
    law = law_delta_eff(store.root)
    todo = pending_points(config, records, law)
    total = len(done) + len(todo)  # the bar starts at its first round's size (no empty bar)
    with tqdm(total=total, initial=len(done), disable=not progress, unit="point") as bar:
        while todo:
            for record in _results(config, todo, scheduler, store, progress):
                store.write_point(record)
                if record["status"] == "error":
                    bar.write(f"point {Point(**record['point']).key} failed: {record['error']}")
                bar.update()
            attempted |= {p.key for p in todo}
            records = store.records()
            done = _finished(records)
            points = more_points(config, records, law)
            todo = [p for p in dict.fromkeys(points) if p.key not in done | attempted]
            bar.total += len(todo)
            bar.refresh()
    return write_results(config, store)


def _results(
    config: Config, points: list[Point], scheduler: str | None, store: ResultStore, progress: bool
) -> Iterable[dict]:
    """The records of ``points``, as they finish; a bar per tempering only where the points
    run in this process (one local worker)."""
    dask = config.run.executor == "dask" or scheduler is not None
    inline = progress and config.run.workers == 1 and not dask
    keep = tuple(config.run.keep)
    draws_dir = None
    if keep:
        draws_dir = str(store.root / "draws")
        Path(draws_dir).mkdir(exist_ok=True)
    tasks = [
        Task(
            config.settings[p.setting],
            p,
            config.data.n_test,
            config.sampler,
            config.run.teacher_inputs,
            padded_size(config, p),
            keep,
            draws_dir,
            config.evidence,
            config.estimators,
            inline,
        )
        for p in points
    ]
    if dask:
        return _dask_results(tasks, config.run.workers, scheduler)
    return (record for _, record in map_unordered(run_task, tasks, config.run.workers))
