"""Generated files in the exact on-disk format of Keras's data sets, and registry patching."""
import dataclasses
import functools
import hashlib
import importlib
import io
import json
import os
from unittest import mock

import numpy as np

from funcnet.datasets import _files
from funcnet.datasets._sequences import no_cyclic_gc


def npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pin(monkeypatch, name: str, sha: str | None) -> None:
    """Patches the registry's SHA-256 of ``name`` for one test."""
    monkeypatch.setitem(_files.REGISTRY, name, dataclasses.replace(_files.REGISTRY[name], sha256=sha))


def ragged(lists) -> np.ndarray:
    out = np.empty(len(lists), dtype=object)
    for i, x in enumerate(lists):
        out[i] = list(x)
    return out


def tiny_mnist(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, 6, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, 3, dtype=np.uint8),
    }


def tiny_imdb(n_train: int = 40, n_test: int = 30, vocab: int = 50, seed: int = 0) -> dict:
    """Keras's imdb.npz layout: object arrays of lists of Python ints (ranks from 1), int64 labels."""
    rng = np.random.default_rng(seed)

    def seqs(n):
        return ragged([rng.integers(1, vocab, rng.integers(1, 30)).tolist() for _ in range(n)])

    return {
        "x_train": seqs(n_train), "y_train": rng.integers(0, 2, n_train).astype(np.int64),
        "x_test": seqs(n_test), "y_test": rng.integers(0, 2, n_test).astype(np.int64),
    }


def tiny_reuters(n: int = 60, vocab: int = 80, seed: int = 1) -> dict:
    rng = np.random.default_rng(seed)
    xs = ragged([rng.integers(1, vocab, rng.integers(1, 40)).tolist() for _ in range(n)])
    return {"x": xs, "y": rng.integers(0, 46, n).astype(np.int64)}


def word_index_bytes(words=("the", "and", "a", "of", "film")) -> bytes:
    return json.dumps({w: i + 1 for i, w in enumerate(words)}).encode()


@functools.lru_cache(maxsize=None)
def load_once(loader, **kwargs):
    """``loader(**kwargs)``, computed once per session: the real IMDB takes seconds to load. Callers
    must not modify what they get."""
    return loader(**kwargs)  # (the loaders pause the cyclic GC themselves)


@functools.lru_cache(maxsize=None)
def keras_load_once(module: str, data_dir: str, **kwargs):
    """Keras 3's own ``keras.datasets.<module>.load_data(**kwargs)`` run on the file in ``data_dir``
    (its download step is replaced by that path): the ground truth for funcnet's loaders."""
    keras_module = importlib.import_module(f"keras.src.datasets.{module}")
    path = os.path.join(data_dir, f"{module}.npz")
    # Paused GC, as funcnet's loaders do: a full collection visits every int of every live list.
    with mock.patch.object(keras_module, "get_file", lambda *args, **kw: path), no_cyclic_gc():
        return keras_module.load_data(**kwargs)
