"""experiments: the dgep command end to end, resume after SIGKILL, Dask = local, bad configs."""

import contextlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from experiments.cli import main
from experiments.config import (
    BUILTIN_CONFIGS,
    ConfigError,
    builtin_config,
    identity_differences,
    load_config,
    parse_config,
    point_identity,
)
from experiments.estimates import extrapolate
from experiments.plotting import plot_nishimori
from experiments.preflight import EVIDENCE_TEMPERATURES, point_wall
from experiments.results import open_results
from experiments.store import DERIVED_FILES
from experiments.summary import equilibrium_gaps, format_summary, summarize

pytestmark = pytest.mark.xdist_group("experiments")

TINY = """
[teacher]
activations = ["tanh"]
widths = [1.0]
channel = "gaussian"
noise = 0.2
[data]
d = [6, 8]
alpha = [1.0, 2.0]
n_test = 200
[sampler]
num_warmup = 40
num_samples = 40
num_chains = 2
num_probes = 8
[run]
seeds = [0, 1]
teacher_inputs = 2000
"""
TIMING = {"wall_s", "sampler_s"}


DGEP = [sys.executable, "-m", "experiments.cli"]


def dgep(*args, cwd=None):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [*DGEP, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
    )


def dgep_here(*args):
    """``dgep`` run by ``main`` in this process (no interpreter or JAX start-up): its exit code,
    stdout and stderr as ``dgep`` would give them."""
    out, err = io.StringIO(), io.StringIO()
    with (
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        warnings.catch_warnings(),
    ):
        warnings.resetwarnings()  # Python's default filters, not this suite's "error"
        for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning):
            warnings.simplefilter("ignore", category)
        try:
            code = main(list(args))
        except SystemExit as exit:
            code = exit.code
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def write(tmp_path, text, name="c.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def point_values(directory):
    from experiments.store import Point, ResultStore

    out = {}
    for record in ResultStore(directory).records():
        values = {k: v for k, v in record["values"].items() if k not in TIMING}
        out[Point(**record["point"]).key] = values
    return out


def finished_lines(out):
    path = Path(out) / "points.jsonl"
    return path.read_text().count("\n") if path.exists() else 0


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ref")
    config = write(tmp, TINY)
    result = dgep("run", str(config), "--out", str(tmp / "out"), "--no-progress")
    assert result.returncode == 0, result.stderr
    return tmp, result


def test_run_end_to_end(reference_run):
    tmp, result = reference_run
    # the informed start's default warmup (one dual averaging of the step size) is not flagged
    assert "warning" not in result.stderr.lower(), result.stderr
    ds = xr.load_dataset(tmp / "out" / "results.nc", engine="h5netcdf")
    assert dict(ds.sizes) == {"d": 2, "alpha": 2, "seed": 2}
    required = [
        "eps_bayes",
        "eps_bayes_raw",
        "eps_gibbs",
        "eps_theory",
        "eps_gibbs_theory",
        "overlap_st",
        "overlap_ss",
        "rho_teacher",
        "rhat_max",
        "ess_min",
        "divergences",
        "wall_s",
        "eps_theory_teacher",
        "delta_eff_teacher",
    ]
    # R-hat is inf where a chain never moved (NumPyro's schedule over 40 steps could end so; the
    # informed start's default step-size warmup measured R-hat 1.01-1.09 on these 8 points)
    for name in required:
        assert (np.isfinite(ds[name]) | ((name == "rhat_max") & (ds[name] == np.inf))).all(), name
    for name in ds.data_vars:  # every variable documented, none with a generated name
        assert ds[name].attrs["long_name"] not in ("", name.replace("_", " ")), name
    assert json.loads(ds.attrs["config"])["data"]["d"] == [6, 8]
    assert "jax" in json.loads(ds.attrs["versions"])
    assert (tmp / "out" / "results.png").stat().st_size > 10_000
    assert "d->inf" in result.stdout
    assert re.search(r"\d+ of \d+ points: |sampler checks: all", result.stdout)
    summary = dgep("summary", str(tmp / "out" / "results.nc"))
    assert summary.returncode == 0 and "tanh gaussian" in summary.stdout
    plot = dgep("plot", str(tmp / "out" / "results.nc"), "--out", str(tmp / "fig.png"))
    assert plot.returncode == 0 and (tmp / "fig_nishimori.png").exists()
    # rerunning skips every finished point and changes nothing
    before = point_values(tmp / "out")
    again = dgep_here("run", str(tmp / "c.toml"), "--out", str(tmp / "out"), "--no-progress")
    assert again.returncode == 0 and point_values(tmp / "out") == before


def test_killed_sweep_resumes_to_identical_results(reference_run, tmp_path):
    ref_dir = reference_run[0] / "out"
    config = write(tmp_path, TINY)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [*DGEP, "run", str(config), "--out", str(out), "--no-progress"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    while time.time() < deadline and finished_lines(out) < 2:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = finished_lines(out)
    assert 2 <= done < 8, "the sweep should have been killed mid-run"
    result = dgep_here("run", str(config), "--out", str(out), "--no-progress")
    assert result.returncode == 0, result.stderr
    assert not list(out.rglob(".*.tmp"))
    assert point_values(out) == point_values(ref_dir)
    assert len(point_values(out)) == 8


def test_dask_executor_gives_the_same_numbers(reference_run, tmp_path):
    config = write(
        tmp_path, TINY.replace("seeds = [0, 1]", 'seeds = [0, 1]\nexecutor = "dask"\nworkers = 2')
    )
    result = dgep("run", str(config), "--out", str(tmp_path / "out"), "--no-progress")
    assert result.returncode == 0, result.stderr
    assert point_values(tmp_path / "out") == point_values(reference_run[0] / "out")


def test_different_config_is_refused_unless_fresh(reference_run, tmp_path):
    out = tmp_path / "out"
    first = write(tmp_path, TINY.replace("alpha = [1.0, 2.0]", "alpha = [1.0]"), "a.toml")
    assert dgep_here("run", str(first), "--out", str(out), "--no-progress").returncode == 0
    second = write(tmp_path, TINY.replace("alpha = [1.0, 2.0]", "alpha = [3.0]"), "b.toml")
    refused = dgep_here("run", str(second), "--out", str(out), "--no-progress")
    assert refused.returncode == 2 and "different configuration" in refused.stderr
    assert "([data].alpha = [3.0] (the directory's: [1.0])); use" in refused.stderr
    # an execution-only setting (the test chunk) may change on resume: nothing is rerun
    text = first.read_text().replace("num_probes = 8", "num_probes = 8\ntest_chunk = 64")
    before = point_values(out)
    resumed = dgep_here(
        "run", str(write(tmp_path, text, "c.toml")), "--out", str(out), "--no-progress"
    )
    assert resumed.returncode == 0, resumed.stderr
    assert point_values(out) == before
    assert len(point_values(out)) == 4  # nothing lost
    derived = [out / name for name in DERIVED_FILES]  # measured for the old config
    for path in derived:
        path.write_text("stale")
    fresh = dgep_here("run", str(second), "--out", str(out), "--no-progress", "--fresh")
    assert fresh.returncode == 0
    assert all("a3_" in key for key in point_values(out))
    assert not any(path.exists() for path in derived)


def test_failing_points_are_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch):
    """A point whose sampler raises (here made to, at n = 12) is recorded with its message in
    results.nc; the other points finish; the exit code is 1 and a rerun retries only those."""
    import bayes

    sample_posterior = bayes.sample_posterior

    def failing(teacher, train, *args, **kwargs):
        if train.n == 12:
            raise FloatingPointError("the potential is not finite at the initial point")
        return sample_posterior(teacher, train, *args, **kwargs)

    monkeypatch.setattr(bayes, "sample_posterior", failing)
    config = write(tmp_path, TINY.replace("d = [6, 8]", "d = [6]"))
    result = dgep_here("run", str(config), "--out", str(tmp_path / "out"), "--no-progress")
    assert result.returncode == 1 and "2 point(s) failed" in result.stderr
    ds = xr.load_dataset(tmp_path / "out" / "results.nc", engine="h5netcdf")
    failed = ds.sel(alpha=2.0).squeeze()
    assert "FloatingPointError: the potential is not finite" in str(failed["error"].values[0])
    assert ds.sizes["seed"] == 2 and ds.sizes["alpha"] == 2
    assert np.isnan(failed["eps_bayes"]).all()
    assert np.isfinite(ds["eps_bayes"].sel(alpha=1.0)).all()
    monkeypatch.setattr(bayes, "sample_posterior", sample_posterior)
    retried = dgep_here("run", str(config), "--out", str(tmp_path / "out"), "--no-progress")
    assert retried.returncode == 0 and len(point_values(tmp_path / "out")) == 4
    assert finished_lines(tmp_path / "out") == 6  # two records appended: the retried points


BAD = [
    (
        "[teacher]\nactivations = ['tanh']\nnoise = -1\n[data]\nalpha = [1.0]\n",
        "[teacher].noise = -1",
    ),
    (
        "[teacher]\nactivations = ['tanh']\ncolour = 1\n[data]\nalpha = [1.0]\n",
        "[teacher].colour = 1: unknown key",
    ),
    ("[teacher]\nactivations = ['tahn']\n[data]\nalpha = [1.0]\n", "unknown activation 'tahn'"),
    (
        "[teacher]\nactivations = ['tanh']\nwidths = [1.0, 2.0]\n[data]\nalpha = [1.0]\n",
        "widths = [1.0, 2.0]",
    ),
    ("[teacher]\nactivations = ['tanh']\n[data]\nalpha = [0.0]\n", "[data].alpha = [0.0]"),
    ("[teacher]\nactivations = ['tanh']\n[data]\nalpha = [1.0]\nd = [0]\n", "[data].d = [0]"),
    (
        "[teacher]\nactivations = ['tanh']\n[data]\nalpha = [1.0]\nn_test = 'many'\n",
        "[data].n_test = 'many'",
    ),
    (
        "[teacher]\nactivations = ['tanh']\n[data]\nalpha = [1.0]\n[sampler]\nnum_warmup = -5\n",
        "[sampler].num_warmup = -5",
    ),
    (
        "[teacher]\nactivations = ['tanh']\n[data]\nalpha = [1.0]\n[sampler]\nwarmup = 5\n",
        "[sampler].warmup = 5: unknown key",
    ),
    (
        "[teacher]\nactivations = ['tanh']\n[data]\nalpha = [1.0]\n[run]\nexecutor = 'slurm'\n",
        "[run].executor = 'slurm'",
    ),
    (
        "[teacher]\nactivations = ['tanh']\n[data]\nalpha = [1.0]\n[extra]\nx = 1\n",
        "[extra] = {'x': 1}: unknown table",
    ),
    (
        "[teacher]\nactivations = ['tanh']\n[data]\nalpha = [1.0]\n[run]\nseeds = [0, 1, 2]\n"
        "target_rel_se = 0.05\nmax_seeds = 2\n",
        "[run]: max_seeds = 2 is below the 3 seeds listed",
    ),
    (
        "[teacher]\nactivations = ['tanh']\n[data]\nalpha = [1.0]\n[sampler]\nnum_chains = 1\n"
        "init = 'mixed'\n",
        '[sampler].num_chains = 1: init = "mixed" needs at least 2 chains',
    ),
    ("[teacher\n", "not valid TOML"),
    # caught before sampling, not per point
    (
        "[teacher]\nactivations = ['tanh']\nnoise = 0.0\n[data]\nalpha = [1.0]\n",
        "[teacher].noise = 0.0: HMC cannot sample",
    ),
    (
        "[teacher]\nactivations = ['tanh']\nwidths = [1e-6]\nnoise = 0.1\n[data]\nalpha = [1.0]\n"
        "d = [20]\n",
        "[teacher].widths[0] = 1e-06: k = round(1e-06 * 20) = 0 at d = 20",
    ),
    (
        "[teacher]\nactivations = ['tanh']\nnoise = 0.1\n[data]\nalpha = [1e-9]\nd = [20]\n",
        "[data].alpha = 1e-09: n = round(alpha * d) = 0 at d = 20; need n >= 1",
    ),
    (
        "[teacher]\nactivations = ['tanh']\nnoise = 0.1\n[data]\nalpha = [1.0]\nd = [100000]\n",
        "[data].d = 100000: a point needs about",
    ),
    (
        "[teacher]\nactivations = ['tanh']\nnoise = 0.1\n[data]\nalpha = [1.0]\nn_test = 200\n"
        "[sampler]\nnum_probes = 500\n",
        "[sampler].num_probes = 500: more than [data].n_test = 200",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_configs_are_one_line_errors(tmp_path, capsys, text, message):
    config = write(tmp_path, text)
    assert main(["run", str(config), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_cli_errors_have_no_traceback(tmp_path):
    missing = dgep("run", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    assert "Traceback" not in missing.stderr
    bad_alpha = dgep("theory", str(write(tmp_path, TINY)), "--alpha", "3:1:x")
    assert bad_alpha.returncode == 2 and "--alpha = '3:1:x'" in bad_alpha.stderr
    noiseless = write(tmp_path, TINY.replace("noise = 0.2", "noise = 0.0"), "n.toml")
    assert dgep("summary", str(tmp_path / "none.nc")).returncode == 2
    theory = dgep("theory", str(noiseless), "--out", str(tmp_path / "t.nc"))
    assert theory.returncode == 0 and "eps_bo" in theory.stdout
    assert xr.load_dataset(tmp_path / "t.nc", engine="h5netcdf").sizes["alpha"] == 2
    # a theory table or a config where a sweep's results.nc belongs: one line naming the file
    for command, path in (("summary", "t.nc"), ("plot", "t.nc"), ("summary", "n.toml")):
        wrong = dgep(command, str(tmp_path / path))
        assert wrong.returncode == 2 and "Traceback" not in wrong.stderr, wrong.stderr
        assert wrong.stderr.count("\n") == 1 and f"{tmp_path / path}: not " in wrong.stderr
    # a file where the output directory belongs: refused, the file kept
    taken = dgep("run", str(write(tmp_path, TINY)), "--out", str(tmp_path / "t.nc"))
    assert taken.returncode == 2 and "Traceback" not in taken.stderr, taken.stderr
    assert "t.nc: cannot be the output directory (exists and is not a directory)" in taken.stderr
    assert xr.load_dataset(tmp_path / "t.nc", engine="h5netcdf").sizes["alpha"] == 2


def test_named_configs_parse():
    names = [path.stem for path in BUILTIN_CONFIGS.glob("*.toml")]
    assert {"demo", "cui2023", "validation", "validation_hmc"} <= set(names)
    for name in names:
        config = builtin_config(name)
        assert config.settings and config.alphas
    with pytest.raises(ConfigError, match="alpha"):
        parse_config("[teacher]\nactivations=['tanh']\n[data]\nalpha={start=1,stop=2}\n")


def test_committed_outputs_resume_under_their_named_configs():
    """Every sweep directory under data/ resumes under one of the named configs: a changed default
    (e.g. a sampler setting) must be pinned in the configs whose outputs were made with the old
    one, or ``dgep run`` would refuse their directories."""
    named = [
        point_identity(builtin_config(p.stem).to_json()) for p in BUILTIN_CONFIGS.glob("*.toml")
    ]
    stored = sorted((Path(__file__).resolve().parents[1] / "data").rglob("config.json"))
    assert len(stored) >= 8
    for path in stored:
        provenance = json.loads(path.read_text()).get("provenance")
        if provenance and provenance["overrides"]:  # a named config with --set overrides
            source = Path(__file__).resolve().parents[1] / provenance["source"]
            base = load_config(source, overrides=provenance["overrides"])
            assert point_identity(path.read_text()) == point_identity(base.to_json()), path
        else:
            assert point_identity(path.read_text()) in named, path


def test_a_refusal_names_what_differs_including_a_changed_default():
    """A directory made before ``adaptation`` existed (its config.json lacks the field) was
    sampled with NumPyro's schedule; the same config now gets the informed start's step-size
    warmup, and the refusal says so. Teacher settings are numbered."""
    config = parse_config(TINY)
    old = json.loads(config.to_json())
    del old["sampler"]["adaptation"]
    assert identity_differences(json.dumps(old), config.to_json()) == [
        '[sampler].adaptation = "step_size" (the directory\'s: "windows")'
    ]
    two = TINY.replace("[teacher]", "[[teacher]]").replace(
        "noise = 0.2", 'noise = 0.2\n[[teacher]]\nactivations = ["erf"]\nnoise = 0.2'
    )
    assert identity_differences(config.to_json(), parse_config(two).to_json()) == [
        "2 teacher settings (the directory's: 1)"
    ]
    noisier = parse_config(TINY.replace("noise = 0.2", "noise = 0.3"))
    assert identity_differences(config.to_json(), noisier.to_json()) == [
        "[teacher 0].noise = 0.3 (the directory's: 0.2)"
    ]
    evidence = parse_config(TINY + "\n[evidence]\n")
    assert identity_differences(config.to_json(), evidence.to_json()) == [
        "[evidence] table present (the directory's: absent)"
    ]
    assert identity_differences(evidence.to_json(), config.to_json()) == [
        "[evidence] table absent (the directory's: present)"
    ]
    elsewhere = parse_config(TINY + "\n[evidence]\nreplicas = 2\nplatform = 'cpu'\n")
    assert identity_differences(evidence.to_json(), elsewhere.to_json()) == []  # NOISE_ONLY
    cheaper = parse_config(TINY + "\n[evidence]\nnum_particles = 256\n")
    assert identity_differences(evidence.to_json(), cheaper.to_json()) == [
        "[evidence].num_particles = 256 (the directory's: 512)"
    ]


def test_a_points_time_is_projected_to_other_evidence_replicas():
    """``dgep check``'s time per point at the config's replicas: the posterior's time as it ran,
    the rest linear in the replicas; as it ran without an evidence or a record of its replicas."""
    values = {"wall_s": 10.0, "sampler_s": 2.0, "evidence_replicas": 4}
    assert (point_wall(values, 2), point_wall(values, 8), point_wall(values, None)) == (6, 18, 10)
    assert point_wall({"wall_s": 10.0, "sampler_s": 2.0}, 2) == 10


def test_committed_results_carry_the_current_long_names():
    """Every committed results.nc names its variables as ``LONG_NAMES`` does now (rebuild one
    from its points with ``write_results`` when a name changes; no point is rerun)."""
    from experiments.results import LONG_NAMES

    files = sorted((Path(__file__).resolve().parents[1] / "data").rglob("results.nc"))
    assert len(files) >= 8
    for path in files:
        ds = xr.open_dataset(path, engine="h5netcdf")
        stale = [v for v in LONG_NAMES if v in ds and ds[v].attrs["long_name"] != LONG_NAMES[v]]
        ds.close()
        assert not stale, (path, stale)


def test_extrapolation_recovers_a_known_line():
    inv_d = 1 / np.array([20.0, 40.0, 80.0])
    fit = extrapolate(inv_d, 0.3 + 2.0 * inv_d, np.full(3, 0.01))
    assert fit.value == pytest.approx(0.3) and 0 < fit.se < 0.05
    assert np.isnan(extrapolate(inv_d[:1], np.array([0.3]), np.array([0.01])).value)


def test_summary_means_and_standard_errors(reference_run):
    ds = open_results(reference_run[0] / "out" / "results.nc")
    summary = summarize(ds)
    values = ds["eps_bayes"].isel(setting=0, d=0, alpha=0).values
    assert float(summary["eps_bayes"].isel(setting=0, d=0, alpha=0)) == pytest.approx(values.mean())
    assert float(summary["eps_bayes_se"].isel(setting=0, d=0, alpha=0)) == pytest.approx(
        values.std(ddof=1) / np.sqrt(2)
    )
    pooled = ds["nishimori_eps_gap"].isel(setting=0, alpha=1).values.ravel()
    assert float(summary["nishimori_eps_gap_pooled"].isel(setting=0, alpha=1)) == pytest.approx(
        pooled.mean()
    )


def test_summary_shows_start_gaps_of_mixed_starts(reference_run, tmp_path):
    """The reference run starts every chain at the teacher: no start-gap columns. With start gaps
    (as ``init = "mixed"`` records them) they are pooled over d and seeds like the Nishimori
    gaps and get their own columns."""
    ds = open_results(reference_run[0] / "out" / "results.nc")
    assert "teacher - prior start" not in format_summary(summarize(ds))
    rng = np.random.default_rng(0)
    for name in ("start_gap_gibbs", "start_gap_overlap"):
        ds[name] = ds["eps_bayes"].copy(data=rng.normal(size=ds["eps_bayes"].shape))
    summary = summarize(ds)
    pooled = ds["start_gap_gibbs"].isel(setting=0, alpha=1).values.ravel()
    assert float(summary["start_gap_gibbs_pooled"].isel(setting=0, alpha=1)) == pytest.approx(
        pooled.mean()
    )
    head = format_summary(summary).splitlines()[1]
    assert "eps_gibbs teacher - prior start" in head and "q_st teacher - prior start" in head
    assert equilibrium_gaps(summary)[2:] == ("start_gap_gibbs", "start_gap_overlap")
    assert plot_nishimori(ds, tmp_path / "gaps.png").stat().st_size > 0  # drawn with them


def test_markdown_summary_has_one_row_per_alpha(reference_run):
    out = dgep("summary", str(reference_run[0] / "out" / "results.nc"), "--markdown")
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if line.startswith("| ")]
    assert len(rows) == 1 + 2 and "d->inf" in rows[0]  # header + one row per alpha


def test_fill_writes_the_named_sections_of_the_summary_into_a_document(reference_run, tmp_path):
    """``dgep fill`` puts under each block the lines of the summary section it names (the
    document's other lines kept); a second fill changes nothing and ``--check`` passes; a
    block edited by hand fails ``--check`` (exit 1, nothing written) and is restored by fill."""
    from experiments.report import summary_sections

    out = reference_run[0] / "out"
    sections = summary_sections(dgep("summary", str(out), "--markdown").stdout)
    title = next(t for t in sections if t.startswith("setting 0: "))
    assert "| alpha |" in sections[title] and "sampler checks" in sections
    doc = tmp_path / "README.md"
    block = f"<!-- dgep summary {out} | {title} -->"
    end = "<!-- end dgep summary -->"
    doc.write_text(f"# Tables\n\n{block}\nold\n{end}\n\ntext after\n")
    assert dgep("fill", str(doc)).returncode == 0
    text = doc.read_text()
    assert text == f"# Tables\n\n{block}\n{sections[title]}\n{end}\n\ntext after\n"
    check = dgep("fill", "--check", str(doc))
    assert check.returncode == 0 and "up to date" in check.stdout
    doc.write_text(text.replace("| alpha |", "| a |"))
    stale = dgep("fill", "--check", str(doc))
    assert stale.returncode == 1 and "out of date" in stale.stderr
    assert "| a |" in doc.read_text()
    assert dgep("fill", str(doc)).returncode == 0 and doc.read_text() == text


def test_fill_names_a_missing_section_or_end_and_keeps_the_document():
    """A block naming a section the summary lacks, or without its end, is one error naming the
    document, the line and the title; a block in fenced code is an example and left alone."""
    from experiments.report import fill_text

    summary = "### one\n| a |\n\n### sampler checks\nall pass\n"
    doc = "x\n<!-- dgep summary r | two -->\n<!-- end dgep summary -->\n"
    with pytest.raises(ValueError, match=r"doc.md:2: no section 'two' in the summary of r"):
        fill_text(doc, lambda sources: summary, name="doc.md")
    with pytest.raises(ValueError, match="doc.md:1: a summary block without"):
        fill_text("<!-- dgep summary r | one -->\n| a |\n", lambda sources: summary, "doc.md")
    filled = fill_text(doc.replace("two", "one"), lambda sources: summary)
    assert filled == "x\n<!-- dgep summary r | one -->\n| a |\n<!-- end dgep summary -->\n"
    whole = fill_text(doc.replace("two", "all"), lambda sources: summary)
    assert summary.rstrip() in whole
    example = f"```\n{doc}```\n"  # in fenced code: an example, not a block
    assert fill_text(example, lambda sources: summary) == example


def test_fill_refuses_results_that_are_not_there(tmp_path):
    doc = tmp_path / "README.md"
    text = "<!-- dgep summary missing | all -->\n<!-- end dgep summary -->\n"
    doc.write_text(text)
    result = dgep("fill", str(doc))
    assert result.returncode == 2 and f"README.md:1: {tmp_path / 'missing'}:" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and doc.read_text() == text


def test_diagnostics_name_the_failing_points():
    """Each check that some point fails gets one line with the count and the worst point; NaN
    (failed or older points without the variable) is neither a pass nor a failure."""
    from experiments.summary import format_diagnostics

    dims = ("setting", "d", "alpha", "seed")
    coords = {"setting": [0], "d": [20, 30], "alpha": [0.5, 1.0], "seed": [0, 1, 2]}

    def field(value: float) -> xr.DataArray:
        return xr.DataArray(np.full((1, 2, 2, 3), value), coords, dims)

    ds = xr.Dataset(
        {
            "eps_bayes": field(0.1),
            "rhat_max": field(1.01),
            "ess_min": field(300.0),
            "divergences": field(0.0),
            "bfmi_min": field(np.nan),
            "start_gap_z_max": field(np.nan),
        }
    )
    assert format_diagnostics(ds) == (
        "sampler checks: all 12 points pass (rhat_max, ess_min, divergences)"
    )
    ds["rhat_max"][0, 1, 0, 2] = 1.2
    ds["rhat_max"][0, 0, 1, 1] = 1.06
    ds["bfmi_min"][0, 0, 0, 0] = 0.2
    ds["start_gap_z_max"][0, 0, 1, 0] = np.inf  # a chain that never moved
    lines = format_diagnostics(ds).splitlines()
    assert lines == [
        "2 of 12 points: R-hat > 1.05: the chains disagree "
        "(worst 1.2 at setting 0, d 30, alpha 0.5, seed 2)",
        "1 of 12 points: E-BFMI < 0.3: the energy is explored poorly "
        "(worst 0.2 at setting 0, d 20, alpha 0.5, seed 0)",
        "1 of 12 points: teacher- and prior-started chains disagree by > 4 SE "
        "(worst inf at setting 0, d 20, alpha 1, seed 0)",
    ]


def test_compare_pairs_two_sweeps_point_by_point(reference_run, tmp_path):
    """The same sweep from the prior start: differences are taken per seed, and a sweep against
    itself differs by exactly zero."""
    first = reference_run[0] / "out" / "results.nc"
    config = write(tmp_path, TINY.replace("num_probes = 8", 'num_probes = 8\ninit = "prior"'))
    result = dgep_here("run", str(config), "--out", str(tmp_path / "prior"), "--no-progress")
    assert result.returncode == 0, result.stderr
    # the prior start's short scheduled warmup is flagged once, in one line without a traceback
    warned = [line for line in result.stderr.splitlines() if "warning" in line.lower()]
    assert len(warned) == 1 and warned[0].startswith(
        "dgep: warning: sampler.num_warmup = 40: below 150"
    ), result.stderr
    from experiments.summary import compare_runs

    a, b = open_results(first), open_results(tmp_path / "prior" / "results.nc")
    diff = compare_runs(a, b)
    expected = (a["eps_bayes"] - b["eps_bayes"]).isel(setting=0, d=1, alpha=0).values
    got = diff["eps_bayes"].isel(setting=0, d=1, alpha=0)
    assert float(got) == pytest.approx(expected.mean()) and expected.std() > 0
    assert float(abs(compare_runs(a, a)["eps_bayes"]).max()) == 0
    # the cost: ratios of means over seeds, A over B
    steps = (a["steps_per_draw"].mean("seed") / b["steps_per_draw"].mean("seed")).isel(setting=0)
    assert np.allclose(diff["steps_ratio"].isel(setting=0), steps)
    point = {"setting": 0, "d": 1, "alpha": 0}

    def ess_per_grad(ds: xr.Dataset) -> float:  # thinning 1
        per_grad = ds["ess_output"] / (ds["steps_per_draw"] * ds["num_draws"])
        return float(per_grad.mean("seed").isel(point))

    got = float(diff["ess_output_per_grad_ratio"].isel(point))
    assert got == pytest.approx(ess_per_grad(a) / ess_per_grad(b))
    assert np.all(compare_runs(a, a)["ess_gibbs_per_grad_ratio"] == 1)
    out = dgep("compare", str(first), str(tmp_path / "prior" / "results.nc"))
    assert (
        out.returncode == 0 and "Δ eps_bayes" in out.stdout and "ESS/grad output A/B" in out.stdout
    )
    assert dgep("compare", str(first), str(tmp_path / "none.nc")).returncode == 2


def test_padding_n_is_a_run_option():
    from experiments.store import Point
    from experiments.sweep import padded_size

    config = parse_config(TINY, "tiny")
    point = Point(0, 8, 1.0, 0)
    assert padded_size(config, point) is None
    padded = parse_config(TINY.replace("[run]", "[run]\npad_n = true"), "tiny")
    assert padded_size(padded, point) == 16  # the largest n at d = 8 (alpha = 2)


def test_seeds_wanted_follows_the_standard_error():
    from experiments.sweep import seeds_wanted, standard_error, teachers_needed

    paired = np.random.default_rng(0).normal(size=16)
    paired = 0.04 * (paired - paired.mean()) / paired.std(ddof=1)
    assert standard_error(paired) == pytest.approx(0.01)
    assert seeds_wanted(16, 0.01, 0.011) == 16
    assert seeds_wanted(16, 0.01, 0.008) == 25  # (0.01 / bound)^2 x 16 seeds
    assert seeds_wanted(16, 0.01, 0.005) == 32  # 64 wanted, at most doubled per round
    assert seeds_wanted(1, standard_error(paired[:1]), 0.005) == 2
    assert seeds_wanted(16, standard_error(np.full(16, np.nan)), 0.005) == 16
    assert seeds_wanted(16, 0.01, 0.0) == 32  # a mean error of 0 makes a relative bound 0
    assert teachers_needed(16, 0.01, 0.005) == 64  # the projection itself, uncapped
    assert teachers_needed(16, 0.01, 0.011) == 16
    assert teachers_needed(16, np.nan, 0.005) == 16
    assert teachers_needed(16, 0.01, 0.0) == np.inf


def test_a_free_entropy_target_adds_seeds_where_the_committed_gap_is_imprecise():
    """``[run] target_free_entropy_se = 0.002`` on the committed d = 20 free-entropy sweep
    (``N`` seeds per shape): the next round asks for more seeds exactly at the (setting, alpha)
    whose SE over seeds of ``free_entropy - free_entropy_glm`` is above 0.002 nats,
    ``N (SE / 0.002)^2`` of them, at most ``2 N``, the shapes with the largest SE first; a
    target that every point meets adds none. ``seeds_to_target`` projects the uncapped
    ``N (SE / 0.002)^2`` of each shape above the target."""
    from experiments.store import ResultStore
    from experiments.sweep import more_points, seeds_to_target

    folder = Path(__file__).parent.parent / "data" / "free_entropy" / "d20"
    records = ResultStore(folder).records()
    gaps: dict[tuple[int, float], list[float]] = {}
    for r in records:
        p, v = r["point"], r["values"]
        gaps.setdefault((p["setting"], p["alpha"]), []).append(
            v["free_entropy"] - v["free_entropy_glm"]
        )
    se = {k: np.std(g, ddof=1) / np.sqrt(len(g)) for k, g in gaps.items()}
    assert min(se.values()) < 0.002 < max(se.values())  # the target splits the shapes
    source = BUILTIN_CONFIGS / "free_entropy.toml"
    have = {k: len(g) for k, g in gaps.items()}
    more = {k: min(2 * n, int(np.ceil(n * (se[k] / 0.002) ** 2))) for k, n in have.items()}

    def config_at(target):
        sets = ["data.d=[20]", f"run.target_free_entropy_se={target}", "run.max_seeds=4096"]
        return load_config(source, sampler=False, overrides=sets)

    for target, expected in (
        (0.002, {k: more[k] if se[k] > 0.002 else n for k, n in have.items()}),
        (1.0, have),
    ):
        wanted: dict[tuple[int, float], int] = {}
        for p in more_points(config_at(target), records):
            wanted[(p.setting, p.alpha)] = wanted.get((p.setting, p.alpha), 0) + 1
        assert wanted == expected, target
    added = more_points(config_at(0.002), records)
    first_added = dict.fromkeys(
        (p.setting, p.alpha) for p in added if p.seed >= have[p.setting, p.alpha]
    )
    ses = [se[k] for k in first_added]
    assert ses == sorted(ses, reverse=True) and len(ses) > 1  # farthest from the target first
    projected = {(s, a): v for (s, _, a), v in seeds_to_target(config_at(0.002), records).items()}
    assert projected == {
        k: (n, np.ceil(n * (se[k] / 0.002) ** 2)) for k, n in have.items() if se[k] > 0.002
    }
    assert seeds_to_target(config_at(1.0), records) == {}
    no_evidence = "[run]\ntarget_free_entropy_se = 0.002"
    with pytest.raises(ConfigError, match=r"\[run\].target_free_entropy_se = 0.002: needs an"):
        parse_config(TINY.replace("[run]", no_evidence), "tiny", sampler=False)


def test_with_a_teacher_law_the_free_entropy_target_reads_the_control_variate():
    """``target_free_entropy_se = 0.002`` on the committed d = 60 sweep beside its teacher law:
    a shape wants more seeds exactly where both SEs that ``dgep summary`` reports, over the
    seeds and of the control variate (docs/theory.md 8.1), are above 0.002; without the law,
    where the SE over seeds is. relu-relu at alpha = 2 (16 teachers, SE 0.0054 over seeds,
    0.0018 with the control variate) wants 32 seeds without the law and 16 with it."""
    from experiments.law import law_delta_eff
    from experiments.results import open_results
    from experiments.store import ResultStore
    from experiments.summary import summarize
    from experiments.sweep import more_points

    folder = Path(__file__).parent.parent / "data" / "free_entropy" / "d60"
    records = ResultStore(folder).records()
    sets = ["data.d=[60]", "run.target_free_entropy_se=0.002", "run.max_seeds=128"]
    config = load_config(BUILTIN_CONFIGS / "free_entropy.toml", sampler=False, overrides=sets)
    summary = summarize(open_results(folder / "results.nc")).sel(d=60)
    law = law_delta_eff(folder)
    assert {len(x) for x in law.values()} == {400}
    have: dict[tuple[int, float], int] = {}
    for r in records:
        key = (r["point"]["setting"], r["point"]["alpha"])
        have[key] = have.get(key, 0) + (r["status"] == "ok")
    for with_law in (False, True):
        wanted: dict[tuple[int, float], int] = {}
        for p in more_points(config, records, law if with_law else None):
            wanted[(p.setting, p.alpha)] = wanted.get((p.setting, p.alpha), 0) + 1
        for (setting, alpha), num in wanted.items():
            cell = summary.sel(setting=setting, alpha=alpha)
            se = float(cell["free_entropy_gap_se"])
            if with_law:
                se = min(se, float(cell["free_entropy_gap_cv_se"]))
            assert (num > have[setting, alpha]) == (se > 0.002), (setting, alpha, with_law)
        assert wanted[(2, 2.0)] == (16 if with_law else 32)


@pytest.mark.parametrize(
    "bad, message",
    [
        ("max_temperatures = 0", "max_temperatures = 0: must be an integer >= 1"),
        ("replicas = 1", "replicas = 1: must be an integer >= 2"),
        ("num_leapfrog = true", "num_leapfrog = True: must be an integer >= 1"),
        ("num_particles = 64.0", "num_particles = 64.0: must be an integer >= 1"),
        (
            "num_particles = 2",
            "num_particles = 2: must exceed 1 / target_ess = 2 (the effective"
            " particles each temperature keeps)",
        ),
        ('target_ess = "half"', "target_ess = 'half': must be in (0, 1)"),
        ("target_accept = 1.0", "target_accept = 1.0: must be in (0, 1)"),
        ("initial_step_size = inf", "initial_step_size = inf: must be a finite number > 0"),
        ("initial_step_size = nan", "initial_step_size = nan: must be a finite number > 0"),
        (
            'platform = "cuda"',
            "platform = 'cuda': must be one of cpu, gpu, tpu (or absent: JAX's default device)",
        ),
    ],
)
def test_every_evidence_setting_is_checked_and_named(bad, message):
    """Each ``[evidence]`` field refused out of its range, with one line naming it."""
    with pytest.raises(ConfigError) as err:
        parse_config(TINY + f"[evidence]\n{bad}\n", "tiny")
    assert f"tiny: [evidence].{message}" == str(err.value)


def test_seed_target_extends_a_finished_sweep(reference_run, tmp_path):
    """A finished sweep resumed with a (here unreachable) SE target: the existing points are
    kept and every shape gains seeds 2, 3 (at most doubled per round, then max_seeds)."""
    out = tmp_path / "out"
    shutil.copytree(reference_run[0] / "out", out)
    before = point_values(out)
    text = TINY.replace("seeds = [0, 1]", "seeds = [0, 1]\ntarget_rel_se = 0.001\nmax_seeds = 4")
    result = dgep_here("run", str(write(tmp_path, text)), "--out", str(out), "--no-progress")
    assert result.returncode == 0, result.stderr
    after = point_values(out)
    assert len(after) == 16 and {k: after[k] for k in before} == before
    ds = open_results(out / "results.nc")
    assert list(ds["seed"].values) == [0, 1, 2, 3]
    assert bool((summarize(ds)["n_seeds"] == 4).all()) and "4/4" in result.stdout
    # back to the two listed seeds without a target: nothing runs, nothing is lost
    again = dgep_here("run", str(write(tmp_path, TINY)), "--out", str(out), "--no-progress")
    assert again.returncode == 0 and point_values(out) == after


def test_cui2023_config_reproduces_the_reference_curve(tmp_path):
    """The shipped config, at Delta = 0 by --set, computes the published curve on its own grid."""
    out = tmp_path / "cui.nc"
    assert (
        main(
            [
                "theory",
                str(BUILTIN_CONFIGS / "cui2023.toml"),
                "--set",
                "teacher.noise=0.0",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    ds = xr.load_dataset(out, engine="h5netcdf")
    data = np.loadtxt(
        Path(__file__).resolve().parents[1] / "data/reference/cui2023_tanh2x_L2_regression.csv",
        delimiter=",",
        skiprows=1,
    )[1:]
    assert np.allclose(ds["alpha"].values, data[:, 0], rtol=1e-12)
    assert np.max(np.abs(ds["q"].values / ds.attrs["rho"] - data[:, 1])) < 1e-8


def test_check_prints_the_plan_and_warns_about_repeated_n(tmp_path):
    """``dgep check``: points, n, estimates; alphas that round to one n warn (one line)."""
    dense = TINY.replace("alpha = [1.0, 2.0]", "alpha = { start = 0.1, stop = 2, num = 200 }")
    result = dgep("check", str(write(tmp_path, dense)))
    assert result.returncode == 0, result.stderr
    assert "d = 6: n = 1, 1," in result.stdout and "configuration ok" in result.stdout
    assert "400 points (200 shapes x 2 seeds)" in result.stdout
    warning = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warning) == 1 and "alphas give an n already given by another" in warning[0]
    assert not (tmp_path / "runs").exists()
    assert dgep("--version").stdout.startswith("dgep ")


def test_a_platform_is_an_execution_setting_checked_before_a_run(tmp_path):
    """``platform`` (sampler, evidence) changes where points run, not their numbers: a sweep
    resumes across it. One this machine lacks (a TPU, on the machines that run this suite) is
    refused by ``dgep run`` with one line naming the key, before anything is written."""
    base = parse_config(TINY + "[evidence]\n")
    placed = load_config(
        write(tmp_path, TINY + "[evidence]\n"),
        overrides=['sampler.platform="cpu"', 'evidence.platform="cpu"'],
    )
    assert placed.sampler.platform == placed.evidence.platform == "cpu"
    assert point_identity(placed.to_json()) == point_identity(base.to_json())
    out = tmp_path / "out"
    config = str(write(tmp_path, TINY))
    refused = dgep("run", config, "--set", 'sampler.platform="tpu"', "--out", str(out))
    assert refused.returncode == 2 and not out.exists()
    assert refused.stderr.strip().splitlines() == [
        f"dgep: error: {config}: [sampler].platform = 'tpu': this machine has no tpu device"
    ]


def test_overrides_are_applied_validated_and_recorded(tmp_path):
    config = write(tmp_path, TINY)
    loaded = load_config(config, overrides=["data.d=[6]", "teacher.noise=0.3", "run.seeds=[4]"])
    assert loaded.data.d == [6] and loaded.settings[0].noise == 0.3 and loaded.run.seeds == [4]
    stored = json.loads(loaded.to_json())["provenance"]
    assert stored == {
        "source": str(config),
        "overrides": ["data.d=[6]", "teacher.noise=0.3", "run.seeds=[4]"],
    }
    assert point_identity(loaded.to_json()) == point_identity(
        parse_config(
            TINY.replace("d = [6, 8]", "d = [6]")
            .replace("noise = 0.2", "noise = 0.3")
            .replace("seeds = [0, 1]", "seeds = [4]")
        ).to_json()
    )
    bad = dgep("theory", str(config), "--set", "data.alpha=[-1.0]")
    assert bad.returncode == 2 and "[data].alpha = [-1.0]" in bad.stderr
    assert "TABLE.KEY=VALUE" in dgep("theory", str(config), "--set", "dataalpha").stderr


def test_a_damaged_record_is_named_set_aside_and_recomputed(reference_run, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(reference_run[0] / "out", out)
    lines = (out / "points.jsonl").read_text().splitlines(keepends=True)
    lines[3] = lines[3][:1000] + "\n"  # an edit that cut a record short
    lines[-1] = lines[-1][:500]  # a write cut off by a kill
    (out / "points.jsonl").write_text("".join(lines))
    (out / ".results.nc.k1ll3d.tmp").write_bytes(b"\x89HDF")  # writes cut off by a kill
    (out / ".results.png.k1ll3d.tmp").write_bytes(b"")
    from experiments.store import DamagedRecordWarning

    with pytest.warns(DamagedRecordWarning, match="line 4: damaged record"):
        assert len(point_values(out)) == 6  # a reader skips both
    result = dgep_here("run", str(write(tmp_path, TINY)), "--out", str(out), "--no-progress")
    assert result.returncode == 0, result.stderr
    assert f"{out / 'points.jsonl'}: line 4: damaged record" in result.stderr
    assert "line 8: cut off" in result.stderr and "computed again" in result.stderr
    assert sorted(p.read_text() for p in (out / "damaged").iterdir()) == sorted(
        [lines[-1], lines[3][:-1]]
    )
    assert point_values(out) == point_values(reference_run[0] / "out")
    assert not list(out.glob(".*.tmp"))


def test_a_directory_of_point_files_is_moved_into_points_jsonl(reference_run, tmp_path):
    """The one-file-per-point layout (DIR/points/KEY.json) is read by rebuild and resumed."""
    from experiments.store import Point, ResultStore

    out = tmp_path / "out"
    shutil.copytree(reference_run[0] / "out", out)
    (out / "points").mkdir()
    for record in ResultStore(out).records()[:5]:
        key = Point(**record["point"]).key
        (out / "points" / f"{key}.json").write_text(json.dumps(record))
    (out / "points.jsonl").unlink()
    assert dgep_here("rebuild", str(out)).returncode == 0
    assert not (out / "points").exists() and finished_lines(out) == 5
    result = dgep_here("run", str(write(tmp_path, TINY)), "--out", str(out), "--no-progress")
    assert result.returncode == 0, result.stderr
    assert point_values(out) == point_values(reference_run[0] / "out")


def test_a_locked_directory_is_refused_naming_its_holder(reference_run, tmp_path):
    from experiments.store import ResultStore

    out = tmp_path / "out"
    shutil.copytree(reference_run[0] / "out", out)
    store = ResultStore(out)
    store.lock()
    try:
        refused = dgep("run", str(write(tmp_path, TINY)), "--out", str(out), "--no-progress")
        assert refused.returncode == 2, refused.stderr
        assert f"{out}: in use by dgep run, pid {os.getpid()}" in refused.stderr
    finally:
        store.unlock()
    assert (
        dgep_here("run", str(write(tmp_path, TINY)), "--out", str(out), "--no-progress").returncode
        == 0
    )


def test_outputs_follow_the_umask_and_a_directory_can_be_summarised(reference_run):
    out = reference_run[0] / "out"
    umask = os.umask(0)
    os.umask(umask)
    for path in (out / "results.nc", out / "config.json", out / "points.jsonl"):
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask, path
    summary = dgep("summary", str(out))
    assert summary.returncode == 0 and "points: smallest ESS" in summary.stdout


def test_theory_is_evaluated_at_the_realised_sample_ratio(reference_run):
    """n = round(alpha d): the theory columns use n / d, which is recorded as alpha_realised."""
    from gle import bayes_optimal

    ds = xr.load_dataset(reference_run[0] / "out" / "results.nc", engine="h5netcdf")
    realised = ds["n"] / ds["d"]
    assert np.allclose(ds["alpha_realised"], realised)
    spec = parse_config(TINY).settings[0]
    for a in np.unique(realised.values):
        at = ds["eps_theory"].where(realised == a)
        assert np.allclose(at.max(), bayes_optimal(spec, a).eps_bo[0], rtol=1e-12)


def test_a_config_can_name_an_activation_by_reference(tmp_path):
    """``activations = ["module:function"]``: imported and registered in every process that
    needs it (the sweep and its theory); an unimportable reference is one line naming it."""
    (tmp_path / "my_acts.py").write_text(
        "def softplus_c(x, xp):\n    return xp.log1p(xp.exp(x)) - 0.6931471805599453\n"
    )
    text = TINY.replace('activations = ["tanh"]', 'activations = ["my_acts:softplus_c"]')
    text = text.replace("d = [6, 8]", "d = [6]").replace("seeds = [0, 1]", "seeds = [0]")
    config = write(tmp_path, text)
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    run = subprocess.run(
        [
            *DGEP,
            "run",
            str(config),
            "--out",
            str(tmp_path / "o"),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    ds = xr.load_dataset(tmp_path / "o" / "results.nc", engine="h5netcdf")
    assert np.isfinite(ds["eps_bayes"]).all() and np.isfinite(ds["eps_theory"]).all()
    assert "my_acts:softplus_c" in ds.attrs["specs"]
    missing = dgep_here(
        "check", str(write(tmp_path, text.replace("my_acts", "no_such_module"), "m.toml"))
    )
    assert (
        missing.returncode == 2 and "'no_such_module:softplus_c': cannot import" in missing.stderr
    )


def test_figures_draw_only_what_is_defined(reference_run, tmp_path):
    """One d: no extrapolation is drawn or listed; the eps gap, NaN on the sign channel, is not
    in the Nishimori legend; a dense alpha grid gets a log axis, not a label per alpha."""
    import matplotlib

    matplotlib.use("Agg")
    from experiments.plotting import plot_comparison

    ds = open_results(reference_run[0] / "out" / "results.nc").isel(d=[0])
    captured = {}
    import matplotlib.figure

    original = matplotlib.figure.Figure.savefig

    def keep(fig, *args, **kwargs):
        captured["fig"] = fig
        return original(fig, *args, **kwargs)

    matplotlib.figure.Figure.savefig = keep
    try:
        plot_comparison(ds, tmp_path / "a.png")
        labels = [
            t.get_text()
            for ax in captured["fig"].axes
            if ax.get_legend()
            for t in ax.get_legend().get_texts()
        ]
        assert not any("d -> inf" in label for label in labels)
        sign = ds.assign(nishimori_eps_gap=ds["nishimori_eps_gap"] * np.nan)
        plot_nishimori(sign, tmp_path / "n.png")
        labels = [
            t.get_text()
            for ax in captured["fig"].axes
            if ax.get_legend()
            for t in ax.get_legend().get_texts()
        ]
        assert labels and not any("eps_gibbs - 2 eps_bayes" in label for label in labels)
        dense = ds.reindex(alpha=np.geomspace(0.5, 4, 30), method="nearest")
        plot_comparison(dense, tmp_path / "d.png")
        ticks = captured["fig"].axes[0].get_xticklabels()
        assert len([t for t in ticks if t.get_text()]) < 10
    finally:
        matplotlib.figure.Figure.savefig = original


def test_a_sweep_can_keep_the_draws_for_arviz(tmp_path):
    """``[run] keep = ["weights"]``: every point's draws in DIR/draws/KEY.nc (InferenceData with
    the weights); off by default; not part of the points' identity; its size stated by check."""
    import arviz as az

    text = TINY.replace("d = [6, 8]", "d = [6]").replace("alpha = [1.0, 2.0]", "alpha = [1.0]")
    config = write(tmp_path, text.replace("seeds = [0, 1]", 'seeds = [0, 1]\nkeep = ["weights"]'))
    assert "the draws take about" in dgep("check", str(config)).stdout
    result = dgep_here("run", str(config), "--out", str(tmp_path / "out"), "--no-progress")
    assert result.returncode == 0, result.stderr
    files = sorted((tmp_path / "out" / "draws").glob("*.nc"))
    assert [f.stem for f in files] == sorted(point_values(tmp_path / "out"))
    idata = az.from_netcdf(files[0])
    assert idata.posterior["W1"].shape == (2, 40, 6, 6) and "eps_gibbs" in idata.posterior
    plain = dgep_here(
        "run", str(write(tmp_path, text, "p.toml")), "--out", str(tmp_path / "out"), "--no-progress"
    )
    assert plain.returncode == 0, plain.stderr  # same points: resumes, nothing rerun


def test_the_progress_bar_starts_at_its_size(reference_run, tmp_path):
    """No empty bar (``0point [...]``) before the real one: a resumed finished sweep shows 8/8."""
    out = tmp_path / "out"
    shutil.copytree(reference_run[0] / "out", out)
    result = dgep_here("run", str(write(tmp_path, TINY)), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "8/8" in result.stderr and "0point" not in result.stderr


def test_a_variant_is_its_base_plus_what_differs(tmp_path):
    """``base = "FILE.toml"``: the base's tables with the variant's keys merged in, a teacher
    table replacing the base's settings, ``unset`` removing a base key (its default applies)."""
    write(tmp_path, TINY.replace("[run]", "[run]\ntarget_rel_se = 0.1"), "base.toml")
    variant = parse_config(
        'base = "base.toml"\nunset = ["run.target_rel_se"]\n[sampler]\nkernel = "hmc"\n'
        '[teacher]\nactivations = ["erf"]\nnoise = 0.3\n',
        str(tmp_path / "variant.toml"),
    )
    assert variant.sampler.kernel == "hmc" and variant.sampler.num_warmup == 40
    assert variant.settings[0].activations == ("erf",) and variant.settings[0].noise == 0.3
    assert variant.data.d == [6, 8] and variant.run.target_rel_se is None
    for text, message in (
        ('unset = ["run.seeds"]\n', "unset = ['run.seeds']: needs a base"),
        ('base = "none.toml"\n', "base = 'none.toml': cannot read"),
        ('base = "base.toml"\nunset = ["run.colour"]\n', "unset = 'run.colour': not a key"),
    ):
        with pytest.raises(ConfigError, match=re.escape(message)):
            parse_config(text, str(tmp_path / "v.toml"))


def test_a_sweep_measures_the_free_entropy_with_an_evidence_table(tmp_path):
    """``[evidence]``: every point also stores free_entropy (+ SE), free_entropy_glm (exact for
    the Gaussian channel) and free_entropy_theory, in nats per sample; the summary shows the
    paired gap. On the linear model (depth 0) the deep student is the GLM: gap within 4 SE.
    One worker: a bar follows each tempering."""
    text = TINY.replace('activations = ["tanh"]\nwidths = [1.0]', "activations = []\nwidths = []")
    text = text.replace("d = [6, 8]", "d = [6]").replace("alpha = [1.0, 2.0]", "alpha = [2.0]")
    text += "[evidence]\nnum_particles = 128\nreplicas = 3\n"
    result = dgep_here("run", str(write(tmp_path, text)), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert "tempering (deep student)" in result.stderr
    assert "f_deep - f_glm" in result.stdout
    assert (tmp_path / "out" / "free_entropy.png").stat().st_size > 10_000
    ds = xr.load_dataset(tmp_path / "out" / "results.nc", engine="h5netcdf")
    for name in ("free_entropy", "free_entropy_se", "free_entropy_glm", "free_entropy_theory"):
        assert np.isfinite(ds[name]).all() and ds[name].attrs["units"] == "nats per sample", name
    gap = ds["free_entropy"] - ds["free_entropy_glm"]
    bias = 0.5 * ds["n"] * 3 * ds["free_entropy_se"] ** 2  # n Var(one replica) / 2, 3 replicas
    # the time model of `dgep check` (preflight.EVIDENCE_TEMPERATURES) within a factor 2
    base, per_root_n = EVIDENCE_TEMPERATURES
    ratio = ds["evidence_temperatures"] / (base + per_root_n * np.sqrt(ds["n"]))
    assert bool(((ratio > 0.5) & (ratio < 2)).all()), ratio.values
    assert (abs(gap) < 4 * ds["free_entropy_se"] + bias).all()
    assert (ds["evidence_replicas"] == 3).all()
    # the replicas may change between rounds (`EvidenceConfig.NOISE_ONLY`): each point keeps its own
    more = ("--set", "evidence.replicas=2", "--set", "run.seeds=[0, 1, 2]", "--no-progress")
    result = dgep_here("run", str(tmp_path / "c.toml"), *more, "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    ds = xr.load_dataset(tmp_path / "out" / "results.nc", engine="h5netcdf")
    assert list(ds["evidence_replicas"].squeeze().values) == [3, 3, 2]
    sign = TINY.replace('activations = ["tanh"]', 'activations = ["sign"]')
    for text, message in (
        (TINY + "[evidence]\nnum_particles = 0\n", "[evidence].num_particles = 0"),
        (TINY + "[evidence]\nparticles = 5\n", "[evidence].particles = 5: unknown key"),
        (sign + "[evidence]\n", "[teacher].activations[0] = 'sign': zero derivative"),
    ):
        config = write(tmp_path, text, "bad.toml")
        refused = dgep_here("run", str(config), "--out", str(tmp_path / "bad"))
        assert refused.returncode == 2 and message in refused.stderr, refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
        assert not (tmp_path / "bad").exists()


def test_an_interrupted_plot_keeps_results_and_rebuild_draws_the_figures(
    reference_run, tmp_path, capsys, monkeypatch
):
    """SIGINT (KeyboardInterrupt) while the figures are drawn: results.nc is already written,
    the exit code is 130 with a line naming ``dgep rebuild``; rebuild then draws the figures."""
    import experiments.plotting

    out = tmp_path / "out"
    shutil.copytree(reference_run[0] / "out", out)
    for png in out.glob("*.png"):
        png.unlink()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(experiments.plotting, "plot_comparison", interrupted)
        assert main(["rebuild", str(out)]) == 130
    assert "dgep rebuild DIR" in capsys.readouterr().err
    assert (out / "results.nc").exists() and not list(out.glob("*.png"))
    assert main(["rebuild", str(out)]) == 0
    assert {p.name for p in out.glob("*.png")} == {"results.png", "nishimori.png"}


def test_ridge_next_to_the_posterior_with_an_estimators_table(tmp_path):
    """``[estimators]`` (empty: every learner that applies): ridge on each point's own data, at
    lam_bo and best on the grid, next to its asymptotic error, NNGP kernel ridge and the trained
    network; bad names and grids are one line."""
    result = dgep_here(
        "run",
        str(write(tmp_path, TINY + "[estimators]\n")),
        "--out",
        str(tmp_path / "o"),
        "--no-progress",
    )
    assert result.returncode == 0, result.stderr
    ds = xr.load_dataset(tmp_path / "o" / "results.nc", engine="h5netcdf")
    assert (tmp_path / "o" / "estimators.png").stat().st_size > 10_000
    assert (ds["eps_ridge"] <= ds["eps_ridge_bo"] + 1e-12).all()
    assert np.isfinite(ds["eps_ridge_theory"]).all()
    assert np.allclose(
        ds["eps_ridge_theory"], ds["eps_theory"], rtol=1e-10
    )  # ridge at lam_bo is BO
    assert np.isfinite(ds["eps_kernel"]).all()
    assert np.isfinite(ds["eps_trained"]).all() and (ds["eps_trained_grad"] < 1e-4).all()
    assert (ds["eps_kernel"] <= ds["eps_kernel_gp"] + 1e-12).all()
    assert set(np.unique(ds["eps_kernel_lam"])) <= {0.2 * g for g in (0.1, 0.3, 1.0, 3.0, 10.0)}
    # every grid value's error is kept along the grid's own dim; the best is its minimum
    for name, dim in (("ridge", "ridge_lam_factor"), ("kernel", "kernel_lam_factor")):
        assert ds[f"eps_{name}_grid"].dims[-1] == dim and 1.0 in ds[dim].values
        np.testing.assert_allclose(ds[f"eps_{name}_grid"].min(dim), ds[f"eps_{name}"])
    np.testing.assert_allclose(ds["eps_trained_grid"].min("trained_decay"), ds["eps_trained"])
    assert list(ds["trained_decay"].values) == [0.1, 1.0, 10.0]
    summary = dgep_here("summary", str(tmp_path / "o"))
    assert (
        "d = 8: learners" in summary.stdout and "NNGP kernel ridge, lam = Delta" in summary.stdout
    )
    for bad, message in (
        ('names = ["lasso"]', "unknown estimator 'lasso'"),
        ("ridge_grid = [-1.0]", "[estimators].ridge_grid = [-1.0]"),
        ("logistic_grid = [0.0]", "[estimators].logistic_grid = [0.0]"),
    ):
        refused = dgep_here(
            "run",
            str(write(tmp_path, TINY + f"[estimators]\n{bad}\n", "b.toml")),
            "--out",
            str(tmp_path / "bad"),
        )
        assert refused.returncode == 2 and message in refused.stderr, refused.stderr


def test_logistic_regression_next_to_the_posterior_on_the_sign_channel(tmp_path):
    """An empty ``[estimators]`` on the sign channel runs logistic regression on each point's
    data: its best classification error on the grid, its lam and the GLM's asymptotic error."""
    text = TINY.replace('channel = "gaussian"', 'channel = "sign"').replace("d = [6, 8]", "d = [8]")
    result = dgep_here(
        "run",
        str(write(tmp_path, text + "[estimators]\n")),
        "--out",
        str(tmp_path / "o"),
        "--no-progress",
    )
    assert result.returncode == 0, result.stderr
    ds = xr.load_dataset(tmp_path / "o" / "results.nc", engine="h5netcdf")
    assert ((ds["eps_logistic"] >= 0) & (ds["eps_logistic"] <= 1)).all()
    assert set(np.unique(ds["eps_logistic_lam"])) <= {0.01, 0.03, 0.1, 0.3, 1.0, 3.0}
    assert (ds["eps_logistic_theory"] >= ds["eps_theory"] - 1e-9).all()  # above the Bayes error
    assert ((ds["eps_trained"] >= 0) & (ds["eps_trained"] <= 1)).all()
    for gaussian_only in ("eps_ridge", "eps_kernel"):
        assert gaussian_only not in ds or bool(ds[gaussian_only].isnull().all())


def test_results_at_other_sizes_combine_along_d(reference_run, tmp_path):
    from experiments.results import combine_sizes

    ds = open_results(reference_run[0] / "out" / "results.nc")
    combined = combine_sizes([ds.isel(d=[1]), ds.isel(d=[0])])
    assert list(combined["d"].values) == [6, 8]
    assert np.allclose(combined["eps_bayes"].values, ds["eps_bayes"].values, equal_nan=True)
    with pytest.raises(ValueError, match="distinct d"):
        combine_sizes([ds, ds])
    with pytest.raises(ValueError, match="different alpha grids"):
        combine_sizes([ds.isel(d=[0]), ds.isel(d=[1], alpha=[0])])
    summary = dgep("summary", str(reference_run[0] / "out"), str(reference_run[0] / "out"))
    assert summary.returncode == 2 and "distinct d" in summary.stderr
    # the settings all results share are combined (by label), e.g. one setting of a sweep
    other = ds.assign_coords(setting=[1], setting_label=("setting", ["other"]))
    two = xr.concat([other, ds], "setting").assign_attrs(specs=json.dumps(2 * [specs_of(ds)]))
    mixed = combine_sizes([two.isel(d=[0]), ds.isel(d=[1])])
    assert list(mixed["setting_label"].values) == list(ds["setting_label"].values)
    assert np.allclose(mixed["eps_bayes"].values, ds["eps_bayes"].values, equal_nan=True)
    with pytest.raises(ValueError, match="no setting in common"):
        combine_sizes([other.isel(d=[0]), ds.isel(d=[1])])
    # and drawn against 1/d
    for i in (0, 1):
        ds.isel(d=[i]).to_netcdf(tmp_path / f"d{i}.nc", engine="h5netcdf")
    plotted = dgep_here(
        "plot", str(tmp_path / "d0.nc"), str(tmp_path / "d1.nc"), "--out", str(tmp_path / "p.png")
    )
    assert plotted.returncode == 0 and (tmp_path / "p_sizes.png").stat().st_size > 10_000


def specs_of(ds):
    return json.loads(ds.attrs["specs"])[0]


def test_the_quadratic_extrapolation_recovers_a_known_curve():
    from experiments.estimates import fit_chi2

    inv_d = 1 / np.array([20.0, 30.0, 45.0, 60.0])
    curve = 0.3 + 2.0 * inv_d - 30.0 * inv_d**2
    se = np.full(4, 0.001)
    fit = extrapolate(inv_d, curve, se, order=2)
    assert fit.value == pytest.approx(0.3, abs=1e-9) and fit.se > extrapolate(inv_d, curve, se).se
    assert fit_chi2(inv_d, curve, se, 2) == pytest.approx(0, abs=1e-12)
    assert fit_chi2(inv_d, curve, se, 1) > 10  # a line misses the curvature by many SE


def test_the_free_entropy_table_shows_each_size_its_extrapolation_and_the_fits_chi2():
    """``format_free_entropy`` on a summary whose first alpha lies on a line in 1/d: its row holds
    each size's mean, the intercept and its z, and the chi^2 of the line is 0 while the constant's
    is the weighted spread of the means about their weighted mean."""
    import xarray as xr

    from experiments.estimates import fit_chi2
    from experiments.summary import format_free_entropy

    sizes, se = np.array([20.0, 30.0, 60.0]), np.array([0.002, 0.003, 0.001])
    line = 0.001 + 0.4 / sizes
    means = np.stack([line, np.array([0.01, 0.0, 0.004])])  # (alpha, d)
    coords = {"setting": [0], "alpha": [1.0, 2.0], "d": sizes.astype(int)}
    dims = ("setting", "alpha", "d")
    fits = [extrapolate(1 / sizes, m, se) for m in means]
    summary = xr.Dataset(
        {
            "free_entropy_gap": (dims, means[None]),
            "free_entropy_gap_se": (dims, np.broadcast_to(se, (1, 2, 3))),
            "free_entropy_gap_inf": (("setting", "alpha"), [[f.value for f in fits]]),
            "free_entropy_gap_inf_se": (("setting", "alpha"), [[f.se for f in fits]]),
            "n_seeds": (dims, np.full((1, 2, 3), 8)),
        },
        coords=coords | {"setting_label": ("setting", ["tanh gaussian"])},
    )
    text = format_free_entropy(summary, markdown=True)
    first = next(row for row in text.splitlines() if row.startswith("| tanh gaussian | 1 |"))
    assert "+0.0210 ± 0.0020" in first and "+0.0077 ± 0.0010" in first  # d = 20 and 60
    assert f"+0.0010 ± {fits[0].se:.4f} | {0.001 / fits[0].se:+.1f} | 8/8/8 |" in first
    w = 1 / se**2
    flat = sum(float(w @ (m - (w @ m) / w.sum()) ** 2) for m in means)
    off_line = fit_chi2(1 / sizes, means[1], se, 1)  # the first alpha's line fits exactly
    assert off_line > 1 and f"chi^2 of a + b/d: {off_line:.1f} / 2; of a: {flat:.1f} / 4" in text


def test_check_with_out_tells_what_a_run_there_starts_with_and_writes_nothing(reference_run):
    """``dgep check CONFIG --out DIR`` on a finished sweep: nothing to run; with more seeds, or a
    standard-error target that asks for twice the seeds, the points a run would add per setting
    and d and the seeds that would reach the target; a directory of another configuration is refused in one line (exit 2). The directory
    is left as it was."""
    tmp, _ = reference_run
    config, out = str(tmp / "c.toml"), str(tmp / "out")
    before = {p.name: p.stat().st_mtime_ns for p in Path(out).iterdir()}
    done = dgep_here("check", config, "--out", out)
    assert done.returncode == 0, done.stderr
    assert "8 points finished; a run starts with 0 more" in done.stdout
    seeds = dgep_here("check", config, "--set", "run.seeds=[0, 1, 2]", "--out", out)
    assert "a run starts with 4 more" in seeds.stdout
    assert "  setting 0, d = 6: alpha 1: 1, alpha 2: 1" in seeds.stdout
    target = ["--set", "run.target_rel_se=1e-9", "--set", "run.max_seeds=8"]
    doubled = dgep_here("check", config, *target, "--out", out)
    assert "a run starts with 8 more" in doubled.stdout  # 2 -> 4 seeds in each of 4 shapes
    assert "a standard-error target may add rounds after it" in doubled.stdout
    assert "to reach the standard-error target(s), seeds N (SE / bound)^2" in doubled.stdout
    assert "run.max_seeds = 8 stops 4 shape(s) short of it" in doubled.stdout
    other = dgep_here("check", config, "--set", "teacher.noise=0.3", "--out", out)
    assert other.returncode == 2 and "[teacher 0].noise = 0.3" in other.stderr
    assert len(other.stderr.strip().splitlines()) == 1
    assert {p.name: p.stat().st_mtime_ns for p in Path(out).iterdir()} == before


@pytest.mark.parametrize("workers", [1, 2])
def test_map_unordered_pairs_each_task_with_its_result(workers):
    from experiments.processes import map_unordered

    pairs = list(map_unordered(abs, [-3, 1, -2, 5], workers))
    assert sorted(pairs) == [(-3, 3), (-2, 2), (1, 1), (5, 5)]
    with pytest.raises(TypeError):
        list(map_unordered(abs, [-1, "x"], workers))
