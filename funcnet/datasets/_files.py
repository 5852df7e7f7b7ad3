"""Where the data sets' files come from: lookup, download, checksum, atomic caching and safe reading.

A file ``name`` (``"imdb.npz"``, ...) is looked up, in this order, in

1. ``$FUNCNET_DATA_DIR`` (your own folder of data files; CI points it at ``../shared/datasets``),
2. the download cache, ``$FUNCNET_CACHE_DIR`` or else ``~/.funcnet/datasets``,

and, if it is in neither, downloaded from ``$FUNCNET_DATASETS_URL`` (default: Keras's canonical
location, ``https://storage.googleapis.com/tensorflow/tf-keras-datasets/``) into the cache.

Trust model
    * A download is checked against the SHA-256 pinned in ``REGISTRY`` (Keras's own pins) before
      anything in it is parsed, then validated by structure, then moved into the cache atomically
      (a temporary file in the cache folder and ``os.replace``): a failed or corrupt download leaves
      nothing behind.
    * A file that is already on disk (in ``$FUNCNET_DATA_DIR``, the cache, or an explicit ``path``)
      is yours: it is validated by structure only (keys, dtypes, shapes, element types), never by
      the download hash, since an equivalent file may differ in its bytes.
    * Files holding pickled object arrays (``imdb.npz``, ``reuters.npz``) are never downloaded
      without a pinned SHA-256, and even trusted ones are read with a restricted unpickler that can
      only rebuild numpy arrays (as Keras 3 does), so a tampered file cannot run code.
    * Files without a pinned SHA-256 (``reuters_word_index.json``: Keras pins only an MD5) are
      validated by structure before they are cached.

Every failure is a ``ValueError`` (corrupt, truncated or wrong file; checksum mismatch) or a
``FileNotFoundError`` (not on disk and not downloadable) whose message names the file, the folders
searched and the URL.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import http.client
import io
import json
import numbers
import os
import pathlib
import pickle
import struct
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
from tqdm import tqdm

__all__ = [
    "BASE_URL_ENV",
    "CACHE_DIR_ENV",
    "DATA_DIR_ENV",
    "DEFAULT_BASE_URL",
    "DEFAULT_CACHE_DIR",
    "REGISTRY",
    "RemoteFile",
    "base_url",
    "cache_dir",
    "data_dir",
    "fetch",
    "load",
    "locate",
]

DATA_DIR_ENV = "FUNCNET_DATA_DIR"
CACHE_DIR_ENV = "FUNCNET_CACHE_DIR"
BASE_URL_ENV = "FUNCNET_DATASETS_URL"
DEFAULT_BASE_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
DEFAULT_CACHE_DIR = "~/.funcnet/datasets"
# Seconds without any data from the server before a download is abandoned.
DOWNLOAD_TIMEOUT_S = 60.0
_CHUNK = 1 << 16


# ---------------------------------------------------------------------------------------------------
# Configuration, read at call time so that tests and users can change it with environment variables.


def data_dir() -> pathlib.Path | None:
    """``$FUNCNET_DATA_DIR`` (user's own folder of data files), or None when it is not set."""
    value = os.environ.get(DATA_DIR_ENV)
    return pathlib.Path(value).expanduser() if value else None


def cache_dir() -> pathlib.Path:
    """The download cache: ``$FUNCNET_CACHE_DIR``, or ``~/.funcnet/datasets``."""
    return pathlib.Path(os.environ.get(CACHE_DIR_ENV) or DEFAULT_CACHE_DIR).expanduser()


def base_url() -> str:
    """Where files are downloaded from: ``$FUNCNET_DATASETS_URL``, or Keras's canonical location."""
    url = os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    return url if url.endswith("/") else url + "/"


# ---------------------------------------------------------------------------------------------------
# Structure checks: each takes the parsed content and a description of where it came from, and raises
# ValueError naming the file, the array and what was expected.


def _array(arrays: dict, where: str, key: str, *, kinds: str, ndim: int, dtype=None, tail=None) -> np.ndarray:
    if key not in arrays:
        raise ValueError(f"{where} has no array {key!r} (it holds {sorted(arrays)}); is it the right file?")
    a = arrays[key]
    if a.dtype.kind not in kinds or (dtype is not None and a.dtype != dtype):
        want = np.dtype(dtype).name if dtype is not None else {"u": "unsigned int", "iu": "int", "f": "float",
                                                                 "O": "object (lists)"}.get(kinds, kinds)
        raise ValueError(f"{where}: array {key!r} has dtype {a.dtype}, expected {want}.")
    if a.ndim != ndim or (tail is not None and a.shape[1:] != tail):
        want = f"[n, {', '.join(map(str, tail))}]" if tail is not None else f"rank {ndim}"
        raise ValueError(f"{where}: array {key!r} has shape {a.shape}, expected {want}.")
    return a


def _same_length(where: str, x_key: str, x: np.ndarray, y_key: str, y: np.ndarray) -> None:
    if len(x) != len(y):
        raise ValueError(f"{where}: {x_key!r} holds {len(x)} samples but {y_key!r} holds {len(y)} labels.")


def _check_sequences(where: str, key: str, xs: np.ndarray) -> None:
    """Every sample is a list (the loaders check that its items are non-negative ints)."""
    kinds = set(map(type, xs)) - {list}
    if kinds:
        raise ValueError(f"{where}: array {key!r} should hold lists of word ranks; "
                         f"found a {next(iter(kinds)).__name__}.")


def _check_mnist(arrays: dict, where: str) -> None:
    for split in ("train", "test"):
        x = _array(arrays, where, f"x_{split}", kinds="u", ndim=3, dtype=np.uint8, tail=(28, 28))
        y = _array(arrays, where, f"y_{split}", kinds="u", ndim=1, dtype=np.uint8)
        _same_length(where, f"x_{split}", x, f"y_{split}", y)


def _check_imdb(arrays: dict, where: str) -> None:
    for split in ("train", "test"):
        x = _array(arrays, where, f"x_{split}", kinds="O", ndim=1)
        y = _array(arrays, where, f"y_{split}", kinds="iu", ndim=1)
        _same_length(where, f"x_{split}", x, f"y_{split}", y)
        _check_sequences(where, f"x_{split}", x)


def _check_reuters(arrays: dict, where: str) -> None:
    x = _array(arrays, where, "x", kinds="O", ndim=1)
    y = _array(arrays, where, "y", kinds="iu", ndim=1)
    _same_length(where, "x", x, "y", y)
    _check_sequences(where, "x", x)


def _check_boston(arrays: dict, where: str) -> None:
    x = _array(arrays, where, "x", kinds="f", ndim=2, tail=(13,))
    y = _array(arrays, where, "y", kinds="f", ndim=1)
    _same_length(where, "x", x, "y", y)


def _check_word_index(index: Any, where: str) -> None:
    if not isinstance(index, dict) or not index:
        raise ValueError(f"{where} should hold a non-empty JSON object mapping words to ranks; "
                         f"got {type(index).__name__}.")
    for word, rank in index.items():
        if not isinstance(rank, int) or isinstance(rank, bool) or rank < 0:
            raise ValueError(f"{where}: the rank of {word!r} is {rank!r}, expected a non-negative int.")


# ---------------------------------------------------------------------------------------------------
# The registry: the files funcnet knows, with Keras's pinned SHA-256 where Keras pins one.


@dataclasses.dataclass(frozen=True)
class RemoteFile:
    """A data file funcnet can download: its name at ``base_url()``, its SHA-256 and its structure.

    ``sha256`` is None where no SHA-256 of the canonical download is known; such a file is validated
    by structure only, and is refused for download if ``pickled`` (it holds object arrays).
    """

    name: str
    sha256: str | None
    kind: str  # "npz" or "json"
    pickled: bool  # holds object arrays, which are stored as pickles
    check: Callable[[Any, str], None]


REGISTRY: dict[str, RemoteFile] = {
    spec.name: spec
    for spec in [
        # SHA-256s as pinned in keras/src/datasets/<name>.py (Keras 3.15.1).
        RemoteFile("mnist.npz", "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
                   "npz", False, _check_mnist),
        RemoteFile("imdb.npz", "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f",
                   "npz", True, _check_imdb),
        RemoteFile("reuters.npz", "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916",
                   "npz", True, _check_reuters),
        RemoteFile("boston_housing.npz", "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5",
                   "npz", False, _check_boston),
        # Keras pins only an MD5 (bfafd718b763782e994055a2d397834f). The shared copy of this file has
        # exactly that MD5, i.e. it is Keras's download byte for byte; this is its SHA-256.
        RemoteFile("imdb_word_index.json", "027313fe9a320280f3bf0fac5baf58c4a683cf39a7ed9c3d3d3912bde4284cf6",
                   "json", False, _check_word_index),
        # Keras pins only an MD5 (4d44cc38712099c9e383dc6e5f11a921) and no byte-identical copy is at
        # hand, so no SHA-256 is known: a download is validated by structure only.
        RemoteFile("reuters_word_index.json", None, "json", False, _check_word_index),
    ]
}


def _spec(name: str) -> RemoteFile:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown data file {name!r}; funcnet knows {sorted(REGISTRY)}.") from None


# ---------------------------------------------------------------------------------------------------
# Safe reading.

# numpy's own globals for rebuilding an object array; nothing else may be unpickled.
_ALLOWED_GLOBALS = frozenset(
    (module, name)
    for module in ("numpy.core.multiarray", "numpy._core.multiarray")
    for name in ("_reconstruct", "scalar")
) | {("numpy", "ndarray"), ("numpy", "dtype")}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}: only numpy arrays are allowed")


