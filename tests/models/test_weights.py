"""funcnet.models._weights: layer names, get_weights / set_weights in Keras's order, checked against Keras 3."""
import jax
import keras
import numpy as np
import pytest

from funcnet import layers, models

RS = np.random.default_rng(0)


def _pair(stack):
    """The same architecture built by funcnet and by Keras (numpy backend): `stack(layers_module)`."""
    return models.Sequential(stack(layers)), keras.Sequential(stack(keras.layers))


ARCHITECTURES = {
    "dense_bn": (lambda L: [L.Input(shape=(6,)), L.Dense(5, activation="relu"), L.BatchNormalization(),
                            L.Dense(3, activation="softmax")], (6,), np.float32),
    "conv": (lambda L: [L.Input(shape=(8, 8, 2)), L.Conv2D(4, 3, activation="relu"), L.MaxPooling2D(),
                        L.Flatten(), L.Dense(3)], (8, 8, 2), np.float32),
    "lstm": (lambda L: [L.Input(shape=(7,), dtype="int32"), L.Embedding(20, 4), L.LSTM(5, return_sequences=True),
                        L.Bidirectional(L.GRU(3)), L.Dense(2)], (7,), np.int32),
}


def _sample(shape, dtype):
    return RS.integers(0, 20, (9, *shape)).astype(dtype) if dtype == np.int32 else RS.normal(size=(9, *shape)).astype(dtype)


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_weights_move_to_an_equal_keras_model_and_back(name):
    stack, shape, dtype = ARCHITECTURES[name]
    ours, theirs = _pair(stack)
    params, state = ours.init_with_state(jax.random.key(1))
    ours.params = jax.tree.map(lambda a: (0.3 * RS.normal(size=a.shape)).astype(np.float32), params)
    ours.state = jax.tree.map(lambda a: (0.5 + np.abs(RS.normal(size=a.shape))).astype(np.float32), state)
    weights = ours.get_weights()
    assert [w.shape for w in weights] == [tuple(w.shape) for w in theirs.get_weights()]
    theirs.set_weights(weights)
    x = _sample(shape, dtype)
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    # ... and back: Keras's own weights into a fresh funcnet model
    keras_weights = [w * 0.5 for w in theirs.get_weights()]
    theirs.set_weights(keras_weights)
    fresh = models.Sequential(stack(layers))
    fresh.set_weights(keras_weights)
    np.testing.assert_allclose(fresh.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    for a, b in zip(fresh.get_weights(), keras_weights):
        np.testing.assert_array_equal(a, b)


def test_layers_carry_the_names_their_params_are_keyed_by():
    model = models.Sequential([layers.Dense(4, input_shape=(3,)), layers.Dropout(0.1), layers.Dense(2),
                               layers.Dense(2, name="head")])
    assert [layer.name for layer in model.layers] == ["dense", "dropout", "dense_1", "head"]
    assert model.get_layer("dense_1") is model.layers[2]
    assert sorted(model.init(jax.random.key(0))) == ["dense", "dense_1", "head"]
    a = layers.Input(shape=(5,))
    b = layers.Input(shape=(2,))
    h = layers.Dense(3)(a)
    functional = models.Model([a, b], layers.Dense(4)(layers.Concatenate()([h, b])))
    assert [layer.name for layer in functional.layers] == ["dense", "concatenate", "dense_1"]
    assert [t.shape for t in functional.inputs] == [(None, 5), (None, 2)]
    assert [t.shape for t in functional.outputs] == [(None, 4)] and functional.output_shape == (None, 4)
    assert model.output_shape == (None, 2) and [t.shape for t in model.inputs] == [(None, 3)]
    with pytest.raises(ValueError, match="no declared input"):
        models.Sequential([layers.Dense(2)]).inputs


def test_a_layer_reads_and_writes_its_weights_in_its_model_also_when_nested():
    block = models.Sequential([layers.Dense(4, input_shape=(3,)), layers.BatchNormalization()], name="block")
    outer = models.Sequential([block, layers.Dense(2)])
    outer.params, outer.state = outer.init_with_state(jax.random.key(0))
    bn = block.layers[1]
    assert [w.shape for w in bn.get_weights()] == [(4,)] * 4
    np.testing.assert_array_equal(bn.get_weights()[3], outer.state["block"]["batch_normalization"]["moving_variance"])
    bn.set_weights([np.full(4, v, np.float32) for v in (2.0, 3.0, 4.0, 5.0)])
    assert float(outer.params["block"]["batch_normalization"]["gamma"][0]) == 2.0
    assert float(outer.state["block"]["batch_normalization"]["moving_variance"][0]) == 5.0
    assert len(outer.get_weights()) == 8
    with pytest.raises(ValueError, match=r"weight 1 \(dense/bias\) has shape \(2,\)"):
        outer.layers[1].set_weights([np.zeros((4, 2)), np.zeros(3)])
    with pytest.raises(ValueError, match="has 2 weight"):
        outer.layers[1].set_weights([np.zeros((4, 2))])
    with pytest.raises(ValueError, match="holds no weights of its own"):
        layers.Dense(3).get_weights()
    with pytest.raises(RuntimeError, match="needs params"):
        models.Sequential([layers.Dense(2, input_shape=(3,))]).get_weights()
