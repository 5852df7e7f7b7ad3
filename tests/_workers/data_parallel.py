"""Runs in a subprocess (JAX's device count is fixed at start-up): trains the test networks (one with
BatchNormalization) under a `DataParallel` layout and writes the trained params and state to an .npz file.

    python data_parallel.py devices OUT.npz             # 1, 2, 3, 4 and 8 of 8 forced host devices
    python data_parallel.py process OUT_DIR PORT ID N   # one of N processes on loopback
"""
import os
import sys

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")

import jax  # noqa: E402
import numpy as np  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from _workers.problem import EPOCHS, BATCH, build_bn_model, build_conv_model, build_model, make_data  # noqa: E402


def flat(params) -> dict:
    from funcnet import distribution

    return {f"{layer}/{name}": distribution.host_array(v) for layer, d in params.items() for name, v in d.items()}


def train(dp, x, y, build=build_model, **fit_kwargs):
    model = build()
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"], distribution=dp)
    history = model.fit(x, y, epochs=EPOCHS, batch_size=BATCH, verbose=0, seed=0, **fit_kwargs)
    return model, history


def devices(out: str) -> None:
    from funcnet import distribution

    x, y = make_data()
    results = {}
    for count, shard in [(1, False), (2, False), (3, False), (4, False), (8, False), (4, True)]:
        dp = distribution.DataParallel(jax.devices()[:count], shard_params=shard, min_shard_size=64)
        model, history = train(dp, x, y, validation_data=(x[:50], y[:50]))
        tag = f"{count}{'s' if shard else ''}"
        for key, value in flat(model.params).items():
            results[f"{tag}/params/{key}"] = value
        results[f"{tag}/loss"] = np.array(history.history["loss"])
        results[f"{tag}/val_loss"] = np.array(history.history["val_loss"])
        results[f"{tag}/predict"] = model.predict(x[:37], batch_size=16)
        results[f"{tag}/kernel_spec"] = np.array(str(model.params["dense"]["kernel"].sharding.spec))
    for count in (1, 2, 4, 8):
        model, history = train(distribution.DataParallel(jax.devices()[:count]), x, y, build=build_bn_model)
        for key, value in {**flat(model.params), **flat(model.state)}.items():
            results[f"bn{count}/variables/{key}"] = value
        results[f"bn{count}/loss"] = np.array(history.history["loss"])
        results[f"bn{count}/predict"] = model.predict(x[:37], batch_size=16)
    for count in (4,):
        model, history = train(distribution.DataParallel(jax.devices()[:count]), x, y, build=build_conv_model)
        for key, value in flat(model.params).items():
            results[f"conv{count}/params/{key}"] = value
        results[f"conv{count}/loss"] = np.array(history.history["loss"])
    np.savez(out, **results)


def process(out_dir: str, port: str, process_id: str, count: str) -> None:
    from funcnet import callbacks, distribution

    process_id, count = int(process_id), int(count)
    distribution.initialize(f"127.0.0.1:{port}", num_processes=count, process_id=process_id)
    x, y = make_data()
    # Each process feeds its own shard, of unequal sizes: 101 and 102 samples of 203.
    bounds = np.linspace(0, len(x), count + 1).astype(int)
    mine = slice(bounds[process_id], bounds[process_id + 1])
    dp = distribution.DataParallel()
    checkpoint = callbacks.ModelCheckpoint(os.path.join(out_dir, "ckpt-{epoch}.npz"), monitor="loss")
    model, history = train(dp, x[mine], y[mine], callbacks=[checkpoint])
    np.savez(os.path.join(out_dir, f"process-{process_id}.npz"), loss=np.array(history.history["loss"]),
             devices=np.array(jax.device_count()), **flat(model.params))


if __name__ == "__main__":
    {"devices": devices, "process": process}[sys.argv[1]](*sys.argv[2:])
