"""`optimizers.get`: optimizers by Keras name, optax's variants by `"optax:NAME"`, or passed through."""
from __future__ import annotations

import difflib
from collections.abc import Callable

import optax

from funcnet.optimizers import _aliases

# Keras 3's default hyper-parameters; the optax variants get the same ones under optax's argument names.
_HAND_WRITTEN: dict[str, Callable[[], optax.GradientTransformation]] = {
    "sgd": _aliases.sgd,
    "rmsprop": _aliases.rmsprop,
    "adagrad": _aliases.adagrad,
    "adam": _aliases.adam,
}
_OPTAX: dict[str, Callable[[], optax.GradientTransformation]] = {
    "sgd": lambda: optax.sgd(0.01),
    "rmsprop": lambda: optax.rmsprop(0.001, decay=0.9, eps=1e-7),
    "adagrad": lambda: optax.adagrad(0.001, initial_accumulator_value=0.1, eps=1e-7),
    "adam": lambda: optax.adam(0.001, b1=0.9, b2=0.999, eps=1e-7),
}


def names() -> list[str]:
    """Every string `get` accepts."""
    return sorted(_HAND_WRITTEN) + [f"optax:{name}" for name in sorted(_OPTAX)]


def get(identifier) -> optax.GradientTransformation:
    """Resolves an optimizer.

    * `"rmsprop"`, `"adam"`, `"sgd"`, `"adagrad"` (any case): funcnet's hand-written optimizer with
      Keras 3's default hyper-parameters;
    * `"optax:rmsprop"` and so on: optax's own optimizer with the same hyper-parameters;
    * an `optax.GradientTransformation`: returned unchanged.

    Raises:
      ValueError: an unknown name; the message lists the valid ones.
      TypeError: anything else.
    """
    if isinstance(identifier, optax.GradientTransformation):
        return identifier
    if isinstance(identifier, str):
        key = identifier.strip().lower()
        table, name = (_OPTAX, key[len("optax:"):]) if key.startswith("optax:") else (_HAND_WRITTEN, key)
        if name in table:
            return table[name]()
        close = difflib.get_close_matches(key, names(), n=2)
        suggestion = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"Unknown optimizer {identifier!r}.{suggestion} Expected one of {names()} or an "
                         "optax.GradientTransformation.")
    raise TypeError(
        f"optimizer must be a name such as 'rmsprop' or an optax.GradientTransformation; got "
        f"{type(identifier).__name__} {identifier!r}."
    )
