"""The committed free-entropy sweeps (data/free_entropy/, docs/theory.md 8) against the theory.

The data come from the deep teacher, so ``E[f_deep - f_glm] = KL(p_deep(Y|X) || p_glm(Y|X)) / n
>= 0`` at every size (the GLM is the misspecified model), and the theorem says it vanishes as
d -> infinity: each paired difference must not be significantly negative (the tempered-SMC
estimate of ``f_deep`` is biased low, which would show as one). Tolerances: each test asserts
over a family of cells (settings x alphas x sizes) whose means have sample standard errors over
N teachers (8, or more where a precision round added some), so a cell's ``mean / SE`` is
Student-t with N - 1 degrees of freedom, not normal: with 8 teachers a fixed
3-SE cut has a one-sided false-alarm rate of 1.0 % per cell, 15 % over the 16 cells of one size
and 47 % over all 64 if every difference were 0. The thresholds are instead Bonferroni bounds at
a family-wise false-alarm rate ``FAMILY_LEVEL`` (``t_bound``)."""

import functools
import json
import re
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from experiments.cli import main
from experiments.estimates import (
    control_variate,
    evidence_ratio,
    extrapolate,
    mean_se,
    two_sided_check,
)
from experiments.results import combine_sizes, open_results
from experiments.summary import common_bias, summarize
from experiments.sweep import teachers_needed
from gle import equivalent_glm, free_entropy_theory, glm_log_evidence
from teacher_student import TeacherSpec, problem_seeds, sample_teacher

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "free_entropy"
RUNS = sorted(p.parent.name for p in DATA.glob("d*/results.nc"))


@pytest.fixture(scope="module", params=RUNS)
def run(request):
    return open_results(DATA / request.param / "results.nc")


FAMILY_LEVEL = 0.01


def t_bound(cells: int, dof, sides: int = 1):
    """The ``|mean / SE|`` one of ``cells`` Student-t statistics (``dof`` degrees of freedom)
    exceeds by chance with probability ``FAMILY_LEVEL / (sides * cells)``, so that any of them
    does with at most ``FAMILY_LEVEL`` (Bonferroni)."""
    return stats.t.isf(FAMILY_LEVEL / (sides * cells), dof)


def fit_dof(inv_d: np.ndarray, se: np.ndarray, dof: np.ndarray) -> float:
    """Welch-Satterthwaite degrees of freedom of ``extrapolate``'s ``c0 = sum_i a_i m_i``, linear
    in means ``m_i`` with sample SEs ``se_i`` (``dof_i``; ``a_i`` is ``c0`` of the i-th unit
    vector): ``(sum_i v_i)^2 / sum_i (v_i^2 / dof_i)``, ``v_i = a_i^2 se_i^2``."""
    a = np.array([extrapolate(inv_d, unit, se).value for unit in np.eye(len(se))])
    v = a**2 * se**2
    return float(v.sum() ** 2 / np.sum(v**2 / dof))


def finished(ds):
    """The (setting, d, alpha) cells with at least the config's listed seeds finished (a
    standard-error target, ``[run] target_free_entropy_se``, adds seeds to some cells)."""
    listed = len(json.loads(ds.attrs["config"])["run"]["seeds"])
    return ds["free_entropy"].count("seed") >= listed


def test_the_stored_replica_prediction_is_gles(run):
    """``free_entropy_theory`` of every finished point equals gle's at its realised n / d and
    its d (the output offset's finite-n term)."""
    specs = [TeacherSpec.from_dict(s) for s in json.loads(run.attrs["specs"])]
    for s, spec in enumerate(specs):
        sub = run.isel(setting=s).stack(point=("d", "alpha", "seed")).dropna("point", subset=["n"])
        glm, sizes = equivalent_glm(spec), sub["d"].values
        alpha = sub["n"].values / sizes
        expected = [
            free_entropy_theory(glm, a, d=int(d))[0] for a, d in zip(alpha, sizes, strict=True)
        ]
        np.testing.assert_allclose(sub["free_entropy_theory"].values, expected, rtol=1e-9)


