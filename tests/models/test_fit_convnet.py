"""A small convnet through fit, evaluate, predict, checkpoints and mixed precision (the layers' tests are in
tests/layers; data parallelism in tests/test_distribution.py)."""
import jax
import numpy as np
import pytest

from funcnet import callbacks, layers, models


def _convnet(pool=layers.MaxPooling2D):
    return models.Sequential([
        layers.Input(shape=(8, 8, 1)),
        layers.Conv2D(4, 3, activation="relu", padding="same"),
        pool((2, 2)),
        layers.Conv2D(8, 3, activation="relu"),
        layers.GlobalAveragePooling2D(),
        layers.Dense(2, activation="softmax"),
    ])


def _images(n=96, seed=0):
    """Bright top half (class 0) or bright bottom half (class 1), with noise."""
    rs = np.random.default_rng(seed)
    labels = rs.integers(0, 2, n)
    x = rs.normal(scale=0.3, size=(n, 8, 8, 1)).astype(np.float32)
    for i, label in enumerate(labels):
        x[i, 4 * label:4 * label + 4] += 1.0
    return x, np.eye(2, dtype=np.float32)[labels]


def _equal(a, b):
    return all(np.array_equal(u, v) for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


@pytest.mark.parametrize("pool", [layers.MaxPooling2D, layers.AveragePooling2D])
def test_a_convnet_learns_with_fit_and_predict_is_apply(pool):
    x, y = _images()
    model = _convnet(pool)
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=8, batch_size=16, verbose=0, validation_split=0.25)
    assert history.history["accuracy"][-1] > 0.9 and history.history["val_accuracy"][-1] > 0.9
    np.testing.assert_allclose(model.predict(x, verbose=0), model.apply(model.params, x), rtol=1e-5, atol=1e-6)


def test_a_convnet_resumes_bit_identically_from_a_checkpoint(tmp_path):
    x, y = _images()
    full = _convnet()
    full.compile(optimizer="adam", loss="categorical_crossentropy")
    full.fit(x, y, epochs=3, batch_size=10, verbose=0, seed=1)
    first = _convnet()
    first.compile(optimizer="adam", loss="categorical_crossentropy")
    first.fit(x, y, epochs=2, batch_size=10, verbose=0, seed=1,
              callbacks=[callbacks.ModelCheckpoint(str(tmp_path / "c{epoch}.npz"), monitor="loss")])
    resumed = _convnet()
    resumed.compile(optimizer="adam", loss="categorical_crossentropy")
    assert resumed.load_checkpoint(tmp_path / "c2.npz") == 2
    resumed.fit(x, y, epochs=3, batch_size=10, verbose=0, seed=1, initial_epoch=2)
    assert _equal(resumed.params, full.params)


def test_a_convnet_trains_in_mixed_precision_with_float32_params():
    x, y = _images()
    model = _convnet()
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"],
                  dtype_policy="mixed_bfloat16")
    history = model.fit(x, y, epochs=8, batch_size=16, verbose=0)
    assert all(leaf.dtype == np.float32 for leaf in jax.tree.leaves(model.params))
    assert history.history["accuracy"][-1] > 0.9
    assert model.predict(x, verbose=0).dtype == np.float32


def test_a_one_dimensional_convnet_learns():
    rs = np.random.default_rng(0)
    labels = rs.integers(0, 2, 80)
    steps = np.arange(20)
    x = np.stack([np.sin(steps * (1 + 2 * label) * 0.3) for label in labels])[..., None].astype(np.float32)
    x += rs.normal(scale=0.2, size=x.shape).astype(np.float32)
    model = models.Sequential([layers.Input(shape=(20, 1)), layers.Conv1D(8, 5, activation="relu", padding="causal"),
                               layers.MaxPooling1D(2), layers.Conv1D(8, 3, activation="relu"),
                               layers.GlobalMaxPooling1D(), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, labels, epochs=15, batch_size=16, verbose=0)
    assert history.history["accuracy"][-1] > 0.9
