"""Streaming metrics as pure ``init / update / result`` triples over pytree state.

A metric object holds only hyper-parameters: it is immutable, hashable and compares by value, so
it can be closed over or passed as a ``jit`` static argument. The running state is a plain dict of
float32 arrays whose shapes and dtypes never change, so ``update`` runs inside ``jit`` and as the
carry of ``lax.scan``:

    >>> import jax.numpy as jnp
    >>> from funcnet import metrics
    >>> batches = [(jnp.array([0, 1]), jnp.array([[0.9, 0.1], [0.2, 0.8]])),
    ...            (jnp.array([1, 1]), jnp.array([[0.7, 0.3], [0.4, 0.6]]))]
    >>> m = metrics.get("accuracy", loss="sparse_categorical_crossentropy")
    >>> state = m.init()
    >>> for y_true, y_pred in batches:
    ...     state = m.update(state, y_true, y_pred)      # pure; jit it if you like
    >>> value = m.result(state)                          # scalar float32
    >>> float(value)
    0.75
    >>> m.name                                           # the key Keras puts in history
    'accuracy'

Every state is a sum over samples, so two states of the same metric combine with
``m.merge(state_a, state_b)`` (e.g. across devices or epochs). Called eagerly, ``update`` and
``result`` run as one compiled program per metric and input shape (not op by op); inside your own
``jit`` or ``scan`` they simply inline.

Numerics follow ``keras.metrics``: a mean metric's ``update`` averages each sample's values
over its non-batch axes and adds them (times ``sample_weight``) to ``total``, and adds the
number of samples (or the sum of the weights) to ``count``; ``result = total / count``
(0 when nothing was seen). Deviations from Keras:

* Rank-1 ``[batch]`` inputs to loss-based metrics count as ``batch`` samples with one value each
  (see ``funcnet.losses``); Keras counts the whole batch as one sample.
* ``"accuracy"`` resolves from the loss when one is given (as Keras 2 did), else from shapes as
  Keras 3 does; a rank-1 ``y_pred`` counts as binary.
* ``MeanIoU`` accumulates float weights; Keras's integer confusion matrix truncates them.
"""

from __future__ import annotations

import difflib
import functools
import numbers
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from funcnet import losses
from funcnet._checks import flag

__all__ = [
    "Metric",
    "Mean",
    "Sum",
    "MeanMetricWrapper",
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "SparseCategoricalAccuracy",
    "TopKCategoricalAccuracy",
    "SparseTopKCategoricalAccuracy",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "MeanSquaredError",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanSquaredLogarithmicError",
    "RootMeanSquaredError",
    "KLDivergence",
    "Poisson",
    "Hinge",
    "SquaredHinge",
    "CategoricalHinge",
    "LogCoshError",
    "CosineSimilarity",
    "Precision",
    "Recall",
    "MeanIoU",
    "binary_accuracy",
    "categorical_accuracy",
    "sparse_categorical_accuracy",
    "top_k_categorical_accuracy",
    "sparse_top_k_categorical_accuracy",
    "cosine_similarity",
    "get",
]

_as_array = losses._as_array


def _zeros(shape=()) -> jax.Array:
    return jnp.zeros(shape, jnp.float32)


def _divide_no_nan(num: jax.Array, den: jax.Array) -> jax.Array:
    """``num / den``, and 0 where ``den == 0`` (gradient-safe)."""
    safe = jnp.where(den == 0, 1.0, den)
    return jnp.where(den == 0, 0.0, num / safe)


