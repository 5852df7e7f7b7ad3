"""Atomic file writes: a temporary file beside the target, fsync, rename.

A process killed mid-write leaves the previous file whole (rename is atomic on POSIX), and a failed
write (a full disk, a file-size limit, a folder that cannot be written) leaves no temporary file
behind and raises an `OSError` of the same kind naming the path. Checkpoints and `.keras` archives
both write this way.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import BinaryIO


def write_atomically(path: str | os.PathLike, write: Callable[[BinaryIO], None], suffix: str = "") -> None:
    """Calls `write(f)` on a temporary binary file in `path`'s folder, then renames it to `path`."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=folder)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # a plain file's permissions, not mkstemp's private 0600
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(err, OSError) and err.errno is not None:
            kept = "the file there is unchanged" if os.path.exists(path) else "nothing was written"
            raise type(err)(err.errno, f"could not write {path!r} ({err.strerror or err}); {kept}. Free space on "
                                       "the disk, or write to a folder you can write to.") from err
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
