"""The core layers: Dense, Activation, Dropout, Flatten, Reshape, Masking."""
from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from funcnet import activations as _activations
from funcnet import initializers as _initializers
from funcnet._checks import as_array, flag, format_shape, positive_int, resolved
from funcnet.layers._base import Layer
from funcnet.layers._matmul import matmul


def _as_array(layer: Layer, x) -> jax.Array:
    if isinstance(x, (list, tuple)):
        raise TypeError(f"{layer.describe()} takes one array, got a {type(x).__name__} of {len(x)}.")
    return as_array(x, f"the input of {layer.describe()}")


def as_float(x: jax.Array) -> jax.Array:
    """`x`, or float32 for integer and boolean inputs (ids and pixels reach layers as they are)."""
    return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(jnp.float32)


def _single_shape(layer: Layer, input_shape) -> tuple:
    if isinstance(input_shape, list):
        raise ValueError(f"{layer.describe()} takes one input, got {len(input_shape)}: {format_shape(input_shape)}.")
    return tuple(input_shape)


def _floating_dtype(dtype, what: str) -> jnp.dtype:
    """A floating dtype (None: float32), else a TypeError naming `what`."""
    if dtype is None:
        return jnp.dtype(jnp.float32)
    resolved_dtype = None
    if not isinstance(dtype, (numbers.Number, np.generic)):  # jnp.dtype(np.float32(0.5)) is float32: a slip
        try:
            resolved_dtype = jnp.dtype(dtype)
        except (TypeError, ValueError):
            pass
    if resolved_dtype is None or not jnp.issubdtype(resolved_dtype, jnp.floating):
        raise TypeError(f"{what} must be a floating dtype such as 'float32' or 'bfloat16' (or None); "
                        f"got {dtype!r:.60}.")
    return resolved_dtype


class Dense(Layer):
    """A densely connected layer: `y = activation(x @ kernel + bias)`.

    Shapes: `x` is `[..., in]` (at least `[batch, in]`), `kernel` is `[in, units]`, `bias` is `[units]`,
    `y` is `[..., units]`. Inputs are cast to the kernel's dtype, so uint8 pixels work as they are.

    Args:
      units: output features.
      activation: name (`"relu"`, `"softmax"`, ...), function, or None for linear.
      use_bias: add a learned bias.
      kernel_initializer: name or `fn(key, shape, dtype)`.
      bias_initializer: name or `fn(key, shape, dtype)`.
      dtype: the weights' dtype (float32 by default).

    Examples:
      >>> import jax
      >>> layer = Dense(3, activation="relu")
      >>> params = layer.init(jax.random.key(0), (4,))
      >>> params["kernel"].shape, params["bias"].shape
      ((4, 3), (3,))
    """

    supports_masking = True

    def __init__(
        self,
        units: int,
        activation=None,
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        dtype=None,
        name: str | None = None,
        input_shape: Sequence[int] | None = None,
    ):
        super().__init__(name=name, input_shape=input_shape)
        self.units = positive_int(units, "Dense(units=...)")
        self.activation = resolved(_activations.get, activation, self._arg("activation"))
        self.use_bias = flag(use_bias, self._arg("use_bias"))
        self.kernel_initializer = resolved(_initializers.get, kernel_initializer, self._arg("kernel_initializer"))
        self.bias_initializer = resolved(_initializers.get, bias_initializer, self._arg("bias_initializer"))
        self.dtype = _floating_dtype(dtype, self._arg("dtype"))

    def compute_output_shape(self, input_shape):
        shape = _single_shape(self, input_shape)
        if len(shape) < 2 or shape[-1] is None:
            raise ValueError(
                f"{self.describe()} needs inputs of shape (batch, ..., features) with a known feature size; "
                f"got {format_shape(shape)}."
            )
        return (*shape[:-1], self.units)

    def build(self, key, input_shape):
        k_kernel, k_bias = jax.random.split(key)
        kernel = self.kernel_initializer(k_kernel, (input_shape[-1], self.units), self.dtype)
        if not self.use_bias:
            return {"kernel": kernel}
        return {"kernel": kernel, "bias": self.bias_initializer(k_bias, (self.units,), self.dtype)}

    def call(self, params, x, rng, training):
        x = _as_array(self, x)
        kernel = params["kernel"]
        if x.ndim < 2 or x.shape[-1] != kernel.shape[0]:
            raise ValueError(
                f"{self.describe()} has a kernel of shape {kernel.shape}, so it expects inputs of shape "
                f"(batch, ..., {kernel.shape[0]}); got {format_shape(x.shape)}."
            )
        y = matmul(x.astype(kernel.dtype), kernel)
        if self.use_bias:
            bias = params["bias"]
            y = y + bias.reshape((1,) * (y.ndim - 1) + bias.shape)  # explicit: no implicit rank promotion
        return self.activation(y)


