"""JAX's persistent compilation cache in a user-level directory."""

from __future__ import annotations

import os
from pathlib import Path

import jax


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
    """Persist compiled samplers across processes (a repeated NUTS compile then takes ~0.5 s)."""
    path = path or default_cache_dir()
    if path is None:
        return None
    path.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path
