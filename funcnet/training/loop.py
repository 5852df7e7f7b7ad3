"""Whole epochs as single compiled programs: `lax.scan` over batches of device-resident data.

The data stay on the device; each epoch draws its order on the device from the run's key and the
epoch number, gathers each batch by index, and pads the last, short batch with weight-0 samples so
every step has one shape. No Python runs per step, and nothing returns to the host until the epoch ends.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import jax
import jax.numpy as jnp

from funcnet.training.state import DROPOUT_STREAM, SHUFFLE_STREAM, TrainState, stream_key
from funcnet import mixed_precision
from funcnet.training.step import _forward, make_eval_step, make_train_step

Progress = Callable[[int, float], None]  # (batches done, running mean loss) -> None, on the host


def batch_plan(n: int, batch_size: int, key: jax.Array | None = None, width: int | None = None):
    """Sample indices and weights for one pass over `n` samples: `idx, weight` of shape `[steps, width]`.

    With a `key` the order is a random permutation, else the natural order. Each row holds the
    `batch_size` samples of one step, then `width - batch_size` padding slots (index 0, weight 0): a
    data-parallel run pads its batches to a multiple of the device count. The last batch is padded
    the same way when `batch_size` does not divide `n`. `width` defaults to `batch_size`.
    """
    width = batch_size if width is None else width
    if width < batch_size:
        raise ValueError(f"batch_plan: width {width} is smaller than batch_size {batch_size}.")
    steps = math.ceil(n / batch_size)
    order = jax.random.permutation(key, n) if key is not None else jnp.arange(n)
    pad = steps * batch_size - n
    idx = jnp.concatenate([order.astype(jnp.int32), jnp.zeros(pad, jnp.int32)]).reshape(steps, batch_size)
    weight = (jnp.arange(steps * batch_size) < n).astype(jnp.float32).reshape(steps, batch_size)
    if width > batch_size:
        idx = jnp.pad(idx, ((0, 0), (0, width - batch_size)))
        weight = jnp.pad(weight, ((0, 0), (0, width - batch_size)))
    return idx, weight


def _plan_width(batch_size: int, distribution) -> int:
    return batch_size if distribution is None else distribution.padded_batch_size(batch_size)


def _batch(tree, idx, distribution):
    """The samples `idx` of every array in `tree`; split across the devices under a distribution."""
    if distribution is None:
        return _take(tree, idx)
    # Split the indices first, so each device gathers only its own rows (not the whole batch).
    return distribution.constrain_batch(_take(tree, distribution.constrain_batch(idx)))


def _take(tree, idx):
    return jax.tree.map(lambda a: jnp.take(a, idx, axis=0), tree)


def _num_samples(tree) -> int:
    return jax.tree.leaves(tree)[0].shape[0]


def _report_every(steps: int) -> int:
    return max(1, steps // 50)  # about 50 updates of a progress bar per epoch


def _initial_carry(state: TrainState, metrics: tuple):
    """(state, metric states, sum of losses, samples seen, halted): what an epoch carries step to step."""
    return state, tuple(m.init() for m in metrics), jnp.zeros([]), jnp.zeros([]), jnp.array(False)


def _finish(carry, metrics: tuple):
    """`(state, logs)` at the end of an epoch: the mean loss, each metric's result, and `halted`."""
    state, metric_states, loss_sum, seen, halted = carry
    logs = {"loss": loss_sum / jnp.maximum(seen, 1.0)}
    logs.update({m.name: m.result(s) for m, s in zip(metrics, metric_states)})
    logs["halted"] = halted
    return state, logs


