"""model.apply is a pure function: jit, grad and vmap work on it; params are a plain pytree optax takes."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.test_util import check_grads

from funcnet import layers, models


def _sequential():
    return models.Sequential([
        layers.Dense(4, activation="tanh", input_shape=(5,)),
        layers.Dropout(0.25),
        layers.Dense(4, activation="gelu"),
        layers.Dense(4, activation="softmax"),
    ])


def _functional():
    a, b = layers.Input((5,)), layers.Input((2,))
    h = layers.Dense(4, activation="sigmoid")(a)
    shared = layers.Dense(4, activation="tanh")
    h2 = layers.Add()([shared(h), shared(shared(h))])
    out = layers.Dense(2)(layers.Concatenate()([h2, b]))
    return models.Model([a, b], [out, h2])


def _x(shape, seed=0):
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape), jnp.float32)


def _weights(shape, seed=99):
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape), jnp.float32)


def _assert_trees_close(a, b, **kw):
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), **kw)


# ====================================================================== params are a plain pytree
def test_params_are_a_plain_nested_dict_of_arrays():
    params = _sequential().init(jax.random.key(0))
    assert type(params) is dict
    assert all(type(v) is dict for v in params.values())
    leaves, treedef = jax.tree_util.tree_flatten(params)
    assert len(leaves) == 6 and all(isinstance(leaf, jax.Array) for leaf in leaves)
    assert jax.tree_util.tree_unflatten(treedef, leaves) == params


def test_optax_adam_init_update_apply_updates():
    model = _sequential()
    params = model.init(jax.random.key(0))
    x, labels = _x((16, 5)), jnp.arange(16) % 3

    def loss(p):
        probs = model.apply(p, x)
        return -jnp.mean(jnp.log(probs[jnp.arange(16), labels]))

    opt = optax.adam(1e-3)

    @jax.jit
    def train_step(p, s):
        g = jax.grad(loss)(p)
        assert jax.tree_util.tree_structure(g) == jax.tree_util.tree_structure(p)
        u, s = opt.update(g, s, p)
        return optax.apply_updates(p, u), s

    new_params, state = train_step(params, opt.init(params))
    assert type(new_params) is dict and set(new_params) == set(params)
    # Adam's first step moves every weight with a non-zero gradient by about the learning rate.
    step = np.abs(np.asarray(new_params["dense"]["kernel"] - params["dense"]["kernel"]))
    assert np.all(step < 1.1e-3) and np.max(step) > 0.9e-3
    p = new_params
    for _ in range(30):
        p, state = train_step(p, state)
    jitted_loss = jax.jit(loss)
    assert jitted_loss(p) < jitted_loss(params)


# ====================================================================== jit
def test_jitted_apply_equals_eager_apply():
    model = _sequential()
    params = model.init(jax.random.key(0))
    x = _x((3, 5))
    eager = model.apply(params, x)
    jitted = jax.jit(model.apply)(params, x)
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(eager), rtol=1e-6, atol=1e-7)
    key = jax.random.key(1)
    train = jax.jit(lambda p, x, k: model.apply(p, x, rng=k, training=True))
    np.testing.assert_allclose(np.asarray(train(params, x, key)),
                               np.asarray(model.apply(params, x, rng=key, training=True)), rtol=1e-6, atol=1e-7)


def test_jitted_functional_apply_equals_eager():
    model = _functional()
    params = model.init(jax.random.key(0))
    xs = [_x((3, 5)), _x((3, 2), seed=1)]
    _assert_trees_close(jax.jit(model.apply)(params, xs), model.apply(params, xs), rtol=1e-6, atol=1e-7)


def test_jit_does_not_retrace_for_new_values_of_the_same_shape():
    model = _sequential()
    traces = []

    @jax.jit
    def forward(p, x, k):
        traces.append(1)
        return model.apply(p, x, rng=k, training=True)

    params = model.init(jax.random.key(0))
    for i in range(3):
        forward(params, _x((3, 5), seed=i), jax.random.key(i))
    forward(model.init(jax.random.key(9)), _x((3, 5)), jax.random.key(0))
    assert len(traces) == 1


def test_shape_errors_are_raised_at_trace_time_under_jit():
    model = _sequential()
    params = model.init(jax.random.key(0))
    with pytest.raises(ValueError, match=r"\(None, 5\).*\(4, 6\)"):
        jax.jit(model.apply)(params, jnp.ones((4, 6)))


def test_dropout_under_jit_depends_on_the_traced_key():
    model = models.Sequential([layers.Dropout(0.5, input_shape=(4,))])
    apply = jax.jit(lambda x, k: model.apply({}, x, rng=k, training=True))
    x = jnp.ones((3, 4))
    a, b, c = (np.asarray(apply(x, jax.random.key(i))) for i in (1, 1, 2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_init_under_jit_equals_eager_init():
    model = _sequential()
    _assert_trees_close(jax.jit(model.init)(jax.random.key(3)), model.init(jax.random.key(3)), rtol=0, atol=0)


# ====================================================================== grad
def test_grad_of_apply_matches_a_hand_written_model():
    model = models.Sequential([layers.Dense(4, activation="tanh", input_shape=(5,)), layers.Dense(2)])
    params = model.init(jax.random.key(0))
    x, w = _x((3, 5)), _weights((3, 2))

    def by_hand(p):
        h = jnp.tanh(x @ p["dense"]["kernel"] + p["dense"]["bias"][None, :])
        return jnp.sum(w * (h @ p["dense_1"]["kernel"] + p["dense_1"]["bias"][None, :]))

    _assert_trees_close(jax.grad(lambda p: jnp.sum(w * model.apply(p, x)))(params), jax.grad(by_hand)(params),
                        rtol=1e-5, atol=1e-6)


def test_check_grads_through_a_whole_sequential():
    model = _sequential()
    params = model.init(jax.random.key(0))
    key = jax.random.key(7)
    x, w = _x((3, 5)), _weights((3, 4))

    def f(p, x):  # in training mode, so Dropout (with a fixed key) is on the path too
        return jnp.sum(w * model.apply(p, x, rng=key, training=True))

    check_grads(f, (params, x), order=2, modes=["rev"], eps=1e-3)


def test_check_grads_through_a_functional_model():
    model = _functional()
    params = model.init(jax.random.key(0))
    xa, xb = _x((3, 5)), _x((3, 2), seed=1)
    w1, w2 = _weights((3, 2)), _weights((3, 4), seed=98)

    def f(p, xa, xb):
        out, h2 = model.apply(p, [xa, xb])
        return jnp.sum(w1 * out) + jnp.sum(w2 * h2)

    check_grads(f, (params, xa, xb), order=2, modes=["rev"], eps=1e-3)


def test_gradients_through_inputs_of_a_dict_input_model():
    a = layers.Input((4,), name="x")
    model = models.Model(a, layers.Dense(2, use_bias=False)(a))
    params = model.init(jax.random.key(0))
    g = jax.grad(lambda x: jnp.sum(model.apply(params, {"x": x})))(jnp.ones((3, 4)))
    np.testing.assert_allclose(np.asarray(g), np.tile(np.asarray(params["dense"]["kernel"]).sum(1), (3, 1)), rtol=1e-6)


# ====================================================================== vmap
def test_vmap_over_a_batch_of_params():
    model = _sequential()
    # The stack is built from eager inits, whose compiled kernels other tests share (compiling a
    # vmapped init costs seconds on a small CPU); that init vmaps at all is checked on shapes alone.
    keys = jax.random.split(jax.random.key(0), 3)
    assert jax.eval_shape(jax.vmap(model.init), keys)["dense"]["kernel"].shape == (3, 5, 4)
    per_key = [model.init(keys[i]) for i in range(3)]
    stacked = jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *per_key)
    assert stacked["dense"]["kernel"].shape == (3, 5, 4)
    x = _x((3, 5))
    ys = jax.jit(jax.vmap(model.apply, in_axes=(0, None)))(stacked, x)
    assert ys.shape == (3, 3, 4)
    apply = jax.jit(model.apply)
    for i in range(3):
        np.testing.assert_allclose(np.asarray(ys[i]), np.asarray(apply(per_key[i], x)), rtol=1e-5, atol=1e-6)
    assert not np.allclose(np.asarray(ys[0]), np.asarray(ys[1]))


def test_vmap_over_inputs():
    model = _sequential()
    params = model.init(jax.random.key(0))
    xs = _x((2, 3, 5))  # 2 batches of 3 samples
    ys = jax.jit(jax.vmap(model.apply, in_axes=(None, 0)))(params, xs)
    assert ys.shape == (2, 3, 4)
    apply = jax.jit(model.apply)
    for i in range(2):
        np.testing.assert_allclose(np.asarray(ys[i]), np.asarray(apply(params, xs[i])), rtol=1e-5, atol=1e-6)


def test_vmap_per_example_gradients_sum_to_the_batch_gradient():
    model = models.Sequential([layers.Dense(4, activation="tanh", input_shape=(5,)), layers.Dense(2)])
    params = model.init(jax.random.key(0))
    xs = _x((3, 5))

    def loss(p, x):  # x: one sample, given a batch axis of 1
        return jnp.sum(model.apply(p, x[None, :]) ** 2)

    per_example = jax.jit(jax.vmap(jax.grad(loss), in_axes=(None, 0)))(params, xs)
    batch = jax.jit(jax.grad(lambda p: jnp.sum(model.apply(p, xs) ** 2)))(params)
    _assert_trees_close(jax.tree_util.tree_map(lambda g: g.sum(0), per_example), batch, rtol=1e-5, atol=1e-6)


def test_vmap_over_dropout_keys_gives_different_masks():
    model = models.Sequential([layers.Dropout(0.5, input_shape=(4,))])
    keys = jax.random.split(jax.random.key(0), 3)
    ys = jax.jit(jax.vmap(lambda k: model.apply({}, jnp.ones((3, 4)), rng=k, training=True)))(keys)
    assert ys.shape == (3, 3, 4)
    assert not np.array_equal(np.asarray(ys[0]), np.asarray(ys[1]))
