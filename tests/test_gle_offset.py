"""gle, the output offset of non-centred teachers (docs/theory.md 4.1, 7.1): the offset fixed
point against damped iteration and the centred channel, its errors and information against
brute-force integrals and Monte Carlo, the ensemble average against adaptive quadrature over c,
the intercept cost against exact finite-d posteriors, and the offset variance against real
teachers."""

import numpy as np
import pytest
from scipy import integrate, special

import gle
import teacher_student as ts
from teacher_student import TeacherSpec

RHO, DE, NOISE = 0.3, 0.05, 0.1
S2 = DE + NOISE


def expect_xi(g):
    """E_{xi ~ N(0,1)} g(xi) by adaptive quadrature."""
    return integrate.quad(
        lambda x: g(x) * np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi),
        -40,
        40,
        epsabs=1e-14,
        limit=1000,
    )[0]


@pytest.mark.parametrize("b", [-2.0, 0.0, 0.7, 3.0])
def test_offset_probit_quadratures_against_adaptive_quadrature(b):
    from gle.fixed_point import probit_entropy, probit_fisher

    def fisher(u):
        return np.exp(-(u**2) - np.log(2 * np.pi) - special.log_ndtr(u) - special.log_ndtr(-u))

    def entropy(u):
        lp, lm = special.log_ndtr(u), special.log_ndtr(-u)
        return -np.exp(lp) * lp - np.exp(lm) * lm

    for a in (0.0, 0.4, 2.0, 8.0):
        want_j = expect_xi(lambda x, a=a: fisher(a * x + b))
        want_h = expect_xi(lambda x, a=a: entropy(a * x + b))
        assert probit_fisher(np.array(a), b) == pytest.approx(want_j, rel=1e-9, abs=1e-14)
        assert probit_entropy(np.array(a), b) == pytest.approx(want_h, rel=1e-9, abs=1e-14)


def test_offset_zero_is_the_centred_channel():
    alpha = np.array([0.1, 0.5, 2.0, 10.0])
    fp = gle.solve_glm(alpha, RHO, DE, NOISE, "sign", 0.0)
    k = fp.q / (RHO + S2)
    assert np.allclose(fp.eps_bo, np.arccos(np.sqrt(k)) / np.pi, rtol=1e-12)
    assert np.allclose(fp.eps_gibbs, np.arccos(k) / np.pi, rtol=1e-12)
    assert np.allclose(fp.eps_bo_clean, np.arccos(np.sqrt(fp.q / (RHO + DE))) / np.pi, rtol=1e-12)


@pytest.mark.parametrize("c", [0.2, -0.6, 1.5])
def test_offset_fixed_point_matches_damped_iteration(c):
    for alpha in (0.3, 1.0, 4.0):
        q_iter, _ = gle.damped_iteration(alpha, RHO, S2, "sign", offset=c)
        fp = gle.solve_glm(alpha, RHO, DE, NOISE, "sign", c)
        assert fp.converged.all()
        assert fp.q[0] == pytest.approx(q_iter, abs=1e-10)


def test_offset_changes_the_sign_channel_but_not_the_gaussian_one():
    alpha = np.array([0.5, 2.0])
    for name in ("q", "eps_bo", "eps_gibbs", "mutual_information"):
        a = getattr(gle.solve_glm(alpha, RHO, DE, NOISE, "gaussian", 0.9), name)
        b = getattr(gle.solve_glm(alpha, RHO, DE, NOISE, "gaussian", 0.0), name)
        assert np.array_equal(a, b)
    # a large |c| makes most labels one sign: the error falls towards Phi(-|c| / sqrt(rho + s2))
    errors = [gle.solve_glm(alpha, RHO, DE, NOISE, "sign", c).eps_bo for c in (0.0, 0.5, 2.0)]
    assert np.all(errors[0] > errors[1]) and np.all(errors[1] > errors[2])
    assert gle.solve_glm(1e-6, RHO, DE, NOISE, "sign", 2.0).eps_bo[0] == pytest.approx(
        special.ndtr(-2.0 / np.sqrt(RHO + S2)), abs=1e-4
    )


@pytest.mark.parametrize("c", [0.0, 0.4, -1.1])
def test_offset_errors_against_monte_carlo(c):
    # f* = c + w + N(0, rho - q) + N(0, delta_eff) with the posterior field w ~ N(0, q), labels
    # y = sign(f* + N(0, Delta)), a posterior sample's label sign(c + w + N(0, rho - q + s2));
    # 4 x 10^6 draws: SE <= 2.5e-4 for every rate, tolerance 4 SE
    alpha = 1.5
    fp = gle.solve_glm(alpha, RHO, DE, NOISE, "sign", c)
    q = fp.q[0]
    rng = np.random.default_rng(11)
    size = 4_000_000
    w = np.sqrt(q) * rng.standard_normal(size)
    f_star = (
        c
        + w
        + np.sqrt(RHO - q) * rng.standard_normal(size)
        + np.sqrt(DE) * rng.standard_normal(size)
    )
    clean = np.sign(f_star)
    label = np.sign(f_star + np.sqrt(NOISE) * rng.standard_normal(size))
    sample = np.sign(c + w + np.sqrt(RHO - q + S2) * rng.standard_normal(size))
    for got, hits in (
        (fp.eps_bo[0], np.sign(c + w) != label),
        (fp.eps_gibbs[0], sample != label),
        (fp.eps_bo_clean[0], np.sign(c + w) != clean),
    ):
        se = np.sqrt(got * (1 - got) / size)
        assert abs(hits.mean() - got) < 4 * se


