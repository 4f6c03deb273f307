"""bayes.log_evidence (tempered SMC, docs/theory.md 8) against exactly solvable cases: the linear
model (depth 0: the GLM with rho = Delta_a, delta_eff = 0, exact by gle.glm_log_evidence) and a
tiny deep network (d = 4, n = 8) by importance sampling from the prior with 10^6 draws. The
tolerance is 4 of the estimator's own standard errors (over its replicas) plus the low bias of
the log of an unbiased estimate, half the variance of one replica's ``ln p(Y | X)``: per sample,
``n Var(f_replica) / 2``."""

import numpy as np
import pytest
from quadrature import log_mean_exp, log_orthant_evidence, probit_glm_data

import gle
from bayes.evidence import EvidenceConfig, check_estimable, log_evidence
from teacher_student import TeacherSpec, sample_teacher

pytestmark = pytest.mark.xdist_group("bayes")
CONFIG = EvidenceConfig(num_particles=256, replicas=4)


def tolerance(est, n):
    return 4 * est.se + 0.5 * n * est.replica_values.var(ddof=1)


def test_linear_model_evidence_is_the_exact_gaussian_one():
    spec = TeacherSpec(activations=(), noise=0.1)
    train = sample_teacher(spec, 8, 0).sample(16, 1)
    est = log_evidence(spec, train, CONFIG, seed=0)
    exact = gle.glm_log_evidence(train.x, train.y, gle.equivalent_glm(spec))
    assert abs(est.value - exact) < tolerance(est, train.n), (est, exact)
    assert est.se < 0.02 and (est.num_temperatures > 1).all()


def test_an_unfinished_tempering_is_refused_not_returned():
    """Stopped by ``max_temperatures`` before beta = 1, the sum of increments is a partial
    normaliser: an error names the setting instead."""
    spec = TeacherSpec(activations=(), noise=0.1)
    train = sample_teacher(spec, 8, 0).sample(64, 1)
    with pytest.raises(RuntimeError, match="evidence.max_temperatures = 1: the tempering stopped"):
        log_evidence(spec, train, EvidenceConfig(num_particles=64, max_temperatures=1))


def test_progress_reports_the_tempering_and_changes_no_number(capsys):
    """``progress(beta, temperatures)`` follows the slowest replica to beta = 1 in as many
    temperatures as the estimate reports, and the estimate is the one without it; the sweep's
    bar (``experiments.evidence.tempering_bar``) prints to stderr."""
    from experiments.evidence import free_entropy_values

    spec = TeacherSpec(activations=("tanh",), noise=0.1)
    train = sample_teacher(spec, 4, 0).sample(8, 1)
    config = EvidenceConfig(num_particles=64, replicas=2)
    calls = []
    est = log_evidence(spec, train, config, seed=2, progress=lambda *a: calls.append(a))
    betas, counts = np.array(calls).T
    assert calls[-1] == (1.0, est.num_temperatures.max()), calls
    assert (np.diff(counts) >= 0).all() and betas.min() < 0.5
    assert np.array_equal(
        est.replica_values, log_evidence(spec, train, config, seed=2).replica_values
    )
    free_entropy_values(spec, train, config, seed=2, progress=True)
    assert "tempering (deep student)" in capsys.readouterr().err


@pytest.mark.parametrize("channel", ["gaussian", "sign"])
def test_tiny_deep_network_against_importance_sampling_from_the_prior(channel):
    from scipy.special import log_ndtr

    spec = TeacherSpec(activations=("tanh",), channel=channel, noise=0.1)
    teacher = sample_teacher(spec, 4, 3)
    train = teacher.sample(8, 4)
    rng = np.random.default_rng(0)
    draws = 1_000_000
    w1 = rng.standard_normal((draws, 4, 4))
    a = rng.standard_normal((draws, 4))
    f = np.einsum("sk,snk->sn", a, np.tanh(np.einsum("skd,nd->snk", w1, train.x) / 2)) / 2
    if channel == "gaussian":
        log_w = (-0.5 * (train.y - f) ** 2 / 0.1 - 0.5 * np.log(2 * np.pi * 0.1)).sum(axis=1)
    else:
        log_w = log_ndtr(train.y * f / np.sqrt(0.1)).sum(axis=1)
    log_mean, log_mean_se = log_mean_exp(log_w)
    brute, brute_se = log_mean / train.n, log_mean_se / train.n
    est = log_evidence(spec, train, CONFIG, seed=1)
    assert abs(est.value - brute) < tolerance(est, train.n) + 4 * brute_se, (est, brute, brute_se)


UNUSUAL = [  # depth 2, widths other than d, layer-wise prior variances, a non-centred teacher
    TeacherSpec(
        activations=("relu", "relu"),
        widths=(0.5, 1.5),
        prior_var=(2.0, 0.5),
        readout_var=0.5,
        channel="sign",
        noise=0.2,
    ),
    TeacherSpec(
        activations=("erf", "linear"),
        widths=(1.0, 0.75),
        prior_var=(0.5, 1.5),
        readout_var=2.0,
        noise=0.3,
    ),
]