def test_the_deep_student_is_not_below_the_glm(run):
    """KL >= 0: ``free_entropy - free_entropy_glm`` is not significantly negative at any finished
    (setting, d, alpha) (one-sided, ``t_bound`` over the finished cells with each cell's
    degrees of freedom: 5.2 SE for one of 16 cells of 8 teachers, 3.6 for 32), nor pooled over
    the alphas of each setting (32-143 teachers: 2.9-3.0 SE for 4). Measured: lowest -3.5 SE per
    cell (the sign channel at d = 60, alpha = 2), -0.2 pooled."""
    summary = summarize(run)
    done = finished(run)
    gap, se = summary["free_entropy_gap"], summary["free_entropy_gap_se"]
    cells = int(done.sum())
    assert cells > 0
    bound = t_bound(cells, run["free_entropy"].count("seed") - 1)
    assert bool((gap > -bound * se).where(done, True).all()), (gap / se).where(done).values
    pooled = (run["free_entropy"] - run["free_entropy_glm"]).where(done)
    samples = pooled.stack(sample=("alpha", "seed"))
    mean, err = mean_se(samples, "sample")
    started = np.isfinite(mean)  # a setting with no finished cell yet (a sweep in progress)
    bound = t_bound(int(started.sum()), samples.count("sample") - 1)
    assert bool(started.any()) and bool((mean > -bound * err).where(started, True).all()), (
        mean / err
    ).values


def test_the_stored_glm_evidence_is_the_exact_one_on_the_points_data(run):
    """``free_entropy_glm`` of every finished Gaussian-channel point is gle's exact log evidence
    on that point's data, drawn again from its seed. (That its mean over deep teachers is the
    replica prediction is tested in tests/test_gle_free_entropy.py.)"""
    specs = [TeacherSpec.from_dict(s) for s in json.loads(run.attrs["specs"])]
    for s, spec in enumerate(specs):
        if spec.channel != "gaussian":
            continue
        glm = equivalent_glm(spec)
        sub = run.isel(setting=s).stack(point=("d", "alpha", "seed")).dropna("point", subset=["n"])
        for d, n, seed, stored in zip(
            sub["d"].values,
            sub["n"].values,
            sub["seed"].values,
            sub["free_entropy_glm"].values,
            strict=True,
        ):
            seeds = problem_seeds(int(seed))
            train = sample_teacher(spec, int(d), seeds.teacher).sample(int(n), seeds.train)
            assert glm_log_evidence(train.x, train.y, glm) == pytest.approx(stored, rel=1e-12)


def test_the_estimators_standard_errors_are_small_next_to_the_spread_over_teachers(run):
    """The reported SE of ``free_entropy`` (over the SMC replicas) is below the spread of the
    paired difference over teachers, so the seeds, not the estimator, set the precision."""
    done = finished(run)
    spread = (run["free_entropy"] - run["free_entropy_glm"]).std("seed", ddof=1)
    estimator = run["free_entropy_se"].mean("seed")
    assert bool((estimator < spread).where(done, True).all())


def test_the_low_bias_of_the_estimate_is_small(run):
    """The log of an unbiased SMC estimate is biased low by half the variance of one replica's
    ``ln p(Y | X)``: per sample ``n Var(f_replica) / 2 = n R SE^2 / 2`` with the point's ``R``
    replicas (``evidence_replicas``). Averaged over the teachers of every finished (setting, d,
    alpha), the share of the mean paired difference, it is below one SE of that mean."""
    replicas = run["evidence_replicas"]
    bias = (0.5 * run["n"] * replicas * run["free_entropy_se"] ** 2).mean("seed")
    done = finished(run)
    _, se = mean_se(run["free_entropy"] - run["free_entropy_glm"])
    assert bool((bias < se).where(done, True).all()), (bias / se).values


def law_runs():
    """The committed sizes with a teacher law (``dgep teacher-law``, docs/theory.md 8.1)."""
    runs = [open_results(DATA / name / "results.nc") for name in RUNS]
    return [ds for ds in runs if "law_delta_eff_teacher" in ds]


def test_the_teacher_law_is_the_law_of_the_sweeps_teachers():
    """The law's ``Delta_eff_T`` (independent teachers) and the sweep's (its seeds; a seed's
    teacher is the same at every alpha) have the same mean at every (setting, d) the law has:
    Welch t within ``t_bound`` (two-sided) over those cells, with the sweep's N - 1 degrees of
    freedom. A law measured another way (other inputs, another teacher) would fail it."""
    cells = []
    for ds in law_runs():
        sweep = ds["delta_eff_teacher"].isel(alpha=0)
        law = ds["law_delta_eff_teacher"]
        for s in ds["setting"].values:
            for d in ds["d"].values:
                a, b = (v.sel(setting=s, d=d).values for v in (sweep, law))
                a, b = a[np.isfinite(a)], b[np.isfinite(b)]
                if len(b) > 1:
                    se = np.hypot(a.std(ddof=1) / np.sqrt(len(a)), b.std(ddof=1) / np.sqrt(len(b)))
                    cells.append(((a.mean() - b.mean()) / se, len(a) - 1))
    if not cells:
        pytest.skip("no teacher law committed")
    for t, dof in cells:
        assert abs(t) < t_bound(len(cells), dof, sides=2), cells


