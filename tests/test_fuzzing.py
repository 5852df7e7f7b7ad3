"""Bad input, fuzzed (hypothesis) across the public surface: every outcome is a result or a ValueError /
TypeError whose message names what was wrong; never a bare IndexError / KeyError / XLA error, never a
silent wrong answer. The examples are few and small (each new shape compiles), and the draws are fixed
(`derandomize`), so the suite stays fast and deterministic."""
import re

import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from funcnet import activations, layers, losses, metrics, models, optimizers

FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

DTYPES = ["float32", "float64", "float16", "int32", "uint8", "bool", "complex64", "object", "str"]


def _array(dtype, shape, special):
    n = int(np.prod(shape)) if shape else 1
    if dtype == "object":
        return np.array([object()] * n, dtype=object).reshape(shape)
    if dtype == "str":
        return np.array(["a"] * n).reshape(shape)
    values = np.linspace(-2, 2, n).reshape(shape).astype(dtype)
    if special and np.issubdtype(values.dtype, np.floating) and n:
        values.flat[0] = {"nan": np.nan, "inf": np.inf}[special]
    return values


@st.composite
def arrays(draw, features=3):
    if draw(st.booleans()):  # half the draws valid, so results are checked too
        n = draw(st.sampled_from([1, 2, 5]))
        if features == 1:
            return np.arange(n) % 2
        return np.linspace(-1, 1, n * features, dtype=np.float32).reshape(n, features)
    dtype = draw(st.sampled_from(DTYPES))
    n = draw(st.sampled_from([0, 1, 2, 5]))
    rank = draw(st.sampled_from([0, 1, 2, 2, 2, 3]))
    shape = {0: (), 1: (n,), 2: (n, draw(st.sampled_from([features, features, 2, 4]))), 3: (n, features, 2)}[rank]
    special = draw(st.sampled_from([None, None, "nan", "inf"]))
    value = _array(dtype, shape, special)
    kind = draw(st.sampled_from(["array", "array", "array", "list", "none", "dict"]))
    if kind == "list":
        return value.tolist()
    if kind == "none":
        return None
    if kind == "dict":
        return {draw(st.sampled_from(["input", "x", "wrong"])): value}
    return value


def _model():
    model = models.Sequential([layers.Dense(2, activation="softmax", input_shape=(3,))])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.params = model.init(jax.random.key(0))
    return model


MODEL = _model()


def _names_the_problem(err: Exception) -> bool:
    text = str(err)
    return bool(text) and bool(re.search(r"fit|evaluate|predict|input|labels|Sequential|batch_size|epochs|x |y ", text))


@FUZZ
@given(x=arrays(), y=arrays(features=1), batch_size=st.sampled_from([None, 2, 2, 0, -1, 1, 100, 1.5, "4", True]),
       epochs=st.sampled_from([1, 1, 0, -1, 2.0, None]))
def test_fit_evaluate_predict_on_anything(x, y, batch_size, epochs):
    model = MODEL
    for call in (lambda: model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0),
                 lambda: model.evaluate(x, y, batch_size=batch_size, verbose=0),
                 lambda: model.predict(x, batch_size=batch_size, verbose=0)):
        try:
            result = call()
        except (ValueError, TypeError, RuntimeError) as err:
            assert _names_the_problem(err), f"{type(err).__name__}: {err}"
            continue
        # A result: then the inputs were valid, and it holds no NaN (NaN inputs are refused).
        if isinstance(result, np.ndarray):
            assert result.ndim == 2 and result.shape[1] == 2 and np.isfinite(result).all()
        elif hasattr(result, "history"):
            assert all(np.isfinite(v).all() for v in result.history.values())
        else:
            assert np.isfinite(np.asarray(result, dtype=float)).all()


ANYTHING = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=True), st.text(max_size=12),
                     st.sampled_from(["rmsprp", "Adam", "accuracy", "mse", "binary_crossentropy", "relu", "optax:adam",
                                      "", " ", "sparse_categorical", "mean_iou", "auc"]),
                     st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(),
                                                                            max_size=2))


@FUZZ
@given(identifier=ANYTHING)
def test_the_registries_on_anything(identifier):
    for get in (optimizers.get, losses.get, metrics.get, activations.get):
        try:
            get(identifier)
        except (ValueError, TypeError) as err:
            assert str(err), get
            if isinstance(err, ValueError) and isinstance(identifier, str) and identifier.strip():
                assert repr(identifier) in str(err) or "class_name" in str(err), str(err)


@pytest.mark.parametrize("name, expected", [("rmsprp", "'rmsprop'"), ("adamm", "'adam'")])
def test_unknown_optimizer_names_suggest_the_closest(name, expected):
    with pytest.raises(ValueError, match=f"Did you mean {expected}"):
        optimizers.get(name)


LAYER_ARGUMENTS = st.one_of(st.none(), st.booleans(), st.integers(-2, 3), st.floats(-1, 2), st.text(max_size=4),
                            st.tuples(st.integers(-1, 3), st.integers(-1, 3)))


@FUZZ
@given(cls=st.sampled_from([layers.Dense, layers.Conv2D, layers.MaxPooling2D, layers.Dropout, layers.Embedding,
                            layers.LSTM, layers.BatchNormalization, layers.Reshape, layers.Concatenate]),
       first=LAYER_ARGUMENTS, second=LAYER_ARGUMENTS)
