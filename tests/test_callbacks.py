"""Callbacks: Keras 3 semantics for EarlyStopping, ModelCheckpoint, TerminateOnNaN, CSVLogger; exact resume."""
import csv
import os

import jax
import numpy as np
import pytest

from funcnet import callbacks, layers, models


class _FakeModel:
    """Just what callbacks touch: params, state and stop_training."""

    def __init__(self):
        self.params = None
        self.state = None
        self.stop_training = False


def _drive(callback, values, monitor="val_loss"):
    """Runs the callback over epochs whose monitored value is `values[e]` and whose params are `e`."""
    model = _FakeModel()
    callback.set_model(model)
    callback.on_train_begin()
    stopped_at = None
    for epoch, value in enumerate(values):
        model.params = {"w": epoch}
        callback.on_epoch_end(epoch, {monitor: value})
        if model.stop_training:
            stopped_at = epoch
            break
    callback.on_train_end()
    return stopped_at, model


def _keras_early_stopping(kwargs, values):
    """Keras 3's own EarlyStopping on the same sequence: (epoch it stopped at or None, weights it left)."""
    import keras

    class Model:
        stop_training = False

        def get_weights(self):
            return [self.w]

        def set_weights(self, weights):
            self.w = weights[0]

    callback, model = keras.callbacks.EarlyStopping(**kwargs), Model()
    callback._model = model
    callback.on_train_begin()
    stopped_at = None
    for epoch, value in enumerate(values):
        model.w = epoch
        callback.on_epoch_end(epoch, {"val_loss": value})
        if model.stop_training:
            stopped_at = epoch
            break
    callback.on_train_end()
    return stopped_at, model.w


@pytest.mark.parametrize(
    "kwargs, values",
    [
        ({"patience": 0}, [1.0, 0.9, 0.95, 0.8]),
        ({"patience": 1}, [1.0, 0.9, 0.95, 0.8, 0.85, 0.86]),
        ({"patience": 2}, [1.0, 1.1, 1.2, 0.5]),
        ({"patience": 2}, [1.0, 1.1, 0.5, 0.6, 0.7, 0.8]),
        ({"patience": 0, "min_delta": 0.2}, [1.0, 0.9]),
        ({"patience": 0, "min_delta": 0.05}, [1.0, 0.9, 0.8]),
        ({"patience": 5}, [1.0, 0.9, 0.8]),
        ({"patience": 0, "baseline": 0.5}, [1.0, 0.9]),
        ({"patience": 1, "baseline": 0.95}, [1.0, 0.99, 0.9, 0.92, 0.93]),
        ({"patience": 1, "start_from_epoch": 2}, [1.0, 2.0, 3.0, 4.0, 5.0]),
        ({"patience": 1, "restore_best_weights": True}, [1.0, 0.5, 0.7, 0.8]),
        ({"patience": 9, "restore_best_weights": True}, [1.0, 0.5, 0.7, 0.8]),
    ],
)
def test_early_stopping_follows_keras(kwargs, values):
    stopped_at, model = _drive(callbacks.EarlyStopping(**kwargs), values)
    keras_stopped_at, keras_weights = _keras_early_stopping(kwargs, values)
    assert stopped_at == keras_stopped_at
    if kwargs.get("restore_best_weights"):
        assert model.params == {"w": keras_weights}


def test_early_stopping_maximises_accuracy_and_restores_best_weights_even_without_stopping():
    stopped, model = _drive(
        callbacks.EarlyStopping(monitor="val_accuracy", patience=10, restore_best_weights=True),
        [0.5, 0.9, 0.7, 0.8],
        monitor="val_accuracy",
    )
    assert stopped is None and model.params == {"w": 1}


def test_early_stopping_restores_best_weights_after_stopping():
    stopped, model = _drive(callbacks.EarlyStopping(patience=1, restore_best_weights=True), [1.0, 0.5, 0.7, 0.8])
    assert stopped == 2 and model.params == {"w": 1}