def _train_body(train_step, fetch, dropout_key, stop_on_nan: bool, distribution):
    """The `fori_loop` body of an epoch: step `i` trains on `fetch(i) -> (x, y, weight, step_index)`.

    `step_index` (the step's number within the epoch) keys its dropout: `fold_in(dropout_key, step_index)`.
    With `stop_on_nan`, every step after the first whose loss is not finite is skipped.
    """

    def body(i, carry):
        state, metric_states, loss_sum, seen, halted = carry
        x, y, batch_weight, step_index = fetch(i)
        valid = jnp.sum(batch_weight)
        if distribution is not None:
            batch_weight = distribution.constrain_batch(batch_weight)

        def run(operand):
            state, metric_states = operand
            state, metric_states, total = train_step(
                state, metric_states, x, y, batch_weight, valid, jax.random.fold_in(dropout_key, step_index)
            )
            if distribution is not None:
                state = state._replace(params=distribution.constrain_state(state.params),
                                       opt_state=distribution.constrain_state(state.opt_state))
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

    return body


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
):
    """Builds `epoch(state, x, y, epoch) -> (state, logs)`, one compiled program per data shape.

    Args:
      apply_fn: `apply(params, x, rng=..., training=...) -> y_pred`, e.g. `model.apply`.
      loss_fn: per-sample loss `(y_true, y_pred) -> [batch, ...]`.
      optimizer: any optax gradient transformation.
      metrics: streaming metrics (`init / update / result`), as `make_train_step`.
      batch_size: samples per step; the last batch of an epoch may be short (it is trained on).
      shuffle: draw a new order each epoch from `(state.rng, epoch)`.
      progress: a host function called about 50 times an epoch with (batches done, mean loss so far).
      stop_on_nan: skip every step after the first whose loss is NaN or inf (`logs["halted"]`).
      policy: a `mixed_precision.Policy` or name, as `make_train_step`.
      distribution: a `distribution.DataParallel` to split each batch across its devices (padded with
        weight-0 samples to a multiple of the device count). Place `state` with
        `distribution.put_state` and the data with `distribution.put_data` first.

    `x` (an array or a list of arrays) and `y` are whole data sets `[n, ...]` on the device; `logs`
    holds the epoch's mean `loss`, each metric's result by name, and `halted`. The epoch's order and
    its dropout keys depend only on `(state.rng, epoch)`, so any epoch can be replayed or resumed.
    """
    metrics = tuple(metrics)
    train_step = make_train_step(apply_fn, loss_fn, optimizer, metrics, policy=policy)
    width = _plan_width(batch_size, distribution)

    @jax.jit
    def epoch(state: TrainState, x, y, epoch_index):
        n = _num_samples(y)
        key = stream_key(state.rng, SHUFFLE_STREAM, epoch_index) if shuffle else None
        dropout_key = stream_key(state.rng, DROPOUT_STREAM, epoch_index)
        idx, weight = batch_plan(n, batch_size, key, width)
        steps = idx.shape[0]

        def fetch(i):
            batch_idx = idx[i]
            return _batch(x, batch_idx, distribution), _batch(y, batch_idx, distribution), weight[i], i

        body = _train_body(train_step, fetch, dropout_key, stop_on_nan, distribution)
        carry = _initial_carry(state, metrics)
        if progress is None:
            carry = jax.lax.fori_loop(0, steps, body, carry)
        else:
            # Steps run in chunks, the host hears after each: no per-step branch in the loop body.
            every = _report_every(steps)

            def chunk(c, carry):
                end = jnp.minimum((c + 1) * every, steps)
                carry = jax.lax.fori_loop(c * every, end, body, carry)
                jax.debug.callback(progress, end, carry[2] / jnp.maximum(carry[3], 1.0))
                return carry

            carry = jax.lax.fori_loop(0, -(-steps // every), chunk, carry)
        return _finish(carry, metrics)

    return epoch


def make_evaluate(apply_fn, loss_fn, metrics: Sequence = (), *, batch_size: int, policy=None, distribution=None):
    """Builds `evaluate(params, x, y) -> logs` (mean `loss` and each metric), one compiled scan.

    `policy` and `distribution` as in `make_train_epoch`.
    """
    metrics = tuple(metrics)
    eval_step = make_eval_step(apply_fn, loss_fn, metrics, policy=policy)
    width = _plan_width(batch_size, distribution)

    @jax.jit
    def evaluate(params, x, y):
        idx, weight = batch_plan(_num_samples(y), batch_size, None, width)

        def body(carry, batch):
            batch_idx, batch_weight = batch
            x_batch, y_batch = _batch(x, batch_idx, distribution), _batch(y, batch_idx, distribution)
            return _eval_update(eval_step, params, carry, x_batch, y_batch, batch_weight, distribution), None

        carry, _ = jax.lax.scan(body, _eval_carry(metrics), (idx, weight))
        return _eval_logs(carry, metrics, _num_samples(y))

    return evaluate


def _eval_carry(metrics: tuple):
    """(metric states, sum of losses): what an evaluation carries from batch to batch."""
    return tuple(m.init() for m in metrics), jnp.zeros([])


def _eval_update(eval_step, params, carry, x, y, weight, distribution):
    """`carry` after one batch (`x`, `y` already gathered; `weight` 0 marks padding)."""
    metric_states, loss_sum = carry
    valid = jnp.sum(weight)
    if distribution is not None:
        weight = distribution.constrain_batch(weight)
    metric_states, total = eval_step(params, metric_states, x, y, weight, valid)
    return metric_states, loss_sum + total


def _eval_logs(carry, metrics: tuple, n):
    """The mean `loss` over `n` samples and each metric's result."""
    metric_states, loss_sum = carry
    logs = {"loss": loss_sum / n}
    logs.update({m.name: m.result(s) for m, s in zip(metrics, metric_states)})
    return logs


def make_predict(apply_fn, *, batch_size: int, policy=None, distribution=None):
    """Builds `predict(params, x) -> y_pred` for the whole of `x`, in batches, one compiled program.

    `policy` and `distribution` as in `make_train_epoch`; the outputs come back replicated.
    """
    forward = _forward(apply_fn, mixed_precision.get(policy))
    width = _plan_width(batch_size, distribution)

    @jax.jit
    def predict(params, x):
        n = _num_samples(x)
        idx, _ = batch_plan(n, batch_size, None, width)
        outputs = jax.lax.map(lambda batch_idx: forward(params, _batch(x, batch_idx, distribution), training=False), idx)
        outputs = jax.tree.map(lambda o: o[:, :batch_size].reshape((-1, *o.shape[2:]))[:n], outputs)
        if distribution is not None:
            outputs = jax.lax.with_sharding_constraint(outputs, jax.tree.map(lambda _: distribution.replicated, outputs))
        return outputs

    return predict
