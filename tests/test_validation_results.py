"""The committed validation results (data/validation) against the theory: a change to the theory
side that breaks the agreement with the measured posteriors fails here.

Tolerance: 3 standard errors, where each SE is the one measured over the seeds (teachers: 16, and
up to 96 where needed for a 5 % SE) and propagated through the fit in 1/d
(``experiments.estimates.extrapolate``)."""

import json
from pathlib import Path

import numpy as np
import pytest

from experiments.estimates import mean_se
from experiments.results import open_results
from experiments.summary import COMPARED, START_GAPS, compare_runs, summarize
from gle import bayes_optimal, equivalent_glm, solve_glm
from teacher_student import TeacherSpec

DATA = Path(__file__).resolve().parents[1] / "data" / "validation"


@pytest.fixture(scope="module", params=["gaussian/results.nc", "sign_channel/results.nc"])
def validation(request):
    """The Gaussian-channel settings, and the sign channel (tanh-tanh, Delta = 0.1) run apart."""
    ds = open_results(DATA / request.param)
    return ds, summarize(ds)


def test_every_point_finished(validation):
    """No point failed; each (setting, d, alpha) has the 16 listed seeds, and more where the
    standard error asked for them (``[run] target_rel_se``)."""
    ds, summary = validation
    assert (ds["error"] == "").all()
    listed = ds["eps_bayes"].sel(seed=range(16))
    assert int(listed.count()) == listed.size
    assert int(summary["n_seeds"].min()) >= 16


def test_standard_errors_are_below_five_percent_of_the_error(validation):
    """The precision asked of the validation: SE of the paired difference to the per-teacher
    theory <= 5 % of the measured eps_bayes at every (setting, d, alpha)."""
    _, summary = validation
    relative = summary["paired_diff_se"] / summary["eps_bayes"]
    assert float(relative.max()) <= 0.05, relative.values


def test_extrapolated_bayes_error_agrees_with_theory(validation):
    """The theory is recomputed by gle now, not read from the file."""

    ds, summary = validation
    for s, raw in enumerate(json.loads(ds.attrs["specs"])):
        theory = bayes_optimal(TeacherSpec.from_dict(raw), summary["alpha"].values).eps_bo
        sub = summary.isel(setting=s)
        z = (sub["eps_bayes_inf"].values - theory) / sub["eps_bayes_inf_se"].values
        assert np.all(np.abs(z) < 3), (raw, z)


def test_paired_difference_extrapolates_to_zero(validation):
    _, summary = validation
    z = summary["paired_diff_inf"] / summary["paired_diff_inf_se"]
    assert bool((abs(z) < 3).all()), z.values


def test_nishimori_gaps_vanish(validation):
    ds, summary = validation
    regression = np.array(
        [TeacherSpec.from_dict(r).channel == "gaussian" for r in json.loads(ds.attrs["specs"])]
    )
    for gap, defined in (("nishimori_eps_gap", regression), ("nishimori_overlap_gap", True)):
        z = (summary[f"{gap}_pooled"] / summary[f"{gap}_pooled_se"]).values
        assert np.array_equal(np.isfinite(z).all(axis=-1), np.broadcast_to(defined, z.shape[:-1]))
        z = z[
            np.isfinite(z)
        ]  # eps_gibbs - 2 eps_bayes holds for regression only (docs/theory.md 5)
        assert np.all(np.abs(z) < 3), (gap, z)


@pytest.mark.parametrize(
    "informed",
    [
        "gaussian/results.nc",
        "sign_channel/results.nc",
        "sign_channel_warmup500/results.nc",
        "sign_channel_step_size/results.nc",
    ],
)
def test_informed_and_uninformed_starts_agree(informed):
    """tanh-tanh, d = 30, Gaussian and sign channel: the same 16 teachers and data from both
    starts (largest |z| measured: 1.6 Gaussian, 2.3 sign, 1.8 sign with 500 warmup, 1.3 sign
    with the 200-step step-size warmup)."""
    diff = compare_runs(
        open_results(DATA / "prior_start" / "results.nc"), open_results(DATA / informed)
    )
    z = diff["eps_bayes"] / diff["eps_bayes_se"]
    assert z.count() == 6 and bool((abs(z) < 3).all()), z.values