def test_the_control_variate_is_not_below_the_glm():
    """KL >= 0 for the control-variate estimate too (``f_deep - f_glm cv``, docs/theory.md 8.1):
    not significantly negative at any finished (setting, d, alpha) with a law (one-sided,
    ``t_bound`` over those cells with N - 2 degrees of freedom)."""
    cells = []
    for ds in law_runs():
        summary = summarize(ds)
        done = finished(ds) & summary["free_entropy_gap_cv_se"].notnull()
        z = (summary["free_entropy_gap_cv"] / summary["free_entropy_gap_cv_se"]).where(done)
        dof = ds["free_entropy"].count("seed") - 2
        cells += [
            (float(t), int(n))
            for t, n in zip(z.values.ravel(), dof.values.ravel(), strict=True)
            if np.isfinite(t)
        ]
    if not cells:
        pytest.skip("no teacher law committed")
    for t, dof in cells:
        assert t > -t_bound(len(cells), dof), cells


def oracle_gap(spec: TeacherSpec, d: int, n: int, seed: int, rho: float, delta_eff: float):
    """``f_glm`` with the teacher's own ``rho_T``, ``Delta_eff_T`` minus ``f_glm`` with the
    population's, on the data of seed ``seed``: a difference that grows with the teacher's
    distance from the population as ``f_deep - f_glm`` does, and whose mean over teachers the
    law gives exactly (it needs no evidence estimate)."""
    glm = equivalent_glm(spec)
    seeds = problem_seeds(seed)
    train = sample_teacher(spec, d, seeds.teacher).sample(n, seeds.train)
    own = glm._replace(rho=rho, delta_eff=delta_eff)
    return glm_log_evidence(train.x, train.y, own) - glm_log_evidence(train.x, train.y, glm)


#: the law's teachers whose ``oracle_gap`` gives the truth in the control variate's check
ORACLE_TEACHERS = 100


def oracle_gaps(spec, d, n, ds, seed, rho, delta_eff):
    """``oracle_gap`` of each teacher of ``ds``, named by its variables ``seed``, ``rho`` and
    ``delta_eff``."""
    columns = (ds[name].values for name in (seed, rho, delta_eff))
    return np.array(
        [oracle_gap(spec, d, n, int(s), r, de) for s, r, de in zip(*columns, strict=True)]
    )


def test_the_control_variate_finds_the_laws_mean_of_an_oracle_gap():
    """``control_variate`` on the committed teachers, applied to ``oracle_gap`` instead of
    ``f_deep - f_glm``, against that gap's mean over the law's first ``ORACLE_TEACHERS`` (the
    truth here): within ``t_bound`` (two-sided, N - 2 degrees of freedom) of their combined SE
    at every alpha of the Gaussian settings with an output offset (relu-relu, whose law of
    ``Delta_eff_T`` has the heavy tail) at the largest committed d with a law. Measured at
    d = 60, where this gap correlates with ``f_deep - f_glm`` at 0.95 for alpha >= 1: -0.9,
    +0.1, +0.6, +0.8 SE."""
    runs = law_runs()
    if not runs:
        pytest.skip("no teacher law committed")
    ds = max(runs, key=lambda r: int(r["d"].max())).isel(d=-1)
    d, specs = int(ds["d"]), [TeacherSpec.from_dict(s) for s in json.loads(ds.attrs["specs"])]
    cells = []
    for s, spec in enumerate(specs):
        law, de0 = ds.isel(setting=s), float(ds["delta_eff_theory"].isel(setting=s).max())
        heavy = equivalent_glm(spec).offset_var > 0  # relu-relu: the heavy-tailed law
        if spec.channel != "gaussian" or not heavy or not law["law_delta_eff_teacher"].count():
            continue
        z_law = (law["law_delta_eff_teacher"].values - de0) ** 2
        first = law.isel(law_teacher=slice(ORACLE_TEACHERS))
        for a in range(ds.sizes["alpha"]):
            sub = law.isel(alpha=a).dropna("seed", subset=["free_entropy"])
            n = int(sub["n"].max())
            sweep = oracle_gaps(spec, d, n, sub, "seed", "rho_teacher", "delta_eff_teacher")
            truth = oracle_gaps(
                spec, d, n, first, "law_teacher", "law_rho_teacher", "law_delta_eff_teacher"
            )
            z = (sub["delta_eff_teacher"].values - de0) ** 2
            estimate, se = control_variate(sweep, z, z_law)
            err = np.hypot(se, truth.std(ddof=1) / np.sqrt(len(truth)))
            cells.append(((estimate - truth.mean()) / err, len(sweep) - 2))
    for t, dof in cells:
        assert abs(t) < t_bound(len(cells), dof, sides=2), cells


