"""Data parallelism: 1, 2, 3, 4 and 8 devices (and two processes) train as one device does.

JAX fixes its device count at start-up, so the multi-device runs happen in subprocesses
(`tests/_workers/data_parallel.py`) with `--xla_force_host_platform_device_count=8`; this process
has the one default CPU device and trains the reference.
"""
import os
import pathlib
import socket
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet import distribution, losses, optimizers, training
from tests._workers.problem import BATCH, EPOCHS, build_bn_model, build_conv_model, build_model, make_data

WORKER = pathlib.Path(__file__).parent / "_workers" / "data_parallel.py"
TOL = dict(rtol=2e-5, atol=2e-6)


def _env(devices: int) -> dict:
    env = dict(os.environ)
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    env["JAX_PLATFORMS"] = "cpu"
    return env


def _reference(x, y, **fit_kwargs):
    model = build_model()
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=EPOCHS, batch_size=BATCH, verbose=0, seed=0, **fit_kwargs)
    return model, history


def _flat(params) -> dict:
    return {f"{layer}/{name}": np.asarray(v) for layer, d in params.items() for name, v in d.items()}


@pytest.fixture(scope="module")
def device_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("devices") / "runs.npz"
    done = subprocess.run([sys.executable, str(WORKER), "devices", str(out)], env=_env(8),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    return dict(np.load(out))


@pytest.fixture(scope="module")
def reference():
    x, y = make_data()
    model, history = _reference(x, y, validation_data=(x[:50], y[:50]))
    return model, history, x


@pytest.mark.parametrize("tag", ["1", "2", "3", "4", "8", "4s"])
def test_fit_on_n_devices_matches_one_device(device_runs, reference, tag):
    model, history, x = reference
    for key, want in _flat(model.params).items():
        np.testing.assert_allclose(device_runs[f"{tag}/params/{key}"], want, err_msg=f"{tag} devices: {key}", **TOL)
    np.testing.assert_allclose(device_runs[f"{tag}/loss"], history.history["loss"], **TOL)
    np.testing.assert_allclose(device_runs[f"{tag}/val_loss"], history.history["val_loss"], **TOL)
    np.testing.assert_allclose(device_runs[f"{tag}/predict"], model.predict(x[:37], batch_size=16), **TOL)


@pytest.mark.parametrize("count", [1, 2, 4, 8])
def test_batch_statistics_are_the_global_batchs_on_n_devices(device_runs, count):
    # Batches of 30 over 4 or 8 devices are padded to 32: the padding rows stay out of the statistics.
    x, y = make_data()
    model = build_bn_model()
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=EPOCHS, batch_size=BATCH, verbose=0, seed=0)
    want = {**_flat(model.params), **_flat(model.state)}
    assert {k for k in want if "moving" in k} == {"batch_normalization/moving_mean", "batch_normalization/moving_variance"}
    for key, value in want.items():
        np.testing.assert_allclose(device_runs[f"bn{count}/variables/{key}"], value, err_msg=f"{count} devices: {key}",
                                   **TOL)
    np.testing.assert_allclose(device_runs[f"bn{count}/loss"], history.history["loss"], **TOL)
    np.testing.assert_allclose(device_runs[f"bn{count}/predict"], model.predict(x[:37], batch_size=16), **TOL)


@pytest.mark.parametrize("count", [4])
def test_a_convnet_on_n_devices_matches_one_device(device_runs, count):
    x, y = make_data()
    model = build_conv_model()
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=EPOCHS, batch_size=BATCH, verbose=0, seed=0)
    for key, value in _flat(model.params).items():
        np.testing.assert_allclose(device_runs[f"conv{count}/params/{key}"], value, err_msg=f"{count} devices: {key}",
                                   **TOL)
    np.testing.assert_allclose(device_runs[f"conv{count}/loss"], history.history["loss"], **TOL)


