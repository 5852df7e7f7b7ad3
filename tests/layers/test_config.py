"""funcnet.layers._config: every layer's config in Keras 3's schema, read and written both ways."""
import jax
import keras
import numpy as np
import pytest

from funcnet import initializers, layers
from funcnet.layers._config import builtin_layers, deserialize_layer, serialize_layer
from tests._shared import Scale

K = keras.layers

# One (funcnet, Keras) pair of each built-in layer, with non-default arguments where it has some.
PAIRS = {
    "Dense": (lambda L: L.Dense(3, activation="relu", use_bias=False, kernel_initializer="he_normal")),
    "Activation": (lambda L: L.Activation("softmax")),
    "Dropout": (lambda L: L.Dropout(0.3, noise_shape=(None, 1, 4))),
    "Flatten": (lambda L: L.Flatten()),
    "Reshape": (lambda L: L.Reshape((2, -1))),
    "Masking": (lambda L: L.Masking(mask_value=-1.0)),
    "Conv1D": (lambda L: L.Conv1D(4, 3, padding="causal", dilation_rate=2)),
    "Conv2D": (lambda L: L.Conv2D(4, (3, 2), strides=2, padding="same", groups=2, activation="relu")),
    "MaxPooling1D": (lambda L: L.MaxPooling1D(3, strides=2)),
    "MaxPooling2D": (lambda L: L.MaxPooling2D((2, 3), padding="same")),
    "AveragePooling1D": (lambda L: L.AveragePooling1D(2)),
    "AveragePooling2D": (lambda L: L.AveragePooling2D(3, 1, "same")),
    "GlobalMaxPooling1D": (lambda L: L.GlobalMaxPooling1D(keepdims=True)),
    "GlobalMaxPooling2D": (lambda L: L.GlobalMaxPooling2D()),
    "GlobalAveragePooling1D": (lambda L: L.GlobalAveragePooling1D()),
    "GlobalAveragePooling2D": (lambda L: L.GlobalAveragePooling2D(keepdims=True)),
    "BatchNormalization": (lambda L: L.BatchNormalization(momentum=0.9, epsilon=1e-5, center=False)),
    "LayerNormalization": (lambda L: L.LayerNormalization(axis=[1, 2], scale=False)),
    "Embedding": (lambda L: L.Embedding(100, 8, mask_zero=True, embeddings_initializer="normal")),
    "SimpleRNN": (lambda L: L.SimpleRNN(4, activation="relu", return_sequences=True, go_backwards=True)),
    "LSTM": (lambda L: L.LSTM(4, dropout=0.1, recurrent_dropout=0.2, return_state=True, unit_forget_bias=False)),
    "GRU": (lambda L: L.GRU(4, reset_after=False, recurrent_activation="hard_sigmoid")),
    "Bidirectional": (lambda L: L.Bidirectional(L.LSTM(3, return_sequences=True), merge_mode="ave")),
    "Concatenate": (lambda L: L.Concatenate(axis=1)),
    "Add": (lambda L: L.Add()),
    "Subtract": (lambda L: L.Subtract()),
    "Multiply": (lambda L: L.Multiply()),
    "Average": (lambda L: L.Average()),
    "Maximum": (lambda L: L.Maximum()),
    "Minimum": (lambda L: L.Minimum()),
}


def _comparable(config):
    """A config without the entries that name objects rather than describe them."""
    if isinstance(config, dict):
        return {k: _comparable(v) for k, v in config.items()
                if k not in ("shared_object_id", "name", "registered_name", "module")}
    if isinstance(config, (list, tuple)):
        return [_comparable(v) for v in config]
    return config


def test_every_builtin_layer_is_covered():
    """A layer added later must join PAIRS, so it is saved in Keras's schema like the others."""
    assert set(builtin_layers()) - {"InputLayer"} == set(PAIRS)


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_config_round_trips_through_keras_both_ways(name):
    ours, ref = PAIRS[name](layers), PAIRS[name](K)
    entry = serialize_layer(ours)
    assert entry["module"] == "keras.layers" and entry["class_name"] == name
    # Keras builds the layer funcnet describes ...
    assert _comparable(keras.layers.deserialize(entry).get_config()) == _comparable(ref.get_config())
    # ... funcnet builds the layer Keras describes ...
    back = deserialize_layer(keras.layers.serialize(ref))
    assert type(back) is type(ours)
    assert _comparable(back.get_config()) == _comparable(ours.get_config())
    # ... and its own config gives the same computation.
    again = type(ours).from_config(ours.get_config())
    assert again.structure_key() == ours.structure_key()


def test_initializers_keep_their_hyper_parameters():
    init = initializers.random_uniform(-0.2, 0.3)
    config = initializers.keras_config(init)
    assert config == {"class_name": "RandomUniform", "config": {"minval": -0.2, "maxval": 0.3, "seed": None}}
    rebuilt = initializers.get(config)
    key = jax.random.key(0)
    np.testing.assert_array_equal(rebuilt(key, (3, 4)), init(key, (3, 4)))
    assert initializers.keras_config(lambda key, shape, dtype=None: None) is None
    with pytest.raises(ValueError, match="'TruncatedNormal' is not supported"):
        initializers.get({"class_name": "TruncatedNormal", "config": {}})


@pytest.mark.parametrize("keras_layer,words", [
    (K.Dense(3, kernel_regularizer="l2"), "kernel_regularizer"),
    (K.Conv2D(2, 3, data_format="channels_first"), "channels_last only"),
    (K.BatchNormalization(renorm=True), "renorm=True"),
    (K.LSTM(3, stateful=True), "stateful=True"),
])
def test_settings_funcnet_cannot_honour_are_refused_by_name(keras_layer, words):
    with pytest.raises(ValueError, match=words):
        deserialize_layer(keras.layers.serialize(keras_layer))


def test_only_builtin_or_given_classes_are_built():
    entry = serialize_layer(Scale(3.0))
    assert entry["registered_name"] == "Scale" and entry["config"]["factor"] == 3.0
    with pytest.raises(ValueError, match=r"unknown layer class 'Scale'.*custom_objects.*Nothing named in a file is imported"):
        deserialize_layer(entry)
    assert deserialize_layer(entry, {"Scale": Scale}).factor == 3.0
    forged = {"module": "os", "class_name": "system", "config": {"command": "echo hi"}}
    with pytest.raises(ValueError, match="unknown layer class 'system'"):
        deserialize_layer(forged)


def test_a_user_function_cannot_be_named_in_a_config():
    with pytest.raises(ValueError, match="function of your own"):
        layers.Dense(3, activation=lambda x: x * 2).get_config()


def test_input_layer_config_is_keras_s():
    x = layers.Input((5, 3), dtype="int32", name="ids")
    config = x.node.layer.get_config()
    assert config["batch_shape"] == [None, 5, 3] and config["dtype"] == "int32" and config["name"] == "ids"
    back = layers.InputLayer.from_config(keras.layers.InputLayer(shape=(5, 3), dtype="int32", name="ids").get_config())
    assert back.input_shape == (5, 3) and back.dtype == "int32" and back.name == "ids"
