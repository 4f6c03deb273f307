"""``results.nc``: one xarray dataset of a sweep, and its summaries (mean, SE, d -> infinity)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from teacher_student import Estimate

from .config import GRIDS, Config, grid_values
from .glm_data import GLM_DATA_FILE, attach_glm_data
from .law import LAW_FILE, attach_law
from .store import (
    Point,
    ResultStore,
    atomic_write,
    free_entropy_gap,
    paired_difference,
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


def mean_se(da: xr.DataArray, dim: str = "seed") -> tuple[xr.DataArray, xr.DataArray]:
    """Mean and standard error over ``dim`` (NaN points are skipped)."""
    count = da.count(dim)
    return da.mean(dim), da.std(dim, ddof=1) / np.sqrt(count)


def extrapolate(inv_d: np.ndarray, mean: np.ndarray, se: np.ndarray, order: int = 1) -> Estimate:
    """Weighted least-squares fit ``mean = c0 + c1 / d (+ c2 / d^2 for order 2)``; ``c0`` and
    its standard error.

    Weights ``1 / se^2``; the SE of ``c0`` is from ``(X^T W X)^{-1}`` (known variances).
    Needs ``order + 1`` or more values of d with finite SE; NaN otherwise.
    """
    coef, cov, _ = _weighted_fit(inv_d, mean, se, order)
    if coef is None:
        return Estimate(float("nan"), float("nan"))
    return Estimate(float(coef[0]), float(np.sqrt(cov[0, 0])))


def fit_coefficients(inv_d: np.ndarray, mean: np.ndarray, se: np.ndarray, order: int = 1):
    """The coefficients ``c0, c1 (, c2)`` of ``extrapolate``'s fit; None with too few sizes."""
    return _weighted_fit(inv_d, mean, se, order)[0]


def _weighted_fit(inv_d, mean, se, order):
    ok = np.isfinite(mean) & np.isfinite(se) & (se > 0)
    if ok.sum() < order + 1:
        return None, None, float("nan")
    X = np.stack([inv_d[ok] ** k for k in range(order + 1)], axis=1)
    W = 1 / se[ok] ** 2
    cov = np.linalg.inv(X.T @ (W[:, None] * X))
    coef = cov @ X.T @ (W * mean[ok])
    chi2 = float(np.sum(W * (mean[ok] - X @ coef) ** 2))
    return coef, cov, chi2


def fit_chi2(inv_d: np.ndarray, mean: np.ndarray, se: np.ndarray, order: int) -> float:
    """``chi^2`` of the residuals of ``extrapolate``'s fit of that order (``order + 1``
    parameters): with ``k`` sizes its expectation is ``k - order - 1`` if the model holds."""
    return _weighted_fit(inv_d, mean, se, order)[2]


def _regression_estimate(gap: np.ndarray, z: np.ndarray, mu: float) -> tuple[float, float]:
    """``(mean(gap) + b (mu - mean(z)), b)``, ``b`` the least-squares slope of ``gap`` on ``z``."""
    dz = z - z.mean()
    slope = float(dz @ (gap - gap.mean())) / float(dz @ dz)
    return float(gap.mean() + slope * (mu - z.mean())), slope


def control_variate(gap: np.ndarray, z: np.ndarray, z_law: np.ndarray) -> np.ndarray:
    """Regression (control-variate) estimate of the mean of ``gap`` over teachers and its SE,
    from the covariate ``z`` of the same teachers and ``z_law`` of ``M`` independent ones
    (docs/theory.md 8.1): with ``b`` the least-squares slope of ``gap`` on ``z`` over the ``N``
    teachers,

        estimate = mean(gap) + b (mean(z_law) - mean(z)),
        SE^2 = SE_jack^2 + b^2 Var(z_law) / M,

    ``SE_jack`` the leave-one-teacher-out jackknife SE of the estimate at fixed ``mean(z_law)``
    (robust to a spread of ``gap`` about the line that grows with ``z``). NaN entries are
    skipped; ``[nan, nan]`` with fewer than 3 teachers, 2 independent ones or a constant ``z``."""
    ok = np.isfinite(gap) & np.isfinite(z)
    gap, z, z_law = gap[ok], z[ok], z_law[np.isfinite(z_law)]
    num, num_law = len(gap), len(z_law)
    leave_one = [np.delete(np.arange(num), i) for i in range(num)]
    if num < 3 or num_law < 2 or any(np.ptp(z[rest]) == 0 for rest in leave_one):
        return np.array([np.nan, np.nan])
    mu = float(z_law.mean())
    estimate, slope = _regression_estimate(gap, z, mu)
    jack = np.array([_regression_estimate(gap[rest], z[rest], mu)[0] for rest in leave_one])
    var_jack = (num - 1) / num * float(np.sum((jack - jack.mean()) ** 2))
    return np.array([estimate, np.sqrt(var_jack + slope**2 * z_law.var(ddof=1) / num_law)])


