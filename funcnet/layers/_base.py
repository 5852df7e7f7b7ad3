"""The layer protocol and the symbolic tensors of the functional API.

A layer is an immutable description of a computation. It owns no weights: `init` makes them,
`apply` uses them.

    init(key, input_shape)                 -> params   (a dict; {} for a layer without weights)
    apply(params, x, *, rng, training)     -> y        (pure: jit / grad / vmap all work)
    compute_output_shape(input_shape)      -> shape    (shapes carry the batch axis as None)

A layer that keeps non-trainable state (BatchNormalization's moving statistics) says so with
`stateful = True` and runs through the state channel instead; every layer has it, stateless ones
return the state they are given (`{}`):

    init_with_state(key, input_shape)                                         -> (params, state)
    apply_with_state(params, state, x, *, rng, training, sample_mask, mask)   -> (y, new_state)

Masks (which time steps of a sequence are real, `[batch, steps]` booleans) flow beside the arrays of
the functional graph, as in Keras: `Embedding(mask_zero=True)` and `Masking` make one, layers with
`supports_masking = True` pass it on (`compute_mask`), recurrent layers and `GlobalAveragePooling1D`
use it, and every other layer drops it.

Calling a layer on symbolic tensors (`layers.Input(...)` or another layer's output) records a
node of the functional graph and returns a new symbolic tensor; `models.Model` turns that graph
into a model.
"""
from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from funcnet._checks import as_feature_shape, check_key, check_name, flag, format_shape, shapes_compatible

_node_ids = itertools.count()


