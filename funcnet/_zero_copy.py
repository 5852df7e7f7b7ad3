"""A large numpy data set read by the CPU device where it lies, without the whole copy `jax.device_put` makes.

On the CPU backend the device's memory is the host's. JAX hands a numpy array to XLA without a copy when
its buffer starts on a 64-byte boundary, and copies it whole otherwise; numpy places large arrays 16 bytes
past a page boundary, so `fit` used to hold a second, device copy of the user's data: 188 MB for MNIST's
training images beside the user's own 188 MB.

`ZeroCopyRows` sees a C-contiguous array `x` of shape `[n, *row]` (`r` elements a row) as three parts:

    body  = x.ravel()[skip : skip + n*r - K]   handed to XLA without a copy (it starts on a boundary)
    head  = x[:m],  tail = x[n-m:]             the first and last m rows, copied (a few KB)

where `skip < K` is the number of elements before the array's first 64-byte boundary, `K` the most it can
be (64 / itemsize - 1) and `m = ceil(K / r)`. Row `i` is `head[i]` for `i < m`, `tail[i - (n-m)]` for
`i >= n-m`, and else `body[i*r - skip : (i+1)*r - skip]`, which lies inside `body` for every such `i`.
The shapes depend only on `x.shape` and `skip` is data (a traced scalar), so arrays at any address share
one compiled program. The rows read are the array's own values: a pass reads the same numbers as from a
copy, bit for bit; only where they are read from differs.

The array is read in place while a pass runs: writing into it during `fit` (from a callback, another
thread) is seen by later batches, as in Keras, which reads numpy batches as it goes.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

ALIGNMENT = 64  # bytes: XLA's CPU buffers start on a multiple of this
MIN_BYTES = 1 << 20  # smaller arrays are copied: the copy is cheap and the gather stays plain


@jax.tree_util.register_pytree_node_class
class ZeroCopyRows:
    """The rows of a host array for a compiled pass: `head`, `body`, `tail` and `skip` as described above.

    It stands where a `[n, *row]` data array would in a pass's data (`shape`, `dtype`, `len` are the
    array's); `take(rows)` gathers rows inside the compiled program.
    """

    def __init__(self, head, body, tail, skip, shape: tuple):
        self.head, self.body, self.tail, self.skip = head, body, tail, skip
        self.shape = tuple(shape)

    @property
    def dtype(self):
        return self.body.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def tree_flatten(self):
        return (self.head, self.body, self.tail, self.skip), self.shape

    @classmethod
    def tree_unflatten(cls, shape, leaves):
        head, body, tail, skip = leaves
        return cls(head, body, tail, skip, shape)

    def take(self, rows: jax.Array) -> jax.Array:
        """The rows `x[rows]`, `rows` int32 of any shape with entries in `[0, n)`: `[*rows.shape, *row]`."""
        n, row_shape = self.shape[0], self.shape[1:]
        r, m = math.prod(row_shape), self.head.shape[0]
        starts = jnp.clip(rows * r - self.skip, 0, self.body.shape[0] - r)
        # One gather of r-element slices (what `x[rows]` is too); vmap-safe, unlike a vmapped dynamic_slice.
        numbers = jax.lax.GatherDimensionNumbers(offset_dims=(starts.ndim,), collapsed_slice_dims=(),
                                                 start_index_map=(0,))
        middle = jax.lax.gather(self.body, starts[..., None], numbers, (r,),
                                mode=jax.lax.GatherScatterMode.CLIP).reshape((*rows.shape, *row_shape))
        first = jnp.take(self.head, jnp.clip(rows, 0, m - 1), axis=0)
        last = jnp.take(self.tail, jnp.clip(rows - (n - m), 0, m - 1), axis=0)
        at = (*rows.shape,) + (1,) * len(row_shape)
        return jnp.where((rows < m).reshape(at), first, jnp.where((rows >= n - m).reshape(at), last, middle))


def device_put(x, device=None):
    """`x` for a pass on `device`: a `ZeroCopyRows` when `x` is a large C-contiguous numpy array and the
    device is a CPU that can read it in place, else `jax.device_put(x, device)`."""
    view = _zero_copy_view(x, device) if isinstance(x, np.ndarray) else None
    return view if view is not None else jax.device_put(x, device)


def _zero_copy_view(x: np.ndarray, device):
    # `device` None keeps the arrays uncommitted, as jax.device_put(x) does: a committed part among
    # uncommitted arguments would give the pass a second compile.
    platform = (device if device is not None else jax.devices()[0]).platform
    if platform != "cpu" or x.ndim < 1 or x.nbytes < MIN_BYTES or not x.flags.c_contiguous:
        return None
    if x.dtype.kind not in "biuf" or jax.dtypes.canonicalize_dtype(x.dtype) != x.dtype:
        return None  # float64 without jax_enable_x64 is converted, so copied anyway
    itemsize, address = x.dtype.itemsize, x.ctypes.data
    if address % itemsize:
        return None
    n, r = x.shape[0], math.prod(x.shape[1:])
    most = ALIGNMENT // itemsize - 1  # K: elements before the first boundary, at most
    m = max(1, math.ceil(most / r)) if r else 0
    if r == 0 or n < 2 * m + 1:
        return None
    skip = ((-address) % ALIGNMENT) // itemsize
    if skip == 0:
        return None  # on a boundary already: jax.device_put reads it in place itself
    flat = x.reshape(-1)
    body = jax.device_put(flat[skip:skip + n * r - most], device)
    if body.unsafe_buffer_pointer() != address + skip * itemsize:
        return None  # this JAX copied it after all: the plain copy is as good and simpler
    head = jax.device_put(np.array(x[:m]), device)
    tail = jax.device_put(np.array(x[n - m:]), device)
    return ZeroCopyRows(head, body, tail, jax.device_put(np.int32(skip), device), x.shape)


def is_rows(value) -> bool:
    return isinstance(value, ZeroCopyRows)
