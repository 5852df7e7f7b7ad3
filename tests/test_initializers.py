"""funcnet.initializers: determinism, Keras's formulas (bounds and variances), name resolution."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet import initializers

NAMES = [
    "glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal",
    "random_normal", "random_uniform", "zeros", "ones", "orthogonal",
]
RANDOM = [n for n in NAMES if n not in ("zeros", "ones")]

# A matrix big enough for tight statistics, small enough to be quick.
FAN_IN, FAN_OUT = 600, 400
# Every small check uses one shape: each new shape costs a compilation of the random bits.
SMALL = (5, 4)  # also the Dense kernel shape most layer tests use


@pytest.fixture(scope="module")
def big():
    """Samples of each random initializer on a (FAN_IN, FAN_OUT) matrix, made once."""
    key = jax.random.key(42)
    names = [n for n in RANDOM if n != "orthogonal"]
    return {n: np.asarray(initializers.get(n)(key, (FAN_IN, FAN_OUT)), np.float64) for n in names}


@pytest.mark.parametrize("name", NAMES)
def test_names_resolve_to_initializers(name):
    init = initializers.get(name)
    w = init(jax.random.key(0), SMALL)
    assert w.shape == SMALL
    assert w.dtype == jnp.float32
    assert initializers.get(name.upper())(jax.random.key(0), SMALL).shape == SMALL


@pytest.mark.parametrize("name", NAMES)
def test_dtype_argument_is_honoured(name):
    assert initializers.get(name)(jax.random.key(0), SMALL, jnp.bfloat16).dtype == jnp.bfloat16


@pytest.mark.parametrize("name", RANDOM)
def test_same_key_same_values_different_keys_different_values(name):
    init = initializers.get(name)
    a = np.asarray(init(jax.random.key(7), SMALL))
    b = np.asarray(init(jax.random.key(7), SMALL))
    c = np.asarray(init(jax.random.key(8), SMALL))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # A raw uint32[2] key works too, as with jax.nn.initializers.
    np.testing.assert_array_equal(np.asarray(init(jax.random.PRNGKey(7), SMALL)),
                                  np.asarray(init(jax.random.PRNGKey(7), SMALL)))


def test_zeros_ones_constant():
    key = jax.random.key(0)
    np.testing.assert_array_equal(np.asarray(initializers.get("zeros")(key, SMALL)), np.zeros(SMALL))
    np.testing.assert_array_equal(np.asarray(initializers.get("ones")(key, SMALL)), np.ones(SMALL))
    np.testing.assert_array_equal(np.asarray(initializers.constant(0.5)(key, SMALL)), np.full(SMALL, 0.5))


# ------------------------------------------------------------------ uniform: bounds and variance
@pytest.mark.parametrize(
    "name, limit",
    [
        ("glorot_uniform", math.sqrt(6.0 / (FAN_IN + FAN_OUT))),
        ("he_uniform", math.sqrt(6.0 / FAN_IN)),
        ("lecun_uniform", math.sqrt(3.0 / FAN_IN)),
        ("random_uniform", 0.05),
    ],
)
def test_uniform_bounds_and_variance(big, name, limit):
    w = big[name]
    assert np.all(np.abs(w) <= limit * (1 + 1e-6)), f"{name} exceeds its limit {limit}"
    # Uses the range: the extremes come close to the limit (which, for glorot, tells fan_avg from fan_in).
    assert np.max(np.abs(w)) > 0.99 * limit
    # Var of U(-l, l) is l^2 / 3; 240k samples pin it to well under 2%.
    np.testing.assert_allclose(w.var(), limit**2 / 3.0, rtol=0.02)
    assert abs(w.mean()) < 0.01 * limit


# ------------------------------------------------------------------ normal: stddev as Keras
@pytest.mark.parametrize(
    "name, stddev",
    [
        ("glorot_normal", math.sqrt(2.0 / (FAN_IN + FAN_OUT))),
        ("he_normal", math.sqrt(2.0 / FAN_IN)),
        ("lecun_normal", math.sqrt(1.0 / FAN_IN)),
        ("random_normal", 0.05),
    ],
)
def test_normal_stddev(big, name, stddev):
    w = big[name]
    np.testing.assert_allclose(w.std(), stddev, rtol=0.02)
    assert abs(w.mean()) < 0.02 * stddev * 5


@pytest.mark.parametrize("name", ["glorot_normal", "he_normal", "lecun_normal"])
def test_variance_scaling_normals_are_truncated_at_two_sigma(big, name):
    # Keras draws from a truncated normal of stddev s / 0.8796..., cut at 2 of those stddevs.
    w = big[name]
    sigma = w.std() / 0.87962566103423978
    assert np.max(np.abs(w)) <= 2.0 * sigma * 1.01


def test_he_uniform_on_a_conv_kernel_uses_receptive_field():
    # Keras's fans for (kh, kw, in, out): fan_in = kh * kw * in.
    w = np.asarray(initializers.get("he_uniform")(jax.random.key(0), (3, 3, 16, 32)))
    limit = math.sqrt(6.0 / (3 * 3 * 16))
    assert np.all(np.abs(w) <= limit * (1 + 1e-6))
    assert np.max(np.abs(w)) > 0.95 * limit


@pytest.mark.parametrize("name, limit", [("glorot_uniform", math.sqrt(3.0 / 4000)), ("he_uniform", math.sqrt(6.0 / 4000)),
                                         ("lecun_normal", 2 * math.sqrt(1.0 / 4000) / 0.87962566103423978)])
def test_a_vector_or_scalar_takes_keras_fans(name, limit):
    # Keras's fans for (n,): fan_in = fan_out = n (a bias given glorot_uniform); for (): 1. jax refuses both.
    w = np.asarray(initializers.get(name)(jax.random.key(0), (4000,)), np.float64)
    assert np.all(np.abs(w) <= limit * (1 + 1e-6)) and np.max(np.abs(w)) > 0.95 * limit
    assert np.isfinite(np.asarray(initializers.get(name)(jax.random.key(0), ()))).all()


def test_orthogonal_is_orthogonal():
    w = np.asarray(initializers.get("orthogonal")(jax.random.key(3), SMALL), np.float64)
    np.testing.assert_allclose(w.T @ w, np.eye(SMALL[1]), atol=1e-5)
    w2 = np.asarray(initializers.orthogonal(gain=2.0)(jax.random.key(3), SMALL), np.float64)
    np.testing.assert_allclose(w2.T @ w2, 4 * np.eye(SMALL[1]), atol=1e-4)


# ------------------------------------------------------------------ get: errors and pass-through
def test_get_passes_functions_through():
    fn = jax.nn.initializers.normal(0.1)
    assert initializers.get(fn) is fn


def test_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match="glorot_unifrom.*Did you mean 'glorot_uniform'") as info:
        initializers.get("glorot_unifrom")
    for valid in ("glorot_uniform", "he_normal", "zeros"):
        assert valid in str(info.value)


@pytest.mark.parametrize("bad", [0, 1.5, None, ["zeros"], np.float32])
def test_non_callable_is_type_error(bad):
    with pytest.raises(TypeError, match="initializer"):
        initializers.get(bad)


def test_random_uniform_rejects_empty_range():
    with pytest.raises(ValueError, match="minval"):
        initializers.random_uniform(0.1, 0.1)


@pytest.mark.parametrize("name", ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform",
                                  "lecun_normal"])
@pytest.mark.parametrize("shape", [(512, 10), (3, 3, 2, 4), SMALL])
def test_variance_scaling_draws_jax_s_numbers(name, shape):
    # Drawn flat and reshaped (a faster compile); the numbers are jax.nn.initializers' own, bit for bit.
    reference = getattr(jax.nn.initializers, name)()
    for dtype in (jnp.float32, jnp.bfloat16):
        ours = initializers.get(name)(jax.random.key(7), shape, dtype)
        theirs = reference(jax.random.key(7), shape, dtype)
        assert ours.dtype == theirs.dtype
        np.testing.assert_array_equal(np.asarray(ours, np.float32), np.asarray(theirs, np.float32))


def test_random_normal_and_uniform_draw_jax_s_numbers():
    key = jax.random.key(7)
    np.testing.assert_array_equal(initializers.random_normal(0.1, 0.2)(key, (30, 7)),
                                  0.1 + 0.2 * jax.random.normal(key, (30, 7)))
    np.testing.assert_array_equal(initializers.random_uniform(-0.3, 0.2)(key, (30, 7)),
                                  jax.random.uniform(key, (30, 7), jnp.float32, -0.3, 0.2))
