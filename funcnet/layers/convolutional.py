"""Convolution layers: Conv1D and Conv2D, channels_last, with Keras's arguments and weight layout.

`y[b, *o, f] = activation(bias[f] + sum over taps t and input channels c of x[b, *(o * s + t * d - pad), c]
* kernel[*t, c, f])`, the kernel `[*kernel_size, in // groups, filters]` as Keras stores it.

On a CPU the convolution runs as one matmul of the windows' patches against the flattened kernel
(`funcnet.layers._windows`): several times faster than XLA's native convolution there, in training
above all. Elsewhere (GPU, TPU), and where the patches would take more than 256 MB, it is
`lax.conv_general_dilated`. Both compute the same convolution, up to the order of float sums.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import jax
import jax.numpy as jnp

from funcnet import activations as _activations
from funcnet import initializers as _initializers
from funcnet._checks import flag, format_shape, positive_int, resolved
from funcnet.layers import _windows
from funcnet.layers._base import Layer
from funcnet.layers._matmul import matmul
from funcnet.layers.core import _as_array, _single_shape

_MAX_PATCH_ELEMENTS = 2 ** 26  # 256 MB of float32 patches; beyond it, XLA's own convolution


def spatial_tuple(value, rank: int, what: str, minimum: int = 1) -> tuple[int, ...]:
    """An int or a tuple of `rank` ints, each at least `minimum`, as a tuple (Keras's `standardize_tuple`)."""
    values = (value,) * rank if isinstance(value, numbers.Integral) and not isinstance(value, bool) else value
    if not isinstance(values, (tuple, list)) or len(values) != rank or not all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in values
    ):
        raise TypeError(f"{what} must be an int or a tuple of {rank} ints; got {value!r}.")
    if any(v < minimum for v in values):
        raise ValueError(f"{what} must hold ints >= {minimum}; got {value!r}.")
    return tuple(int(v) for v in values)


def check_padding(padding, what: str, allowed: Sequence[str]) -> str:
    if not isinstance(padding, str) or padding.lower() not in allowed:
        raise ValueError(f"{what} must be one of {list(allowed)}; got {padding!r}.")
    return padding.lower()


def check_data_format(data_format, what: str) -> None:
    if data_format not in (None, "channels_last"):
        raise ValueError(
            f"{what} must be 'channels_last' (or None): funcnet layers are channels_last only; got "
            f"{data_format!r}. Move the channels last, e.g. jnp.transpose(x, (0, 2, 3, 1)) for images."
        )


