"""experiments/optimizers.py: the book's rolling-ball picture holds, and its MNIST trainer trains."""
import importlib.util
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet import layers, models, optimizers

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "experiments" / "optimizers.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("optimizers_experiment", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_double_well_minima_are_the_critical_points(script):
    local_min, global_min = script.double_well_minima()
    grad = jax.grad(script.double_well)
    hessian = jax.grad(grad)
    for x in (local_min, global_min):
        assert abs(float(grad(jnp.float32(x)))) < 1e-5
        assert float(hessian(jnp.float32(x))) > 0
    assert global_min < 0 < local_min
    assert float(script.double_well(jnp.float32(global_min))) < float(script.double_well(jnp.float32(local_min))) - 0.5


def test_sgd_stops_in_the_local_minimum_and_momentum_rolls_into_the_global_one(script, tmp_path):
    local_min, global_min = script.double_well_minima()
    paths = script.one_d_paths(learning_rate=0.01, momentum=0.9, x0=2.0, steps=300)
    (sgd_label, sgd_path), (momentum_label, momentum_path) = paths.items()
    assert "momentum" not in sgd_label and "momentum 0.9" in momentum_label
    assert sgd_path.shape == momentum_path.shape == (301,) and sgd_path[0] == momentum_path[0] == 2.0
    assert abs(sgd_path[-1] - local_min) < 1e-3, sgd_path[-1]
    assert abs(momentum_path[-1] - global_min) < 1e-3, momentum_path[-1]
    # Plain SGD never crosses the bump between the wells; momentum crosses it.
    assert sgd_path.min() > 0.5
    assert momentum_path.min() < global_min

    out = tmp_path / "optimizers_1d.png"
    script.plot_one_d(paths, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_descend_is_the_optimizer_loop(script):
    # Three steps of plain SGD on f(x) = x**2 by hand: x <- x - lr * 2x.
    xs = script.descend(optimizers.sgd(0.1), 1.0, 3, loss=lambda x: x**2)
    np.testing.assert_allclose(xs, [1.0, 0.8, 0.64, 0.512], rtol=1e-6)


def test_epoch_trains_on_the_last_partial_batch(script):
    # 5 samples, batch 2: three steps, the last on one sample. With lr 0 nothing moves and the
    # epoch's loss is the per-sample mean over all five samples, each counted once.
    model = models.Sequential([layers.Dense(3, activation="softmax", input_shape=(4,))])
    params = model.init(jax.random.key(0))
    optimizer = optimizers.sgd(0.0)
    x = jnp.linspace(0.0, 1.0, 20, dtype=jnp.float32).reshape(5, 4)
    y = jnp.eye(3, dtype=jnp.float32)[jnp.array([0, 1, 2, 0, 1])]
    epoch = jax.jit(script.make_epoch(model, optimizer, num_samples=5, batch_size=2))
    new_params, state, loss = epoch(params, optimizer.init(params), x, y, jax.random.key(2))
    expected = jax.jit(lambda p: script.losses.categorical_crossentropy(y, model.apply(p, x)).mean())(params)
    np.testing.assert_allclose(float(loss), float(expected), rtol=1e-5)
    assert int(state[0].count) == 3
    jax.tree.map(np.testing.assert_array_equal, new_params, params)


@pytest.mark.data
def test_train_mnist_reduces_the_loss_on_a_subset(script, data_dir, tmp_path):
    data = script.load_data(data_dir, train_samples=2000)
    assert data.x_train.shape == (2000, 784) and data.y_train.shape == (2000, 10)
    assert data.x_test.shape == (10000, 784)
    results = [
        script.train_mnist(name, optimizer, data, epochs=2, batch_size=128, seed=0, verbose=False)
        for name, optimizer in (("SGD", optimizers.sgd(0.01)), ("Adam", optimizers.adam()))
    ]
    for result in results:
        assert len(result.losses) == 2 and all(np.isfinite(result.losses)), result
        assert result.losses[1] < result.losses[0], result.losses
    sgd, adam = results
    assert adam.losses[-1] < 0.7 and adam.test_accuracy > 0.8, adam[:4]
    assert adam.losses[-1] < sgd.losses[-1]

    out = tmp_path / "optimizers_mnist.png"
    script.plot_mnist(results, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Adam" in script.format_table(results)


def _book_snippet(x0, learning_rate, momentum, steps, corrected):
    """DLwP 1st ed. section 2.4.3's momentum pseudo-code on the double well, in float32; `corrected`
    flips the sign of `learning_rate * gradient` in the velocity. `learning_rate(t)` for step t >= 0."""
    grad = jax.jit(jax.grad(lambda x: (x**2 - 1) ** 2 + 0.3 * x))
    w, past_velocity, path = np.float32(x0), np.float32(0.0), [np.float32(x0)]
    for t in range(steps):
        gradient, lr = np.float32(grad(w)), np.float32(learning_rate(t))
        if corrected:
            velocity = past_velocity * np.float32(momentum) - lr * gradient
        else:
            velocity = past_velocity * np.float32(momentum) + lr * gradient
        w = w + np.float32(momentum) * velocity - lr * gradient
        past_velocity = velocity
        path.append(w)
    return np.asarray(path)


@pytest.mark.parametrize("momentum", [0.1, 0.9])
def test_corrected_book_snippet_is_nesterov_in_funcnet_and_optax(script, momentum):
    import optax

    snippet = _book_snippet(2.0, lambda t: 0.01, momentum, 60, corrected=True)
    funcnet_path = script.descend(optimizers.sgd(0.01, momentum=momentum, nesterov=True), 2.0, 60)
    optax_path = script.descend(optax.sgd(0.01, momentum=momentum, nesterov=True), 2.0, 60)
    np.testing.assert_allclose(funcnet_path, snippet, atol=1e-4)
    np.testing.assert_allclose(optax_path, snippet, atol=1e-4)


def test_under_a_schedule_the_snippet_matches_funcnet_not_optax(script):
    import optax

    schedule = optax.exponential_decay(0.01, transition_steps=5, decay_rate=0.5)
    snippet = _book_snippet(2.0, lambda t: float(schedule(t)), 0.9, 30, corrected=True)
    funcnet_path = script.descend(optimizers.sgd(schedule, momentum=0.9, nesterov=True), 2.0, 30)
    optax_path = script.descend(optax.sgd(schedule, momentum=0.9, nesterov=True), 2.0, 30)
    np.testing.assert_allclose(funcnet_path, snippet, atol=1e-4)
    assert np.abs(optax_path - snippet).max() > 0.05


def test_book_snippet_as_printed_stalls_then_climbs(script):
    # momentum 0.1 (the book's): still descends, into the nearer (local) minimum.
    assert abs(_book_snippet(2.0, lambda t: 0.01, 0.1, 300, corrected=False)[-1] - 0.9601) < 1e-3
    # momentum 0.5: its steady step on a slope is 0, so it stops on the slope, gradient ~17.
    stalled = _book_snippet(2.0, lambda t: 0.01, 0.5, 300, corrected=False)[-1]
    assert abs(stalled - 1.826) < 1e-3 and 4 * stalled**3 - 4 * stalled + 0.3 > 17
    # momentum 0.9: gradient ascent.
    with np.errstate(over="ignore", invalid="ignore"):
        climbing = _book_snippet(2.0, lambda t: 0.01, 0.9, 12, corrected=False)
    assert climbing[10] > 50 and abs(climbing[12]) > 1e4
