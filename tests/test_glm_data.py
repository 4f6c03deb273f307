"""The two-sided check of the evidence estimator (docs/theory.md 8.2): ``dgep glm-data``
(experiments/glm_data.py) and Bennett's acceptance ratio (``estimates.bennett_bias``)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from test_experiments import dgep_here

from experiments.estimates import bennett_bias
from experiments.glm_data import GLM_FIRST_SEED
from gle import equivalent_glm, glm_log_evidence
from teacher_student import TeacherSpec, problem_seeds, sample_glm_teacher

D20 = Path(__file__).resolve().parents[1] / "data" / "free_entropy" / "d20"


def gaussian_sides(rng, mean, beta, forward, reverse):
    """``L`` of the exactly solvable case: ``N(mean, 2 mean)`` on the deep model's data and
    ``N(-mean, 2 mean)`` on the GLM's (their densities differ by ``e^L``, as two models' log
    likelihood ratios must), both shifted by an evidence estimate's log bias ``beta``."""
    sd = np.sqrt(2 * mean)
    return rng.normal(mean + beta, sd, forward), rng.normal(beta - mean, sd, reverse)


@pytest.mark.parametrize(
    ("mean", "beta", "forward", "reverse"),
    [(0.8, 0.0, 32, 32), (1.5, 0.3, 32, 16), (3.0, -0.5, 64, 32)],
)
def test_bennett_finds_the_bias_with_an_honest_se(mean, beta, forward, reverse):
    """Over 1000 synthetic experiments of the exactly solvable case: the estimate's mean is
    ``beta`` within 4 of its SEs, and its SD over the experiments is 0.9-1.12x the RMS of the
    SE it reports (measured: 1.00, 1.00, 1.05; the SD of 1000 draws has an SE of 2.2 %)."""
    rng = np.random.default_rng(1)
    fits = np.array(
        [bennett_bias(*gaussian_sides(rng, mean, beta, forward, reverse)) for _ in range(1000)]
    )
    sd = fits[:, 0].std(ddof=1)
    assert abs(fits[:, 0].mean() - beta) < 4 * sd / np.sqrt(len(fits))
    assert 0.9 < sd / np.sqrt(np.mean(fits[:, 1] ** 2)) < 1.12


def test_one_side_alone_misses_the_tail_that_bennett_reads_from_the_other():
    """With a wide law of ``L`` (mean 3 nats), the exponential average of the deep side alone,
    ``-ln mean e^(-L)``, is biased by missing the rare datasets that carry it; Bennett's two-sided
    estimate is not: its mean error is below a fifth of the one-sided one's."""
    rng = np.random.default_rng(2)
    one, two = [], []
    for _ in range(400):
        forward, reverse = gaussian_sides(rng, 3.0, 0.0, 32, 32)
        one.append(-np.log(np.mean(np.exp(-forward))))
        two.append(bennett_bias(forward, reverse)[0])
    assert abs(np.mean(two)) < 0.2 * abs(np.mean(one))


def test_bennett_needs_two_datasets_a_side():
    assert np.isnan(bennett_bias(np.array([1.0, np.nan]), np.array([0.0, -1.0]))).all()


@pytest.fixture
def sweep(tmp_path):
    """A copy of the committed d = 20 sweep's results whose ``[evidence]`` is small enough for
    a test (16 particles, 2 replicas)."""
    root = tmp_path / "d20"
    root.mkdir()
    shutil.copy(D20 / "results.nc", root / "results.nc")
    config = json.loads((D20 / "config.json").read_text())
    config["evidence"].update(num_particles=16, replicas=2)
    (root / "config.json").write_text(json.dumps(config))
    return root, config


