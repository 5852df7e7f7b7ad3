"""funcnet.layers.merge: Concatenate, Add, Subtract, Multiply, Average, Maximum, Minimum."""
import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.test_util import check_grads

from funcnet import layers, models

ELEMENTWISE = {
    "Add": lambda xs: sum(xs),
    "Subtract": lambda xs: xs[0] - xs[1],
    "Multiply": lambda xs: np.prod(xs, axis=0),
    "Average": lambda xs: sum(xs) / len(xs),
    "Maximum": lambda xs: np.max(xs, axis=0),
    "Minimum": lambda xs: np.min(xs, axis=0),
}
ALL = [*ELEMENTWISE, "Concatenate"]


def _xs(n, shape=(3, 4), seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape).astype(np.float32) for _ in range(n)]


def _n_inputs(name):
    return 2 if name == "Subtract" else 3


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise_values_match_numpy_and_keras(name):
    xs = _xs(_n_inputs(name))
    y = getattr(layers, name)().apply({}, [jnp.asarray(x) for x in xs])
    assert y.shape == (3, 4) and y.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(y), ELEMENTWISE[name](np.stack(xs)), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(y), np.asarray(getattr(keras.layers, name)()(xs)), rtol=1e-6)


def test_concatenate_values_match_keras():
    a, b = _xs(1, (2, 3))[0], _xs(1, (2, 5), seed=1)[0]
    y = layers.Concatenate().apply({}, [a, b])
    np.testing.assert_array_equal(np.asarray(y), np.concatenate([a, b], axis=-1))
    np.testing.assert_array_equal(np.asarray(y), np.asarray(keras.layers.Concatenate()([a, b])))


def test_concatenate_on_another_axis():
    a, b = np.ones((2, 3, 4), np.float32), np.zeros((2, 5, 4), np.float32)
    layer = layers.Concatenate(axis=1)
    assert layer.compute_output_shape([(None, 3, 4), (None, 5, 4)]) == (None, 8, 4)
    np.testing.assert_array_equal(np.asarray(layer.apply({}, [a, b])), np.concatenate([a, b], axis=1))


@pytest.mark.parametrize("name", ALL)
def test_merge_layers_have_no_weights_and_accept_tuples(name):
    layer = getattr(layers, name)()
    xs = tuple(_xs(2))
    np.testing.assert_array_equal(np.asarray(layer.apply({}, xs)), np.asarray(layer.apply({}, list(xs))))
    a, b = layers.Input((4,)), layers.Input((4,))
    model = models.Model(inputs=[a, b], outputs=getattr(layers, name)()([a, b]))
    assert model.init(jax.random.key(0)) == {}


@pytest.mark.parametrize("name", ALL)
def test_merge_gradients_wrt_every_input(name):
    layer = getattr(layers, name)()
    xs = [jnp.asarray(x) for x in _xs(_n_inputs(name), seed=3)]  # distinct values: no ties at max / min
    w = jnp.asarray(np.random.default_rng(9).normal(size=layer.apply({}, xs).shape), jnp.float32)
    check_grads(lambda *xs: jnp.sum(w * layer.apply({}, list(xs))), tuple(xs), order=2, modes=["rev"], eps=1e-3)


def test_maximum_gradient_goes_to_the_larger_input():
    a, b = jnp.array([[1.0, 5.0]]), jnp.array([[2.0, 3.0]])
    ga, gb = jax.grad(lambda a, b: jnp.sum(layers.Maximum().apply({}, [a, b])), argnums=(0, 1))(a, b)
    np.testing.assert_array_equal(np.asarray(ga), [[0.0, 1.0]])
    np.testing.assert_array_equal(np.asarray(gb), [[1.0, 0.0]])


# ------------------------------------------------------------------ shapes and errors
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise_output_shape_and_mismatch(name):
    layer = getattr(layers, name)()
    assert layer.compute_output_shape([(None, 3, 4), (None, 3, 4)]) == (None, 3, 4)
    with pytest.raises(ValueError, match=r"\(None, 3, 4\).*\(None, 3, 5\)"):
        layer.compute_output_shape([(None, 3, 4), (None, 3, 5)])
    with pytest.raises(ValueError, match=name):
        layer.apply({}, [jnp.ones((2, 4)), jnp.ones((2, 5))])
    with pytest.raises(ValueError, match=name):
        layer([layers.Input((4,)), layers.Input((5,))])


def test_elementwise_layers_do_not_broadcast():
    # A (1,) feature axis must not silently broadcast against (4,): Keras semantics, not numpy's.
    with pytest.raises(ValueError, match="Add"):
        layers.Add().apply({}, [jnp.ones((2, 4)), jnp.ones((2, 1))])
    with pytest.raises(ValueError, match="Multiply"):
        layers.Multiply().apply({}, [jnp.ones((2, 4)), jnp.ones((2, 3, 4))])


def test_concatenate_mismatched_shapes_is_value_error():
    with pytest.raises(ValueError, match=r"Concatenate.*\(None, 3, 4\).*\(None, 5, 6\)"):
        layers.Concatenate()([layers.Input((3, 4)), layers.Input((5, 6))])
    with pytest.raises(ValueError, match="Concatenate"):
        layers.Concatenate().apply({}, [jnp.ones((2, 3, 4)), jnp.ones((2, 5, 4))])
    with pytest.raises(ValueError, match="Concatenate"):
        layers.Concatenate().apply({}, [jnp.ones((2, 3)), jnp.ones((2, 3, 1))])


