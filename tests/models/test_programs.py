"""The shared-program cache: keys equal only for things that provably compute the same, and programs
that never keep a model alive."""
import gc
import weakref

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from funcnet import layers, losses, models, optimizers, training
from funcnet.models._programs import get_or_build, value_key


def test_value_key_of_optimizers_follows_their_hyper_parameters():
    assert value_key(optimizers.adam(1e-3)) == value_key(optimizers.adam(1e-3))
    assert value_key(optimizers.adam(1e-3)) != value_key(optimizers.adam(1e-3, amsgrad=True))
    assert value_key(optimizers.sgd(0.1, momentum=0.9)) != value_key(optimizers.sgd(0.1, momentum=0.9, nesterov=True))
    chained = lambda: optax.chain(optax.clip_by_global_norm(1.0), optimizers.rmsprop(1e-3))  # noqa: E731
    assert value_key(chained()) == value_key(chained())


def test_value_key_gives_up_on_unhashable_captures():
    table = np.arange(3.0)
    assert value_key(lambda step: table[step]) is None
    assert value_key([1, 2]) is None


def test_get_or_build_builds_once_per_key():
    built = []
    for _ in range(3):
        get_or_build(("test", "once"), lambda: built.append(1) or "program")
    assert built == [1]


# ---------------------------------------------------------------------- sharing never changes a result
RATE = 0.0


def _rate_schedule():
    return lambda step: RATE * jnp.ones([])  # reads the module's global, rebound below


def _data():
    rs = np.random.default_rng(0)
    x = rs.normal(size=(64, 3)).astype(np.float32)
    return x, x @ np.array([[1.0], [-2.0], [0.5]], np.float32)


def _regression():
    return models.Sequential([layers.Dense(1, input_shape=(3,))])


def _decay(rate):
    return lambda step: rate * jnp.exp(-step)  # reads a module (fixed) and a cell


def test_value_key_counts_the_globals_a_closure_reads():
    assert value_key(lambda step: RATE) is None  # a plain global can be rebound before the program is traced
    assert value_key(_decay(0.1)) == value_key(_decay(0.1))  # same code, same cells, modules are fixed
    assert value_key(_decay(0.1)) != value_key(_decay(0.2))
    assert value_key(lambda step: _decay) is not None  # a function whose own key is known...
    assert value_key(lambda step: _rate_schedule()(step)) is None  # ... unless what it calls reads a plain global
    assert value_key(optimizers.sgd(_rate_schedule())) is None
    assert value_key(optimizers.sgd(_decay(0.1))) == value_key(optimizers.sgd(_decay(0.1)))


def test_two_schedules_reading_a_global_rate_do_not_share_a_program():
    global RATE
    x, y = _data()
    RATE = 0.0
    frozen = _regression()
    frozen.compile(optimizer=optimizers.sgd(_rate_schedule()), loss="mse")
    frozen.params = start = frozen.init(jax.random.key(0))
    frozen.fit(x, y, epochs=2, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(frozen.params), jax.tree.leaves(start)))
    RATE = 0.1
    learning = _regression()
    learning.compile(optimizer=optimizers.sgd(_rate_schedule()), loss="mse")
    learning.params = start
    history = learning.fit(x, y, epochs=2, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]  # it trains at its own rate
    RATE = 0.0


def test_a_loss_class_compiles_like_its_name():
    x, y = _data()
    by_class, by_name = _regression(), _regression()
    by_class.compile(optimizer="sgd", loss=losses.MeanSquaredError)
    by_name.compile(optimizer="sgd", loss="mse")
    h_class = by_class.fit(x, y, epochs=2, verbose=0).history["loss"]
    assert h_class == by_name.fit(x, y, epochs=2, verbose=0).history["loss"]


def test_a_loss_returning_a_scalar_is_refused_before_compiling():
    x, y = _data()
    model = _regression()
    model.compile(optimizer="sgd", loss=lambda t, p: jnp.mean((t - p) ** 2))
    with pytest.raises(ValueError, match="per-sample"):
        model.fit(x, y, epochs=1, verbose=0)


def test_the_program_cache_does_not_keep_a_model_or_its_params_alive():
    x, y = _data()
    model = _regression()
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=1, verbose=0, validation_split=0.25)
    model.predict(x, verbose=0)
    refs = [weakref.ref(model), weakref.ref(model._session)]
    del model
    gc.collect()
    assert [r() for r in refs] == [None, None]
    again = _regression()  # and the shared programs still serve the next model of this structure
    again.compile(optimizer="adam", loss="mse")
    assert len(again.fit(x, y, epochs=1, verbose=0, validation_split=0.25).history["val_loss"]) == 1


def test_a_hand_written_loop_of_train_steps_reproduces_fit():
    rs = np.random.default_rng(1)
    x = rs.normal(size=(45, 4)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rs.integers(0, 3, 45)]
    build = lambda: models.Sequential([layers.Dense(8, activation="relu", input_shape=(4,)),  # noqa: E731
                                       layers.Dropout(0.5), layers.Dense(3, activation="softmax")])
    reference = build()
    reference.compile(optimizer="rmsprop", loss="categorical_crossentropy")
    reference.fit(x, y, epochs=2, batch_size=10, verbose=0, seed=4)

    model, optimizer = build(), optimizers.rmsprop()
    step = jax.jit(training.make_train_step(model.apply, losses.categorical_crossentropy, optimizer))
    state = training.TrainState.create(model.init(jax.random.key(4)), optimizer, rng=jax.random.key(4))
    for epoch in range(2):
        idx, weight = training.batch_plan(len(x), 10, training.shuffle_key(state.rng, epoch))
        for i in range(len(idx)):
            state, _, _ = step(state, (), x[idx[i]], y[idx[i]], weight[i], weight[i].sum(),
                               rng=training.step_key(state.rng, epoch, i))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), state.params, reference.params)
    with pytest.raises(ValueError, match="dropout.*PRNG key"):
        step(state, (), x[:10], y[:10], weight[0], weight[0].sum())
