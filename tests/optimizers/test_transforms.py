"""The atomic transformations: their formulas by hand, their states, dtypes and compile behaviour."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from funcnet import optimizers


def test_scale_by_learning_rate_negates_and_counts():
    tx = optimizers.scale_by_learning_rate(0.5)
    state = tx.init({"w": jnp.ones(2)})
    updates, state = tx.update({"w": jnp.array([2.0, -4.0])}, state)
    np.testing.assert_array_equal(updates["w"], [-1.0, 2.0])
    assert int(state.count) == 1 and state.count.dtype == jnp.int32


def test_scale_by_learning_rate_evaluates_schedule_at_count_before_update():
    seen = []

    def schedule(count):
        seen.append(count)
        return 0.1 * (count + 1)

    tx = optimizers.scale_by_learning_rate(schedule)
    state = tx.init(jnp.zeros(()))
    for expected_lr in (0.1, 0.2, 0.3):
        updates, state = tx.update(jnp.ones(()), state)
        np.testing.assert_allclose(updates, -expected_lr, rtol=1e-6)


def test_trace_heavy_ball_and_nesterov_by_hand():
    g = [1.0, 2.0, -1.0]
    for nesterov in (False, True):
        tx = optimizers.trace(0.5, nesterov=nesterov)
        state = tx.init(jnp.zeros(()))
        m = 0.0
        for gi in g:
            updates, state = tx.update(jnp.asarray(gi), state)
            m = 0.5 * m + gi
            expected = 0.5 * m + gi if nesterov else m
            np.testing.assert_allclose(updates, expected, rtol=1e-6)
            np.testing.assert_allclose(state.trace, m, rtol=1e-6)


@pytest.mark.parametrize("centered", [False, True])
def test_scale_by_rms_by_hand(centered):
    tx = optimizers.scale_by_rms(rho=0.9, epsilon=1e-3, centered=centered)
    state = tx.init(jnp.zeros(()))
    nu = mu = 0.0
    for g in (1.0, -2.0, 0.5):
        updates, state = tx.update(jnp.asarray(g), state)
        nu = 0.9 * nu + 0.1 * g * g
        mu = 0.9 * mu + 0.1 * g
        denominator = nu - mu * mu + 1e-3 if centered else nu + 1e-3
        np.testing.assert_allclose(updates, g / np.sqrt(denominator), rtol=1e-5)
    assert (state.mu is None) == (not centered)


def test_scale_by_sum_of_squares_by_hand():
    tx = optimizers.scale_by_sum_of_squares(initial_accumulator_value=0.1, epsilon=1e-7)
    state = tx.init(jnp.zeros(()))
    s = 0.1
    for g in (1.0, -2.0, 0.5):
        updates, state = tx.update(jnp.asarray(g), state)
        s += g * g
        np.testing.assert_allclose(updates, g / np.sqrt(s + 1e-7), rtol=1e-6)


@pytest.mark.parametrize("amsgrad", [False, True])
def test_scale_by_adam_by_hand(amsgrad):
    b1, b2, eps = 0.9, 0.999, 1e-7
    tx = optimizers.scale_by_adam(b1, b2, eps, amsgrad=amsgrad)
    state = tx.init(jnp.zeros(()))
    m = v = v_max = 0.0
    for t, g in enumerate((1.0, -2.0, 0.5, 0.1), start=1):
        updates, state = tx.update(jnp.asarray(g), state)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        v_max = max(v_max, v)
        denominator = np.sqrt(v_max if amsgrad else v) + eps
        # float32's rounding of 1 - beta_2**t (about 1e-3) alone is ~6e-5 relative, as in Keras.
        np.testing.assert_allclose(updates, m * np.sqrt(1 - b2**t) / (1 - b1**t) / denominator, rtol=1e-4)
    assert int(state.count) == 4


ALL_OPTIMIZERS = {
    "sgd": lambda: optimizers.sgd(0.1),
    "momentum": lambda: optimizers.sgd(0.1, momentum=0.9),
    "nesterov": lambda: optimizers.sgd(0.1, momentum=0.9, nesterov=True),
    "rmsprop": lambda: optimizers.rmsprop(0.01),
    "rmsprop-centered-momentum": lambda: optimizers.rmsprop(0.01, momentum=0.5, centered=True),
    "adagrad": lambda: optimizers.adagrad(0.1),
    "adam": lambda: optimizers.adam(0.01),
    "amsgrad": lambda: optimizers.adam(0.01, amsgrad=True),
}


@pytest.mark.parametrize("name", sorted(ALL_OPTIMIZERS))
def test_state_is_a_pytree_of_fixed_dtypes_and_the_update_compiles_once(name):
    tx = ALL_OPTIMIZERS[name]()
    params = {"dense": {"kernel": jnp.ones((3, 2)), "bias": jnp.zeros(2)}}
    state = tx.init(params)

    traces = []

    @jax.jit
    def step(params, state, grads):
        traces.append(1)  # runs only while tracing
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    for i in range(3):
        grads = jax.tree.map(lambda p: jnp.full_like(p, 0.1 * (i + 1)), params)
        new_params, new_state = step(params, state, grads)
        chex.assert_trees_all_equal_shapes_and_dtypes(new_state, state)
        chex.assert_trees_all_equal_shapes_and_dtypes(new_params, params)
        params, state = new_params, new_state
    assert len(traces) == 1, "the step recompiled: a state leaf changed dtype, shape or weak type"
    assert not any(jax.tree.leaves(jax.tree.map(lambda x: jnp.any(jnp.isnan(x)), params)))


PYTREE_SHAPES = st.lists(st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple), min_size=1, max_size=4)


@settings(max_examples=20, deadline=None)
@given(shapes=PYTREE_SHAPES, name=st.sampled_from(sorted(ALL_OPTIMIZERS)), seed=st.integers(0, 2**16))
def test_any_pytree_updates_leafwise_like_each_leaf_alone(shapes, name, seed):
    """The update of a leaf depends only on that leaf's gradients: a pytree step equals per-leaf steps."""
    rs = np.random.default_rng(seed)
    params = {f"layer_{i}": {"w": jnp.asarray(rs.normal(size=s), jnp.float32)} for i, s in enumerate(shapes)}
    grads = [jax.tree.map(lambda p: jnp.asarray(rs.normal(size=p.shape), jnp.float32), params) for _ in range(3)]
    tx = ALL_OPTIMIZERS[name]()
    state = tx.init(params)
    for g in grads:
        updates, state = tx.update(g, state, params)
        params = optax.apply_updates(params, updates)
    for key in params:
        leaf = jnp.asarray(params[key]["w"])  # the result of the tree step
        alone_params = {"w": _initial(shapes, seed)[key]["w"]}
        alone_state = tx.init(alone_params)
        for g in grads:
            alone_updates, alone_state = tx.update({"w": g[key]["w"]}, alone_state, alone_params)
            alone_params = optax.apply_updates(alone_params, alone_updates)
        np.testing.assert_allclose(leaf, alone_params["w"], rtol=1e-6, atol=1e-7)
        assert leaf.shape == alone_params["w"].shape


def _initial(shapes, seed):
    rs = np.random.default_rng(seed)
    return {f"layer_{i}": {"w": jnp.asarray(rs.normal(size=s), jnp.float32)} for i, s in enumerate(shapes)}


@settings(max_examples=20, deadline=None)
@given(
    lr=st.floats(1e-4, 1.0),
    rho=st.floats(0.0, 0.99),
    g=st.lists(st.floats(-1e3, 1e3, allow_subnormal=False), min_size=1, max_size=5),
)
def test_rmsprop_step_is_bounded_by_lr_over_sqrt_one_minus_rho(lr, rho, g):
    """|step| = lr |g| / sqrt(rho nu + (1 - rho) g^2 + eps) <= lr / sqrt(1 - rho), whatever the gradient."""
    tx = optimizers.rmsprop(lr, rho=rho)
    state = tx.init(jnp.zeros(len(g)))
    updates, _ = tx.update(jnp.asarray(g, jnp.float32), state)
    assert np.all(np.abs(np.asarray(updates)) <= lr / np.sqrt(1 - rho) * (1 + 1e-5))
