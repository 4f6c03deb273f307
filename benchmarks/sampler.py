"""Sampler throughput against the plain NumPyro script a user would write for the same posterior.

L = 2 tanh, widths 1, alpha = 2, Delta = 0.1, 2 chains in parallel, d in (50, 100), 200 kept
draws per chain, 4000 test points. Each contender runs in its own process on seeds 0-3 (same
shapes, new teacher and data): ``first`` is seed 0 in a fresh process with a cold compilation
cache, ``repeat`` the median over seeds 1-3 (and their largest R-hat), the next runs of the same
shapes as in a sweep over seeds (the machine's timings vary by 10-40 % from run to run). dgep
also runs seed 0 again in a new process that finds JAX's persistent compilation cache filled
(``cached``: a script run a second time); the plain script has no such cache and compiles in
every run.

* ``baseline``: ``numpyro.sample`` per weight matrix, ``MCMC(NUTS(model))`` defaults (default
  start, 200 warmup), ``numpyro.set_host_device_count(2)``; f on the test points from the
  returned weights afterwards.
* ``dgep-prior``: ``bayes.sample_posterior`` with the baseline's start and warmup (prior start, 200
  warmup; NUTS at dgep's acceptance target 0.55, the baseline's is NumPyro's 0.8).
* ``dgep``: the informed (teacher) start, which is a posterior sample in the Bayes-optimal
  setting, so the warmup only tunes the step size: its default ``adaptation = "step_size"``
  (identity mass matrix, one dual averaging of the step size) over 50 warmup steps (30 and 50
  were reliable in all 64 runs of benchmarks/warmup.py).
* ``dgep-hmc``: as ``dgep``, with HMC of integration time pi/2 per draw (jittered +-50 %)
  instead of NUTS: a quarter period of every prior-dominated direction of the standard-normal
  coordinates, where NUTS runs to its U-turn at about half a period.
* ``dgep-windows``: as ``dgep`` with NumPyro's adaptation schedule (``adaptation =
  "windows"``: step size and diagonal mass matrix) over 150 steps, the shortest with its full
  schedule (with 50, 10 of 16 NUTS runs had R-hat > 1.05, most with a chain whose step size was
  too large to move: benchmarks/warmup.py).

Reported: wall time (compile, warmup, sampling, test predictions; library imports excluded for
every contender), gradient evaluations per second over that wall time (warmup counted at the
sampling rate of leapfrog steps per draw) and the fraction of the machine's matrix-multiply rate
measured here (6 n x weights FLOPs per gradient), ESS per second of the Gibbs error and of
the posterior-mean output (median over 16 test points; it sets eps_bayes), and the R-hat of the
Gibbs error (a speed bought by a chain that does not mix shows there).
Run: python benchmarks/sampler.py [d ...]
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

CHAINS, SAMPLES, WARMUP = 2, 200, 200
INFORMED_WARMUP = 50
SCHEDULE_WARMUP = 150  # bayes.sampler.RELIABLE_WARMUP, not imported: the baseline's process
# must not load dgep (its XLA flags and compilation cache)
INFORMED = {"num_warmup": INFORMED_WARMUP, "init": "teacher"}
HMC_PI_2 = {"kernel": "hmc", "trajectory_length": float(np.pi / 2)}
CONTENDERS = {
    "baseline": {"num_warmup": WARMUP},
    "dgep-prior": {"num_warmup": WARMUP, "init": "prior"},
    "dgep": INFORMED,
    "dgep-hmc": INFORMED | HMC_PI_2,
    "dgep-windows": INFORMED | {"num_warmup": SCHEDULE_WARMUP, "adaptation": "windows"},
}


def matmul_rate() -> float:
    """float32 FLOP/s of a 2048 x 2048 product with JAX (best of 5)."""
    import jax
    import jax.numpy as jnp

    a = jnp.ones((2048, 2048), jnp.float32)
    f = jax.jit(lambda a: a @ a)
    f(a).block_until_ready()
    best = np.inf
    for _ in range(5):
        start = time.perf_counter()
        f(a).block_until_ready()
        best = min(best, time.perf_counter() - start)
    return 2 * 2048**3 / best


def problem(d: int, seed: int):
    from teacher_student import TeacherSpec, sample_teacher

    teacher = sample_teacher(TeacherSpec(activations=("tanh", "tanh"), noise=0.1), d, seed)
    return teacher, teacher.sample(2 * d, seed + 100), teacher.sample(4000, seed + 200)


def output_ess(probe) -> float:
    """Median bulk ESS of the output over the probe points (``probe``: chains x draws x 16)."""
    import arviz as az

    return float(np.median([az.ess(np.asarray(probe[..., j], float)) for j in range(16)]))


def baseline(teacher, train, test, seed: int):
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer import MCMC, NUTS

    d, (k1, k2) = teacher.d, teacher.spec.hidden_sizes(teacher.d)

    def net(x, W1, W2, a):
        return jnp.tanh(jnp.tanh(x @ W1.T / jnp.sqrt(d)) @ W2.T / jnp.sqrt(k1)) @ a / jnp.sqrt(k2)

    def model(x, y):
        W1 = numpyro.sample("W1", dist.Normal(0, 1).expand([k1, d]).to_event(2))
        W2 = numpyro.sample("W2", dist.Normal(0, 1).expand([k2, k1]).to_event(2))
        a = numpyro.sample("a", dist.Normal(0, 1).expand([k2]).to_event(1))
        numpyro.sample("y", dist.Normal(net(x, W1, W2, a), jnp.sqrt(0.1)), obs=y)

    mcmc = MCMC(
        NUTS(model), num_warmup=WARMUP, num_samples=SAMPLES, num_chains=CHAINS, progress_bar=False
    )
    mcmc.run(jax.random.PRNGKey(seed), train.x, train.y, extra_fields=("num_steps",))
    s = mcmc.get_samples(group_by_chain=True)
    xt = jnp.asarray(test.x)
    f = np.asarray(jax.vmap(jax.vmap(lambda *w: net(xt, *w)))(s["W1"], s["W2"], s["a"]))
    steps = np.asarray(mcmc.get_extra_fields(group_by_chain=True)["num_steps"])
    return (
        steps,
        ((f - test.f_star) ** 2).mean(-1),
        f[..., :16],
        ((f.mean((0, 1)) - test.f_star) ** 2).mean(),
    )


def dgep(teacher, train, test, seed: int, options: dict):
    import bayes

    cfg = bayes.SamplerConfig(num_samples=SAMPLES, num_chains=CHAINS, **options)
    run = bayes.sample_posterior(teacher, train, test, cfg, seed=seed)
    eps_bayes = bayes.measure(run, test, "gaussian").eps_bayes_raw.value
    return run.draws["num_steps"], run.draws["gibbs"], run.draws["probe"], eps_bayes


def child(name: str, d: int, seeds: list[int]) -> None:
    """Run one contender on each seed in this (fresh) process; print one JSON line per run.
    Each contender's libraries are imported before the clock starts."""
    if name == "baseline":
        import numpyro

        numpyro.set_host_device_count(CHAINS)
    else:
        import bayes

        bayes.prepare_process()  # host devices and the compilation cache, as dgep run
    import arviz as az

    for seed in seeds:
        teacher, train, test = problem(d, seed)
        start = time.perf_counter()
        if name == "baseline":
            steps, gibbs, probe, eps = baseline(teacher, train, test, seed)
        else:
            steps, gibbs, probe, eps = dgep(teacher, train, test, seed, CONTENDERS[name])
        wall = time.perf_counter() - start
        ess_out = output_ess(probe)
        row = {
            "wall": wall,
            "grads": float(steps.sum()) * (CONTENDERS[name]["num_warmup"] + SAMPLES) / SAMPLES,
            "steps_per_draw": float(steps.mean()),
            "ess_gibbs": float(az.ess(np.asarray(gibbs, float))),
            "rhat_gibbs": float(az.rhat(np.asarray(gibbs, float))),
            "ess_out": float(ess_out),
            "eps_bayes": float(eps),
            "params": teacher.spec.num_weights(d),
            "n": train.n,
        }
        print(json.dumps(row), flush=True)