def test_early_stopping_warns_when_the_monitor_is_missing():
    with pytest.warns(UserWarning, match="val_loss"):
        _drive(callbacks.EarlyStopping(), [1.0], monitor="loss")


def test_monitor_mode_is_checked():
    with pytest.raises(ValueError, match="mode"):
        callbacks.EarlyStopping(mode="up")
    with pytest.raises(ValueError, match="patience"):
        callbacks.EarlyStopping(patience=-1)


def _data(n=48, seed=0):
    rs = np.random.default_rng(seed)
    x = rs.normal(size=(n, 4)).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[(x[:, 0] > 0).astype(int)]
    return x, y


def _model():
    model = models.Sequential(
        [layers.Dense(8, activation="relu", input_shape=(4,)), layers.Dropout(0.2), layers.Dense(2, activation="softmax")]
    )
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def _same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_model_checkpoint_formats_the_name_and_saves_best_only(tmp_path):
    x, y = _data()
    model = _model()
    pattern = str(tmp_path / "w-{epoch:02d}-{val_loss:.3f}.ckpt")
    model.fit(x, y, epochs=3, batch_size=8, validation_data=(x, y), verbose=0,
              callbacks=[callbacks.ModelCheckpoint(pattern, save_weights_only=True)])
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 3 and names[0].startswith("w-01-") and names[2].startswith("w-03-")
    restored = _model()
    restored.load_weights(tmp_path / names[2])
    assert _same(restored.params, model.params)

    best_dir = tmp_path / "best"
    best_dir.mkdir()
    saver = callbacks.ModelCheckpoint(str(best_dir / "e{epoch}"), monitor="loss", save_best_only=True)
    saver.set_model(_FakeModel())
    saver.model.save_checkpoint = lambda path, epoch: open(path, "w").close()
    for epoch, loss in enumerate([1.0, 0.8, 0.9, 0.7]):
        saver.on_epoch_end(epoch, {"loss": loss})
    assert sorted(p.name for p in best_dir.iterdir()) == ["e1", "e2", "e4"]


def test_resume_from_checkpoint_is_bit_identical_to_an_uninterrupted_run(tmp_path):
    x, y = _data()
    full = _model()
    full_history = full.fit(x, y, epochs=4, batch_size=5, validation_data=(x, y), verbose=0, seed=7)

    first = _model()
    path = str(tmp_path / "state-{epoch}")
    first.fit(x, y, epochs=2, batch_size=5, validation_data=(x, y), verbose=0, seed=7,
              callbacks=[callbacks.ModelCheckpoint(path)])
    resumed = _model()  # a fresh process would build and compile the model the same way
    epochs_done = resumed.load_checkpoint(path.format(epoch=2))
    assert epochs_done == 2
    history = resumed.fit(x, y, epochs=4, initial_epoch=epochs_done, batch_size=5, validation_data=(x, y),
                          verbose=0, seed=7)
    assert history.epoch == [2, 3]
    assert {k: v for k, v in history.history.items()} == {k: v[2:] for k, v in full_history.history.items()}
    assert _same(resumed.params, full.params)
    assert _same(resumed._session.opt_state, full._session.opt_state)


def test_load_checkpoint_refuses_a_weights_only_file(tmp_path):
    x, y = _data()
    model = _model()
    model.fit(x, y, epochs=1, verbose=0)
    model.save_weights(tmp_path / "weights")
    with pytest.raises(ValueError, match="load_weights"):
        _model().load_checkpoint(tmp_path / "weights")


def test_load_weights_checks_the_architecture(tmp_path):
    x, y = _data()
    model = _model()
    model.fit(x, y, epochs=1, verbose=0)
    model.save_weights(tmp_path / "weights")
    other = models.Sequential([layers.Dense(9, input_shape=(4,)), layers.Dense(2)])
    with pytest.raises(ValueError, match="shape"):
        other.load_weights(tmp_path / "weights")


