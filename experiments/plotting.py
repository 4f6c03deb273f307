"""Figures of a sweep: measured errors against the theory curve, the Nishimori checks, and with
``[evidence]`` the free entropy against the GLM's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from teacher_student import TeacherSpec

from .estimates import mean_se
from .store import atomic_write
from .summary import GAP_COLUMNS, LEARNERS, equilibrium_gaps, summarize

if TYPE_CHECKING:
    import xarray as xr


def _theory_curve(spec: TeacherSpec, alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from gle import bayes_optimal

    grid = np.geomspace(alphas.min() / 1.5, alphas.max() * 1.5, 200)
    return grid, bayes_optimal(spec, grid).eps_bo


def _errorbars(ax, x, mean, se, **style) -> None:
    ax.errorbar(x, mean, se, fmt=style.pop("fmt", "o"), ms=style.pop("ms", 4), **style)


LABELLED_ALPHAS = 10  # up to this many alphas get a tick label each; denser grids a log axis


def _alpha_axis(ax, alphas: np.ndarray) -> None:
    ax.set_xscale("log")
    if alphas.size <= LABELLED_ALPHAS:
        ax.set_xticks(alphas, [f"{a:g}" for a in alphas])
        ax.minorticks_off()


def _panels(n: int, rows_per_setting: int, size: tuple[float, float]):
    """A grid of at most three settings per row, ``rows_per_setting`` panels stacked each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(n, 3)
    grid_rows = -(-n // cols)
    fig, axes = plt.subplots(
        rows_per_setting * grid_rows,
        cols,
        figsize=(size[0] * cols, size[1] * grid_rows),
        squeeze=False,
    )
    for k in range(n, grid_rows * cols):  # empty cells of the last row
        for j in range(rows_per_setting):
            axes[rows_per_setting * (k // cols) + j, k % cols].set_visible(False)
    cells = [
        [axes[rows_per_setting * (k // cols) + j, k % cols] for j in range(rows_per_setting)]
        for k in range(n)
    ]
    return plt, fig, cells


def _save(plt, fig, out: str | Path) -> Path:
    """Write the figure atomically (``store.atomic_write``): a kill leaves the old one or none."""
    fig.tight_layout()
    out = Path(out)
    fmt = out.suffix.lstrip(".") or "png"
    atomic_write(out, lambda p: fig.savefig(p, dpi=110, format=fmt))
    plt.close(fig)
    return out


def plot_comparison(ds: xr.Dataset, out: str | Path) -> Path:
    """Per setting: top, measured ``eps_bayes`` (mean +- SE per d, extrapolation d -> infinity)
    on the GLM curve; bottom, the paired difference to each teacher's theory."""
    summary = summarize(ds)
    specs = [TeacherSpec.from_dict(s) for s in json.loads(ds.attrs["specs"])]
    plt, fig, cells = _panels(len(specs), 2, (4.8, 7))
    alphas = summary["alpha"].values
    num_d = summary.sizes["d"]
    colors = plt.cm.viridis(np.linspace(0.1, 0.8, num_d))
    for s, (spec, (top, bottom)) in enumerate(zip(specs, cells, strict=True)):
        sub = summary.isel(setting=s)
        grid, curve = _theory_curve(spec, alphas)
        top.plot(grid, curve, "k-", label="GLM theory (eps_bo)")
        for i, d in enumerate(sub["d"].values):
            r = sub.sel(d=d)
            x = alphas * (1 + 0.02 * (i - num_d / 2))
            _errorbars(
                top, x, r["eps_bayes"], r["eps_bayes_se"], color=colors[i], label=f"d = {int(d)}"
            )
            _errorbars(bottom, x, r["paired_diff"], r["paired_diff_se"], color=colors[i])
        if num_d > 1:  # an extrapolation needs two sizes or more
            inf = {"fmt": "s", "ms": 6, "mfc": "none", "color": "C3"}
            _errorbars(
                top,
                alphas,
                sub["eps_bayes_inf"],
                sub["eps_bayes_inf_se"],
                label="d -> inf (fit in 1/d)",
                **inf,
            )
            _errorbars(bottom, alphas, sub["paired_diff_inf"], sub["paired_diff_inf_se"], **inf)
        bottom.axhline(0, color="k", lw=0.8)
        top.set_title(spec.label(), fontsize=10)
        for ax in (top, bottom):
            _alpha_axis(ax, alphas)
        top.set_ylabel("Bayes error (mean +- SE over seeds)")
        bottom.set_ylabel("eps_bayes - eps_theory_teacher")
        bottom.set_xlabel("alpha = n / d")
        top.legend(fontsize=8)
    return _save(plt, fig, out)


def plot_nishimori(ds: xr.Dataset, out: str | Path) -> Path:
    """Per setting, the Nishimori gaps (docs/theory.md 5) against alpha, mean +- SE over seeds per d:
    ``eps_gibbs - 2 eps_bayes`` (regression) and ``overlap_st - overlap_ss``, and with mixed
    starts the start gaps (teacher- minus prior-started chains). Zero within error bars is what
    equilibrium in the Bayes-optimal setting gives, at any size."""
    summary = summarize(ds)
    plt, fig, cells = _panels(summary.sizes["setting"], 1, (4.8, 3.6))
    alphas = summary["alpha"].values
    num_d = summary.sizes["d"]
    for s, (ax,) in enumerate(cells):
        sub = summary.isel(setting=s)
        for i, d in enumerate(sub["d"].values):
            r = sub.sel(d=d)
            x = alphas * (1 + 0.03 * (i - num_d / 2))
            for k, gap in enumerate(equilibrium_gaps(sub)):
                if not int(r[gap].count()):  # undefined here (eps gap on the sign channel)
                    continue
                _errorbars(
                    ax,
                    x,
                    r[gap],
                    r[f"{gap}_se"],
                    fmt="o^sv"[k],
                    color=f"C{k}",
                    alpha=0.4 + 0.6 * i / num_d,
                    label=f"{GAP_COLUMNS[gap]}, d = {int(d)}",
                )
        ax.axhline(0, color="k", lw=0.8)
        _alpha_axis(ax, alphas)
        ax.set_title(str(sub["setting_label"].values), fontsize=10)
        ax.set_xlabel("alpha = n / d")
        ax.set_ylabel("gap, 0 in equilibrium (mean +- SE over seeds)")
        if ax.get_legend_handles_labels()[0]:  # no gap measured (every point failed): no legend
            ax.legend(fontsize=6)
    return _save(plt, fig, out)


def has_free_entropy(ds: xr.Dataset) -> bool:
    """Whether a sweep measured the free entropy (``[evidence]``) at some point."""
    return "free_entropy" in ds and bool(int(ds["free_entropy"].count()))


def plot_free_entropy(ds: xr.Dataset, out: str | Path) -> Path:
    """Per setting (docs/theory.md 8): top, the deep student's ``free_entropy`` and the GLM's
    on the same data, ``free_entropy_glm`` (mean +- SE over seeds per d), on the replica
    prediction ``free_entropy_theory``; bottom, the paired difference ``free_entropy -
    free_entropy_glm`` per d and its extrapolation d -> infinity (the theorem: 0)."""
    summary = summarize(ds)
    plt, fig, cells = _panels(summary.sizes["setting"], 2, (4.8, 7))
    alphas = summary["alpha"].values
    num_d = summary.sizes["d"]
    colors = plt.cm.viridis(np.linspace(0.1, 0.8, num_d))
    for s, (top, bottom) in enumerate(cells):
        sub, raw = summary.isel(setting=s), ds.isel(setting=s)
        theory = raw["free_entropy_theory"].mean(("d", "seed"))
        top.plot(alphas, theory, "k-", label="replica theory (GLM)")
        for i, d in enumerate(sub["d"].values):
            x = alphas * (1 + 0.02 * (i - num_d / 2))
            deep = mean_se(raw["free_entropy"].sel(d=d))
            glm = mean_se(raw["free_entropy_glm"].sel(d=d))
            _errorbars(top, x, *deep, color=colors[i], label=f"deep student, d = {int(d)}")
            _errorbars(
                top, x, *glm, fmt="x", color=colors[i], label=f"GLM, same data, d = {int(d)}"
            )
            r = sub.sel(d=d)
            _errorbars(
                bottom,
                x,
                r["free_entropy_gap"],
                r["free_entropy_gap_se"],
                color=colors[i],
                label=f"d = {int(d)}",
            )
        if num_d > 1:
            _errorbars(
                bottom,
                alphas,
                sub["free_entropy_gap_inf"],
                sub["free_entropy_gap_inf_se"],
                fmt="s",
                ms=6,
                mfc="none",
                color="C3",
                label="d -> inf (fit in 1/d)",
            )
        bottom.axhline(0, color="k", lw=0.8)
        top.set_title(str(sub["setting_label"].values), fontsize=10)
        for ax in (top, bottom):
            _alpha_axis(ax, alphas)
        top.set_ylabel("(1/n) ln p(Y | X), nats per sample")
        bottom.set_ylabel("free_entropy - free_entropy_glm")
        bottom.set_xlabel("alpha = n / d")
        top.legend(fontsize=7)
        bottom.legend(fontsize=7)
    return _save(plt, fig, out)


#: the learners drawn by ``plot_estimators``: the Bayes-optimal candidates at their prescribed
#: regularisation, and the grid's best of logistic regression and the trained network
PLOTTED = ("eps_ridge_bo", "eps_kernel_gp", "eps_logistic", "eps_trained")


def plot_estimators(ds: xr.Dataset, out: str | Path) -> Path:
    """Per setting: every learner's test error on the points' own data (mean +- SE over seeds,
    per d) next to the posterior's ``eps_bayes`` and the GLM's Bayes error ``eps_theory``
    (docs/theory.md 9, 10: ridge at lam_bo and kernel ridge at lam = Delta reach it
    asymptotically); logistic regression's asymptotic error where derived."""
    num = ds.sizes["setting"]
    plt, fig, cells = _panels(num, 1, (4.8, 3.8))
    alphas = ds["alpha"].values
    num_d = ds.sizes["d"]
    for s, (ax,) in enumerate(cells):
        raw = ds.isel(setting=s)
        ax.plot(
            alphas, raw["eps_theory"].mean(("d", "seed")), "k-", label="Bayes error (GLM theory)"
        )
        if "eps_logistic_theory" in raw and int(raw["eps_logistic_theory"].count()):
            theory = raw["eps_logistic_theory"].mean(("d", "seed"))
            ax.plot(alphas, theory, "k--", label="logistic, asymptotic")
        names = ["eps_bayes", *(n for n in PLOTTED if n in raw and int(raw[n].count()))]
        for k, name in enumerate(names):
            for i, d in enumerate(raw["d"].values):
                x = alphas * (1 + 0.03 * (k - len(names) / 2) + 0.01 * i)
                label = LEARNERS.get(name, "posterior (eps_bayes)")
                _errorbars(
                    ax,
                    x,
                    *mean_se(raw[name].sel(d=d)),
                    fmt="os^vDx"[k % 6],
                    color=f"C{k}",
                    alpha=0.4 + 0.6 * (i + 1) / num_d,
                    label=f"{label}, d = {int(d)}",
                )
        _alpha_axis(ax, alphas)
        ax.set_title(str(raw["setting_label"].values), fontsize=10)
        ax.set_xlabel("alpha = n / d")
        ax.set_ylabel("test error (mean +- SE over seeds)")
        ax.legend(fontsize=6)
    return _save(plt, fig, out)


def plot_sizes(ds: xr.Dataset, out: str | Path) -> Path:
    """Per setting, against ``1 / d``: top, the measured ``eps_bayes`` per alpha (mean +- SE over
    seeds) with its weighted fit ``a + b / d`` and the GLM's Bayes error at ``1 / d = 0``;
    bottom, the paired difference to each teacher's theory with its fit (docs/theory.md 7)."""
    from gle import bayes_optimal

    from .estimates import fit_coefficients

    summary = summarize(ds)
    specs = json.loads(ds.attrs["specs"])
    inv_d = 1 / summary["d"].values
    line = np.linspace(0, inv_d.max() * 1.05, 50)
    plt, fig, cells = _panels(summary.sizes["setting"], 2, (5.0, 3.4))
    for s, (top, bottom) in enumerate(cells):
        sub = summary.isel(setting=s)
        theory = bayes_optimal(TeacherSpec.from_dict(specs[s]), sub["alpha"].values).eps_bo
        for k, a in enumerate(sub["alpha"].values):
            for ax, name in ((top, "eps_bayes"), (bottom, "paired_diff")):
                mean, se = sub[name].sel(alpha=a).values, sub[f"{name}_se"].sel(alpha=a).values
                _errorbars(ax, inv_d, mean, se, color=f"C{k}", label=f"alpha = {a:g}")
                coef = fit_coefficients(inv_d, mean, se)
                if coef is not None:
                    ax.plot(line, coef[0] + coef[1] * line, color=f"C{k}", lw=0.8)
            top.plot([0], [theory[k]], "*", color=f"C{k}", ms=9)
        bottom.axhline(0, color="k", lw=0.8)
        top.set_title(f"{sub['setting_label'].item()} (stars: GLM theory)", fontsize=10)
        top.set_ylabel("eps_bayes")
        bottom.set_ylabel("eps_bayes - eps_theory_teacher")
        bottom.set_xlabel("1 / d")
        top.legend(fontsize=6, ncol=2)
    return _save(plt, fig, out)
