"""The NNGP kernel (gle.kernel, docs/theory.md 9): every closed form and the Hermite series
against brute-force two-dimensional integrals, and the kernel against wide random networks."""

import numpy as np
import pytest
from scipy import integrate

from gle import bayes_optimal, equivalent_glm, kernel_linearisation, kernel_ridge_error
from gle.kernel import dual_expectation, nngp_kernel, second_moment
from learners import kernel_errors
from teacher_student import TeacherSpec, get_activation, sample_teacher


def brute_force(act, a, b, c):
    """``E[sigma(u) sigma(v)]`` by nested adaptive quadrature over ``u = sqrt(a) z1``,
    ``v = sqrt(b) (rho z1 + sqrt(1 - rho^2) z2)``, split where ``u`` or ``v`` crosses 0 (the
    kinks and jumps of relu and sign)."""
    rho = c / np.sqrt(a * b)
    root = np.sqrt(1 - rho**2)
    phi = lambda z: np.exp(-z * z / 2) / np.sqrt(2 * np.pi)  # noqa: E731

    def inner(z1):
        u = act(np.array(np.sqrt(a) * z1))
        v = lambda z2: act(np.array(np.sqrt(b) * (rho * z1 + root * z2)))  # noqa: E731
        cut = np.clip(-rho * z1 / root, -9, 9)
        return u * integrate.quad(lambda z2: v(z2) * phi(z2), -9, 9, points=[cut], epsabs=1e-13)[0]

    return integrate.quad(lambda z1: inner(z1) * phi(z1), -9, 9, points=[0.0], epsabs=1e-12)[0]


def one_dimensional(act, a):
    return integrate.quad(
        lambda z: act(np.array(np.sqrt(a) * z)) ** 2 * np.exp(-z * z / 2) / np.sqrt(2 * np.pi),
        -12,
        12,
        points=[0.0],
        epsabs=1e-13,
    )[0]


CASES = [(0.7, 1.6, 0.5), (1.2, 0.4, -0.3), (2.0, 2.0, 0.95), (0.3, 1.0, 0.0)]


@pytest.mark.parametrize("name", ["linear", "relu", "erf", "sign", "tanh", "tanh2x"])
def test_dual_expectation_against_quadrature(name):
    """Closed forms (linear, relu, erf, sign) and the Hermite series (tanh, tanh2x) to 1e-9
    (|rho| <= 0.95)."""
    act = get_activation(name)
    for a, b, rho in CASES:
        c = rho * np.sqrt(a * b)
        got = dual_expectation(act, np.array([[a]]), np.array([[b]]), np.array([[c]]))[0, 0]
        assert got == pytest.approx(brute_force(act, a, b, c), abs=1e-9)
        assert second_moment(act, np.array([a]))[0] == pytest.approx(
            one_dimensional(act, a), abs=1e-9
        )


@pytest.mark.parametrize("activations", [("tanh",), ("relu",), ("tanh", "relu"), ("erf", "tanh")])
def test_kernel_of_wide_random_networks(activations):
    """``E_W f(x) f(x')`` over random networks of widths 2000 (8 networks x 64 readouts each:
    the readout average is exact, so the only errors are the hidden layers' sampling, whose SE is
    measured over the networks, and the finite-width bias, O(1/k) = 5e-4)."""
    d, width, nets = 40, 2000, 8
    spec = TeacherSpec(
        activations=activations, widths=(width / d,) * len(activations), readout_var=1.3
    )
    x = np.random.default_rng(1).standard_normal((5, d))
    kernel = nngp_kernel(spec, x)
    empirical = []
    for seed in range(nets):
        teacher = sample_teacher(spec, d, seed)
        hidden = x
        for W, name in zip(teacher.weights[:-1], activations, strict=True):
            hidden = get_activation(name)(hidden @ W.T / np.sqrt(hidden.shape[1]))
        empirical.append(
            spec.readout_var * hidden @ hidden.T / width
        )  # E_a f f' given the hidden layers
    empirical = np.array(empirical)
    mean, se = empirical.mean(0), empirical.std(0, ddof=1) / np.sqrt(nets)
    assert np.all(np.abs(mean - kernel) < 4 * se + 2e-3), (mean - kernel) / se


def test_symmetric_kernel_has_the_exact_diagonal_and_is_positive_semidefinite():
    spec = TeacherSpec(activations=("tanh", "tanh"), widths=(1.0, 1.0))
    x = np.random.default_rng(2).standard_normal((60, 30))
    kernel = nngp_kernel(spec, x)
    np.testing.assert_allclose(kernel, kernel.T, atol=1e-12)
    assert np.linalg.eigvalsh(kernel).min() > -1e-8
    # the same entries from the two-set form, whose diagonal pairs go through the series at rho = 1
    np.testing.assert_allclose(nngp_kernel(spec, x[:7], x), kernel[:7], atol=1e-6)


@pytest.mark.parametrize(
    "spec",
    [
        TeacherSpec(activations=("tanh",)),
        TeacherSpec(activations=("relu", "relu")),
        TeacherSpec(activations=("tanh2x", "erf"), widths=(0.5, 2.0), prior_var=(1.5, 0.7)),
        TeacherSpec(activations=("relu", "tanh", "sign"), readout_var=2.0),
    ],
)
def test_the_kernels_linear_part_is_the_equivalent_glm(spec):
    """Two independent computations: the kernel's ``(kappa_0, kappa_1, kappa_*)`` (dual
    expectations) equal ``equivalent_glm``'s ``(offset_var, rho, delta_eff)`` (Gaussian
    coefficients and the offset recursion, docs/theory.md 3), to the central difference's 1e-8."""
    glm = equivalent_glm(spec)
    kappa = kernel_linearisation(spec)
    np.testing.assert_allclose(kappa, (glm.offset_var, glm.rho, glm.delta_eff), atol=1e-8)


def test_kernel_ridge_on_finite_teachers_against_its_asymptotic_error():
    """Kernel ridge with the NNGP kernel at ``lam = Delta`` (asymptotically Bayes-optimal) and
    ``3 Delta`` on 8 deep teachers at d = 1000, alpha = 1.5: the mean test error within 3 SE over
    the teachers (measured) plus an O(1/d) allowance of ``kernel_ridge_error``."""
    spec = TeacherSpec(activations=("tanh", "tanh"), noise=0.1)
    glm = equivalent_glm(spec)
    d, alpha, lams = 1000, 1.5, np.array([0.1, 0.3])
    errors = []
    for seed in range(8):
        teacher = sample_teacher(spec, d, seed)
        train, test = teacher.sample(int(alpha * d), 100 + seed), teacher.sample(1000, 200 + seed)
        errors.append(kernel_errors(spec, train, test, lams))
    errors = np.array(errors)
    mean, se = errors.mean(0), errors.std(0, ddof=1) / np.sqrt(len(errors))
    theory = kernel_ridge_error(alpha, lams, glm)
    assert theory[0] == pytest.approx(bayes_optimal(glm, alpha).eps_bo[0], rel=1e-9)
    assert np.all(np.abs(mean - theory) < 3 * se + 1 / d), (mean - theory) / se
