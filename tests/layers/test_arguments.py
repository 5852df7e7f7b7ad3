"""Every constructor argument of every layer, fuzzed: a layer accepts a value exactly when it is valid (its
own predicate below, written from Keras's documented meaning), and refuses any other with a ValueError or
TypeError naming the argument. A refused value is never taken silently as something else (`bool("no")`,
`dtype or float32`, `tuple("ab")`). Values come from a fixed pool of the usual mistakes (every argument
meets every one) and from hypothesis's draws (derandomized); layers built from accepted values then run."""
import inspect
import math
import numbers

import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from funcnet import layers

# Required arguments get these when another argument is fuzzed.
REQUIRED = {"units": 2, "filters": 2, "kernel_size": 2, "rate": 0.5, "input_dim": 5, "output_dim": 3,
            "target_shape": (2, 2), "pool_size": 2, "activation": "relu"}
# What each class is built on when an accepted layer is run: one sample's shape, and its dtype.
SAMPLES = {"Dense": (3,), "Activation": (3,), "Dropout": (3,), "BatchNormalization": (3,),
           "LayerNormalization": (3,), "Flatten": (3, 2), "Reshape": (4,), "Masking": (5, 3),
           "Embedding": (5,), "Conv1D": (8, 3), "Conv2D": (8, 8, 3), "MaxPooling1D": (8, 3),
           "AveragePooling1D": (8, 3), "MaxPooling2D": (8, 8, 3), "AveragePooling2D": (8, 8, 3),
           "GlobalMaxPooling1D": (8, 3), "GlobalAveragePooling1D": (8, 3), "GlobalMaxPooling2D": (8, 8, 3),
           "GlobalAveragePooling2D": (8, 8, 3), "SimpleRNN": (5, 3), "LSTM": (5, 3), "GRU": (5, 3),
           "Bidirectional": (5, 3)}
MERGES = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate")


def _is_int(v):
    return isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))


def _is_real(v):
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))


def _positive_int(v):
    return _is_int(v) and v > 0


def _flag(v):
    return isinstance(v, (bool, np.bool_))


def _ints(rank, ok=_positive_int):
    """An int, or a tuple/list of `rank` of them (Keras's standardize_tuple)."""
    return lambda v: ok(v) or (isinstance(v, (tuple, list)) and len(v) == rank and all(ok(d) for d in v))


def _activation(v):
    # numpy's ufuncs are callables that jit cannot trace: refused, pointing to jax.numpy's.
    return (v is None or (callable(v) and not isinstance(v, (type, layers.Layer, np.ufunc)))
            or v in ("relu", "tanh", "linear"))


def _initializer(v):
    return ((callable(v) and not isinstance(v, (type, layers.Layer))) or v in ("glorot_uniform", "zeros")
            or (isinstance(v, dict) and v.get("class_name") == "Zeros"))


def _rate(v):
    return _is_real(v) and 0 <= v < 1


def _axes(v):
    return _is_int(v) or (isinstance(v, (tuple, list)) and len(v) > 0 and all(_is_int(a) for a in v))


def _floating_dtype(v):
    return v is None or v in ("float32", "float16", "bfloat16", np.float32)


def _target_shape(v):
    return (isinstance(v, (tuple, list)) and all(_is_int(d) and (d > 0 or d == -1) for d in v)
            and sum(d == -1 for d in v) <= 1)


def _padding(*allowed):
    return lambda v: isinstance(v, str) and v.lower() in allowed


VALID = {
    "units": _positive_int, "filters": _positive_int, "input_dim": _positive_int, "output_dim": _positive_int,
    "rate": _rate, "dropout": _rate, "recurrent_dropout": _rate,
    "activation": _activation, "recurrent_activation": _activation,
    **{name: _flag for name in ("use_bias", "return_sequences", "return_state", "go_backwards", "unroll",
                                "unit_forget_bias", "reset_after", "zero_output_for_mask", "mask_zero", "center",
                                "scale", "keepdims")},
    "stateful": lambda v: _flag(v) and not v,  # a funcnet model keeps no hidden state: refused, saying so
    "use_cudnn": lambda v: v == "auto" if isinstance(v, str) else _flag(v),
    "epsilon": lambda v: _is_real(v) and 0 < v < math.inf, "momentum": lambda v: _is_real(v) and 0 <= v <= 1,
    "mask_value": _is_real,
    "name": lambda v: v is None or (isinstance(v, str) and v != "" and "/" not in v),
    "input_length": lambda v: v is None or _positive_int(v),
    "data_format": lambda v: v in (None, "channels_last"),
    "merge_mode": lambda v: v in ("concat", "sum", "mul", "ave", None),
    "dtype": _floating_dtype,
    "target_shape": _target_shape,
    "noise_shape": lambda v: v is None or (isinstance(v, (tuple, list))
                                           and all(d is None or _positive_int(d) for d in v)),
    **{name: _initializer for name in ("kernel_initializer", "bias_initializer", "recurrent_initializer",
                                       "embeddings_initializer", "beta_initializer", "gamma_initializer",
                                       "moving_mean_initializer", "moving_variance_initializer")},
}


