"""Brute-force Gaussian expectations for the tests, independent of the package's own rules."""

import numpy as np
from scipy import integrate


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
