"""The state channel of models: init_with_state / apply_with_state through Sequential, functional and
nested models, under jit, grad and vmap; summary counts; errors."""
import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

from funcnet import layers, models

TOL = dict(rtol=1e-5, atol=1e-6)


def _bn_mlp(name=None):
    return models.Sequential([
        layers.Dense(6, input_shape=(4,)),
        layers.BatchNormalization(),
        layers.Activation("relu"),
        layers.Dense(3, activation="softmax"),
    ], name=name)


def _x(n=10, features=4, seed=0):
    return jnp.asarray(np.random.default_rng(seed).normal(size=(n, features)) * 2 + 1, jnp.float32)


def _close(a, b):
    jax.tree.map(lambda u, v: np.testing.assert_allclose(u, v, **TOL), a, b)


def test_init_with_state_gives_init_params_and_the_moving_statistics():
    model = _bn_mlp()
    params, state = model.init_with_state(jax.random.key(3))
    assert jax.tree.all(jax.tree.map(jnp.array_equal, params, model.init(jax.random.key(3))))
    assert jax.tree.map(jnp.shape, state) == {"batch_normalization": {"moving_mean": (6,), "moving_variance": (6,)}}
    assert jax.tree.map(jnp.shape, params)["batch_normalization"] == {"gamma": (6,), "beta": (6,)}
    plain = models.Sequential([layers.Dense(3, input_shape=(4,))])
    p, s = plain.init_with_state(jax.random.key(0))
    assert s == {} and not plain.stateful and model.stateful
    y, s2 = plain.apply_with_state(p, s, _x())
    np.testing.assert_array_equal(y, plain.apply(p, _x()))
    assert s2 == {}


def test_sequential_threads_the_state_as_its_layers_would_one_by_one():
    model = _bn_mlp()
    params, state = model.init_with_state(jax.random.key(0))
    x = _x()
    y, new_state = model.apply_with_state(params, state, x, training=True)
    dense, bn, act, out = model.layers
    h = dense.apply(params["dense"], x)
    h, bn_state = bn.apply_with_state(params["batch_normalization"], state["batch_normalization"], h, training=True)
    _close(y, out.apply(params["dense_1"], act.apply({}, h)))
    _close(new_state["batch_normalization"], bn_state)
    # Inference: the moving statistics are read and come back as they were.
    y_infer, same = model.apply_with_state(params, new_state, x)
    _close(same, new_state)
    assert not np.allclose(y_infer, y)


def test_model_apply_on_a_stateful_model_names_the_layers_and_the_fix():
    model = _bn_mlp()
    params = model.init(jax.random.key(0))
    with pytest.raises(ValueError, match=r"\['batch_normalization'\].*apply_with_state"):
        model.apply(params, _x())
    _, state = model.init_with_state(jax.random.key(0))
    with pytest.raises(ValueError, match="state do not match the model"):
        model.apply_with_state(params, {}, _x())
    bad = {"batch_normalization": {"moving_mean": jnp.zeros(5), "moving_variance": jnp.ones(6)}}
    with pytest.raises(ValueError, match=r"moving_mean.*\(5,\).*\(6,\)"):
        model.apply_with_state(params, bad, _x())
    with pytest.raises(TypeError, match="state is None"):
        model.apply_with_state(params, None, _x())


def test_nested_and_functional_models_nest_state_under_the_inner_name():
    block = _bn_mlp(name="block")
    inputs = layers.Input(shape=(4,))
    outputs = layers.BatchNormalization(name="top_bn")(block(inputs))
    model = models.Model(inputs, outputs)
    params, state = model.init_with_state(jax.random.key(0))
    assert sorted(state) == ["block", "top_bn"]
    assert sorted(state["block"]) == ["batch_normalization"]
    assert model.stateful_layers == ["block/batch_normalization", "top_bn"]
    x = _x()
    y, new_state = model.apply_with_state(params, state, x, training=True)
    h, block_state = block.apply_with_state(params["block"], state["block"], x, training=True)
    top, top_state = model.get_layer("top_bn").apply_with_state(params["top_bn"], state["top_bn"], h, training=True)
    _close(y, top)
    _close(new_state, {"block": block_state, "top_bn": top_state})
    with pytest.raises(ValueError, match=r"block/batch_normalization"):
        model.apply(params, x)