def paired_z(diff):
    """z-scores (difference / its SE) of every compared quantity of a ``compare_runs`` result,
    stacked (quantity, setting, d, alpha)."""
    return np.stack([(diff[name] / diff[f"{name}_se"]).values for name in COMPARED])


#: (sampler run, the NUTS run it is paired with): HMC pi/2 and NUTS at target acceptance 0.65
#: against NUTS at 0.8 (Gaussian settings, sign channel), NUTS at 0.55 against 0.65 (all five)
SAMPLER_PAIRS = [
    (other, nuts)
    for other in ("hmc", "target_accept")
    for nuts in ("gaussian/results.nc", "sign_channel/results.nc")
] + [("target_accept_055", "target_accept/results.nc")]
#: smallest mean ESS-per-gradient gain asserted for each run (measured values in the test)
GAIN = {"hmc": 2.0, "target_accept": 1.2, "target_accept_055": 1.1}
#: the step-size-only warmup against NumPyro's schedule: 50 steps against 200 (NUTS at 0.55, all
#: five settings), whose gain is in the warmup, which the ESS per gradient after it does not
#: count; 200 against 200 (NUTS at 0.8, sign channel)
WARMUP_PAIRS = [
    ("step_size", "target_accept_055/results.nc"),
    ("sign_channel_step_size", "sign_channel/results.nc"),
]


@pytest.mark.parametrize(("other", "nuts"), SAMPLER_PAIRS + WARMUP_PAIRS)
def test_other_samplers_agree_with_nuts(other, nuts):
    """HMC with integration time pi/2 (``hmc``) and NUTS at target acceptance 0.65
    (``target_accept``) against NUTS at 0.8, NUTS at 0.55 against 0.65, on the same teachers and
    data (d = 30, five settings, 16 seeds): largest |z| measured 2.4 (hmc) and 2.8
    (target_accept) of 72 (Gaussian), 0.9 and 1.1 of 18 (sign channel), 2.4 of 90 (0.55); the
    step-size-only warmup against the schedule: 2.9 of 90 (rms 0.97, 50 against 200 steps), 1.7
    of 18 (rms 0.86, sign channel, 200 against 200)."""
    diff = compare_runs(open_results(DATA / other / "results.nc"), open_results(DATA / nuts))
    z = paired_z(diff)
    z = z[np.isfinite(z)]
    assert z.size in (18, 72, 90) and np.all(np.abs(z) < 3), z
    # no shift shared by the points either: rms z measured 1.1 / 1.0 (72), 0.4 / 0.4 (18) and
    # 0.98 (90), 0.97 (step_size), 0.86 (sign_channel_step_size); for independent unit z its SD
    # is ~0.1, so 1.5 is a real shift, not noise
    assert np.sqrt(np.mean(z**2)) < 1.5


@pytest.mark.parametrize(("other", "nuts"), SAMPLER_PAIRS)
def test_other_samplers_cost_fewer_gradients_per_effective_draw(other, nuts):
    """ESS of the output (which sets eps_bayes) and of the Gibbs error per gradient evaluation,
    against the paired NUTS run on the same points (means over 16 seeds). The relative SE of one
    point's ratio, from the spread over seeds, is 2-8 % (0.1-9.4 % for target_accept_055): the
    bound 0.75 is 2.7 SE or more below 1 (measured minima 1.95 hmc, 0.96 target_accept, 0.93
    target_accept_055), and the mean over the points is above ``GAIN`` (measured 2.39 / 2.58
    hmc, 1.36 / 1.50 target_accept, 1.22 / 1.22 target_accept_055; its SE is ~0.02, measured
    0.013 / 0.017 for target_accept_055)."""
    diff = compare_runs(open_results(DATA / other / "results.nc"), open_results(DATA / nuts))
    for ess in ("ess_output", "ess_gibbs"):
        ratio = diff[f"{ess}_per_grad_ratio"]
        assert ratio.count() in (6, 24, 30) and float(ratio.min()) > 0.75, (ess, ratio.values)
        assert float(ratio.mean()) > GAIN[other], (ess, float(ratio.mean()))
    assert float(diff["steps_ratio"].max()) < 1.05  # never more leapfrog steps per draw


