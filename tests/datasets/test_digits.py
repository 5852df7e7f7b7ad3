"""scikit-learn's 8x8 digits: read from the file scikit-learn ships, split as Keras splits."""
import importlib.util
import sys

import numpy as np
import pytest

import funcnet.datasets as datasets


@pytest.fixture
def sklearn_datasets():
    return pytest.importorskip("sklearn.datasets", reason="scikit-learn (funcnet's 'datasets' extra) is not installed")


def test_shapes_dtypes_and_values(sklearn_datasets):
    (x_train, y_train), (x_test, y_test) = datasets.digits.load_data()
    assert x_train.shape == (1437, 8, 8) and x_test.shape == (360, 8, 8)
    assert y_train.shape == (1437,) and y_test.shape == (360,)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    assert x_train.min() == 0 and x_train.max() == 16
    assert np.unique(y_train).tolist() == list(range(10)) and np.unique(y_test).tolist() == list(range(10))


@pytest.mark.parametrize("test_split, seed", [(0.2, 113), (0.5, 0), (0.0, 1)])
def test_same_samples_as_scikit_learn_in_keras_shuffle_order(sklearn_datasets, test_split, seed):
    bunch = sklearn_datasets.load_digits()
    order = np.arange(1797)
    np.random.RandomState(seed).shuffle(order)
    idx = int(1797 * (1 - test_split))
    (x_train, y_train), (x_test, y_test) = datasets.digits.load_data(test_split=test_split, seed=seed)
    np.testing.assert_array_equal(x_train, bunch.images[order[:idx]])
    np.testing.assert_array_equal(y_test, bunch.target[order[idx:]])
    assert len(x_train) + len(x_test) == 1797


def test_falls_back_to_scikit_learns_loader_if_the_file_moves(sklearn_datasets, monkeypatch, tmp_path):
    expected = datasets.digits.load_data()
    spec = importlib.util.find_spec("sklearn")
    moved = importlib.util.spec_from_loader("sklearn", loader=None, is_package=True)
    moved.submodule_search_locations = [str(tmp_path)]
    monkeypatch.setattr(datasets.digits.importlib.util, "find_spec", lambda name: moved if name == "sklearn" else spec)
    for ours, theirs in zip(datasets.digits.load_data(), expected):
        np.testing.assert_array_equal(ours[0], theirs[0])
        np.testing.assert_array_equal(ours[1], theirs[1])


def test_missing_scikit_learn_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # makes `import sklearn` fail, as if not installed
    with pytest.raises(ImportError, match=r"pip install 'funcnet\[datasets\]'"):
        datasets.digits.load_data()


def test_bad_test_split():
    with pytest.raises(ValueError, match="test_split"):
        datasets.digits.load_data(test_split=1.0)
