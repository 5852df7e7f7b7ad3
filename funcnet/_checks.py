"""Argument checks shared by layers and models; every failure names what was wrong and what was expected."""
from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Shape = tuple  # a tuple of ints, with None for an unknown size (the batch axis)


def format_shape(shape: Shape | Sequence[Shape]) -> str:
    """`(None, 784)`; a list of shapes as `[(None, 32), (None, 16)]`."""
    if isinstance(shape, list):
        return "[" + ", ".join(format_shape(s) for s in shape) + "]"
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def as_feature_shape(shape: Any, what: str) -> tuple:
    """Validates a shape without its batch axis: a tuple of positive ints (None allowed for a free size)."""
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (int(shape),)
    if not isinstance(shape, (tuple, list)):
        raise TypeError(f"{what} must be a tuple of positive ints such as (784,); got {shape!r}.")
    out: list[int | None] = []
    for d in shape:
        if d is None:
            out.append(None)
        elif isinstance(d, numbers.Integral) and not isinstance(d, bool) and int(d) > 0:
            out.append(int(d))
        else:
            raise ValueError(
                f"{what} must hold positive ints (or None for a free size); got {tuple(shape)!r}."
            )
    return tuple(out)


def positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{what} must be a positive int; got {type(value).__name__} {value!r}.")
    if int(value) <= 0:
        raise ValueError(f"{what} must be a positive int; got {value}.")
    return int(value)


def positive_count(value: Any, what: str) -> int:
    """A positive int, else a ValueError for any other value: bools, floats and strings included (as
    Keras checks `fit`'s counts such as `batch_size`)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) <= 0:
        raise ValueError(f"{what} must be a positive int; got {value!r}.")
    return int(value)


def flag(value: Any, what: str) -> bool:
    """A switch: True or False (numpy's bools too), else a TypeError; `bool(value)` would take "no" for True."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{what} must be True or False; got {type(value).__name__} {value!r:.60}.")


def resolved(get: Any, value: Any, what: str) -> Any:
    """`get(value)` (a registry's `get`, such as `activations.get`), its ValueError or TypeError prefixed
    with the argument `what` names."""
    try:
        return get(value)
    except (ValueError, TypeError) as err:
        raise type(err)(f"{what}: {err}") from None


def check_name(name: Any, what: str = "name") -> str | None:
    if name is None:
        return None
    if not isinstance(name, str) or not name or "/" in name:
        raise TypeError(f"{what} must be a non-empty string without '/', or None; got {name!r}.")
    return name


def check_key(key: Any, where: str) -> jax.Array:
    """Accepts a typed key (`jax.random.key`) or a raw uint32[2] key (`jax.random.PRNGKey`)."""
    if isinstance(key, (jax.Array, np.ndarray)):
        if isinstance(key, jax.Array) and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) and key.shape == ():
            return key
        if key.dtype == np.uint32 and key.shape == (2,):
            return jnp.asarray(key)
        got = f"an array of shape {key.shape} and dtype {key.dtype}"
    else:
        got = f"{type(key).__name__} {key!r}"
    raise TypeError(f"{where} needs a single PRNG key such as jax.random.key(0); got {got}.")


def as_array(value: Any, what: str) -> jax.Array:
    """`jnp.asarray(value)`, or a TypeError naming `what` (jnp.asarray raises ValueError for None and
    TypeError for strings, neither naming the argument)."""
    try:
        return jnp.asarray(value)
    except (TypeError, ValueError):
        got = type(value).__name__ + (f" of dtype {value.dtype}" if hasattr(value, "dtype") else "")
        raise TypeError(f"{what} must be a numeric array; got {got}.") from None


def shapes_compatible(actual: Sequence[int | None], expected: Sequence[int | None]) -> bool:
    """Same rank, and equal wherever both sizes are known."""
    return len(actual) == len(expected) and all(
        a is None or e is None or a == e for a, e in zip(actual, expected)
    )


def _path_str(path) -> str:
    return "".join(f"[{getattr(p, 'key', getattr(p, 'idx', p))!r}]" for p in path)


def same_structure(a: Any, b: Any) -> bool:
    """Whether two pytrees have one structure (equal treedefs; leaves may differ)."""
    # Typed as Any: jaxlib's stubs leave PyTreeDef unresolved for mypy, which then refuses its `==`.
    treedef: Any = jax.tree.structure(a)
    return bool(treedef == jax.tree.structure(b))


def check_tree(tree: Any, expected: Any, where: str, what: str = "params") -> None:
    """Raises ValueError if `tree` (params or state) lacks an entry of `expected`, has unknown entries,
    or holds an array of the wrong shape (dtypes may differ, e.g. bfloat16 copies)."""
    got = {_path_str(p): leaf for p, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}
    want = {_path_str(p): leaf for p, leaf in jax.tree_util.tree_flatten_with_path(expected)[0]}
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    if missing or extra:
        raise ValueError(
            f"{where}: {what} do not match the model. Missing: {missing or 'none'}; unexpected: "
            f"{extra or 'none'}. Were these {what} made by another model's init?"
        )
    for path, leaf in got.items():
        if tuple(np.shape(leaf)) != tuple(want[path].shape):
            raise ValueError(
                f"{where}: {what}{path} has shape {format_shape(tuple(np.shape(leaf)))}, but for these inputs the "
                f"model needs {format_shape(tuple(want[path].shape))}."
            )
