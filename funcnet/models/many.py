"""Many models in one program: `fit_many` trains seeds, folds or optimizer settings side by side.

Because a model is a pure function of its params, `K` runs of one model are one function of `K`-stacked
params: `fit_many` vmaps `fit`'s own epoch over a leading member axis (`funcnet.training.members`), so
the whole experiment compiles once and every step trains every member.

    runs = models.fit_many(model, x, y, seeds=[0, 1, 2, 3], epochs=20, batch_size=128, validation_split=0.2)
    runs.history["val_loss"]          # numpy [members, epochs]
    runs.evaluate(x_test, y_test)     # {"loss": [members], "accuracy": [members]}
    best = runs.member(int(np.argmin(runs.history["val_loss"][:, -1])))   # a compiled Model

Member k is `fit` run alone with member k's seed, fold or optimizer (equal to float rounding; on this
CPU, bit for bit in the tests): its own params from `init_with_state(key(seed_k))`, its own shuffling
and dropout keys, its own optimizer state. Members that do not fit in memory at once train in groups
(`_member_memory`); with a `DataParallel` the members are split across its devices.
"""
from __future__ import annotations

import copy
import math
import numbers
import time
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from funcnet import callbacks as callbacks_module
from funcnet import distribution as distribution_module
from funcnet import optimizers as optimizers_module
from funcnet._checks import positive_count, same_structure
from funcnet.models import _member_memory, _member_optimizers
from funcnet.models._progress import ProgressBar
from funcnet.models.session import _non_negative_int, check_verbose
from funcnet.training import TrainState
from funcnet.training.members import MemberStart, make_evaluate_many, make_predict_many, make_train_epoch_many
from funcnet.training.step import make_train_step

PER_MEMBER_CALLBACKS = (callbacks_module.EarlyStopping, callbacks_module.TerminateOnNaN)
SHARED_CALLBACKS = (callbacks_module.CSVLogger,)