def rates(r: dict) -> dict:
    """Per-second figures of one run."""
    return {
        "wall": r["wall"],
        "grad/s": r["grads"] / r["wall"],
        "flops": 6 * r["n"] * r["params"] * r["grads"] / r["wall"],
        "steps/draw": r["steps_per_draw"],
        "gibbs": r["ess_gibbs"] / r["wall"],
        "output": r["ess_out"] / r["wall"],
        "eps_bayes": r["eps_bayes"],
        "rhat": r["rhat_gibbs"],
    }


def combine(runs: list[dict]) -> dict:
    """Medians over the repeats, and their largest R-hat."""
    combined = {k: float(np.median([r[k] for r in runs])) for k in runs[0]}
    return combined | {"rhat": max(r["rhat"] for r in runs)}


def report(name: str, d: int, run: str, r: dict, peak: float) -> str:
    return (
        f"d={d:>3} {name:>12} {run:>6}: wall {r['wall']:5.1f} s, {r['grad/s']:6,.0f} grad/s "
        f"({r['flops'] / peak:5.1%} of matmul), steps/draw {r['steps/draw']:4.1f}, "
        f"ESS/s gibbs {r['gibbs']:6.1f}, ESS/s output {r['output']:6.1f}, "
        f"eps_bayes {r['eps_bayes']:.4f}, R-hat gibbs {r['rhat']:.3f}"
    )


def run_child(script: str, args: list[str], cache: str) -> list[dict]:
    """Run ``script --child ARGS`` in a fresh process (dgep's compilation cache in ``cache``);
    the JSON lines it prints."""
    out = subprocess.run(
        [sys.executable, script, "--child", *args],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ | {"DGEP_JAX_CACHE": cache},
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def spawn(name: str, d: int, seeds: str, cache: str) -> list[dict]:
    """Run ``child`` for one contender in a fresh process."""
    return run_child(__file__, [name, str(d), seeds], cache)


def main(sizes: list[int]) -> None:
    peak = matmul_rate()
    print(f"matmul: {peak / 1e9:.0f} GFLOP/s (float32, 2048^2, JAX)")
    for d in sizes:
        rows = {}
        for name in CONTENDERS:
            cache = tempfile.mkdtemp(prefix="dgep-bench-")
            first, *repeats = (rates(r) for r in spawn(name, d, "0,1,2,3", cache))
            rows[name] = {"first": first, "repeat": combine(repeats)}
            if name != "baseline":
                rows[name]["cached"] = rates(spawn(name, d, "0", cache)[0])
            for run, r in rows[name].items():
                print(report(name, d, run, r, peak), flush=True)
        for name in list(CONTENDERS)[1:]:
            for run, r in rows[name].items():
                base = rows["baseline"]["first" if run == "cached" else run]
                print(
                    f"d={d:>3} {name:>12} {run:>6} / baseline: ESS/s gibbs "
                    f"x{r['gibbs'] / base['gibbs']:.2f}, output x{r['output'] / base['output']:.2f}"
                )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], int(sys.argv[3]), [int(s) for s in sys.argv[4].split(",")])
    else:
        main([int(a) for a in sys.argv[1:]] or [50, 100])
