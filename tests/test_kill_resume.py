"""A sweep killed (SIGKILL) at 12 random instants and resumed each time ends with the same
point records and results.nc as one uninterrupted run (docs/cli.md, the output directory)."""

import os
import signal
import subprocess
import time

import numpy as np
import pytest
import xarray as xr
from test_experiments import DGEP, TIMING, TINY, dgep, finished_lines, point_values, write

pytestmark = pytest.mark.xdist_group("kills")

KILLS = 12


def killed_after(config, out, seconds):
    """Start ``dgep run`` and SIGKILL it after ``seconds`` (or let it end first)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [*DGEP, "run", str(config), "--out", str(out), "--no-progress"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def comparable(path):
    ds = xr.load_dataset(path, engine="h5netcdf")
    return ds.drop_vars([v for v in ds.data_vars if v in TIMING or v.endswith("_s")])


def test_twelve_kills_at_random_instants_lose_nothing(tmp_path):
    """The instants are uniform over the uninterrupted run's wall time (start-up, sampling,
    appending records, writing results.nc and the figures); the temporaries a kill leaves are
    removed by the next run."""
    config = write(tmp_path, TINY)
    start = time.monotonic()
    reference = dgep("run", str(config), "--out", str(tmp_path / "ref"), "--no-progress")
    duration = time.monotonic() - start
    assert reference.returncode == 0, reference.stderr
    out = tmp_path / "out"
    rng = np.random.default_rng(2026)
    progress = []
    for seconds in rng.uniform(0.1, 1.0, KILLS) * duration:
        killed_after(config, out, seconds)
        progress.append(finished_lines(out))
    assert progress == sorted(progress), "a kill lost finished points"
    final = dgep("run", str(config), "--out", str(out), "--no-progress")
    assert final.returncode == 0, final.stderr
    assert not list(out.rglob(".*.tmp"))
    assert point_values(out) == point_values(tmp_path / "ref")
    xr.testing.assert_identical(
        comparable(out / "results.nc").drop_attrs(),
        comparable(tmp_path / "ref" / "results.nc").drop_attrs(),
    )
