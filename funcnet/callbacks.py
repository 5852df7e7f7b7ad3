"""Callbacks for `model.fit`: epoch-level hooks with Keras 3's semantics.

A callback sees the model (`self.model`) and the logs of each epoch (`{"loss": ..., "accuracy": ...,
"val_loss": ..., ...}` as Python floats). Set `self.model.stop_training = True` to end training after
the current epoch. funcnet runs each epoch as one compiled program, so there are no per-batch hooks:
work that must happen per batch belongs in the train step (see `funcnet.training`).

    class PrintLoss(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            print(epoch, logs["loss"])
"""
from __future__ import annotations

import csv
import math
import os
import shutil
import time
import warnings
from typing import Any

import jax
import numpy as np

from funcnet._checks import flag


class Callback:
    """Base class: override any of the hooks; each gets the epoch's logs as a dict of floats."""

    def __init__(self):
        # The model `fit` trains (None until `set_model`); Any, since callbacks also serve fit_many's members.
        self.model: Any = None
        self.params: dict[str, Any] = {}

    def set_model(self, model) -> None:
        self.model = model

    def set_params(self, params: dict) -> None:
        self.params = params

    def on_train_begin(self, logs=None) -> None:
        pass

    def on_train_end(self, logs=None) -> None:
        pass

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        pass


class History(Callback):
    """Records each epoch's logs: `history.history["loss"]` is the per-epoch list; `history.epoch` the epochs."""

    def __init__(self):
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)

    def add_late(self, logs) -> None:
        """Records what the other callbacks added to this epoch's logs after it was recorded (the
        learning-rate callbacks' `learning_rate`): Keras's History runs after every other callback."""
        for key, value in (logs or {}).items():
            values = self.history.setdefault(key, [])
            if len(values) < len(self.epoch):
                values.append(value)


_MAX_NAMES = ("acc", "accuracy", "precision", "recall", "auc", "iou", "mean_io_u", "top_k")


