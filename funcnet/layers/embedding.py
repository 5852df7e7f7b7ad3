"""`Embedding`: integer ids to learned vectors, with Keras's arguments, weight name and mask."""
from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from funcnet import initializers as _initializers
from funcnet._checks import flag, format_shape, positive_int, resolved
from funcnet.layers._base import Layer
from funcnet.layers.core import _as_array, _single_shape


class Embedding(Layer):
    """Looks up a learned vector for each integer id: `y[..., :] = embeddings[x[...]]`.

    Shapes: `x` holds ids `[batch, ...]` in `[0, input_dim)` (typically `[batch, steps]`); params
    `embeddings` `[input_dim, output_dim]`; `y` is `[batch, ..., output_dim]`. Integer inputs stay integers
    all the way here (also under mixed precision), so large ids are exact.

    With `mask_zero=True` id 0 is padding: the output carries the mask `x != 0`, and the recurrent layers
    and `GlobalAveragePooling1D` downstream skip those steps (so `input_dim` counts the padding id: the
    vocabulary size + 1). `fit`, `evaluate` and `predict` refuse ids outside `[0, input_dim)` before
    compiling; so does `apply` called outside `jit` (inside it the lookup clamps, as Keras's).

    Args:
      input_dim: the number of ids (the vocabulary's size).
      output_dim: the size of each vector.
      embeddings_initializer: name or `fn(key, shape, dtype)`; Keras's default `"uniform"` is uniform on
        `[-0.05, 0.05]`.
      mask_zero: treat id 0 as padding (see above).
      input_length: the number of steps (Keras 2's argument, which the book uses): declares the input
        shape `(input_length,)`.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> layer = Embedding(1000, 8, mask_zero=True)
      >>> params = layer.init(jax.random.key(0), (5,))
      >>> ids = jnp.array([[3, 7, 0, 0, 0]])
      >>> layer.apply(params, ids).shape, layer.compute_mask(ids, None).tolist()
      ((1, 5, 8), [[True, True, False, False, False]])
    """

    _build_only = (*Layer._build_only, "embeddings_initializer")

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        embeddings_initializer="uniform",
        mask_zero: bool = False,
        input_length: int | None = None,
        name: str | None = None,
        input_shape: Sequence[int] | None = None,
    ):
        if input_length is not None:
            if input_shape is not None:
                raise ValueError("Embedding: give input_length or input_shape, not both.")
            input_shape = (positive_int(input_length, "Embedding(input_length=...)"),)
        super().__init__(name=name, input_shape=input_shape)
        self.input_dim = positive_int(input_dim, "Embedding(input_dim=...)")
        self.output_dim = positive_int(output_dim, "Embedding(output_dim=...)")
        self.embeddings_initializer = resolved(
            _initializers.get, embeddings_initializer, self._arg("embeddings_initializer"))
        self.mask_zero = flag(mask_zero, self._arg("mask_zero"))

    def compute_output_shape(self, input_shape):
        shape = _single_shape(self, input_shape)
        if len(shape) < 1:
            raise ValueError(f"{self.describe()} needs inputs with a batch axis; got {format_shape(shape)}.")
        return (*shape, self.output_dim)

    def build(self, key, input_shape):
        return {"embeddings": self.embeddings_initializer(key, (self.input_dim, self.output_dim), jnp.float32)}

    def compute_mask(self, x, mask):
        return _as_array(self, x) != 0 if self.mask_zero else None

    def call(self, params, x, rng, training):
        ids = _as_array(self, x)
        if not jnp.issubdtype(ids.dtype, jnp.number) or jnp.issubdtype(ids.dtype, jnp.complexfloating):
            raise TypeError(f"{self.describe()} takes integer ids; got dtype {ids.dtype}.")
        if not isinstance(ids, jax.core.Tracer):  # concrete ids: check them (under jit the lookup clamps)
            check_ids(np.asarray(ids), self.input_dim, self.describe())
        if not jnp.issubdtype(ids.dtype, jnp.integer):
            ids = ids.astype(jnp.int32)  # whole-valued float ids (e.g. from a float Input), as Keras's cast
        table = params["embeddings"]
        if table.shape[0] != self.input_dim:
            raise ValueError(
                f"{self.describe()} has embeddings of shape {table.shape}; it needs ({self.input_dim}, "
                f"{self.output_dim})."
            )
        return jnp.take(table, ids, axis=0)


def check_ids(ids: np.ndarray, input_dim: int, what: str) -> None:
    """Raises ValueError naming the first id outside `[0, input_dim)`, or a non-integral one."""
    if ids.size == 0:
        return
    if not np.issubdtype(ids.dtype, np.integer):
        if not np.all(np.mod(ids, 1) == 0):
            bad = int(np.flatnonzero(np.mod(ids, 1) != 0)[0])
            where = tuple(int(i) for i in np.unravel_index(bad, ids.shape))
            raise ValueError(f"{what} takes integer ids; entry {where} is {ids.flat[bad]}.")
    outside = (ids < 0) | (ids >= input_dim)
    if outside.any():
        index = np.unravel_index(int(np.flatnonzero(outside)[0]), ids.shape)
        raise ValueError(
            f"{what} has input_dim={input_dim}, so ids must lie in [0, {input_dim}); sample {index[0]} holds id "
            f"{ids[index]} (at index {tuple(int(i) for i in index)}; the ids range over [{ids.min()}, {ids.max()}]). "
            "Cap the vocabulary (num_words=...) or raise input_dim."
        )