def bennett_bias(forward: np.ndarray, reverse: np.ndarray) -> np.ndarray:
    """Bennett's acceptance-ratio estimate of ``beta``, the log bias (nats per dataset) of an
    evidence estimate ``p_hat = e^beta p_deep``, and its SE (docs/theory.md 8.2). ``forward``:
    ``L = ln p_hat(Y | X) - ln p_glm(Y | X)`` on datasets of the deep model, ``reverse``: the same
    on datasets of the GLM, whose laws then satisfy ``P_F(L) = P_R(L) e^(L - beta)``. ``beta``
    is the root of

        sum_F s(beta - M - L) = sum_R s(M + L - beta),   M = ln(N_F / N_R),

    ``s`` the logistic function (Bennett 1976), and its SE that of Shirts et al. (2003):
    ``SE^2 = <s_F^2> / (N_F <s_F>^2) + <s_R^2> / (N_R <s_R>^2) - 1 / N_F - 1 / N_R``. NaN entries
    are skipped; ``[nan, nan]`` with fewer than 2 of either."""
    from scipy.optimize import brentq
    from scipy.special import expit

    forward, reverse = forward[np.isfinite(forward)], reverse[np.isfinite(reverse)]
    if len(forward) < 2 or len(reverse) < 2:
        return np.array([np.nan, np.nan])
    m = np.log(len(forward) / len(reverse))

    def balance(beta: float) -> float:  # increasing in beta
        return float(expit(beta - m - forward).sum() - expit(m + reverse - beta).sum())

    low = min(forward.min(), reverse.min()) - abs(m) - 50
    high = max(forward.max(), reverse.max()) + abs(m) + 50
    beta = brentq(balance, low, high, xtol=1e-10)
    s_f, s_r = expit(beta - m - forward), expit(m + reverse - beta)
    var = sum(np.mean(x**2) / (len(x) * np.mean(x) ** 2) - 1 / len(x) for x in (s_f, s_r))
    return np.array([beta, np.sqrt(max(var, 0.0))])


def law_covariate(delta_eff_teacher: Any, delta_eff: Any) -> Any:
    """The control variate's covariate ``(Delta_eff_T - Delta_eff)^2`` (docs/theory.md 8.1)."""
    return (delta_eff_teacher - delta_eff) ** 2


def gap_control_variate(
    gap: np.ndarray, delta_eff_teacher: np.ndarray, law_delta_eff: np.ndarray, delta_eff: float
) -> np.ndarray:
    """``control_variate`` of one cell's ``gap`` over its teachers on the covariate
    ``law_covariate`` of their ``Delta_eff_T``, with ``law_delta_eff`` the law's teachers' and
    ``delta_eff`` the population's (docs/theory.md 8.1): (estimate, SE)."""
    z = law_covariate(delta_eff_teacher, delta_eff)
    return control_variate(gap, z, law_covariate(law_delta_eff, delta_eff))


def evidence_ratio(ds: xr.Dataset) -> xr.DataArray:
    """``p_glm(Y | X) / p_deep(Y | X) = exp(-n (free_entropy - free_entropy_glm))`` per point:
    its mean over teachers and their data is 1 at every size (docs/theory.md 8.2)."""
    return np.exp(-ds["n"] * free_entropy_gap(ds))