def fit_many(model, x=None, y=None, *, seeds: Sequence[int] | None = None, folds: int | None = None,
             optimizers: Sequence | None = None, group_size: int | None = None, batch_size: int | None = None,
             epochs: int = 1, verbose="auto", callbacks: Sequence | None = None, validation_split: float = 0.0,
             validation_data=None, shuffle: bool = True, initial_epoch: int = 0, seed: int | None = None) -> Runs:
    """Trains several copies of a compiled `model` side by side in one compiled program; returns `Runs`.

    Args:
      model: a compiled `Model` or `Sequential`: the template. Its own params are neither used nor
        changed; every member starts from `init_with_state(jax.random.key(seed_k))`, as a fresh `fit`.
      x: the inputs, as `fit` takes them.
      y: the labels, as `fit` takes them.
      seeds: one seed per member (params, shuffling, dropout).
      folds: K-fold validation, the book's way: with `m = len(x) // folds`, member k validates on samples
        `[k*m, (k+1)*m)` and trains on all the others (the `len(x) - folds*m` left over always train).
      optimizers: one optimizer per member (names or optax transformations), of one structure: made by
        one funcnet alias with the same switches they differ in numbers only, passed as data.
      group_size: members per group; by default as many as half the free memory holds (a multiple of the
        device count). Groups train one after another, with the same results.
      batch_size: as `fit`, for every member (default 32).
      epochs: as `fit`.
      verbose: 0 silent; 1 a progress bar and 2 one line per epoch, each showing every log's mean over
        the members and their range.
      validation_split: as `fit`: the same last samples validate every member.
      validation_data: as `fit`.
      shuffle: as `fit`.
      initial_epoch: as `fit`.
      seed: `fit`'s seed, for every member that `seeds` does not give its own.
      callbacks: `EarlyStopping` and `TerminateOnNaN` act per member (a copy each: a member that stops
        keeps its params, the others go on); `CSVLogger` writes one row per member and epoch, with a
        `member` column. Other callbacks raise: they would need one model.

    The members are given by `seeds`, `folds` and `optimizers`: each given one fixes the member count
    (they must agree), member k taking element k of each. With a `DataParallel` compile the member
    axis is split across the devices (each trains whole members, no communication); batches are not.

    Examples:
      >>> import numpy as np
      >>> from funcnet import layers, models
      >>> model = models.Sequential([layers.Dense(1, input_shape=(3,))])
      >>> model.compile(optimizer="rmsprop", loss="mse", metrics=["mae"])
      >>> x, y = np.ones((40, 3), np.float32), np.ones((40, 1), np.float32)
      >>> runs = models.fit_many(model, x, y, folds=4, epochs=3, batch_size=8, verbose=0)
      >>> runs.history["val_mae"].shape
      (4, 3)
    """
    session = model._session
    settings = session.require_compiled("fit_many")
    where = "fit_many"
    if settings.steps_per_execution is not None:
        raise ValueError(
            f"{where}: {model.describe()} is compiled with steps_per_execution={settings.steps_per_execution}; "
            "fit_many keeps the data on the device (compile without steps_per_execution)."
        )
    if jax.process_count() > 1:
        raise ValueError(f"{where} runs in one process; in a multi-process run call fit in each process.")
    batch_size = 32 if batch_size is None else positive_count(batch_size, f"{where}(batch_size=...)")
    epochs = _non_negative_int(epochs, f"{where}(epochs=...)")
    initial_epoch = _non_negative_int(initial_epoch, f"{where}(initial_epoch=...)")
    verbose = check_verbose(verbose, where)
    seed = 0 if seed is None else _seed(seed, f"{where}(seed=...)")
    if x is None or y is None:
        raise ValueError(f"{where} needs x and y.")

    count, seeds, folds, optimizer_list = _members(seeds, folds, optimizers)
    seeds = seeds if seeds is not None else [seed] * count
    member_callbacks, shared_callbacks = _check_callbacks(callbacks)
    inputs, labels = session._prepare(x, y, where)
    n = len(labels)
    train_index = val_index = None
    if folds is not None:
        if validation_split or validation_data is not None:
            raise ValueError(f"{where}: folds= makes each member's validation set; give no validation_split or "
                             "validation_data with it.")
        m = n // folds
        if m == 0:
            raise ValueError(f"{where}(folds={folds}) needs at least {folds} samples; got {n}.")
        train_index = np.stack([np.concatenate([np.arange(0, k * m), np.arange((k + 1) * m, n)])
                                for k in range(folds)]).astype(np.int32)
        val_index = np.stack([np.arange(k * m, (k + 1) * m) for k in range(folds)]).astype(np.int32)
        validation = None  # each member's fold of the data already placed for training
    else:
        (inputs, labels), validation = session._split_validation(inputs, labels, validation_split, validation_data)

    shapes = [tuple(np.shape(a)[1:]) for a in (inputs if isinstance(inputs, list) else [inputs])]
    sample_shapes = shapes[0] if len(shapes) == 1 else shapes
    params_spec, state_spec = model.variable_specs(sample_shapes)
    member_optimizers = _member_optimizers.plan(optimizer_list, settings.optimizer, settings.policy, count, params_spec)

    placement = distribution_module.as_placement(settings.distribution)
    devices = placement.num_devices
    per_member, step_flops = _member_cost(model, settings, member_optimizers, params_spec, state_spec, inputs, labels,
                                          batch_size, len(labels) if train_index is None else train_index.shape[1])
    platform = jax.devices()[0].platform
    sequential = _member_memory.one_at_a_time(step_flops, platform, devices)
    if group_size is None:
        group = _member_memory.group_size(count, per_member, devices, shared_memory=platform == "cpu")
    else:
        group = positive_count(group_size, f"{where}(group_size=...)")
        if group % devices:
            raise ValueError(f"{where}(group_size={group}) must be a multiple of the {devices} devices the members "
                             "are split across.")

    stop_on_nan = any(isinstance(cb, callbacks_module.TerminateOnNaN) for cb in member_callbacks)
    epoch_fn, progress = _epoch_program(session, member_optimizers, batch_size, bool(shuffle), verbose == 1,
                                        stop_on_nan, sequential)
    evaluate_fn = _evaluate_program(session, batch_size)
    x_dev, y_dev = placement.put_data(inputs), placement.put_data(labels)
    val_dev = placement.put_data(validation) if validation is not None else (x_dev, y_dev) if folds else None
    init_fn = _init_program(session, sample_shapes, member_optimizers)

    steps = math.ceil((len(labels) if train_index is None else train_index.shape[1]) / batch_size)
    log_order = list(settings.log_order) + ([f"val_{k}" for k in settings.log_order] if val_dev is not None else [])
    training = _Training(
        model=model, epoch_fn=epoch_fn, evaluate_fn=evaluate_fn, progress=progress, placement=placement,
        init_fn=init_fn, member_optimizers=member_optimizers, seeds=seeds, data=(x_dev, y_dev), validation=val_dev,
        train_index=train_index, val_index=val_index, group=group, sequential=sequential, steps=steps,
        epochs=epochs, initial_epoch=initial_epoch, verbose=verbose, log_order=log_order,
        callbacks=[[copy.deepcopy(cb) for cb in member_callbacks] for _ in range(count)], shared=shared_callbacks)
    groups = _groups(count, group)
    for cb in shared_callbacks:
        cb.set_model(None)
        cb.set_params({"epochs": epochs, "steps": steps, "verbose": verbose, "members": count})
        cb.on_train_begin()
    finals = []
    for members in groups:
        if verbose and len(groups) > 1:
            print(f"Members {members[0]}-{members[-1]} of {count} (groups of {group})", flush=True)
        finals.append(training.train_group(members))
    for cb in shared_callbacks:
        cb.on_train_end()
    states = jax.tree.map(lambda *parts: jnp.concatenate(parts), *finals) if len(finals) > 1 else finals[0]
    return Runs(model, states, training.history(settings.log_order), training.epoch_list(), seeds, folds,
                optimizer_list, training.epochs_run, group, batch_size)


