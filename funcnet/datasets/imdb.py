"""IMDB movie reviews (Maas et al. 2011), labelled by sentiment: Keras's ``keras.datasets.imdb``.

25,000 training and 25,000 test reviews, each a list of word ranks (the word ranked ``r`` by
frequency in the training set is ``r + index_from``; ``0`` pads, ``start_char`` marks the start,
``oov_char`` replaces cut words), labels 0 (negative) and 1 (positive), 12,500 of each per split.
"""
from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np

from funcnet.datasets import _files, _sequences

__all__ = ["decode", "get_word_index", "load_data"]


def load_data(
    path: str | os.PathLike = "imdb.npz",
    num_words: int | None = None,
    skip_top: int = 0,
    maxlen: int | None = None,
    seed: int = 113,
    start_char: int | None = 1,
    oov_char: int | None = 2,
    index_from: int = 3,
):
    """Loads IMDB as ``(x_train, y_train), (x_test, y_test)``, exactly as ``keras.datasets.imdb``.

    Each split is shuffled with ``np.random.RandomState(seed)`` (train first, then test, from the
    same generator), then every review becomes ``[start_char] + [rank + index_from, ...]``.

    Args:
        path: the local file name, looked up in ``$FUNCNET_DATA_DIR`` then the download cache (or
            an absolute path); see ``funcnet.datasets``.
        num_words: keep ranks below ``num_words`` (after the ``index_from`` offset), so the largest
            id is ``num_words - 1``; others become ``oov_char``. None (or 0): keep all but the very
            largest id (Keras's rule, see below).
        skip_top: ids below ``skip_top`` also become ``oov_char`` -- the start mark included.
        maxlen: drop (not truncate) every review whose length, start mark included, is
            ``>= maxlen``. None (or 0): keep all.
        seed: the shuffle seed.
        start_char: the id that starts every review; None for none.
        oov_char: the id of cut words; None drops them instead.
        index_from: the offset added to every rank.

    Returns:
        ``x_train``, ``x_test``: 1-D object arrays of Python lists of ints (``[n]``);
        ``y_train``, ``y_test``: int64 arrays ``[n]`` of 0/1 labels.

    Keras's rule for ``num_words=None``: ``num_words`` becomes the largest id present, and ids must
    be ``< num_words``, so that single largest id turns into ``oov_char``. Kept for exactness.

    Raises:
        ValueError: ``maxlen`` leaves a split empty; a bad argument; a corrupt file.
        FileNotFoundError: the file is not on disk and cannot be downloaded.

    Examples:
        >>> from funcnet.datasets import imdb
        >>> (x_train, y_train), (x_test, y_test) = imdb.load_data(num_words=10000)
        >>> len(x_train), int(y_train.sum())
        (25000, 12500)
        >>> imdb.decode(x_train[0])[:30]
        '? this film was just brilliant'
    """
    _sequences.check_options(num_words, skip_top, maxlen, start_char, oov_char, index_from)
    with _sequences.no_cyclic_gc():
        where, arrays = _files.locate("imdb.npz", path)
        rng = np.random.RandomState(seed)
        x_train, labels_train = _sequences.shuffle(arrays["x_train"], arrays["y_train"], rng)
        x_test, labels_test = _sequences.shuffle(arrays["x_test"], arrays["y_test"], rng)

        train = _sequences.Ragged.from_lists(x_train, f"{where}: x_train")
        test = _sequences.Ragged.from_lists(x_test, f"{where}: x_test")
        train = _sequences.mark_and_offset(train, start_char, index_from)
        test = _sequences.mark_and_offset(test, start_char, index_from)
        if maxlen:
            keep = _sequences.shorter_than(train, maxlen)
            train, labels_train = train.select(keep), labels_train[keep]
            keep = _sequences.shorter_than(test, maxlen)
            test, labels_test = test.select(keep), labels_test[keep]
            if not len(train) or not len(test):
                raise ValueError(
                    f"After filtering for sequences shorter than maxlen={maxlen}, no sequence was kept. "
                    "Increase maxlen."
                )
        both = _sequences.Ragged.concatenate([train, test])
        num_words = _sequences.vocabulary_size(both, num_words)
        train, test = _sequences.clip_vocabulary(both, skip_top, num_words, oov_char).split(len(train))
        return (train.to_object_array(), labels_train), (test.to_object_array(), labels_test)


def get_word_index(path: str | os.PathLike = "imdb_word_index.json") -> dict[str, int]:
    """The dict ``word -> rank`` (1 = most frequent; 88,584 words), as ``keras.datasets.imdb``.

    In ``load_data``'s output the word of rank ``r`` has id ``r + index_from``.
    """
    return _files.load("imdb_word_index.json", path)


def decode(sequence: Iterable[int], word_index: dict[str, int] | None = None, index_from: int = 3) -> str:
    """A review back in words, as the book does: ``'?'`` for padding, start, OOV and unknown ids.

    Args:
        sequence: one review, ``[length]`` ints, e.g. ``x_train[0]``.
        word_index: ``get_word_index()``'s dict (loaded when None; pass it when decoding many).
        index_from: the ``index_from`` the data was loaded with.

    Examples:
        >>> from funcnet.datasets import imdb
        >>> imdb.decode([1, 14, 22, 16, 43, 530])      # x_train[0] of load_data() starts so
        '? this film was just brilliant'
    """
    return _sequences.decode(sequence, get_word_index() if word_index is None else word_index, index_from)
