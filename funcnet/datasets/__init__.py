"""Real data sets, loaded as ``keras.datasets`` loads them.

    >>> from funcnet import datasets
    >>> (x_train, y_train), (x_test, y_test) = datasets.mnist.load_data()
    >>> x_train.shape, y_train.shape, x_test.shape, y_test.shape
    ((60000, 28, 28), (60000,), (10000, 28, 28), (10000,))
    >>> (x_train, y_train), (x_test, y_test) = datasets.reuters.load_data(num_words=10000)
    >>> len(x_train), len(x_test)
    (8982, 2246)

Modules: ``mnist``, ``imdb``, ``reuters``, ``boston_housing`` (Keras's files: same keyword
arguments, same return values, same seed-113 shuffles) and ``digits`` (scikit-learn's 8x8 digits,
shipped with the optional extra ``datasets``).

Files are looked up in ``$FUNCNET_DATA_DIR``, then in the cache (``$FUNCNET_CACHE_DIR``, default
``~/.funcnet/datasets``), then downloaded from ``$FUNCNET_DATASETS_URL`` (default: Keras's
canonical location) with a SHA-256 check, into the cache. ``fetch(name)`` does that ahead of time.
See ``docs/datasets.md``.
"""
from funcnet.datasets import boston_housing, digits, imdb, mnist, reuters
from funcnet.datasets._files import fetch

__all__ = ["boston_housing", "digits", "fetch", "imdb", "mnist", "reuters"]
