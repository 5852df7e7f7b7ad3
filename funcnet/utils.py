"""Small array helpers of the book's experiments: one-hot labels and multi-hot bags of words.

Both take and return NumPy arrays (they prepare data on the host, before it reaches a model) and
return float32, funcnet's default float.
"""
from __future__ import annotations

import itertools
import numbers
from typing import Any

import numpy as np

from funcnet._checks import positive_int

__all__ = ["to_categorical", "vectorize_sequences"]


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
