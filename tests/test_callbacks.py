"""Callbacks: Keras 3 semantics for EarlyStopping, ModelCheckpoint, TerminateOnNaN, CSVLogger; exact resume."""
import csv

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
