"""The output directory of a sweep: ``config.json``, ``points.jsonl`` (one record per line), the
lock, and the records read back with the current theory.

Only the process holding the directory's lock (``ResultStore.lock``) writes. Each finished point
is appended to ``DIR/points.jsonl`` as one line (one ``write``, then ``fsync``); a later line for
the same point replaces an earlier one. A line cut short by a kill is the file's last and has no
newline: the lock holder moves it to ``DIR/damaged/`` on opening, and a reader without the lock
skips it (it may be a write in flight). ``DIR/config.json`` holds the configuration, and one
whose points would differ (``config.point_identity``) is refused unless ``fresh``. Directories
written before ``points.jsonl`` kept one file per point in ``DIR/points/``; the lock holder
moves those into ``points.jsonl`` on opening.
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

from .config import Config, evidence_identity, identity_differences, point_identity
from .theory import has_finite, theory_columns

#: Files measured for a directory's config beside its points: the teacher law (``dgep
#: teacher-law``) and the equivalent GLM's datasets (``dgep glm-data``). Each records the part of
#: the config it depends on (``measured_for``); ``--fresh`` discards them with the points.
LAW_FILE = "teacher_law.nc"
GLM_DATA_FILE = "glm_data.nc"
DERIVED_FILES = (LAW_FILE, GLM_DATA_FILE)


def measured_for(config_json: str, tables: tuple[str, ...]) -> dict[str, str]:
    """The parts of a config's point identity (``config.point_identity``) that a derived file
    depends on, as netCDF attributes: ``tables`` (``"teacher"``, ``"evidence"``), each as JSON."""
    identity = point_identity(config_json)
    return {table: json.dumps(identity.get(table), sort_keys=True) for table in tables}


def check_measured_for(path: Path, attrs: dict[str, Any], config_json: str) -> None:
    """``ValueError`` where the derived file ``path`` (its ``attrs``) was measured for another
    config than ``config_json`` (``measured_for``); a file without the record is accepted."""
    wanted = measured_for(config_json, tuple(t for t in ("teacher", "evidence") if t in attrs))
    stored = dict(attrs)
    if stored.get("evidence", "null") != "null":  # one made before NOISE_ONLY names replicas
        stored["evidence"] = json.dumps(
            evidence_identity(json.loads(stored["evidence"])), sort_keys=True
        )
    differing = [table for table, value in wanted.items() if stored[table] != value]
    if differing:
        raise ValueError(
            f"{path}: measured for another [{'] and ['.join(differing)}] than the sweep's "
            "config; move it away to measure it again"
        )


def check_beside(path: Path, attrs: dict[str, Any]) -> None:
    """``check_measured_for`` against the ``config.json`` in the derived file's directory, if
    there is one."""
    config_path = path.parent / "config.json"
    if config_path.exists():
        check_measured_for(path, attrs, config_path.read_text())


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


def free_entropy_gap(values: Any) -> Any:
    """``free_entropy - free_entropy_glm``: the deep student's log evidence per sample minus the
    equivalent GLM's on the same data (docs/theory.md 8; >= 0 in expectation, 0 as d -> inf)."""
    return values["free_entropy"] - values["free_entropy_glm"]


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
    """The output directory of a sweep: ``config.json``, ``points.jsonl``, ``results.nc``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.points_path = self.root / "points.jsonl"
        self.damaged_dir = self.root / "damaged"
        self._lock = None

    def lock(self) -> None:
        """Hold ``DIR/.lock`` (``filelock``) for this process, so that two ``dgep run`` never
        compute the same directory; a held lock is a ``ValueError`` naming the holder."""
        from filelock import FileLock, Timeout

        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            why = "exists and is not a directory" if self.root.exists() else err.strerror
            raise ValueError(f"{self.root}: cannot be the output directory ({why})") from None
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

    def try_lock(self) -> bool:
        """``lock`` if the directory is free; False (and nothing held) if it is in use."""
        try:
            self.lock()
        except ValueError:
            return False
        return True

    def unlock(self) -> None:
        if self._lock is not None:
            (self.root / ".lock.owner").unlink(missing_ok=True)
            self._lock.release()
            self._lock = None

    def open(self, config: Config, *, fresh: bool = False) -> None:
        """Create or resume (the caller holds the lock); a config whose points differ is refused
        unless ``fresh`` (which discards the records and ``DERIVED_FILES``). Seeds, the seed target and execution
        settings may change (``point_identity``): more seeds extend the sweep."""
        config_path = self.root / "config.json"
        if not fresh:
            self.check_identity(config)
        elif config_path.exists():
            shutil.rmtree(self.root / "points", ignore_errors=True)
            self.points_path.unlink(missing_ok=True)
            for name in DERIVED_FILES:
                (self.root / name).unlink(missing_ok=True)
        self.root.mkdir(parents=True, exist_ok=True)
        self.remove_temporaries()
        atomic_write(config_path, lambda p: p.write_text(config.to_json()))
        self.repair()

    def check_identity(self, config: Config) -> None:
        """``ValueError`` where the directory holds results of a config whose points differ
        (``identity_differences``); reads only."""
        config_path = self.root / "config.json"
        if not config_path.exists():
            return
        differences = identity_differences(config_path.read_text(), config.to_json())
        if differences:
            shown = "; ".join(differences[:3]) + ("; ..." if len(differences) > 3 else "")
            raise ValueError(
                f"{self.root}: holds results of a different configuration ({shown}); use "
                "another --out directory or --fresh to discard them"
            )

    def remove_temporaries(self) -> None:
        """Under the lock: delete the ``atomic_write`` temporaries a killed writer left (the
        lock holder is the only writer, so none is in flight)."""
        assert self._lock is not None, "removing temporaries needs the directory's lock"
        for folder in (self.root, self.root / "draws"):
            for path in folder.glob(".*.tmp"):
                path.unlink(missing_ok=True)

    def repair(self) -> None:
        """Under the lock: set aside a cut-off last line and move the one-file-per-point records
        of ``DIR/points/`` into ``points.jsonl``, so that the file is whole lines of records."""
        assert self._lock is not None, "repair needs the directory's lock"
        if self.points_path.exists():
            text = self.points_path.read_text()
            keep, damaged = self._parse(text, complete=True)
            if damaged:
                for line, why in damaged:
                    self._set_aside(line, self.points_path, why)
                body = "".join(json.dumps(r) + "\n" for r in keep)
                atomic_write(self.points_path, lambda p: p.write_text(body))
        legacy = self.root / "points"
        if legacy.is_dir():
            for path in sorted(legacy.glob("*.json")):
                text = path.read_text()
                records, damaged = self._parse(text + "\n", complete=True)
                if damaged:
                    self._set_aside(text, path, damaged[0][1].split(": ", 1)[1])
                else:
                    self.write_point(records[0])
                path.unlink()
            shutil.rmtree(legacy)

    def write_point(self, record: dict[str, Any]) -> None:
        """Append one record as one line (the caller holds the lock)."""
        line = (json.dumps(record) + "\n").encode()
        new = not self.points_path.exists()
        fd = os.open(self.points_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        if new:
            os.chmod(self.points_path, 0o666 & ~_umask())

    def records(self) -> list[dict[str, Any]]:
        """Every point's latest record, finished or failed, in key order. A line that does not
        hold a record (edited) is named in a ``DamagedRecordWarning`` and, by the lock holder,
        moved to ``DIR/damaged/`` (so its point is computed again); a cut-off last line is
        skipped."""
        if self._lock is not None:
            self.repair()
        text = self.points_path.read_text() if self.points_path.exists() else ""
        records, damaged = self._parse(text, complete=False)
        for _, why in damaged:
            warnings.warn(f"{self.points_path}: {why}", DamagedRecordWarning, stacklevel=2)
        latest = {Point(**r["point"]).key: r for r in records}
        return [latest[k] for k in sorted(latest)]

    @staticmethod
    def _parse(text: str, *, complete: bool) -> tuple[list[dict], list[tuple[str, str]]]:
        """The records of ``text`` and its damaged lines with why; a last line without newline
        is damaged if ``complete`` (no write is in flight) and otherwise left out."""
        lines = text.split("\n")
        tail = lines.pop()
        records, damaged = [], []
        for number, line in enumerate(lines, 1):
            try:
                record = json.loads(line)
                Point(**record["point"])
                if record["status"] == "ok":
                    dict(record["values"])
                records.append(record)
            except (ValueError, KeyError, TypeError) as err:
                why = f"{type(err).__name__}: {err}".splitlines()[0]
                damaged.append((line, f"line {number}: damaged record ({why})"))
        if tail and complete:
            damaged.append((tail, f"line {len(lines) + 1}: cut off (no newline)"))
        return records, damaged

    def _set_aside(self, text: str, where: Path, why: str) -> None:
        self.damaged_dir.mkdir(exist_ok=True)
        fd, _ = tempfile.mkstemp(dir=self.damaged_dir, prefix="record-", suffix=".txt")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        warnings.warn(
            f"{where}: {why}; moved to {self.damaged_dir}/ and computed again",
            DamagedRecordWarning,
            stacklevel=3,
        )