def _read_npy(data: bytearray, key: str, allow_objects: bool) -> np.ndarray:
    buf = io.BytesIO(data)
    version = np.lib.format.read_magic(buf)
    if version == (1, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(buf)
    elif version in ((2, 0), (3, 0)):
        # 3.0 only differs by a UTF-8 header; its layout is 2.0's.
        shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(buf)
    else:
        raise ValueError(f"unsupported .npy format version {version}")
    if dtype.hasobject:
        if not allow_objects:
            raise ValueError(f"array {key!r} is an object array (a pickle); this file should hold numbers only")
        array = _NumpyOnlyUnpickler(buf).load()
        if not isinstance(array, np.ndarray) or array.dtype != dtype or array.shape != shape:
            raise ValueError(f"array {key!r} does not match its header {shape} {dtype}")
        return array
    count = int(np.prod(shape, dtype=np.int64))
    need, have = count * dtype.itemsize, len(data) - buf.tell()
    if need != have:
        raise ValueError(f"array {key!r} should take {need} bytes for shape {shape} but {have} are stored")
    return np.frombuffer(data, dtype=dtype, count=count, offset=buf.tell()).reshape(
        shape, order="F" if fortran_order else "C")


def _read_npz(path: pathlib.Path, allow_objects: bool) -> dict[str, np.ndarray]:
    arrays = {}
    with zipfile.ZipFile(path) as archive:
        for member in archive.infolist():
            if member.filename.endswith(".npy"):
                key = member.filename[: -len(".npy")]
                arrays[key] = _read_npy(bytearray(archive.read(member)), key, allow_objects)
    return arrays


# What a corrupt, truncated or foreign file makes the readers raise.
_CORRUPT = (zipfile.BadZipFile, zlib.error, EOFError, struct.error, pickle.UnpicklingError, ValueError,
            KeyError, IndexError, TypeError, AttributeError, OverflowError, MemoryError, UnicodeDecodeError)


def _read(spec: RemoteFile, path: pathlib.Path, where: str) -> Any:
    try:
        if spec.kind == "npz":
            content = _read_npz(path, allow_objects=spec.pickled)
        else:
            content = json.loads(path.read_bytes().decode("utf-8"))
    except _CORRUPT as err:
        raise ValueError(
            f"{where} is not a valid {spec.name}: it could not be read ({type(err).__name__}: {err}). "
            f"It is probably truncated or corrupt; replace it, or delete it to download a fresh copy."
        ) from err
    spec.check(content, where)
    return content


# ---------------------------------------------------------------------------------------------------
# Lookup and download.


def _folders() -> list[tuple[pathlib.Path, str]]:
    folders = []
    if (own := data_dir()) is not None:
        folders.append((own, f"${DATA_DIR_ENV}"))
    folders.append((cache_dir(), "download cache"))
    return folders


def _describe(folders: list[tuple[pathlib.Path, str]]) -> str:
    lines = [f"{folder} ({label}{'' if folder.is_dir() else ', does not exist'})" for folder, label in folders]
    if data_dir() is None:
        lines.append(f"(${DATA_DIR_ENV} is not set)")
    return "; ".join(lines)


def _unavailable(shown: str, folders, url: str, err: BaseException) -> FileNotFoundError:
    if isinstance(err, urllib.error.HTTPError):
        reason = f"HTTP {err.code} {err.reason}"
    else:
        reason = str(getattr(err, "reason", None) or err)
    return FileNotFoundError(
        f"data file {shown!r} is not on this machine and could not be downloaded.\n"
        f"  searched: {_describe(folders)}\n"
        f"  download: {url} failed ({reason})\n"
        f"Put {shown} into one of those folders, or set {DATA_DIR_ENV} to a folder that holds it "
        f"(funcnet's own tests use {DATA_DIR_ENV}=../shared/datasets)."
    )


def _stderr_is_a_terminal() -> bool:
    try:
        return bool(sys.stderr.isatty())
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


def _stream(url: str, out, shown: str, folders, verbose: bool | None) -> tuple[str, int]:
    """Copies ``url`` into the open file ``out``; returns (sha256 hex digest, bytes received)."""
    try:
        response = urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S)
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as err:
        raise _unavailable(shown, folders, url, err) from err
    digest, received = hashlib.sha256(), 0
    with response:
        length = response.headers.get("Content-Length", "")
        total = int(length) if length.isdigit() else None
        show = _stderr_is_a_terminal() if verbose is None else bool(verbose)
        with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=f"Downloading {shown}",
                  disable=not show, file=sys.stderr) as bar:
            while True:
                try:
                    chunk = response.read(_CHUNK)
                except (OSError, http.client.HTTPException) as err:
                    raise ValueError(f"the download of {shown} from {url} broke off after {received} bytes "
                                     f"({type(err).__name__}: {err}); nothing was saved. Try again.") from err
                if not chunk:
                    break
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    if total is not None and received != total:
        raise ValueError(f"the download of {shown} from {url} is truncated: {received} of {total} bytes "
                         f"arrived; nothing was saved. Try again.")
    return digest.hexdigest(), received


