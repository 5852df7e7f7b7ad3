"""funcnet.layers.normalization: BatchNormalization and LayerNormalization against Keras 3 (numpy backend)."""
import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from jax.test_util import check_grads

from funcnet import layers

TOL = dict(rtol=1e-5, atol=1e-6)


def _x(shape, seed=0, scale=3.0, shift=1.5):
    # Off-centre, wide inputs: a wrong mean or a missing epsilon shows.
    return (np.random.default_rng(seed).normal(size=shape) * scale + shift).astype(np.float32)


def _random_bn_variables(features, seed=1):
    rs = np.random.default_rng(seed)
    params = {"gamma": rs.uniform(0.5, 1.5, features).astype(np.float32),
              "beta": rs.normal(size=features).astype(np.float32)}
    state = {"moving_mean": rs.normal(size=features).astype(np.float32),
             "moving_variance": rs.uniform(0.5, 2.0, features).astype(np.float32)}
    return params, state


def _keras_bn(shape, params, state, **kwargs):
    ref = keras.layers.BatchNormalization(**kwargs)
    ref.build(shape)
    weights = [params[k] for k in ("gamma", "beta") if k in params] + [state["moving_mean"], state["moving_variance"]]
    ref.set_weights(weights)
    return ref


# ====================================================================== BatchNormalization
def test_batch_norm_variables_have_keras_names_shapes_and_initial_values():
    params, state = layers.BatchNormalization().init_with_state(jax.random.key(0), (7,))
    assert jax.tree.map(jnp.shape, params) == {"gamma": (7,), "beta": (7,)}
    np.testing.assert_array_equal(params["gamma"], np.ones(7))
    np.testing.assert_array_equal(params["beta"], np.zeros(7))
    np.testing.assert_array_equal(state["moving_mean"], np.zeros(7))
    np.testing.assert_array_equal(state["moving_variance"], np.ones(7))
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves((params, state)))
    ref = keras.layers.BatchNormalization()
    ref.build((None, 7))
    assert [w.path.split("/")[-1] for w in ref.weights] == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert set(layers.BatchNormalization(center=False).init(jax.random.key(0), (7,))) == {"gamma"}
    assert set(layers.BatchNormalization(scale=False).init(jax.random.key(0), (7,))) == {"beta"}


@pytest.mark.parametrize(
    "shape, kwargs",
    [
        ((16, 5), {}),
        ((16, 5), {"momentum": 0.9, "epsilon": 1e-5}),
        ((16, 5), {"center": False}),
        ((16, 5), {"scale": False}),
        ((4, 6, 7, 3), {}),              # channels_last images: statistics over batch, height and width
        ((4, 6, 7, 3), {"axis": 1}),     # a middle feature axis
        ((5, 9, 4), {"axis": -2}),
    ],
)
def test_batch_norm_matches_keras_in_training_and_inference(shape, kwargs):
    x = _x(shape)
    layer = layers.BatchNormalization(**kwargs)
    axis = kwargs.get("axis", -1) % len(shape)
    params, state = _random_bn_variables(shape[axis])
    if not layer.center:
        del params["beta"]
    if not layer.scale:
        del params["gamma"]
    ref = _keras_bn(shape, params, state, **kwargs)

    y_infer, same = layer.apply_with_state(params, state, x)
    np.testing.assert_allclose(y_infer, ref(x, training=False), **TOL)
    assert same is state

    y_train, new_state = layer.apply_with_state(params, state, x, training=True)
    np.testing.assert_allclose(y_train, ref(x, training=True), **TOL)  # Keras updates its moving statistics here
    np.testing.assert_allclose(new_state["moving_mean"], ref.moving_mean.numpy(), **TOL)
    np.testing.assert_allclose(new_state["moving_variance"], ref.moving_variance.numpy(), **TOL)
    # The state given is left as it was: the update is a new pytree.
    np.testing.assert_array_equal(state["moving_mean"], _random_bn_variables(shape[axis])[1]["moving_mean"])