def test_layer_constructors_on_anything(cls, first, second):
    try:
        cls(first, second) if cls in (layers.Embedding, layers.Conv2D) else cls(first)
    except (ValueError, TypeError) as err:
        assert str(err)


def _positive_int(v):
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


@FUZZ
@given(value=LAYER_ARGUMENTS)
def test_layer_sizes_and_rates_are_accepted_exactly_when_valid(value):
    # Accepted means valid: no layer silently takes a bool, a float or a non-positive number as a size.
    for cls, valid in [(layers.Dense, _positive_int), (layers.LSTM, _positive_int), (layers.SimpleRNN, _positive_int),
                       (layers.Dropout, lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1)]:
        try:
            cls(value)
            accepted = True
        except (ValueError, TypeError) as err:
            assert cls.__name__ in str(err) or "units" in str(err) or "rate" in str(err), str(err)
            accepted = False
        assert accepted == valid(value), (cls.__name__, value)


SHAPES = st.sampled_from([(4,), (4, 1), (4, 3), (3, 3), (4, 3, 2), (), (0, 3)])


@FUZZ
@given(name=st.sampled_from(["mse", "mae", "categorical_crossentropy", "sparse_categorical_crossentropy",
                             "binary_crossentropy", "hinge", "huber_loss", "kl_divergence", "cosine_similarity"]),
       true_shape=SHAPES, pred_shape=SHAPES, integer_labels=st.booleans())
def test_losses_and_metrics_on_mismatched_shapes(name, true_shape, pred_shape, integer_labels):
    y_true = (np.arange(int(np.prod(true_shape))) % 3).reshape(true_shape)
    y_true = y_true if integer_labels else y_true.astype(np.float32) / 3
    y_pred = np.full(pred_shape, 0.25, np.float32)
    for fn in (losses.get(name), metrics.get("accuracy", loss=name).update):
        try:
            if fn is losses.get(name):
                out = np.asarray(fn(y_true, y_pred))
                assert np.isfinite(out).all() or name in ("kl_divergence",)
            else:
                metric = metrics.get("accuracy", loss=name)
                metric.result(fn(metric.init(), y_true, y_pred))
        except (ValueError, TypeError) as err:
            assert str(err)


def _two_inputs():
    a, b = layers.Input(shape=(3,), name="a"), layers.Input(shape=(2,), name="b")
    out = layers.Dense(1, activation="sigmoid")(layers.Concatenate()([a, b]))
    model = models.Model(inputs=[a, b], outputs=out)
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    model.params = model.init(jax.random.key(0))
    return model


TWO_INPUTS = _two_inputs()
FEW = settings(FUZZ, max_examples=25)  # each accepted draw compiles a fit
XA, XB = np.ones((4, 3), np.float32), np.ones((4, 2), np.float32)


@FEW
@given(x=st.sampled_from([
    {"a": XA, "b": XB}, {"a": XA}, {"a": XA, "b": XB, "c": XB}, {"A": XA, "b": XB}, [XA, XB], [XB, XA], [XA],
    (XA, XB[:3]), XA, {"a": XA, "b": XB.astype(np.int32)}, {"a": XA[:, :2], "b": XB}, [XA, None], {"a": "x", "b": XB},
]), y=st.sampled_from([np.ones(4), np.ones((4, 1)), np.ones(3), np.full(4, 0.5), np.ones((4, 2)), None]))
def test_a_two_input_model_on_wrong_dicts_and_lists(x, y):
    for call in (lambda: TWO_INPUTS.fit(x, y, epochs=1, batch_size=2, verbose=0),
                 lambda: TWO_INPUTS.predict(x, verbose=0)):
        try:
            call()
        except (ValueError, TypeError) as err:
            assert _names_the_problem(err) or "input" in str(err), f"{type(err).__name__}: {err}"


@FEW
@given(loss=st.sampled_from(["sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy",
                             "mse", "hinge"]),
       y=st.sampled_from([np.array([0, 1, 2, 1]), np.array([0, 1, 5, 1]), np.array([-1, 0, 1, 1]),
                          np.array([0.5, 1, 0, 1]), np.eye(3, dtype=np.float32)[[0, 1, 2, 1]], np.ones((4, 2)),
                          np.ones((4, 3, 1)), np.array(["a", "b", "c", "d"])]))
def test_fit_with_labels_of_the_wrong_kind_for_the_loss(loss, y):
    model = models.Sequential([layers.Dense(3, activation="softmax", input_shape=(2,))])
    model.compile(optimizer="sgd", loss=loss)
    try:
        history = model.fit(np.ones((4, 2), np.float32), y, epochs=1, batch_size=2, verbose=0)
    except (ValueError, TypeError) as err:
        assert _names_the_problem(err), f"{type(err).__name__}: {err}"
        return
    assert np.isfinite(history.history["loss"]).all()
    if loss == "sparse_categorical_crossentropy":  # taken only as integer class ids in [0, 3)
        assert y.ndim == 1 and np.all((y >= 0) & (y < 3) & (np.mod(y, 1) == 0))
    else:  # taken only in the output's shape: no broadcasting to a wrong answer
        assert y.shape == (4, 3)
