"""The functional API: layers.Input, symbolic tensors, layer calls, and models.Model over the graph."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from funcnet import layers, models
from funcnet.layers import SymbolicTensor


def _x(shape, seed=0):
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape), jnp.float32)


def _np(tree):
    return jax.tree_util.tree_map(np.asarray, tree)


# ====================================================================== symbolic tensors
def test_input_is_a_symbolic_tensor_with_a_batch_axis():
    t = layers.Input(shape=(784,))
    assert isinstance(t, SymbolicTensor)
    assert t.shape == (None, 784) and t.ndim == 2
    assert layers.Input(shape=(28, 28)).shape == (None, 28, 28)
    assert layers.Input(shape=5).shape == (None, 5)  # an int, as keras.Input accepts


def test_layer_call_records_the_output_shape():
    t = layers.Input(shape=(28, 28))
    h = layers.Flatten()(t)
    assert h.shape == (None, 784)
    h = layers.Dense(32)(h)
    assert isinstance(h, SymbolicTensor) and h.shape == (None, 32)
    assert layers.Concatenate()([h, layers.Input((8,))]).shape == (None, 40)
    assert layers.Reshape((4, 8))(h).shape == (None, 4, 8)
    assert "Dense" in repr(h) and "(None, 32)" in repr(h)


@pytest.mark.parametrize("shape, error", [(None, TypeError), ((0,), ValueError), ((-1, 3), ValueError),
                                          ("784", TypeError), ((2.5,), ValueError)])
def test_bad_input_shape(shape, error):
    with pytest.raises(error, match="shape"):
        layers.Input(shape=shape)


def test_layer_called_on_an_incompatible_tensor_is_value_error():
    with pytest.raises(ValueError, match=r"input_shape=\(784,\).*\(None, 700\)"):
        layers.Dense(3, input_shape=(784,))(layers.Input((700,)))
    with pytest.raises(ValueError, match="Dense.*feature"):
        layers.Dense(3)(layers.Input((None,)))  # an unknown feature size


def test_declared_input_shape_with_a_free_size_accepts_any_size_there():
    assert layers.Dense(2, input_shape=(None, 4))(layers.Input((3, 4))).shape == (None, 3, 2)
    with pytest.raises(ValueError, match=r"\(None, 4\).*\(None, 3, 5\)"):
        layers.Dense(2, input_shape=(None, 4))(layers.Input((3, 5)))


def test_model_called_on_a_tensor_of_the_wrong_shape_is_value_error():
    a = layers.Input((4,))
    encoder = models.Model(a, layers.Dense(2)(a), name="encoder")
    with pytest.raises(ValueError, match=r"encoder.*\(None, 4\).*\(None, 5\)"):
        encoder(layers.Input((5,)))
    block = models.Sequential([layers.Dense(2, input_shape=(4,))])
    with pytest.raises(ValueError, match=r"\(None, 4\).*\(None, 5\)"):
        block(layers.Input((5,)))


def test_calling_a_layer_on_a_concrete_array_is_type_error_pointing_to_apply():
    with pytest.raises(TypeError, match=r"apply\(params, x\)"):
        layers.Dense(3)(np.ones((2, 4), np.float32))


# ====================================================================== Model: basics
def _two_tower():
    a = layers.Input(shape=(5,), name="a")
    b = layers.Input(shape=(2,), name="b")
    h = layers.Dense(4, activation="relu")(a)
    merged = layers.Concatenate()([h, b])
    out = layers.Dense(2, activation="softmax")(merged)
    return models.Model(inputs=[a, b], outputs=out)


def test_api_md_example_two_inputs_concatenate():
    model = _two_tower()
    params = model.init(jax.random.key(0))
    assert set(params) == {"dense", "dense_1"}  # Input and Concatenate have no weights
    assert params["dense"]["kernel"].shape == (5, 4)
    assert params["dense_1"]["kernel"].shape == (6, 2)
    xa, xb = _x((3, 5)), _x((3, 2), seed=1)
    y = model.apply(params, [xa, xb])
    p = _np(params)
    h = np.maximum(np.asarray(xa) @ p["dense"]["kernel"] + p["dense"]["bias"], 0)
    z = np.concatenate([h, np.asarray(xb)], -1) @ p["dense_1"]["kernel"] + p["dense_1"]["bias"]
    expected = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    np.testing.assert_allclose(np.asarray(y), expected, rtol=1e-5, atol=1e-6)
    # A tuple works like a list, and a dict keyed by input name too.
    np.testing.assert_array_equal(np.asarray(model.apply(params, (xa, xb))), np.asarray(y))
    np.testing.assert_array_equal(np.asarray(model.apply(params, {"b": xb, "a": xa})), np.asarray(y))


def test_several_outputs_come_back_as_a_list():
    a, b = layers.Input((4,)), layers.Input((4,))
    s = layers.Add()([a, b])
    d = layers.Subtract()([a, b])
    model = models.Model(inputs=[a, b], outputs=[s, layers.Dense(2)(d), d])
    params = model.init(jax.random.key(0))
    xa, xb = _x((3, 4)), _x((3, 4), seed=1)
    out = model.apply(params, [xa, xb])
    assert isinstance(out, list) and len(out) == 3
    np.testing.assert_allclose(np.asarray(out[0]), np.asarray(xa + xb), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(out[2]), np.asarray(xa - xb), rtol=1e-6)
    assert out[1].shape == (3, 2)


def test_single_tensor_in_and_out_are_arrays_list_of_one_is_a_list():
    x_in = layers.Input((4,))
    y = layers.Dense(2)(x_in)
    plain = models.Model(x_in, y)
    listed = models.Model([x_in], [y])
    params = plain.init(jax.random.key(0))
    x = _x((3, 4))
    out = plain.apply(params, x)
    assert isinstance(out, jax.Array) and out.shape == (3, 2)
    out_listed = listed.apply(params, [x])
    assert isinstance(out_listed, list) and len(out_listed) == 1
    np.testing.assert_array_equal(np.asarray(out_listed[0]), np.asarray(out))


def test_dict_inputs_by_name_errors():
    model = _two_tower()
    params = model.init(jax.random.key(0))
    with pytest.raises(ValueError, match=r"\['a', 'b'\].*lacks \['b'\]"):
        model.apply(params, {"a": _x((3, 5))})
    with pytest.raises(ValueError, match="unknown.*'c'"):
        model.apply(params, {"a": _x((3, 5)), "b": _x((3, 2)), "c": _x((3, 2))})


def test_wrong_number_of_inputs_is_value_error():
    model = _two_tower()
    params = model.init(jax.random.key(0))
    with pytest.raises(ValueError, match=r"takes 2 inputs.*\['a', 'b'\]"):
        model.apply(params, _x((3, 5)))
    with pytest.raises(ValueError, match=r"2 input\(s\).*list of 3"):
        model.apply(params, [_x((3, 5)), _x((3, 2)), _x((3, 2))])
    with pytest.raises(ValueError, match=r"list of 1"):
        model.apply(params, [_x((3, 5))])


def test_wrong_shape_of_one_input_names_it():
    model = _two_tower()
    params = model.init(jax.random.key(0))
    with pytest.raises(ValueError, match=r"'b'.*\(None, 2\).*\(3, 4\)"):
        model.apply(params, [_x((3, 5)), _x((3, 4))])


def test_unused_branch_is_not_in_params():
    a = layers.Input((4,))
    used = layers.Dense(2)(a)
    layers.Dense(7)(a)  # never reaches the outputs
    params = models.Model(a, used).init(jax.random.key(0))
    assert list(params) == ["dense"] and params["dense"]["kernel"].shape == (4, 2)


def test_an_input_can_be_an_output():
    a = layers.Input((4,))
    model = models.Model(a, [a, layers.Dense(2)(a)])
    params = model.init(jax.random.key(0))
    x = _x((3, 4))
    out = model.apply(params, x)
    np.testing.assert_array_equal(np.asarray(out[0]), np.asarray(x))


# ====================================================================== shared layers
def test_shared_layer_in_series_has_one_params_entry_and_both_uses_get_gradient():
    x_in = layers.Input((4,))
    shared = layers.Dense(4, activation="tanh")
    model = models.Model(x_in, shared(shared(x_in)))
    params = model.init(jax.random.key(0))
    assert list(params) == ["dense"]

    def by_hand(p, x, second_use_differentiated=True):
        k, b = p["dense"]["kernel"], p["dense"]["bias"]
        h = jnp.tanh(x @ k + b[None, :])
        if not second_use_differentiated:  # what an implementation that dropped one use's gradient gives
            k, b = jax.lax.stop_gradient(k), jax.lax.stop_gradient(b)
        return jnp.tanh(h @ k + b[None, :])

    x, w = _x((3, 4)), _x((3, 4), seed=5)
    params = {"dense": {"kernel": params["dense"]["kernel"], "bias": 0.1 * _x((4,), seed=2)}}
    np.testing.assert_allclose(np.asarray(model.apply(params, x)), np.asarray(by_hand(params, x)), rtol=1e-6)
    g_model = jax.grad(lambda p: jnp.sum(w * model.apply(p, x)))(params)
    g_hand = jax.grad(lambda p: jnp.sum(w * by_hand(p, x)))(params)
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
                           _np(g_model), _np(g_hand))
    g_one_use = jax.grad(lambda p: jnp.sum(w * by_hand(p, x, second_use_differentiated=False)))(params)
    assert not np.allclose(np.asarray(g_model["dense"]["kernel"]), np.asarray(g_one_use["dense"]["kernel"]))
    check_grads(lambda p, x: jnp.sum(w * model.apply(p, x)), (params, x), order=2, modes=["rev"], eps=1e-3)


def test_shared_layer_on_two_inputs_sums_both_gradients():
    a, b = layers.Input((4,)), layers.Input((4,))
    shared = layers.Dense(2, use_bias=False)
    model = models.Model([a, b], layers.Multiply()([shared(a), shared(b)]))
    params = model.init(jax.random.key(1))
    assert list(params) == ["dense"] and list(params["dense"]) == ["kernel"]
    xa, xb = _x((3, 4)), _x((3, 4), seed=1)

    def by_hand(k):
        return jnp.sum((xa @ k) * (xb @ k))

    g = jax.grad(lambda p: jnp.sum(model.apply(p, [xa, xb])))(params)["dense"]["kernel"]
    np.testing.assert_allclose(np.asarray(g), np.asarray(jax.grad(by_hand)(params["dense"]["kernel"])),
                               rtol=1e-5, atol=1e-6)


def test_shared_layer_on_different_shapes_is_value_error():
    shared = layers.Dense(3)
    a, b = layers.Input((4,)), layers.Input((5,))
    with pytest.raises(ValueError, match=r"shared|same input shape"):
        ya, yb = shared(a), shared(b)
        models.Model([a, b], [ya, yb])


def test_shared_layer_summary_counts_weights_once():
    x_in = layers.Input((4,))
    shared = layers.Dense(4)
    model = models.Model(x_in, shared(shared(x_in)))
    lines = []
    model.summary(print_fn=lines.append)
    assert "Total params: 20 " in "\n".join(lines)
    assert model.count_params() == 20


# ====================================================================== nested models
def test_model_nested_as_a_layer():
    inner_in = layers.Input((4,))
    inner = models.Model(inner_in, layers.Dense(4, activation="tanh")(inner_in), name="encoder")
    x_in = layers.Input((4,))
    outer = models.Model(x_in, layers.Dense(2)(inner(x_in)))
    params = outer.init(jax.random.key(0))
    assert set(params) == {"encoder", "dense"}
    assert set(params["encoder"]) == {"dense"}  # the inner model's own names, nested under its name
    assert params["encoder"]["dense"]["kernel"].shape == (4, 4)
    assert params["dense"]["kernel"].shape == (4, 2)
    x = _x((3, 4))
    h = inner.apply(params["encoder"], x)
    expected = h @ params["dense"]["kernel"] + params["dense"]["bias"][None, :]
    np.testing.assert_allclose(np.asarray(outer.apply(params, x)), np.asarray(expected), rtol=1e-6)
    check_grads(lambda p, x: jnp.sum(outer.apply(p, x) ** 2), (params, x), order=2, modes=["rev"], eps=1e-3)


def test_sequential_nested_in_a_functional_model_and_called_twice():
    block = models.Sequential([layers.Dense(4, activation="tanh", input_shape=(4,)), layers.Dense(4)])
    a, b = layers.Input((4,)), layers.Input((4,))
    model = models.Model([a, b], layers.Add()([block(a), block(b)]))
    params = model.init(jax.random.key(0))
    assert list(params) == ["sequential"]
    assert set(params["sequential"]) == {"dense", "dense_1"}
    xa, xb = _x((3, 4)), _x((3, 4), seed=1)
    expected = block.apply(params["sequential"], xa) + block.apply(params["sequential"], xb)
    np.testing.assert_allclose(np.asarray(model.apply(params, [xa, xb])), np.asarray(expected), rtol=1e-6)


def test_two_unnamed_nested_models_get_distinct_names():
    def block():
        t = layers.Input((4,))
        return models.Model(t, layers.Dense(4)(t))

    x_in = layers.Input((4,))
    model = models.Model(x_in, block()(block()(x_in)))
    params = model.init(jax.random.key(0))
    assert sorted(params) == ["functional", "functional_1"]


def test_nested_model_with_dropout_needs_a_key_and_uses_it():
    inner_in = layers.Input((4,))
    inner = models.Model(inner_in, layers.Dropout(0.5)(inner_in))
    x_in = layers.Input((4,))
    model = models.Model(x_in, inner(x_in))
    params = model.init(jax.random.key(0))
    x = jnp.ones((3, 4))
    with pytest.raises(ValueError, match=r"Layer 'functional/dropout' \(Dropout\).*stochastic.*rng="):
        model.apply(params, x, training=True)  # names the path to the layer at fault
    y = np.asarray(model.apply(params, x, rng=jax.random.key(0), training=True))
    assert set(np.unique(y)) == {0.0, 2.0}  # some dropped, the rest scaled by 1 / (1 - 0.5)
    np.testing.assert_array_equal(np.asarray(model.apply(params, x)), np.asarray(x))


def test_the_key_error_names_the_dropout_inside_a_nested_sequential():
    block = models.Sequential([layers.Dense(4, input_shape=(3,)), layers.Dropout(0.5, name="drop")], name="block")
    x_in = layers.Input((3,))
    model = models.Model(x_in, layers.Dense(2)(block(x_in)))
    with pytest.raises(ValueError, match=r"Layer 'block/drop' \(Dropout\) of model 'functional'"):
        model.apply(model.init(jax.random.key(0)), jnp.ones((2, 3)), training=True)


# ====================================================================== graph errors
def test_outputs_depending_on_an_input_missing_from_inputs_is_value_error():
    a, b = layers.Input((3,)), layers.Input((4,), name="side")
    out = layers.Concatenate()([a, b])
    with pytest.raises(ValueError, match=r"\(None, 4\).*'side'.*not in Model\(inputs"):
        models.Model(inputs=a, outputs=out)


def test_model_inputs_must_be_input_tensors():
    a = layers.Input((3,))
    h = layers.Dense(3)(a)
    with pytest.raises(TypeError, match="layers.Input"):
        models.Model(inputs=h, outputs=layers.Dense(2)(h))
    with pytest.raises(TypeError, match="layers.Input"):
        models.Model(inputs=np.ones((2, 3)), outputs=h)
    with pytest.raises(TypeError, match="outputs"):
        models.Model(inputs=a, outputs=np.ones((2, 3)))
    with pytest.raises(ValueError, match="same Input twice"):
        models.Model(inputs=[a, a], outputs=h)
    with pytest.raises(ValueError, match="at least one"):
        models.Model(inputs=[], outputs=h)


def test_symbolic_tensor_given_to_apply_is_type_error():
    a = layers.Input((4,))
    model = models.Model(a, layers.Dense(2)(a))
    params = model.init(jax.random.key(0))
    with pytest.raises(TypeError, match=r"model\(tensor\)"):
        model.apply(params, layers.Input((4,)))


def test_input_dtype_casts_in_apply():
    a = layers.Input((3,), dtype=jnp.bfloat16)
    model = models.Model(a, layers.Activation("relu")(a))
    assert model.apply({}, jnp.ones((2, 3), jnp.float32)).dtype == jnp.bfloat16
    b = layers.Input((3,))
    ident = models.Model(b, layers.Activation("linear")(b))
    assert ident.apply({}, np.ones((2, 3), np.uint8)).dtype == jnp.float32
    assert ident.apply({}, jnp.ones((2, 3), jnp.bfloat16)).dtype == jnp.bfloat16
