"""``results.nc``: one xarray dataset of a sweep, and its summaries (mean, SE, d -> infinity)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from .config import Config
from .sweep import Point, ResultStore, atomic_write

if TYPE_CHECKING:
    import xarray as xr

LONG_NAMES = {
    "eps_bayes": "Bayes error of the posterior-mean predictor, corrected for the finite ESS",
    "eps_bayes_raw": "error of the average of the kept draws' predictors",
    "eps_bayes_clean": "Bayes error against the clean target (sign channel: sign f*)",
    "eps_gibbs": "Gibbs error (mean single-draw error)",
    "eps_theory": "Bayes-optimal error of the equivalent GLM (replica fixed point)",
    "eps_gibbs_theory": "Gibbs error of the equivalent GLM",
    "eps_theory_clean": "GLM Bayes error against the clean target",
    "eps_theory_teacher": "per-teacher prediction (ridge at lam_bo on this teacher's rho_T)",
    "q_theory": "overlap q of the equivalent GLM",
    "overlap_st": "student-teacher overlap of linear parts",
    "overlap_ss": "student-student overlap of linear parts (independent chains)",
    "overlap_self": "student self-overlap |theta_lin|^2/d (student rho)",
    "rho_teacher": "teacher rho_T = |theta_lin(W*)|^2/d",
    "delta_eff_teacher": "teacher Delta_eff_T = Var f* - rho_T",
    "nishimori_eps_gap": "eps_gibbs - 2 eps_bayes (0 in expectation over teachers)",
    "nishimori_overlap_gap": "overlap_st - overlap_ss (0 in expectation over teachers)",
    "rhat_max": "largest R-hat over the per-draw observables",
    "ess_min": "smallest bulk ESS over the per-draw observables",
    "divergences": "number of divergent transitions after warmup",
    "wall_s": "wall-clock time of the point",
    "eps_bayes_se": "standard error of eps_bayes (test-set sampling)",
    "eps_gibbs_se": "Monte-Carlo standard error of eps_gibbs",
    "overlap_st_se": "Monte-Carlo standard error of overlap_st",
    "overlap_ss_se": "Monte-Carlo standard error of overlap_ss",
}
UNITS = {"wall_s": "s", "sampler_s": "s"}
PACKAGES = ("dgep", "numpy", "scipy", "jax", "numpyro", "arviz", "xarray")


def _versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "unknown"
    return out


def build_dataset(config: Config, store: ResultStore) -> xr.Dataset:
    """Every point of the config on the grid (setting, d, alpha, seed); missing points are NaN."""
    import xarray as xr

    settings = range(len(config.settings))
    dims = ("setting", "d", "alpha", "seed")
    coords = {
        "setting": list(settings),
        "d": config.data.d,
        "alpha": config.alphas,
        "seed": config.run.seeds,
    }
    shape = tuple(len(coords[k]) for k in dims)
    index = {k: {v: i for i, v in enumerate(coords[k])} for k in dims}
    values: dict[str, np.ndarray] = {}
    errors = np.full(shape, "", dtype=object)
    for record in store.records():
        p = Point(**record["point"])
        if p.alpha not in index["alpha"] or p.setting >= len(config.settings):
            continue
        at = (p.setting, index["d"][p.d], index["alpha"][p.alpha], index["seed"][p.seed])
        if record["status"] != "ok":
            errors[at] = record["error"]
            continue
        for name, value in record["values"].items():
            values.setdefault(name, np.full(shape, np.nan))[at] = value
    for name in LONG_NAMES:  # the documented variables exist even when every point failed
        values.setdefault(name, np.full(shape, np.nan))
    data_vars = {
        name: (
            dims,
            array,
            {
                "long_name": LONG_NAMES.get(name, name.replace("_", " ")),
                **({"units": UNITS[name]} if name in UNITS else {}),
            },
        )
        for name, array in sorted(values.items())
    }
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
    """Load a results file with a ``setting`` dimension (added when the sweep had one setting)."""
    import xarray as xr

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such results file")
    ds = xr.load_dataset(path, engine="h5netcdf")
    return ds if "setting" in ds.dims else ds.expand_dims("setting")


class Extrapolation(NamedTuple):
    value: float
    se: float


def mean_se(da: xr.DataArray, dim: str = "seed") -> tuple[xr.DataArray, xr.DataArray]:
    """Mean and standard error over ``dim`` (NaN points are skipped)."""
    count = da.count(dim)
    return da.mean(dim), da.std(dim, ddof=1) / np.sqrt(count)


def extrapolate(inv_d: np.ndarray, mean: np.ndarray, se: np.ndarray) -> Extrapolation:
    """Weighted least-squares fit ``mean = c0 + c1 / d``; ``c0`` and its standard error.

    Weights ``1 / se^2``; the SE of ``c0`` is from ``(X^T W X)^{-1}`` (known variances).
    Needs two or more values of d with finite SE; NaN otherwise.
    """
    ok = np.isfinite(mean) & np.isfinite(se) & (se > 0)
    if ok.sum() < 2:
        return Extrapolation(float("nan"), float("nan"))
    X = np.stack([np.ones(ok.sum()), inv_d[ok]], axis=1)
    W = 1 / se[ok] ** 2
    cov = np.linalg.inv(X.T @ (W[:, None] * X))
    coef = cov @ X.T @ (W * mean[ok])
    return Extrapolation(float(coef[0]), float(np.sqrt(cov[0, 0])))


def summarize(ds: xr.Dataset) -> xr.Dataset:
    """Per (setting, d, alpha): mean and SE over seeds of the measured errors, of the paired
    difference ``eps_bayes - eps_theory_teacher``, and per (setting, alpha) their extrapolation
    to ``d -> infinity`` (``*_inf``, ``*_inf_se``) next to the ensemble theory."""
    import xarray as xr

    out = {}
    ds = ds.assign(paired_diff=ds["eps_bayes"] - ds["eps_theory_teacher"])
    for name in ("eps_bayes", "eps_gibbs", "paired_diff", "overlap_st", "overlap_ss"):
        mean, se = mean_se(ds[name])
        out[name], out[f"{name}_se"] = mean, se
        fit = xr.apply_ufunc(
            lambda m, s: np.array(extrapolate(1 / ds["d"].values, m, s)),
            mean,
            se,
            input_core_dims=[["d"], ["d"]],
            output_core_dims=[["fit"]],
            vectorize=True,
        )
        out[f"{name}_inf"], out[f"{name}_inf_se"] = fit.isel(fit=0), fit.isel(fit=1)
    out["eps_theory"] = ds["eps_theory"].mean(("seed", "d"))
    out["eps_gibbs_theory"] = ds["eps_gibbs_theory"].mean(("seed", "d"))
    out["q_theory"] = ds["q_theory"].mean(("seed", "d"))
    out["n_seeds"] = ds["eps_bayes"].count("seed")
    return xr.Dataset(out).assign_coords(setting_label=ds["setting_label"])


def format_summary(summary: xr.Dataset) -> str:
    """A plain-text table: per setting and alpha, theory vs measured per d and extrapolated."""
    lines = []
    for s in summary["setting"].values:
        sub = summary.sel(setting=s)
        lines.append(f"setting {s}: {sub['setting_label'].item()}")
        ds_ = [int(d) for d in sub["d"].values]
        head = ["alpha", "theory"] + [f"d={d}" for d in ds_] + ["d->inf", "paired d->inf"]
        lines.append("  ".join(f"{h:>17}" for h in head))
        for a in sub["alpha"].values:
            row = sub.sel(alpha=a)
            cells = [f"{a:>17.4g}", f"{float(row['eps_theory']):>17.4f}"]
            for d in ds_:
                r = row.sel(d=d)
                cells.append(f"{float(r['eps_bayes']):>8.4f}+-{float(r['eps_bayes_se']):<7.4f}")
            for name in ("eps_bayes_inf", "paired_diff_inf"):
                cells.append(f"{float(row[name]):>8.4f}+-{float(row[name + '_se']):<7.4f}")
            lines.append("  ".join(cells))
    return "\n".join(lines)
