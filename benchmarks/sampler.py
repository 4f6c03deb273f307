"""Sampler throughput against the plain NumPyro script a user would write for the same posterior.

L = 2 tanh, widths 1, alpha = 2, Delta = 0.1, 2 chains, d in (50, 100). Reported: gradient
evaluations per second (sampling phase, leapfrog steps / time), the fraction of the machine's
~290 GFLOP/s float32 matmul peak (6 n x weights FLOPs per gradient), compile+warmup+sampling
wall time, and ESS per second (whole run, compile included) of the Gibbs error and of the
posterior-mean output (which sets eps_bayes). Run: python benchmarks/sampler.py [d ...]
"""

import sys
import time

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.infer import MCMC, NUTS

import bayes  # sets the host device count before JAX starts
from teacher_student import TeacherSpec, sample_teacher

PEAK = 290e9
WARMUP, SAMPLES, CHAINS = 200, 200, 2


def baseline(teacher, train, test):
    """numpyro.sample per weight matrix, NUTS defaults, default start; f on test points after."""
    d, (k1, k2) = teacher.d, teacher.spec.hidden_sizes(teacher.d)

    def model(x, y):
        W1 = numpyro.sample("W1", dist.Normal(0, 1).expand([k1, d]).to_event(2))
        W2 = numpyro.sample("W2", dist.Normal(0, 1).expand([k2, k1]).to_event(2))
        a = numpyro.sample("a", dist.Normal(0, 1).expand([k2]).to_event(1))
        h = jnp.tanh(jnp.tanh(x @ W1.T / jnp.sqrt(d)) @ W2.T / jnp.sqrt(k1))
        numpyro.sample("y", dist.Normal(h @ a / jnp.sqrt(k2), jnp.sqrt(0.1)), obs=y)

    start = time.perf_counter()
    mcmc = MCMC(
        NUTS(model), num_warmup=WARMUP, num_samples=SAMPLES, num_chains=CHAINS, progress_bar=False
    )
    mcmc.run(jax.random.PRNGKey(0), train.x, train.y, extra_fields=("num_steps",))
    s = mcmc.get_samples(group_by_chain=True)
    xt = jnp.asarray(test.x)
    f = jax.vmap(
        jax.vmap(
            lambda W1, W2, a: (
                jnp.tanh(jnp.tanh(xt @ W1.T / jnp.sqrt(d)) @ W2.T / jnp.sqrt(k1)) @ a / jnp.sqrt(k2)
            )
        )
    )(s["W1"], s["W2"], s["a"])
    f = np.asarray(f)
    wall = time.perf_counter() - start
    steps = np.asarray(mcmc.get_extra_fields(group_by_chain=True)["num_steps"])
    gibbs = ((f - test.f_star) ** 2).mean(-1)
    return wall, steps, gibbs, f[..., :16]


def ours(teacher, train, test):
    cfg = bayes.SamplerConfig(
        num_warmup=WARMUP, num_samples=SAMPLES, num_chains=CHAINS, init="prior"
    )
    start = time.perf_counter()
    run = bayes.sample_posterior(teacher, train, test, cfg, seed=0)
    wall = time.perf_counter() - start
    return wall, run.draws["num_steps"], run.draws["gibbs"], run.draws["probe"]


def report(name, d, n, params, wall, steps, gibbs, probe):
    grads = steps.sum() * (WARMUP + SAMPLES) / SAMPLES  # warmup steps estimated at the same rate
    grad_rate = grads / wall
    ess_gibbs = float(az.ess(np.asarray(gibbs, float)))
    ess_out = float(
        np.median([az.ess(np.asarray(probe[..., j], float)) for j in range(probe.shape[-1])])
    )
    print(
        f"d={d:>3} {name:>9}: wall {wall:6.1f} s, {grad_rate:8,.0f} grad/s "
        f"({6 * n * params * grad_rate / PEAK:5.1%} of peak), steps/draw {steps.mean():5.1f}, "
        f"ESS/s gibbs {ess_gibbs / wall:6.2f}, ESS/s output {ess_out / wall:6.2f}"
    )


if __name__ == "__main__":
    spec = TeacherSpec(activations=("tanh", "tanh"), noise=0.1)
    for d in [int(a) for a in sys.argv[1:]] or [50, 100]:
        teacher = sample_teacher(spec, d, 0)
        train, test = teacher.sample(2 * d, 1), teacher.sample(4000, 2)
        params = spec.num_weights(d)
        report("dgep", d, train.n, params, *ours(teacher, train, test))
        report("baseline", d, train.n, params, *baseline(teacher, train, test))
