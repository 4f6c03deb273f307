"""The TOML configuration every ``dgep`` command reads.

Tables: ``[teacher]`` (or an array ``[[teacher]]`` for several settings) is validated by
``teacher_student.TeacherSpec``; ``[sampler]`` by ``bayes.SamplerConfig``; ``[data]`` and
``[run]`` and ``[estimators]`` by the pydantic models below. Unknown keys and wrong types are errors whose one-line
message names the key and the value.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from teacher_student import TeacherSpec


class ConfigError(ValueError):
    """A bad configuration file or value; the message is one line naming the key and value."""


KNOWN_ESTIMATORS = ("ridge", "kernel", "logistic", "trained")


class EstimatorsTable(BaseModel):
    """``[estimators]``: which learners run (``ridge``, ``kernel``: Gaussian channel;
    ``logistic``: sign channel; ``trained``: both) and their grids, ridge's as multiples of
    ``lam_bo``, the kernel's as multiples of the noise ``Delta``, logistic's as values of
    ``lam``, the trained network's weight decays; an empty table runs every learner that
    applies, with these grids."""

    model_config = ConfigDict(extra="forbid", strict=True)
    names: list[str] = Field(default_factory=lambda: list(KNOWN_ESTIMATORS))
    ridge_grid: list[float] = Field(default_factory=lambda: [0.1, 0.3, 1.0, 3.0, 10.0])
    kernel_grid: list[float] = Field(default_factory=lambda: [0.1, 0.3, 1.0, 3.0, 10.0])
    logistic_grid: list[float] = Field(default_factory=lambda: [0.01, 0.03, 0.1, 0.3, 1.0, 3.0])
    trained_grid: list[float] = Field(default_factory=lambda: [0.1, 1.0, 10.0])

    @field_validator("names")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        for name in value:
            if name not in KNOWN_ESTIMATORS:
                raise ValueError(
                    f"unknown estimator {name!r} (known: {', '.join(KNOWN_ESTIMATORS)})"
                )
        return value

    @field_validator("ridge_grid", "kernel_grid", "logistic_grid", "trained_grid")
    @classmethod
    def _grid(cls, value: list[float]) -> list[float]:
        if not value or any(not (g > 0 and np.isfinite(g)) for g in value):
            raise ValueError("needs numbers > 0")
        return value


#: each learner's error at every grid value: variable -> (its dim, the table's grid, whether
#: the grid holds multiples of ``lam_bo`` / ``Delta`` that always include 1)
GRIDS = {
    "eps_ridge_grid": ("ridge_lam_factor", "ridge_grid", True),
    "eps_kernel_grid": ("kernel_lam_factor", "kernel_grid", True),
    "eps_logistic_grid": ("logistic_lam", "logistic_grid", False),
    "eps_trained_grid": ("trained_decay", "trained_grid", False),
}


def grid_values(table: EstimatorsTable, field: str, with_one: bool) -> list[float]:
    """A table's grid, sorted, as the learners run it (with 1 for the multiples' grids)."""
    grid = getattr(table, field)
    return sorted({*grid, 1.0} if with_one else set(grid))


class AlphaRange(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    start: float = Field(gt=0)
    stop: float = Field(gt=0)
    num: int = Field(ge=1)
    scale: Literal["linear", "log"] = "linear"

    def values(self) -> list[float]:
        grid = np.geomspace if self.scale == "log" else np.linspace
        return [float(a) for a in grid(self.start, self.stop, self.num)]


class DataTable(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    alpha: list[float] | AlphaRange
    d: list[int] = Field(default_factory=lambda: [40])
    n_test: int = Field(default=4000, ge=2)

    @field_validator("alpha")
    @classmethod
    def _alpha(cls, value: list[float] | AlphaRange) -> list[float]:
        values = value.values() if isinstance(value, AlphaRange) else value
        if not values:
            raise ValueError("needs at least one value")
        for a in values:
            if not (np.isfinite(a) and a > 0):
                raise ValueError(f"every alpha must be a finite number > 0, got {a!r}")
        if len(set(values)) != len(values):
            raise ValueError("values must be distinct")
        return sorted(values)

    @field_validator("d")
    @classmethod
    def _d(cls, value: list[int]) -> list[int]:
        if not value or any(d < 1 for d in value) or len(set(value)) != len(value):
            raise ValueError("needs distinct integers >= 1")
        return sorted(value)


class RunTable(BaseModel):
    """``seeds``: run at every point. ``target_rel_se``: then add seeds (continuing after the
    largest, at most ``max_seeds`` per point) wherever the standard error of the paired difference
    ``eps_bayes - eps_theory_teacher`` exceeds this fraction of the mean ``eps_bayes``.
    ``target_free_entropy_se``: the same where the standard error of the mean
    ``free_entropy - free_entropy_glm`` exceeds this many nats per sample (needs ``[evidence]``;
    with a teacher law in the sweep's directory, the smaller of the SE over seeds and the control
    variate's, ``sweep.free_entropy_se``)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    seeds: list[int] = Field(default_factory=lambda: [0])
    target_rel_se: float | None = Field(default=None, gt=0, lt=1)
    target_free_entropy_se: float | None = Field(default=None, gt=0)
    max_seeds: int = Field(default=64, ge=2)
    executor: Literal["local", "dask"] = "local"
    workers: int = Field(default=1, ge=1)
    teacher_inputs: int = Field(default=200_000, ge=2)
    pad_n: bool = False
    keep: list[Literal["weights", "log_likelihood"]] = Field(default_factory=list)

    #: what decides which points run, or how, not any point's numbers: a sweep resumes across them
    NOT_IN_POINTS: ClassVar[tuple[str, ...]] = (
        "seeds",
        "target_rel_se",
        "target_free_entropy_se",
        "max_seeds",
        "executor",
        "workers",
        "keep",
    )

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, value: list[int]) -> list[int]:
        if not value or any(s < 0 for s in value) or len(set(value)) != len(value):
            raise ValueError("needs distinct integers >= 0")
        return value

    @property
    def adds_seeds(self) -> bool:
        """Whether a standard-error target may add seeds beyond ``seeds``."""
        return self.target_rel_se is not None or self.target_free_entropy_se is not None

    @model_validator(mode="after")
    def _max_seeds(self) -> RunTable:
        if self.adds_seeds and self.max_seeds < len(self.seeds):
            raise ValueError(
                f"max_seeds = {self.max_seeds} is below the {len(self.seeds)} seeds listed"
            )
        return self

    def seed_sequence(self) -> list[int]:
        """The seeds in the order they are used: ``seeds``, then ``max(seeds) + 1, ...`` up to
        ``max_seeds`` in all when a standard-error target is set (``adds_seeds``)."""
        if not self.adds_seeds:
            return self.seeds
        first = max(self.seeds) + 1  # max_seeds >= len(seeds) is checked above
        return self.seeds + list(range(first, first + self.max_seeds - len(self.seeds)))