def _monitor_op(monitor: str, mode: str, owner: str):
    """`np.less` for quantities to minimise, `np.greater` to maximise, as Keras infers them."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{owner}(mode=...) must be 'auto', 'min' or 'max'; got {mode!r}.")
    if mode == "auto":
        name = monitor.removeprefix("val_")
        mode = "max" if any(token in name for token in _MAX_NAMES) else "min"
    return np.less if mode == "min" else np.greater


class EarlyStopping(Callback):
    """Stops training when `monitor` has stopped improving (Keras 3 semantics).

    An epoch improves when `current - min_delta` beats the best so far (for a quantity to minimise;
    `current + min_delta` for one to maximise). After each epoch without improvement `wait` grows;
    training stops once `wait >= patience`. With `restore_best_weights`, the best epoch's params and
    state (BatchNormalization's moving statistics) are put back at the end of training, whether or not
    it stopped early.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ):
        super().__init__()
        if not isinstance(patience, int) or patience < 0:
            raise ValueError(f"EarlyStopping(patience=...) must be an int >= 0; got {patience!r}.")
        self.monitor = monitor
        self.min_delta = abs(float(min_delta))
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.monitor_op = _monitor_op(monitor, mode, "EarlyStopping")

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = math.inf if self.monitor_op is np.less else -math.inf
        self.best_weights = None  # the best epoch's params ...
        self.best_state = None  # ... and model state
        self.best_epoch = 0

    def _improves(self, value: float, reference: float) -> bool:
        delta = -self.min_delta if self.monitor_op is np.less else self.min_delta
        return bool(self.monitor_op(value - delta, reference))

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(
                f"EarlyStopping monitors {self.monitor!r}, which is not in the logs {sorted(logs or {})}.",
                stacklevel=2,
            )
            return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_state = self.model.params, self.model.state
        self.wait += 1
        if self._improves(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights, self.best_state = self.model.params, self.model.state
            if self.baseline is None or self._improves(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.params, self.model.state = self.best_weights, self.best_state


class ModelCheckpoint(Callback):
    """Saves after each epoch to `filepath.format(epoch=epoch + 1, **logs)`, used verbatim.

    By default the file holds the whole train state (params, optimizer state, epochs completed), which
    `model.load_checkpoint` restores for an exact resume; with `save_weights_only=True`, params only
    (`model.load_weights`). With `save_best_only=True` it writes only when `monitor` improves.
    Each write is atomic: a crash mid-save leaves the previous file readable.
    """

    def __init__(
        self,
        filepath: str | os.PathLike,
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        save_weights_only: bool = False,
        mode: str = "auto",
    ):
        super().__init__()
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.monitor_op = _monitor_op(monitor, mode, "ModelCheckpoint")
        self.best = math.inf if self.monitor_op is np.less else -math.inf

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        path = self.filepath.format(epoch=epoch + 1, **logs)
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                warnings.warn(
                    f"ModelCheckpoint(save_best_only=True) monitors {self.monitor!r}, which is not in the logs "
                    f"{sorted(logs)}; skipping.",
                    stacklevel=2,
                )
                return
            if not self.monitor_op(current, self.best):
                return
            if self.verbose > 0:
                print(f"Epoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to {current:.5f}, saving to "
                      f"{path}")
            self.best = current
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save_checkpoint(path, epoch=epoch + 1)


class TerminateOnNaN(Callback):
    """Stops training after the first batch whose loss is NaN or inf; that epoch stays in the history.

    `fit` sees this callback and compiles the epoch so that the steps after the bad batch are skipped.
    """

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"Batch with invalid loss in epoch {epoch + 1}, terminating training.")
            self.model.stop_training = True


class CSVLogger(Callback):
    """Appends one row of logs per epoch to a CSV file (`epoch` first, then the log keys sorted); under
    `models.fit_many`, one row per member and epoch, `member` second."""

    def __init__(self, filename: str | os.PathLike, separator: str = ",", append: bool = False):
        super().__init__()
        self.filename = os.fspath(filename)
        self.separator = separator
        self.append = append
        self._keys: list[str] | None = None

    def on_train_begin(self, logs=None):
        self._exists = self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        self._file = open(self.filename, "a" if self.append else "w", newline="")
        self._keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._keys is None:
            # `models.fit_many` writes a row per member: its `member` column comes second.
            leading = ["member"] if "member" in logs else []
            self._keys = leading + sorted(k for k in logs if k not in leading)
            self._writer = csv.DictWriter(self._file, fieldnames=["epoch", *self._keys], delimiter=self.separator)
            if not self._exists:
                self._writer.writeheader()
        self._writer.writerow({"epoch": epoch, **{k: logs.get(k, "NA") for k in self._keys}})
        self._file.flush()

    def on_train_end(self, logs=None):
        self._file.close()


class LearningRateScheduler(Callback):
    """Sets the optimizer's learning rate at the start of each epoch to `schedule(epoch, lr)` (Keras 3
    semantics; `schedule(epoch)` also works), and records it in the logs as `learning_rate`.

    The rate is data of the compiled epoch: a new rate each epoch compiles nothing. It needs a named
    optimizer with a constant rate (`compile(optimizer="rmsprop")`, `optimizers.adam(1e-3)`).

        def schedule(epoch, lr):
            return lr if epoch < 10 else lr * 0.9
        model.fit(x, y, epochs=20, callbacks=[callbacks.LearningRateScheduler(schedule)])
    """

    def __init__(self, schedule, verbose: int = 0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler(schedule=...) takes a function (epoch, lr) -> lr; got "
                            f"{schedule!r}.")
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        current = float(optimizer.learning_rate)  # outside the try: an optimizer without a rate says so
        try:
            learning_rate = self.schedule(epoch, current)
        except TypeError:  # Keras's older form, schedule(epoch)
            learning_rate = self.schedule(epoch)
        if not isinstance(learning_rate, (float, np.float32, np.float64)):
            raise ValueError(f"The output of the `schedule` function should be a float. Got: {learning_rate}")
        optimizer.learning_rate = learning_rate
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {learning_rate}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class ReduceLROnPlateau(Callback):
    """Multiplies the learning rate by `factor` when `monitor` has not improved for `patience` epochs
    (Keras 3 semantics: an improvement beats the best by more than `min_delta`; after a reduction,
    `cooldown` epochs pass before counting again; never below `min_lr`). Records `learning_rate` in the
    logs. The new rate is data of the compiled epoch: nothing compiles again.
    """

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10, verbose: int = 0,
                 mode: str = "auto", min_delta: float = 1e-4, cooldown: int = 0, min_lr: float = 0.0):
        super().__init__()
        if not isinstance(factor, (int, float)) or isinstance(factor, bool) or factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}")
        self.monitor, self.factor, self.patience, self.verbose = monitor, float(factor), patience, verbose
        self.min_delta, self.cooldown, self.min_lr = abs(min_delta), cooldown, min_lr
        self.monitor_op = _monitor_op(monitor, mode, "ReduceLROnPlateau")
        self._reset()

    def _reset(self) -> None:
        self.best: float | None = None
        self.cooldown_counter = 0
        self.wait = 0

    def on_train_begin(self, logs=None):
        self._reset()

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def _is_improvement(self, current: float) -> bool:
        if self.best is None:
            return True
        delta = -self.min_delta if self.monitor_op is np.less else self.min_delta
        return bool(self.monitor_op(current - delta, self.best))

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        optimizer = self.model.optimizer
        logs["learning_rate"] = float(optimizer.learning_rate)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Learning rate reduction is conditioned on metric `{self.monitor}` which is not available. "
                          f"Available metrics are: {','.join(list(logs))}.", stacklevel=2)
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = float(optimizer.learning_rate)
                if old_lr > np.float32(self.min_lr):
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    optimizer.learning_rate = new_lr
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


