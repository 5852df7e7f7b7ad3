"""funcnet.layers.convolutional: Conv1D and Conv2D against Keras 3 (numpy backend), both formulations."""
import itertools

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from jax.test_util import check_grads

from funcnet import layers, models
from funcnet.layers import _windows
from funcnet.layers.convolutional import convolve

TOL = dict(rtol=1e-5, atol=2e-5)
METHODS = ["patches", "lax"]


def _x(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _random_params(layer, sample_shape, seed=1):
    params = layer.init(jax.random.key(seed), sample_shape)
    rs = np.random.default_rng(seed)
    return {k: rs.normal(size=v.shape).astype(np.float32) for k, v in params.items()}


def _apply(layer, params, x, method):
    """The layer's convolution with a chosen formulation (the layer itself picks one by backend and size)."""
    _, wins = layer._windows(x.shape)
    y = convolve(jnp.asarray(x), jnp.asarray(params["kernel"]), wins, layer.groups, method=method)
    if layer.use_bias:
        y = y + params["bias"].reshape((1,) * (y.ndim - 1) + (-1,))
    return layer.activation(y)


def _against_keras(ours, ref, sample_shape, method, batch=3):
    x = _x((batch, *sample_shape))
    params = _random_params(ours, sample_shape)
    ref.build((None, *sample_shape))
    ref.set_weights([params["kernel"], *([params["bias"]] if "bias" in params else [])])
    want = np.asarray(ref(x))
    assert ours.compute_output_shape((None, *sample_shape)) == (None, *want.shape[1:])
    np.testing.assert_allclose(_apply(ours, params, x, method), want, **TOL)
    np.testing.assert_allclose(ours.apply(params, x), want, **TOL)


CONV2D_CASES = [
    dict(kernel_size=k, strides=s, padding=p, dilation_rate=d, groups=g)
    for k, s, p, d, g in itertools.product([(3, 3), (2, 3), (1, 1)], [1, (2, 3)], ["valid", "same"], [1, (2, 1)], [1, 3])
    if not (s != 1 and d != 1)
]


def _with_methods(cases, lax_every: int):
    """Every case with funcnet's CPU formulation; every `lax_every`-th also with XLA's (used off CPU)."""
    return [(kw, "patches") for kw in cases] + [(kw, "lax") for kw in cases[::lax_every]]


def _case_id(case):
    kwargs, method = case
    return "-".join([method, *(f"{k[:3]}{v}" for k, v in kwargs.items())])


@pytest.mark.parametrize("kwargs, method", _with_methods(CONV2D_CASES, 3), ids=map(_case_id, _with_methods(CONV2D_CASES, 3)))
def test_conv2d_matches_keras(kwargs, method):
    # Odd sizes (9 x 11) and 6 channels, so groups=3 splits them; 12 filters.
    _against_keras(layers.Conv2D(12, activation="relu", **kwargs), keras.layers.Conv2D(12, activation="relu", **kwargs),
                   (9, 11, 6), method)


CONV1D_CASES = [
    dict(kernel_size=k, strides=s, padding=p, dilation_rate=d, groups=g)
    for k, s, p, d, g in itertools.product([1, 3, 4], [1, 3], ["valid", "same", "causal"], [1, 2], [1, 2])
    if not (s != 1 and d != 1)
]


@pytest.mark.parametrize("kwargs, method", _with_methods(CONV1D_CASES, 3), ids=map(_case_id, _with_methods(CONV1D_CASES, 3)))
def test_conv1d_matches_keras(kwargs, method):
    _against_keras(layers.Conv1D(4, **kwargs), keras.layers.Conv1D(4, **kwargs), (13, 6), method)


def test_conv_without_bias_and_with_a_linear_activation():
    _against_keras(layers.Conv2D(5, 3, use_bias=False), keras.layers.Conv2D(5, 3, use_bias=False), (7, 8, 2), "patches")
    params = layers.Conv2D(5, 3, use_bias=False).init(jax.random.key(0), (7, 8, 2))
    assert set(params) == {"kernel"} and params["kernel"].shape == (3, 3, 2, 5)


def test_causal_padding_sees_only_the_past():
    layer = layers.Conv1D(1, 3, padding="causal", dilation_rate=2)
    params = layer.init(jax.random.key(0), (10, 1))
    x = np.zeros((1, 10, 1), np.float32)
    x[0, 6] = 1.0  # an impulse at step 6 reaches steps 6, 8 and 10 (beyond the end) only
    y = np.asarray(layer.apply(params, x))[0, :, 0]
    assert np.all(y[:6] == 0) and y[6] != 0 and y[7] == 0 and y[8] != 0


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    "layer, sample",
    [
        (layers.Conv2D(3, (3, 2), padding="same", strides=(2, 1)), (5, 4, 2)),
        (layers.Conv2D(4, 2, groups=2, dilation_rate=2), (6, 5, 4)),
        (layers.Conv1D(3, 3, padding="causal", dilation_rate=2), (7, 2)),
    ],
    ids=["conv2d_same_strided", "conv2d_grouped_dilated", "conv1d_causal"],
)
def test_conv_gradients_match_finite_differences(layer, sample, method):
    params = {k: jnp.asarray(v) for k, v in _random_params(layer, sample).items()}
    x = jnp.asarray(_x((2, *sample)))
    w = jnp.asarray(_x(layer.compute_output_shape((2, *sample)), seed=5))
    check_grads(lambda p, x: jnp.sum(w * _apply(layer, p, x, method)), (params, x), order=1, modes=["rev"],
                eps=1e-2, atol=1e-2, rtol=1e-2)


