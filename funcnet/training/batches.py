"""Where a pass's batches come from: the device (one compiled program a pass) or the host (compiled chunks).

A *pass* over a data set (a training epoch, an evaluation, a prediction) is described once, as a
`Pass`: how it starts from its inputs and the batch plan (`prepare`), what one step does to the carry
(`body`), and what it returns at the end (`finish`). A batch source runs it:

- `DeviceBatches`: the data sit on the device whole; the pass is one compiled program that draws the
  plan, gathers each batch by index and loops over every step (`lax.fori_loop`). Nothing returns to the
  host until the pass ends but the progress reports.
- `HostBatches(steps_per_execution=k)`: the data stay on the host; each call of a compiled chunk runs `k`
  steps on batches the host gathers in the plan's order and copies over, one chunk ahead of the device
  (JAX dispatches asynchronously). The device holds the model and one or two chunks.

Both run the same steps on the same batches in the same order with the same keys, so they train the
same model up to float rounding (XLA may fuse the two programs differently; each is deterministic).
Every batch is split across the devices of the pass's placement (`funcnet.distribution`).
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from funcnet import _zero_copy
from funcnet import distribution as _distribution
from funcnet._checks import positive_count

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


class Batch(NamedTuple):
    """One step's batch inside a compiled pass: inputs, labels (None when predicting), the weight of each
    sample (`[width]`, 0 for padding) and the step's index within the pass."""

    x: Any
    y: Any
    weight: jax.Array
    step: jax.Array


@dataclasses.dataclass(frozen=True)
class Pass:
    """One pass over a data set, independent of where its batches come from.

    A source runs it as `run(start, x, y, *args)` (`y` None when predicting), `n` the number of samples.

    prepare(start, n, *args) -> (idx, weight, context, carry): the batch plan (`[steps, width]`), values
        every step reads (a key, the params) and the first carry; traced inside the compiled program.
    body(context, carry, batch) -> carry, or (carry, output) when `collects`: one step.
    finish(context, carry, n) -> result, from the last carry.
    report(carry) -> the running mean loss, for `progress`; None if the pass reports nothing.
    collects: the body emits one output per step (`predict`); the source returns them stacked
        `[steps, width, ...]` beside the result.
    """

    prepare: Callable
    body: Callable
    finish: Callable
    report: Callable | None = None
    collects: bool = False


def num_samples(tree) -> int:
    return jax.tree.leaves(tree, is_leaf=_zero_copy.is_rows)[0].shape[0]


