"""Sliding windows over the spatial axes of channels_last arrays: what convolution and pooling share.

A window of `k` taps with stride `s` and dilation `d` over an axis of size `n`, padded as Keras pads:

    valid:   no padding;                       out = floor((n - d*(k-1) - 1) / s) + 1
    same:    zeros (or the reduction's identity) split as TensorFlow splits them, the extra one after;
             out = ceil(n / s)
    causal:  all the padding before (1-D convolutions); out = ceil(n / s)

Both convolution and pooling are written as sums or maxima of *shifted strided slices* of the padded
input, one slice per tap, rather than as `lax.conv_general_dilated` and `lax.reduce_window`. On XLA's CPU
backend that is several times faster, in training most of all: the kernel gradient of a native
convolution inside the compiled epoch's loop runs ~9x slower than alone, and `reduce_window`'s gradient
(`select_and_scatter`) ~15x slower than the gradient of a max of slices (`benchmarks/conv_ops.py`). A
slice's gradient is a pad, so the backward pass is the same few fused ops. Values are the same up to
the order of float sums; at exact ties a max of slices splits the gradient between the tied entries,
where `reduce_window` gives it all to one (both are gradients of the same function).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp

PADDINGS = ("valid", "same", "causal")


class AxisWindow(NamedTuple):
    """One spatial axis: the window's taps, stride and dilation, and the padding that gives `out`."""

    taps: int
    stride: int
    dilation: int
    before: int
    after: int
    out: int | None


def axis_window(size: int | None, taps: int, stride: int, dilation: int, padding: str) -> AxisWindow:
    """The window over an axis of `size` (None: unknown, `out` None too; `before`/`after` then 0)."""
    span = dilation * (taps - 1) + 1
    if size is None:
        return AxisWindow(taps, stride, dilation, 0, 0, None)
    if padding == "valid":
        return AxisWindow(taps, stride, dilation, 0, 0, (size - span) // stride + 1)
    out = -(-size // stride)
    total = max((out - 1) * stride + span - size, 0)
    before = total if padding == "causal" else total // 2
    return AxisWindow(taps, stride, dilation, before, total - before, out)


def windows(sizes: Sequence[int | None], taps, strides, dilations, padding: str) -> tuple[AxisWindow, ...]:
    return tuple(axis_window(n, k, s, d, padding) for n, k, s, d in zip(sizes, taps, strides, dilations))


def _pad(x: jax.Array, wins: Sequence[AxisWindow], value) -> jax.Array:
    if not any(w.before or w.after for w in wins):
        return x
    widths = [(0, 0), *((w.before, w.after) for w in wins), (0, 0)]
    return jnp.pad(x, widths, constant_values=value)


def _tap(x: jax.Array, axis: int, w: AxisWindow, t: int) -> jax.Array:
    """The slice of (padded) `x` that tap `t` of window `w` sees along `axis`, one entry per output."""
    start = t * w.dilation
    return jax.lax.slice_in_dim(x, start, start + (_known_out(w) - 1) * w.stride + 1, w.stride, axis)


def _known_out(w: AxisWindow) -> int:
    if w.out is None:
        raise ValueError("a window over an axis of unknown size has no output size; pass arrays, not shapes")
    return w.out


def patches(x: jax.Array, wins: Sequence[AxisWindow]) -> jax.Array:
    """`[batch, *out, taps..., channels]` flattened to `[batch, *out, prod(taps) * channels]`: every
    window's inputs side by side, taps in row-major order (the layout of a `[*taps, in, out]` kernel)."""
    x = _pad(x, wins, 0)
    slices = [x]
    for axis, w in enumerate(wins, start=1):
        slices = [_tap(s, axis, w, t) for s in slices for t in range(w.taps)]
    return slices[0] if len(slices) == 1 else jnp.concatenate(slices, axis=-1)


def reduce(x: jax.Array, wins: Sequence[AxisWindow], op: str) -> jax.Array:
    """The max (`op="max"`) or sum (`"sum"`) of every window, one axis at a time (windows are boxes)."""
    combine, fill = (jnp.maximum, -jnp.inf) if op == "max" else (jnp.add, 0)
    x = _pad(x, wins, fill)
    for axis, w in enumerate(wins, start=1):
        out = _tap(x, axis, w, 0)
        for t in range(1, w.taps):
            out = combine(out, _tap(x, axis, w, t))
        x = out
    return x


def valid_counts(sizes: Sequence[int], wins: Sequence[AxisWindow], dtype) -> jax.Array:
    """How many real (unpadded) entries each window holds, shaped `[1, *out, 1]` to divide a window sum."""
    counts = jnp.ones((1,) * (len(wins) + 2), dtype)
    for axis, (size, w) in enumerate(zip(sizes, wins)):
        ones = jnp.pad(jnp.ones(size, dtype), (w.before, w.after))
        per_axis = _tap(ones, 0, w, 0)
        for t in range(1, w.taps):
            per_axis = per_axis + _tap(ones, 0, w, t)
        shape = [1] * (len(wins) + 2)
        shape[axis + 1] = per_axis.shape[0]
        counts = counts * per_axis.reshape(shape)
    return counts


def patch_elements(batch: int, wins: Sequence[AxisWindow], channels: int) -> int:
    """The number of entries `patches` makes: the memory the slice formulation of a convolution needs."""
    return batch * math.prod(_known_out(w) for w in wins) * math.prod(w.taps for w in wins) * channels
