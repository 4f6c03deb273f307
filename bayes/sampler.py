"""NUTS/HMC on the student posterior, compiled once per shape (docs/theory.md 2, 5).

The kernel is NumPyro's (``numpyro.infer.hmc.hmc``: NUTS or HMC with step-size and diagonal
mass-matrix adaptation); the driver here runs warmup and sampling in blocks of at most
``MAX_BLOCK`` kept draws, each block one call of a single compiled function (``jax.jit``, or
``pmap``/``vmap`` over chains; memory does not grow with the number of draws), and, at each kept
draw, records only the observables the theory predicts, never the weights (unless
``sample_posterior(keep=...)`` asks for them):

* the running sums over draws of the predictor at every test point (``f`` for regression,
  ``E[y | x, W] = 2 Phi(f / sqrt(Delta)) - 1`` for the sign channel) and of its square;
* the Gibbs error of the draw (for the sign channel averaged over the draw's own label noise:
  ``mean_x Phi(-y f / sqrt(Delta))``);
* ``sum_{x in A} x f(x)`` and ``sum_{x in B} x f(x)`` over two halves A, B of the test inputs,
  from which every linear-part overlap is estimated without bias (docs/theory.md 5);
* ``f`` at a few probe test points (for the effective sample size of the posterior mean);
* NUTS statistics: leapfrog steps, acceptance, divergence, step size, potential energy and the
  Hamiltonian (total energy) of the draw.

The compiled function depends only on shapes and on the static settings, so every chain, seed
and dataset with the same shapes reuses it; pad ``n`` (``n_pad``) to share it across an alpha
sweep. JAX's persistent compilation cache (see ``bayes.enable_compilation_cache``) extends the
reuse across processes.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import asdict, dataclass, replace
from functools import lru_cache, partial
from typing import Any, ClassVar, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtr
from numpyro.infer.hmc import hmc
from numpyro.infer.hmc_util import build_adaptation_schedule, dual_averaging

from teacher_student import Data, Teacher, TeacherSpec

from .model import StudentNetwork, check_samplable
from .runtime import MATMUL_PRECISION, check_platform, platform_device

Init = Literal["teacher", "prior", "zero", "mixed"]
INITS = ("teacher", "prior", "zero", "mixed")
CHAIN_METHODS = ("parallel", "sequential", "vectorized")
ADAPTATIONS = ("windows", "step_size")
ZERO_INIT_SCALE = 1e-2
#: the shortest warmup with NumPyro's full adaptation schedule (Stan's: a 75-step initial buffer,
#: a 25-step mass-matrix window and a 50-step final step-size phase); below it every phase is
#: scaled down, the final one to 10 % of the warmup
RELIABLE_WARMUP = 150


class ShortWarmupWarning(UserWarning):
    """The warmup is too short for NumPyro's adaptation schedule to settle the step size."""


def _final_window(num_warmup: int) -> int:
    """Steps of the last phase of NumPyro's warmup schedule, where the step size is adapted
    afresh (by dual averaging from 10 x the step size reached) after the last mass-matrix
    update."""
    last = build_adaptation_schedule(num_warmup)[-1]
    return last.end - last.start + 1


