"""teacher_student: the generator against independent quadrature, determinism, validation."""

import subprocess
import sys

import numpy as np
import pytest
import xarray as xr
from quadrature import gaussian_expectation
from scipy import special

import teacher_student as ts
from teacher_student import TeacherSpec

ACT = {"tanh": np.tanh, "erf": special.erf, "sign": np.sign, "relu": lambda h: np.maximum(h, 0)}


def centred_second_moment(acts):
    """E f*^2 = Delta_a E sigma_L(h_L)^2, with h_l ~ N(0, r_l), r_{l+1} = E sigma_l(h_l)^2 (all
    variances 1). For centred activations this is rho + Delta_eff."""
    r = 1.0
    for a in acts:
        r = gaussian_expectation(lambda h, a=a: ACT[a](h) ** 2, r)
    return r


def relu_relu_x_variance():
    """rho + Delta_eff for relu-relu = v_3: per-neuron offsets b ~ N(0, (E relu)^2) of the second
    layer, fluctuations g ~ N(0, Var relu); Var_x f* = E_b Var_g relu(b + g). Nested quad."""
    m1 = gaussian_expectation(ACT["relu"], 1.0)
    v2 = gaussian_expectation(lambda h: h * h * (h > 0), 1.0) - m1**2

    def var_g(b):
        first = gaussian_expectation(ACT["relu"], v2, b)
        second = gaussian_expectation(lambda h: np.maximum(h, 0) ** 2, v2, b)
        return second - first**2

    return gaussian_expectation(var_g, m1**2)


def teacher_variances(spec, d, seeds, n=4000):
    """Var_x f* of independent teachers (one value per seed)."""
    out = []
    for seed in seeds:
        data = ts.sample_teacher(spec, d, seed).sample(n, 10_000 + seed)
        out.append(data.f_star.var(ddof=1))
    return np.array(out)


@pytest.mark.parametrize(
    ("acts", "expected"),
    [
        (("tanh",), lambda: centred_second_moment(["tanh"])),
        (("sign", "erf", "tanh"), lambda: centred_second_moment(["sign", "erf", "tanh"])),
        (("relu", "relu"), relu_relu_x_variance),
    ],
)
def test_output_variance_matches_quadrature(acts, expected):
    # 8 teachers at d = 1000 with 4000 inputs each; the tolerance is 3 standard errors of the
    # mean over teachers, measured here (relative SE about 1-2 %); finite-width bias O(1/d).
    values = teacher_variances(TeacherSpec(activations=acts), 1000, range(8))
    se = values.std(ddof=1) / np.sqrt(values.size)
    assert abs(values.mean() - expected()) < 3 * se + 2e-3


def test_gaussian_label_noise_has_variance_delta():
    spec = TeacherSpec(activations=("tanh",), noise=0.3)
    data = ts.sample_teacher(spec, 50, 0).sample(100_000, 1)
    resid = data.y - data.f_star
    # SE of a sample variance of Gaussian noise: Delta sqrt(2 / n)
    assert abs(resid.var() - 0.3) < 3 * 0.3 * np.sqrt(2 / resid.size)
    assert abs(resid.mean()) < 3 * np.sqrt(0.3 / resid.size)


def test_sign_channel_flips_with_probit_probability():
    spec = TeacherSpec(activations=("tanh",), channel="sign", noise=0.2)
    data = ts.sample_teacher(spec, 50, 0).sample(100_000, 1)
    assert set(np.unique(data.y)) == {-1.0, 1.0}
    flipped = data.y != np.sign(data.f_star)
    expected = special.ndtr(-np.abs(data.f_star) / np.sqrt(0.2))
    se = np.sqrt(np.mean(expected * (1 - expected)) / data.n)
    assert abs(flipped.mean() - expected.mean()) < 3 * se


