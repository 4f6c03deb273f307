"""The learners' solvers against direct ones (docs/theory.md 7, 9, 10); their asymptotic errors
are checked in tests/test_gle_kernel.py and tests/test_gle_erm.py."""

import numpy as np
import pytest
from scipy import optimize

from gle import nngp_kernel
from learners import (
    TRAIN_GRAD_TOL,
    kernel_errors,
    logistic_errors,
    ridge_errors,
    trained_errors,
)
from teacher_student import TeacherSpec, sample_teacher

TANH = TeacherSpec(activations=("tanh",), noise=0.2)


def small_data(spec=TANH, d=8, n=16):
    teacher = sample_teacher(spec, d, 0)
    return teacher.sample(n, 1), teacher.sample(50, 2)


@pytest.mark.parametrize("intercept_var", [0.0, 0.5])
def test_ridge_against_a_direct_solve(intercept_var):
    """The eigendecomposition against the normal equations, the intercept penalised by
    ``lam / intercept_var`` (absent at 0)."""
    train, test = small_data(TeacherSpec(activations=("relu",), noise=0.2))
    x = train.x / np.sqrt(8)
    if intercept_var:
        x = np.hstack([x, np.ones((16, 1))])
    penalty = 0.3 * np.diag([1.0] * 8 + ([1 / intercept_var] if intercept_var else []))
    p = np.linalg.solve(x.T @ x + penalty, x.T @ train.y)
    b = p[-1] if intercept_var else 0.0
    direct = np.mean((test.f_star - test.x @ p[:8] / np.sqrt(8) - b) ** 2)
    got = ridge_errors(train, test, np.array([0.3]), intercept_var)[0]
    assert got == pytest.approx(direct, rel=1e-10)


def test_kernel_ridge_against_a_direct_solve():
    train, test = small_data()
    k_train, k_test = nngp_kernel(TANH, train.x), nngp_kernel(TANH, test.x, train.x)
    fit = k_test @ np.linalg.solve(k_train + 0.2 * np.eye(16), train.y)
    direct = np.mean((test.f_star - fit) ** 2)
    assert kernel_errors(TANH, train, test, np.array([0.2]))[0] == pytest.approx(direct, rel=1e-9)


def test_logistic_against_a_direct_fit_in_the_grids_order():
    """Each lam's error is the fit at that lam alone (BFGS from zero, no warm
    start), whatever the order of the grid."""
    spec = TeacherSpec(activations=("tanh",), noise=0.2, channel="sign")
    train, test = small_data(spec, n=40)
    x = np.hstack([train.x / np.sqrt(8), np.ones((40, 1))])

    def direct(lam):
        def loss(p):
            return np.sum(np.logaddexp(0.0, -train.y * (x @ p))) + 0.5 * lam * p[:-1] @ p[:-1]

        p = optimize.minimize(loss, np.zeros(9), method="BFGS", options={"gtol": 1e-10}).x
        score = test.x @ p[:-1] / np.sqrt(8) + p[-1]
        return np.mean(np.where(score >= 0, 1.0, -1.0) != test.y)

    lams = np.array([1.0, 0.1, 3.0])
    np.testing.assert_array_equal(logistic_errors(train, test, lams), [direct(g) for g in lams])


def test_a_trained_linear_student_is_ridge_and_a_diverged_run_is_nan():
    """Adam on the depth-0 student (``f = w . x / sqrt(d)``, squared loss, decay ``lam``)
    reaches ridge's exact solution (no intercept) at ``lam``; a run whose loss overflows (learning rate 1e30)
    gives NaN for its decay, not an exception."""
    teacher = sample_teacher(TeacherSpec(activations=("tanh",), noise=0.1), 20, 0)
    train, test = teacher.sample(60, 1), teacher.sample(2000, 2)
    lams = np.array([0.3, 1.0, 3.0])
    linear = TeacherSpec(activations=(), noise=0.1)
    errors, grads = trained_errors(linear, train, test, lams, seed=0)
    np.testing.assert_allclose(errors, ridge_errors(train, test, lams), rtol=1e-5)
    assert (grads < TRAIN_GRAD_TOL).all()
    relu = TeacherSpec(activations=("relu",), noise=0.1)
    errors, grads = trained_errors(relu, train, test, lams[:2], seed=0, lr=1e30)
    assert np.isnan(errors).all() and np.isnan(grads).all()
