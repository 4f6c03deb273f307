"""Fixed-point throughput: alpha points per second at 1e-10 accuracy in q, against a damped
fixed-point iteration as in the published notebooks (damping 0.1, tolerance 1e-13).

Targets: 10^6 points/s (Gaussian channel, 10^5-point grid), 10^4 points/s (sign, 1000 points).
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
