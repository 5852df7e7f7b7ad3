"""`trainable`: frozen layers and nested models keep their params (and a BatchNormalization its statistics)
through `fit`, the optimizer keeps no state for them, and summaries, `.keras` files and Keras agree."""
import jax
import keras
import numpy as np
import pytest

from funcnet import layers, models, optimizers

RS = np.random.default_rng(0)
X = RS.normal(size=(64, 5)).astype(np.float32)
Y = np.eye(3, dtype=np.float32)[RS.integers(0, 3, 64)]


def _equal(a, b) -> bool:
    return all(np.array_equal(u, v) for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def _transfer_model(L, sequential=models.Sequential):
    base = sequential([L.Input(shape=(5,)), L.Dense(8, activation="relu"), L.BatchNormalization()], name="base")
    return base, sequential([base, L.Dense(3, activation="softmax")])


def test_a_frozen_base_model_keeps_its_params_and_statistics_through_fit():
    base, model = _transfer_model(layers)
    base.trainable = False
    assert [layer.trainable for layer in base.layers] == [False, False] and model.frozen_paths() == (("base",),)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.params, model.state = model.init_with_state(jax.random.key(0))
    start_params, start_state = model.params, model.state
    model.fit(X, Y, epochs=2, batch_size=16, verbose=0)
    assert _equal(model.params["base"], start_params["base"]) and _equal(model.state, start_state)
    assert not np.array_equal(model.params["dense"]["kernel"], start_params["dense"]["kernel"])
    # Adam's moments exist for the head's two weights only.
    moments = jax.tree.leaves(model._session.opt_state)
    assert sorted(a.shape for a in moments if a.ndim) == sorted([(3,), (8, 3)] * 2)


def test_freezing_takes_effect_at_the_next_compile_as_in_keras():
    model = models.Sequential([layers.Dense(4, input_shape=(5,)), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    model.params = start = model.init(jax.random.key(0))
    model.layers[0].trainable = False
    model.fit(X, Y, epochs=1, verbose=0)
    assert not np.array_equal(model.params["dense"]["kernel"], start["dense"]["kernel"])  # compiled before
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    trained = model.params
    model.fit(X, Y, epochs=1, verbose=0)
    assert _equal(model.params["dense"], trained["dense"])
    assert not np.array_equal(model.params["dense_1"]["kernel"], trained["dense_1"]["kernel"])


def test_a_frozen_batch_normalization_normalizes_with_its_moving_statistics_in_training():
    layer = layers.BatchNormalization()
    params, state = layer.init_with_state(jax.random.key(0), (5,))
    state = {"moving_mean": np.full(5, 0.5, np.float32), "moving_variance": np.full(5, 2.0, np.float32)}
    layer.trainable = False
    y_train, new_state = layer.apply_with_state(params, state, X, training=True)
    y_infer, _ = layer.apply_with_state(params, state, X, training=False)
    np.testing.assert_array_equal(y_train, y_infer)
    assert _equal(new_state, state)


def test_summary_counts_and_keras_agree():
    base, model = _transfer_model(layers)
    keras_base, keras_model = _transfer_model(keras.layers, keras.Sequential)
    base.trainable = keras_base.trainable = False
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    trainable = sum(int(np.prod(w.shape)) for w in keras_model.trainable_weights)
    non_trainable = sum(int(np.prod(w.shape)) for w in keras_model.non_trainable_weights)
    assert (trainable, non_trainable) == (27, 80)
    assert f"Trainable params: {trainable:,}" in text and f"Non-trainable params: {non_trainable:,}" in text


def test_a_frozen_model_saved_opens_frozen_in_keras_and_back(tmp_path):
    base, model = _transfer_model(layers)
    base.trainable = False
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.fit(X, Y, epochs=1, batch_size=16, verbose=0)
    path = str(tmp_path / "frozen.keras")
    model.save(path)
    theirs = keras.saving.load_model(path)
    # (Keras itself, loading its own such file, keeps the inner layers' flags, not the nested model's.)
    assert [layer.trainable for layer in theirs.layers[0].layers] == [False, False]
    assert len(theirs.trainable_weights) == 2
    np.testing.assert_allclose(theirs.predict(X, verbose=0), model.predict(X, verbose=0), rtol=1e-5, atol=1e-6)
    # Keras's Adam keeps slots for the trainable weights only: iterations, learning rate, 2 x 2 moments.
    assert len(theirs.optimizer.variables) == 2 + 4
    again = models.load_model(path)
    assert again.frozen_paths() == (("base",),)
    assert _equal(again._session.opt_state, model._session.opt_state)
    params = again.params
    again.fit(X, Y, epochs=1, batch_size=16, verbose=0)
    assert _equal(again.params["base"], params["base"])


def test_trainable_takes_a_switch_only():
    with pytest.raises(TypeError, match=r"Dense 'x'.trainable must be True or False"):
        layers.Dense(2, name="x").trainable = "no"


def test_freeze_zeroes_frozen_updates_and_keeps_no_state_for_them():
    tx = optimizers.freeze(optimizers.adam(0.1), [("base",)])
    params = {"base": {"kernel": np.ones(2, np.float32)}, "head": {"kernel": np.ones(2, np.float32)}}
    state = tx.init(params)
    assert len([a for a in jax.tree.leaves(state) if np.ndim(a)]) == 2  # mu and nu of the head only
    updates, _ = tx.update(params, state, params)
    assert np.all(np.asarray(updates["base"]["kernel"]) == 0) and np.all(np.asarray(updates["head"]["kernel"]) < 0)
