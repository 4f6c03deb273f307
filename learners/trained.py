"""The student network trained by full-batch Adam (optax) from a prior draw."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from bayes import StudentNetwork
from teacher_student import Data, TeacherSpec

TRAIN_STEPS = 4000
TRAIN_LR = 0.02
TRAIN_GRAD_TOL = 1e-4


def trained_errors(
    spec: TeacherSpec,
    train: Data,
    test: Data,
    decays: np.ndarray,
    seed: int,
    lr: float = TRAIN_LR,
    steps: int = TRAIN_STEPS,
) -> tuple[np.ndarray, np.ndarray]:
    """Test errors of the student trained on
    ``sum_mu loss(y_mu, f(x_mu; z)) + (decay / 2) |z|^2`` at each weight decay, in the standard
    coordinates ``z`` of ``bayes.StudentNetwork`` (weights = prior scale x z), from one prior
    draw (``seed``) for every decay; ``loss`` is the squared error / 2 (Gaussian channel; error
    against the clean target) or the logistic loss (sign channel; classification error against
    the noisy labels). ``steps`` full-batch Adam steps, the learning rate cosine-decayed from
    ``lr`` to 0. Also returns the RMS of each run's final gradient (converged where it is below
    ``TRAIN_GRAD_TOL``); a run whose loss diverged (non-finite) is NaN in both."""
    net = StudentNetwork(spec, train.d)
    x, y, x_test = (jnp.asarray(a) for a in (train.x, train.y, test.x))
    sign = spec.channel == "sign"

    def objective(z, decay):
        f = net.output(z, x)
        data = jnp.sum(jnp.logaddexp(0.0, -y * f)) if sign else 0.5 * jnp.sum((y - f) ** 2)
        return data + 0.5 * decay * jnp.sum(z * z)

    optimiser = optax.adam(optax.cosine_decay_schedule(lr, steps))
    grad = jax.grad(objective)

    @jax.jit
    def fit(z, decay):
        def step(carry, _):
            z, state = carry
            updates, state = optimiser.update(grad(z, decay), state, z)
            return (optax.apply_updates(z, updates), state), None

        (z, _), _ = jax.lax.scan(step, (z, optimiser.init(z)), None, length=steps)
        return z, jnp.sqrt(jnp.mean(grad(z, decay) ** 2))

    start = jax.random.normal(jax.random.PRNGKey(seed), (net.num_params,), x.dtype)
    errors, grads = [], []
    for decay in decays:
        z, g = fit(start, float(decay))
        f = np.asarray(net.output(z, x_test), dtype=float)
        if sign:
            error = np.mean(np.where(f >= 0, 1.0, -1.0) != test.y)
        else:
            error = np.mean((test.f_star - f) ** 2)
        finite = bool(np.isfinite(f).all() and np.isfinite(float(g)))
        errors.append(error if finite else np.nan)
        grads.append(float(g) if finite else np.nan)
    return np.array(errors), np.array(grads)
