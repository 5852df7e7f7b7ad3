"""Small array helpers of the book's experiments: one-hot labels, multi-hot bags of words and padded
sequences.

All three take and return NumPy arrays (they prepare data on the host, before it reaches a model); the
encoders return float32, funcnet's default float, and pad_sequences int32 ids unless given a dtype.
"""
from __future__ import annotations

import itertools
import numbers
from typing import Any

import numpy as np

from funcnet._checks import positive_int

__all__ = ["pad_sequences", "to_categorical", "vectorize_sequences"]


def _as_int_array(values: Any, what: str) -> np.ndarray:
    """``values`` as int64, refusing what would silently become a different label or id."""
    try:
        array = np.asarray(values)
    except ValueError as err:  # ragged nested lists
        raise ValueError(f"{what} must be a rectangular array of ints; {err}") from err
    if array.dtype.kind in "iub":
        return array.astype(np.int64)
    if array.dtype.kind == "f":
        if array.size and not np.all(np.isfinite(array)):
            raise ValueError(f"{what} holds NaN or inf; expected int class ids.")
        if array.size and not np.all(array == np.round(array)):
            bad = array[array != np.round(array)].reshape(-1)[0]
            raise ValueError(f"{what} holds the non-integer value {bad}; expected int class ids. "
                             "(Probabilities or one-hot rows need no to_categorical.)")
        return array.astype(np.int64)
    raise TypeError(f"{what} must hold ints; got an array of dtype {array.dtype}.")


