"""Loss functions: pure, per-sample, with Keras 3 numerics.

Every loss is a pure function ``loss(y_true, y_pred, **hyper_parameters) -> per_sample_loss`` that
works under ``jax.jit``, ``jax.grad`` and ``jax.vmap``:

    >>> import jax.numpy as jnp
    >>> from funcnet import losses
    >>> y_true = jnp.array([[0.0, 1.0], [1.0, 0.0]])
    >>> y_pred = jnp.array([[0.2, 0.8], [0.6, 0.4]])
    >>> per_sample = losses.categorical_crossentropy(y_true, y_pred)   # [batch, classes] -> [batch]
    >>> [round(float(v), 4) for v in per_sample]                       # -log 0.8, -log 0.6
    [0.2231, 0.5108]
    >>> scalar = jnp.mean(per_sample)                                  # what `fit` minimises

Reduction rule
    * rank >= 2 (``[batch, ..., features]``): the last axis is the feature/class axis and is
      reduced -- mean for the regression, binary and hinge losses, sum for the crossentropies and
      ``kl_divergence`` (as in Keras) -- so ``[batch, k] -> [batch]``.
    * rank 1 (``[batch]``): each element is one sample's scalar prediction and the loss is
      elementwise, ``[batch] -> [batch]``; it equals the loss of the ``[batch, 1]`` reshape.
      Keras would instead treat a rank-1 input as one sample and return a scalar.
    * ``categorical_crossentropy`` and ``sparse_categorical_crossentropy`` need a class axis, so
      they reject rank-1 ``y_pred``.

Shape rules
    ``y_true.shape`` must equal ``y_pred.shape`` (sparse losses: ``y_pred.shape[:-1]``, optionally
    with a trailing 1). Anything else raises ``ValueError``; nothing is broadcast. The checks read
    static shapes only, so they cost nothing under ``jit``. Non-numeric inputs raise ``TypeError``.

Dtypes
    ``y_true`` (float, int or bool) is cast to ``y_pred``'s dtype. float32 (and float64) ``y_pred``
    is computed and returned in its own dtype; float16 and bfloat16 ``y_pred`` is computed in, and
    returned as, float32 (as Keras's loss objects do under mixed precision); integer or bool
    ``y_pred`` is computed in float32.

Clipping
    As in Keras, probabilities are clipped to ``[EPSILON, 1 - EPSILON]`` with ``EPSILON = 1e-7``
    when ``from_logits=False``, and categorical predictions are renormalised to sum to one first.
    Gradients are finite everywhere, including at probabilities of exactly 0 and 1.

Losses as objects
    ``Loss.call(y_true, y_pred)`` gives the per-sample loss, ``Loss(y_true, y_pred, sample_weight)``
    its mean over all entries (Keras's ``"sum_over_batch_size"``). ``get`` resolves Keras's names.
"""

from __future__ import annotations

import difflib
import math
import numbers
import warnings
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from funcnet._checks import flag

EPSILON = 1e-7

__all__ = [
    "EPSILON",
    "Loss",
    "LossFunctionWrapper",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "MeanSquaredError",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanSquaredLogarithmicError",
    "Huber",
    "LogCosh",
    "KLDivergence",
    "Poisson",
    "Hinge",
    "SquaredHinge",
    "CategoricalHinge",
    "CosineSimilarity",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "mean_squared_error",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error",
    "huber",
    "log_cosh",
    "kl_divergence",
    "poisson",
    "hinge",
    "squared_hinge",
    "categorical_hinge",
    "cosine_similarity",
    "mse",
    "mae",
    "mape",
    "msle",
    "kld",
    "get",
    "is_sparse",
]


# --------------------------------------------------------------------------------------------
# Input checking
# --------------------------------------------------------------------------------------------


def _as_array(x, fn_name: str, arg_name: str) -> jax.Array:
    """`x` as a numeric jax array, or a TypeError naming `fn_name` and `arg_name`."""
    if x is None or isinstance(x, (str, bytes)):
        raise TypeError(
            f"{fn_name}: {arg_name} must be an array of numbers, got {type(x).__name__} {x!r:.60}."
        )
    try:
        arr = jnp.asarray(x)
    except TypeError as err:
        raise TypeError(
            f"{fn_name}: {arg_name} must be an array of numbers, got {type(x).__name__} "
            f"which cannot be converted ({err})."
        ) from None
    if not (
        jnp.issubdtype(arr.dtype, jnp.floating)
        or jnp.issubdtype(arr.dtype, jnp.integer)
        or arr.dtype == jnp.bool_
    ):
        raise TypeError(f"{fn_name}: {arg_name} must have a float, integer or bool dtype, got {arr.dtype}.")
    return arr


