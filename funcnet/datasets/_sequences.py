"""Keras's preprocessing of word-rank sequences (IMDB, Reuters), vectorised.

Keras transforms the ragged lists one Python int at a time; here a split is held as a flat int64
array of all its word ranks plus the length of each sequence, and every step is a numpy operation,
with exactly Keras's semantics (including its quirks, which the docstrings point out).
"""
from __future__ import annotations

import contextlib
import gc
import itertools
from collections.abc import Iterable

import numpy as np

from funcnet.datasets import _files
from funcnet.utils import _flatten_int_lists as flatten_int_lists


@contextlib.contextmanager
def no_cyclic_gc():
    """Pauses Python's cyclic garbage collector while millions of ints and lists are built.

    A full collection visits every item of every live list, so each one triggered mid-load costs time
    in proportion to all the sequences alive in the process (this load's and any earlier ones): IMDB
    loads about a third faster without them. Nothing built here is cyclic; the previous state is restored.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class Ragged:
    """Sequences as ``flat`` (all ranks, int64) and ``lengths`` (one per sequence, int64)."""

    def __init__(self, flat: np.ndarray, lengths: np.ndarray):
        self.flat, self.lengths = flat, lengths

    @classmethod
    def from_lists(cls, xs: np.ndarray, where: str) -> Ragged:
        """Validates (lists of non-negative ints, as in Keras's files) and flattens ``xs``."""
        flattened = flatten_int_lists(xs)
        if flattened is None:
            kinds = set(map(type, xs)) - {list, tuple}
            found = next(iter(kinds)) if kinds else next(
                type(w) for w in itertools.chain.from_iterable(xs)
                if not isinstance(w, (int, np.integer)) or isinstance(w, (bool, np.bool_)))
            raise ValueError(f"{where} should hold lists of int word ranks; found a {found.__name__}.")
        flat, lengths = flattened
        if flat.size and flat.min() < 0:
            raise ValueError(f"{where} holds the negative word rank {flat.min()}; ranks are >= 0.")
        return cls(flat, lengths)

    def __len__(self) -> int:
        return len(self.lengths)

    def to_object_array(self) -> np.ndarray:
        """A 1-D object array of Python lists of ints (always 1-D, even if all lengths are equal)."""
        items, ends = self.flat.tolist(), np.cumsum(self.lengths).tolist()
        lists = [items[start:end] for start, end in zip([0] + ends[:-1], ends)]
        return np.fromiter(lists, dtype=object, count=len(lists))

    def select(self, keep: np.ndarray) -> Ragged:
        return Ragged(self.flat[np.repeat(keep, self.lengths)], self.lengths[keep])

    @staticmethod
    def concatenate(parts: list[Ragged]) -> Ragged:
        return Ragged(np.concatenate([p.flat for p in parts]), np.concatenate([p.lengths for p in parts]))

    def split(self, index: int) -> tuple[Ragged, Ragged]:
        cut = int(self.lengths[:index].sum())
        return Ragged(self.flat[:cut], self.lengths[:index]), Ragged(self.flat[cut:], self.lengths[index:])


def shuffle(xs: np.ndarray, labels: np.ndarray, rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    """Keras's shuffle: permute ``arange(n)`` with ``rng`` and index both arrays with it."""
    indices = np.arange(len(xs))
    rng.shuffle(indices)
    return xs[indices], labels[indices]


def mark_and_offset(seqs: Ragged, start_char: int | None, index_from: int) -> Ragged:
    """``[start_char] + [w + index_from for w in x]``; without ``start_char`` only the offset."""
    if start_char is None:
        return Ragged(seqs.flat + index_from, seqs.lengths) if index_from else seqs
    starts = np.cumsum(seqs.lengths) - seqs.lengths
    return Ragged(np.insert(seqs.flat + index_from, starts, np.int64(start_char)), seqs.lengths + 1)


def shorter_than(seqs: Ragged, maxlen: int) -> np.ndarray:
    """Keras's ``remove_long_seq`` keeps sequences with ``len(x) < maxlen`` (start mark included):
    a sequence of exactly ``maxlen`` is dropped, not truncated."""
    return seqs.lengths < maxlen


def clip_vocabulary(seqs: Ragged, skip_top: int, num_words: int, oov_char: int | None) -> Ragged:
    """Ranks outside ``[skip_top, num_words)`` become ``oov_char``, or are dropped if it is None.

    As in Keras this applies to the start mark too (``skip_top=2`` turns the default start mark 1
    into ``oov_char``).
    """
    inside = (seqs.flat >= skip_top) & (seqs.flat < num_words)
    if oov_char is not None:
        return Ragged(np.where(inside, seqs.flat, np.int64(oov_char)), seqs.lengths)
    owner = np.repeat(np.arange(len(seqs)), seqs.lengths)
    return Ragged(seqs.flat[inside], np.bincount(owner[inside], minlength=len(seqs)).astype(np.int64))


def vocabulary_size(seqs: Ragged, num_words: int | None) -> int:
    """Keras's ``if not num_words: num_words = max(max(x) for x in xs)``: by default the largest rank
    itself falls outside ``[skip_top, num_words)`` and becomes ``oov_char`` (a Keras quirk, kept)."""
    if num_words:
        return num_words
    if seqs.flat.size == 0:
        raise ValueError("no word is left to infer num_words from; pass num_words or a larger maxlen.")
    return int(seqs.flat.max())


def check_options(num_words, skip_top, maxlen, start_char, oov_char, index_from) -> None:
    _files.check_int(num_words, "num_words", allow_none=True, minimum=0)
    _files.check_int(skip_top, "skip_top", minimum=0)
    _files.check_int(maxlen, "maxlen", allow_none=True, minimum=0)
    _files.check_int(start_char, "start_char", allow_none=True)
    _files.check_int(oov_char, "oov_char", allow_none=True)
    _files.check_int(index_from, "index_from", minimum=0)


def decode(sequence: Iterable[int], word_index: dict[str, int], index_from: int) -> str:
    """The words of ``sequence`` joined by spaces; ``'?'`` for padding, start, OOV and unknown ranks."""
    if not isinstance(word_index, dict):
        raise TypeError(f"word_index must be a dict mapping words to ranks (from get_word_index()); "
                        f"got {type(word_index).__name__}.")
    _files.check_int(index_from, "index_from", minimum=0)
    words = {rank: word for word, rank in word_index.items()}
    ids = np.asarray(sequence)
    if ids.ndim != 1 or (ids.size and ids.dtype.kind not in "iu"):
        raise TypeError(f"sequence must be one list of int word ids, such as x_train[0]; got an array of "
                        f"shape {ids.shape} and dtype {ids.dtype}.")
    return " ".join(words.get(i - index_from, "?") for i in ids.tolist())
