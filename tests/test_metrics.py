"""funcnet.metrics: streaming over batches agrees with keras.metrics (numpy backend)."""

import re

import chex
import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from keras.src.trainers import compile_utils

from funcnet import losses, metrics

RTOL, ATOL = 1e-5, 1e-6
SIZES = (6, 2, 6)  # uneven batches; shapes shared with test_losses keep XLA compiles few


def _one_hot(ids, k=4):
    return np.eye(k, dtype=np.float32)[ids]


def make_batch(kind, rng, n):
    """One (y_true, y_pred) batch of `n` samples for each kind of problem."""
    probs = lambda *s: rng.uniform(0, 1, s).astype(np.float32)  # noqa: E731
    ids = rng.integers(0, 4, n)
    if kind == "binary_col":
        return rng.integers(0, 2, (n, 1)).astype(np.float32), probs(n, 1)
    if kind == "binary_flat_true":
        return rng.integers(0, 2, n).astype(np.int32), probs(n, 1)
    if kind == "multilabel":
        return rng.integers(0, 2, (n, 4)).astype(np.float32), probs(n, 4)
    if kind == "multilabel_logits":
        return rng.integers(0, 2, (n, 4)).astype(np.float32), rng.uniform(-3, 3, (n, 4)).astype(np.float32)
    if kind == "onehot":
        return _one_hot(ids), probs(n, 4)
    if kind == "sparse":
        return ids.astype(np.int32), probs(n, 4)
    if kind == "sparse_col":
        return ids[:, None].astype(np.int32), probs(n, 4)
    if kind == "sparse_logits":
        return ids.astype(np.int32), rng.normal(size=(n, 4)).astype(np.float32)
    if kind == "regression":
        return rng.normal(size=(n, 4)).astype(np.float32), rng.normal(size=(n, 4)).astype(np.float32)
    if kind == "positive":
        return rng.uniform(0.1, 3, (n, 4)).astype(np.float32), rng.uniform(0.1, 3, (n, 4)).astype(np.float32)
    if kind == "hinge":
        return rng.choice([-1.0, 1.0], (n, 4)).astype(np.float32), rng.normal(size=(n, 4)).astype(np.float32)
    if kind == "segmentation":  # class-id maps, with an out-of-range id now and then
        return rng.integers(-1, 4, (n, 4)).astype(np.int32), rng.integers(0, 4, (n, 4)).astype(np.int32)
    raise ValueError(kind)


def make_batches(kind, seed=0, sizes=SIZES):
    rng = np.random.default_rng(seed)
    return [make_batch(kind, rng, n) for n in sizes]


def make_weights(seed=1, sizes=SIZES, integer=False):
    rng = np.random.default_rng(seed)
    if integer:  # Keras's MeanIoU keeps an integer confusion matrix and truncates weights
        return [rng.integers(0, 3, n).astype(np.float32) for n in sizes]
    return [rng.uniform(0, 2, n).astype(np.float32) for n in sizes]


def run_ours(metric, batches, weights=None):
    state = metric.init()
    for i, (y_true, y_pred) in enumerate(batches):
        state = metric.update(state, y_true, y_pred, sample_weight=None if weights is None else weights[i])
    return metric.result(state)


def run_keras(metric, batches, weights=None):
    for i, (y_true, y_pred) in enumerate(batches):
        metric.update_state(y_true, y_pred, sample_weight=None if weights is None else weights[i])
    return np.asarray(metric.result())


def assert_close(actual, expected, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=rtol, atol=atol)


