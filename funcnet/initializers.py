"""Weight initializers.

An initializer is any function `init(key, shape, dtype=jnp.float32) -> jax.Array`, the protocol of
`jax.nn.initializers`, so those work here unchanged. Names and formulas follow Keras 3; fans are
computed as Keras does (for a `(fan_in, fan_out)` kernel the first and last axes).

    >>> import jax
    >>> from funcnet import initializers
    >>> w = initializers.get("glorot_uniform")(jax.random.key(0), (784, 512))
    >>> w.shape
    (784, 512)
"""
from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Callable
from typing import Literal

import jax
import jax.numpy as jnp
from jax.nn import initializers as _jinit

Initializer = Callable[..., jax.Array]


@dataclasses.dataclass(frozen=True, eq=False)
class _Described:
    """An initializer carrying the Keras object it stands for (`keras_config`), for saving models.
    Compared and hashed by identity, as the plain functions it stands beside."""

    init: Initializer
    keras_config: dict

    def __call__(self, key, shape, dtype=jnp.float32) -> jax.Array:
        return self.init(key, shape, dtype)


def _described(init: Initializer, class_name: str, **config) -> Initializer:
    return _Described(init, {"class_name": class_name, "config": config})


def _flat(draw: Callable[[jax.Array, tuple], jax.Array], key, shape) -> jax.Array:
    """`draw(key, shape)` drawn as one flat vector and reshaped: the same numbers (JAX's
    threefry counts the elements in row-major order either way), and a program XLA compiles several times
    faster on a CPU when the last axis is short (`(512, 10)`: 0.4 s against 0.12 s)."""
    return draw(key, (math.prod(shape),)).reshape(shape)


def _fans(shape) -> tuple[int, int]:
    """Keras's and jax's fans: a kernel's last two axes (`(fan_in, fan_out)`), the others a receptive field
    multiplying both; a vector or a scalar has `fan_in = fan_out = size` (Keras; jax refuses them)."""
    if len(shape) < 2:
        size = max(1, math.prod(shape))
        return size, size
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def _variance_scaling(scale: float, mode: Literal["fan_in", "fan_avg"],
                      distribution: Literal["uniform", "truncated_normal"]) -> Initializer:
    """Variance scaling as jax's `variance_scaling` computes it (the same float32 constants and products,
    so the same numbers), with Keras's fans (`_fans`) and flat draws (`_flat`)."""

    def init(key, shape, dtype=jnp.float32):
        fan_in, fan_out = _fans(tuple(shape))
        variance = jnp.array(scale / (fan_in if mode == "fan_in" else (fan_in + fan_out) / 2), dtype=dtype)
        if distribution == "uniform":
            return _flat(lambda k, s: jax.random.uniform(k, s, dtype, -1), key, shape) * jnp.sqrt(3 * variance)
        # 0.8796...: the standard deviation of a unit normal truncated at +-2, as in jax and Keras.
        stddev = jnp.sqrt(variance) / jnp.array(0.87962566103423978, dtype)
        return _flat(lambda k, s: jax.random.truncated_normal(k, -2, 2, s, dtype), key, shape) * stddev

    return init


def glorot_uniform() -> Initializer:
    """Uniform on `[-limit, limit]`, `limit = sqrt(6 / (fan_in + fan_out))` (Glorot & Bengio, 2010)."""
    return _described(_variance_scaling(1.0, "fan_avg", "uniform"), "GlorotUniform", seed=None)


def glorot_normal() -> Initializer:
    """Truncated normal with `stddev = sqrt(2 / (fan_in + fan_out))` after truncation at 2 sigma."""
    return _described(_variance_scaling(1.0, "fan_avg", "truncated_normal"), "GlorotNormal", seed=None)


def he_uniform() -> Initializer:
    """Uniform on `[-limit, limit]`, `limit = sqrt(6 / fan_in)` (He et al., 2015)."""
    return _described(_variance_scaling(2.0, "fan_in", "uniform"), "HeUniform", seed=None)


def he_normal() -> Initializer:
    """Truncated normal with `stddev = sqrt(2 / fan_in)` after truncation at 2 sigma."""
    return _described(_variance_scaling(2.0, "fan_in", "truncated_normal"), "HeNormal", seed=None)


def lecun_uniform() -> Initializer:
    """Uniform on `[-limit, limit]`, `limit = sqrt(3 / fan_in)`."""
    return _described(_variance_scaling(1.0, "fan_in", "uniform"), "LecunUniform", seed=None)


def lecun_normal() -> Initializer:
    """Truncated normal with `stddev = sqrt(1 / fan_in)` after truncation at 2 sigma."""
    return _described(_variance_scaling(1.0, "fan_in", "truncated_normal"), "LecunNormal", seed=None)


def random_normal(mean: float = 0.0, stddev: float = 0.05) -> Initializer:
    """Normal with the given mean and standard deviation (Keras defaults 0 and 0.05)."""

    def init(key, shape, dtype=jnp.float32):
        return mean + stddev * _flat(lambda k, s: jax.random.normal(k, s, dtype), key, shape)

    return _described(init, "RandomNormal", mean=float(mean), stddev=float(stddev), seed=None)