def test_the_extrapolated_paired_difference_vanishes():
    """The theorem: ``free_entropy - free_entropy_glm`` extrapolated in 1/d to d -> infinity is
    0 within ``t_bound`` (two-sided, over the 16 (setting, alpha), each with the
    Welch-Satterthwaite degrees of freedom of its fit, ``fit_dof``), each fitted over the sizes
    where all its teachers are finished (d = 20-60). The measured values are the ``z`` column of
    data/free_entropy/README.md's first table."""
    runs = [open_results(DATA / name / "results.nc") for name in RUNS]
    if sum(bool(finished(ds).all()) for ds in runs) < 2:
        pytest.skip("fewer than two complete sizes committed; the fit in 1/d needs two")
    combined = combine_sizes([ds.where(finished(ds)) for ds in runs])
    summary = summarize(combined)
    inf, se = summary["free_entropy_gap_inf"], summary["free_entropy_gap_inf_se"]
    dof = combined["free_entropy"].count("seed") - 1
    inv_d = 1 / combined["d"].values
    z = (inf / se).values
    for s in range(z.shape[0]):
        for a in range(z.shape[1]):
            cell = {"setting": s, "alpha": a}
            ok = dof.isel(cell).values > 0
            nu = fit_dof(
                inv_d[ok],
                summary["free_entropy_gap_se"].isel(cell).values[ok],
                dof.isel(cell).values[ok],
            )
            assert abs(z[s, a]) < t_bound(z.size, nu, sides=2), (s, a, z[s, a], nu)


def test_the_glm_to_deep_evidence_ratio_is_not_above_one(run):
    """``p_glm / p_deep = exp(-n (f_deep - f_glm))`` has mean 1 over the teachers at any size
    (docs/theory.md 8.2), and a low bias ``b`` of ``f_deep`` multiplies it by ``e^(n b)``: no
    finished (setting, d, alpha) has a mean significantly above 1 (one-sided, ``t_bound`` over
    the finished cells with N - 1 degrees of freedom). A mean below 1 is what datasets the GLM
    explains far better than the deep student, rare and so often unsampled, leave; the two-sided
    check reads them from the GLM's side. The measured ratios are the ``p_glm / p_deep`` table
    of data/free_entropy/README.md."""
    summary = summarize(run)
    done = finished(run)
    z = ((summary["evidence_ratio"] - 1) / summary["evidence_ratio_se"]).where(done)
    bound = t_bound(int(done.sum()), run["free_entropy"].count("seed") - 1)
    assert bool((z < bound).where(done, True).all()), z.values


def test_over_every_point_the_evidence_ratio_is_one():
    """Over every point of every committed size (d = 20-60), the mean of ``p_glm / p_deep``
    is 1 within ``t_bound`` (two-sided, one test); a low bias of ``b`` nats per sample in every
    ``f_deep`` would raise it by about ``b`` times the points' mean ``n``. The measured mean is
    the ``every point`` line of data/free_entropy/README.md."""
    runs = [open_results(DATA / name / "results.nc") for name in RUNS]
    ratio = [summarize(ds) for ds in runs]
    total = sum(int(r["evidence_ratio_points"]) for r in ratio)
    mean = sum(float(r["evidence_ratio_all"]) * int(r["evidence_ratio_points"]) for r in ratio)
    values = np.concatenate(
        [
            np.exp(-ds["n"] * (ds["free_entropy"] - ds["free_entropy_glm"])).values.ravel()
            for ds in runs
        ]
    )
    sizes = np.concatenate(
        [ds["n"].broadcast_like(ds["free_entropy"]).values.ravel() for ds in runs]
    )
    sizes = sizes[np.isfinite(values)]
    values = values[np.isfinite(values)]
    assert len(values) == total and mean / total == pytest.approx(values.mean())
    se = values.std(ddof=1) / np.sqrt(total)
    assert abs(values.mean() - 1) < t_bound(1, total - 1, sides=2) * se, (values.mean(), se)
    pooled = summarize(combine_sizes(runs))
    assert common_bias(pooled) == pytest.approx(
        ((values.mean() - 1) / sizes.mean(), se / sizes.mean())
    )