@pytest.mark.parametrize(("other", "nuts"), WARMUP_PAIRS)
def test_a_short_warmup_keeps_the_ess_per_gradient(other, nuts):
    """After the 50-step step-size-only warmup the chains mix as well per gradient as after the
    200-step schedule: ESS per gradient of the output / Gibbs error measured 0.89-1.38x / 0.88-
    1.24x per point (SE of one ratio 0.3-17 %, bootstrap over seeds), means 1.04 / 1.04 (SE 0.013
    / 0.016); the bounds are 0.75 per point (the lowest point is 3.7 SE above it) and 0.95 on
    the mean (6 SE below the measured). Sign channel, 200 steps each at target 0.8: 1.00-2.03x /
    0.95-1.95x (means 1.51 / 1.49; the schedule's trees were about twice as long at alpha <= 1
    and alpha = 8)."""
    diff = compare_runs(open_results(DATA / other / "results.nc"), open_results(DATA / nuts))
    points = diff["eps_bayes"].count()
    for ess in ("ess_output", "ess_gibbs"):
        ratio = diff[f"{ess}_per_grad_ratio"]
        assert ratio.count() == points and float(ratio.min()) > 0.75, (ess, ratio.values)
        assert float(ratio.mean()) > 0.95, (ess, float(ratio.mean()))


@pytest.mark.parametrize("short", ["sign_channel", "sign_channel_step_size"])
def test_a_200_step_warmup_leaves_an_offset_that_500_steps_remove(short):
    """Sign channel, d = 30, the same teachers from the informed start: after 200 warmup steps,
    the schedule's or the step-size warmup's, the Gibbs error is higher and the overlap with the
    teacher lower than after 500 (data/validation/README.md). Per seed the mean difference over
    the six alphas, then mean and SE over the 16 seeds: eps_gibbs +0.00070 +- 0.00017 / +0.00065
    +- 0.00028, overlap_st -0.00092 +- 0.00028 / -0.00092 +- 0.00032 (schedule / step size); the
    bound is 2 SE. So the step-size warmup does not cure it: precision runs keep >= 500 steps."""
    a = open_results(DATA / short / "results.nc").sel(d=30)
    b = open_results(DATA / "sign_channel_warmup500" / "results.nc").sel(d=30)
    for name, sign in (("eps_gibbs", 1), ("overlap_st", -1)):
        per_seed = (a[name] - b[name]).isel(setting=0).mean("alpha")
        assert per_seed.count() == 16
        mean, se = (float(v) for v in mean_se(per_seed))
        assert sign * mean > 2 * se, (name, mean, se)


def test_hmc_beyond_the_proportional_regime():
    """HMC pi/2 against NUTS (0.8) on the 112 points of data/beyond_proportional (n up to 4 d^2):
    the paired differences agree (largest |z| measured 3.1 of 42, rms 1.27; 3.5 is a 1-in-2000
    tail per unit z), HMC gives more ESS of the output per gradient everywhere (measured
    1.77-2.81x; the ratio's SE is 2-8 %), and its Gibbs error mixes worse at alpha >= 16: the
    worst seed's ESS 5-44 against NUTS's 23-89 (docs/performance.md: why NUTS stays the default)."""
    hmc = open_results(DATA.parent / "beyond_proportional" / "hmc" / "results.nc")
    nuts = open_results(DATA.parent / "beyond_proportional" / "nuts" / "results.nc")
    diff = compare_runs(hmc, nuts)
    z = paired_z(diff)
    assert z.size == 42 and np.all(np.abs(z) < 3.5), z
    assert float(diff["ess_output_per_grad_ratio"].min()) > 1.5
    large = {"alpha": [16.0, 32.0, 64.0]}
    worst_hmc = hmc["ess_gibbs"].sel(large).min("seed")
    worst_nuts = nuts["ess_gibbs"].sel(large).min("seed")
    assert bool((worst_hmc < worst_nuts).all()), (worst_hmc.values, worst_nuts.values)


