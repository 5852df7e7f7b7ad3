"""Epochs over data that stay on the host: compiled chunks of `steps_per_execution` steps.

`make_train_epoch` puts the whole data set on the device and runs the epoch as one program. That is
the fastest way when the data fit beside the model; when they do not (a GPU's memory), or when the
second copy matters (on a CPU the "device" copy is a second copy in the same RAM), the data can stay
where they are: each call of the compiled chunk runs `steps_per_execution` steps on batches that the
host gathers, in the epoch's order, and copies over. The next chunk is gathered while the device runs
the current one (JAX dispatches asynchronously). The batches, their order and their dropout keys are
those of `make_train_epoch`, so the two train the same model, up to float rounding (XLA may fuse the
two programs differently; each mode on its own is deterministic).
"""
from __future__ import annotations

import functools
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from funcnet import mixed_precision
from funcnet._checks import positive_count
from funcnet.distribution import BATCH_AXIS
from funcnet.training.loop import (
    Progress,
    _eval_carry,
    _eval_logs,
    _eval_update,
    _finish,
    _initial_carry,
    _plan_width,
    _train_body,
    batch_plan,
)
from funcnet.training.state import DROPOUT_STREAM, SHUFFLE_STREAM, TrainState, stream_key
from funcnet.training.step import _forward, make_eval_step, make_train_step


def make_streamed_epoch(
    apply_fn,
    loss_fn,
    optimizer,
    metrics: Sequence = (),
    *,
    batch_size: int,
    steps_per_execution: int,
    shuffle: bool = True,
    progress: Progress | None = None,
    stop_on_nan: bool = False,
    policy=None,
    distribution=None,
):
    """Builds `epoch(state, x, y, epoch) -> (state, logs)` for data held on the host (numpy arrays).

    Arguments as `make_train_epoch`, plus `steps_per_execution`: the steps one compiled call runs. The
    device holds the model, the optimizer state and one chunk of `steps_per_execution * batch_size`
    samples (two while the next is copied). `progress` hears after each chunk. With a `distribution`
    (one process only) each chunk's batches are split across its devices.
    """
    positive_count(steps_per_execution, "steps_per_execution")
    metrics = tuple(metrics)
    train_step = make_train_step(apply_fn, loss_fn, optimizer, metrics, policy=policy)
    width = _plan_width(batch_size, distribution)
    chunk_steps = steps_per_execution

    @functools.partial(jax.jit, static_argnums=2)
    def plan(rng, epoch_index, n: int):
        key = stream_key(rng, SHUFFLE_STREAM, epoch_index) if shuffle else None
        idx, weight = batch_plan(n, batch_size, key, width)
        return idx, weight, stream_key(rng, DROPOUT_STREAM, epoch_index)

    @jax.jit
    def run_chunk(carry, xs, ys, weights, first_step, count, dropout_key):
        def fetch(j):
            return (*_chunk_batch(xs, ys, j, distribution), weights[j], first_step + j)

        body = _train_body(train_step, fetch, dropout_key, stop_on_nan, distribution)
        return jax.lax.fori_loop(0, count, body, carry)  # `count` < chunk_steps only in the last chunk

    finish = jax.jit(lambda carry: _finish(carry, metrics))

    put = _placer(distribution)

    def epoch(state: TrainState, x, y, epoch_index):
        _check_one_process(distribution)
        idx, weight, dropout_key = plan(state.rng, epoch_index, len(y))
        carry = _initial_carry(state, metrics)
        reported, wait = None, _DoubleBuffer()
        for start, count, rows, w in _chunks(idx, weight, chunk_steps):
            xs, ys = _gather(x, rows, put), _gather(y, rows, put)
            carry = run_chunk(carry, xs, ys, w, np.int32(start), np.int32(count), dropout_key)
            wait(carry[2])
            if progress is not None:
                # Report the chunk before this one: it has finished, so asking waits for nothing
                # and the device keeps working on the chunk just dispatched.
                if reported is not None:
                    progress(*reported)
                reported = (start + count, carry[2] / jnp.maximum(carry[3], 1.0))
        if progress is not None and reported is not None:
            progress(*reported)
        return finish(carry)

    return epoch