def _download(spec: RemoteFile, target: pathlib.Path, shown: str, folders, verbose: bool | None) -> Any:
    url = base_url() + spec.name
    if spec.pickled and spec.sha256 is None:
        raise ValueError(
            f"{spec.name} holds pickled object arrays and funcnet knows no SHA-256 for it, so it will not "
            f"download and unpickle an unverified copy from {url}. Download and check it yourself, then put "
            f"it into one of: {_describe(folders)}."
        )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    except OSError as err:
        raise OSError(f"cannot write the download of {shown} into {target.parent} ({err}); set "
                      f"{CACHE_DIR_ENV} to a writable folder, or {DATA_DIR_ENV} to a folder holding "
                      f"{shown}.") from err
    tmp = pathlib.Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            actual, size = _stream(url, out, shown, folders, verbose)
            out.flush()
            os.fsync(out.fileno())
        if spec.sha256 is not None and actual != spec.sha256:
            raise ValueError(
                f"the download of {shown} from {url} ({size} bytes) has SHA-256 {actual}, but funcnet "
                f"expects {spec.sha256}: it is corrupt, truncated or not the expected file. Nothing was "
                f"saved to {target.parent}."
            )
        # Verified (or, without a pinned hash, a plain-data file): safe to parse, then to publish.
        content = _read(spec, tmp, where=f"the download of {shown} from {url}")
        tmp.chmod(0o644)  # mkstemp's 0o600 would hide a shared cache's files from other users
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return content


