"""funcnet's loaders against Keras 3's own (``keras.datasets``) on the same real files: identical
arrays, dtypes, shapes, orders and element types. Keras's download step is replaced by the path of
the file in ``$FUNCNET_DATA_DIR`` (see ``_helpers.keras_load_once``)."""
import numpy as np
import pytest

import funcnet.datasets as datasets
from tests.datasets._helpers import keras_load_once, load_once
from tests.datasets.test_real_data import REUTERS_CUT

pytestmark = pytest.mark.data


def assert_same(ours, theirs):
    """Two ``(x_train, y_train), (x_test, y_test)`` results are identical, element types included."""
    for (x, y), (kx, ky) in zip(ours, theirs):
        assert x.dtype == kx.dtype and x.shape == kx.shape, (x.dtype, x.shape, kx.dtype, kx.shape)
        assert y.dtype == ky.dtype and y.shape == ky.shape, (y.dtype, y.shape, ky.dtype, ky.shape)
        np.testing.assert_array_equal(y, ky)
        if x.dtype == object:
            assert x.tolist() == kx.tolist()
            assert {type(w) for seq in x[:50] for w in seq} == {type(w) for seq in kx[:50] for w in seq}
        else:
            np.testing.assert_array_equal(x, kx)


def test_mnist_matches_keras(data_dir):
    assert_same(datasets.mnist.load_data(), keras_load_once("mnist", data_dir))


@pytest.mark.parametrize("kwargs", [{}, dict(test_split=0.1, seed=0)], ids=["default", "split0.1-seed0"])
def test_boston_housing_matches_keras(data_dir, kwargs):
    assert_same(datasets.boston_housing.load_data(**kwargs), keras_load_once("boston_housing", data_dir, **kwargs))


def test_imdb_matches_keras(data_dir):
    # One configuration only: Keras takes seconds per IMDB load. The options are compared with Keras on
    # generated files in test_sequences.py, and IMDB_CUT is checked against the default in test_real_data.
    assert_same(load_once(datasets.imdb.load_data), keras_load_once("imdb", data_dir))


@pytest.mark.parametrize(
    "kwargs",
    [{}, REUTERS_CUT, dict(start_char=None, oov_char=None, index_from=0, num_words=2000, seed=5)],
    ids=["default", "cut", "no-marks"],
)
def test_reuters_matches_keras(data_dir, kwargs):
    assert_same(load_once(datasets.reuters.load_data, **kwargs), keras_load_once("reuters", data_dir, **kwargs))


@pytest.mark.parametrize("module", ["imdb", "reuters"])
def test_word_index_matches_keras(data_dir, module):
    import importlib
    import json
    import os
    from unittest import mock

    keras_module = importlib.import_module(f"keras.src.datasets.{module}")
    path = os.path.join(data_dir, f"{module}_word_index.json")
    with mock.patch.object(keras_module, "get_file", lambda *args, **kw: path):
        expected = keras_module.get_word_index()
    assert getattr(datasets, module).get_word_index() == expected
    with open(path) as f:
        assert expected == json.load(f)
