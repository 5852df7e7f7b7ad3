"""fit / evaluate / predict, checkpoints and callbacks on a model with state (BatchNormalization)."""
import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet import callbacks, layers, losses, metrics, models, optimizers, training

WORKER = pathlib.Path(__file__).parents[1] / "_workers" / "keras_fit.py"


def _bn_mlp(units=8, features=5, classes=3, dropout=0.0):
    stack = [layers.Dense(units, input_shape=(features,)), layers.BatchNormalization(), layers.Activation("relu")]
    if dropout:
        stack.append(layers.Dropout(dropout))
    return models.Sequential([*stack, layers.Dense(classes, activation="softmax")])


def _data(n=50, features=5, classes=3, seed=0):
    rs = np.random.default_rng(seed)
    x = (rs.normal(size=(n, features)) * 3 + 2).astype(np.float32)
    labels = (x[:, 0] > 2).astype(int) + (x[:, 1] > 3).astype(int)
    return x, np.eye(classes, dtype=np.float32)[labels]


def _equal(a, b):
    return all(np.array_equal(u, v) for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def _compiled(model, **kwargs):
    model.compile(optimizer=kwargs.pop("optimizer", "rmsprop"), loss="categorical_crossentropy", metrics=["accuracy"],
                  **kwargs)
    return model


def test_fit_updates_the_state_and_evaluate_and_predict_use_it():
    x, y = _data(n=200)
    model = _compiled(_bn_mlp())
    assert model.state is None
    history = model.fit(x, y, epochs=6, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    moving = model.state["batch_normalization"]
    assert moving["moving_mean"].dtype == jnp.float32 and float(jnp.abs(moving["moving_mean"]).max()) > 0.1
    expected, same = model.apply_with_state(model.params, model.state, x)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    _, acc = model.evaluate(x, y, verbose=0)
    np.testing.assert_allclose(acc, np.mean(np.argmax(expected, -1) == np.argmax(y, -1)), rtol=1e-6)
    # The optimizer never sees the state.
    inner = model._session.opt_state.inner_state  # (fit keeps a named optimizer's rate beside it)
    assert "batch_normalization" in inner[0].nu and len(jax.tree.leaves(inner)) == 1 + len(jax.tree.leaves(model.params))


@pytest.fixture(scope="module")
def keras_fit_run(tmp_path_factory):
    """Keras 3 on JAX fits the same network from the same weights on the same data in the same order."""
    folder = tmp_path_factory.mktemp("keras_fit")
    x, y = _data(n=50)  # batches of 16: the last one holds 2 samples
    model = _bn_mlp()
    params, state = model.init_with_state(jax.random.key(5))
    weights = [params["dense"]["kernel"], params["dense"]["bias"], params["batch_normalization"]["gamma"],
               params["batch_normalization"]["beta"], state["batch_normalization"]["moving_mean"],
               state["batch_normalization"]["moving_variance"], params["dense_1"]["kernel"], params["dense_1"]["bias"]]
    np.savez(folder / "in.npz", x=x, y=y, batch_size=16, epochs=3, learning_rate=0.1,
             **{f"weights_{i}": np.asarray(w) for i, w in enumerate(weights)})
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    done = subprocess.run([sys.executable, str(WORKER), str(folder / "in.npz"), str(folder / "out.npz")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    trained = np.load(folder / "out.npz")
    return x, y, params, state, [trained[f"weights_{i}"] for i in range(len(weights))]


def test_fit_with_a_short_last_batch_matches_keras_fit_moving_statistics_included(keras_fit_run):
    x, y, params, state, keras_weights = keras_fit_run
    model = _bn_mlp()
    model.compile(optimizer=optimizers.sgd(0.1), loss="categorical_crossentropy")
    model.params, model.state = params, state
    model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    p, s = model.params, model.state["batch_normalization"]
    ours = [p["dense"]["kernel"], p["dense"]["bias"], p["batch_normalization"]["gamma"], p["batch_normalization"]["beta"],
            s["moving_mean"], s["moving_variance"], p["dense_1"]["kernel"], p["dense_1"]["bias"]]
    for name, got, want in zip(["kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance", "kernel_1",
                                "bias_1"], ours, keras_weights):
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6, err_msg=name)


def test_padding_rows_do_not_move_the_statistics():
    # 17 samples in batches of 16: the second batch is 1 real sample and 15 weight-0 copies of sample 0.
    x, y = _data(n=17)
    model = _compiled(_bn_mlp(), optimizer=optimizers.sgd(0.0))  # no learning: only the statistics move
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0, seed=0)
    params, state = model.init_with_state(jax.random.key(0))
    momentum = 0.99
    h = np.asarray(model.layers[0].apply(params["dense"], x))
    mean = state["batch_normalization"]["moving_mean"]
    for batch in (h[:16], h[16:]):
        mean = mean * momentum + batch.mean(0) * (1 - momentum)
    np.testing.assert_allclose(model.state["batch_normalization"]["moving_mean"], mean, rtol=1e-5, atol=1e-6)


def test_host_streamed_epochs_match_device_resident_ones_with_state():
    x, y = _data(n=90)
    device = _compiled(_bn_mlp(dropout=0.2))
    host = _compiled(_bn_mlp(dropout=0.2), steps_per_execution=2)
    h_device = device.fit(x, y, epochs=3, batch_size=16, verbose=0, validation_split=0.2)
    h_host = host.fit(x, y, epochs=3, batch_size=16, verbose=0, validation_split=0.2)
    for key in h_device.history:
        np.testing.assert_allclose(h_host.history[key], h_device.history[key], rtol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), host.state, device.state)
    np.testing.assert_allclose(host.predict(x, verbose=0), device.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_resume_from_a_checkpoint_is_bit_identical_with_state(tmp_path):
    x, y = _data(n=70)
    full = _compiled(_bn_mlp(dropout=0.3), optimizer="adam")
    full.fit(x, y, epochs=4, batch_size=16, verbose=0, seed=3)

    first = _compiled(_bn_mlp(dropout=0.3), optimizer="adam")
    first.fit(x, y, epochs=2, batch_size=16, verbose=0, seed=3,
              callbacks=[callbacks.ModelCheckpoint(str(tmp_path / "ckpt-{epoch}.npz"), monitor="loss")])
    resumed = _compiled(_bn_mlp(dropout=0.3), optimizer="adam")
    assert resumed.load_checkpoint(tmp_path / "ckpt-2.npz") == 2
    assert _equal(resumed.state, first.state)
    history = resumed.fit(x, y, epochs=4, batch_size=16, verbose=0, seed=3, initial_epoch=2)
    assert history.epoch == [2, 3]
    assert _equal(resumed.params, full.params)
    assert _equal(resumed.state, full.state)


def test_save_and_load_weights_carry_the_state(tmp_path):
    x, y = _data()
    model = _compiled(_bn_mlp())
    model.fit(x, y, epochs=2, verbose=0)
    model.save_weights(tmp_path / "w.npz")
    other = _compiled(_bn_mlp())
    other.load_weights(tmp_path / "w.npz")
    assert _equal(other.params, model.params) and _equal(other.state, model.state)
    np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))
    # A file of a model without state does not fit one with state.
    plain = models.Sequential([layers.Dense(8, input_shape=(5,)), layers.Dense(3, activation="softmax")])
    plain.params = plain.init(jax.random.key(0))
    plain.save_weights(tmp_path / "plain.npz")
    with pytest.raises(ValueError, match="does not match this model"):
        _bn_mlp().load_weights(tmp_path / "plain.npz")


