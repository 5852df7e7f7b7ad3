"""scikit-learn's 8x8 handwritten digits (1,797 images): a small real data set for offline demos.

The data ship inside scikit-learn (``sklearn/datasets/data/digits.csv.gz``), so nothing is
downloaded; scikit-learn is funcnet's optional extra ``datasets`` (``pip install 'funcnet[datasets]'``).
"""
from __future__ import annotations

import importlib.util
import pathlib

import numpy as np

from funcnet.datasets import _files

__all__ = ["load_data"]

_MISSING = (
    "funcnet.datasets.digits needs scikit-learn, which ships the 8x8 digits data; install funcnet's "
    "'datasets' extra: pip install 'funcnet[datasets]' (or: pip install scikit-learn)."
)


def _read() -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 samples in scikit-learn's order: images ``[n, 8, 8]`` and labels ``[n]``, as floats."""
    try:
        spec = importlib.util.find_spec("sklearn")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(_MISSING)
    csv = pathlib.Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "digits.csv.gz"
    if csv.is_file():
        try:
            data = np.loadtxt(csv, delimiter=",", ndmin=2)
        except (ValueError, OSError, EOFError) as err:
            raise ValueError(f"{csv} (scikit-learn's digits) could not be read ({err}); reinstall "
                             "scikit-learn.") from err
        if data.shape[1:] != (65,):
            raise ValueError(f"{csv} should hold rows of 64 pixels and a label; got shape {data.shape}.")
        return data[:, :64].reshape(-1, 8, 8), data[:, 64]
    try:  # a scikit-learn that keeps the file elsewhere: go through its public loader
        from sklearn.datasets import load_digits
    except ImportError as err:
        raise ImportError(_MISSING) from err
    bunch = load_digits()
    return np.asarray(bunch.images, dtype=np.float64), np.asarray(bunch.target, dtype=np.float64)


def load_data(test_split: float = 0.2, seed: int = 113):
    """Loads the 8x8 digits as ``(x_train, y_train), (x_test, y_test)``, split as Keras splits data.

    The 1,797 samples are shuffled with ``np.random.RandomState(seed)`` and the first
    ``int(1797 * (1 - test_split))`` become the training split (1,437 / 360 by default).

    Returns:
        ``x_train`` uint8 ``[1437, 8, 8]`` and ``x_test`` uint8 ``[360, 8, 8]``, pixel values
        0..16; ``y_train`` uint8 ``[1437]`` and ``y_test`` uint8 ``[360]``, digits 0..9.

    Raises:
        ImportError: scikit-learn is not installed (names the ``datasets`` extra).
        ValueError: ``test_split`` outside ``[0, 1)``.

    Examples:
        >>> from funcnet.datasets import digits
        >>> (x_train, y_train), (x_test, y_test) = digits.load_data()
        >>> x_train.shape, x_test.shape
        ((1437, 8, 8), (360, 8, 8))
        >>> x_train = x_train.reshape(len(x_train), 64).astype("float32") / 16
    """
    test_split = _files.check_split(test_split)
    images, labels = _read()
    if (images.min() < 0 or images.max() > 16 or np.any(images != np.round(images))
            or not set(np.unique(labels).tolist()) <= set(range(10))):
        raise ValueError("scikit-learn's digits hold values outside 0..16 or labels outside 0..9; reinstall it.")
    images, labels = images.astype(np.uint8), labels.astype(np.uint8)
    indices = np.arange(len(images))
    np.random.RandomState(seed).shuffle(indices)
    images, labels = images[indices], labels[indices]
    idx = int(len(images) * (1 - test_split))
    return (images[:idx], labels[:idx]), (images[idx:], labels[idx:])