def random_uniform(minval: float = -0.05, maxval: float = 0.05) -> Initializer:
    """Uniform on `[minval, maxval)` (Keras defaults -0.05 and 0.05)."""
    if not minval < maxval:
        raise ValueError(f"random_uniform needs minval < maxval; got minval={minval}, maxval={maxval}.")

    def init(key, shape, dtype=jnp.float32):
        return _flat(lambda k, s: jax.random.uniform(k, s, dtype, minval, maxval), key, shape)

    return _described(init, "RandomUniform", minval=float(minval), maxval=float(maxval), seed=None)


def constant(value: float) -> Initializer:
    """Every entry equal to `value`."""

    def init(key, shape, dtype=jnp.float32):
        del key
        return jnp.full(shape, value, dtype)

    return _described(init, "Constant", value=float(value))


def zeros() -> Initializer:
    """All zeros."""
    return _described(constant(0.0), "Zeros")


def ones() -> Initializer:
    """All ones."""
    return _described(constant(1.0), "Ones")


def orthogonal(gain: float = 1.0) -> Initializer:
    """A (semi-)orthogonal matrix scaled by `gain` (Saxe et al., 2014)."""
    base = _jinit.orthogonal(gain)

    def init(key, shape, dtype=jnp.float32):
        # The QR behind it has no half-precision kernels (bfloat16 fails on CPU): compute in float32.
        dtype = jnp.dtype(dtype)
        return base(key, shape, dtype if dtype.itemsize >= 4 else jnp.float32).astype(dtype)

    return _described(init, "Orthogonal", gain=float(gain), seed=None)


_BY_NAME: dict[str, Callable[[], Initializer]] = {
    "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
    "lecun_uniform": lecun_uniform,
    "lecun_normal": lecun_normal,
    "random_normal": random_normal,
    "random_uniform": random_uniform,
    "normal": random_normal,  # Keras's aliases (Embedding's default is "uniform")
    "uniform": random_uniform,
    "zeros": zeros,
    "ones": ones,
    "orthogonal": orthogonal,
}


# Keras's class names and the arguments each takes (its `seed` is ignored: funcnet's keys decide).
_BY_CLASS: dict[str, tuple[Callable[..., Initializer], tuple[str, ...]]] = {
    "GlorotUniform": (glorot_uniform, ()),
    "GlorotNormal": (glorot_normal, ()),
    "HeUniform": (he_uniform, ()),
    "HeNormal": (he_normal, ()),
    "LecunUniform": (lecun_uniform, ()),
    "LecunNormal": (lecun_normal, ()),
    "RandomNormal": (random_normal, ("mean", "stddev")),
    "RandomUniform": (random_uniform, ("minval", "maxval")),
    "Constant": (constant, ("value",)),
    "Zeros": (zeros, ()),
    "Ones": (ones, ()),
    "Orthogonal": (orthogonal, ("gain",)),
}


def keras_config(init: Initializer) -> dict | None:
    """The Keras object `init` stands for, `{"class_name": ..., "config": {...}}`, or None for a
    function of the user's own (which a saved model cannot name)."""
    config = getattr(init, "keras_config", None)
    return None if config is None else {"class_name": config["class_name"], "config": dict(config["config"])}


def from_keras_config(config: dict, what: str = "initializer") -> Initializer:
    """The initializer of a Keras config `{"class_name": "GlorotUniform", "config": {...}}`."""
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ValueError(f"{what}: expected a Keras initializer config {{'class_name': ..., 'config': ...}}; got "
                         f"{config!r}.")
    name = config["class_name"]
    if name not in _BY_CLASS:
        raise ValueError(f"{what}: Keras initializer {name!r} is not supported; funcnet has {sorted(_BY_CLASS)}.")
    factory, args = _BY_CLASS[name]
    options = dict(config.get("config") or {})
    options.pop("seed", None)
    for axes in ("input_axes", "output_axes"):  # Keras 3.15's fans over chosen axes: only the default
        if options.get(axes, None) is None:
            options.pop(axes, None)
    unknown = sorted(set(options) - set(args))
    if unknown:
        raise ValueError(f"{what}: {name} takes {list(args) or 'no arguments'} here; got {unknown}.")
    return factory(**options)


def get(identifier: str | dict | Initializer) -> Initializer:
    """Resolves an initializer given by Keras name (with default hyper-parameters), as a Keras config
    dict (`{"class_name": "RandomUniform", "config": {"minval": -0.1, "maxval": 0.1}}`), or as a function.

    Raises:
      ValueError: for an unknown name; the message lists the valid ones.
      TypeError: for anything that is neither a string, a dict nor a callable (a class too).
    """
    if isinstance(identifier, dict):
        return from_keras_config(identifier)
    if isinstance(identifier, str):
        try:
            return _BY_NAME[identifier.lower()]()
        except KeyError:
            close = difflib.get_close_matches(identifier.lower(), list(_BY_NAME), n=2)
            suggestion = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
            raise ValueError(
                f"Unknown initializer {identifier!r}.{suggestion} Expected one of {sorted(_BY_NAME)} "
                "or a function (key, shape, dtype) -> array."
            ) from None
    if isinstance(identifier, type):  # a class such as keras.initializers.GlorotUniform: not yet an initializer
        raise TypeError(f"initializer must be a name such as 'glorot_uniform' or a function (key, shape, dtype) -> "
                        f"array; got the class {identifier.__name__}: pass an instance or a function.")
    if callable(identifier):
        return identifier
    raise TypeError(
        f"initializer must be a name such as 'glorot_uniform' or a function (key, shape, dtype) -> array; "
        f"got {type(identifier).__name__} {identifier!r}."
    )