def two_sided_check(ds: xr.Dataset) -> dict[str, xr.DataArray]:
    """With ``dgep glm-data``'s datasets in ``ds`` (``glm_data.attach_glm_data``), per (setting,
    d, alpha): ``evidence_bias`` (``bennett_bias`` of the points' ``L = n (f_deep - f_glm)``
    against the GLM datasets', per sample) and its SE, ``reverse_gap`` = ``f_glm - f_deep`` on
    the GLM's data (``KL(p_glm || p_deep) / n >= 0``, docs/theory.md 8.2) and its SE, and
    ``glm_datasets``, their number."""
    import xarray as xr

    n = ds["n"].max("seed")
    reverse = ds["glm_data_free_entropy"] - ds["glm_data_free_entropy_glm"]
    fit = xr.apply_ufunc(
        bennett_bias,
        ds["n"] * free_entropy_gap(ds),
        n * reverse,
        input_core_dims=[["seed"], ["glm_dataset"]],
        output_core_dims=[["fit"]],
        vectorize=True,
    )
    gap, gap_se = mean_se(-reverse, "glm_dataset")
    return {
        "evidence_bias": fit.isel(fit=0) / n,
        "evidence_bias_se": fit.isel(fit=1) / n,
        "reverse_gap": gap,
        "reverse_gap_se": gap_se,
        "glm_datasets": reverse.count("glm_dataset"),
    }


def free_entropy_control(ds: xr.Dataset) -> xr.DataArray:
    """``gap_control_variate`` of ``free_entropy - free_entropy_glm`` per (setting, d, alpha),
    with the law of ``dgep teacher-law`` (``law_delta_eff_teacher``) in ``ds``; ``fit`` =
    (estimate, SE)."""
    import xarray as xr

    return xr.apply_ufunc(
        gap_control_variate,
        free_entropy_gap(ds),
        ds["delta_eff_teacher"],
        ds["law_delta_eff_teacher"],
        ds["delta_eff_theory"].mean("seed"),
        input_core_dims=[["seed"], ["seed"], ["law_teacher"], []],
        output_core_dims=[["fit"]],
        vectorize=True,
    )


NISHIMORI_GAPS = ("nishimori_eps_gap", "nishimori_overlap_gap")
#: teacher-started minus prior-started chains (``init = "mixed"``; NaN otherwise)
START_GAPS = ("start_gap_gibbs", "start_gap_overlap")
#: how the summary's columns and the figure's legend name each gap
GAP_COLUMNS = {
    "nishimori_eps_gap": "eps_gibbs - 2 eps_bayes",
    "nishimori_overlap_gap": "q_st - q_ss",
    "start_gap_gibbs": "eps_gibbs teacher - prior start",
    "start_gap_overlap": "q_st teacher - prior start",
}


