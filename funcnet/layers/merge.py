"""Layers that merge a list of tensors: Concatenate and the elementwise Add, Subtract, Multiply,
Average, Maximum, Minimum."""
from __future__ import annotations

import functools
import numbers
from collections.abc import Callable

import jax
import jax.numpy as jnp

from funcnet._checks import as_array, format_shape
from funcnet.layers._base import Layer


class _Merge(Layer):
    takes_list = True
    supports_masking = True
    min_inputs = 2
    max_inputs: int | None = None

    def compute_mask(self, x, mask):
        """Keras 3's rule: the steps any input keeps (the OR of the masks) when every input is masked,
        else no mask."""
        if mask is None or any(m is None for m in mask):
            return None
        return functools.reduce(jnp.logical_or, mask)

    def _check_count(self, n: int) -> None:
        if n < self.min_inputs or (self.max_inputs is not None and n > self.max_inputs):
            bound = "exactly" if self.max_inputs == self.min_inputs else "at least"
            expected = f"{bound} {self.min_inputs}"
            raise ValueError(f"{self.describe()} merges {expected} tensors; got {n}.")

    def _inputs(self, x) -> list:
        if not isinstance(x, (list, tuple)):
            raise TypeError(f"{self.describe()} takes a list of arrays; got {type(x).__name__}.")
        self._check_count(len(x))
        arrays = [as_array(a, f"{self.describe()}: input {i}") for i, a in enumerate(x)]
        if not all(jnp.issubdtype(a.dtype, jnp.floating) for a in arrays):  # integer ids would overflow
            arrays = [a.astype(jnp.float32) if not jnp.issubdtype(a.dtype, jnp.floating) else a for a in arrays]
        self.compute_output_shape([a.shape for a in arrays])
        return arrays


class _Elementwise(_Merge):
    """Inputs of one shape in, one array of that shape out."""

    def compute_output_shape(self, input_shape):
        if not isinstance(input_shape, list):
            raise ValueError(f"{self.describe()} takes a list of input shapes; got {format_shape(input_shape)}.")
        self._check_count(len(input_shape))
        first = tuple(input_shape[0])
        for shape in input_shape[1:]:
            if len(shape) != len(first) or any(
                a is not None and b is not None and a != b for a, b in zip(first[1:], tuple(shape)[1:])
            ):
                raise ValueError(
                    f"{self.describe()} needs inputs of one shape; got {format_shape([tuple(s) for s in input_shape])}."
                )
        return first

    def combine(self, arrays):
        raise NotImplementedError

    def call(self, params, x, rng, training):
        return self.combine(self._inputs(x))


class Add(_Elementwise):
    """`y = x_1 + x_2 + ...` for inputs of one shape."""

    def combine(self, arrays):
        return functools.reduce(jnp.add, arrays)


class Subtract(_Elementwise):
    """`y = x_1 - x_2` for two inputs of one shape."""

    max_inputs = 2

    def combine(self, arrays):
        return arrays[0] - arrays[1]


def _broadcast_masks(arrays, mask) -> list:
    """Each input's mask broadcast to its shape (None where it has none)."""
    if mask is None:
        return [None] * len(arrays)
    return [None if m is None else jnp.broadcast_to(jnp.asarray(m).reshape(m.shape + (1,) * (a.ndim - m.ndim)), a.shape)
            for a, m in zip(arrays, mask)]


class Multiply(_Elementwise):
    """`y = x_1 * x_2 * ...` elementwise. With masks, as Keras: a masked entry counts as 1, and when
    every input is masked the output is 0 where no input keeps the step."""

    def combine(self, arrays):
        return functools.reduce(jnp.multiply, arrays)

    def call_with_state(self, params, state, x, rng, training, sample_mask, mask=None):
        arrays = self._inputs(x)
        masks = _broadcast_masks(arrays, mask)
        arrays = [a if m is None else jnp.where(m, a, jnp.ones_like(a)) for a, m in zip(arrays, masks)]
        y = self.combine(arrays)
        if all(m is not None for m in masks):
            y = jnp.where(functools.reduce(jnp.logical_or, masks), y, jnp.zeros_like(y))
        return y, state


class Average(_Elementwise):
    """`y = (x_1 + ... + x_n) / n` elementwise."""

    def combine(self, arrays):
        return functools.reduce(jnp.add, arrays) / len(arrays)


class _Extremum(_Elementwise):
    """With masks, as Keras: a masked entry takes the other operand's value, so an entry only one input
    keeps is that input's."""

    op: Callable[[jax.Array, jax.Array], jax.Array]

    def combine(self, arrays):
        return functools.reduce(type(self).op, arrays)

    def call_with_state(self, params, state, x, rng, training, sample_mask, mask=None):
        arrays = self._inputs(x)
        masks = _broadcast_masks(arrays, mask)
        y, y_mask = arrays[0], masks[0]
        for a, m in zip(arrays[1:], masks[1:]):
            if m is not None:
                a = jnp.where(m, a, y)
            if y_mask is not None:
                y = jnp.where(y_mask, y, a)
            y_mask = None if m is None or y_mask is None else jnp.logical_or(y_mask, m)
            y = type(self).op(y, a)
        return y, state


class Maximum(_Extremum):
    """Elementwise maximum of the inputs."""

    op = jnp.maximum


class Minimum(_Extremum):
    """Elementwise minimum of the inputs."""

    op = jnp.minimum


class Concatenate(_Merge):
    """Joins inputs along `axis` (the last by default); every other size must agree.

    Example: `[batch, 32]` and `[batch, 16]` -> `[batch, 48]`.
    """

    def __init__(self, axis: int = -1, name: str | None = None, input_shape=None):
        super().__init__(name=name, input_shape=input_shape)
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise TypeError(f"Concatenate(axis=...) must be an int; got {axis!r}.")
        self.axis: int = int(axis)

    def compute_output_shape(self, input_shape):
        if not isinstance(input_shape, list):
            raise ValueError(f"{self.describe()} takes a list of input shapes; got {format_shape(input_shape)}.")
        self._check_count(len(input_shape))
        shapes = [tuple(s) for s in input_shape]
        rank = len(shapes[0])
        axis = self.axis + rank if self.axis < 0 else self.axis
        if not 1 <= axis < rank:
            raise ValueError(f"{self.describe()} has axis={self.axis}, outside the feature axes of inputs of rank "
                             f"{rank}.")
        for shape in shapes[1:]:
            if len(shape) != rank or any(
                i != axis and a is not None and b is not None and a != b
                for i, (a, b) in enumerate(zip(shapes[0], shape))
            ):
                raise ValueError(
                    f"{self.describe()} needs inputs whose shapes agree except on axis {self.axis}; "
                    f"got {format_shape(shapes)}."
                )
        sizes = [s[axis] for s in shapes]
        out = list(shapes[0])
        out[axis] = None if None in sizes else sum(sizes)
        return tuple(out)

    def call(self, params, x, rng, training):
        return jnp.concatenate(self._inputs(x), axis=self.axis)

    def compute_mask(self, x, mask):
        """Keras's rule: an unmasked input counts as all True, masks are broadcast to their inputs,
        joined along `axis`, and a step is kept if any of its entries is."""
        if mask is None or all(m is None for m in mask):
            return None
        full = []
        for array, m in zip(x, mask):
            array = jnp.asarray(array)
            if m is None:
                full.append(jnp.ones(array.shape, bool))
            elif m.ndim < array.ndim:
                full.append(jnp.broadcast_to(m[..., None], array.shape))
            else:
                full.append(m)
        return jnp.any(jnp.concatenate(full, axis=self.axis), axis=-1)
