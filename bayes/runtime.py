"""The JAX process settings a sampler run uses, made explicitly (``import bayes`` changes none):
one host device per core, so that ``chain_method = "parallel"`` puts chains on separate cores,
and JAX's persistent compilation cache in a user-level directory."""

from __future__ import annotations

import os
from pathlib import Path

import jax

#: The matrix-product precision every sampler and evidence program is traced with. JAX's default
#: on GPUs computes float32 products in TF32 (a 10-bit mantissa), an error of about 1e-3 of each
#: output, summed over n terms in the log-likelihood; CPUs compute them in full precision anyway.
MATMUL_PRECISION = "highest"

#: the values of ``platform`` in ``SamplerConfig`` and ``EvidenceConfig``: a JAX platform, or
#: None for JAX's default (the accelerator where there is one)
PLATFORMS = (None, "cpu", "gpu", "tpu")


def check_platform(table: str, platform: object) -> None:
    """ValueError naming ``table.platform`` unless ``platform`` is one of ``PLATFORMS`` (whether
    this machine has it is ``platform_device``'s check, made where the program runs)."""
    if platform not in PLATFORMS:
        names = ", ".join(name for name in PLATFORMS if name)
        raise ValueError(
            f"{table}.platform = {platform!r}: must be one of {names} (or absent: JAX's default "
            "device)"
        )


def platform_device(platform: str | None, field: str = "platform") -> jax.Device | None:
    """The device a program runs on for ``platform``: the first device of that JAX platform, or
    None (JAX's default placement) for None. ``jax.default_device`` of it scopes a computation:
    e.g. NUTS on the host CPU (small sequential steps) and the tempered SMC's particles on the
    GPU, in one process. Raises ValueError, naming ``field`` and the value, where this machine has
    no such device."""
    if platform is None:
        return None
    try:
        return jax.devices(platform)[0]
    except RuntimeError:
        raise ValueError(f"{field} = {platform!r}: this machine has no {platform} device") from None


def use_host_devices(n: int | None = None) -> None:
    """Give JAX ``n`` CPU devices (default one per core) with ``numpyro.set_host_device_count``,
    unless ``XLA_FLAGS`` already sets ``xla_force_host_platform_device_count`` (kept). Takes
    effect only before the process's first JAX computation, which fixes the device count."""
    import numpyro

    if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
        numpyro.set_host_device_count(n or os.cpu_count() or 1)


def default_cache_dir() -> Path | None:
    """``$DGEP_JAX_CACHE`` (``off`` disables), else ``$XDG_CACHE_HOME/dgep/jax`` or
    ``~/.cache/dgep/jax``."""
    setting = os.environ.get("DGEP_JAX_CACHE")
    if setting == "off":
        return None
    if setting:
        return Path(setting)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "dgep" / "jax"


def enable_compilation_cache(path: Path | None = None) -> Path | None:
    """Persist compiled samplers across processes in ``path`` (default ``default_cache_dir``);
    returns the directory, or None where disabled."""
    path = path or default_cache_dir()
    if path is None:
        return None
    path.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path


def prepare_process(devices: int | None = None) -> None:
    """``use_host_devices(devices)`` and ``enable_compilation_cache()``: what a process that
    samples calls first (the ``dgep`` sweep does, in each worker)."""
    use_host_devices(devices)
    enable_compilation_cache()
