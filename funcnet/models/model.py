"""`Model`: a functional-API model, and the base class of `Sequential`.

A model is a layer built from layers: `init(key)` makes the params pytree (a plain nested dict keyed by
layer name), `apply(params, x)` is a pure function of params and inputs. Everything about shapes is
checked on static shapes, at trace time, so the checks cost nothing under `jit`.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from funcnet._checks import as_array, as_feature_shape, check_key, format_shape, shapes_compatible
from funcnet.layers._base import InputLayer, Layer, SymbolicTensor
from funcnet.models import _summary
from funcnet.models._graph import Graph, init_graph, run_graph, traced_graph
from funcnet.models.trainer import Trainer


class Model(Trainer, Layer):
    """A model of the functional API: the layers between symbolic `inputs` and `outputs`.

        a = layers.Input(shape=(784,)); b = layers.Input(shape=(16,))
        h = layers.Dense(32, activation="relu")(a)
        out = layers.Dense(10, activation="softmax")(layers.Concatenate()([h, b]))
        model = models.Model(inputs=[a, b], outputs=out)
        params = model.init(jax.random.key(0))
        probs = model.apply(params, [xa, xb])          # [batch, 10]

    Inputs and outputs given as lists are taken and returned as lists; a single tensor as an array.
    A layer instance called more than once shares one set of weights. A model is itself a layer:
    call it on symbolic tensors to nest it in another model (its params nest under its name).
    """

    def __init__(self, inputs, outputs, name: str | None = None):
        super().__init__(name=name)
        self._inputs_are_list = isinstance(inputs, (list, tuple))
        self._outputs_are_list = isinstance(outputs, (list, tuple))
        input_list = list(inputs) if self._inputs_are_list else [inputs]
        output_list = list(outputs) if self._outputs_are_list else [outputs]
        if not input_list or not output_list:
            raise ValueError("Model(inputs=..., outputs=...) needs at least one input and one output.")
        self._traced = traced_graph(input_list, output_list)
        self._params = None
        self._expected_cache: dict[int, tuple[Graph, dict]] = {}

    # ------------------------------------------------------------------ what subclasses vary
    def _graph_for(self, sample_shapes: Sequence[tuple] | None) -> Graph:
        """The graph for inputs with these per-sample shapes; `None` asks for the declared one."""
        return self._traced

    def _input_signature(self) -> tuple[tuple[str, ...], tuple[InputLayer, ...], tuple[tuple, ...] | None]:
        """(input names, input layers, declared input shapes or None): what `apply` checks inputs against."""
        graph = self._traced
        return graph.input_names, graph.input_layers, graph.input_shapes

    @property
    def default_name(self) -> str:
        return "functional"

    # ------------------------------------------------------------------ structure
    @property
    def model_name(self) -> str:
        return self.name or self.default_name

    def describe(self) -> str:
        return f"{type(self).__name__} '{self.model_name}'"

    @property
    def takes_list(self) -> bool:  # type: ignore[override]
        return self._inputs_are_list

    @property
    def uses_rng(self) -> bool:  # type: ignore[override]
        return any(layer.uses_rng for layer in self.layers)

    @property
    def layers(self) -> list[Layer]:
        """The model's layers in order (input layers excluded), each once."""
        found: list[Layer] = []
        for layer in self._layer_list():
            if all(layer is not seen for seen in found):
                found.append(layer)
        return found

    def _layer_list(self) -> list[Layer]:
        return [step.layer for step in self._traced.steps]

    def structure_key(self):
        """A hashable description of the whole computation (graph, layers, input dtypes), or None."""
        graph = self._traced
        slot = {s: i for i, s in enumerate([*graph.input_slots, *(step.output for step in graph.steps)])}
        steps = []
        for step in graph.steps:
            layer_key = step.layer.structure_key()
            if layer_key is None:
                return None
            steps.append((step.name, layer_key, tuple(slot[s] for s in step.inputs), step.is_list, str(step.input_shape)))
        return (
            type(self),
            self._inputs_are_list,
            self._outputs_are_list,
            tuple((layer.dtype, shape) for layer, shape in zip(graph.input_layers, graph.input_shapes)),
            tuple(steps),
            tuple(slot[s] for s in graph.output_slots),
        )

    def frozen(self) -> "Model":
        """A model that will always compute what this one computes now (this one: its graph is fixed)."""
        return self

    def get_layer(self, name: str) -> Layer:
        """The layer whose weights are `params[name]`."""
        graph = self._graph_for(None)
        for step in graph.steps:
            if step.name == name:
                return step.layer
        raise ValueError(f"{self.describe()} has no layer {name!r}; its layers are {[s.name for s in graph.steps]}.")

    # ------------------------------------------------------------------ init / apply
    def init(self, key: jax.Array, input_shape: Sequence[int] | None = None) -> dict:
        """Fresh params: a plain nested dict `{layer_name: {weight_name: array}}`.

        Args:
          key: a PRNG key (`jax.random.key(0)`); the same key always gives the same params.
          input_shape: one sample's shape (no batch axis), e.g. `(784,)`; needed only when no layer
            declares it. A model with several inputs takes a list of shapes.
        """
        key = check_key(key, f"{self.describe()}.init")
        return init_graph(self._graph_for(self._sample_shapes(input_shape)), key)

    def _sample_shapes(self, input_shape) -> list[tuple] | None:
        """Validates `init`'s `input_shape` against the declared inputs."""
        if input_shape is None:
            return None
        names, _, declared = self._input_signature()
        if len(names) == 1:
            shapes = [as_feature_shape(input_shape, "input_shape")]
        elif isinstance(input_shape, (list, tuple)) and len(input_shape) == len(names):
            shapes = [as_feature_shape(s, "input_shape") for s in input_shape]
        else:
            raise ValueError(
                f"{self.describe()} has {len(names)} inputs {list(names)}: input_shape must be a list of "
                f"{len(names)} shapes; got {input_shape!r}."
            )
        for shape, want, name in zip(shapes, declared or (), names):
            if not shapes_compatible(shape, want[1:]):
                raise ValueError(
                    f"{self.describe()} is built for input '{name}' of shape {format_shape(want)}; "
                    f"input_shape={format_shape(shape)} does not fit."
                )
        return shapes

    def apply(self, params: Mapping, x, *, rng: jax.Array | None = None, training: bool = False):
        """Runs the model: a pure function of `params` and `x`; `jit`, `grad` and `vmap` all apply.

        Args:
          params: the pytree from `init` (or a trained one of the same structure).
          x: an array `[batch, ...]`, or a list (or dict by input name) of arrays for several inputs.
            Integer inputs (e.g. uint8 pixels) are cast to float32.
          rng: a PRNG key, needed with `training=True` when the model has stochastic layers (Dropout).
          training: training mode (Dropout active).

        Returns:
          The output array `[batch, ...]`, or a list of arrays for a model with several outputs.

        Raises:
          ValueError: inputs whose shapes or count do not fit the model, or params of another model.
          TypeError: inputs that are not numeric arrays, params that are not a dict, a bad `rng`.
        """
        if rng is not None:
            rng = check_key(rng, f"{self.describe()}.apply(rng=...)")
        if params is None:
            raise TypeError(f"{self.describe()}.apply: params is None; make them with params = model.init(jax.random.key(0)).")
        if not isinstance(params, Mapping):
            raise TypeError(f"{self.describe()}.apply: params must be the dict from model.init; got {type(params).__name__}.")
        inputs = self._input_list(x)
        graph = self._graph_for([tuple(a.shape[1:]) for a in inputs])
        check_params(params, self._expected_params(graph), self.describe())
        return self._run(graph, params, inputs, rng, bool(training))

    def _run(self, graph: Graph, params, inputs, rng, training: bool):
        outputs = run_graph(graph, params, inputs, rng, training, self.model_name)
        return outputs if self._outputs_are_list else outputs[0]

    def _input_list(self, x) -> list[jax.Array]:
        names, input_layers, declared = self._input_signature()
        n = len(names)
        if isinstance(x, Mapping):
            missing = [name for name in names if name not in x]
            unknown = [k for k in x if k not in names]
            if missing or unknown:
                raise ValueError(
                    f"{self.describe()} takes inputs named {list(names)}; the dict given lacks {missing} "
                    f"and has unknown {unknown}."
                )
            x = [x[name] for name in names]
        elif isinstance(x, (list, tuple)):
            if len(x) != n:
                raise ValueError(f"{self.describe()} takes {n} input(s) {list(names)}; got a list of {len(x)}.")
        elif n != 1:
            raise ValueError(f"{self.describe()} takes {n} inputs {list(names)}; pass a list of {n} arrays.")
        else:
            x = [x]
        arrays = []
        for value, layer, name in zip(x, input_layers, names):
            arrays.append(_as_input_array(value, layer, name, self.describe()))
        for array, shape, name in zip(arrays, declared or (), names):
            if not shapes_compatible(array.shape, shape):
                raise ValueError(
                    f"{self.describe()} expects input '{name}' of shape {format_shape(shape)} (batch first); "
                    f"got an array of shape {format_shape(array.shape)}."
                )
        return arrays

    def _expected_params(self, graph: Graph) -> dict:
        """The params structure (ShapeDtypeStructs) `graph` needs, computed once per graph."""
        cached = self._expected_cache.get(id(graph))
        if cached is None or cached[0] is not graph:
            cached = (graph, jax.eval_shape(lambda k: init_graph(graph, k), jax.random.key(0)))
            self._expected_cache[id(graph)] = cached
        return cached[1]

    # ------------------------------------------------------------------ as a layer of another model
    def build(self, key, input_shape):
        return init_graph(self._graph_for(_sample_shapes_of(input_shape)), key)

    def compute_output_shape(self, input_shape):
        shapes = input_shape if isinstance(input_shape, list) else [input_shape]
        names, _, declared = self._input_signature()
        if len(shapes) != len(names):
            raise ValueError(f"{self.describe()} takes {len(names)} input(s) {list(names)}; got {len(shapes)}.")
        for given, want, name in zip(shapes, declared or (), names):
            if not shapes_compatible(tuple(given), want):
                raise ValueError(
                    f"{self.describe()} expects input '{name}' of shape {format_shape(want)}; got {format_shape(tuple(given))}."
                )
        outputs = list(self._graph_for(_sample_shapes_of(input_shape)).output_shapes)
        return outputs if self._outputs_are_list else outputs[0]

    def call(self, params, x, rng, training):
        inputs = self._input_list(x)
        return self._run(self._graph_for([tuple(a.shape[1:]) for a in inputs]), params, inputs, rng, training)

    # ------------------------------------------------------------------ Keras-style state
    @property
    def params(self):
        """The weights `fit`, `evaluate` and `predict` use: `None` until set (by `fit` or by assignment)."""
        return self._params

    @params.setter
    def params(self, value) -> None:
        if value is not None:
            if not isinstance(value, Mapping):
                raise TypeError(f"{self.describe()}.params must be the dict from model.init; got {type(value).__name__}.")
            if self._input_signature()[2] is not None:
                check_params(value, self._expected_params(self._graph_for(None)), self.describe())
        self._params = value

    # ------------------------------------------------------------------ summary
    def count_params(self) -> int:
        """The number of scalar weights."""
        leaves = jax.tree_util.tree_leaves(self._expected_params(self._graph_for(None)))
        return sum(math.prod(leaf.shape) for leaf in leaves)

    def summary(self, print_fn=print) -> None:
        """Prints the layers, their output shapes and weight counts, as Keras's `model.summary()`."""
        graph = self._graph_for(None)
        print_fn(_summary.render(self.model_name, graph, self._expected_params(graph), show_inputs=type(self) is Model))


