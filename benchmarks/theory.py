"""Fixed-point throughput: alpha points per second at 1e-10 accuracy in q, against a damped
fixed-point iteration as in the published notebooks (damping 0.1, tolerance 1e-13).

Targets: 10^6 points/s (Gaussian channel, 10^5-point grid), 10^4 points/s (sign, 1000 points),
and the same for the command, ``dgep theory CONFIG --alpha 0.01:100:100000`` (its table and an
``--out`` netCDF file), run by ``experiments.cli.main`` in this process: start-up excluded.
Run: python benchmarks/theory.py
"""

import time

import numpy as np

from gle import damped_iteration, equivalent_glm, solve_glm
from teacher_student import TeacherSpec


def rate(fn, points, repeat=3):
    best = min(_timed(fn) for _ in range(repeat))
    return points / best, best


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


for channel, num, num_damped in (("gaussian", 100_000, 2000), ("sign", 1000, 200)):
    glm = equivalent_glm(TeacherSpec(activations=("tanh", "tanh"), channel=channel, noise=0.1))
    alpha = np.logspace(-2, 2, num)
    solve = lambda: solve_glm(alpha, glm.rho, glm.delta_eff, glm.noise, channel)  # noqa: E731
    fast, seconds = rate(solve, num)
    sub = alpha[:: num // num_damped]
    damped = lambda: [damped_iteration(a, glm.rho, glm.s2, channel) for a in sub]  # noqa: E731
    slow, _ = rate(damped, sub.size, repeat=1)
    q_fast = solve_glm(sub, glm.rho, glm.delta_eff, glm.noise, channel).q
    q_slow = np.array([damped_iteration(a, glm.rho, glm.s2, channel)[0] for a in sub])
    print(
        f"{channel:>8}: dgep {fast:>12,.0f} points/s ({num} points in {seconds * 1e3:.1f} ms); "
        f"damped iteration {slow:>9,.0f} points/s -> {fast / slow:,.0f}x; "
        f"max |q - q_damped| = {np.max(np.abs(q_fast - q_slow)):.1e}"
    )

# The sign channel of a non-centred teacher: the fixed point averaged over the output offset
# c ~ N(0, offset_var) (gle.solve_glm_ensemble, 24 offsets per alpha), against adaptive
# quadrature over c of single-offset fixed points (scipy.integrate.quad), as a user would write.
from scipy import integrate  # noqa: E402

from gle import solve_glm_ensemble  # noqa: E402

glm = equivalent_glm(TeacherSpec(activations=("relu", "relu"), channel="sign", noise=0.1))
args = (glm.rho, glm.delta_eff, glm.noise, "sign")
alpha = np.logspace(-2, 2, 1000)
fast, seconds = rate(lambda: solve_glm_ensemble(alpha, *args, glm.offset_var), alpha.size)
sd = np.sqrt(glm.offset_var)


def by_quad(a):
    def integrand(c):
        return solve_glm(a, *args, c).eps_bo[0] * np.exp(-0.5 * (c / sd) ** 2) / sd

    return 2 * integrate.quad(integrand, 0, 9 * sd, epsabs=1e-10)[0] / np.sqrt(2 * np.pi)


sub = alpha[::100]
slow, _ = rate(lambda: [by_quad(a) for a in sub], sub.size, repeat=1)
gap = np.max(
    np.abs(solve_glm_ensemble(sub, *args, glm.offset_var).eps_bo - [by_quad(a) for a in sub])
)
print(
    f"sign, offset: dgep {fast:>8,.0f} points/s ({alpha.size} points in {seconds:.2f} s); "
    f"quad over c {slow:>6,.1f} points/s -> {fast / slow:,.0f}x; max |eps_bo - quad| = {gap:.1e}"
)


# The command: dgep theory on a 10^5-point grid, table printed (to /dev/null) and --out written.
import contextlib  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

from experiments.cli import main  # noqa: E402

with tempfile.TemporaryDirectory() as tmp:
    for channel in ("gaussian", "sign"):
        config = Path(tmp) / f"{channel}.toml"
        config.write_text(
            f'[teacher]\nactivations = ["tanh", "tanh"]\nchannel = "{channel}"\nnoise = 0.1\n'
            "[data]\nalpha = [1.0]\n"
        )
        argv = ["theory", str(config), "--alpha", "0.01:100:100000", "--out", f"{tmp}/t.nc"]
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
            points, seconds = rate(
                lambda: main(argv) == 0 or sys.exit("dgep theory failed"), 100_000, repeat=2
            )
        print(
            f"dgep theory, {channel:>8}: {points:>12,.0f} points/s (10^5 points, {seconds:.2f} s)"
        )