def _valid(cls, arg, v):
    rank = getattr(cls, "rank", None) or (2 if cls.__name__.endswith("2D") else 1)
    if arg in ("kernel_size", "pool_size"):
        return _ints(rank)(v)
    if arg == "strides":
        return (v is None and "Pooling" in cls.__name__) or _ints(rank)(v)
    if arg == "dilation_rate":
        return _ints(rank)(v)
    if arg == "groups":  # must divide filters=2
        return _positive_int(v) and 2 % v == 0
    if arg == "padding":
        conv1d = cls.__name__ == "Conv1D"
        return _padding("valid", "same", "causal")(v) if conv1d else _padding("valid", "same")(v)
    if arg == "activation" and cls is layers.Activation:  # the layer exists to apply one
        return v is not None and _activation(v)
    if arg == "axis":
        return _axes(v) if cls is layers.LayerNormalization else _is_int(v)
    return VALID[arg](v)


POOL = [None, True, False, np.True_, 0, 1, 2, 3, -1, np.int64(2), 0.0, 0.5, 1.0, 1.5, -0.5, np.float32(0.5),
        math.nan, math.inf, 2 + 1j, "", "relu", "tanh", "same", "SAME", "valid", "causal", "channels_last",
        "channels_first", "glorot_uniform", "zeros", "float32", "int32", "concat", "sum", "auto", "nonsense", "a/b",
        (2,), (2, 2), (2, 2, 2), (0, 2), (-1, 2), (-1, -1), (2, None), [2, 2], (2.0, 2), (), {},
        {"class_name": "Zeros", "config": {}}, object(), np.tanh, jax.numpy.tanh, np.float32]

CLASSES = sorted((name, cls) for name, cls in vars(layers).items()
                 if inspect.isclass(cls) and issubclass(cls, layers.Layer) and name not in ("Layer", "InputLayer"))
SKIPPED = {"self", "layer", "backward_layer", "input_shape"}  # layers as arguments, and input_shape (tests/test_checks)
CASES = [(name, cls, p.name) for name, cls in CLASSES for p in inspect.signature(cls.__init__).parameters.values()
         if p.name not in SKIPPED]


def _build(cls, arg, value):
    kwargs = {p.name: REQUIRED[p.name] for p in inspect.signature(cls.__init__).parameters.values()
              if p.default is inspect.Parameter.empty and p.name in REQUIRED}
    if cls is layers.Bidirectional:
        kwargs["layer"] = layers.LSTM(2)
    kwargs[arg] = value
    return cls(**kwargs)


def _outcome(cls, arg, value):
    """True if accepted; else the refusal, checked to be a ValueError/TypeError naming the argument."""
    try:
        _build(cls, arg, value)
    except (ValueError, TypeError) as err:
        assert arg in str(err), f"{cls.__name__}({arg}={value!r}) refused without naming {arg!r}: {err}"
        return False
    return True


def test_every_argument_of_every_layer_is_covered():
    assert len(CLASSES) >= 30
    assert {arg for _, _, arg in CASES} <= set(VALID) | {"kernel_size", "pool_size", "strides", "dilation_rate",
                                                          "groups", "padding", "axis"}


@pytest.mark.parametrize("name, cls, arg", CASES, ids=[f"{name}-{arg}" for name, _, arg in CASES])
def test_an_argument_accepts_exactly_its_valid_values(name, cls, arg):
    wrong = [(value, accepted) for value in POOL
             if (accepted := _outcome(cls, arg, value)) != bool(_valid(cls, arg, value))]
    assert not wrong, f"{name}({arg}=...): accepted (True) or refused (False) wrongly: {wrong}"


DRAWN = st.one_of(st.none(), st.booleans(), st.integers(-4, 6), st.floats(allow_nan=True), st.text(max_size=6),
                  st.lists(st.one_of(st.integers(-2, 4), st.none()), max_size=3),
                  st.tuples(st.integers(-2, 4), st.integers(-2, 4)))


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(case=st.sampled_from(CASES), value=DRAWN)
def test_drawn_values_are_accepted_exactly_when_valid(case, value):
    name, cls, arg = case
    assert _outcome(cls, arg, value) == bool(_valid(cls, arg, value)), (name, arg, value)


def _run(layer, name):
    """Builds and runs an accepted layer on a small batch: finite outputs, or a refusal naming the layer."""
    rng = np.random.default_rng(0)
    if name in MERGES:
        shape = (3,)
        x = [rng.normal(size=(2, 3)).astype(np.float32) for _ in range(2)]
        input_shape = [(None, 3), (None, 3)]
    else:
        shape = SAMPLES[name]
        x = (rng.integers(0, 5, size=(2, *shape)) if name == "Embedding"
             else rng.normal(size=(2, *shape)).astype(np.float32))
        input_shape = (None, *shape)
    try:
        params, state = layer.init_with_state(jax.random.key(0), shape if name not in MERGES else None) \
            if name not in MERGES else ({}, {})
        out = layer.compute_output_shape(input_shape)
    except ValueError as err:  # an accepted argument that does not fit this input (kernel larger than it)
        assert layer.describe() in str(err) or type(layer).__name__ in str(err), str(err)
        return
    y, _ = layer.apply_with_state(params, state, x, rng=jax.random.key(1), training=True)
    for leaf in jax.tree.leaves(y):
        assert np.isfinite(np.asarray(leaf, np.float32)).all()
    assert out is not None


VALID_DRAWS = [(name, cls, arg, value) for name, cls, arg in CASES for value in POOL
               if bool(_valid(cls, arg, value)) and value is not None and not isinstance(value, dict)
               and not (callable(value) and arg.endswith("initializer"))]


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(case=st.sampled_from(VALID_DRAWS))
def test_layers_built_from_accepted_values_run(case):
    name, cls, arg, value = case
    _run(_build(cls, arg, value), name)
