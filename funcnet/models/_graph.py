"""A model's computation as data: an ordered list of steps over numbered tensor slots.

Both `Sequential` and the functional `Model` compile down to a `Graph`, so one interpreter
(`init_graph`, `init_graph_state`, `run_graph`) serves both, and a model nests inside another as a
layer. The interpreter threads the non-trainable state through every step: a stateful layer gets its
entry and returns it updated; a stateless one never sees any.
"""
from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Sequence

import jax

from funcnet._checks import format_shape
from funcnet.layers._base import InputLayer, Layer, Node, SymbolicTensor, state_key

Ref = tuple  # (slot, index): the value in `slot`, or its `index`-th entry when the layer there has several outputs


Shapes = tuple | list  # one shape, or a list of shapes


@dataclasses.dataclass(frozen=True)
class Step:
    """One layer applied to the tensors `inputs` (refs), its result (a list for several outputs) stored in
    slot `output`."""

    name: str
    layer: Layer
    inputs: tuple[Ref, ...]
    is_list: bool
    output: int
    input_shape: Shapes  # a shape, or a list of shapes for a merge layer
    output_shape: Shapes  # a shape, or a list of shapes for a layer with several outputs


@dataclasses.dataclass(frozen=True)
class Graph:
    input_slots: tuple[int, ...]
    input_layers: tuple[InputLayer, ...]
    input_names: tuple[str, ...]
    input_shapes: tuple[tuple, ...]
    steps: tuple[Step, ...]
    output_slots: tuple[Ref, ...]
    output_shapes: tuple[tuple, ...]

    @property
    def uses_rng(self) -> bool:
        return any(step.layer.uses_rng for step in self.steps)

    def with_layers(self, replace) -> Graph:
        """The same graph with each step's layer `replace(layer)` (a layer shared by several steps stays shared)."""
        memo: dict[int, Layer] = {}
        steps = []
        for step in self.steps:
            if id(step.layer) not in memo:
                memo[id(step.layer)] = replace(step.layer)
            steps.append(dataclasses.replace(step, layer=memo[id(step.layer)]))
        return dataclasses.replace(self, steps=tuple(steps))


def assign_names(layers: Sequence[Layer], defaults: dict[int, str] | None = None) -> dict[int, str]:
    """Names each distinct layer (keyed by `id`): its own name, else its class stem numbered within
    this model in order (`dense`, `dense_1`, ...), skipping names already taken."""
    names: dict[int, str] = {}
    taken: dict[str, Layer] = {}
    for layer in layers:
        if layer.name is not None:
            if layer.name in taken and taken[layer.name] is not layer:
                raise ValueError(
                    f"Two layers of this model are both named {layer.name!r} ({taken[layer.name].describe()} and "
                    f"{layer.describe()}); layer names key the params dict and must be unique."
                )
            taken[layer.name] = layer
            names[id(layer)] = layer.name
    counters: dict[str, int] = {}
    for layer in layers:
        if id(layer) in names:
            continue
        stem = (defaults or {}).get(id(layer), layer.default_name)
        n = counters.get(stem, 0)
        candidate = stem if n == 0 else f"{stem}_{n}"
        while candidate in taken:
            n += 1
            candidate = f"{stem}_{n}"
        counters[stem] = n + 1
        taken[candidate] = layer
        names[id(layer)] = candidate
    return names


def chain_graph(layers: Sequence[Layer], input_layer: InputLayer, sample_shape: tuple) -> Graph:
    """The graph of a Sequential model for samples of `sample_shape` (no batch axis)."""
    names = assign_names([input_layer, *layers], {id(input_layer): "input_layer"})
    shape = (None, *sample_shape)
    steps = []
    for i, layer in enumerate(layers):
        try:
            out = layer.compute_output_shape(shape)
        except ValueError as err:
            raise ValueError(f"Layer '{names[id(layer)]}' ({type(layer).__name__}) of the model: {err}") from None
        if isinstance(out, list):
            raise ValueError(
                f"Layer '{names[id(layer)]}' ({type(layer).__name__}) of the model has {len(out)} outputs (e.g. "
                "return_state=True); a Sequential model chains single-output layers: use the functional API "
                "(layers.Input, models.Model)."
            )
        steps.append(Step(names[id(layer)], layer, ((i, None),), False, i + 1, shape, tuple(out)))
        shape = tuple(out)
    return Graph((0,), (input_layer,), (names[id(input_layer)],), ((None, *sample_shape),), tuple(steps),
                 ((len(layers), None),), (shape,))


