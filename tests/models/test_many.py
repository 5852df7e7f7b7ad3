"""`models.fit_many`: every member equals `fit` run alone with its seed, fold or optimizer.

On this CPU the vmapped members come out bit for bit equal to the lone fits; the tests allow float
rounding (`RTOL`), which is what the API promises.
"""
import csv
import os
import pathlib
import subprocess
import sys

import jax
import numpy as np
import optax
import pytest

from funcnet import callbacks, layers, models, optimizers
from funcnet.models import _member_memory

RTOL = 1e-5
N, BATCH = 50, 16  # a short last batch of 2


def make_data():
    rs = np.random.RandomState(0)
    return rs.randn(N, 5).astype(np.float32), rs.randint(0, 3, N)


def build(optimizer="rmsprop", dropout=True, batchnorm=False, **compile_kwargs):
    stack = [layers.Dense(8, activation="relu", input_shape=(5,))]
    if batchnorm:
        stack.append(layers.BatchNormalization())
    if dropout:
        stack.append(layers.Dropout(0.5))
    stack.append(layers.Dense(3, activation="softmax"))
    model = models.Sequential(stack)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"], **compile_kwargs)
    return model


def assert_member_is(runs, k, model, history):
    for key, values in history.history.items():
        np.testing.assert_allclose(runs.history[key][k, : len(values)], values, rtol=RTOL, atol=1e-7, err_msg=key)
    for got, want in zip(jax.tree.leaves(jax.tree.map(lambda a: a[k], runs.params)), jax.tree.leaves(model.params)):
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-7)
    for got, want in zip(jax.tree.leaves(jax.tree.map(lambda a: a[k], runs.state)), jax.tree.leaves(model.state)):
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-7)


def test_seeds_with_dropout_a_short_last_batch_and_validation_split_equal_fit_alone():
    x, y = make_data()
    runs = models.fit_many(build(), x, y, seeds=[0, 1, 5], epochs=3, batch_size=BATCH, validation_split=0.2, verbose=0)
    assert runs.history["val_loss"].shape == (3, 3)
    assert list(runs.history) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    for k, seed in enumerate([0, 1, 5]):
        model = build()
        history = model.fit(x, y, epochs=3, batch_size=BATCH, validation_split=0.2, verbose=0, seed=seed)
        assert_member_is(runs, k, model, history)
    # the seeds really differ
    assert not np.allclose(runs.history["loss"][0], runs.history["loss"][1])


def test_members_share_fits_seed_when_seeds_are_not_given():
    x, y = make_data()
    runs = models.fit_many(build(), x, y, optimizers=["rmsprop", "rmsprop"], epochs=2, batch_size=BATCH, verbose=0,
                           seed=7)
    assert runs.seeds == [7, 7]
    model = build()
    assert_member_is(runs, 1, model, model.fit(x, y, epochs=2, batch_size=BATCH, verbose=0, seed=7))


def test_folds_are_the_books_and_each_equals_fit_on_its_fold():
    x, y = make_data()
    seeds = [3, 4, 5, 6]  # member k takes fold k and seed k
    runs = models.fit_many(build(), x, y, folds=4, seeds=seeds, epochs=2, batch_size=BATCH, verbose=0)
    m = N // 4  # 12: samples 48 and 49 always train
    for k in range(4):
        val = slice(k * m, (k + 1) * m)
        train = np.r_[0:k * m, (k + 1) * m:N]
        model = build()
        history = model.fit(x[train], y[train], epochs=2, batch_size=BATCH, verbose=0, seed=seeds[k],
                            validation_data=(x[val], y[val]))
        assert_member_is(runs, k, model, history)


@pytest.mark.parametrize("make", [
    lambda: [optimizers.rmsprop(lr) for lr in (1e-2, 1e-3, 3e-4)],
    lambda: [optimizers.sgd(0.1, momentum=0.0), optimizers.sgd(0.05, momentum=0.9)],
    lambda: [optax.adam(1e-2), optax.adam(1e-3)],  # no alias made them: each member's update selected
], ids=["rmsprop-lr", "sgd-lr-momentum", "optax"])
def test_each_optimizer_member_equals_fit_with_that_optimizer(make):
    x, y = make_data()
    given = make()
    runs = models.fit_many(build(), x, y, optimizers=given, epochs=2, batch_size=BATCH, verbose=0,
                           validation_data=(x[:20], y[:20]))
    for k, tx in enumerate(given):
        model = build(optimizer=tx)
        history = model.fit(x, y, epochs=2, batch_size=BATCH, verbose=0, validation_data=(x[:20], y[:20]))
        assert_member_is(runs, k, model, history)


