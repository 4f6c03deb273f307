"""The learners people use, on a point's own train and test data, next to the posterior
(Cui, Krzakala, Zdeborova 2023: optimally regularised ridge, and kernel ridge with the network's
own kernel, reach the Bayes error in the proportional regime). Gaussian channel, test errors
against the clean target:

* ``ridge``: ``w = argmin sum_mu (y_mu - w.x_mu / sqrt(d))^2 + lam |w|^2``, solved exactly, at
  ``lam_bo = s2 / rho`` and on a grid of multiples of it, next to the asymptotic ridge error of
  ``gle.ridge_error`` (docs/theory.md 7);
* ``kernel``: kernel ridge regression with the student's infinite-width kernel
  (``gle.nngp_kernel``, docs/theory.md 9), ``f(x) = K(x, X) (K(X, X) + lam I)^{-1} y``, on a
  grid of multiples of the noise ``Delta`` (``lam = Delta``, always run, is the posterior mean
  of the network's infinite-width Gaussian process, and asymptotically the Bayes estimator:
  ``gle.kernel_ridge_error``, docs/theory.md 9).

Both channels:

* ``trained``: the student network itself, trained by full-batch Adam (optax) from a prior draw
  on ``sum_mu loss(y_mu, f(x_mu; z)) + (decay / 2) |z|^2`` in the standard coordinates ``z`` of
  ``bayes.StudentNetwork`` (weights = prior scale x z), ``loss`` the squared error / 2
  (Gaussian) or the logistic loss (sign), for ``TRAIN_STEPS`` steps with a cosine-decayed
  learning rate; converged where the final gradient's RMS is below ``TRAIN_GRAD_TOL``
  (``eps_trained_grad`` records it); a diverged run (NaN loss) is NaN for its decay.

Sign channel, classification errors against the noisy test labels (as ``eps_bayes``):

* ``logistic``: ``w, b = argmin sum_mu ln(1 + exp(-y_mu (w . x_mu / sqrt(d) + b))) + (lam / 2)
  |w|^2`` (L-BFGS, scipy) on a grid of ``lam``, next to the asymptotic error of the same
  estimator on the equivalent GLM at the grid's best ``lam`` (``gle.erm_error``,
  docs/theory.md 10; centred teachers).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from teacher_student import Data, TeacherSpec

KNOWN = ("ridge", "kernel", "logistic", "trained")
TRAIN_STEPS = 4000
TRAIN_LR = 0.02
TRAIN_GRAD_TOL = 1e-4


class EstimatorsTable(BaseModel):
    """``[estimators]``: which learners run (``ridge``, ``kernel``: Gaussian channel;
    ``logistic``: sign channel; ``trained``: both) and their grids, ridge's as multiples of
    ``lam_bo``, the kernel's as multiples of the noise ``Delta``, logistic's as values of
    ``lam``, the trained network's weight decays; an empty table runs every learner that
    applies, with these grids."""

    model_config = ConfigDict(extra="forbid", strict=True)
    names: list[str] = Field(default_factory=lambda: list(KNOWN))
    ridge_grid: list[float] = Field(default_factory=lambda: [0.1, 0.3, 1.0, 3.0, 10.0])
    kernel_grid: list[float] = Field(default_factory=lambda: [0.1, 0.3, 1.0, 3.0, 10.0])
    logistic_grid: list[float] = Field(default_factory=lambda: [0.01, 0.03, 0.1, 0.3, 1.0, 3.0])
    trained_grid: list[float] = Field(default_factory=lambda: [0.1, 1.0, 10.0])

    @field_validator("names")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        for name in value:
            if name not in KNOWN:
                raise ValueError(f"unknown estimator {name!r} (known: {', '.join(KNOWN)})")
        return value

    @field_validator("ridge_grid", "kernel_grid", "logistic_grid", "trained_grid")
    @classmethod
    def _grid(cls, value: list[float]) -> list[float]:
        if not value or any(not (g > 0 and np.isfinite(g)) for g in value):
            raise ValueError("needs numbers > 0")
        return value


def ridge_errors(train: Data, test: Data, lams: np.ndarray) -> np.ndarray:
    """Test errors ``mean (f* - w_lam.x / sqrt(d))^2`` of ridge at each ``lam`` (one
    eigendecomposition of ``X^T X / d`` serves the grid)."""
    d = train.d
    evals, evecs = np.linalg.eigh(train.x.T @ train.x / d)
    proj = evecs.T @ (train.x.T @ train.y / np.sqrt(d))
    out = []
    for lam in lams:
        w = evecs @ (proj / (evals + lam))
        out.append(np.mean((test.f_star - test.x @ w / np.sqrt(d)) ** 2))
    return np.array(out)


def kernel_errors(spec: TeacherSpec, train: Data, test: Data, lams: np.ndarray) -> np.ndarray:
    """Test errors ``mean (f* - K(x, X) (K(X, X) + lam I)^{-1} y)^2`` of kernel ridge with the
    NNGP kernel of ``spec`` at each ``lam`` (one eigendecomposition of ``K(X, X)`` serves the
    grid)."""
    from gle import nngp_kernel

    evals, evecs = np.linalg.eigh(nngp_kernel(spec, train.x))
    cross = nngp_kernel(spec, test.x, train.x) @ evecs
    proj = evecs.T @ train.y
    return np.array([np.mean((test.f_star - cross @ (proj / (evals + lam))) ** 2) for lam in lams])


def logistic_errors(train: Data, test: Data, lams: np.ndarray) -> np.ndarray:
    """Test classification errors ``mean(sign(w . x / sqrt(d) + b) != y)`` of L2-regularised
    logistic regression (intercept ``b`` not penalised) at each ``lam``."""
    from scipy import optimize, special

    x = np.hstack([train.x / np.sqrt(train.d), np.ones((train.n, 1))])
    y = train.y

    def objective(p, lam):
        margin = y * (x @ p)
        grad = -x.T @ (y * special.expit(-margin))
        return np.sum(np.logaddexp(0.0, -margin)) + 0.5 * lam * p[:-1] @ p[:-1], grad + lam * np.r_[
            p[:-1], 0.0
        ]

    out, start = [], np.zeros(train.d + 1)
    for lam in sorted(lams, reverse=True):  # warm starts from the most regularised
        fit = optimize.minimize(
            objective, start, args=(lam,), jac=True, method="L-BFGS-B", options={"gtol": 1e-9}
        )
        start = fit.x
        score = test.x @ fit.x[:-1] / np.sqrt(test.d) + fit.x[-1]
        out.append((lam, np.mean(np.where(score >= 0, 1.0, -1.0) != test.y)))
    return np.array([e for lam, e in sorted(out)])


def trained_errors(
    spec: TeacherSpec, train: Data, test: Data, decays: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Test errors of the trained student network at each weight decay (module docstring) and
    the RMS of each run's final gradient; NaN where the loss diverged."""
    import jax
    import jax.numpy as jnp
    import optax

    from bayes import StudentNetwork

    net = StudentNetwork(spec, train.d)
    x, y, x_test = (jnp.asarray(a) for a in (train.x, train.y, test.x))
    sign = spec.channel == "sign"

    def objective(z, decay):
        f = net.output(z, x)
        data = jnp.sum(jnp.logaddexp(0.0, -y * f)) if sign else 0.5 * jnp.sum((y - f) ** 2)
        return data + 0.5 * decay * jnp.sum(z * z)

    optimiser = optax.adam(optax.cosine_decay_schedule(TRAIN_LR, TRAIN_STEPS))
    grad = jax.grad(objective)

    @jax.jit
    def fit(z, decay):
        def step(carry, _):
            z, state = carry
            updates, state = optimiser.update(grad(z, decay), state, z)
            return (optax.apply_updates(z, updates), state), None

        (z, _), _ = jax.lax.scan(step, (z, optimiser.init(z)), None, length=TRAIN_STEPS)
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