def locate(name: str, path: str | os.PathLike | None = None, *, verbose: bool | None = None
           ) -> tuple[pathlib.Path, Any]:
    """``(where the file is, its validated content)``; see ``load``."""
    spec = _spec(name)
    if path is None:
        path = name
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file name or path such as {name!r}; got {type(path).__name__} {path!r}.")
    relative = pathlib.Path(path).expanduser()
    folders = _folders()
    for folder, _ in folders:
        candidate = folder / relative  # an absolute `path` stays itself
        if candidate.is_file():
            return candidate, _read(spec, candidate, where=str(candidate))
    target = cache_dir() / relative
    try:
        return target, _download(spec, target, str(relative), folders, verbose)
    except FileNotFoundError as err:
        if not relative.is_absolute() and relative.is_file():
            raise FileNotFoundError(
                f"{err}\nNote: {str(relative)!r} exists relative to the current folder, but a relative path is "
                f"looked up inside the folders above, as keras.datasets does; pass the absolute path "
                f"{str(relative.resolve())!r} instead."
            ) from None
        raise


def load(name: str, path: str | os.PathLike | None = None, *, verbose: bool | None = None) -> Any:
    """The validated content of data file ``name``: a dict of arrays (.npz) or the parsed JSON.

    ``path`` is the local file name, relative to the folders searched (or absolute), as Keras's
    ``path`` argument; it defaults to ``name``. The download always fetches ``base_url() + name``.
    """
    return locate(name, path, verbose=verbose)[1]


