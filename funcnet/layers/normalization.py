"""Normalization layers: BatchNormalization (with non-trainable state) and LayerNormalization.

Both follow Keras 3's numerics: statistics in float32 even for bfloat16 or float16 inputs, the output
cast back to the input's dtype, and `y = x * inv + (beta - mean * inv)` with
`inv = gamma / sqrt(variance + epsilon)`.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import jax
import jax.numpy as jnp

from funcnet import initializers as _initializers
from funcnet._checks import flag, format_shape, resolved
from funcnet.layers._base import Layer
from funcnet.layers.core import _as_array, _single_shape


def _check_epsilon(layer: str, epsilon) -> float:
    if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real) or not 0 < float(epsilon) < math.inf:
        raise ValueError(f"{layer}(epsilon=...) must be a positive finite float; got {epsilon!r}.")
    return float(epsilon)


def _feature_axes(layer: Layer, axes: tuple[int, ...], shape: tuple) -> tuple[int, ...]:
    """`axes` made non-negative for inputs of `shape` (batch axis included); each must be a feature axis
    of known size."""
    rank = len(shape)
    resolved = []
    for axis in axes:
        if not -rank <= axis < rank:
            raise ValueError(
                f"{layer.describe()} has axis={axis}, out of range for inputs of shape {format_shape(shape)}."
            )
        axis = axis % rank
        if axis == 0:
            raise ValueError(
                f"{layer.describe()} has axis={axis}, the batch axis of inputs of shape {format_shape(shape)}; "
                "normalize a feature axis (axis=-1 for channels_last)."
            )
        if shape[axis] is None:
            raise ValueError(
                f"{layer.describe()} normalizes axis {axis} of inputs of shape {format_shape(shape)}, whose size "
                "is not known; declare it (layers.Input(shape=...))."
            )
        resolved.append(axis)
    if len(set(resolved)) != len(resolved):
        raise ValueError(f"{layer.describe()} names an axis twice: axis={list(axes)}.")
    return tuple(sorted(resolved))


def _stat_shape(ndim: int, axes: tuple[int, ...], sizes: tuple[int, ...]) -> tuple[int, ...]:
    """The shape that broadcasts per-feature statistics (`[*sizes]`) against an input of rank `ndim`."""
    shape = [1] * ndim
    for axis, size in zip(axes, sizes):
        shape[axis] = size
    return tuple(shape)


def _normalize(x, mean, variance, gamma, beta, epsilon: float):
    """`x * inv + (beta - mean * inv)` with `inv = gamma / sqrt(variance + epsilon)`, as Keras computes it.

    All statistics arrive already shaped to broadcast against `x`.
    """
    inv = jax.lax.rsqrt(variance + epsilon)
    if gamma is not None:
        inv = inv * gamma
    offset = -mean * inv
    if beta is not None:
        offset = offset + beta
    return x * inv + offset


def _build_affine(layer, key: jax.Array, shape: tuple[int, ...]) -> dict:
    """The learned scale `gamma` (with `scale`) and offset `beta` (with `center`) of `shape`."""
    k_gamma, k_beta = jax.random.split(key)
    params = {}
    if layer.scale:
        params["gamma"] = layer.gamma_initializer(k_gamma, shape, jnp.float32)
    if layer.center:
        params["beta"] = layer.beta_initializer(k_beta, shape, jnp.float32)
    return params


def _affine(layer, params: dict, dtype, shape: tuple[int, ...]):
    """(gamma or None, beta or None) in `dtype`, shaped to broadcast against the input."""
    gamma = params["gamma"].astype(dtype).reshape(shape) if layer.scale else None
    beta = params["beta"].astype(dtype).reshape(shape) if layer.center else None
    return gamma, beta


def _compute_dtype(x: jax.Array):
    """float32 for half-precision (and integer) inputs: statistics overflow in float16 (as Keras)."""
    return jnp.result_type(x.dtype, jnp.float32) if jnp.issubdtype(x.dtype, jnp.floating) else jnp.float32


class BatchNormalization(Layer):
    """Normalizes each feature with the statistics of the batch (training) or their moving averages.

    Training (`training=True`): with `mean` and `variance` (biased) over every axis but `axis`,

        y = gamma * (x - mean) / sqrt(variance + epsilon) + beta
        moving_mean     <- moving_mean * momentum + mean * (1 - momentum)
        moving_variance <- moving_variance * momentum + variance * (1 - momentum)

    Inference (`training=False`): the same formula with the moving statistics, which are left unchanged.

    Shapes: `x` is `[batch, ..., features, ...]` (`axis` picks the features, the last by default);
    params `gamma` and `beta` and state `moving_mean` and `moving_variance` are `[features]`.
    Statistics are computed in float32 (also for bfloat16 and float16 inputs) and `y` has `x`'s dtype.
    Rows that only pad a batch (`sample_mask` 0: the weight-0 samples `fit` adds to a short last batch or
    for data parallelism) never enter the statistics; under `DataParallel` they are the global batch's.

    Args:
      axis: the feature axis (an int; -1 for channels_last).
      momentum: the weight of the old moving statistics in each update.
      epsilon: added to the variance before the square root.
      center: learn the offset `beta`.
      scale: learn the scale `gamma`.
      beta_initializer: a name or `fn(key, shape, dtype)` (Keras's default `zeros`).
      gamma_initializer: likewise (`ones`).
      moving_mean_initializer: likewise (`zeros`).
      moving_variance_initializer: likewise (`ones`).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> layer = BatchNormalization()
      >>> params, state = layer.init_with_state(jax.random.key(0), (3,))
      >>> sorted(params), sorted(state)
      (['beta', 'gamma'], ['moving_mean', 'moving_variance'])
      >>> x = jnp.array([[0.0, 1.0, 2.0], [2.0, 3.0, 6.0]])
      >>> y, new_state = layer.apply_with_state(params, state, x, training=True)
      >>> [round(float(v), 4) for v in y[:, 0]]                   # (x - 1) / sqrt(1 + 0.001)
      [-0.9995, 0.9995]
      >>> [round(float(v), 3) for v in new_state["moving_mean"]]  # 0.99 * 0 + 0.01 * mean
      [0.01, 0.02, 0.04]
    """

    stateful = True
    supports_masking = True
    _build_only = (*Layer._build_only, "beta_initializer", "gamma_initializer", "moving_mean_initializer",
                   "moving_variance_initializer")

    def __init__(
        self,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        moving_mean_initializer="zeros",
        moving_variance_initializer="ones",
        name: str | None = None,
        input_shape: Sequence[int] | None = None,
    ):
        super().__init__(name=name, input_shape=input_shape)
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise TypeError(f"BatchNormalization(axis=...) must be an int; got {axis!r}.")
        if isinstance(momentum, bool) or not isinstance(momentum, numbers.Real) or not 0.0 <= float(momentum) <= 1.0:
            raise ValueError(f"BatchNormalization(momentum=...) must be in [0, 1]; got {momentum!r}.")
        self.axis: int = int(axis)
        self.momentum: float = float(momentum)
        self.epsilon: float = _check_epsilon("BatchNormalization", epsilon)
        self.center = flag(center, self._arg("center"))
        self.scale = flag(scale, self._arg("scale"))
        self.beta_initializer = resolved(_initializers.get, beta_initializer, self._arg("beta_initializer"))
        self.gamma_initializer = resolved(_initializers.get, gamma_initializer, self._arg("gamma_initializer"))
        self.moving_mean_initializer: _initializers.Initializer = resolved(
            _initializers.get, moving_mean_initializer, self._arg("moving_mean_initializer"))
        self.moving_variance_initializer: _initializers.Initializer = resolved(
            _initializers.get, moving_variance_initializer, self._arg("moving_variance_initializer"))

    def _features(self, input_shape) -> tuple[int, int]:
        """(feature axis, feature count) for inputs of `input_shape`."""
        shape = _single_shape(self, input_shape)
        if len(shape) < 2:
            raise ValueError(f"{self.describe()} needs inputs of shape (batch, ..., features); got "
                             f"{format_shape(shape)}.")
        (axis,) = _feature_axes(self, (self.axis,), shape)
        return axis, shape[axis]

    def compute_output_shape(self, input_shape):
        self._features(input_shape)
        return tuple(input_shape)

    def build(self, key, input_shape):
        return _build_affine(self, key, (self._features(input_shape)[1],))

    def build_state(self, key, input_shape):
        _, features = self._features(input_shape)
        k_mean, k_variance = jax.random.split(key)
        return {
            "moving_mean": self.moving_mean_initializer(k_mean, (features,), jnp.float32),
            "moving_variance": self.moving_variance_initializer(k_variance, (features,), jnp.float32),
        }

    def call_with_state(self, params, state, x, rng, training, sample_mask, mask=None):
        x = _as_array(self, x)
        axis, features = self._features(x.shape)
        if "moving_mean" not in state or state["moving_mean"].shape != (features,):
            raise ValueError(
                f"{self.describe()} needs state {{'moving_mean', 'moving_variance'}} of shape ({features},) for inputs "
                f"of shape {format_shape(x.shape)}; got {jax.tree.map(jnp.shape, dict(state))}. Make it with "
                "model.init_with_state(key)."
            )
        dtype = _compute_dtype(x)
        xc = x.astype(dtype)
        shape = _stat_shape(x.ndim, (axis,), (features,))
        gamma, beta = _affine(self, params, dtype, shape)
        if training and self.trainable:  # frozen, it runs in inference mode, as Keras's (for fine-tuning)
            mean, variance = _moments(xc, axis, sample_mask, mask)
            new_state = {
                "moving_mean": state["moving_mean"] * self.momentum + mean * (1.0 - self.momentum),
                "moving_variance": state["moving_variance"] * self.momentum + variance * (1.0 - self.momentum),
            }
            new_state = {k: v.astype(state[k].dtype) for k, v in new_state.items()}
        else:
            mean, variance = state["moving_mean"].astype(dtype), state["moving_variance"].astype(dtype)
            new_state = state
        y = _normalize(xc, mean.reshape(shape), variance.reshape(shape), gamma, beta, self.epsilon)
        return y.astype(x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else dtype), new_state


def _moments(x: jax.Array, axis: int, sample_mask, mask=None) -> tuple[jax.Array, jax.Array]:
    """Mean and biased variance of `x` over every axis but `axis` (each `[features]`), counting only the
    samples (rows of axis 0) where `sample_mask` is nonzero and the entries where the time-step `mask`
    (of `x`'s shape without its last axis, as Keras's) is True."""
    reduce = tuple(i for i in range(x.ndim) if i != axis)
    if sample_mask is None and mask is None:
        return jnp.mean(x, axis=reduce), jnp.var(x, axis=reduce)
    weight = jnp.ones((x.shape[0],) + (1,) * (x.ndim - 1), x.dtype)
    if sample_mask is not None:
        rows = jnp.asarray(sample_mask)
        if rows.shape != (x.shape[0],):
            raise ValueError(f"sample_mask must have shape ({x.shape[0]},), one entry per sample; got {rows.shape}.")
        weight = weight * (rows != 0).astype(x.dtype).reshape(weight.shape)
    if mask is not None:
        steps = jnp.asarray(mask)
        if steps.shape != x.shape[:-1]:
            raise ValueError(f"the mask must have the input's shape without its last axis, {x.shape[:-1]}; got "
                             f"{steps.shape}.")
        weight = weight * steps.astype(x.dtype)[..., None]
    weight = jnp.broadcast_to(weight, x.shape[:axis] + (1,) + x.shape[axis + 1:])
    count = jnp.maximum(jnp.sum(weight), 1.0)
    mean = jnp.sum(x * weight, axis=reduce) / count
    centred = x - mean.reshape(_stat_shape(x.ndim, (axis,), (x.shape[axis],)))
    variance = jnp.sum(jnp.square(centred) * weight, axis=reduce) / count
    return mean, variance


class LayerNormalization(Layer):
    """Normalizes each sample over its feature axes: `y = gamma * (x - mean) / sqrt(variance + epsilon) + beta`.

    `mean` and the biased `variance` are taken per sample over `axis` (the last by default; a list for
    several). No state, and training and inference compute the same.

    Shapes: `x` is `[batch, ...]`; `gamma` and `beta` have the sizes of the normalized axes (`[features]`
    for `axis=-1`). Statistics in float32; `y` has `x`'s dtype.

    Args:
      axis: an int or a list of ints, the feature axes to normalize over.
      epsilon: added to the variance before the square root.
      center: learn the offset `beta`.
      scale: learn the scale `gamma`.
      beta_initializer: a name or `fn(key, shape, dtype)` (Keras's default `zeros`).
      gamma_initializer: likewise (`ones`).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> layer = LayerNormalization()
      >>> params = layer.init(jax.random.key(0), (4,))
      >>> y = layer.apply(params, jnp.array([[1.0, 2.0, 3.0, 4.0]]))
      >>> [round(float(v), 3) for v in y[0]]
      [-1.341, -0.447, 0.447, 1.341]
    """

    supports_masking = True
    _build_only = (*Layer._build_only, "beta_initializer", "gamma_initializer")

    def __init__(
        self,
        axis: int | Sequence[int] = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        name: str | None = None,
        input_shape: Sequence[int] | None = None,
    ):
        super().__init__(name=name, input_shape=input_shape)
        axes = tuple(axis) if isinstance(axis, (list, tuple)) else (axis,)
        if not axes or any(isinstance(a, bool) or not isinstance(a, numbers.Integral) for a in axes):
            raise TypeError(f"LayerNormalization(axis=...) must be an int or a non-empty list of ints; got {axis!r}.")
        self.axis: int | tuple[int, ...] = (tuple(int(a) for a in axes) if isinstance(axis, (list, tuple))
                                            else int(axes[0]))
        self._axes = tuple(int(a) for a in axes)
        self.epsilon = _check_epsilon("LayerNormalization", epsilon)
        self.center = flag(center, self._arg("center"))
        self.scale = flag(scale, self._arg("scale"))
        self.beta_initializer = resolved(_initializers.get, beta_initializer, self._arg("beta_initializer"))
        self.gamma_initializer = resolved(_initializers.get, gamma_initializer, self._arg("gamma_initializer"))

    def _axes_and_sizes(self, input_shape) -> tuple[tuple[int, ...], tuple[int, ...]]:
        shape = _single_shape(self, input_shape)
        if len(shape) < 2:
            raise ValueError(f"{self.describe()} needs inputs of shape (batch, features, ...); got "
                             f"{format_shape(shape)}.")
        axes = _feature_axes(self, self._axes, shape)
        return axes, tuple(shape[a] for a in axes)

    def compute_output_shape(self, input_shape):
        self._axes_and_sizes(input_shape)
        return tuple(input_shape)

    def build(self, key, input_shape):
        return _build_affine(self, key, self._axes_and_sizes(input_shape)[1])

    def call(self, params, x, rng, training):
        x = _as_array(self, x)
        axes, sizes = self._axes_and_sizes(x.shape)
        shape = _stat_shape(x.ndim, axes, sizes)
        dtype = _compute_dtype(x)
        xc = x.astype(dtype)
        for name in ("gamma", "beta"):
            if name in params and params[name].shape != sizes:
                raise ValueError(
                    f"{self.describe()} has {name} of shape {params[name].shape}, for inputs whose normalized axes "
                    f"have sizes {sizes}; got inputs of shape {format_shape(x.shape)}."
                )
        gamma, beta = _affine(self, params, dtype, shape)
        mean = jnp.mean(xc, axis=axes, keepdims=True)
        variance = jnp.var(xc, axis=axes, keepdims=True)
        y = _normalize(xc, mean, variance, gamma, beta, self.epsilon)
        return y.astype(x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else dtype)
