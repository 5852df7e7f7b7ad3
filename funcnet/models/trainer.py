"""The Keras-style front: `compile`, `fit`, `evaluate`, `predict`, weights and checkpoints.

It is a thin driver over `funcnet.training`: each epoch is one compiled program (`lax.scan` over
device-resident batches), compiled once per data shape and reused by later epochs and later calls.
Every argument is checked, and the data against the model, before anything is compiled.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
import sys
import time
from typing import Any, Hashable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from funcnet import callbacks as callbacks_module
from funcnet import checkpoints, losses, mixed_precision
from funcnet import distribution as distribution_module
from funcnet import metrics as metrics_module
from funcnet import optimizers
from funcnet._checks import positive_count
from funcnet.models import _programs
from funcnet.training import (
    TrainState,
    make_evaluate,
    make_predict,
    make_streamed_epoch,
    make_streamed_evaluate,
    make_streamed_predict,
    make_train_epoch,
)


@dataclasses.dataclass
class _Compiled:
    """What `compile` fixed: the optimizer, the loss and the metrics, and a hashable key of them."""

    optimizer: Any
    loss: Any
    loss_fn: Any
    metrics: tuple
    key: tuple
    policy: Any = None
    distribution: Any = None
    steps_per_execution: int | None = None


def _setting_key(value) -> Hashable:
    """Names key by value; objects by value where hashable, else by identity."""
    if isinstance(value, str):
        return ("name", value.strip().lower())
    key = _programs.hashable(value)
    return key if key is not None else _programs.identity_key(value)


class _ProgressBar:
    """The host side of `fit(verbose=1)`: the compiled epoch calls `update` ~50 times an epoch.

    On a terminal a live bar redraws in place; elsewhere (a log file, CI) one line per epoch is printed
    at its end, as Keras does for non-interactive output.
    """

    def __init__(self):
        self.bar = None

    def start(self, steps: int, epoch: int, epochs: int) -> None:
        print(f"Epoch {epoch + 1}/{epochs}", flush=True)
        self.steps, self.started = steps, time.perf_counter()
        if not sys.stdout.isatty():
            return
        from tqdm import tqdm  # imported only when a bar is shown

        self.bar = tqdm(total=steps, file=sys.stdout, unit="step", leave=True, dynamic_ncols=True, mininterval=0.2,
                        bar_format="{n_fmt}/{total_fmt} {bar} {elapsed} {rate_fmt}{postfix}")

    def update(self, done, loss) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"loss: {float(loss):.4f}", refresh=False)
            self.bar.update(int(done) - self.bar.n)  # redraws at most every `mininterval` seconds

    def close(self, logs: dict) -> None:
        if self.bar is None:
            seconds = time.perf_counter() - self.started
            print(f"{self.steps}/{self.steps} - {seconds:.1f}s - {_format_logs(logs)}", flush=True)
            return
        self.bar.set_postfix_str(_format_logs(logs), refresh=True)
        self.bar.close()
        self.bar = None


def _format_logs(logs: dict) -> str:
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())


class Trainer:
    """Mixed into `Model`: the training loop of `keras.Model`, on funcnet's functional core."""

    _compiled: _Compiled | None = None
    _opt_state = None
    _step = 0
    stop_training = False

    # ------------------------------------------------------------------ compile
    def compile(self, optimizer="rmsprop", loss=None, metrics: Sequence | None = None, *, dtype_policy=None,
                distribution=None, steps_per_execution: int | None = None) -> None:
        """Sets the optimizer, loss and metrics for `fit` and `evaluate`, and how they run.

        Args:
          optimizer: a name (`"rmsprop"`, `"adam"`, `"sgd"`, `"adagrad"`, `"optax:adam"`, ...) or any
            `optax.GradientTransformation`.
          loss: a name (`"categorical_crossentropy"`, `"mse"`, ...), a per-sample function
            `(y_true, y_pred) -> [batch]`, or a `losses.Loss` object.
          metrics: names (`"accuracy"` resolves from the loss, as in Keras) or metric objects.
          dtype_policy: mixed precision for `fit`, `evaluate` and `predict`: `"mixed_bfloat16"`,
            `"mixed_float16"` (with dynamic loss scaling), a `mixed_precision.Policy`, or None (float32).
            Params and optimizer state stay float32.
          distribution: a `distribution.DataParallel` to split every batch across its devices (and
            hosts), or None for one device.
          steps_per_execution: None (the default) puts the data on the device and runs each epoch
            (and each evaluate and predict) as one compiled program. An int k keeps them on the host
            and runs k steps per compiled call on batches copied over as they are needed: for data
            sets larger than the device's memory, or to save the device copy. The same batches and
            order, so the same training up to float rounding.

        Resets the optimizer state (the next `fit` starts it afresh); the params are kept.
        """
        if loss is None:
            raise ValueError(f"{self.describe()}.compile needs loss=..., e.g. loss='categorical_crossentropy'.")
        tx = optimizers.get(optimizer)
        policy = mixed_precision.get(dtype_policy)
        if policy.loss_scale:
            tx = mixed_precision.loss_scaling(tx)
        if steps_per_execution is not None:
            steps_per_execution = positive_count(steps_per_execution, "compile(steps_per_execution=...)")
        if distribution is not None and not isinstance(distribution, distribution_module.DataParallel):
            raise TypeError(
                f"compile(distribution=...) takes a funcnet.distribution.DataParallel or None; got {distribution!r}."
            )
        loss_fn = loss.call if isinstance(loss, losses.Loss) else losses.get(loss)
        if metrics is None:
            metrics = []
        if isinstance(metrics, (str, metrics_module.Metric)) or not isinstance(metrics, (list, tuple)):
            raise TypeError(f"compile(metrics=...) takes a list, e.g. metrics=['accuracy']; got {metrics!r}.")
        resolved = tuple(metrics_module.get(m, loss=loss) for m in metrics)
        names = [m.name for m in resolved]
        duplicates = sorted({n for n in names if names.count(n) > 1} | ({"loss"} & set(names)))
        if duplicates:
            raise ValueError(f"compile(metrics=...) gives several metrics the name(s) {duplicates}; names key the logs.")
        # An optax transformation is a pair of closures: keyed by their code and captured values.
        tx_key = _setting_key(optimizer) if isinstance(optimizer, str) else (
            _programs.value_key(optimizer) or _programs.identity_key(optimizer)
        )
        key = (tx_key, _setting_key(loss), tuple(_setting_key(m) for m in resolved), policy,
               distribution.key() if distribution is not None else None, steps_per_execution)
        self._compiled = _Compiled(tx, loss, loss_fn, resolved, key, policy, distribution, steps_per_execution)
        self._opt_state = None
        self._step = 0

    def _require_compiled(self, where: str) -> _Compiled:
        if self._compiled is None:
            raise RuntimeError(
                f"{self.describe()}.{where} needs a compiled model: call model.compile(optimizer=..., loss=...) first."
            )
        return self._compiled

    # ------------------------------------------------------------------ data checks
    def _as_inputs(self, x, what: str):
        """`x` as a numpy/jax array (one input) or list of arrays, checked for type, length and NaN."""
        names = self._input_signature()[0]
        if isinstance(x, dict):
            x = [x[name] if name in x else None for name in names]
        several = isinstance(x, (list, tuple))
        arrays = list(x) if several else [x]
        if len(arrays) != len(names):
            raise ValueError(f"{what}: the model takes {len(names)} input(s) {list(names)}; got {len(arrays)}.")
        out = []
        for value, name in zip(arrays, names):
            array = _as_data_array(value, f"{what} input '{name}'")
            out.append(array)
        lengths = {len(a) for a in out}
        if len(lengths) > 1:
            raise ValueError(f"{what}: the inputs have different numbers of samples {[len(a) for a in out]}.")
        return out if several else out[0]

    def _output_struct(self, x, what: str):
        """The model's output shape for `x`, by tracing (no compile); raises on inputs that do not fit."""
        sample = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), x)  # abstract: no compute
        params = self.params if self.params is not None else self._expected_params(
            self._graph_for([tuple(a.shape[1:]) for a in (x if isinstance(x, list) else [x])])
        )
        try:
            out = jax.eval_shape(lambda p, s: self.apply(p, s), params, sample)
        except ValueError as err:
            raise ValueError(f"{what}: {err}") from None
        if isinstance(out, list):
            raise ValueError(
                f"{what}: fit/evaluate train single-output models; this one has {len(out)} outputs. Write the loop "
                "with funcnet.training for several outputs."
            )
        return out

    def _as_labels(self, y, n: int, out, what: str) -> np.ndarray:
        compiled = self._compiled
        labels = _as_data_array(y, f"{what} labels (y)")
        if len(labels) != n:
            raise ValueError(f"{what}: x has {n} samples but y has {len(labels)}; they must match.")
        if labels.ndim == 1 and len(out.shape) == 2 and out.shape[1] == 1:
            labels = labels.reshape(-1, 1)  # (N,) labels for an (N, 1) output, as Keras expands them
        y_struct = jax.ShapeDtypeStruct((out.shape[0], *labels.shape[1:]), labels.dtype)
        try:
            jax.eval_shape(compiled.loss_fn, y_struct, out)
        except ValueError as err:
            raise ValueError(f"{what}: labels of shape {labels.shape} do not fit the loss: {err}") from None
        if losses.is_sparse(compiled.loss):
            classes = out.shape[-1]
            low, high = (np.min(labels), np.max(labels)) if labels.size else (0, 0)
            if low < 0 or high >= classes or not np.all(np.mod(labels, 1) == 0):
                raise ValueError(
                    f"{what}: sparse_categorical_crossentropy needs integer class ids in [0, {classes}); "
                    f"the labels range over [{low}, {high}]."
                )
        return labels

    def _prepare(self, x, y, what: str):
        inputs = self._as_inputs(x, what)
        n = len(inputs[0] if isinstance(inputs, list) else inputs)
        out = self._output_struct(inputs, what)
        labels = self._as_labels(y, n, out, what)
        return inputs, labels

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        x=None,
        y=None,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose="auto",
        callbacks: Sequence | None = None,
        validation_split: float = 0.0,
        validation_data=None,
        shuffle: bool = True,
        initial_epoch: int = 0,
        seed: int | None = None,
    ) -> callbacks_module.History:
        """Trains the model on `(x, y)` for `epochs - initial_epoch` epochs; returns a `History`.

        Args:
          x: inputs `[n, ...]` (a list or dict of arrays for several inputs); y: labels `[n, ...]`.
          batch_size: samples per step (default 32); 1 gives true SGD, `len(x)` batch gradient descent.
            A last, short batch is trained on.
          epochs: the epoch to stop before (as Keras: with `initial_epoch=k`, epochs k..epochs-1 run).
          verbose: 0 silent, 1 a live progress bar, 2 one line per epoch ("auto" is 1).
          callbacks: `funcnet.callbacks` objects.
          validation_split: the fraction of samples, taken from the end before shuffling, to validate on.
          validation_data: `(x_val, y_val)`; evaluated after each epoch (`val_loss`, `val_<metric>`).
          shuffle: a new order each epoch, drawn from `(seed, epoch)`.
          initial_epoch: the epoch to start from, e.g. after `load_checkpoint`.
          seed: the seed of params (if `model.params` is None), shuffling and dropout; None means 0.
            Same seed and data: the same history and params, bit for bit.
        """
        compiled = self._require_compiled("fit")
        batch_size = 32 if batch_size is None else positive_count(batch_size, "fit(batch_size=...)")
        if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) or epochs < 0:
            raise ValueError(f"fit(epochs=...) must be an int >= 0; got {epochs!r}.")
        if isinstance(initial_epoch, bool) or not isinstance(initial_epoch, numbers.Integral) or initial_epoch < 0:
            raise ValueError(f"fit(initial_epoch=...) must be an int >= 0; got {initial_epoch!r}.")
        verbose = _check_verbose(verbose, "fit")
        if jax.process_index() != 0:
            verbose = 0  # one process of a multi-host run reports
        seed = 0 if seed is None else seed
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise TypeError(f"fit(seed=...) must be an int or None; got {seed!r}.")
        if not isinstance(validation_split, numbers.Real) or not 0.0 <= validation_split < 1.0:
            raise ValueError(f"fit(validation_split=...) must be in [0, 1); got {validation_split!r}.")
        if validation_split and validation_data is not None:
            raise ValueError("fit: give validation_data or validation_split, not both.")
        callback_list = list(callbacks or [])

        if x is None or y is None:
            raise ValueError("fit needs x and y.")
        if self.params is None:
            self.params = self._fresh_params(x, seed)
        inputs, labels = self._prepare(x, y, "fit")
        if validation_split:
            n = len(labels)
            cut = int(math.floor(n * (1.0 - validation_split)))
            if cut == 0 or cut == n:
                raise ValueError(f"fit(validation_split={validation_split}) leaves {cut} of {n} samples for training.")
            split = lambda a: (a[:cut], a[cut:])  # noqa: E731
            (inputs, val_inputs) = _map_pair(split, inputs)
            labels, val_labels = labels[:cut], labels[cut:]
            validation = (val_inputs, val_labels)
        elif validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("fit(validation_data=...) must be a pair (x_val, y_val).")
            validation = self._prepare(*validation_data, "fit(validation_data=...)")
        else:
            validation = None

        stop_on_nan = any(isinstance(cb, callbacks_module.TerminateOnNaN) for cb in callback_list)
        def build_epoch():
            # The progress sink lives with the program: a cached program calls back into it on every fit.
            sink = _ProgressBar() if verbose == 1 else None
            settings = dict(batch_size=batch_size, shuffle=bool(shuffle), progress=sink.update if sink else None,
                            stop_on_nan=stop_on_nan, policy=compiled.policy, distribution=compiled.distribution)
            if compiled.steps_per_execution is None:
                program = make_train_epoch(self.frozen().apply, compiled.loss_fn, compiled.optimizer,
                                           compiled.metrics, **settings)
            else:
                program = make_streamed_epoch(self.frozen().apply, compiled.loss_fn, compiled.optimizer,
                                              compiled.metrics, steps_per_execution=compiled.steps_per_execution,
                                              **settings)
            return program, sink

        epoch_fn, progress = self._program(("epoch", batch_size, bool(shuffle), verbose == 1, stop_on_nan), build_epoch)
        put_data = _data_placer(compiled.distribution, compiled.steps_per_execution)
        x_dev, y_dev = put_data(inputs), put_data(labels)
        val_dev = put_data(validation) if validation is not None else None

        if self._opt_state is None:
            self._opt_state = compiled.optimizer.init(self.params)
        state = TrainState(self.params, self._opt_state, jnp.asarray(self._step, jnp.int32), jax.random.key(seed))
        if compiled.distribution is not None:
            state = compiled.distribution.put_state(state)
        history = callbacks_module.History()
        steps = math.ceil(len(y_dev) / batch_size)  # y_dev: every process's labels, in a multi-host run
        cb = callbacks_module.CallbackList(
            [history, *callback_list], self, {"epochs": epochs, "steps": steps, "verbose": verbose}
        )
        self.stop_training = False
        cb.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            cb.on_epoch_begin(epoch)
            start = time.perf_counter()
            if progress is not None:
                progress.start(steps, epoch, epochs)
            state, logs = epoch_fn(state, x_dev, y_dev, epoch)
            halted = bool(logs.pop("halted"))
            logs = callbacks_module.to_floats(logs, self._log_order())
            self._set_state(state)
            if val_dev is not None:
                val_logs = self._evaluate_arrays(*val_dev, batch_size)
                logs.update({f"val_{k}": v for k, v in val_logs.items()})
            if progress is not None:
                progress.close(logs)
            elif verbose == 2:
                print(f"Epoch {epoch + 1}/{epochs} - {time.perf_counter() - start:.2f}s - {_format_logs(logs)}", flush=True)
            cb.on_epoch_end(epoch, logs)
            if halted:
                self.stop_training = True
            if self.stop_training:
                break
        cb.on_train_end()
        return history

    def _set_state(self, state: TrainState) -> None:
        self._params = state.params
        self._opt_state = state.opt_state
        self._step = state.step

    def _fresh_params(self, x, seed: int):
        sample_shapes = None
        if self._input_signature()[2] is None:  # a Sequential without a declared input shape
            arrays = x if isinstance(x, (list, tuple)) else [x]
            sample_shapes = [tuple(np.shape(a)[1:]) for a in arrays]
            sample_shapes = sample_shapes[0] if len(sample_shapes) == 1 else sample_shapes
        return self.init(jax.random.key(seed), sample_shapes)

    def _program(self, key, build, with_compile_settings: bool = True):
        """The program for `key`, built once and shared by every model of this structure (and compile
        settings), so later epochs, later fits and same-shaped models compile nothing."""
        structure = self.structure_key()
        model_key = structure if structure is not None else _programs.identity_key(self)
        settings = self._compiled.key if with_compile_settings else ()
        return _programs.get_or_build((model_key, settings, key), build)

    # ------------------------------------------------------------------ evaluate / predict
    def _evaluate_arrays(self, x, y, batch_size: int) -> dict[str, float]:
        compiled = self._compiled
        settings = dict(batch_size=batch_size, policy=compiled.policy, distribution=compiled.distribution)
        if compiled.steps_per_execution is None:
            build = lambda: make_evaluate(self.frozen().apply, compiled.loss_fn, compiled.metrics, **settings)  # noqa: E731
        else:
            build = lambda: make_streamed_evaluate(  # noqa: E731
                self.frozen().apply, compiled.loss_fn, compiled.metrics,
                steps_per_execution=compiled.steps_per_execution, **settings)
        evaluate = self._program(("evaluate", batch_size), build)
        return callbacks_module.to_floats(evaluate(self._placed_params(), x, y), self._log_order())

    def _placed_params(self):
        """The params, laid out for the compiled distribution (a no-op when they already are)."""
        dist = self._compiled.distribution if self._compiled is not None else None
        return self.params if dist is None else dist.put_state(self.params)

    def _log_order(self) -> list[str]:
        return ["loss", *(m.name for m in self._compiled.metrics)]

    def evaluate(self, x=None, y=None, batch_size: int | None = None, verbose="auto", return_dict: bool = False):
        """The loss and metrics on `(x, y)`: `loss` alone, `[loss, metric, ...]`, or a dict with `return_dict`."""
        self._require_compiled("evaluate")
        self._require_params("evaluate")
        batch_size = 32 if batch_size is None else positive_count(batch_size, "evaluate(batch_size=...)")
        verbose = _check_verbose(verbose, "evaluate")
        if x is None or y is None:
            raise ValueError("evaluate needs x and y.")
        inputs, labels = self._prepare(x, y, "evaluate")
        put_data = _data_placer(self._compiled.distribution, self._compiled.steps_per_execution)
        logs = self._evaluate_arrays(put_data(inputs), put_data(labels), batch_size)
        if verbose:
            print(_format_logs(logs), flush=True)
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size: int | None = None, verbose="auto") -> np.ndarray:
        """The model's outputs for `x`, as a numpy array (`model.apply(model.params, x)`, in batches)."""
        self._require_params("predict")
        batch_size = 32 if batch_size is None else positive_count(batch_size, "predict(batch_size=...)")
        _check_verbose(verbose, "predict")
        inputs = self._as_inputs(x, "predict")
        self._output_struct(inputs, "predict")
        compiled = self._compiled
        policy = compiled.policy if compiled is not None else None
        dist = compiled.distribution if compiled is not None else None
        chunk = compiled.steps_per_execution if compiled is not None else None
        settings = dict(batch_size=batch_size, policy=policy, distribution=dist)
        if chunk is None:
            build = lambda: make_predict(self.frozen().apply, **settings)  # noqa: E731
        else:
            build = lambda: make_streamed_predict(self.frozen().apply, steps_per_execution=chunk, **settings)  # noqa: E731
        predict = self._program(("predict", batch_size, policy, dist.key() if dist is not None else None, chunk),
                                build, with_compile_settings=False)
        outputs = predict(self._placed_params(), _data_placer(dist, chunk)(inputs))
        return jax.tree.map(distribution_module.host_array, outputs)

    def _require_params(self, where: str) -> None:
        if self.params is None:
            raise RuntimeError(
                f"{self.describe()}.{where} needs params: train with fit, set model.params, or load_weights."
            )

    # ------------------------------------------------------------------ weights and checkpoints
    def save_weights(self, path) -> None:
        """Writes the params to `path` (an `.npz` file, written atomically; the name is used verbatim)."""
        self._require_params("save_weights")
        checkpoints.save(path, {"params": self.params})

    def load_weights(self, path) -> None:
        """Sets the params from a file of `save_weights` or a full checkpoint (params only)."""
        ckpt = checkpoints.load(path)
        template = self.params if self.params is not None else self._expected_params(self._graph_for(None))
        self.params = ckpt.restore("params", template)

    def save_checkpoint(self, path, epoch: int) -> None:
        """Writes the whole train state: params, optimizer state, step count and `epoch` (epochs completed)."""
        compiled = self._require_compiled("save_checkpoint")
        self._require_params("save_checkpoint")
        opt_state = self._opt_state if self._opt_state is not None else compiled.optimizer.init(self.params)
        checkpoints.save(
            path,
            {"params": self.params, "opt_state": opt_state, "step": jnp.asarray(self._step, jnp.int32)},
            metadata={"epoch": int(epoch)},
        )

    def load_checkpoint(self, path) -> int:
        """Restores params and optimizer state from a `ModelCheckpoint` file; returns the epochs completed.

        The model must be compiled as it was when the checkpoint was written. `fit(..., initial_epoch=k,
        seed=s)` afterwards continues exactly as the uninterrupted run would have.
        """
        compiled = self._require_compiled("load_checkpoint")
        ckpt = checkpoints.load(path)
        if not ckpt.has("opt_state"):
            raise ValueError(f"{path!r} holds weights only (save_weights_only=True); use model.load_weights.")
        template = self.params if self.params is not None else self._expected_params(self._graph_for(None))
        params = ckpt.restore("params", template)
        params_template = jax.tree.map(lambda t: jnp.zeros(t.shape, t.dtype), params)
        self._opt_state = ckpt.restore("opt_state", compiled.optimizer.init(params_template))
        self._step = ckpt.restore("step", jnp.zeros([], jnp.int32))
        self.params = params
        return int(ckpt.metadata["epoch"])


