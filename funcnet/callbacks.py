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
import warnings
from typing import Any

import jax
import numpy as np


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