class _Training:
    """What the groups of one `fit_many` share (programs, placed data, the members' callbacks) and what
    they fill in (the history, the epochs each member ran); `train_group` trains one group."""

    def __init__(self, *, model, epoch_fn, evaluate_fn, progress, placement, init_fn, member_optimizers, seeds, data,
                 validation, train_index, val_index, group, sequential, steps, epochs, initial_epoch, verbose,
                 log_order, callbacks, shared):
        self.model, self.epoch_fn, self.evaluate_fn, self.progress = model, epoch_fn, evaluate_fn, progress
        self.placement, self.init_fn, self.member_optimizers, self.seeds = placement, init_fn, member_optimizers, seeds
        self.data, self.validation, self.train_index, self.val_index = data, validation, train_index, val_index
        self.group, self.sequential, self.steps = group, sequential, steps
        self.epochs, self.initial_epoch, self.verbose, self.log_order = epochs, initial_epoch, verbose, log_order
        self.callbacks, self.shared = callbacks, shared
        self.rows: list[dict[str, np.ndarray]] = []  # per epoch: name -> [members], NaN where one had stopped
        self.epochs_run = np.zeros(len(seeds), np.int64)

    def train_group(self, members: list[int]) -> TrainState:
        """Trains `members` (indices) side by side for every epoch; returns their final states, stacked."""
        placement, real, group = self.placement, len(members), self.group
        taken = _padded(members, group)
        hyper = self.member_optimizers.take(taken)
        view = _GroupView(placement.put_members(self.init_fn([self.seeds[k] for k in taken], hyper)))
        hyper = placement.put_members(hyper)
        train_index = placement.put_members(self.train_index[taken]) if self.train_index is not None else None
        val_index = placement.put_members(self.val_index[taken]) if self.val_index is not None else None
        active = np.arange(group) < real  # the padding copies never count
        for k_local, k in enumerate(members):
            for cb in self.callbacks[k]:
                cb.set_model(_MemberView(view, k_local, self.model))
                cb.set_params({"epochs": self.epochs, "steps": self.steps, "verbose": self.verbose})
                cb.on_train_begin()
        for epoch in range(self.initial_epoch, self.epochs):
            if not active.any():
                break
            start = time.perf_counter()
            if self.progress is not None:
                self.progress.start(self.steps * (group if self.sequential else 1), epoch, self.epochs)
            trained = active.copy()
            view.states, logs = self.epoch_fn(MemberStart(view.states, hyper, jnp.asarray(active), train_index),
                                              *self.data, epoch)
            logs = {k: np.asarray(v) for k, v in jax.device_get(logs).items()}
            halted = logs.pop("halted")
            if self.validation is not None:
                val_logs = self.evaluate_fn(view.states.params, view.states.model_state, *self.validation, val_index)
                logs.update({f"val_{k}": np.asarray(v) for k, v in jax.device_get(val_logs).items()})
            logs = {k: logs[k] for k in self.log_order if k in logs}
            _report(self.progress, self.verbose, epoch, self.epochs, start, logs, trained[:real])
            self._record(epoch - self.initial_epoch, members, logs, trained[:real])
            for k_local, k in enumerate(members):
                if not trained[k_local]:
                    continue
                self.epochs_run[k] += 1
                member_logs = {name: float(values[k_local]) for name, values in logs.items()}
                view.stop[k_local] = bool(halted[k_local])
                for cb in self.callbacks[k]:
                    cb.on_epoch_end(epoch, member_logs)
                for cb in self.shared:
                    cb.on_epoch_end(epoch, {"member": k, **member_logs})
                active[k_local] = not view.stop[k_local]
        for k in members:
            for cb in self.callbacks[k]:
                cb.on_train_end()
        return view.states if real == group else jax.tree.map(lambda leaf: leaf[:real], view.states)

    def _record(self, index: int, members: list[int], logs: dict, trained: np.ndarray) -> None:
        while len(self.rows) <= index:
            self.rows.append({})
        for name, values in logs.items():
            column = self.rows[index].setdefault(name, np.full(len(self.seeds), np.nan))
            column[members] = np.where(trained, values[: len(members)], np.nan)

    def history(self, names_without_validation) -> dict[str, np.ndarray]:
        count = len(self.seeds)
        if not self.rows:
            return {name: np.zeros((count, 0)) for name in names_without_validation}
        return {name: np.stack([row.get(name, np.full(count, np.nan)) for row in self.rows], axis=1)
                for name in self.log_order}

    def epoch_list(self) -> list[int]:
        return list(range(self.initial_epoch, self.initial_epoch + len(self.rows)))