def traced_graph(inputs: Sequence[SymbolicTensor], outputs: Sequence[SymbolicTensor]) -> Graph:
    """The graph between symbolic `inputs` and `outputs` of the functional API."""
    input_layers: list[InputLayer] = []
    for i, tensor in enumerate(inputs):
        if not isinstance(tensor, SymbolicTensor) or not isinstance(tensor.node.layer, InputLayer):
            raise TypeError(
                f"Model(inputs=...) entry {i} must be a tensor made by layers.Input(shape=...); got {tensor!r}."
            )
        input_layers.append(tensor.node.layer)
    for i, tensor in enumerate(outputs):
        if not isinstance(tensor, SymbolicTensor):
            raise TypeError(
                f"Model(outputs=...) entry {i} must be a symbolic tensor (a layer's output); got "
                f"{type(tensor).__name__}."
            )
    if len({id(t.node) for t in inputs}) != len(inputs):
        raise ValueError("Model(inputs=...) lists the same Input twice.")

    nodes: dict[int, Node] = {}
    stack = [t.node for t in outputs]
    while stack:
        node = stack.pop()
        if node.id not in nodes:
            nodes[node.id] = node
            stack.extend(t.node for t in node.inputs)
    order = sorted(nodes.values(), key=lambda n: n.id)
    input_ids = {t.node.id for t in inputs}
    for node in order:
        if isinstance(node.layer, InputLayer) and node.id not in input_ids:
            raise ValueError(
                f"The model's outputs depend on an Input of shape {format_shape((None, *node.layer.input_shape))}"
                f"{' named ' + repr(node.layer.name) if node.layer.name else ''} that is not in Model(inputs=...)."
            )

    layer_nodes = [n for n in order if not isinstance(n.layer, InputLayer)]
    distinct: list[Layer] = []
    for node in layer_nodes:
        if all(node.layer is not seen for seen in distinct):
            distinct.append(node.layer)
    defaults = {id(layer): "input_layer" for layer in input_layers}
    names = assign_names([*input_layers, *distinct], defaults)

    first_shape: dict[int, Shapes] = {}
    steps = []
    for node in layer_nodes:
        in_shape = [t.shape for t in node.inputs] if node.is_list else node.inputs[0].shape
        prior = first_shape.setdefault(id(node.layer), in_shape)
        if prior != in_shape:
            raise ValueError(
                f"Layer '{names[id(node.layer)]}' is called on inputs of shape {format_shape(prior)} and "
                f"{format_shape(in_shape)}; a shared layer has one set of weights, so every call needs the same "
                "input shape."
            )
        out = node.layer.compute_output_shape(in_shape)
        out = [tuple(o) for o in out] if isinstance(out, list) else tuple(out)
        steps.append(Step(names[id(node.layer)], node.layer, tuple(_ref(t) for t in node.inputs), node.is_list,
                          node.id, in_shape, out))
    return Graph(
        tuple(t.node.id for t in inputs),
        tuple(input_layers),
        tuple(names[id(layer)] for layer in input_layers),
        tuple(t.shape for t in inputs),
        tuple(steps),
        tuple(_ref(t) for t in outputs),
        tuple(t.shape for t in outputs),
    )


def _ref(tensor: SymbolicTensor) -> Ref:
    return (tensor.node.id, tensor.index)


def _layer_key(key: jax.Array, name: str) -> jax.Array:
    # Keyed by name, not position: adding a weightless layer (say Dropout) leaves the others' weights alone.
    return jax.random.fold_in(key, zlib.crc32(name.encode()) & 0x7FFFFFFF)