M, K = metrics, keras.metrics
CASES = {
    # id: (ours, keras, data)
    "binary_accuracy": (lambda: M.BinaryAccuracy(), lambda: K.BinaryAccuracy(), "binary_col"),
    "binary_accuracy_flat_labels": (
        lambda: M.BinaryAccuracy(),
        lambda: K.BinaryAccuracy(),
        "binary_flat_true",
    ),
    "binary_accuracy_multilabel": (
        lambda: M.BinaryAccuracy(threshold=0.7),
        lambda: K.BinaryAccuracy(threshold=0.7),
        "multilabel",
    ),
    "categorical_accuracy": (lambda: M.CategoricalAccuracy(), lambda: K.CategoricalAccuracy(), "onehot"),
    "sparse_categorical_accuracy": (
        lambda: M.SparseCategoricalAccuracy(),
        lambda: K.SparseCategoricalAccuracy(),
        "sparse",
    ),
    "sparse_categorical_accuracy_col": (
        lambda: M.SparseCategoricalAccuracy(),
        lambda: K.SparseCategoricalAccuracy(),
        "sparse_col",
    ),
    "top_k": (lambda: M.TopKCategoricalAccuracy(k=2), lambda: K.TopKCategoricalAccuracy(k=2), "onehot"),
    "sparse_top_k": (
        lambda: M.SparseTopKCategoricalAccuracy(k=2),
        lambda: K.SparseTopKCategoricalAccuracy(k=2),
        "sparse_col",
    ),
    "binary_crossentropy": (lambda: M.BinaryCrossentropy(), lambda: K.BinaryCrossentropy(), "multilabel"),
    "binary_crossentropy_logits": (
        lambda: M.BinaryCrossentropy(from_logits=True, label_smoothing=0.1),
        lambda: K.BinaryCrossentropy(from_logits=True, label_smoothing=0.1),
        "multilabel_logits",
    ),
    "categorical_crossentropy": (
        lambda: M.CategoricalCrossentropy(label_smoothing=0.1),
        lambda: K.CategoricalCrossentropy(label_smoothing=0.1),
        "onehot",
    ),
    "sparse_categorical_crossentropy": (
        lambda: M.SparseCategoricalCrossentropy(from_logits=True),
        lambda: K.SparseCategoricalCrossentropy(from_logits=True),
        "sparse_logits",
    ),
    "mse": (lambda: M.MeanSquaredError(), lambda: K.MeanSquaredError(), "regression"),
    "mae": (lambda: M.MeanAbsoluteError(), lambda: K.MeanAbsoluteError(), "regression"),
    "mape": (lambda: M.MeanAbsolutePercentageError(), lambda: K.MeanAbsolutePercentageError(), "positive"),
    "msle": (lambda: M.MeanSquaredLogarithmicError(), lambda: K.MeanSquaredLogarithmicError(), "positive"),
    "rmse": (lambda: M.RootMeanSquaredError(), lambda: K.RootMeanSquaredError(), "regression"),
    "kld": (lambda: M.KLDivergence(), lambda: K.KLDivergence(), "onehot"),
    "poisson": (lambda: M.Poisson(), lambda: K.Poisson(), "positive"),
    "hinge": (lambda: M.Hinge(), lambda: K.Hinge(), "hinge"),
    "squared_hinge": (lambda: M.SquaredHinge(), lambda: K.SquaredHinge(), "hinge"),
    "categorical_hinge": (lambda: M.CategoricalHinge(), lambda: K.CategoricalHinge(), "onehot"),
    "logcosh": (lambda: M.LogCoshError(), lambda: K.LogCoshError(), "regression"),
    "cosine_similarity": (lambda: M.CosineSimilarity(), lambda: K.CosineSimilarity(), "regression"),
    "precision": (lambda: M.Precision(), lambda: K.Precision(), "multilabel"),
    "recall": (lambda: M.Recall(), lambda: K.Recall(), "multilabel"),
    "precision_column": (lambda: M.Precision(), lambda: K.Precision(), "binary_col"),
    "recall_flat_labels": (lambda: M.Recall(), lambda: K.Recall(), "binary_flat_true"),
    "precision_thresholds": (
        lambda: M.Precision(thresholds=[0.2, 0.5, 0.9]),
        lambda: K.Precision(thresholds=[0.2, 0.5, 0.9]),
        "multilabel",
    ),
    "recall_class_id": (lambda: M.Recall(class_id=2), lambda: K.Recall(class_id=2), "onehot"),
    "precision_class_id": (lambda: M.Precision(class_id=1), lambda: K.Precision(class_id=1), "onehot"),
    "mean_iou": (lambda: M.MeanIoU(4), lambda: K.MeanIoU(4), "segmentation"),
    "mean_iou_ignore_class": (
        lambda: M.MeanIoU(4, ignore_class=0),
        lambda: K.MeanIoU(4, ignore_class=0),
        "segmentation",
    ),
    "mean_iou_argmax": (
        lambda: M.MeanIoU(4, sparse_y_pred=False),
        lambda: K.MeanIoU(4, sparse_y_pred=False),
        "sparse",
    ),
    "mean_iou_one_hot": (
        lambda: M.MeanIoU(4, sparse_y_true=False, sparse_y_pred=False),
        lambda: K.MeanIoU(4, sparse_y_true=False, sparse_y_pred=False),
        "onehot",
    ),
}


