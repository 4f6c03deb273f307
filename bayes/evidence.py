"""The log evidence of the deep student, ``f_deep = (1/n) ln p(Y | X)`` (docs/theory.md 8), by
BlackJAX's adaptive tempered SMC.

The likelihood is raised to ``beta`` from 0 (the prior, sampled exactly in the standard-normal
coordinates of ``StudentNetwork``) to 1; each next ``beta`` keeps the particles' effective
sample size at ``target_ess``; particles move by ``num_mcmc_steps`` HMC steps of
``num_leapfrog`` leapfrog steps, whose step size is adapted from one temperature to the next
towards an acceptance of ``target_accept`` (``step *= exp(2 (accept - target_accept))``).
``ln p(Y | X)`` is the sum of the per-temperature ``log_likelihood_increment``. ``replicas``
independent runs give the value (their mean) and its standard error (their spread); the log of
an unbiased estimate is biased low by about half its variance, which the SE bounds.

References: Del Moral, Doucet, Jasra 2006 (SMC samplers); Jasra, Stephens, Doucet, Tsagaris
2011 (adaptive tempering); BlackJAX (Cabezas et al. 2024).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from teacher_student import Data, TeacherSpec

from .model import StudentNetwork, check_samplable, flat_activations
from .runtime import MATMUL_PRECISION, check_platform, platform_device


@dataclass(frozen=True)
class EvidenceConfig:
    """Settings of the tempered SMC estimate (module docstring); ``platform`` is where it runs
    (None: JAX's default device; ``"cpu"``, ``"gpu"``, ``"tpu"``; ``runtime.platform_device``)."""

    num_particles: int = 512
    target_ess: float = 0.5
    num_mcmc_steps: int = 5
    num_leapfrog: int = 16
    initial_step_size: float = 0.2
    target_accept: float = 0.65
    replicas: int = 4
    max_temperatures: int = 400
    platform: str | None = None

    #: settings that change how an estimate executes, not its numbers
    EXECUTION_ONLY: ClassVar[tuple[str, ...]] = ("platform",)
    #: settings that change an estimate's noise, not what it estimates: ``value`` is the mean of
    #: the replicas' ``ln Z / n``, each with the same expectation (and low bias), so a sweep may
    #: change them between rounds and each point records its own
    NOISE_ONLY: ClassVar[tuple[str, ...]] = ("replicas",)

    def __post_init__(self) -> None:
        lows = {"num_particles": 1, "num_mcmc_steps": 1, "num_leapfrog": 1, "max_temperatures": 1}
        for name, low in {**lows, "replicas": 2}.items():
            value = getattr(self, name)
            if not (isinstance(value, int) and not isinstance(value, bool) and value >= low):
                raise ValueError(f"evidence.{name} = {value!r}: must be an integer >= {low}")
        highs = {"target_ess": 1.0, "target_accept": 1.0, "initial_step_size": math.inf}
        for name, high in highs.items():
            value = getattr(self, name)
            real = isinstance(value, int | float) and not isinstance(value, bool)
            if not (real and 0 < value < high):
                bound = "in (0, 1)" if high == 1 else "a finite number > 0"
                raise ValueError(f"evidence.{name} = {value!r}: must be {bound}")
        if self.num_particles * self.target_ess <= 1:  # ESS >= 1: no tempering step to aim at
            raise ValueError(
                f"evidence.num_particles = {self.num_particles}: must exceed 1 / target_ess = "
                f"{1 / self.target_ess:.3g} (the effective particles each temperature keeps)"
            )
        check_platform("evidence", self.platform)


class EvidenceEstimate(NamedTuple):
    """``value`` = ``(1/n) ln p(Y | X)`` in nats per sample, ``se`` its standard error over the
    replicas, ``replica_values`` each replica's, ``num_temperatures`` per replica, ``seconds``."""

    value: float
    se: float
    replica_values: np.ndarray
    num_temperatures: np.ndarray
    seconds: float


def check_estimable(spec: TeacherSpec) -> None:
    """What :func:`log_evidence` refuses (``ValueError``): what the sampler refuses
    (``Delta = 0``), and an activation with zero derivative almost everywhere (``sign``): below
    it the HMC moves feel only the prior, the particles mix there only by chance acceptances,
    and neither ``ln p(Y | X)`` nor its replica SE can be trusted (the sampler only warns, since
    its R-hat shows it; nothing shows it here)."""
    if spec.noise > 0 and (flat := flat_activations(spec)):
        layer, name = flat[0]
        raise ValueError(
            f"activations[{layer}] = {name!r}: zero derivative almost everywhere, so the "
            "evidence's HMC moves cannot move the weights below it and ln p(Y | X) would not be "
            "trustworthy; drop [evidence] to sample the posterior alone"
        )
    check_samplable(spec)


def log_evidence(
    spec: TeacherSpec,
    train: Data,
    config: EvidenceConfig | None = None,
    *,
    seed: int = 0,
    progress: Callable[[float, int], None] | None = None,
) -> EvidenceEstimate:
    """Estimate ``f_deep = (1/n) ln p(Y | X)`` of the student of ``spec`` on ``train``.

    ``progress(beta, temperatures)``, if given, is called from JAX's host callback after each
    tempering step of each replica with the lowest ``beta`` the replicas have reached and the
    most temperatures any has used (e.g. to drive a progress bar); it changes no number."""
    cfg = config or EvidenceConfig()
    check_estimable(spec)
    device = platform_device(cfg.platform, "evidence.platform")
    begin = time.perf_counter()
    report = None if progress is None else _Progress(cfg.replicas, progress)
    with jax.default_device(device), jax.default_matmul_precision(MATMUL_PRECISION):
        log_z, counts, betas = jax.device_get(_replicas(spec, train, cfg, seed, report))
    if betas.min() < 1.0:
        raise RuntimeError(
            f"evidence.max_temperatures = {cfg.max_temperatures}: the tempering stopped at beta = "
            f"{betas.min():.3g} < 1, so ln p(Y | X) is incomplete; raise it"
        )
    values = np.asarray(log_z, dtype=float) / train.n
    seconds = time.perf_counter() - begin
    se = float(values.std(ddof=1) / np.sqrt(values.size))
    return EvidenceEstimate(float(values.mean()), se, values, np.asarray(counts), seconds)


class _Progress:
    """Host side of the tempering's callback: each replica's ``beta`` and temperature count,
    passed on as (lowest ``beta``, most temperatures)."""

    def __init__(self, replicas: int, progress: Callable[[float, int], None]) -> None:
        self.betas, self.counts = np.zeros(replicas), np.zeros(replicas, dtype=int)
        self.progress = progress

    def __call__(self, replica: Any, beta: Any, count: Any) -> None:
        self.betas[int(replica)], self.counts[int(replica)] = float(beta), int(count)
        self.progress(float(self.betas.min()), int(self.counts.max()))


def _replicas(
    spec: TeacherSpec,
    train: Data,
    cfg: EvidenceConfig,
    seed: int,
    report: _Progress | None = None,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``cfg.replicas`` independent tempered SMC runs on the default device: per replica
    ``ln p(Y | X)``, the number of temperatures and the last ``beta`` reached; ``report``, if
    given, receives (replica, beta, temperatures) after every step."""
    import blackjax
    from blackjax.smc import adaptive_tempered, resampling

    net = StudentNetwork(spec, train.d)
    x, y = jnp.asarray(train.x), jnp.asarray(train.y)

    def log_prior(z):
        return -0.5 * jnp.sum(z * z) - 0.5 * net.num_params * math.log(2 * math.pi)

    def log_likelihood(z):
        return jnp.sum(net.pointwise_log_likelihood(net.output(z, x), y))

    kernel = adaptive_tempered.build_kernel(
        log_prior,
        log_likelihood,
        blackjax.hmc.build_kernel(),
        blackjax.hmc.init,
        resampling.systematic,
        cfg.target_ess,
    )
    inverse_mass = jnp.ones(net.num_params)

    def one_replica(replica, key):
        key, init_key = jax.random.split(key)
        particles = jax.random.normal(init_key, (cfg.num_particles, net.num_params))
        state = adaptive_tempered.init(particles)

        def cond(carry):
            state, _, _, count, _ = carry
            return (state.tempering_param < 1.0) & (count < cfg.max_temperatures)

        def body(carry):
            state, log_z, step, count, key = carry
            key, step_key = jax.random.split(key)
            params = {
                "step_size": jnp.atleast_1d(step),
                "inverse_mass_matrix": inverse_mass[None],
                "num_integration_steps": jnp.atleast_1d(cfg.num_leapfrog),
            }
            state, info = kernel(step_key, state, cfg.num_mcmc_steps, params)
            accept = jnp.mean(info.update_info.acceptance_rate)
            step = step * jnp.exp(2.0 * (accept - cfg.target_accept))
            if report is not None:
                jax.debug.callback(report, replica, state.tempering_param, count + 1)
            return state, log_z + info.log_likelihood_increment, step, count + 1, key

        start = (state, 0.0, cfg.initial_step_size, 0, key)
        state, log_z, _, count, _ = jax.lax.while_loop(cond, body, start)
        return log_z, count, state.tempering_param

    keys = jax.random.split(jax.random.PRNGKey(seed), cfg.replicas)
    return jax.jit(jax.vmap(one_replica))(jnp.arange(cfg.replicas), keys)