def test_learning_rates_are_data_of_one_program():
    from funcnet.models import _member_optimizers

    shapes = jax.eval_shape(lambda: {"w": np.zeros(3, np.float32)})
    plan = _member_optimizers.plan([optimizers.rmsprop(lr) for lr in (1e-2, 1e-3)], None,
                                   _policy(), 2, shapes)
    assert plan.key[0] == "alias" and plan.key[-1] == ("learning_rate",)
    np.testing.assert_allclose(plan.hyper["learning_rate"], [1e-2, 1e-3])
    switched = _member_optimizers.plan([optax.adam(1e-3), optax.adam(1e-2)], None, _policy(), 2, shapes)
    assert switched.key[0] == "switch"  # made by optax: each member's update selected
    with pytest.raises(ValueError, match="optimizer 1 keeps a state of another structure"):
        _member_optimizers.plan([optimizers.rmsprop(1e-3), optimizers.rmsprop(1e-3, centered=True)], None,
                                _policy(), 2, shapes)  # a switch differs: not data, and the states differ


def _policy():
    from funcnet import mixed_precision

    return mixed_precision.get(None)


def test_a_model_with_state_trains_each_members_moving_statistics():
    x, y = make_data()
    runs = models.fit_many(build(batchnorm=True), x, y, seeds=[0, 2], epochs=2, batch_size=BATCH, verbose=0)
    for k, seed in enumerate([0, 2]):
        model = build(batchnorm=True)
        assert_member_is(runs, k, model, model.fit(x, y, epochs=2, batch_size=BATCH, verbose=0, seed=seed))


def test_mixed_float16_members_each_keep_their_loss_scale():
    x, y = make_data()
    given = [optimizers.rmsprop(lr) for lr in (1e-2, 1e-3)]
    runs = models.fit_many(build(dtype_policy="mixed_float16"), x, y, optimizers=given, epochs=1, batch_size=BATCH,
                           verbose=0)
    for k, tx in enumerate(given):
        model = build(optimizer=tx, dtype_policy="mixed_float16")
        assert_member_is(runs, k, model, model.fit(x, y, epochs=1, batch_size=BATCH, verbose=0))


def test_a_mixed_float16_member_keeps_its_optimizer_state_and_loss_scale():
    # compile runs a member's named optimizer with its rate as data, nested under the loss scaling:
    # the member's moments and scale go inside that state, not a fresh one.
    x, y = make_data()
    given = [optimizers.rmsprop(lr) for lr in (1e-2, 1e-3)]
    runs = models.fit_many(build(dtype_policy="mixed_float16"), x, y, optimizers=given, epochs=1, batch_size=BATCH,
                           verbose=0)
    member = runs.member(1)
    assert int(member._session.step) == int(runs.step[1])
    expected = [np.asarray(leaf[1]) for leaf in jax.tree.leaves(runs.opt_state)]
    kept = [np.asarray(leaf) for leaf in jax.tree.leaves(member._session.opt_state)]
    assert member.optimizer.learning_rate == float(np.float32(1e-3))
    assert len(kept) == len(expected) + 1  # every leaf of the member's state, and the rate beside them
    remaining = list(kept)
    for a in expected:
        found = [i for i, b in enumerate(remaining) if b.shape == a.shape and np.array_equal(a, b)]
        assert found, f"a leaf of the member's optimizer state (shape {a.shape}) was not kept"
        remaining.pop(found[0])
    assert [float(a) for a in remaining] == [float(np.float32(1e-3))]


def test_groups_give_the_same_members():
    x, y = make_data()
    whole = models.fit_many(build(), x, y, seeds=[0, 1, 2], epochs=2, batch_size=BATCH, verbose=0)
    assert whole.group_size == 3
    for size in (1, 2):
        grouped = models.fit_many(build(), x, y, seeds=[0, 1, 2], epochs=2, batch_size=BATCH, verbose=0,
                                  group_size=size)
        assert grouped.group_size == size
        np.testing.assert_allclose(grouped.history["loss"], whole.history["loss"], rtol=RTOL)
        for a, b in zip(jax.tree.leaves(grouped.params), jax.tree.leaves(whole.params)):
            np.testing.assert_allclose(a, b, rtol=RTOL, atol=1e-7)
        np.testing.assert_allclose(grouped.evaluate(x, y)["loss"], whole.evaluate(x, y)["loss"], rtol=RTOL)


