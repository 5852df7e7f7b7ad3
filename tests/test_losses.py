"""funcnet.losses against Keras 3 (numpy backend) as the numerical reference."""

import functools
import zlib

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.test_util import check_grads

from funcnet import losses

RTOL, ATOL = 1e-5, 1e-6

# Losses whose y_true and y_pred have the same shape.
DENSE = [
    "binary_crossentropy",
    "categorical_crossentropy",
    "mean_squared_error",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error",
    "huber",
    "log_cosh",
    "kl_divergence",
    "poisson",
    "hinge",
    "squared_hinge",
    "categorical_hinge",
    "cosine_similarity",
]
# Losses that also accept rank-1 [batch] inputs (elementwise).
ELEMENTWISE = [n for n in DENSE if n != "categorical_crossentropy"]


def _one_hot(rng, shape):
    return np.eye(shape[-1], dtype=np.float32)[rng.integers(0, shape[-1], shape[:-1])]


def _probs(rng, shape, low=0.05, high=0.95):
    return rng.uniform(low, high, shape).astype(np.float32)


def make_inputs(name, rng, shape):
    """(y_true, y_pred) in the domain each loss is meant for, away from kinks and clip bounds."""
    normal = lambda: rng.normal(size=shape).astype(np.float32)  # noqa: E731
    if name in ("categorical_crossentropy", "categorical_hinge"):
        return _one_hot(rng, shape), _probs(rng, shape)
    if name == "binary_crossentropy":
        return rng.integers(0, 2, shape).astype(np.float32), _probs(rng, shape)
    if name == "kl_divergence":
        return _probs(rng, shape), _probs(rng, shape)
    if name == "poisson":
        return rng.poisson(2.0, shape).astype(np.float32), rng.uniform(0.5, 3.0, shape).astype(np.float32)
    if name in ("hinge", "squared_hinge"):
        return rng.choice([-1.0, 1.0], shape).astype(np.float32), rng.uniform(-0.5, 0.5, shape).astype(
            np.float32
        )
    if name == "mean_absolute_percentage_error":
        return rng.uniform(1.0, 3.0, shape).astype(np.float32) * rng.choice([-1, 1], shape), normal()
    if name == "mean_squared_logarithmic_error":
        return rng.uniform(0.1, 3.0, shape).astype(np.float32), rng.uniform(0.1, 3.0, shape).astype(
            np.float32
        )
    if name == "huber":
        # keep |error| away from delta = 1, where the loss switches branch
        y_pred = normal()
        return y_pred - rng.choice([0.5, 2.0], shape).astype(np.float32), y_pred
    if name == "mean_absolute_error":
        y_pred = normal()
        return y_pred - rng.choice([-1.0, 1.0], shape).astype(np.float32), y_pred
    return normal(), normal()


def keras_loss(name, y_true, y_pred, **kwargs):
    return np.asarray(getattr(keras.losses, name)(y_true, y_pred, **kwargs))


def assert_close(actual, expected, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=rtol, atol=atol)


# ---------------------------------------------------------------------------------------------
# Agreement with Keras
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(6, 4), (2, 3, 4)])
@pytest.mark.parametrize("name", DENSE)
def test_matches_keras(name, shape):
    rng = np.random.default_rng(zlib.crc32(f"{name}{shape}".encode()))
    y_true, y_pred = make_inputs(name, rng, shape)
    out = getattr(losses, name)(y_true, y_pred)
    assert out.shape == shape[:-1] and out.dtype == jnp.float32
    assert_close(out, keras_loss(name, y_true, y_pred))


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_rank1_is_elementwise_and_equals_keras_on_column(name):
    rng = np.random.default_rng(1)
    y_true, y_pred = make_inputs(name, rng, (6,))
    out = getattr(losses, name)(y_true, y_pred)
    assert out.shape == (6,)
    assert_close(out, keras_loss(name, y_true[:, None], y_pred[:, None]))