def summarize(ds: xr.Dataset) -> xr.Dataset:
    """Per (setting, d, alpha): mean and SE over seeds of the measured errors, of the paired
    difference ``eps_bayes - eps_theory_teacher``, and per (setting, alpha) their extrapolation
    to ``d -> infinity`` (``*_inf``, ``*_inf_se``) next to the ensemble theory. The Nishimori gaps
    (zero in expectation at any size, docs/theory.md 5) are also pooled over d and seeds
    (``*_pooled``, ``*_pooled_se``), and so are the start gaps of mixed-start runs (zero in
    equilibrium). With free-entropy columns: ``free_entropy_gap`` (``f_deep - f_glm``), with
    a teacher law (``dgep teacher-law``) its control-variate estimate ``free_entropy_gap_cv``,
    and ``evidence_ratio`` (``p_glm / p_deep``, 1 in expectation at any size) per d and pooled
    over d and seeds."""
    import xarray as xr

    out = {}
    ds = ds.assign(paired_diff=paired_difference(ds))
    estimates = {
        name: mean_se(ds[name])
        for name in ("eps_bayes", "eps_gibbs", "paired_diff", "overlap_st", "overlap_ss")
    }
    if "free_entropy" in ds and int(ds["free_entropy"].count()):
        estimates["free_entropy_gap"] = mean_se(free_entropy_gap(ds))
        if "law_delta_eff_teacher" in ds:
            fit = free_entropy_control(ds)
            estimates["free_entropy_gap_cv"] = fit.isel(fit=0), fit.isel(fit=1)
        ratio = evidence_ratio(ds)
        out["evidence_ratio"], out["evidence_ratio_se"] = mean_se(ratio)
        pooled = ratio.stack(sample=("d", "seed"))
        out["evidence_ratio_pooled"], out["evidence_ratio_pooled_se"] = mean_se(pooled, "sample")
        every = ratio.stack(sample=ratio.dims)
        out["evidence_ratio_all"], out["evidence_ratio_all_se"] = mean_se(every, "sample")
        out["evidence_ratio_points"] = every.count("sample")
        if "glm_data_free_entropy" in ds:
            out.update(two_sided_check(ds))
    for name, (mean, se) in estimates.items():
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
    for name in NISHIMORI_GAPS + tuple(g for g in START_GAPS if g in ds):
        out[name], out[f"{name}_se"] = mean_se(ds[name])
        pooled = ds[name].stack(sample=("d", "seed"))
        out[f"{name}_pooled"], out[f"{name}_pooled_se"] = mean_se(pooled, "sample")
    out["eps_theory"] = ds["eps_theory"].mean(("seed", "d"))
    out["eps_gibbs_theory"] = ds["eps_gibbs_theory"].mean(("seed", "d"))
    out["q_theory"] = ds["q_theory"].mean(("seed", "d"))
    out["n_seeds"] = ds["eps_bayes"].count("seed")
    attrs = {"specs": ds.attrs["specs"]} if "specs" in ds.attrs else {}
    return xr.Dataset(out, attrs=attrs).assign_coords(setting_label=ds["setting_label"])


def equilibrium_gaps(summary: xr.Dataset) -> tuple[str, ...]:
    """The gaps that vanish in equilibrium that a summary has values of: the Nishimori gaps, and
    the start gaps when the sweep had mixed starts."""
    started = tuple(g for g in START_GAPS if g in summary and int(summary[g].count()))
    return NISHIMORI_GAPS + started


#: how the summary names the free-entropy differences
EVIDENCE_COLUMNS = {
    "free_entropy_gap": "f_deep - f_glm",
    "free_entropy_gap_cv": "f_deep - f_glm cv",
}


def _table(head: list[str], rows: list[list[str]], markdown: bool) -> list[str]:
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        return lines + ["| " + " | ".join(row) + " |" for row in rows]
    widths = [max(len(c) for c in column) for column in zip(head, *rows, strict=True)]
    return [
        "  ".join(f"{c:>{w}}" for c, w in zip(row, widths, strict=True)) for row in [head, *rows]
    ]


def _pm(value: object, se: object) -> str:
    return f"{float(value):.4f} ± {float(se):.4f}"


