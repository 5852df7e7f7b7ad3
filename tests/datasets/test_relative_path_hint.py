"""A cwd-relative path that Keras's lookup misses gets a hint to pass it absolute."""
import pytest

from funcnet.datasets import mnist


def test_cwd_relative_path_error_suggests_the_absolute_path(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "mnist.npz").write_bytes(b"placeholder")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FUNCNET_DATA_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("FUNCNET_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("FUNCNET_DATASETS_URL", "http://127.0.0.1:9/")  # nothing listens on port 9
    with pytest.raises(FileNotFoundError, match="pass the absolute path .*data/mnist.npz"):
        mnist.load_data(path="data/mnist.npz")