def test_the_group_size_follows_the_free_memory(monkeypatch):
    x, y = make_data()
    model = build()
    from funcnet.models import many

    per_member = []
    real = many._member_cost

    def spy(*args):
        cost = real(*args)
        per_member.append(cost[0])
        return cost

    monkeypatch.setattr(many, "_member_cost", spy)
    monkeypatch.setattr(_member_memory, "free_bytes", lambda device=None: int(per_member[-1] * 2 / _member_memory.BUDGET_FRACTION) + 1
                        if per_member else 10 ** 12)
    runs = models.fit_many(model, x, y, seeds=[0, 1, 2, 3, 4], epochs=1, batch_size=BATCH, verbose=0)
    assert runs.group_size == 2  # room for two members: groups of 2, 2 and 1 (padded)
    # params, optimizer state, a step's values and the plan: more than the params alone
    params_bytes = _member_memory.tree_bytes(model.variable_specs()[0])
    assert per_member[0] > 4 * params_bytes


def test_group_size_rules():
    assert _member_memory.group_size(10, per_member=100, devices=1, free=10 ** 9) == 10
    assert _member_memory.group_size(10, per_member=100, devices=1, free=600) == 3
    assert _member_memory.group_size(10, per_member=100, devices=1, free=1) == 1  # at least one
    assert _member_memory.group_size(3, per_member=100, devices=4, free=10 ** 9) == 4  # padded to the devices
    assert _member_memory.group_size(10, per_member=100, devices=4, free=1000) == 4
    assert _member_memory.group_size(10, per_member=100, devices=2, free=1000, shared_memory=False) == 10


def test_early_stopping_stops_each_member_alone_and_freezes_it():
    x, y = make_data()
    seeds = [0, 1, 2, 3]
    stop = callbacks.EarlyStopping(monitor="loss", patience=0, restore_best_weights=True)
    runs = models.fit_many(build(), x, y, seeds=seeds, epochs=8, batch_size=N, verbose=0, callbacks=[stop])
    lengths = []
    for k, seed in enumerate(seeds):
        model = build()
        history = model.fit(x, y, epochs=8, batch_size=N, verbose=0, seed=seed,
                            callbacks=[callbacks.EarlyStopping(monitor="loss", patience=0, restore_best_weights=True)])
        lengths.append(len(history.history["loss"]))
        assert runs.epochs_run[k] == lengths[-1]
        assert np.isnan(runs.history["loss"][k, lengths[-1]:]).all()
        assert_member_is(runs, k, model, history)
    assert len(set(lengths)) > 1, "the members should stop at different epochs"
    assert runs.history["loss"].shape[1] == max(lengths)


def test_terminate_on_nan_stops_only_the_member_that_diverged():
    x, y = make_data()
    given = [optimizers.sgd(1e-2), optimizers.sgd(1e38)]
    runs = models.fit_many(build(dropout=False), x, y, optimizers=given, epochs=3, batch_size=BATCH, verbose=0,
                           callbacks=[callbacks.TerminateOnNaN()])
    assert runs.epochs_run.tolist() == [3, 1]
    assert np.isfinite(runs.history["loss"][0]).all() and not np.isfinite(runs.history["loss"][1, 0])
    model = build(optimizer=given[0], dropout=False)
    assert_member_is(runs, 0, model, model.fit(x, y, epochs=3, batch_size=BATCH, verbose=0))


def test_csv_logger_writes_a_row_per_member_and_epoch(tmp_path):
    x, y = make_data()
    path = tmp_path / "runs.csv"
    runs = models.fit_many(build(), x, y, seeds=[0, 1], epochs=2, batch_size=BATCH, verbose=0,
                           callbacks=[callbacks.CSVLogger(path)])
    with open(path) as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["epoch", "member", "accuracy", "loss"]
    assert [(r["epoch"], r["member"]) for r in rows] == [("0", "0"), ("0", "1"), ("1", "0"), ("1", "1")]
    assert float(rows[3]["loss"]) == pytest.approx(runs.history["loss"][1, 1])