def pooled_start_gap_z(ds, name, **where):
    """Start gap pooled over seeds (and d) at one cell, over its SE from the seed scatter."""
    gap = ds[name].sel(**where).values.ravel()
    return gap.mean() / (gap.std(ddof=1) / np.sqrt(gap.size))


def test_step_size_warmup_beyond_the_proportional_regime():
    """The informed start's default warmup (identity mass matrix, one dual averaging of the step
    size) against NumPyro's schedule (diagonal mass matrix), 300 steps each, NUTS at 0.8, on the
    112 points of data/beyond_proportional (n up to 4 d^2: the posterior is far narrower than the
    prior): the paired differences agree (largest |z| measured 2.9 of 42, rms 1.10; 3.5 is a
    1-in-2000 tail per unit z), and the ESS per gradient does not drop: measured 0.85-1.83x for
    the output (mean 1.19) and 1.04-1.93x for the Gibbs error (mean 1.27). Bootstrap over seeds:
    one point's ratio has an SE of 1-9 % (output) and 5-21 % (Gibbs error), the lowest points
    0.85 +- 0.07 and 1.04 +- 0.09 are 1.4 and 3.2 SE above the bound 0.75, and the means' SE is
    0.02 and 0.05, so the bound 1.0 on them is 9.6 and 5.8 SE below."""
    step = open_results(DATA.parent / "beyond_proportional" / "step_size" / "results.nc")
    windows = open_results(DATA.parent / "beyond_proportional" / "nuts" / "results.nc")
    diff = compare_runs(step, windows)
    z = paired_z(diff)
    assert z.size == 42 and np.all(np.abs(z) < 3.5), z
    assert np.sqrt(np.mean(z**2)) < 1.5
    for ess in ("ess_output", "ess_gibbs"):
        ratio = diff[f"{ess}_per_grad_ratio"]
        assert float(ratio.min()) > 0.75 and float(ratio.mean()) > 1.0, (ess, ratio.values)


def test_uninformed_chains_go_below_the_plateau_too():
    """data/beyond_proportional/mixed: at every point of the n ~ d^2 study one chain starts at
    the teacher and one from a prior draw (500 warmup). The prior-started chains reach the error
    below the GLM plateau: their Gibbs error (eps_gibbs - start gap / 2) at alpha >= 32 is
    0.057-0.142 against the GLM's 0.213-0.219 (seed SE <= 0.010; asserted with 5 SE to spare). No
    point's start gap exceeds 4 SE (largest measured 3.44 of 112 points), and the runs agree
    with the informed-only NUTS run pair by pair as HMC does (largest |z| 3.28 of 42, rms 1.32).
    The one pooled gap, eps_gibbs at alpha = 4 (+0.0040 +- 0.0009 over 16 points at 500 warmup),
    is the warmup's relaxation of the teacher-started chain: with 2000 warmup draws
    (``mixed_warmup2000``, same teachers and data) it is -0.0006 +- 0.0011."""
    beyond = DATA.parent / "beyond_proportional"
    mixed = open_results(beyond / "mixed" / "results.nc")
    prior_gibbs = (mixed["eps_gibbs"] - mixed["start_gap_gibbs"] / 2).sel(alpha=[32.0, 64.0])
    mean, se = mean_se(prior_gibbs)
    assert bool((mean + 5 * se < mixed["eps_gibbs_theory"].sel(alpha=[32.0, 64.0]).min()).all())
    assert int(mixed["start_gap_z_max"].count()) == 112
    assert float(mixed["start_gap_z_max"].max()) < 4
    z = paired_z(compare_runs(mixed, open_results(beyond / "nuts" / "results.nc")))
    assert z.size == 42 and np.all(np.abs(z) < 3.5), z

    def gibbs_gap_z(run):
        ds = open_results(beyond / run / "results.nc")
        return pooled_start_gap_z(ds, "start_gap_gibbs", alpha=4.0)

    assert gibbs_gap_z("mixed") > 3 and abs(gibbs_gap_z("mixed_warmup2000")) < 2


