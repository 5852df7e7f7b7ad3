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

from funcnet.training.loop import (
    Progress,
    _finish,
    _initial_carry,
    _plan_width,
    _train_body,
    batch_plan,
)
from funcnet.training.state import DROPOUT_STREAM, SHUFFLE_STREAM, TrainState, stream_key
from funcnet.training.step import make_train_step


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
    if isinstance(steps_per_execution, bool) or not isinstance(steps_per_execution, int) or steps_per_execution < 1:
        raise ValueError(f"steps_per_execution must be a positive int; got {steps_per_execution!r}.")
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
            x = jax.tree.map(lambda a: a[j], xs)
            y = ys[j]
            if distribution is not None:
                x, y = distribution.constrain_batch(x), distribution.constrain_batch(y)
            return x, y, weights[j], first_step + j

        body = _train_body(train_step, fetch, dropout_key, stop_on_nan, distribution)
        return jax.lax.fori_loop(0, count, body, carry)  # `count` < chunk_steps only in the last chunk

    finish = jax.jit(lambda carry: _finish(carry, metrics))

    def put(chunk):
        if distribution is None:
            return jax.device_put(chunk)
        sharding = jax.sharding.NamedSharding(distribution.mesh, jax.sharding.PartitionSpec(None, "batch"))
        return jax.device_put(chunk, sharding)

    def epoch(state: TrainState, x, y, epoch_index):
        if distribution is not None and jax.process_count() > 1:
            raise ValueError("steps_per_execution with several processes is not supported; "
                             "leave it None (the data are then gathered onto every device).")
        n = len(y)
        idx, weight, dropout_key = plan(state.rng, epoch_index, n)
        idx, weight = np.asarray(idx), np.asarray(weight)
        steps = idx.shape[0]
        carry = _initial_carry(state, metrics)
        reported, previous = None, None
        for start in range(0, steps, chunk_steps):
            count = min(chunk_steps, steps - start)
            rows = np.zeros((chunk_steps, width), idx.dtype)  # the last chunk is padded; its padding never runs
            rows[:count] = idx[start:start + count]
            w = np.zeros((chunk_steps, width), weight.dtype)
            w[:count] = weight[start:start + count]
            xs = jax.tree.map(lambda a: put(np.asarray(a)[rows]), x)
            ys = put(np.asarray(y)[rows])
            carry = run_chunk(carry, xs, ys, w, np.int32(start), np.int32(count), dropout_key)
            # Double buffering: wait for the chunk before this one, so the host gathers at most one
            # chunk ahead (JAX's dispatch would otherwise let it copy the whole epoch over at once).
            if previous is not None:
                jax.block_until_ready(previous)
            previous = carry[2]
            if progress is not None:
                # Report the chunk before this one: by now it has finished, so asking waits for nothing
                # and the device keeps working on the chunk just dispatched.
                if reported is not None:
                    progress(*reported)
                reported = (start + count, carry[2] / jnp.maximum(carry[3], 1.0))
        if progress is not None and reported is not None:
            progress(*reported)
        return finish(carry)

    return epoch