def fetch(name: str, path: str | os.PathLike | None = None, *, verbose: bool | None = None) -> pathlib.Path:
    """Finds data file ``name`` (see the lookup order above), downloading it if needed; returns its path.

    The file is validated either way. ``verbose``: show a progress bar while downloading (default:
    only when stderr is a terminal). Useful to download everything ahead of time.

    Raises ``FileNotFoundError`` when the file is neither on disk nor downloadable, and
    ``ValueError`` for an unknown name, a corrupt file or a download that fails its checksum.

    Examples:
        >>> from funcnet import datasets
        >>> for name in ["mnist.npz", "boston_housing.npz", "reuters_word_index.json"]:
        ...     path = datasets.fetch(name, verbose=True)
        >>> path.name
        'reuters_word_index.json'
    """
    return locate(name, path, verbose=verbose)[0]


def check_int(value: Any, what: str, *, allow_none: bool = False, minimum: int | None = None) -> int | None:
    """Argument check shared by the loaders: an int (or None where allowed), at least ``minimum``."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{what} must be an int{' or None' if allow_none else ''}; "
                        f"got {type(value).__name__} {value!r}.")
    if minimum is not None and value < minimum:
        raise ValueError(f"{what} must be >= {minimum}; got {value}.")
    return int(value)


def check_split(test_split: Any) -> float:
    if isinstance(test_split, bool) or not isinstance(test_split, numbers.Real) or not 0 <= float(test_split) < 1:
        raise ValueError(f"test_split must be a float in [0, 1), the fraction of samples kept for testing; "
                         f"got {test_split!r}.")
    return float(test_split)
