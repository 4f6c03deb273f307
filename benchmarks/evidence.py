"""One evidence estimate (docs/theory.md 8): dgep's tempered SMC against the one a user would
write with BlackJAX, at equal cost, and dgep at other particle counts.

L = 2 tanh, widths 1, alpha = 2, Delta = 0.1, one teacher per d. Contenders, each giving the
log evidence per sample ``(1/n) ln p(Y | X)`` and its SE over ``--replicas`` independent
replicas (16 by default: the SE of an SE from R replicas is about ``1 / sqrt(2 (R - 1))`` of
it, 18 %):

* ``dgep``: ``bayes.log_evidence`` at its defaults (512 particles, HMC moves whose step size is
  adapted from one temperature to the next), and the same with 256 and 1024 particles;
* ``blackjax``: ``blackjax.adaptive_tempered_smc`` with one fixed HMC step size, as a user
  writes it (1024 particles, 5 moves of 16 leapfrog steps of size 0.05, target ESS 0.5).

Per contender: wall time of one call (its compile included), gradient evaluations (replicas x
temperatures x particles x moves x leapfrog steps, exact), the value, its SE, ``SE x sqrt(s)``
and ``SE x sqrt(gradients)``: the SE that one second, or one gradient, buys (lower is better),
so the comparison is at equal cost; and ``shift``: the value minus the 1024-particle dgep
value in units of their joint SE, where the log of an unbiased estimate, biased low by about
half its variance, would show a bias of fewer particles.
Run: python benchmarks/evidence.py [--replicas R] [D ...]   (default: 30 60)
"""

from __future__ import annotations

import argparse
import math
import time

import jax
import jax.numpy as jnp
import numpy as np

import bayes
from teacher_student import TeacherSpec, sample_teacher

ALPHA = 2.0
SPEC = TeacherSpec(activations=("tanh", "tanh"), widths=(1.0, 1.0), channel="gaussian", noise=0.1)
PLAIN = {"num_particles": 1024, "num_mcmc_steps": 5, "num_leapfrog": 16, "step_size": 0.05}


def plain_blackjax(train, seed: int, replicas: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The user's script: BlackJAX's adaptive tempered SMC with a fixed HMC step size; per
    replica the log evidence per sample and the number of temperatures; gradients per
    temperature."""
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

    keys = jax.random.split(jax.random.PRNGKey(seed), replicas)
    log_z, counts = jax.jit(jax.vmap(one_replica))(keys)
    per = PLAIN["num_particles"] * PLAIN["num_mcmc_steps"] * PLAIN["num_leapfrog"]
    return np.asarray(log_z, dtype=float) / train.n, np.asarray(counts), per


def dgep(particles: int):
    """``bayes.log_evidence`` with ``particles`` particles, its other settings at the defaults."""

    def estimate(train, seed: int, replicas: int) -> tuple[np.ndarray, np.ndarray, int]:
        cfg = bayes.EvidenceConfig(num_particles=particles, replicas=replicas)
        est = bayes.log_evidence(SPEC, train, cfg, seed=seed)
        per = cfg.num_particles * cfg.num_mcmc_steps * cfg.num_leapfrog
        return est.replica_values, est.num_temperatures, per

    return estimate


CONTENDERS = {
    "dgep (default, 512)": dgep(bayes.EvidenceConfig().num_particles),
    "dgep, 256 particles": dgep(256),
    "dgep, 1024 particles": dgep(1024),
    "BlackJAX, plain (1024)": plain_blackjax,
}
REFERENCE = "dgep, 1024 particles"


def main(sizes: list[int], replicas: int) -> None:
    bayes.prepare_process()
    print(
        "| d | estimator | seconds | temperatures | gradient evaluations | f_deep | SE | "
        "SE x sqrt(s) | SE x sqrt(gradients) | shift (SE) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for d in sizes:
        teacher = sample_teacher(SPEC, d, 0)
        train = teacher.sample(round(ALPHA * d), 1)
        rows = {}
        for name, estimate in CONTENDERS.items():
            start = time.perf_counter()
            values, counts, per = estimate(train, 1, replicas)
            seconds = time.perf_counter() - start
            se = values.std(ddof=1) / np.sqrt(values.size)
            rows[name] = (seconds, counts, int(counts.sum()) * per, values.mean(), se)
        ref_mean, ref_se = rows[REFERENCE][3:]
        for name, (seconds, counts, grads, mean, se) in rows.items():
            shift = (mean - ref_mean) / np.hypot(se, ref_se) if name != REFERENCE else 0.0
            print(
                f"| {d} | {name} | {seconds:.1f} | {counts.mean():.1f} | {grads:.3g} | "
                f"{mean:.4f} | {se:.5f} | {se * np.sqrt(seconds):.4f} | "
                f"{se * np.sqrt(grads):.2f} | {shift:+.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[30, 60])
    parser.add_argument("--replicas", type=int, default=16)
    args = parser.parse_args()
    main(args.sizes, args.replicas)
