"""The loaders on the real files (``$FUNCNET_DATA_DIR``, the ``data_dir`` fixture): counts, balance,
vocabularies, the effect of each option, and the book's first samples after the seed-113 shuffle."""
import itertools

import numpy as np
import pytest

import funcnet.datasets as datasets
from tests.datasets._helpers import load_once

pytestmark = pytest.mark.data

# The configurations loaded from the real files (each once per session; test_keras_equivalence.py
# compares the same ones with Keras).
IMDB_CUT = dict(num_words=10000, skip_top=20, maxlen=200)
REUTERS_CUT = dict(num_words=10000, maxlen=100, test_split=0.3)


def imdb(**kwargs):
    return load_once(datasets.imdb.load_data, **kwargs)


def reuters(**kwargs):
    return load_once(datasets.reuters.load_data, **kwargs)


def _ids(x):
    return np.fromiter(itertools.chain.from_iterable(x), np.int64)


def test_mnist(data_dir):
    (x_train, y_train), (x_test, y_test) = datasets.mnist.load_data()
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    assert np.bincount(y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert y_train[:5].tolist() == [5, 0, 4, 1, 9]  # the file's order: MNIST is not shuffled
    assert x_train.max() == 255 and x_train.flags.writeable


def test_imdb_sizes_balance_and_first_review(data_dir):
    (x_train, y_train), (x_test, y_test) = imdb()
    assert x_train.shape == (25000,) and x_test.shape == (25000,) and x_train.dtype == object
    assert y_train.dtype == np.int64 and y_test.dtype == np.int64
    assert np.bincount(y_train).tolist() == [12500, 12500] and np.bincount(y_test).tolist() == [12500, 12500]
    assert type(x_train[0]) is list and type(x_train[0][0]) is int
    assert len(x_train[0]) == 218 and y_train[0] == 1  # Keras's standard output after the seed-113 shuffle
    assert x_train[0][:5] == [1, 14, 22, 16, 43]
    assert all(seq[0] == 1 for seq in x_train)  # start_char
    assert datasets.imdb.decode(x_train[0]).startswith("? this film was just brilliant casting location scenery")


def test_imdb_word_index(data_dir):
    index = datasets.imdb.get_word_index()
    assert len(index) == 88584
    assert index["the"] == 1 and index["and"] == 2 and sorted(index.values()) == list(range(1, 88585))


def test_imdb_default_num_words_drops_only_the_largest_id(data_dir):
    """Keras's rule: num_words=None means 'ids < the largest id', so that one id becomes oov_char."""
    (x_train, _), (x_test, _) = imdb()
    ids = np.concatenate([_ids(x_train), _ids(x_test)])
    # The largest rank, 88584, occurs once; with the offset it is id 88587 and becomes oov_char (2),
    # which nothing else produces (ranks start at 1, ids at 4).
    assert ids.max() == 88586 and np.count_nonzero(ids == 2) == 1


def test_imdb_num_words_skip_top_and_maxlen(data_dir):
    (x_train, y_train), (x_test, y_test) = imdb(**IMDB_CUT)
    (full_train, full_labels), (full_test, _) = imdb()
    # maxlen drops (does not truncate) every review of length >= maxlen, start mark included.
    kept = [i for i, seq in enumerate(full_train) if len(seq) < 200]
    assert len(x_train) == len(y_train) == len(kept) and max(map(len, x_train)) == 199
    assert len(x_test) == len(y_test) == sum(len(seq) < 200 for seq in full_test)
    np.testing.assert_array_equal(y_train, full_labels[kept])
    # Ids outside [skip_top, num_words) become oov_char 2, the start mark 1 < skip_top included.
    for i in range(0, len(kept), 97):
        assert x_train[i] == [w if 20 <= w < 10000 else 2 for w in full_train[kept[i]]]
    ids = np.concatenate([_ids(x_train), _ids(x_test)])
    assert ids.max() == 9999 and ids.min() == 2 and not np.any((ids > 2) & (ids < 20))
    with pytest.raises(ValueError, match="no sequence was kept. Increase maxlen"):
        datasets.imdb.load_data(maxlen=5)


def test_reuters_sizes_classes_and_first_newswire(data_dir):
    (x_train, y_train), (x_test, y_test) = reuters()
    assert x_train.shape == (8982,) and x_test.shape == (2246,) and x_train.dtype == object
    assert y_train.dtype == np.int64
    assert np.unique(np.concatenate([y_train, y_test])).tolist() == list(range(46))
    assert len(x_train[0]) == 87 and y_train[0] == 3
    assert datasets.reuters.get_label_names()[y_train[0]] == "earn" and len(datasets.reuters.get_label_names()) == 46
    assert datasets.reuters.decode(x_train[0]).startswith(  # as printed in the book, section 3.5
        "? mcgrath rentcorp said as a result of its december acquisition of space co it expects earnings"
    )


def test_reuters_word_index_num_words_and_maxlen(data_dir):
    assert len(datasets.reuters.get_word_index()) == 30979
    (x_train, y_train), (x_test, _) = reuters(**REUTERS_CUT)
    assert max(_ids(x_train).max(), _ids(x_test).max()) < 10000
    assert max(map(len, x_train)) == 99 and len(y_train) == len(x_train)
    assert len(x_train) == int((len(x_train) + len(x_test)) * 0.7)


def test_reuters_test_split(data_dir):
    (x_train, _), (x_test, _) = reuters(test_split=0.3)
    assert len(x_train) == int(11228 * 0.7) == 7859 and len(x_test) == 11228 - 7859
    with pytest.raises(ValueError, match=r"test_split must be a float in \[0, 1\)"):
        datasets.reuters.load_data(test_split=1.5)


def test_boston_housing(data_dir):
    (x_train, y_train), (x_test, y_test) = datasets.boston_housing.load_data()
    assert x_train.shape == (404, 13) and x_test.shape == (102, 13)
    assert y_train.shape == (404,) and y_test.shape == (102,)
    assert x_train.dtype == np.float64 and y_train.dtype == np.float64
    assert 5 <= y_train.min() and y_train.max() <= 50
    (x_train, _), (x_test, _) = datasets.boston_housing.load_data(test_split=0.1, seed=0)
    assert len(x_train) == 455 and len(x_test) == 51
    with pytest.raises(ValueError, match="test_split"):
        datasets.boston_housing.load_data(test_split=1.0)