class Config:
    """A validated configuration: teacher settings, data, sampler and run settings."""

    def __init__(
        self,
        raw: dict[str, Any],
        source: str = "config",
        *,
        sampler: bool = True,
        overrides: Sequence[str] = (),
    ) -> None:
        self.source = source
        self.overrides = tuple(overrides)  # the --set items applied to the file (provenance)
        known = {"teacher", "data", "sampler", "run", "evidence", "estimators"}
        for key in raw:
            if key not in known:
                self._fail(f"[{key}]", raw[key], "unknown table")
        self.settings = self._teachers(raw.get("teacher"))
        self.data = self._model(DataTable, "data", raw.get("data"))
        self.run = self._model(RunTable, "run", raw.get("run", {}))
        self.sampler = self.evidence = None
        if sampler:  # validated by their owner, bayes; it imports JAX, hence lazily
            from bayes import EvidenceConfig, SamplerConfig

            self.sampler = self._dataclass_table("sampler", SamplerConfig, raw.get("sampler", {}))
            if "evidence" in raw:
                self.evidence = self._dataclass_table("evidence", EvidenceConfig, raw["evidence"])
        if self.run.target_free_entropy_se is not None and "evidence" not in raw:
            value = self.run.target_free_entropy_se
            self._fail("[run].target_free_entropy_se", value, "needs an [evidence] table")
        self.estimators = None
        if "estimators" in raw:
            self.estimators = self._model(EstimatorsTable, "estimators", raw["estimators"])

    def _dataclass_table(self, name: str, cls: type, table: Any) -> Any:
        """A table validated by its owner's dataclass (``bayes.SamplerConfig``,
        ``bayes.EvidenceConfig``): unknown keys and bad values name ``[name].key``."""
        self._check_table(name, table, {f.name for f in fields(cls)})
        try:
            return cls(**table)
        except (TypeError, ValueError) as err:
            message = str(err).replace(f"{name}.", f"[{name}].", 1)
            raise ConfigError(f"{self.source}: {message}") from None

    def _fail(self, key: str, value: Any, message: str) -> None:
        raise ConfigError(f"{self.source}: {key} = {value!r}: {message}")

    def _check_table(self, name: str, table: Any, allowed: set[str]) -> None:
        if not isinstance(table, dict):
            self._fail(f"[{name}]", table, "must be a table")
        for key in table:
            if key not in allowed:
                self._fail(f"[{name}].{key}", table[key], "unknown key")

    def _teachers(self, table: Any) -> tuple[TeacherSpec, ...]:
        if table is None:
            raise ConfigError(f"{self.source}: [teacher]: missing table")
        tables = table if isinstance(table, list) else [table]
        specs = []
        for i, t in enumerate(tables):
            where = "[teacher]" if len(tables) == 1 else f"[[teacher]] #{i + 1}"
            if not isinstance(t, dict):
                self._fail(where, t, "must be a table")
            try:
                specs.append(TeacherSpec.from_dict(t, where=where))
            except ValueError as err:
                raise ConfigError(f"{self.source}: {err}") from None
        return tuple(specs)

    def _model(self, model: type[BaseModel], name: str, table: Any) -> Any:
        if table is None:
            raise ConfigError(f"{self.source}: [{name}]: missing table")
        if not isinstance(table, dict):
            self._fail(f"[{name}]", table, "must be a table")
        try:
            return model.model_validate(table)
        except ValidationError as err:
            first = err.errors()[0]
            message = first["msg"].removeprefix("Value error, ")
            if not first["loc"]:  # a check across keys names them in its message
                raise ConfigError(f"{self.source}: [{name}]: {message}") from None
            key = first["loc"][0]
            value = table.get(key, first.get("input"))
            raise ConfigError(f"{self.source}: [{name}].{key} = {value!r}: {message}") from None

    @property
    def alphas(self) -> list[float]:
        return self.data.alpha

    def to_json(self) -> str:
        """Canonical JSON of the validated configuration, with its ``provenance``: the file it
        was read from and the ``--set`` overrides applied (not part of any point's identity)."""
        return json.dumps(
            {
                "teacher": [s.to_dict() for s in self.settings],
                "data": self.data.model_dump(),
                "sampler": self.sampler.to_dict(),
                "run": self.run.model_dump(),
                **({"evidence": asdict(self.evidence)} if self.evidence else {}),
                **({"estimators": self.estimators.model_dump()} if self.estimators else {}),
                "provenance": {"source": self.source, "overrides": list(self.overrides)},
            },
            sort_keys=True,
        )


