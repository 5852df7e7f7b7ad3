"""The Keras-style front: compile / fit / evaluate / predict, as the book uses them."""
import logging

import jax
import numpy as np
import pytest

from funcnet import callbacks, layers, metrics, models, optimizers


def _classifier(units=8, classes=3, features=5, dropout=0.0):
    stack = [layers.Dense(units, activation="relu", input_shape=(features,))]
    if dropout:
        stack.append(layers.Dropout(dropout))
    stack.append(layers.Dense(classes, activation="softmax"))
    return models.Sequential(stack)


def _data(n=64, classes=3, features=5, seed=0):
    rs = np.random.default_rng(seed)
    x = rs.normal(size=(n, features)).astype(np.float32)
    labels = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5).astype(int)
    return x, np.eye(classes, dtype=np.float32)[labels % classes], labels % classes


def _tree_equal(a, b):
    return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_fit_learns_and_reports_history_like_keras():
    x, y, _ = _data(n=256)
    model = _classifier(units=32)
    model.compile(optimizer=optimizers.rmsprop(0.01), loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=8, batch_size=16, verbose=0)
    assert list(history.history) == ["loss", "accuracy"]
    assert history.epoch == list(range(8))
    assert history.history["loss"][-1] < 0.6 * history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.85
    loss, acc = model.evaluate(x, y, verbose=0)
    assert acc > 0.85 and loss < history.history["loss"][0]
    np.testing.assert_allclose(model.predict(x, verbose=0), model.apply(model.params, x), rtol=1e-5, atol=1e-7)
    assert isinstance(model.predict(x, verbose=0), np.ndarray)


def test_same_seed_same_history_and_params_bit_for_bit():
    x, y, _ = _data(n=100)
    runs = []
    for _ in range(2):
        model = _classifier(dropout=0.3)
        model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
        runs.append((model.fit(x, y, epochs=3, batch_size=7, verbose=0, seed=11).history, model.params))
    assert runs[0][0] == runs[1][0]
    assert _tree_equal(runs[0][1], runs[1][1])
    other = _classifier(dropout=0.3)
    other.compile(optimizer="adam", loss="categorical_crossentropy")
    other.fit(x, y, epochs=3, batch_size=7, verbose=0, seed=12)
    assert not _tree_equal(other.params, runs[0][1])


