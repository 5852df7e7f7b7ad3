"""The file layer: lookup order, download, checksum, atomic caching, structure checks, safe unpickling.

Every download goes to a threaded http.server on 127.0.0.1 serving small generated files in Keras's
format, with their SHA-256 patched into the registry for the test.
"""
import pathlib
import re

import numpy as np
import pytest

import funcnet.datasets as datasets
from funcnet.datasets import _files
from tests.datasets._helpers import npz_bytes, pin, ragged, sha256, tiny_imdb, tiny_mnist, word_index_bytes


@pytest.fixture
def no_data_dir(monkeypatch):
    monkeypatch.delenv(_files.DATA_DIR_ENV, raising=False)


def _cache_files(cache: pathlib.Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def _serve_mnist(server, monkeypatch, arrays=None):
    data = npz_bytes(**(arrays or tiny_mnist()))
    server.files["mnist.npz"] = data
    pin(monkeypatch, "mnist.npz", sha256(data))
    return data


# --- download ------------------------------------------------------------------------------------


def test_download_is_verified_cached_and_then_read_from_the_cache(server, monkeypatch, hermetic, no_data_dir):
    data = _serve_mnist(server, monkeypatch)
    (x_train, y_train), (x_test, y_test) = datasets.mnist.load_data()
    expected = tiny_mnist()
    np.testing.assert_array_equal(x_train, expected["x_train"])
    np.testing.assert_array_equal(y_test, expected["y_test"])
    assert server.requests == ["/mnist.npz"]
    assert _cache_files(hermetic) == ["mnist.npz"]  # no temporary file left behind
    assert (hermetic / "mnist.npz").read_bytes() == data

    (x_again, _), _ = datasets.mnist.load_data()
    np.testing.assert_array_equal(x_again, x_train)
    assert server.requests == ["/mnist.npz"]  # the second call made no request


def test_fetch_downloads_ahead_of_time_with_a_progress_bar_when_verbose(server, monkeypatch, hermetic,
                                                                       no_data_dir, capsys):
    _serve_mnist(server, monkeypatch)
    path = datasets.fetch("mnist.npz", verbose=True)
    assert path == hermetic / "mnist.npz" and path.is_file()
    assert "mnist.npz" in capsys.readouterr().err
    path.unlink()
    datasets.fetch("mnist.npz", verbose=False)
    assert capsys.readouterr().err == ""


def test_progress_is_silent_by_default_off_a_terminal(server, monkeypatch, no_data_dir, capsys):
    _serve_mnist(server, monkeypatch)
    datasets.mnist.load_data()
    assert capsys.readouterr().err == ""


def test_wrong_checksum_names_both_hashes_and_caches_nothing(server, monkeypatch, hermetic, no_data_dir):
    data = _serve_mnist(server, monkeypatch)
    pin(monkeypatch, "mnist.npz", "0" * 64)
    with pytest.raises(ValueError, match="SHA-256") as info:
        datasets.mnist.load_data()
    message = str(info.value)
    assert sha256(data) in message and "0" * 64 in message and server.url + "mnist.npz" in message
    assert _cache_files(hermetic) == []


def test_truncated_file_fails_its_checksum_and_caches_nothing(server, monkeypatch, hermetic, no_data_dir):
    data = _serve_mnist(server, monkeypatch)
    server.files["mnist.npz"] = data[: len(data) // 2]
    with pytest.raises(ValueError, match="expects " + sha256(data)):
        datasets.mnist.load_data()
    assert _cache_files(hermetic) == []


def test_connection_closed_before_content_length_is_a_truncated_download(server, monkeypatch, hermetic,
                                                                        no_data_dir):
    _serve_mnist(server, monkeypatch)
    server.cut_short.add("mnist.npz")
    with pytest.raises(ValueError, match="truncated|broke off"):
        datasets.mnist.load_data()
    assert _cache_files(hermetic) == []


def test_file_without_a_pinned_hash_is_validated_by_structure_before_caching(server, hermetic, no_data_dir):
    assert _files.REGISTRY["reuters_word_index.json"].sha256 is None
    good = word_index_bytes()
    server.files["reuters_word_index.json"] = good[:-10]
    with pytest.raises(ValueError, match="not a valid reuters_word_index.json"):
        datasets.reuters.get_word_index()
    assert _cache_files(hermetic) == []

    server.files["reuters_word_index.json"] = b'["the", "and"]'
    with pytest.raises(ValueError, match="JSON object mapping words to ranks"):
        datasets.reuters.get_word_index()
    assert _cache_files(hermetic) == []

    server.files["reuters_word_index.json"] = good
    assert datasets.reuters.get_word_index() == {"the": 1, "and": 2, "a": 3, "of": 4, "film": 5}
    assert _cache_files(hermetic) == ["reuters_word_index.json"]


def test_pickled_file_is_never_downloaded_without_a_pinned_hash(server, monkeypatch, hermetic, no_data_dir):
    server.files["imdb.npz"] = npz_bytes(**tiny_imdb())
    pin(monkeypatch, "imdb.npz", None)
    with pytest.raises(ValueError, match="unverified"):
        datasets.imdb.load_data()
    assert server.requests == [] and _cache_files(hermetic) == []


class _Gadget:
    """Unpickling this creates the file ``path``: stands in for code a tampered pickle would run."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _malicious_imdb(marker) -> bytes:
    arrays = tiny_imdb()
    arrays["x_train"] = np.array([_Gadget(marker)] + [None] * 39, dtype=object)
    return npz_bytes(**arrays)


def test_pickled_download_is_checked_before_anything_is_unpickled(server, monkeypatch, tmp_path, hermetic,
                                                                  no_data_dir):
    marker = tmp_path / "pwned"
    server.files["imdb.npz"] = _malicious_imdb(marker)
    pin(monkeypatch, "imdb.npz", sha256(npz_bytes(**tiny_imdb())))
    with pytest.raises(ValueError, match="SHA-256"):
        datasets.imdb.load_data()
    assert not marker.exists() and _cache_files(hermetic) == []


@pytest.mark.parametrize("where", ["download", "data_dir"])
def test_only_numpy_arrays_are_ever_unpickled(where, server, monkeypatch, tmp_path, hermetic):
    """Even a file that passes the checksum, or the user's own file, cannot run code."""
    marker = tmp_path / "pwned"
    data = _malicious_imdb(marker)
    if where == "download":
        monkeypatch.delenv(_files.DATA_DIR_ENV, raising=False)
        server.files["imdb.npz"] = data
        pin(monkeypatch, "imdb.npz", sha256(data))
    else:
        (tmp_path / "own").mkdir()
        (tmp_path / "own" / "imdb.npz").write_bytes(data)
        monkeypatch.setenv(_files.DATA_DIR_ENV, str(tmp_path / "own"))
    with pytest.raises(ValueError, match="refusing to unpickle"):
        datasets.imdb.load_data()
    assert not marker.exists() and _cache_files(hermetic) == []


def test_downloaded_imdb_goes_through_the_same_pipeline(server, monkeypatch, no_data_dir):
    arrays = tiny_imdb()
    data = npz_bytes(**arrays)
    server.files["imdb.npz"] = data
    pin(monkeypatch, "imdb.npz", sha256(data))
    (x_train, y_train), (x_test, y_test) = datasets.imdb.load_data(seed=0)
    assert len(x_train) == 40 and len(x_test) == 30 and x_train.dtype == object
    assert sorted(map(len, x_train)) == sorted(len(x) + 1 for x in arrays["x_train"])


# --- offline ---------------------------------------------------------------------------------------


def test_server_down_names_the_file_the_folders_and_the_url(monkeypatch, tmp_path, hermetic):
    own = tmp_path / "own"
    own.mkdir()
    monkeypatch.setenv(_files.DATA_DIR_ENV, str(own))
    with pytest.raises(FileNotFoundError) as info:
        datasets.mnist.load_data()
    message = str(info.value)
    assert "mnist.npz" in message
    assert str(own) in message and str(hermetic) in message
    assert _files.base_url() + "mnist.npz" in message
    assert "FUNCNET_DATA_DIR" in message
    assert _cache_files(hermetic) == []


def test_server_down_without_a_data_dir_says_it_is_not_set(no_data_dir):
    with pytest.raises(FileNotFoundError, match=r"\$FUNCNET_DATA_DIR is not set"):
        datasets.reuters.get_word_index()


def test_http_error_is_a_clear_not_found(server, no_data_dir):
    with pytest.raises(FileNotFoundError, match="404") as info:
        datasets.boston_housing.load_data()
    assert server.url + "boston_housing.npz" in str(info.value)


def test_base_url_may_omit_its_trailing_slash(server, monkeypatch, no_data_dir):
    _serve_mnist(server, monkeypatch)
    monkeypatch.setenv(_files.BASE_URL_ENV, server.url.rstrip("/"))
    datasets.mnist.load_data()
    assert server.requests == ["/mnist.npz"]


def test_unwritable_cache_says_which_variable_to_set(server, monkeypatch, tmp_path, no_data_dir):
    _serve_mnist(server, monkeypatch)
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv(_files.CACHE_DIR_ENV, str(blocker / "cache"))
    with pytest.raises(OSError, match="FUNCNET_CACHE_DIR"):
        datasets.mnist.load_data()


# --- lookup order ----------------------------------------------------------------------------------


def test_data_dir_takes_precedence_over_the_cache(server, monkeypatch, tmp_path, hermetic):
    own = tmp_path / "own"
    own.mkdir()
    (own / "mnist.npz").write_bytes(npz_bytes(**tiny_mnist(seed=1)))
    hermetic.mkdir()
    (hermetic / "mnist.npz").write_bytes(npz_bytes(**tiny_mnist(seed=2)))
    monkeypatch.setenv(_files.DATA_DIR_ENV, str(own))
    (x_train, _), _ = datasets.mnist.load_data()
    np.testing.assert_array_equal(x_train, tiny_mnist(seed=1)["x_train"])
    assert datasets.fetch("mnist.npz") == own / "mnist.npz"

    (own / "mnist.npz").unlink()  # not in the data dir: the cache is next
    (x_train, _), _ = datasets.mnist.load_data()
    np.testing.assert_array_equal(x_train, tiny_mnist(seed=2)["x_train"])
    assert server.requests == []


def test_a_file_on_disk_is_not_checked_against_the_download_hash(monkeypatch, tmp_path):
    """The shared files are equivalent to Keras's but differ in bytes: on disk, structure decides."""
    own = tmp_path / "own"
    own.mkdir()
    (own / "boston_housing.npz").write_bytes(
        npz_bytes(x=np.arange(50 * 13, dtype=np.float64).reshape(50, 13), y=np.arange(50.0)))
    monkeypatch.setenv(_files.DATA_DIR_ENV, str(own))
    (x_train, y_train), (x_test, y_test) = datasets.boston_housing.load_data()
    assert x_train.shape == (40, 13) and x_test.shape == (10, 13)
    assert sorted(np.concatenate([y_train, y_test]).tolist()) == list(np.arange(50.0))


def test_path_argument_names_the_local_file(server, monkeypatch, tmp_path, hermetic, no_data_dir):
    _serve_mnist(server, monkeypatch)
    datasets.mnist.load_data(path="mnist-copy.npz")
    assert server.requests == ["/mnist.npz"]  # always the canonical URL
    assert _cache_files(hermetic) == ["mnist-copy.npz"]

    elsewhere = tmp_path / "elsewhere.npz"
    elsewhere.write_bytes(npz_bytes(**tiny_mnist(seed=3)))
    (x_train, _), _ = datasets.mnist.load_data(path=elsewhere)  # an absolute path is used as is
    np.testing.assert_array_equal(x_train, tiny_mnist(seed=3)["x_train"])
    assert server.requests == ["/mnist.npz"]


def test_default_cache_is_in_the_home_folder(monkeypatch):
    monkeypatch.delenv(_files.CACHE_DIR_ENV)
    assert _files.cache_dir() == pathlib.Path.home() / ".funcnet" / "datasets"
    monkeypatch.delenv(_files.BASE_URL_ENV)
    assert _files.base_url() == "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


def test_registry_pins_keras_sha256s():
    pins = {name: spec.sha256 for name, spec in _files.REGISTRY.items()}
    assert pins == {
        "mnist.npz": "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
        "imdb.npz": "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f",
        "reuters.npz": "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916",
        "boston_housing.npz": "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5",
        "imdb_word_index.json": "027313fe9a320280f3bf0fac5baf58c4a683cf39a7ed9c3d3d3912bde4284cf6",
        "reuters_word_index.json": None,
    }
    assert all(spec.sha256 for spec in _files.REGISTRY.values() if spec.pickled)


def test_unknown_file_name():
    with pytest.raises(ValueError, match="unknown data file 'cifar.npz'.*mnist.npz"):
        datasets.fetch("cifar.npz")


# --- structure checks on files found on disk ---------------------------------------------------------


def _own_file(monkeypatch, tmp_path, name, data: bytes) -> pathlib.Path:
    own = tmp_path / "own"
    own.mkdir(exist_ok=True)
    (own / name).write_bytes(data)
    monkeypatch.setenv(_files.DATA_DIR_ENV, str(own))
    return own / name


@pytest.mark.parametrize("cut", [0, 10, 200, -50])
def test_truncated_or_corrupt_file_on_disk_is_a_clear_value_error(cut, monkeypatch, tmp_path):
    data = npz_bytes(**tiny_mnist())
    path = _own_file(monkeypatch, tmp_path, "mnist.npz", data[:cut])
    with pytest.raises(ValueError, match=re.escape(str(path)) + " is not a valid mnist.npz"):
        datasets.mnist.load_data()


def test_corrupt_bytes_inside_the_archive(monkeypatch, tmp_path):
    data = bytearray(npz_bytes(**tiny_mnist()))
    data[100:400] = bytes(300)  # inside the first member: the zip's CRC check fails
    _own_file(monkeypatch, tmp_path, "mnist.npz", bytes(data))
    with pytest.raises(ValueError, match="not a valid mnist.npz"):
        datasets.mnist.load_data()


def test_garbage_json_on_disk(monkeypatch, tmp_path):
    _own_file(monkeypatch, tmp_path, "imdb_word_index.json", b"\x89PNG not json")
    with pytest.raises(ValueError, match="imdb_word_index.json is not a valid imdb_word_index.json"):
        datasets.imdb.get_word_index()


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: a.pop("y_test"), "has no array 'y_test'"),
        (lambda a: a.update(x_train=a["x_train"].astype(np.float32)), "'x_train' has dtype float32, expected uint8"),
        (lambda a: a.update(x_test=a["x_test"][:, :27]), r"'x_test' has shape \(3, 27, 28\), expected \[n, 28, 28\]"),
        (lambda a: a.update(y_train=a["y_train"][:5]), "'x_train' holds 6 samples but 'y_train' holds 5"),
        (lambda a: a.update(y_train=np.array([[1]] * 6, dtype=object)), "object array"),
    ],
)
def test_wrong_structure_names_the_array(change, message, monkeypatch, tmp_path):
    arrays = tiny_mnist()
    change(arrays)
    _own_file(monkeypatch, tmp_path, "mnist.npz", npz_bytes(**arrays))
    with pytest.raises(ValueError, match=message):
        datasets.mnist.load_data()


