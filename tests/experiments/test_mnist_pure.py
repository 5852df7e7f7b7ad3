"""End to end: the book's first network, in the pure style, on the real MNIST."""
import importlib.util
import pathlib

import numpy as np
import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "experiments" / "mnist_pure.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("mnist_pure", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.data
@pytest.mark.slow
def test_book_network_reaches_book_accuracy(data_dir):
    script = _load_script()
    params, test_acc, losses, _ = script.train(epochs=5, batch_size=128, seed=0, data_dir=data_dir, verbose=False)
    assert test_acc >= 0.975, test_acc
    assert all(np.isfinite(losses)) and losses[-1] < losses[0] / 3, losses
    assert set(params) == {"dense", "dense_1"}
    assert params["dense"]["kernel"].shape == (784, 512)


@pytest.mark.data
def test_mnist_file_is_the_keras_format(data_dir):
    script = _load_script()
    (x_train, y_train), (x_test, y_test) = script.load_mnist(data_dir)
    assert x_train.shape == (60000, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (60000,) and x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    assert np.bincount(y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