# sample_weight takes one code path per metric family; these cover every family
WEIGHTED_CASES = [
    "binary_accuracy_flat_labels",
    "sparse_categorical_accuracy_col",
    "top_k",
    "categorical_crossentropy",
    "mse",
    "rmse",
    "precision_thresholds",
    "recall_class_id",
    "mean_iou",
    "mean_iou_argmax",
]


@pytest.mark.parametrize(
    "case,weighted",
    [(case, False) for case in CASES] + [(case, True) for case in WEIGHTED_CASES],
    ids=[*CASES, *(f"{case}-weighted" for case in WEIGHTED_CASES)],
)
def test_streaming_matches_keras(case, weighted):
    ours, ref, kind = CASES[case]
    batches = make_batches(kind)
    weights = make_weights(integer=case.startswith("mean_iou")) if weighted else None
    keras_weights = weights
    if weighted and case.startswith("mean_iou"):
        # Keras's MeanIoU wants integer weights shaped like the class ids; ours also take [batch]
        keras_weights = [
            (np.broadcast_to(w[:, None], y.shape) if kind == "segmentation" else w).astype(np.int32)
            for w, (y, _) in zip(weights, batches)
        ]
    assert_close(run_ours(ours(), batches, weights), run_keras(ref(), batches, keras_weights))


@pytest.mark.parametrize("case", ["binary_accuracy", "precision", "mean_iou", "mse", "sparse_top_k"])
def test_single_batch_equals_streaming_of_its_concatenation(case):
    ours, _, kind = CASES[case]
    batches = make_batches(kind)
    whole = [tuple(np.concatenate(parts) for parts in zip(*batches))]
    assert_close(run_ours(ours(), batches), run_ours(ours(), whole))


def test_names_match_keras():
    for case, (ours, ref, _) in CASES.items():
        assert ours().name == re.sub(r"_\d+$", "", ref().name), case  # Keras numbers repeated names


@pytest.mark.filterwarnings("ignore:invalid value encountered in divide")
def test_precision_recall_without_positives_is_zero():
    y_true, y_pred = np.zeros((4, 2), np.float32), np.full((4, 2), 0.2, np.float32)
    for ours, ref in ((M.Precision(), K.Precision()), (M.Recall(), K.Recall())):
        assert float(run_ours(ours, [(y_true, y_pred)])) == 0.0 == float(run_keras(ref, [(y_true, y_pred)]))
    # no update at all
    assert float(M.Precision().result(M.Precision().init())) == 0.0


def test_precision_threshold_is_strict():
    m = M.Precision()
    state = m.update(m.init(), np.array([1.0, 0.0]), np.array([0.5, 0.6]))
    assert float(state["true_positives"][0]) == 0.0 and float(state["false_positives"][0]) == 1.0


def test_mean_iou_ignores_classes_never_seen():
    m = M.MeanIoU(num_classes=3)
    state = m.update(m.init(), np.array([0, 0, 1]), np.array([0, 1, 1]))
    # class 2 never appears: mean over classes 0 and 1 only, (1/2 + 1/2) / 2
    assert_close(m.result(state), 0.5)
    assert_close(m.result(state), run_keras(K.MeanIoU(3), [(np.array([0, 0, 1]), np.array([0, 1, 1]))]))


