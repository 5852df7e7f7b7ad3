"""Checkpoints: pytrees of arrays saved to one `.npz` file, atomically, with no pickle.

A checkpoint stores each leaf under its pytree path (`params/dense/kernel`) and a JSON header with
the format version and any metadata (e.g. `{"epoch": 3}`). It is written to a temporary file in the
same folder, flushed to disk, then renamed over the target, so a crash or kill mid-save leaves the
previous checkpoint intact. Loading reads with `allow_pickle=False` and restores values into a
*template* pytree (e.g. `optimizer.init(params)`), checking every path, shape and dtype.

We write `.npz` rather than use orbax-checkpoint: orbax brings tensorstore and an async runtime for
what here is two small pytrees per file, and its multi-file directories are harder to replace
atomically than one file.
"""
from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from funcnet._atomic import write_atomically
from funcnet.distribution import host_array

FORMAT = "funcnet-checkpoint-1"
_HEADER = "__header__"


def _path_key(path) -> str:
    parts = []
    for p in path:
        for attr in ("key", "name", "idx"):
            if hasattr(p, attr):
                parts.append(str(getattr(p, attr)))
                break
        else:
            parts.append(str(p))
    return "/".join(parts)


def _is_prng_key(leaf) -> bool:
    return isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)


def flatten(tree) -> dict[str, np.ndarray]:
    """`{path: numpy array}` for every leaf; typed PRNG keys are stored as their raw key data."""
    out = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        if leaf is None:
            continue
        if _is_prng_key(leaf):
            leaf = jax.random.key_data(leaf)
        out[_path_key(path)] = host_array(leaf)
    return out


def _is_extension_dtype(dtype: np.dtype) -> bool:
    # bfloat16, float8_* (ml_dtypes) are not dtypes the .npy format can name: store their bits.
    return dtype.kind == "V" or dtype.type.__module__.startswith("ml_dtypes")


def save(path: str | os.PathLike, trees: Mapping[str, Any], metadata: Mapping[str, Any] | None = None) -> None:
    """Writes `trees` (name -> pytree) and JSON-able `metadata` to `path`, atomically.

    The file name is used verbatim (no suffix is added). In a multi-process run every process calls
    it (arrays split across processes are gathered), process 0 alone writes, and all return once the
    file is complete, so any process may read it next. The file does not record the device layout:
    any number of processes and devices can load it.
    """
    path = os.fspath(path)
    arrays = {name: flatten(tree) for name, tree in trees.items()}  # with several processes, a collective
    if jax.process_count() == 1:
        _write(path, arrays, metadata)
        return
    from jax.experimental import multihost_utils

    if jax.process_index() == 0:
        _write(path, arrays, metadata)
    multihost_utils.sync_global_devices(f"funcnet.checkpoints.save:{os.path.abspath(path)}")


def _write(path: str, flat_trees: Mapping[str, dict], metadata) -> None:
    arrays, extension_dtypes = {}, {}
    for name, flat in flat_trees.items():
        if "/" in name or name == _HEADER:
            raise ValueError(f"checkpoint entry names must not contain '/' or be {_HEADER!r}; got {name!r}.")
        for key, value in flat.items():
            full = f"{name}/{key}" if key else name
            if _is_extension_dtype(value.dtype):
                extension_dtypes[full] = value.dtype.name
                value = value.view(np.dtype(f"uint{8 * value.dtype.itemsize}"))
            arrays[full] = value
    header = {
        "format": FORMAT,
        "entries": sorted(flat_trees),
        "metadata": dict(metadata or {}),
        "extension_dtypes": extension_dtypes,
    }
    arrays[_HEADER] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    write_atomically(path, lambda f: np.savez(f, **arrays), suffix=".npz")


class Checkpoint:
    """A loaded checkpoint: its metadata and its arrays, restorable into templates."""

    def __init__(self, path: str, arrays: dict[str, np.ndarray], header: dict):
        self.path = path
        self.arrays = arrays
        self.entries: list[str] = header["entries"]
        self.metadata: dict = header["metadata"]

    def has(self, name: str) -> bool:
        return name in self.entries

    def restore(self, name: str, template):
        """`template` with every leaf replaced by the saved value at the same path.

        Raises ValueError naming the first path that is missing, extra, or of another shape or dtype.
        """
        if name not in self.entries:
            raise ValueError(f"checkpoint {self.path!r} holds {self.entries}, not {name!r}.")
        prefix = f"{name}/"
        saved = {k[len(prefix):]: v for k, v in self.arrays.items() if k.startswith(prefix)}
        if name in self.arrays:
            saved[""] = self.arrays[name]
        leaves_with_paths, treedef = jax.tree_util.tree_flatten_with_path(template)
        wanted = {_path_key(p) for p, _ in leaves_with_paths}
        if set(saved) != wanted:
            missing, extra = sorted(wanted - set(saved)), sorted(set(saved) - wanted)
            raise ValueError(
                f"checkpoint {self.path!r}: {name} does not match this model. Missing {missing or 'none'}; "
                f"unexpected {extra or 'none'}. Was it saved from a model built or compiled differently?"
            )
        leaves = []
        for p, leaf in leaves_with_paths:
            key = _path_key(p)
            value = saved[key]
            if _is_prng_key(leaf):
                leaves.append(jax.random.wrap_key_data(jnp.asarray(value), impl=jax.random.key_impl(leaf)))
                continue
            if value.shape != np.shape(leaf) or value.dtype != np.dtype(leaf.dtype):
                raise ValueError(
                    f"checkpoint {self.path!r}: {name}/{key} has shape {value.shape} and dtype {value.dtype}; "
                    f"the model needs shape {tuple(np.shape(leaf))} and dtype {np.dtype(leaf.dtype)}."
                )
            leaves.append(jax.numpy.asarray(value))
        return jax.tree_util.tree_unflatten(treedef, leaves)


def load(path: str | os.PathLike) -> Checkpoint:
    """Reads a checkpoint written by `save` (never unpickles anything)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint at {path!r}.")
    try:
        with open(path, "rb") as f:
            data = f.read()
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        header = json.loads(arrays.pop(_HEADER).tobytes().decode())
        for key, dtype_name in header.get("extension_dtypes", {}).items():
            arrays[key] = arrays[key].view(jax.numpy.dtype(dtype_name))
    except Exception as err:  # a truncated or foreign file: say so, not a numpy traceback
        raise ValueError(f"{path!r} is not a readable funcnet checkpoint ({type(err).__name__}: {err}).") from None
    if header.get("format") != FORMAT:
        raise ValueError(f"{path!r} has format {header.get('format')!r}; expected {FORMAT!r}.")
    return Checkpoint(path, arrays, header)