def test_glm_data_writes_resumes_and_feeds_the_summary(sweep):
    """``dgep glm-data DIR``: per (setting, d, alpha) asked for, the datasets of the GLM teachers
    of seeds from ``GLM_FIRST_SEED`` in ``DIR/glm_data.nc``, their ``free_entropy_glm`` gle's exact
    one on that teacher's data; a rerun estimates only the missing ones; the summary then shows
    the two-sided check."""
    root, config = sweep
    args = (str(root), "--setting", "0", "--alpha", "0.5")
    first = dgep_here("glm-data", *args, "--datasets", "2")  # one worker: a bar per tempering
    assert first.returncode == 0 and "(2 datasets estimated)" in first.stdout, first.stderr
    assert "tempering (deep student)" in first.stderr
    again = dgep_here("glm-data", *args, "--datasets", "2")
    assert "(0 datasets estimated)" in again.stdout, again.stderr
    more = dgep_here("glm-data", *args, "--datasets", "3", "--workers", "2")
    assert "(1 datasets estimated)" in more.stdout, more.stderr

    data = xr.load_dataset(root / "glm_data.nc", engine="h5netcdf")
    assert int(data["glm_data_free_entropy"].count()) == 3
    cell = data.sel(setting=0, d=20, alpha=0.5)
    spec = TeacherSpec.from_dict(config["teacher"][0])
    glm = equivalent_glm(spec)
    seeds = problem_seeds(GLM_FIRST_SEED + 2)
    teacher = sample_glm_teacher(spec, 20, seeds.teacher, rho=glm.rho, delta_eff=glm.delta_eff)
    train = teacher.sample(10, seeds.train)
    exact = glm_log_evidence(train.x, train.y, glm)
    assert float(cell["glm_data_free_entropy_glm"].values[2]) == pytest.approx(exact, rel=1e-12)
    assert np.isfinite(cell["glm_data_free_entropy"].values).all()

    summary = dgep_here("summary", str(root))
    assert summary.returncode == 0, summary.stderr
    assert "bias of f_deep, two-sided" in summary.stdout
    results = xr.load_dataset(root / "results.nc", engine="h5netcdf")
    deep = int(results["free_entropy"].sel(setting=0, d=20, alpha=0.5).count())
    assert f"{deep}/3" in summary.stdout


def test_glm_data_of_another_evidence_config_is_refused(sweep):
    """The datasets record the ``[teacher]`` and ``[evidence]`` they were estimated for: once the
    directory's config differs, neither ``dgep glm-data`` nor the summary uses them. The number
    of replicas may differ (``EvidenceConfig.NOISE_ONLY``): each dataset records its own."""
    root, config = sweep
    args = (str(root), "--setting", "0", "--alpha", "0.5", "--datasets", "2", "--no-progress")
    assert dgep_here("glm-data", *args).returncode == 0
    config["evidence"]["replicas"] = 3
    (root / "config.json").write_text(json.dumps(config))
    more = dgep_here("glm-data", *args[:-2], "3", "--no-progress")
    assert more.returncode == 0 and "(1 datasets estimated)" in more.stdout, more.stderr
    data = xr.load_dataset(root / "glm_data.nc", engine="h5netcdf")
    replicas = data["glm_data_evidence_replicas"].sel(setting=0, d=20, alpha=0.5).values
    assert list(replicas) == [2, 2, 3]
    config["evidence"]["num_particles"] = 32
    (root / "config.json").write_text(json.dumps(config))
    message = "glm_data.nc: measured for another [evidence] than the sweep's config"
    for command in (("glm-data", *args), ("summary", str(root))):
        refused = dgep_here(*command)
        assert refused.returncode == 2 and message in refused.stderr, refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1


def test_glm_data_refuses_bad_input_in_one_line(sweep):
    root, config = sweep
    for args, message in (
        (("--datasets", "1"), "--datasets = 1: must be at least 2"),
        (("--alpha", "3"), "--alpha = 3: the sweep's alphas are [0.5, 1.0, 2.0, 4.0]"),
        (("--setting", "7"), "--setting = 7: the sweep has settings 0-3"),
        (("--workers", "0"), "--workers = 0: must be at least 1"),
    ):
        refused = dgep_here("glm-data", str(root), *args, "--no-progress")
        assert refused.returncode == 2 and message in refused.stderr, refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
    del config["evidence"]
    config["run"]["target_free_entropy_se"] = None
    (root / "config.json").write_text(json.dumps(config))
    refused = dgep_here("glm-data", str(root), "--no-progress")
    assert refused.returncode == 2 and "has no [evidence] table" in refused.stderr
    assert not (root / "glm_data.nc").exists()