#: The compatibility knowledge of stored sweep directories, in one place: what runs made before a
#: sampler field existed did, where the field's default is now different (``adaptation``:
#: "step_size" became the informed start's default after the field came, so an older
#: directory without it was sampled with NumPyro's schedule).
SAMPLER_BEFORE_FIELD: dict[str, Any] = {"adaptation": "windows"}


def point_identity(config_json: str) -> dict[str, Any]:
    """What every point's numbers depend on, from ``Config.to_json`` output: the JSON without the
    settings that only choose which points run or how (``RunTable.NOT_IN_POINTS``, the
    ``EXECUTION_ONLY`` fields of ``SamplerConfig``; ``evidence_identity``). A sweep directory
    resumes under any config with the same identity; sampler fields added since the directory
    was made count at what runs did before them (``SAMPLER_BEFORE_FIELD``, else their defaults),
    evidence fields at their defaults."""
    from bayes import SamplerConfig

    raw = json.loads(config_json)
    raw.pop("provenance", None)
    raw["sampler"] = SamplerConfig(**SAMPLER_BEFORE_FIELD | raw["sampler"]).to_dict()
    for name in RunTable.NOT_IN_POINTS:
        raw["run"].pop(name, None)
    for name in SamplerConfig.EXECUTION_ONLY:
        raw["sampler"].pop(name, None)
    if "evidence" in raw:
        raw["evidence"] = evidence_identity(raw["evidence"])
    return raw


def evidence_identity(table: dict[str, Any]) -> dict[str, Any]:
    """What a point's ``free_entropy`` estimates, of an ``[evidence]`` table: every field (at its
    default where absent) but the ``EXECUTION_ONLY`` and ``NOISE_ONLY`` ones of
    ``EvidenceConfig`` (where it runs; how many replicas, which each point records as
    ``evidence_replicas``)."""
    from bayes import EvidenceConfig

    out = asdict(EvidenceConfig(**table))
    for name in (*EvidenceConfig.EXECUTION_ONLY, *EvidenceConfig.NOISE_ONLY):
        out.pop(name)
    return out


def identity_differences(stored_json: str, given_json: str) -> list[str]:
    """Where two configs' point identities differ (``point_identity``), one entry per setting:
    ``[table].key = given (the directory's: stored)``, values as JSON; teacher settings are
    numbered (``[teacher 0].noise``); an ``[evidence]`` table on one side only is one entry."""
    stored, given = point_identity(stored_json), point_identity(given_json)
    old_settings, new_settings = stored["teacher"], given["teacher"]
    if len(old_settings) != len(new_settings):
        return [f"{len(new_settings)} teacher settings (the directory's: {len(old_settings)})"]
    pairs = zip(old_settings, new_settings, strict=True)
    tables = {f"teacher {i}": pair for i, pair in enumerate(pairs)}
    tables |= {name: (stored[name], given[name]) for name in ("data", "sampler", "run")}
    presence = []
    if ("evidence" in stored) != ("evidence" in given):
        shown = {True: "present", False: "absent"}
        presence.append(
            f"[evidence] table {shown['evidence' in given]} "
            f"(the directory's: {shown['evidence' in stored]})"
        )
    elif "evidence" in stored:
        tables["evidence"] = (stored["evidence"], given["evidence"])
    return presence + [
        f"[{name}].{key} = {json.dumps(new.get(key))} (the directory's: {json.dumps(old.get(key))})"
        for name, (old, new) in tables.items()
        for key in sorted(old.keys() | new.keys())
        if old.get(key) != new.get(key)
    ]