def _check_int(owner: str, arg: str, value, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{owner}: {arg} must be an int >= {minimum}, got {value!r}.")
    return int(value)


def _match_shapes(owner: str, y_true: jax.Array, y_pred: jax.Array):
    """Equal shapes, or shapes that differ only by a trailing 1 (``[n]`` vs ``[n, 1]``).

    As Keras's ``squeeze_or_expand_to_same_rank``; returns ``y_true`` reshaped like ``y_pred``.
    """
    t, p = tuple(y_true.shape), tuple(y_pred.shape)
    if t == p:
        return y_true, y_pred
    if t + (1,) == p or t == p + (1,):
        return y_true.reshape(p), y_pred
    raise ValueError(
        f"{owner}: y_true has shape {t} but y_pred has shape {p}; expected equal shapes "
        "(or shapes that differ only by a trailing 1, like (n,) and (n, 1))."
    )


def _class_ids_shape(owner: str, y_true: jax.Array, y_pred: jax.Array, dense_name: str) -> tuple:
    """Checks that ``y_true`` holds class ids for ``y_pred`` ``[..., classes]``; returns their shape."""
    if y_pred.ndim < 2:
        raise ValueError(f"{owner}: y_pred has shape {tuple(y_pred.shape)}; expected [batch, classes].")
    ids = tuple(y_pred.shape[:-1])
    if tuple(y_true.shape) not in (ids, ids + (1,)):
        hint = ""
        if y_true.shape == y_pred.shape:
            hint = f" y_true has the shape of y_pred, so it looks one-hot; use {dense_name}."
        raise ValueError(
            f"{owner}: y_true has shape {tuple(y_true.shape)} but y_pred has shape "
            f"{tuple(y_pred.shape)}; expected class ids of shape {ids} or {ids + (1,)}.{hint}"
        )
    return ids


def _check_one_hot(owner: str, y_true: jax.Array, y_pred: jax.Array, sparse_name: str) -> None:
    if y_true.shape != y_pred.shape:
        hint = ""
        if y_pred.ndim >= 1 and tuple(y_true.shape) in (y_pred.shape[:-1], y_pred.shape[:-1] + (1,)):
            hint = f" y_true looks like integer class ids; use {sparse_name}."
        raise ValueError(
            f"{owner}: y_true has shape {tuple(y_true.shape)} but y_pred has shape "
            f"{tuple(y_pred.shape)}; expected one-hot y_true of the same shape as y_pred.{hint}"
        )
    if y_pred.ndim < 2:
        raise ValueError(f"{owner}: y_pred has shape {tuple(y_pred.shape)}; expected [batch, classes].")


def _weight_like(owner: str, sample_weight, shape) -> jax.Array:
    """float32 weights broadcast to ``shape``: given as ``shape[:r]`` (``[batch]``) or ``shape + (1,)``."""
    if sample_weight is None:
        return jnp.ones(shape, jnp.float32)
    return losses._broadcast_weight(owner, sample_weight, shape, jnp.float32)


# --------------------------------------------------------------------------------------------
# Per-sample accuracy functions (Keras 3 semantics; float32 results)
# --------------------------------------------------------------------------------------------


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """Whether ``y_pred > threshold`` equals the 0/1 label, averaged over the last axis.

    Args:
        y_true: ``[batch, ..., k]`` or ``[batch]`` labels, 0 or 1.
        y_pred: the same shape (or differing by a trailing 1, like ``[n]`` and ``[n, 1]``).
        threshold: predictions strictly above it count as 1.

    Returns:
        float32 ``[batch, ...]`` (``[batch]`` for ``[batch]`` or ``[batch, 1]`` inputs).
    """
    name = "binary_accuracy"
    y_true, y_pred = _match_shapes(name, _as_array(y_true, name, "y_true"), _as_array(y_pred, name, "y_pred"))
    predicted = (y_pred > threshold).astype(jnp.float32)
    matches = (y_true.astype(jnp.float32) == predicted).astype(jnp.float32)
    return jnp.mean(matches, axis=-1) if matches.ndim >= 2 else matches


def categorical_accuracy(y_true, y_pred):
    """``argmax(y_true) == argmax(y_pred)`` over the last axis.

    Shapes: one-hot ``y_true`` and ``y_pred`` ``[batch, ..., classes]`` -> float32 ``[batch, ...]``.
    """
    name = "categorical_accuracy"
    y_true, y_pred = _as_array(y_true, name, "y_true"), _as_array(y_pred, name, "y_pred")
    _check_one_hot(name, y_true, y_pred, "sparse_categorical_accuracy")
    return (jnp.argmax(y_true, axis=-1) == jnp.argmax(y_pred, axis=-1)).astype(jnp.float32)


def sparse_categorical_accuracy(y_true, y_pred):
    """``y_true == argmax(y_pred)`` for integer class ids.

    Shapes: ``y_true`` ``[batch, ...]`` or ``[batch, ..., 1]``, ``y_pred`` ``[batch, ..., classes]``
    -> float32 ``[batch, ...]``. Labels are compared as floats (as Keras), so 1.5 never matches.
    """
    name = "sparse_categorical_accuracy"
    y_true, y_pred = _as_array(y_true, name, "y_true"), _as_array(y_pred, name, "y_pred")
    ids = _class_ids_shape(name, y_true, y_pred, "categorical_accuracy")
    predicted = jnp.argmax(y_pred, axis=-1).astype(jnp.float32)
    return (y_true.reshape(ids).astype(jnp.float32) == predicted).astype(jnp.float32)


def _in_top_k(labels: jax.Array, y_pred: jax.Array, k: int) -> jax.Array:
    """Whether ``labels`` is among the ``k`` largest ``y_pred`` entries (ties count as in)."""
    at_label = jnp.take_along_axis(y_pred, labels[..., None], axis=-1)
    # A NaN score must not count as large.
    at_label = jnp.where(jnp.isnan(at_label), -jnp.inf, at_label)
    rank = 1 + jnp.sum(y_pred > at_label, axis=-1)
    return (rank <= k).astype(jnp.float32)


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """Whether ``argmax(y_true)`` is among the ``k`` highest scores of ``y_pred``.

    Shapes: one-hot ``y_true`` and ``y_pred`` ``[batch, ..., classes]`` -> float32 ``[batch, ...]``.
    """
    name = "top_k_categorical_accuracy"
    k = _check_int(name, "k", k, 1)
    y_true, y_pred = _as_array(y_true, name, "y_true"), _as_array(y_pred, name, "y_pred")
    _check_one_hot(name, y_true, y_pred, "sparse_top_k_categorical_accuracy")
    return _in_top_k(jnp.argmax(y_true, axis=-1), y_pred, k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    """Whether the class id ``y_true`` is among the ``k`` highest scores of ``y_pred``.

    Shapes: ``y_true`` ``[batch, ...]`` or ``[batch, ..., 1]``, ``y_pred`` ``[batch, ..., classes]``
    -> float32 ``[batch, ...]``.
    """
    name = "sparse_top_k_categorical_accuracy"
    k = _check_int(name, "k", k, 1)
    y_true, y_pred = _as_array(y_true, name, "y_true"), _as_array(y_pred, name, "y_pred")
    ids = _class_ids_shape(name, y_true, y_pred, "top_k_categorical_accuracy")
    return _in_top_k(y_true.reshape(ids).astype(jnp.int32), y_pred, k)


def cosine_similarity(y_true, y_pred, axis=-1):
    """Cosine similarity ``sum(l2_normalize(y_true) * l2_normalize(y_pred))``, in ``[-1, 1]``.

    The metric is the positive cosine (as ``keras.metrics.CosineSimilarity``); the loss of the
    same name is its negative.
    """
    return -losses.cosine_similarity(y_true, y_pred, axis=axis)


def _accuracy_kind(true_shape: tuple, pred_shape: tuple) -> Callable:
    """Keras 3's choice among the accuracies, from static shapes."""
    if len(pred_shape) <= 1 or pred_shape[-1] == 1:
        return binary_accuracy
    if len(true_shape) < len(pred_shape) or true_shape[-1] == 1:
        return sparse_categorical_accuracy
    return categorical_accuracy


def _auto_accuracy(y_true, y_pred):
    """Binary, sparse or categorical accuracy, picked by the shapes of the arguments."""
    y_true, y_pred = _as_array(y_true, "accuracy", "y_true"), _as_array(y_pred, "accuracy", "y_pred")
    return _accuracy_kind(y_true.shape, y_pred.shape)(y_true, y_pred)


_auto_accuracy.__name__ = "accuracy"


# --------------------------------------------------------------------------------------------
# Base class and reductions
# --------------------------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnums=(0, 1))
def _compiled(metric: _Streaming, method: str, *args):
    return getattr(metric, method)(*args)


class _Streaming:
    """What every metric is: an immutable bundle of hyper-parameters plus pure functions over a state.

    * ``init() -> state``: a dict of float32 arrays (the zero state).
    * ``update(state, ...) -> state``: same structure, shapes, dtypes (what it takes is the subclass's).
    * ``result(state) -> jax.Array``: float32 scalar (or vector, e.g. for several thresholds).
    * ``name``: the key reported in training history.

    Subclasses set their attributes with ``self._set(...)`` in ``__init__``; afterwards the
    object is frozen. Equality and hashing use the class and all attributes.
    """

    name: str

    def init(self) -> dict:
        raise NotImplementedError

    def result(self, state: dict) -> jax.Array:
        """The metric's value for everything seen so far."""
        return self._run("_result", state)

    def merge(self, state_a: dict, state_b: dict) -> dict:
        """The state of both streams together (all states here are sums)."""
        return jax.tree_util.tree_map(jnp.add, state_a, state_b)

    def _result(self, state):
        raise NotImplementedError

    def _run(self, method: str, *args):
        try:
            hash(self)
        except TypeError:  # unhashable hyper-parameters (e.g. an array kwarg): run op by op
            return getattr(self, method)(*args)
        return _compiled(self, method, *args)

    def _set(self, **attributes) -> None:
        for key, value in attributes.items():
            object.__setattr__(self, key, value)

    def __setattr__(self, key, value):
        raise AttributeError(
            f"{type(self).__name__} is immutable (cannot set {key!r}); build a new metric instead."
        )

    def _key(self):
        return (type(self), tuple(sorted(self.__dict__.items())))

    def __eq__(self, other):
        return isinstance(other, _Streaming) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items())
        return f"{type(self).__name__}({args})"


class Metric(_Streaming):
    """Base class of the metrics of labels and predictions, the ones ``compile(metrics=...)`` takes.

    * ``init() -> state``: a dict of float32 arrays (the zero state).
    * ``update(state, y_true, y_pred, sample_weight=None) -> state``: same structure, shapes, dtypes.
    * ``result(state) -> jax.Array``: float32 scalar (or vector, e.g. for several thresholds).
    * ``name``: the key reported in training history.

    Subclasses implement ``init``, ``_update(state, y_true, y_pred, sample_weight)`` and
    ``_result(state)`` in traceable JAX. The public ``update``/``result`` check and convert the
    inputs, then run those compiled (once per metric and input shape), so an eager loop of
    updates costs one dispatch each; inside your own ``jit`` or ``scan`` they simply inline.

    Subclasses set their attributes with ``self._set(...)`` in ``__init__``; afterwards the
    object is frozen. Equality and hashing use the class and all attributes.
    """

    def update(self, state: dict, y_true, y_pred, sample_weight=None) -> dict:
        """The state after also seeing ``(y_true, y_pred)``, weighted by ``sample_weight`` ``[batch]``."""
        y_true = _as_array(y_true, self.name, "y_true")
        y_pred = _as_array(y_pred, self.name, "y_pred")
        if sample_weight is not None:
            sample_weight = _as_array(sample_weight, self.name, "sample_weight")
        return self._run("_update", state, y_true, y_pred, sample_weight)

    def _update(self, state, y_true, y_pred, sample_weight):
        raise NotImplementedError


def _mean_state() -> dict:
    return {"total": _zeros(), "count": _zeros()}


def _accumulate_mean(owner: str, state: dict, values, sample_weight) -> dict:
    """Adds per-sample means of ``values`` (weighted) to ``total`` and samples to ``count``."""
    values = _as_array(values, owner, "values").astype(jnp.float32)
    if sample_weight is None:
        per_sample = jnp.mean(values, axis=tuple(range(1, values.ndim))) if values.ndim > 1 else values
        count = jnp.asarray(values.shape[0] if values.ndim else 1, jnp.float32)
        return {"total": state["total"] + jnp.sum(per_sample), "count": state["count"] + count}
    weight = _as_array(sample_weight, owner, "sample_weight").astype(jnp.float32)
    if weight.shape == values.shape + (1,):
        weight = weight.reshape(values.shape)
    rank = weight.ndim
    if weight.shape != values.shape[:rank] or (rank == 0 and values.ndim > 0):
        raise ValueError(
            f"{owner}: sample_weight has shape {tuple(weight.shape)} but the values have shape "
            f"{tuple(values.shape)}; expected per-sample weights of shape {tuple(values.shape[:1])}."
        )
    # Average each sample over the axes the weights do not cover, then weight it (Keras).
    weighted = jnp.mean(values, axis=tuple(range(rank, values.ndim))) * weight
    if rank > 1:
        weighted = jnp.mean(weighted, axis=tuple(range(1, rank)))
        weight = jnp.mean(weight, axis=tuple(range(1, rank)))
    return {"total": state["total"] + jnp.sum(weighted), "count": state["count"] + jnp.sum(weight)}


class Mean(_Streaming):
    """Weighted mean of the values seen: ``update(state, values, sample_weight=None)``.

    It averages values you compute yourself (a loss, a norm), so ``compile(metrics=...)``, which gives
    metrics labels and predictions, does not take it (wrap a function of them in ``MeanMetricWrapper``).

    Values ``[batch, ...]`` are averaged per sample over their non-batch axes;
    ``result = sum(w_i * v_i) / sum(w_i)``. State: ``{"total": f32[], "count": f32[]}``.
    """

    def __init__(self, name="mean"):
        self._set(name=name)

    def init(self):
        return _mean_state()

    def update(self, state, values, sample_weight=None):
        values = _as_array(values, self.name, "values")
        if sample_weight is not None:
            sample_weight = _as_array(sample_weight, self.name, "sample_weight")
        return self._run("_update_values", state, values, sample_weight)

    def _update_values(self, state, values, sample_weight):
        return _accumulate_mean(self.name, state, values, sample_weight)

    def _result(self, state):
        return _divide_no_nan(state["total"], state["count"])


class Sum(_Streaming):
    """Weighted sum of the values seen: ``update(state, values, sample_weight=None)``.

    ``sample_weight`` ``[batch]`` (or a leading part of ``values.shape``) multiplies the values.
    State: ``{"total": f32[]}``.
    """

    def __init__(self, name="sum"):
        self._set(name=name)

    def init(self):
        return {"total": _zeros()}

    def update(self, state, values, sample_weight=None):
        values = _as_array(values, self.name, "values")
        if sample_weight is not None:
            sample_weight = _as_array(sample_weight, self.name, "sample_weight")
        return self._run("_update_values", state, values, sample_weight)

    def _update_values(self, state, values, sample_weight):
        values = values.astype(jnp.float32)
        if sample_weight is not None:
            values = values * _weight_like(self.name, sample_weight, values.shape)
        return {"total": state["total"] + jnp.sum(values)}

    def _result(self, state):
        return state["total"]


class MeanMetricWrapper(Metric):
    """The running weighted mean of a per-sample function ``fn(y_true, y_pred, **kwargs)``.

    ``fn`` returns ``[batch, ...]``; each sample's values are averaged over the non-batch axes,
    then ``result = sum_i w_i * fn_i / sum_i w_i`` over every sample seen, with
    ``sample_weight`` ``w`` of shape ``[batch]`` (default 1). State as ``Mean``.

    Examples:
        >>> m = MeanMetricWrapper(losses.mean_absolute_error, name="mae")
        >>> m.result(m.update(m.init(), jnp.zeros((2, 3)), jnp.ones((2, 3))))
        Array(1., dtype=float32)
    """

    fn: Callable[..., jax.Array]
    fn_kwargs: tuple[tuple[str, Any], ...]

    def __init__(self, fn: Callable, name: str | None = None, **kwargs):
        if not callable(fn):
            raise TypeError(f"MeanMetricWrapper: fn must be callable f(y_true, y_pred), got {fn!r}.")
        self._set(
            fn=fn,
            name=name or getattr(fn, "__name__", type(fn).__name__),
            fn_kwargs=tuple(sorted(kwargs.items())),
        )

    def init(self):
        return _mean_state()

    def _update(self, state, y_true, y_pred, sample_weight):
        try:
            values = self.fn(y_true, y_pred, **dict(self.fn_kwargs))
        except (TypeError, ValueError) as err:
            if type(err) not in (TypeError, ValueError):  # e.g. JAX's own errors: leave them be
                raise
            raise type(err)(f"metric {self.name!r}: {err}") from err
        return _accumulate_mean(f"metric {self.name!r}", state, values, sample_weight)

    def _result(self, state):
        return _divide_no_nan(state["total"], state["count"])


class BinaryAccuracy(MeanMetricWrapper):
    """Running mean of ``binary_accuracy`` (``y_pred > threshold`` matches the 0/1 label)."""

    def __init__(self, threshold=0.5, name="binary_accuracy"):
        if isinstance(threshold, (bool, np.bool_)) or not isinstance(threshold, numbers.Real):
            raise TypeError(f"BinaryAccuracy: threshold must be a float, got {threshold!r}.")
        super().__init__(binary_accuracy, name=name, threshold=float(threshold))


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """Running mean of ``top_k_categorical_accuracy``."""

    def __init__(self, k=5, name="top_k_categorical_accuracy"):
        super().__init__(top_k_categorical_accuracy, name=name, k=_check_int(type(self).__name__, "k", k, 1))


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """Running mean of ``sparse_top_k_categorical_accuracy``."""

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy"):
        super().__init__(
            sparse_top_k_categorical_accuracy, name=name, k=_check_int(type(self).__name__, "k", k, 1)
        )


class BinaryCrossentropy(MeanMetricWrapper):
    """Running mean of ``losses.binary_crossentropy``."""

    def __init__(self, from_logits=False, label_smoothing=0.0, name="binary_crossentropy"):
        loss = losses.BinaryCrossentropy(from_logits, label_smoothing)  # validates
        super().__init__(losses.binary_crossentropy, name=name, **loss.fn_kwargs)


class CategoricalCrossentropy(MeanMetricWrapper):
    """Running mean of ``losses.categorical_crossentropy``."""

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, name="categorical_crossentropy"):
        loss = losses.CategoricalCrossentropy(from_logits, label_smoothing, axis)
        super().__init__(losses.categorical_crossentropy, name=name, **loss.fn_kwargs)


