"""funcnet.activations: Keras numerics, gradients, and name resolution."""
import math

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from jax.test_util import check_grads

from funcnet import activations

# Every activation funcnet resolves by name, each with its Keras 3 counterpart.
NAMES = [
    "linear", "relu", "sigmoid", "softmax", "log_softmax", "tanh", "elu", "selu", "gelu",
    "softplus", "softsign", "silu", "swish", "leaky_relu", "exponential", "hard_sigmoid",
]
# Those with a kink: points too close to it are moved away for the gradient checks.
KINKS = {"relu": [0.0], "leaky_relu": [0.0], "elu": [0.0], "selu": [0.0], "hard_sigmoid": [-3.0, 3.0]}


def _inputs(seed=0, shape=(3, 4), scale=3.0):
    # Spread wide enough to cover both sides of every kink, including hard_sigmoid's at +-3. The shape is
    # the one the layer tests use: eager JAX compiles each op once per shape, so sharing it saves time.
    return np.random.default_rng(seed).normal(scale=scale, size=shape).astype(np.float32)


def _away_from_kinks(name, x, margin=0.05):
    x = np.array(x, copy=True)
    for k in KINKS.get(name, []):
        near = np.abs(x - k) < margin
        x[near] = k + np.where(x[near] >= k, margin, -margin)
    return x


@pytest.mark.parametrize("name", NAMES)
def test_matches_keras(name):
    x = _inputs()
    y = activations.get(name)(jnp.asarray(x))
    assert y.shape == x.shape and y.dtype == jnp.float32
    ref = np.asarray(getattr(keras.activations, name)(x))
    np.testing.assert_allclose(np.asarray(y), ref, rtol=1e-5, atol=1e-6)


def test_bfloat16_in_bfloat16_out():
    # One compiled function for all activations keeps this fast.
    fns = [activations.get(name) for name in NAMES]
    outs = jax.jit(lambda x: [fn(x) for fn in fns])(jnp.asarray(_inputs(1, shape=(2, 3, 5)), jnp.bfloat16))
    for name, y in zip(NAMES, outs):
        assert y.dtype == jnp.bfloat16, name
        assert y.shape == (2, 3, 5), name


@pytest.mark.parametrize("approximate", [False, True])
def test_gelu_exact_and_approximate_match_keras(approximate):
    x = _inputs(2)
    ours = np.asarray(activations.gelu(jnp.asarray(x), approximate=approximate))
    ref = np.asarray(keras.activations.gelu(x, approximate=approximate))
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6)


def test_gelu_default_is_exact_not_tanh_approximation():
    x = jnp.linspace(-3.0, 3.0, 61)
    exact = np.asarray(x) * 0.5 * (1.0 + np.vectorize(math.erf)(np.asarray(x) / np.sqrt(2.0)))
    np.testing.assert_allclose(np.asarray(activations.get("gelu")(x)), exact, rtol=1e-5, atol=1e-6)
    # The two forms differ measurably, so this test could tell them apart.
    assert np.max(np.abs(np.asarray(activations.gelu(x, approximate=True)) - exact)) > 1e-4


def test_leaky_relu_default_slope_is_keras_0_2():
    x = jnp.array([-2.0, -0.5, 0.0, 1.5])
    np.testing.assert_allclose(np.asarray(activations.get("leaky_relu")(x)), [-0.4, -0.1, 0.0, 1.5], rtol=1e-6)


def test_hard_sigmoid_is_keras_3_piecewise_linear():
    x = jnp.array([-10.0, -3.0, -1.5, 0.0, 1.5, 3.0, 10.0])
    np.testing.assert_allclose(
        np.asarray(activations.get("hard_sigmoid")(x)), [0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0], rtol=1e-6
    )


def test_softmax_normalises_over_last_axis():
    x = jnp.asarray(_inputs(3, shape=(3, 4, 5)))
    y = activations.get("softmax")(x)
    np.testing.assert_allclose(np.asarray(y.sum(-1)), np.ones((3, 4)), rtol=1e-6)
    # Not over another axis.
    assert not np.allclose(np.asarray(y.sum(0)), 1.0)


def test_softmax_is_stable_for_large_logits():
    y = activations.softmax(jnp.array([[1000.0, 1000.0, -1000.0]]))
    np.testing.assert_allclose(np.asarray(y), [[0.5, 0.5, 0.0]], atol=1e-7)


@pytest.mark.parametrize("name", NAMES)
def test_gradients_numerically(name):
    fn = activations.get(name)
    x = jnp.asarray(_away_from_kinks(name, _inputs(4, scale=2.0)))
    # A fixed, non-uniform cotangent: a plain sum would hide softmax's Jacobian (its rows sum to 0).
    w = jnp.asarray(np.random.default_rng(5).normal(size=x.shape), jnp.float32)
    # eps=1e-3 rather than 1e-4: in float32 the rounding error of a difference quotient (~1e-7 / eps)
    # dominates; the truncation error (~eps^2) stays far below the tolerance. Kinks are >= 0.05 away.
    check_grads(lambda z: jnp.sum(w * fn(z)), (x,), order=2, modes=["rev"], eps=1e-3)


# ---------------------------------------------------------------- get / name resolution
@pytest.mark.parametrize("name", NAMES)
def test_get_by_name_returns_a_callable(name):
    assert callable(activations.get(name))


def test_get_none_is_linear():
    x = jnp.array([-1.0, 2.0])
    assert activations.get(None) is activations.linear
    np.testing.assert_array_equal(np.asarray(activations.get(None)(x)), np.asarray(x))


def test_get_passes_functions_through():
    def my_act(x):
        return 2 * x

    assert activations.get(my_act) is my_act
    assert activations.get(jax.nn.relu) is jax.nn.relu


def test_get_refuses_numpy_functions_and_classes():
    with pytest.raises(TypeError, match=r"numpy's tanh cannot run inside jax.jit.*jnp.tanh"):
        activations.get(np.tanh)
    with pytest.raises(TypeError, match=r"got the class float32"):
        activations.get(np.float32)


def test_get_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match="relu_x") as info:
        activations.get("relu_x")
    message = str(info.value)
    for valid in ("relu", "sigmoid", "softmax", "tanh", "gelu"):
        assert valid in message


@pytest.mark.parametrize("bad", [3, 1.5, ["relu"], object()])
def test_get_non_callable_is_type_error(bad):
    with pytest.raises(TypeError, match="activation"):
        activations.get(bad)


def test_name_of_round_trips_builtin_names():
    for name in NAMES:
        fn = activations.get(name)
        assert activations.get(activations.name_of(fn)) is fn