def test_concatenate_bad_axis():
    with pytest.raises(ValueError, match="axis"):
        layers.Concatenate(axis=0)([layers.Input((3,)), layers.Input((3,))])  # the batch axis
    with pytest.raises(ValueError, match="axis"):
        layers.Concatenate(axis=2)([layers.Input((3,)), layers.Input((3,))])
    with pytest.raises(TypeError, match="axis"):
        layers.Concatenate(axis="last")


@pytest.mark.parametrize("name", ALL)
def test_merge_needs_at_least_two_inputs(name):
    layer = getattr(layers, name)()
    with pytest.raises(ValueError, match="2"):
        layer.apply({}, [jnp.ones((2, 3))])
    with pytest.raises(ValueError, match="2"):
        layer([layers.Input((3,))])


def test_subtract_takes_exactly_two():
    with pytest.raises(ValueError, match="exactly 2"):
        layers.Subtract().apply({}, [jnp.ones((2, 3))] * 3)


@pytest.mark.parametrize("name", ALL)
def test_merge_layer_on_a_single_tensor_is_type_error(name):
    layer = getattr(layers, name)()
    with pytest.raises(TypeError, match="list"):
        layer(layers.Input((3,)))
    with pytest.raises(TypeError, match="list"):
        layer.apply({}, jnp.ones((2, 3)))


def test_merge_layer_on_concrete_arrays_points_to_apply():
    with pytest.raises(TypeError, match="apply"):
        layers.Add()([jnp.ones((2, 3)), jnp.ones((2, 3))])


def test_merge_layer_on_non_arrays_is_type_error():
    with pytest.raises(TypeError, match="Add"):
        layers.Add().apply({}, [jnp.ones((2, 3)), None])
    with pytest.raises(TypeError, match="Concatenate"):
        layers.Concatenate().apply({}, ["hello", "world"])


def test_single_input_layer_called_on_a_list_is_type_error():
    with pytest.raises(TypeError, match="Concatenate|Add"):
        layers.Dense(3)([layers.Input((3,)), layers.Input((3,))])


@pytest.mark.parametrize("name", ALL)
def test_merge_layers_in_a_sequential_are_type_error(name):
    with pytest.raises(TypeError, match="functional API"):
        models.Sequential([layers.Dense(3, input_shape=(3,)), getattr(layers, name)()])
    model = models.Sequential()
    with pytest.raises(TypeError, match=name):
        model.add(getattr(layers, name)())


# ------------------------------------------------------------------ property test
@settings(max_examples=20, deadline=None, derandomize=True)
@given(
    widths=st.lists(st.integers(1, 6), min_size=2, max_size=4),
    time=st.integers(1, 3),
    batch=st.integers(1, 3),
    axis=st.sampled_from([1, 2, -1]),
)
def test_concatenate_symbolic_shape_equals_applied_shape(widths, time, batch, axis):
    # Inputs (batch, time, w_i) joined on `axis`: along the last axis widths add up; along axis 1 the
    # widths must agree, so only the first width is used for every input.
    if axis == 1:
        shapes = [(time + i, widths[0]) for i in range(len(widths))]
    else:
        shapes = [(time, w) for w in widths]
    tensors = [layers.Input(shape) for shape in shapes]
    layer = layers.Concatenate(axis=axis)
    symbolic = layer(tensors).shape
    concrete = jax.eval_shape(lambda *xs: layer.apply({}, list(xs)),
                              *[jax.ShapeDtypeStruct((batch, *s), jnp.float32) for s in shapes])
    assert symbolic == (None, *concrete.shape[1:])
    assert concrete.shape == np.concatenate([np.zeros((batch, *s)) for s in shapes], axis=axis).shape
    # The elementwise layers keep the (common) shape.
    same = [layers.Input(shapes[0]) for _ in shapes]
    assert layers.Add()(same).shape == (None, *shapes[0])


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("masked", [(True, True), (True, False)], ids=["both-masked", "one-masked"])
def test_masks_merge_as_keras(name, masked):
    """Masked sequences (Masking) merged, then the merged mask read by a GlobalAveragePooling1D: the
    values at masked steps and the output mask both equal Keras 3's."""
    steps, features = 5, 3
    rs = np.random.default_rng(0)
    xs = [rs.normal(size=(4, steps, features)).astype(np.float32) for _ in range(2)]
    xs[0][0, :2] = 0.0   # pre-padding in the first input
    xs[1][1, 3:] = 0.0   # post-padding in the second
    xs[0][2, :] = 0.0    # a row masked everywhere in the first input
    xs[1][2, 4:] = 0.0

    def build(lib, inputs):
        seqs = [lib.layers.Masking(0.0)(x) if m else x for x, m in zip(inputs, masked)]
        merged = getattr(lib.layers, name)()(seqs)
        return [merged, lib.layers.GlobalAveragePooling1D()(merged)]

    k_in = [keras.Input((steps, features)) for _ in range(2)]
    ref = keras.Model(k_in, build(keras, k_in))
    f_in = [layers.Input((steps, features)) for _ in range(2)]
    ours = models.Model(f_in, build(type("lib", (), {"layers": layers}), f_in))
    want = ref(xs)
    got = ours.apply(ours.init(jax.random.key(0)), xs)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-6, atol=1e-6)