class Runs:
    """The members `fit_many` trained: their history, stacked variables, and the ways to use them.

    Attributes:
      history: name -> numpy array `[members, epochs]` (`loss`, metrics, `val_...`): `fit`'s
        `history.history` of each member, one row each; NaN after a member stopped (`EarlyStopping`).
      epoch: the epochs run, as `History.epoch`.
      epochs_run: `[members]`, how many epochs each member trained.
      params, state: every member's, stacked along a leading member axis (`jax.Array` leaves).
      opt_state, step: the members' optimizer states and step counts, stacked.
      seeds: each member's seed; folds: the fold count or None; optimizers: the list given or None.
      group_size: the members trained at once.
    """

    def __init__(self, template, states: TrainState, history, epoch, seeds, folds, optimizers, epochs_run, group,
                 batch_size):
        self._template = template
        self.params, self.opt_state, self.state = states.params, states.opt_state, states.model_state
        self.step = states.step
        self.history = history
        self.epoch = epoch
        self.seeds = list(seeds)
        self.folds = folds
        self.optimizers = None if optimizers is None else list(optimizers)
        self.epochs_run = epochs_run
        self.group_size = group
        self._batch_size = batch_size

    def __len__(self) -> int:
        return len(self.seeds)

    @property
    def members(self) -> int:
        return len(self.seeds)

    def __repr__(self):
        what = (f"folds={self.folds}" if self.folds is not None
                else f"optimizers={len(self.optimizers)}" if self.optimizers is not None else f"seeds={self.seeds}")
        return f"Runs({self.members} members of {self._template.describe()}, {what}, {len(self.epoch)} epochs)"

    def _member_check(self, k) -> int:
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not -self.members <= int(k) < self.members:
            raise ValueError(f"Runs.member(k): k must be an int in [0, {self.members}); got {k!r}.")
        return int(k) % self.members

    def member(self, k: int):
        """A compiled copy of the template holding member k's params, state and optimizer state: `fit`,
        `evaluate`, `predict` and `save` it as any model (compiled with member k's optimizer)."""
        k = self._member_check(k)
        template = self._template
        spec = template._session.compile_spec
        settings = template._session.settings
        model = template._with_layers(lambda layer: layer)
        optimizer = self.optimizers[k] if self.optimizers is not None else spec["optimizer"]
        model.compile(optimizer=optimizer, loss=spec["loss"], metrics=spec["metrics"],
                      dtype_policy=spec["dtype_policy"], distribution=settings.distribution)
        take = lambda tree: jax.tree.map(lambda leaf: jnp.asarray(leaf[k]), tree)  # noqa: E731
        model.params, model.state = take(self.params), take(self.state)
        session = model._session
        opt_state = take(self.opt_state)
        expected = jax.eval_shape(session.settings.optimizer.init, model.params)
        if not same_structure(expected, opt_state):
            # The member's own optimizer, which compile runs with its rate as data (wherever that state is
            # nested: under loss scaling too): the member's state goes inside, the compiled rate beside it.
            rewrapped = _inject_rate(session.settings.optimizer.init(model.params), opt_state)
            opt_state = rewrapped if same_structure(expected, rewrapped) else opt_state
        if same_structure(expected, opt_state):
            session.opt_state = opt_state
            session.step = int(self.step[k])
        return model

    def _programs_and_groups(self):
        session = self._template._session
        placement = distribution_module.as_placement(session.settings.distribution)
        groups = _groups(self.members, self.group_size)
        return session, placement, groups

    def _group_variables(self, placement, members):
        taken = _padded(members, self.group_size)
        take = lambda tree: jax.tree.map(lambda leaf: leaf[taken], tree)  # noqa: E731
        return placement.put_members((take(self.params), take(self.state)))

    def evaluate(self, x=None, y=None, batch_size: int | None = None, verbose=0) -> dict[str, np.ndarray]:
        """Every member's loss and metrics on `(x, y)`, inference mode: name -> numpy `[members]`."""
        session, placement, groups = self._programs_and_groups()
        if batch_size is None:
            batch_size = self._batch_size
        batch_size = positive_count(batch_size, "Runs.evaluate(batch_size=...)")
        check_verbose(verbose, "Runs.evaluate")
        if x is None or y is None:
            raise ValueError("Runs.evaluate needs x and y.")
        inputs, labels = session._prepare(x, y, "Runs.evaluate")
        data = placement.put_data((inputs, labels))
        evaluate = _evaluate_program(session, batch_size)
        parts = []
        for members in groups:
            params, state = self._group_variables(placement, members)
            logs = jax.device_get(evaluate(params, state, *data, None))
            parts.append({k: np.asarray(v)[: len(members)] for k, v in logs.items()})
        order = session.settings.log_order
        logs = {k: np.concatenate([p[k] for p in parts]) for k in order}
        if verbose:
            print(" - ".join(f"{k}: {v.mean():.4f} (members {v.min():.4f}-{v.max():.4f})" for k, v in logs.items()))
        return logs

    def predict(self, x, batch_size: int | None = None, verbose=0) -> np.ndarray:
        """Every member's outputs for `x`: a numpy array `[members, n, ...]`."""
        session, placement, groups = self._programs_and_groups()
        if batch_size is None:
            batch_size = self._batch_size
        batch_size = positive_count(batch_size, "Runs.predict(batch_size=...)")
        check_verbose(verbose, "Runs.predict")
        inputs = session._as_inputs(x, "Runs.predict")
        session._output_struct(inputs, "Runs.predict")
        settings = session.settings

        def build():
            return make_predict_many(session._pure_apply(), batch_size=batch_size, policy=settings.policy,
                                     distribution=settings.distribution, with_state=True)

        predict = session._program(("many-predict", batch_size), build)
        data = placement.put_data(inputs)
        parts = []
        for members in groups:
            params, state = self._group_variables(placement, members)
            parts.append(distribution_module.host_array(predict(params, state, data))[: len(members)])
        return np.concatenate(parts)


