"""`Model`: a functional-API model, and the base class of `Sequential`.

A model is a layer built from layers, and a pure description: `init(key)` makes the params pytree (a
plain nested dict keyed by layer name), `apply(params, x)` is a pure function of params and inputs;
`init_with_state` / `apply_with_state` add the non-trainable state of layers such as
BatchNormalization. Everything about shapes is checked on static shapes, at trace time, so the checks
cost nothing under `jit`.

The Keras-style front (`compile`, `fit`, `evaluate`, `predict`, `params`, `state`, weights and
checkpoints) is the model's `Session` (`funcnet.models.session`), which holds everything mutable and
reaches the model only through the public methods here.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp

from funcnet._checks import as_array, as_feature_shape, check_key, check_tree, flag, format_shape, shapes_compatible
from funcnet.layers._base import InputLayer, Layer, SymbolicTensor
from funcnet.layers.embedding import Embedding
from funcnet.models import _live_optimizer, _programs, _summary, _weights
from funcnet.models._graph import Graph, init_graph, init_graph_state, run_graph, stateful_paths, traced_graph
from funcnet.models.session import Session


def _name_layers(steps) -> None:
    """Gives each unnamed layer of a model the name the model keys its params by (`dense`, `dense_1`), as
    Keras names its layers: `model.layers[0].name == "dense"`. A name, once given, stays the layer's."""
    for step in steps:
        if step.layer.name is None:
            step.layer.name = step.name


def _layer_init_key(layer: Layer):
    """The keys of a layer's initializers (its build-only attributes but the name, which the model's
    structure holds, and the input shape, which the program's own key holds), or None."""
    keys = []
    for attr in layer._build_only:
        if attr in ("name", "input_shape"):
            continue
        key = _programs.value_key(getattr(layer, attr, None))
        if key is None:
            return None
        keys.append((attr, key))
    return tuple(keys)


