"""models.Sequential: construction forms, param naming, determinism, shapes, and stack errors."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from funcnet import layers, models


def _book_model():
    return models.Sequential([
        layers.Dense(512, activation="relu", input_shape=(784,)),
        layers.Dense(10, activation="softmax"),
    ])


def _shapes(params):
    return jax.tree_util.tree_map(lambda a: tuple(a.shape), params)


def _assert_bitwise_equal(a, b):
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _x(shape, seed=0):
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape), jnp.float32)


# ====================================================================== params: structure and naming
def test_book_network_params_are_named_as_in_api_md():
    params = _book_model().init(jax.random.key(0))
    assert type(params) is dict and all(type(v) is dict for v in params.values())
    assert _shapes(params) == {
        "dense": {"kernel": (784, 512), "bias": (512,)},
        "dense_1": {"kernel": (512, 10), "bias": (10,)},
    }
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree_util.tree_leaves(params))


def test_names_are_numbered_within_each_model_not_per_process():
    first = _book_model().init(jax.random.key(0))
    for _ in range(3):
        layers.Dense(3)  # layers made elsewhere must not shift the numbering
    second = _book_model().init(jax.random.key(0))
    assert list(first) == list(second) == ["dense", "dense_1"]
    _assert_bitwise_equal(first, second)


def test_explicit_names_are_kept_and_auto_names_avoid_them():
    model = models.Sequential([
        layers.Dense(4, name="dense_1", input_shape=(5,)),
        layers.Dense(4),
        layers.Dense(4, name="head"),
        layers.Dense(2),
    ])
    params = model.init(jax.random.key(0))
    assert set(params) == {"dense_1", "dense", "head", "dense_2"}
    assert params["dense_1"]["kernel"].shape == (5, 4)  # the explicit name is the first layer
    assert params["dense_2"]["kernel"].shape == (4, 2)


def test_weightless_layers_are_absent_from_params_and_do_not_shift_names():
    model = models.Sequential([
        layers.Flatten(input_shape=(2, 2)),
        layers.Dense(4),
        layers.Activation("relu"),
        layers.Dropout(0.5),
        layers.Dense(2),
    ])
    params = model.init(jax.random.key(0))
    assert _shapes(params) == {"dense": {"kernel": (4, 4), "bias": (4,)}, "dense_1": {"kernel": (4, 2), "bias": (2,)}}


def test_adding_a_weightless_layer_leaves_the_other_weights_alone():
    plain = models.Sequential([layers.Dense(4, input_shape=(5,)), layers.Dense(2)])
    with_dropout = models.Sequential([layers.Dense(4, input_shape=(5,)), layers.Dropout(0.2), layers.Dense(2)])
    _assert_bitwise_equal(plain.init(jax.random.key(5)), with_dropout.init(jax.random.key(5)))


def test_duplicate_explicit_names_are_value_error():
    with pytest.raises(ValueError, match=r"'hidden'.*unique"):
        models.Sequential([layers.Dense(3, name="hidden", input_shape=(2,)), layers.Dense(3, name="hidden")])
    # Without a declared shape the clash surfaces at init.
    model = models.Sequential([layers.Dense(3, name="hidden"), layers.Dense(3, name="hidden")])
    with pytest.raises(ValueError, match="'hidden'"):
        model.init(jax.random.key(0), input_shape=(2,))


# ====================================================================== determinism
def test_same_key_bitwise_identical_params_different_key_different():
    model = _book_model()
    a = model.init(jax.random.key(0))
    b = model.init(jax.random.key(0))
    c = model.init(jax.random.key(1))
    _assert_bitwise_equal(a, b)
    assert not np.array_equal(np.asarray(a["dense"]["kernel"]), np.asarray(c["dense"]["kernel"]))
    assert not np.array_equal(np.asarray(a["dense_1"]["kernel"]), np.asarray(c["dense_1"]["kernel"]))
    # Two layers of one model do not share random bits.
    small = models.Sequential([layers.Dense(4, input_shape=(4,)), layers.Dense(4)]).init(jax.random.key(0))
    assert not np.array_equal(np.asarray(small["dense"]["kernel"]), np.asarray(small["dense_1"]["kernel"]))


def test_raw_uint32_key_works_like_a_typed_key():
    model = _book_model()
    _assert_bitwise_equal(model.init(jax.random.key(3)), model.init(jax.random.PRNGKey(3)))


def test_list_form_add_form_and_input_first_give_identical_params():
    listed = _book_model()
    added = models.Sequential()
    added.add(layers.Dense(512, activation="relu", input_shape=(28 * 28,)))
    added.add(layers.Dense(10, activation="softmax"))
    with_input = models.Sequential([layers.Input(shape=(784,)), layers.Dense(512, activation="relu"),
                                    layers.Dense(10, activation="softmax")])
    added_input = models.Sequential()
    added_input.add(layers.Input(shape=(784,)))
    added_input.add(layers.Dense(512, activation="relu"))
    added_input.add(layers.Dense(10, activation="softmax"))
    deferred = models.Sequential([layers.Dense(512, activation="relu"), layers.Dense(10, activation="softmax")])
    reference = listed.init(jax.random.key(0))
    for model in (added, with_input, added_input):
        _assert_bitwise_equal(model.init(jax.random.key(0)), reference)
    _assert_bitwise_equal(deferred.init(jax.random.key(0), input_shape=(784,)), reference)
    x = _x((3, 784))
    for model in (added, with_input, added_input, deferred):
        np.testing.assert_array_equal(np.asarray(model.apply(reference, x)), np.asarray(listed.apply(reference, x)))


# ====================================================================== apply
def test_book_network_apply_matches_a_hand_written_forward_pass():
    model = _book_model()
    params = model.init(jax.random.key(0))
    x = np.random.default_rng(0).uniform(size=(5, 784)).astype(np.float32)
    y = np.asarray(model.apply(params, x))
    p = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), params)
    h = np.maximum(x @ p["dense"]["kernel"] + p["dense"]["bias"], 0)
    z = h @ p["dense_1"]["kernel"] + p["dense_1"]["bias"]
    expected = np.exp(z - z.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    assert y.shape == (5, 10) and y.dtype == np.float32
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(y.sum(-1), np.ones(5), rtol=1e-5)


def test_input_shape_at_init_when_no_layer_declares_it():
    model = models.Sequential([layers.Dense(4), layers.Dense(2)])
    with pytest.raises(ValueError, match=r"input shape.*input_shape=\(\.\.\.\)"):
        model.init(jax.random.key(0))
    params = model.init(jax.random.key(0), input_shape=(5,))
    assert params["dense"]["kernel"].shape == (5, 4)
    assert model.apply(params, _x((3, 5))).shape == (3, 2)
    # Undeclared: apply follows its input, and params of the wrong size are caught, naming the weight.
    with pytest.raises(ValueError, match=r"\['dense'\]\['kernel'\].*\(5, 4\).*\(6, 4\)"):
        model.apply(params, _x((3, 6)))


def test_init_input_shape_must_agree_with_the_declared_one():
    with pytest.raises(ValueError, match=r"\(None, 784\).*\(700,\)"):
        _book_model().init(jax.random.key(0), input_shape=(700,))
    params = _book_model().init(jax.random.key(0), input_shape=(784,))
    assert params["dense"]["kernel"].shape == (784, 512)


def test_flatten_then_dense_on_images():
    model = models.Sequential([layers.Input((28, 28)), layers.Flatten(), layers.Dense(512), layers.Dense(10)])
    params = model.init(jax.random.key(0))
    assert params["dense"]["kernel"].shape == (784, 512)
    x = np.random.default_rng(0).integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
    y = model.apply(params, x)
    assert y.shape == (3, 10) and y.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(y), np.asarray(model.apply(params, x.astype(np.float32))), rtol=1e-6)


def test_sequential_nested_in_a_sequential():
    block = models.Sequential([layers.Dense(4, activation="tanh", input_shape=(5,)), layers.Dense(4)])
    model = models.Sequential([block, layers.Dense(2)])
    params = model.init(jax.random.key(0))
    assert set(params) == {"sequential", "dense"}
    assert set(params["sequential"]) == {"dense", "dense_1"}
    x = _x((3, 5))
    expected = layers.Dense(2).apply(params["dense"], block.apply(params["sequential"], x))
    np.testing.assert_allclose(np.asarray(model.apply(params, x)), np.asarray(expected), rtol=1e-6)


# ====================================================================== stack errors
def test_shape_errors_surface_at_add_time_naming_the_layer():
    model = models.Sequential([layers.Dense(4, input_shape=(5,))])
    with pytest.raises(ValueError, match=r"'reshape'.*\(5,\)"):
        model.add(layers.Reshape((5,)))
    # The failed layer is not kept.
    assert len(model.layers) == 1
    model.add(layers.Reshape((2, 2)))
    assert model.init(jax.random.key(0))["dense"]["kernel"].shape == (5, 4)


def test_input_must_come_first():
    model = models.Sequential([layers.Dense(3, input_shape=(4,))])
    with pytest.raises(ValueError, match="Input.*first"):
        model.add(layers.Input((3,)))


def test_non_layers_and_repeated_layers_are_rejected():
    with pytest.raises(TypeError, match="list of layers"):
        models.Sequential(layers.Dense(3))
    with pytest.raises(TypeError, match="layers.Dense"):
        models.Sequential(["dense"])
    with pytest.raises(TypeError, match="layer"):
        models.Sequential().add(jax.nn.relu)
    dense = layers.Dense(3)
    with pytest.raises(ValueError, match="already in the model"):
        models.Sequential([dense, dense])


@pytest.mark.parametrize("merge", ["Concatenate", "Add", "Average"])
def test_merge_layers_are_type_error(merge):
    with pytest.raises(TypeError, match=rf"{merge}.*functional API"):
        models.Sequential([layers.Dense(3, input_shape=(3,)), getattr(layers, merge)()])


def test_empty_model_errors():
    with pytest.raises(ValueError, match="no layers"):
        models.Sequential().init(jax.random.key(0), input_shape=(3,))
    with pytest.raises(ValueError, match="no layers"):
        models.Sequential().pop()


def test_pop_removes_the_last_layer():
    model = _book_model()
    last = model.pop()
    assert isinstance(last, layers.Dense) and last.units == 10
    assert list(model.init(jax.random.key(0))) == ["dense"]


def test_layers_and_get_layer():
    model = models.Sequential([layers.Dense(4, input_shape=(3,)), layers.Dropout(0.1), layers.Dense(2, name="out")])
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "Dropout", "Dense"]
    assert model.get_layer("out") is model.layers[2]
    assert model.get_layer("dropout") is model.layers[1]
    with pytest.raises(ValueError, match=r"'nope'.*\['dense', 'dropout', 'out'\]"):
        model.get_layer("nope")


# ====================================================================== property tests
@settings(max_examples=20, deadline=None, derandomize=True)
@given(
    in_dim=st.integers(1, 12),
    widths=st.lists(st.integers(1, 12), min_size=1, max_size=4),
    batch=st.integers(1, 5),
    use_bias=st.booleans(),
)
def test_dense_stack_shapes_and_param_counts_agree(in_dim, widths, batch, use_bias):
    model = models.Sequential(
        [layers.Dense(widths[0], use_bias=use_bias, input_shape=(in_dim,))]
        + [layers.Dense(w, use_bias=use_bias) for w in widths[1:]]
    )
    # Shapes only (eval_shape): no compilation, so this stays fast.
    params = jax.eval_shape(model.init, jax.random.key(0))
    y = jax.eval_shape(model.apply, params, jax.ShapeDtypeStruct((batch, in_dim), jnp.float32))
    assert y.shape == (batch, widths[-1])
    assert model.compute_output_shape((None, in_dim)) == (None, widths[-1])
    dims = [in_dim, *widths]
    expected = sum(a * b + (b if use_bias else 0) for a, b in zip(dims, dims[1:]))
    assert model.count_params() == expected
    assert sum(math.prod(leaf.shape) for leaf in jax.tree_util.tree_leaves(params)) == expected
    assert list(params) == ["dense"] + [f"dense_{i}" for i in range(1, len(widths))]
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert f"Total params: {expected:,} " in text
    assert f"(None, {widths[-1]})" in text
