"""What a posterior run measures, with standard errors and diagnostics (docs/theory.md 2, 5).

* ``eps_bayes_raw``: error of the average of the ``M`` kept draws' predictors; regression
  against the clean ``f*``, sign channel against the fresh noisy label (and ``eps_bayes_clean``
  against ``sign f*``).
* ``eps_bayes`` (regression): ``eps_bayes_raw / (1 + 1/M_eff)``, since
  ``E (f* - mean_s f_s)^2 = eps_bo (1 + 1/M)`` (docs/theory.md 2), with ``M_eff`` the median bulk ESS of
  the outputs at the probe points. For the sign channel no such correction exists: it equals
  the raw value (the majority vote of ``M_eff`` draws, slightly above the Bayes error).
* ``eps_gibbs``: the mean single-draw error.
* Overlaps of linear parts (docs/theory.md 5) from the two test halves A and B:
  ``m_A(f) . m_B(g)`` with ``m_H(f) = sum_{x in H} x f(x) / N_H`` is unbiased for
  ``theta_lin(f) . theta_lin(g) / d``. ``overlap_st``: draw with teacher; ``overlap_ss``: draws
  of different chains at the same index (or, with one chain, draws half a chain apart);
  ``overlap_self``: a draw with itself (estimates the student's ``rho``); ``rho_teacher_test``.
* Nishimori gaps: ``eps_gibbs - 2 eps_bayes`` (regression) and ``overlap_st - overlap_ss``,
  each with a standard error; both vanish in expectation over teachers in equilibrium.
* Start gaps (``init = "mixed"``): ``eps_gibbs`` and ``overlap_st`` of the chains started at the
  teacher minus those of the chains started from the prior, each with its standard error (the
  two groups' Monte-Carlo errors in quadrature). The informed chains are in equilibrium from
  their first step (docs/theory.md 5), so a gap beyond the errors says that the uninformed chains
  have not thermalised; ``start_gap_z_max`` in the diagnostics is the larger ``|gap| / se``
  (NaN when all chains start alike).
* Diagnostics with ArviZ: R-hat and bulk ESS of each per-draw observable, divergences, tree
  depth, leapfrog steps per draw, acceptance, step size and the energy Bayesian fraction of
  missing information, ``E-BFMI = sum_t (E_t - E_{t-1})^2 / sum_t (E_t - mean E)^2`` of the
  Hamiltonian per chain (Betancourt 2016: below ~0.3 the momentum resampling explores the energy
  distribution poorly), reported as its minimum over the chains.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from teacher_student import Data, Estimate

from .sampler import PosteriorRun

if TYPE_CHECKING:
    import arviz


def _arviz():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # arviz 0.x announces 1.0 once a day
        import arviz

    return arviz


def _scalar(value: Any) -> float:
    """One ArviZ statistic of a (C, S) series as a float: with numba installed ArviZ 0.x returns
    some (``mcse``) as a one-element array, which NumPy >= 2.5 refuses to convert with ``float``."""
    return float(np.asarray(value, dtype=float).reshape(()))


def _series_estimate(series: np.ndarray) -> Estimate:
    """Mean over (chain, draw) and its Monte-Carlo standard error (ArviZ)."""
    az = _arviz()
    return Estimate(float(series.mean()), _scalar(az.mcse(np.asarray(series, dtype=float))))


def _mean_estimate(values: np.ndarray) -> Estimate:
    """Mean over independent terms (test points) and its standard error."""
    return Estimate(float(values.mean()), float(values.std(ddof=1) / np.sqrt(values.size)))


def overlap_series(run: PosteriorRun) -> dict[str, np.ndarray]:
    """Per-draw overlap estimates, each shaped (chains or pairs, draws)."""
    n_a, n_b = run.half_sizes
    ta, tb = run.draws["theta_a"] / n_a, run.draws["theta_b"] / n_b
    sa, sb = run.teacher_sums[0] / n_a, run.teacher_sums[1] / n_b
    chains = ta.shape[0]
    if chains > 1:
        pairs = [(i, j) for i in range(chains) for j in range(i + 1, chains)]
        ss = np.stack(
            [0.5 * (np.sum(ta[i] * tb[j], -1) + np.sum(ta[j] * tb[i], -1)) for i, j in pairs]
        )
    else:
        half = ta.shape[1] // 2
        ss = 0.5 * (
            np.sum(ta[:, :half] * tb[:, half : 2 * half], -1)
            + np.sum(ta[:, half : 2 * half] * tb[:, :half], -1)
        )
    return {
        "overlap_st": 0.5 * (ta @ sb + tb @ sa),
        "overlap_ss": ss,
        "overlap_self": np.sum(ta * tb, -1),
    }


class Measurements(NamedTuple):
    """Measured errors, overlaps, Nishimori gaps and sampler diagnostics of one run."""

    eps_bayes: Estimate
    eps_bayes_raw: Estimate
    eps_bayes_clean: Estimate
    eps_gibbs: Estimate
    overlap_st: Estimate
    overlap_ss: Estimate
    overlap_self: Estimate
    rho_teacher_test: float
    nishimori_eps_gap: Estimate
    nishimori_overlap_gap: Estimate
    start_gap_gibbs: Estimate
    start_gap_overlap: Estimate
    num_draws: int
    ess_output: float
    diagnostics: dict[str, float]

    def flat(self) -> dict[str, float]:
        """One flat dict of floats: ``name`` and ``name_se`` for estimates, diagnostics as is."""
        out: dict[str, float] = {}
        for name, value in self._asdict().items():
            if isinstance(value, Estimate):
                out[name], out[f"{name}_se"] = value
            elif isinstance(value, dict):
                out.update(value)
            else:
                out[name] = float(value)
        return out


def _stuck(series: np.ndarray) -> bool:
    """Whether some chain of a (C, S) per-draw series never changed over its S >= 2 draws: it
    has not moved (e.g. a step size too large to accept anything). ArviZ would divide by its
    zero variance, and give R-hat NaN and a full ESS when every chain is stuck at one point
    (e.g. all at the teacher)."""
    return series.shape[-1] > 1 and bool((np.ptp(series, axis=-1) == 0).any())


def _rhat(series: np.ndarray) -> float:
    """Rank-normalised split R-hat (ArviZ) of a (C, S) series; ``inf`` if a chain is stuck."""
    return float("inf") if _stuck(series) else _scalar(_arviz().rhat(np.asarray(series, float)))


def _ess(series: np.ndarray) -> float:
    """Bulk ESS (ArviZ) of a (C, S) series; 0 if a chain is stuck."""
    return 0.0 if _stuck(series) else _scalar(_arviz().ess(np.asarray(series, float)))


def _diagnostics(run: PosteriorRun, series: dict[str, np.ndarray]) -> dict[str, float]:
    az = _arviz()
    observables = {"gibbs": run.draws["gibbs"], **series}
    observables.pop("overlap_ss")
    rhat = {k: _rhat(v) for k, v in observables.items()}
    ess = {k: _ess(v) for k, v in observables.items()}
    steps = run.draws["num_steps"]
    return {
        "rhat_max": max(rhat.values()),
        "ess_min": min(ess.values()),
        **{f"rhat_{k}": v for k, v in rhat.items()},
        **{f"ess_{k}": v for k, v in ess.items()},
        "divergences": float(run.draws["diverging"].sum()),
        "tree_depth_mean": float(np.mean(np.log2(steps + 1))),
        "steps_per_draw": float(steps.mean()),
        "accept_prob": float(run.draws["accept_prob"].mean()),
        "step_size": float(run.draws["step_size"][:, -1].mean()),
        "bfmi_min": float(np.min(az.bfmi(np.asarray(run.draws["energy"], float)))),
    }


def _start_gap(run: PosteriorRun, series: np.ndarray) -> Estimate:
    """Mean of a per-draw series over the informed chains minus that over the uninformed ones."""
    informed = run.config.chain_starts() == "teacher"
    if informed.all() or not informed.any():
        return Estimate(float("nan"), float("nan"))
    a, b = _series_estimate(series[informed]), _series_estimate(series[~informed])
    return Estimate(a.value - b.value, float(np.hypot(a.se, b.se)))


def measure(run: PosteriorRun, test: Data, channel: str) -> Measurements:
    """All measurements of one run on its test set (``channel`` of the spec)."""
    chains, draws = run.draws["gibbs"].shape
    M = chains * draws
    mean_pred = run.pred_sum.sum(0) / M
    probe = run.draws["probe"]
    ess_output = float(np.median([_ess(probe[..., j]) for j in range(probe.shape[-1])]))
    ess_output = min(max(ess_output, 1.0), float(M))
    if channel == "gaussian":
        sq = (test.f_star - mean_pred) ** 2
        raw = _mean_estimate(sq)
        factor = 1 + 1 / ess_output
        corrected = Estimate(raw.value / factor, raw.se / factor)
        clean = corrected
        # per test point: E_s (f* - f_s)^2 - 2 (f* - <f>)^2, from the accumulated sums
        gibbs_point = test.f_star**2 - 2 * test.f_star * mean_pred + run.pred_sq_sum.sum(0) / M
        gap_point = _mean_estimate(gibbs_point - 2 * sq * (1 / factor))
    else:
        yhat = np.where(mean_pred >= 0, 1.0, -1.0)
        raw = corrected = _mean_estimate((yhat != test.y).astype(float))
        clean = _mean_estimate((yhat != np.where(test.f_star >= 0, 1.0, -1.0)).astype(float))
        gap_point = Estimate(float("nan"), float("nan"))
    gibbs = _series_estimate(run.draws["gibbs"])
    series = overlap_series(run)
    st, ss, self_ = (
        _series_estimate(series[k]) for k in ("overlap_st", "overlap_ss", "overlap_self")
    )
    gap_eps = Estimate(gap_point.value, float(np.hypot(gap_point.se, gibbs.se)))
    gap_q = Estimate(st.value - ss.value, float(np.hypot(st.se, ss.se)))
    start_gaps = [_start_gap(run, x) for x in (run.draws["gibbs"], series["overlap_st"])]
    with np.errstate(divide="ignore", invalid="ignore"):  # stuck chains: se = 0, z = inf
        start_z = [np.abs(gap.value) / np.float64(gap.se) for gap in start_gaps]
    n_a, n_b = run.half_sizes
    rho_t = float(run.teacher_sums[0] @ run.teacher_sums[1] / (n_a * n_b))
    return Measurements(
        corrected,
        raw,
        clean,
        gibbs,
        st,
        ss,
        self_,
        rho_t,
        gap_eps,
        gap_q,
        *start_gaps,
        M,
        ess_output,
        _diagnostics(run, series) | {"start_gap_z_max": float(np.fmax(*start_z))},
    )


def to_inference_data(run: PosteriorRun) -> arviz.InferenceData:
    """The per-draw observables and NUTS statistics as ArviZ ``InferenceData``; with the weights
    kept (``sample_posterior(keep=("weights",))``) they join the posterior group, and with the
    pointwise log-likelihood kept it is the ``log_likelihood`` group (variable ``y``, dim
    ``train``), which ``az.loo`` and ``az.waic`` read. The posterior's ``start`` coordinate
    says where each chain started (``teacher``, ``prior`` or ``zero``), e.g. to compare the
    informed and uninformed chains of an ``init = "mixed"`` run."""
    az = _arviz()
    series = overlap_series(run)
    posterior: dict[str, Any] = {
        "eps_gibbs": run.draws["gibbs"],
        "probe_output": run.draws["probe"],
    }
    posterior |= {k: v for k, v in series.items() if k != "overlap_ss"}
    posterior |= {k: v for k, v in run.draws.items() if re.fullmatch(r"W\d+|a", k)}
    extra = {}
    if "log_likelihood" in run.draws:
        extra["log_likelihood"] = {"y": run.draws["log_likelihood"]}
    stats = {
        "n_steps": run.draws["num_steps"],
        "acceptance_rate": run.draws["accept_prob"],
        "diverging": run.draws["diverging"],
        "step_size": run.draws["step_size"],
        "lp": -run.draws["potential_energy"],
        "energy": run.draws["energy"],
        "tree_depth": np.log2(run.draws["num_steps"] + 1),
    }
    dims = {"probe_output": ["probe"], "y": ["train"]}
    idata = az.from_dict(posterior=posterior, sample_stats=stats, dims=dims, **extra)
    idata.posterior = idata.posterior.assign_coords(start=("chain", run.config.chain_starts()))
    return idata