def _compute_dtype(y_pred: jax.Array):
    # Half-precision logs and sums lose too much; compute (and return) those in float32.
    if jnp.issubdtype(y_pred.dtype, jnp.floating) and jnp.finfo(y_pred.dtype).bits >= 32:
        return y_pred.dtype
    return jnp.dtype(jnp.float32)


def _reshape_hint(true_shape, pred_shape) -> str:
    if tuple(true_shape) + (1,) == tuple(pred_shape) or tuple(true_shape) == tuple(pred_shape) + (1,):
        return f" Reshape y_true to {tuple(pred_shape)} first (y_true.reshape({tuple(pred_shape)}))."
    return ""


def _sparse_labels_hint(true_shape, pred_shape) -> str:
    pred_shape = tuple(pred_shape)
    ids_shapes = (pred_shape[:-1], pred_shape[:-1] + (1,))
    if len(pred_shape) >= 1 and pred_shape[-1] > 1 and tuple(true_shape) in ids_shapes:
        return (
            " y_true looks like integer class ids; use sparse_categorical_crossentropy for class"
            " ids, or one-hot encode them (utils.to_categorical) for categorical_crossentropy."
        )
    return ""


def _check_same_shape(fn_name: str, y_true: jax.Array, y_pred: jax.Array, hint: str = "") -> None:
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"{fn_name}: y_true has shape {tuple(y_true.shape)} but y_pred has shape "
            f"{tuple(y_pred.shape)}; expected y_true.shape == y_pred.shape (losses never "
            f"broadcast).{hint or _reshape_hint(y_true.shape, y_pred.shape)}"
        )
    if y_pred.ndim == 0:
        raise ValueError(
            f"{fn_name}: y_true and y_pred are scalars (shape ()); expected arrays of shape "
            "[batch] or [batch, ..., features]."
        )


def _prepare(fn_name: str, y_true, y_pred):
    """Converts, checks equal shapes, casts to the compute dtype; rank 1 becomes [batch, 1]."""
    y_true = _as_array(y_true, fn_name, "y_true")
    y_pred = _as_array(y_pred, fn_name, "y_pred")
    _check_same_shape(fn_name, y_true, y_pred)
    dtype = _compute_dtype(y_pred)
    y_true, y_pred = y_true.astype(dtype), y_pred.astype(dtype)
    if y_pred.ndim == 1:
        y_true, y_pred = y_true[:, None], y_pred[:, None]
    return y_true, y_pred


def _check_label_smoothing(fn_name: str, value) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{fn_name}: label_smoothing must be a float in [0, 1], got {value!r}.")
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{fn_name}: label_smoothing must be in [0, 1], got {value!r}.")
    return float(value)


def _check_positive(fn_name: str, arg_name: str, value) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{fn_name}: {arg_name} must be a positive float, got {value!r}.")
    if not float(value) > 0.0:
        raise ValueError(f"{fn_name}: {arg_name} must be > 0, got {value!r}.")
    return float(value)


def _check_axis(fn_name: str, axis, ndim: int) -> int:
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"{fn_name}: axis must be an int, got {axis!r}.")
    if not -ndim <= int(axis) < ndim:
        raise ValueError(
            f"{fn_name}: axis={axis} is out of range for y_pred of rank {ndim}; expected "
            f"{-ndim} <= axis < {ndim}."
        )
    return int(axis) % ndim


def _clipped_log_probs(y_pred: jax.Array, from_logits: bool, axis: int) -> jax.Array:
    """log of the class probabilities along `axis`, Keras-style."""
    if from_logits:
        return jax.nn.log_softmax(y_pred, axis=axis)
    # Keras renormalises so unnormalised rows still describe a distribution, then clips so
    # log() and its gradient stay finite at probabilities of exactly 0 and 1.
    probs = y_pred / jnp.sum(y_pred, axis=axis, keepdims=True)
    return jnp.log(jnp.clip(probs, EPSILON, 1.0 - EPSILON))