class SparseCategoricalCrossentropy(MeanMetricWrapper):
    """Running mean of ``losses.sparse_categorical_crossentropy``."""

    def __init__(self, from_logits=False, axis=-1, name="sparse_categorical_crossentropy"):
        loss = losses.SparseCategoricalCrossentropy(from_logits, axis)
        super().__init__(losses.sparse_categorical_crossentropy, name=name, **loss.fn_kwargs)


class RootMeanSquaredError(MeanMetricWrapper):
    """``sqrt`` of the running mean of ``losses.mean_squared_error``."""

    def __init__(self, name="root_mean_squared_error"):
        super().__init__(losses.mean_squared_error, name=name)

    def _result(self, state):
        return jnp.sqrt(super()._result(state))


def _wrapper_class(class_name: str, fn: Callable, default_name: str) -> type:
    """A ``MeanMetricWrapper`` subclass for a per-sample function without hyper-parameters."""

    def __init__(self, name=default_name):
        MeanMetricWrapper.__init__(self, fn, name=name)

    return type(
        class_name,
        (MeanMetricWrapper,),
        {"__init__": __init__, "__doc__": f"Running mean of ``{fn.__name__}``.", "__module__": __name__},
    )


CategoricalAccuracy = _wrapper_class("CategoricalAccuracy", categorical_accuracy, "categorical_accuracy")
SparseCategoricalAccuracy = _wrapper_class(
    "SparseCategoricalAccuracy", sparse_categorical_accuracy, "sparse_categorical_accuracy"
)
MeanSquaredError = _wrapper_class("MeanSquaredError", losses.mean_squared_error, "mean_squared_error")
MeanAbsoluteError = _wrapper_class("MeanAbsoluteError", losses.mean_absolute_error, "mean_absolute_error")
MeanAbsolutePercentageError = _wrapper_class(
    "MeanAbsolutePercentageError", losses.mean_absolute_percentage_error, "mean_absolute_percentage_error"
)
MeanSquaredLogarithmicError = _wrapper_class(
    "MeanSquaredLogarithmicError", losses.mean_squared_logarithmic_error, "mean_squared_logarithmic_error"
)
KLDivergence = _wrapper_class("KLDivergence", losses.kl_divergence, "kl_divergence")
Poisson = _wrapper_class("Poisson", losses.poisson, "poisson")
Hinge = _wrapper_class("Hinge", losses.hinge, "hinge")
SquaredHinge = _wrapper_class("SquaredHinge", losses.squared_hinge, "squared_hinge")
CategoricalHinge = _wrapper_class("CategoricalHinge", losses.categorical_hinge, "categorical_hinge")
LogCoshError = _wrapper_class("LogCoshError", losses.log_cosh, "logcosh")
CosineSimilarity = _wrapper_class("CosineSimilarity", cosine_similarity, "cosine_similarity")


