"""`Sequential`: a plain stack of layers, each feeding the next."""
from __future__ import annotations

from collections.abc import Sequence

from funcnet._checks import check_name, format_shape
from funcnet.layers._base import Input, InputLayer, Layer, Node, SymbolicTensor
from funcnet.models import _weights
from funcnet.models._graph import Graph, assign_names, chain_graph
from funcnet.models.model import Model


class Sequential(Model):
    """A linear stack of layers, as `keras.Sequential`.

        model = Sequential([
            layers.Dense(512, activation="relu", input_shape=(784,)),
            layers.Dense(10, activation="softmax"),
        ])
        params = model.init(jax.random.key(0))   # {"dense": {...}, "dense_1": {...}}
        probs = model.apply(params, x)           # x: [batch, 784] -> [batch, 10]

    The input shape comes from the first layer's `input_shape`, a leading `layers.Input(shape=...)`, or
    `init(key, input_shape=...)`. Without a declared shape, `apply` follows the shape of its input.
    """

    def __init__(self, layers: Sequence[Layer] | None = None, name: str | None = None):
        super().__init__(name=check_name(name, "Sequential(name=...)"))
        self._stack: list[Layer] = []
        self._input: InputLayer | None = None
        self._default_input = InputLayer(())  # stands in for an Input when none is given (dtype None)
        self._graphs: dict[tuple, Graph] = {}
        if layers is not None:
            if not isinstance(layers, (list, tuple)):
                raise TypeError(f"Sequential(layers=...) takes a list of layers; got {type(layers).__name__}.")
            for layer in layers:
                self.add(layer)

    @property
    def default_name(self) -> str:
        return "sequential"

    def add(self, layer: Layer | SymbolicTensor) -> None:
        """Appends a layer (or, first of all, a `layers.Input(shape=...)`)."""
        if isinstance(layer, SymbolicTensor) and isinstance(layer.node.layer, InputLayer):
            layer = layer.node.layer
        if isinstance(layer, InputLayer):
            if self._stack or self._input is not None:
                raise ValueError(f"{self.describe()}: an Input can only come first, before any layer.")
            self._input = layer
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"{self.describe()}.add takes a layer such as layers.Dense(10); got "
                            f"{type(layer).__name__} {layer!r}.")
        if layer.takes_list:
            raise TypeError(
                f"{self.describe()}: {layer.describe()} merges several tensors, which a Sequential model cannot "
                "feed; build the model with the functional API (layers.Input, models.Model)."
            )
        if any(layer is seen for seen in self._stack):
            raise ValueError(f"{self.describe()}: {layer.describe()} is already in the model; "
                             "make a new layer instead.")
        self._stack.append(layer)
        self._graphs.clear()
        if layer.name is None:  # the name its params are keyed by, as Keras names layers (`dense_1`)
            first = self._input or self._default_input
            layer.name = assign_names([first, *self._stack], {id(first): "input_layer"})[id(layer)]
        _weights.adopt(self, [layer])
        if self._declared_shape() is not None:
            try:
                self._graph_for(None)  # shape errors surface at add time, as in Keras
            except ValueError:
                self._stack.pop()
                self._graphs.clear()
                raise

    def structure_key(self):
        """A hashable description of the stack (layers, their names, the declared input), or None."""
        layer_keys = []
        for layer in self._stack:
            key = layer.structure_key()
            if key is None:
                return None
            layer_keys.append(key)
        first = self._input or self._default_input
        names = assign_names([first, *self._stack], {id(first): "input_layer"})
        dtype = self._input.dtype if self._input is not None else None
        layers_named = tuple(zip((names[id(layer)] for layer in self._stack), layer_keys))
        return (Sequential, self._declared_shape(), dtype, layers_named)

    @property
    def inputs(self) -> list[SymbolicTensor]:
        """`[Input]` of the declared input shape, as Keras's `model.inputs` of a built Sequential."""
        declared = self._declared_shape()
        if declared is None:
            raise ValueError(f"{self.describe()} has no declared input yet: start it with layers.Input(shape=...) "
                             "or give the first layer input_shape=...")
        if self._input is not None:
            return [SymbolicTensor((None, *declared), Node(self._input, [], False), self._input.dtype)]
        return [Input(shape=declared)]

    @property
    def outputs(self) -> list[SymbolicTensor]:
        """The stack applied to `inputs` (symbolically), as Keras's `model.outputs`."""
        x = self.inputs[0]
        for layer in self._stack:
            x = layer(x)
        return [x]

    def _with_layers(self, replace) -> Sequential:
        copy = Sequential(name=self.name)
        copy._input = self._input
        copy._stack = [replace(layer) for layer in self._stack]
        return copy

    def pop(self) -> Layer:
        """Removes and returns the last layer."""
        if not self._stack:
            raise ValueError(f"{self.describe()} has no layers to pop.")
        self._graphs.clear()
        return self._stack.pop()

    def _declared_shape(self) -> tuple | None:
        if self._input is not None:
            return self._input.input_shape
        if self._stack and self._stack[0].input_shape is not None:
            return self._stack[0].input_shape
        if self._stack and isinstance(self._stack[0], Model):
            # A nested model (say a Sequential block) that knows its own single input shape declares ours.
            declared = self._stack[0].declared_input_shapes
            if declared is not None and len(declared) == 1:
                return tuple(declared[0][1:])
        return None

    def _layer_list(self) -> list[Layer]:
        return list(self._stack)

    def _input_signature(self):
        declared = self._declared_shape()
        return (
            (self._input.name or "input_layer",) if self._input is not None else ("input_layer",),
            (self._input or self._default_input,),
            None if declared is None else ((None, *declared),),
        )

    def _graph_for(self, sample_shapes: Sequence[tuple] | None) -> Graph:
        if not self._stack:
            raise ValueError(f"{self.describe()} has no layers yet; add some with model.add(layers.Dense(...)).")
        declared = self._declared_shape()
        if sample_shapes is None:
            if declared is None:
                raise ValueError(
                    f"{self.describe()} does not know its input shape: give input_shape=(...) to the first layer, "
                    "start with layers.Input(shape=(...)), or call model.init(key, input_shape=(...))."
                )
            shape = declared
        else:
            (shape,) = sample_shapes
            shape = tuple(shape)
            if declared is not None:
                if len(shape) != len(declared) or any(d is not None and s != d for s, d in zip(shape, declared)):
                    raise ValueError(
                        f"{self.describe()} is built for input of shape {format_shape((None, *declared))}; "
                        f"got samples of shape {format_shape(shape)}."
                    )
                shape = declared
        graph = self._graphs.get(shape)
        if graph is None:
            graph = chain_graph(self._stack, self._input or self._default_input, shape)
            self._graphs[shape] = graph
        return graph