def test_shard_params_splits_the_kernels_and_replicates_by_default(device_runs):
    assert "'batch'" in str(device_runs["4s/kernel_spec"])  # (20, 32) kernel: split along the 32 units
    assert "batch" not in str(device_runs["4/kernel_spec"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_on_loopback_train_as_one_and_write_one_checkpoint(tmp_path):
    port, count = _free_port(), 2
    procs = [
        subprocess.Popen([sys.executable, str(WORKER), "process", str(tmp_path), str(port), str(i), str(count)],
                         env=_env(2), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(count)
    ]
    try:
        outputs = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            p.kill()
    for p, (_, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-4000:]

    x, y = make_data()
    model, history = _reference(x, y)
    for i in range(count):
        run = np.load(tmp_path / f"process-{i}.npz")
        assert int(run["devices"]) == 4  # two processes of two devices each: one mesh of four
        np.testing.assert_allclose(run["loss"], history.history["loss"], **TOL)
        for key, want in _flat(model.params).items():
            np.testing.assert_allclose(run[key], want, err_msg=f"process {i}: {key}", **TOL)

    # Written once per epoch (by process 0), complete, and readable by this one-device process.
    assert sorted(f.name for f in tmp_path.glob("ckpt-*.npz")) == [f"ckpt-{e}.npz" for e in range(1, EPOCHS + 1)]
    assert not list(tmp_path.glob(".tmp-*"))
    restored = build_model()
    restored.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    assert restored.load_checkpoint(tmp_path / f"ckpt-{EPOCHS}.npz") == EPOCHS
    for key, want in _flat(model.params).items():
        np.testing.assert_allclose(_flat(restored.params)[key], want, **TOL)


# ---------------------------------------------------------------------- in this process (one device)
def test_a_one_device_data_parallel_run_is_the_plain_run():
    x, y = make_data()
    model, _ = _reference(x, y)
    dp_model = build_model()
    dp_model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"],
                     distribution=distribution.DataParallel())
    dp_model.fit(x, y, epochs=EPOCHS, batch_size=BATCH, verbose=0, seed=0)
    for key, want in _flat(model.params).items():
        np.testing.assert_array_equal(_flat(dp_model.params)[key], want)


def test_functional_loop_and_hand_written_step_with_a_distribution():
    x, y = make_data()
    model = build_model()
    opt = optimizers.sgd(0.1)
    dp = distribution.DataParallel()
    epoch = training.make_train_epoch(model.apply, losses.categorical_crossentropy, opt, batch_size=BATCH,
                                      distribution=dp)
    plain = training.make_train_epoch(model.apply, losses.categorical_crossentropy, opt, batch_size=BATCH)
    state = training.TrainState.create(model.init(jax.random.key(0)), opt, jax.random.key(1))
    got, _ = epoch(dp.put_state(state), dp.put_data(x), dp.put_data(y), 0)
    want, _ = plain(state, x, y, 0)
    chex_close = lambda a, b: np.testing.assert_allclose(np.asarray(a), np.asarray(b), **TOL)  # noqa: E731
    jax.tree.map(chex_close, got.params, want.params)

    # The pure style: replicated params, a batch split with shard_batch, a plain jax.jit step.
    @jax.jit
    def loss(params, xb, yb):
        return losses.categorical_crossentropy(yb, model.apply(params, xb)).mean()

    params = model.init(jax.random.key(0))
    batch = dp.shard_batch(x[:32]), dp.shard_batch(y[:32])
    assert batch[0].sharding == dp.batch_sharding
    np.testing.assert_allclose(loss(dp.put_state(params), *batch), loss(params, x[:32], y[:32]), rtol=1e-6)


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match="list of jax devices"):
        distribution.DataParallel(devices="cpu")
    with pytest.raises(TypeError, match="not a jax.Device"):
        distribution.DataParallel(devices=[0, 1])
    with pytest.raises(ValueError, match="more than once"):
        distribution.DataParallel(devices=[jax.devices()[0]] * 2)
    with pytest.raises(ValueError, match="min_shard_size"):
        distribution.DataParallel(min_shard_size=0)
    with pytest.raises(ValueError, match="num_processes"):
        distribution.initialize("127.0.0.1:1", num_processes=0, process_id=0)
    with pytest.raises(ValueError, match="process_id"):
        distribution.initialize("127.0.0.1:1", num_processes=2, process_id=2)
    model = build_model()
    with pytest.raises(TypeError, match="DataParallel"):
        model.compile(optimizer="sgd", loss="mse", distribution="data_parallel")


def test_param_sharding_rules():
    dp = distribution.DataParallel(shard_params=True, min_shard_size=4)
    assert dp.padded_batch_size(30) == 30
    assert dp.param_sharding(jnp.zeros((8, 16))).spec == jax.sharding.PartitionSpec(None, "batch")  # the largest axis
    assert dp.param_sharding(jnp.zeros((3,))) == dp.replicated  # below min_shard_size
    assert distribution.DataParallel().param_sharding(jnp.zeros((1024, 1024))) == distribution.DataParallel().replicated
    assert distribution.DataParallel() == distribution.DataParallel()
    assert distribution.DataParallel() != dp and hash(distribution.DataParallel()) == hash(distribution.DataParallel())