def test_batch_norm_sample_mask_keeps_padding_rows_out_of_the_statistics():
    layer = layers.BatchNormalization()
    params, state = _random_bn_variables(5)
    real = _x((11, 5))
    padded = np.concatenate([real, np.full((5, 5), 1e3, np.float32)])  # rows a padded batch would hold
    mask = np.arange(16) < 11
    y_masked, s_masked = layer.apply_with_state(params, state, padded, training=True, sample_mask=mask)
    y_short, s_short = layer.apply_with_state(params, state, real, training=True)
    np.testing.assert_allclose(y_masked[:11], y_short, **TOL)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, **TOL), s_masked, s_short)
    # Keras's own mask argument (one entry per sample here) gives the same statistics.
    ref = _keras_bn((16, 5), params, state)
    ref(padded, training=True, mask=mask)
    np.testing.assert_allclose(s_masked["moving_mean"], ref.moving_mean.numpy(), **TOL)
    np.testing.assert_allclose(s_masked["moving_variance"], ref.moving_variance.numpy(), **TOL)
    # Images: a sample's every pixel goes out with it.
    images = _x((6, 4, 4, 3))
    y, s = layer.apply_with_state(*_random_bn_variables(3), images, training=True, sample_mask=np.arange(6) < 4)
    _, s_short = layer.apply_with_state(*_random_bn_variables(3), images[:4], training=True)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, **TOL), s, s_short)


def test_batch_norm_is_pure_under_jit_grad_and_vmap():
    layer = layers.BatchNormalization()
    params, state = _random_bn_variables(4)
    x = _x((8, 4))
    apply = jax.jit(lambda p, s, x: layer.apply_with_state(p, s, x, training=True))
    y, new_state = apply(params, state, x)
    y_eager, state_eager = layer.apply_with_state(params, state, x, training=True)
    np.testing.assert_allclose(y, y_eager, **TOL)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, **TOL), new_state, state_eager)
    # vmap over independent models (say seeds): each its own statistics.
    stacked = jax.tree.map(lambda a: jnp.stack([a, 2 * a]), params)
    ys, _ = jax.vmap(lambda p: layer.apply_with_state(p, state, x, training=True))(stacked)
    np.testing.assert_allclose(ys[1], layer.apply_with_state(jax.tree.map(lambda a: 2 * a, params), state, x,
                                                               training=True)[0], **TOL)


@pytest.mark.parametrize("training", [False, True])
def test_batch_norm_gradients_match_finite_differences(training):
    layer = layers.BatchNormalization(epsilon=1e-2)
    params, state = _random_bn_variables(3)
    x = jnp.asarray(_x((6, 3), scale=1.0, shift=0.0))
    w = jnp.asarray(np.random.default_rng(9).normal(size=(6, 3)), jnp.float32)

    def loss(p, x):
        return jnp.sum(w * layer.apply_with_state(p, state, x, training=training)[0])

    check_grads(loss, (jax.tree.map(jnp.asarray, params), x), order=1, modes=["rev"], eps=1e-3, atol=2e-2, rtol=2e-2)


def test_batch_norm_keeps_half_precision_inputs_and_float32_statistics():
    layer = layers.BatchNormalization()
    params, state = _random_bn_variables(5)
    x = _x((32, 5))
    y16, s16 = layer.apply_with_state(params, state, jnp.asarray(x, jnp.bfloat16), training=True)
    y32, s32 = layer.apply_with_state(params, state, x, training=True)
    assert y16.dtype == jnp.bfloat16 and s16["moving_mean"].dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(y16, np.float32), y32, rtol=2e-2, atol=2e-2)
    np.testing.assert_allclose(s16["moving_variance"], s32["moving_variance"], rtol=1e-2)


def test_batch_norm_plain_apply_points_at_the_state_channel():
    layer = layers.BatchNormalization()
    params, state = layer.init_with_state(jax.random.key(0), (3,))
    with pytest.raises(ValueError, match="apply_with_state"):
        layer.apply(params, jnp.ones((2, 3)))
    with pytest.raises(ValueError, match="moving_mean"):
        layer.apply_with_state(params, {}, jnp.ones((2, 3)))