def assert_start_gaps_are_noise(ds, points):
    """Every one of ``points`` mixed-start points has its start gaps within 4 SE, and their
    z-scores have an rms within 3 of its SE (``sqrt(1 / 2N)`` for N normals) of 1."""
    assert int(ds["start_gap_z_max"].count()) == points
    assert float(ds["start_gap_z_max"].max()) < 4
    z = np.concatenate([(ds[g] / ds[f"{g}_se"]).values.ravel() for g in START_GAPS])
    assert abs(np.sqrt(np.mean(z**2)) - 1) < 3 * np.sqrt(1 / (2 * z.size))


@pytest.mark.parametrize(
    ("run", "points", "long_run", "cell"),
    [
        ("mixed", 192, "mixed_relu_long", {"setting": 2, "alpha": 0.5}),
        ("sign_channel_mixed", 48, "sign_channel_mixed_long", {"setting": 0, "alpha": 0.25}),
    ],
)
def test_every_validation_setting_thermalises_from_a_prior_start(run, points, long_run, cell):
    """data/validation/mixed (the four Gaussian settings: depth 1-3, tanh / erf / relu) and
    sign_channel_mixed (tanh-tanh, sign channel), d = 30, 8 teachers, one chain at the teacher
    and one from the prior per point (500 warmup). Point by point the start gaps are noise: rms
    z 1.02 of 384 and 1.08 of 96 (the SE of the rms of N normals is sqrt(1 / 2N): 0.036, 0.072),
    largest 3.22 and 2.77, none beyond the 4-SE check. Pooled over the 8 teachers one cell of
    each stands out, at small alpha, with the informed chain closer to the teacher: relu-relu at
    alpha = 0.5 (overlap_st +0.0021 +- 0.0005, 4.1 SE) and the sign channel at alpha = 0.25
    (+0.0032 +- 0.0007, 4.7 SE). With 2000 warmup and 1000 draws (``*_long``, same teachers) the
    gaps vanish (at most 1.0 SE): a relaxation over a few hundred draws, no chain stuck."""
    ds = open_results(DATA / run / "results.nc")
    assert_start_gaps_are_noise(ds, points)
    assert pooled_start_gap_z(ds, "start_gap_overlap", **cell) > 3
    long = open_results(DATA / long_run / "results.nc")
    for name in START_GAPS:
        assert abs(pooled_start_gap_z(long, name, setting=0, alpha=cell["alpha"])) < 2


def test_informed_and_prior_starts_agree_at_d90():
    """data/validation/mixed_d90: tanh L = 1 at d = 90, validation_mixed's protocol (8 teachers,
    one chain at the teacher and one from the prior, 500 warmup). Point by point the start gaps
    are noise (rms z 0.86 of 96, largest 2.65); pooled over the teachers every (alpha, gap) is
    within 1.7 SE of 0. Checked: each point within 4 SE, the rms within 3 of its SE, every pooled
    gap within 3 SE."""
    ds = open_results(DATA / "mixed_d90" / "results.nc")
    assert_start_gaps_are_noise(ds, 48)
    for name in START_GAPS:
        for alpha in ds["alpha"].values:
            assert abs(pooled_start_gap_z(ds, name, setting=0, alpha=alpha)) < 3, (name, alpha)


def test_sign_activation_is_recorded_as_not_mixing():
    ds = open_results(DATA / "sign_activation" / "results.nc")
    assert float(ds["rhat_max"].min()) > 1.1