def test_evaluate_predict_and_member_are_each_members_model():
    x, y = make_data()
    runs = models.fit_many(build(), x, y, seeds=[0, 1, 2], epochs=2, batch_size=BATCH, verbose=0)
    logs = runs.evaluate(x, y, batch_size=7)
    predictions = runs.predict(x[:23], batch_size=10)
    assert logs["loss"].shape == (3,) and predictions.shape == (3, 23, 3)
    for k in range(3):
        model = runs.member(k)
        loss, accuracy = model.evaluate(x, y, batch_size=7, verbose=0)
        np.testing.assert_allclose([logs["loss"][k], logs["accuracy"][k]], [loss, accuracy], rtol=RTOL)
        np.testing.assert_allclose(predictions[k], model.predict(x[:23], verbose=0), rtol=RTOL, atol=1e-7)
    assert runs.member(-1).params is not None
    with pytest.raises(ValueError, match=r"Runs.member\(k\): k must be an int in \[0, 3\)"):
        runs.member(3)


def test_a_member_fits_on_exactly_as_the_uninterrupted_run():
    x, y = make_data()
    given = [optimizers.adam(lr) for lr in (1e-2, 1e-3)]
    runs = models.fit_many(build(), x, y, optimizers=given, seeds=[3, 4], epochs=2, batch_size=BATCH, verbose=0)
    member = runs.member(1)
    rest = member.fit(x, y, epochs=4, initial_epoch=2, batch_size=BATCH, verbose=0, seed=4)
    straight = build(optimizer=given[1])
    whole = straight.fit(x, y, epochs=4, batch_size=BATCH, verbose=0, seed=4)
    np.testing.assert_allclose(rest.history["loss"], whole.history["loss"][2:], rtol=RTOL)
    for a, b in zip(jax.tree.leaves(member.params), jax.tree.leaves(straight.params)):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=1e-7)


def test_a_functional_model_with_two_inputs():
    a, b = layers.Input(shape=(5,), name="a"), layers.Input(shape=(2,), name="b")
    out = layers.Dense(3, activation="softmax")(layers.Concatenate()([layers.Dense(4)(a), b]))
    model = models.Model(inputs=[a, b], outputs=out)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x, y = make_data()
    xb = np.random.RandomState(3).randn(N, 2).astype(np.float32)
    runs = models.fit_many(model, {"a": x, "b": xb}, y, seeds=[0, 1], epochs=2, batch_size=BATCH, verbose=0)
    alone = models.Model(inputs=[a, b], outputs=out)
    alone.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    assert_member_is(runs, 1, alone, alone.fit([x, xb], y, epochs=2, batch_size=BATCH, verbose=0, seed=1))


def test_the_template_is_left_as_it_was():
    x, y = make_data()
    model = build()
    models.fit_many(model, x, y, seeds=[0, 1], epochs=1, batch_size=BATCH, verbose=0)
    assert model.params is None and model.state is None


def test_verbose_lines_show_the_members_mean_and_range(capsys):
    x, y = make_data()
    models.fit_many(build(), x, y, seeds=[0, 1], epochs=2, batch_size=BATCH, verbose=2)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("Epoch 2/2") and "2 members - loss: " in lines[1]
    models.fit_many(build(), x, y, seeds=[0, 1], epochs=1, batch_size=BATCH, verbose=1)
    assert "4/4" in capsys.readouterr().out


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(), ValueError, "needs the members"),
    (dict(seeds=[0, 1], folds=3), ValueError, "seeds give 2 members, folds give 3 members"),
    (dict(seeds=[]), TypeError, "non-empty list of ints"),
    (dict(seeds=[0, 1.5]), TypeError, r"seeds=\.\.\.\) element 1 must be an int"),
    (dict(folds=1), ValueError, "int >= 2"),
    (dict(folds=True), ValueError, "int >= 2"),
    (dict(folds=60), ValueError, r"folds=60\) needs at least 60 samples"),
    (dict(folds=2, validation_split=0.2), ValueError, "give no validation_split"),
    (dict(optimizers="adam"), TypeError, "non-empty list of optimizers"),
    (dict(optimizers=["adam", 3]), TypeError, "optimizer must be a name"),
    (dict(optimizers=[optax.adam(1e-3), optax.sgd(1e-3)]), ValueError, "optimizer 1 keeps a state of another structure"),
    (dict(seeds=[0], callbacks=[callbacks.ModelCheckpoint("x.npz")]), ValueError, "got ModelCheckpoint"),
    (dict(seeds=[0], callbacks=[object()]), TypeError, "Callback instances"),
    (dict(seeds=[0], group_size=0), ValueError, "group_size"),
    (dict(seeds=[0], batch_size=0), ValueError, "batch_size"),
])
def test_bad_arguments_name_the_argument(kwargs, error, match):
    x, y = make_data()
    with pytest.raises(error, match=match):
        models.fit_many(build(), x, y, epochs=1, verbose=0, **kwargs)