def test_kernel_initializers_count_the_receptive_field_in_the_fans():
    params = layers.Conv2D(64, 3).init(jax.random.key(0), (13, 13, 32))
    kernel = np.asarray(params["kernel"])
    limit = np.sqrt(6.0 / (3 * 3 * 32 + 3 * 3 * 64))  # glorot_uniform with Keras's fans
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.99 * limit
    np.testing.assert_allclose(kernel.var(), limit ** 2 / 3, rtol=0.03)
    he = np.asarray(layers.Conv1D(16, 5, kernel_initializer="he_normal").init(jax.random.key(0), (20, 8))["kernel"])
    np.testing.assert_allclose(he.std(), np.sqrt(2.0 / (5 * 8)), rtol=0.1)


def test_listing_5_1_summary_matches_keras():
    def stack(lib):
        return [lib.layers.Conv2D(32, (3, 3), activation="relu"), lib.layers.MaxPooling2D((2, 2)),
                lib.layers.Conv2D(64, (3, 3), activation="relu"), lib.layers.MaxPooling2D((2, 2)),
                lib.layers.Conv2D(64, (3, 3), activation="relu"), lib.layers.Flatten(),
                lib.layers.Dense(64, activation="relu"), lib.layers.Dense(10, activation="softmax")]

    class _Funcnet:
        pass

    funcnet_lib = _Funcnet()
    funcnet_lib.layers = layers
    ours = models.Sequential([layers.Input(shape=(28, 28, 1)), *stack(funcnet_lib)])
    ref = keras.Sequential([keras.Input(shape=(28, 28, 1)), *stack(keras)])
    lines = []
    ours.summary(print_fn=lines.append)
    text = lines[0]
    rows = [line for line in text.splitlines() if line.startswith(" ") and "(" in line and "Layer (type)" not in line
            and "params" not in line]
    # The names a fresh Keras process gives (Keras numbers per process, funcnet per model).
    assert [row.split()[0] for row in rows] == ["conv2d", "max_pooling2d", "conv2d_1", "max_pooling2d_1", "conv2d_2",
                                                "flatten", "dense", "dense_1"]
    for row, layer in zip(rows, ref.layers):
        shape = "(" + ", ".join(str(d) for d in layer.output.shape) + ")"
        assert f"({type(layer).__name__})" in row and shape in row, (row, shape)
        assert row.rstrip().endswith(f"{layer.count_params():,}"), (row, layer.count_params())
    assert ours.count_params() == ref.count_params() == 93_322
    assert f"Total params: {ref.count_params():,}" in text


@pytest.mark.parametrize(
    "make, sample, error, words",
    [
        (lambda: layers.Conv2D(4, 5), (3, 8, 1), ValueError, r"spans 5 entries.*valid-padded input"),
        (lambda: layers.Conv2D(4, 3), (28, 28), ValueError, r"4-D inputs.*channels axis"),
        (lambda: layers.Conv1D(4, 3), (28, 28, 1), ValueError, "3-D inputs"),
        (lambda: layers.Conv2D(4, 3, padding="full"), (8, 8, 1), ValueError, r"padding.*'valid', 'same'"),
        (lambda: layers.Conv2D(4, 3, padding="causal"), (8, 8, 1), ValueError, "padding"),
        (lambda: layers.Conv2D(4, 0), (8, 8, 1), ValueError, "kernel_size"),
        (lambda: layers.Conv2D(4, (3, 3, 3)), (8, 8, 1), TypeError, "kernel_size.*2 ints"),
        (lambda: layers.Conv2D(0, 3), (8, 8, 1), ValueError, "filters"),
        (lambda: layers.Conv2D(6, 3, groups=4), (8, 8, 4), ValueError, "divisible by groups"),
        (lambda: layers.Conv2D(6, 3, groups=3), (8, 8, 4), ValueError, "groups=3.*4 input channels"),
        (lambda: layers.Conv2D(4, 3, strides=2, dilation_rate=2), (8, 8, 1), ValueError, "dilation_rate"),
        (lambda: layers.Conv2D(4, 3, data_format="channels_first"), (1, 8, 8), ValueError, "channels_last"),
        (lambda: layers.Conv2D(4, 3, strides=0), (8, 8, 1), ValueError, "strides"),
    ],
)
def test_bad_arguments_and_shapes_name_the_layer(make, sample, error, words):
    with pytest.raises(error, match=words):
        make().init(jax.random.key(0), sample)


def test_a_model_refuses_a_too_small_input_at_build_time():
    with pytest.raises(ValueError, match=r"conv2d_1.*valid-padded"):
        models.Sequential([layers.Input(shape=(6, 6, 1)), layers.Conv2D(4, 3), layers.Conv2D(4, 5)])


def test_the_patches_formulation_is_chosen_on_cpu_for_small_patches():
    wins = _windows.windows((26, 26), (3, 3), (1, 1), (1, 1), "valid")
    assert _windows.patch_elements(64, wins, 32) == 64 * 24 * 24 * 9 * 32
    x, k = jnp.ones((2, 26, 26, 32)), jnp.ones((3, 3, 32, 8))
    text = jax.jit(lambda x, k: convolve(x, k, wins, 1)).lower(x, k).as_text()
    assert ("convolution" not in text) == (jax.default_backend() == "cpu")
