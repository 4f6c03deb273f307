"""Estimates over a sweep's teachers (seeds): mean and SE, the weighted fit in ``1/d`` and its
d -> infinity value, the control variate of the mean paired free-entropy difference
(docs/theory.md 8.1) and Bennett's two-sided bias of ``f_deep`` (docs/theory.md 8.2)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from teacher_student import Estimate

from .store import free_entropy_gap

if TYPE_CHECKING:
    import xarray as xr


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