@pytest.mark.parametrize(("setting", "alpha"), [(2, 0.25), (2, 0.5), (3, 0.25), (3, 0.5)])
def test_the_intercept_cost_explains_the_small_alpha_excess_of_relu_teachers(setting, alpha):
    """relu-relu and erf-tanh-relu (Gaussian channel) sat above their per-teacher theory at
    small alpha (+0.030 +- 0.004 at alpha = 0.25 pooled over d = 20-45 for relu-relu): the
    finite-n cost of learning the output offset (docs/theory.md 7.1). With it the pooled
    paired difference is within 3 SE of 0; without it, more than 4 SE above."""
    ds = open_results(DATA / "gaussian" / "results.nc").sel(setting=setting, alpha=alpha)
    paired = (ds["eps_bayes"] - ds["eps_theory_teacher"]).stack(k=("d", "seed")).dropna("k")
    cost = ds["intercept_cost_teacher"].stack(k=("d", "seed")).dropna("k")
    assert float(cost.min()) > 0
    se = float(paired.std(ddof=1)) / np.sqrt(paired.size)
    assert abs(float(paired.mean())) < 3 * se
    assert float((paired + cost).mean()) > 4 * se


@pytest.fixture(scope="module")
def sign_offset():
    ds = open_results(DATA / "sign_offset" / "results.nc")
    return ds, summarize(ds)


def test_sign_offset_validation_is_complete_and_precise(sign_offset):
    """relu-relu and erf-relu-tanh on the sign channel: every point finished, 16 seeds or more,
    the paired SE <= 5 % of the error at every (setting, d, alpha)."""
    ds, summary = sign_offset
    assert (ds["error"] == "").all()
    assert int(summary["n_seeds"].min()) >= 16
    assert float((summary["paired_diff_se"] / summary["eps_bayes"]).max()) <= 0.05


def test_sign_offset_agrees_with_the_offset_theory_not_the_centred_one(sign_offset):
    """Non-centred teachers on the sign channel (docs/theory.md 4.1), the theory recomputed by
    gle: every extrapolated eps_bayes within 3 SE of the offset-averaged fixed point; the
    centred formula, which ignores the output offset, more than 4 SE away from the mean over
    d and seeds at every alpha (measured: 4.7-7.5 SE)."""
    ds, summary = sign_offset
    alphas = summary["alpha"].values
    for s, raw in enumerate(json.loads(ds.attrs["specs"])):
        glm = equivalent_glm(TeacherSpec.from_dict(raw))
        assert glm.offset_var > 0.04
        theory = bayes_optimal(glm, alphas).eps_bo
        sub = summary.isel(setting=s)
        z = (sub["eps_bayes_inf"].values - theory) / sub["eps_bayes_inf_se"].values
        assert np.all(np.abs(z) < 3), (raw, z)
        centred = solve_glm(alphas, glm.rho, glm.delta_eff, glm.noise, "sign").eps_bo
        pooled = ds["eps_bayes"].isel(setting=s).stack(k=("d", "seed"))
        mean, se = mean_se(pooled, "k")
        assert np.all((centred - mean.values) / se.values > 4), (raw, mean.values, centred)


def test_sign_offset_paired_difference_vanishes_once_the_offset_is_learned(sign_offset):
    """At alpha >= 2 the paired difference to the per-teacher offset theory extrapolates to 0
    within 3 SE. Below, the offset is learned from few labels and the measured error sits above
    the offset theory: at alpha 0.25-1, relu-relu's paired difference falls with d
    (+0.042 / +0.028 / +0.019 at d = 20 / 30 / 45, alpha = 0.25); erf-relu-tanh's d -> infinity
    value at alpha = 0.5 is 3.2 SE above 0 (a finite-n correction for the sign channel is not
    derived, docs/theory.md 4.1)."""
    _, summary = sign_offset
    late = summary.sel(alpha=summary["alpha"] >= 2)
    z = late["paired_diff_inf"] / late["paired_diff_inf_se"]
    assert bool((abs(z) < 3).all()), z.values
    early = summary.sel(alpha=summary["alpha"] <= 1)
    assert float(early["paired_diff"].mean()) > 0


