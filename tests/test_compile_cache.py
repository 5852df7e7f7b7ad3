"""funcnet._compile_cache: JAX's persistent compilation cache, on by default unless configured or turned
off; a second process compiles nothing the first compiled, and its results are the same bits."""
import os
import pathlib
import subprocess
import sys

import numpy as np

WORKERS = pathlib.Path(__file__).resolve().parent / "_workers"
SETTINGS = ("print(json.dumps([jax.config.jax_compilation_cache_dir, jax.config.jax_compilation_cache_max_size, "
            "jax.config.jax_persistent_cache_min_compile_time_secs]))")
PROBE = "import json, jax, funcnet; " + SETTINGS


def _env(**changes):
    env = {k: v for k, v in os.environ.items() if k not in ("FUNCNET_COMPILE_CACHE", "JAX_COMPILATION_CACHE_DIR")}
    env.update(JAX_PLATFORMS="cpu", **changes)
    return env


def _probe(env, code=PROBE):
    import json

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _train(env, out):
    done = subprocess.run([sys.executable, str(WORKERS / "determinism.py"), str(out)], capture_output=True,
                          text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return np.load(out)


def test_a_second_process_reads_the_first_ones_programs_and_gets_the_same_bits(tmp_path):
    cache = tmp_path / "cache"
    first = _train(_env(FUNCNET_COMPILE_CACHE=str(cache)), tmp_path / "first.npz")
    second = _train(_env(FUNCNET_COMPILE_CACHE=str(cache)), tmp_path / "second.npz")
    uncached = _train(_env(FUNCNET_COMPILE_CACHE="0"), tmp_path / "uncached.npz")
    assert str(first["cache/dir"]) == str(cache) and str(uncached["cache/dir"]) == ""
    assert int(first["cache/hits"]) == 0 and int(first["cache/misses"]) > 0
    # Every program the first process wrote is read, not compiled.
    written = len(list(cache.glob("*-cache")))
    assert written >= 3 and int(second["cache/hits"]) >= written, (written, int(second["cache/hits"]))
    assert int(uncached["cache/hits"]) == 0
    for key in first.files:
        if not key.startswith("cache/"):
            np.testing.assert_array_equal(first[key], second[key], err_msg=key)
            np.testing.assert_array_equal(first[key], uncached[key], err_msg=key)


def test_on_by_default_in_the_user_cache_folder_with_funcnets_bounds(tmp_path):
    folder, max_size, min_secs = _probe(_env(XDG_CACHE_HOME=str(tmp_path)))
    assert folder == str(tmp_path / "funcnet" / "jax-compile-cache") and os.path.isdir(folder)
    assert max_size == 1 << 30 and min_secs == 0.0


def test_a_folder_of_ones_own_and_turning_it_off(tmp_path):
    assert _probe(_env(FUNCNET_COMPILE_CACHE=str(tmp_path / "mine")))[0] == str(tmp_path / "mine")
    for off in ("0", "off", "false", "No"):
        assert _probe(_env(FUNCNET_COMPILE_CACHE=off))[0] is None
    # JAX's own switch, set before funcnet is imported, is honoured too.
    code = "import json, jax; jax.config.update('jax_enable_compilation_cache', False); import funcnet; " + SETTINGS
    assert _probe(_env(XDG_CACHE_HOME=str(tmp_path)), code)[0] is None


def test_a_cache_the_user_configured_is_left_as_it_is(tmp_path):
    folder, max_size, min_secs = _probe(_env(JAX_COMPILATION_CACHE_DIR=str(tmp_path / "theirs"),
                                             FUNCNET_COMPILE_CACHE=str(tmp_path / "ours")))
    assert (folder, max_size, min_secs) == (str(tmp_path / "theirs"), -1, 1.0)
    code = (f"import json, jax; jax.config.update('jax_compilation_cache_dir', {str(tmp_path / 'set')!r}); "
            "jax.config.update('jax_persistent_cache_min_compile_time_secs', 2.0); import funcnet; " + SETTINGS)
    assert _probe(_env(), code) == [str(tmp_path / "set"), -1, 2.0]


def test_an_unwritable_folder_means_no_cache_not_a_failure(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert _probe(_env(FUNCNET_COMPILE_CACHE=str(blocker / "cache")))[0] is None


def test_a_compile_before_funcnet_is_imported_still_gets_the_cache(tmp_path):
    cache = tmp_path / "cache"
    code = ("import jax, jax.numpy as jnp; jnp.ones(3).sum().block_until_ready(); import funcnet; "
            "jax.jit(lambda x: jnp.sin(x) @ x.T)(jnp.ones((64, 64))).block_until_ready(); print('[]')")
    env = _env(FUNCNET_COMPILE_CACHE=str(cache), JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
    assert _probe(env, code) == []
    # JAX had decided on no cache at the first compile; the program compiled after the import is written.
    assert any(p.name.startswith("jit__lambda-") for p in cache.iterdir()), sorted(p.name for p in cache.iterdir())
