"""Runs in a subprocess with 4 forced host devices: `fit_many` with a `DataParallel` (the members split
across the devices, 3 members padded to 4) against each member's `fit` alone on one device.

    python many_devices.py OUT.npz
"""
import os
import sys

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")

import jax  # noqa: E402
import numpy as np  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")

from funcnet import distribution, layers, models  # noqa: E402


def build(dp=None):
    model = models.Sequential([layers.Dense(16, activation="relu", input_shape=(6,)), layers.Dropout(0.25),
                               layers.Dense(3, activation="softmax")])
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"], distribution=dp)
    return model


def main(out: str) -> None:
    assert len(jax.devices()) == 4, jax.devices()
    rs = np.random.RandomState(0)
    x, y = rs.randn(90, 6).astype(np.float32), rs.randint(0, 3, 90)
    seeds = [0, 1, 2]
    runs = models.fit_many(build(distribution.DataParallel()), x, y, seeds=seeds, epochs=3, batch_size=16,
                           validation_split=0.2, verbose=0)
    four = models.fit_many(build(distribution.DataParallel()), x, y, seeds=[0, 1, 2, 3], epochs=1, batch_size=16,
                           verbose=0)
    results = {"spec": np.array(str(four.params["dense"]["kernel"].sharding.spec)),
               "devices": np.array(len(four.params["dense"]["kernel"].sharding.device_set))}
    for k, seed in enumerate(seeds):
        model = build()
        history = model.fit(x, y, epochs=3, batch_size=16, validation_split=0.2, verbose=0, seed=seed)
        results[f"alone/loss/{k}"] = np.array(history.history["loss"])
        results[f"alone/val_loss/{k}"] = np.array(history.history["val_loss"])
        results[f"alone/kernel/{k}"] = np.asarray(model.params["dense"]["kernel"])
        results[f"many/loss/{k}"] = runs.history["loss"][k]
        results[f"many/val_loss/{k}"] = runs.history["val_loss"][k]
        results[f"many/kernel/{k}"] = np.asarray(runs.params["dense"]["kernel"][k])
    np.savez(out, **results)


if __name__ == "__main__":
    main(sys.argv[1])