def test_categorical_crossentropy_probability_edge_cases():
    rng = np.random.default_rng(2)
    y_true = _one_hot(rng, (6, 4))
    y_pred = rng.uniform(0, 3, (6, 4)).astype(np.float32)  # unnormalised rows
    y_pred[0] = [0.0, 1.0, 0.0, 0.0]
    y_pred[1] = [1.0, 0.0, 0.0, 0.0]
    y_true[0], y_true[1] = [0, 1, 0, 0], [0, 1, 0, 0]  # one exactly right, one exactly wrong
    assert_close(
        losses.categorical_crossentropy(y_true, y_pred),
        keras_loss("categorical_crossentropy", y_true, y_pred),
    )


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("from_logits", [False, True])
def test_categorical_crossentropy_options(from_logits, label_smoothing):
    rng = np.random.default_rng(3)
    y_true = _one_hot(rng, (7, 5))
    y_pred = (
        (rng.normal(size=(7, 5)) * 3).astype(np.float32) if from_logits else _probs(rng, (7, 5), 0.0, 1.0)
    )
    kw = dict(from_logits=from_logits, label_smoothing=label_smoothing)
    assert_close(
        losses.categorical_crossentropy(y_true, y_pred, **kw),
        keras_loss("categorical_crossentropy", y_true, y_pred, **kw),
    )


def test_categorical_crossentropy_soft_and_integer_labels_and_axis():
    rng = np.random.default_rng(4)
    soft = _probs(rng, (5, 3))
    soft /= soft.sum(-1, keepdims=True)
    y_pred = _probs(rng, (5, 3))
    assert_close(
        losses.categorical_crossentropy(soft, y_pred), keras_loss("categorical_crossentropy", soft, y_pred)
    )
    ints = _one_hot(rng, (5, 3)).astype(np.int32)
    assert_close(
        losses.categorical_crossentropy(ints, y_pred),
        keras_loss("categorical_crossentropy", ints.astype(np.float32), y_pred),
    )
    y3, p3 = _one_hot(rng, (2, 4, 3)).transpose(0, 2, 1), _probs(rng, (2, 3, 4))
    assert losses.categorical_crossentropy(y3, p3, axis=1).shape == (2, 4)
    assert_close(
        losses.categorical_crossentropy(y3, p3, axis=1),
        keras_loss("categorical_crossentropy", y3, p3, axis=1),
    )


@pytest.mark.parametrize("label_shape", ["flat", "column"])
@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.float32, np.uint8])
@pytest.mark.parametrize("from_logits", [False, True])
def test_sparse_categorical_crossentropy(label_shape, dtype, from_logits):
    rng = np.random.default_rng(5)
    ids = rng.integers(0, 4, (8,))
    y_true = (ids if label_shape == "flat" else ids[:, None]).astype(dtype)
    y_pred = (
        (rng.normal(size=(8, 4)) * 2).astype(np.float32) if from_logits else _probs(rng, (8, 4), 0.0, 1.0)
    )
    if not from_logits:
        y_pred[0, :] = [1.0, 0.0, 0.0, 0.0]
    out = losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=from_logits)
    assert out.shape == (8,)
    assert_close(out, keras_loss("sparse_categorical_crossentropy", y_true, y_pred, from_logits=from_logits))
    # and it is the categorical loss of the one-hot labels
    one_hot = np.eye(4, dtype=np.float32)[ids]
    assert_close(out, losses.categorical_crossentropy(one_hot, y_pred, from_logits=from_logits))


def test_sparse_categorical_crossentropy_sequences_and_out_of_range():
    rng = np.random.default_rng(6)
    ids, y_pred = rng.integers(0, 3, (2, 5)), _probs(rng, (2, 5, 3))
    assert_close(
        losses.sparse_categorical_crossentropy(ids, y_pred),
        keras_loss("sparse_categorical_crossentropy", ids, y_pred),
    )
    # as Keras: an id outside [0, classes) gives 0, it cannot raise under jit
    out = losses.sparse_categorical_crossentropy(np.array([0, 7]), _probs(rng, (2, 3)))
    assert float(out[1]) == 0.0 and float(out[0]) > 0.0


