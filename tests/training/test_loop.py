"""The compiled epoch: same result as a plain per-batch loop, every sample once, padding that weighs nothing."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from funcnet import layers, losses, metrics, models, optimizers, training


def _model():
    return models.Sequential([layers.Dense(8, activation="tanh", input_shape=(5,)), layers.Dense(3, activation="softmax")])


def _data(n=50, seed=0):
    rs = np.random.default_rng(seed)
    x = rs.normal(size=(n, 5)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rs.integers(0, 3, n)]
    return x, y


@pytest.mark.parametrize("n, batch_size", [(10, 3), (10, 5), (10, 1), (10, 10), (10, 64)])
def test_batch_plan_covers_every_sample_once_and_pads_with_zero_weight(n, batch_size):
    idx, weight = training.batch_plan(n, batch_size, jax.random.key(1))
    steps = -(-n // batch_size)
    assert idx.shape == weight.shape == (steps, batch_size)
    real = np.asarray(idx)[np.asarray(weight) == 1]
    assert sorted(real.tolist()) == list(range(n))
    assert float(weight.sum()) == n
    assert np.all(np.asarray(weight)[:-1] == 1)  # only the last batch is padded


def test_batch_plan_without_key_is_in_order():
    idx, _ = training.batch_plan(7, 3)
    assert np.asarray(idx).ravel()[:7].tolist() == list(range(7))


def _plain_loop(model, params, optimizer, x, y, batch_size):
    """The reference: one jitted step per batch, the last batch short (no padding)."""
    opt_state = optimizer.init(params)

    @jax.jit
    def step(params, opt_state, xb, yb):
        grads = jax.grad(lambda p: losses.categorical_crossentropy(yb, model.apply(p, xb)).mean())(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    for i in range(0, len(x), batch_size):
        params, opt_state = step(params, opt_state, x[i : i + batch_size], y[i : i + batch_size])
    return params


@pytest.mark.parametrize("batch_size", [1, 7, 16, 50])
def test_epoch_equals_a_plain_loop_including_the_short_last_batch(batch_size):
    model, (x, y) = _model(), _data()
    params = model.init(jax.random.key(0))
    optimizer = optimizers.adam(1e-2)
    epoch = training.make_train_epoch(
        model.apply, losses.categorical_crossentropy, optimizer, batch_size=batch_size, shuffle=False
    )
    state = training.TrainState.create(params, optimizer, jax.random.key(0))
    state, logs = epoch(state, x, y, 0)
    expected = _plain_loop(model, params, optimizer, x, y, batch_size)
    for a, e in zip(jax.tree.leaves(state.params), jax.tree.leaves(expected)):
        np.testing.assert_allclose(a, e, rtol=2e-5, atol=2e-6)
    assert int(state.step) == -(-len(x) // batch_size)


def test_epoch_loss_and_metrics_are_means_over_samples_seen_before_each_update():
    model, (x, y) = _model(), _data(n=20)
    params = model.init(jax.random.key(0))
    optimizer = optimizers.sgd(0.0)  # no learning: the epoch's loss is the plain mean loss
    acc = metrics.get("accuracy", loss="categorical_crossentropy")
    epoch = training.make_train_epoch(model.apply, losses.categorical_crossentropy, optimizer, [acc], batch_size=6)
    _, logs = epoch(training.TrainState.create(params, optimizer, jax.random.key(3)), x, y, 0)
    probs = model.apply(params, x)
    np.testing.assert_allclose(logs["loss"], losses.categorical_crossentropy(y, probs).mean(), rtol=1e-5)
    np.testing.assert_allclose(logs["accuracy"], np.mean(probs.argmax(-1) == y.argmax(-1)), rtol=1e-6)


def test_epoch_order_depends_only_on_rng_and_epoch():
    model, (x, y) = _model(), _data()
    params = model.init(jax.random.key(0))
    optimizer = optimizers.sgd(0.1)
    epoch = training.make_train_epoch(model.apply, losses.categorical_crossentropy, optimizer, batch_size=8)
    run = lambda rng, e: epoch(training.TrainState.create(params, optimizer, rng), x, y, e)[0].params  # noqa: E731
    same = [run(jax.random.key(5), 2), run(jax.random.key(5), 2)]
    chex_equal = jax.tree.map(lambda a, b: bool(jnp.array_equal(a, b)), *same)
    assert all(jax.tree.leaves(chex_equal))
    other_epoch = run(jax.random.key(5), 3)
    assert not np.array_equal(other_epoch["dense"]["kernel"], same[0]["dense"]["kernel"])


def test_dropout_key_of_step_i_in_epoch_e_is_fold_in_of_the_epoch_key():
    """The epoch's dropout keys are a documented function of (rng, epoch, step): replayable by hand."""
    from funcnet.training.state import DROPOUT_STREAM, stream_key

    model = models.Sequential([layers.Dense(4, input_shape=(3,)), layers.Dropout(0.5), layers.Dense(1)])
    x = np.ones((6, 3), np.float32)
    y = np.zeros((6, 1), np.float32)
    optimizer = optimizers.sgd(0.1)
    params = model.init(jax.random.key(0))
    rng = jax.random.key(4)
    epoch = training.make_train_epoch(model.apply, losses.mean_squared_error, optimizer, batch_size=2, shuffle=False)
    state, _ = epoch(training.TrainState.create(params, optimizer, rng), x, y, 3)

    step = jax.jit(training.make_train_step(model.apply, losses.mean_squared_error, optimizer))
    by_hand = training.TrainState.create(params, optimizer, rng)
    weight = jnp.ones(2)
    for i in range(3):
        key = jax.random.fold_in(stream_key(rng, DROPOUT_STREAM, 3), i)
        by_hand, _, _ = step(by_hand, (), x[2 * i : 2 * i + 2], y[2 * i : 2 * i + 2], weight, 2.0, key)
    for a, e in zip(jax.tree.leaves(state.params), jax.tree.leaves(by_hand.params)):
        np.testing.assert_allclose(a, e, rtol=1e-6)
    keys = [jax.random.fold_in(stream_key(rng, DROPOUT_STREAM, 3), i) for i in range(3)]
    masks = [np.asarray(model.apply(params, x[:1], rng=k, training=True)) for k in keys]
    assert not all(np.array_equal(masks[0], m) for m in masks[1:])  # a fresh mask each step