def test_squared_norm_estimator_unbiased_on_linear_network():
    # depth 0: f = a . x / sqrt(d), theta_lin = a exactly; 400 independent estimates from 300
    # inputs each; tolerance 3 SE of their mean (measured)
    d = 30
    teacher = ts.sample_teacher(TeacherSpec(activations=()), d, 3)
    other = ts.sample_teacher(TeacherSpec(activations=()), d, 4)
    exact_norm = teacher.weights[0] @ teacher.weights[0] / d
    exact_cross = teacher.weights[0] @ other.weights[0] / d
    est = []
    for rep in range(400):
        x = np.random.default_rng(rep).standard_normal((300, d))
        m = ts.linear_overlaps(x, np.stack([teacher.output(x), other.output(x)], axis=1))
        est.append((m[0, 0], m[0, 1]))
    est = np.array(est)
    se = est.std(0, ddof=1) / np.sqrt(len(est))
    assert abs(est[:, 0].mean() - exact_norm) < 3 * se[0]
    assert abs(est[:, 1].mean() - exact_cross) < 3 * se[1]
    # the naive |sum x f / N|^2 is biased upward by about E|x|^2 f^2 / N: the test can tell
    x = np.random.default_rng(0).standard_normal((300, d))
    naive = np.sum((x.T @ teacher.output(x) / 300) ** 2)
    assert naive > exact_norm * 1.05


def test_measure_teacher_on_linear_network():
    teacher = ts.sample_teacher(TeacherSpec(activations=()), 40, 0)
    stats = ts.measure_teacher(teacher, num_inputs=50_000)
    exact = teacher.weights[0] @ teacher.weights[0] / 40
    assert abs(stats.rho - exact) < 4 * stats.rho_se
    assert abs(stats.delta_eff) < 5 * stats.rho_se + 4 * stats.var_f * np.sqrt(2 / 50_000)


def test_determinism_and_prefix_extension():
    spec = TeacherSpec(activations=("relu", "tanh"), widths=(0.5, 2.0), noise=0.1)
    a, b = ts.sample_teacher(spec, 40, 7), ts.sample_teacher(spec, 40, 7)
    for wa, wb in zip(a.weights, b.weights, strict=True):
        assert np.array_equal(wa, wb)
    assert [w.shape for w in a.weights] == [(20, 40), (80, 20), (80,)]
    small, large = a.sample(30, 1), a.sample(90, 1)
    for name in ("x", "f_star", "y"):
        assert np.array_equal(getattr(small, name), getattr(large, name)[:30])
    assert not np.array_equal(a.sample(30, 2).x, small.x)
    assert not np.array_equal(ts.sample_teacher(spec, 40, 8).weights[0], a.weights[0])


def test_problem_seeds_are_distinct_and_stable():
    s = ts.problem_seeds(0)
    assert len(set(s)) == 3
    assert s == ts.problem_seeds(0)


def test_glm_teacher_shares_inputs_and_has_the_right_statistics():
    spec = TeacherSpec(activations=("tanh",), noise=0.05)
    deep = ts.sample_teacher(spec, 200, 0).sample(500, 5)
    glm_teacher = ts.sample_glm_teacher(spec, 200, 0, rho=0.4, delta_eff=0.1)
    glm = glm_teacher.sample(500, 5)
    assert np.array_equal(deep.x, glm.x)
    big = glm_teacher.sample(50_000, 6)
    resid = big.f_star - big.x @ glm_teacher.theta / np.sqrt(200)
    assert abs(resid.var() - 0.1) < 3 * 0.1 * np.sqrt(2 / 50_000)


def test_the_glm_teachers_offset_has_variance_offset_var_and_shifts_every_output():
    """``sample_glm_teacher(..., offset_var=v)``: one offset per teacher, ``N(0, v)`` over
    teachers (its sample variance over 2000 within 4 SE, ``v sqrt(2 / 2000)``), added to every
    output; without it the teacher is the centred one of the same seed."""
    spec = TeacherSpec(activations=("relu",), noise=0.1)
    offsets = [
        ts.sample_glm_teacher(spec, 10, s, rho=0.3, delta_eff=0.1, offset_var=0.5).offset
        for s in range(2000)
    ]
    assert abs(np.var(offsets) - 0.5) < 4 * 0.5 * np.sqrt(2 / 2000)
    shifted = ts.sample_glm_teacher(spec, 10, 7, rho=0.3, delta_eff=0.1, offset_var=0.5)
    centred = ts.sample_glm_teacher(spec, 10, 7, rho=0.3, delta_eff=0.1)
    assert centred.offset == 0.0 and np.array_equal(shifted.theta, centred.theta)
    gap = shifted.sample(50, 3).f_star - centred.sample(50, 3).f_star
    assert np.allclose(gap, shifted.offset)
    with pytest.raises(ValueError, match="offset_var = -1"):
        ts.sample_glm_teacher(spec, 10, 7, rho=0.3, delta_eff=0.1, offset_var=-1)