@pytest.mark.parametrize("spec", UNUSUAL, ids=["relu-relu-sign", "erf-linear-gaussian"])
def test_unusual_architectures_against_importance_sampling_from_the_prior(spec):
    """As above, with the prior written out here (``W_l`` entries ``N(0, Delta_l)``, readout
    ``N(0, Delta_a)``, fan-in scaling of docs/theory.md 1), independent of the student's; 1024
    particles and 8 replicas, so that the tolerance is below the shift a doubled readout
    variance makes, and the brute force's own SE well below it."""
    from scipy.special import erf, log_ndtr

    d, n = 4, 8
    train = sample_teacher(spec, d, 5).sample(n, 6)
    acts = {"relu": lambda h: np.maximum(h, 0.0), "erf": erf, "linear": lambda h: h}
    rng = np.random.default_rng(1)
    log_w = []
    for _ in range(10):  # 10 x 10^5 draws
        h = np.broadcast_to(train.x, (100_000, n, d))
        for name, (k, fan_in), var in zip(
            spec.activations, spec.weight_shapes(d), spec.prior_var, strict=False
        ):
            w = rng.normal(0.0, np.sqrt(var), (100_000, k, fan_in))
            h = acts[name](np.einsum("skf,snf->snk", w, h) / np.sqrt(fan_in))
        a = rng.normal(0.0, np.sqrt(spec.readout_var), (100_000, h.shape[-1]))
        f = np.einsum("sk,snk->sn", a, h) / np.sqrt(h.shape[-1])
        if spec.channel == "gaussian":
            r2 = (train.y - f) ** 2 / spec.noise + np.log(2 * np.pi * spec.noise)
            log_w.append(-0.5 * r2.sum(axis=1))
        else:
            log_w.append(log_ndtr(train.y * f / np.sqrt(spec.noise)).sum(axis=1))
    log_mean, log_mean_se = log_mean_exp(np.concatenate(log_w))
    brute, brute_se = log_mean / n, log_mean_se / n
    est = log_evidence(spec, train, EvidenceConfig(num_particles=1024, replicas=8), seed=2)
    assert brute_se < 0.1 * tolerance(est, n)
    assert abs(est.value - brute) < tolerance(est, n) + 4 * brute_se, (est, brute, brute_se)


@pytest.mark.parametrize("offset_var", [0.0, 1.0])
def test_probit_glm_evidence_is_the_gaussian_orthant_probability(offset_var):
    """The sign channel's GLM (tanh's rho and delta_eff), centred and with an output offset
    ``c ~ N(0, offset_var)``, as the depth-0 student ``probit_glm`` builds: ``p(Y | X) =
    P(y_mu u_mu > 0 for all mu)`` for ``u ~ N(0, rho X X^T / d + s2 I + offset_var 1 1^T)``, an
    orthant probability (Genz's algorithm, to 1e-9 absolute). With offset_var = 1 this dataset's
    evidence without the intercept is 0.55 nats per sample lower, over 20 tolerances."""
    from experiments.evidence import probit_glm
    from teacher_student import Data

    tanh = gle.equivalent_glm(TeacherSpec(activations=("tanh",), channel="sign", noise=0.1))
    glm = tanh._replace(offset_var=offset_var)
    n = 12
    x, f, y = probit_glm_data(glm, n, 4, np.random.default_rng(0))
    exact = log_orthant_evidence(glm, x, y, abseps=1e-9)
    est = log_evidence(*probit_glm(glm, Data(x, f, y)), CONFIG, seed=3)
    assert abs(est.value - exact) < tolerance(est, n), (est, exact, tolerance(est, n))


def test_the_reported_standard_error_is_honest():
    """32 independent replicas on one dataset, read as 8 estimates of 4 replicas each: the
    spread of the 8 values matches their reported SE within a factor 2 (the SD of 8 values has
    a relative SE of about 0.27, so 2 is over 2.5 of it)."""
    spec = TeacherSpec(activations=("tanh",), noise=0.1)
    train = sample_teacher(spec, 5, 0).sample(10, 1)
    est = log_evidence(spec, train, EvidenceConfig(num_particles=64, replicas=32), seed=2)
    groups = est.replica_values.reshape(8, 4)
    spread = groups.mean(axis=1).std(ddof=1)
    reported = np.mean(groups.std(axis=1, ddof=1) / 2)
    assert 0.5 < spread / reported < 2, (spread, reported)


def test_refuses_what_its_moves_cannot_mix():
    """The sampler's refusal (Delta = 0) holds here, and a zero-derivative activation, which the
    sampler only warns about, is refused: nothing would flag the estimate."""
    with pytest.raises(ValueError, match=r"activations\[1\] = 'sign': zero derivative"):
        check_estimable(TeacherSpec(activations=("tanh", "sign"), noise=0.1))
    with pytest.raises(ValueError, match="noise = 0.0: HMC cannot sample"):
        check_estimable(TeacherSpec(activations=("sign",), noise=0.0))
    for acts in (("tanh", "relu"), ("erf",), ()):
        check_estimable(TeacherSpec(activations=acts, noise=0.1))  # warnings are errors