def test_the_readme_quotes_the_free_entropy_summary():
    """The top README's figures for the free entropy are the summary's of every committed size
    (the tables ``dgep fill --check`` keeps in data/free_entropy/README.md): tanh-tanh's paired
    difference at alpha = 4 per d, the extrapolated cells within the SE bound it quotes and the z
    of the other, and ``p_glm / p_deep`` over every point."""
    summary = summarize(combine_sizes([open_results(DATA / n / "results.nc") for n in RUNS]))
    text = " ".join((ROOT / "README.md").read_text().split())
    labels = list(summary["setting_label"].values)
    gap = summary["free_entropy_gap"].sel(setting=labels.index("tanh-tanh gaussian noise=0.1"))
    quoted = re.search(r"tanh-tanh ([\d.]+ -> [\d.]+ -> [\d.]+ -> [\d.]+)", text)
    assert quoted is not None
    assert quoted[1] == " -> ".join(f"{v:.3f}" for v in gap.sel(alpha=4.0).values)
    z = (summary["free_entropy_gap_inf"] / summary["free_entropy_gap_inf_se"]).values.ravel()
    quoted = re.search(r"within (\S+) SE of 0 in (\d+) of (\d+) cells \(the 16th, (\S+) SE", text)
    assert quoted is not None
    bound = float(quoted[1])
    assert quoted.groups()[1:] == (str(z.size - 1), str(z.size), f"{z[abs(z) >= bound][0]:.1f}")
    assert np.sum(abs(z) < bound) == z.size - 1, z
    quoted = re.search(r"averages (\S+) \+- (\S+) over the (\d+) points", text)
    assert quoted is not None
    assert quoted.groups() == (
        f"{float(summary['evidence_ratio_all']):.3f}",
        f"{float(summary['evidence_ratio_all_se']):.3f}",
        str(int(summary["evidence_ratio_points"])),
    )


TARGET = 0.002  # the rounds' bound on the SE of the paired difference, nats per sample
#: ``dgep check``'s projection of a precision round (data/free_entropy/README.md, "Precision")
PRECISION_ROUND = [
    *("--set", f"run.target_free_entropy_se={TARGET}", "--set", "run.max_seeds=2048"),
    *("--set", "run.workers=2", "--set", "evidence.replicas=2"),
    *("--set", 'sampler.chain_method="vectorized"'),
]


@pytest.mark.parametrize("d", [20, 30, 45, 60])
def test_the_precision_table_is_dgep_checks_projection(d, capsys):
    """Each row of data/free_entropy/README.md's precision table is what ``dgep check --out dD``
    projects from the committed points: the range of teachers the Gaussian cells that miss the
    target need and their core-hours, rounded; no sign-channel cell among them. Where none is
    needed, the row says met, with the Gaussian cells' range of SEs (the smaller of the plain and
    control-variate ones), and the plain mean's cells that meet it and the others' range."""
    config = ROOT / "experiments" / "configs" / "free_entropy.toml"
    argv = ["check", str(config), "--set", f"data.d=[{d}]", *PRECISION_ROUND]
    assert main([*argv, "--out", str(DATA / f"d{d}")]) == 0
    out = capsys.readouterr().out
    projection = out.split("to reach")[1] if "to reach" in out else ""
    cells = re.findall(rf"setting (\d), d = {d}: (.*)", projection)
    needed = [int(m) for _, row in cells for m in re.findall(r"-> (\d+)", row)]
    assert all(setting != "3" for setting, _ in cells)
    precision = (DATA / "README.md").read_text().split("## Precision")[1]
    row = re.search(rf"^\| {d} \| (.*?) \| (.*?) \|", precision, re.M)
    assert row is not None
    if needed:
        hours = float(re.search(r"([\d.]+) core-h", out)[1])
        assert (row[1], row[2]) == (f"{min(needed)}-{max(needed)}", f"{hours:.1f} core-hours")
        return
    summary = summarize(open_results(DATA / f"d{d}" / "results.nc"))
    labels = list(summary["setting_label"].values)
    gaussian = [i for i, label in enumerate(labels) if " gaussian " in label]
    plain = summary["free_entropy_gap_se"].sel(setting=gaussian).values.ravel()
    best = np.fmin(plain, summary["free_entropy_gap_cv_se"].sel(setting=gaussian).values.ravel())
    missed = plain[plain > TARGET]
    assert row[2] == "none" and row[1] == (
        f"met with the control variate (SE {best.min():.4f}-{best.max():.4f}; plain mean: met in "
        f"{plain.size - missed.size} of {plain.size} cells, SE {missed.min():.4f}-{missed.max():.4f}"
        " in the others)"
    )