@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("shape", [(10,), (10, 1), (5, 3)])
def test_binary_crossentropy(shape, from_logits, label_smoothing):
    rng = np.random.default_rng(7)
    y_true = rng.integers(0, 2, shape).astype(np.int32)
    if from_logits:
        y_pred = rng.uniform(-3, 3, shape).astype(np.float32)
    else:
        y_pred = rng.uniform(0, 1, shape).astype(np.float32)
        y_pred.reshape(-1)[:4] = [0.0, 1.0, 0.0, 1.0]
    kw = dict(from_logits=from_logits, label_smoothing=label_smoothing)
    out = losses.binary_crossentropy(y_true, y_pred, **kw)
    column = (lambda a: a[:, None]) if len(shape) == 1 else (lambda a: a)
    assert out.shape == shape[:1]
    expected = keras_loss("binary_crossentropy", column(y_true).astype(np.float32), column(y_pred), **kw)
    assert_close(out, expected)


def test_binary_crossentropy_large_logits_are_exact():
    # Keras's JAX backend (our reference semantics) uses log-sigmoid, unclipped.
    x = jnp.array([-100.0, 100.0, 30.0])
    assert_close(
        losses.binary_crossentropy(jnp.array([1.0, 0.0, 1.0]), x, from_logits=True),
        [100.0, 100.0, 9.357623e-14],
        atol=1e-6,
    )


@pytest.mark.parametrize("delta", [0.5, 1.0, 2.5])
def test_huber_delta(delta):
    rng = np.random.default_rng(8)
    y_true, y_pred = (
        rng.normal(size=(6, 4)).astype(np.float32) * 2,
        rng.normal(size=(6, 4)).astype(np.float32),
    )
    assert_close(losses.huber(y_true, y_pred, delta=delta), keras_loss("huber", y_true, y_pred, delta=delta))


@pytest.mark.parametrize("name", ["hinge", "squared_hinge"])
def test_hinge_label_conventions(name):
    rng = np.random.default_rng(9)
    y_pred = rng.normal(size=(6, 3)).astype(np.float32)
    for y_true in (
        rng.integers(0, 2, (6, 3)).astype(np.float32),  # 0/1: mapped to -1/1
        rng.choice([-1.0, 1.0], (6, 3)).astype(np.float32),
        rng.choice([-1.0, 0.0, 1.0], (6, 3)).astype(np.float32),  # not all 0/1: used as is
    ):
        assert_close(getattr(losses, name)(y_true, y_pred), keras_loss(name, y_true, y_pred))


