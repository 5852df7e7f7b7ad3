"""Where Keras 3 keeps each weight of a model in `model.weights.h5`, for funcnet's params and state.

Keras addresses a layer not by the name a user gave it but by its class and position: the layers of
a model are walked in Keras's own order (`keras.src.ops.function.map_graph`: by depth from the inputs,
ties by first visit of a depth-first walk from the outputs; a functional model's `Input`s included, a
Sequential's not), each becoming `layers/<class in snake case>[_k]` (`dense`, `dense_1`, ...), its
variables `vars/0`, `vars/1`, ... in the order the layer creates them. A recurrent layer keeps its
variables in its cell (`layers/lstm/cell/vars`), `Bidirectional` in `forward_layer/cell` and
`backward_layer/cell`, a nested model under its own `layers/`.

`layout(model)` lists every variable as `(h5 path, "params" | "state", key path)`, so writing and
reading are the same walk.
"""
from __future__ import annotations

import re

from funcnet.layers._base import InputLayer

# Each layer's variables in the order Keras creates them (trainable first); absent ones are skipped.
_VARS = {
    "Dense": ("kernel", "bias"),
    "Conv1D": ("kernel", "bias"),
    "Conv2D": ("kernel", "bias"),
    "Embedding": ("embeddings",),
    "LayerNormalization": ("gamma", "beta"),
}
_STATE_VARS = {"BatchNormalization": (("gamma", "beta"), ("moving_mean", "moving_variance"))}
_CELL_VARS = ("kernel", "recurrent_kernel", "bias")


def get_path(tree, keys):
    """`tree[keys[0]][keys[1]]...`: the leaf a layout entry's key path names."""
    for key in keys:
        tree = tree[key]
    return tree


def set_path(tree: dict, keys, value) -> None:
    """Sets the leaf at a key path, making the dicts on the way."""
    for key in keys[:-1]:
        tree = tree.setdefault(key, {})
    tree[keys[-1]] = value


def to_snake_case(name: str) -> str:
    """Keras's `naming.to_snake_case`: `MaxPooling2D` -> `max_pooling2d`, `SimpleRNN` -> `simple_rnn`."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name)
    return name.lower()


def keras_class_name(layer) -> str:
    from funcnet import models

    if isinstance(layer, models.Sequential):
        return "Sequential"
    if isinstance(layer, models.Model):
        return "Functional"
    return type(layer).__name__


def keras_layer_order(graph, sequential: bool) -> list[tuple[str, object]]:
    """`(name, layer)` of each distinct layer of `graph` in Keras's `model.layers` order."""
    if sequential:
        seen, out = set(), []
        for step in graph.steps:
            if id(step.layer) not in seen:
                seen.add(id(step.layer))
                out.append((step.name, step.layer))
        return out
    producers = {slot: ("input", i) for i, slot in enumerate(graph.input_slots)}
    for i, step in enumerate(graph.steps):
        producers[step.output] = ("step", i)

    def op_of(node):
        kind, i = node
        return ("input", i) if kind == "input" else ("layer", id(graph.steps[i].layer))

    def parents(node):
        kind, i = node
        if kind == "input":
            return []
        return [producers[ref[0]] for ref in graph.steps[i].inputs]

    finished: set[tuple[str, int]] = set()
    order: list[tuple[str, int]] = []
    op_index: dict[tuple[str, int], int] = {}

    def visit(node):
        if node in finished:
            return
        op_index.setdefault(op_of(node), len(op_index))
        for parent in parents(node):
            visit(parent)
        finished.add(node)
        order.append(node)

    for ref in graph.output_slots:
        visit(producers[ref[0]])
    node_depth: dict[tuple[str, int], int] = {}
    op_depth: dict[tuple[str, int], int] = {}
    for node in reversed(order):
        depth = node_depth.setdefault(node, 0)
        depth = max(depth, op_depth.get(op_of(node), 0))
        op_depth[op_of(node)] = depth
        node_depth[node] = depth
        for parent in parents(node):
            node_depth[parent] = max(depth + 1, node_depth.get(parent, 0))
    for i in range(len(graph.input_slots)):  # inputs no output depends on
        if ("input", i) not in op_depth:
            op_depth[("input", i)] = 0
            op_index[("input", i)] = -1
    ops = sorted(op_depth, key=lambda op: (-op_depth[op], op_index[op]))
    layers_by_op = {("input", i): (graph.input_names[i], layer) for i, layer in enumerate(graph.input_layers)}
    for step in graph.steps:
        layers_by_op.setdefault(("layer", id(step.layer)), (step.name, step.layer))
    return [layers_by_op[op] for op in ops]


def model_graph(model):
    """The graph of `model` with its declared input shapes (saving needs them)."""
    declared = model.declared_input_shapes
    if declared is None:
        raise ValueError(
            f"{model.describe()} has no declared input shape, so its weights' shapes are unknown to a saved "
            "config: start it with layers.Input(shape=...) or give the first layer input_shape=..."
        )
    return model._graph_for([tuple(s[1:]) for s in declared])


def layout(model, prefix: str = "", specs=None) -> list[tuple[str, str, tuple]]:
    """Every variable of `model`: `(h5 dataset path, "params" or "state", key path into that tree)`.
    `specs`: the model's `(params, state)` shapes (`variable_specs()`), which say which weights exist."""
    from funcnet import models

    graph = model_graph(model)
    if specs is None:
        specs = model.variable_specs()
    params, state = specs
    sequential = isinstance(model, models.Sequential)
    out: list[tuple[str, str, tuple]] = []
    used: dict[str, int] = {}
    for name, layer in keras_layer_order(graph, sequential):
        stem = to_snake_case(keras_class_name(layer))
        count = used.get(stem)
        used[stem] = 0 if count is None else count + 1
        group = f"{prefix}layers/{stem}" + ("" if count is None else f"_{count + 1}")
        if isinstance(layer, InputLayer):
            continue
        out.extend(_layer_layout(layer, name, group, params.get(name, {}), state.get(name, {})))
    return out


def _layer_layout(layer, name: str, group: str, params: dict, state: dict) -> list[tuple[str, str, tuple]]:
    from funcnet import models
    from funcnet.layers.recurrent import _RNN, Bidirectional

    if isinstance(layer, models.Model):
        inner = layout(layer, prefix=group + "/", specs=(params, state))
        return [(path, tree, (name, *keys)) for path, tree, keys in inner]
    if isinstance(layer, _RNN):
        keys = [k for k in _CELL_VARS if k in params]
        return [(f"{group}/cell/vars/{i}", "params", (name, key)) for i, key in enumerate(keys)]
    if isinstance(layer, Bidirectional):
        out = []
        for side in ("forward", "backward"):
            keys = [k for k in _CELL_VARS if k in params.get(side, {})]
            out += [(f"{group}/{side}_layer/cell/vars/{i}", "params", (name, side, key)) for i, key in enumerate(keys)]
        return out
    cls = type(layer).__name__
    trainable, non_trainable = _STATE_VARS.get(cls, (_VARS.get(cls, ()), ()))
    if cls not in _VARS and cls not in _STATE_VARS:  # a layer of the user's own: sorted keys
        trainable, non_trainable = tuple(sorted(params)), tuple(sorted(state))
    variables = [("params", k) for k in trainable if k in params] + [("state", k) for k in non_trainable if k in state]
    return [(f"{group}/vars/{i}", tree, (name, key)) for i, (tree, key) in enumerate(variables)]
