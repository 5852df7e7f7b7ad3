"""The named optimizers follow Keras 3's optimizers step by step, and optax's where the formulas agree."""
import jax.numpy as jnp
import keras
import numpy as np
import optax
import pytest

from funcnet import optimizers
from tests.optimizers._reference import (
    assert_trajectories_close,
    keras_trajectory,
    least_squares_problem,
    optax_trajectory,
    random_problem,
)

# (funcnet factory, Keras class, hyper-parameters in Keras's names)
KERAS_CASES = [
    (optimizers.sgd, keras.optimizers.SGD, {}),
    (optimizers.sgd, keras.optimizers.SGD, {"learning_rate": 0.05}),
    (optimizers.sgd, keras.optimizers.SGD, {"learning_rate": 0.05, "momentum": 0.9}),
    (optimizers.sgd, keras.optimizers.SGD, {"learning_rate": 0.02, "momentum": 0.5, "nesterov": True}),
    (optimizers.rmsprop, keras.optimizers.RMSprop, {}),
    (optimizers.rmsprop, keras.optimizers.RMSprop, {"learning_rate": 0.01, "rho": 0.8, "epsilon": 1e-5}),
    (optimizers.rmsprop, keras.optimizers.RMSprop, {"learning_rate": 0.01, "momentum": 0.9}),
    (optimizers.rmsprop, keras.optimizers.RMSprop, {"learning_rate": 0.01, "centered": True}),
    (optimizers.rmsprop, keras.optimizers.RMSprop, {"learning_rate": 0.005, "momentum": 0.5, "centered": True}),
    (optimizers.adagrad, keras.optimizers.Adagrad, {}),
    (optimizers.adagrad, keras.optimizers.Adagrad, {"learning_rate": 0.1, "initial_accumulator_value": 0.5}),
    (optimizers.adam, keras.optimizers.Adam, {}),
    (optimizers.adam, keras.optimizers.Adam, {"learning_rate": 0.01, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-4}),
    (optimizers.adam, keras.optimizers.Adam, {"learning_rate": 0.01, "amsgrad": True}),
]
PROBLEMS = {"random": random_problem, "least_squares": least_squares_problem}


def _case_id(case):
    fn, _, kwargs = case
    return fn.__name__ + "".join(f"-{k}={v}" for k, v in kwargs.items())


@pytest.mark.parametrize("problem", sorted(PROBLEMS))
@pytest.mark.parametrize("case", KERAS_CASES, ids=_case_id)
def test_follows_keras_for_100_steps(case, problem):
    factory, keras_cls, kwargs = case
    w0, grad_fn = PROBLEMS[problem](seed=len(kwargs))
    expected = keras_trajectory(keras_cls(**kwargs), w0, grad_fn)
    actual = optax_trajectory(factory(**kwargs), w0, grad_fn)
    assert_trajectories_close(actual, expected)


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (lambda: optimizers.sgd(0.05), lambda: optax.sgd(0.05)),
        (lambda: optimizers.sgd(0.05, momentum=0.9), lambda: optax.sgd(0.05, momentum=0.9)),
        (lambda: optimizers.sgd(0.05, momentum=0.9, nesterov=True), lambda: optax.sgd(0.05, momentum=0.9, nesterov=True)),
        (lambda: optimizers.rmsprop(0.01, rho=0.9, epsilon=1e-7), lambda: optax.rmsprop(0.01, decay=0.9, eps=1e-7)),
        (lambda: optimizers.rmsprop(0.01, centered=True), lambda: optax.rmsprop(0.01, decay=0.9, eps=1e-7, centered=True)),
        (lambda: optimizers.rmsprop(0.01, momentum=0.9), lambda: optax.rmsprop(0.01, decay=0.9, eps=1e-7, momentum=0.9)),
        (lambda: optimizers.adagrad(0.1), lambda: optax.adagrad(0.1, initial_accumulator_value=0.1, eps=1e-7)),
    ],
    ids=["sgd", "momentum", "nesterov", "rmsprop", "rmsprop-centered", "rmsprop-momentum", "adagrad"],
)
@pytest.mark.parametrize("problem", sorted(PROBLEMS))
def test_matches_optax_where_the_formulas_agree(ours, theirs, problem):
    w0, grad_fn = PROBLEMS[problem](seed=3)
    assert_trajectories_close(optax_trajectory(ours(), w0, grad_fn), optax_trajectory(theirs(), w0, grad_fn))


def test_adam_differs_from_optax_only_through_epsilon():
    """Keras's Adam puts epsilon outside the bias correction; with epsilon -> 0 the two agree."""
    w0, grad_fn = random_problem(seed=1)
    ours = optax_trajectory(optimizers.adam(0.01, epsilon=1e-12), w0, grad_fn)
    theirs = optax_trajectory(optax.adam(0.01, eps=1e-12), w0, grad_fn)
    assert_trajectories_close(ours, theirs, rtol=1e-4)
    big_eps_ours = optax_trajectory(optimizers.adam(0.01, epsilon=1e-1), w0, grad_fn)
    big_eps_theirs = optax_trajectory(optax.adam(0.01, eps=1e-1), w0, grad_fn)
    assert not np.allclose(big_eps_ours[-1][0], big_eps_theirs[-1][0], rtol=1e-4)