def test_a_shared_batch_norm_updates_its_statistics_once_per_call():
    shared = layers.BatchNormalization(name="shared")
    a = layers.Input(shape=(4,))
    first = shared(a)
    second = shared(layers.Dense(4, name="mix")(first))
    model = models.Model(a, second)
    params, state = model.init_with_state(jax.random.key(0))
    _, new_state = model.apply_with_state(params, state, _x(), training=True)
    h, s1 = shared.apply_with_state(params["shared"], state["shared"], _x(), training=True)
    h = layers.Dense(4).apply(params["mix"], h)
    _, s2 = shared.apply_with_state(params["shared"], s1, h, training=True)
    _close(new_state["shared"], s2)


def test_apply_with_state_under_jit_grad_and_vmap():
    model = _bn_mlp()
    params, state = model.init_with_state(jax.random.key(0))
    x = _x()
    labels = jax.nn.one_hot(jnp.arange(10) % 3, 3)

    def loss(p, s, x):
        y, s = model.apply_with_state(p, s, x, training=True)
        return -jnp.mean(jnp.sum(labels * jnp.log(y), -1)), s

    (value, new_state), grads = jax.jit(jax.value_and_grad(loss, has_aux=True))(params, state, x)
    assert jax.tree.structure(grads) == jax.tree.structure(params)  # gradients for params only
    assert float(jnp.abs(grads["batch_normalization"]["gamma"]).sum()) > 0
    eager_value, eager_state = loss(params, state, x)
    np.testing.assert_allclose(value, eager_value, **TOL)
    _close(new_state, eager_state)
    # vmap over a stack of models: each with its own params and state.
    keys = jax.random.split(jax.random.key(0), 3)
    stacked_params, stacked_state = jax.vmap(model.init_with_state)(keys)
    ys, states = jax.vmap(lambda p, s: model.apply_with_state(p, s, x, training=True))(stacked_params, stacked_state)
    one = jax.tree.map(lambda a: a[1], (stacked_params, stacked_state))
    y1, s1 = model.apply_with_state(*one, x, training=True)
    _close(ys[1], y1)
    _close(jax.tree.map(lambda a: a[1], states), s1)


def test_summary_counts_state_as_non_trainable_as_keras_does():
    model = _bn_mlp()
    lines = []
    model.summary(print_fn=lines.append)
    text = lines[0]
    ref = keras.Sequential([keras.Input((4,)), keras.layers.Dense(6), keras.layers.BatchNormalization(),
                            keras.layers.Activation("relu"), keras.layers.Dense(3, activation="softmax")])
    trainable = sum(int(np.prod(w.shape)) for w in ref.trainable_weights)
    non_trainable = sum(int(np.prod(w.shape)) for w in ref.non_trainable_weights)
    assert (trainable, non_trainable) == (30 + 12 + 21, 12)
    assert f"Total params: {trainable + non_trainable:,}" in text
    assert f"Trainable params: {trainable:,}" in text
    assert f"Non-trainable params: {non_trainable:,} (48.00 B)" in text
    assert "batch_normalization (BatchNormalization)" in text and " 24" in text  # gamma, beta and the two moving
    assert model.count_params() == ref.count_params()


def test_model_state_is_read_write_and_checked():
    model = _bn_mlp()
    assert model.state is None
    params, state = model.init_with_state(jax.random.key(0))
    model.params, model.state = params, state
    assert model.state is state
    with pytest.raises(ValueError, match="state do not match"):
        model.state = {"other": {"moving_mean": jnp.zeros(6)}}
    with pytest.raises(TypeError, match="dict"):
        model.state = [1, 2]
    model.state = None
    with pytest.raises(RuntimeError, match=r"state.*batch_normalization"):
        model.predict(np.asarray(_x()), verbose=0)
