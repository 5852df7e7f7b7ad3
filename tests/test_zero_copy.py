"""funcnet._zero_copy: large numpy data read by the CPU device in place, the same rows as a copy's."""
import logging

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet import _zero_copy, layers, models


def _at_offset(shape, dtype, offset_bytes):
    """A C-contiguous array of `shape` whose buffer starts `offset_bytes` past a 64-byte boundary."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(nbytes + 128, np.uint8)
    start = (-raw.ctypes.data) % 64 + offset_bytes
    x = raw[start:start + nbytes].view(dtype).reshape(shape)
    x[...] = np.arange(x.size).reshape(shape).astype(dtype)
    return x


CASES = [((4096, 64), np.float32), ((1400, 28, 28), np.uint8), ((50000, 3), np.float64), ((270000,), np.int32),
         ((110000, 5), np.int16)]  # each over MIN_BYTES (1 MiB)


@pytest.mark.parametrize("shape,dtype", CASES)
@pytest.mark.parametrize("offset", [0, 8, 16, 48])
def test_take_reads_the_rows_a_copy_holds(shape, dtype, offset):
    x = _at_offset(shape, dtype, offset)
    view = _zero_copy.device_put(x)
    if offset == 0 or jax.dtypes.canonicalize_dtype(dtype) != dtype:
        # On a boundary JAX itself reads it in place; float64 without x64 is converted (a copy anyway).
        assert not _zero_copy.is_rows(view)
        np.testing.assert_array_equal(np.asarray(view), x.astype(view.dtype))
        return
    assert _zero_copy.is_rows(view) and view.shape == x.shape and view.dtype == x.dtype and len(view) == len(x)
    assert view.body.unsafe_buffer_pointer() == x.ctypes.data + int(view.skip) * x.itemsize  # no copy
    n = len(x)
    rows = np.array([0, 1, 2, n - 1, n - 2, n - 3, n // 2, 5, 0, n - 1], np.int32)
    got = jax.jit(lambda v, r: v.take(r))(view, rows)
    np.testing.assert_array_equal(np.asarray(got), x[rows])
    every = jax.jit(lambda v: v.take(jnp.arange(n, dtype=jnp.int32)))(view)
    np.testing.assert_array_equal(np.asarray(every), x)


def test_arrays_at_different_addresses_share_one_program(caplog):
    take = jax.jit(lambda v, r: v.take(r))
    rows = np.arange(7, dtype=np.int32)
    take(_zero_copy.device_put(_at_offset((4096, 65), np.float32, 16)), rows)
    with jax.log_compiles(True), caplog.at_level(logging.WARNING, logger="jax"):
        caplog.clear()
        for offset in (4, 8, 20, 32, 60):
            view = _zero_copy.device_put(_at_offset((4096, 65), np.float32, offset))
            take(view, rows)
    assert [r.getMessage() for r in caplog.records if "Compiling" in r.getMessage()] == []


@pytest.mark.parametrize("value", [
    np.ones((10, 4), np.float32),  # small: a copy is cheaper
    np.asfortranarray(np.ones((4096, 64), np.float32))[:, 1:],  # not C-contiguous
    np.ones((4096, 64), np.complex64),  # not a real dtype
    jnp.ones((4096, 64)),  # already a device array
])
def test_other_values_are_placed_as_jax_device_put_places_them(value):
    placed = _zero_copy.device_put(value)
    assert isinstance(placed, jax.Array)
    np.testing.assert_array_equal(np.asarray(placed), np.asarray(value))


def _fit(x, y, **fit_args):
    model = models.Sequential([layers.Dense(16, activation="relu", input_shape=(x.shape[1],)),
                               layers.Dropout(0.2), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=2, batch_size=64, verbose=0, seed=3, **fit_args)
    return model, history


def test_fit_evaluate_and_predict_in_place_equal_them_on_a_copy(monkeypatch):
    rs = np.random.default_rng(0)
    x = _at_offset((5000, 60), np.float32, 16)
    x[...] = rs.normal(size=x.shape)
    y = _at_offset((5000, 3), np.float32, 16)
    y[...] = np.eye(3, dtype=np.float32)[rs.integers(0, 3, 5000)]
    runs = []
    for min_bytes in (1 << 20, 1 << 62):  # in place (x is 1.2 MB), then copied
        monkeypatch.setattr(_zero_copy, "MIN_BYTES", min_bytes)
        assert _zero_copy.is_rows(_zero_copy.device_put(x)) == (min_bytes == 1 << 20)
        model, history = _fit(x, y, validation_split=0.5)
        runs.append((model.params, history.history, model.evaluate(x, y, verbose=0), model.predict(x, verbose=0)))
    (p1, h1, e1, y1), (p2, h2, e2, y2) = runs
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(p1), jax.tree.leaves(p2)))
    assert h1 == h2 and e1 == e2
    np.testing.assert_array_equal(y1, y2)


def test_take_under_vmap_and_with_rows_of_any_shape():
    # fit_many gathers each member's rows from the shared data inside vmap and scan.
    x = _at_offset((4096, 70), np.float32, 16)
    view = _zero_copy.device_put(x)
    rows = np.array([[0, 4095, 7], [3, 1, 4094]], np.int32)
    np.testing.assert_array_equal(np.asarray(jax.jit(lambda v, r: v.take(r))(view, rows)), x[rows])
    nested = jax.jit(jax.vmap(jax.vmap(lambda r, v: v.take(r), in_axes=(0, None)), in_axes=(0, None)))
    np.testing.assert_array_equal(np.asarray(nested(rows[:, :, None], view)), x[rows][:, :, None])