def test_the_relative_target_is_the_readmes():
    """The Precision section's alternative target, 10 % of each setting's largest |mean| paired
    difference over the committed sizes and alphas: its range, and the one setting above 0.002."""
    summary = summarize(combine_sizes([open_results(DATA / n / "results.nc") for n in RUNS]))
    relative = 0.1 * abs(summary["free_entropy_gap"]).max(("d", "alpha")).values
    labels = [label.split()[0] for label in summary["setting_label"].values]
    above = [f"{label} ({r:.4f})" for label, r in zip(labels, relative, strict=True) if r > TARGET]
    text = " ".join((DATA / "README.md").read_text().split())
    assert (
        f"is {relative.min():.4f}-{relative.max():.4f}, below {TARGET} but for {', '.join(above)};"
    ) in text


def two_sided_cells() -> tuple[np.ndarray, np.ndarray]:
    """Bennett's estimate of the bias of ``f_deep`` and its SE in every cell of the committed
    sizes that ``dgep glm-data`` added the GLM's side to (``glm_data.nc``)."""
    cells = []
    for name in RUNS:
        summary = summarize(open_results(DATA / name / "results.nc"))
        if "evidence_bias" in summary:
            bias, se = summary["evidence_bias"].values, summary["evidence_bias_se"].values
            ok = np.isfinite(bias)
            cells += list(zip(bias[ok], se[ok], strict=True))
    return np.array(cells).reshape(-1, 2).T


def test_the_two_sided_estimate_of_the_evidence_bias_is_zero():
    """Where ``dgep glm-data`` added the GLM's side (``glm_data.nc``), Bennett's estimate of
    the bias of ``f_deep`` (docs/theory.md 8.2) is 0 within ``t_bound`` of its SE (two-sided,
    over those cells, normal: its SE is that of 32 + 32 datasets), per cell and in their
    inverse-variance weighted mean."""
    bias, se = two_sided_cells()
    if not bias.size:
        pytest.skip("no glm_data.nc committed")
    bound = stats.norm.isf(FAMILY_LEVEL / (2 * bias.size))
    assert (np.abs(bias / se) < bound).all(), bias / se
    w = 1 / se**2
    pooled = float(w @ bias / w.sum()) * np.sqrt(w.sum())
    assert abs(pooled) < stats.norm.isf(FAMILY_LEVEL / 2), pooled


NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def test_the_readmes_quote_the_evidence_checks():
    """The figures data/free_entropy/README.md (and the top README) quote for the two checks of
    ``f_deep``'s estimator, recomputed: the highest ``p_glm / p_deep`` cell over the sizes and
    the bound on every other's z; at d = 20 the bound on each two-sided bias's z and, for
    tanh-tanh at alpha = 4, the ratio and two-sided bias from its first 32 teachers and from all,
    and the range of the ratios above 10 among the teachers past 32; the two-sided bias weighted
    over every cell that has one."""
    text = " ".join((DATA / "README.md").read_text().split())
    top = " ".join((ROOT / "README.md").read_text().split())
    runs = {name: open_results(DATA / name / "results.nc") for name in RUNS}

    ratio = summarize(combine_sizes(list(runs.values())))
    z = ((ratio["evidence_ratio"] - 1) / ratio["evidence_ratio_se"]).values.ravel()
    z = np.sort(z[np.isfinite(z)])
    quoted = re.search(r"The highest, \+(\S+) SE .* and every other is below \+(\S+) SE", text)
    assert quoted is not None
    assert f"{z[-1]:.1f}" == quoted[1] and z[-2] < float(quoted[2]), z[-3:]

    d20 = runs["d20"]
    bias = summarize(d20)
    z = (bias["evidence_bias"] / bias["evidence_bias_se"]).values
    quoted = re.search(r"At d = 20 the bias is 0 within (\S+) SE in each of the (\w+) cells", text)
    assert quoted is not None
    z = z[np.isfinite(z)]
    assert np.abs(z).max() <= float(quoted[1]) and quoted[2] == NUMBER_WORDS[z.size]

    def checks(cell):
        values = evidence_ratio(cell).squeeze().dropna("seed")
        mean, se = (float(v) for v in mean_se(values))
        bias = two_sided_check(cell)
        b, b_se = float(bias["evidence_bias"].squeeze()), float(bias["evidence_bias_se"].squeeze())
        return values.values, f"{mean:.3f} +- {se:.3f}", f"{b:+.4f} +- {b_se:.4f}"

    cell = d20.sel(setting=[1], alpha=[4.0])
    _, first_ratio, first_bias = checks(cell.isel(seed=slice(0, 32)))
    every, every_ratio, every_bias = checks(cell)
    tail = every[32:][every[32:] > 10]
    mean = first_ratio.split()[0]
    expected = (
        f"its first 32 teachers gave a ratio of {first_ratio}, a bias of "
        f"+{-np.log(float(mean)) / 80:.4f} per sample (`-ln({mean}) / 80`) if it were all bias, "
        f"where the two sides put it at {first_bias}. The {every.size} teachers of the precision "
        f"round, {NUMBER_WORDS[tail.size]} of them with ratios of {tail.min():.0f}-"
        f"{tail.max():.0f}, give {every_ratio} and a two-sided bias of {every_bias}"
    )
    assert expected in text

    b, se = two_sided_cells()
    w = 1 / se**2
    pooled = f"{w @ b / w.sum():+.4f} +- {1 / np.sqrt(w.sum()):.4f}"
    assert f"Over all {NUMBER_WORDS[b.size]} cells the weighted mean is {pooled}" in text
    assert f"puts the bias of `f_deep` at {pooled} nats per sample" in top