def make_streamed_evaluate(apply_fn, loss_fn, metrics: Sequence = (), *, batch_size: int, steps_per_execution: int,
                           policy=None, distribution=None):
    """`make_evaluate` for data held on the host: `evaluate(params, x, y) -> logs`, in compiled chunks."""
    positive_count(steps_per_execution, "steps_per_execution")
    metrics = tuple(metrics)
    eval_step = make_eval_step(apply_fn, loss_fn, metrics, policy=policy)
    width = _plan_width(batch_size, distribution)
    put = _placer(distribution)

    @jax.jit
    def run_chunk(params, carry, xs, ys, weights, count):
        def body(j, carry):
            x, y = _chunk_batch(xs, ys, j, distribution)
            return _eval_update(eval_step, params, carry, x, y, weights[j], distribution)

        return jax.lax.fori_loop(0, count, body, carry)

    finish = jax.jit(lambda carry, n: _eval_logs(carry, metrics, n))

    def evaluate(params, x, y):
        _check_one_process(distribution)
        n = len(y)
        idx, weight = batch_plan(n, batch_size, None, width)
        carry, wait = _eval_carry(metrics), _DoubleBuffer()
        for _, count, rows, w in _chunks(idx, weight, steps_per_execution):
            carry = run_chunk(params, carry, _gather(x, rows, put), _gather(y, rows, put), w, np.int32(count))
            wait(carry[1])
        return finish(carry, np.float32(n))

    return evaluate


def make_streamed_predict(apply_fn, *, batch_size: int, steps_per_execution: int, policy=None, distribution=None):
    """`make_predict` for data held on the host: `predict(params, x) -> y_pred` (numpy), in compiled chunks."""
    positive_count(steps_per_execution, "steps_per_execution")
    forward = _forward(apply_fn, mixed_precision.get(policy))
    width = _plan_width(batch_size, distribution)
    put = _placer(distribution)

    @jax.jit
    def run_chunk(params, xs):
        def one(x):
            if distribution is not None:
                x = distribution.constrain_batch(x)
            return forward(params, x, training=False)

        return jax.lax.map(one, xs)

    def predict(params, x):
        _check_one_process(distribution)
        n = len(jax.tree.leaves(x)[0])
        idx, weight = batch_plan(n, batch_size, None, width)
        pieces, wait = [], _DoubleBuffer()
        for _, count, rows, _w in _chunks(idx, weight, steps_per_execution):
            out = run_chunk(params, _gather(x, rows, put))
            wait(out)
            pieces.append((out, count))
        host = [jax.tree.map(lambda o, c=count: np.asarray(o)[:c, :batch_size].reshape(-1, *o.shape[2:]), out)
                for out, count in pieces]
        return jax.tree.map(lambda *parts: np.concatenate(parts)[:n], *host)

    return predict


def _chunk_batch(xs, ys, j, distribution):
    """Batch `j` of a chunk `[steps, batch, ...]` (inputs and labels), split across the devices."""
    x, y = jax.tree.map(lambda a: a[j], xs), ys[j]
    if distribution is not None:
        x, y = distribution.constrain_batch(x), distribution.constrain_batch(y)
    return x, y


def _check_one_process(distribution) -> None:
    if distribution is not None and jax.process_count() > 1:
        raise ValueError("steps_per_execution with several processes is not supported; leave it None "
                         "(the data are then gathered onto every device).")


def _placer(distribution):
    """Puts a chunk `[steps, batch, ...]` on the device(s): split along the batch axis under a distribution."""
    if distribution is None:
        return jax.device_put
    sharding = jax.sharding.NamedSharding(distribution.mesh, jax.sharding.PartitionSpec(None, BATCH_AXIS))
    return lambda chunk: jax.device_put(chunk, sharding)


def _chunks(idx, weight, chunk_steps: int):
    """`(first step, steps, rows, weights)` per chunk of a batch plan, on the host; `rows` and `weights`
    are padded to `chunk_steps` rows, so every chunk has one shape (the padding is never run)."""
    idx, weight = np.asarray(idx), np.asarray(weight)
    steps, width = idx.shape
    for start in range(0, steps, chunk_steps):
        count = min(chunk_steps, steps - start)
        rows = np.zeros((chunk_steps, width), idx.dtype)
        rows[:count] = idx[start:start + count]
        w = np.zeros((chunk_steps, width), weight.dtype)
        w[:count] = weight[start:start + count]
        yield start, count, rows, w


def _gather(tree, rows, put):
    """The samples `rows` (`[steps, batch]` indices) of every host array in `tree`, put on the device."""
    return jax.tree.map(lambda a: put(np.asarray(a)[rows]), tree)


class _DoubleBuffer:
    """Called with each chunk's result just after dispatching it: waits for the chunk before, so the
    host gathers at most one chunk ahead (JAX's asynchronous dispatch would otherwise let it copy the
    whole data set over at once)."""

    def __init__(self):
        self.previous = None

    def __call__(self, result) -> None:
        if self.previous is not None:
            jax.block_until_ready(self.previous)
        self.previous = result
