"""Test-wide settings.

* Keras 3 is used only as a numerical reference, on its numpy backend, so it never
  touches JAX's global configuration or compile caches.
* JAX raises on implicit rank promotion, so a silent broadcasting bug fails loudly.
* funcnet's persistent compilation cache is a temporary folder shared by the whole run.
"""
import os
import tempfile

os.environ.setdefault("KERAS_BACKEND", "numpy")
# funcnet's persistent compilation cache (on by default) lives in a folder of the test runs' own, shared
# by the xdist workers and the subprocesses they start, not in the user's ~/.cache.
os.environ.setdefault("FUNCNET_COMPILE_CACHE",
                      os.path.join(tempfile.gettempdir(), f"funcnet-tests-compile-cache-{os.getuid()}"))
# CI and the README pass a relative FUNCNET_DATA_DIR (../shared/datasets); tests that change the
# current folder (the docs' pages run in a fresh temporary one) must still find it.
if os.environ.get("FUNCNET_DATA_DIR"):
    os.environ["FUNCNET_DATA_DIR"] = os.path.abspath(os.environ["FUNCNET_DATA_DIR"])

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def data_dir():
    """The folder of real data sets. CI sets FUNCNET_DATA_DIR and must fail, not skip, without it."""
    path = os.environ.get("FUNCNET_DATA_DIR")
    if not path:
        if os.environ.get("CI"):
            pytest.fail("FUNCNET_DATA_DIR is not set on CI; it must point at ../shared/datasets")
        pytest.skip("FUNCNET_DATA_DIR is not set")
    if not os.path.isdir(path):
        pytest.fail(f"FUNCNET_DATA_DIR={path!r} is not a folder")
    return path