# ---------------------------------------------------------------------------------------------
# "accuracy"
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind", ["binary_col", "binary_flat_true", "sparse", "sparse_col", "onehot", "multilabel"]
)
@pytest.mark.parametrize("identifier", ["accuracy", "acc"])
def test_accuracy_from_shapes_matches_keras_compile(kind, identifier):
    batches = make_batches(kind)
    ref = compile_utils.get_metric(identifier, *batches[0])
    ours = M.get(identifier)
    assert ours.name == identifier == ref.name
    assert_close(run_ours(ours, batches), run_keras(ref, batches))


@pytest.mark.parametrize(
    "loss,kind,expected",
    [
        ("binary_crossentropy", "binary_col", K.BinaryAccuracy),
        # multi-label outputs: shapes alone would pick categorical accuracy
        ("binary_crossentropy", "multilabel", K.BinaryAccuracy),
        (losses.BinaryCrossentropy(label_smoothing=0.1), "multilabel", K.BinaryAccuracy),
        ("sparse_categorical_crossentropy", "sparse", K.SparseCategoricalAccuracy),
        (losses.sparse_categorical_crossentropy, "sparse_col", K.SparseCategoricalAccuracy),
        ("SparseCategoricalCrossentropy", "sparse", K.SparseCategoricalAccuracy),
        ("categorical_crossentropy", "onehot", K.CategoricalAccuracy),
        (losses.CategoricalCrossentropy(from_logits=True), "onehot", K.CategoricalAccuracy),
        ("mse", "binary_col", K.BinaryAccuracy),  # other losses: resolved from the shapes
    ],
)
def test_accuracy_from_loss(loss, kind, expected):
    batches = make_batches(kind)
    ours = M.get("accuracy", loss=loss)
    assert ours.name == "accuracy"
    assert_close(run_ours(ours, batches), run_keras(expected(), batches))


def test_accuracy_resolved_from_loss_is_the_named_function():
    assert M.get("accuracy", loss="binary_crossentropy").fn is M.binary_accuracy
    assert M.get("acc", loss="sparse_categorical_crossentropy").fn is M.sparse_categorical_accuracy
    assert M.get("accuracy", loss=losses.CategoricalCrossentropy()).fn is M.categorical_accuracy
    # the three share one state layout, so the auto-resolving one can be used before shapes are known
    auto = M.get("accuracy")
    for fixed in ("binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy"):
        chex.assert_trees_all_equal_shapes_and_dtypes(auto.init(), M.get("accuracy", loss=fixed).init())


def test_rank1_predictions_count_as_binary():
    m = M.get("accuracy")
    state = m.update(m.init(), np.array([1, 0, 1, 1]), np.array([0.9, 0.2, 0.4, 0.6]))
    assert_close(m.result(state), 0.75)


# ---------------------------------------------------------------------------------------------
# jit, scan, state structure
# ---------------------------------------------------------------------------------------------

JIT_CASES = [
    "sparse_categorical_accuracy_col",
    "categorical_crossentropy",
    "precision_thresholds",
    "mean_iou_argmax",
    "rmse",
]


@pytest.mark.parametrize("case", JIT_CASES)
def test_update_and_result_under_jit_and_scan(case):
    ours, _, kind = CASES[case]
    m = ours()
    batches = make_batches(kind, sizes=(4, 4, 4))
    weights = make_weights(sizes=(4, 4, 4), integer=True)
    expected = run_ours(m, batches, weights)

    update, result = jax.jit(m.update), jax.jit(m.result)
    state = m.init()
    for (y_true, y_pred), w in zip(batches, weights):
        state = update(state, y_true, y_pred, w)
    assert_close(result(state), expected)

    stacked = tuple(np.stack(parts) for parts in zip(*batches)) + (np.stack(weights),)

    @jax.jit
    def evaluate(y_true, y_pred, w):
        final, _ = jax.lax.scan(lambda s, batch: (m.update(s, *batch), None), m.init(), (y_true, y_pred, w))
        return m.result(final)

    assert_close(evaluate(*stacked), expected)


