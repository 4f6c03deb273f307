"""The summary of a sweep's ``results.nc``: per (setting, d, alpha) means and SEs, their
d -> infinity extrapolation next to the theory, and the text tables of ``dgep summary``,
``dgep fill`` and ``dgep compare``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np

from .estimates import (
    evidence_ratio,
    extrapolate,
    fit_chi2,
    free_entropy_control,
    mean_se,
    two_sided_check,
)
from .store import free_entropy_gap, paired_difference

if TYPE_CHECKING:
    import xarray as xr


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
        out["evidence_ratio_mean_n"] = ds["n"].where(ratio.notnull()).mean()
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


def common_bias(summary: xr.Dataset) -> tuple[float, float]:
    """The low bias ``b`` (nats per sample) common to every ``f_deep`` that the mean of
    ``p_glm / p_deep`` over every point implies, and its SE: a bias ``b`` multiplies each ratio by
    ``e^(n b)`` (docs/theory.md 8.2), so to first order the mean is ``1 + b mean(n)`` and
    ``b = (mean - 1) / mean(n)``, SE ``SE(mean) / mean(n)``."""
    n = float(summary["evidence_ratio_mean_n"])
    mean, se = float(summary["evidence_ratio_all"]), float(summary["evidence_ratio_all_se"])
    return (mean - 1) / n, se / n


def format_evidence_ratio(summary: xr.Dataset, *, markdown: bool = False) -> list[str]:
    """The table of ``p_glm / p_deep`` (``evidence_ratio``, 1 in expectation at any size,
    docs/theory.md 8.2) over the settings and alphas: mean ± SE over the teachers per d, pooled
    over d, and the teachers per d; under it the mean over every point and the common bias of
    ``f_deep`` it implies (``common_bias``)."""
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
    mean_n = float(summary["evidence_ratio_mean_n"])
    bias, bias_se = common_bias(summary)
    return [
        f"### {title}" if markdown else title,
        *_table(head, rows, markdown),
        "",
        f"every point: {every} ({points} points, mean n {mean_n:.0f}; a low bias b common to "
        f"every f_deep: b = {bias:+.4f} ± {bias_se:.4f} nats per sample)",
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