def _snake_case(name: str) -> str:
    """Keras's layer-name stem: `Dense` -> `dense`, `Conv2D` -> `conv2d`, `MaxPooling2D` -> `max_pooling2d`."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


class Layer:
    """Base class of all layers.

    Subclasses implement `build(key, input_shape) -> params` (only if they have weights),
    `compute_output_shape(input_shape)` and `call(params, x, rng, training)`. Shapes given to those
    carry the batch axis as `None`, e.g. `(None, 784)`; multi-input layers get lists of shapes and arrays.
    A layer with non-trainable state sets `stateful = True` and implements `build_state(key,
    input_shape) -> state` and `call_with_state(params, state, x, rng, training, sample_mask, mask) ->
    (y, state)` instead of `call`; so does a layer that reads the mask. A layer with several outputs
    returns a list of shapes from `compute_output_shape` and a list of arrays.

    Args:
      name: the key of this layer's weights in `params`; by default the model names it from the
        class (`dense`, `dense_1`, ...), numbered within each model.
      input_shape: the shape of one sample (no batch axis), only needed on a model's first layer.
    """

    # Plain class attributes that a layer sets as such (Dropout: `uses_rng = True`), or, when they depend on
    # what it holds (a model, a recurrent layer's dropout), overrides with a read-only property: those
    # overrides carry `type: ignore[override]`, mypy's rule being about setting them through the base class.
    #: True for layers that draw random numbers when `training=True` (they need `rng=`).
    uses_rng: bool = False
    #: True for layers that take a list of inputs.
    takes_list: bool = False
    #: True for layers that keep non-trainable state (`build_state`, `call_with_state`).
    stateful: bool = False
    #: True for layers that pass a mask on (Keras's name): `compute_mask` returns the input's by default.
    supports_masking: bool = False
    # Where `trainable` keeps its value; set on an instance only when a user sets it, so that a layer
    # never frozen has the structure key it always had.
    _trainable: bool = True

    def __init__(self, name: str | None = None, input_shape: Sequence[int] | None = None):
        self.name = check_name(name, f"{type(self).__name__}(name=...)")
        self.input_shape = (
            None if input_shape is None else as_feature_shape(input_shape, f"{type(self).__name__}(input_shape=...)")
        )

    @property
    def trainable(self) -> bool:
        """Whether `fit` trains this layer's params (Keras's `layer.trainable`). `False` freezes them: `fit`
        leaves them unchanged and the optimizer keeps no state for them (from the next `compile`, as in
        Keras), `summary()` counts them as non-trainable, and a frozen BatchNormalization normalizes with
        its moving statistics even in training, as Keras's does."""
        return self._trainable

    @trainable.setter
    def trainable(self, value) -> None:
        self._trainable = flag(value, f"{self.describe()}.trainable")

    # ----------------------------------------------------------------- to override
    @property
    def default_name(self) -> str:
        """The stem of the name a model gives this layer when it has none (`Dense` -> `dense`)."""
        return _snake_case(type(self).__name__)

    def _arg(self, name: str) -> str:
        """How an error names this layer's constructor argument `name`: `Dense(units=...)`."""
        return f"{type(self).__name__}({name}=...)"

    def build(self, key: jax.Array, input_shape) -> dict:
        """Makes this layer's weights for inputs of `input_shape` (batch axis included)."""
        del key, input_shape
        return {}

    def compute_output_shape(self, input_shape):
        """The output shape for `input_shape` (batch axis included); raises ValueError if it does not fit."""
        return input_shape

    def build_state(self, key: jax.Array, input_shape) -> dict:
        """Makes this layer's non-trainable state for inputs of `input_shape` (batch axis included)."""
        del key, input_shape
        return {}

    def call(self, params: dict, x, rng: jax.Array | None, training: bool):
        raise NotImplementedError

    def call_with_state(self, params: dict, state: dict, x, rng: jax.Array | None, training: bool, sample_mask,
                        mask=None):
        """`(y, new_state)`; `sample_mask` (`[batch]` or None) is 0 for rows that only pad the batch, `mask`
        the input's time-step mask (`[batch, steps]` booleans) or None."""
        del sample_mask, mask
        return self.call(params, x, rng, training), state

    def compute_mask(self, x, mask):
        """The output's mask, given the input `x` and its mask: the same mask for a layer that supports
        masking, else None (the mask stops here, as in Keras)."""
        return mask if self.supports_masking else None

    def _forward(self, params, state, x, mask, rng, training: bool, sample_mask):
        """`(y, new_state, output_mask)`: everything the graph interpreter needs of one application."""
        y, state = self.call_with_state(params, state, x, rng, training, sample_mask, mask)
        return y, state, self.compute_mask(x, mask)

    # ----------------------------------------------------------------- config
    def get_config(self) -> dict:
        """This layer's constructor arguments in Keras 3's schema (what `model.save` writes), e.g.
        `{"name": "dense", "trainable": True, "dtype": {...}, "units": 10, "activation": "softmax", ...}`."""
        from funcnet.layers._config import layer_config

        return layer_config(self)

    @classmethod
    def from_config(cls, config: dict) -> Layer:
        """The layer of a config `get_config` (funcnet's or Keras 3's) wrote; raises ValueError naming the
        key for a setting funcnet cannot honour (a regularizer, a constraint, channels_first, ...)."""
        from funcnet.layers._config import layer_kwargs

        return cls(**layer_kwargs(cls, config, f"{cls.__name__}.from_config"))

    def _config_overrides(self) -> dict:
        """Config entries that are not attributes named like the constructor's arguments."""
        return {}

    # ----------------------------------------------------------------- public
    def init(self, key: jax.Array, input_shape: Sequence[int] | None = None) -> dict:
        """This layer's weights for samples of `input_shape` (no batch axis; defaults to the declared one)."""
        key = check_key(key, f"{self.describe()}.init")
        return self.build(key, self._full_shape(input_shape, "init"))

    def init_with_state(self, key: jax.Array, input_shape: Sequence[int] | None = None) -> tuple[dict, dict]:
        """`(params, state)`: the weights of `init(key, input_shape)` and the non-trainable state (`{}` for
        most layers)."""
        key = check_key(key, f"{self.describe()}.init_with_state")
        full = self._full_shape(input_shape, "init_with_state")
        return self.build(key, full), self.build_state(state_key(key), full)

    def _full_shape(self, input_shape, where: str) -> tuple:
        if input_shape is None:
            if self.input_shape is None:
                raise ValueError(
                    f"{self.describe()}.{where} needs input_shape=(...) (one sample's shape, no batch axis), "
                    "since the layer was built without input_shape."
                )
            input_shape = self.input_shape
        full = (None, *as_feature_shape(input_shape, "input_shape"))
        self.compute_output_shape(full)
        return full

    def apply(self, params: dict, x, *, rng: jax.Array | None = None, training: bool = False, mask=None):
        """Runs the layer: `y = f(params, x)`. Pure; `rng` is needed only by stochastic layers in training,
        `mask` (`[batch, steps]` booleans) only by layers that read one (recurrent layers, pooling)."""
        if self.stateful:
            raise ValueError(
                f"{self.describe()} keeps non-trainable state: run it with y, state = "
                "layer.apply_with_state(params, state, x, training=...), where params, state = "
                "layer.init_with_state(key, input_shape)."
            )
        return self.call_with_state(params, {}, x, rng, training, None, mask)[0]

    def apply_with_state(self, params: dict, state: dict, x, *, rng: jax.Array | None = None,
                         training: bool = False, sample_mask=None, mask=None):
        """Runs the layer with its state: `(y, new_state)`, pure. With `training=True` a stateful layer
        updates its state; `sample_mask` (`[batch]`, 0 for padding rows) keeps rows out of batch statistics."""
        return self.call_with_state(params, state, x, rng, training, sample_mask, mask)

    def __call__(self, inputs):
        """Functional API: records this layer applied to symbolic tensors and returns its symbolic output."""
        if isinstance(inputs, (list, tuple)):
            if not self.takes_list:
                raise TypeError(
                    f"{self.describe()} takes one input tensor, got a list of {len(inputs)}; "
                    "use layers.Concatenate() or layers.Add() to merge tensors first."
                )
            tensors = list(inputs)
            if not all(isinstance(t, SymbolicTensor) for t in tensors):
                raise TypeError(self._array_call_message())
            shape: tuple | list = [t.shape for t in tensors]
        else:
            if self.takes_list:
                raise TypeError(f"{self.describe()} merges several tensors: call it on a list, e.g. layer([a, b]).")
            if not isinstance(inputs, SymbolicTensor):
                raise TypeError(self._array_call_message())
            tensors = [inputs]
            shape = inputs.shape
        if self.input_shape is not None and not self.takes_list:
            if not shapes_compatible(tuple(shape[1:]), self.input_shape):  # a declared None is a free size
                raise ValueError(
                    f"{self.describe()} was declared with input_shape={format_shape(self.input_shape)} but is "
                    f"called on a tensor of shape {format_shape(shape)}."
                )
        out_shape = self.compute_output_shape(shape)
        node = Node(self, tensors, self.takes_list)
        if isinstance(out_shape, list):  # several outputs: one tensor each
            return [SymbolicTensor(s, node, index=i) for i, s in enumerate(out_shape)]
        return SymbolicTensor(out_shape, node)

    # Attributes that only `build` reads: two layers differing in them compute the same `apply`.
    _build_only: tuple[str, ...] = ("name", "input_shape", "kernel_initializer", "bias_initializer")

    def structure_key(self):
        """A hashable description of everything `apply` depends on, or None if some of it is unhashable.

        Models of equal structure share compiled programs (see `funcnet.models._programs`).
        """
        items = []
        for attr, value in sorted(vars(self).items()):
            if attr in self._build_only:
                continue
            try:
                hash(value)
            except TypeError:
                return None
            items.append((attr, value))
        return (type(self), tuple(items))

    # ----------------------------------------------------------------- weights, as Keras's layers
    def get_weights(self) -> list:
        """This layer's weights as numpy arrays in Keras's order (trainable, then non-trainable), read from
        the model holding it (`model.params[layer.name]`): a layer keeps no weights of its own."""
        from funcnet.models import _weights

        return _weights.layer_weights(self)

    def set_weights(self, weights) -> None:
        """Sets this layer's weights in the model holding it, from arrays in `get_weights`' order."""
        from funcnet.models import _weights

        _weights.set_layer_weights(self, weights)

    # ----------------------------------------------------------------- helpers
    def describe(self) -> str:
        return f"{type(self).__name__}" + (f" '{self.name}'" if self.name else "")

    def _array_call_message(self) -> str:
        return (
            f"{self.describe()} was called on a concrete array. funcnet layers are pure: use "
            "layer.apply(params, x) with params = layer.init(key, input_shape), or build a model from "
            "layers.Input(shape=...) tensors."
        )

    def __repr__(self) -> str:
        return f"<{self.describe()}>"


