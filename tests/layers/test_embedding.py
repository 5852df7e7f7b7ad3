"""funcnet.layers.embedding: Embedding against Keras 3, its mask, and the id checks."""
import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

from funcnet import layers, models


def _ids(shape=(4, 9), high=50, seed=0):
    ids = np.random.default_rng(seed).integers(1, high, size=shape)
    ids[0, :3] = 0  # pre-padded
    ids[1, 6:] = 0  # post-padded
    return ids.astype(np.int32)


@pytest.mark.parametrize("mask_zero", [False, True])
def test_equals_keras_with_its_mask(mask_zero):
    ours = layers.Embedding(50, 6, mask_zero=mask_zero)
    params = ours.init(jax.random.key(0), (9,))
    assert params["embeddings"].shape == (50, 6)
    ref = keras.layers.Embedding(50, 6, mask_zero=mask_zero)
    ref.build((None, 9))
    ref.set_weights([np.asarray(params["embeddings"])])
    ids = _ids()
    np.testing.assert_array_equal(ours.apply(params, ids), ref(ids))
    want_mask = ref.compute_mask(ids)
    got_mask = ours.compute_mask(jnp.asarray(ids), None)
    if mask_zero:
        np.testing.assert_array_equal(got_mask, want_mask)
    else:
        assert got_mask is None and want_mask is None
    assert ours.compute_output_shape((None, 9)) == (None, 9, 6)


def test_default_initializer_is_keras_uniform():
    table = np.asarray(layers.Embedding(1000, 16).init(jax.random.key(0), (5,))["embeddings"])
    assert np.abs(table).max() <= 0.05 and table.std() > 0.025  # uniform on [-0.05, 0.05]


def test_input_length_declares_the_input_shape():
    model = models.Sequential([layers.Embedding(100, 8, input_length=20), layers.Flatten(), layers.Dense(1)])
    params = model.init(jax.random.key(0))
    assert params["dense"]["kernel"].shape == (160, 1)
    with pytest.raises(ValueError, match="input_length or input_shape, not both"):
        layers.Embedding(100, 8, input_length=20, input_shape=(20,))


def test_float_ids_are_truncated_as_keras_and_bad_dtypes_refused():
    layer = layers.Embedding(10, 2)
    params = layer.init(jax.random.key(0), (3,))
    np.testing.assert_array_equal(layer.apply(params, np.array([[1.0, 2.0, 3.0]])),
                                  layer.apply(params, np.array([[1, 2, 3]])))
    with pytest.raises(ValueError, match=r"integer ids; entry \(0, 1\) is 2.5"):
        layer.apply(params, np.array([[1.0, 2.5, 3.0]]))


@pytest.mark.parametrize("bad", [-1, 10, 40001])
def test_ids_outside_the_vocabulary_raise_naming_the_layer_and_id(bad):
    layer = layers.Embedding(10, 2, name="words")
    params = layer.init(jax.random.key(0), (3,))
    ids = np.array([[1, 2, 3], [4, bad, 5]])
    with pytest.raises(ValueError, match=rf"'words'.*\[0, 10\); sample 1 holds id {bad}.*num_words"):
        layer.apply(params, ids)


def test_large_ids_stay_exact_under_mixed_precision():
    """Ids 257 and 40001 would round to 256 and 39936 in bfloat16: they must reach the lookup exact."""
    model = models.Sequential([layers.Input((2,)), layers.Embedding(50000, 1)])
    model.compile(optimizer="sgd", loss="mse", dtype_policy="mixed_bfloat16")
    table = np.zeros((50000, 1), np.float32)
    table[[257, 40001, 3, 49999], 0] = [1.0, 2.0, 4.0, 8.0]  # the rounded ids' rows (256, 39936) hold 0
    model.params = {"embedding": {"embeddings": table}}
    for dtype in (np.int32, np.int64, np.uint16):
        ids = np.array([[257, 40001], [3, 49999]], dtype)
        np.testing.assert_array_equal(model.predict(ids, verbose=0)[..., 0], [[1.0, 2.0], [4.0, 8.0]])
    assert float(jnp.asarray(257.0, jnp.bfloat16)) == 256.0  # what a float cast of the ids would do