def format_summary(summary: xr.Dataset, *, markdown: bool = False) -> str:
    """Per setting, one table: alpha, theory, measured eps_bayes per d (mean ± SE over seeds), its
    extrapolation d -> infinity, the paired difference to the per-teacher theory extrapolated, and
    the Nishimori gaps pooled over d and seeds (and, for mixed starts, the start gaps; a gap
    without values for the setting, as eps_gibbs - 2 eps_bayes on the sign channel, is left
    out), and the number of seeds per d. With one d there is no extrapolation: the paired
    difference at that d is shown. A non-centred teacher gets a line on how the theory treats its output offset
    (``theory.theory_note``). Plain text, or Markdown with ``markdown=True``."""
    from teacher_student import TeacherSpec

    from .theory import theory_note

    specs = json.loads(summary.attrs.get("specs", "[]"))
    lines = []
    for s in summary["setting"].values:
        sub = summary.sel(setting=s)
        label = sub["setting_label"].item()
        lines.append(f"### setting {s}: {label}" if markdown else f"setting {s}: {label}")
        note = theory_note(TeacherSpec.from_dict(specs[int(s)])) if int(s) < len(specs) else None
        if note:
            lines.append(f"note: {note}")
        ds_ = [int(d) for d in sub["d"].values]
        one_d = len(ds_) == 1
        fits = ["paired"] if one_d else ["d->inf", "paired d->inf"]
        head = ["alpha", "theory", *(f"d={d}" for d in ds_), *fits]
        gaps = [g for g in equilibrium_gaps(sub) if int(sub[f"{g}_pooled"].count())]
        evidence = [g for g in ("free_entropy_gap", "free_entropy_gap_cv") if g in sub]
        head += [*(GAP_COLUMNS[g] for g in gaps)]
        head += [f"{EVIDENCE_COLUMNS[g]}{'' if one_d else ' d->inf'}" for g in evidence]
        head += ["seeds"]
        rows = []
        for a in sub["alpha"].values:
            r = sub.sel(alpha=a)
            cells = [f"{a:g}", f"{float(r['eps_theory']):.4f}"]
            cells += [_pm(r["eps_bayes"].sel(d=d), r["eps_bayes_se"].sel(d=d)) for d in ds_]
            if one_d:
                cells.append(_pm(r["paired_diff"].isel(d=0), r["paired_diff_se"].isel(d=0)))
            names = (
                *(() if one_d else ("eps_bayes_inf", "paired_diff_inf")),
                *(f"{g}_pooled" for g in gaps),
            )
            cells += [_pm(r[name], r[f"{name}_se"]) for name in names]
            for gap in evidence:
                name = gap if one_d else f"{gap}_inf"
                value, se = r[name], r[f"{name}_se"]
                cells.append(_pm(value.isel(d=0), se.isel(d=0)) if one_d else _pm(value, se))
            cells.append("/".join(str(int(n)) for n in r["n_seeds"].values))
            rows.append(cells)
        lines += _table(head, rows, markdown)
        lines.append("")
    return "\n".join(lines)


def _signed_pm(value: object, se: object) -> str:
    return f"{float(value):+.4f} ± {float(se):.4f}"


def fit_chi2_total(mean: xr.DataArray, se: xr.DataArray, order: int) -> tuple[float, int]:
    """``fit_chi2`` of ``extrapolate``'s fit of that order, summed over every cell of
    ``mean``/``se`` (dims ``d`` and any others), and its degrees of freedom (per cell, the sizes
    with a finite SE less ``order + 1``, where positive)."""
    mean, se = mean.transpose(..., "d"), se.transpose(..., "d")
    inv_d = 1 / mean["d"].values
    chi2, dof = 0.0, 0
    cells = zip(mean.values.reshape(-1, inv_d.size), se.values.reshape(-1, inv_d.size), strict=True)
    for m, s in cells:
        free = int(np.sum(np.isfinite(m) & np.isfinite(s) & (s > 0))) - order - 1
        if free > 0:
            chi2, dof = chi2 + fit_chi2(inv_d, m, s, order), dof + free
    return chi2, dof


def format_free_entropy(summary: xr.Dataset, *, markdown: bool = False) -> str:
    """Of a summary with free-entropy columns: per estimate of ``f_deep - f_glm``
    (``EVIDENCE_COLUMNS``: the mean over teachers, and with a teacher law its control variate,
    docs/theory.md 8.1), one table over the settings and alphas: its mean ± SE per d, with
    several d its extrapolation ``d -> infinity`` and that over its SE (``z``), and the teachers
    per d. Under the plain mean's table, with three or more sizes: the ``chi^2`` of the fits
    ``a + b/d`` and ``a`` summed over the cells, with their degrees of freedom."""
    sizes = [int(d) for d in summary["d"].values]
    several = len(sizes) > 1
    lines = []
    for gap in (g for g in EVIDENCE_COLUMNS if g in summary):
        title = f"{EVIDENCE_COLUMNS[gap]} per d (nats per sample)"
        head = ["setting", "alpha", *(f"d={d}" for d in sizes)]
        head += ["d->inf", "z", "seeds"] if several else ["seeds"]
        rows = []
        for s in summary["setting"].values:
            for a in summary["alpha"].values:
                r = summary.sel(setting=s, alpha=a)
                cells = [r["setting_label"].item(), f"{a:g}"]
                cells += [_signed_pm(r[gap].sel(d=d), r[f"{gap}_se"].sel(d=d)) for d in sizes]
                if several:
                    value, se = float(r[f"{gap}_inf"]), float(r[f"{gap}_inf_se"])
                    cells += [_signed_pm(value, se), f"{value / se:+.1f}"]
                cells.append("/".join(str(int(n)) for n in r["n_seeds"].values))
                rows.append(cells)
        lines += [f"### {title}" if markdown else title, *_table(head, rows, markdown), ""]
        if gap == "free_entropy_gap" and len(sizes) > 2:
            fits = [fit_chi2_total(summary[gap], summary[f"{gap}_se"], k) for k in (1, 0)]
            (line, line_dof), (flat, flat_dof) = fits
            lines += [
                f"chi^2 of a + b/d: {line:.1f} / {line_dof}; of a: {flat:.1f} / {flat_dof}",
                "",
            ]
    if "evidence_ratio" in summary:
        lines += format_evidence_ratio(summary, markdown=markdown)
    if "evidence_bias" in summary:
        lines += format_two_sided(summary, markdown=markdown)
    return "\n".join(lines)