def test_edge_values_match_keras():
    y = np.array([[0.0, 1.0, 2.0], [0.0, 0.0, 0.0], [-1.0, 0.5, 0.0]], np.float32)
    p = np.array([[0.0, 1.0, 0.0], [1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], np.float32)
    # mape with y_true == 0, msle with negatives, kld/poisson at 0, cosine with a zero vector
    for name in [
        "mean_absolute_percentage_error",
        "mean_squared_logarithmic_error",
        "kl_divergence",
        "poisson",
        "cosine_similarity",
    ]:
        assert_close(getattr(losses, name)(y, p), keras_loss(name, y, p), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize(
    "cls,kwargs",
    [
        ("CategoricalCrossentropy", dict(label_smoothing=0.1)),
        ("CategoricalCrossentropy", dict(from_logits=True)),
        ("SparseCategoricalCrossentropy", dict(from_logits=True)),
        ("BinaryCrossentropy", dict(label_smoothing=0.2)),
        ("MeanSquaredError", {}),
        ("MeanAbsoluteError", {}),
        ("MeanAbsolutePercentageError", {}),
        ("MeanSquaredLogarithmicError", {}),
        ("Huber", dict(delta=0.7)),
        ("LogCosh", {}),
        ("KLDivergence", {}),
        ("Poisson", {}),
        ("Hinge", {}),
        ("SquaredHinge", {}),
        ("CategoricalHinge", {}),
        ("CosineSimilarity", {}),
    ],
)
def test_loss_objects_match_keras(cls, kwargs):
    rng = np.random.default_rng(10)
    name = "categorical_crossentropy" if cls.startswith("Sparse") else getattr(losses, cls)().fn.__name__
    y_true, y_pred = make_inputs(name, rng, (6, 4))
    if cls.startswith("Sparse"):
        y_true = y_true.argmax(-1)
    ours, ref = getattr(losses, cls)(**kwargs), getattr(keras.losses, cls)(**kwargs)
    weights = rng.uniform(0, 2, (6,)).astype(np.float32)
    assert_close(ours(y_true, y_pred), np.asarray(ref(y_true, y_pred)))
    assert_close(
        ours(y_true, y_pred, sample_weight=weights), np.asarray(ref(y_true, y_pred, sample_weight=weights))
    )
    assert ours.call(y_true, y_pred).shape == (6,)
    assert ours == getattr(losses, cls)(**kwargs) and hash(ours) == hash(getattr(losses, cls)(**kwargs))


def test_loss_object_defaults_and_names():
    assert losses.CategoricalCrossentropy().name == "categorical_crossentropy"
    assert losses.MeanSquaredError().name == "mean_squared_error"
    assert losses.Huber().name == "huber_loss"
    assert losses.BinaryCrossentropy() != losses.BinaryCrossentropy(from_logits=True)
    assert "from_logits=True" in repr(losses.BinaryCrossentropy(from_logits=True))


# ---------------------------------------------------------------------------------------------
# Gradients, jit, dtypes
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", DENSE)
def test_gradients_numerically(name):
    rng = np.random.default_rng(11)
    y_true, y_pred = make_inputs(name, rng, (6, 4))
    f = jax.jit(lambda p: getattr(losses, name)(y_true, p))
    check_grads(f, (jnp.asarray(y_pred),), order=1, modes=["rev"], eps=1e-3, atol=2e-2, rtol=2e-2)


@pytest.mark.parametrize("from_logits", [False, True])
def test_gradients_crossentropy_variants(from_logits):
    rng = np.random.default_rng(12)
    logits = jnp.asarray(rng.normal(size=(6, 4)).astype(np.float32))
    y_pred = logits if from_logits else jax.nn.softmax(logits) * 1.3  # unnormalised rows too
    ids = jnp.asarray(rng.integers(0, 4, (6,)))
    one_hot = jax.nn.one_hot(ids, 4)

    def f(p):  # one compiled check for the three; a wrong gradient in any of them shows up
        return (
            losses.sparse_categorical_crossentropy(ids, p, from_logits=from_logits)
            + losses.categorical_crossentropy(one_hot, p, from_logits=from_logits, label_smoothing=0.1)
            + losses.binary_crossentropy(
                one_hot, p if from_logits else jax.nn.sigmoid(p), from_logits=from_logits
            )
        )

    check_grads(jax.jit(f), (y_pred,), order=1, modes=["rev"], eps=1e-3, atol=2e-2, rtol=2e-2)


@pytest.mark.parametrize(
    "name",
    [
        "binary_crossentropy",
        "categorical_crossentropy",
        "kl_divergence",
        "poisson",
        "mean_squared_logarithmic_error",
        "cosine_similarity",
    ],
)
def test_gradients_finite_at_probabilities_zero_and_one(name):
    y_true = jnp.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    y_pred = (
        jnp.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
        if name == "cosine_similarity"
        else jnp.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.5, 0.0]])
    )
    g_pred, g_true = jax.jit(jax.grad(lambda t, p: jnp.sum(getattr(losses, name)(t, p)), argnums=(0, 1)))(
        y_true, y_pred
    )
    assert bool(jnp.all(jnp.isfinite(g_pred))) and bool(jnp.all(jnp.isfinite(g_true)))


def test_gradients_finite_sparse_at_zero_and_large_logits():
    g = jax.jit(jax.grad(lambda p: jnp.sum(losses.sparse_categorical_crossentropy(jnp.array([0, 1]), p))))(
        jnp.array([[1.0, 0.0], [1.0, 0.0]])
    )
    assert bool(jnp.all(jnp.isfinite(g)))
    for fn in (losses.categorical_crossentropy, losses.binary_crossentropy):
        logits = jnp.array([[-200.0, 200.0], [300.0, -300.0]])
        g = jax.jit(
            jax.grad(lambda p, fn=fn: jnp.sum(fn(jnp.array([[1.0, 0.0], [1.0, 0.0]]), p, from_logits=True)))
        )(logits)
        assert bool(jnp.all(jnp.isfinite(g)))


