"""Regularised ERM on the equivalent GLM (gle.erm, docs/theory.md 10): the fixed point with the
square loss is ridge's closed form, logistic regression's asymptotic error is above the Bayes
error and matches finite-size fits on deep teachers."""

import numpy as np
import pytest

import gle
from learners import logistic_errors
from teacher_student import TeacherSpec, sample_teacher

TANH_SIGN = TeacherSpec(activations=("tanh", "tanh"), channel="sign", noise=0.1)


@pytest.mark.parametrize("lam", [0.05, 0.35, 2.0])
def test_square_loss_is_ridge(lam):
    """The same fixed point with the square loss on the Gaussian channel reproduces the ridge
    error of docs/theory.md 7 (a closed form from the Marchenko-Pastur law), to 1e-9."""
    glm = gle.equivalent_glm(TeacherSpec(activations=("tanh",), noise=0.1))
    alpha = np.array([0.3, 1.0, 2.5, 6.0])
    np.testing.assert_allclose(
        gle.erm_error(alpha, lam, glm, "square"), gle.ridge_error(alpha, lam, glm), atol=1e-9
    )


def test_logistic_is_above_the_bayes_error_and_close_to_it():
    """No estimator beats the Bayes error; logistic regression at a good lam is within 1 %
    (relative) of it on the sign channel, the near-optimality Cui et al. report."""
    glm = gle.equivalent_glm(TANH_SIGN)
    alpha = np.array([0.5, 1.0, 2.0, 4.0])
    bayes = gle.bayes_optimal(glm, alpha).eps_bo
    for lam in (0.03, 0.1, 1.0):
        assert np.all(gle.erm_error(alpha, lam, glm, "logistic") >= bayes - 1e-9)
    assert np.all(gle.erm_error(alpha, 0.1, glm, "logistic") < 1.01 * bayes)


def test_logistic_on_finite_deep_teachers_against_its_asymptotic_error():
    """L2 logistic regression (intercept fitted) on 8 tanh-tanh sign-channel teachers at d = 1000,
    alpha = 1.5, 4000 test labels: the mean test error within 3 SE over teachers (measured) plus
    an O(1/d) allowance of ``erm_error`` on the GLM, at two lams."""
    glm = gle.equivalent_glm(TANH_SIGN)
    d, alpha, lams = 1000, 1.5, np.array([0.1, 1.0])
    errors = []
    for seed in range(8):
        teacher = sample_teacher(TANH_SIGN, d, seed)
        train, test = teacher.sample(int(alpha * d), 100 + seed), teacher.sample(4000, 200 + seed)
        errors.append(logistic_errors(train, test, lams))
    errors = np.array(errors)
    mean, se = errors.mean(0), errors.std(0, ddof=1) / np.sqrt(len(errors))
    theory = np.array([gle.erm_error(alpha, lam, glm, "logistic")[0] for lam in lams])
    assert np.all(np.abs(mean - theory) < 3 * se + 1 / d), (mean - theory) / se


def test_bad_inputs_are_named():
    glm = gle.equivalent_glm(TANH_SIGN)
    with pytest.raises(ValueError, match="loss = 'hinge'"):
        gle.erm_error(1.0, 0.1, glm, "hinge")
    with pytest.raises(ValueError, match="lam = 0"):
        gle.erm_error(1.0, 0, glm, "logistic")
    relu = gle.equivalent_glm(TeacherSpec(activations=("relu",), channel="sign", noise=0.1))
    with pytest.raises(ValueError, match="offset_var = 0"):
        gle.erm_error(1.0, 0.1, relu, "logistic")