def _flatten_int_lists(sequences: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """``(all ids as int64, length of each sequence)`` when ``sequences`` is a list (or object array) of
    lists or tuples of Python/numpy ints -- the fast path for the data sets' ragged arrays; else None."""
    if set(map(type, sequences)) - {list, tuple}:
        return None
    for kind in set(map(type, itertools.chain.from_iterable(sequences))):
        if not issubclass(kind, (int, np.integer)) or issubclass(kind, (bool, np.bool_)):
            return None
    lengths = np.fromiter(map(len, sequences), np.int64, count=len(sequences))
    try:
        flat = np.fromiter(itertools.chain.from_iterable(sequences), np.int64, count=int(lengths.sum()))
    except OverflowError:
        return None
    return flat, lengths


def to_categorical(y: Any, num_classes: int | None = None) -> np.ndarray:
    """One-hot encodes int class ids: ``out[..., k] = 1.0 if y[...] == k else 0.0``.

    As ``keras.utils.to_categorical``: ``y`` of shape ``[...]`` (or ``[..., 1]``, whose trailing 1 is
    dropped) gives ``[..., num_classes]``; ``num_classes`` defaults to ``max(y) + 1``.

    Args:
        y: int class ids (any array-like; floats with integer values are accepted), ``[n]`` or
            ``[n, 1]`` or any shape.
        num_classes: the number of classes, a positive int, more than the largest id.

    Returns:
        float32 array ``y.shape + [num_classes]`` (without a trailing 1 of ``y``).

    Raises:
        ValueError: a negative id; an id ``>= num_classes``; ``num_classes <= 0``; empty ``y``
            without ``num_classes``; non-integer values.
        TypeError: non-numeric ``y``, or a ``num_classes`` that is not an int.

    Examples:
        >>> to_categorical([0, 2, 1])
        array([[1., 0., 0.],
               [0., 0., 1.],
               [0., 1., 0.]], dtype=float32)
    """
    labels = _as_int_array(y, "to_categorical: y")
    shape = labels.shape
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    flat = labels.reshape(-1)
    if flat.size and flat.min() < 0:
        i = int(np.argmax(flat < 0))
        raise ValueError(f"to_categorical: y holds the negative class id {flat[i]} (at flat index {i}); "
                         "class ids must be 0..num_classes-1.")
    if num_classes is None:
        if not flat.size:
            raise ValueError("to_categorical: y is empty, so num_classes cannot be inferred; pass num_classes.")
        num_classes = int(flat.max()) + 1
    else:
        num_classes = positive_int(num_classes, "to_categorical: num_classes")
        if flat.size and flat.max() >= num_classes:
            raise ValueError(f"to_categorical: y holds the class id {flat.max()}, but num_classes={num_classes} "
                             f"only allows 0..{num_classes - 1}; pass num_classes={flat.max() + 1} or more.")
    out = np.zeros((flat.size, num_classes), dtype=np.float32)
    out[np.arange(flat.size), flat] = 1.0
    return out.reshape(shape + (num_classes,))


def vectorize_sequences(sequences: Any, dimension: int = 10000) -> np.ndarray:
    """Multi-hot encodes word-id sequences, as the book does: ``out[i, w] = 1.0`` for each id ``w`` in
    ``sequences[i]`` (repeats count once).

    Args:
        sequences: ``n`` sequences of int ids: a list of lists, the object arrays of
            ``datasets.imdb.load_data``, or an int array ``[n, length]`` (e.g. padded sequences;
            the padding id 0 is set like any other id).
        dimension: the number of columns, a positive int; every id must be ``< dimension``
            (load the data with ``num_words=dimension``).

    Returns:
        float32 array ``[n, dimension]`` of 0s and 1s.

    Raises:
        ValueError: an id ``>= dimension`` or negative; ``dimension <= 0``; non-integer ids.
        TypeError: ``sequences`` is not a sequence of sequences of ints.

    Examples:
        >>> vectorize_sequences([[1, 3], [0, 3, 3]], dimension=4)
        array([[0., 1., 0., 1.],
               [1., 0., 0., 1.]], dtype=float32)
    """
    dimension = positive_int(dimension, "vectorize_sequences: dimension")
    if not isinstance(sequences, (list, tuple, np.ndarray)) and hasattr(sequences, "__array__"):
        sequences = np.asarray(sequences)  # a jax array, say
    if isinstance(sequences, np.ndarray) and sequences.dtype != object:
        if sequences.ndim != 2:
            raise TypeError(f"vectorize_sequences: sequences must be [n, length] ids or a list of sequences; "
                            f"got an array of shape {sequences.shape}.")
        flat = _as_int_array(sequences, "vectorize_sequences: sequences").reshape(-1)
        rows = np.repeat(np.arange(sequences.shape[0]), sequences.shape[1])
        n = sequences.shape[0]
    else:
        if isinstance(sequences, (str, bytes)) or not hasattr(sequences, "__len__"):
            raise TypeError(f"vectorize_sequences: sequences must be a list of sequences of int ids; "
                            f"got {type(sequences).__name__}.")
        fast = _flatten_int_lists(sequences)
        if fast is None:
            parts = []
            for i, seq in enumerate(sequences):
                ids = None if isinstance(seq, (numbers.Number, str, bytes)) else \
                    _as_int_array(seq, f"vectorize_sequences: sequences[{i}]")
                if ids is None or ids.ndim != 1:
                    raise TypeError(f"vectorize_sequences: sequences[{i}] must be one sequence of int ids; got "
                                    f"{type(seq).__name__} {seq!r:.60}. (For a single sequence, pass [sequence].)")
                parts.append(ids)
            fast = (np.concatenate(parts) if parts else np.zeros(0, np.int64),
                    np.array([len(p) for p in parts], dtype=np.int64))
        flat, lengths = fast
        n = len(lengths)
        rows = np.repeat(np.arange(n), lengths)
    if flat.size and (flat.min() < 0 or flat.max() >= dimension):
        bad = int(np.argmax((flat < 0) | (flat >= dimension)))
        raise ValueError(f"vectorize_sequences: sequences[{rows[bad]}] holds the id {flat[bad]}, but dimension="
                         f"{dimension} only has room for ids 0..{dimension - 1}; load the data with "
                         f"num_words={dimension} (e.g. imdb.load_data(num_words={dimension})) or raise dimension.")
    out = np.zeros((n, dimension), dtype=np.float32)
    out[rows, flat] = 1.0
    return out


def pad_sequences(sequences: Any, maxlen: int | None = None, dtype: Any = "int32", padding: str = "pre",
                  truncating: str = "pre", value: Any = 0.0) -> np.ndarray:
    """Pads (or truncates) ``n`` sequences to one length ``maxlen``, as ``keras.utils.pad_sequences``.

    Row ``i`` holds ``sequences[i]``: truncated to its last (``truncating="pre"``) or first (``"post"``)
    ``maxlen`` steps, then filled up with ``value`` before (``padding="pre"``) or after (``"post"``) it.
    A step may be a feature vector: sequences ``[length_i, *features]`` give ``[n, maxlen, *features]``.

    Args:
        sequences: ``n`` sequences: lists (of ints, floats, strings or feature vectors), numpy or jax
            arrays, or an array ``[n, length, ...]``; empty sequences become rows of ``value``.
        maxlen: the output length, a positive int; ``None`` means the longest sequence's length.
        dtype: the output dtype (anything ``np.dtype`` takes); ``object`` (or a string dtype such as
            ``"U10"``) for strings.
        padding: ``"pre"`` or ``"post"``: where ``value`` goes in a short sequence.
        truncating: ``"pre"`` or ``"post"``: which end of a long sequence is dropped.
        value: the padding value, cast to ``dtype``; a string only with an object or string ``dtype``.

    Returns:
        array ``[n, maxlen, *features]`` of ``dtype``.

    Raises:
        ValueError: ``padding`` or ``truncating`` other than ``"pre"``/``"post"``; ``maxlen <= 0``;
            ``sequences`` or one of its entries is not a sequence; entries whose step shapes differ or
            that are ragged; values or ``value`` that ``dtype`` cannot hold (a string ``value`` with a
            numeric ``dtype``); an empty ``sequences`` without ``maxlen``.
        TypeError: ``maxlen`` is not an int, or ``dtype`` is not a dtype.

    Examples:
        >>> pad_sequences([[1], [2, 3], [4, 5, 6]])
        array([[0, 0, 1],
               [0, 2, 3],
               [4, 5, 6]], dtype=int32)
        >>> pad_sequences([[1], [2, 3], [4, 5, 6]], maxlen=2, padding="post", truncating="post", value=-1)
        array([[ 1, -1],
               [ 2,  3],
               [ 4,  5]], dtype=int32)
    """
    what = "pad_sequences"
    for name, mode in (("padding", padding), ("truncating", truncating)):
        # Keras checks these only when a sequence needs them; checking first fails the same way for any data
        if not isinstance(mode, str) or mode not in ("pre", "post"):
            raise ValueError(f'{what}: {name} must be "pre" or "post"; got {mode!r}.')
    if maxlen is not None:
        maxlen = positive_int(maxlen, f"{what}: maxlen")
    try:
        out_dtype = np.dtype(dtype)
    except TypeError as err:
        raise TypeError(f"{what}: dtype must be a numpy dtype such as 'int32', 'float32' or object; "
                        f"got {dtype!r}.") from err
    if isinstance(sequences, (str, bytes)) or not hasattr(sequences, "__len__"):
        raise ValueError(f"{what}: sequences must be a list of sequences; got {type(sequences).__name__} "
                         f"{sequences!r:.60}.")
    dtype_name = "None" if dtype is None else str(out_dtype)

    lengths = []
    sample_shape: tuple = ()
    found_first = False
    for i, seq in enumerate(sequences):
        # a string has a len, but Keras then fails on it for every dtype: refuse it by name
        length = None if isinstance(seq, (str, bytes)) else _len_or_none(seq)
        if length is None:
            raise ValueError(f"{what}: sequences[{i}] must be a sequence (a list or array of steps); got "
                             f"{type(seq).__name__} {seq!r:.60}. (For a single sequence, pass [sequence].)")
        lengths.append(length)
        if not found_first and length:
            # as Keras: the first non-empty sequence sets the step shape that all the others must have
            sample_shape = _as_steps(seq, None, f"{what}: sequences[{i}]").shape[1:]
            found_first = True

    if maxlen is None:
        if not lengths:
            raise ValueError(f"{what}: sequences is empty, so maxlen cannot be inferred; pass maxlen.")
        maxlen = max(lengths)

    if isinstance(value, str) and out_dtype.kind not in "OSU":
        raise ValueError(f"{what}: value {value!r} is a string, but dtype {dtype_name} is not; pass dtype=object "
                         "for strings of any length (or a string dtype such as 'U10').")
    try:
        out = np.full((len(lengths), maxlen) + sample_shape, value, dtype=dtype)
    except (TypeError, ValueError, OverflowError) as err:
        raise ValueError(f"{what}: value {value!r:.60} cannot be cast to dtype {dtype_name}; {err}") from err

    for i, (seq, length) in enumerate(zip(sequences, lengths)):
        if not length:
            continue
        try:
            kept = seq[-maxlen:] if truncating == "pre" else seq[:maxlen]
        except (TypeError, KeyError, IndexError) as err:
            raise ValueError(f"{what}: sequences[{i}] must be a sequence that can be sliced (a list or array); "
                             f"got {type(seq).__name__} {seq!r:.60}.") from err
        steps = _as_steps(kept, dtype, f"{what}: sequences[{i}]")
        if steps.shape[1:] != sample_shape:
            raise ValueError(f"{what}: sequences[{i}] has steps of shape {steps.shape[1:]}, but the first "
                             f"non-empty sequence's steps have shape {sample_shape}; every step must have "
                             "the same shape.")
        if padding == "post":
            out[i, :len(steps)] = steps
        else:
            out[i, -len(steps):] = steps
    return out


def _len_or_none(seq: Any) -> int | None:
    try:
        return len(seq)
    except TypeError:  # a number, a 0-d array, a generator
        return None


def _as_steps(seq: Any, dtype: Any, what: str) -> np.ndarray:
    """``np.asarray(seq, dtype)`` of at least one axis, or a ValueError naming ``what``."""
    try:
        steps = np.asarray(seq, dtype=dtype)
    except (TypeError, ValueError, OverflowError) as err:  # ragged steps, or values the dtype cannot hold
        target = "an array" if dtype is None else f"dtype {np.dtype(dtype)}"
        raise ValueError(f"{what} cannot be converted to {target}: {err}") from err
    if steps.ndim == 0:
        raise ValueError(f"{what} must be a sequence (a list or array of steps); got {type(seq).__name__} "
                         f"{seq!r:.60}.")
    return steps
