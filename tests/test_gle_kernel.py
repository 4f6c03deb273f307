"""The NNGP kernel (gle.kernel, docs/theory.md 9): every closed form and the Hermite series
against brute-force two-dimensional integrals, and the kernel against wide random networks."""

import numpy as np
import pytest
from scipy import integrate

from gle.kernel import dual_expectation, nngp_kernel, second_moment
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