SIZES = {
    "gaussian": ("gaussian", "d60", "d90"),
    "sign channel": ("sign_channel", "sign_channel_d60", "sign_channel_d90"),
}


def combined(names):
    """The validation's folders (d = 20-45, then one size each) as one dataset over their d,
    every point of the larger sizes finished."""
    from experiments.results import combine_sizes

    parts = [open_results(DATA / name / "results.nc") for name in names]
    for big in parts[1:]:
        assert (big["error"] == "").all()
        assert int(big["eps_bayes"].count()) == big["eps_bayes"].size
    return combine_sizes(parts)


@pytest.mark.parametrize("sizes", [2, 3], ids=["d20-60", "d20-90"])
@pytest.mark.parametrize("names", SIZES.values(), ids=SIZES.keys())
def test_the_larger_sizes_extrapolate_to_the_glm(names, sizes):
    """The validation with its d = 60 and d = 90 variants (`--set data.d=[60]`, `[90]`) over
    d = 20-60 and 20-90 (a factor 3 and 4.5 in 1/d): every extrapolated eps_bayes within 3 SE of
    the GLM, every paired difference within 3 SE of 0, the pooled Nishimori gaps within 3 SE
    (measured, d = 20-60: largest 1.75 / 2.0 / 2.6 SE Gaussian, 1.6 / 2.65 / 2.2 SE sign
    channel; d = 20-90: 2.1 / 2.0 / 2.6 and 2.4 SE, 1.7 / 2.8 / 2.3 SE; eps_gibbs - 2 eps_bayes
    is regression only)."""
    ds = combined(names[:sizes])
    summary = summarize(ds)
    assert list(summary["d"].values) == [20, 30, 45, 60, 90][: sizes + 2]
    for s, raw in enumerate(json.loads(ds.attrs["specs"])):
        theory = bayes_optimal(TeacherSpec.from_dict(raw), summary["alpha"].values).eps_bo
        sub = summary.isel(setting=s)
        z = (sub["eps_bayes_inf"].values - theory) / sub["eps_bayes_inf_se"].values
        assert np.all(np.abs(z) < 3), (raw, z)
    for name in ("paired_diff_inf", "nishimori_eps_gap_pooled", "nishimori_overlap_gap_pooled"):
        z = (summary[name] / summary[f"{name}_se"]).values
        z = z[np.isfinite(z)] if name == "nishimori_eps_gap_pooled" else z
        assert np.all(np.abs(z) < 3), (name, z)


@pytest.mark.parametrize("names", SIZES.values(), ids=SIZES.keys())
def test_five_sizes_ask_for_the_1_over_d_term_and_not_the_1_over_d2_one(names):
    """The paired difference over d = 20-90, each (setting, alpha) fitted by a constant,
    ``a + b/d`` and ``a + b/d + c/d^2`` (``fit_chi2``), chi^2 summed over the cells: the
    constant is rejected (p < 0.01), ``a + b/d`` is not (p > 0.01), and what ``c/d^2`` takes
    off is what noise gives (p > 0.01 for its extra parameters). Measured: Gaussian 158.7 / 96,
    83.9 / 72, drop 30.7 / 24 (p = 6e-5, 0.16, 0.16); sign channel 47.2 / 24, 11.5 / 18,
    5.6 / 6 (p = 0.003, 0.87, 0.47)."""
    from scipy import stats

    from experiments.estimates import fit_chi2

    summary = summarize(combined(names))
    inv_d = 1 / summary["d"].values
    chi2 = np.zeros(3)
    for s in range(summary.sizes["setting"]):
        for alpha in summary["alpha"].values:
            cell = summary.isel(setting=s).sel(alpha=alpha)
            mean, se = cell["paired_diff"].values, cell["paired_diff_se"].values
            chi2 += [fit_chi2(inv_d, mean, se, order) for order in range(3)]
    cells = summary.sizes["setting"] * summary.sizes["alpha"]
    dof = cells * (inv_d.size - np.arange(1, 4))
    assert stats.chi2.sf(chi2[0], dof[0]) < 0.01, (chi2, dof)
    assert stats.chi2.sf(chi2[1], dof[1]) > 0.01, (chi2, dof)
    assert stats.chi2.sf(chi2[1] - chi2[2], cells) > 0.01, (chi2, dof)