def format_two_sided(summary: xr.Dataset, *, markdown: bool = False) -> list[str]:
    """The table of ``two_sided_check`` per (setting, alpha, d) with GLM datasets: the estimate
    of ``f_deep``'s bias and its z, ``f_glm - f_deep`` on the GLM's data, and the datasets of
    each side; under it the bias's inverse-variance weighted mean over those cells and the
    ``chi^2`` of the cells about it."""
    head = ["setting", "alpha", "d", "bias of f_deep", "z", "f_glm - f_deep on GLM data"]
    head.append("datasets (deep/GLM)")
    rows, bias, se = [], [], []
    for s in summary["setting"].values:
        for a in summary["alpha"].values:
            for d in summary["d"].values:
                r = summary.sel(setting=s, alpha=a, d=d)
                value, err = float(r["evidence_bias"]), float(r["evidence_bias_se"])
                if not np.isfinite(value):
                    continue
                bias.append(value)
                se.append(err)
                rows.append(
                    [
                        r["setting_label"].item(),
                        f"{a:g}",
                        f"{int(d)}",
                        _signed_pm(value, err),
                        f"{value / err:+.1f}",
                        _signed_pm(r["reverse_gap"], r["reverse_gap_se"]),
                        f"{int(r['n_seeds'])}/{int(r['glm_datasets'])}",
                    ]
                )
    if not rows:
        return []
    title = "bias of f_deep, two-sided (nats per sample; 0 for an unbiased estimator)"
    w = 1 / np.array(se) ** 2
    mean = float(w @ np.array(bias) / w.sum())
    chi2 = float(w @ (np.array(bias) - mean) ** 2)
    pooled = f"{_signed_pm(mean, 1 / np.sqrt(w.sum()))}, chi^2 {chi2:.1f} / {len(rows) - 1}"
    return [
        f"### {title}" if markdown else title,
        *_table(head, rows, markdown),
        "",
        f"weighted mean over the {len(rows)} cells: {pooled}",
        "",
    ]


def _ratio_pm(value: object, se: object) -> str:
    return f"{float(value):.3f} ± {float(se):.3f}"


def format_evidence_ratio(summary: xr.Dataset, *, markdown: bool = False) -> list[str]:
    """The table of ``p_glm / p_deep`` (``evidence_ratio``, 1 in expectation at any size,
    docs/theory.md 8.2) over the settings and alphas: mean ± SE over the teachers per d, pooled
    over d, and the teachers per d; under it the mean over every point."""
    sizes = [int(d) for d in summary["d"].values]
    head = ["setting", "alpha", *(f"d={d}" for d in sizes), "pooled", "seeds"]
    rows = []
    for s in summary["setting"].values:
        for a in summary["alpha"].values:
            r = summary.sel(setting=s, alpha=a)
            cells = [r["setting_label"].item(), f"{a:g}"]
            cells += [
                _ratio_pm(r["evidence_ratio"].sel(d=d), r["evidence_ratio_se"].sel(d=d))
                for d in sizes
            ]
            cells.append(_ratio_pm(r["evidence_ratio_pooled"], r["evidence_ratio_pooled_se"]))
            cells.append("/".join(str(int(n)) for n in r["n_seeds"].values))
            rows.append(cells)
    title = "p_glm / p_deep per d (1 in expectation)"
    every = _ratio_pm(summary["evidence_ratio_all"], summary["evidence_ratio_all_se"])
    points = int(summary["evidence_ratio_points"])
    return [
        f"### {title}" if markdown else title,
        *_table(head, rows, markdown),
        "",
        f"every point: {every} ({points} points)",
        "",
    ]


