"""Activation functions, by name or by function.

Every activation maps an array to an array of the same shape and dtype. Names follow Keras 3
(`keras.activations`), and so do the numerics: `gelu` is the exact (erf) form unless
`approximate=True`, `softmax` normalises over the last axis.
"""
from __future__ import annotations

import difflib
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

Activation = Callable[[jax.Array], jax.Array]


def linear(x):
    """Identity: `f(x) = x`."""
    return x


def relu(x):
    """Rectified linear unit: `f(x) = max(x, 0)`."""
    return jax.nn.relu(x)


def sigmoid(x):
    """Logistic sigmoid: `f(x) = 1 / (1 + exp(-x))`."""
    return jax.nn.sigmoid(x)


def softmax(x, axis=-1):
    """`f(x)_i = exp(x_i) / sum_j exp(x_j)` over `axis` (the class axis, last by default)."""
    return jax.nn.softmax(x, axis=axis)


def log_softmax(x, axis=-1):
    """`f(x)_i = x_i - log(sum_j exp(x_j))` over `axis`."""
    return jax.nn.log_softmax(x, axis=axis)


def tanh(x):
    """Hyperbolic tangent."""
    return jnp.tanh(x)


def elu(x, alpha=1.0):
    """Exponential linear unit: `x` for `x > 0`, else `alpha * (exp(x) - 1)`."""
    return jax.nn.elu(x, alpha)


def selu(x):
    """Scaled ELU with the self-normalising constants of Klambauer et al. (2017)."""
    return jax.nn.selu(x)


def gelu(x, approximate=False):
    """Gaussian error linear unit `x * Phi(x)`; the tanh approximation when `approximate=True`."""
    return jax.nn.gelu(x, approximate=approximate)


def softplus(x):
    """`f(x) = log(1 + exp(x))`, computed stably."""
    return jax.nn.softplus(x)


def softsign(x):
    """`f(x) = x / (1 + |x|)`."""
    return jax.nn.soft_sign(x)


def silu(x):
    """Sigmoid linear unit (swish): `f(x) = x * sigmoid(x)`."""
    return jax.nn.silu(x)


def leaky_relu(x, negative_slope=0.2):
    """`x` for `x >= 0`, else `negative_slope * x` (Keras's default slope is 0.2)."""
    return jax.nn.leaky_relu(x, negative_slope)


def exponential(x):
    """`f(x) = exp(x)`."""
    return jnp.exp(x)


def hard_sigmoid(x):
    """Keras 3's piecewise-linear sigmoid: `clip(x / 6 + 1 / 2, 0, 1)`."""
    return jnp.clip(x / 6.0 + 0.5, 0.0, 1.0)


_BY_NAME: dict[str, Activation] = {
    "linear": linear,
    "relu": relu,
    "sigmoid": sigmoid,
    "softmax": softmax,
    "log_softmax": log_softmax,
    "tanh": tanh,
    "elu": elu,
    "selu": selu,
    "gelu": gelu,
    "softplus": softplus,
    "softsign": softsign,
    "silu": silu,
    "swish": silu,
    "leaky_relu": leaky_relu,
    "exponential": exponential,
    "hard_sigmoid": hard_sigmoid,
}


def get(identifier: str | Activation | None) -> Activation:
    """Resolves an activation given by Keras name, as a function, or `None` (meaning `linear`).

    Raises:
      ValueError: for an unknown name; the message lists the valid ones.
      TypeError: for anything that is neither a string, a callable nor `None` (a class too).
    """
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        try:
            return _BY_NAME[identifier.lower()]
        except KeyError:
            close = difflib.get_close_matches(identifier.lower(), list(_BY_NAME), n=2)
            suggestion = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
            raise ValueError(
                f"Unknown activation {identifier!r}.{suggestion} Expected one of {sorted(_BY_NAME)} "
                "or a function array -> array."
            ) from None
    if isinstance(identifier, np.ufunc):  # runs on the host: jit and grad cannot trace it
        raise TypeError(f"activation: numpy's {identifier.__name__} cannot run inside jax.jit or jax.grad; use "
                        f"jax.numpy's (jnp.{identifier.__name__}) or a name such as 'tanh'.")
    if isinstance(identifier, type):  # callable, but calling it makes an object, not an activation
        raise TypeError(f"activation must be a name such as 'relu', a function or None; got the class "
                        f"{identifier.__name__}: pass a function (or an instance with __call__).")
    if callable(identifier):
        return identifier
    raise TypeError(
        f"activation must be a name such as 'relu', a function or None; got {type(identifier).__name__} "
        f"{identifier!r}."
    )


def name_of(activation: Activation) -> str:
    """The Keras name of a built-in activation, or the function's `__name__`."""
    for name, fn in _BY_NAME.items():
        if fn is activation:
            return name
    return getattr(activation, "__name__", type(activation).__name__)
