"""funcnet.utils: to_categorical and pad_sequences against Keras 3, vectorize_sequences against the book's
loop, and every documented error."""
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


_RAGGED = [[1], [2, 3], [4, 5, 6, 7], [8, 9]]
_FEATURES = [np.arange(6.0).reshape(3, 2), np.array([[9.0, 8.0]]), np.zeros((0, 2))]  # [length_i, 2]


@pytest.mark.parametrize("padding", ["pre", "post"])
@pytest.mark.parametrize("truncating", ["pre", "post"])
@pytest.mark.parametrize(
    "sequences, kwargs",
    [
        (_RAGGED, {}),
        (_RAGGED, {"maxlen": 2}),  # shorter than the longest: truncated
        (_RAGGED, {"maxlen": 6}),  # longer than the longest: padded
        (_RAGGED, {"maxlen": np.int64(3), "value": -1}),
        (_RAGGED, {"maxlen": 3, "value": 1.5}),  # cast to int32, as Keras does
        (_RAGGED, {"dtype": "float32", "value": 0.5}),
        ([[1.5, 2.7], [3.2]], {"dtype": "float32", "maxlen": 1}),
        ([[1.5, 2.7], [3.2]], {}),  # float steps cast to int32
        ([np.array([1, 2, 3]), np.array([4], dtype=np.uint8), [5, 6]], {"maxlen": 2}),
        (np.array([[1, 2, 3], [4, 5, 6]]), {"maxlen": 2}),  # an [n, length] array
        (jnp.array([[1, 2], [3, 4]]), {"maxlen": 3}),
        (((1, 2), (3,)), {}),  # tuples
        ([[1, 2], [], [3]], {}),  # an empty sequence: a row of value
        ([[], [1, 2]], {"value": 7}),  # the first is empty: the step shape comes from the second
        ([[], []], {}),  # all empty: [2, 0]
        ([], {"maxlen": 3}),  # an empty list: [0, 3]
        (_FEATURES, {"dtype": "float32"}),  # feature vectors: [3, 3, 2]
        (_FEATURES, {"dtype": "float32", "maxlen": 2, "value": -1.0}),
        ([[["a", "b"]], []], {"dtype": object, "value": "pad", "maxlen": 2}),
        ([["a", "bc"], ["d"]], {"dtype": object, "value": "x"}),
        ([["a", "bcdef"], ["d"]], {"dtype": "U3", "value": "x"}),  # a fixed width cuts "bcdef"
        ([[1, 2]], {"dtype": None}),  # None: numpy infers the dtype
    ],
)
def test_pad_sequences_matches_keras(sequences, kwargs, padding, truncating):
    ours = utils.pad_sequences(sequences, padding=padding, truncating=truncating, **kwargs)
    theirs = keras.utils.pad_sequences(sequences, padding=padding, truncating=truncating, **kwargs)
    assert isinstance(ours, np.ndarray)
    assert ours.dtype == theirs.dtype
    assert ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)


def test_pad_sequences_by_hand():
    sequences = [[1], [2, 3, 4]]
    np.testing.assert_array_equal(utils.pad_sequences(sequences), [[0, 0, 1], [2, 3, 4]])
    np.testing.assert_array_equal(utils.pad_sequences(sequences, padding="post"), [[1, 0, 0], [2, 3, 4]])
    np.testing.assert_array_equal(utils.pad_sequences(sequences, maxlen=2), [[0, 1], [3, 4]])
    np.testing.assert_array_equal(utils.pad_sequences(sequences, maxlen=2, truncating="post"), [[0, 1], [2, 3]])
    assert utils.pad_sequences(sequences).dtype == np.int32
    assert utils.pad_sequences([np.ones((2, 3, 4))], maxlen=5).shape == (1, 5, 3, 4)  # any step shape
    # Keras refuses the string "object" with a string value (it only accepts the type object)
    np.testing.assert_array_equal(utils.pad_sequences([["a"]], maxlen=2, dtype="object", value="-"),
                                  np.array([["-", "a"]], dtype=object))


@pytest.mark.parametrize(
    "sequences, kwargs, error, message",
    [
        ([[1, 2]], {"padding": "middle"}, ValueError, 'padding must be "pre" or "post"; got \'middle\''),
        ([[1, 2]], {"padding": None}, ValueError, 'padding must be "pre" or "post"; got None'),
        ([[1, 2]], {"truncating": "both"}, ValueError, 'truncating must be "pre" or "post"; got \'both\''),
        ([[]], {"truncating": "mid"}, ValueError, "truncating must be"),  # refused even with nothing to cut
        ([[1, 2]], {"maxlen": 0}, ValueError, "maxlen must be a positive int; got 0"),
        ([[1, 2]], {"maxlen": -3}, ValueError, "maxlen must be a positive int; got -3"),
        ([[1, 2]], {"maxlen": 2.0}, TypeError, "maxlen must be a positive int; got float 2.0"),
        ([[1, 2]], {"maxlen": True}, TypeError, "maxlen must be a positive int; got bool"),
        ([[1, 2]], {"dtype": "int33"}, TypeError, "dtype must be a numpy dtype.*got 'int33'"),
        (5, {}, ValueError, "sequences must be a list of sequences; got int 5"),
        ("abc", {}, ValueError, "sequences must be a list of sequences; got str"),
        ([[1, 2], 3], {}, ValueError, r"sequences\[1\] must be a sequence .*got int 3.*pass \[sequence\]"),
        ([np.array(4)], {}, ValueError, r"sequences\[0\] must be a sequence .*got ndarray"),
        ([[1], "ab"], {"dtype": object}, ValueError, r"sequences\[1\] must be a sequence .*got str 'ab'"),
        ([[1], {1, 2}], {}, ValueError, r"sequences\[1\] must be a sequence .*got set"),
        ([[1], (i for i in range(2))], {}, ValueError, r"sequences\[1\] must be a sequence .*got generator"),
        ([[[1, 2]], [[3, 4, 5]]], {}, ValueError,
         r"sequences\[1\] has steps of shape \(3,\), but the first non-empty sequence's steps have shape "
         r"\(2,\)"),
        ([[1, 2], [[3, 4]]], {}, ValueError, r"sequences\[1\] has steps of shape \(2,\).*shape \(\)"),
        ([[[1, 2], [3]]], {}, ValueError, r"sequences\[0\] cannot be converted to an array"),
        ([[1], ["a"]], {}, ValueError, r"sequences\[1\] cannot be converted to dtype int32"),
        ([[1, 2]], {"value": "x"}, ValueError, "value 'x' is a string, but dtype int32 is not; pass dtype=object"),
        ([[1, 2]], {"value": None}, ValueError, "value None cannot be cast to dtype int32"),
        ([], {}, ValueError, "sequences is empty, so maxlen cannot be inferred; pass maxlen"),
    ],
)
def test_pad_sequences_errors(sequences, kwargs, error, message):
    with pytest.raises(error, match=message):
        utils.pad_sequences(sequences, **kwargs)
