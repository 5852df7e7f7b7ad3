"""Runs in a fresh process: trains a small model with Dropout and BatchNormalization (shuffled, a short
last batch, validation) with seed 7, and writes its params, state and history to OUT.npz, with the
persistent compilation cache's hits and misses of the process (`cache/hits`, `cache/misses`) and the
cache folder in use (`cache/dir`, "" for none).

    python determinism.py OUT.npz
"""
import collections
import sys

import jax
import numpy as np
from jax._src import monitoring

from funcnet import layers, models

EVENTS: collections.Counter = collections.Counter()
monitoring.register_event_listener(lambda event, **kwargs: EVENTS.update([event]))


def main(out: str) -> None:
    rs = np.random.RandomState(0)
    x, y = rs.randn(300, 12).astype(np.float32), rs.randint(0, 4, 300)
    model = models.Sequential([layers.Dense(32, activation="relu", input_shape=(12,)), layers.BatchNormalization(),
                               layers.Dropout(0.3), layers.Dense(4, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=4, batch_size=32, validation_split=0.2, verbose=0, seed=7)
    arrays = {f"history/{k}": np.array(v) for k, v in history.history.items()}
    for tag, tree in (("params", model.params), ("state", model.state)):
        for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
            arrays[f"{tag}/{jax.tree_util.keystr(path)}"] = np.asarray(leaf)
    arrays["cache/hits"] = np.array(EVENTS["/jax/compilation_cache/cache_hits"])
    arrays["cache/misses"] = np.array(EVENTS["/jax/compilation_cache/cache_misses"])
    arrays["cache/dir"] = np.array(jax.config.jax_compilation_cache_dir or "")
    np.savez(out, **arrays)


if __name__ == "__main__":
    main(sys.argv[1])
