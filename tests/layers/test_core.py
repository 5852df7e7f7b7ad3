"""funcnet.layers.core: Dense, Activation, Dropout, Flatten, Reshape on their own (init / apply)."""
import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from jax.test_util import check_grads

from funcnet import activations, layers, models

ACTIVATIONS = [
    "linear", "relu", "sigmoid", "softmax", "log_softmax", "tanh", "elu", "selu", "gelu",
    "softplus", "softsign", "silu", "swish", "leaky_relu", "exponential", "hard_sigmoid",
]


# One canonical set of shapes (a batch of 3, 5 features in, 4 out) across the suite: eager JAX compiles
# each primitive once per shape, so shared shapes keep the gradient checks cheap.
B, IN, UNITS = 3, 5, 4


def _x(shape, seed=0):
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape), jnp.float32)


def _check_grads(f, args, order=2):
    """Reverse-mode gradients (to `order`) against central finite differences, in float32.

    eps=1e-3 rather than the default 1e-4: in float32 the rounding error of a difference quotient
    (~1e-7 / eps) dominates, and the truncation error (~eps^2) is still far below the tolerance.
    """
    check_grads(f, args, order=order, modes=["rev"], eps=1e-3)


def _weighted_sum(y):
    # A fixed, non-uniform cotangent: a plain sum would hide, e.g., softmax's Jacobian (rows sum to 0).
    w = jnp.asarray(np.random.default_rng(99).normal(size=y.shape), y.dtype)
    return jnp.sum(w * y)


# ====================================================================== Dense
def test_dense_init_shapes_and_defaults():
    params = layers.Dense(UNITS).init(jax.random.key(0), (IN,))
    assert set(params) == {"kernel", "bias"}
    assert params["kernel"].shape == (IN, UNITS) and params["bias"].shape == (UNITS,)
    assert params["kernel"].dtype == jnp.float32 and params["bias"].dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(params["bias"]), np.zeros(UNITS))  # bias_initializer="zeros"
    limit = np.sqrt(6.0 / (IN + UNITS))  # kernel_initializer="glorot_uniform"
    assert np.all(np.abs(np.asarray(params["kernel"])) <= limit)


def test_dense_declared_input_shape_is_used_by_init():
    params = layers.Dense(UNITS, input_shape=(IN,)).init(jax.random.key(0))
    assert params["kernel"].shape == (IN, UNITS)


def test_dense_without_bias_has_only_a_kernel():
    layer = layers.Dense(UNITS, use_bias=False)
    params = layer.init(jax.random.key(0), (IN,))
    assert set(params) == {"kernel"}
    x = _x((B, IN))
    np.testing.assert_allclose(np.asarray(layer.apply(params, x)), np.asarray(x) @ np.asarray(params["kernel"]),
                               rtol=1e-6)


def test_dense_initializers_by_name_and_function():
    params = layers.Dense(UNITS, kernel_initializer="ones", bias_initializer="ones").init(jax.random.key(0), (IN,))
    np.testing.assert_array_equal(np.asarray(params["kernel"]), np.ones((IN, UNITS)))
    np.testing.assert_array_equal(np.asarray(params["bias"]), np.ones(UNITS))
    fn = jax.nn.initializers.constant(0.25)
    params = layers.Dense(UNITS, kernel_initializer=fn).init(jax.random.key(0), (IN,))
    np.testing.assert_array_equal(np.asarray(params["kernel"]), np.full((IN, UNITS), 0.25))


def test_dense_init_is_deterministic_in_the_key():
    layer = layers.Dense(UNITS)
    a = layer.init(jax.random.key(3), (IN,))
    b = layer.init(jax.random.key(3), (IN,))
    c = layer.init(jax.random.key(4), (IN,))
    np.testing.assert_array_equal(np.asarray(a["kernel"]), np.asarray(b["kernel"]))
    assert not np.array_equal(np.asarray(a["kernel"]), np.asarray(c["kernel"]))


@pytest.mark.parametrize("activation", ["linear", "relu", "softmax", "gelu", "leaky_relu", "hard_sigmoid"])
def test_dense_matches_keras_dense(activation):
    layer = layers.Dense(UNITS, activation=activation)
    params = layer.init(jax.random.key(1), (IN,))
    params = {"kernel": params["kernel"], "bias": _x((UNITS,), seed=7)}  # a non-zero bias
    x = _x((B, IN), seed=2)
    ref = keras.layers.Dense(UNITS, activation=activation)
    ref.build((None, IN))
    ref.set_weights([np.asarray(params["kernel"]), np.asarray(params["bias"])])
    np.testing.assert_allclose(np.asarray(layer.apply(params, x)), np.asarray(ref(np.asarray(x))),
                               rtol=1e-5, atol=1e-6)