def _check_verbose(verbose, where: str) -> int:
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2) or isinstance(verbose, bool):
        raise ValueError(f"{where}(verbose=...) must be 0, 1, 2 or 'auto'; got {verbose!r}.")
    return int(verbose)


def _data_placer(distribution, steps_per_execution=None):
    """Puts data on the device: whole on every device of a distribution, or on the default device; with
    `steps_per_execution` they stay on the host (numpy), streamed a chunk at a time."""
    if steps_per_execution is not None:
        return lambda tree: jax.tree.map(np.asarray, tree)
    return jax.device_put if distribution is None else distribution.put_data


def _map_pair(fn, inputs):
    if isinstance(inputs, list):
        pairs = [fn(a) for a in inputs]
        return [p[0] for p in pairs], [p[1] for p in pairs]
    return fn(inputs)


def _as_data_array(value, what: str):
    """A numpy or jax array of a real numeric dtype with a batch axis and no NaN or inf."""
    if value is None:
        raise TypeError(f"{what} is None; expected an array.")
    if not isinstance(value, (np.ndarray, jax.Array)):
        try:
            value = np.asarray(value)
        except Exception:
            raise TypeError(f"{what} must be an array; got {type(value).__name__}.") from None
    if not (np.issubdtype(value.dtype, np.number) or value.dtype == np.bool_) or np.issubdtype(value.dtype, np.complexfloating):
        raise TypeError(f"{what} must hold real numbers; got dtype {value.dtype}.")
    if value.ndim == 0:
        raise ValueError(f"{what} must have a batch axis; got a scalar.")
    if np.issubdtype(value.dtype, np.floating) and not bool(np.isfinite(value).all()):
        bad = int(np.size(value) - np.count_nonzero(np.isfinite(np.asarray(value))))
        raise ValueError(f"{what} holds {bad} NaN or infinite value(s); clean the data before training.")
    return value