class Activation(Layer):
    """Applies an activation elementwise (softmax: over the last axis); shape unchanged."""

    supports_masking = True

    def __init__(self, activation, name: str | None = None, input_shape: Sequence[int] | None = None):
        super().__init__(name=name, input_shape=input_shape)
        if activation is None:
            raise TypeError("Activation(activation=...) needs a name such as 'relu' or a function; got None.")
        self.activation = resolved(_activations.get, activation, self._arg("activation"))

    def compute_output_shape(self, input_shape):
        return _single_shape(self, input_shape)

    def call(self, params, x, rng, training):
        return self.activation(as_float(_as_array(self, x)))


class Dropout(Layer):
    """Zeroes a fraction `rate` of the inputs during training and scales the rest by `1 / (1 - rate)`.

    With `training=False` (the default) it is the identity. With `training=True` it needs an `rng` key:
    `model.apply(params, x, rng=key, training=True)`.

    Args:
      rate: the fraction of units DROPPED, in `[0, 1)` (Keras's meaning; stax's `Dropout` takes the keep rate).
      noise_shape: the shape of the keep mask, broadcast against the input (e.g. `(None, 1, features)` to
        drop whole features across time); `None` entries take the input's size.
    """

    uses_rng = True
    supports_masking = True

    def __init__(self, rate: float, noise_shape=None, name: str | None = None, input_shape=None):
        super().__init__(name=name, input_shape=input_shape)
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"Dropout(rate=...) is the fraction of units dropped, in [0, 1); got {rate!r}.")
        self.rate: float = float(rate)
        if noise_shape is not None and not (isinstance(noise_shape, (tuple, list)) and all(
                d is None or (isinstance(d, numbers.Integral) and not isinstance(d, bool) and int(d) > 0)
                for d in noise_shape)):
            raise TypeError("Dropout(noise_shape=...) must be None or a tuple of positive ints and Nones (None: the "
                            f"input's size), e.g. (None, 1, 16); got {noise_shape!r:.60}.")
        self.noise_shape: tuple | None = None if noise_shape is None else tuple(noise_shape)

    def compute_output_shape(self, input_shape):
        shape = _single_shape(self, input_shape)
        self._mask_shape(shape)
        return shape

    def _mask_shape(self, shape) -> tuple:
        """The keep mask's shape for inputs of `shape`: `noise_shape` with its Nones filled in; each of its
        sizes must be 1 or the input's (so the mask broadcasts)."""
        if self.noise_shape is None:
            return tuple(shape)
        fits = len(self.noise_shape) == len(shape) and all(
            d is None or d == 1 or s is None or d == s for d, s in zip(self.noise_shape, shape))
        if not fits:
            raise ValueError(
                f"{self.describe()} has noise_shape={self.noise_shape}, which does not broadcast to inputs of shape "
                f"{format_shape(tuple(shape))}: it needs one entry per axis, each None, 1 or the input's size."
            )
        return tuple(s if d is None else d for d, s in zip(self.noise_shape, shape))

    def call(self, params, x, rng, training):
        x = as_float(_as_array(self, x))
        if not training or self.rate == 0.0:
            return x
        if rng is None:
            raise ValueError(
                f"{self.describe()} is stochastic: training=True needs a PRNG key, e.g. "
                "model.apply(params, x, rng=jax.random.key(1), training=True)."
            )
        mask_shape = self._mask_shape(x.shape)
        keep = jax.random.bernoulli(rng, 1.0 - self.rate, mask_shape)
        keep = jnp.broadcast_to(keep, x.shape)
        return jnp.where(keep, x / (1.0 - self.rate), jnp.zeros_like(x)).astype(x.dtype)


