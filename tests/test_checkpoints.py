"""Checkpoints: exact round trips, no pickle, atomic replacement, and clear errors."""
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet import checkpoints, optimizers
from tests._shared import kill_while_saving


def _tree():
    params = {"dense": {"kernel": jnp.arange(6.0).reshape(2, 3), "bias": jnp.ones(3, jnp.bfloat16)}}
    opt_state = optimizers.adam(1e-3, amsgrad=True).init(params)
    return params, opt_state


def test_round_trip_is_exact_for_params_optimizer_state_and_keys(tmp_path):
    params, opt_state = _tree()
    opt_state = jax.tree.map(lambda a: a + 0.125 if a.dtype != jnp.int32 else a + 7, opt_state)
    key = jax.random.key(123)
    path = tmp_path / "ckpt"
    checkpoints.save(path, {"params": params, "opt_state": opt_state, "rng": key}, metadata={"epoch": 3})
    assert path.exists() and not (tmp_path / "ckpt.npz").exists()  # the name is used verbatim
    ckpt = checkpoints.load(path)
    assert ckpt.metadata == {"epoch": 3}
    zero = jax.tree.map(jnp.zeros_like, (params, opt_state))
    restored = (ckpt.restore("params", zero[0]), ckpt.restore("opt_state", zero[1]))
    for a, b in zip(jax.tree.leaves((params, opt_state)), jax.tree.leaves(restored)):
        assert a.dtype == b.dtype and np.array_equal(np.asarray(a, np.float32), np.asarray(b, np.float32))
    assert type(restored[1]) is type(opt_state)
    restored_key = ckpt.restore("rng", jax.random.key(0))
    assert np.array_equal(jax.random.key_data(restored_key), jax.random.key_data(key))


def test_never_unpickles(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, **{"params/w": np.array([object()], dtype=object)})
    with pytest.raises(ValueError, match="not a readable funcnet checkpoint"):
        checkpoints.load(path)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_damaged_files_give_a_clear_error(tmp_path, damage):
    path = tmp_path / "ckpt"
    params, _ = _tree()
    checkpoints.save(path, {"params": params})
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"not a zip file", "empty": b""}[damage])
    with pytest.raises(ValueError, match="not a readable funcnet checkpoint"):
        checkpoints.load(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        checkpoints.load(tmp_path / "nope")


def test_template_mismatch_names_the_path(tmp_path):
    params, _ = _tree()
    path = tmp_path / "ckpt"
    checkpoints.save(path, {"params": params})
    ckpt = checkpoints.load(path)
    with pytest.raises(ValueError, match="Missing.*dense_1"):
        ckpt.restore("params", {**params, "dense_1": {"kernel": jnp.zeros(2)}})
    wrong_shape = jax.tree.map(lambda a: jnp.zeros((*a.shape, 1), a.dtype), params)
    with pytest.raises(ValueError, match="params/dense/.*shape"):
        ckpt.restore("params", wrong_shape)
    with pytest.raises(ValueError, match="not 'opt_state'"):
        ckpt.restore("opt_state", params)


def test_failed_save_leaves_the_previous_checkpoint_and_no_temporary_file(tmp_path, monkeypatch):
    params, _ = _tree()
    path = tmp_path / "ckpt"
    checkpoints.save(path, {"params": params}, metadata={"epoch": 1})

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed mid-save")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        checkpoints.save(path, {"params": jax.tree.map(lambda a: a * 0, params)}, metadata={"epoch": 2})
    assert checkpoints.load(path).metadata == {"epoch": 1}
    assert os.listdir(tmp_path) == ["ckpt"]


def test_a_process_killed_while_saving_leaves_a_readable_checkpoint(tmp_path):
    """SIGKILL a process that saves a 16 MB checkpoint in a loop; the file on disk always loads."""
    path = tmp_path / "ckpt"
    kill_while_saving("""
        import numpy as np
        from funcnet import checkpoints
        big = {"w": np.random.default_rng(0).normal(size=(4_000_000,)).astype("float32")}
    """, f'checkpoints.save({str(path)!r}, {{"params": big}}, metadata={{"epoch": i}})', seconds=0.7)
    ckpt = checkpoints.load(path)
    assert ckpt.metadata["epoch"] >= 0
    assert ckpt.arrays["params/w"].shape == (4_000_000,)
