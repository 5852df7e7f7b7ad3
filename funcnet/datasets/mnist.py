"""MNIST handwritten digits (LeCun, Cortes, Burges): Keras's ``keras.datasets.mnist``."""
from __future__ import annotations

import os

from funcnet.datasets import _files

__all__ = ["load_data"]


def load_data(path: str | os.PathLike = "mnist.npz"):
    """Loads MNIST as ``(x_train, y_train), (x_test, y_test)``, exactly as ``keras.datasets.mnist``.

    Args:
        path: the local file name, looked up in ``$FUNCNET_DATA_DIR`` then the download cache (or
            an absolute path); see ``funcnet.datasets``.

    Returns:
        ``x_train`` uint8 ``[60000, 28, 28]`` and ``x_test`` uint8 ``[10000, 28, 28]``, pixels
        0..255, in the file's order (not shuffled); ``y_train`` uint8 ``[60000]`` and ``y_test``
        uint8 ``[10000]``, digits 0..9.

    Raises:
        ValueError: the file is corrupt or not MNIST. FileNotFoundError: not on disk, not downloadable.

    Examples:
        >>> from funcnet.datasets import mnist
        >>> (x_train, y_train), (x_test, y_test) = mnist.load_data()
        >>> x_train.shape, x_train.dtype, y_train[:5]
        ((60000, 28, 28), dtype('uint8'), array([5, 0, 4, 1, 9], dtype=uint8))
        >>> x_train = x_train.reshape(60000, 28 * 28).astype("float32") / 255
    """
    arrays = _files.load("mnist.npz", path)
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])
