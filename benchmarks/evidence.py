"""One evidence estimate (docs/theory.md 8): dgep's tempered SMC against the one a user would
write with BlackJAX, at equal cost.

L = 2 tanh, widths 1, alpha = 2, Delta = 0.1, one teacher per d. Contenders, each giving the
log evidence per sample ``(1/n) ln p(Y | X)`` and its SE over 4 independent replicas:

* ``dgep``: ``bayes.log_evidence`` at its defaults (512 particles, HMC moves whose step size is
  adapted from one temperature to the next);
* ``blackjax``: ``blackjax.adaptive_tempered_smc`` with one fixed HMC step size, as a user
  writes it (1024 particles, 5 moves of 16 leapfrog steps of size 0.05, target ESS 0.5).

Per contender: wall time of a second call (compiled), gradient evaluations (replicas x
temperatures x particles x moves x leapfrog steps), the value, its SE, and ``SE x sqrt(s)``:
the SE that one second of computing buys, lower is better, so the comparison is at equal cost.
Run: python benchmarks/evidence.py [D ...]   (default: 30 60)
"""

from __future__ import annotations

import math
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import bayes
from teacher_student import TeacherSpec, sample_teacher

ALPHA, REPLICAS = 2.0, 4
SPEC = TeacherSpec(activations=("tanh", "tanh"), widths=(1.0, 1.0), channel="gaussian", noise=0.1)
PLAIN = {"num_particles": 1024, "num_mcmc_steps": 5, "num_leapfrog": 16, "step_size": 0.05}


def plain_blackjax(train, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The user's script: BlackJAX's adaptive tempered SMC with a fixed HMC step size; per
    replica the log evidence per sample and the number of temperatures."""
    import blackjax
    from blackjax.smc import resampling

    net = bayes.StudentNetwork(SPEC, train.d)
    x, y = jnp.asarray(train.x), jnp.asarray(train.y)

    def log_prior(z):
        return -0.5 * jnp.sum(z * z) - 0.5 * net.num_params * math.log(2 * math.pi)

    def log_likelihood(z):
        return jnp.sum(net.pointwise_log_likelihood(net.output(z, x), y))

    params = {
        "step_size": PLAIN["step_size"],
        "inverse_mass_matrix": jnp.ones(net.num_params),
        "num_integration_steps": PLAIN["num_leapfrog"],
    }
    smc = blackjax.adaptive_tempered_smc(
        log_prior,
        log_likelihood,
        blackjax.hmc.build_kernel(),
        blackjax.hmc.init,
        jax.tree.map(lambda v: jnp.asarray(v)[None], params),
        resampling.systematic,
        0.5,
        num_mcmc_steps=PLAIN["num_mcmc_steps"],
    )

    def one_replica(key):
        key, init_key = jax.random.split(key)
        state = smc.init(jax.random.normal(init_key, (PLAIN["num_particles"], net.num_params)))

        def body(carry):
            state, log_z, count, key = carry
            key, step_key = jax.random.split(key)
            state, info = smc.step(step_key, state)
            return state, log_z + info.log_likelihood_increment, count + 1, key

        carry = jax.lax.while_loop(lambda c: c[0].tempering_param < 1.0, body, (state, 0.0, 0, key))
        return carry[1], carry[2]

    keys = jax.random.split(jax.random.PRNGKey(seed), REPLICAS)
    log_z, counts = jax.jit(jax.vmap(one_replica))(keys)
    return np.asarray(log_z, dtype=float) / train.n, np.asarray(counts)


def dgep(train, seed: int) -> tuple[np.ndarray, np.ndarray]:
    est = bayes.log_evidence(SPEC, train, bayes.EvidenceConfig(replicas=REPLICAS), seed=seed)
    return est.replica_values, est.num_temperatures


def gradients(name: str, counts: np.ndarray) -> int:
    if name == "dgep":
        cfg = bayes.EvidenceConfig()
        per = cfg.num_particles * cfg.num_mcmc_steps * cfg.num_leapfrog
    else:
        per = PLAIN["num_particles"] * PLAIN["num_mcmc_steps"] * PLAIN["num_leapfrog"]
    return int(counts.sum()) * per


def main(sizes: list[int]) -> None:
    bayes.prepare_process()
    print("| d | estimator | seconds | gradient evaluations | f_deep | SE | SE x sqrt(s) |")
    print("|---|---|---|---|---|---|---|")
    for d in sizes:
        teacher = sample_teacher(SPEC, d, 0)
        train = teacher.sample(round(ALPHA * d), 1)
        for name, estimate in (("dgep", dgep), ("blackjax", plain_blackjax)):
            estimate(train, 0)  # compile
            start = time.perf_counter()
            values, counts = estimate(train, 1)
            seconds = time.perf_counter() - start
            se = values.std(ddof=1) / np.sqrt(values.size)
            print(
                f"| {d} | {name} | {seconds:.1f} | {gradients(name, counts):.3g} | "
                f"{values.mean():.4f} | {se:.4f} | {se * np.sqrt(seconds):.4f} |",
                flush=True,
            )


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [30, 60])
