"""Theory curves as xarray datasets (docs/theory.md 3 and 4)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from teacher_student import TeacherSpec

from .equivalent import EquivalentGLM, equivalent_glm
from .fixed_point import FixedPoint, solve_glm_ensemble

if TYPE_CHECKING:
    import xarray as xr


def bayes_optimal(spec: TeacherSpec | EquivalentGLM, alpha: np.ndarray | float) -> FixedPoint:
    """The Bayes-optimal fixed point of a teacher's equivalent GLM on an alpha grid: the
    ensemble's, averaged over the output offset ``c ~ N(0, offset_var)`` (docs/theory.md 4.1)."""
    glm = equivalent_glm(spec) if isinstance(spec, TeacherSpec) else spec
    return solve_glm_ensemble(alpha, glm.rho, glm.delta_eff, glm.noise, glm.channel, glm.offset_var)


_VARIABLES = {
    "eps_bo": ("Bayes-optimal error", "{target}"),
    "eps_gibbs": ("Gibbs error (one posterior sample)", "{target}"),
    "eps_bo_clean": ("Bayes-optimal error against the clean target", "clean target"),
    "q": ("overlap q of the posterior mean with the teacher", ""),
    "r": ("conjugate order parameter r", ""),
    "mutual_information": ("mutual information per input dimension", "nats"),
    "converged": ("whether the fixed-point solver converged", ""),
}


def theory_dataset(spec: TeacherSpec, alpha: np.ndarray | float) -> xr.Dataset:
    """Fixed-point predictions over ``alpha`` as an ``xarray.Dataset``.

    Variables ``eps_bo``, ``eps_gibbs``, ``eps_bo_clean``, ``q``, ``r``, ``mutual_information``,
    ``converged`` (each with ``long_name``); attributes ``rho``, ``delta_eff``, ``offset_var``,
    ``lam_bo`` and the spec as JSON. Averaged over the output offset (``bayes_optimal``).
    """
    import xarray as xr

    glm = equivalent_glm(spec)
    fp = bayes_optimal(glm, alpha)
    target = "fresh noisy label" if spec.channel == "sign" else "clean target"
    data_vars = {}
    for name, (long_name, against) in _VARIABLES.items():
        attrs = {"long_name": long_name}
        if against:
            attrs["against"] = against.format(target=target)
        data_vars[name] = ("alpha", np.asarray(getattr(fp, name)), attrs)
    return xr.Dataset(
        data_vars,
        coords={"alpha": ("alpha", fp.alpha, {"long_name": "sample ratio n / d"})},
        attrs={
            "rho": glm.rho,
            "delta_eff": glm.delta_eff,
            "offset_var": glm.offset_var,
            "lam_bo": glm.lam_bo,
            "channel": spec.channel,
            "noise": spec.noise,
            "spec": spec.to_json(),
        },
    )