def test_stop_on_nan_skips_every_step_after_the_bad_batch():
    model, (x, y) = _model(), _data(n=12)
    x = x.copy()
    x[6] = np.nan  # in batch 4 of batch size 2 (no shuffle): its loss is NaN
    params = model.init(jax.random.key(0))
    optimizer = optimizers.sgd(0.1)
    epoch = training.make_train_epoch(
        model.apply, losses.categorical_crossentropy, optimizer, batch_size=2, shuffle=False, stop_on_nan=True
    )
    state, logs = epoch(training.TrainState.create(params, optimizer, jax.random.key(0)), x, y, 0)
    assert bool(logs["halted"]) and not np.isfinite(float(logs["loss"]))
    assert int(state.step) == 4  # three good batches and the bad one; the remaining two skipped


def test_evaluate_and_predict_match_apply():
    model, (x, y) = _model(), _data(n=23)
    params = model.init(jax.random.key(2))
    acc = metrics.get("accuracy", loss="categorical_crossentropy")
    logs = training.make_evaluate(model.apply, losses.categorical_crossentropy, [acc], batch_size=5)(params, x, y)
    probs = model.apply(params, x)
    np.testing.assert_allclose(logs["loss"], losses.categorical_crossentropy(y, probs).mean(), rtol=1e-5)
    np.testing.assert_allclose(logs["accuracy"], np.mean(probs.argmax(-1) == y.argmax(-1)))
    predicted = training.make_predict(model.apply, batch_size=5)(params, x)
    np.testing.assert_allclose(predicted, probs, rtol=1e-6)
    assert predicted.shape == (23, 3)


def test_epoch_compiles_once_for_many_epochs():
    model, (x, y) = _model(), _data()
    optimizer = optimizers.rmsprop(1e-3)
    epoch = training.make_train_epoch(model.apply, losses.categorical_crossentropy, optimizer, batch_size=8)
    state = training.TrainState.create(model.init(jax.random.key(0)), optimizer, jax.random.key(0))
    for e in range(3):
        state, _ = epoch(state, x, y, e)
    assert epoch._cache_size() == 1