def test_dense_on_rank_3_inputs_acts_on_the_last_axis():
    layer = layers.Dense(UNITS)
    params = layer.init(jax.random.key(0), (2, IN))
    assert params["kernel"].shape == (IN, UNITS)
    assert layer.compute_output_shape((None, 2, IN)) == (None, 2, UNITS)
    x = _x((B, 2, IN))
    expected = np.einsum("btf,fu->btu", np.asarray(x), np.asarray(params["kernel"])) + np.asarray(params["bias"])
    np.testing.assert_allclose(np.asarray(layer.apply(params, x)), expected, rtol=1e-5, atol=1e-6)


def test_dense_casts_integer_inputs_and_keeps_the_weights_dtype():
    layer = layers.Dense(UNITS)
    params = layer.init(jax.random.key(0), (IN,))
    x8 = np.arange(B * IN, dtype=np.uint8).reshape(B, IN)
    y = layer.apply(params, x8)
    assert y.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(y), np.asarray(layer.apply(params, x8.astype(np.float32))), rtol=1e-6)
    p16 = layers.Dense(UNITS, dtype=jnp.bfloat16).init(jax.random.key(0), (IN,))
    assert p16["kernel"].dtype == jnp.bfloat16 and p16["bias"].dtype == jnp.bfloat16
    assert layers.Dense(UNITS, dtype=jnp.bfloat16).apply(p16, _x((B, IN))).dtype == jnp.bfloat16


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dense_gradients_wrt_params_and_inputs(activation):
    layer = layers.Dense(UNITS, activation=activation)
    params = layer.init(jax.random.key(0), (IN,))
    params = {"kernel": params["kernel"], "bias": 0.1 * _x((UNITS,), seed=3)}
    _check_grads(lambda p, x: _weighted_sum(layer.apply(p, x)), (params, _x((B, IN), seed=1)))


def test_dense_without_bias_gradients():
    layer = layers.Dense(UNITS, activation="tanh", use_bias=False)
    params = layer.init(jax.random.key(0), (IN,))
    assert set(params) == {"kernel"}
    _check_grads(lambda p, x: _weighted_sum(layer.apply(p, x)), (params, _x((B, IN), seed=1)))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(units=0), ValueError, "units"),
        (dict(units=-3), ValueError, "units"),
        (dict(units="a"), TypeError, "units"),
        (dict(units=2.5), TypeError, "units"),
        (dict(units=True), TypeError, "units"),
        (dict(units=3, activation="relux"), ValueError, "relux"),
        (dict(units=3, activation=7), TypeError, "activation"),
        (dict(units=3, kernel_initializer="glorot"), ValueError, "glorot"),
        (dict(units=3, bias_initializer=1), TypeError, "initializer"),
        (dict(units=3, dtype=jnp.int32), TypeError, "dtype"),
        (dict(units=3, name="a/b"), TypeError, "name"),
        (dict(units=3, name=""), TypeError, "name"),
        (dict(units=3, input_shape=(0,)), ValueError, "input_shape"),
        (dict(units=3, input_shape="784"), TypeError, "input_shape"),
    ],
)
def test_dense_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        layers.Dense(**kwargs)


def test_dense_init_needs_an_input_shape_and_a_key():
    with pytest.raises(ValueError, match="input_shape"):
        layers.Dense(3).init(jax.random.key(0))
    with pytest.raises(TypeError, match="PRNG key"):
        layers.Dense(3).init(0, (4,))


def test_dense_apply_on_the_wrong_feature_size_names_the_shapes():
    layer = layers.Dense(UNITS, name="hidden")
    params = layer.init(jax.random.key(0), (IN,))
    with pytest.raises(ValueError, match=r"hidden.*\(5, 4\).*\(3, 6\)"):
        layer.apply(params, jnp.ones((B, 6)))
    with pytest.raises(ValueError, match="hidden"):
        layer.apply(params, jnp.ones((IN,)))  # no batch axis


@pytest.mark.parametrize("bad", [None, "hello", np.array(["a", "b"]), [np.ones((B, IN))]])
def test_dense_apply_on_a_non_array_is_type_error(bad):
    layer = layers.Dense(UNITS)
    params = layer.init(jax.random.key(0), (IN,))
    with pytest.raises(TypeError, match="Dense"):
        layer.apply(params, bad)


def test_calling_a_layer_on_a_concrete_array_points_to_apply():
    with pytest.raises(TypeError, match=r"layer\.apply\(params, x\)"):
        layers.Dense(3)(jnp.ones((2, 4)))
    with pytest.raises(TypeError, match="apply"):
        layers.Flatten()(np.ones((2, 4)))


