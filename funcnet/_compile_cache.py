"""The persistent compilation cache: JAX's own (`jax_compilation_cache_dir`), on by default, so that a
second run of a script compiles nothing it compiled before.

A funcnet script compiles its epoch, evaluation and initializer programs in every process (seconds on a
CPU); JAX can keep compiled programs on disk, keyed by everything that decides them (the program, the
compile options, the device, the jax and jaxlib versions, XLA's flags), and load them instead. A cached
program is the same executable, so a run's results do not depend on the cache.

When funcnet is imported and nobody has configured JAX's cache, funcnet turns it on:

* where: `$FUNCNET_COMPILE_CACHE` if it names a folder, else `$XDG_CACHE_HOME/funcnet/jax-compile-cache`
  (`~/.cache/funcnet/jax-compile-cache` by default);
* how big: at most 1 GiB (`jax_compilation_cache_max_size`); the least recently used programs go first;
* what: every program, however quick its compile (`jax_persistent_cache_min_compile_time_secs = 0`).
  JAX's default, 1 s, leaves out nearly all of funcnet's, which take 0.01-1 s each on a CPU; and the
  many small ones add up: the README's main job starts its second run's first epoch in 0.52x the
  first's time when only programs of 0.1 s or more are kept, in 0.44x when all are (about 40 files,
  300 KB; benchmarks/startup.py). Writing them costs the first run nothing measurable;
* off: `FUNCNET_COMPILE_CACHE=0` (or `off`, `false`, `no`), or JAX's own
  `jax.config.update("jax_enable_compilation_cache", False)`.

A cache the user configured (`JAX_COMPILATION_CACHE_DIR`, `jax.config.update("jax_compilation_cache_dir",
...)`) is left exactly as configured, with its thresholds. The folder should be yours alone: JAX runs what
it finds there (see JAX's `set_cache_dir`).
"""
from __future__ import annotations

import logging
import os
import pathlib

import jax

ENV = "FUNCNET_COMPILE_CACHE"
MAX_BYTES = 1 << 30
MIN_COMPILE_SECS = 0.0
_OFF = {"0", "off", "false", "no"}

logger = logging.getLogger(__name__)


def _option(name: str):
    # jax.config's options are attributes that its stubs do not declare.
    return getattr(jax.config, name)


def default_dir() -> pathlib.Path:
    """`$XDG_CACHE_HOME/funcnet/jax-compile-cache`, or under `~/.cache` when XDG_CACHE_HOME is unset."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "funcnet" / "jax-compile-cache"


def enable() -> str | None:
    """Turns JAX's persistent cache on in funcnet's folder unless it is configured or turned off; returns
    the folder in use (the user's own too), or None when no cache is used."""
    setting = os.environ.get(ENV, "").strip()
    configured = _option("jax_compilation_cache_dir")
    if configured:
        return configured
    if setting.lower() in _OFF or not _option("jax_enable_compilation_cache"):
        return None
    path = pathlib.Path(os.path.expanduser(setting)) if setting else default_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:  # a read-only home, say: run without the cache rather than fail
        logger.info("funcnet: no persistent compilation cache (%s): %s", path, err)
        return None
    jax.config.update("jax_compilation_cache_dir", str(path))
    if _option("jax_compilation_cache_max_size") == -1:  # JAX's default: unbounded
        jax.config.update("jax_compilation_cache_max_size", MAX_BYTES)  # (its eviction locks with filelock)
    if _option("jax_persistent_cache_min_compile_time_secs") == 1.0:  # JAX's default
        jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECS)
    # If something compiled before funcnet was imported, JAX has already decided to run without a cache;
    # this makes it look again at its next compile.
    from jax.experimental.compilation_cache import compilation_cache

    compilation_cache.reset_cache()
    return str(path)