# --------------------------------------------------------------------------------------------
# Confusion-count metrics
# --------------------------------------------------------------------------------------------


class _ThresholdCounts(Metric):
    """Weighted true/false positive/negative counts at fixed thresholds (``keras.metrics`` style).

    A prediction is positive when ``y_pred > threshold``; a label is positive when non-zero.
    Every element of ``y_pred`` counts (multi-label outputs are flattened), each weighted by its
    sample's ``sample_weight``. With ``class_id`` only that column of ``[batch, classes]`` counts.
    """

    _counts: tuple = ()
    thresholds: tuple[float, ...]
    class_id: int | None

    def __init__(self, thresholds=None, class_id=None, name=None):
        owner = type(self).__name__
        if thresholds is None:
            thresholds = 0.5
        values = list(thresholds) if isinstance(thresholds, (list, tuple)) else [thresholds]
        for t in values:
            if isinstance(t, (bool, np.bool_)) or not isinstance(t, numbers.Real) or not 0.0 <= float(t) <= 1.0:
                raise ValueError(f"{owner}: thresholds must be floats in [0, 1], got {thresholds!r}.")
        if not values:
            raise ValueError(f"{owner}: thresholds must not be empty.")
        if class_id is not None:
            class_id = _check_int(owner, "class_id", class_id, 0)
        self._set(name=name or owner.lower(), thresholds=tuple(float(t) for t in values), class_id=class_id)

    def init(self):
        return {key: _zeros((len(self.thresholds),)) for key in self._counts}

    def _update(self, state, y_true, y_pred, sample_weight):
        owner = self.name
        y_true, y_pred = _match_shapes(owner, y_true, y_pred)
        if self.class_id is not None:
            if y_pred.ndim < 2 or self.class_id >= y_pred.shape[-1]:
                raise ValueError(
                    f"{owner}: class_id={self.class_id} needs y_pred of shape [batch, classes] with "
                    f"more than {self.class_id} classes, got shape {tuple(y_pred.shape)}."
                )
            y_true, y_pred = y_true[..., self.class_id], y_pred[..., self.class_id]
        weight = _weight_like(owner, sample_weight, y_pred.shape).reshape(1, -1)
        label = (y_true != 0).reshape(1, -1)
        thresholds = jnp.asarray(self.thresholds, jnp.float32).reshape(-1, 1)
        predicted = y_pred.astype(jnp.float32).reshape(1, -1) > thresholds
        hits = {
            "true_positives": label & predicted,
            "false_positives": ~label & predicted,
            "false_negatives": label & ~predicted,
            "true_negatives": ~label & ~predicted,
        }
        return {key: state[key] + jnp.sum(jnp.where(hits[key], weight, 0.0), axis=1) for key in self._counts}

    def _per_threshold(self, value: jax.Array) -> jax.Array:
        return value[0] if len(self.thresholds) == 1 else value


