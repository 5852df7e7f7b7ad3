"""models.Model (and what Sequential inherits from it): bad input (API.md section 6), the params
property, dtypes, and the functional model's param naming and determinism."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet import layers, models


@pytest.fixture(scope="module")
def book():
    """The book's MNIST network and its params (made once: the 784x512 kernel is the slow part)."""
    model = models.Sequential([
        layers.Dense(512, activation="relu", input_shape=(784,)),
        layers.Dense(10, activation="softmax"),
    ])
    return model, model.init(jax.random.key(0))


def _functional():
    a = layers.Input(shape=(5,), name="pixels")
    b = layers.Input(shape=(2,), name="meta")
    h = layers.Dense(4, activation="relu")(a)
    out = layers.Dense(2, activation="softmax")(layers.Concatenate()([h, b]))
    return models.Model(inputs=[a, b], outputs=out)


def _x(shape, seed=0):
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape), jnp.float32)


# ====================================================================== functional params
def test_functional_params_naming_and_determinism():
    model = _functional()
    a = model.init(jax.random.key(0))
    assert type(a) is dict
    assert jax.tree_util.tree_map(lambda x: x.shape, a) == {
        "dense": {"kernel": (5, 4), "bias": (4,)},
        "dense_1": {"kernel": (6, 2), "bias": (2,)},
    }
    b = _functional().init(jax.random.key(0))  # a second model in this process: names start again
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    c = model.init(jax.random.key(1))
    assert not np.array_equal(np.asarray(a["dense"]["kernel"]), np.asarray(c["dense"]["kernel"]))


def test_functional_explicit_names_and_duplicates():
    a = layers.Input((5,))
    h = layers.Dense(4, name="encoder")(a)
    model = models.Model(a, layers.Dense(2)(h))
    assert set(model.init(jax.random.key(0))) == {"encoder", "dense"}
    h = layers.Dense(4, name="twin")(a)
    with pytest.raises(ValueError, match=r"'twin'.*unique"):
        models.Model(a, layers.Dense(2, name="twin")(h))


# ====================================================================== bad input (API.md section 6)
def test_input_of_the_wrong_shape_names_both_shapes(book):
    model, params = book
    with pytest.raises(ValueError) as info:
        model.apply(params, jnp.ones((128, 700)))
    assert "(None, 784)" in str(info.value) and "(128, 700)" in str(info.value)


@pytest.mark.parametrize("shape", [(784,), (2, 28, 28), (2, 784, 1)])
def test_input_of_the_wrong_rank_is_value_error(book, shape):
    model, params = book
    with pytest.raises(ValueError, match=r"\(None, 784\)"):
        model.apply(params, jnp.ones(shape))


def test_scalar_input_is_value_error(book):
    model, params = book
    with pytest.raises(ValueError, match="batch axis"):
        model.apply(params, 3.0)


@pytest.mark.parametrize("bad", ["hello", None, object(), np.array(["a", "b"]), {1, 2}])
def test_non_array_input_is_type_error(book, bad):
    model, params = book
    with pytest.raises(TypeError, match="input 'input_layer'.*array"):
        model.apply(params, bad)


def test_wrong_number_of_inputs(book):
    model, params = book
    with pytest.raises(ValueError, match="takes 1 input.*list of 2"):
        model.apply(params, [jnp.ones((2, 784)), jnp.ones((2, 784))])
    functional = _functional()
    fparams = functional.init(jax.random.key(0))
    with pytest.raises(ValueError, match=r"takes 2 inputs \['pixels', 'meta'\]"):
        functional.apply(fparams, jnp.ones((2, 5)))


def test_params_from_a_different_model_are_value_error(book):
    model, params = book
    other = models.Sequential([layers.Dense(4, input_shape=(5,)), layers.Dense(2)]).init(jax.random.key(0))
    # Names the first weight that does not fit, its shape and the one needed.
    wrong_shape = r"params\['dense'\]\['(kernel|bias)'\] has shape \((5, )?4,?\).*\((784, )?512,?\)"
    with pytest.raises(ValueError, match=wrong_shape):
        model.apply(other, jnp.ones((2, 784)))
    with pytest.raises(ValueError, match=r"Missing.*dense_1.*another model"):
        model.apply({"dense": params["dense"]}, jnp.ones((2, 784)))
    with pytest.raises(ValueError, match=r"unexpected.*dense_2"):
        model.apply({**params, "dense_2": params["dense_1"]}, jnp.ones((2, 784)))
    with pytest.raises(ValueError, match=r"params\['dense'\]"):  # same names, other shapes
        model.apply(_functional().init(jax.random.key(0)), jnp.ones((2, 784)))