def _best(errors: np.ndarray, grid: np.ndarray, name: str) -> dict:
    best = int(np.argmin(errors))
    return {f"eps_{name}": float(errors[best]), f"eps_{name}_lam": float(grid[best])}


def estimator_values(
    spec: TeacherSpec, table: EstimatorsTable, train: Data, test: Data, seed: int = 0
) -> dict:
    """Every applicable learner's columns (``_channel_values``), and with ``trained``:
    ``eps_trained`` (best decay of the grid; NaN if every run diverged), ``eps_trained_decay``
    and ``eps_trained_grad`` (its final gradient RMS: below ``TRAIN_GRAD_TOL`` if converged)."""
    values = _channel_values(spec, table, train, test)
    if "trained" in table.names:
        grid = np.asarray(sorted(table.trained_grid))
        errors, grads = trained_errors(spec, train, test, grid, seed)
        finite = np.isfinite(errors)
        best = int(np.nanargmin(errors)) if finite.any() else 0
        values |= {
            "eps_trained": float(errors[best]) if finite.any() else float("nan"),
            "eps_trained_decay": float(grid[best]),
            "eps_trained_grad": float(grads[best]),
        }
    return values


def _channel_values(spec: TeacherSpec, table: EstimatorsTable, train: Data, test: Data) -> dict:
    """The columns of the learners that apply to the spec's channel: ``eps_ridge`` (best over
    the grid), ``eps_ridge_lam`` (its lambda), ``eps_ridge_bo`` (at ``lam_bo``); ``eps_kernel``
    (best over the grid), ``eps_kernel_lam`` and ``eps_kernel_gp`` (at ``lam = Delta``, the
    Gaussian process's posterior mean, asymptotically Bayes-optimal: ``gle.kernel_ridge_error``)."""
    from gle import equivalent_glm

    if spec.channel == "sign":
        return _sign_values(spec, table, train, test)
    values = {}
    if "ridge" in table.names:
        lam_bo = equivalent_glm(spec).lam_bo
        grid = lam_bo * np.asarray(sorted({*table.ridge_grid, 1.0}))
        errors = ridge_errors(train, test, grid)
        values |= _best(errors, grid, "ridge")
        values["eps_ridge_bo"] = float(errors[np.argmin(abs(grid - lam_bo))])
    if "kernel" in table.names:
        grid = spec.noise * np.asarray(sorted({*table.kernel_grid, 1.0}))
        errors = kernel_errors(spec, train, test, grid)
        values |= _best(errors, grid, "kernel")
        values["eps_kernel_gp"] = float(errors[np.argmin(abs(grid - spec.noise))])
    return values


def _sign_values(spec: TeacherSpec, table: EstimatorsTable, train: Data, test: Data) -> dict:
    """``eps_logistic`` (best over the grid), ``eps_logistic_lam`` and ``eps_logistic_theory``
    (``gle.erm_error`` at that lam and the realised ``n / d``; NaN for a non-centred teacher)."""
    from gle import equivalent_glm, erm_error

    if "logistic" not in table.names:
        return {}
    grid = np.asarray(sorted(table.logistic_grid))
    values = _best(logistic_errors(train, test, grid), grid, "logistic")
    glm = equivalent_glm(spec)
    theory = float("nan")
    if not glm.offset_var:
        theory = float(erm_error(train.n / train.d, values["eps_logistic_lam"], glm, "logistic")[0])
    return values | {"eps_logistic_theory": theory}
