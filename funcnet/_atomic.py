"""Atomic file writes: a temporary file beside the target, fsync, rename.

A process killed mid-write leaves the previous file whole (rename is atomic on POSIX), and a failed
write leaves no temporary file behind. Checkpoints and `.keras` archives both write this way.
"""
from __future__ import annotations

import os
import tempfile
from typing import BinaryIO, Callable


def write_atomically(path: str | os.PathLike, write: Callable[[BinaryIO], None], suffix: str = "") -> None:
    """Calls `write(f)` on a temporary binary file in `path`'s folder, then renames it to `path`."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # a plain file's permissions, not mkstemp's private 0600
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