@pytest.mark.parametrize("name", DENSE)
def test_jit_matches_eager(name):
    rng = np.random.default_rng(13)
    y_true, y_pred = make_inputs(name, rng, (6, 4))
    fn = getattr(losses, name)
    assert_close(jax.jit(fn)(y_true, y_pred), fn(y_true, y_pred), rtol=1e-6, atol=1e-6)


def test_jit_with_hyper_parameters_and_sparse():
    rng = np.random.default_rng(14)
    ids, logits = rng.integers(0, 4, (6, 1)), rng.normal(size=(6, 4)).astype(np.float32)
    f = jax.jit(lambda t, p: losses.sparse_categorical_crossentropy(t, p, from_logits=True))
    assert_close(
        f(ids, logits), losses.sparse_categorical_crossentropy(ids, logits, from_logits=True), rtol=1e-6
    )
    loss = losses.CategoricalCrossentropy(label_smoothing=0.1)
    g = jax.jit(lambda t, p, loss: loss(t, p), static_argnums=2)
    assert_close(
        g(jax.nn.one_hot(ids[:, 0], 4), jax.nn.softmax(logits), loss),
        loss(jax.nn.one_hot(ids[:, 0], 4), jax.nn.softmax(logits)),
        rtol=1e-6,
    )


@pytest.mark.parametrize("name", DENSE)
def test_bfloat16_predictions(name):
    rng = np.random.default_rng(15)
    y_true, y_pred = make_inputs(name, rng, (6, 4))
    fn = getattr(losses, name)
    out = fn(y_true, jnp.asarray(y_pred, jnp.bfloat16))
    assert out.dtype == jnp.float32 and out.shape == (6,)
    expected = fn(y_true, jnp.asarray(y_pred, jnp.bfloat16).astype(jnp.float32))
    assert_close(out, expected, rtol=1e-6)


def test_dtypes_of_labels_and_predictions():
    y_pred = jnp.array([[0.2, 0.8], [0.6, 0.4]], jnp.float32)
    for y_true in (
        np.array([[0, 1], [1, 0]], np.int32),
        np.array([[False, True], [True, False]]),
        np.array([[0.0, 1.0], [1.0, 0.0]], np.float64),
    ):
        assert losses.categorical_crossentropy(y_true, y_pred).dtype == jnp.float32
        assert losses.mean_squared_error(y_true, y_pred).dtype == jnp.float32
    # integer predictions are computed in float32
    assert losses.mean_absolute_error(np.array([1, 2]), np.array([3, 3])).dtype == jnp.float32
    assert_close(losses.mean_absolute_error(np.array([1, 2]), np.array([3, 3])), [2.0, 1.0])


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", DENSE)
def test_shape_mismatch_raises(name):
    fn = getattr(losses, name)
    with pytest.raises(ValueError, match=rf"{name}.*\(4, 3\).*\(4, 2\).*expected"):
        fn(np.zeros((4, 3)), np.full((4, 2), 0.5))
    with pytest.raises(ValueError, match=rf"{name}.*\(5, 3\).*\(4, 3\)"):
        fn(np.zeros((5, 3)), np.full((4, 3), 0.5))


def test_column_vs_flat_labels_raise_with_a_reshape_hint():
    with pytest.raises(ValueError, match=r"mean_squared_error.*\(8,\).*\(8, 1\).*[Rr]eshape"):
        losses.mean_squared_error(np.zeros(8), np.zeros((8, 1)))
    with pytest.raises(ValueError, match=r"binary_crossentropy.*\(8, 1\).*\(8,\)"):
        losses.binary_crossentropy(np.zeros((8, 1)), np.full(8, 0.5))


@pytest.mark.parametrize(
    "labels", [np.array([0, 2, 1]), np.array([[0], [2], [1]]), np.array([0.0, 2.0, 1.0])]
)
def test_categorical_crossentropy_with_class_ids_hints_sparse(labels):
    with pytest.raises(
        ValueError, match=r"categorical_crossentropy.*y_true has shape.*sparse_categorical_crossentropy"
    ):
        losses.categorical_crossentropy(labels, np.full((3, 4), 0.25))