def convolve(x: jax.Array, kernel: jax.Array, wins, groups: int, method: str | None = None) -> jax.Array:
    """`x` `[batch, *spatial, in]` convolved with `kernel` `[*taps, in // groups, out]` over the windows
    `wins` (`_windows.windows`); `method` "patches" or "lax" overrides the choice described above."""
    batch, channels = x.shape[0], x.shape[-1]
    if method is None:
        small = _windows.patch_elements(batch, wins, channels) <= _MAX_PATCH_ELEMENTS
        method = "patches" if small and jax.default_backend() == "cpu" else "lax"
    if method == "lax":
        return jax.lax.conv_general_dilated(
            x, kernel, window_strides=[w.stride for w in wins], padding=[(w.before, w.after) for w in wins],
            rhs_dilation=[w.dilation for w in wins], dimension_numbers=_DIMENSIONS[len(wins)],
            feature_group_count=groups,
        )
    cols = _windows.patches(x, wins)  # [batch, *out, taps * in]
    out_shape = cols.shape[:-1]
    rows = cols.reshape(-1, cols.shape[-1])
    filters = kernel.shape[-1]
    if groups == 1:
        y = matmul(rows, kernel.reshape(-1, filters))
    else:
        taps, per_group = math.prod(kernel.shape[:-2]), kernel.shape[-2]
        grouped = rows.reshape(rows.shape[0], taps, groups, per_group)
        k = kernel.reshape(taps, per_group, groups, filters // groups)
        y = jnp.einsum("mtgc,tcgo->mgo", grouped, k).reshape(rows.shape[0], filters)
    return y.reshape((*out_shape, filters))


_DIMENSIONS = {1: ("NWC", "WIO", "NWC"), 2: ("NHWC", "HWIO", "NHWC")}


class _Conv(Layer):
    """The convolution of `rank` spatial axes; `Conv1D` and `Conv2D` fix the rank."""

    rank: int
    paddings: tuple[str, ...] = ("valid", "same")

    def __init__(
        self,
        filters: int,
        kernel_size,
        strides=1,
        padding: str = "valid",
        data_format=None,
        dilation_rate=1,
        groups: int = 1,
        activation=None,
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        name: str | None = None,
        input_shape: Sequence[int] | None = None,
    ):
        super().__init__(name=name, input_shape=input_shape)
        cls = type(self).__name__
        self.filters = positive_int(filters, f"{cls}(filters=...)")
        self.kernel_size = spatial_tuple(kernel_size, self.rank, f"{cls}(kernel_size=...)")
        self.strides = spatial_tuple(strides, self.rank, f"{cls}(strides=...)")
        self.padding = check_padding(padding, f"{cls}(padding=...)", self.paddings)
        check_data_format(data_format, f"{cls}(data_format=...)")
        self.dilation_rate = spatial_tuple(dilation_rate, self.rank, f"{cls}(dilation_rate=...)")
        self.groups = positive_int(groups, f"{cls}(groups=...)")
        if self.filters % self.groups:
            raise ValueError(f"{cls}(filters={self.filters}) must be divisible by groups={self.groups}.")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                f"{cls}: strides > 1 together with dilation_rate > 1 is not supported (as in Keras); got "
                f"strides={self.strides}, dilation_rate={self.dilation_rate}."
            )
        self.activation = resolved(_activations.get, activation, self._arg("activation"))
        self.use_bias = flag(use_bias, self._arg("use_bias"))
        self.kernel_initializer = resolved(_initializers.get, kernel_initializer, self._arg("kernel_initializer"))
        self.bias_initializer = resolved(_initializers.get, bias_initializer, self._arg("bias_initializer"))

    def _config_overrides(self):
        return {"data_format": "channels_last"}

    def _windows(self, input_shape):
        """(input channels, the windows of each spatial axis) for inputs of `input_shape`, checked."""
        shape = _single_shape(self, input_shape)
        if len(shape) != self.rank + 2:
            layout = "(batch, steps, channels)" if self.rank == 1 else "(batch, height, width, channels)"
            raise ValueError(
                f"{self.describe()} takes {self.rank + 2}-D inputs {layout}; got shape {format_shape(shape)}."
                + (" Add a channels axis: x[..., None]." if len(shape) == self.rank + 1 else "")
            )
        channels = shape[-1]
        if channels is None:
            raise ValueError(f"{self.describe()} needs a known number of input channels; got shape "
                             f"{format_shape(shape)}.")
        if channels % self.groups:
            raise ValueError(
                f"{self.describe()} has groups={self.groups}, which must divide the {channels} input channels."
            )
        wins = _windows.windows(shape[1:-1], self.kernel_size, self.strides, self.dilation_rate, self.padding)
        for axis, (size, w) in enumerate(zip(shape[1:-1], wins), start=1):
            if w.out is not None and w.out <= 0:
                span = w.dilation * (w.taps - 1) + 1
                raise ValueError(
                    f"{self.describe()}: its kernel spans {span} entries (kernel_size={self.kernel_size}, "
                    f"dilation_rate={self.dilation_rate}) along axis {axis}, more than the {size} of its "
                    f"valid-padded input of shape {format_shape(shape)}; use padding='same' or a smaller kernel."
                )
        return channels, wins

    def compute_output_shape(self, input_shape):
        _, wins = self._windows(input_shape)
        return (input_shape[0], *(w.out for w in wins), self.filters)

    def build(self, key, input_shape):
        channels, _ = self._windows(input_shape)
        k_kernel, k_bias = jax.random.split(key)
        kernel_shape = (*self.kernel_size, channels // self.groups, self.filters)
        kernel = self.kernel_initializer(k_kernel, kernel_shape, jnp.float32)
        if not self.use_bias:
            return {"kernel": kernel}
        return {"kernel": kernel, "bias": self.bias_initializer(k_bias, (self.filters,), jnp.float32)}

    def call(self, params, x, rng, training):
        x = _as_array(self, x)
        _, wins = self._windows(x.shape)
        kernel = params["kernel"]
        expected = (*self.kernel_size, x.shape[-1] // self.groups, self.filters)
        if kernel.shape != expected:
            raise ValueError(
                f"{self.describe()} has a kernel of shape {kernel.shape}; inputs of shape {format_shape(x.shape)} "
                f"need {expected}."
            )
        y = convolve(x.astype(kernel.dtype), kernel, wins, self.groups)
        if self.use_bias:
            y = y + params["bias"].reshape((1,) * (y.ndim - 1) + (self.filters,))
        return self.activation(y)


class Conv1D(_Conv):
    """A 1-D convolution over `[batch, steps, channels]` (text, signals).

    Shapes: kernel `[kernel_size, channels // groups, filters]`, bias `[filters]`; output
    `[batch, out_steps, filters]`, `out_steps = ceil(steps / strides)` with `padding="same"` or `"causal"`
    (all the padding before: step t sees only steps <= t), else `floor((steps - dilation*(k-1) - 1) /
    strides) + 1`.

    Args:
      filters: output channels.
      kernel_size: the window's length (an int or a 1-tuple).
      strides: the step between windows.
      padding: "valid", "same" or "causal".
      data_format: None or "channels_last" (the only layout funcnet has).
      dilation_rate: the step between a window's taps (not with strides > 1).
      groups: split the channels into this many independent convolutions.
      activation: name, function, or None for linear.
      use_bias: add a learned bias.
      kernel_initializer: name or `fn(key, shape, dtype)`; fans count the receptive field, as Keras.
      bias_initializer: likewise.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> layer = Conv1D(4, 3, padding="causal")
      >>> params = layer.init(jax.random.key(0), (10, 2))
      >>> params["kernel"].shape, layer.apply(params, jnp.ones((1, 10, 2))).shape
      ((3, 2, 4), (1, 10, 4))
    """

    rank = 1
    paddings = ("valid", "same", "causal")


class Conv2D(_Conv):
    """A 2-D convolution over images `[batch, height, width, channels]`.

    Shapes: kernel `[kh, kw, channels // groups, filters]`, bias `[filters]`; output
    `[batch, out_h, out_w, filters]`, each `ceil(size / stride)` with `padding="same"`, else
    `floor((size - dilation*(k-1) - 1) / stride) + 1`.

    Args:
      filters: output channels.
      kernel_size: the window's size, an int or `(kh, kw)`.
      strides: the step between windows, an int or a pair.
      padding: "valid" or "same".
      data_format: None or "channels_last" (the only layout funcnet has).
      dilation_rate: the step between a window's taps, an int or a pair (not with strides > 1).
      groups: split the channels into this many independent convolutions.
      activation: name, function, or None for linear.
      use_bias: add a learned bias.
      kernel_initializer: name or `fn(key, shape, dtype)`; fans count the receptive field, as Keras
        (glorot_uniform's `fan_in = kh * kw * in`, `fan_out = kh * kw * filters`).
      bias_initializer: likewise.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> layer = Conv2D(32, (3, 3), activation="relu")
      >>> params = layer.init(jax.random.key(0), (28, 28, 1))
      >>> params["kernel"].shape, layer.apply(params, jnp.ones((2, 28, 28, 1))).shape
      ((3, 3, 1, 32), (2, 26, 26, 32))
    """

    rank = 2
