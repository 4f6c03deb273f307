"""dgep's gradient throughput against the ceiling for the same model: a bare pmapped leapfrog loop
of the same potential, in the same process. L = 2 tanh, widths 1, alpha = 2, Delta = 0.1, 2 chains
on 2 host devices, 4000 test points (the sweep default; ``problem`` of benchmarks/sampler.py, its
seed 0), float32. ``bare``: ``jax.pmap`` of a ``fori_loop`` of leapfrog steps of
``StudentNetwork.potential`` (its value and gradient once per step and the updates of position and
momentum, nothing else): the most gradients per second this model can get here. Each dgep contender
(NUTS and HMC of integration time pi/2, ``thinning`` 1 and 2: the test-set observables are computed
once per ``thinning`` kernel transitions) runs the informed start with a 100-step step-size warmup
and 400 kernel transitions per chain (``num_samples = 400``, so ``400 / thinning`` kept draws) on
``SEEDS`` sampler seeds of one teacher and dataset, after one untimed run that compiles. Reported
per contender: gradient evaluations per second (leapfrog steps of every transition, warmup
included, over the wall time of ``sample_posterior``) and its ratio to ``bare``, leapfrog steps per
transition, ESS per second and per 1000 gradients of the output (median over the 16 probe points)
and per 1000 gradients of the Gibbs error, and ``eps_bayes`` over the seeds: the mean, the spread
(SD) from the sampler's randomness alone (same data), and the reported SE (over test points) for
scale.
Run: python benchmarks/ceiling.py [d ...]   (default 90 180)
"""

import sys
import time

import numpy as np
from sampler import output_ess, problem  # the same posterior as benchmarks/sampler.py

SEEDS = 3
CHAINS, WARMUP, TRANSITIONS, BARE_STEPS = 2, 100, 400, 20


def bare(teacher, train, seconds: float = 10.0) -> float:
    """Gradients per second of a pmapped loop of ``BARE_STEPS`` leapfrog steps per call."""
    import jax
    import jax.numpy as jnp

    from bayes.model import StudentNetwork

    net = StudentNetwork(teacher.spec, teacher.d)
    x, y = jnp.asarray(train.x, jnp.float32), jnp.asarray(train.y, jnp.float32)
    value_and_grad = jax.value_and_grad(net.potential(x, y, jnp.ones(train.n, jnp.float32)))

    def leapfrog(_, state):
        z, p, g = state
        p = p - 0.005 * g
        z = z + 0.01 * p
        _, g = value_and_grad(z)
        return z, p - 0.005 * g, g

    def steps(z, p, g):
        return jax.lax.fori_loop(0, BARE_STEPS, leapfrog, (z, p, g))

    loop = jax.pmap(steps)
    z0 = np.tile(net.coordinates(list(teacher.weights)), (CHAINS, 1)).astype(np.float32)
    state = loop(z0, np.zeros_like(z0), np.zeros_like(z0))
    jax.block_until_ready(state)
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        state = loop(*state)
        jax.block_until_ready(state)
        calls += 1
    return BARE_STEPS * CHAINS * calls / (time.perf_counter() - start)


def contender(teacher, train, test, options: dict) -> dict:
    import arviz as az

    import bayes

    cfg = bayes.SamplerConfig(
        num_warmup=WARMUP, num_samples=TRANSITIONS, num_chains=CHAINS, **options
    )
    bayes.sample_posterior(teacher, train, test, cfg, seed=99)  # compiles
    rows = []
    for seed in range(SEEDS):
        start = time.perf_counter()
        run = bayes.sample_posterior(teacher, train, test, cfg, seed=seed)
        wall = time.perf_counter() - start
        steps = run.draws["num_steps"].mean()
        grads = steps * (WARMUP + TRANSITIONS) * CHAINS
        ess_out = output_ess(run.draws["probe"])
        eps = bayes.measure(run, test, "gaussian").eps_bayes
        rows.append(
            {
                "grad/s": grads / wall,
                "steps": steps,
                "ess_out/s": ess_out / wall,
                "ess_out/kgrad": 1000 * ess_out / grads,
                "ess_gibbs/kgrad": 1000
                * float(az.ess(np.asarray(run.draws["gibbs"], float)))
                / grads,
                "eps": eps.value,
                "eps_se": eps.se,
            }
        )
    out = {k: float(np.median([r[k] for r in rows])) for k in rows[0]}
    eps = np.array([r["eps"] for r in rows])
    return out | {"eps": float(eps.mean()), "eps_sd": float(eps.std(ddof=1))}


CONTENDERS = {
    f"{kernel} thin {t}": (
        {"kernel": "hmc", "trajectory_length": float(np.pi / 2)} if kernel == "hmc" else {}
    )
    | {"thinning": t}
    for kernel in ("nuts", "hmc")
    for t in (1, 2)
}


def main(sizes: list[int]) -> None:
    import bayes

    bayes.prepare_process()
    print(
        "| d | contender | grad/s | of bare | steps/transition | ESS/s output | ESS/kgrad output | "
        "ESS/kgrad gibbs | eps_bayes (mean, SD over seeds) | its SE |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for d in sizes:
        teacher, train, test = problem(d, 0)
        ceiling = bare(teacher, train)
        print(f"| {d} | bare leapfrog loop | {ceiling:,.0f} | 100 % | | | | | | |", flush=True)
        for name, options in CONTENDERS.items():
            r = contender(teacher, train, test, options)
            print(
                f"| {d} | {name} | {r['grad/s']:,.0f} | {r['grad/s'] / ceiling:.0%} | "
                f"{r['steps']:.1f} | {r['ess_out/s']:.1f} | {r['ess_out/kgrad']:.1f} | "
                f"{r['ess_gibbs/kgrad']:.1f} | "
                f"{r['eps']:.5f} ± {r['eps_sd']:.5f} | {r['eps_se']:.4f} |",
                flush=True,
            )


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [90, 180])