def _report_every(steps: int) -> int:
    return max(1, steps // 50)  # about 50 updates of a progress bar per pass


class DeviceBatches:
    """Batches gathered on the device from data placed there whole: a pass is one compiled program."""

    def __init__(self, placement):
        self.placement = placement

    def put_data(self, tree):
        """The data, whole on every device of the placement."""
        return self.placement.put_data(tree)

    def compile(self, spec: Pass, progress: Progress | None = None):
        """`run(start, x, y, *args) -> result` (`(result, outputs)` for a collecting pass), jitted."""
        placement = self.placement

        @jax.jit
        def run(start, x, y, *args):
            data = (x, y)
            n = num_samples(x)
            idx, weight, context, carry = spec.prepare(start, n, *args)
            steps = idx.shape[0]

            def batch(i):
                rows = placement.constrain_batch(idx[i])  # split first: each device gathers only its rows
                x, y = (placement.constrain_batch(_take(part, rows)) for part in data)
                return Batch(x, y, placement.constrain_batch(weight[i]), i)

            if spec.collects:
                carry, outputs = jax.lax.scan(lambda c, i: spec.body(context, c, batch(i)), carry, jnp.arange(steps))
                return spec.finish(context, carry, n), placement.replicate(outputs)

            def step(i, carry):
                return spec.body(context, carry, batch(i))

            report = spec.report
            if progress is None or report is None:
                carry = jax.lax.fori_loop(0, steps, step, carry)
            else:
                # Steps run in chunks, the host hears after each: no per-step branch in the loop body.
                every = _report_every(steps)

                def chunk(c, carry):
                    end = jnp.minimum((c + 1) * every, steps)
                    carry = jax.lax.fori_loop(c * every, end, step, carry)
                    jax.debug.callback(progress, end, report(carry))
                    return carry

                carry = jax.lax.fori_loop(0, -(-steps // every), chunk, carry)
            return spec.finish(context, carry, n)

        return run


class HostBatches:
    """Batches gathered on the host and copied over a chunk of `steps_per_execution` steps at a time."""

    def __init__(self, placement, steps_per_execution: int):
        self.placement = placement
        self.steps_per_execution = positive_count(steps_per_execution, "steps_per_execution")

    def put_data(self, tree):
        """The data stay on the host, as numpy arrays."""
        return jax.tree.map(np.asarray, tree)

    def compile(self, spec: Pass, progress: Progress | None = None):
        """`run(start, x, y, *args) -> result`: a host loop over compiled chunks."""
        placement, chunk_steps = self.placement, self.steps_per_execution
        put = placement.chunk_putter()

        prepare = jax.jit(spec.prepare, static_argnums=1)
        finish = jax.jit(spec.finish, static_argnums=2)

        def batch(chunk, weights, first, j):
            x, y = (placement.constrain_batch(jax.tree.map(lambda a: a[j], part)) for part in chunk)
            return Batch(x, y, placement.constrain_batch(weights[j]), first + j)

        @jax.jit
        def run_chunk(context, carry, chunk, weights, first, count):
            if spec.collects:  # every row runs (the padding rows' outputs are dropped): no state changes
                return jax.lax.scan(lambda c, j: spec.body(context, c, batch(chunk, weights, first, j)), carry,
                                    jnp.arange(chunk_steps))

            def step(j, carry):
                return spec.body(context, carry, batch(chunk, weights, first, j))

            return jax.lax.fori_loop(0, count, step, carry)  # `count` < chunk_steps only in the last chunk

        def run(start, x, y, *args):
            if jax.process_count() > 1 and placement.num_devices > 1:
                raise ValueError("steps_per_execution with several processes is not supported; leave it None "
                                 "(the data are then gathered onto every device).")
            data = (x, y)
            n = num_samples(x)
            idx, weight, context, carry = prepare(start, n, *args)
            pieces, reported, previous = [], None, None
            for first, count, rows, w in _chunks(idx, weight, chunk_steps):
                chunk = jax.tree.map(lambda a, rows=rows: put(np.asarray(a)[rows]), data)
                result = run_chunk(context, carry, chunk, w, np.int32(first), np.int32(count))
                if spec.collects:
                    carry, outputs = result
                    pieces.append((outputs, count))
                else:
                    carry = result
                # Wait for the chunk before this one: the host gathers at most one chunk ahead (JAX's
                # asynchronous dispatch would otherwise let it copy the whole data set over at once).
                if previous is not None:
                    jax.block_until_ready(previous)
                previous = result
                if progress is not None and spec.report is not None:
                    # Report the chunk before this one: it has finished, so asking waits for nothing.
                    if reported is not None:
                        progress(*reported)
                    reported = (first + count, spec.report(carry))
            if progress is not None and reported is not None:
                progress(*reported)
            result = finish(context, carry, n)
            if not spec.collects:
                return result
            stacked = jax.tree.map(lambda *parts: np.concatenate(parts),
                                   *[jax.tree.map(lambda o, c=c: np.asarray(o)[:c], out) for out, c in pieces])
            return result, stacked

        return run


def make_source(distribution=None, steps_per_execution: int | None = None):
    """The batch source of a pass: `DeviceBatches` by default, `HostBatches` with `steps_per_execution`."""
    placement = _distribution.as_placement(distribution)
    if steps_per_execution is None:
        return DeviceBatches(placement)
    return HostBatches(placement, steps_per_execution)


def _take(tree, idx):
    return jax.tree.map(lambda a: a.take(idx) if _zero_copy.is_rows(a) else jnp.take(a, idx, axis=0), tree,
                        is_leaf=_zero_copy.is_rows)


def _chunks(idx, weight, chunk_steps: int):
    """`(first step, steps, rows, weights)` per chunk of a batch plan, on the host; `rows` and `weights`
    are padded to `chunk_steps` rows, so every chunk has one shape (the padding rows are never trained on)."""
    idx, weight = np.asarray(idx), np.asarray(weight)
    steps, width = idx.shape
    for first in range(0, steps, chunk_steps):
        count = min(chunk_steps, steps - first)
        rows = np.zeros((chunk_steps, width), idx.dtype)
        rows[:count] = idx[first:first + count]
        w = np.zeros((chunk_steps, width), weight.dtype)
        w[:count] = weight[first:first + count]
        yield first, count, rows, w

