"""Runs in a fresh process: 200 models of one structure created and trained one after another, then one
model for 300 epochs; prints one line of JSON with the live device buffers and resident memory at
points along the way.

    python long_runs.py [MODELS] [EPOCHS]
"""
import gc
import json
import os
import sys

import jax
import numpy as np

from funcnet import callbacks, layers, models


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def build():
    model = models.Sequential([layers.Dense(32, activation="relu", input_shape=(10,)), layers.Dropout(0.2),
                               layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def snapshot():
    gc.collect()
    return {"live_arrays": len(jax.live_arrays()), "rss_mb": rss_mb()}


def main(n_models: int, epochs: int) -> None:
    rs = np.random.RandomState(0)
    x, y = rs.randn(200, 10).astype(np.float32), rs.randint(0, 3, 200)
    points = {}
    for i in range(n_models):
        model = build()
        model.fit(x, y, epochs=2, batch_size=32, verbose=0, validation_split=0.2, seed=i)
        model.evaluate(x, y, verbose=0)
        model.predict(x[:7], verbose=0)
        del model
        if i + 1 in (20, n_models // 2, n_models):
            points[f"models_{i + 1}"] = snapshot()

    class Probe(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 in (20, epochs // 2, epochs):
                points[f"epochs_{epoch + 1}"] = snapshot()

    model = build()
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0, callbacks=[Probe()])
    print(json.dumps(points), flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200, int(sys.argv[2]) if len(sys.argv) > 2 else 300)