@pytest.mark.parametrize("names", SIZES.values(), ids=SIZES.keys())
def test_the_nishimori_gaps_vanish_at_every_size(names):
    """Per (setting, d), d = 20-90: each Nishimori gap averaged over alpha per teacher (the
    alphas of one seed share its teacher, so the teacher is the independent unit), mean +- SE
    over the first 16 teachers (those every alpha has), within 3 SE of 0; and no more of these
    beyond 2 SE than noise gives (binomial at 4.6 %, 1 % tail). Measured: largest 2.3 SE; 4 of
    40 values beyond 2 SE (Gaussian), 1 of 5 (sign channel)."""
    from scipy import stats

    ds = combined(names)
    z = []
    for name in ("nishimori_eps_gap", "nishimori_overlap_gap"):
        per_teacher = ds[name].isel(seed=slice(0, 16)).mean("alpha")
        mean, se = mean_se(per_teacher)
        z += [v for v in (mean / se).values.ravel() if np.isfinite(v)]
    z = np.abs(z)
    assert np.all(z < 3), z
    assert (z > 2).sum() <= stats.binom.ppf(0.99, z.size, 0.0455), z


def test_one_setting_from_d20_to_d150():
    """tanh, L = 1 (Gaussian, Delta = 0.1) over d = 20-150, a factor 7.5 in 1/d: the validation's
    sizes and ``data/validation/large_d`` (``large_d.toml``, one folder per d, complete sizes
    only) combined on the setting they share. The extrapolated eps_bayes within 3 SE of the GLM,
    the paired difference within 3 SE of 0 at every alpha, the pooled Nishimori gaps within 3 SE;
    the fit ``a + b / d`` leaves residuals as noise gives (chi^2 below its 99.9 % quantile)."""
    from scipy import stats

    from experiments.estimates import fit_chi2
    from experiments.results import combine_sizes

    large = [open_results(p) for p in sorted((DATA / "large_d").glob("d*/results.nc"))]
    large = [ds for ds in large if bool((ds["eps_bayes"].count("seed") >= 16).all())]
    if not large:
        pytest.skip("no complete size committed in data/validation/large_d yet")
    ds = combine_sizes([combined(SIZES["gaussian"]), *large])
    summary = summarize(ds)
    assert summary["d"].values.max() >= 150 and summary["d"].values.min() == 20
    theory = bayes_optimal(TeacherSpec.from_dict(json.loads(ds.attrs["specs"])[0]), ds["alpha"])
    sub = summary.isel(setting=0)
    z = (sub["eps_bayes_inf"].values - theory.eps_bo) / sub["eps_bayes_inf_se"].values
    assert np.all(np.abs(z) < 3), z
    for name in ("paired_diff_inf", "nishimori_eps_gap_pooled", "nishimori_overlap_gap_pooled"):
        z = (sub[name] / sub[f"{name}_se"]).values
        assert np.all(np.abs(z) < 3), (name, z)
    inv_d = 1 / sub["d"].values
    chi2 = sum(
        fit_chi2(
            inv_d,
            sub["paired_diff"].sel(alpha=a).values,
            sub["paired_diff_se"].sel(alpha=a).values,
            1,
        )
        for a in sub["alpha"].values
    )
    dof = sub.sizes["alpha"] * (sub.sizes["d"] - 2)
    assert chi2 < stats.chi2.ppf(0.999, dof), (chi2, dof)
