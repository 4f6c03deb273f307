"""``results.nc``: one xarray dataset of a sweep (built from its point records), read back and
combined over sizes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .config import GRIDS, Config, grid_values
from .glm_data import GLM_DATA_FILE, attach_glm_data
from .law import LAW_FILE, attach_law
from .store import (
    Point,
    ResultStore,
    atomic_write,
    point_values,
)

if TYPE_CHECKING:
    import xarray as xr

LONG_NAMES = {
    "eps_bayes": "Bayes error of the posterior-mean predictor, corrected for the finite ESS",
    "eps_bayes_se": "standard error of eps_bayes (test-set sampling)",
    "eps_bayes_raw": "error of the average of the kept draws' predictors",
    "eps_bayes_raw_se": "standard error of eps_bayes_raw (test-set sampling)",
    "eps_bayes_clean": "Bayes error against the clean target (sign channel: sign f*)",
    "eps_bayes_clean_se": "standard error of eps_bayes_clean (test-set sampling)",
    "eps_gibbs": "Gibbs error (mean single-draw error)",
    "eps_gibbs_se": "Monte-Carlo standard error of eps_gibbs",
    "eps_theory": "Bayes-optimal error of the equivalent GLM (replica fixed point)",
    "eps_gibbs_theory": "Gibbs error of the equivalent GLM",
    "eps_theory_clean": "GLM Bayes error against the clean target",
    "eps_theory_teacher": "per-teacher prediction (rho_T, Delta_eff_T, offset E_x f*; docs/theory.md 7)",
    "intercept_cost_teacher": "finite-n cost of learning the output offset, in eps_theory_teacher",
    "alpha_realised": "realised sample ratio n / d at which the theory is evaluated",
    "offset_var_theory": "variance of the output's constant part over teachers (beta_{L+1})",
    "free_entropy": "log evidence per sample of the deep student, (1/n) ln p(Y | X) (tempered SMC)",
    "free_entropy_se": "standard error of free_entropy (over the estimator's replicas)",
    "free_entropy_glm": "log evidence per sample of the equivalent GLM on the same data",
    "free_entropy_glm_se": "standard error of free_entropy_glm (0 where exact)",
    "free_entropy_theory": "replica prediction of the GLM's log evidence per sample, with the "
    "output offset's finite-n term (Gaussian channel)",
    "evidence_s": "wall-clock time of the evidence estimate",
    "evidence_temperatures": "temperatures of the deep student's tempered SMC (mean over replicas)",
    "evidence_replicas": "independent tempered SMC runs of free_entropy (its SE is over them)",
    "eps_ridge": "test error of ridge regression, best lambda of the grid (clean target)",
    "eps_ridge_lam": "the lambda of eps_ridge",
    "eps_ridge_bo": "test error of ridge regression at lam_bo, the GLM's Bayes estimator (clean target)",
    "eps_ridge_grid": "test error of ridge regression at each lambda of the grid (clean target)",
    "eps_ridge_theory": "asymptotic ridge error at lam_bo (Gaussian channel; = eps_theory)",
    "eps_kernel": "test error of NNGP kernel ridge regression, best lambda of the grid (clean target)",
    "eps_kernel_lam": "the lambda of eps_kernel",
    "eps_kernel_gp": "test error of NNGP kernel ridge at lambda = Delta (clean target)",
    "eps_kernel_grid": "test error of NNGP kernel ridge at each lambda of the grid (clean target)",
    "eps_logistic": "test classification error of L2 logistic regression, best lambda of the grid",
    "eps_logistic_lam": "the lambda of eps_logistic",
    "eps_logistic_grid": "test classification error of L2 logistic regression at each lambda",
    "eps_logistic_theory": "asymptotic error of logistic regression at eps_logistic_lam (GLM)",
    "eps_trained": "test error of the student network trained by Adam, best weight decay of the grid",
    "eps_trained_decay": "the weight decay of eps_trained",
    "eps_trained_grid": "test error of the trained student network at each weight decay",
    "eps_trained_grad": "RMS of the final gradient of the eps_trained run (converged if small)",
    "q_theory": "overlap q of the equivalent GLM",
    "rho_theory": "rho of the equivalent GLM (docs/theory.md 3, d -> infinity)",
    "delta_eff_theory": "Delta_eff of the equivalent GLM (docs/theory.md 3, d -> infinity)",
    "overlap_st": "student-teacher overlap of linear parts",
    "overlap_st_se": "Monte-Carlo standard error of overlap_st",
    "overlap_ss": "student-student overlap of linear parts (independent chains)",
    "overlap_ss_se": "Monte-Carlo standard error of overlap_ss",
    "overlap_self": "student self-overlap |theta_lin|^2/d (student rho)",
    "overlap_self_se": "Monte-Carlo standard error of overlap_self",
    "rho_teacher": "teacher rho_T = |theta_lin(W*)|^2/d",
    "rho_teacher_se": "standard error of rho_teacher (finite number of teacher inputs)",
    "rho_teacher_test": "teacher rho_T estimated on the test set (as the student overlaps are)",
    "delta_eff_teacher": "teacher Delta_eff_T = Var f* - rho_T",
    "mean_f_teacher": "mean teacher output E_x f*",
    "nishimori_eps_gap": "eps_gibbs - 2 eps_bayes (0 in expectation over teachers)",
    "nishimori_eps_gap_se": "standard error of nishimori_eps_gap",
    "nishimori_overlap_gap": "overlap_st - overlap_ss (0 in expectation over teachers)",
    "nishimori_overlap_gap_se": "standard error of nishimori_overlap_gap",
    "start_gap_gibbs": "eps_gibbs of the teacher-started chains minus the prior-started ones",
    "start_gap_gibbs_se": "standard error of start_gap_gibbs",
    "start_gap_overlap": "overlap_st of the teacher-started chains minus the prior-started ones",
    "start_gap_overlap_se": "standard error of start_gap_overlap",
    "start_gap_z_max": "largest |start gap| / SE (init = mixed; above 4: not thermalised)",
    "n": "number of training samples",
    "num_draws": "kept draws, all chains",
    "rhat_max": "largest R-hat over the per-draw observables",
    "rhat_gibbs": "R-hat of the per-draw Gibbs error",
    "rhat_overlap_st": "R-hat of the per-draw student-teacher overlap",
    "rhat_overlap_self": "R-hat of the per-draw self-overlap",
    "ess_min": "smallest bulk ESS over the per-draw observables",
    "ess_gibbs": "bulk ESS of the per-draw Gibbs error",
    "ess_output": "median bulk ESS of the output at the probe test points (sets eps_bayes)",
    "ess_overlap_st": "bulk ESS of the per-draw student-teacher overlap",
    "ess_overlap_self": "bulk ESS of the per-draw self-overlap",
    "divergences": "number of divergent transitions after warmup",
    "bfmi_min": "smallest E-BFMI over the chains (energy exploration; below 0.3 is poor)",
    "tree_depth_mean": "mean log2(leapfrog steps + 1) per kept draw (NUTS tree depth)",
    "steps_per_draw": "mean leapfrog steps (gradient evaluations) per kept draw",
    "accept_prob": "mean acceptance probability of the kept draws",
    "step_size": "leapfrog step size after warmup (mean over chains)",
    "wall_s": "wall-clock time of the point",
    "sampler_s": "wall-clock time of the posterior sampling (compile included)",
}
UNITS = {
    "wall_s": "s",
    "sampler_s": "s",
    "evidence_s": "s",
    **{
        name: "nats per sample"
        for name in (
            "free_entropy",
            "free_entropy_se",
            "free_entropy_glm",
            "free_entropy_glm_se",
            "free_entropy_theory",
        )
    },
}
PACKAGES = ("dgep", "numpy", "scipy", "jax", "numpyro", "arviz", "xarray")


#: the coordinates of the learners' grids (``config.GRIDS``)
GRID_UNITS = {
    "ridge_lam_factor": {"long_name": "ridge's lambda", "units": "lam_bo"},
    "kernel_lam_factor": {"long_name": "NNGP kernel ridge's lambda", "units": "Delta"},
    "logistic_lam": {"long_name": "logistic regression's lambda"},
    "trained_decay": {"long_name": "weight decay of the trained student network"},
}


def _versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "unknown"
    return out


def build_dataset(config: Config, store: ResultStore) -> xr.Dataset:
    """Every point of the config on the grid (setting, d, alpha, seed), where the seeds are the
    config's and every other one finished in the store (extra seeds); missing points are NaN."""
    import xarray as xr

    records = store.records()
    settings = range(len(config.settings))
    dims = ("setting", "d", "alpha", "seed")
    coords = {
        "setting": list(settings),
        "d": config.data.d,
        "alpha": config.alphas,
        "seed": sorted(set(config.run.seeds) | {r["point"]["seed"] for r in records}),
    }
    shape = tuple(len(coords[k]) for k in dims)
    index = {k: {v: i for i, v in enumerate(coords[k])} for k in dims}
    values: dict[str, np.ndarray] = {}
    grids: dict[str, np.ndarray] = {}  # the learners' errors along their grids (GRIDS)
    errors = np.full(shape, "", dtype=object)
    for record in records:
        p = Point(**record["point"])
        if p.alpha not in index["alpha"] or p.setting >= len(config.settings):
            continue
        at = (p.setting, index["d"][p.d], index["alpha"][p.alpha], index["seed"][p.seed])
        if record["status"] != "ok":
            errors[at] = record["error"]
            continue
        for name, value in point_values(config, record).items():
            if name in GRIDS:
                grid = grids.setdefault(name, np.full((*shape, len(value)), np.nan))
                grid[at] = value if len(value) == grid.shape[-1] else np.nan
            else:
                values.setdefault(name, np.full(shape, np.nan))[at] = value
    for name in LONG_NAMES:  # the documented variables exist even when every point failed
        if name not in GRIDS:
            values.setdefault(name, np.full(shape, np.nan))
    data_vars = {
        name: (
            dims,
            array,
            {
                "long_name": LONG_NAMES[name],
                **({"units": UNITS[name]} if name in UNITS else {}),
            },
        )
        for name, array in sorted(values.items())
    }
    grid_coords = {}
    for name, array in sorted(grids.items()):
        dim, field, with_one = GRIDS[name]
        data_vars[name] = (
            (*dims, dim),
            array,
            {"long_name": LONG_NAMES[name], **({"units": UNITS[name]} if name in UNITS else {})},
        )
        grid_coords[dim] = (dim, grid_values(config.estimators, field, with_one), GRID_UNITS[dim])
    data_vars["error"] = (
        dims,
        errors.astype(str),
        {"long_name": "error message of a failed point"},
    )
    ds = xr.Dataset(
        data_vars,
        coords={
            "setting": ("setting", coords["setting"], {"long_name": "teacher setting index"}),
            "setting_label": ("setting", [s.label() for s in config.settings]),
            "d": ("d", coords["d"], {"long_name": "input dimension"}),
            "alpha": ("alpha", coords["alpha"], {"long_name": "sample ratio n / d"}),
            "seed": ("seed", coords["seed"], {"long_name": "seed of teacher and data"}),
            **grid_coords,
        },
        attrs={
            "config": config.to_json(),
            "specs": json.dumps([s.to_dict() for s in config.settings]),
            "versions": json.dumps(_versions()),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    return ds.squeeze("setting", drop=False) if len(config.settings) == 1 else ds


def write_results(config: Config, store: ResultStore) -> Path:
    """Build and atomically write ``results.nc`` in the store's directory."""
    ds = build_dataset(config, store)
    path = store.root / "results.nc"
    atomic_write(path, lambda p: ds.to_netcdf(p, engine="h5netcdf"))
    return path


def open_results(path: str | Path) -> xr.Dataset:
    """Load a results file (or ``DIR/results.nc`` of a sweep directory) with a ``setting``
    dimension (added when the sweep had one setting) and the teacher law of ``dgep
    teacher-law`` beside it, if there is one (``law.attach_law``)."""
    import xarray as xr

    path = Path(path)
    if path.is_dir():  # a sweep directory: its results file
        if not (path / "results.nc").exists():
            raise FileNotFoundError(
                f"{path}: a directory without results.nc (`dgep rebuild {path}` builds it from "
                "the point files)"
            )
        path = path / "results.nc"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such results file")
    try:
        ds = xr.load_dataset(path, engine="h5netcdf")
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: not a netCDF results file ({err})") from err
    dims = set(ds["eps_bayes"].dims) if "eps_bayes" in ds else set()
    if "setting_label" not in ds or not {"d", "alpha", "seed"} <= dims:
        raise ValueError(
            f"{path}: not the results of a sweep (no eps_bayes over d, alpha and seed); "
            "`dgep run` writes them as DIR/results.nc"
        )
    if "setting" not in ds.dims:
        label = np.atleast_1d(ds["setting_label"].values)
        ds = ds.expand_dims("setting").assign_coords(setting_label=("setting", label))
    return attach_glm_data(attach_law(ds, path.parent / LAW_FILE), path.parent / GLM_DATA_FILE)


def select_settings(ds: xr.Dataset, settings: list[int]) -> xr.Dataset:
    """The results of some settings only (renumbered from 0, their specs kept with them), e.g.
    to combine one setting of a sweep with a sweep of that setting alone (``combine_sizes``)."""
    specs = json.loads(ds.attrs["specs"])
    picked = ds.isel(setting=settings).assign_coords(setting=range(len(settings)))
    return picked.assign_attrs(specs=json.dumps([specs[s] for s in settings]))


def combine_sizes(datasets: list[xr.Dataset]) -> xr.Dataset:
    """Results of the same alphas sampled at different ``d`` (e.g. a sweep and its
    ``--set data.d=[60]`` variant) as one dataset over the union of their ``d`` (seeds
    aligned, missing ones NaN), so the extrapolation ``d -> infinity`` uses every size; the
    settings are those all of them have (by label, in the first one's order)."""
    import xarray as xr

    labels = [list(np.atleast_1d(ds["setting_label"].values)) for ds in datasets]
    shared = [label for label in labels[0] if all(label in other for other in labels)]
    if not shared:
        raise ValueError(f"results with no setting in common cannot be combined: {labels}")
    datasets = [
        select_settings(ds, [own.index(label) for label in shared])
        for ds, own in zip(datasets, labels, strict=True)
    ]
    alphas = [tuple(ds["alpha"].values) for ds in datasets]
    if len(set(alphas)) != 1:
        raise ValueError(f"results on different alpha grids cannot be combined: {alphas}")
    sizes = [set(ds["d"].values) for ds in datasets]
    if any(a & b for i, a in enumerate(sizes) for b in sizes[i + 1 :]):
        raise ValueError("results to combine must have distinct d")
    variables = set.intersection(*(set(ds.data_vars) for ds in datasets))
    parts = [ds[sorted(variables)] for ds in datasets]
    combined = xr.concat(parts, "d", join="outer", combine_attrs="override")
    return combined.sortby("d")
