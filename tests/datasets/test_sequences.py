"""IMDB's and Reuters's preprocessing options against Keras 3's own loaders, on small generated files in
Keras's format (fast, no real data needed), plus ``decode`` and the argument checks."""
import importlib
from unittest import mock

import numpy as np
import pytest

import funcnet.datasets as datasets
from funcnet.datasets import _files
from tests.datasets._helpers import npz_bytes, ragged, tiny_imdb, tiny_reuters
from tests.datasets.test_keras_equivalence import assert_same

OPTIONS = [
    {},
    dict(num_words=20),
    dict(num_words=20, skip_top=5),
    dict(skip_top=2),  # the start mark 1 becomes oov_char
    dict(maxlen=15),
    dict(maxlen=15, num_words=30, skip_top=4, seed=7),
    dict(oov_char=None, num_words=25),
    dict(oov_char=None, skip_top=3, maxlen=20),
    dict(start_char=None),
    dict(start_char=None, index_from=0),
    dict(start_char=None, index_from=0, oov_char=None, num_words=10),
    dict(start_char=7, oov_char=9, index_from=10, num_words=40),
    dict(num_words=0, maxlen=0),  # 0 means None for both, as in Keras
    dict(seed=0),
]


@pytest.fixture
def own_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(_files.DATA_DIR_ENV, str(tmp_path))
    return tmp_path


def _keras(module, path, **kwargs):
    keras_module = importlib.import_module(f"keras.src.datasets.{module}")
    with mock.patch.object(keras_module, "get_file", lambda *args, **kw: str(path)):
        return keras_module.load_data(**kwargs)


@pytest.mark.parametrize("kwargs", OPTIONS, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()) or "default")
def test_imdb_options_match_keras(kwargs, own_dir):
    (own_dir / "imdb.npz").write_bytes(npz_bytes(**tiny_imdb()))
    assert_same(datasets.imdb.load_data(**kwargs), _keras("imdb", own_dir / "imdb.npz", **kwargs))


@pytest.mark.parametrize("kwargs", OPTIONS + [dict(test_split=0.5), dict(test_split=0.0)],
                         ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()) or "default")
def test_reuters_options_match_keras(kwargs, own_dir):
    (own_dir / "reuters.npz").write_bytes(npz_bytes(**tiny_reuters()))
    assert_same(datasets.reuters.load_data(**kwargs), _keras("reuters", own_dir / "reuters.npz", **kwargs))


def test_outputs_are_one_dimensional_object_arrays_even_when_lengths_agree(own_dir):
    """Keras's ``np.array(lists, dtype=object)`` would give a 2-D array here; funcnet always gives 1-D."""
    arrays = tiny_imdb()
    arrays["x_train"] = ragged([[5, 6, 7]] * 40)
    arrays["x_test"] = ragged([[8, 9, 10]] * 30)
    (own_dir / "imdb.npz").write_bytes(npz_bytes(**arrays))
    (x_train, _), (x_test, _) = datasets.imdb.load_data()
    assert x_train.shape == (40,) and x_test.shape == (30,) and x_train[0] == [1, 8, 9, 10]


def test_seed_shuffles_reproducibly(own_dir):
    (own_dir / "reuters.npz").write_bytes(npz_bytes(**tiny_reuters()))
    (a, ya), _ = datasets.reuters.load_data(seed=3)
    (b, yb), _ = datasets.reuters.load_data(seed=3)
    (c, yc), _ = datasets.reuters.load_data(seed=4)
    assert a.tolist() == b.tolist() and ya.tolist() == yb.tolist()
    assert a.tolist() != c.tolist()