@pytest.mark.parametrize("batch_size", [1, 7, 64, 1000])
def test_batch_sizes_from_true_sgd_to_whole_batch(batch_size):
    x, y, _ = _data(n=64)
    model = _classifier()
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    history = model.fit(x, y, epochs=2, batch_size=batch_size, verbose=0)
    assert len(history.history["loss"]) == 2 and np.all(np.isfinite(history.history["loss"]))
    assert int(model._session.step) == 2 * -(-64 // batch_size)


def test_sparse_labels_and_accuracy_resolution():
    x, _, labels = _data(n=128)
    model = _classifier(units=32)
    model.compile(optimizer=optimizers.adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, labels, epochs=5, batch_size=16, verbose=0)
    assert history.history["accuracy"][-1] > 0.8
    _, acc = model.evaluate(x, labels, verbose=0)
    assert acc == pytest.approx(float(np.mean(model.predict(x, verbose=0).argmax(-1) == labels)), abs=1e-6)


def test_binary_labels_of_shape_n_are_expanded_for_an_n_by_1_output():
    x, _, labels = _data(n=64)
    y = (labels > 0).astype(np.float32)  # shape (64,)
    model = models.Sequential([layers.Dense(8, activation="relu", input_shape=(5,)), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    loss, acc = model.evaluate(x, y, verbose=0)
    assert 0.0 <= acc <= 1.0 and np.isfinite(loss)


def test_validation_data_and_validation_split():
    x, y, _ = _data(n=100)
    model = _classifier()
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=2, batch_size=10, validation_split=0.2, verbose=0)
    assert list(history.history) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    # The split is the last 20 samples, taken before shuffling.
    val_loss, val_acc = model.evaluate(x[80:], y[80:], batch_size=10, verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(val_loss, rel=1e-6)
    assert history.history["val_accuracy"][-1] == pytest.approx(val_acc, rel=1e-6)
    history = model.fit(x[:80], y[:80], epochs=1, batch_size=10, validation_data=(x[80:], y[80:]), verbose=0)
    assert "val_loss" in history.history


def test_params_assignment_and_compile_keep_params_but_reset_optimizer():
    x, y, _ = _data()
    model = _classifier()
    assert model.params is None
    start = model.init(jax.random.key(42))
    model.params = start
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    trained = model.params
    assert not _tree_equal(trained, start)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    assert model.params is trained and model._session.opt_state is None


def test_fit_initialises_params_from_the_seed_when_none():
    x, y, _ = _data()
    model = _classifier()
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    model.fit(x, y, epochs=0, verbose=0, seed=3)
    assert _tree_equal(model.params, _classifier().init(jax.random.key(3)))


def test_fit_compiles_once_across_epochs_and_calls(caplog):
    x, y, _ = _data()
    model = _classifier()
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=1, batch_size=16, validation_data=(x, y), verbose=0)  # warms every program
    with jax.log_compiles(True), caplog.at_level(logging.WARNING, logger="jax"):
        caplog.clear()
        model.fit(x, y, epochs=3, batch_size=16, validation_data=(x, y), verbose=0)
        model.fit(x, y, epochs=2, batch_size=16, validation_data=(x, y), verbose=0)
    compiles = [r.getMessage() for r in caplog.records if "Compiling" in r.getMessage()]
    assert compiles == [], compiles


def test_verbose_modes(capsys):
    x, y, _ = _data()
    model = _classifier()
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert capsys.readouterr().out == ""
    model.fit(x, y, epochs=2, batch_size=8, verbose=2)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[0].startswith("Epoch 1/2") and "loss: " in out[0] and "accuracy: " in out[0]
    model.fit(x, y, epochs=1, batch_size=8, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch 1/1" in out and "8/8" in out and "loss: " in out


def test_terminate_on_nan_stops_and_records_the_epoch():
    x, y, _ = _data(n=32)
    model = models.Sequential([layers.Dense(3, activation="softmax", input_shape=(5,))])
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    model.params = jax.tree.map(lambda p: p * 1e30, model.init(jax.random.key(0)))
    history = model.fit(x * 1e10, y, epochs=5, batch_size=8, verbose=0, callbacks=[callbacks.TerminateOnNaN()])
    assert len(history.history["loss"]) == 1 and not np.isfinite(history.history["loss"][0])
    assert int(model._session.step) == 1  # stopped after the first batch


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda m, x, y: m.fit(x, y[:-1], verbose=0), ValueError, "64 samples but y has 63"),
        (lambda m, x, y: m.fit(x[:, :4], y, verbose=0), ValueError, r"\(None, 5\).*\(64, 4\)"),  # the user's shape
        (lambda m, x, y: m.fit(x, y.argmax(-1), verbose=0), ValueError, "sparse_categorical_crossentropy"),
        (lambda m, x, y: m.fit(np.where(x > 1, np.nan, x), y, verbose=0), ValueError, "NaN"),
        (lambda m, x, y: m.fit(x, y, batch_size=0, verbose=0), ValueError, "batch_size"),
        (lambda m, x, y: m.fit(x, y, batch_size=-3, verbose=0), ValueError, "batch_size"),
        (lambda m, x, y: m.fit(x, y, epochs=-1, verbose=0), ValueError, "epochs"),
        (lambda m, x, y: m.fit(x, y, verbose=3), ValueError, "verbose"),
        (lambda m, x, y: m.fit(x, y, validation_split=1.5, verbose=0), ValueError, "validation_split"),
        (lambda m, x, y: m.fit(x, y, validation_data=(x,), verbose=0), ValueError, "validation_data"),
        (lambda m, x, y: m.fit("pixels", y, verbose=0), TypeError, "real numbers"),
        (lambda m, x, y: m.evaluate(x, y[:10], verbose=0), ValueError, "64 samples but y has 10"),
        (lambda m, x, y: m.predict(x[:, :3], verbose=0), ValueError, r"\(None, 5\)"),
        (lambda m, x, y: m.fit(x, y, callbacks=[print], verbose=0), TypeError, "Callback"),
    ],
)
def test_bad_input_gets_a_clear_error_before_any_compile(call, error, words):
    x, y, _ = _data()
    model = _classifier()
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    model.params = model.init(jax.random.key(0))
    with pytest.raises(error, match=words):
        call(model, x, y)


