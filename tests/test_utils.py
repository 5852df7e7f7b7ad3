"""funcnet.utils: to_categorical against Keras 3, vectorize_sequences against the book's loop, and
every documented error."""
import jax.numpy as jnp
import keras
import numpy as np
import pytest

from funcnet import utils


@pytest.mark.parametrize(
    "y, num_classes",
    [
        ([0, 2, 1], None),
        (np.array([3, 0, 9, 9], dtype=np.uint8), None),  # MNIST's labels
        (np.array([[1], [0], [4]]), None),  # (n, 1): the trailing 1 is dropped
        (np.array([[1, 2], [0, 1]]), 5),  # any shape: the class axis goes last
        (3, 5),  # a scalar gives one row
        (np.array([1, 0], dtype=np.int32), 2),
        ([True, False], None),
    ],
)
def test_to_categorical_matches_keras(y, num_classes):
    ours = utils.to_categorical(y, num_classes)
    theirs = keras.utils.to_categorical(y, num_classes)
    assert ours.dtype == np.float32
    assert ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)


def test_to_categorical_by_hand():
    np.testing.assert_array_equal(utils.to_categorical([2, 0], num_classes=4), [[0, 0, 1, 0], [1, 0, 0, 0]])
    # integral floats are class ids (Keras 3's numpy backend fails on them)
    np.testing.assert_array_equal(utils.to_categorical(np.array([0.0, 2.0])), [[1, 0, 0], [0, 0, 1]])
    assert utils.to_categorical(jnp.array([1, 0, 1])).shape == (3, 2)
    assert utils.to_categorical(np.zeros(0, np.int64), num_classes=3).shape == (0, 3)
    assert utils.to_categorical(np.zeros((4, 1), np.int64)).shape == (4, 1)  # one class


@pytest.mark.parametrize(
    "y, num_classes, error, message",
    [
        ([0, -1, 2], None, ValueError, "negative class id -1 \\(at flat index 1\\)"),
        ([0, 4, 2], 3, ValueError, "class id 4, but num_classes=3 only allows 0..2; pass num_classes=5"),
        ([0, 1], 0, ValueError, "num_classes must be a positive int; got 0"),
        ([0, 1], -2, ValueError, "num_classes must be a positive int; got -2"),
        ([0, 1], 2.0, TypeError, "num_classes must be a positive int; got float"),
        ([0, 1], True, TypeError, "num_classes must be a positive int; got bool"),
        ([], None, ValueError, "y is empty, so num_classes cannot be inferred"),
        ([0.5, 1.0], None, ValueError, "non-integer value 0.5"),
        ([0.0, np.nan], None, ValueError, "NaN or inf"),
        (["a", "b"], None, TypeError, "must hold ints; got an array of dtype <U1"),
        ([[0, 1], [2]], None, ValueError, "rectangular array of ints"),
    ],
)
def test_to_categorical_errors(y, num_classes, error, message):
    with pytest.raises(error, match=message):
        utils.to_categorical(y, num_classes)


def _book_vectorize(sequences, dimension):
    """The book's listing 3.2, as the reference (float64 there, float32 here)."""
    results = np.zeros((len(sequences), dimension))
    for i, sequence in enumerate(sequences):
        results[i, sequence] = 1.0
    return results


def _object_array(lists):
    out = np.empty(len(lists), dtype=object)
    for i, x in enumerate(lists):
        out[i] = x
    return out


@pytest.mark.parametrize(
    "sequences",
    [
        [[1, 3], [0, 3, 3], []],
        _object_array([[1, 2, 5], [5], [9, 9, 0, 1]]),  # what imdb.load_data returns
        [(4, 2), np.array([7, 1]), [np.int32(3)]],
        np.array([[0, 0, 3, 4], [0, 9, 9, 9]]),  # padded [n, length]
        jnp.array([[1, 2], [3, 4]]),
        [[1.0, 2.0]],  # integral floats
        [],
    ],
    ids=["lists", "object-array", "mixed", "padded", "jax", "floats", "empty"],
)
def test_vectorize_sequences_matches_the_book(sequences):
    ours = utils.vectorize_sequences(sequences, dimension=10)
    assert ours.dtype == np.float32 and ours.shape == (len(sequences), 10)
    reference = _book_vectorize([np.asarray(s, dtype=np.int64) for s in sequences], 10)
    np.testing.assert_array_equal(ours, reference)


def test_vectorize_sequences_default_dimension():
    out = utils.vectorize_sequences([[1, 9999]])
    assert out.shape == (1, 10000) and out.sum() == 2 and out[0, 9999] == 1


@pytest.mark.parametrize(
    "sequences, dimension, error, message",
    [
        ([[1, 2], [3, 10]], 10, ValueError,
         r"sequences\[1\] holds the id 10, but dimension=10 only has room for ids 0..9; load the data with "
         r"num_words=10"),
        (np.array([[1, 2], [3, 12]]), 10, ValueError, r"sequences\[1\] holds the id 12"),
        ([[1, -1]], 10, ValueError, r"sequences\[0\] holds the id -1"),
        ([[1, 2.5]], 10, ValueError, "non-integer value 2.5"),
        ([["a"]], 10, TypeError, "must hold ints"),
        ([1, 2, 3], 10, TypeError, r"sequences\[0\] must be one sequence of int ids.*pass \[sequence\]"),
        ([[[1, 2]]], 10, TypeError, r"sequences\[0\] must be one sequence of int ids"),
        ("abc", 10, TypeError, "must be a list of sequences"),
        (np.array([1, 2, 3]), 10, TypeError, r"got an array of shape \(3,\)"),
        ([[1]], 0, ValueError, "dimension must be a positive int; got 0"),
        ([[1]], 10.0, TypeError, "dimension must be a positive int; got float"),
    ],
)
def test_vectorize_sequences_errors(sequences, dimension, error, message):
    with pytest.raises(error, match=message):
        utils.vectorize_sequences(sequences, dimension=dimension)
