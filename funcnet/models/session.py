"""The Keras-style session of a model: what `compile` fixed, the variables `fit` trains, and the drivers
`fit`, `evaluate`, `predict`, weights and checkpoints.

A `Session` is the mutable half of a Keras model; the model itself stays a pure description. The
session talks to its model only through the model's public surface (`init_with_state`,
`apply_with_state`, `variable_specs`, `input_names`, `declared_input_shapes`, `stateful`,
`structure_key`, `frozen`, `describe`), so either can be read alone. Its passes are `funcnet.training`'s:
each epoch is one
compiled program (or compiled chunks of `steps_per_execution` steps), built once per data shape and
shared by every model of the same structure and compile settings. Every argument is checked, and the
data against the model, before anything is compiled.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
import time
from collections.abc import Hashable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from funcnet import callbacks as callbacks_module
from funcnet import checkpoints, losses, mixed_precision, optimizers
from funcnet import distribution as distribution_module
from funcnet import metrics as metrics_module
from funcnet._checks import check_tree, positive_count
from funcnet._interrupts import deferred_interrupt
from funcnet.layers.embedding import check_ids
from funcnet.models import _programs
from funcnet.models._progress import ProgressBar, format_logs
from funcnet.optimizers import _aliases
from funcnet.optimizers._transforms import with_injected_learning_rate
from funcnet.training import TrainState, make_evaluate, make_predict, make_train_epoch
from funcnet.training.batches import make_source


@dataclasses.dataclass(frozen=True)
class CompileSettings:
    """What `compile` fixed, and `key`: a hashable description of it that compiled programs are shared by."""

    optimizer: Any
    loss: Any
    loss_fn: Any
    metrics: tuple
    policy: mixed_precision.Policy
    distribution: Any
    steps_per_execution: int | None
    key: tuple
    frozen: tuple = ()  # the key paths of the layers not trained (`trainable=False` at compile)

    @property
    def log_order(self) -> list[str]:
        return ["loss", *(m.name for m in self.metrics)]


_UNCOMPILED = dict(policy=mixed_precision.get(None), distribution=None, steps_per_execution=None)


def _setting_key(value) -> Hashable:
    """Names key by value; objects by value where provably equal (`_programs.value_key`), else by identity."""
    if isinstance(value, str):
        return ("name", value.strip().lower())
    key = _programs.value_key(value)
    return key if key is not None else _programs.identity_key(value)


class Session:
    """The training session of `model` (a `funcnet.models.Model`): settings, variables and passes."""

    def __init__(self, model):
        self.model = model
        self.settings: CompileSettings | None = None
        self.compile_spec: dict | None = None
        self.params = None
        self.state = None
        self.opt_state = None
        self.step: int | jax.Array = 0
        self.stop_training = False
        self.history: callbacks_module.History | None = None
        # A rate set (model.optimizer.learning_rate = ...) while fit runs: fit writes it into the optimizer
        # state it carries before the next epoch.
        self.pending_learning_rate: np.float32 | None = None
        self._fitting = False
        self.resume_epoch: int | None = None  # set by BackupAndRestore in on_train_begin

    # ------------------------------------------------------------------ compile
    def compile(self, optimizer="rmsprop", loss=None, metrics: Sequence | None = None, *, dtype_policy=None,
                distribution=None, steps_per_execution: int | None = None) -> None:
        where = f"{self.model.describe()}.compile"
        if loss is None:
            raise ValueError(f"{where} needs loss=..., e.g. loss='categorical_crossentropy'.")
        tx = optimizers.get(optimizer)
        # What a saved model records of this compile (funcnet.saving): the optimizer as the user made it.
        self.compile_spec = {"optimizer": tx, "loss": loss, "metrics": list(metrics or []),
                             "dtype_policy": dtype_policy}
        # A named optimizer's constant rate becomes data of the compiled programs, so that a callback (or
        # `model.optimizer.learning_rate = ...`) changes it between epochs without a new compile.
        recipe = _aliases.recipe(tx)
        if recipe is not None and _is_number(recipe[1].get("learning_rate")):
            tx = optimizers.inject_learning_rate(recipe[0], **recipe[1])
        # Keras freezes at compile: `trainable` set later takes effect at the next compile.
        frozen = self.model.frozen_paths()
        if frozen:
            tx = optimizers.freeze(tx, frozen)
        policy = mixed_precision.get(dtype_policy)
        if policy.loss_scale:
            tx = mixed_precision.loss_scaling(tx)
        if steps_per_execution is not None:
            steps_per_execution = positive_count(steps_per_execution, "compile(steps_per_execution=...)")
        if distribution is not None and not isinstance(distribution, distribution_module.DataParallel):
            raise TypeError(
                f"compile(distribution=...) takes a funcnet.distribution.DataParallel or None; got {distribution!r}."
            )
        resolved_loss = losses.get(loss)
        loss_fn = resolved_loss.call if isinstance(resolved_loss, losses.Loss) else resolved_loss
        if metrics is None:
            metrics = []
        if isinstance(metrics, (str, metrics_module.Metric)) or not isinstance(metrics, (list, tuple)):
            raise TypeError(f"compile(metrics=...) takes a list, e.g. metrics=['accuracy']; got {metrics!r}.")
        resolved = tuple(metrics_module.get(m, loss=loss) for m in metrics)
        names = [m.name for m in resolved]
        duplicates = sorted({n for n in names if names.count(n) > 1} | ({"loss"} & set(names)))
        if duplicates:
            raise ValueError(f"compile(metrics=...) gives several metrics the name(s) {duplicates}; "
                             "names key the logs.")
        key = (_setting_key(optimizer), _setting_key(loss), tuple(_setting_key(m) for m in resolved), policy,
               distribution_module.as_placement(distribution).key(), steps_per_execution, frozen)
        self.settings = CompileSettings(tx, loss, loss_fn, resolved, policy, distribution, steps_per_execution, key,
                                        frozen)
        self.opt_state = None
        self.step = 0
        self.pending_learning_rate = None

    def set_learning_rate(self, value: np.float32) -> None:
        """The optimizer's rate from now on (`LiveOptimizer`): written into the session's optimizer state,
        and into the state `fit` carries at its next epoch."""
        self.pending_learning_rate = value
        if self.opt_state is not None and not self._fitting:
            self.opt_state = self._with_rate(self.opt_state)

    def _with_rate(self, opt_state):
        value, self.pending_learning_rate = self.pending_learning_rate, None
        return opt_state if value is None else with_injected_learning_rate(opt_state, value)

    def compile_spec_rate(self) -> float:
        recipe = _aliases.recipe(optimizers.get(self.compile_spec["optimizer"])) if self.compile_spec else None
        return float(recipe[1]["learning_rate"]) if recipe else float("nan")

    def require_compiled(self, where: str) -> CompileSettings:
        if self.settings is None:
            raise RuntimeError(
                f"{self.model.describe()}.{where} needs a compiled model: call model.compile(optimizer=..., "
                "loss=...) first."
            )
        return self.settings

    @property
    def _compiled(self) -> CompileSettings:
        """The settings, for code that runs only after a public entry point called `require_compiled`."""
        assert self.settings is not None, "internal: a program needing compile settings was built before compile"
        return self.settings

    def _run_settings(self) -> dict:
        """policy, distribution and steps_per_execution of the passes (plain float32 on one device before compile)."""
        s = self.settings
        if s is None:
            return dict(_UNCOMPILED)
        return dict(policy=s.policy, distribution=s.distribution, steps_per_execution=s.steps_per_execution)

    def _source(self):
        run = self._run_settings()
        return make_source(run["distribution"], run["steps_per_execution"])

    # ------------------------------------------------------------------ variables
    def _specs(self, sample_shapes=None):
        """The (params, state) structures for inputs of these sample shapes, or of the declared ones."""
        return self.model.variable_specs(sample_shapes)

    def set_params(self, value) -> None:
        self.params = self._checked(value, 0, "params")

    def set_state(self, value) -> None:
        self.state = self._checked(value, 1, "state")

    def _checked(self, value, which: int, what: str):
        if value is None:
            return None
        if not isinstance(value, dict):
            raise TypeError(
                f"{self.model.describe()}.{what} must be the dict from model.init_with_state; got "
                f"{type(value).__name__}."
            )
        if self.model.declared_input_shapes is not None:
            check_tree(value, self._specs()[which], self.model.describe(), what)
        return value

    def _fresh_variables(self, x, seed: int):
        """`init_with_state(key(seed))` for inputs shaped like `x` (needed when no input shape is declared).

        One compiled program draws every weight (the same numbers as the layers' initializers called one
        by one, which would compile a small program per operation and shape), shared by the models of
        equal structure and initializers."""
        arrays = x if isinstance(x, (list, tuple)) else [x]
        shapes = tuple(tuple(np.shape(a)[1:]) for a in arrays)
        input_shape = shapes[0] if len(shapes) == 1 else list(shapes)
        init_key = self.model.init_key()

        def build():
            init = self.model.frozen().init_with_state
            return jax.jit(lambda key: init(key, input_shape))

        model_key = init_key if init_key is not None else _programs.identity_key(self.model)
        return _programs.get_or_build((model_key, "init", shapes), build)(jax.random.key(seed))

    def _require_variables(self, where: str) -> None:
        if self.params is None:
            raise RuntimeError(
                f"{self.model.describe()}.{where} needs params: train with fit, set model.params, or load_weights."
            )
        if self.state is None and self.model.stateful:
            raise RuntimeError(
                f"{self.model.describe()}.{where} needs the model's state (its layers {self.model.stateful_layers} "
                "keep "
                "moving statistics): train with fit, load_weights, or set model.state = model.init_with_state(key)[1]."
            )

    def _variables(self):
        """(params, state), placed for the passes' distribution (a no-op when they already are)."""
        state = self.state if self.state is not None else {}
        return self._source().placement.put_state((self.params, state))

    # ------------------------------------------------------------------ data checks
    def _as_inputs(self, x, what: str):
        """`x` as a numpy/jax array (one input) or list of arrays, checked for type, length and NaN."""
        names = self.model.input_names
        if isinstance(x, dict):
            x = [x[name] if name in x else None for name in names]
        several = isinstance(x, (list, tuple))
        arrays = list(x) if several else [x]
        if len(arrays) != len(names):
            raise ValueError(f"{what}: the model takes {len(names)} input(s) {list(names)}; got {len(arrays)}.")
        out = [as_data_array(value, f"{what} input '{name}'") for value, name in zip(arrays, names)]
        for name, path, input_dim in self.model.id_inputs():
            check_ids(np.asarray(out[names.index(name)]), input_dim,
                      f"{what}: input '{name}', read by Embedding '{path}',")
        lengths = {len(a) for a in out}
        if len(lengths) > 1:
            raise ValueError(f"{what}: the inputs have different numbers of samples {[len(a) for a in out]}.")
        if lengths == {0}:
            raise ValueError(f"{what}: x holds no samples (shape {tuple(np.shape(out[0]))}); give at least one, "
                             "as Keras does.")
        return out if several else out[0]

    def _output_struct(self, x, what: str):
        """The model's output shape for `x`, by tracing (no compile); raises on inputs that do not fit."""
        sample = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), x)  # abstract: no compute
        try:
            if self.model.declared_input_shapes is not None:
                params, state = self._specs()  # `apply` then names the user's shape against the declared one
            else:
                sample_shapes = [tuple(a.shape[1:]) for a in (x if isinstance(x, list) else [x])]
                params, state = self._specs(sample_shapes[0] if len(sample_shapes) == 1 else sample_shapes)
            if self.params is not None:
                params = self.params
            if self.state is not None:
                state = self.state
            out, _ = jax.eval_shape(lambda p, s, a: self.model.apply_with_state(p, s, a), params, state, sample)
        except ValueError as err:
            raise ValueError(f"{what}: {err}") from None
        if isinstance(out, list):
            raise ValueError(
                f"{what}: fit/evaluate train single-output models; this one has {len(out)} outputs. Write the loop "
                "with funcnet.training for several outputs."
            )
        return out

    def _as_labels(self, y, n: int, out, what: str) -> np.ndarray:
        settings = self.require_compiled(what)
        labels = as_data_array(y, f"{what} labels (y)")
        if len(labels) != n:
            raise ValueError(f"{what}: x has {n} samples but y has {len(labels)}; they must match.")
        if labels.ndim == 1 and len(out.shape) == 2 and out.shape[1] == 1:
            labels = labels.reshape(-1, 1)  # (N,) labels for an (N, 1) output, as Keras expands them
        y_struct = jax.ShapeDtypeStruct((out.shape[0], *labels.shape[1:]), labels.dtype)
        try:
            per_sample = jax.eval_shape(settings.loss_fn, y_struct, out)
        except ValueError as err:
            raise ValueError(f"{what}: labels of shape {labels.shape} do not fit the loss: {err}") from None
        if len(per_sample.shape) == 0:
            raise ValueError(
                f"{what}: the loss {settings.loss!r} returns a scalar; compile needs a per-sample loss, shape [batch] "
                "(a losses function such as losses.mean_squared_error, a name, or a losses.Loss object)."
            )
        if losses.is_sparse(settings.loss):
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
        return inputs, self._as_labels(y, n, out, what)

    # ------------------------------------------------------------------ programs
    def _program(self, key, build, with_compile_settings: bool = True):
        """The program for `key`, built once and shared by every model of this structure (and compile
        settings), so later epochs, later fits and same-shaped models compile nothing."""
        structure = self.model.structure_key()
        model_key = structure if structure is not None else _programs.identity_key(self.model)
        settings = self._compiled.key if with_compile_settings else ()
        return _programs.get_or_build((model_key, settings, key), build)

    def _pure_apply(self):
        # Programs outlive this session (they are shared): they hold a session-free copy of the model,
        # never this one, so a model's params are freed with the model.
        return self.model.frozen().apply_with_state

    # ------------------------------------------------------------------ fit
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, initial_epoch=0, seed=None) -> callbacks_module.History:
        settings = self.require_compiled("fit")
        batch_size = 32 if batch_size is None else positive_count(batch_size, "fit(batch_size=...)")
        epochs = _non_negative_int(epochs, "fit(epochs=...)")
        initial_epoch = _non_negative_int(initial_epoch, "fit(initial_epoch=...)")
        verbose = check_verbose(verbose, "fit")
        if jax.process_index() != 0:
            verbose = 0  # one process of a multi-host run reports
        seed = 0 if seed is None else seed
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise TypeError(f"fit(seed=...) must be an int or None; got {seed!r}.")
        seed = int(seed)
        if x is None or y is None:
            raise ValueError("fit needs x and y.")
        callback_list = list(callbacks or [])

        inputs, labels = self._prepare(x, y, "fit")
        if self.params is None:
            self.params, self.state = self._fresh_variables(inputs, seed)
        elif self.state is None:  # params set by hand: the state starts where init_with_state starts it
            self.state = self._fresh_variables(inputs, seed)[1] if self.model.stateful else {}
        (inputs, labels), validation = self._split_validation(inputs, labels, validation_split, validation_data)

        stop_on_nan = any(isinstance(cb, callbacks_module.TerminateOnNaN) for cb in callback_list)
        epoch_fn, progress = self._epoch_program(batch_size, bool(shuffle), verbose == 1, stop_on_nan)
        source = self._source()
        x_dev, y_dev = source.put_data(inputs), source.put_data(labels)
        val_dev = source.put_data(validation) if validation is not None else None

        if self.opt_state is None:  # one program (eagerly, a small one per operation and shape)
            self.opt_state = self._program(("optimizer init",), lambda: jax.jit(settings.optimizer.init))(self.params)
        if self.pending_learning_rate is not None:
            self.opt_state = self._with_rate(self.opt_state)
        train_state = source.placement.put_state(
            TrainState(self.params, self.opt_state, jnp.asarray(self.step, jnp.int32), jax.random.key(seed), self.state)
        )
        history = callbacks_module.History()
        steps = math.ceil(len(y_dev) / batch_size)  # y_dev: every process's labels, in a multi-host run
        fit_params = {"epochs": epochs, "steps": steps, "verbose": verbose}
        history.set_model(self.model)
        history.set_params(fit_params)
        self.history = history  # model.history, as Keras: reachable even when fit is interrupted
        cb = callbacks_module.CallbackList(callback_list, self.model, fit_params)
        self.stop_training = False
        self._fitting = True
        try:
            self._epochs(cb, history, train_state, epoch_fn, progress, x_dev, y_dev, val_dev, settings, batch_size,
                         initial_epoch, epochs, steps, verbose, source.placement.put_state)
        finally:
            self._fitting = False
            if self.pending_learning_rate is not None and self.opt_state is not None:
                self.opt_state = self._with_rate(self.opt_state)  # set in the last epoch's callbacks
        return history

    def _epochs(self, cb, history, train_state, epoch_fn, progress, x_dev, y_dev, val_dev, settings, batch_size,
                initial_epoch, epochs, steps, verbose, place) -> None:
        cb.on_train_begin()
        if self.resume_epoch is not None:  # a callback (BackupAndRestore) loaded a backup: go on from it
            initial_epoch, self.resume_epoch = self.resume_epoch, None
            train_state = place(TrainState(self.params, self.opt_state, jnp.asarray(self.step, jnp.int32),
                                           train_state.rng, self.state))
        for epoch in range(initial_epoch, epochs):
            cb.on_epoch_begin(epoch)
            if self.pending_learning_rate is not None:  # set by a callback: the data of the same program
                train_state = train_state._replace(opt_state=self._with_rate(train_state.opt_state))
            start = time.perf_counter()
            if progress is not None:
                progress.start(steps, epoch, epochs)
            train_state, logs = epoch_fn(train_state, x_dev, y_dev, epoch)
            halted = bool(logs.pop("halted"))
            logs = callbacks_module.to_floats(logs, settings.log_order)
            if val_dev is not None:
                val_x, val_y = val_dev
                variables = (train_state.params, train_state.model_state)
                val_logs = self._evaluate_arrays(val_x, val_y, batch_size, variables)
                logs.update({f"val_{k}": v for k, v in val_logs.items()})
            # The epoch commits whole (params, state, optimizer state, step, history) or not at all:
            # a Ctrl-C here waits for the commit's few statements.
            with deferred_interrupt():
                self._take(train_state)
                history.on_epoch_end(epoch, logs)
            if progress is not None:
                progress.close(logs)
            elif verbose == 2:
                seconds = time.perf_counter() - start
                print(f"Epoch {epoch + 1}/{epochs} - {seconds:.2f}s - {format_logs(logs)}", flush=True)
            cb.on_epoch_end(epoch, logs)
            history.add_late(logs)  # what callbacks added to the logs (`learning_rate`), as Keras's History sees
            if halted:
                self.stop_training = True
            if self.stop_training:
                break
        cb.on_train_end()

    def _split_validation(self, inputs, labels, validation_split, validation_data):
        """((training inputs, labels), (validation inputs, labels) or None)."""
        if not isinstance(validation_split, numbers.Real) or not 0.0 <= float(validation_split) < 1.0:
            raise ValueError(f"fit(validation_split=...) must be in [0, 1); got {validation_split!r}.")
        validation_split = float(validation_split)
        if validation_split and validation_data is not None:
            raise ValueError("fit: give validation_data or validation_split, not both.")
        if validation_split:
            n = len(labels)
            cut = int(math.floor(n * (1.0 - validation_split)))
            if cut == 0 or cut == n:
                raise ValueError(f"fit(validation_split={validation_split}) leaves {cut} of {n} samples for training.")
            train_x, val_x = _split(inputs, cut)
            return (train_x, labels[:cut]), (val_x, labels[cut:])
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("fit(validation_data=...) must be a pair (x_val, y_val).")
            x_val, y_val = validation_data
            return (inputs, labels), self._prepare(x_val, y_val, "fit(validation_data=...)")
        return (inputs, labels), None

    def _epoch_program(self, batch_size: int, shuffle: bool, show_progress: bool, stop_on_nan: bool):
        """(epoch program, its progress bar or None), shared by models of this structure and settings."""
        settings = self._compiled

        def build():
            # The progress sink lives with the program: a cached program calls back into it on every fit.
            sink = ProgressBar() if show_progress else None
            program = make_train_epoch(
                self._pure_apply(), settings.loss_fn, settings.optimizer, settings.metrics, batch_size=batch_size,
                shuffle=shuffle, progress=sink.update if sink else None, stop_on_nan=stop_on_nan, with_state=True,
                **self._run_settings())
            return program, sink

        return self._program(("epoch", batch_size, shuffle, show_progress, stop_on_nan), build)

    def _take(self, train_state: TrainState) -> None:
        self.params, self.opt_state = train_state.params, train_state.opt_state
        self.step, self.state = train_state.step, train_state.model_state

    # ------------------------------------------------------------------ evaluate / predict
    def _evaluate_arrays(self, x, y, batch_size: int, variables=None) -> dict[str, float]:
        """The logs of `(x, y)` (placed) with `variables` = (params, state), by default the session's."""
        settings = self._compiled

        def build():
            return make_evaluate(self._pure_apply(), settings.loss_fn, settings.metrics, batch_size=batch_size,
                                 with_state=True, **self._run_settings())

        evaluate = self._program(("evaluate", batch_size), build)
        params, state = self._variables() if variables is None else variables
        return callbacks_module.to_floats(evaluate(params, x, y, model_state=state), settings.log_order)

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", return_dict: bool = False):
        self.require_compiled("evaluate")
        self._require_variables("evaluate")
        batch_size = 32 if batch_size is None else positive_count(batch_size, "evaluate(batch_size=...)")
        verbose = check_verbose(verbose, "evaluate")
        if x is None or y is None:
            raise ValueError("evaluate needs x and y.")
        inputs, labels = self._prepare(x, y, "evaluate")
        source = self._source()
        logs = self._evaluate_arrays(source.put_data(inputs), source.put_data(labels), batch_size)
        if verbose:
            print(format_logs(logs), flush=True)
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size=None, verbose="auto") -> np.ndarray:
        self._require_variables("predict")
        batch_size = 32 if batch_size is None else positive_count(batch_size, "predict(batch_size=...)")
        check_verbose(verbose, "predict")
        inputs = self._as_inputs(x, "predict")
        self._output_struct(inputs, "predict")
        run = self._run_settings()

        def build():
            return make_predict(self._pure_apply(), batch_size=batch_size, with_state=True, **run)

        placement_key = distribution_module.as_placement(run["distribution"]).key()
        predict = self._program(("predict", batch_size, run["policy"], placement_key, run["steps_per_execution"]),
                                build, with_compile_settings=False)
        params, state = self._variables()
        outputs = predict(params, self._source().put_data(inputs), model_state=state)
        return jax.tree.map(distribution_module.host_array, outputs)

    # ------------------------------------------------------------------ weights and checkpoints
    def _templates(self):
        """(params, state) to restore a file into: the current ones, else the declared structures."""
        params, state = self.params, self.state
        if params is None or state is None:
            spec_params, spec_state = self._specs()
            params = params if params is not None else spec_params
            state = state if state is not None else spec_state
        return params, state

    def save_weights(self, path) -> None:
        self._require_variables("save_weights")
        checkpoints.save(path, {"params": self.params, "state": self.state or {}})

    def load_weights(self, path) -> None:
        ckpt = checkpoints.load(path)
        params_template, state_template = self._templates()
        params = ckpt.restore("params", params_template)
        self.state = _restore_state(ckpt, state_template, path)
        self.params = params

    def save_checkpoint(self, path, epoch: int) -> None:
        settings = self.require_compiled("save_checkpoint")
        self._require_variables("save_checkpoint")
        opt_state = self.opt_state if self.opt_state is not None else settings.optimizer.init(self.params)
        checkpoints.save(
            path,
            {"params": self.params, "state": self.state or {}, "opt_state": opt_state,
             "step": jnp.asarray(self.step, jnp.int32)},
            metadata={"epoch": int(epoch)},
        )

    def load_checkpoint(self, path) -> int:
        settings = self.require_compiled("load_checkpoint")
        ckpt = checkpoints.load(path)
        if not ckpt.has("opt_state"):
            raise ValueError(f"{path!r} holds weights only (save_weights_only=True); use model.load_weights.")
        params_template, state_template = self._templates()
        params = ckpt.restore("params", params_template)
        state = _restore_state(ckpt, state_template, path)
        zeros = jax.tree.map(lambda t: jnp.zeros(t.shape, t.dtype), params)
        self.opt_state = ckpt.restore("opt_state", settings.optimizer.init(zeros))
        self.step = ckpt.restore("step", jnp.zeros([], jnp.int32))
        self.params, self.state = params, state
        return int(ckpt.metadata["epoch"])