@functools.cache
def committed(d: int):
    """The committed results of ``data/free_entropy/d{d}``, opened once."""
    return open_results(DATA / f"d{d}" / "results.nc")


def cell_need(
    d: int, label: str, alpha: float, num: int | None = None
) -> tuple[int, int, list[float]]:
    """The setting ``label`` at (d, alpha) over its first ``num`` finished teachers (all by
    default), in seed order: their number, ``n`` and the mean paired difference, its plain and
    control-variate SEs and ``teachers_needed`` from the smaller at ``TARGET`` (``dgep check``)."""
    ds = committed(d)
    setting = list(ds["setting_label"].values).index(label)
    cell = ds.sel(setting=[setting], alpha=[alpha])
    cell = cell.sel(seed=cell["seed"][cell["free_entropy"].squeeze().notnull().values][:num])
    s = summarize(cell)
    gap, plain, cv = (
        float(s[name].squeeze())
        for name in ("free_entropy_gap", "free_entropy_gap_se", "free_entropy_gap_cv_se")
    )
    num = cell.sizes["seed"]
    return num, int(cell["n"].max()), [gap, plain, cv, teachers_needed(num, min(plain, cv), TARGET)]


def relu_need(d: int, alpha: float, num: int | None = None) -> tuple[int, int, list[float]]:
    """``cell_need`` of relu-relu on the Gaussian channel."""
    return cell_need(d, "relu-relu gaussian noise=0.1", alpha, num)


def test_the_need_as_teachers_grow_is_recomputed():
    """Each row of data/free_entropy/README.md's table of relu-relu's projected need over the first
    N teachers of a cell (``relu_need``), and the Precision section's example of the bound that
    the log-likelihood ratio's own spread sets, ``2 E / (n 0.002^2)`` teachers."""
    text = (DATA / "README.md").read_text()
    rows = re.findall(
        r"^\| (\d+) \| ([\d.]+) \| (\d+) \| (\S+) \| (\S+) \| (\S+) \| (\d+) \|$", text, re.M
    )
    assert len(rows) >= 8
    for d, alpha, num, *quoted in rows:
        got, _, (gap, plain, cv, need) = relu_need(int(d), float(alpha), int(num))
        assert got == int(num)
        assert quoted == [f"{gap:+.4f}", f"{plain:.4f}", f"{cv:.4f}", f"{need:.0f}"], (d, alpha)
    _, n, (gap, _, _, need) = relu_need(20, 0.5)
    assert (
        f"alpha = 0.5 (n = {n}, mean {gap:.3f}) that bound alone asks about "
        f"{round(2 * gap / (n * TARGET**2), -1):.0f} teachers for {TARGET} (the committed spread asks "
        f"{need:.0f})"
    ) in " ".join(text.split())