# ====================================================================== Activation
@pytest.mark.parametrize("name", ["relu", "softmax", "gelu", "hard_sigmoid"])
def test_activation_layer_applies_the_function(name):
    layer = layers.Activation(name)
    assert layer.init(jax.random.key(0), (3, 4)) == {}
    x = _x((2, 3, 4))
    np.testing.assert_allclose(np.asarray(layer.apply({}, x)), np.asarray(activations.get(name)(x)), rtol=1e-6)
    assert layer.compute_output_shape((None, 3, 4)) == (None, 3, 4)


def test_activation_layer_takes_a_function():
    layer = layers.Activation(lambda x: 3.0 * x)
    np.testing.assert_allclose(np.asarray(layer.apply({}, jnp.ones((1, 2)))), [[3.0, 3.0]])


@pytest.mark.parametrize("name", ["tanh", "softmax", "elu"])
def test_activation_layer_gradients(name):
    layer = layers.Activation(name)
    _check_grads(lambda x: _weighted_sum(layer.apply({}, x)), (_x((B, UNITS)) + 0.05,))


def test_activation_layer_bad_arguments():
    with pytest.raises(TypeError, match="activation"):
        layers.Activation(None)
    with pytest.raises(ValueError, match="nope"):
        layers.Activation("nope")
    with pytest.raises(TypeError, match="activation"):
        layers.Activation(3)


# ====================================================================== Dropout
BIG = (500, 400)


def test_dropout_rate_is_the_fraction_dropped_with_inverted_scaling():
    rate = 0.3
    layer = layers.Dropout(rate)
    x = jnp.asarray(np.random.default_rng(0).uniform(1.0, 2.0, size=BIG), jnp.float32)  # no zeros in x
    y = np.asarray(layer.apply({}, x, rng=jax.random.key(0), training=True))
    dropped = y == 0
    # 200k Bernoulli draws: the standard error of the fraction is ~0.001.
    assert abs(dropped.mean() - rate) < 0.01
    np.testing.assert_allclose(y[~dropped], np.asarray(x)[~dropped] / (1.0 - rate), rtol=1e-6)
    # In expectation the output equals the input (inverted dropout).
    np.testing.assert_allclose(y.mean(), np.asarray(x).mean(), rtol=0.01)


@pytest.mark.parametrize("rate", [0.1, 0.8])
def test_dropout_fraction_for_other_rates(rate):
    y = np.asarray(layers.Dropout(rate).apply({}, jnp.ones(BIG), rng=jax.random.key(5), training=True))
    assert abs((y == 0).mean() - rate) < 0.01
    np.testing.assert_allclose(np.unique(y), [0.0, 1.0 / (1.0 - rate)], rtol=1e-6)


def test_dropout_is_identity_when_not_training():
    layer = layers.Dropout(0.5)
    x = _x((4, 6))
    np.testing.assert_array_equal(np.asarray(layer.apply({}, x)), np.asarray(x))
    np.testing.assert_array_equal(np.asarray(layer.apply({}, x, rng=jax.random.key(0), training=False)), np.asarray(x))
    # rate 0: identity even in training, and no key needed.
    np.testing.assert_array_equal(np.asarray(layers.Dropout(0.0).apply({}, x, training=True)), np.asarray(x))
    assert layer.init(jax.random.key(0), (6,)) == {}


def test_dropout_masks_depend_on_the_key_only():
    layer = layers.Dropout(0.5)
    x = jnp.ones(BIG)
    a = np.asarray(layer.apply({}, x, rng=jax.random.key(1), training=True))
    b = np.asarray(layer.apply({}, x, rng=jax.random.key(1), training=True))
    c = np.asarray(layer.apply({}, x, rng=jax.random.key(2), training=True))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a == 0, c == 0)


def test_dropout_in_training_without_a_key_names_the_layer():
    with pytest.raises(ValueError, match=r"Dropout 'drop_a'.*rng="):
        layers.Dropout(0.5, name="drop_a").apply({}, jnp.ones((2, 3)), training=True)
    with pytest.raises(ValueError, match="Dropout"):
        layers.Dropout(0.5).apply({}, jnp.ones((2, 3)), training=True)


def test_dropout_in_a_model_without_a_key_names_the_model_assigned_name():
    model = models.Sequential([layers.Dense(UNITS, input_shape=(IN,)), layers.Dropout(0.5), layers.Dense(UNITS)])
    params = model.init(jax.random.key(0))
    with pytest.raises(ValueError, match=r"'dropout'.*'sequential'"):
        model.apply(params, jnp.ones((B, IN)), training=True)
    model.apply(params, jnp.ones((B, IN)))  # inference needs no key


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, "0.5", None, True])
def test_dropout_bad_rate(rate):
    with pytest.raises(ValueError, match="rate"):
        layers.Dropout(rate)