def test_csv_logger_writes_one_row_per_epoch(tmp_path):
    x, y = _data()
    path = tmp_path / "log.csv"
    _model().fit(x, y, epochs=3, verbose=0, validation_data=(x, y), callbacks=[callbacks.CSVLogger(path)])
    rows = list(csv.DictReader(open(path)))
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    assert set(rows[0]) == {"epoch", "loss", "accuracy", "val_loss", "val_accuracy"}
    _model().fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.CSVLogger(path, append=True)])
    assert len(list(csv.DictReader(open(path)))) == 4


def test_user_callbacks_see_every_epoch_and_can_stop_training():
    seen = []

    class StopAtTwo(callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen.append("begin")

        def on_epoch_begin(self, epoch, logs=None):
            seen.append(f"start {epoch}")

        def on_epoch_end(self, epoch, logs=None):
            seen.append(f"end {epoch} {sorted(logs)}")
            if epoch == 1:
                self.model.stop_training = True

        def on_train_end(self, logs=None):
            seen.append("done")

    x, y = _data()
    history = _model().fit(x, y, epochs=5, verbose=0, callbacks=[StopAtTwo()])
    assert history.epoch == [0, 1]
    assert seen == ["begin", "start 0", "end 0 ['accuracy', 'loss']", "start 1", "end 1 ['accuracy', 'loss']", "done"]


def test_early_stopping_in_fit_restores_best_weights():
    x, y = _data()
    model = _model()
    stopper = callbacks.EarlyStopping(monitor="loss", patience=1, restore_best_weights=True)
    history = model.fit(x, y, epochs=6, verbose=0, callbacks=[stopper])
    best_epoch = int(np.argmin(history.history["loss"]))
    assert stopper.best_epoch == best_epoch
    assert model.params is stopper.best_weights


# ---------------------------------------------------------------------- learning-rate callbacks
class _Optimizer:
    """A Keras-like optimizer: a float32 learning-rate variable."""

    def __init__(self, lr):
        self._lr = np.float32(lr)

    @property
    def learning_rate(self):
        return self._lr

    @learning_rate.setter
    def learning_rate(self, value):
        self._lr = np.float32(value)


class _LrModel:
    def __init__(self, lr):
        self.optimizer = _Optimizer(lr)
        self.stop_training = False


def _drive_lr(callback, values, lr=0.1, monitor="val_loss", keras_style=False):
    """The rate each epoch ran at and the logs' `learning_rate`, over epochs with `values[e]` monitored."""
    model = _LrModel(lr)
    if keras_style:
        callback._model = model
    else:
        callback.set_model(model)
    callback.on_train_begin()
    rates, logged = [], []
    for epoch, value in enumerate(values):
        callback.on_epoch_begin(epoch)
        rates.append(float(model.optimizer.learning_rate))
        logs = {monitor: value}
        callback.on_epoch_end(epoch, logs)
        logged.append(logs.get("learning_rate"))
    return rates, logged, float(model.optimizer.learning_rate)


@pytest.mark.parametrize("kwargs, values", [
    ({"patience": 0}, [1.0, 1.1, 0.9, 0.95, 0.96]),
    ({"patience": 1, "factor": 0.5}, [1.0, 1.1, 1.2, 0.5, 0.6, 0.7, 0.8]),
    ({"patience": 1, "cooldown": 2, "factor": 0.5}, [1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7]),
    ({"patience": 0, "min_lr": 0.03, "factor": 0.5}, [1.0, 2.0, 3.0, 4.0, 5.0]),
    ({"patience": 0, "min_delta": 0.2}, [1.0, 0.9, 0.5, 0.45]),
    ({"patience": 1, "monitor": "val_accuracy", "mode": "max"}, [0.5, 0.6, 0.55, 0.58, 0.7, 0.69, 0.68]),
    ({"patience": 1, "monitor": "val_accuracy", "mode": "min"}, [0.5, 0.6, 0.55, 0.58, 0.7]),
])
def test_reduce_lr_on_plateau_follows_keras(kwargs, values):
    import keras

    monitor = kwargs.get("monitor", "val_loss")
    ours = _drive_lr(callbacks.ReduceLROnPlateau(**kwargs), values, monitor=monitor)
    theirs = _drive_lr(keras.callbacks.ReduceLROnPlateau(**kwargs), values, monitor=monitor, keras_style=True)
    assert ours == theirs


@pytest.mark.parametrize("schedule", [
    lambda epoch, lr: lr * 0.5 if epoch % 2 else lr,
    lambda epoch: 0.1 / (1 + epoch),
    lambda epoch, lr: float(np.float32(lr) * np.float32(0.9)),
])
def test_learning_rate_scheduler_follows_keras(schedule):
    import keras

    values = [1.0] * 6
    ours = _drive_lr(callbacks.LearningRateScheduler(schedule), values)
    theirs = _drive_lr(keras.callbacks.LearningRateScheduler(schedule), values, keras_style=True)
    assert ours == theirs


def _regression(optimizer="sgd"):
    rs = np.random.default_rng(0)
    x = rs.normal(size=(64, 3)).astype(np.float32)
    y = x @ np.array([[1.0], [-2.0], [0.5]], np.float32)
    model = models.Sequential([layers.Dense(1, input_shape=(3,))])
    model.compile(optimizer=optimizer, loss="mse")
    return model, x, y


def test_a_rate_set_between_epochs_trains_as_set_and_compiles_nothing(caplog):
    import logging

    model, x, y = _regression()
    start = model.init(jax.random.key(0))
    model.params = start
    schedule = callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 * 0.5 ** epoch)
    with jax.log_compiles(True), caplog.at_level(logging.WARNING, logger="jax"):
        model.fit(x, y, epochs=1, batch_size=16, verbose=0)  # compiles the epoch
        caplog.clear()
        model.params, model._session.opt_state, model._session.step = start, None, 0
        history = model.fit(x, y, epochs=4, batch_size=16, verbose=0, callbacks=[schedule])
    assert [r.getMessage() for r in caplog.records if "Compiling" in r.getMessage()] == []
    assert history.history["learning_rate"] == [float(np.float32(0.1 * 0.5 ** e)) for e in range(4)]
    assert model.optimizer.learning_rate == float(np.float32(0.0125))
    # The same by hand: one epoch at a time, the rate set in between.
    by_hand, _, _ = _regression()
    by_hand.params = start
    for epoch in range(4):
        if epoch:
            by_hand.optimizer.learning_rate = 0.1 * 0.5 ** epoch
        else:
            by_hand.fit(x, y, epochs=0, verbose=0)  # the optimizer state exists from here
            by_hand.optimizer.learning_rate = 0.1
        by_hand.fit(x, y, epochs=epoch + 1, initial_epoch=epoch, batch_size=16, verbose=0)
    for a, b in zip(jax.tree.leaves(model.params), jax.tree.leaves(by_hand.params)):
        np.testing.assert_array_equal(a, b)


