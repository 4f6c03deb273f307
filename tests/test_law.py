"""The teacher law (``dgep teacher-law``, experiments/law.py) and the control variate of the
free-entropy difference built on it (``estimates.control_variate``, docs/theory.md 8.1)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from test_experiments import dgep_here

from experiments.estimates import control_variate
from teacher_student import LAW_FIRST_SEED, TeacherSpec, seed_teacher_stats

D20 = Path(__file__).resolve().parents[1] / "data" / "free_entropy" / "d20"


def test_on_an_exact_line_the_estimate_is_the_line_at_the_laws_mean():
    """``gap = a + b z`` exactly: the estimate is ``a + b mean(z_law)`` and its SE only the law's
    ``|b| sd(z_law) / sqrt(M)`` (the jackknife term vanishes)."""
    rng = np.random.default_rng(0)
    z, z_law = rng.exponential(size=12), rng.exponential(size=300)
    estimate, se = control_variate(0.3 + 2.0 * z, z, z_law)
    assert estimate == pytest.approx(0.3 + 2.0 * z_law.mean(), rel=1e-12)
    assert se == pytest.approx(2.0 * z_law.std(ddof=1) / np.sqrt(300), rel=1e-9)
    assert np.isnan(control_variate(z[:2], z[:2], z_law)).all()  # fewer than 3 teachers
    assert np.isnan(control_variate(z, np.ones(12), z_law)).all()  # a constant covariate


@pytest.mark.parametrize("spread", ["constant", "growing"])
def test_the_control_variates_se_is_honest_on_a_heavy_tailed_covariate(spread):
    """2000 experiments of 16 teachers and a law of 400, the covariate the square of a Student-t
    (5 degrees of freedom, like ``(Delta_eff_T - Delta_eff)^2``), ``gap = a + b z`` plus noise of
    SD 0.002 (``constant``) or 0.002 + 20 z (``growing``, as the tail teachers' spread): the
    estimate is unbiased (within 4 SE of its mean over the experiments), its SD over the
    experiments is 0.8-1.1x the RMS of the reported SEs (measured 0.98 and 0.86; the ratio's
    sampling error at 2000 experiments is about 0.03), and it is over 2x less spread than the
    plain mean (measured 4.8x and 2.4x)."""
    rng = np.random.default_rng(1)
    nu, sigma, slope, intercept = 5, 0.02, 40.0, 0.001
    truth = intercept + slope * sigma**2 * nu / (nu - 2)
    estimates, ses, plain = [], [], []
    for _ in range(2000):
        z = (sigma * rng.standard_t(nu, 16)) ** 2
        z_law = (sigma * rng.standard_t(nu, 400)) ** 2
        noise = 0.002 + (20 * z if spread == "growing" else 0)
        gap = intercept + slope * z + noise * rng.standard_normal(16)
        estimate, se = control_variate(gap, z, z_law)
        estimates.append(estimate), ses.append(se), plain.append(gap.mean())
    estimates, ses = np.array(estimates), np.array(ses)
    spread_cv = estimates.std()
    assert abs(estimates.mean() - truth) < 4 * spread_cv / np.sqrt(len(estimates))
    assert 0.8 < spread_cv / np.sqrt(np.mean(ses**2)) < 1.1
    assert np.std(plain) > 2 * spread_cv


def test_the_law_measures_a_teacher_as_a_sweep_point_does():
    """``seed_teacher_stats`` of a committed point's seed gives the ``delta_eff_teacher`` and
    ``rho_teacher`` its point stored (d = 20, relu-relu, seed 3)."""
    config = json.loads((D20 / "config.json").read_text())
    record = next(
        json.loads(line)
        for line in (D20 / "points.jsonl").read_text().splitlines()
        if '"setting": 2, "d": 20, "alpha": 1.0, "seed": 3}' in line
    )
    spec = TeacherSpec.from_dict(config["teacher"][2])
    stats = seed_teacher_stats(spec, 20, 3, config["run"]["teacher_inputs"])
    assert stats.delta_eff == pytest.approx(record["values"]["delta_eff_teacher"], rel=1e-9)
    assert stats.rho == pytest.approx(record["values"]["rho_teacher"], rel=1e-9)


def test_teacher_law_writes_resumes_and_feeds_the_summary(tmp_path):
    """``dgep teacher-law DIR``: the law of every (setting, d) in ``DIR/teacher_law.nc``, the
    teachers of seeds from ``LAW_FIRST_SEED`` (``--setting``: of those settings only); a rerun
    measures only the missing ones and never drops any; the summary then shows the control
    variate; bad input is one line, exit 2."""
    root = tmp_path / "d20"
    root.mkdir()
    for name in ("config.json", "results.nc"):
        shutil.copy(D20 / name, root / name)
    one = dgep_here("teacher-law", str(root), "--teachers", "3", "--setting", "1", "--no-progress")
    assert one.returncode == 0 and "(3 teachers measured)" in one.stdout, one.stderr
    result = dgep_here("teacher-law", str(root), "--teachers", "3", "--no-progress")
    assert result.returncode == 0 and "(9 teachers measured)" in result.stdout, result.stderr
    law = xr.load_dataset(root / "teacher_law.nc", engine="h5netcdf")
    spec = TeacherSpec.from_dict(json.loads((root / "config.json").read_text())["teacher"][1])
    expected = seed_teacher_stats(spec, 20, LAW_FIRST_SEED + 2).delta_eff
    assert law["law_delta_eff_teacher"].sel(setting=1, d=20).values[2] == expected
    more = dgep_here("teacher-law", str(root), "--teachers", "4", "--no-progress")
    assert "(4 teachers measured)" in more.stdout, more.stderr
    fewer = dgep_here("teacher-law", str(root), "--teachers", "2", "--no-progress")
    assert "(0 teachers measured)" in fewer.stdout, fewer.stderr
    law = xr.load_dataset(root / "teacher_law.nc", engine="h5netcdf")
    assert int(law["law_delta_eff_teacher"].count()) == 16
    summary = dgep_here("summary", str(root))
    assert summary.returncode == 0 and "f_deep - f_glm cv" in summary.stdout, summary.stderr

    config = json.loads((root / "config.json").read_text())
    config["teacher"][1]["noise"] = 0.2  # the law was measured for teachers of noise 0.1
    (root / "config.json").write_text(json.dumps(config))
    refused = dgep_here("summary", str(root))
    assert refused.returncode == 2, refused.stderr
    assert "teacher_law.nc: measured for another [teacher] than" in refused.stderr
    shutil.copy(D20 / "config.json", root / "config.json")

    law.attrs["teacher_inputs"] = 1000
    law.to_netcdf(root / "teacher_law.nc", engine="h5netcdf")
    for args, message in (
        ((str(root), "--teachers", "1"), "--teachers = 1: must be at least 2"),
        ((str(root), "--setting", "4"), "--setting = 4: the sweep has settings 0-3"),
        ((str(tmp_path), "--teachers", "5"), "no config.json"),
        ((str(root), "--teachers", "5"), "measured with teacher_inputs = 1000"),
    ):
        refused = dgep_here("teacher-law", *args, "--no-progress")
        assert refused.returncode == 2 and message in refused.stderr, refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