def _restore_state(ckpt, template, path):
    """The model state from a file; files written before models had state hold none (fine if none is needed)."""
    if ckpt.has("state"):
        return ckpt.restore("state", template)
    if jax.tree.leaves(template):
        raise ValueError(f"{path!r} holds no model state, but this model keeps some ({sorted(template)}).")
    return {}


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_verbose(verbose, where: str) -> int:
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2) or isinstance(verbose, bool):
        raise ValueError(f"{where}(verbose=...) must be 0, 1, 2 or 'auto'; got {verbose!r}.")
    return int(verbose)


def _non_negative_int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{what} must be an int >= 0; got {value!r}.")
    return int(value)


def _split(inputs, cut: int):
    if isinstance(inputs, list):
        return [a[:cut] for a in inputs], [a[cut:] for a in inputs]
    return inputs[:cut], inputs[cut:]


def as_data_array(value, what: str):
    """A numpy or jax array of a real numeric dtype with a batch axis and no NaN or inf."""
    if value is None:
        raise TypeError(f"{what} is None; expected an array.")
    if not isinstance(value, (np.ndarray, jax.Array)):
        try:
            value = np.asarray(value)
        except Exception:
            raise TypeError(f"{what} must be an array; got {type(value).__name__}.") from None
    numeric = np.issubdtype(value.dtype, np.number) or value.dtype == np.bool_
    if not numeric or np.issubdtype(value.dtype, np.complexfloating):
        raise TypeError(f"{what} must hold real numbers; got dtype {value.dtype}.")
    if value.ndim == 0:
        raise ValueError(f"{what} must have a batch axis; got a scalar.")
    if np.issubdtype(value.dtype, np.floating) and not bool(np.isfinite(value).all()):
        bad = int(np.size(value) - np.count_nonzero(np.isfinite(np.asarray(value))))
        raise ValueError(f"{what} holds {bad} NaN or infinite value(s); clean the data before training.")
    return value