def test_reduce_lr_on_plateau_in_fit_and_the_rate_a_saved_model_keeps(tmp_path):
    model, x, y = _regression(optimizer="rmsprop")
    plateau = callbacks.ReduceLROnPlateau(monitor="loss", patience=0, min_delta=1e3, factor=0.5)
    history = model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[plateau])
    # Keras logs the rate an epoch ran at, then reduces (patience 0: from the second epoch on).
    assert history.history["learning_rate"] == [float(np.float32(1e-3)), float(np.float32(1e-3)),
                                                float(np.float32(5e-4))]
    assert model.optimizer.learning_rate == float(np.float32(2.5e-4))
    path = str(tmp_path / "m.keras")
    model.save(path)
    assert models.load_model(path).optimizer.learning_rate == float(np.float32(2.5e-4))
    import keras

    assert float(np.asarray(keras.saving.load_model(path).optimizer.learning_rate)) == float(np.float32(2.5e-4))


def test_an_optimizer_without_a_settable_rate_says_so():
    import optax

    model, x, y = _regression(optimizer=optax.sgd(0.1))
    with pytest.raises(TypeError, match="no learning rate to read or set"):
        model.optimizer.learning_rate = 0.01
    with pytest.raises(TypeError, match="no learning rate"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.LearningRateScheduler(lambda e, lr: lr)])


