"""``DIR/glm_data.nc``: the deep student's evidence on data drawn from the equivalent GLM, the
reverse side of the two-sided check of the evidence estimator (docs/theory.md 8.2).

``dgep glm-data DIR --datasets N`` draws, for every (setting, d, alpha) of the sweep in ``DIR``,
``N`` GLM teachers (``teacher_student.sample_glm_teacher`` with the setting's ``rho``,
``delta_eff`` and ``offset_var``; seeds from ``GLM_FIRST_SEED``) and their ``n = alpha d``
samples, and estimates ``free_entropy`` and ``free_entropy_glm`` on each exactly as the sweep's
points do on the deep teacher's data (``evidence.free_entropy_values`` with the sweep's
``[evidence]``). The file is written atomically after every dataset, so a killed run loses at
most the datasets in flight and a rerun (or one with a larger ``N``) computes only those missing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from teacher_student import num_samples, problem_seeds, sample_glm_teacher

from .config import Config
from .processes import map_unordered
from .store import GLM_DATA_FILE, atomic_write, check_beside, check_measured_for, measured_for

if TYPE_CHECKING:
    import xarray as xr

#: the first seed of the GLM teachers: above any sweep's and the teacher law's seeds
GLM_FIRST_SEED = 2_000_000
NATS = {"units": "nats per sample"}
#: the file's variables: name -> (``free_entropy_values`` key, attributes)
GLM_DATA_VARIABLES = {
    "glm_data_free_entropy": (
        "free_entropy",
        {"long_name": "f_deep on data of the equivalent GLM", **NATS},
    ),
    "glm_data_free_entropy_se": (
        "free_entropy_se",
        {"long_name": "SE of f_deep over the SMC replicas", **NATS},
    ),
    "glm_data_free_entropy_glm": (
        "free_entropy_glm",
        {"long_name": "f_glm on data of the equivalent GLM", **NATS},
    ),
    "glm_data_evidence_replicas": (
        "evidence_replicas",
        {"long_name": "independent tempered SMC runs of glm_data_free_entropy"},
    ),
}


class GLMDataTask(NamedTuple):
    """One dataset: the setting's spec, its place in the file, the sweep's ``[evidence]`` and
    whether to show a bar per tempering."""

    spec: Any
    setting: int
    d: int
    alpha: float
    seed: int
    evidence: Any
    progress: bool = False


def glm_data_values(task: GLMDataTask) -> dict[str, float]:
    """``free_entropy_values`` on ``n = alpha d`` samples of the GLM teacher of ``task.seed``
    (``problem_seeds``' teacher and train seeds), in a process prepared to sample."""
    from bayes import prepare_process
    from gle import equivalent_glm

    from .evidence import free_entropy_values

    prepare_process()
    glm = equivalent_glm(task.spec)
    seeds = problem_seeds(task.seed)
    teacher = sample_glm_teacher(
        task.spec,
        task.d,
        seeds.teacher,
        rho=glm.rho,
        delta_eff=glm.delta_eff,
        offset_var=glm.offset_var,
    )
    train = teacher.sample(num_samples(task.alpha, task.d), seeds.train)
    return free_entropy_values(task.spec, train, task.evidence, task.seed, task.progress)


def empty_glm_data(config: Config, num_datasets: int) -> xr.Dataset:
    """The file's variables over (setting, d, alpha, glm_dataset), all NaN."""
    import xarray as xr

    shape = (len(config.settings), len(config.data.d), len(config.alphas), num_datasets)
    dims = ("setting", "d", "alpha", "glm_dataset")
    return xr.Dataset(
        {
            name: (dims, np.full(shape, np.nan), attrs)
            for name, (_, attrs) in GLM_DATA_VARIABLES.items()
        },
        coords={
            "setting": ("setting", list(range(len(config.settings)))),
            "d": ("d", config.data.d, {"long_name": "input dimension"}),
            "alpha": ("alpha", list(config.alphas), {"long_name": "samples per dimension"}),
            "glm_dataset": (
                "glm_dataset",
                GLM_FIRST_SEED + np.arange(num_datasets),
                {"long_name": "seed of a GLM teacher and its data"},
            ),
        },
        attrs=measured_for(config.to_json(), ("teacher", "evidence")),
    )


def _resume(config: Config, path: Path, num_datasets: int) -> xr.Dataset:
    """The file's datasets on this config's grid and at least ``num_datasets`` per cell (NaN
    where missing; none of the file's are dropped); a file measured for another config is
    refused (``store.check_measured_for``)."""
    import xarray as xr

    if not path.exists():
        return empty_glm_data(config, num_datasets)
    old = xr.load_dataset(path, engine="h5netcdf")
    check_measured_for(path, old.attrs, config.to_json())
    new = empty_glm_data(config, max(num_datasets, old.sizes["glm_dataset"]))
    return old.combine_first(new).reindex_like(new).assign_attrs(new.attrs)


def check_alphas(config: Config, alphas: list[float]) -> list[float]:
    """``alphas`` (all of the config's when empty), each checked to be one of its values."""
    for a in alphas:
        if a not in config.alphas:
            raise ValueError(f"--alpha = {a:g}: the sweep's alphas are {list(config.alphas)}")
    return alphas or list(config.alphas)


def _missing_tasks(
    config: Config, data: xr.Dataset, settings: list[int], alphas: list[float]
) -> list[GLMDataTask]:
    tasks = []
    for s in settings:
        for d in config.data.d:
            for a in alphas:
                done = data["glm_data_free_entropy"].sel(setting=s, d=d, alpha=a).notnull()
                for seed in data["glm_dataset"].values[~done.values]:
                    tasks.append(
                        GLMDataTask(config.settings[s], s, d, a, int(seed), config.evidence)
                    )
    return tasks


def missing_datasets(
    config: Config, root: Path, num_datasets: int, settings: list[int], alphas: list[float]
) -> int:
    """How many datasets ``update_glm_data`` would estimate."""
    data = _resume(config, root / GLM_DATA_FILE, num_datasets)
    return len(_missing_tasks(config, data, settings, alphas))


def update_glm_data(
    config: Config,
    root: Path,
    num_datasets: int,
    settings: list[int],
    alphas: list[float],
    workers: int = 1,
    progress: Callable[[int], None] = lambda done: None,
    tempering: bool = False,
) -> Path:
    """Estimate the datasets missing from ``root/glm_data.nc`` up to ``num_datasets`` per
    (setting, d, alpha) of ``settings`` and ``alphas``, ``workers`` at a time, writing the file
    after each; ``progress`` gets 1 per dataset; ``tempering`` shows a bar per tempering where
    the datasets run in this process (``workers == 1``). Datasets the file has beyond
    ``num_datasets`` are kept."""
    path = root / GLM_DATA_FILE
    data = _resume(config, path, num_datasets)
    inline = tempering and workers == 1
    tasks = [t._replace(progress=inline) for t in _missing_tasks(config, data, settings, alphas)]
    for task, values in map_unordered(glm_data_values, tasks, workers):
        at = {"setting": task.setting, "d": task.d, "alpha": task.alpha, "glm_dataset": task.seed}
        for name, (key, _) in GLM_DATA_VARIABLES.items():
            data[name].loc[at] = values[key]
        atomic_write(path, lambda p: data.to_netcdf(p, engine="h5netcdf"))
        progress(1)
    atomic_write(path, lambda p: data.to_netcdf(p, engine="h5netcdf"))
    return path


def attach_glm_data(ds: xr.Dataset, path: Path) -> xr.Dataset:
    """``ds`` (a sweep's results) with the datasets of ``path`` on its grid, if the file exists
    (NaN where it lacks a cell); one measured for other teachers or another ``[evidence]`` than
    the ``config.json`` beside it is refused (``store.check_beside``)."""
    import xarray as xr

    if not path.exists():
        return ds
    data = xr.load_dataset(path, engine="h5netcdf")
    check_beside(path, data.attrs)
    data = data.reindex(setting=ds["setting"].values, d=ds["d"].values, alpha=ds["alpha"].values)
    return ds.assign({name: data[name] for name in GLM_DATA_VARIABLES if name in data})