class _GroupView:
    """The stacked states of the group training now, shared by its members' callback views."""

    def __init__(self, states: TrainState):
        self.states = states
        self.stop = [False] * jax.tree.leaves(states.params)[0].shape[0]


class _MemberView:
    """What a per-member callback sees as its model: member k's params and state, and `stop_training`."""

    def __init__(self, group: _GroupView, k: int, template):
        self._group, self._k, self._template = group, k, template

    def describe(self) -> str:
        return f"member {self._k} of {self._template.describe()}"

    @property
    def params(self):
        return jax.tree.map(lambda leaf: leaf[self._k], self._group.states.params)

    @params.setter
    def params(self, value):
        states = self._group.states
        self._group.states = states._replace(params=_set_member(states.params, self._k, value))

    @property
    def state(self):
        return jax.tree.map(lambda leaf: leaf[self._k], self._group.states.model_state)

    @state.setter
    def state(self, value):
        states = self._group.states
        self._group.states = states._replace(model_state=_set_member(states.model_state, self._k, value))

    @property
    def stop_training(self) -> bool:
        return self._group.stop[self._k]

    @stop_training.setter
    def stop_training(self, value: bool) -> None:
        self._group.stop[self._k] = bool(value)


def _inject_rate(template, plain):
    """`plain` (a state without `InjectLearningRateState`) with each such node of `template` put back in
    its place: the template's rate, `plain`'s state inside."""
    if isinstance(template, optimizers_module.InjectLearningRateState):
        return template._replace(inner_state=plain)
    if isinstance(template, tuple) and type(template) is type(plain) and len(template) == len(plain):
        parts = [_inject_rate(t, p) for t, p in zip(template, plain)]
        return type(plain)(*parts) if hasattr(plain, "_fields") else tuple(parts)
    return plain


