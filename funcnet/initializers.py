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

from typing import Callable

import jax
import jax.numpy as jnp
from jax.nn import initializers as _jinit

Initializer = Callable[..., jax.Array]


def glorot_uniform() -> Initializer:
    """Uniform on `[-limit, limit]`, `limit = sqrt(6 / (fan_in + fan_out))` (Glorot & Bengio, 2010)."""
    return _jinit.variance_scaling(1.0, "fan_avg", "uniform")


def glorot_normal() -> Initializer:
    """Truncated normal with `stddev = sqrt(2 / (fan_in + fan_out))` after truncation at 2 sigma."""
    return _jinit.variance_scaling(1.0, "fan_avg", "truncated_normal")


def he_uniform() -> Initializer:
    """Uniform on `[-limit, limit]`, `limit = sqrt(6 / fan_in)` (He et al., 2015)."""
    return _jinit.variance_scaling(2.0, "fan_in", "uniform")


def he_normal() -> Initializer:
    """Truncated normal with `stddev = sqrt(2 / fan_in)` after truncation at 2 sigma."""
    return _jinit.variance_scaling(2.0, "fan_in", "truncated_normal")


def lecun_uniform() -> Initializer:
    """Uniform on `[-limit, limit]`, `limit = sqrt(3 / fan_in)`."""
    return _jinit.variance_scaling(1.0, "fan_in", "uniform")


def lecun_normal() -> Initializer:
    """Truncated normal with `stddev = sqrt(1 / fan_in)` after truncation at 2 sigma."""
    return _jinit.variance_scaling(1.0, "fan_in", "truncated_normal")


def random_normal(mean: float = 0.0, stddev: float = 0.05) -> Initializer:
    """Normal with the given mean and standard deviation (Keras defaults 0 and 0.05)."""

    def init(key, shape, dtype=jnp.float32):
        return mean + stddev * jax.random.normal(key, shape, dtype)

    return init


def random_uniform(minval: float = -0.05, maxval: float = 0.05) -> Initializer:
    """Uniform on `[minval, maxval)` (Keras defaults -0.05 and 0.05)."""
    if not minval < maxval:
        raise ValueError(f"random_uniform needs minval < maxval; got minval={minval}, maxval={maxval}.")

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, minval, maxval)

    return init


def constant(value: float) -> Initializer:
    """Every entry equal to `value`."""

    def init(key, shape, dtype=jnp.float32):
        del key
        return jnp.full(shape, value, dtype)

    return init


def zeros() -> Initializer:
    """All zeros."""
    return constant(0.0)


def ones() -> Initializer:
    """All ones."""
    return constant(1.0)


def orthogonal(gain: float = 1.0) -> Initializer:
    """A (semi-)orthogonal matrix scaled by `gain` (Saxe et al., 2014)."""
    base = _jinit.orthogonal(gain)

    def init(key, shape, dtype=jnp.float32):
        # The QR behind it has no half-precision kernels (bfloat16 fails on CPU): compute in float32.
        dtype = jnp.dtype(dtype)
        return base(key, shape, dtype if dtype.itemsize >= 4 else jnp.float32).astype(dtype)

    return init


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


def get(identifier: str | Initializer) -> Initializer:
    """Resolves an initializer given by Keras name (with default hyper-parameters) or as a function.

    Raises:
      ValueError: for an unknown name; the message lists the valid ones.
      TypeError: for anything that is neither a string nor a callable.
    """
    if isinstance(identifier, str):
        try:
            return _BY_NAME[identifier.lower()]()
        except KeyError:
            raise ValueError(
                f"Unknown initializer {identifier!r}; expected one of {sorted(_BY_NAME)} "
                "or a function (key, shape, dtype) -> array."
            ) from None
    if callable(identifier):
        return identifier
    raise TypeError(
        f"initializer must be a name such as 'glorot_uniform' or a function (key, shape, dtype) -> array; "
        f"got {type(identifier).__name__} {identifier!r}."
    )
