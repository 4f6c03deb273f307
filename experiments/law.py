"""``DIR/teacher_law.nc``: the law over teachers of a sweep's per-teacher columns, for the
control variate of the free-entropy difference (docs/theory.md 8.1).

``dgep teacher-law DIR --teachers N`` measures ``N`` independent teachers (seeds from
``teacher_student.LAW_FIRST_SEED`` on) of every (setting, d) of the sweep in ``DIR`` exactly as its
points measure theirs (``seed_teacher_stats`` with the config's ``teacher_inputs``). It writes the
file atomically after every block of teachers, so a killed run loses at most one block and a
rerun (or one with a larger ``N``) computes only the teachers missing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from teacher_student import LAW_FIRST_SEED, teacher_law

from .config import Config
from .store import LAW_FILE, atomic_write, check_beside, check_measured_for, measured_for

if TYPE_CHECKING:
    import xarray as xr

#: teachers measured between two writes of the file
BLOCK = 50
#: the law's variables: name in the file -> (``TeacherLaw`` field, long_name)
LAW_VARIABLES = {
    "law_rho_teacher": ("rho", "rho_T of an independent teacher"),
    "law_delta_eff_teacher": ("delta_eff", "Delta_eff_T of an independent teacher"),
    "law_mean_f_teacher": ("mean_f", "E_x f* of an independent teacher"),
}


def empty_law(config: Config, num_teachers: int) -> xr.Dataset:
    """The law's variables over (setting, d, law_teacher), all NaN."""
    import xarray as xr

    shape = (len(config.settings), len(config.data.d), num_teachers)
    dims = ("setting", "d", "law_teacher")
    return xr.Dataset(
        {
            name: (dims, np.full(shape, np.nan), {"long_name": long_name})
            for name, (_, long_name) in LAW_VARIABLES.items()
        },
        coords={
            "setting": ("setting", list(range(len(config.settings)))),
            "d": ("d", config.data.d, {"long_name": "input dimension"}),
            "law_teacher": (
                "law_teacher",
                LAW_FIRST_SEED + np.arange(num_teachers),
                {"long_name": "seed of an independent teacher"},
            ),
        },
        attrs={"teacher_inputs": config.run.teacher_inputs}
        | measured_for(config.to_json(), ("teacher",)),
    )


def _resume(config: Config, path: Path, num_teachers: int) -> xr.Dataset:
    """The file's law on this config's grid and at least ``num_teachers`` teachers (NaN where
    missing; none of the file's are dropped); a file measured with other ``teacher_inputs`` is
    refused."""
    import xarray as xr

    if not path.exists():
        return empty_law(config, num_teachers)
    old = xr.load_dataset(path, engine="h5netcdf")
    if old.attrs.get("teacher_inputs") != config.run.teacher_inputs:
        raise ValueError(
            f"{path}: measured with teacher_inputs = {old.attrs.get('teacher_inputs')}, the "
            f"sweep's is {config.run.teacher_inputs}; move it away to measure again"
        )
    check_measured_for(path, old.attrs, config.to_json())
    law = empty_law(config, max(num_teachers, old.sizes["law_teacher"]))
    return old.combine_first(law).reindex_like(law).assign_attrs(law.attrs)


def check_settings(config: Config, settings: list[int]) -> list[int]:
    """``settings`` (all of the config's when empty), each checked to be one of its indices."""
    count = len(config.settings)
    for s in settings:
        if not 0 <= s < count:
            raise ValueError(f"--setting = {s}: the sweep has settings 0-{count - 1}")
    return settings or list(range(count))


def _missing(law: xr.Dataset, setting: int, d: int) -> np.ndarray:
    return law["law_teacher"].values[
        law["law_delta_eff_teacher"].sel(setting=setting, d=d).isnull()
    ]


def update_teacher_law(
    config: Config,
    root: Path,
    num_teachers: int,
    settings: list[int],
    progress: Callable[[int], None] = lambda done: None,
) -> Path:
    """Measure the teachers missing from ``root/teacher_law.nc`` up to ``num_teachers`` per
    (setting, d) of ``settings`` (indices of the config's), writing the file after every
    ``BLOCK``; ``progress`` gets each block's size. Teachers the file has beyond
    ``num_teachers`` are kept."""
    path = root / LAW_FILE
    law = _resume(config, path, num_teachers)
    for s in settings:
        for d in config.data.d:
            missing = _missing(law, s, d)
            for start in range(0, len(missing), BLOCK):
                seeds = missing[start : start + BLOCK]
                stats = teacher_law(config.settings[s], d, seeds, config.run.teacher_inputs)
                at = {"setting": s, "d": d, "law_teacher": seeds}
                for name, (field, _) in LAW_VARIABLES.items():
                    law[name].loc[at] = getattr(stats, field)
                atomic_write(path, lambda p: law.to_netcdf(p, engine="h5netcdf"))
                progress(len(seeds))
    atomic_write(path, lambda p: law.to_netcdf(p, engine="h5netcdf"))
    return path


def missing_teachers(config: Config, root: Path, num_teachers: int, settings: list[int]) -> int:
    """How many teachers ``update_teacher_law`` would measure."""
    law = _resume(config, root / LAW_FILE, num_teachers)
    return sum(len(_missing(law, s, d)) for s in settings for d in config.data.d)


def law_delta_eff(root: Path) -> dict[tuple[int, int], np.ndarray]:
    """``law_delta_eff_teacher`` of ``root/teacher_law.nc`` per (setting, d), its measured
    teachers only; empty without the file, refused where it was measured for other teachers
    (``store.check_beside``)."""
    import xarray as xr

    path = root / LAW_FILE
    if not path.exists():
        return {}
    law = xr.load_dataset(path, engine="h5netcdf")
    check_beside(path, law.attrs)
    law = law["law_delta_eff_teacher"]
    out = {}
    for setting in law["setting"].values:
        for d in law["d"].values:
            x = law.sel(setting=setting, d=d).values
            out[(int(setting), int(d))] = x[np.isfinite(x)]
    return out


def attach_law(ds: xr.Dataset, path: Path) -> xr.Dataset:
    """``ds`` (a sweep's results) with the law of ``path`` on its settings and sizes, if the file
    exists (NaN at sizes it lacks); one measured for other teachers than the ``config.json``
    beside it is refused (``store.check_beside``)."""
    import xarray as xr

    if not path.exists():
        return ds
    law = xr.load_dataset(path, engine="h5netcdf")
    check_beside(path, law.attrs)
    law = law.reindex(setting=ds["setting"].values, d=ds["d"].values)
    return ds.assign({name: law[name] for name in LAW_VARIABLES})