def _groups(members: int, size: int) -> list[list[int]]:
    """The members' indices in groups of `size`, in order (the last may be smaller)."""
    return [list(range(first, min(first + size, members))) for first in range(0, members, size)]


def _padded(members: list[int], size: int) -> np.ndarray:
    """A group's member indices padded to `size` with copies of its last (their results are dropped)."""
    return np.asarray(members + [members[-1]] * (size - len(members)))


def _set_member(stacked, k: int, value):
    return jax.tree.map(lambda leaf, v: leaf.at[k].set(v), stacked, value)


def _seed(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{what} must be an int; got {type(value).__name__} {value!r}.")
    return int(value)


def _members(seeds, folds, optimizers):
    """(member count, each member's seed or None, folds or None, optimizers list or None), checked."""
    counts = {}
    if seeds is not None:
        if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence) or not len(seeds):
            raise TypeError(f"fit_many(seeds=...) takes a non-empty list of ints; got {seeds!r}.")
        seeds = [_seed(s, f"fit_many(seeds=...) element {i}") for i, s in enumerate(seeds)]
        counts["seeds"] = len(seeds)
    if folds is not None:
        if isinstance(folds, bool) or not isinstance(folds, numbers.Integral) or folds < 2:
            raise ValueError(f"fit_many(folds=...) must be an int >= 2 (the K of K-fold validation); got {folds!r}.")
        folds = int(folds)
        counts["folds"] = folds
    if optimizers is not None:
        if isinstance(optimizers, (str, bytes)) or not isinstance(optimizers, Sequence) or not len(optimizers):
            raise TypeError(f"fit_many(optimizers=...) takes a non-empty list of optimizers; got {optimizers!r}.")
        optimizers = list(optimizers)
        counts["optimizers"] = len(optimizers)
    if not counts:
        raise ValueError("fit_many needs the members: seeds=[...], folds=K and/or optimizers=[...].")
    if len(set(counts.values())) > 1:
        raise ValueError(
            f"fit_many: {', '.join(f'{k} give {v} members' for k, v in counts.items())}; member k takes element k "
            "of each, so they must agree (for a grid, list every combination)."
        )
    return next(iter(counts.values())), seeds, folds, optimizers


def _check_callbacks(callbacks):
    per_member, shared = [], []
    for cb in list(callbacks or []):
        if not isinstance(cb, callbacks_module.Callback):
            raise TypeError(f"callbacks must be funcnet.callbacks.Callback instances; got {type(cb).__name__} {cb!r}.")
        if isinstance(cb, PER_MEMBER_CALLBACKS):
            per_member.append(cb)
        elif isinstance(cb, SHARED_CALLBACKS):
            shared.append(cb)
        else:
            raise ValueError(
                f"fit_many runs callbacks per member and takes EarlyStopping, TerminateOnNaN and CSVLogger; got "
                f"{type(cb).__name__}, which needs one model. Train the members first and use runs.member(k) "
                "(a compiled model: save it, or fit it on with any callback)."
            )
    return per_member, shared