def test_netcdf_round_trip_is_lossless(tmp_path):
    spec = TeacherSpec(activations=("tanh", "erf"), channel="sign", noise=0.1)
    data = ts.sample_teacher(spec, 25, 1).sample(60, 2)
    path = tmp_path / "data.nc"
    data.to_xarray().to_netcdf(path, engine="h5netcdf")
    back = ts.Data.from_xarray(xr.load_dataset(path, engine="h5netcdf"))
    for name in ("x", "f_star", "y"):
        assert np.array_equal(getattr(back, name), getattr(data, name))
    assert back.attrs == data.attrs
    assert TeacherSpec.from_json(back.attrs["spec"]) == spec


def test_spec_json_round_trip():
    spec = TeacherSpec(
        activations=("tanh2x", "relu"),
        widths=(0.5, 1.5),
        prior_var=(2.0, 0.5),
        readout_var=3.0,
        channel="sign",
        noise=0.25,
    )
    assert TeacherSpec.from_json(spec.to_json()) == spec


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"activations": ("tanh",), "noise": -0.1}, "noise = -0.1"),
        ({"activations": ("tanh",), "noise": float("nan")}, "noise = nan"),
        ({"activations": ("tanh",), "prior_var": (-1.0,)}, "prior_var[0] = -1.0"),
        ({"activations": ("tanh",), "readout_var": 0.0}, "readout_var = 0.0"),
        ({"activations": ("tahn",)}, "unknown activation 'tahn'"),
        ({"activations": ("tanh", "tanh"), "widths": (1.0,)}, "widths = [1.0]: has 1 entries"),
        ({"activations": ("tanh",), "prior_var": (1.0, 1.0)}, "prior_var = [1.0, 1.0]"),
        ({"activations": ("tanh",), "channel": "probit"}, "channel = 'probit'"),
        ({"activations": "tanh"}, "activations = 'tanh'"),
    ],
)
def test_spec_validation_names_field_and_value(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        TeacherSpec(**kwargs)


def test_size_validation():
    spec = TeacherSpec(activations=("tanh",), widths=(0.01,))
    with pytest.raises(ValueError, match=r"widths\[0\] = 0.01: k = round"):
        spec.hidden_sizes(20)
    with pytest.raises(ValueError, match="d = 0"):
        ts.sample_teacher(TeacherSpec(activations=("tanh",)), 0, 0)
    with pytest.raises(ValueError, match="alpha = -1"):
        ts.num_samples(-1, 10)
    with pytest.raises(ValueError, match="alpha = 0"):
        ts.num_samples(0, 10)
    with pytest.raises(ValueError, match="seed = -3"):
        ts.sample_teacher(TeacherSpec(activations=("tanh",)), 5, -3)
    with pytest.raises(ValueError, match="teacher.colour = 'red': unknown key"):
        TeacherSpec.from_dict({"activations": ["tanh"], "colour": "red"})


def test_custom_activation_is_usable_everywhere():
    ts.register_activation("softsign_test", lambda x, xp: x / (1 + xp.abs(x)), overwrite=True)
    spec = TeacherSpec(activations=("softsign_test",))
    x = np.linspace(-2, 2, 5)
    assert np.allclose(ts.get_activation("softsign_test")(x), x / (1 + np.abs(x)))
    assert ts.sample_teacher(spec, 10, 0).sample(5, 1).f_star.shape == (5,)
    with pytest.raises(ValueError, match="already registered"):
        ts.register_activation("tanh", np.tanh)


def test_import_pulls_no_jax():
    code = "import sys, teacher_student, gle; print('jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