def apply_overrides(raw: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """``raw`` with each ``TABLE.KEY=VALUE`` of ``overrides`` set (``VALUE`` a TOML value, e.g.
    ``data.d=[60, 90]``, ``sampler.kernel="hmc"``; ``none`` removes the key, so its default
    applies). ``teacher.KEY`` sets the key of every teacher setting, ``teacher[I].KEY`` of
    setting ``I`` (from 0). The result is validated like a file."""
    out = json.loads(json.dumps(raw))  # a deep copy of TOML data
    for item in overrides:
        path, sep, text = item.partition("=")
        table, dot, key = path.strip().partition(".")
        if not (sep and dot and table and key):
            raise ConfigError(f"--set {item!r}: expected TABLE.KEY=VALUE, e.g. data.d=[60, 90]")
        index = None
        if table.startswith("teacher[") and table.endswith("]"):
            table, index = "teacher", table[len("teacher[") : -1]
        if text.strip() == "none":
            value = None
        else:
            try:
                value = tomllib.loads(f"v = {text}")["v"]
            except tomllib.TOMLDecodeError:
                raise ConfigError(f"--set {item!r}: {text!r} is not a TOML value") from None
        targets = out.setdefault(table, {})
        targets = targets if isinstance(targets, list) else [targets]
        if index is not None:
            if not (index.isdigit() and int(index) < len(targets)):
                raise ConfigError(f"--set {item!r}: no teacher setting {index}")
            targets = [targets[int(index)]]
        for target in targets:
            if value is None:
                target.pop(key, None)
            else:
                target[key] = value
    return out


def _with_base(raw: dict[str, Any], source: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """A config that names ``base = "FILE.toml"`` (relative to its own directory) is that file's
    tables with its own merged in: a key it sets replaces the base's, a ``teacher`` table or
    array replaces the base's settings whole, and ``unset = ["table.key", ...]`` removes keys
    of the base (their defaults apply)."""
    base_name = raw.pop("base", None)
    unset = raw.pop("unset", [])
    if base_name is None:
        if unset:
            raise ConfigError(f"{source}: unset = {unset!r}: needs a base")
        return raw
    if not isinstance(base_name, str):
        raise ConfigError(f"{source}: base = {base_name!r}: must be a file name")
    path = Path(source).parent / base_name
    if str(path) in seen:
        raise ConfigError(f"{source}: base = {base_name!r}: a cycle of bases")
    try:
        base = tomllib.loads(path.read_text())
    except OSError as err:
        raise ConfigError(f"{source}: base = {base_name!r}: cannot read: {err.strerror}") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None
    merged = _with_base(base, str(path), (*seen, str(path)))
    for key, value in raw.items():
        if key != "teacher" and isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merged[key] | value
        else:
            merged[key] = value
    for item in unset if isinstance(unset, list) else [unset]:
        table, _, key = str(item).partition(".")
        if not isinstance(merged.get(table), dict) or key not in merged[table]:
            raise ConfigError(f"{source}: unset = {item!r}: not a key of the base")
        del merged[table][key]
    return merged


def parse_config(
    text: str, source: str = "config", *, sampler: bool = True, overrides: Sequence[str] = ()
) -> Config:
    """Validate TOML text, on its ``base`` if it names one (``_with_base``), with ``overrides``
    applied (``apply_overrides``); ``sampler=False`` skips the ``[sampler]`` table (theory
    only)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{source}: not valid TOML: {err}") from None
    raw = _with_base(raw, source)
    if overrides:
        raw = apply_overrides(raw, overrides)
    return Config(raw, source, sampler=sampler, overrides=overrides)


def load_config(path: str | Path, *, sampler: bool = True, overrides: Sequence[str] = ()) -> Config:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror}") from None
    return parse_config(text, str(path), sampler=sampler, overrides=overrides)


BUILTIN_CONFIGS = Path(__file__).parent / "configs"


def builtin_config(name: str) -> Config:
    """One of the named experiments in ``experiments/configs`` (``demo``, ``cui2023``, ...)."""
    return load_config(BUILTIN_CONFIGS / f"{name}.toml")