@pytest.mark.parametrize("case", list(CASES))
def test_state_keeps_its_structure_and_dtypes(case):
    ours, _, kind = CASES[case]
    m = ours()
    y_true, y_pred = make_batch(kind, np.random.default_rng(0), 6)
    init = m.init()
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree_util.tree_leaves(init))
    # Abstract evaluation: the same trace as a real update, without compiling it.
    for weights in (None, np.ones(6, np.float32)):
        state = jax.eval_shape(m.update, init, y_true, y_pred, weights)
        chex.assert_trees_all_equal_shapes_and_dtypes(init, state)
        assert jax.tree_util.tree_structure(init) == jax.tree_util.tree_structure(state)
        assert not any(leaf.weak_type for leaf in jax.tree_util.tree_leaves(state))  # no retrace in scan
    assert jax.eval_shape(m.result, state).dtype == jnp.float32


@pytest.mark.parametrize(
    "case",
    [
        "binary_accuracy",
        "sparse_categorical_accuracy",
        "categorical_crossentropy",
        "precision",
        "mean_iou_argmax",
    ],
)
def test_bfloat16_predictions_and_integer_labels(case):
    ours, _, kind = CASES[case]
    m = ours()
    y_true, y_pred = make_batch(kind, np.random.default_rng(0), 6)
    state = m.update(m.init(), y_true.astype(np.int32), jnp.asarray(y_pred, jnp.bfloat16))
    chex.assert_trees_all_equal_shapes_and_dtypes(m.init(), state)
    expected = m.update(m.init(), y_true, jnp.asarray(y_pred, jnp.bfloat16).astype(jnp.float32))
    assert_close(m.result(state), m.result(expected), rtol=1e-3, atol=1e-3)


def test_jitted_update_traces_once():
    m = M.get("accuracy")
    traces = []

    @jax.jit
    def step(state, y_true, y_pred):
        traces.append(1)
        return m.update(state, y_true, y_pred)

    y_true, y_pred = make_batch("sparse", np.random.default_rng(0), 4)
    state = step(m.init(), y_true, y_pred)
    state = step(state, y_true, y_pred)
    state = step(state, y_true, y_pred)
    assert len(traces) == 1


def test_metrics_are_immutable_hashable_and_usable_as_static_arguments():
    a, b = M.Precision(thresholds=[0.3, 0.6]), M.Precision(thresholds=(0.3, 0.6))
    assert (
        a == b and hash(a) == hash(b) and a != M.Precision() and M.BinaryAccuracy() != M.BinaryAccuracy(0.7)
    )
    with pytest.raises(AttributeError, match="immutable"):
        a.name = "p"
    update = jax.jit(lambda m, s, t, p: m.update(s, t, p), static_argnums=0)
    y_true, y_pred = make_batch("multilabel", np.random.default_rng(0), 4)
    chex.assert_trees_all_close(update(a, a.init(), y_true, y_pred), a.update(a.init(), y_true, y_pred))


def test_merge_equals_streaming_everything():
    m = M.MeanIoU(4, sparse_y_pred=False)
    batches = make_batches("sparse")
    left = m.update(m.init(), *batches[0])
    right = m.update(m.update(m.init(), *batches[1]), *batches[2])
    assert_close(m.result(m.merge(left, right)), run_ours(m, batches))