def test_lambda_callback_calls_its_functions_with_keras_s_arguments():
    model, x, y = _regression()
    seen = []
    hooks = callbacks.LambdaCallback(on_train_begin=lambda logs: seen.append(("train_begin", logs)),
                                     on_epoch_begin=lambda epoch, logs: seen.append(("begin", epoch)),
                                     on_epoch_end=lambda epoch, logs: seen.append(("end", epoch, sorted(logs))),
                                     on_train_end=lambda logs: seen.append(("train_end",)))
    model.fit(x, y, epochs=2, verbose=0, callbacks=[hooks])
    assert seen == [("train_begin", {}), ("begin", 0), ("end", 0, ["loss"]), ("begin", 1), ("end", 1, ["loss"]),
                    ("train_end",)]
    with pytest.raises(ValueError, match="per-batch hooks"):
        callbacks.LambdaCallback(on_batch_end=print)


# ---------------------------------------------------------------------- BackupAndRestore
def _backup_run(backup, out, kill_at):
    import subprocess
    import sys

    worker = os.path.join(os.path.dirname(__file__), "_workers", "backup_fit.py")
    return subprocess.run([sys.executable, worker, str(backup), str(out), str(kill_at)], capture_output=True,
                          text=True, timeout=300)


def test_a_killed_fit_started_again_resumes_from_its_backup_bit_identical(tmp_path):
    backup = tmp_path / "backup"
    whole = _backup_run(tmp_path / "whole_backup", tmp_path / "whole.npz", -1)
    assert whole.returncode == 0, whole.stderr
    assert not (tmp_path / "whole_backup").exists()  # deleted when fit finishes, as Keras
    killed = _backup_run(backup, tmp_path / "never.npz", 3)
    assert killed.returncode == -9 and not (tmp_path / "never.npz").exists()  # SIGKILLed at epoch 3
    assert (backup / callbacks.BackupAndRestore.FILE).exists()
    resumed = _backup_run(backup, tmp_path / "resumed.npz", -1)
    assert resumed.returncode == 0, resumed.stderr
    assert not backup.exists()
    a, b = np.load(tmp_path / "whole.npz"), np.load(tmp_path / "resumed.npz")
    assert list(a["epochs"]) == list(range(6)) and list(b["epochs"]) == [3, 4, 5]  # it ran only what was left
    assert sorted(a.files) == sorted(b.files)
    for name in a.files:
        if name != "epochs":
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_backup_and_restore_refuses_batch_frequencies():
    with pytest.raises(ValueError, match="after each epoch only"):
        callbacks.BackupAndRestore("/tmp/x", save_freq=100)


