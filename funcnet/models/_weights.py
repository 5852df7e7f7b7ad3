"""`get_weights` / `set_weights`: a model's or a layer's weights as a list of numpy arrays in Keras's order.

Keras lists a model's weights layer by layer, in `model.layers` order, each layer's trainable weights
then its non-trainable ones, in the order the layer creates them (a nested model's recursively), which
is the order of `model.weights.h5` in a `.keras` file: `funcnet.saving._layout` walks it, and so the
same list moves between a funcnet model and an equal Keras model
(`keras_model.set_weights(model.get_weights())`).

A funcnet layer holds no weights: its model does (`model.params[layer.name]`). A layer's own
`get_weights()` reads them from the model that holds it, the last model built from it (a layer in a
nested model: from the outermost model that has params), which `adopt` records.
"""
from __future__ import annotations

import weakref

import jax
import numpy as np

_owners: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # layer -> weakref(model holding it)


def adopt(model, layers) -> None:
    """Records `model` as the holder of `layers` (each named already)."""
    for layer in layers:
        _owners[layer] = weakref.ref(model)


def _entries(model):
    from funcnet.saving import _layout

    return _layout.layout(model)


def _get(tree, keys):
    from funcnet.saving._layout import get_path

    return get_path(tree, keys)


def _set(tree: dict, keys, value) -> None:
    from funcnet.saving._layout import set_path

    set_path(tree, keys, value)


def _copy(tree):
    return {k: _copy(v) if isinstance(v, dict) else v for k, v in (tree or {}).items()}


def model_weights(model) -> list[np.ndarray]:
    model._session._require_variables("get_weights")
    variables = {"params": model.params, "state": model.state or {}}
    return [np.asarray(_get(variables[tree], keys)) for _, tree, keys in _entries(model)]


def set_model_weights(model, weights) -> None:
    entries = _entries(model)
    _assign(model, model, entries, weights, f"{model.describe()}.set_weights")


def _assign(model, owner, entries, weights, where: str) -> None:
    """Writes `weights` (in `entries`' order) into `model`'s params and state, checked first."""
    if not isinstance(weights, (list, tuple)):
        raise TypeError(f"{where} takes a list of arrays (as get_weights returns); got {type(weights).__name__}.")
    if len(weights) != len(entries):
        raise ValueError(f"{where}: {owner.describe()} has {len(entries)} weight(s) in Keras's order; got "
                         f"{len(weights)} array(s).")
    specs = dict(zip(("params", "state"), model.variable_specs()))
    # Without params, every variable is in `weights`, so they fill whole trees; else they replace some.
    fresh = {"params": {}, "state": {}} if model.params is None else \
        {"params": _copy(model.params), "state": _copy(model.state)}
    for i, ((_, tree, keys), value) in enumerate(zip(entries, weights)):
        spec = _get(specs[tree], keys)
        array = np.asarray(value)
        if array.shape != tuple(spec.shape):
            raise ValueError(f"{where}: weight {i} ({'/'.join(map(str, keys))}) has shape {tuple(spec.shape)}; got "
                             f"an array of shape {array.shape}.")
        _set(fresh[tree], keys, jax.numpy.asarray(array, spec.dtype))
    model.params = fresh["params"]
    model.state = fresh["state"]


def _home(layer):
    """(the model whose params hold `layer`'s weights, the key path of the layer in them)."""
    path = [layer.name]
    ref = _owners.get(layer)
    model = ref() if ref is not None else None
    if model is None:
        raise ValueError(f"{layer.describe()} holds no weights of its own: a funcnet layer's weights live in its "
                         "model (model.params[layer.name]); build a model with it first.")
    while model.params is None and _owners.get(model) is not None and _owners[model]() is not None:
        path.insert(0, model.name)
        model = _owners[model]()
    return model, tuple(path)


def _layer_entries(model, layer, path):
    from funcnet.saving import _layout

    params, state = model.variable_specs()
    return [(p, tree, (*path[:-1], *keys)) for p, tree, keys in _layout._layer_layout(
        layer, path[-1], "", _get(params, path) if _has(params, path) else {},
        _get(state, path) if _has(state, path) else {})]


def _has(tree, path) -> bool:
    try:
        _get(tree, path)
        return True
    except KeyError:
        return False


def layer_weights(layer) -> list[np.ndarray]:
    model, path = _home(layer)
    model._session._require_variables(f"get_weights of {layer.describe()}, which")
    variables = {"params": model.params, "state": model.state or {}}
    return [np.asarray(_get(variables[tree], keys)) for _, tree, keys in _layer_entries(model, layer, path)]


def set_layer_weights(layer, weights) -> None:
    model, path = _home(layer)
    where = f"{layer.describe()}.set_weights"
    if model.params is None:
        raise ValueError(f"{where}: its model {model.describe()} has no params yet; set model.params (model.init) "
                         "or train it first.")
    _assign(model, layer, _layer_entries(model, layer, path), weights, where)
