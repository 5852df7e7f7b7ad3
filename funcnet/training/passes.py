"""Whole passes over a data set, each described once and run by a batch source: a training epoch,
an evaluation, a prediction.

By default (`steps_per_execution=None`) the data sit on the device and a pass is one compiled program:
it draws the epoch's order on the device from the run's key and the epoch number, gathers each batch by
index, and pads the last, short batch with weight-0 samples, so every step has one shape. No Python runs
per step. With `steps_per_execution=k` the data stay on the host (numpy) and each compiled call runs `k`
steps on batches copied over as they are needed: the same batches, order and keys (see
`funcnet.training.batches`).

Models with non-trainable state (`with_state=True`, e.g. `model.apply_with_state`) carry it in
`TrainState.model_state`; the new state is an output of the same compiled step.
"""
from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from funcnet import mixed_precision
from funcnet.training.batches import Pass, Progress, batch_plan, make_source, num_samples
from funcnet.training.state import DROPOUT_STREAM, TrainState, shuffle_key, stream_key
from funcnet.training.step import forward_fn, make_eval_step, make_train_step


def make_train_epoch(
    apply_fn,
    loss_fn,
    optimizer,
    metrics: Sequence = (),
    *,
    batch_size: int,
    shuffle: bool = True,
    progress: Progress | None = None,
    stop_on_nan: bool = False,
    policy=None,
    distribution=None,
    steps_per_execution: int | None = None,
    with_state: bool = False,
):
    """Builds `epoch(state, x, y, epoch) -> (state, logs)`: one pass of training over `(x, y)`.

    Args:
      apply_fn: `apply(params, x, rng=..., training=...) -> y_pred`, e.g. `model.apply`; with
        `with_state=True`, `apply_with_state(params, model_state, x, rng=..., training=..., sample_mask=...)
        -> (y_pred, model_state)`, e.g. `model.apply_with_state`.
      loss_fn: per-sample loss `(y_true, y_pred) -> [batch, ...]`.
      optimizer: any optax gradient transformation.
      metrics: streaming metrics (`init / update / result`), as `make_train_step`.
      batch_size: samples per step; the last batch of an epoch may be short (it is trained on).
      shuffle: draw a new order each epoch from `(state.rng, epoch)`.
      progress: a host function called about 50 times an epoch (after each chunk with
        `steps_per_execution`) with (batches done, mean loss so far).
      stop_on_nan: skip every step after the first whose loss is NaN or inf (`logs["halted"]`).
      policy: a `mixed_precision.Policy` or name, as `make_train_step`.
      distribution: a `distribution.DataParallel` to split each batch across its devices (padded with
        weight-0 samples to a multiple of the device count), or None for one device. Place `state` with
        `distribution.put_state` and the data with `distribution.put_data` first.
      steps_per_execution: None: `x` and `y` are on the device and the epoch is one compiled program.
        An int k: they are numpy arrays on the host, and each compiled call runs k steps on batches
        copied over as they are needed (for data larger than the device's memory).
      with_state: `apply_fn` takes and returns the model's non-trainable state, carried in
        `state.model_state` (BatchNormalization's moving statistics).

    `x` (an array or a list of arrays) and `y` are whole data sets `[n, ...]`; `logs` holds the epoch's
    mean `loss`, each metric's result by name, and `halted`. The epoch's order and its keys depend only
    on `(state.rng, epoch)` (step i of epoch e uses `training.step_key(state.rng, e, i)`), so any epoch
    can be replayed or resumed.
    """
    metrics = tuple(metrics)
    train_step = make_train_step(apply_fn, loss_fn, optimizer, metrics, policy=policy, with_state=with_state)
    source = make_source(distribution, steps_per_execution)
    spec = train_pass(train_step, metrics, batch_size=batch_size, shuffle=shuffle, stop_on_nan=stop_on_nan,
                      placement=source.placement)
    return source.compile(spec, progress)  # epoch(state, x, y, epoch_index)


