"""funcnet.layers.pooling: max, average and global pooling against Keras 3 (numpy backend)."""
import itertools

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from jax.test_util import check_grads

from funcnet import layers

TOL = dict(rtol=1e-6, atol=1e-6)


def _x(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)  # no ties: max's gradient is unique


def _check(ours, ref, sample):
    x = _x((2, *sample))
    want = np.asarray(ref(x))
    assert ours.compute_output_shape((None, *sample)) == (None, *want.shape[1:])
    np.testing.assert_allclose(ours.apply({}, x), want, **TOL)
    assert ours.init(jax.random.key(0), sample) == {}


POOL2D_CASES = list(itertools.product([(2, 2), (3, 3), (2, 3)], [None, 1, (2, 1)], ["valid", "same"]))


@pytest.mark.parametrize("kind", ["MaxPooling2D", "AveragePooling2D"])
@pytest.mark.parametrize("pool_size, strides, padding", POOL2D_CASES)
def test_pooling_2d_matches_keras(kind, pool_size, strides, padding):
    kwargs = dict(pool_size=pool_size, strides=strides, padding=padding)
    _check(getattr(layers, kind)(**kwargs), getattr(keras.layers, kind)(**kwargs), (7, 9, 3))  # odd sizes


@pytest.mark.parametrize("kind", ["MaxPooling1D", "AveragePooling1D"])
@pytest.mark.parametrize("pool_size, strides, padding", list(itertools.product([2, 3, 5], [None, 1, 2], ["valid", "same"])))
def test_pooling_1d_matches_keras(kind, pool_size, strides, padding):
    kwargs = dict(pool_size=pool_size, strides=strides, padding=padding)
    _check(getattr(layers, kind)(**kwargs), getattr(keras.layers, kind)(**kwargs), (11, 4))


@pytest.mark.parametrize("kind", ["GlobalMaxPooling1D", "GlobalAveragePooling1D"])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling_1d_matches_keras(kind, keepdims):
    _check(getattr(layers, kind)(keepdims=keepdims), getattr(keras.layers, kind)(keepdims=keepdims), (11, 4))


@pytest.mark.parametrize("kind", ["GlobalMaxPooling2D", "GlobalAveragePooling2D"])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling_2d_matches_keras(kind, keepdims):
    _check(getattr(layers, kind)(keepdims=keepdims), getattr(keras.layers, kind)(keepdims=keepdims), (5, 6, 3))


def test_default_pool_sizes_are_keras_defaults():
    assert layers.MaxPooling2D().pool_size == (2, 2) == layers.MaxPooling2D().strides
    assert layers.MaxPooling1D().pool_size == (2,)
    with pytest.raises(TypeError):
        layers.AveragePooling2D()  # Keras 3 requires pool_size here


@pytest.mark.parametrize(
    "layer",
    [layers.MaxPooling2D(), layers.MaxPooling2D((3, 3), strides=2, padding="same"), layers.AveragePooling2D(2),
     layers.AveragePooling2D((3, 2), strides=1, padding="same"), layers.MaxPooling1D(3, strides=2),
     layers.AveragePooling1D(2, padding="same"), layers.GlobalMaxPooling2D(), layers.GlobalAveragePooling1D()],
    ids=lambda layer: f"{type(layer).__name__}{getattr(layer, 'pool_size', '')}{getattr(layer, 'padding', '')}",
)
def test_pooling_gradients_match_finite_differences(layer):
    sample = (5, 7, 2) if "2D" in type(layer).__name__ else (9, 2)
    x = jnp.asarray(_x((2, *sample)))
    w = jnp.asarray(_x(layer.compute_output_shape((2, *sample)), seed=3))
    check_grads(lambda x: jnp.sum(w * layer.apply({}, x)), (x,), order=1, modes=["rev"], eps=1e-3, atol=1e-2,
                rtol=1e-2)


def test_max_pooling_gradient_goes_to_the_window_maximum_as_reduce_window_does():
    x = jnp.asarray(_x((3, 6, 8, 4)))
    pooled = lambda x: jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")  # noqa: E731
    w = jnp.asarray(_x((3, 3, 4, 4), seed=7))
    ours = jax.grad(lambda x: jnp.sum(w * layers.MaxPooling2D().apply({}, x)))(x)
    native = jax.grad(lambda x: jnp.sum(w * pooled(x)))(x)
    np.testing.assert_array_equal(ours, native)


@pytest.mark.parametrize(
    "make, sample, error, words",
    [
        (lambda: layers.MaxPooling2D((3, 3)), (2, 8, 1), ValueError, r"pool_size=\(3, 3\) is larger than its valid-padded"),
        (lambda: layers.MaxPooling2D(), (8, 8), ValueError, "4-D inputs"),
        (lambda: layers.MaxPooling1D(), (8, 8, 1), ValueError, "3-D inputs"),
        (lambda: layers.MaxPooling2D(padding="full"), (8, 8, 1), ValueError, "padding"),
        (lambda: layers.AveragePooling2D(0), (8, 8, 1), ValueError, "pool_size"),
        (lambda: layers.MaxPooling2D(strides=(1, 0)), (8, 8, 1), ValueError, "strides"),
        (lambda: layers.GlobalAveragePooling2D(), (8, 1), ValueError, "4-D inputs"),
        (lambda: layers.MaxPooling2D(data_format="channels_first"), (1, 8, 8), ValueError, "channels_last"),
    ],
)
def test_bad_arguments_and_shapes_name_the_layer(make, sample, error, words):
    with pytest.raises(error, match=words):
        make().init(jax.random.key(0), sample)
