"""Time and peak memory to generate alpha = 4 data at d = 1000, L = 3 tanh, widths 1.

Compared with the obvious alternative, a Python loop over samples (timed on 400 samples and
scaled). Run: python benchmarks/generate.py
"""

import time
import tracemalloc

import numpy as np

from teacher_student import TeacherSpec, layer_activations, network_output, sample_teacher

d, alpha = 1000, 4.0
spec = TeacherSpec(activations=("tanh", "tanh", "tanh"), widths=(1.0, 1.0, 1.0), noise=0.1)

tracemalloc.start()
start = time.perf_counter()
teacher = sample_teacher(spec, d, 0)
t_teacher = time.perf_counter() - start
start = time.perf_counter()
data = teacher.sample(int(alpha * d), 1)
t_data = time.perf_counter() - start
_, peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
print(f"teacher (3 x 10^6 weights): {t_teacher:.2f} s")
print(
    f"n = {data.n} samples (inputs, f*, labels): {t_data:.2f} s "
    f"({data.n / t_data:,.0f} samples/s); peak traced memory {peak / 2**20:.0f} MiB "
    f"(the inputs alone are {data.x.nbytes / 2**20:.0f} MiB)"
)

acts = layer_activations(spec)
m = 400
start = time.perf_counter()
loop = [network_output(x, teacher.weights, acts) for x in data.x[:m]]
t_loop = (time.perf_counter() - start) * data.n / m
assert np.allclose(loop, data.f_star[:m])
print(
    f"per-sample Python loop (scaled from {m}): {t_loop:.2f} s -> vectorised is "
    f"{t_loop / t_data:.1f}x faster"
)