def test_maxlen_that_keeps_nothing(own_dir):
    (own_dir / "imdb.npz").write_bytes(npz_bytes(**tiny_imdb()))
    (own_dir / "reuters.npz").write_bytes(npz_bytes(**tiny_reuters()))
    for module in (datasets.imdb, datasets.reuters):
        with pytest.raises(ValueError, match="maxlen=2, no sequence was kept. Increase maxlen."):
            module.load_data(maxlen=2)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(num_words=10.5), TypeError, "num_words must be an int or None; got float 10.5"),
        (dict(num_words=-1), ValueError, "num_words must be >= 0; got -1"),
        (dict(skip_top=None), TypeError, "skip_top must be an int"),
        (dict(maxlen="100"), TypeError, "maxlen must be an int or None"),
        (dict(index_from=-3), ValueError, "index_from must be >= 0"),
        (dict(oov_char=True), TypeError, "oov_char must be an int or None; got bool"),
        (dict(test_split=-0.1), ValueError, r"test_split must be a float in \[0, 1\)"),
        (dict(test_split=1), ValueError, r"test_split must be a float in \[0, 1\)"),
    ],
)
def test_bad_arguments(kwargs, error, message, own_dir):
    (own_dir / "reuters.npz").write_bytes(npz_bytes(**tiny_reuters()))
    with pytest.raises(error, match=message):
        datasets.reuters.load_data(**kwargs)


def test_unknown_keyword_is_a_type_error():
    with pytest.raises(TypeError):
        datasets.imdb.load_data(nb_words=100)


def test_decode_as_the_book_does():
    index = {"the": 1, "film": 2, "was": 3, "great": 4}
    assert datasets.imdb.decode([1, 4, 5, 6, 2, 7, 99, 0], word_index=index) == "? the film was ? great ? ?"
    assert datasets.reuters.decode(np.array([3, 4]), word_index=index, index_from=2) == "the film"
    assert datasets.imdb.decode([], word_index=index) == ""
    with pytest.raises(TypeError, match="one list of int word ids"):
        datasets.imdb.decode([[1, 2], [3, 4]], word_index=index)
    with pytest.raises(TypeError, match="one list of int word ids"):
        datasets.imdb.decode(["the"], word_index=index)
    with pytest.raises(TypeError, match="word_index must be a dict"):
        datasets.imdb.decode([1, 2], word_index=[("the", 1)])


def test_decode_loads_the_word_index_when_not_given(own_dir):
    (own_dir / "imdb_word_index.json").write_text('{"hello": 1, "world": 2}')
    assert datasets.imdb.decode([1, 4, 5, 2]) == "? hello world ?"


def test_label_names_are_keras_names():
    keras_reuters = importlib.import_module("keras.src.datasets.reuters")
    assert datasets.reuters.get_label_names() == keras_reuters.get_label_names()


def test_signatures_match_keras():
    import inspect

    for module, extra in [("mnist", ()), ("imdb", ("kwargs",)), ("reuters", ()), ("boston_housing", ())]:
        keras_module = importlib.import_module(f"keras.src.datasets.{module}")
        theirs = inspect.signature(keras_module.load_data).parameters
        ours = inspect.signature(getattr(datasets, module).load_data).parameters
        assert [(p.name, p.default) for p in ours.values()] == [
            (p.name, p.default) for p in theirs.values() if p.name not in extra
        ]
    for module in ("imdb", "reuters"):
        keras_module = importlib.import_module(f"keras.src.datasets.{module}")
        ours = inspect.signature(getattr(datasets, module).get_word_index).parameters
        theirs = inspect.signature(keras_module.get_word_index).parameters
        assert [(p.name, p.default) for p in ours.values()] == [(p.name, p.default) for p in theirs.values()]


@pytest.mark.parametrize("enabled", [True, False])
def test_loading_restores_the_garbage_collector_state(enabled, own_dir):
    import gc

    (own_dir / "reuters.npz").write_bytes(npz_bytes(**tiny_reuters()))
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        datasets.reuters.load_data()
        assert gc.isenabled() == enabled
        with pytest.raises(ValueError):
            datasets.reuters.load_data(maxlen=1)
        assert gc.isenabled() == enabled
    finally:
        gc.enable() if was else gc.disable()