def test_sparse_with_one_hot_labels_hints_categorical():
    with pytest.raises(
        ValueError, match=r"sparse_categorical_crossentropy.*\(3, 4\).*one-hot.*use categorical_crossentropy"
    ):
        losses.sparse_categorical_crossentropy(np.eye(4)[[0, 1, 2]], np.full((3, 4), 0.25))
    with pytest.raises(
        ValueError,
        match=r"sparse_categorical_crossentropy.*\(5,\).*expected integer class ids of shape \(3,\)",
    ):
        losses.sparse_categorical_crossentropy(np.zeros(5, np.int32), np.full((3, 4), 0.25))


def test_crossentropies_need_a_class_axis_and_no_scalars():
    with pytest.raises(
        ValueError, match=r"categorical_crossentropy.*\(4,\).*\[batch, classes\].*binary_crossentropy"
    ):
        losses.categorical_crossentropy(np.zeros(4), np.full(4, 0.5))
    with pytest.raises(ValueError, match=r"sparse_categorical_crossentropy.*\(4,\).*\[batch, classes\]"):
        losses.sparse_categorical_crossentropy(np.zeros(4), np.full(4, 0.5))
    with pytest.raises(ValueError, match=r"mean_squared_error.*scalars"):
        losses.mean_squared_error(1.0, 2.0)


def test_single_class_categorical_warns():
    with pytest.warns(UserWarning, match="binary_crossentropy"):
        losses.categorical_crossentropy(np.ones((3, 1)), np.ones((3, 1)))


@pytest.mark.parametrize("bad", ["abc", None, {"a": 1}, object()])
@pytest.mark.parametrize("arg", ["y_true", "y_pred"])
def test_non_arrays_raise_type_error(bad, arg):
    args = {"y_true": np.zeros((2, 2)), "y_pred": np.zeros((2, 2))}
    args[arg] = bad
    for fn in (
        losses.mean_squared_error,
        losses.categorical_crossentropy,
        losses.sparse_categorical_crossentropy,
    ):
        with pytest.raises(TypeError, match=rf"{fn.__name__}: {arg} must be an array"):
            fn(**args)


def test_hyper_parameters_are_validated():
    y, p = np.eye(3), np.full((3, 3), 1 / 3)
    with pytest.raises(
        ValueError, match=r"categorical_crossentropy: label_smoothing must be in \[0, 1\], got 1.5"
    ):
        losses.categorical_crossentropy(y, p, label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"binary_crossentropy: label_smoothing.*-0.1"):
        losses.binary_crossentropy(y, p, label_smoothing=-0.1)
    with pytest.raises(ValueError, match=r"CategoricalCrossentropy: label_smoothing"):
        losses.CategoricalCrossentropy(label_smoothing=2.0)
    with pytest.raises(ValueError, match=r"BinaryCrossentropy: label_smoothing"):
        losses.BinaryCrossentropy(label_smoothing=-1)
    with pytest.raises(ValueError, match=r"Huber: delta must be > 0, got 0"):
        losses.Huber(delta=0)
    with pytest.raises(ValueError, match=r"huber: delta must be > 0, got -1"):
        losses.huber(y, p, delta=-1.0)
    with pytest.raises(TypeError, match=r"from_logits must be True or False"):
        losses.CategoricalCrossentropy(from_logits="yes")
    with pytest.raises(ValueError, match=r"categorical_crossentropy: axis=2 is out of range"):
        losses.categorical_crossentropy(y, p, axis=2)


def test_bad_sample_weight_raises():
    with pytest.raises(
        ValueError, match=r"mean_squared_error: sample_weight has shape \(3,\); expected .*\(4,\)"
    ):
        losses.MeanSquaredError()(np.zeros((4, 2)), np.zeros((4, 2)), sample_weight=np.ones(3))


# ---------------------------------------------------------------------------------------------
# Lookup
# ---------------------------------------------------------------------------------------------