def test_sparse_labels_out_of_range_are_rejected():
    x, _, labels = _data()
    model = _classifier()
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        model.fit(x, labels + 1, verbose=0)


def test_compile_errors():
    model = _classifier()
    with pytest.raises(ValueError, match="Unknown optimizer"):
        model.compile(optimizer="adamm", loss="mse")
    with pytest.raises(ValueError, match="unknown loss"):
        model.compile(optimizer="sgd", loss="crossentropy_of_doom")
    with pytest.raises(ValueError, match="unknown metric|Valid"):
        model.compile(optimizer="sgd", loss="mse", metrics=["accuracy", "f1_of_doom"])
    with pytest.raises(TypeError, match="list"):
        model.compile(optimizer="sgd", loss="mse", metrics="accuracy")
    with pytest.raises(ValueError, match="loss"):
        model.compile(optimizer="sgd")
    with pytest.raises(RuntimeError, match="compile"):
        _classifier().fit(*_data()[:2], verbose=0)
    with pytest.raises(RuntimeError, match="params"):
        _classifier().predict(_data()[0])


def test_metric_objects_and_functions_in_compile():
    x, _, labels = _data(n=96)
    model = _classifier(units=16)
    model.compile(
        optimizer="adam",
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy", metrics.SparseTopKCategoricalAccuracy(k=2, name="top2")],
    )
    history = model.fit(x, labels, epochs=2, batch_size=32, verbose=0)
    assert list(history.history) == ["loss", "accuracy", "top2"]
    assert all(a <= t + 1e-6 for a, t in zip(history.history["accuracy"], history.history["top2"]))


def test_functional_model_with_two_inputs_fits():
    a, b = layers.Input(shape=(5,)), layers.Input(shape=(2,))
    h = layers.Dense(8, activation="relu")(a)
    out = layers.Dense(3, activation="softmax")(layers.Concatenate()([h, b]))
    model = models.Model(inputs=[a, b], outputs=out)
    x, y, _ = _data()
    extra = np.zeros((64, 2), np.float32)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit([x, extra], y, epochs=2, batch_size=16, verbose=0)
    assert len(history.history["loss"]) == 2
    assert model.predict([x, extra], verbose=0).shape == (64, 3)


def test_a_second_model_of_the_same_structure_compiles_nothing(caplog):
    """K-fold validation builds a fresh model per fold: each reuses the first one's programs."""
    x, y, _ = _data()
    first = _classifier()
    first.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    first.fit(x, y, epochs=1, batch_size=16, validation_data=(x, y), verbose=0)
    first.predict(x, verbose=0)
    second = _classifier()
    second.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    second.params = second.init(jax.random.key(1))  # init itself is eager JAX, outside fit
    with jax.log_compiles(True), caplog.at_level(logging.WARNING, logger="jax"):
        caplog.clear()
        second.fit(x, y, epochs=2, batch_size=16, validation_data=(x, y), verbose=0)
        second.predict(x, verbose=0)
    compiles = [r.getMessage() for r in caplog.records if "Compiling" in r.getMessage()]
    assert compiles == [], compiles