# --------------------------------------------------------------------------------------------
# Probabilistic losses
# --------------------------------------------------------------------------------------------


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Crossentropy between one-hot (or soft) labels and predicted class probabilities.

    ``loss = -sum_c y_true[c] * log(p[c])`` over the class axis, where ``p`` is
    ``softmax(y_pred)`` if ``from_logits`` else ``clip(y_pred / sum(y_pred), 1e-7, 1 - 1e-7)``.
    With ``label_smoothing = s`` the labels become ``y_true * (1 - s) + s / classes``.

    Args:
        y_true: ``[batch, ..., classes]`` one-hot or probability labels (any numeric dtype).
        y_pred: ``[batch, ..., classes]`` probabilities, or logits when ``from_logits=True``.
        from_logits: whether ``y_pred`` holds logits.
        label_smoothing: float in ``[0, 1]``.
        axis: the class axis of ``y_pred``.

    Returns:
        ``[batch, ...]``: ``y_pred.shape`` without the class axis.

    Raises:
        ValueError: shapes differ (with a hint to use ``sparse_categorical_crossentropy`` when
            ``y_true`` is shaped like class ids), ``y_pred`` has no class axis (rank < 2), or
            ``label_smoothing`` is outside ``[0, 1]``.
        TypeError: non-numeric inputs.

    Examples:
        >>> categorical_crossentropy(jnp.array([[0., 1.]]), jnp.array([[0.2, 0.8]]))  # -log(0.8)
        Array([0.22314353], dtype=float32)
    """
    name = "categorical_crossentropy"
    from_logits = flag(from_logits, f"{name}: from_logits")
    label_smoothing = _check_label_smoothing(name, label_smoothing)
    y_true = _as_array(y_true, name, "y_true")
    y_pred = _as_array(y_pred, name, "y_pred")
    _check_same_shape(name, y_true, y_pred, hint=_sparse_labels_hint(y_true.shape, y_pred.shape))
    if y_pred.ndim < 2:
        raise ValueError(
            f"{name}: y_pred has shape {tuple(y_pred.shape)}; expected [batch, classes] with a "
            "class axis. For one probability per sample use binary_crossentropy."
        )
    axis = _check_axis(name, axis, y_pred.ndim)
    if y_pred.shape[axis] == 1:
        warnings.warn(
            f"{name}: y_pred has a single class (shape {tuple(y_pred.shape)}), so the loss is "
            "always ~0. Use binary_crossentropy for two classes.",
            stacklevel=2,
        )
    dtype = _compute_dtype(y_pred)
    y_true, y_pred = y_true.astype(dtype), y_pred.astype(dtype)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_pred.shape[axis]
    return -jnp.sum(y_true * _clipped_log_probs(y_pred, from_logits, axis), axis=axis)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, axis=-1):
    """Crossentropy between integer class ids and predicted class probabilities.

    ``loss = -log(p[y_true])``, with ``p`` as in ``categorical_crossentropy``. Class ids outside
    ``[0, classes)`` give a loss of 0, as in Keras (values cannot be checked under ``jit``).

    Args:
        y_true: ``[batch, ...]`` class ids, i.e. ``y_pred.shape`` without the class axis,
            optionally with a trailing 1 (``[batch, 1]``). Integer, or float holding whole
            numbers (cast to int32 by truncation).
        y_pred: ``[batch, ..., classes]`` probabilities, or logits when ``from_logits=True``.
        from_logits: whether ``y_pred`` holds logits.
        axis: the class axis of ``y_pred``.

    Returns:
        ``[batch, ...]``.

    Raises:
        ValueError: ``y_true`` has the wrong shape (with a hint to use
            ``categorical_crossentropy`` when it looks one-hot), or ``y_pred`` has rank < 2.
        TypeError: non-numeric inputs.

    Examples:
        >>> sparse_categorical_crossentropy(jnp.array([1]), jnp.array([[0.2, 0.8]]))  # -log(0.8)
        Array([0.22314353], dtype=float32)
    """
    name = "sparse_categorical_crossentropy"
    from_logits = flag(from_logits, f"{name}: from_logits")
    y_true = _as_array(y_true, name, "y_true")
    y_pred = _as_array(y_pred, name, "y_pred")
    if y_pred.ndim < 2:
        raise ValueError(
            f"{name}: y_pred has shape {tuple(y_pred.shape)}; expected [batch, classes] with a "
            "class axis. For one probability per sample use binary_crossentropy."
        )
    axis = _check_axis(name, axis, y_pred.ndim)
    classes = y_pred.shape[axis]
    ids_shape = y_pred.shape[:axis] + y_pred.shape[axis + 1 :]
    ids_shape_keepdim = y_pred.shape[:axis] + (1,) + y_pred.shape[axis + 1 :]
    if y_true.shape not in (ids_shape, ids_shape_keepdim):
        hint = ""
        if y_true.shape == y_pred.shape:
            hint = (
                " y_true has the shape of y_pred, so it looks one-hot encoded; use"
                " categorical_crossentropy for one-hot labels, or pass the class ids"
                " (y_true.argmax(-1))."
            )
        raise ValueError(
            f"{name}: y_true has shape {tuple(y_true.shape)} but y_pred has shape "
            f"{tuple(y_pred.shape)}; expected integer class ids of shape {tuple(ids_shape)} "
            f"or {tuple(ids_shape_keepdim)}.{hint}"
        )
    labels = y_true.reshape(ids_shape).astype(jnp.int32)
    dtype = _compute_dtype(y_pred)
    log_probs = _clipped_log_probs(y_pred.astype(dtype), from_logits, axis)
    # A one-hot product (not a gather) gives 0 for out-of-range ids, as Keras does.
    one_hot = jax.nn.one_hot(labels, classes, dtype=dtype, axis=axis)
    return -jnp.sum(one_hot * log_probs, axis=axis)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0):
    """Crossentropy between binary labels and predicted probabilities of the positive class.

    ``loss = -mean(y * log(p) + (1 - y) * log(1 - p))`` over the last axis, with
    ``p = clip(y_pred, 1e-7, 1 - 1e-7)``; when ``from_logits`` it is computed as
    ``-(y * log_sigmoid(x) + (1 - y) * log_sigmoid(-x))`` without clipping (Keras's JAX
    backend). With ``label_smoothing = s`` the labels become ``y * (1 - s) + s / 2``.

    Args:
        y_true: ``[batch, ..., k]`` or ``[batch]`` labels in ``[0, 1]``.
        y_pred: same shape; probabilities, or logits when ``from_logits=True``.
        from_logits: whether ``y_pred`` holds logits.
        label_smoothing: float in ``[0, 1]``.

    Returns:
        ``[batch, ...]`` (the last axis averaged), or ``[batch]`` for rank-1 inputs.

    Examples:
        >>> binary_crossentropy(jnp.array([1., 0.]), jnp.array([0.8, 0.2]))  # -log(0.8) each
        Array([0.22314353, 0.22314353], dtype=float32)
    """
    name = "binary_crossentropy"
    from_logits = flag(from_logits, f"{name}: from_logits")
    label_smoothing = _check_label_smoothing(name, label_smoothing)
    y_true, y_pred = _prepare(name, y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        log_p, log_not_p = jax.nn.log_sigmoid(y_pred), jax.nn.log_sigmoid(-y_pred)
    else:
        p = jnp.clip(y_pred, EPSILON, 1.0 - EPSILON)
        log_p, log_not_p = jnp.log(p), jnp.log(1.0 - p)
    return jnp.mean(-(y_true * log_p + (1.0 - y_true) * log_not_p), axis=-1)


def kl_divergence(y_true, y_pred):
    """Kullback-Leibler divergence ``sum(t * log(t / p))`` over the last axis.

    Both ``t = clip(y_true, 1e-7, 1)`` and ``p = clip(y_pred, 1e-7, 1)``. Shapes
    ``[batch, ..., k] -> [batch, ...]``; ``[batch] -> [batch]``.
    """
    y_true, y_pred = _prepare("kl_divergence", y_true, y_pred)
    t = jnp.clip(y_true, EPSILON, 1.0)
    p = jnp.clip(y_pred, EPSILON, 1.0)
    return jnp.sum(t * jnp.log(t / p), axis=-1)


def poisson(y_true, y_pred):
    """Poisson loss ``mean(p - t * log(p + 1e-7))`` over the last axis.

    Shapes ``[batch, ..., k] -> [batch, ...]``; ``[batch] -> [batch]``.
    """
    y_true, y_pred = _prepare("poisson", y_true, y_pred)
    return jnp.mean(y_pred - y_true * jnp.log(y_pred + EPSILON), axis=-1)


# --------------------------------------------------------------------------------------------
# Regression losses
# --------------------------------------------------------------------------------------------


def mean_squared_error(y_true, y_pred):
    """``mean((y_true - y_pred) ** 2)`` over the last axis.

    Shapes ``[batch, ..., k] -> [batch, ...]``; ``[batch] -> [batch]`` (elementwise).

    Examples:
        >>> mean_squared_error(jnp.array([[0., 2.]]), jnp.array([[1., 1.]]))
        Array([1.], dtype=float32)
    """
    y_true, y_pred = _prepare("mean_squared_error", y_true, y_pred)
    return jnp.mean(jnp.square(y_true - y_pred), axis=-1)


def mean_absolute_error(y_true, y_pred):
    """``mean(|y_true - y_pred|)`` over the last axis; shapes as ``mean_squared_error``."""
    y_true, y_pred = _prepare("mean_absolute_error", y_true, y_pred)
    return jnp.mean(jnp.abs(y_true - y_pred), axis=-1)


def mean_absolute_percentage_error(y_true, y_pred):
    """``100 * mean(|(y_true - y_pred) / max(|y_true|, 1e-7)|)`` over the last axis."""
    y_true, y_pred = _prepare("mean_absolute_percentage_error", y_true, y_pred)
    return 100.0 * jnp.mean(jnp.abs((y_true - y_pred) / jnp.maximum(jnp.abs(y_true), EPSILON)), axis=-1)


def mean_squared_logarithmic_error(y_true, y_pred):
    """``mean((log(max(p, 1e-7) + 1) - log(max(t, 1e-7) + 1)) ** 2)`` over the last axis."""
    y_true, y_pred = _prepare("mean_squared_logarithmic_error", y_true, y_pred)
    log_p = jnp.log(jnp.maximum(y_pred, EPSILON) + 1.0)
    log_t = jnp.log(jnp.maximum(y_true, EPSILON) + 1.0)
    return jnp.mean(jnp.square(log_p - log_t), axis=-1)


def huber(y_true, y_pred, delta=1.0):
    """Huber loss, averaged over the last axis.

    With ``e = y_pred - y_true``: ``0.5 * e**2`` where ``|e| <= delta``, else
    ``delta * |e| - 0.5 * delta**2``. ``delta`` must be > 0.
    """
    name = "huber"
    delta = _check_positive(name, "delta", delta)
    y_true, y_pred = _prepare(name, y_true, y_pred)
    error = y_pred - y_true
    abs_error = jnp.abs(error)
    quadratic = 0.5 * jnp.square(error)
    linear = delta * abs_error - 0.5 * delta**2
    return jnp.mean(jnp.where(abs_error <= delta, quadratic, linear), axis=-1)


def log_cosh(y_true, y_pred):
    """``mean(log(cosh(y_pred - y_true)))`` over the last axis.

    Computed as ``x + softplus(-2x) - log(2)``, which cannot overflow.
    """
    y_true, y_pred = _prepare("log_cosh", y_true, y_pred)
    x = y_pred - y_true
    return jnp.mean(x + jax.nn.softplus(-2.0 * x) - math.log(2.0), axis=-1)


def cosine_similarity(y_true, y_pred, axis=-1):
    """Negative cosine similarity ``-sum(l2_normalize(y_true) * l2_normalize(y_pred))``.

    In ``[-1, 1]``; -1 means the vectors point the same way, so minimising it aligns them. A zero
    vector gives 0. ``l2_normalize(x) = x * min(1 / ||x||, 1e7)``, as Keras's JAX backend.
    Shapes ``[batch, ..., k] -> [batch, ...]`` (``axis`` removed); ``[batch] -> [batch]``.
    """
    name = "cosine_similarity"
    y_true, y_pred = _prepare(name, y_true, y_pred)
    axis = _check_axis(name, axis, y_pred.ndim)

    def l2_normalize(x):
        sq = jnp.sum(jnp.square(x), axis=axis, keepdims=True)
        # rsqrt only where the norm is above the cap: keeps the gradient finite at zero vectors.
        large = sq > EPSILON**2
        inv = jnp.where(large, jax.lax.rsqrt(jnp.where(large, sq, 1.0)), 1.0 / EPSILON)
        return x * inv

    return -jnp.sum(l2_normalize(y_true) * l2_normalize(y_pred), axis=axis)


# --------------------------------------------------------------------------------------------
# Hinge losses
# --------------------------------------------------------------------------------------------


def _to_signed_labels(y_true: jax.Array) -> jax.Array:
    # Keras maps {0, 1} labels to {-1, 1} only when *every* label in the array is 0 or 1.
    is_binary = jnp.all((y_true == 0) | (y_true == 1))
    return jnp.where(is_binary, 2.0 * y_true - 1.0, y_true)


def hinge(y_true, y_pred):
    """``mean(max(1 - y_true * y_pred, 0))`` over the last axis.

    ``y_true`` holds -1/1 labels; 0/1 labels are mapped to -1/1 when all of them are 0 or 1.
    """
    y_true, y_pred = _prepare("hinge", y_true, y_pred)
    return jnp.mean(jnp.maximum(1.0 - _to_signed_labels(y_true) * y_pred, 0.0), axis=-1)


def squared_hinge(y_true, y_pred):
    """``mean(max(1 - y_true * y_pred, 0) ** 2)`` over the last axis; labels as ``hinge``."""
    y_true, y_pred = _prepare("squared_hinge", y_true, y_pred)
    return jnp.mean(jnp.square(jnp.maximum(1.0 - _to_signed_labels(y_true) * y_pred, 0.0)), axis=-1)


def categorical_hinge(y_true, y_pred):
    """``max(neg - pos + 1, 0)`` with ``pos = sum(t * p)``, ``neg = max((1 - t) * p)``.

    Both over the last axis; ``y_true`` one-hot, shapes ``[batch, ..., k] -> [batch, ...]``.
    """
    y_true, y_pred = _prepare("categorical_hinge", y_true, y_pred)
    pos = jnp.sum(y_true * y_pred, axis=-1)
    neg = jnp.max((1.0 - y_true) * y_pred, axis=-1)
    return jnp.maximum(neg - pos + 1.0, 0.0)


mse = mean_squared_error
mae = mean_absolute_error
mape = mean_absolute_percentage_error
msle = mean_squared_logarithmic_error
kld = kl_divergence


# --------------------------------------------------------------------------------------------
# Loss objects
# --------------------------------------------------------------------------------------------


class Loss:
    """Base class of loss objects, as ``keras.losses.Loss``.

    Subclasses implement ``call(y_true, y_pred) -> [batch, ...]`` (the per-sample loss).
    Calling the object reduces it to a scalar with Keras's ``"sum_over_batch_size"``:
    ``sum(call(y_true, y_pred) * sample_weight) / call(...).size``.
    """

    def __init__(self, name: str | None = None):
        self.name = name or type(self).__name__

    def call(self, y_true, y_pred) -> jax.Array:
        raise NotImplementedError(f"{type(self).__name__}.call(y_true, y_pred) is not implemented.")

    def __call__(self, y_true, y_pred, sample_weight=None) -> jax.Array:
        """Scalar mean of the per-sample loss, optionally weighted.

        Args:
            sample_weight: ``[batch]`` or any leading part of the per-sample loss's shape;
                weights multiply the per-sample loss before the sum (Keras semantics: the divisor
                is the number of entries, not the sum of weights).
        """
        values = self.call(y_true, y_pred)
        if sample_weight is not None:
            values = values * _broadcast_weight(self.name, sample_weight, values.shape, values.dtype)
        return jnp.sum(values) / max(values.size, 1)


def _broadcast_weight(owner: str, sample_weight, shape, dtype) -> jax.Array:
    """`sample_weight` of shape `shape[:r]` (or `shape + (1,)`) broadcast to `shape`."""
    weight = _as_array(sample_weight, owner, "sample_weight").astype(dtype)
    shape = tuple(shape)
    if weight.shape == shape + (1,):
        return weight.reshape(shape)
    if weight.ndim >= 1 and weight.shape == shape[: weight.ndim]:
        weight = weight.reshape(weight.shape + (1,) * (len(shape) - weight.ndim))
        return jnp.broadcast_to(weight, shape)
    raise ValueError(
        f"{owner}: sample_weight has shape {tuple(weight.shape)}; expected per-sample weights of "
        f"shape {shape[:1]} (or a leading part of {shape})."
    )


class LossFunctionWrapper(Loss):
    """A ``Loss`` object around a per-sample loss function and its keyword arguments.

    ``LossFunctionWrapper(fn, name, **kwargs).call(y_true, y_pred) == fn(y_true, y_pred, **kwargs)``.
    Instances are immutable by convention, compare equal when ``fn``, ``name`` and the keyword
    arguments are equal, and are hashable (usable as a ``jit`` static argument).
    """

    def __init__(self, fn: Callable, name: str | None = None, **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", None))
        self.fn = fn
        self.fn_kwargs = dict(kwargs)

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred, **self.fn_kwargs)

    def get_config(self) -> dict:
        return {"name": self.name, **self.fn_kwargs}

    def _key(self):
        return (type(self), self.fn, self.name, tuple(sorted(self.fn_kwargs.items())))

    def __eq__(self, other):
        return isinstance(other, LossFunctionWrapper) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class CategoricalCrossentropy(LossFunctionWrapper):
    """``categorical_crossentropy`` as a ``Loss``; hyper-parameters are checked here."""

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, name="categorical_crossentropy"):
        flag(from_logits, f"{type(self).__name__}: from_logits")
        _check_label_smoothing(type(self).__name__, label_smoothing)
        super().__init__(
            categorical_crossentropy,
            name=name,
            from_logits=bool(from_logits),
            label_smoothing=float(label_smoothing),
            axis=axis,
        )


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    """``sparse_categorical_crossentropy`` as a ``Loss``."""

    def __init__(self, from_logits=False, axis=-1, name="sparse_categorical_crossentropy"):
        flag(from_logits, f"{type(self).__name__}: from_logits")
        super().__init__(sparse_categorical_crossentropy, name=name, from_logits=bool(from_logits), axis=axis)


class BinaryCrossentropy(LossFunctionWrapper):
    """``binary_crossentropy`` as a ``Loss``."""

    def __init__(self, from_logits=False, label_smoothing=0.0, name="binary_crossentropy"):
        flag(from_logits, f"{type(self).__name__}: from_logits")
        _check_label_smoothing(type(self).__name__, label_smoothing)
        super().__init__(
            binary_crossentropy,
            name=name,
            from_logits=bool(from_logits),
            label_smoothing=float(label_smoothing),
        )


class Huber(LossFunctionWrapper):
    """``huber`` as a ``Loss``; ``delta`` must be > 0."""

    def __init__(self, delta=1.0, name="huber_loss"):
        super().__init__(huber, name=name, delta=_check_positive(type(self).__name__, "delta", delta))


class CosineSimilarity(LossFunctionWrapper):
    """``cosine_similarity`` (negative cosine) as a ``Loss``."""

    def __init__(self, axis=-1, name="cosine_similarity"):
        super().__init__(cosine_similarity, name=name, axis=axis)


def _loss_class(class_name: str, fn: Callable) -> type:
    """A ``LossFunctionWrapper`` subclass for a loss function without hyper-parameters."""

    def __init__(self, name=fn.__name__):
        LossFunctionWrapper.__init__(self, fn, name=name)

    return type(
        class_name,
        (LossFunctionWrapper,),
        {"__init__": __init__, "__doc__": f"``{fn.__name__}`` as a ``Loss``.", "__module__": __name__},
    )


MeanSquaredError = _loss_class("MeanSquaredError", mean_squared_error)
MeanAbsoluteError = _loss_class("MeanAbsoluteError", mean_absolute_error)
MeanAbsolutePercentageError = _loss_class("MeanAbsolutePercentageError", mean_absolute_percentage_error)
MeanSquaredLogarithmicError = _loss_class("MeanSquaredLogarithmicError", mean_squared_logarithmic_error)
LogCosh = _loss_class("LogCosh", log_cosh)
KLDivergence = _loss_class("KLDivergence", kl_divergence)
Poisson = _loss_class("Poisson", poisson)
Hinge = _loss_class("Hinge", hinge)
SquaredHinge = _loss_class("SquaredHinge", squared_hinge)
CategoricalHinge = _loss_class("CategoricalHinge", categorical_hinge)


# --------------------------------------------------------------------------------------------
# Lookup by name
# --------------------------------------------------------------------------------------------

_FUNCTIONS = (
    categorical_crossentropy,
    sparse_categorical_crossentropy,
    binary_crossentropy,
    mean_squared_error,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_logarithmic_error,
    huber,
    log_cosh,
    kl_divergence,
    poisson,
    hinge,
    squared_hinge,
    categorical_hinge,
    cosine_similarity,
)
_CLASSES: dict[type, Callable[..., jax.Array]] = {
    CategoricalCrossentropy: categorical_crossentropy,
    SparseCategoricalCrossentropy: sparse_categorical_crossentropy,
    BinaryCrossentropy: binary_crossentropy,
    MeanSquaredError: mean_squared_error,
    MeanAbsoluteError: mean_absolute_error,
    MeanAbsolutePercentageError: mean_absolute_percentage_error,
    MeanSquaredLogarithmicError: mean_squared_logarithmic_error,
    Huber: huber,
    LogCosh: log_cosh,
    KLDivergence: kl_divergence,
    Poisson: poisson,
    Hinge: hinge,
    SquaredHinge: squared_hinge,
    CategoricalHinge: categorical_hinge,
    CosineSimilarity: cosine_similarity,
}
_ALIASES = {
    "mse": mean_squared_error, "MSE": mean_squared_error,
    "mae": mean_absolute_error, "MAE": mean_absolute_error,
    "mape": mean_absolute_percentage_error, "MAPE": mean_absolute_percentage_error,
    "msle": mean_squared_logarithmic_error, "MSLE": mean_squared_logarithmic_error,
    "kld": kl_divergence, "KLD": kl_divergence, "kullback_leibler_divergence": kl_divergence,
    "bce": binary_crossentropy, "BCE": binary_crossentropy,
    "logcosh": log_cosh, "huber_loss": huber,
}  # fmt: skip
_BY_NAME: dict[str, Callable[..., jax.Array]] = {
    **{fn.__name__: fn for fn in _FUNCTIONS},
    **{cls.__name__: fn for cls, fn in _CLASSES.items()},
    **_ALIASES,
}


def get(identifier) -> Callable:
    """Resolves a loss identifier to a per-sample loss function.

    Args:
        identifier: a Keras loss name -- function names (``"categorical_crossentropy"``),
            aliases (``"mse"``, ``"mae"``, ``"kld"``, ...) or class names
            (``"CategoricalCrossentropy"``, which give the function with default
            hyper-parameters) -- or any callable, returned unchanged (``Loss`` objects included);
            a ``Loss`` class gives its default instance.

    Returns:
        A callable ``f(y_true, y_pred)``; for names, the per-sample function of this module.

    Raises:
        ValueError: unknown name; the message lists every valid name.
        TypeError: anything else (``None``, numbers, ...).

    Examples:
        >>> get("mse") is mean_squared_error
        True
    """
    if isinstance(identifier, str):
        if identifier in _BY_NAME:
            return _BY_NAME[identifier]
        close = difflib.get_close_matches(identifier, list(_BY_NAME), n=3)
        suggestion = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise ValueError(
            f"losses.get: unknown loss {identifier!r}.{suggestion} Valid names: "
            f"{', '.join(sorted(_BY_NAME))}."
        )
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()  # a Loss class, as Keras: its default instance
    if callable(identifier):
        return identifier
    raise TypeError(
        "losses.get: identifier must be a loss name (str) or a callable f(y_true, y_pred), got "
        f"{type(identifier).__name__} {identifier!r:.60}."
    )


def _underlying_function(loss) -> Callable | None:
    """The module-level loss function behind a name, function, ``Loss`` class or object."""
    if isinstance(loss, (str, type)):
        loss = get(loss)
    if isinstance(loss, LossFunctionWrapper):
        return loss.fn
    return loss if callable(loss) else None


def is_sparse(loss) -> bool:
    """Whether ``loss`` takes integer class ids as ``y_true`` (``sparse_categorical_crossentropy``).

    ``loss`` may be a name, a function, a ``Loss`` class or object; other callables give ``False``
    and an unknown name raises ``ValueError`` (as ``get``). Training code uses it to know that the
    labels are class ids (``[batch]``, not one-hot).
    """
    return _underlying_function(loss) is sparse_categorical_crossentropy
