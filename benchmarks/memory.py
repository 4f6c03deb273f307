"""Peak memory of a long posterior run: d = 200, L = 3 tanh (widths 1, 120,200 weights), alpha = 1,
2 chains x 2000 kept draws, 10^4 test points.

The sampler keeps only per-draw observables and running sums (bayes.sampler), so the memory
should not grow with the number of draws. Compared with what the obvious alternative needs: the
weights of every draw (``MCMC.get_samples``) and the draws x test-points output matrix formed
from them afterwards. Mixing is not the point here: NUTS trees are capped at depth 3 to keep
the run to a few minutes. Run: python benchmarks/memory.py [num_samples]
"""

import resource
import sys
import time

import bayes
from teacher_student import TeacherSpec, sample_teacher

bayes.prepare_process()  # host devices and the compilation cache, as dgep run

D, ALPHA, N_TEST, CHAINS = 200, 1.0, 10_000, 2


def rss_mib() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(num_samples: int) -> None:
    spec = TeacherSpec(activations=("tanh", "tanh", "tanh"), noise=0.1)
    teacher = sample_teacher(spec, D, 0)
    train, test = teacher.sample(int(ALPHA * D), 1), teacher.sample(N_TEST, 2)
    cfg = bayes.SamplerConfig(
        num_warmup=50, num_samples=num_samples, num_chains=CHAINS, max_tree_depth=3
    )
    before = rss_mib()
    start = time.perf_counter()
    run = bayes.sample_posterior(teacher, train, test, cfg, seed=0)
    m = bayes.measure(run, test, spec.channel)
    wall = time.perf_counter() - start
    draws = CHAINS * num_samples
    weights = draws * spec.num_weights(D) * 4 / 2**20
    outputs = draws * N_TEST * 4 / 2**20
    print(
        f"d = {D}, L = 3, {spec.num_weights(D):,} weights, n = {train.n}, n_test = {N_TEST}, "
        f"{CHAINS} x {num_samples} draws: {wall:.0f} s, eps_bayes {m.eps_bayes.value:.4f}"
    )
    print(
        f"peak RSS {before:.0f} MiB before sampling, {rss_mib():.0f} MiB after "
        f"(kept observables: {sum(v.nbytes for v in run.draws.values()) / 2**20:.1f} MiB)"
    )
    print(
        f"keeping every draw's weights would take {weights:,.0f} MiB, and the draws x test "
        f"outputs {outputs:,.0f} MiB more (float32)"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