def train_pass(train_step, metrics: Sequence, *, batch_size: int, shuffle: bool, stop_on_nan: bool,
               placement) -> Pass:
    """The `Pass` of one training epoch of `train_step` (from `make_train_step`): `make_train_epoch`'s,
    and, vmapped over members, `funcnet.training.members`'."""
    metrics = tuple(metrics)
    width = placement.padded_batch_size(batch_size)

    def prepare(state: TrainState, n: int, epoch_index):
        idx, weight = batch_plan(n, batch_size, shuffle_key(state.rng, epoch_index) if shuffle else None, width)
        # step_key(state.rng, epoch, i) is fold_in(this, i): the epoch's part is drawn once, out of the loop.
        dropout_key = stream_key(state.rng, DROPOUT_STREAM, epoch_index)
        carry = (state, tuple(m.init() for m in metrics), jnp.zeros([]), jnp.zeros([]), jnp.array(False))
        return idx, weight, dropout_key, carry

    def body(dropout_key, carry, batch):
        state, metric_states, loss_sum, seen, halted = carry
        valid = jnp.sum(batch.weight)

        def run(operand):
            state, metric_states = operand
            state, metric_states, total = train_step(
                state, metric_states, batch.x, batch.y, batch.weight, valid,
                jax.random.fold_in(dropout_key, batch.step)
            )
            state = state._replace(params=placement.constrain_state(state.params),
                                   opt_state=placement.constrain_state(state.opt_state),
                                   model_state=placement.constrain_state(state.model_state))
            return state, metric_states, total

        if stop_on_nan:
            def skip(operand):
                return operand[0], operand[1], jnp.zeros([], jnp.float32)

            state, metric_states, total = jax.lax.cond(halted, skip, run, (state, metric_states))
            seen = seen + jnp.where(halted, 0.0, valid)
            halted = halted | ~jnp.isfinite(total)
        else:
            state, metric_states, total = run((state, metric_states))
            seen = seen + valid
        return state, metric_states, loss_sum + total, seen, halted

    def finish(dropout_key, carry, n):
        state, metric_states, loss_sum, seen, halted = carry
        logs = {"loss": loss_sum / jnp.maximum(seen, 1.0)}
        logs.update({m.name: m.result(s) for m, s in zip(metrics, metric_states)})
        logs["halted"] = halted
        return state, logs

    def report(carry):
        return carry[2] / jnp.maximum(carry[3], 1.0)

    return Pass(prepare, body, finish, report)


def make_evaluate(apply_fn, loss_fn, metrics: Sequence = (), *, batch_size: int, policy=None, distribution=None,
                  steps_per_execution: int | None = None, with_state: bool = False):
    """Builds `evaluate(params, x, y, model_state=None) -> logs` (mean `loss` and each metric by name).

    Arguments as `make_train_epoch`; `model_state` is the model's state when `with_state=True`.
    """
    metrics = tuple(metrics)
    eval_step = make_eval_step(apply_fn, loss_fn, metrics, policy=policy, with_state=with_state)
    source = make_source(distribution, steps_per_execution)
    run = source.compile(evaluate_pass(eval_step, metrics, width=source.placement.padded_batch_size(batch_size),
                                       batch_size=batch_size))

    def evaluate(params, x, y, model_state=None):
        return run((params, {} if model_state is None else model_state), x, y)

    return evaluate


def evaluate_pass(eval_step, metrics: Sequence, *, batch_size: int, width: int) -> Pass:
    """The `Pass` of one evaluation with `eval_step` (from `make_eval_step`), started from `(params, model_state)`."""
    metrics = tuple(metrics)

    def prepare(variables, n: int):
        idx, weight = batch_plan(n, batch_size, None, width)
        return idx, weight, variables, (tuple(m.init() for m in metrics), jnp.zeros([]))

    def body(variables, carry, batch):
        params, model_state = variables
        metric_states, loss_sum = carry
        metric_states, total = eval_step(params, metric_states, batch.x, batch.y, batch.weight,
                                         jnp.sum(batch.weight), model_state=model_state)
        return metric_states, loss_sum + total

    def finish(variables, carry, n):
        metric_states, loss_sum = carry
        logs = {"loss": loss_sum / n}
        logs.update({m.name: m.result(s) for m, s in zip(metrics, metric_states)})
        return logs

    return Pass(prepare, body, finish)


def make_predict(apply_fn, *, batch_size: int, policy=None, distribution=None, steps_per_execution: int | None = None,
                 with_state: bool = False):
    """Builds `predict(params, x, model_state=None) -> y_pred` for the whole of `x`, in batches.

    Arguments as `make_train_epoch`. The outputs come back whole (replicated across the devices of a
    distribution); with `steps_per_execution`, as numpy arrays.
    """
    forward = forward_fn(apply_fn, mixed_precision.get(policy), with_state)
    source = make_source(distribution, steps_per_execution)
    run = source.compile(predict_pass(forward, batch_size=batch_size,
                                      width=source.placement.padded_batch_size(batch_size)))

    def predict(params, x, model_state=None):
        n = num_samples(x)
        _, outputs = run((params, {} if model_state is None else model_state), x, None)
        # [steps, width, ...] -> the first batch_size slots of each step (the rest pad), the first n rows
        return jax.tree.map(lambda o: o[:, :batch_size].reshape((-1, *o.shape[2:]))[:n], outputs)

    return predict


def predict_pass(forward, *, batch_size: int, width: int) -> Pass:
    """The collecting `Pass` of a prediction with `forward` (`step.forward_fn`), started from
    `(params, model_state)`."""

    def prepare(variables, n: int):
        idx, weight = batch_plan(n, batch_size, None, width)
        return idx, weight, variables, ()

    def body(variables, carry, batch):
        params, model_state = variables
        return carry, forward(params, model_state, batch.x, training=False)[0]

    def finish(variables, carry, n):
        return None

    return Pass(prepare, body, finish, collects=True)
