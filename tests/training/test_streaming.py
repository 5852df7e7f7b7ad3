"""Streamed epochs (data on the host, `steps_per_execution` steps per compiled call) train as the
device-resident epoch does: same batches, order and dropout keys, so the same logs and params up to
float rounding (XLA may fuse the two programs differently: seen at most 1 ulp here)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet import distribution, layers, losses, metrics, models, optimizers, training


def _setup():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(203, 12)).astype(np.float32)
    y = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 203)]
    model = models.Sequential([layers.Dense(16, activation="relu", input_shape=(12,)), layers.Dropout(0.3),
                               layers.Dense(4, activation="softmax")])
    opt = optimizers.sgd(0.1, momentum=0.9)
    state = training.TrainState.create(model.init(jax.random.key(0)), opt, jax.random.key(7))
    return x, y, model, opt, state


def _values(leaf):
    if jax.dtypes.issubdtype(getattr(leaf, "dtype", None), jax.dtypes.prng_key):
        return np.asarray(jax.random.key_data(leaf))
    return np.asarray(leaf)


def _assert_same(a, b):
    jax.tree.map(lambda p, q: np.testing.assert_allclose(_values(p), _values(q), rtol=1e-6, atol=1e-7), a, b)


@pytest.mark.parametrize("steps_per_execution", [1, 3, 7, 100])
@pytest.mark.parametrize("shuffle", [True, False])
def test_streamed_epochs_equal_device_resident_epochs(steps_per_execution, shuffle):
    x, y, model, opt, state = _setup()
    acc = [metrics.get("accuracy", loss="categorical_crossentropy")]
    resident = training.make_train_epoch(model.apply, losses.categorical_crossentropy, opt, acc, batch_size=30,
                                         shuffle=shuffle)
    streamed = training.make_train_epoch(model.apply, losses.categorical_crossentropy, opt, acc, batch_size=30,
                                            shuffle=shuffle, steps_per_execution=steps_per_execution)
    a = b = state
    for epoch in range(2):
        a, logs_a = resident(a, x, y, epoch)
        b, logs_b = streamed(b, x, y, epoch)  # numpy on the host
        _assert_same(logs_a, logs_b)
    _assert_same(a, b)


def test_progress_hears_after_each_chunk_and_ends_at_the_last_step():
    x, y, model, opt, state = _setup()
    heard = []
    streamed = training.make_train_epoch(model.apply, losses.categorical_crossentropy, opt, batch_size=30,
                                            steps_per_execution=3, progress=lambda done, loss: heard.append(
                                                (int(done), float(loss))))
    _, logs = streamed(state, x, y, 0)
    assert [done for done, _ in heard] == [3, 6, 7]  # 7 steps of 30 (the last holds 23)
    assert heard[-1][1] == pytest.approx(float(logs["loss"]))


def test_stop_on_nan_and_a_distribution_work_streamed():
    x, y, model, opt, state = _setup()
    bad = x.copy()
    bad[100:] = np.nan
    args = (model.apply, losses.categorical_crossentropy, opt)
    resident = training.make_train_epoch(*args, batch_size=30, stop_on_nan=True)
    streamed = training.make_train_epoch(*args, batch_size=30, stop_on_nan=True, steps_per_execution=2)
    a, logs_a = resident(state, bad, y, 0)
    b, logs_b = streamed(state, bad, y, 0)
    assert bool(logs_b["halted"])
    _assert_same((a, logs_a), (b, logs_b))

    dp = distribution.DataParallel()
    streamed_dp = training.make_train_epoch(*args, batch_size=30, steps_per_execution=4, distribution=dp)
    c, _ = streamed_dp(dp.put_state(state), x, y, 0)
    d, _ = training.make_train_epoch(*args, batch_size=30)(state, x, y, 0)
    jax.tree.map(lambda p, q: np.testing.assert_allclose(np.asarray(p), np.asarray(q), rtol=1e-6), c.params, d.params)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "4"])
def test_steps_per_execution_must_be_a_positive_int(bad):
    _, _, model, opt, _ = _setup()
    with pytest.raises(ValueError, match="steps_per_execution"):
        training.make_train_epoch(model.apply, losses.categorical_crossentropy, opt, batch_size=8,
                                     steps_per_execution=bad)
    with pytest.raises(ValueError, match="steps_per_execution"):
        model.compile("sgd", "categorical_crossentropy", steps_per_execution=bad)


def test_fit_with_steps_per_execution_matches_the_default():
    x, y, _, _, _ = _setup()
    runs = []
    for spe in (None, 4):
        model = _setup()[2]
        model.compile("rmsprop", "categorical_crossentropy", ["accuracy"], steps_per_execution=spe)
        history = model.fit(x, y, epochs=3, batch_size=30, validation_split=0.2, verbose=0, seed=3)
        runs.append((history.history, model.params, model.predict(x[:9])))
    (h1, p1, y1), (h2, p2, y2) = runs
    _assert_same(h1, h2)
    _assert_same(p1, p2)
    _assert_same(y1, y2)
    assert jnp.asarray(p2["dense"]["kernel"]).dtype == jnp.float32


@pytest.mark.parametrize("steps_per_execution", [1, 2, 50])
def test_streamed_evaluate_and_predict_equal_the_device_resident_ones(steps_per_execution):
    x, y, model, _, state = _setup()
    acc = [metrics.get("accuracy", loss="categorical_crossentropy")]
    args = dict(batch_size=16)
    resident = training.make_evaluate(model.apply, losses.categorical_crossentropy, acc, **args)
    streamed = training.make_evaluate(model.apply, losses.categorical_crossentropy, acc,
                                               steps_per_execution=steps_per_execution, **args)
    _assert_same(resident(state.params, x, y), streamed(state.params, x, y))
    for n in (203, 5):  # many batches with a short last one; fewer samples than one batch
        want = training.make_predict(model.apply, **args)(state.params, x[:n])
        got = training.make_predict(model.apply, steps_per_execution=steps_per_execution, **args)(
            state.params, x[:n])
        assert isinstance(got, np.ndarray) and got.shape == (n, 4)
        _assert_same(want, got)


def test_streamed_predict_of_a_model_with_two_outputs():
    a = layers.Input((12,))
    h = layers.Dense(8, activation="relu")(a)
    model = models.Model(a, [layers.Dense(3)(h), layers.Dense(1)(h)])
    params = model.init(jax.random.key(0))
    x = np.random.default_rng(1).normal(size=(37, 12)).astype(np.float32)
    got = training.make_predict(model.apply, batch_size=8, steps_per_execution=2)(params, x)
    want = model.apply(params, x)
    assert [g.shape for g in got] == [(37, 3), (37, 1)]
    _assert_same(list(want), got)


def test_a_model_compiled_with_steps_per_execution_evaluates_and_predicts_from_the_host():
    x, y, model, _, _ = _setup()
    model.compile("rmsprop", "categorical_crossentropy", ["accuracy"], steps_per_execution=3)
    model.fit(x, y, epochs=1, batch_size=30, verbose=0)
    loss, accuracy = model.evaluate(x, y, batch_size=30, verbose=0)
    reference = models.Sequential(model.layers)
    reference.compile("rmsprop", "categorical_crossentropy", ["accuracy"])
    reference.params = model.params
    np.testing.assert_allclose([loss, accuracy], reference.evaluate(x, y, batch_size=30, verbose=0), rtol=1e-6)
    np.testing.assert_allclose(model.predict(x, batch_size=30), reference.predict(x, batch_size=30), rtol=1e-6)
