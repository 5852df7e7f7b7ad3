"""`.keras` archives: Keras 3's zip of `metadata.json`, `config.json` and `model.weights.h5`.

Writing is atomic (a temporary file beside the target, fsync, rename), so a process killed while
saving leaves the previous file whole. Reading trusts nothing in the file: the zip and its members
are checked, the config builds only funcnet's layers and the classes given as `custom_objects` (no
import of a module the file names, no pickles, no bytecode), and every weight must exist with the
shape the architecture gives it. Each failure is a `ValueError` naming the file and the problem.

HDF5 is read and written with h5py (the library Keras itself uses), not by hand: the format is large
and h5py is the well-kept reference implementation of it.
"""
from __future__ import annotations

import datetime
import io
import json
import os
import zipfile
from collections.abc import Sequence

import numpy as np

from funcnet._atomic import write_atomically

CONFIG, METADATA, WEIGHTS = "config.json", "metadata.json", "model.weights.h5"
_MAX_MEMBER_BYTES = 4 << 30  # refuse members claiming more than 4 GiB unpacked (zip bombs)
KERAS_VERSION = "3.15.1"  # the Keras version whose layout funcnet writes


def _h5py():
    import h5py

    return h5py


def write_archive(path, config: dict, weights: list[tuple[str, np.ndarray]], vars_groups: dict[str, str]) -> None:
    """Writes the archive: `weights` as `(dataset path, array)`, `vars_groups` the `vars` groups with
    the layer name Keras records on each."""
    h5py = _h5py()
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        for group, name in vars_groups.items():
            h5.require_group(group).attrs["name"] = name
        for dataset, array in weights:
            h5.create_dataset(dataset, data=np.asarray(array))
    metadata = {"keras_version": KERAS_VERSION, "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
                "saved_by": "funcnet"}

    def write(f):
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as zf:
            zf.writestr(METADATA, json.dumps(metadata))
            zf.writestr(CONFIG, json.dumps(config))
            zf.writestr(WEIGHTS, buffer.getvalue())

    write_atomically(path, write, suffix=".keras")


class Archive:
    """An opened archive: its config and a reader of its weights."""

    def __init__(self, path):
        self.path = os.fspath(path)
        what = f"'{self.path}'"
        if not os.path.isfile(self.path):
            raise FileNotFoundError(f"No model file at {what}.")
        if not zipfile.is_zipfile(self.path):
            raise ValueError(f"{what} is not a .keras archive (not a zip file).")
        try:
            with zipfile.ZipFile(self.path) as zf:
                names = set(zf.namelist())
                for member in (CONFIG, WEIGHTS):
                    if member not in names:
                        raise ValueError(f"{what} has no {member}; a .keras archive holds {CONFIG}, {METADATA} and "
                                         f"{WEIGHTS}.")
                for info in zf.infolist():
                    if info.file_size > _MAX_MEMBER_BYTES:
                        raise ValueError(f"{what}: member {info.filename} claims {info.file_size} bytes unpacked; "
                                         "refused.")
                config_bytes = zf.read(CONFIG)
                self._weights_bytes = zf.read(WEIGHTS)
                self.metadata = json.loads(zf.read(METADATA)) if METADATA in names else {}
        except (zipfile.BadZipFile, EOFError, OSError, zlib_error()) as err:
            raise ValueError(f"{what} is damaged (truncated or altered): {err}") from None
        try:
            self.config = json.loads(config_bytes)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"{what}: {CONFIG} is not valid JSON: {err}") from None
        if not isinstance(self.config, dict):
            raise ValueError(f"{what}: {CONFIG} must hold an object; got {type(self.config).__name__}.")

    def read_weights(self, wanted: Sequence[tuple[str, tuple, object]]) -> list[np.ndarray]:
        """The arrays at `wanted` `(dataset path, expected shape, what)`; every one must exist and fit."""
        h5py = _h5py()
        what = f"'{self.path}'"
        try:
            h5 = h5py.File(io.BytesIO(self._weights_bytes), "r")
        except OSError as err:
            raise ValueError(f"{what}: {WEIGHTS} is not a readable HDF5 file: {err}") from None
        out = []
        with h5:
            datasets = set()
            h5.visititems(lambda name, obj: datasets.add(name) if isinstance(obj, h5py.Dataset) else None)
            for dataset, shape, description in wanted:
                if dataset not in datasets:
                    raise ValueError(f"{what}: {WEIGHTS} has no weight '{dataset}' ({description}); the file does "
                                     "not fit the architecture in its config.")
                array = np.asarray(h5[dataset])
                if tuple(array.shape) != tuple(shape):
                    raise ValueError(f"{what}: weight '{dataset}' ({description}) has shape {tuple(array.shape)}; "
                                     f"the architecture needs {tuple(shape)}.")
                out.append(array)
            extra = sorted(datasets - {d for d, _, _ in wanted} - {d for d in datasets if d.startswith("optimizer/")})
            if extra:
                raise ValueError(f"{what}: {WEIGHTS} holds weights the architecture has no place for: {extra[:5]}.")
        return out

    def optimizer_arrays(self) -> list[np.ndarray]:
        """`optimizer/vars/0..n` in order (empty if the file has none)."""
        h5py = _h5py()
        with h5py.File(io.BytesIO(self._weights_bytes), "r") as h5:
            if "optimizer/vars" not in h5:
                return []
            group = h5["optimizer/vars"]
            return [np.asarray(group[str(i)]) for i in range(len(group))]


def zlib_error():
    import zlib

    return zlib.error