class Model(Layer):
    """A model of the functional API: the layers between symbolic `inputs` and `outputs`.

        a = layers.Input(shape=(784,)); b = layers.Input(shape=(16,))
        h = layers.Dense(32, activation="relu")(a)
        out = layers.Dense(10, activation="softmax")(layers.Concatenate()([h, b]))
        model = models.Model(inputs=[a, b], outputs=out)
        params = model.init(jax.random.key(0))
        probs = model.apply(params, [xa, xb])          # [batch, 10]

    Inputs and outputs given as lists are taken and returned as lists; a single tensor as an array.
    A layer instance called more than once shares one set of weights. A model is itself a layer:
    call it on symbolic tensors to nest it in another model (its params and state nest under its name).
    """

    def __init__(self, inputs=None, outputs=None, name: str | None = None):
        super().__init__(name=name)
        self._session = Session(self)
        self._expected_cache: dict[int, tuple[Graph, tuple[dict, dict]]] = {}
        if inputs is None and outputs is None and type(self) is not Model:
            return  # a subclass (Sequential) makes its graphs itself
        if inputs is None or outputs is None:
            raise ValueError("Model(inputs=..., outputs=...) needs the symbolic inputs and outputs of the functional "
                             "API.")
        self._inputs_are_list = isinstance(inputs, (list, tuple))
        self._outputs_are_list = isinstance(outputs, (list, tuple))
        input_list = list(inputs) if self._inputs_are_list else [inputs]
        output_list = list(outputs) if self._outputs_are_list else [outputs]
        if not input_list or not output_list:
            raise ValueError("Model(inputs=..., outputs=...) needs at least one input and one output.")
        self._traced = traced_graph(input_list, output_list)
        self._input_tensors, self._output_tensors = input_list, output_list
        _name_layers(self._traced.steps)
        _weights.adopt(self, [step.layer for step in self._traced.steps])

    # ------------------------------------------------------------------ what subclasses vary
    _inputs_are_list = False
    _outputs_are_list = False

    def _graph_for(self, sample_shapes: Sequence[tuple] | None) -> Graph:
        """The graph for inputs with these per-sample shapes; `None` asks for the declared one."""
        return self._traced

    def _input_signature(self) -> tuple[tuple[str, ...], tuple[InputLayer, ...], tuple[tuple, ...] | None]:
        """(input names, input layers, declared input shapes or None): what `apply` checks inputs against."""
        graph = self._traced
        return graph.input_names, graph.input_layers, graph.input_shapes

    def _layer_list(self) -> list[Layer]:
        return [step.layer for step in self._traced.steps]

    def _with_layers(self, replace) -> Model:
        """A copy whose layers are `replace(layer)` (a fresh session: no params, no settings)."""
        copy = object.__new__(type(self))
        copy.__dict__.update(self.__dict__)
        copy._session = Session(copy)
        copy._expected_cache = {}
        copy._traced = self._traced.with_layers(replace)
        return copy

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
    def stateful(self) -> bool:  # type: ignore[override]
        """True if some layer keeps non-trainable state: use `init_with_state` and `apply_with_state`."""
        return any(layer.stateful for layer in self.layers)

    @property
    def stateful_layers(self) -> list[str]:
        """The paths (`block/batch_normalization`) of the layers that keep state."""
        try:
            return stateful_paths(self._graph_for(None))
        except ValueError:  # a Sequential with no declared input shape: its names are not fixed yet
            return [layer.name or layer.default_name for layer in self.layers if layer.stateful]

    @property
    def layers(self) -> list[Layer]:
        """The model's layers in order (input layers excluded), each once."""
        found: list[Layer] = []
        for layer in self._layer_list():
            if all(layer is not seen for seen in found):
                found.append(layer)
        return found

    @property
    def inputs(self) -> list[SymbolicTensor]:
        """The model's symbolic inputs, as Keras's `model.inputs` (a list, also for one input)."""
        return list(self._input_tensors)

    @property
    def outputs(self) -> list[SymbolicTensor]:
        """The model's symbolic outputs, as Keras's `model.outputs` (a list, also for one output)."""
        return list(self._output_tensors)

    @property
    def output_shape(self):
        """The output's shape with the batch axis as None (`(None, 10)`); a list of them for several outputs."""
        shapes = [tuple(t.shape) for t in self.outputs]
        return shapes if self._outputs_are_list else shapes[0]

    @property
    def input_names(self) -> tuple[str, ...]:
        """The names of the model's inputs (the keys of a dict of inputs), in order."""
        return self._input_signature()[0]

    @property
    def declared_input_shapes(self) -> tuple[tuple, ...] | None:
        """The declared shape of each input, batch axis first (`((None, 784),)`), or None when no layer
        declares it (a Sequential whose first layer has no `input_shape`)."""
        return self._input_signature()[2]

    def id_inputs(self) -> list[tuple[str, str, int]]:
        """`(input name, layer path, input_dim)` for each input an `Embedding` reads directly (also inside a
        nested model): the inputs whose ids `fit`, `evaluate` and `predict` check before compiling."""
        try:
            graph = self._graph_for(None)
        except ValueError:  # a Sequential with no declared input shape: its first layer decides
            graph = None
        if graph is None:
            first = self._layer_list()[0]
            return [(self.input_names[0], first.name or first.default_name, first.input_dim)] \
                if isinstance(first, Embedding) else []
        position = {slot: i for i, slot in enumerate(graph.input_slots)}
        found = []
        for step in graph.steps:
            for k, (slot, _) in enumerate(step.inputs):
                if slot not in position:
                    continue
                name = graph.input_names[position[slot]]
                if isinstance(step.layer, Embedding):
                    found.append((name, step.name, step.layer.input_dim))
                elif isinstance(step.layer, Model):
                    inner_name = step.layer.input_names[k]
                    found += [(name, f"{step.name}/{path}", dim) for n, path, dim in step.layer.id_inputs()
                              if n == inner_name]
        return found

    def structure_key(self):
        """A hashable description of the whole computation (graph, layers, input dtypes), or None."""
        graph = self._traced
        slot = {s: i for i, s in enumerate([*graph.input_slots, *(step.output for step in graph.steps)])}
        steps = []
        for step in graph.steps:
            layer_key = step.layer.structure_key()
            if layer_key is None:
                return None
            steps.append((step.name, layer_key, tuple((slot[s], i) for s, i in step.inputs), step.is_list,
                          str(step.input_shape)))
        return (
            type(self),
            self._inputs_are_list,
            self._outputs_are_list,
            tuple((layer.dtype, shape) for layer, shape in zip(graph.input_layers, graph.input_shapes)),
            tuple(steps),
            tuple((slot[s], i) for s, i in graph.output_slots),
        )

    def init_key(self):
        """A hashable description of everything `init_with_state` depends on: the structure, and each
        layer's initializers (which `structure_key` leaves out: `apply` does not read them). None where
        some initializer cannot be told equal to another but by identity."""
        structure = self.structure_key()
        if structure is None:
            return None
        layers = []
        for layer in self.layers:
            key = layer.init_key() if isinstance(layer, Model) else _layer_init_key(layer)
            if key is None:
                return None
            layers.append(key)
        return structure, tuple(layers)

    def frozen(self) -> Model:
        """A copy that computes what this model computes now and holds nothing else: no params, state or
        compile settings (its own, or of the models nested in it), and unchanged by later `add`/`pop`.
        Compiled programs, which outlive models, hold these."""
        return self._with_layers(lambda layer: layer.frozen() if isinstance(layer, Model) else layer)

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

    def init_with_state(self, key: jax.Array, input_shape: Sequence[int] | None = None) -> tuple[dict, dict]:
        """Fresh `(params, state)`: the params of `init(key)` and the non-trainable state of the layers that
        keep some (`{"batch_normalization": {"moving_mean": [c], "moving_variance": [c]}}`; `{}` if none).

        Examples:
          >>> import jax
          >>> from funcnet import layers, models
          >>> model = models.Sequential([layers.Dense(4, input_shape=(3,)), layers.BatchNormalization()])
          >>> params, state = model.init_with_state(jax.random.key(0))
          >>> sorted(params), jax.tree.map(lambda a: a.shape, state)
          (['batch_normalization', 'dense'], {'batch_normalization': {'moving_mean': (4,), 'moving_variance': (4,)}})
        """
        key = check_key(key, f"{self.describe()}.init_with_state")
        graph = self._graph_for(self._sample_shapes(input_shape))
        return init_graph(graph, key), init_graph_state(graph, key)

    def variable_specs(self, input_shape: Sequence[int] | None = None) -> tuple[dict, dict]:
        """What `init_with_state` returns, as `jax.ShapeDtypeStruct` leaves, computed once (no arrays made)."""
        return self._expected(self._graph_for(self._sample_shapes(input_shape)))

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

    def apply(self, params: Mapping, x, *, rng: jax.Array | None = None, training: bool = False, mask=None):
        """Runs the model: a pure function of `params` and `x`; `jit`, `grad` and `vmap` all apply.

        Args:
          params: the pytree from `init` (or a trained one of the same structure).
          x: an array `[batch, ...]`, or a list (or dict by input name) of arrays for several inputs.
            Integer inputs (e.g. uint8 pixels) are cast to float32.
          rng: a PRNG key, needed with `training=True` when the model has stochastic layers (Dropout).
          training: training mode (Dropout active).
          mask: optional `[batch, steps]` booleans for a sequence input (False marks padding that recurrent
            layers and pooling skip, as an `Embedding(mask_zero=True)` would mark it), or a list with one
            entry (an array or None) per input.

        Returns:
          The output array `[batch, ...]`, or a list of arrays for a model with several outputs.

        Raises:
          ValueError: inputs whose shapes or count do not fit the model, params of another model, or a
            model with state (BatchNormalization), which runs with `apply_with_state`.
          TypeError: inputs that are not numeric arrays, params that are not a dict, a bad `rng`.
        """
        if self.stateful:
            raise ValueError(
                f"{self.describe()} keeps non-trainable state in {self.stateful_layers}: run it with "
                "y, state = model.apply_with_state(params, state, x, training=...), where "
                "params, state = model.init_with_state(key)."
            )
        y, _ = self._apply(params, {}, x, rng, training, None, "apply", mask)
        return y

    def apply_with_state(self, params: Mapping, state: Mapping, x, *, rng: jax.Array | None = None,
                         training: bool = False, sample_mask=None, mask=None):
        """Runs the model with its non-trainable state: `(y, new_state)`, pure.

        With `training=True` layers such as BatchNormalization normalize with the batch's statistics and
        return their moving statistics updated; with `training=False` they use the moving statistics and
        `new_state` is `state`. For a model without state this is `(apply(params, x), {})`.

        Args:
          params: the params from `init_with_state` (or trained ones of the same structure).
          state: the state from `init_with_state` (or an updated one).
          x: as `apply`.
          rng: as `apply`.
          training: batch statistics and state updates (and Dropout) when True.
          sample_mask: optional `[batch]` array, 0 for rows that only pad the batch: they never enter
            batch statistics (`fit` passes it for its padded last batch).
          mask: as `apply`.

        Examples:
          >>> import jax, jax.numpy as jnp
          >>> from funcnet import layers, models
          >>> model = models.Sequential([layers.Dense(4, input_shape=(3,)), layers.BatchNormalization()])
          >>> params, state = model.init_with_state(jax.random.key(0))
          >>> y, new_state = model.apply_with_state(params, state, jnp.ones((8, 3)), training=True)
          >>> y.shape, bool((new_state["batch_normalization"]["moving_mean"] != 0).any())
          ((8, 4), True)
        """
        return self._apply(params, state, x, rng, training, sample_mask, "apply_with_state", mask)

    def _apply(self, params, state, x, rng, training, sample_mask, where: str, mask=None):
        if rng is not None:
            rng = check_key(rng, f"{self.describe()}.{where}(rng=...)")
        for tree, what in ((params, "params"), (state, "state")):
            if tree is None:
                raise TypeError(
                    f"{self.describe()}.{where}: {what} is None; make them with "
                    "params, state = model.init_with_state(jax.random.key(0))."
                )
            if not isinstance(tree, Mapping):
                raise TypeError(
                    f"{self.describe()}.{where}: {what} must be the dict from model.init_with_state; "
                    f"got {type(tree).__name__}."
                )
        inputs = self._input_list(x)
        graph = self._graph_for([tuple(a.shape[1:]) for a in inputs])
        expected_params, expected_state = self._expected(graph)
        check_tree(params, expected_params, self.describe(), "params")
        check_tree(state, expected_state, self.describe(), "state")
        masks = self._input_masks(mask, inputs, where)
        return self._run(graph, params, state, inputs, rng, bool(training), sample_mask, masks)[:2]

    def _input_masks(self, mask, inputs, where: str) -> list | None:
        """One `[batch, steps]` bool mask (or None) per input, from `apply(mask=...)`."""
        if mask is None:
            return None
        masks = list(mask) if isinstance(mask, (list, tuple)) else [mask]
        if len(masks) != len(inputs):
            raise ValueError(f"{self.describe()}.{where}(mask=...): the model takes {len(inputs)} inputs; give one "
                             f"mask (or None) per input, got {len(masks)}.")
        out = []
        for name, m, x in zip(self.input_names, masks, inputs):
            if m is not None:
                m = as_array(m, f"{self.describe()}.{where}(mask=...) for input '{name}'")
                if x.ndim < 2 or tuple(m.shape) != tuple(x.shape[:2]):
                    raise ValueError(
                        f"{self.describe()}.{where}(mask=...): the mask for input '{name}' has shape "
                        f"{format_shape(tuple(m.shape))}; expected [batch, steps] = "
                        f"{format_shape(tuple(x.shape[:2]))}, one entry per time step of a sequence input.")
                m = m.astype(bool)
            out.append(m)
        return out

    def _run(self, graph: Graph, params, state, inputs, rng, training: bool, sample_mask, input_masks=None):
        """(outputs, new state, output masks), the outputs as a list or one array as the model returns them."""
        outputs, new_state, masks = run_graph(graph, params, state, inputs, rng, training, sample_mask,
                                              self.model_name, input_masks)
        if self._outputs_are_list:
            return outputs, new_state, masks
        return outputs[0], new_state, masks[0]

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
        arrays = [_as_input_array(value, layer, name, self.describe())
                  for value, layer, name in zip(x, input_layers, names)]
        for array, shape, name in zip(arrays, declared or (), names):
            if not shapes_compatible(array.shape, shape):
                raise ValueError(
                    f"{self.describe()} expects input '{name}' of shape {format_shape(shape)} (batch first); "
                    f"got an array of shape {format_shape(array.shape)}."
                )
        return arrays

    def _expected(self, graph: Graph) -> tuple[dict, dict]:
        """The (params, state) structures (ShapeDtypeStructs) `graph` needs, computed once per graph."""
        cached = self._expected_cache.get(id(graph))
        if cached is None or cached[0] is not graph:
            specs = jax.eval_shape(lambda k: (init_graph(graph, k), init_graph_state(graph, k)), jax.random.key(0))
            cached = (graph, specs)
            self._expected_cache[id(graph)] = cached
        return cached[1]

    # ------------------------------------------------------------------ as a layer of another model
    def build(self, key, input_shape):
        return init_graph(self._graph_for(_sample_shapes_of(input_shape)), key)

    def build_state(self, key, input_shape):
        return init_graph_state(self._graph_for(_sample_shapes_of(input_shape)), key)

    def compute_output_shape(self, input_shape):
        shapes = input_shape if isinstance(input_shape, list) else [input_shape]
        names, _, declared = self._input_signature()
        if len(shapes) != len(names):
            raise ValueError(f"{self.describe()} takes {len(names)} input(s) {list(names)}; got {len(shapes)}.")
        for given, want, name in zip(shapes, declared or (), names):
            if not shapes_compatible(tuple(given), want):
                raise ValueError(
                    f"{self.describe()} expects input '{name}' of shape {format_shape(want)}; got "
                    f"{format_shape(tuple(given))}."
                )
        outputs = list(self._graph_for(_sample_shapes_of(input_shape)).output_shapes)
        return outputs if self._outputs_are_list else outputs[0]

    def call(self, params, x, rng, training):
        return self.call_with_state(params, {}, x, rng, training, None)[0]

    def call_with_state(self, params, state, x, rng, training, sample_mask, mask=None):
        return self._forward(params, state, x, mask, rng, training, sample_mask)[:2]

    def _forward(self, params, state, x, mask, rng, training, sample_mask):
        # As a layer of another model: the masks of its inputs flow in, those of its outputs out.
        inputs = self._input_list(x)
        graph = self._graph_for([tuple(a.shape[1:]) for a in inputs])
        masks = list(mask) if isinstance(mask, (list, tuple)) else [mask] * len(inputs)
        return self._run(graph, params, state, inputs, rng, training, sample_mask, masks)

    # ------------------------------------------------------------------ summary
    def count_params(self) -> int:
        """The number of scalar weights: params and state (Keras counts non-trainable weights too)."""
        leaves = jax.tree_util.tree_leaves(self.variable_specs())
        return sum(math.prod(leaf.shape) for leaf in leaves)

    def summary(self, print_fn=print) -> None:
        """Prints the layers, their output shapes and weight counts, as Keras's `model.summary()`; the
        state (BatchNormalization's moving statistics) counts as non-trainable params."""
        graph = self._graph_for(None)
        params, state = self._expected(graph)
        print_fn(_summary.render(self.model_name, graph, params, state, show_inputs=type(self) is Model,
                                 frozen=self.frozen_paths()))

    # ------------------------------------------------------------------ the Keras-style session
    @property
    def params(self):
        """The weights `fit`, `evaluate` and `predict` use: `None` until set (by `fit` or by assignment)."""
        return self._session.params

    @params.setter
    def params(self, value) -> None:
        self._session.set_params(value)

    @property
    def state(self):
        """The non-trainable state `fit` updates and `evaluate` and `predict` use (`{}` for a model without
        any): `None` until set (by `fit`, `load_weights` or by assignment)."""
        return self._session.state

    @state.setter
    def state(self, value) -> None:
        self._session.set_state(value)

    @property
    def trainable(self) -> bool:
        """Whether `fit` trains this model's params; setting it sets every layer's `trainable` (a nested
        model's too), as Keras does. Takes effect at the next `compile`."""
        return self._trainable

    @trainable.setter
    def trainable(self, value) -> None:
        self._trainable = flag(value, f"{self.describe()}.trainable")
        for layer in self.layers:
            layer.trainable = self._trainable

    def frozen_paths(self) -> tuple[tuple[str, ...], ...]:
        """The key paths into `params` of the layers `fit` does not train (`trainable=False`, or inside a
        nested model that is), e.g. `(("base", "dense"),)`."""
        out: list[tuple[str, ...]] = []
        for layer in self.layers:
            path = (layer.name or layer.default_name,)
            if not layer.trainable:
                out.append(path)
            elif isinstance(layer, Model):
                out.extend((*path, *inner) for inner in layer.frozen_paths())
        return tuple(out)

    def get_weights(self) -> list:
        """Every weight as a numpy array, in Keras's order: layer by layer, each layer's trainable weights
        then its non-trainable ones (BatchNormalization: gamma, beta, moving_mean, moving_variance), so that
        `keras_model.set_weights(model.get_weights())` makes an equal Keras model compute the same.

        Examples:
          >>> import jax
          >>> from funcnet import layers, models
          >>> model = models.Sequential([layers.Dense(4, input_shape=(3,)), layers.Dense(2)])
          >>> model.params = model.init(jax.random.key(0))
          >>> [w.shape for w in model.get_weights()]
          [(3, 4), (4,), (4, 2), (2,)]
        """
        return _weights.model_weights(self)

    def set_weights(self, weights) -> None:
        """Sets `params` and `state` from a list of arrays in `get_weights`' order (a Keras model's
        `get_weights()` too); each array's shape is checked against the model's."""
        _weights.set_model_weights(self, weights)

    @property
    def history(self):
        """The `History` of the latest `fit` (`history.history["loss"]`, ...), as Keras keeps it; None before
        any. An interrupted `fit` (Ctrl-C) leaves it holding the epochs completed, which are also the
        epochs `params`, `state` and the optimizer state are at: resume with
        `fit(..., initial_epoch=model.history.epoch[-1] + 1)`."""
        return self._session.history

    @property
    def optimizer(self):
        """The compiled optimizer as Keras's callbacks use it: `model.optimizer.learning_rate` (read, or set
        between epochs without compiling again) and `model.optimizer.iterations`."""
        self._session.require_compiled("optimizer")
        return _live_optimizer.LiveOptimizer(self._session)

    @property
    def stop_training(self) -> bool:
        """Set by a callback to end `fit` after the current epoch."""
        return self._session.stop_training

    @stop_training.setter
    def stop_training(self, value: bool) -> None:
        self._session.stop_training = bool(value)

    def compile(self, optimizer="rmsprop", loss=None, metrics: Sequence | None = None, *, dtype_policy=None,
                distribution=None, steps_per_execution: int | None = None) -> None:
        """Sets the optimizer, loss and metrics for `fit` and `evaluate`, and how they run.

        Args:
          optimizer: a name (`"rmsprop"`, `"adam"`, `"sgd"`, `"adagrad"`, `"optax:adam"`, ...) or any
            `optax.GradientTransformation`.
          loss: a name (`"categorical_crossentropy"`, `"mse"`, ...), a per-sample function
            `(y_true, y_pred) -> [batch]`, or a `losses.Loss` object or class.
          metrics: names (`"accuracy"` resolves from the loss, as in Keras) or metric objects.
          dtype_policy: mixed precision for `fit`, `evaluate` and `predict`: `"mixed_bfloat16"`,
            `"mixed_float16"` (with dynamic loss scaling), a `mixed_precision.Policy`, or None (float32).
            Params, optimizer state and model state stay float32.
          distribution: a `distribution.DataParallel` to split every batch across its devices (and
            hosts), or None for one device.
          steps_per_execution: None (the default) puts the data on the device and runs each epoch
            (and each evaluate and predict) as one compiled program. An int k keeps them on the host
            and runs k steps per compiled call on batches copied over as they are needed: for data
            sets larger than the device's memory, or to save the device copy. The same batches and
            order, so the same training up to float rounding.

        Resets the optimizer state (the next `fit` starts it afresh); the params and state are kept.
        """
        self._session.compile(optimizer, loss, metrics, dtype_policy=dtype_policy, distribution=distribution,
                              steps_per_execution=steps_per_execution)

    def fit(self, x=None, y=None, batch_size: int | None = None, epochs: int = 1, verbose="auto",
            callbacks: Sequence | None = None, validation_split: float = 0.0, validation_data=None,
            shuffle: bool = True, initial_epoch: int = 0, seed: int | None = None):
        """Trains the model on `(x, y)` for `epochs - initial_epoch` epochs; returns a `History`.

        Args:
          x: inputs `[n, ...]` (a list or dict of arrays for several inputs); y: labels `[n, ...]`.
          batch_size: samples per step (default 32); 1 gives true SGD, `len(x)` batch gradient descent.
            A last, short batch is trained on (its padding never enters batch statistics).
          epochs: the epoch to stop before (as Keras: with `initial_epoch=k`, epochs k..epochs-1 run).
          verbose: 0 silent, 1 a live progress bar, 2 one line per epoch ("auto" is 1).
          callbacks: `funcnet.callbacks` objects.
          validation_split: the fraction of samples, taken from the end before shuffling, to validate on.
          validation_data: `(x_val, y_val)`; evaluated after each epoch (`val_loss`, `val_<metric>`).
          shuffle: a new order each epoch, drawn from `(seed, epoch)`.
          initial_epoch: the epoch to start from, e.g. after `load_checkpoint`.
          seed: the seed of params and state (if `model.params` or `model.state` is None), shuffling and
            dropout; None means 0. Same seed and data: the same history, params and state, bit for bit.

        Only `params` are differentiated and optimized; the state (BatchNormalization's moving
        statistics) is updated by the same compiled step, without gradients.
        """
        return self._session.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=verbose, callbacks=callbacks,
                                 validation_split=validation_split, validation_data=validation_data, shuffle=shuffle,
                                 initial_epoch=initial_epoch, seed=seed)

    def evaluate(self, x=None, y=None, batch_size: int | None = None, verbose="auto", return_dict: bool = False):
        """The loss and metrics on `(x, y)` in inference mode: `loss` alone, `[loss, metric, ...]`, or a dict
        with `return_dict`."""
        return self._session.evaluate(x, y, batch_size=batch_size, verbose=verbose, return_dict=return_dict)

    def predict(self, x, batch_size: int | None = None, verbose="auto"):
        """The model's outputs for `x`, as a numpy array (`apply_with_state(params, state, x)[0]`, in batches)."""
        return self._session.predict(x, batch_size=batch_size, verbose=verbose)

    def save(self, path) -> None:
        """Writes the whole model (architecture, params, state) as a Keras 3 `.keras` archive, which
        `models.load_model` and `keras.saving.load_model` both open; written atomically."""
        from funcnet.saving import save_model

        save_model(self, path)

    def get_config(self) -> dict:
        """The model's config in Keras 3's schema (the `config` of its `config.json` entry)."""
        from funcnet.saving._model_config import model_config

        return model_config(self)

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> Model:
        """The (untrained) model of a config `get_config` or Keras wrote."""
        from funcnet.saving._model_config import functional_from_config, sequential_from_config

        if cls.__name__ == "Sequential":
            return sequential_from_config(config, custom_objects)
        return functional_from_config(config, custom_objects)

    def save_weights(self, path) -> None:
        """Writes the params and the state to `path` (an `.npz` file, written atomically; the name is used verbatim)."""
        self._session.save_weights(path)

    def load_weights(self, path) -> None:
        """Sets the params and the state from a file of `save_weights` or a full checkpoint."""
        self._session.load_weights(path)

    def save_checkpoint(self, path, epoch: int) -> None:
        """Writes the whole train state: params, state, optimizer state, step count and `epoch` (epochs completed)."""
        self._session.save_checkpoint(path, epoch)

    def load_checkpoint(self, path) -> int:
        """Restores params, state and optimizer state from a `ModelCheckpoint` file; returns the epochs completed.

        The model must be compiled as it was when the checkpoint was written. `fit(..., initial_epoch=k,
        seed=s)` afterwards continues exactly as the uninterrupted run would have.
        """
        return self._session.load_checkpoint(path)


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
    if array.dtype == jnp.bool_:
        return array.astype(jnp.float32)
    return array  # integers stay integers: ids must reach an Embedding exact (float layers cast them)