def test_schedule_follows_keras_schedule():
    """A schedule is evaluated at the step count before the update, as Keras's `iterations`."""
    w0, grad_fn = least_squares_problem(seed=0)
    keras_schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    optax_schedule = optax.exponential_decay(0.1, transition_steps=10, decay_rate=0.5)
    for momentum in (0.0, 0.9):
        expected = keras_trajectory(keras.optimizers.SGD(keras_schedule, momentum=momentum), w0, grad_fn)
        actual = optax_trajectory(optimizers.sgd(optax_schedule, momentum=momentum), w0, grad_fn)
        assert_trajectories_close(actual, expected)
    expected = keras_trajectory(keras.optimizers.Adam(keras_schedule), w0, grad_fn)
    assert_trajectories_close(optax_trajectory(optimizers.adam(optax_schedule), w0, grad_fn), expected)


def test_defaults_are_keras_defaults():
    w0, grad_fn = random_problem(seed=7)
    for factory, keras_cls in [
        (optimizers.sgd, keras.optimizers.SGD),
        (optimizers.rmsprop, keras.optimizers.RMSprop),
        (optimizers.adagrad, keras.optimizers.Adagrad),
        (optimizers.adam, keras.optimizers.Adam),
    ]:
        assert_trajectories_close(optax_trajectory(factory(), w0, grad_fn), keras_trajectory(keras_cls(), w0, grad_fn))


def test_eager_and_jitted_updates_agree():
    w0, grad_fn = random_problem(seed=2)
    for tx in (optimizers.rmsprop(0.01, momentum=0.5, centered=True), optimizers.adam(0.01, amsgrad=True)):
        assert_trajectories_close(optax_trajectory(tx, w0, grad_fn, jit=False), optax_trajectory(tx, w0, grad_fn))


@pytest.mark.parametrize(
    "factory, kwargs",
    [
        (optimizers.sgd, {"learning_rate": 0.1, "momentum": 0.9}),
        (optimizers.rmsprop, {"learning_rate": 0.1}),
        (optimizers.adagrad, {"learning_rate": 1.0}),
        (optimizers.adam, {"learning_rate": 0.1}),
    ],
)
def test_minimises_a_quadratic(factory, kwargs):
    w0, grad_fn = least_squares_problem(seed=4, scale=1.0)
    trajectory = optax_trajectory(factory(**kwargs), w0, grad_fn)
    first = np.linalg.norm(np.concatenate([np.ravel(g) for g in grad_fn(0, trajectory[0])]))
    last = np.linalg.norm(np.concatenate([np.ravel(g) for g in grad_fn(0, trajectory[-1])]))
    assert last < 0.2 * first


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: optimizers.sgd(-0.1), ValueError, "learning_rate"),
        (lambda: optimizers.sgd("fast"), TypeError, "learning_rate"),
        (lambda: optimizers.sgd(0.1, momentum=1.5), ValueError, "momentum"),
        (lambda: optimizers.sgd(0.1, nesterov=True), ValueError, "nesterov"),
        (lambda: optimizers.rmsprop(rho=1.0), ValueError, "rho"),
        (lambda: optimizers.rmsprop(epsilon=-1.0), ValueError, "epsilon"),
        (lambda: optimizers.adagrad(initial_accumulator_value=-0.1), ValueError, "initial_accumulator_value"),
        (lambda: optimizers.adam(beta_1=1.0), ValueError, "beta_1"),
        (lambda: optimizers.adam(beta_2=-0.5), ValueError, "beta_2"),
    ],
)
def test_bad_hyper_parameters_raise(call, error, words):
    with pytest.raises(error, match=words):
        call()


def test_bfloat16_leaves_stay_bfloat16():
    params = {"w": jnp.ones((3, 2), jnp.bfloat16), "b": jnp.zeros((2,), jnp.bfloat16)}
    grads = {"w": jnp.full((3, 2), 0.5, jnp.bfloat16), "b": jnp.full((2,), -0.25, jnp.bfloat16)}
    schedule = optax.linear_schedule(0.1, 0.01, 10)
    for tx in (
        optimizers.sgd(schedule, momentum=0.9, nesterov=True),
        optimizers.rmsprop(0.01, momentum=0.5, centered=True),
        optimizers.adagrad(0.1),
        optimizers.adam(0.01, amsgrad=True),
    ):
        state = tx.init(params)
        updates, new_state = tx.update(grads, state, params)
        assert all(u.dtype == jnp.bfloat16 for u in jax_leaves(updates))
        assert [x.dtype for x in jax_leaves(new_state)] == [x.dtype for x in jax_leaves(state)]
        assert all(np.isfinite(np.asarray(u, np.float32)).all() for u in jax_leaves(updates))


def jax_leaves(tree):
    import jax

    return jax.tree_util.tree_leaves(tree)