class LambdaCallback(Callback):
    """A callback from plain functions, as Keras's: `on_epoch_begin(epoch, logs)`, `on_epoch_end(epoch, logs)`,
    `on_train_begin(logs)`, `on_train_end(logs)` (each optional).

        print_loss = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: print(epoch, logs["loss"]))
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None, **kwargs):
        super().__init__()
        batch_hooks = sorted(k for k in kwargs if k.startswith(("on_train_batch", "on_batch", "on_test", "on_predict")))
        if batch_hooks:
            raise ValueError(f"LambdaCallback: {batch_hooks} are per-batch hooks, which funcnet has not: an epoch "
                             "is one compiled program. Use the epoch hooks, or write the step with funcnet.training.")
        if kwargs:
            raise TypeError(f"LambdaCallback got unexpected arguments {sorted(kwargs)}.")
        for name, fn in (("on_epoch_begin", on_epoch_begin), ("on_epoch_end", on_epoch_end),
                         ("on_train_begin", on_train_begin), ("on_train_end", on_train_end)):
            if fn is not None and not callable(fn):
                raise TypeError(f"LambdaCallback({name}=...) takes a function; got {fn!r}.")
        self._epoch_begin, self._epoch_end = on_epoch_begin, on_epoch_end
        self._train_begin, self._train_end = on_train_begin, on_train_end

    # Keras passes the logs dict to every hook (empty where there are none yet).
    def on_epoch_begin(self, epoch, logs=None):
        if self._epoch_begin is not None:
            self._epoch_begin(epoch, logs if logs is not None else {})

    def on_epoch_end(self, epoch, logs=None):
        if self._epoch_end is not None:
            self._epoch_end(epoch, logs if logs is not None else {})

    def on_train_begin(self, logs=None):
        if self._train_begin is not None:
            self._train_begin(logs if logs is not None else {})

    def on_train_end(self, logs=None):
        if self._train_end is not None:
            self._train_end(logs if logs is not None else {})


class BackupAndRestore(Callback):
    """Backs up the whole training state after every epoch, so that a `fit` that crashed (a killed process,
    a lost machine) and is started again with the same call resumes from the last epoch backed up, and
    ends with exactly the params an uninterrupted run ends with (Keras 3 semantics).

    The backup is one checkpoint, `backup_dir/latest.ckpt` (params, state, optimizer state, step and the
    next epoch; written atomically, so a kill during a write leaves the previous one), read at the start
    of `fit` when it exists and deleted when `fit` finishes (`delete_checkpoint=True`, as Keras). `fit`'s
    data, seed and settings must be those of the first call: the epoch's order and keys come from
    `(seed, epoch)`, so the resumed epochs are the ones the first run would have run.

        model.fit(x, y, epochs=100, seed=0, callbacks=[callbacks.BackupAndRestore("/tmp/backup")])
    """

    FILE = "latest.ckpt"

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint: bool = True):
        super().__init__()
        if not isinstance(backup_dir, (str, os.PathLike)) or not str(backup_dir):
            raise ValueError(f"BackupAndRestore(backup_dir=...) takes a folder path; got {backup_dir!r}.")
        if save_freq != "epoch":
            raise ValueError(f"BackupAndRestore(save_freq={save_freq!r}): funcnet backs up after each epoch only "
                             "(save_freq='epoch'): an epoch is one compiled program, with no batch hooks.")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.delete_checkpoint = flag(delete_checkpoint, "BackupAndRestore(delete_checkpoint=...)")

    @property
    def path(self) -> str:
        return os.path.join(self.backup_dir, self.FILE)

    def on_train_begin(self, logs=None):
        if os.path.exists(self.path):
            epoch = self.model.load_checkpoint(self.path)  # the next epoch to run
            self.model._session.resume_epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        os.makedirs(self.backup_dir, exist_ok=True)
        self.model.save_checkpoint(self.path, epoch=epoch + 1)

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and os.path.isdir(self.backup_dir):
            shutil.rmtree(self.backup_dir, ignore_errors=True)


class TensorBoard(Callback):
    """Writes each epoch's losses, metrics and learning rate as TensorBoard event files, as Keras 3's
    callback does: `log_dir/train` holds `epoch_loss`, `epoch_<metric>` and `epoch_learning_rate`,
    `log_dir/validation` the `val_` ones under the same tags, the step being the epoch. Then
    `tensorboard --logdir log_dir` shows the curves.

    The files are written by tensorboardX (`pip install "funcnet[tensorboard]"`): a small, maintained
    writer of TensorBoard's own event format that needs neither TensorFlow nor TensorBoard itself.
    Writing happens on tensorboardX's thread after the epoch has run; each epoch is flushed, so a
    running TensorBoard shows it at once.

    Args:
      log_dir: the folder of the runs' event files.
      histogram_freq: every this many epochs (0: never), a histogram of each weight (`dense/kernel`).
      write_steps_per_second: also `epoch_steps_per_second`.
      update_freq: `"epoch"` only: an epoch is one compiled program, with no batch hooks.
      write_graph: accepted for Keras's signature; no graph is written (a jitted program has no
        TensorFlow graph; `jax.jit(...).lower(...).as_text()` shows what runs).

        model.fit(x, y, epochs=10, validation_split=0.2, callbacks=[callbacks.TensorBoard("logs")])
    """

    def __init__(self, log_dir="logs", histogram_freq: int = 0, write_graph: bool = True, write_images: bool = False,
                 write_steps_per_second: bool = False, update_freq="epoch", profile_batch=0, embeddings_freq: int = 0,
                 embeddings_metadata=None):
        super().__init__()
        if not isinstance(log_dir, (str, os.PathLike)) or not str(log_dir):
            raise ValueError(f"TensorBoard(log_dir=...) takes a folder path; got {log_dir!r}.")
        if isinstance(histogram_freq, bool) or not isinstance(histogram_freq, int) or histogram_freq < 0:
            raise ValueError(f"TensorBoard(histogram_freq=...) must be an int >= 0; got {histogram_freq!r}.")
        if update_freq != "epoch":
            raise ValueError(f"TensorBoard(update_freq={update_freq!r}): funcnet writes once per epoch "
                             "(update_freq='epoch'): an epoch is one compiled program, with no batch hooks.")
        unsupported = {"write_images": (write_images, False), "profile_batch": (profile_batch, 0),
                       "embeddings_freq": (embeddings_freq, 0), "embeddings_metadata": (embeddings_metadata, None)}
        for name, (value, default) in unsupported.items():
            if value != default:
                raise ValueError(f"TensorBoard({name}={value!r}) is not supported; leave it at {default!r} (for a "
                                 "profile, use jax.profiler.trace(log_dir) around fit).")
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = histogram_freq
        self.write_graph = flag(write_graph, "TensorBoard(write_graph=...)")
        self.write_steps_per_second = flag(write_steps_per_second, "TensorBoard(write_steps_per_second=...)")
        self._writers: dict[str, Any] = {}
        self._epoch_start = 0.0

    def _writer(self, which: str):
        if which not in self._writers:
            try:
                from tensorboardX import SummaryWriter
            except ImportError:
                raise ImportError("callbacks.TensorBoard writes event files with tensorboardX: "
                                  "pip install 'funcnet[tensorboard]' (or pip install tensorboardX).") from None
            self._writers[which] = SummaryWriter(logdir=os.path.join(self.log_dir, which))
        return self._writers[which]

    def on_train_begin(self, logs=None):
        self._writer("train")  # fails here, before any epoch runs, if tensorboardX is missing

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        validation = {k[len("val_"):]: v for k, v in logs.items() if k.startswith("val_")}
        if "learning_rate" not in train:
            try:
                train["learning_rate"] = float(self.model.optimizer.learning_rate)
            except (TypeError, AttributeError, RuntimeError):
                pass  # an optax chain or a schedule: no rate to show
        if self.write_steps_per_second and self.params.get("steps"):
            train["steps_per_second"] = self.params["steps"] / max(time.perf_counter() - self._epoch_start, 1e-9)
        for which, values in (("train", train), ("validation", validation)):
            if values:
                writer = self._writer(which)
                for name, value in values.items():
                    writer.add_scalar(f"epoch_{name}", float(value), global_step=epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0 and self.model.params is not None:
            writer = self._writer("train")
            for path, leaf in jax.tree_util.tree_flatten_with_path(self.model.params)[0]:
                tag = "/".join(str(getattr(k, "key", k)) for k in path)
                writer.add_histogram(tag, np.asarray(leaf, np.float32), global_step=epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}


class CallbackList:
    """Calls every callback's hook in order."""

    def __init__(self, callbacks, model, params: dict):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(
                    f"callbacks must be funcnet.callbacks.Callback instances; got {type(cb).__name__} {cb!r}."
                )
            cb.set_model(model)
            cb.set_params(params)

    def __getattr__(self, hook):
        def call(*args, **kwargs):
            for cb in self.callbacks:
                getattr(cb, hook)(*args, **kwargs)

        return call


def to_floats(logs: dict, order=()) -> dict[str, float]:
    """Device scalars to Python floats, in one transfer; keys in `order` first (a jitted function returns
    dicts with sorted keys), then the rest."""
    values = jax.device_get(logs)
    keys = [k for k in order if k in values] + [k for k in values if k not in order]
    return {k: float(values[k]) for k in keys}
