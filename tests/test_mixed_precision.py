"""Mixed precision: dtype policies, dynamic loss scaling, and bfloat16 training that learns as float32 does."""
import importlib.util
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from funcnet import layers, losses, mixed_precision, models, optimizers, training


def _model():
    return models.Sequential([layers.Dense(16, activation="relu", input_shape=(8,)), layers.Dense(3, activation="softmax")])


def _data(n=64):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 8)).astype(np.float32), rng.integers(0, 3, n)


def test_named_policies():
    assert mixed_precision.get(None) == mixed_precision.Policy()
    bf16 = mixed_precision.get("mixed_bfloat16")
    assert (bf16.compute_dtype, bf16.param_dtype, bf16.output_dtype, bf16.loss_scale) == (
        "bfloat16", "float32", "float32", False)
    assert mixed_precision.get("mixed_float16").loss_scale
    assert bf16.name == "mixed_bfloat16" and mixed_precision.get("float32").name == "float32"
    assert mixed_precision.get(bf16) is bf16
    with pytest.raises(ValueError, match="unknown dtype policy 'mixed_fp8'.*mixed_bfloat16"):
        mixed_precision.get("mixed_fp8")
    with pytest.raises(ValueError, match="compute_dtype='int8'"):
        mixed_precision.get(mixed_precision.Policy(compute_dtype="int8"))


def test_casts_touch_floating_leaves_only():
    policy = mixed_precision.get("mixed_bfloat16")
    tree = {"w": jnp.ones(3), "ids": jnp.arange(3), "mask": jnp.array([True])}
    cast = policy.cast_to_compute(tree)
    assert cast["w"].dtype == jnp.bfloat16 and cast["ids"].dtype == jnp.int32 and cast["mask"].dtype == jnp.bool_
    assert policy.cast_to_output(cast)["w"].dtype == jnp.float32


def test_the_step_computes_in_bfloat16_and_keeps_float32_state():
    model, opt = _model(), optimizers.rmsprop()
    step = training.make_train_step(model.apply, losses.sparse_categorical_crossentropy, opt, policy="mixed_bfloat16")
    state = training.TrainState.create(model.init(jax.random.key(0)), opt, jax.random.key(0))
    x, y = _data(4)
    jaxpr = str(jax.make_jaxpr(step)(state, (), x, y, jnp.ones(4), 4.0))
    dots = [line for line in jaxpr.splitlines() if "dot_general[" in line]
    assert dots and all(":bf16[" in line for line in dots), dots
    new_state, _, _ = jax.jit(step)(state, (), x, y, jnp.ones(4), 4.0)
    for leaf in jax.tree.leaves((new_state.params, new_state.opt_state)):
        assert leaf.dtype in (jnp.float32, jnp.int32), leaf.dtype


def test_float16_without_loss_scaling_is_refused():
    model, opt = _model(), optimizers.sgd()
    step = training.make_train_step(model.apply, losses.sparse_categorical_crossentropy, opt, policy="mixed_float16")
    state = training.TrainState.create(model.init(jax.random.key(0)), opt, jax.random.key(0))
    x, y = _data(4)
    with pytest.raises(ValueError, match="loss_scaling"):
        step(state, (), x, y, jnp.ones(4), 4.0)


def test_loss_scaling_equals_the_plain_optimizer_on_finite_gradients():
    params = {"w": jnp.array([1.0, -2.0, 3.0])}
    grads = {"w": jnp.array([0.5, 0.25, -1.0])}
    inner = optimizers.adam(1e-2)
    scaled = mixed_precision.loss_scaling(inner, initial_scale=2.0 ** 10)
    s_plain, s_scaled = inner.init(params), scaled.init(params)
    for _ in range(3):
        u_plain, s_plain = inner.update(grads, s_plain, params)
        big = jax.tree.map(lambda g: g * mixed_precision.loss_scale_of(s_scaled), grads)
        u_scaled, s_scaled = scaled.update(big, s_scaled, params)
        np.testing.assert_allclose(u_scaled["w"], u_plain["w"], rtol=1e-6)
    assert float(s_scaled.scale) == 2.0 ** 10 and int(s_scaled.good_steps) == 3


def test_loss_scaling_skips_overflowing_steps_and_adjusts_the_scale():
    params = {"w": jnp.ones(2)}
    tx = mixed_precision.loss_scaling(optax.sgd(1.0, momentum=0.9), initial_scale=8.0, growth_interval=2)
    state = tx.init(params)
    updates, skipped = tx.update({"w": jnp.array([jnp.inf, 1.0])}, state, params)
    assert float(skipped.scale) == 4.0 and int(skipped.good_steps) == 0
    np.testing.assert_array_equal(updates["w"], 0.0)
    jax.tree.map(np.testing.assert_array_equal, skipped.inner_state, state.inner_state)  # momentum untouched
    _, s1 = tx.update({"w": jnp.ones(2)}, skipped, params)
    _, s2 = tx.update({"w": jnp.ones(2)}, s1, params)
    assert (float(s1.scale), float(s2.scale), int(s2.good_steps)) == (4.0, 8.0, 0)  # grows after 2 good steps
    with pytest.raises(ValueError, match="factor > 1"):
        mixed_precision.loss_scaling(optax.sgd(1.0), factor=1.0)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_compile_with_a_policy_trains_like_float32(policy):
    x, y = _data(256)
    runs = {}
    for name in ("float32", policy):
        model = _model()
        model.compile("rmsprop", "sparse_categorical_crossentropy", ["accuracy"], dtype_policy=name)
        history = model.fit(x, y, epochs=5, batch_size=32, verbose=0)
        runs[name] = (history.history["loss"], model)
    (loss32, _), (loss_mixed, mixed) = runs["float32"], runs[policy]
    np.testing.assert_allclose(loss_mixed, loss32, rtol=3e-2)
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(mixed.params))
    assert mixed.predict(x[:5]).dtype == np.float32
    if policy == "mixed_float16":
        assert isinstance(mixed._session.opt_state, mixed_precision.LossScaleState)


@pytest.mark.data
@pytest.mark.slow
def test_bfloat16_mnist_reaches_float32_accuracy_within_half_a_point(data_dir):
    path = pathlib.Path(__file__).resolve().parents[1] / "experiments" / "mnist.py"
    spec = importlib.util.spec_from_file_location("mnist_experiment_bf16", path)
    mnist = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mnist)
    data = mnist.load_data(data_dir)
    f32 = mnist.train(data, seed=0).test_accuracy
    bf16 = mnist.train(data, seed=0, dtype_policy="mixed_bfloat16").test_accuracy
    assert f32 >= 0.975 and abs(bf16 - f32) <= 0.005, (f32, bf16)