class Flatten(Layer):
    """Flattens every axis but the batch axis: `[batch, d1, d2, ...] -> [batch, d1 * d2 * ...]`."""

    def compute_output_shape(self, input_shape):
        shape = _single_shape(self, input_shape)
        rest = shape[1:]
        return (shape[0], None if any(d is None for d in rest) else math.prod(rest))

    def call(self, params, x, rng, training):
        x = _as_array(self, x)
        if x.ndim < 1:
            raise ValueError(f"{self.describe()} needs at least a batch axis; got a scalar.")
        return x.reshape(x.shape[0], -1)


class Reshape(Layer):
    """Reshapes each sample to `target_shape` (no batch axis); one entry may be -1, inferred."""

    def __init__(self, target_shape: Sequence[int], name: str | None = None, input_shape=None):
        super().__init__(name=name, input_shape=input_shape)
        if not isinstance(target_shape, (tuple, list)) or not all(
            isinstance(d, numbers.Integral) and not isinstance(d, bool) and (int(d) > 0 or d == -1)
            for d in target_shape
        ):
            raise TypeError("Reshape(target_shape=...) must be a tuple of positive ints (one may be -1); got "
                            f"{target_shape!r}.")
        if sum(d == -1 for d in target_shape) > 1:
            raise ValueError(f"Reshape(target_shape=...) may hold at most one -1; got {tuple(target_shape)}.")
        self.target_shape = tuple(int(d) for d in target_shape)

    def _resolve(self, sample_shape) -> tuple:
        size = math.prod(sample_shape)
        known = math.prod(d for d in self.target_shape if d != -1)
        if -1 in self.target_shape:
            if size % known:
                raise ValueError(
                    f"{self.describe()} cannot reshape samples of shape {tuple(sample_shape)} ({size} values) "
                    f"into {self.target_shape}."
                )
            return tuple(size // known if d == -1 else d for d in self.target_shape)
        if known != size:
            raise ValueError(
                f"{self.describe()} cannot reshape samples of shape {tuple(sample_shape)} ({size} values) into "
                f"{self.target_shape} ({known} values)."
            )
        return self.target_shape

    def compute_output_shape(self, input_shape):
        shape = _single_shape(self, input_shape)
        if any(d is None for d in shape[1:]):
            return (shape[0], *(None if d == -1 else d for d in self.target_shape))
        return (shape[0], *self._resolve(shape[1:]))

    def call(self, params, x, rng, training):
        x = _as_array(self, x)
        return x.reshape((x.shape[0], *self._resolve(x.shape[1:])))


class Masking(Layer):
    """Masks the time steps whose features all equal `mask_value`: they are set to 0, and the layers
    downstream (recurrent layers, `GlobalAveragePooling1D`) skip them, as Keras's `Masking`.

    Shapes: `x` is `[batch, steps, features]`; the mask `[batch, steps]` is True where any feature differs
    from `mask_value`.

    Args:
      mask_value: the value that marks padding.

    Examples:
      >>> import jax.numpy as jnp
      >>> x = jnp.array([[[1.0, 2.0], [0.0, 0.0], [3.0, 0.0]]])
      >>> Masking().compute_mask(x, None).tolist()
      [[True, False, True]]
    """

    supports_masking = True

    def __init__(self, mask_value: float = 0.0, name: str | None = None, input_shape: Sequence[int] | None = None):
        super().__init__(name=name, input_shape=input_shape)
        if isinstance(mask_value, bool) or not isinstance(mask_value, numbers.Real):
            raise TypeError(f"Masking(mask_value=...) must be a number; got {mask_value!r}.")
        self.mask_value: float = float(mask_value)

    def compute_output_shape(self, input_shape):
        shape = _single_shape(self, input_shape)
        if len(shape) < 3:
            raise ValueError(f"{self.describe()} takes (batch, steps, features) inputs; got {format_shape(shape)}.")
        return shape

    def compute_mask(self, x, mask):
        return jnp.any(_as_array(self, x) != self.mask_value, axis=-1)

    def call(self, params, x, rng, training):
        x = _as_array(self, x)
        keep = jnp.any(x != self.mask_value, axis=-1, keepdims=True)
        return jnp.where(keep, x, jnp.zeros_like(x))