def test_the_projections_from_few_teachers_are_recomputed():
    """The Precision section's ranges of the need projected over every Gaussian cell at d = 20
    from its first 16 and 32 teachers and from all of them (``cell_need``)."""
    ds = committed(20)
    cells = [
        (str(label), float(alpha))
        for label in ds["setting_label"].values
        if " gaussian " in str(label)
        for alpha in ds["alpha"].values
    ]

    def span(values) -> str:
        return f"{min(values):.0f}-{max(values):.0f}"

    few = {num: span([cell_need(20, *c, num)[2][3] for c in cells]) for num in (16, 32)}
    full = [cell_need(20, *c) for c in cells]
    quoted = (
        f"(at d = 20, {few[16]} teachers projected from 16, {few[32]} from 32, "
        f"{span([f[2][3] for f in full])} from {span([f[0] for f in full])})"
    )
    assert quoted in " ".join((DATA / "README.md").read_text().split())


def test_past_the_proportional_regime_the_deep_free_entropy_leaves_the_glms():
    """data/free_entropy/beyond_proportional: the tanh(2x) teacher of beyond_proportional.toml at
    d = 16, alpha = 1, 8, 64 (n = d to 4 d^2), 8 teachers. At alpha = 1 ``f_deep - f_glm`` is
    within 3 SE of 0; at alpha = 8 and 64 it is above 0 by more than 3 SE (the errors leave the
    GLM plateau there too), and at alpha = 64 each teacher's difference is above its own at
    alpha = 8 (the same teacher: paired)."""
    path = DATA / "beyond_proportional" / "results.nc"
    if not path.exists():
        pytest.skip("data/free_entropy/beyond_proportional not committed")
    ds = open_results(path)
    gap = (ds["free_entropy"] - ds["free_entropy_glm"]).isel(setting=0, d=0)
    mean, se = mean_se(gap)
    assert abs(float(mean.sel(alpha=1.0))) < 3 * float(se.sel(alpha=1.0))
    for alpha in (8.0, 64.0):
        assert float(mean.sel(alpha=alpha)) > 3 * float(se.sel(alpha=alpha)), alpha
    late = gap.sel(alpha=64.0).dropna("seed")
    assert late.sizes["seed"] == ds.sizes["seed"]
    assert bool((late > gap.sel(alpha=8.0, seed=late["seed"])).all()), late.values


def test_the_sign_channel_follow_ups_at_d60_alpha2_are_the_readmes():
    """The figures data/free_entropy/README.md quotes for the one cell below 0 by more than 3 SE
    (sign channel, d = 60, alpha = 2), recomputed from the three follow-up directories: 8 more
    teachers, 4 teachers again on a CPU, and one teacher with 32 replicas."""

    def load(name):
        return open_results(DATA / name / "results.nc")

    def gap(ds):
        return (ds["free_entropy"] - ds["free_entropy_glm"]).squeeze()

    def mean_se_sd(values):
        values = np.asarray(values)
        sd = values.std(ddof=1)
        return values.mean(), sd / np.sqrt(values.size), sd

    cell = load("d60").sel(setting=3, d=60, alpha=2.0)
    first = gap(cell).sel(seed=slice(0, 7)).values
    more = gap(load("sign_d60_alpha2"))
    assert list(more["seed"].values) == list(range(8, 16))
    np.testing.assert_allclose(mean_se_sd(more.values), (0.0003, 0.0005, 0.0015), atol=5e-5)
    pooled = np.concatenate([first, more.values])
    np.testing.assert_allclose(mean_se_sd(pooled)[:2], (-0.0004, 0.0004), atol=5e-5)

    cpu = load("sign_d60_alpha2_cpu")
    again = cell.sel(seed=cpu["seed"].values)
    assert list(cpu["seed"].values) == [0, 2, 3, 7]
    np.testing.assert_allclose(gap(cpu), [-0.0001, -0.0033, -0.0021, -0.0005], atol=5e-5)
    np.testing.assert_allclose(gap(again), [-0.0026, -0.0019, -0.0011, -0.0016], atol=5e-5)
    moved = cpu["free_entropy"].squeeze() - again["free_entropy"]
    np.testing.assert_allclose(moved, [0.0021, -0.0007, -0.0014, 0.0009], atol=5e-5)

    r32 = load("sign_d60_alpha2_r32")
    assert r32.attrs["config"].count('"replicas": 32') == 1
    np.testing.assert_allclose(float(r32["free_entropy"].squeeze()), -0.66088, atol=5e-6)
    se = float(r32["free_entropy_se"].squeeze())  # of 32 replicas; per replica; of 4
    assert (round(se, 5), round(se * np.sqrt(32), 4), round(se * np.sqrt(8), 5)) == (
        0.00027,
        0.0015,
        0.00076,
    )
