"""Compiled programs shared by every model of one structure.

`fit` builds a jitted epoch (and evaluate, predict) from `model.apply`. JAX caches compiled code per
Python function, so a second model of the same architecture (the next fold of a K-fold run, a
restarted experiment) would compile the same program again: about 2 s on this CPU for the book's
MNIST network. Keying the built programs by the model's *structure* and the compile settings lets
every such model reuse them. A model's structure is a hashable description of everything `apply`
depends on (layer types and hyper-parameters, the graph, input dtypes); where a layer holds
something unhashable, the model gets a key of its own and nothing is shared.
"""
from __future__ import annotations

import collections
import threading
from typing import Any, Callable, Hashable

_MAX_PROGRAMS = 64

_lock = threading.Lock()
_programs: "collections.OrderedDict[Hashable, Any]" = collections.OrderedDict()


def get_or_build(key: Hashable, build: Callable[[], Any]):
    """The program stored under `key`, built on first use; the least recently used go past 64."""
    with _lock:
        if key in _programs:
            _programs.move_to_end(key)
            return _programs[key]
    program = build()
    with _lock:
        program = _programs.setdefault(key, program)
        _programs.move_to_end(key)
        while len(_programs) > _MAX_PROGRAMS:
            _programs.popitem(last=False)
    return program


def hashable(value) -> Hashable | None:
    """`value` if it can key a dict, else None."""
    try:
        hash(value)
    except TypeError:
        return None
    return value


def value_key(obj, _depth: int = 0) -> Hashable | None:
    """A key equal for objects that compute the same thing, or None where that cannot be told.

    Plain values key by themselves. A closure (an optax transformation's `init` and `update`, a
    schedule) keys by its code and the keys of the values it closed over, so two
    `optimizers.rmsprop(1e-3)` made separately share a key, and `rmsprop(2e-3)` does not. Anything
    holding an unhashable value (a list, an array) gives None.
    """
    if _depth > 20:
        return None
    if isinstance(obj, (str, bytes, int, float, complex, bool, type(None))):
        return (type(obj), obj)
    if isinstance(obj, tuple):
        keys = tuple(value_key(item, _depth + 1) for item in obj)
        return None if any(k is None for k in keys) else (type(obj), keys)
    code = getattr(obj, "__code__", None)
    if code is not None:
        try:
            contents = [cell.cell_contents for cell in (obj.__closure__ or ())]
        except ValueError:  # a cell not yet filled (a closure over a later assignment)
            return None
        cells = tuple(value_key(content, _depth + 1) for content in contents)
        defaults = value_key(tuple(obj.__defaults__ or ()), _depth + 1)
        if defaults is None or any(k is None for k in cells):
            return None
        return ("function", code, cells, defaults)
    return hashable(obj)


def identity_key(obj) -> tuple:
    """A key for an object compared by identity; it holds the object, so the id is never reused."""
    return ("id", id(obj), _Keep(obj))


class _Keep:
    """Keeps an object alive inside a key without taking part in hashing or equality."""

    __slots__ = ("obj",)

    def __init__(self, obj):
        self.obj = obj

    def __hash__(self):
        return 0

    def __eq__(self, other):
        return isinstance(other, _Keep)
