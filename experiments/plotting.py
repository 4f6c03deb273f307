"""Figures of a sweep: measured errors against the theory curve, and the Nishimori checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from teacher_student import TeacherSpec

from .results import summarize

if TYPE_CHECKING:
    import xarray as xr


def _theory_curve(spec: TeacherSpec, alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from gle import bayes_optimal

    grid = np.geomspace(alphas.min() / 1.5, alphas.max() * 1.5, 200)
    return grid, bayes_optimal(spec, grid).eps_bo


def plot_comparison(ds: xr.Dataset, out: str | Path) -> Path:
    """One column per setting: top, measured ``eps_bayes`` (mean +- SE per d, extrapolation
    d -> infinity) on the GLM curve; bottom, the paired difference to each teacher's theory."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = summarize(ds)
    specs = [TeacherSpec.from_dict(s) for s in json.loads(ds.attrs["specs"])]
    n = len(specs)
    fig, axes = plt.subplots(2, n, figsize=(4.8 * n, 7), squeeze=False, sharex="col")
    alphas = summary["alpha"].values
    colors = plt.cm.viridis(np.linspace(0.1, 0.8, summary.sizes["d"]))
    for s, spec in enumerate(specs):
        sub = summary.isel(setting=s)
        top, bottom = axes[0, s], axes[1, s]
        grid, curve = _theory_curve(spec, alphas)
        top.plot(grid, curve, "k-", label="GLM theory (eps_bo)")
        for i, d in enumerate(sub["d"].values):
            r = sub.sel(d=d)
            shift = 1 + 0.02 * (i - summary.sizes["d"] / 2)
            top.errorbar(
                alphas * shift,
                r["eps_bayes"],
                r["eps_bayes_se"],
                fmt="o",
                ms=4,
                color=colors[i],
                label=f"d = {int(d)}",
            )
            bottom.errorbar(
                alphas * shift,
                r["paired_diff"],
                r["paired_diff_se"],
                fmt="o",
                ms=4,
                color=colors[i],
            )
        top.errorbar(
            alphas,
            sub["eps_bayes_inf"],
            sub["eps_bayes_inf_se"],
            fmt="s",
            ms=6,
            mfc="none",
            color="C3",
            label="d -> inf (fit in 1/d)",
        )
        bottom.errorbar(
            alphas,
            sub["paired_diff_inf"],
            sub["paired_diff_inf_se"],
            fmt="s",
            ms=6,
            mfc="none",
            color="C3",
        )
        bottom.axhline(0, color="k", lw=0.8)
        top.set_title(spec.label(), fontsize=10)
        top.set_xscale("log")
        bottom.set_xticks(alphas, [f"{a:g}" for a in alphas])
        bottom.minorticks_off()
        top.set_ylabel("Bayes error (mean +- SE over seeds)")
        bottom.set_ylabel("eps_bayes - eps_theory_teacher")
        bottom.set_xlabel("alpha = n / d")
        top.legend(fontsize=8)
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_nishimori(ds: xr.Dataset, out: str | Path) -> Path:
    """Left: ``eps_gibbs`` against ``2 eps_bayes`` (regression); right: ``overlap_st`` against
    ``overlap_ss``. Points on the diagonal within error bars mean equilibrium."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 4.2))
    for s in ds["setting"].values:
        sub = ds.sel(setting=s)
        label = str(sub["setting_label"].values)
        if "gaussian" in label:
            left.errorbar(
                2 * sub["eps_bayes"].values.ravel(),
                sub["eps_gibbs"].values.ravel(),
                sub["eps_gibbs_se"].values.ravel(),
                fmt="o",
                ms=3,
                label=label,
            )
        right.errorbar(
            sub["overlap_ss"].values.ravel(),
            sub["overlap_st"].values.ravel(),
            sub["overlap_st_se"].values.ravel(),
            fmt="o",
            ms=3,
            label=label,
        )
    for ax, (xl, yl) in zip(
        (left, right),
        (
            ("2 eps_bayes", "eps_gibbs"),
            ("overlap_ss (student-student)", "overlap_st (student-teacher)"),
        ),
        strict=True,
    ):
        lo, hi = ax.get_xlim()
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        ax.legend(fontsize=7)
    left.set_title("Nishimori: E eps_gibbs = 2 E eps_bo")
    right.set_title("Nishimori: E q_st = E q_ss")
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
