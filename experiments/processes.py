"""Run a function over tasks in worker processes, for the sweep and ``dgep glm-data``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def map_unordered(fn: Callable[[T], R], tasks: Iterable[T], workers: int) -> Iterator[tuple[T, R]]:
    """``(task, fn(task))`` for every task, in the order they finish: in this process when
    ``workers == 1``, else in ``workers`` spawned processes (JAX is not fork-safe). ``fn`` and the
    tasks must be picklable; an exception in ``fn`` is raised here."""
    if workers == 1:
        yield from ((task, fn(task)) for task in tasks)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        futures = {pool.submit(fn, task): task for task in tasks}
        for future in as_completed(futures):
            yield futures[future], future.result()
