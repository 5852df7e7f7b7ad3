"""Reuters-21578 newswires labelled by topic (46 topics): Keras's ``keras.datasets.reuters``.

11,228 newswires, each a list of word ranks (encoded as in ``imdb``), split 8,982 / 2,246 with the
default ``test_split=0.2``.
"""
from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np

from funcnet.datasets import _files, _sequences

__all__ = ["decode", "get_label_names", "get_word_index", "load_data"]


def load_data(
    path: str | os.PathLike = "reuters.npz",
    num_words: int | None = None,
    skip_top: int = 0,
    maxlen: int | None = None,
    test_split: float = 0.2,
    seed: int = 113,
    start_char: int | None = 1,
    oov_char: int | None = 2,
    index_from: int = 3,
):
    """Loads Reuters as ``(x_train, y_train), (x_test, y_test)``, exactly as ``keras.datasets.reuters``.

    All 11,228 newswires are shuffled with ``np.random.RandomState(seed)``, encoded as
    ``[start_char] + [rank + index_from, ...]``, filtered by ``maxlen``, clipped to the vocabulary,
    and the first ``int(n * (1 - test_split))`` become the training split.

    Args:
        path: the local file name (see ``funcnet.datasets``).
        num_words: keep the ``num_words`` most frequent words, as in ``imdb.load_data``
            (``num_words=None`` turns the single largest id into ``oov_char``, as in Keras).
        skip_top: as in ``imdb.load_data``.
        maxlen: drop newswires of length ``>= maxlen``, as in ``imdb.load_data``.
        test_split: the fraction of newswires kept for testing, in ``[0, 1)``.
        seed: the shuffle seed.
        start_char: as in ``imdb.load_data``.
        oov_char: as in ``imdb.load_data``.
        index_from: as in ``imdb.load_data``.

    Returns:
        ``x_train``, ``x_test``: 1-D object arrays of Python lists of ints (``[n]``);
        ``y_train``, ``y_test``: int64 topic labels ``[n]`` in ``0..45``.

    Raises:
        ValueError: a bad argument (``test_split`` outside ``[0, 1)``; Keras does not check it), a
            ``maxlen`` that keeps nothing, a corrupt file.
        FileNotFoundError: the file is not on disk and cannot be downloaded.

    Examples:
        >>> from funcnet.datasets import reuters
        >>> (x_train, y_train), (x_test, y_test) = reuters.load_data(num_words=10000)
        >>> len(x_train), len(x_test), len(reuters.get_label_names())
        (8982, 2246, 46)
    """
    _sequences.check_options(num_words, skip_top, maxlen, start_char, oov_char, index_from)
    test_split = _files.check_split(test_split)
    with _sequences.no_cyclic_gc():
        where, arrays = _files.locate("reuters.npz", path)
        xs, labels = _sequences.shuffle(arrays["x"], arrays["y"], np.random.RandomState(seed))

        seqs = _sequences.Ragged.from_lists(xs, f"{where}: x")
        seqs = _sequences.mark_and_offset(seqs, start_char, index_from)
        if maxlen:
            keep = _sequences.shorter_than(seqs, maxlen)
            seqs, labels = seqs.select(keep), labels[keep]
            if not len(seqs):
                raise ValueError(
                    f"After filtering for sequences shorter than maxlen={maxlen}, no sequence was kept. "
                    "Increase maxlen."
                )
        num_words = _sequences.vocabulary_size(seqs, num_words)
        seqs = _sequences.clip_vocabulary(seqs, skip_top, num_words, oov_char)
        idx = int(len(seqs) * (1 - test_split))
        train, test = seqs.split(idx)
        return ((train.to_object_array(), np.array(labels[:idx])),
                (test.to_object_array(), np.array(labels[idx:])))


def get_word_index(path: str | os.PathLike = "reuters_word_index.json") -> dict[str, int]:
    """The dict ``word -> rank`` (1 = most frequent; 30,979 words), as ``keras.datasets.reuters``.

    In ``load_data``'s output the word of rank ``r`` has id ``r + index_from``.
    """
    return _files.load("reuters_word_index.json", path)


def get_label_names() -> tuple[str, ...]:
    """The 46 topic names, indexed by label (``get_label_names()[3] == 'earn'``), as Keras's."""
    return _LABEL_NAMES


def decode(sequence: Iterable[int], word_index: dict[str, int] | None = None, index_from: int = 3) -> str:
    """A newswire back in words, as the book does: ``'?'`` for padding, start, OOV and unknown ids.

    Args:
        sequence: one newswire, ``[length]`` ints, e.g. ``x_train[0]``.
        word_index: ``get_word_index()``'s dict (loaded when None; pass it when decoding many).
        index_from: the ``index_from`` the data was loaded with.
    """
    return _sequences.decode(sequence, get_word_index() if word_index is None else word_index, index_from)


_LABEL_NAMES = (
    "cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing", "money-supply", "coffee",
    "sugar", "trade", "reserves", "ship", "cotton", "carcass", "crude", "nat-gas", "cpi", "money-fx",
    "interest", "gnp", "meal-feed", "alum", "oilseed", "gold", "tin", "strategic-metal", "livestock",
    "retail", "ipi", "iron-steel", "rubber", "heat", "jobs", "lei", "bop", "zinc", "orange", "pet-chem",
    "dlr", "gas", "silver", "wpi", "hog", "lead",
)