def test_programs_are_not_shared_across_different_structures_or_a_later_add():
    x, y, _ = _data()
    a = _classifier(units=8)
    a.compile(optimizer="sgd", loss="categorical_crossentropy")
    a.fit(x, y, epochs=1, verbose=0)
    b = _classifier(units=8)
    b.compile(optimizer="sgd", loss="categorical_crossentropy")
    b.fit(x, y, epochs=1, verbose=0)
    # Growing `a` after it trained must not change what `b`'s (shared) programs compute.
    a.pop()
    a.add(layers.Dense(3, activation="sigmoid"))
    np.testing.assert_allclose(b.predict(x, verbose=0), b.apply(b.params, x), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(b.predict(x, verbose=0).sum(-1), 1.0, rtol=1e-5)  # still softmax


def test_optimizer_objects_with_equal_hyper_parameters_share_programs(caplog):
    """`compile(optimizer=optimizers.rmsprop(1e-3))` in every fold compiles once; another rate compiles anew."""
    x, y, _ = _data()
    first = _classifier()
    first.compile(optimizer=optimizers.rmsprop(1e-3), loss="categorical_crossentropy")
    first.fit(x, y, epochs=1, batch_size=16, verbose=0)
    second, third = _classifier(), _classifier()
    second.compile(optimizer=optimizers.rmsprop(1e-3), loss="categorical_crossentropy")
    third.compile(optimizer=optimizers.rmsprop(2e-3), loss="categorical_crossentropy")
    for model in (second, third):
        model.params = model.init(jax.random.key(1))
    with jax.log_compiles(True), caplog.at_level(logging.WARNING, logger="jax"):
        caplog.clear()
        second.fit(x, y, epochs=1, batch_size=16, verbose=0)
        assert [r for r in caplog.records if "Compiling" in r.getMessage()] == []
        third.fit(x, y, epochs=1, batch_size=16, verbose=0)
        assert [r for r in caplog.records if "Compiling" in r.getMessage()] != []


# ---------------------------------------------------------------------- the first epoch's programs
def _start_of_fit(model, x, y, seed):
    """The params and state `fit` starts from: fit with a learning rate of 0 changes nothing."""
    model.compile(optimizer=optimizers.sgd(0.0), loss="categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=32, verbose=0, seed=seed)
    return model.params, model.state


@pytest.mark.parametrize("build,features", [
    (lambda: models.Sequential([layers.Dense(7, activation="relu"), layers.BatchNormalization(),
                                layers.Dense(3, activation="softmax", kernel_initializer="he_normal")]), (5,)),
    (lambda: models.Sequential([layers.Conv2D(4, 3, activation="relu"), layers.Flatten(),
                                layers.Dense(3, activation="softmax", kernel_initializer="lecun_uniform")]), (6, 6, 2)),
    (lambda: models.Sequential([layers.Embedding(9, 4), layers.LSTM(5), layers.Dense(3, activation="softmax")]), (7,)),
])
def test_fit_starts_from_init_with_state_of_its_seed(build, features):
    # fit draws every weight in one compiled program; the numbers are init_with_state's, eager, exactly.
    rs = np.random.default_rng(0)
    x = rs.integers(0, 9, size=(40, *features)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rs.integers(0, 3, 40)]
    params, state = _start_of_fit(build(), x, y, seed=5)
    expected_params, expected_state = build().init_with_state(jax.random.key(5), features)
    assert _tree_equal(params, expected_params) and jax.tree.structure(params) == jax.tree.structure(expected_params)
    assert jax.tree.structure(state) == jax.tree.structure(expected_state)  # (moving statistics move at rate 0)


def test_models_differing_only_in_initializers_do_not_share_the_init_program():
    x, y, _ = _data()
    starts = []
    for init in ("glorot_uniform", "zeros", "glorot_uniform", {"class_name": "RandomUniform",
                                                               "config": {"minval": 0.5, "maxval": 0.6}}):
        model = models.Sequential([layers.Dense(8, input_shape=(5,), kernel_initializer=init),
                                   layers.Dense(3, activation="softmax")])
        starts.append(_start_of_fit(model, x, y, seed=0)[0]["dense"]["kernel"])
    assert np.all(np.asarray(starts[1]) == 0) and np.all(np.asarray(starts[3]) >= 0.5)
    np.testing.assert_array_equal(starts[0], starts[2])
    assert not np.array_equal(starts[0], starts[1])
