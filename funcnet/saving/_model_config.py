"""Model configs in Keras 3's schema: `Sequential` (a list of layers) and functional models (layers
with their `inbound_nodes`, and the input and output tensors as `[layer name, node index, tensor
index]`), nested models included, so that `keras.saving` and funcnet build the same model from it."""
from __future__ import annotations

from typing import Any

from funcnet.layers import _config
from funcnet.layers._base import Input, InputLayer
from funcnet.saving._layout import keras_class_name, keras_layer_order, model_graph

_MODEL_MODULES = {"Sequential": "keras", "Functional": "keras.src.models.functional"}


def serialize(layer, name: str, input_shape) -> dict:
    """A layer of a model (a nested model included), serialized with the name the model gives it."""
    from funcnet import models

    entry: dict[str, Any]
    if isinstance(layer, models.Model):
        cls = keras_class_name(layer)
        entry = {"module": _MODEL_MODULES[cls], "class_name": cls, "config": model_config(layer, name),
                 "registered_name": None}
    else:
        entry = _config.serialize_layer(layer)
        entry["config"]["name"] = name
    if input_shape is not None:
        entry["build_config"] = {"input_shape": _config._shape_json(input_shape)}
    return entry


def model_config(model, name: str | None = None) -> dict:
    """Keras's `get_config()` of a Sequential or functional model."""
    from funcnet import models

    graph = model_graph(model)
    name = name or model.model_name
    if isinstance(model, models.Sequential):
        input_layer = graph.input_layers[0]
        entries: list[dict[str, Any]] = [{"module": "keras.layers", "class_name": "InputLayer", "config": {
            **input_layer.get_config(), "batch_shape": list(graph.input_shapes[0]), "name": graph.input_names[0]},
            "registered_name": None}]
        entries += [serialize(step.layer, step.name, step.input_shape) for step in graph.steps]
        return {"name": name, "trainable": model.trainable, "dtype": _config._policy(), "layers": entries,
                "build_input_shape": list(graph.input_shapes[0])}

    producer: dict[int, tuple[str, int]] = {}
    calls: dict[int, int] = {}
    for i, slot in enumerate(graph.input_slots):
        producer[slot] = (graph.input_names[i], 0)
    for step in graph.steps:
        index = calls.get(id(step.layer), 0)
        calls[id(step.layer)] = index + 1
        producer[step.output] = (step.name, index)

    def tensor(ref, shape):
        layer_name, node_index = producer[ref[0]]
        return {"class_name": "__keras_tensor__", "config": {
            "shape": _config._shape_json(shape), "dtype": "float32",
            "keras_history": [layer_name, node_index, ref[1] or 0]}}

    nodes: dict[int, list] = {}
    for step in graph.steps:
        shapes = step.input_shape if step.is_list else [step.input_shape]
        args = [tensor(ref, shape) for ref, shape in zip(step.inputs, shapes)]
        nodes.setdefault(id(step.layer), []).append({"args": [args] if step.is_list else args, "kwargs": {}})
    first_shape: dict[int, Any] = {}
    for step in graph.steps:
        first_shape.setdefault(id(step.layer), step.input_shape)
    entries = []
    for layer_name, layer in keras_layer_order(graph, sequential=False):
        if isinstance(layer, InputLayer):
            entries.append({"module": "keras.layers", "class_name": "InputLayer", "config": {
                **layer.get_config(), "batch_shape": [None, *layer.input_shape], "name": layer_name},
                "registered_name": None, "name": layer_name, "inbound_nodes": []})
            continue
        entry = serialize(layer, layer_name, first_shape[id(layer)])
        entry["name"] = layer_name
        entry["inbound_nodes"] = nodes[id(layer)]
        entries.append(entry)

    def history(ref):
        layer_name, node_index = producer[ref[0]]
        return [layer_name, node_index, ref[1] or 0]

    inputs = [[name_, 0, 0] for name_ in graph.input_names]
    outputs = [history(ref) for ref in graph.output_slots]
    return {"name": name, "trainable": model.trainable, "layers": entries,
            "input_layers": inputs if model._inputs_are_list else inputs[0],
            "output_layers": outputs if model._outputs_are_list else outputs[0]}


def model_from_config(entry: dict, custom_objects: dict | None, what: str):
    """The model of a serialized Sequential or Functional entry (funcnet's or Keras's)."""
    cls = entry.get("class_name")
    config = entry.get("config")
    if not isinstance(config, dict):
        raise _config.LayerConfigError(f"{what}: the {cls} entry has no 'config' dict.")
    if cls == "Sequential":
        return sequential_from_config(config, custom_objects, what)
    if cls in ("Functional", "Model"):
        return functional_from_config(config, custom_objects, what)
    raise _config.LayerConfigError(f"{what}: {cls!r} is not a model class funcnet builds (Sequential, Functional).")