@pytest.mark.parametrize(
    "x_train, message",
    [
        (ragged([[1, 2.5]] + [[1]] * 39), "lists of int word ranks; found a float"),
        (ragged([[1, True]] + [[1]] * 39), "lists of int word ranks; found a bool"),
        (ragged([[1, -4]] + [[1]] * 39), "negative word rank -4"),
        (np.array(["a"] * 40, dtype=object), "should hold lists of word ranks; found a str"),
        (np.arange(40), "'x_train' has dtype int64, expected object"),
    ],
)
def test_sequences_must_be_lists_of_int_ranks(x_train, message, monkeypatch, tmp_path):
    arrays = tiny_imdb()
    arrays["x_train"] = x_train
    _own_file(monkeypatch, tmp_path, "imdb.npz", npz_bytes(**arrays))
    with pytest.raises(ValueError, match=message):
        datasets.imdb.load_data()


def test_numpy_int_items_are_accepted_as_ranks(monkeypatch, tmp_path):
    arrays = tiny_imdb()
    arrays["x_train"] = ragged([[np.int32(w) for w in x] for x in arrays["x_train"]])
    _own_file(monkeypatch, tmp_path, "imdb.npz", npz_bytes(**arrays))
    (x_train, _), _ = datasets.imdb.load_data()
    assert all(type(w) is int for x in x_train for w in x)


def test_word_index_values_must_be_int_ranks(monkeypatch, tmp_path):
    _own_file(monkeypatch, tmp_path, "imdb_word_index.json", b'{"the": 1, "and": "2"}')
    with pytest.raises(ValueError, match="the rank of 'and' is '2'"):
        datasets.imdb.get_word_index()


def test_path_must_be_a_path(monkeypatch):
    with pytest.raises(TypeError, match="path must be a file name"):
        datasets.mnist.load_data(path=3)