def state_key(key: jax.Array) -> jax.Array:
    """The key of a layer's state, from the key of its params (which it leaves unchanged)."""
    return jax.random.fold_in(key, 1)


class Node:
    """One application of a layer in the functional graph; `id` increases with creation order, which
    is a topological order, since a node's inputs exist before it does."""

    __slots__ = ("layer", "inputs", "is_list", "id")

    def __init__(self, layer: Layer, inputs: list[SymbolicTensor], is_list: bool):
        self.layer = layer
        self.inputs = inputs
        self.is_list = is_list
        self.id = next(_node_ids)


class SymbolicTensor:
    """A placeholder for an array in the functional API: a shape (batch axis `None`) and the node
    that produces it (`index`: which of its outputs, for a layer with several). It holds no data."""

    __slots__ = ("shape", "node", "dtype", "index")

    def __init__(self, shape: tuple, node: Node, dtype: Any = None, index: int | None = None):
        self.shape = tuple(shape)
        self.node = node
        self.dtype = dtype
        self.index = index

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        producer = self.node.layer.describe() if self.node.layer is not None else "Input"
        return f"<SymbolicTensor shape={format_shape(self.shape)} from {producer}>"


class InputLayer(Layer):
    """The source of a functional model's input; made by `layers.Input`, holds no weights."""

    input_shape: tuple  # always given, unlike a Layer's

    def __init__(self, shape: Sequence[int], name: str | None = None, dtype: Any = None):
        super().__init__(name=name, input_shape=shape)
        if self.input_shape is None:
            raise TypeError("Input needs shape=(...), one sample's shape without the batch axis, e.g. (784,).")
        self.dtype = dtype

    def call(self, params, x, rng, training):
        return x

    def get_config(self) -> dict:
        """Keras's InputLayer config: `batch_shape` `[None, *shape]`, `dtype`, `name`."""
        dtype = None if self.dtype is None else str(jnp.dtype(self.dtype))
        return {"batch_shape": [None, *self.input_shape], "dtype": dtype or "float32", "sparse": False,
                "ragged": False, "name": self.name, "optional": False}

    @classmethod
    def from_config(cls, config: dict) -> InputLayer:
        from funcnet.layers._config import layer_kwargs

        config = dict(config)
        shape = config.pop("batch_shape", None) or [None, *(config.pop("shape", None) or ())]
        config.pop("shape", None)
        dtype = config.pop("dtype", None)
        kwargs = layer_kwargs(cls, {k: v for k, v in config.items() if k != "name"}, "InputLayer.from_config")
        # A float32 Input holds floats; Keras writes float32 for inputs that had no dtype, and funcnet's
        # default (None) passes integers through, so only a non-float dtype is kept as a cast.
        keep = None if dtype in (None, "float32") else dtype
        return cls(tuple(shape[1:]), name=config.get("name"), dtype=keep, **kwargs)


def Input(shape: Sequence[int], name: str | None = None, dtype: Any = None) -> SymbolicTensor:  # noqa: N802
    """The symbolic input of a functional model, as `keras.Input`.

    Args:
      shape: one sample's shape, without the batch axis, e.g. `(784,)`.
      name: the input's name (shown by `summary`).
      dtype: inputs are cast to it in `apply`; by default numbers pass through unchanged (integer ids
        stay integers: an `Embedding` needs them exact, and the layers that compute with floats cast
        them) and booleans become float32.
    """
    layer = InputLayer(shape, name=name, dtype=dtype)
    node = Node(layer, [], False)
    return SymbolicTensor((None, *layer.input_shape), node, dtype)