class Precision(_ThresholdCounts):
    """``true_positives / (true_positives + false_positives)`` (0 when nothing was predicted positive).

    Args:
        thresholds: a float or a list of floats in ``[0, 1]`` (default 0.5); with several, the
            result is a vector, one precision per threshold.
        class_id: restrict to one class (column) of ``[batch, classes]`` predictions.
        name: default ``"precision"``.
    """

    _counts = ("true_positives", "false_positives")

    def _result(self, state):
        tp = state["true_positives"]
        return self._per_threshold(_divide_no_nan(tp, tp + state["false_positives"]))


class Recall(_ThresholdCounts):
    """``true_positives / (true_positives + false_negatives)`` (0 when there were no positives).

    Arguments as ``Precision``; default name ``"recall"``.
    """

    _counts = ("true_positives", "false_negatives")

    def _result(self, state):
        tp = state["true_positives"]
        return self._per_threshold(_divide_no_nan(tp, tp + state["false_negatives"]))


class MeanIoU(Metric):
    """Mean intersection-over-union over classes, from a streamed confusion matrix.

    ``iou_c = cm[c, c] / (sum(cm[c, :]) + sum(cm[:, c]) - cm[c, c])``; the result averages
    ``iou_c`` over the classes whose denominator is non-zero (as ``keras.metrics.MeanIoU``).

    Args:
        num_classes: int >= 2; the state is a ``[num_classes, num_classes]`` float32 matrix
            (rows: true class, columns: predicted class).
        ignore_class: a class id whose ``y_true`` entries are skipped (e.g. a "void" label).
        sparse_y_true: ``y_true`` holds class ids; if False it is one-hot and its argmax is used.
        sparse_y_pred: ``y_pred`` holds class ids; if False it holds scores and its argmax is used.
        axis: the class axis for the argmax.

    Class ids are truncated to ints; ids outside ``[0, num_classes)`` are skipped.
    ``sample_weight`` is ``[batch]`` or the shape of the class ids.
    """

    num_classes: int
    ignore_class: int | None
    sparse_y_true: bool
    sparse_y_pred: bool
    axis: int

    def __init__(
        self,
        num_classes,
        name="mean_io_u",
        ignore_class=None,
        sparse_y_true=True,
        sparse_y_pred=True,
        axis=-1,
    ):
        owner = "MeanIoU"
        num_classes = _check_int(owner, "num_classes", num_classes, 2)
        if ignore_class is not None and (
            isinstance(ignore_class, bool) or not isinstance(ignore_class, numbers.Integral)
        ):
            raise ValueError(f"{owner}: ignore_class must be an int or None, got {ignore_class!r}.")
        self._set(
            name=name,
            num_classes=num_classes,
            ignore_class=None if ignore_class is None else int(ignore_class),
            sparse_y_true=flag(sparse_y_true, f"{owner}: sparse_y_true"),
            sparse_y_pred=flag(sparse_y_pred, f"{owner}: sparse_y_pred"),
            axis=int(axis),
        )

    def init(self):
        return {"total_confusion_matrix": _zeros((self.num_classes, self.num_classes))}

    def _update(self, state, y_true, y_pred, sample_weight):
        owner, n = self.name, self.num_classes
        if not self.sparse_y_true:
            y_true = jnp.argmax(y_true, axis=self.axis)
        if not self.sparse_y_pred:
            y_pred = jnp.argmax(y_pred, axis=self.axis)
        try:
            y_true, y_pred = _match_shapes(owner, y_true, y_pred)
        except ValueError as err:
            hint = ""
            if self.sparse_y_pred and y_pred.ndim == y_true.ndim + 1:
                hint = " If y_pred holds class scores, use MeanIoU(..., sparse_y_pred=False)."
            elif self.sparse_y_true and y_true.ndim == y_pred.ndim + 1:
                hint = " If y_true is one-hot, use MeanIoU(..., sparse_y_true=False)."
            raise ValueError(f"{err}{hint}") from None
        weight = _weight_like(owner, sample_weight, y_pred.shape).reshape(-1)
        true_ids = y_true.astype(jnp.int32).reshape(-1)
        pred_ids = y_pred.astype(jnp.int32).reshape(-1)
        valid = (true_ids >= 0) & (true_ids < n) & (pred_ids >= 0) & (pred_ids < n)
        if self.ignore_class is not None:
            valid = valid & (true_ids != self.ignore_class)
        cell = jnp.where(valid, true_ids * n + pred_ids, 0)
        counts = jnp.bincount(cell, weights=jnp.where(valid, weight, 0.0), length=n * n)
        return {
            "total_confusion_matrix": state["total_confusion_matrix"]
            + counts.reshape(n, n).astype(jnp.float32)
        }

    def _result(self, state):
        cm = state["total_confusion_matrix"]
        true_positives = jnp.diagonal(cm)
        denominator = jnp.sum(cm, axis=0) + jnp.sum(cm, axis=1) - true_positives
        present = denominator > 1e-9
        # Keras's epsilons, kept so results agree to the last digit.
        iou = jnp.where(present, true_positives / (denominator + losses.EPSILON), 0.0)
        return jnp.sum(iou) / (jnp.sum(present.astype(jnp.float32)) + losses.EPSILON)