def _sample_shapes_of(input_shape) -> list[tuple]:
    shapes = input_shape if isinstance(input_shape, list) else [input_shape]
    return [tuple(s[1:]) for s in shapes]


def _as_input_array(value, layer: InputLayer, name: str, where: str) -> jax.Array:
    if isinstance(value, SymbolicTensor):
        raise TypeError(
            f"{where}.apply got a symbolic tensor for input '{name}'; to use a model as a layer of the "
            "functional API, call it directly: model(tensor)."
        )
    array = as_array(value, f"{where}: input '{name}'")
    if not (jnp.issubdtype(array.dtype, jnp.number) or array.dtype == jnp.bool_):
        raise TypeError(f"{where}: input '{name}' must be numeric; got dtype {array.dtype}.")
    if array.ndim == 0:
        raise ValueError(f"{where}: input '{name}' must have a batch axis; got a scalar.")
    if layer.dtype is not None:
        return array.astype(layer.dtype)
    if not jnp.issubdtype(array.dtype, jnp.floating):
        return array.astype(jnp.float32)
    return array


def _path_str(path) -> str:
    return "".join(f"[{getattr(p, 'key', getattr(p, 'idx', p))!r}]" for p in path)


def check_params(params: Mapping, expected: dict, where: str) -> None:
    """Raises ValueError if `params` lacks a layer's weights, has unknown entries, or holds a weight of
    the wrong shape (dtypes may differ, e.g. bfloat16 copies)."""
    got = {_path_str(p): leaf for p, leaf in jax.tree_util.tree_flatten_with_path(params)[0]}
    want = {_path_str(p): leaf for p, leaf in jax.tree_util.tree_flatten_with_path(expected)[0]}
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    if missing or extra:
        raise ValueError(
            f"{where}: params do not match the model. Missing: {missing or 'none'}; unexpected: "
            f"{extra or 'none'}. Were these params made by another model's init?"
        )
    for path, leaf in got.items():
        if tuple(np.shape(leaf)) != tuple(want[path].shape):
            raise ValueError(
                f"{where}: params{path} has shape {format_shape(tuple(np.shape(leaf)))}, but for these inputs the "
                f"model needs {format_shape(tuple(want[path].shape))}."
            )