#: the learners' columns (``[estimators]``), in the order the summary and ``plot_estimators``
#: show them, with their labels
LEARNERS = {
    "eps_ridge_bo": "ridge, lam_bo",
    "eps_ridge": "ridge, best lam",
    "eps_kernel_gp": "NNGP kernel ridge, lam = Delta",
    "eps_kernel": "NNGP kernel ridge, best lam",
    "eps_logistic": "logistic, best lam",
    "eps_logistic_theory": "logistic, asymptotic",
    "eps_trained": "trained network (Adam), best decay",
}


def has_learners(ds: xr.Dataset) -> bool:
    """Whether a sweep ran learners (``[estimators]``) at some point."""
    return any(name in ds and bool(int(ds[name].count())) for name in LEARNERS)


def format_learners(ds: xr.Dataset, *, markdown: bool = False) -> str:
    """Of ``open_results``'s dataset (with its ``setting`` dim): per setting and d, one table: alpha, the GLM's Bayes error ``eps_theory``, the posterior's
    ``eps_bayes`` and every learner that ran (mean ± SE over seeds), on the same points' data."""
    lines = []
    for s in ds["setting"].values:
        sub = ds.sel(setting=s)
        names = [n for n in LEARNERS if n in sub and int(sub[n].count())]
        if not names:
            continue
        for d in sub["d"].values:
            title = f"setting {s}: {sub['setting_label'].item()}, d = {int(d)}: learners"
            lines.append(f"### {title}" if markdown else title)
            head = ["alpha", "Bayes (theory)", "posterior", *(LEARNERS[n] for n in names)]
            rows = []
            for a in sub["alpha"].values:
                r = sub.sel(d=d, alpha=a)
                cells = [f"{a:g}", f"{float(r['eps_theory'].mean()):.4f}"]
                cells += [_pm(*mean_se(r[n])) for n in ("eps_bayes", *names)]
                rows.append(cells)
            lines += [*_table(head, rows, markdown), ""]
    return "\n".join(lines)


#: per-point sampler checks: (variable, "max" or "min", threshold, what crossing it means)
CHECKS = (
    ("rhat_max", "max", 1.05, "R-hat > 1.05: the chains disagree"),
    ("ess_min", "min", 100.0, "smallest ESS < 100: too few effective draws"),
    ("divergences", "max", 0.0, "divergent transitions"),
    ("bfmi_min", "min", 0.3, "E-BFMI < 0.3: the energy is explored poorly"),
    ("start_gap_z_max", "max", 4.0, "teacher- and prior-started chains disagree by > 4 SE"),
)


def format_diagnostics(ds: xr.Dataset) -> str:
    """One line per sampler check of ``CHECKS`` that some point fails: how many points, and the
    worst one (setting, d, alpha, seed and value); or one line saying that every point passes.
    Points without the variable (older runs) are skipped."""
    lines, checked = [], []
    points = int(ds["eps_bayes"].count())
    for name, side, threshold, meaning in CHECKS:
        if name not in ds or not int(ds[name].count()):
            continue
        checked.append(name)
        values = ds[name]
        failing = values > threshold if side == "max" else values < threshold
        if not bool(failing.any()):
            continue
        worst = values.argmax(...) if side == "max" else values.argmin(...)
        at = {dim: values[dim].values[int(i)] for dim, i in worst.items()}
        where = ", ".join(f"{k} {v:g}" if k == "alpha" else f"{k} {int(v)}" for k, v in at.items())
        worst_value = float(values.isel(worst))
        count = int(failing.sum())
        lines.append(f"{count} of {points} points: {meaning} (worst {worst_value:.3g} at {where})")
    return "\n".join(lines) or f"sampler checks: all {points} points pass ({', '.join(checked)})"