# --------------------------------------------------------------------------------------------
# Lookup by name
# --------------------------------------------------------------------------------------------

_ACCURACY_FOR_LOSS: dict[object, Callable[..., jax.Array]] = {
    losses.binary_crossentropy: binary_accuracy,
    losses.sparse_categorical_crossentropy: sparse_categorical_accuracy,
    losses.categorical_crossentropy: categorical_accuracy,
}

_BY_NAME: dict[str, Callable[..., Metric]] = {}
for _cls, _snake in [
    (BinaryAccuracy, "binary_accuracy"),
    (CategoricalAccuracy, "categorical_accuracy"),
    (SparseCategoricalAccuracy, "sparse_categorical_accuracy"),
    (TopKCategoricalAccuracy, "top_k_categorical_accuracy"),
    (SparseTopKCategoricalAccuracy, "sparse_top_k_categorical_accuracy"),
    (Precision, "precision"),
    (Recall, "recall"),
    (RootMeanSquaredError, "root_mean_squared_error"),
    (CosineSimilarity, "cosine_similarity"),
    (LogCoshError, "log_cosh_error"),
]:
    _BY_NAME[_cls.__name__] = _BY_NAME[_snake] = _cls
# Snake-case loss names fall through to the losses table; class names give the metric class.
for _cls in (
    BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy, MeanSquaredError,
    MeanAbsoluteError, MeanAbsolutePercentageError, MeanSquaredLogarithmicError, KLDivergence,
    Poisson, Hinge, SquaredHinge, CategoricalHinge,
):  # fmt: skip
    _BY_NAME[_cls.__name__] = _cls
