"""Compiled programs shared by every model of one structure.

`fit` builds a jitted epoch (and evaluate, predict) from the model's pure apply. JAX caches compiled
code per Python function, so a second model of the same architecture (the next fold of a K-fold run, a
restarted experiment) would compile the same program again: about 2 s on this CPU for the book's
MNIST network. Keying the built programs by the model's *structure* and the compile settings lets
every such model reuse them. A model's structure is a hashable description of everything `apply`
depends on (layer types and hyper-parameters, the graph, input dtypes); where a layer holds
something unhashable, the model gets a key of its own and nothing is shared.

Sharing must never change a result, so a key is equal only where the computations are provably the
same; anything else keys by identity (see `value_key`). A program holds a session-free copy of its
model (`Model.frozen`), never a model's params or optimizer state.
"""
from __future__ import annotations

import builtins
import collections
import dis
import os
import sys
import sysconfig
import threading
import types
from collections.abc import Callable, Hashable
from typing import Any

from funcnet import initializers

_MAX_PROGRAMS = 64

_lock = threading.Lock()
_programs: collections.OrderedDict[Hashable, Any] = collections.OrderedDict()


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


_PLAIN = (str, bytes, int, float, complex, bool, type(None))


def value_key(obj, _depth: int = 0) -> Hashable | None:
    """A key equal for objects that provably compute the same thing, or None where that cannot be told.

    Plain values key by themselves. A closure (an optax transformation's `init` and `update`, a schedule)
    keys by its code, its defaults, the keys of the values it closed over and of the globals it reads,
    so two `optimizers.rmsprop(1e-3)` made separately share a key and `rmsprop(2e-3)` does not. A
    global is provably the same only when it cannot have been rebound since: a module, function or
    class of the standard library or an installed package (or funcnet), a builtin, or a function whose
    own key is known. A function that reads any other global (a learning rate in a script's
    variable, a user module's attribute) gives None, and so does anything holding an unhashable value
    (a list, an array): such objects key by identity.
    """
    if _depth > 20:
        return None
    if isinstance(obj, _PLAIN):
        return (type(obj), obj)
    if isinstance(obj, tuple):
        keys = tuple(value_key(item, _depth + 1) for item in obj)
        return None if any(k is None for k in keys) else (type(obj), keys)
    if isinstance(obj, types.FunctionType):
        return _function_key(obj, _depth)
    if isinstance(obj, initializers._Described):  # a named initializer: the function it wraps decides
        inner = value_key(obj.init, _depth + 1)
        return None if inner is None else ("initializer", inner)
    return hashable(obj)


def _function_key(fn: types.FunctionType, depth: int) -> Hashable | None:
    library = _is_library_object(fn)
    if library and fn.__closure__ is None and "<locals>" not in fn.__qualname__:
        return ("library", fn)  # a module-level function of an installed module: one object, one computation
    try:
        contents = [cell.cell_contents for cell in (fn.__closure__ or ())]
    except ValueError:  # a cell not yet filled (a closure over a later assignment)
        return None
    cells = tuple(value_key(content, depth + 1) for content in contents)
    defaults = (value_key(tuple(fn.__defaults__ or ()), depth + 1),
                value_key(tuple(sorted((fn.__kwdefaults__ or {}).items())), depth + 1))
    # A library's closures read its own globals, which it does not rebind; a user's may read anything.
    read = () if library else tuple((name, _global_key(fn, name, depth)) for name in sorted(_global_names(fn.__code__)))
    if None in cells or None in defaults or any(key is None for _, key in read):
        return None
    return ("function", fn.__code__, cells, defaults, read)


def _global_names(code: types.CodeType) -> set[str]:
    """The global names `code` (and the functions defined inside it) reads."""
    names = {ins.argval for ins in dis.get_instructions(code) if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME")}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def _global_key(fn: types.FunctionType, name: str, depth: int) -> Hashable | None:
    if name in fn.__globals__:
        value = fn.__globals__[name]
    elif hasattr(builtins, name):
        return ("builtin", name)
    else:
        return None  # not defined yet: it may be anything by the time the program is traced
    if isinstance(value, types.ModuleType):
        return ("module", value.__name__) if _is_library_module(value) else None
    if isinstance(value, (type, types.BuiltinFunctionType)):
        return ("library", value) if _is_library_object(value) else None
    if isinstance(value, types.FunctionType):
        return _function_key(value, depth + 1)
    # A plain value in a global can be rebound after the key is taken (and before the program is
    # traced): never provably the same.
    return None


def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    return tuple(os.path.realpath(r) + os.sep for r in roots)


_ROOTS = _library_roots()
_FUNCNET_ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__))) + os.sep


def _is_library_module(module: types.ModuleType) -> bool:
    name = module.__name__
    if name == "funcnet" or name.startswith("funcnet.") or name in sys.builtin_module_names:
        return True
    path = getattr(module, "__file__", None)
    if path is None:
        return False
    path = os.path.realpath(path)
    return path.startswith(_ROOTS) or path.startswith(_FUNCNET_ROOT)


def _is_library_object(obj) -> bool:
    module = sys.modules.get(getattr(obj, "__module__", None) or "")
    return module is not None and _is_library_module(module) and module.__name__ != "__main__"


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
