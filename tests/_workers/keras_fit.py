"""Runs in a subprocess (Keras on its JAX backend, which the test process does not use): trains a small
Dense -> BatchNormalization -> Dense network with Keras 3's own `fit` from given weights and writes
the trained weights, moving statistics included.

    python keras_fit.py IN.npz OUT.npz

IN.npz holds `x`, `y`, `weights_0..k` (Keras's order: kernel, bias, gamma, beta, moving_mean,
moving_variance, kernel, bias), `batch_size`, `epochs`, `learning_rate`.
"""
import os
import sys

os.environ["KERAS_BACKEND"] = "jax"

import keras  # noqa: E402
import numpy as np  # noqa: E402


def main(source: str, out: str) -> None:
    data = dict(np.load(source))
    weights = [data[f"weights_{i}"] for i in range(sum(k.startswith("weights_") for k in data))]
    units, classes = weights[0].shape[1], weights[-1].shape[0]
    model = keras.Sequential([
        keras.Input(shape=data["x"].shape[1:]),
        keras.layers.Dense(units),
        keras.layers.BatchNormalization(),
        keras.layers.Activation("relu"),
        keras.layers.Dense(classes, activation="softmax"),
    ])
    model.set_weights(weights)
    model.compile(optimizer=keras.optimizers.SGD(float(data["learning_rate"])), loss="categorical_crossentropy")
    model.fit(data["x"], data["y"], batch_size=int(data["batch_size"]), epochs=int(data["epochs"]), shuffle=False,
              verbose=0)
    np.savez(out, **{f"weights_{i}": w for i, w in enumerate(model.get_weights())})


if __name__ == "__main__":
    main(*sys.argv[1:])