del _cls, _snake

_IOU_NAMES = ("mean_io_u", "mean_iou", "MeanIoU", "iou", "io_u", "IoU")


def _accuracy(name: str, loss) -> MeanMetricWrapper:
    fn = _auto_accuracy
    if loss is not None:
        fn = _ACCURACY_FOR_LOSS.get(losses._underlying_function(loss), _auto_accuracy)
    return MeanMetricWrapper(fn, name=name)


def _valid_names() -> list:
    return sorted({"accuracy", "acc", *_BY_NAME, *losses._BY_NAME})


def get(identifier, loss=None) -> Metric:
    """Resolves a metric identifier to a ``Metric``.

    Args:
        identifier: a name as in Keras (``"accuracy"``, ``"acc"``, ``"binary_accuracy"``,
            ``"precision"``, ``"recall"``, ``"mse"``, any ``funcnet.losses`` name, or a class name
            like ``"CategoricalAccuracy"``); a ``Metric`` (returned unchanged); a ``Metric`` class
            (instantiated with defaults); a ``losses.Loss`` object or a plain function
            ``f(y_true, y_pred) -> [batch]``, wrapped in ``MeanMetricWrapper``.
        loss: the training loss (name, function or ``Loss``), used only to resolve
            ``"accuracy"``: binary/sparse/categorical crossentropy pick binary/sparse/categorical
            accuracy. Without it (or for other losses) the choice is made from the shapes at
            ``update`` time, as Keras 3 does: ``y_pred`` with last dimension 1 (or rank 1) ->
            binary; ``y_true`` of lower rank or with last dimension 1 -> sparse; else categorical.

    Returns:
        A ``Metric``; for a string its ``name`` is the string (as Keras names history keys).

    Raises:
        ValueError: unknown name (the message lists the valid ones); ``"mean_iou"`` and friends,
            which need ``num_classes``.
        TypeError: ``Mean`` and ``Sum`` (they take values, not labels and predictions); anything else
            (``None``, numbers, ...).
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        try:
            return identifier()
        except TypeError as err:
            raise TypeError(
                f"metrics.get: {identifier.__name__} needs arguments ({err}); pass an instance."
            ) from None
    if isinstance(identifier, _Streaming) or (isinstance(identifier, type) and issubclass(identifier, _Streaming)):
        shown = identifier.__name__ if isinstance(identifier, type) else type(identifier).__name__
        raise TypeError(
            f"metrics.get: {shown} accumulates values you give it (update(state, values)), not labels and "
            "predictions, so compile cannot feed it; for a metric of (y_true, y_pred) pass a function or "
            "metrics.MeanMetricWrapper(fn)."
        )
    if isinstance(identifier, type) and issubclass(identifier, losses.Loss):
        identifier = identifier()
    if isinstance(identifier, losses.Loss):
        return MeanMetricWrapper(identifier.call, name=identifier.name)
    if isinstance(identifier, str):
        if identifier in ("accuracy", "acc"):
            return _accuracy(identifier, loss)
        if identifier in _IOU_NAMES:
            raise ValueError(
                f"metrics.get: {identifier!r} cannot come from a string because MeanIoU needs "
                "num_classes; pass metrics.MeanIoU(num_classes=...) instead."
            )
        if identifier in _BY_NAME:
            return _BY_NAME[identifier](name=identifier)
        if identifier in losses._BY_NAME:
            return MeanMetricWrapper(losses._BY_NAME[identifier], name=identifier)
        close = difflib.get_close_matches(identifier, _valid_names(), n=3)
        suggestion = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise ValueError(
            f"metrics.get: unknown metric {identifier!r}.{suggestion} Valid names: "
            f"{', '.join(_valid_names())}."
        )
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise TypeError(
        "metrics.get: identifier must be a metric name (str), a Metric or a function "
        f"f(y_true, y_pred), got {type(identifier).__name__} {identifier!r:.60}."
    )