def test_early_stopping_restores_the_best_epochs_state():
    x, y = _data(n=120)
    model = _compiled(_bn_mlp(), optimizer=optimizers.rmsprop(0.05))
    seen = []

    class Record(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append((self.model.params, self.model.state))

    stopper = callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    history = model.fit(x, y, epochs=30, batch_size=16, validation_split=0.25, verbose=0,
                        callbacks=[Record(), stopper])
    best = int(np.argmin(history.history["val_loss"]))
    assert stopper.best_epoch == best and len(history.epoch) < 30
    assert model.params is seen[best][0] and model.state is seen[best][1]
    assert not _equal(model.state, seen[-1][1])


def test_mixed_precision_keeps_the_state_in_float32():
    x, y = _data(n=120)
    mixed = _compiled(_bn_mlp(), dtype_policy="mixed_bfloat16")
    plain = _compiled(_bn_mlp())
    mixed.fit(x, y, epochs=3, batch_size=16, verbose=0)
    plain.fit(x, y, epochs=3, batch_size=16, verbose=0)
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves((mixed.params, mixed.state)))
    np.testing.assert_allclose(mixed.state["batch_normalization"]["moving_mean"],
                               plain.state["batch_normalization"]["moving_mean"], rtol=0.05, atol=0.05)
    assert mixed.predict(x, verbose=0).dtype == np.float32


def test_functional_loop_with_state_reproduces_fit():
    x, y = _data(n=60)
    reference = _compiled(_bn_mlp(dropout=0.25))
    reference.fit(x, y, epochs=3, batch_size=16, verbose=0, seed=0)

    model = _bn_mlp(dropout=0.25)
    optimizer = optimizers.rmsprop()
    accuracy = metrics.get("accuracy", loss="categorical_crossentropy")
    params, state = model.init_with_state(jax.random.key(0))
    train_state = training.TrainState.create(params, optimizer, rng=jax.random.key(0), model_state=state)
    epoch = training.make_train_epoch(model.apply_with_state, losses.categorical_crossentropy, optimizer, [accuracy],
                                      batch_size=16, with_state=True)
    for e in range(3):
        train_state, _ = epoch(train_state, x, y, e)
    assert _equal(train_state.params, reference.params) and _equal(train_state.model_state, reference.state)
    evaluate = training.make_evaluate(model.apply_with_state, losses.categorical_crossentropy, [accuracy],
                                      batch_size=16, with_state=True)
    logs = evaluate(train_state.params, x, y, model_state=train_state.model_state)
    np.testing.assert_allclose([logs["loss"], logs["accuracy"]], reference.evaluate(x, y, batch_size=16, verbose=0),
                               rtol=1e-6)
    predict = training.make_predict(model.apply_with_state, batch_size=16, with_state=True)
    np.testing.assert_allclose(predict(train_state.params, x, model_state=train_state.model_state),
                               reference.predict(x, verbose=0), rtol=1e-6)
