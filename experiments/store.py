"""The output directory of a sweep: ``config.json``, ``points/*.json`` (one record per point,
written atomically), the lock, and the records read back with the current theory.

Each finished point is one small JSON file written atomically (temporary file, then
``os.replace``) in ``DIR/points``; ``DIR/config.json`` holds the configuration, and one whose
points would differ (``config.point_identity``) is refused unless ``fresh``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from .config import Config, identity_differences
from .theory import has_finite, theory_columns


class Point(NamedTuple):
    setting: int
    d: int
    alpha: float
    seed: int

    @property
    def key(self) -> str:
        return f"s{self.setting}_d{self.d}_a{self.alpha:.6g}_seed{self.seed}"


class DamagedRecordWarning(UserWarning):
    """A point file that does not hold a record was set aside; its point is computed again."""


def paired_difference(values: Any) -> Any:
    """``eps_bayes - eps_theory_teacher``: the measured Bayes error minus the prediction for the
    same teacher, whose spread over seeds is much smaller than that of ``eps_bayes``."""
    return values["eps_bayes"] - values["eps_theory_teacher"]


def point_values(config: Config, record: dict[str, Any]) -> dict[str, Any]:
    """A finished point's values with the theory columns of the current ``gle``
    (``theory.theory_columns``; a point without the measured teacher keeps its own)."""
    values = dict(record["values"])
    if has_finite(values):
        p = Point(**record["point"])
        values |= theory_columns(config.settings[p.setting], p.d, int(values["n"]), values)
    return values


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary file in the same directory, then rename over ``path``; the file
    gets the permissions the umask gives a new file (``mkstemp``'s are 0600)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ResultStore:
    """The output directory of a sweep: ``config.json``, ``points/*.json``, ``results.nc``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.points_dir = self.root / "points"
        self._lock = None

    def lock(self) -> None:
        """Hold ``DIR/.lock`` (``filelock``) for this process, so that two ``dgep run`` never
        compute the same directory; a held lock is a ``ValueError`` naming the holder."""
        from filelock import FileLock, Timeout

        self.root.mkdir(parents=True, exist_ok=True)
        owner = self.root / ".lock.owner"
        lock = FileLock(self.root / ".lock")
        try:
            lock.acquire(timeout=0)
        except Timeout:
            holder = owner.read_text().strip() if owner.exists() else "another process"
            raise ValueError(
                f"{self.root}: in use by {holder}; wait for it to finish or use another --out"
            ) from None
        owner.write_text(f"dgep run, pid {os.getpid()} on {os.uname().nodename}\n")
        self._lock = lock

    def unlock(self) -> None:
        if self._lock is not None:
            (self.root / ".lock.owner").unlink(missing_ok=True)
            self._lock.release()
            self._lock = None

    def open(self, config: Config, *, fresh: bool = False) -> None:
        """Create or resume; a config whose points differ is refused unless ``fresh`` (which
        clears the directory). Seeds, the seed target and execution settings may change
        (``point_identity``): more seeds extend the sweep."""
        config_path = self.root / "config.json"
        if config_path.exists():
            differences = identity_differences(config_path.read_text(), config.to_json())
            if differences and not fresh:
                shown = "; ".join(differences[:3]) + ("; ..." if len(differences) > 3 else "")
                raise ValueError(
                    f"{self.root}: holds results of a different configuration ({shown}); use "
                    "another --out directory or --fresh to discard them"
                )
            if fresh:
                shutil.rmtree(self.points_dir, ignore_errors=True)
        self.points_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(config_path, lambda p: p.write_text(config.to_json()))

    def write_point(self, record: dict[str, Any]) -> None:
        key = Point(**record["point"]).key
        atomic_write(self.points_dir / f"{key}.json", lambda p: p.write_text(json.dumps(record)))

    def records(self) -> list[dict[str, Any]]:
        """Every point record, finished or failed, in key order. A file that does not hold a
        record (truncated, edited) is named in a ``DamagedRecordWarning``, moved to
        ``points/damaged/`` and so computed again."""
        out = []
        for path in sorted(self.points_dir.glob("*.json")):
            try:
                record = json.loads(path.read_text())
                Point(**record["point"])
                if record["status"] == "ok":
                    dict(record["values"])
                out.append(record)
            except (ValueError, KeyError, TypeError) as err:
                self._set_aside(path, f"{type(err).__name__}: {err}")
        return out

    def _set_aside(self, path: Path, why: str) -> None:
        damaged = self.points_dir / "damaged"
        damaged.mkdir(exist_ok=True)
        os.replace(path, damaged / path.name)
        warnings.warn(
            f"{path}: damaged record ({why.splitlines()[0]}); moved to {damaged}/ and computed "
            "again",
            DamagedRecordWarning,
            stacklevel=3,
        )
