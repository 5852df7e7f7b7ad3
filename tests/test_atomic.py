"""`funcnet._atomic`: a failed write (full disk, file-size limit, unwritable folder) raises an OSError
naming the path and leaves the previous file as it was."""
import errno
import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest

from funcnet import checkpoints
from funcnet._atomic import write_atomically

CHILD = r"""
import os, resource, signal, sys
import numpy as np
from funcnet import checkpoints
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing
path = sys.argv[1]
checkpoints.save(path, {"w": np.ones(10, np.float32)})
resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
try:
    checkpoints.save(path, {"w": np.zeros(1_000_000, np.float32)})   # 4 MB: past the limit
except OSError as err:
    print("OSError", err.errno, err)
"""


def test_a_write_past_the_file_size_limit_names_the_path_and_keeps_the_old_file(tmp_path):
    path = tmp_path / "ckpt.npz"
    done = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"OSError {errno.EFBIG} " in done.stdout and repr(str(path)) in done.stdout
    assert "the file there is unchanged" in done.stdout
    np.testing.assert_array_equal(checkpoints.load(path).restore("w", np.zeros(10, np.float32)), np.ones(10))
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.npz"]  # no temporary file left behind


def test_a_full_disk_and_an_unwritable_folder_raise_oserrors_naming_the_path(tmp_path, monkeypatch):
    path = tmp_path / "model.keras"
    path.write_bytes(b"previous")

    def full(f):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match=r"could not write .*model\.keras.*No space left on device.*unchanged") as info:
        write_atomically(path, full)
    assert info.value.errno == errno.ENOSPC
    assert path.read_bytes() == b"previous" and len(list(tmp_path.iterdir())) == 1

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(PermissionError, match=r"could not write .*other\.npz.*Permission denied.*nothing was written"):
        write_atomically(tmp_path / "other.npz", lambda f: f.write(b"x"))
    assert not os.path.exists(tmp_path / "other.npz")


def test_an_interrupt_mid_write_is_not_turned_into_an_oserror(tmp_path):
    def interrupted(f):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomically(tmp_path / "x.npz", interrupted)
    assert list(tmp_path.iterdir()) == []