# ---------------------------------------------------------------------- TensorBoard
def _tensorboard_run(log_dir, **kwargs):
    rs = np.random.default_rng(0)
    x = rs.normal(size=(96, 4)).astype(np.float32)
    y = (x[:, :1] + x[:, 1:2] > 0).astype(np.float32)
    model = models.Sequential([layers.Dense(6, activation="relu", input_shape=(4,)),
                               layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    board = callbacks.TensorBoard(str(log_dir), **kwargs)
    return model.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0, callbacks=[board])


def test_tensorboard_writes_what_tensorboard_reads_as_keras_lays_it_out(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    history = _tensorboard_run(tmp_path, histogram_freq=2, write_steps_per_second=True)
    runs = {}
    for run in ("train", "validation"):
        reader = EventAccumulator(str(tmp_path / run), size_guidance={"scalars": 0, "histograms": 0})
        reader.Reload()
        runs[run] = reader
    train, validation = runs["train"], runs["validation"]
    assert sorted(train.Tags()["scalars"]) == ["epoch_accuracy", "epoch_learning_rate", "epoch_loss",
                                              "epoch_steps_per_second"]
    assert sorted(validation.Tags()["scalars"]) == ["epoch_accuracy", "epoch_loss"]
    for reader, prefix in ((train, ""), (validation, "val_")):
        for name in ("loss", "accuracy"):
            events = reader.Scalars(f"epoch_{name}")
            assert [e.step for e in events] == [0, 1, 2]
            np.testing.assert_allclose([e.value for e in events], history.history[prefix + name], rtol=1e-6)
    assert [e.value for e in train.Scalars("epoch_learning_rate")] == [float(np.float32(1e-3))] * 3
    assert sorted(train.Tags()["histograms"]) == ["dense/bias", "dense/kernel", "dense_1/bias", "dense_1/kernel"]
    assert [e.step for e in train.Histograms("dense/kernel")] == [0, 2]


@pytest.mark.parametrize("kwargs, match", [
    ({"update_freq": "batch"}, "once per epoch"), ({"profile_batch": 2}, "profile_batch"),
    ({"histogram_freq": -1}, "histogram_freq"), ({"write_images": True}, "write_images"),
])
def test_tensorboard_refuses_what_it_cannot_do(kwargs, match):
    with pytest.raises(ValueError, match=match):
        callbacks.TensorBoard("/tmp/unused", **kwargs)


def test_tensorboard_shows_the_curves_in_a_browser(tmp_path):
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    chromium = os.environ.get("FUNCNET_CHROMIUM", "/usr/bin/chromium")
    if not os.path.isfile(chromium):
        if os.environ.get("CI"):
            pytest.fail(f"Chromium not found at {chromium}; CI must run the browser test (apt-get install chromium)")
        pytest.skip(f"Chromium not found at {chromium}")
    from playwright.sync_api import sync_playwright

    _tensorboard_run(tmp_path)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(tmp_path), "--host",
                               "127.0.0.1", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/data/runs", timeout=2).read()
                break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()[-3000:]
                assert time.monotonic() < deadline, "tensorboard did not start in 90 s"
                time.sleep(0.3)
        problems: list[str] = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, headless=True,
                                                 args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
            try:
                page = browser.new_page()
                page.on("console", lambda m: m.type == "error" and problems.append(f"console error: {m.text}"))
                page.on("pageerror", lambda e: problems.append(f"page error: {e}"))

                def only_local(route):
                    if route.request.url.startswith((f"http://127.0.0.1:{port}/", "data:")):
                        route.continue_()
                    else:
                        problems.append(f"non-local request: {route.request.url}")
                        route.abort()

                page.route("**/*", only_local)
                page.goto(f"http://127.0.0.1:{port}/#scalars", wait_until="load")
                # The loss curve's card, and both runs in the run selector (the page's shadow DOM: locators).
                page.get_by_text("epoch_loss").first.wait_for(timeout=60000)
                page.wait_for_load_state("networkidle")
                shown = {text: page.get_by_text(text, exact=True).first.is_visible()
                         for text in ("epoch_loss", "epoch_accuracy", "train", "validation")}
            finally:
                browser.close()
        assert shown == {"epoch_loss": True, "epoch_accuracy": True, "train": True, "validation": True}
        assert problems == []
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_rate_is_set_under_loss_scaling_too():
    # mixed_float16 wraps the optimizer's state in the loss scale's: the rate is found where it is nested.
    model, x, y = _regression()
    model.compile(optimizer="sgd", loss="mse", dtype_policy="mixed_float16")
    history = model.fit(x, y, epochs=3, verbose=0, callbacks=[callbacks.LearningRateScheduler(lambda e, lr: 0.01 / (e + 1))])
    assert history.history["learning_rate"] == [float(np.float32(0.01 / (e + 1))) for e in range(3)]
    assert model.optimizer.learning_rate == float(np.float32(0.01 / 3))