def _distinct_steps(graph: Graph):
    """Each layer's first step (a shared layer has one set of weights and one state)."""
    seen: set[str] = set()
    for step in graph.steps:
        if step.name not in seen:
            seen.add(step.name)
            yield step


def init_graph(graph: Graph, key: jax.Array) -> dict:
    """Weights for every layer of `graph` that has any, keyed by layer name; a shared layer once."""
    params: dict = {}
    for step in _distinct_steps(graph):
        weights = step.layer.build(_layer_key(key, step.name), step.input_shape)
        if weights:
            params[step.name] = weights
    return params


def init_graph_state(graph: Graph, key: jax.Array) -> dict:
    """The non-trainable state of every layer of `graph` that keeps any, keyed like `init_graph`'s params."""
    state: dict = {}
    for step in _distinct_steps(graph):
        entry = step.layer.build_state(state_key(_layer_key(key, step.name)), step.input_shape)
        if entry:
            state[step.name] = entry
    return state


def _get(table: dict, ref: Ref):
    value = table.get(ref[0])
    return value if ref[1] is None or value is None else value[ref[1]]


def run_graph(graph: Graph, params: dict, state: dict, inputs: Sequence[jax.Array], rng, training: bool,
              sample_mask, model_name: str, input_masks: Sequence | None = None) -> tuple[list, dict, list]:
    """Evaluates `graph` on `inputs` (one array per input slot, with `input_masks`, default none):
    (the arrays of the output slots, the new state, the output arrays' masks)."""
    values = dict(zip(graph.input_slots, inputs))
    masks = dict(zip(graph.input_slots, input_masks or [None] * len(inputs)))
    new_state = dict(state)
    for i, step in enumerate(graph.steps):
        layer_rng = None
        if step.layer.uses_rng and training:
            if rng is None:
                path, kind = _stochastic_layer(step)
                raise ValueError(
                    f"Layer '{path}' ({kind}) of model '{model_name}' is stochastic: "
                    "training=True needs a PRNG key, e.g. model.apply(params, x, rng=jax.random.key(1), "
                    "training=True)."
                )
            layer_rng = jax.random.fold_in(rng, i)
        args = [_get(values, ref) for ref in step.inputs]
        arg_masks = [_get(masks, ref) for ref in step.inputs]
        x, mask = (args, arg_masks) if step.is_list else (args[0], arg_masks[0])
        if step.is_list and all(m is None for m in arg_masks):
            mask = None
        y, layer_state, out_mask = step.layer._forward(
            params.get(step.name, {}), new_state.get(step.name, {}), x, mask, layer_rng, training, sample_mask
        )
        values[step.output], masks[step.output] = y, out_mask
        if step.layer.stateful:
            new_state[step.name] = layer_state
    return ([_get(values, ref) for ref in graph.output_slots], new_state,
            [_get(masks, ref) for ref in graph.output_slots])


def stateful_paths(graph: Graph) -> list[str]:
    """The paths (`block/batch_normalization`) of the layers of `graph` that keep state, nested models opened."""
    paths = []
    for step in _distinct_steps(graph):
        if not step.layer.stateful:
            continue
        inner = getattr(step.layer, "stateful_layers", None)  # a nested model names its own
        if inner is None:
            paths.append(step.name)
        else:
            paths.extend(f"{step.name}/{path}" for path in inner)
    return paths


def _stochastic_layer(step: Step) -> tuple[str, str]:
    """The path (`block/dropout`) and type of the first stochastic layer at or inside `step`'s layer."""
    path, layer = [step.name], step.layer
    while hasattr(layer, "_graph_for"):  # a nested model: descend to the layer at fault
        try:
            steps = layer._graph_for(None).steps
        except ValueError:  # a Sequential with no declared input shape: its names are not fixed yet
            break
        inner = next((s for s in steps if s.layer.uses_rng), None)
        if inner is None:
            break
        path.append(inner.name)
        layer = inner.layer
    return "/".join(path), type(layer).__name__