def _init_program(session, sample_shapes, member_optimizers):
    """`init(seeds, hyper) -> stacked TrainState`: each member as `fit(seed=s)` starts it.

    The params come from `init_with_state(key(seed))` member by member, as `fit` makes them: the same
    bits (a vmapped, jitted init may round a normal draw's `mean + stddev * z` differently), and the
    random-number programs it compiles are those every later `fit` and `init` in the process reuse.
    The optimizer states are one vmapped program.
    """
    model = session.model

    def build():
        def one(params, hyper):
            return member_optimizers.build(hyper).init(params)

        return jax.jit(jax.vmap(one))

    opt_init = session._program(("many-opt-init", member_optimizers.key), build)

    def init(seeds, hyper):
        keys = [jax.random.key(s) for s in seeds]
        members = [model.init_with_state(key, sample_shapes) for key in keys]
        # Stacked on the host: an eager jnp.stack compiles a program per leaf shape (0.2 s each on a CPU).
        params, state = (jax.tree.map(lambda *leaves: np.stack([np.asarray(a) for a in leaves]), *part)
                         for part in zip(*members))
        stacked_keys = jax.random.wrap_key_data(jnp.asarray(np.stack([jax.random.key_data(key) for key in keys])))
        steps = jnp.asarray(np.zeros(len(seeds), np.int32))  # a transfer; jnp.zeros would compile a program
        return TrainState(params, opt_init(params, hyper), steps, stacked_keys, state)

    return init


def _epoch_program(session, member_optimizers, batch_size: int, shuffle: bool, show_progress: bool, stop_on_nan: bool,
                   sequential: bool):
    settings = session.settings

    def build():
        sink = ProgressBar() if show_progress else None
        program = make_train_epoch_many(
            session._pure_apply(), settings.loss_fn, member_optimizers.build, settings.metrics, batch_size=batch_size,
            shuffle=shuffle, progress=sink.update if sink else None, stop_on_nan=stop_on_nan, policy=settings.policy,
            distribution=settings.distribution, with_state=True, one_at_a_time=sequential)
        return program, sink

    return session._program(("many-epoch", member_optimizers.key, batch_size, shuffle, show_progress, stop_on_nan,
                             sequential), build)


def _evaluate_program(session, batch_size: int):
    settings = session.settings

    def build():
        return make_evaluate_many(session._pure_apply(), settings.loss_fn, settings.metrics, batch_size=batch_size,
                                  policy=settings.policy, distribution=settings.distribution, with_state=True)

    return session._program(("many-evaluate", batch_size), build)


def _member_cost(model, settings, member_optimizers, params_spec, state_spec, inputs, labels, batch_size: int,
                 train_samples: int) -> tuple[int, int]:
    """`(bytes, flops)`: what one member adds to a group's memory, and the flops of its step (see
    `_member_memory`)."""
    hyper = jax.tree.map(lambda leaf: leaf[0], member_optimizers.hyper)
    opt_spec = jax.eval_shape(lambda p: member_optimizers.build(hyper).init(p), params_spec)
    variables = _member_memory.tree_bytes((params_spec, opt_spec, state_spec))
    step = make_train_step(model.frozen().apply_with_state, settings.loss_fn, member_optimizers.build(hyper),
                           settings.metrics, policy=settings.policy, with_state=True)
    batch = lambda a: jax.ShapeDtypeStruct((batch_size, *np.shape(a)[1:]), a.dtype)  # noqa: E731
    x_spec = jax.tree.map(batch, inputs)
    y_spec = batch(labels)
    state = jax.eval_shape(lambda p, o, s: TrainState(p, o, jnp.zeros((), jnp.int32), jax.random.key(0), s),
                           params_spec, opt_spec, state_spec)
    metric_states = tuple(m.init() for m in settings.metrics)
    weight = jax.ShapeDtypeStruct((batch_size,), jnp.float32)
    activations, flops = _member_memory.step_cost(
        lambda s, ms, xb, yb, w: step(s, ms, xb, yb, w, jnp.sum(w), jax.random.key(0)),
        state, metric_states, x_spec, y_spec, weight)
    return 4 * variables + activations + 8 * train_samples, flops


def _report(progress, verbose: int, epoch: int, epochs: int, start: float, logs: dict, active) -> None:
    """The epoch's line: each log's mean over the members that trained, and their range."""
    if not verbose:
        return
    shown = {k: v[: len(active)][active] for k, v in logs.items()}
    text = " - ".join(f"{k}: {v.mean():.4f} ({v.min():.4f}-{v.max():.4f})" for k, v in shown.items() if v.size)
    members = f"{int(np.sum(active))} members"
    if progress is not None:
        progress.close(f"{members} - {text}")
    else:
        print(f"Epoch {epoch + 1}/{epochs} - {time.perf_counter() - start:.2f}s - {members} - {text}", flush=True)


__all__ = ["Runs", "fit_many"]
