"""funcnet's optimizers compose with optax: chains, injected hyper-parameters, gradient accumulation,
schedules, and a real training step."""
import jax
import jax.numpy as jnp
import numpy as np
import optax

from funcnet import layers, losses, models, optimizers


def _run(tx, grads_seq, params):
    state = tx.init(params)
    for g in grads_seq:
        updates, state = tx.update(g, state, params)
        params = optax.apply_updates(params, updates)
    return params, state


def test_chain_with_clip_by_global_norm_clips_before_scaling():
    params = {"w": jnp.zeros(4)}
    big = {"w": jnp.full(4, 100.0)}
    clipped = {"w": jnp.full(4, 0.5)}  # global norm 1
    chained, _ = _run(optax.chain(optax.clip_by_global_norm(1.0), optimizers.sgd(0.1)), [big], params)
    plain, _ = _run(optimizers.sgd(0.1), [clipped], params)
    np.testing.assert_allclose(chained["w"], plain["w"], rtol=1e-6)
    chained_rms, _ = _run(optax.chain(optax.clip_by_global_norm(1.0), optimizers.rmsprop(1e-3)), [big, big], params)
    plain_rms, _ = _run(optimizers.rmsprop(1e-3), [clipped, clipped], params)
    np.testing.assert_allclose(chained_rms["w"], plain_rms["w"], rtol=1e-6)


def test_inject_hyperparams_changes_learning_rate_mid_run():
    params = {"w": jnp.ones(3)}
    tx = optax.inject_hyperparams(optimizers.rmsprop)(learning_rate=0.1)
    state = tx.init(params)
    g = {"w": jnp.full(3, 0.3)}
    step = jax.jit(tx.update)
    updates_1, state = step(g, state, params)
    state.hyperparams["learning_rate"] = jnp.asarray(0.01)
    updates_2, state = step(g, state, params)
    reference = optimizers.rmsprop(0.1)
    ref_state = reference.init(params)
    ref_1, ref_state = reference.update(g, ref_state, params)
    np.testing.assert_allclose(updates_1["w"], ref_1["w"], rtol=1e-6)
    # Second step: same rms state, a tenth of the rate.
    ref_2, _ = optimizers.rmsprop(0.1).update(g, ref_state, params)
    np.testing.assert_allclose(updates_2["w"], 0.1 * ref_2["w"], rtol=1e-5)


def test_inject_hyperparams_of_momentum_sgd_matches_plain():
    params = {"w": jnp.ones(2)}
    grads = [{"w": jnp.array([0.1 * i, -0.2])} for i in range(5)]
    injected, _ = _run(optax.inject_hyperparams(optimizers.sgd)(learning_rate=0.1, momentum=0.9), grads, params)
    plain, _ = _run(optimizers.sgd(0.1, momentum=0.9), grads, params)
    np.testing.assert_allclose(injected["w"], plain["w"], rtol=1e-6)


def test_multi_steps_accumulates_k_gradients_into_one_update():
    params = {"w": jnp.ones(2)}
    grads = [{"w": jnp.array([1.0, 2.0])}, {"w": jnp.array([3.0, -2.0])}]
    multi = optax.MultiSteps(optimizers.adam(0.1), every_k_schedule=2)
    after_one, state = _run(multi, grads[:1], params)
    np.testing.assert_array_equal(after_one["w"], params["w"])  # no step until k gradients
    after_two, _ = _run(multi, grads, params)
    mean_grad = {"w": (grads[0]["w"] + grads[1]["w"]) / 2}
    single, _ = _run(optimizers.adam(0.1), [mean_grad], params)
    np.testing.assert_allclose(after_two["w"], single["w"], rtol=1e-6)


def test_schedule_drives_the_learning_rate():
    schedule = optax.piecewise_constant_schedule(0.1, {2: 0.0})  # lr 0.1 for two steps, then 0
    params = {"w": jnp.zeros(1)}
    grads = [{"w": jnp.ones(1)}] * 5
    final, _ = _run(optimizers.sgd(schedule), grads, params)
    np.testing.assert_allclose(final["w"], [-0.2], rtol=1e-6)


def test_trains_a_model_inside_jit():
    model = models.Sequential([layers.Dense(16, activation="relu", input_shape=(4,)), layers.Dense(3, activation="softmax")])
    params = model.init(jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (64, 4))
    y = jax.nn.one_hot(jnp.argmax(x[:, :3], -1), 3)
    tx = optax.chain(optax.clip_by_global_norm(1.0), optimizers.adam(1e-2))
    state = tx.init(params)

    @jax.jit
    def step(params, state):
        loss, grads = jax.value_and_grad(lambda p: losses.categorical_crossentropy(y, model.apply(p, x)).mean())(params)
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss

    first = None
    for _ in range(100):
        params, state, loss = step(params, state)
        first = loss if first is None else first
    assert float(loss) < 0.5 * float(first)
