"""One evidence estimate (docs/theory.md 8): dgep's tempered SMC against the one a user would
write with BlackJAX, at equal cost, and dgep at other particle counts.

L = 2 tanh, widths 1, alpha = 2, Delta = 0.1, one teacher per d. Contenders, each giving the
log evidence per sample ``(1/n) ln p(Y | X)`` and its SE over ``--replicas`` independent
replicas (16 by default: the SE of an SE from R replicas is about ``1 / sqrt(2 (R - 1))`` of
it, 18 %):

* ``dgep``: ``bayes.log_evidence`` at its defaults (512 particles, HMC moves whose step size is
  adapted from one temperature to the next towards an acceptance of 0.65), the same with 256
  and 1024 particles, and with the step adapted towards 0.8 and 0.9;
* ``blackjax``: ``blackjax.adaptive_tempered_smc`` with one fixed HMC step size, as a user
  writes it (1024 particles, 5 moves of 16 leapfrog steps of size 0.05, target ESS 0.5).

Per contender: wall time of one call (its compile included), gradient evaluations (replicas x
temperatures x particles x moves x leapfrog steps, exact), the value, its SE, ``SE x sqrt(s)``
and ``SE x sqrt(gradients)``: the SE that one second, or one gradient, buys (lower is better),
so the comparison is at equal cost; and ``shift``: the value minus the 1024-particle dgep
value in units of their joint SE, where the log of an unbiased estimate, biased low by about
half its variance, would show a bias of fewer particles; and ``honesty``: the replicas read as
estimates of 4 replicas each (a sweep point's default), the spread of their values over the
mean SE they report, about 1 where the reported SE is honest.

With ``--record FILE`` each finished (d, contender) measurement is appended to FILE (JSON
lines) and a rerun with the same file and replicas measures only what is missing, so a long
run (d = 60: hours) can be stopped and resumed without losing finished contenders.
``--only NAME`` measures just the named contenders (two processes on one record share the work);
the table has each recorded contender at each size whose reference is recorded.
Run: python benchmarks/evidence.py [--replicas R] [--record FILE] [--only NAME ...] [D ...]
(default sizes: 30 60)
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from records import append_record, read_records

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


def dgep(**settings):
    """``bayes.log_evidence`` with ``settings`` of ``EvidenceConfig``, the others at the
    defaults."""

    def estimate(train, seed: int, replicas: int) -> tuple[np.ndarray, np.ndarray, int]:
        cfg = bayes.EvidenceConfig(**settings, replicas=replicas)
        est = bayes.log_evidence(SPEC, train, cfg, seed=seed)
        per = cfg.num_particles * cfg.num_mcmc_steps * cfg.num_leapfrog
        return est.replica_values, est.num_temperatures, per

    return estimate


CONTENDERS = {
    "dgep (default, 512)": dgep(),
    "BlackJAX, plain (1024)": plain_blackjax,
    "dgep, 1024 particles": dgep(num_particles=1024),
    "dgep, 256 particles": dgep(num_particles=256),
    "dgep, target_accept 0.8": dgep(target_accept=0.8),
    "dgep, target_accept 0.9": dgep(target_accept=0.9),
}
REFERENCE = "dgep, 1024 particles"


def measure(d: int, name: str, replicas: int) -> dict:
    """One contender's estimate at size d: wall time (compile included), temperatures per
    replica, gradients per temperature and the replica values."""
    teacher = sample_teacher(SPEC, d, 0)
    train = teacher.sample(round(ALPHA * d), 1)
    start = time.perf_counter()
    values, counts, per = CONTENDERS[name](train, 1, replicas)
    seconds = time.perf_counter() - start
    return {
        "d": d,
        "estimator": name,
        "replicas": replicas,
        "seconds": seconds,
        "temperatures": np.asarray(counts).tolist(),
        "gradients_per_temperature": per,
        "values": np.asarray(values).tolist(),
    }


def recorded(record: Path | None, replicas: int) -> dict[tuple[int, str], dict]:
    """The measurements already in ``record`` at this replica count, keyed by (d, estimator)."""
    rows = read_records(record)
    return {(r["d"], r["estimator"]): r for r in rows if r["replicas"] == replicas}


def table_row(row: dict, reference: dict) -> str:
    """One markdown row: seconds, mean temperatures, gradients, value, SE, the SE at equal cost
    and the shift from the reference contender in units of the joint SE."""
    values, counts = np.asarray(row["values"]), np.asarray(row["temperatures"])
    mean, se = values.mean(), values.std(ddof=1) / np.sqrt(values.size)
    grads = int(counts.sum()) * row["gradients_per_temperature"]
    shift = shift_from(values, reference)
    ratio = honesty(values)
    return (
        f"| {row['d']} | {row['estimator']} | {row['seconds']:.1f} | {counts.mean():.1f} | "
        f"{grads:.3g} | {mean:.4f} | {se:.5f} | {se * np.sqrt(row['seconds']):.4f} | "
        f"{se * np.sqrt(grads):.2f} | {shift:+.1f} | {ratio:.2f} |"
    )


def honesty(values: np.ndarray, group: int = 4) -> float:
    """The replicas as ``len(values) // group`` estimates of ``group`` replicas: the SD of the
    estimates over their mean reported SE (``SD / sqrt(group)`` within each); NaN for fewer
    than two estimates."""
    groups = values[: values.size // group * group].reshape(-1, group)
    if groups.shape[0] < 2:
        return float("nan")
    reported = groups.std(axis=1, ddof=1).mean() / np.sqrt(group)
    return float(groups.mean(axis=1).std(ddof=1) / reported)


def shift_from(values: np.ndarray, reference: dict) -> float:
    """(mean - reference mean) / joint SE of the two means."""
    ref = np.asarray(reference["values"])
    se, ref_se = (v.std(ddof=1) / np.sqrt(v.size) for v in (values, ref))
    return float((values.mean() - ref.mean()) / np.hypot(se, ref_se))


def main(sizes: list[int], replicas: int, record: Path | None, only: list[str]) -> None:
    bayes.prepare_process()
    done = recorded(record, replicas)
    for d in sizes:
        for name in only:
            if (d, name) not in done:
                done[d, name] = append_record(record, measure(d, name, replicas))
    done.update(recorded(record, replicas))  # what another process recorded meanwhile
    missing = [f"d = {d}: {name}" for d in sizes for name in CONTENDERS if (d, name) not in done]
    if missing:
        print("not recorded (left out of the table):", "; ".join(missing))
    print(
        "| d | estimator | seconds | temperatures | gradient evaluations | f_deep | SE | "
        "SE x sqrt(s) | SE x sqrt(gradients) | shift (SE) | honesty |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for d in sizes:
        if (d, REFERENCE) not in done:  # the shift needs it
            continue
        for name in CONTENDERS:
            if (d, name) in done:
                print(table_row(done[d, name], done[d, REFERENCE]))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[30, 60])
    parser.add_argument("--replicas", type=int, default=16)
    parser.add_argument("--record", type=Path, default=None)
    parser.add_argument("--only", nargs="+", choices=list(CONTENDERS), default=list(CONTENDERS))
    args = parser.parse_args()
    main(args.sizes, args.replicas, args.record, args.only)