@pytest.mark.parametrize("c", [0.0, 0.8])
def test_offset_output_information_against_its_definition(c):
    # I_out = -E_{w,y} ln Z_out(y; w, rho - q) + E_{z,y} ln P_out(y | z), by adaptive quadrature
    from gle.fixed_point import SignChannel

    e = 0.12
    q, total = RHO - e, S2 + e

    def entropy(p):
        return -special.xlogy(p, p) - special.xlogy(1 - p, 1 - p)

    given_estimate = expect_xi(
        lambda x: entropy(special.ndtr((c + np.sqrt(q) * x) / np.sqrt(total)))
    )
    given_signal = expect_xi(lambda x: entropy(special.ndtr((c + np.sqrt(RHO) * x) / np.sqrt(S2))))
    got = SignChannel.output_information(RHO, S2, np.array(e), c)
    assert got == pytest.approx(given_estimate - given_signal, rel=1e-9)


def test_ensemble_average_against_adaptive_quadrature_over_the_offset():
    offset_var = 0.12
    alpha = np.array([0.05, 0.5, 3.0])
    fp = gle.solve_glm_ensemble(alpha, RHO, DE, NOISE, "sign", offset_var)
    assert fp.converged.all()
    for i, a in enumerate(alpha):
        for name in ("eps_bo", "eps_gibbs", "q", "mutual_information"):

            def integrand(c, a=a, name=name):
                value = getattr(gle.solve_glm(a, RHO, DE, NOISE, "sign", c), name)[0]
                return value * np.exp(-0.5 * c * c / offset_var) / np.sqrt(2 * np.pi * offset_var)

            want = 2 * integrate.quad(integrand, 0, 9 * np.sqrt(offset_var), epsabs=1e-12)[0]
            assert getattr(fp, name)[i] == pytest.approx(want, rel=1e-5, abs=1e-7), (a, name)
    # an offset makes the labels more predictable: the ensemble error is below the centred one
    centred = gle.solve_glm(alpha, RHO, DE, NOISE, "sign")
    assert np.all(fp.eps_bo < centred.eps_bo)
    same = gle.solve_glm_ensemble(alpha, RHO, DE, NOISE, "gaussian", offset_var)
    assert np.array_equal(same.eps_bo, gle.solve_glm(alpha, RHO, DE, NOISE, "gaussian").eps_bo)


@pytest.mark.parametrize("acts", [("relu",), ("relu", "relu"), ("erf", "relu", "tanh")])
def test_offset_var_against_real_teachers(acts):
    # offset_var = Var over teachers of E_x f*: 200 teachers at d = 100, E_x f* on 2000 inputs
    # (whose own noise, Var f / 2000, is subtracted); the relative SE of a variance from 200
    # Gaussian values is sqrt(2 / 200) = 0.1 (measured deviations -0.7, -0.5, +1.1 of it);
    # tolerance 3 SE
    spec = TeacherSpec(activations=acts)
    glm = gle.equivalent_glm(spec)
    means = []
    for seed in range(200):
        teacher = ts.sample_teacher(spec, 100, seed)
        x = np.random.default_rng(10_000 + seed).standard_normal((2000, 100))
        means.append(teacher.output(x).mean())
    var = np.mean(np.square(means)) - glm.second_moment / 2000
    assert abs(var - glm.offset_var) < 3 * np.sqrt(2 / 200) * glm.offset_var


def test_centred_teachers_have_no_offset():
    for acts in [("tanh",), ("tanh", "erf"), ("sign", "tanh2x"), ()]:
        assert gle.equivalent_glm(TeacherSpec(activations=acts)).offset_var == 0.0


def exact_excess(X, rho, s2, beta, c_t):
    """Exact excess error E_{theta, noise} of the Bayes estimator of the GLM with a penalised
    intercept (prior variance beta), for a truth with intercept c_t, metric diag(1, I/d);
    beta = 0 is the model without intercept."""
    n, d = X.shape
    Phi = np.hstack([np.ones((n, 1)), X / np.sqrt(d)])
    prior = np.diag(np.r_[1 / beta if beta > 0 else 1e30, np.full(d, 1 / rho)])
    A = prior + Phi.T @ Phi / s2
    Ainv = np.linalg.inv(A)
    M = -Ainv @ prior  # error = M truth + Ainv Phi^T noise / s2
    G = np.diag(np.r_[1.0, np.full(d, 1 / d)])
    truth_cov = np.diag(np.r_[c_t**2, np.full(d, rho)])
    return np.trace(G @ M @ truth_cov @ M.T) + np.trace(G @ Ainv @ Phi.T @ Phi @ Ainv) / s2


@pytest.mark.parametrize("alpha", [0.5, 2.0])
def test_intercept_cost_against_exact_finite_d_posteriors(alpha):
    # 6 designs at d = 300: the exact cost (with minus without intercept) against the formula,
    # for the ensemble average (c_T^2 = beta) and for given teacher offsets; tolerance 3 % plus
    # 3 SE over designs
    spec = TeacherSpec(activations=("relu", "relu"), noise=0.1)
    glm = gle.equivalent_glm(spec)
    d = 300
    n = int(alpha * d)
    for c_t in (None, 0.0, 0.6):
        costs = []
        for seed in range(6):
            X = np.random.default_rng(seed).standard_normal((n, d))
            truth = np.sqrt(glm.offset_var) if c_t is None else c_t  # None: c_T^2 = beta
            with_c = exact_excess(X, glm.rho, glm.s2, glm.offset_var, truth)
            without = exact_excess(X, glm.rho, glm.s2, 0.0, 0.0)
            costs.append(with_c - without)
        costs = np.array(costs)
        want = gle.intercept_cost(alpha, d, glm, c_t)[0]
        se = costs.std(ddof=1) / np.sqrt(costs.size)
        assert abs(costs.mean() - want) < 0.03 * want + 3 * se, (c_t, costs.mean(), want)
