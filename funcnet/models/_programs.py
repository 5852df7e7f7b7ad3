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