@dataclass(frozen=True)
class SamplerConfig:
    """Settings of a posterior run; every field is validated with a message naming it.

    ``init``: ``teacher`` (informed start: the chain starts in equilibrium, docs/theory.md 5),
    ``prior`` (a fresh prior draw per chain), ``zero`` (``1e-2`` times a normal draw per chain) or
    ``mixed``: the even chains at the teacher, the odd ones from a prior draw
    (``num_chains >= 2``), so the run reports its start gaps (``measure``, docs/theory.md 5).
    ``kernel``: ``nuts``, or ``hmc`` with ``num_steps`` leapfrog steps or, when
    ``trajectory_length`` is set, that integration time per draw, drawn uniformly from
    ``trajectory_length x [1 - HMC_JITTER, 1 + HMC_JITTER]``. The coordinates are standard
    normal under the prior, so ``pi / 2`` turns every prior-dominated direction by a quarter
    period. ``target_accept``: the mean acceptance the step size is adapted to, by default
    ``DEFAULT_TARGET_ACCEPT[kernel]``; NumPyro's warmup ends on the dual average of the log step
    size, so a target is reached higher than asked.
    ``num_warmup``: warmup steps, adapted as ``adaptation`` says (default ``"step_size"`` for
    ``init = "teacher"``, ``"windows"`` otherwise). ``"step_size"``: the identity mass matrix and
    one dual averaging of the step size over all warmup steps (NumPyro's ``dual_averaging``,
    ending on the average), for the informed start, which needs no burn-in. ``"windows"``:
    NumPyro's (Stan's) schedule with a diagonal mass matrix, for starts that need a burn-in; below
    ``RELIABLE_WARMUP`` steps ``check_warmup`` warns.
    ``test_chunk``: test points evaluated at once (memory ``test_chunk x max(d, k)`` per chain).
    ``platform``: where the chains run (``runtime.platform_device``): None for JAX's default
    device, or ``"cpu"``, ``"gpu"``, ``"tpu"``; ``"cpu"`` keeps NUTS's small sequential steps on
    the host where the default is an accelerator (``"parallel"`` then uses the host devices).

    The defaults were chosen by measurement: docs/performance.md (benchmarks/warmup.py,
    benchmarks/sampler.py) and data/validation/README.md (target_accept_055, step_size).

    References: Hoffman, Gelman 2014 (NUTS, dual averaging); Beskos et al. 2013 (optimal HMC
    acceptance 0.651); Stan's warmup schedule (NumPyro's ``build_adaptation_schedule``).
    """

    num_warmup: int = 500
    num_samples: int = 500
    num_chains: int = 2
    thinning: int = 1
    max_tree_depth: int = 10
    target_accept: float | None = None
    dtype: Literal["float32", "float64"] = "float32"
    chain_method: Literal["parallel", "sequential", "vectorized"] = "parallel"
    kernel: Literal["nuts", "hmc"] = "nuts"
    adaptation: Literal["windows", "step_size"] | None = None
    num_steps: int = 32
    trajectory_length: float | None = None
    init: Init = "teacher"
    num_probes: int = 16
    test_chunk: int = 8192
    platform: str | None = None

    #: settings that change how a run executes, not its numbers: a sweep resumes across them
    EXECUTION_ONLY: ClassVar[tuple[str, ...]] = ("chain_method", "test_chunk", "platform")
    #: ``target_accept`` of each kernel when the field is not given
    DEFAULT_TARGET_ACCEPT: ClassVar[dict[str, float]] = {"nuts": 0.55, "hmc": 0.8}

    def __post_init__(self) -> None:
        for name in (
            "num_samples",
            "num_chains",
            "thinning",
            "max_tree_depth",
            "num_steps",
            "num_probes",
            "test_chunk",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"sampler.{name} = {value!r}: must be an integer >= 1")
        if not isinstance(self.num_warmup, int) or self.num_warmup < 0:
            raise ValueError(f"sampler.num_warmup = {self.num_warmup!r}: must be an integer >= 0")
        if self.trajectory_length is not None and not (
            isinstance(self.trajectory_length, float) and self.trajectory_length > 0
        ):
            raise ValueError(
                f"sampler.trajectory_length = {self.trajectory_length!r}: must be a float > 0"
            )
        if self.trajectory_length is not None and self.kernel != "hmc":
            raise ValueError(
                f"sampler.trajectory_length = {self.trajectory_length!r}: only for "
                f'kernel = "hmc" (NUTS chooses its own), got kernel = {self.kernel!r}'
            )
        if self.adaptation is None:  # resolved here, so configs and stored runs show the value
            default = "step_size" if self.init == "teacher" else "windows"
            object.__setattr__(self, "adaptation", default)
        for name, allowed in (
            ("dtype", ("float32", "float64")),
            ("chain_method", CHAIN_METHODS),
            ("kernel", ("nuts", "hmc")),
            ("adaptation", ADAPTATIONS),
            ("init", INITS),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"sampler.{name} = {getattr(self, name)!r}: must be one of {', '.join(allowed)}"
                )
        check_platform("sampler", self.platform)
        if self.init == "mixed" and self.num_chains < 2:
            raise ValueError(
                f'sampler.num_chains = {self.num_chains}: init = "mixed" needs at least 2 chains '
                "(an informed and an uninformed one)"
            )
        if self.target_accept is None:  # resolved here, as adaptation
            object.__setattr__(self, "target_accept", self.DEFAULT_TARGET_ACCEPT[self.kernel])
        if not (isinstance(self.target_accept, float) and 0 < self.target_accept < 1):
            raise ValueError(f"sampler.target_accept = {self.target_accept!r}: must be in (0, 1)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def check_warmup(self) -> None:
        """``ShortWarmupWarning`` below ``RELIABLE_WARMUP`` warmup steps of NumPyro's schedule
        (``adaptation = "windows"``; none for 0: no adaptation): its step size is settled in the
        last phase only, which a short warmup starves (docs/performance.md)."""
        if self.adaptation == "windows" and 0 < self.num_warmup < RELIABLE_WARMUP:
            warnings.warn(
                f"sampler.num_warmup = {self.num_warmup}: below {RELIABLE_WARMUP} NumPyro settles "
                f"the step size in the last {_final_window(self.num_warmup)} warmup steps only; it "
                "can end too large to move (acceptance near 0, R-hat > 1.1; benchmarks/warmup.py)",
                ShortWarmupWarning,
                stacklevel=3,
            )

    def chain_starts(self) -> np.ndarray:
        """Where each chain starts: ``teacher``, ``prior`` or ``zero`` (one string per chain)."""
        if self.init == "mixed":
            return np.where(np.arange(self.num_chains) % 2 == 0, "teacher", "prior")
        return np.full(self.num_chains, self.init)


class TestSet(NamedTuple):
    """Test inputs in chunks (padded), with their weights in the halves A and B."""

    x: np.ndarray  # (chunks, chunk, d)
    f_star: np.ndarray  # (chunks, chunk)
    y: np.ndarray
    mask: np.ndarray
    weight_a: np.ndarray
    weight_b: np.ndarray


def _pad_rows(a: np.ndarray, rows: int) -> np.ndarray:
    return np.concatenate([a, np.zeros((rows - a.shape[0], *a.shape[1:]), a.dtype)])


def _equal_part(total: int, at_most: int) -> int:
    """Size of the fewest equal parts of at most ``at_most`` items that cover ``total``;
    padding to ``parts x size`` adds fewer than ``parts`` items."""
    parts = math.ceil(total / at_most)
    return math.ceil(total / parts)


def split_test(test: Data, chunk: int, dtype: str) -> TestSet:
    """Pad the test set to equal chunks of at most ``chunk`` rows; even rows form half A, odd
    rows half B."""
    chunk = _equal_part(test.n, chunk)
    chunks = math.ceil(test.n / chunk)
    rows = chunks * chunk
    mask = _pad_rows(np.ones(test.n), rows)
    parity = np.arange(rows) % 2

    def shaped(a: np.ndarray) -> np.ndarray:
        return _pad_rows(a, rows).reshape(chunks, chunk, *a.shape[1:]).astype(dtype)

    return TestSet(
        shaped(test.x),
        shaped(test.f_star),
        shaped(test.y),
        shaped(mask),
        shaped(mask * (parity == 0)),
        shaped(mask * (parity == 1)),
    )


class PosteriorRun(NamedTuple):
    """What a posterior run keeps (numpy arrays; ``C`` chains, ``S`` kept draws each).

    ``pred_sum``/``pred_sq_sum``: (C, n_test) sums over draws of the predictor and its square;
    ``draws``: per-draw observables and NUTS statistics, each (C, S, ...), and what
    ``sample_posterior(keep=...)`` asked for (weights, pointwise log-likelihood);
    ``teacher_sums``: the teacher's ``sum_A x f*`` and ``sum_B x f*`` (2, d); ``half_sizes``:
    ``(N_A, N_B)``; ``timing``: seconds for the compile-and-run call and the chain method used.
    """

    pred_sum: np.ndarray
    pred_sq_sum: np.ndarray
    draws: dict[str, np.ndarray]
    teacher_sums: np.ndarray
    half_sizes: tuple[int, int]
    num_draws: int
    timing: dict[str, Any]
    config: SamplerConfig


MAX_BLOCK = 250  # kept draws per compiled call (bounds the CPU runtime's memory, see below)


class ChainFunction(NamedTuple):
    """One compiled block of a run, mapped over chains, and the block length.

    ``run(keys, z0, states, fresh, count, train, test) -> (states, pred_sum, pred_sq_sum,
    observables)``: with ``fresh`` it starts the chains at ``z0`` and runs the warmup first
    (``states`` is then only the shape template from ``placeholder``); it then runs ``block``
    kept draws and counts the first ``count``. The warmup steps run in the loop of the first
    draw, so the program holds one copy of the kernel (its compile time: docs/performance.md)."""

    run: Any
    placeholder: Any
    block: int


def _block_size(num_kept: int) -> int:
    """Draws per block: equal blocks of at most ``MAX_BLOCK`` (the last may run a few extra
    draws, which are not counted). Blocks bound the memory that one call with chains on
    several host devices holds until it returns (benchmarks/memory.py, docs/performance.md)."""
    return _equal_part(num_kept, MAX_BLOCK)


#: what ``sample_posterior(keep=...)`` can add to the per-draw observables
KEEP = ("weights", "log_likelihood")


@lru_cache(maxsize=64)
def _chain_function(
    spec: TeacherSpec, d: int, cfg: SamplerConfig, method: str, keep: tuple[str, ...]
) -> ChainFunction:
    """The compiled block function for one shape class (and one choice of ``keep``)."""
    net = StudentNetwork(spec, d)
    sqrt_noise = float(np.sqrt(spec.noise))
    regression = spec.channel == "gaussian"
    algo = "NUTS" if cfg.kernel == "nuts" else "HMC"
    block = _block_size(cfg.num_samples // cfg.thinning)
    init_kernel, sample_kernel = hmc(potential_fn_gen=net.potential, algo=algo)

    def predictor(f):
        return f if regression else 2 * ndtr(f / sqrt_noise) - 1

    def observe(z, test: TestSet):
        def one_chunk(c):
            x, f_star, y, mask, wa, wb = c
            f = net.output(z, x)
            if regression:
                gibbs = jnp.sum(mask * (f_star - f) ** 2)
            else:
                gibbs = jnp.sum(mask * ndtr(-y * f / sqrt_noise))
            return predictor(f), gibbs, x.T @ (wa * f), x.T @ (wb * f), f

        pred, gibbs, sa, sb, f = jax.lax.map(one_chunk, tuple(test))
        obs = {
            "gibbs": jnp.sum(gibbs) / jnp.sum(test.mask),
            "theta_a": jnp.sum(sa, axis=0),
            "theta_b": jnp.sum(sb, axis=0),
            "probe": f.reshape(-1)[: cfg.num_probes],
        }
        return pred, obs

    def advance(_, state, train):
        if cfg.trajectory_length is not None:
            state = _jitter_length(state, cfg.trajectory_length)
        return sample_kernel(state, model_args=train)

    da_init, da_update = dual_averaging()

    def adapting_advance(i, carry, train, warmup):
        """``advance``, and during the first ``warmup`` steps one dual-averaging update of the
        log step size towards ``target_accept`` (the last step takes its average)."""
        state, da = carry
        state = advance(i, state, train)
        new = da_update(cfg.target_accept - state.accept_prob, da)
        log_step = jnp.where(i == warmup - 1, new[1], new[0])
        adapt = state.adapt_state
        step = jnp.where(i < warmup, jnp.exp(log_step), adapt.step_size).astype(
            adapt.step_size.dtype
        )
        return state._replace(adapt_state=adapt._replace(step_size=step)), new

    def initial(key, z0, train):
        """The kernel's state at ``z0`` (tracing it also configures ``sample_kernel``)."""
        if algo == "NUTS":
            options = {"max_tree_depth": cfg.max_tree_depth}
        elif cfg.trajectory_length is None:  # no length: NumPyro would fix step = length / steps
            options = {"num_steps": cfg.num_steps, "trajectory_length": None}
        else:
            options = {"trajectory_length": cfg.trajectory_length}
        windows = cfg.adaptation == "windows"
        return init_kernel(
            z0,
            cfg.num_warmup if windows else 0,  # 0: no adaptation, the step size starts at 1
            adapt_mass_matrix=windows,
            target_accept_prob=cfg.target_accept,
            model_args=train,
            rng_key=key,
            **options,
        )

    def run(key, z0, state, fresh, count, train, test):
        state = jax.lax.cond(fresh, lambda: initial(key, z0, train), lambda: state)
        zeros = jnp.zeros(test.mask.shape, test.x.dtype)

        def step(carry, j):
            state, acc, acc2 = carry
            # the warmup runs before the first draw of a fresh chain: one loop, one kernel copy
            warmup = jnp.where(fresh & (j == 0), cfg.num_warmup, 0)
            steps = warmup + cfg.thinning
            if cfg.adaptation == "windows":  # NumPyro adapts within sample_kernel
                state = jax.lax.fori_loop(0, steps, partial(advance, train=train), state)
            else:
                step_size = state.adapt_state.step_size
                da = jax.tree_util.tree_map(
                    lambda a: jnp.asarray(a, step_size.dtype), da_init(jnp.log(10 * step_size))
                )
                body = partial(adapting_advance, train=train, warmup=warmup)
                state, _ = jax.lax.fori_loop(0, steps, body, (state, da))
            pred, obs = observe(state.z, test)
            obs |= {
                "num_steps": state.num_steps,
                "accept_prob": state.accept_prob,
                "diverging": state.diverging,
                "step_size": state.adapt_state.step_size,
                "potential_energy": state.potential_energy,
                "energy": state.energy,
            }
            if "weights" in keep:
                obs["z"] = state.z
            if "log_likelihood" in keep:
                f_train = net.output(state.z, train[0])
                obs["log_likelihood"] = net.pointwise_log_likelihood(f_train, train[1])
            counted = (j < count).astype(pred.dtype)
            return (state, acc + counted * pred, acc2 + counted * pred**2), obs

        (state, acc, acc2), obs = jax.lax.scan(step, (state, zeros, zeros), jnp.arange(block))
        return state, acc.reshape(-1), acc2.reshape(-1), obs

    def placeholder(key, z0, train):
        """Zeros shaped like one chain's state."""
        shapes = jax.eval_shape(initial, key, z0, train)
        return jax.tree_util.tree_map(lambda a: np.zeros(a.shape, a.dtype), shapes)

    in_axes = (0, 0, 0, None, None, None, None)
    if method == "parallel":
        mapped = jax.pmap(run, in_axes=in_axes, backend=cfg.platform)
    elif method == "vectorized":
        mapped = jax.jit(jax.vmap(run, in_axes=in_axes))
    else:
        mapped = jax.jit(run)
    return ChainFunction(mapped, placeholder, block)


HMC_JITTER = 0.5


def _jitter_length(state: Any, length: float) -> Any:
    """The HMC state with its integration time drawn from ``length x U[1 - J, 1 + J]``."""
    key, sub = jax.random.split(state.rng_key)
    dtype = state.trajectory_length.dtype
    factor = jax.random.uniform(sub, (), dtype, 1 - HMC_JITTER, 1 + HMC_JITTER)
    return state._replace(rng_key=key, trajectory_length=jnp.asarray(length, dtype) * factor)


@partial(jax.jit, static_argnums=1)
def _keys(seed: int, num_chains: int) -> tuple[jax.Array, jax.Array]:
    """The start key and one key per chain, derived from ``seed`` in one small program (a cold
    first run otherwise compiles five: seeding, splitting, unstacking, slicing)."""
    init_key, chain_key = jax.random.split(jax.random.PRNGKey(seed))
    return init_key, jax.random.split(chain_key, num_chains)


def _initial_coordinates(
    net: StudentNetwork, teacher: Teacher, cfg: SamplerConfig, key: jax.Array
) -> np.ndarray:
    """One start per chain (rows): the teacher's coordinates for the informed chains, a normal
    draw (``prior``, ``mixed``) or a small one (``zero``) for the others."""
    informed = cfg.chain_starts() == "teacher"
    if informed.all():  # no random draw: in a cold process it would compile a program of its own
        z0 = np.tile(net.coordinates(list(teacher.weights)), (cfg.num_chains, 1))
    else:
        z0 = np.array(jax.random.normal(key, (cfg.num_chains, net.num_params)))
        z0 *= ZERO_INIT_SCALE if cfg.init == "zero" else 1.0
        z0[informed] = net.coordinates(list(teacher.weights))
    return z0.astype(cfg.dtype)


def _resolve_method(cfg: SamplerConfig) -> str:
    if cfg.chain_method == "parallel" and (
        cfg.num_chains == 1 or jax.local_device_count(cfg.platform) < cfg.num_chains
    ):
        return "sequential"
    return cfg.chain_method


def sample_posterior(
    teacher: Teacher,
    train: Data,
    test: Data,
    config: SamplerConfig | None = None,
    *,
    seed: int = 0,
    n_pad: int | None = None,
    keep: tuple[str, ...] = (),
) -> PosteriorRun:
    """Sample the student posterior given ``train`` and record observables on ``test``.

    ``teacher`` provides the spec (architecture, priors, channel) and, for ``init="teacher"``,
    the informed start. ``n_pad >= train.n`` pads the training set with masked rows so that runs
    with different ``n`` share one compiled sampler. Same inputs and seed give the same numbers.
    By default only the observables are kept (memory does not grow with the model); ``keep``
    adds, per kept draw, ``"weights"`` (``W1, ..., WL, a`` in ``draws``, each (C, S, *shape):
    ``C x S x num_weights`` numbers) and ``"log_likelihood"`` (``log P_out(y_mu | f(x_mu))`` at
    every training point, (C, S, n): for ``az.loo`` and ``az.waic`` via ``to_inference_data``);
    neither changes the chains.
    """
    cfg = config or SamplerConfig()
    for item in keep:
        if item not in KEEP:
            raise ValueError(f"keep = {item!r}: must be one of {', '.join(KEEP)}")
    spec, d = teacher.spec, teacher.d
    check_samplable(spec)
    cfg.check_warmup()
    if train.d != d or test.d != d:
        raise ValueError(f"data d = {train.d}/{test.d} does not match the teacher's d = {d}")
    n_pad = train.n if n_pad is None else n_pad
    if n_pad < train.n:
        raise ValueError(f"n_pad = {n_pad}: must be >= n = {train.n}")
    if cfg.num_probes > test.n:
        raise ValueError(f"sampler.num_probes = {cfg.num_probes}: more than n_test = {test.n}")
    device = platform_device(cfg.platform, "sampler.platform")
    # scoped: float32 and float64 runs can mix; products in full precision on every platform
    with (
        jax.enable_x64(cfg.dtype == "float64"),
        jax.default_matmul_precision(MATMUL_PRECISION),
        jax.default_device(device),
    ):
        return _sample(teacher, train, test, cfg, seed, n_pad, tuple(sorted(set(keep))))


def _sample(
    teacher: Teacher,
    train: Data,
    test: Data,
    cfg: SamplerConfig,
    seed: int,
    n_pad: int,
    keep: tuple[str, ...],
) -> PosteriorRun:
    spec, d = teacher.spec, teacher.d
    method = _resolve_method(cfg)
    net = StudentNetwork(spec, d)
    init_key, keys = jax.device_get(_keys(seed, cfg.num_chains))
    z0 = _initial_coordinates(net, teacher, cfg, init_key)
    train_args = (
        _pad_rows(train.x, n_pad).astype(cfg.dtype),
        _pad_rows(train.y, n_pad).astype(cfg.dtype),
        _pad_rows(np.ones(train.n), n_pad).astype(cfg.dtype),
    )
    test_set = split_test(test, cfg.test_chunk, cfg.dtype)
    fn = _chain_function(spec, d, replace(cfg, init=INITS[0]), method, keep)  # starts are data

    def all_chains(states, fresh: bool, count: int):
        args = (fresh, count, train_args, test_set)
        if method != "sequential":
            return fn.run(keys, z0, states, *args)
        outs = [
            fn.run(keys[c], z0[c], jax.tree_util.tree_map(lambda a, c=c: a[c], states), *args)
            for c in range(cfg.num_chains)
        ]
        return jax.tree_util.tree_map(lambda *a: jnp.stack(a), *outs)

    start = time.perf_counter()
    one = fn.placeholder(keys[0], z0[0], train_args)
    states = jax.tree_util.tree_map(lambda a: np.stack([a] * cfg.num_chains), one)
    acc = acc2 = 0.0
    blocks = []
    num_kept = cfg.num_samples // cfg.thinning
    for first in range(0, num_kept, fn.block):
        count = min(fn.block, num_kept - first)
        states, a, a2, obs = all_chains(states, first == 0, count)
        a, a2, obs = jax.device_get((a, a2, obs))
        acc, acc2 = acc + a, acc2 + a2
        blocks.append({k: v[:, :count] for k, v in obs.items()})
    draws = {k: np.concatenate([b[k] for b in blocks], axis=1) for k in blocks[0]}
    if "z" in draws:
        draws |= net.weight_draws(draws.pop("z"))
    if "log_likelihood" in draws:
        draws["log_likelihood"] = draws["log_likelihood"][..., : train.n]
    elapsed = time.perf_counter() - start

    even = np.arange(test.n) % 2 == 0
    teacher_sums = np.stack(
        [test.x[even].T @ test.f_star[even], test.x[~even].T @ test.f_star[~even]]
    )
    return PosteriorRun(
        pred_sum=np.asarray(acc, dtype=float)[:, : test.n],
        pred_sq_sum=np.asarray(acc2, dtype=float)[:, : test.n],
        draws={k: np.asarray(v) for k, v in draws.items()},
        teacher_sums=teacher_sums,
        half_sizes=(int(even.sum()), int((~even).sum())),
        num_draws=cfg.num_samples // cfg.thinning,
        timing={"run_s": elapsed, "chain_method": method, "num_params": net.num_params},
        config=cfg,
    )