def test_params_none_or_not_a_dict_is_type_error(book):
    model, params = book
    with pytest.raises(TypeError, match=r"params is None.*model\.init"):
        model.apply(None, jnp.ones((2, 784)))
    with pytest.raises(TypeError, match="params must be the dict"):
        model.apply([params["dense"], params["dense_1"]], jnp.ones((2, 784)))


@pytest.mark.parametrize("key", [0, None, "0", np.ones(2, np.float32)])
def test_bad_key_is_type_error(book, key):
    model, _ = book
    with pytest.raises(TypeError, match=r"PRNG key.*jax\.random\.key\(0\)"):
        model.init(key)


def test_a_batch_of_keys_is_not_a_key(book):
    model, _ = book
    with pytest.raises(TypeError, match=r"single PRNG key.*\(2,\)"):
        model.init(jax.random.split(jax.random.key(0), 2))


def test_bad_rng_in_apply_is_type_error(book):
    model, params = book
    with pytest.raises(TypeError, match="rng"):
        model.apply(params, jnp.ones((2, 784)), rng=1, training=True)


def test_sequential_without_input_shape_on_init():
    model = models.Sequential([layers.Dense(3), layers.Dense(1)])
    with pytest.raises(ValueError, match=r"Sequential 'sequential' does not know its input shape"):
        model.init(jax.random.key(0))


def test_functional_init_input_shapes_are_checked():
    model = _functional()
    with pytest.raises(ValueError, match="2 inputs.*list of 2 shapes"):
        model.init(jax.random.key(0), input_shape=(5,))
    with pytest.raises(ValueError, match=r"'meta'.*\(None, 2\).*\(4,\)"):
        model.init(jax.random.key(0), input_shape=[(5,), (4,)])
    assert set(model.init(jax.random.key(0), input_shape=[(5,), (2,)])) == {"dense", "dense_1"}


# ====================================================================== dtypes
def test_float32_by_default(book):
    model, params = book
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree_util.tree_leaves(params))
    assert model.apply(params, jnp.ones((2, 784))).dtype == jnp.float32


def test_uint8_inputs_are_cast_to_float32(book):
    model, params = book
    x = np.random.default_rng(0).integers(0, 256, size=(3, 784), dtype=np.uint8)
    y = model.apply(params, x)
    assert y.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(y), np.asarray(model.apply(params, x.astype(np.float32))), rtol=1e-6)
    assert model.apply(params, np.ones((2, 784), dtype=bool)).dtype == jnp.float32


def test_bfloat16_params_give_bfloat16_outputs(book):
    model, params = book
    p16 = jax.tree_util.tree_map(lambda a: a.astype(jnp.bfloat16), params)
    x = np.random.default_rng(0).uniform(size=(3, 784)).astype(np.float32)
    y16 = model.apply(p16, x)
    assert y16.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(y16, np.float32), np.asarray(model.apply(params, x)), atol=0.02)
    functional = _functional()
    fp16 = jax.tree_util.tree_map(lambda a: a.astype(jnp.bfloat16), functional.init(jax.random.key(0)))
    xs = [jnp.ones((3, 5), jnp.bfloat16), jnp.ones((3, 2), jnp.bfloat16)]
    assert functional.apply(fp16, xs).dtype == jnp.bfloat16


# ====================================================================== the params property
def test_params_property_is_none_then_settable(book):
    model = models.Sequential([layers.Dense(4, input_shape=(5,)), layers.Dense(2)])
    assert model.params is None
    params = model.init(jax.random.key(0))
    assert model.params is None  # init is pure: it does not set params
    model.params = params
    assert model.params is params
    model.params = None
    assert model.params is None
    functional = _functional()
    assert functional.params is None
    functional.params = functional.init(jax.random.key(0))


def test_assigning_wrong_params_is_value_error(book):
    model = models.Sequential([layers.Dense(4, input_shape=(5,)), layers.Dense(2)])
    _, book_params = book
    with pytest.raises(ValueError, match="params"):
        model.params = book_params
    with pytest.raises(ValueError, match="Missing"):
        model.params = {}
    good = model.init(jax.random.key(0))
    with pytest.raises(ValueError, match=r"\['dense'\]\['bias'\]"):
        model.params = {**good, "dense": {**good["dense"], "bias": jnp.zeros(3)}}
    with pytest.raises(TypeError, match="dict"):
        model.params = [good]
    assert model.params is None  # a failed assignment changes nothing


# ====================================================================== structure helpers
def test_count_params_and_layers(book):
    model, params = book
    assert model.count_params() == 407_050
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "Dense"]
    functional = _functional()
    assert functional.count_params() == 5 * 4 + 4 + 6 * 2 + 2
    assert [type(layer).__name__ for layer in functional.layers] == ["Dense", "Concatenate", "Dense"]
    assert functional.get_layer("concatenate") is functional.layers[1]