def build_any(entry: dict, custom_objects, what: str):
    """A layer or a nested model from its serialized entry, frozen where its config says `trainable: false`."""
    if isinstance(entry, dict) and entry.get("class_name") in ("Sequential", "Functional", "Model") \
            and str(entry.get("module", "keras")).startswith(("keras", "funcnet")):
        layer = model_from_config(entry, custom_objects, what)
    else:
        layer = _config.deserialize_layer(entry, custom_objects, what)
    return frozen_as_configured(layer, entry, what)


def frozen_as_configured(layer, entry: dict, what: str):
    """`layer`, frozen when its serialized `entry` says `trainable: false` (Keras writes it for layers and
    models)."""
    trainable = (entry.get("config") or {}).get("trainable", True)
    if trainable is not True:
        layer.trainable = _config.trainable_of(trainable, what)
    return layer


def sequential_from_config(config: dict, custom_objects=None, what: str = "Sequential.from_config"):
    from funcnet import models

    entries = config.get("layers")
    if not isinstance(entries, list):
        raise _config.LayerConfigError(f"{what}: a Sequential config has a 'layers' list.")
    stack = []
    for i, entry in enumerate(entries):
        if isinstance(entry, dict) and entry.get("class_name") == "InputLayer":
            stack.append(InputLayer.from_config(entry.get("config") or {}))
            continue
        stack.append(build_any(entry, custom_objects, f"{what}: layer {i}"))
    if stack and not isinstance(stack[0], InputLayer) and isinstance(config.get("build_input_shape"), list):
        stack.insert(0, InputLayer(tuple(config["build_input_shape"][1:])))
    model = models.Sequential(name=config.get("name"))
    for layer in stack:
        model.add(layer)
    return model


def functional_from_config(config: dict, custom_objects=None, what: str = "Model.from_config"):
    from funcnet import models

    entries = config.get("layers")
    if not isinstance(entries, list):
        raise _config.LayerConfigError(f"{what}: a functional config has a 'layers' list.")
    built, pending, tensors = {}, [], {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise _config.LayerConfigError(f"{what}: layer entry {i} has no 'name'.")
        name = entry["name"]
        if entry.get("class_name") == "InputLayer":
            layer = InputLayer.from_config({**(entry.get("config") or {}), "name": name})
            tensors[(name, 0)] = Input(layer.input_shape, name=name, dtype=layer.dtype)
            continue
        built[name] = build_any(entry, custom_objects, f"{what}: layer '{name}'")
        for k, node in enumerate(entry.get("inbound_nodes") or []):
            pending.append((name, k, node))

    def resolve(arg, where):
        if isinstance(arg, list):
            return [resolve(a, where) for a in arg]
        if not (isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__"):
            raise _config.LayerConfigError(f"{what}: {where}: an argument is not a tensor reference: {arg!r:.200}.")
        history = (arg.get("config") or {}).get("keras_history")
        if not (isinstance(history, list) and len(history) == 3):
            raise _config.LayerConfigError(f"{what}: {where}: a tensor has no keras_history [layer, node, tensor].")
        key = (history[0], history[1])
        if key not in tensors:
            raise KeyError(key)
        value = tensors[key]
        return value[history[2]] if isinstance(value, list) else value

    while pending:
        progressed = False
        for item in list(pending):
            name, k, node = item
            args = node.get("args") if isinstance(node, dict) else None
            if not isinstance(args, list) or len(args) != 1:
                raise _config.LayerConfigError(f"{what}: layer '{name}' node {k}: expected one argument; got "
                                               f"{args!r:.200}.")
            try:
                inputs = resolve(args[0], f"layer '{name}' node {k}")
            except KeyError:
                continue
            tensors[(name, k)] = built[name](inputs)
            pending.remove(item)
            progressed = True
        if not progressed:
            missing = sorted({f"{n} (node {k})" for n, k, _ in pending})
            raise _config.LayerConfigError(f"{what}: the graph is disconnected: cannot compute {missing}.")

    def endpoint(ref, where):
        if not (isinstance(ref, list) and len(ref) == 3 and (ref[0], ref[1]) in tensors):
            raise _config.LayerConfigError(f"{what}: {where} {ref!r} names no tensor of the graph.")
        value = tensors[(ref[0], ref[1])]
        return value[ref[2]] if isinstance(value, list) else value

    def endpoints(spec, where):
        if isinstance(spec, list) and spec and isinstance(spec[0], list):
            return [endpoint(r, where) for r in spec]
        return endpoint(spec, where)

    inputs = endpoints(config.get("input_layers"), "input_layers")
    outputs = endpoints(config.get("output_layers"), "output_layers")
    return models.Model(inputs, outputs, name=config.get("name"))
