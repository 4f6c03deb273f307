"""How short a warmup the informed start can take: NumPyro's adaptation schedule against warmup
length, on the posterior of benchmarks/sampler.py (L = 2 tanh, alpha = 2, Delta = 0.1, 2 chains x
200 draws, informed start), NUTS and HMC of integration time pi/2, 8 teachers per row.

Below 150 warmup steps NumPyro (like Stan) shrinks every phase of its schedule; the last one, in
which the step size is adapted afresh after the mass-matrix update (dual averaging started at 10x
the step size reached), gets 10 % of the warmup: 5 steps at 50. The step size it ends with can be
too large for the chain to move (``bayes.ShortWarmupWarning``). Rows ``-step``: ``adaptation =
"step_size"``, the informed start's default (identity mass matrix, one dual averaging over the
whole warmup), which has no last window to starve; the other rows set ``"windows"``. Reported per
row: runs with R-hat of any observable > 1.05, the smallest mean acceptance of a chain (target
0.55 NUTS, 0.8 HMC), and medians of leapfrog steps per draw, ESS of the posterior-mean output and
of the Gibbs error, and wall time of a run (compiled).
Run: python benchmarks/warmup.py [d ...]
"""

import sys
import time
import warnings

import numpy as np
from sampler import HMC_PI_2, problem

SEEDS = range(8)
WINDOWS = {"adaptation": "windows"}
#: label: (sampler options, warmup lengths); ``-step``: the default, ``adaptation = "step_size"``
ROWS = {
    "nuts": (WINDOWS, (50, 100, 150)),
    "hmc": (HMC_PI_2 | WINDOWS, (50, 100, 150)),
    "nuts-step": ({}, (30, 50)),
    "hmc-step": (HMC_PI_2, (30, 50)),
}


def row(d: int, kernel: str, warmup: int) -> str:
    import bayes

    bayes.prepare_process()  # host devices and the compilation cache, as dgep run
    cfg = bayes.SamplerConfig(
        num_warmup=warmup, num_samples=200, num_chains=2, init="teacher", **ROWS[kernel][0]
    )
    runs = []
    for seed in SEEDS:
        teacher, train, test = problem(d, seed)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bayes.ShortWarmupWarning)  # what is measured here
            run = bayes.sample_posterior(teacher, train, test, cfg, seed=seed)
        wall = time.perf_counter() - start
        m = bayes.measure(run, test, teacher.spec.channel)
        accept = run.draws["accept_prob"].mean(axis=1).min()
        diag = m.diagnostics
        runs.append(
            (
                diag["rhat_max"],
                accept,
                diag["steps_per_draw"],
                m.ess_output,
                diag["ess_gibbs"],
                wall,
            )
        )
    rhat, accept, steps, ess_out, ess_gibbs, wall = np.array(runs).T
    return (
        f"d={d:>3} {kernel:>9} warmup {warmup:>3}: R-hat > 1.05 in {np.sum(rhat > 1.05)} of "
        f"{len(runs)} (max {rhat.max():.2f}), smallest chain acceptance {accept.min():.3f}, "
        f"steps/draw {np.median(steps):4.1f}, ESS output {np.median(ess_out):3.0f} "
        f"(min {ess_out.min():3.0f}), ESS gibbs {np.median(ess_gibbs):3.0f} "
        f"(min {ess_gibbs.min():3.0f}), wall {np.median(wall[1:]):4.1f} s"
    )


def main(sizes: list[int]) -> None:
    for d in sizes:
        for kernel, (_, warmups) in ROWS.items():
            for warmup in warmups:
                print(row(d, kernel, warmup), flush=True)


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [50, 100])