def test_mean_and_sum_building_blocks():
    values, weights = np.array([1.0, 3.0, 5.0, 7.0], np.float32), np.array([1.0, 1.0, 0.0, 0.0], np.float32)
    mean, total = M.Mean(), M.Sum()
    assert_close(mean.result(mean.update(mean.init(), values)), 4.0)
    assert_close(mean.result(mean.update(mean.init(), values, sample_weight=weights)), 2.0)
    assert_close(total.result(total.update(total.init(), values)), 16.0)
    assert_close(total.result(total.update(total.init(), values, sample_weight=weights)), 4.0)
    rows = np.arange(6, dtype=np.float32).reshape(3, 2)
    ref = K.Mean()
    ref.update_state(rows, sample_weight=np.array([1.0, 2.0, 0.5]))
    assert_close(
        mean.result(mean.update(mean.init(), rows, sample_weight=np.array([1.0, 2.0, 0.5]))),
        np.asarray(ref.result()),
    )
    assert_close(mean.result(mean.init()), 0.0)  # nothing seen: 0, not NaN
    for values_metric in (mean, total, M.Mean, M.Sum):  # they take values, not labels and predictions
        with pytest.raises(TypeError, match=r"(Mean|Sum) accumulates values you give it.*MeanMetricWrapper"):
            M.get(values_metric)


# ---------------------------------------------------------------------------------------------
# get
# ---------------------------------------------------------------------------------------------


def test_get_names():
    for name in [*M._BY_NAME, *losses._BY_NAME, "accuracy", "acc"]:
        metric = M.get(name)
        assert isinstance(metric, M.Metric) and metric.name == name
    assert isinstance(M.get("precision"), M.Precision) and isinstance(M.get("Recall"), M.Recall)
    assert M.get("mse").fn is losses.mean_squared_error
    assert M.get("binary_crossentropy").fn is losses.binary_crossentropy


def test_get_passthrough_and_wrapping():
    p = M.Precision(thresholds=0.3)
    assert M.get(p) is p
    assert M.get(M.Recall) == M.Recall()

    def my_error(y_true, y_pred):
        return jnp.abs(y_true - y_pred)

    wrapped = M.get(my_error)
    assert isinstance(wrapped, M.MeanMetricWrapper) and wrapped.name == "my_error"
    y = np.array([[1.0], [2.0]], np.float32)
    assert_close(wrapped.result(wrapped.update(wrapped.init(), y, 2 * y)), 1.5)
    assert M.get(losses.MeanSquaredError).name == "mean_squared_error"
    from_loss = M.get(losses.Huber(delta=0.5))
    assert from_loss.name == "huber_loss"
    assert_close(
        from_loss.result(from_loss.update(from_loss.init(), y, 2 * y)),
        np.mean(losses.huber(y, 2 * y, delta=0.5)),
    )


def test_get_errors():
    with pytest.raises(
        ValueError,
        match=r"unknown metric 'acuracy'.*Did you mean 'accuracy'.*Valid names:.*binary_accuracy.*precision",
    ):
        M.get("acuracy")
    for name in ("mean_iou", "mean_io_u", "MeanIoU"):
        with pytest.raises(ValueError, match=r"MeanIoU needs num_classes.*MeanIoU\(num_classes="):
            M.get(name)
    for bad in (None, 3, 2.5):
        with pytest.raises(TypeError, match=r"metrics.get: identifier must be"):
            M.get(bad)
    with pytest.raises(TypeError, match=r"MeanIoU needs arguments"):
        M.get(M.MeanIoU)


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,y_true,y_pred,pattern",
    [
        (
            "accuracy",
            np.zeros((5, 3)),
            np.zeros((4, 3)),
            r"metric 'accuracy': categorical_accuracy.*\(5, 3\).*\(4, 3\)",
        ),
        (
            "binary_accuracy",
            np.zeros((4, 2)),
            np.zeros((4, 3)),
            r"metric 'binary_accuracy': binary_accuracy.*\(4, 2\).*\(4, 3\)",
        ),
        (
            "categorical_accuracy",
            np.zeros(4),
            np.zeros((4, 3)),
            r"metric 'categorical_accuracy'.*\(4,\).*use sparse_categorical_accuracy",
        ),
        (
            "sparse_categorical_accuracy",
            np.zeros((4, 3)),
            np.zeros((4, 3)),
            r"sparse_categorical_accuracy.*one-hot.*use categorical_accuracy",
        ),
        (
            "top_k_categorical_accuracy",
            np.zeros((4, 1)),
            np.zeros((4, 3)),
            r"top_k_categorical_accuracy.*\(4, 1\).*use sparse_top_k",
        ),
        ("mse", np.zeros((4, 2)), np.zeros((4, 3)), r"metric 'mse': mean_squared_error.*\(4, 2\).*\(4, 3\)"),
        (
            "categorical_crossentropy",
            np.zeros(4),
            np.zeros((4, 3)),
            r"metric 'categorical_crossentropy'.*sparse_categorical_crossentropy",
        ),
        (
            "precision",
            np.zeros((4, 2)),
            np.zeros((4, 3)),
            r"precision: y_true has shape \(4, 2\) but y_pred has shape \(4, 3\)",
        ),
    ],
)
def test_shape_errors_name_the_metric(name, y_true, y_pred, pattern):
    m = M.get(name)
    with pytest.raises(ValueError, match=pattern):
        m.update(m.init(), y_true, y_pred)


