"""The offset GLM's asymptotic Bayes error (docs/theory.md 4.1) against a finite-size posterior:
the d-dimensional probit GLM with a known output offset, y = sign(c + theta.x / sqrt(d) + noise),
sampled with NumPyro's NUTS at d = 200 (d parameters: cheap), teacher-started (in equilibrium,
docs/theory.md 5). Measured with 6 seeds at alpha = 1 and 3, c = 0, 0.6, 1.5 (SE over seeds
0.0015-0.0055): every mean within 1.6 SE of the offset theory, the centred formula off by up to
0.21. Here: alpha = 2, c = 0.8 and -1.5, 4 seeds; tolerance 3 SE over seeds plus 0.005 for
the O(1/d) finite-size bias."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from jax.scipy.special import log_ndtr
from numpyro.infer import MCMC, NUTS
from scipy.special import ndtr

import gle

pytestmark = pytest.mark.xdist_group("bayes")
RHO, NOISE, D, ALPHA = 1.0, 0.1, 200, 2.0


def probit_model(X, y, c):
    theta = numpyro.sample("theta", dist.Normal(0, np.sqrt(RHO)).expand([X.shape[1]]).to_event(1))
    numpyro.factor("ll", log_ndtr(y * (c + X @ theta / np.sqrt(X.shape[1])) / np.sqrt(NOISE)).sum())


def bayes_error(c: float, seed: int) -> float:
    rng = np.random.default_rng(seed)
    theta = np.sqrt(RHO) * rng.standard_normal(D)

    def data(n):
        X = rng.standard_normal((n, D))
        return X, np.sign(c + X @ theta / np.sqrt(D) + np.sqrt(NOISE) * rng.standard_normal(n))

    (X, y), (X_test, y_test) = data(int(ALPHA * D)), data(20_000)
    mcmc = MCMC(NUTS(probit_model), num_warmup=200, num_samples=200, progress_bar=False)
    mcmc.run(jax.random.PRNGKey(seed), jnp.array(X), jnp.array(y), c, init_params={"theta": theta})
    draws = np.asarray(mcmc.get_samples()["theta"])
    p_plus = ndtr((c + X_test @ draws.T / np.sqrt(D)) / np.sqrt(NOISE)).mean(axis=1)
    return float(np.mean(np.sign(p_plus - 0.5) != y_test))


@pytest.mark.parametrize("c", [0.8, -1.5])
def test_probit_glm_with_an_offset_against_the_offset_fixed_point(c):
    errors = np.array([bayes_error(c, seed) for seed in range(4)])
    se = errors.std(ddof=1) / np.sqrt(errors.size)
    theory = gle.solve_glm(ALPHA, RHO, 0.0, NOISE, "sign", c).eps_bo[0]
    centred = gle.solve_glm(ALPHA, RHO, 0.0, NOISE, "sign").eps_bo[0]
    assert abs(errors.mean() - theory) < 3 * se + 0.005, (errors.mean(), theory)
    assert abs(errors.mean() - centred) > 3 * (3 * se + 0.005)  # the centred formula fails