def test_dropout_noise_shape_drops_whole_rows():
    x = jnp.ones((64, 10))
    y = np.asarray(layers.Dropout(0.5, noise_shape=(None, 1)).apply({}, x, rng=jax.random.key(0), training=True))
    row_zero = (y == 0).all(axis=1)
    row_kept = (y == 2.0).all(axis=1)
    assert np.all(row_zero | row_kept)
    assert row_zero.any() and row_kept.any()


def test_dropout_noise_shape_must_broadcast_to_the_input():
    with pytest.raises(ValueError, match=r"noise_shape=\(None, 2\), which does not broadcast to inputs of shape "
                                         r"\(None, 3\).*each None, 1 or the input's size"):
        models.Sequential([layers.Dropout(0.5, noise_shape=(None, 2), input_shape=(3,))])
    with pytest.raises(TypeError, match=r"Dropout\(noise_shape=...\) must be None or a tuple"):
        layers.Dropout(0.5, noise_shape="ab")


def test_dropout_preserves_dtype():
    y = layers.Dropout(0.5).apply({}, jnp.ones((B, UNITS), jnp.bfloat16), rng=jax.random.key(0), training=True)
    assert y.dtype == jnp.bfloat16


def test_dropout_gradients_in_training_mode_with_a_fixed_key():
    layer = layers.Dropout(0.4)
    key = jax.random.key(3)
    _check_grads(lambda x: _weighted_sum(layer.apply({}, x, rng=key, training=True)), (_x((B, UNITS)),))
    # The gradient is the mask scaled by 1/(1-rate).
    x = _x((B, UNITS))
    g = np.asarray(jax.grad(lambda x: jnp.sum(layer.apply({}, x, rng=key, training=True)))(x))
    y = np.asarray(layer.apply({}, x, rng=key, training=True))
    assert (y == 0).any() and (y != 0).any()  # this key both drops and keeps
    np.testing.assert_allclose(g, np.where(y != 0, 1.0 / 0.6, 0.0), rtol=1e-6)


# ====================================================================== Flatten
def test_flatten():
    layer = layers.Flatten()
    assert layer.compute_output_shape((None, 3, 4, 2)) == (None, 24)
    assert layer.init(jax.random.key(0), (3, 4, 2)) == {}
    x = _x((5, 3, 4, 2))
    np.testing.assert_array_equal(np.asarray(layer.apply({}, x)), np.asarray(x).reshape(5, 24))
    _check_grads(lambda x: _weighted_sum(layer.apply({}, x)), (_x((B, 2, 2)),))


# ====================================================================== Reshape
def test_reshape():
    layer = layers.Reshape((2, 2))
    assert layer.compute_output_shape((None, 4)) == (None, 2, 2)
    assert layers.Reshape((3, 4)).compute_output_shape((None, 12)) == (None, 3, 4)
    x = _x((B, UNITS))
    np.testing.assert_array_equal(np.asarray(layer.apply({}, x)), np.asarray(x).reshape(B, 2, 2))
    assert layer.init(jax.random.key(0), (4,)) == {}
    _check_grads(lambda x: _weighted_sum(layer.apply({}, x)), (x,))


def test_reshape_infers_one_minus_one_like_keras():
    layer = layers.Reshape((-1, 2))
    assert layer.compute_output_shape((None, 3, 4)) == (None, 6, 2)
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    np.testing.assert_array_equal(np.asarray(layer.apply({}, x)), np.asarray(keras.layers.Reshape((-1, 2))(x)))


def test_reshape_incompatible_target_is_value_error():
    layer = layers.Reshape((5, 5))
    with pytest.raises(ValueError, match=r"\(5, 5\)"):
        layer.compute_output_shape((None, 12))
    with pytest.raises(ValueError, match=r"\(12,\)|12"):
        layer.apply({}, jnp.ones((2, 12)))
    with pytest.raises(ValueError, match="Reshape"):
        layers.Reshape((-1, 5)).apply({}, jnp.ones((2, 12)))
    with pytest.raises(ValueError, match="Reshape"):
        models.Sequential([layers.Reshape((5, 5), input_shape=(12,))])


@pytest.mark.parametrize("target, error", [((-1, -1), ValueError), ((0, 3), TypeError), ("34", TypeError),
                                           ((2.5,), TypeError)])
def test_reshape_bad_target(target, error):
    with pytest.raises(error, match="target_shape"):
        layers.Reshape(target)