def test_mean_iou_errors():
    for bad in (1, 0, 2.5, True, "3", None):
        with pytest.raises(ValueError, match=r"MeanIoU: num_classes must be an int >= 2"):
            M.MeanIoU(bad)
    m = M.MeanIoU(4)
    with pytest.raises(ValueError, match=r"mean_io_u.*\(3,\).*\(3, 4\).*sparse_y_pred=False"):
        m.update(m.init(), np.zeros(3), np.zeros((3, 4)))


def test_threshold_metric_errors():
    with pytest.raises(ValueError, match=r"Precision: thresholds must be floats in \[0, 1\], got 1.5"):
        M.Precision(thresholds=1.5)
    with pytest.raises(ValueError, match=r"Recall: thresholds"):
        M.Recall(thresholds=[0.2, -0.1])
    with pytest.raises(ValueError, match=r"Recall: class_id must be an int >= 0"):
        M.Recall(class_id=-1)
    m = M.Recall(class_id=5)
    with pytest.raises(
        ValueError, match=r"recall: class_id=5 needs y_pred of shape \[batch, classes\].*\(4, 3\)"
    ):
        m.update(m.init(), np.zeros((4, 3)), np.zeros((4, 3)))


def test_sample_weight_shape_errors():
    for name in ("accuracy", "mse", "precision"):
        m = M.get(name)
        with pytest.raises(ValueError, match=rf"{name}.*sample_weight has shape \(3,\).*expected"):
            m.update(m.init(), np.zeros((4, 1)), np.zeros((4, 1)), sample_weight=np.ones(3))


def test_non_arrays_raise_type_error():
    m = M.get("accuracy")
    with pytest.raises(TypeError, match=r"y_pred must be an array"):
        m.update(m.init(), np.zeros(3), "abc")
    with pytest.raises(TypeError, match=r"MeanMetricWrapper: fn must be callable"):
        M.MeanMetricWrapper("mse")


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    kind=st.sampled_from(["binary_col", "binary_flat_true", "sparse", "sparse_col", "onehot", "multilabel"]),
    seed=st.integers(0, 2**16),
    weighted=st.booleans(),
)
def test_accuracy_is_a_fraction(kind, seed, weighted):
    m = M.get("accuracy")
    batches = make_batches(kind, seed=seed, sizes=(4, 4))
    value = float(run_ours(m, batches, make_weights(seed, sizes=(4, 4)) if weighted else None))
    assert 0.0 <= value <= 1.0


@settings(max_examples=25, deadline=None, derandomize=True)
@given(values=st.lists(st.floats(-1e3, 1e3, width=32), min_size=1, max_size=8), seed=st.integers(0, 2**16))
def test_mean_is_the_weighted_average(values, seed):
    values = np.array(values, np.float32)
    weights = np.random.default_rng(seed).uniform(0.1, 1.0, values.shape).astype(np.float32)
    m = M.Mean()
    half = len(values) // 2
    state = m.update(m.update(m.init(), values[:half], weights[:half]), values[half:], weights[half:])
    assert_close(m.result(state), np.average(values, weights=weights), rtol=1e-4, atol=1e-3)