def test_get_resolves_every_name_like_keras():
    for name, fn in losses._BY_NAME.items():
        assert losses.get(name) is fn
        try:
            ref = keras.losses.get(name)
        except ValueError:
            continue  # a name Keras 3 dropped (e.g. "logcosh")
        ref_name = getattr(ref, "fn", ref).__name__
        assert ref_name == fn.__name__, name


def test_get_aliases_and_passthrough():
    assert losses.get("mse") is losses.mean_squared_error is losses.mse
    assert losses.get("mae") is losses.mae and losses.get("mape") is losses.mape
    assert losses.get("msle") is losses.msle and losses.get("kld") is losses.kl_divergence is losses.kld
    assert losses.get("CategoricalCrossentropy") is losses.categorical_crossentropy
    f = lambda t, p: t - p  # noqa: E731
    assert losses.get(f) is f
    obj = losses.Huber(2.0)
    assert losses.get(obj) is obj
    assert losses.get(losses.Huber) == losses.Huber()


def test_get_unknown_and_wrong_type():
    with pytest.raises(
        ValueError,
        match=(
            r"unknown loss 'mean_squared_eror'.*Did you mean 'mean_squared_error'"
            r".*Valid names:.*categorical_crossentropy.*mse"
        ),
    ):
        losses.get("mean_squared_eror")
    for bad in (None, 3, 1.5):
        with pytest.raises(TypeError, match=r"losses.get: identifier must be"):
            losses.get(bad)


def test_is_sparse():
    assert losses.is_sparse("sparse_categorical_crossentropy")
    assert losses.is_sparse("SparseCategoricalCrossentropy")
    assert losses.is_sparse(losses.sparse_categorical_crossentropy)
    assert losses.is_sparse(losses.SparseCategoricalCrossentropy(from_logits=True))
    assert losses.is_sparse(losses.SparseCategoricalCrossentropy)
    assert not losses.is_sparse("categorical_crossentropy")
    assert not losses.is_sparse(losses.MeanSquaredError())
    assert not losses.is_sparse(lambda t, p: t)


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnums=3)  # one compile per shape, not one per op
def _three_crossentropies(one_hot, ids, y_pred, from_logits):
    return (
        losses.categorical_crossentropy(one_hot, y_pred, from_logits=from_logits),
        losses.sparse_categorical_crossentropy(ids, y_pred, from_logits=from_logits),
        losses.binary_crossentropy(one_hot, y_pred, from_logits=from_logits),
    )


@settings(max_examples=20, deadline=None, derandomize=True)
@given(
    batch=st.sampled_from([1, 6]),
    middle=st.sampled_from([(), (3,)]),
    classes=st.just(4),
    seed=st.integers(0, 2**16),
    from_logits=st.booleans(),
)
def test_crossentropy_shapes_and_sign(batch, middle, classes, seed, from_logits):
    rng = np.random.default_rng(seed)
    shape = (batch, *middle, classes)
    ids = rng.integers(0, classes, shape[:-1])
    one_hot = np.eye(classes, dtype=np.float32)[ids]
    y_pred = (
        rng.normal(size=shape).astype(np.float32)
        if from_logits
        else rng.uniform(0, 1, shape).astype(np.float32)
    )
    cce, scce, bce = _three_crossentropies(one_hot, ids, y_pred, from_logits)
    for out in (cce, scce, bce):
        assert out.shape == shape[:-1]
        assert bool(jnp.all(out >= 0))
    assert_close(cce, scce, rtol=1e-5, atol=1e-5)


@settings(max_examples=20, deadline=None, derandomize=True)
@given(
    shape=st.sampled_from([(6,), (6, 4), (2, 3, 4)]),
    seed=st.integers(0, 2**16),
    name=st.sampled_from(ELEMENTWISE),
)
def test_output_shape_property(shape, seed, name):
    y_true, y_pred = make_inputs(name, np.random.default_rng(seed), tuple(shape))
    out = getattr(losses, name)(y_true, y_pred)
    assert out.shape == (tuple(shape[:-1]) if len(shape) > 1 else tuple(shape))
    assert bool(jnp.all(jnp.isfinite(out)))
