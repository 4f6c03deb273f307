"""Brute-force Gaussian expectations for the tests, independent of the package's own rules."""

import numpy as np
from scipy import integrate
from scipy.stats import multivariate_normal


def gaussian_expectation(f, var, mean=0.0):
    """E f(h), h ~ N(mean, var), by adaptive quadrature in u = (h - mean) / sqrt(var)."""
    s = np.sqrt(var)
    return integrate.quad(
        lambda u: f(mean + s * u) * np.exp(-0.5 * u * u) / np.sqrt(2 * np.pi),
        -40,
        40,
        epsabs=1e-14,
        epsrel=1e-13,
        limit=1000,
        points=[-mean / s, 0.0],
    )[0]


def log_mean_exp(log_w):
    """``ln mean exp(log_w)`` of importance weights and its standard error (delta method:
    the relative SE of the mean weight)."""
    top = log_w.max()
    w = np.exp(log_w - top)
    return top + np.log(w.mean()), w.std() / w.mean() / np.sqrt(w.size)


def probit_glm_data(glm, n, d, rng):
    """``(x, f, y)``: ``n`` samples of the sign-channel GLM ``glm`` itself, ``y = sign(f + sqrt(noise)
    xi)``, ``f = c + sqrt(rho / d) x . theta + sqrt(delta_eff) xi'``, ``c ~ N(0, offset_var)``."""
    x = rng.standard_normal((n, d))
    c = np.sqrt(glm.offset_var) * rng.standard_normal()
    f = c + np.sqrt(glm.rho / d) * x @ rng.standard_normal(d)
    f += np.sqrt(glm.delta_eff) * rng.standard_normal(n)
    return x, f, np.sign(f + np.sqrt(glm.noise) * rng.standard_normal(n))


def log_orthant_evidence(glm, x, y, **genz):
    """The GLM's exact ``(1/n) ln p(Y | X)`` on the sign channel: ``ln P(y_mu u_mu > 0 for all
    mu) / n``, ``u ~ N(0, rho X X^T / d + s2 I + offset_var 1 1^T)``, an orthant probability by
    Genz's algorithm (``genz``: its accuracy settings)."""
    n, d = x.shape
    cov = glm.rho * x @ x.T / d + glm.s2 * np.eye(n) + glm.offset_var
    orthant = multivariate_normal(np.zeros(n), y[:, None] * cov * y[None, :], **genz)
    return np.log(orthant.cdf(np.zeros(n))) / n