@pytest.mark.parametrize(
    "kwargs, shape, error, words",
    [
        ({"axis": 3}, (4,), ValueError, "axis=3, out of range"),
        ({"axis": 0}, (4,), ValueError, "batch axis"),
        ({"axis": 1.5}, (4,), TypeError, "axis"),
        ({"momentum": 1.5}, (4,), ValueError, "momentum"),
        ({"epsilon": 0}, (4,), ValueError, "epsilon"),
        ({"epsilon": -1e-3}, (4,), ValueError, "epsilon"),
        ({}, (), ValueError, r"\(batch, \.\.\., features\)"),
    ],
)
def test_batch_norm_bad_arguments_name_the_layer_and_argument(kwargs, shape, error, words):
    with pytest.raises(error, match=words):
        layer = layers.BatchNormalization(**kwargs)
        layer.init_with_state(jax.random.key(0), shape)


def test_batch_norm_unknown_feature_size_is_refused_at_build_time():
    with pytest.raises(ValueError, match="not known"):
        layers.BatchNormalization().compute_output_shape((None, None))


# ====================================================================== LayerNormalization
@pytest.mark.parametrize(
    "shape, kwargs",
    [
        ((6, 5), {}),
        ((6, 5), {"epsilon": 1e-6}),
        ((6, 5), {"center": False}),
        ((6, 5), {"scale": False}),
        ((3, 4, 5), {}),                 # per time step
        ((3, 4, 5), {"axis": [1, 2]}),   # over a whole sample
        ((2, 3, 4, 5), {"axis": [-3, -1]}),
        ((3, 4, 5), {"axis": 1}),
    ],
)
def test_layer_norm_matches_keras(shape, kwargs):
    x = _x(shape)
    layer = layers.LayerNormalization(**kwargs)
    params = layer.init(jax.random.key(0), shape[1:])
    rs = np.random.default_rng(3)
    params = {k: rs.uniform(0.5, 1.5, v.shape).astype(np.float32) for k, v in params.items()}
    ref = keras.layers.LayerNormalization(**kwargs)
    ref.build(shape)
    ref.set_weights([params[k] for k in ("gamma", "beta") if k in params])
    assert [w.shape for w in ref.weights] == [params[k].shape for k in ("gamma", "beta") if k in params]
    np.testing.assert_allclose(layer.apply(params, x), ref(x), **TOL)
    np.testing.assert_allclose(layer.apply(params, x, training=True), ref(x), **TOL)  # no training mode
    assert layer.init_with_state(jax.random.key(0), shape[1:])[1] == {}


def test_layer_norm_gradients_match_finite_differences():
    layer = layers.LayerNormalization(epsilon=1e-2)
    params = layer.init(jax.random.key(0), (4,))
    x = jnp.asarray(_x((3, 4), scale=1.0, shift=0.0))
    w = jnp.asarray(np.random.default_rng(9).normal(size=(3, 4)), jnp.float32)
    check_grads(lambda p, x: jnp.sum(w * layer.apply(p, x)), (params, x), order=1, modes=["rev"], eps=1e-3,
                atol=2e-2, rtol=2e-2)


def test_layer_norm_keeps_bfloat16_inputs_in_bfloat16():
    layer = layers.LayerNormalization()
    params = layer.init(jax.random.key(0), (8,))
    y = layer.apply(params, jnp.asarray(_x((4, 8)), jnp.bfloat16))
    assert y.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(y, np.float32), layer.apply(params, _x((4, 8))), atol=3e-2)


@pytest.mark.parametrize(
    "kwargs, shape, error, words",
    [
        ({"axis": 2}, (4,), ValueError, "out of range"),
        ({"axis": 0}, (4,), ValueError, "batch axis"),
        ({"axis": [1, 1]}, (4, 3), ValueError, "twice"),
        ({"axis": []}, (4,), TypeError, "axis"),
        ({"axis": "last"}, (4,), TypeError, "axis"),
        ({"epsilon": 0.0}, (4,), ValueError, "epsilon"),
    ],
)
def test_layer_norm_bad_arguments_name_the_layer_and_argument(kwargs, shape, error, words):
    with pytest.raises(error, match=words):
        layers.LayerNormalization(**kwargs).init(jax.random.key(0), shape)
