"""Boston housing prices (Harrison & Rubinfeld 1978): Keras's ``keras.datasets.boston_housing``.

506 suburbs, 13 features each, the median home value in k$ as the target. (The data set has a known
ethical problem -- its feature ``B`` encodes a racial assumption -- and is kept for the book's
experiments and for comparison with Keras.)
"""
from __future__ import annotations

import os

import numpy as np

from funcnet.datasets import _files

__all__ = ["load_data"]


def load_data(path: str | os.PathLike = "boston_housing.npz", test_split: float = 0.2, seed: int = 113):
    """Loads Boston housing as ``(x_train, y_train), (x_test, y_test)``, as ``keras.datasets.boston_housing``.

    The 506 samples are shuffled with ``np.random.RandomState(seed)`` and the first
    ``int(506 * (1 - test_split))`` become the training split.

    Args:
        path: the local file name (see ``funcnet.datasets``).
        test_split: the fraction kept for testing, in ``[0, 1)``.
        seed: the shuffle seed.

    Returns:
        ``x_train`` float64 ``[404, 13]``, ``y_train`` float64 ``[404]``, ``x_test`` float64
        ``[102, 13]``, ``y_test`` float64 ``[102]`` (with the default ``test_split``).

    Examples:
        >>> from funcnet.datasets import boston_housing
        >>> (x_train, y_train), (x_test, y_test) = boston_housing.load_data()
        >>> x_train.shape, x_test.shape
        ((404, 13), (102, 13))
        >>> mean, std = x_train.mean(axis=0), x_train.std(axis=0)
        >>> x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    """
    test_split = _files.check_split(test_split)
    arrays = _files.load("boston_housing.npz", path)
    x, y = arrays["x"], arrays["y"]
    indices = np.arange(len(x))
    np.random.RandomState(seed).shuffle(indices)
    x, y = x[indices], y[indices]
    idx = int(len(x) * (1 - test_split))
    return (np.array(x[:idx]), np.array(y[:idx])), (np.array(x[idx:]), np.array(y[idx:]))