def summary_text(ds: xr.Dataset, *, markdown: bool = False) -> str:
    """What ``dgep summary`` prints of ``open_results``'s (or ``combine_sizes``'s) dataset: the
    comparison table per setting, the free-entropy tables when ``[evidence]`` ran, the learners'
    tables when ``[estimators]`` ran and the sampler checks (in Markdown under the heading
    ``### sampler checks``)."""
    summary = summarize(ds)
    parts = [format_summary(summary, markdown=markdown)]
    if any(gap in summary for gap in EVIDENCE_COLUMNS):
        parts.append(format_free_entropy(summary, markdown=markdown))
    if has_learners(ds):
        parts.append(format_learners(ds, markdown=markdown))
    parts.append(("### sampler checks\n" if markdown else "") + format_diagnostics(ds))
    return "\n".join(parts)


COMPARED = ("eps_bayes", "eps_gibbs", "overlap_st")
#: per-draw ESS whose cost per gradient evaluation ``compare_runs`` sets side by side
ESS_COMPARED = ("ess_output", "ess_gibbs")


def gradients(ds: xr.Dataset) -> xr.DataArray:
    """Gradient evaluations of each point after warmup: leapfrog steps per kept draw x kept
    draws (all chains) x thinning."""
    thinning = json.loads(ds.attrs["config"])["sampler"]["thinning"]
    return ds["steps_per_draw"] * ds["num_draws"] * thinning


def compare_runs(a: xr.Dataset, b: xr.Dataset) -> xr.Dataset:
    """Paired differences ``a - b`` of two sweeps over the same points (same seeds, hence the
    same teachers and data), e.g. informed against uninformed starts: mean and SE over seeds per
    (setting, d, alpha) of ``eps_bayes``, ``eps_gibbs`` and ``overlap_st``; and what the two
    samplers paid: ``steps_ratio``, the mean leapfrog steps per draw of ``a`` over ``b``'s, and
    ``{ess}_per_grad_ratio``, the mean ESS per gradient evaluation of ``a`` over ``b``'s (for
    ``ess_output``, which sets eps_bayes, and ``ess_gibbs``). Settings are matched by their
    label; points present in only one of the two are dropped."""
    import xarray as xr

    def by_label(ds: xr.Dataset) -> xr.Dataset:
        per_grad = {f"{e}_per_grad": ds[e] / gradients(ds) for e in ESS_COMPARED}
        kept = ds[[*COMPARED, "steps_per_draw"]].assign(per_grad)
        return kept.assign_coords(setting=ds["setting_label"].values)

    a, b = xr.align(by_label(a), by_label(b), join="inner")
    if not all(a.sizes[dim] for dim in ("setting", "d", "alpha", "seed")):
        raise ValueError("compare: the two results files have no point in common")
    out = {}
    for name in COMPARED:
        out[name], out[f"{name}_se"] = mean_se(a[name] - b[name])
    ratios = {"steps_ratio": "steps_per_draw"}
    ratios |= {f"{e}_per_grad_ratio": f"{e}_per_grad" for e in ESS_COMPARED}
    for ratio, name in ratios.items():
        out[ratio] = a[name].mean("seed") / b[name].mean("seed")
    return xr.Dataset(out)


def format_comparison(diff: xr.Dataset, *, markdown: bool = False) -> str:
    """Table of ``compare_runs``: per setting, d and alpha the paired differences ± SE, then the
    ratios A / B of leapfrog steps per draw and of ESS per gradient (output, Gibbs error)."""
    ratios = {"steps_ratio": "steps/draw A/B"}
    ratios |= {
        f"{e}_per_grad_ratio": f"ESS/grad {e.removeprefix('ess_')} A/B" for e in ESS_COMPARED
    }
    head = ["setting", "d", "alpha", *(f"Δ {name}" for name in COMPARED), *ratios.values()]
    rows = []
    for s in diff["setting"].values:
        for d in diff["d"].values:
            for a in diff["alpha"].values:
                r = diff.sel(setting=s, d=d, alpha=a)
                rows.append(
                    [str(s), str(int(d)), f"{a:g}"]
                    + [_pm(r[name], r[f"{name}_se"]) for name in COMPARED]
                    + [f"{float(r[name]):.2f}" for name in ratios]
                )
    return "\n".join(_table(head, rows, markdown))