def test_an_uncompiled_model_and_host_batches_are_refused():
    x, y = make_data()
    model = models.Sequential([layers.Dense(3, input_shape=(5,))])
    with pytest.raises(RuntimeError, match="fit_many needs a compiled model"):
        models.fit_many(model, x, y, seeds=[0])
    with pytest.raises(ValueError, match="steps_per_execution"):
        models.fit_many(build(steps_per_execution=2), x, y, seeds=[0])
    with pytest.raises(ValueError, match="x has 50 samples but y has 49"):
        models.fit_many(build(), x, y[:49], seeds=[0])


def test_a_second_run_of_one_structure_compiles_no_epoch(caplog):
    x, y = make_data()
    models.fit_many(build(), x, y, seeds=[0, 1], epochs=1, batch_size=BATCH, verbose=0)
    with jax.log_compiles(True):
        import logging

        with caplog.at_level(logging.WARNING, logger="jax"):
            models.fit_many(build(), x, y, seeds=[5, 6], epochs=2, batch_size=BATCH, verbose=0)
    compiled = [r.getMessage() for r in caplog.records if "Compiling" in r.getMessage()]
    assert compiled == [], compiled


WORKER = pathlib.Path(__file__).resolve().parents[1] / "_workers" / "many_devices.py"


def test_data_parallel_splits_the_members_across_four_devices(tmp_path):
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    out = tmp_path / "out.npz"
    done = subprocess.run([sys.executable, str(WORKER), str(out)], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    results = np.load(out)
    assert str(results["spec"]) in ("PartitionSpec('batch',)", "P('batch',)") and int(results["devices"]) == 4
    for k in range(3):
        np.testing.assert_allclose(results[f"many/loss/{k}"], results[f"alone/loss/{k}"], rtol=RTOL)
        np.testing.assert_allclose(results[f"many/val_loss/{k}"], results[f"alone/val_loss/{k}"], rtol=RTOL)
        np.testing.assert_allclose(results[f"many/kernel/{k}"], results[f"alone/kernel/{k}"], rtol=RTOL, atol=1e-7)


def test_members_taking_turns_inside_the_program_equal_fit_alone(monkeypatch, capsys):
    # What a CPU does for compute-bound steps (the MNIST network's): the members' epochs one after another.
    monkeypatch.setattr(_member_memory, "CPU_SEQUENTIAL_FLOPS", 0)
    assert _member_memory.one_at_a_time(1, "cpu", 1) and not _member_memory.one_at_a_time(1, "gpu", 1)
    x, y = make_data()
    runs = models.fit_many(build(), x, y, seeds=[0, 1, 2], epochs=2, batch_size=BATCH, validation_split=0.2,
                           verbose=1, callbacks=[callbacks.EarlyStopping(monitor="loss", patience=0)])
    assert "9/9" in capsys.readouterr().out  # 3 members x 3 steps, heard as one epoch
    for k, seed in enumerate([0, 1, 2]):
        model = build()
        history = model.fit(x, y, epochs=2, batch_size=BATCH, validation_split=0.2, verbose=0, seed=seed,
                            callbacks=[callbacks.EarlyStopping(monitor="loss", patience=0)])
        assert_member_is(runs, k, model, history)


def test_the_step_cost_counts_matrix_products_and_convolutions():
    import jax.numpy as jnp

    def step(x, w, k):
        conv = jax.lax.conv_general_dilated(x, k, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return conv.sum() + (x.reshape(2, -1) @ w).sum()

    x = jax.ShapeDtypeStruct((2, 5, 5, 3), jnp.float32)
    w = jax.ShapeDtypeStruct((75, 4), jnp.float32)
    k = jax.ShapeDtypeStruct((3, 3, 3, 8), jnp.float32)
    _, flops = _member_memory.step_cost(step, x, w, k)
    assert flops == 2 * (2 * 3 * 3 * 8) * (3 * 3 * 3) + 2 * (2 * 4) * 75
