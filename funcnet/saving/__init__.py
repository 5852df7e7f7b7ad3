"""Saving whole models in Keras 3's `.keras` format, and loading them, both ways.

    model.save("net.keras")                   # the architecture, params, state, compile settings, optimizer state
    model = models.load_model("net.keras")    # funcnet's archive or one Keras 3 wrote

The archive is Keras's own (`config.json` in Keras's schema, `metadata.json`, `model.weights.h5` in
Keras's layout), so `keras.saving.load_model` opens what funcnet writes and funcnet opens what Keras
writes, for every layer funcnet has. Loading builds only funcnet's layers and the classes passed as
`custom_objects`; nothing in a file runs code (see `_archive`).
"""
from __future__ import annotations

import os

import jax
import numpy as np

from funcnet.layers._config import LayerConfigError
from funcnet.optimizers._transforms import is_frozen
from funcnet.saving import _compile
from funcnet.saving._archive import Archive, write_archive
from funcnet.saving._layout import get_path as _get
from funcnet.saving._layout import layout, model_graph
from funcnet.saving._layout import set_path as _set
from funcnet.saving._model_config import frozen_as_configured, model_config, model_from_config

__all__ = ["save_model", "load_model"]


def save_model(model, path) -> None:
    """Writes `model` (architecture, params and state) as a Keras 3 `.keras` archive at `path`.

    Args:
      model: a `Sequential` or functional `Model` with a declared input shape and params (after `fit`,
        `init` assigned to `model.params`, or `load_weights`).
      path: the file to write, by convention ending in `.keras`; replaced atomically.
    """
    path = os.fspath(path)
    if not path.endswith(".keras"):
        raise ValueError(f"model.save writes Keras's .keras archives; give a path ending in '.keras', got {path!r}.")
    params, state = model.params, model.state
    if params is None:
        raise ValueError(f"{model.describe()} has no params to save: train it with fit, or set model.params.")
    if model.stateful and state is None:
        raise ValueError(f"{model.describe()} keeps state (BatchNormalization) but has none yet: run fit first.")
    graph = model_graph(model)
    cls = "Sequential" if type(model).__name__ == "Sequential" else "Functional"
    config = {
        "module": "keras" if cls == "Sequential" else "keras.src.models.functional",
        "class_name": cls,
        "config": model_config(model),
        "registered_name": None,
        "build_config": {"input_shape": [list(s) for s in graph.input_shapes] if len(graph.input_shapes) > 1
                         else list(graph.input_shapes[0])},
    }
    trees = {"params": params, "state": state or {}}
    weights, groups = [], {"vars": model.model_name}
    entries = layout(model)
    for dataset, tree, keys in entries:
        weights.append((dataset, np.asarray(jax.device_get(_get(trees[tree], keys)))))
        groups.setdefault(dataset.rsplit("/", 1)[0], keys[-2] if len(keys) > 1 else keys[0])
    compiled = _compile.compile_config(model._session)
    if compiled is not None:
        config["compile_config"] = compiled
        optimizer = compiled["optimizer"]
        hyper = {k: v for k, v in optimizer["config"].items() if k != "name"}
        trainable = _trained(entries, model._session.settings.frozen)
        arrays = _compile.optimizer_arrays(model._session, optimizer["class_name"], hyper, trainable)
        groups["optimizer/vars"] = optimizer["config"]["name"]
        weights += [(f"optimizer/vars/{i}", a) for i, a in enumerate(arrays)]
    write_archive(path, config, weights, groups)


def load_model(path, custom_objects: dict | None = None, compile: bool = True):  # noqa: A002
    """The model saved at `path` by `model.save` or by Keras 3, with its params and state.

    Args:
      path: a `.keras` archive.
      custom_objects: `{"ClassName": cls}` for layers of your own (subclasses of `layers.Layer` with
        `get_config`); nothing else outside funcnet is ever built.
      compile: compile the model as it was saved (optimizer with its state and step, loss, metrics),
        so that `fit` continues where the saved model stopped; settings funcnet cannot honour leave it
        uncompiled, with a warning naming them.

    Raises:
      ValueError: the file is not a readable archive, names a class that is neither built in nor given,
        holds settings funcnet cannot honour, or has weights that do not fit its architecture; the
        message names the file and the problem.
    """
    archive = Archive(path)
    what = f"'{archive.path}'"
    try:
        model = model_from_config(archive.config, custom_objects, f"{what}: {os.path.basename(archive.path)}")
        model = frozen_as_configured(model, archive.config, what)
    except LayerConfigError:
        raise
    except (TypeError, ValueError, KeyError) as err:
        raise ValueError(f"{what}: the model in its config cannot be built: {err}") from None
    params_spec, state_spec = model.variable_specs()
    entries = layout(model)
    specs = {"params": params_spec, "state": state_spec}
    wanted = [(dataset, _get(specs[tree], keys).shape, "/".join(map(str, keys))) for dataset, tree, keys in entries]
    arrays = archive.read_weights(wanted)
    trees: dict = {"params": {}, "state": {}}
    for (_, tree, keys), array in zip(entries, arrays):
        dtype = _get(specs[tree], keys).dtype
        _set(trees[tree], keys, jax.numpy.asarray(array.astype(dtype, copy=False)))
    model.params = trees["params"]
    if trees["state"] or model.stateful:
        model.state = trees["state"]
    if compile:
        restored = _compile.restore_compile(model, archive.config.get("compile_config"), what)
        if restored is not None:
            trainable = _trained(entries, model._session.settings.frozen)
            _compile.restore_optimizer_state(model, *restored, archive.optimizer_arrays(), trainable, what)
    return model


def _trained(entries, frozen) -> list[tuple]:
    """The key paths of the params the optimizer trains, in the layout's order: Keras's optimizer keeps
    slots for its model's trainable variables only (frozen layers have none)."""
    return [keys for _, tree, keys in entries
            if tree == "params" and not is_frozen(keys, frozen)]
