"""Where a run's wall time goes: tracing, lowering, XLA's backend compile, and the rest (sampling,
test predictions, transfers), for the posterior of benchmarks/sampler.py (L = 2 tanh, alpha = 2,
Delta = 0.1, 2 chains x 200 draws, 4000 test points, informed start with its default warmup, one
dual averaging of the step size over 50 steps), with NUTS and with HMC of integration time pi/2,
d in (50, 100).

Each (d, kernel) runs in a fresh process with an empty persistent compilation cache (``cold``, a
first run on a new machine), then in a second fresh process that finds the cache filled
(``cached``), then once more in that process on a new seed (``repeat``, as in a sweep). The
durations are JAX's own monitoring events (``jax.monitoring``), summed over every program traced or
compiled during the run (with a filled cache, ``backend compile`` is the load from it); ``cpu`` is
the process's CPU time over the run (above the wall time when XLA compiles or samples on both
cores). The cold backend compile is what keeps a first run at d = 50 below 3x the plain NumPyro
script (README, Performance).
Run: python benchmarks/compile.py [d ...]
"""

import json
import sys
import tempfile
import time

from sampler import CHAINS, CONTENDERS, SAMPLES, problem, run_child

EVENTS = {
    "trace": "/jax/core/compile/jaxpr_trace_duration",
    "lower": "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "compile": "/jax/core/compile/backend_compile_duration",
}
KERNELS = {"nuts": CONTENDERS["dgep"], "hmc": CONTENDERS["dgep-hmc"]}  # informed start


def child(d: int, kernel: str, seeds: list[int]) -> None:
    """Time one run per seed in this process; print one JSON line per run."""
    import jax.monitoring

    import bayes

    bayes.prepare_process()  # host devices and the compilation cache, as dgep run
    durations: dict[str, float] = {}

    def listen(name: str, seconds: float, **_) -> None:
        durations[name] = durations.get(name, 0.0) + seconds

    jax.monitoring.register_event_duration_secs_listener(listen)
    cfg = bayes.SamplerConfig(num_samples=SAMPLES, num_chains=CHAINS, **KERNELS[kernel])
    for seed in seeds:
        teacher, train, test = problem(d, seed)
        durations.clear()
        wall, cpu = time.perf_counter(), time.process_time()
        bayes.sample_posterior(teacher, train, test, cfg, seed=seed)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        row = {part: durations.get(event, 0.0) for part, event in EVENTS.items()}
        print(json.dumps(row | {"wall": wall, "cpu": cpu}), flush=True)


def spawn(d: int, kernel: str, seeds: str, cache: str) -> list[dict]:
    return run_child(__file__, [str(d), kernel, seeds], cache)


def report(d: int, kernel: str, run: str, r: dict) -> str:
    rest = r["wall"] - r["trace"] - r["lower"] - r["compile"]
    return (
        f"d={d:>3} {kernel:>4} {run:>6}: wall {r['wall']:5.2f} s = trace {r['trace']:4.2f} + "
        f"lower {r['lower']:4.2f} + backend compile {r['compile']:4.2f} + rest {rest:5.2f} "
        f"(cpu {r['cpu']:5.2f} s)"
    )


def main(sizes: list[int]) -> None:
    for d in sizes:
        for kernel in KERNELS:
            cache = tempfile.mkdtemp(prefix="dgep-bench-")
            (cold,) = spawn(d, kernel, "0", cache)
            cached, repeat = spawn(d, kernel, "0,1", cache)
            for run, r in (("cold", cold), ("cached", cached), ("repeat", repeat)):
                print(report(d, kernel, run, r), flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(int(sys.argv[2]), sys.argv[3], [int(s) for s in sys.argv[4].split(",")])
    else:
        main([int(a) for a in sys.argv[1:]] or [50, 100])
