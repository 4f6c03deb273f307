"""gle: closed forms against quadrature, the fixed point against iteration, log-determinants,
finite-size ridge on real teachers, limits and the published reference curve."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from quadrature import gaussian_expectation
from scipy import integrate, special

import gle
import teacher_student as ts
from teacher_student import TeacherSpec

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "reference"  # copy of shared/reference
ACTS = ["tanh", "erf", "sign", "relu", "tanh2x", "linear"]
FUNCS = {
    "tanh": np.tanh,
    "erf": special.erf,
    "sign": np.sign,
    "relu": lambda h: np.maximum(h, 0),
    "tanh2x": lambda h: np.tanh(2 * h),
    "linear": lambda h: h,
}


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("r", [0.3, 1.0, 4.0])
def test_coefficients_against_adaptive_quadrature(act, r):
    f = FUNCS[act]
    mu0 = gaussian_expectation(f, r)
    mu1 = gaussian_expectation(lambda h: h * f(h), r) / r
    mustar2 = gaussian_expectation(lambda h: f(h) ** 2, r) - mu0**2 - r * mu1**2
    got = gle.gaussian_coefficients(act, r)
    assert np.allclose((got.mu0, got.mu1, got.mustar**2), (mu0, mu1, mustar2), atol=1e-10, rtol=0)


@pytest.mark.parametrize("act", ["relu", "sign", "erf", "tanh"])
def test_offset_moments_against_quadrature(act):
    f = FUNCS[act]
    for b, v in [(-0.7, 0.4), (0.3, 1.0), (1.5, 2.5)]:
        m, c, s = gle.offset_moments(act, b, v)
        assert m == pytest.approx(gaussian_expectation(f, v, b), abs=1e-10)
        assert c == pytest.approx(
            gaussian_expectation(lambda h, b=b: (h - b) * f(h), v, b) / v, abs=1e-10
        )
        assert s == pytest.approx(gaussian_expectation(lambda h: f(h) ** 2, v, b), abs=1e-10)


def test_offset_recursion_reduces_to_centred_and_corrects_relu():
    for acts in [("tanh",), ("tanh", "erf"), ("sign", "erf", "tanh"), ("relu",), ("tanh2x",) * 2]:
        spec = TeacherSpec(activations=acts, prior_var=(1.3,) * len(acts), readout_var=0.7)
        a, b = gle.equivalent_glm(spec), gle.equivalent_glm_centred(spec)
        assert a.rho == pytest.approx(b.rho, abs=1e-12)
        assert a.delta_eff == pytest.approx(b.delta_eff, abs=1e-12)
    relu = TeacherSpec(activations=("relu", "relu"))
    assert abs(gle.equivalent_glm(relu).rho - gle.equivalent_glm_centred(relu).rho) > 0.01


def test_reference_coefficients_published_values():
    # published values (Cui et al. 2023 code), next to the independent quadrature above
    glm = gle.equivalent_glm(TeacherSpec(activations=("tanh2x", "tanh2x")))
    assert glm.rho == pytest.approx(0.4090945, abs=1e-7)
    assert glm.delta_eff == pytest.approx(0.1525061, abs=1e-7)
    assert glm.lam_bo == pytest.approx(0.3727894, abs=1e-7)


@pytest.mark.parametrize("acts", [("relu", "relu"), ("tanh", "relu", "erf"), ("relu", "tanh")])
def test_offset_recursion_against_real_teachers(acts):
    # rho_T measured on 10 teachers at d = 500 (20 000 inputs each); tolerance 3 SE of the mean
    # over teachers (measured: about 2 % of rho) plus the O(1/d) finite-width bias.
    spec = TeacherSpec(activations=acts)
    glm = gle.equivalent_glm(spec)
    rhos, variances = [], []
    for seed in range(10):
        stats = ts.measure_teacher(ts.sample_teacher(spec, 500, seed), 20_000, seed=99)
        rhos.append(stats.rho)
        variances.append(stats.var_f)
    rhos, variances = np.array(rhos), np.array(variances)
    se_rho = rhos.std(ddof=1) / np.sqrt(rhos.size)
    se_var = variances.std(ddof=1) / np.sqrt(variances.size)
    assert abs(rhos.mean() - glm.rho) < 3 * se_rho + glm.rho / 500
    assert abs(variances.mean() - glm.second_moment) < 3 * se_var + glm.second_moment / 500


@pytest.mark.parametrize("channel", ["gaussian", "sign"])
def test_fixed_point_matches_damped_iteration(channel):
    for rho, de, noise in [(0.4, 0.15, 0.0), (0.21, 0.02, 0.1), (1.0, 0.0, 0.5)]:
        for alpha in (0.3, 1.0, 4.0):
            if channel == "sign" and de + noise == 0:
                continue
            q_iter, _ = gle.damped_iteration(alpha, rho, de + noise, channel)
            fp = gle.solve_glm(alpha, rho, de, noise, channel)
            assert fp.converged.all()
            assert fp.q[0] == pytest.approx(q_iter, abs=1e-10)


def test_probit_quadrature_against_adaptive_quadrature():
    from gle.fixed_point import probit_entropy, probit_fisher

    # E_xi g(a xi), integrated in xi for a <= 1 and in u = a xi (density phi(u/a)/a) above
    def expect(g, a):
        if a <= 1:
            f = lambda xi: g(a * xi) * np.exp(-0.5 * xi**2) / np.sqrt(2 * np.pi)  # noqa: E731
        else:
            f = lambda u: g(u) * np.exp(-0.5 * (u / a) ** 2) / (a * np.sqrt(2 * np.pi))  # noqa: E731
        return integrate.quad(f, -40, 40, points=[0.0], limit=1000, epsabs=1e-15)[0]

    def fisher_integrand(u):
        return np.exp(-(u**2) - np.log(2 * np.pi) - special.log_ndtr(u) - special.log_ndtr(-u))

    def entropy_integrand(u):
        lp, lm = special.log_ndtr(u), special.log_ndtr(-u)
        return -np.exp(lp) * lp - np.exp(lm) * lm

    fisher = lambda a: expect(fisher_integrand, a)  # noqa: E731
    entropy = lambda a: expect(entropy_integrand, a)  # noqa: E731

    for a in (0.0, 0.5, 3.0, 30.0, 300.0):
        assert probit_fisher(np.array(a)) == pytest.approx(fisher(a), rel=1e-9, abs=1e-13)
        assert probit_entropy(np.array(a)) == pytest.approx(entropy(a), rel=1e-9, abs=1e-13)


def test_mutual_information_equals_log_determinant():
    # i = lim (1/2d) E ln det(I + (rho/s2) X^T X / d) for the Gaussian channel; at d = 600 the
    # average of 4 draws has SE ~1e-4 (measured spread) and the finite-d bias is O(1/d).
    rho, s2, d = 0.8, 0.3, 600
    for alpha in (0.5, 2.0):
        n = int(alpha * d)
        vals = []
        for seed in range(4):
            X = np.random.default_rng(seed).standard_normal((n, d))
            ev = np.linalg.eigvalsh(X.T @ X / d)
            vals.append(0.5 * np.sum(np.log1p(rho / s2 * ev)) / d)
        mi = gle.solve_glm(alpha, rho, s2, 0.0, "gaussian").mutual_information[0]
        se = np.std(vals, ddof=1) / 2
        assert abs(np.mean(vals) - mi) < 3 * se + 2 / d


def test_limits():
    rho, de, noise = 0.4, 0.15, 0.1
    g = gle.solve_glm([1e-4, 1e4], rho, de, noise, "gaussian")
    assert g.eps_bo[0] == pytest.approx(rho + de, rel=1e-3)
    assert g.eps_bo[1] == pytest.approx(de, rel=1e-3)
    s = gle.solve_glm([1e-8, 1e4], rho, de, noise, "sign")
    assert s.eps_bo[0] == pytest.approx(0.5, abs=1e-4)  # approached as 1/2 - O(sqrt(alpha))
    assert s.eps_bo[1] == pytest.approx(np.arctan(np.sqrt((de + noise) / rho)) / np.pi, abs=1e-3)
    lin = gle.solve_glm([0.3, 0.9, 1.5], 2.0, 0.0, 0.0, "gaussian")
    assert np.allclose(lin.eps_bo, 2.0 * np.clip(1 - np.array([0.3, 0.9, 1.5]), 0, None))
    # Gaussian-prior perceptron, published asymptotics: alpha eps_bo -> 0.4417, eps_gibbs -> 0.6247
    p = gle.solve_glm(1e4, 1.0, 0.0, 0.0, "sign")
    assert 1e4 * p.eps_bo[0] == pytest.approx(0.4417, abs=2e-4)
    assert 1e4 * p.eps_gibbs[0] == pytest.approx(0.6247, abs=2e-4)


def test_published_regression_curve():
    data = np.loadtxt(REFERENCE / "cui2023_tanh2x_L2_regression.csv", delimiter=",", skiprows=1)
    alpha = np.maximum(data[:, 0], 1e-12)
    fp = gle.bayes_optimal(TeacherSpec(activations=("tanh2x", "tanh2x")), alpha)
    assert (
        np.max(
            np.abs(
                fp.q / gle.equivalent_glm(TeacherSpec(activations=("tanh2x", "tanh2x"))).rho
                - data[:, 1]
            )
        )
        < 1e-8
    )


@pytest.mark.parametrize("channel", ["gaussian", "sign"])
def test_robust_over_alpha_and_noise_for_every_activation(channel):
    alpha = np.logspace(-4, 4, 60)
    for act in ACTS:
        for noise in (0.0, 1e-3, 1.0, 100.0):
            spec = TeacherSpec(activations=(act, act), channel=channel, noise=noise)
            glm = gle.equivalent_glm(spec)
            fp = gle.bayes_optimal(spec, alpha)
            assert fp.converged.all(), (act, noise)
            for name in ("q", "eps_bo", "eps_gibbs", "eps_bo_clean"):
                assert np.isfinite(getattr(fp, name)).all(), (act, noise, name)
            assert np.all((fp.q >= 0) & (fp.q <= glm.rho * (1 + 1e-12)))
            assert np.all(np.diff(fp.eps_bo) <= 1e-12)  # more data never hurts
            if glm.s2 > 0:
                assert np.isfinite(fp.mutual_information).all()
                assert np.all(fp.mutual_information >= -1e-12)
            else:  # noiseless continuous channel: the information is infinite, said so
                assert channel == "sign" or np.isinf(fp.mutual_information).all()


def test_ridge_formula_against_finite_d_traces():
    # m(-lam) and m'(-lam) against tr((A + lam)^-1)/d and tr((A + lam)^-2)/d, A = X^T X / d;
    # at d = 1500 the traces fluctuate by O(1/d), so 1e-2 relative is a tight-enough check
    d = 1500
    for alpha in (0.5, 1.0, 3.0):
        X = np.random.default_rng(1).standard_normal((int(alpha * d), d))
        ev = np.linalg.eigvalsh(X.T @ X / d)
        for lam in (0.05, 0.37, 2.0):
            m, dm = gle.spectrum_stieltjes(-lam, alpha)
            assert m == pytest.approx(np.mean(1 / (ev + lam)), rel=1e-2)
            assert dm == pytest.approx(np.mean(1 / (ev + lam) ** 2), rel=2e-2)
            for rho, sigma2 in ((0.4, 0.2), (1.0, 0.05)):
                exact = rho * lam**2 * np.mean(1 / (ev + lam) ** 2) + sigma2 * np.mean(
                    ev / (ev + lam) ** 2
                )
                assert gle.ridge_excess_error(alpha, lam, rho, sigma2)[0] == pytest.approx(
                    exact, rel=2e-2
                )


def test_ridge_at_lam_bo_is_the_bayes_error():
    glm = gle.equivalent_glm(TeacherSpec(activations=("tanh", "tanh"), noise=0.1))
    alpha = np.logspace(-2, 2, 30)
    assert np.allclose(
        gle.ridge_error(alpha, glm.lam_bo, glm),
        gle.bayes_optimal(glm, alpha).eps_bo,
        rtol=1e-12,
        atol=1e-14,
    )
    for lam in (glm.lam_bo / 3, glm.lam_bo * 3):
        assert np.all(gle.ridge_error(alpha, lam, glm) >= gle.bayes_optimal(glm, alpha).eps_bo)
    assert np.allclose(
        gle.teacher_prediction(alpha, glm, glm.rho, glm.delta_eff),
        gle.bayes_optimal(glm, alpha).eps_bo,
        rtol=1e-12,
    )


def ridge_test_error(data, test, lam):
    d = data.d
    A = data.x.T @ data.x / d + lam * np.eye(d)
    w = np.linalg.solve(A, data.x.T @ data.y / np.sqrt(d))
    return np.mean((test.f_star - test.x @ w / np.sqrt(d)) ** 2)


@pytest.mark.parametrize(
    ("acts", "kind"),
    [
        (("tanh",), "deep"),
        (("tanh",), "glm"),
        (("relu", "relu"), "deep"),
        (("tanh", "relu", "erf"), "deep"),
    ],
)
def test_ridge_on_finite_teachers_matches_eps_bo(acts, kind):
    # ridge at lam_bo is the exact Bayes estimator of the GLM; 10 seeds at d = 500, alpha = 1.5;
    # tolerance 3 SE over seeds (measured) plus an O(1/d) allowance
    spec = TeacherSpec(activations=acts, noise=0.1)
    glm = gle.equivalent_glm(spec)
    d, alpha = 500, 1.5
    errors = []
    for seed in range(10):
        if kind == "deep":
            teacher = ts.sample_teacher(spec, d, seed)
        else:
            teacher = ts.sample_glm_teacher(spec, d, seed, rho=glm.rho, delta_eff=glm.delta_eff)
        errors.append(
            ridge_test_error(
                teacher.sample(int(alpha * d), 1000 + seed),
                teacher.sample(2000, 2000 + seed),
                glm.lam_bo,
            )
        )
    errors = np.array(errors)
    se = errors.std(ddof=1) / np.sqrt(errors.size)
    assert abs(errors.mean() - gle.bayes_optimal(glm, alpha).eps_bo[0]) < 3 * se + 1 / d


def test_per_teacher_prediction_on_real_teachers():
    # paired difference (ridge at lam_bo) - (per-teacher theory) over 12 tanh-tanh teachers at
    # d = 400: within 3 SE of 0; it also has a smaller spread than the raw difference.
    spec = TeacherSpec(activations=("tanh", "tanh"), noise=0.1)
    glm = gle.equivalent_glm(spec)
    d, alpha = 400, 1.0
    paired, raw = [], []
    for seed in range(12):
        teacher = ts.sample_teacher(spec, d, seed)
        stats = ts.measure_teacher(teacher, 40_000, seed=77)
        err = ridge_test_error(
            teacher.sample(int(alpha * d), 500 + seed), teacher.sample(4000, 900 + seed), glm.lam_bo
        )
        paired.append(err - gle.teacher_prediction(alpha, glm, stats.rho, stats.delta_eff)[0])
        raw.append(err - gle.bayes_optimal(glm, alpha).eps_bo[0])
    paired = np.array(paired)
    assert abs(paired.mean()) < 3 * paired.std(ddof=1) / np.sqrt(paired.size)
    assert paired.std() < np.std(raw)


def test_theory_dataset_is_labelled():
    spec = TeacherSpec(activations=("tanh",), channel="sign", noise=0.1)
    ds = gle.theory_dataset(spec, np.array([0.5, 1.0, 2.0]))
    for name in ("eps_bo", "eps_gibbs", "q", "mutual_information"):
        assert ds[name].dims == ("alpha",)
        assert ds[name].attrs["long_name"]
    assert ds.attrs["rho"] > 0 and ds.attrs["delta_eff"] > 0
    assert TeacherSpec.from_json(ds.attrs["spec"]) == spec


def test_validation_of_theory_inputs():
    with pytest.raises(ValueError, match="alpha = -1"):
        gle.solve_glm([1.0, -1.0], 0.4, 0.1, 0.1, "gaussian")
    with pytest.raises(ValueError, match="channel = 'logit'"):
        gle.solve_glm(1.0, 0.4, 0.1, 0.1, "logit")
    with pytest.raises(ValueError, match="rho = nan"):
        gle.solve_glm(1.0, float("nan"), 0.1, 0.1, "gaussian")


def test_import_is_fast_and_jax_free():
    """The CPU time of ``import gle`` (not the wall time, which other processes stretch)."""
    code = (
        "import sys, time; t = time.process_time(); import gle; "
        "print(time.process_time() - t, 'jax' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seconds, jax_loaded = out.stdout.split()
    assert float(seconds) < 1.0 and jax_loaded == "False"
