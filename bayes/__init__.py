"""The posterior of the deep student (NumPyro NUTS/HMC on JAX) and what it measures.

docs/theory.md sections 2 and 5::

    run = sample_posterior(teacher, train, test, SamplerConfig(num_chains=2), seed=0)
    m = measure(run, test, spec.channel)        # eps_bayes, eps_gibbs, overlaps, Nishimori gaps
    idata = to_inference_data(run)              # ArviZ InferenceData of the per-draw observables
    run = sample_posterior(..., keep=("weights", "log_likelihood"))  # opt in: every draw's
    # W1..WL, a and log P_out(y_mu | f(x_mu)) at every training point (az.loo / az.waic)
    est = log_evidence(spec, train, EvidenceConfig())  # (1/n) ln p(Y | X) by tempered SMC

``import bayes`` changes no process setting. A process that samples first calls
``prepare_process()`` (``bayes/runtime.py``): one JAX host device per CPU core, so that chains
run in parallel (``use_host_devices``, before JAX's first computation), and JAX's persistent
compilation cache in ``$DGEP_JAX_CACHE`` (default ``~/.cache/dgep/jax``; ``off`` disables;
``enable_compilation_cache``). ``dgep run`` does both in every process that samples.
"""

from .evidence import EvidenceConfig, EvidenceEstimate, check_estimable, log_evidence
from .measure import Estimate, Measurements, measure, overlap_series, to_inference_data
from .model import NonMixingWarning, StudentNetwork, check_samplable
from .runtime import enable_compilation_cache, platform_device, prepare_process, use_host_devices
from .sampler import PosteriorRun, SamplerConfig, ShortWarmupWarning, sample_posterior

__all__ = [
    "Estimate",
    "EvidenceConfig",
    "EvidenceEstimate",
    "Measurements",
    "NonMixingWarning",
    "PosteriorRun",
    "SamplerConfig",
    "ShortWarmupWarning",
    "StudentNetwork",
    "check_estimable",
    "check_samplable",
    "enable_compilation_cache",
    "log_evidence",
    "measure",
    "overlap_series",
    "platform_device",
    "prepare_process",
    "sample_posterior",
    "to_inference_data",
    "use_host_devices",
]
