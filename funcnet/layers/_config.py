"""Layer configs in Keras 3's schema: what `get_config` writes and `from_config` reads.

A layer's config is the dict of its constructor's arguments under Keras's names, with activations by
name, initializers as Keras objects (`{"class_name": "GlorotUniform", "config": {...}}`) and tuples as
lists, plus Keras's `name`, `trainable` and `dtype` (a `DTypePolicy`). Reading a config Keras wrote
accepts Keras's own extra keys at the values funcnet can honour (no regularizers, no constraints, no
quantization, ...) and names the layer and the key for any other, so a model is never silently built
differently from the one saved.

The registry maps Keras class names to funcnet's classes: the built-in layers, and a user's own
`Layer` subclasses passed as `custom_objects`. Nothing else is ever constructed.
"""
from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

import numpy as np

from funcnet import activations as _activations
from funcnet import initializers as _initializers

if TYPE_CHECKING:
    from funcnet.layers._base import Layer

# Keras's config keys that funcnet has no argument for, with the only value it can honour.
_KERAS_DEFAULTS: dict[str, Any] = {
    "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
    "recurrent_regularizer": None, "embeddings_regularizer": None, "beta_regularizer": None,
    "gamma_regularizer": None,
    "kernel_constraint": None, "bias_constraint": None, "recurrent_constraint": None,
    "embeddings_constraint": None, "beta_constraint": None, "gamma_constraint": None,
    "quantization_config": None, "lora_rank": None, "lora_alpha": None,
    "synchronized": False, "renorm": False, "renorm_clipping": None, "rms_scaling": False,
    "sparse": False, "ragged": False, "optional": False, "stateful": False,
}
# Keras's keys that change nothing funcnet computes: random seeds (funcnet's keys decide), a
# BatchNormalization option that only matters with renorm, a dtype policy (see `_dtype_of`).
_IGNORED = {"seed", "renorm_momentum", "dtype", "name", "trainable"}  # trainable: set by the model loader
_CHANNELS_LAST = (None, "channels_last")
# funcnet's constructor arguments that Keras 3's configs do not have.
_FUNCNET_ONLY = {"name", "input_shape", "input_length", "use_cudnn"}


class LayerConfigError(ValueError):
    """A layer config funcnet cannot build exactly."""


def _policy(name: str = "float32") -> dict:
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": name}, "registered_name": None}


def _dtype_of(config: dict) -> str | None:
    """The variable dtype of a Keras `dtype` entry: a policy dict, a name, or None."""
    value = config.get("dtype")
    if isinstance(value, dict):
        value = (value.get("config") or {}).get("name")
    if value is None:
        return None
    value = str(value)
    return "float32" if value.startswith("mixed_") else value  # mixed policies keep float32 variables


def serialize_value(value):
    """A constructor argument as JSON: activations by name, initializers as Keras objects, tuples as lists."""
    if callable(value) and not isinstance(value, type):
        init_config = _initializers.keras_config(value)
        if init_config is not None:
            return {"module": "keras.initializers", **init_config, "registered_name": None}
        name = _activations.name_of(value)
        if _activations._BY_NAME.get(name) is not value:
            raise LayerConfigError(
                f"{value!r} is a function of your own: a saved config can name only built-in activations and "
                "initializers. Give the layer a name such as 'relu' or 'glorot_uniform'."
            )
        return name
    if isinstance(value, tuple):
        return [serialize_value(v) for v in value]
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, np.dtype):
        return str(value)
    return value




def trainable_of(value, what: str) -> bool:
    """A config's `trainable` entry: true or false."""
    if isinstance(value, bool):
        return value
    raise LayerConfigError(f"{what}: 'trainable' must be true or false; got {value!r}.")


def layer_config(layer) -> dict:
    """Keras's `get_config()` of `layer`: its constructor's arguments, `name`, `trainable`, `dtype`."""
    params = inspect.signature(type(layer).__init__).parameters
    config: dict[str, Any] = {"name": layer.name, "trainable": layer.trainable, "dtype": _policy()}
    overrides = layer._config_overrides()
    for name, parameter in params.items():
        if name == "self" or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if name in _FUNCNET_ONLY or name in overrides:
            continue
        if not hasattr(layer, name):
            raise TypeError(
                f"{type(layer).__name__}.get_config: the argument '{name}' is not kept as an attribute of the same "
                "name; override _config_overrides() to give its value."
            )
        value = getattr(layer, name)
        if name == "dtype":
            config["dtype"] = _policy(str(np.dtype(value)) if value is not None else "float32")
            continue
        config[name] = serialize_value(value)
    for name, value in overrides.items():
        config[name] = value
    return config


def layer_kwargs(cls, config: dict, what: str) -> dict:
    """The constructor arguments of `cls` from a Keras config, refusing what funcnet cannot honour."""
    if not isinstance(config, dict):
        raise LayerConfigError(f"{what}: a layer config is a dict; got {type(config).__name__}.")
    params = inspect.signature(cls.__init__).parameters
    kwargs: dict[str, Any] = {}
    for key, value in config.items():
        if key in params and key not in ("self", "dtype"):
            kwargs[key] = value
        elif key == "dtype" and "dtype" in params:
            kwargs["dtype"] = _dtype_of(config)
        elif key == "data_format":
            if value not in _CHANNELS_LAST:
                raise LayerConfigError(f"{what}: data_format={value!r}: funcnet's layers are channels_last only.")
        elif key in _KERAS_DEFAULTS:
            if value != _KERAS_DEFAULTS[key]:
                raise LayerConfigError(
                    f"{what}: {key}={value!r} is not supported by funcnet's {cls.__name__} (only "
                    f"{_KERAS_DEFAULTS[key]!r})."
                )
        elif key not in _IGNORED:
            raise LayerConfigError(f"{what}: funcnet's {cls.__name__} has no argument '{key}' (value {value!r}).")
    if "name" in params and isinstance(config.get("name"), str):
        kwargs["name"] = config["name"]
    return kwargs


def builtin_layers() -> dict[str, type]:
    """Keras class name -> funcnet class, for every built-in layer (Input's `InputLayer` included)."""
    from funcnet import layers

    found = {}
    for name in layers.__all__:
        obj = getattr(layers, name)
        if isinstance(obj, type) and issubclass(obj, layers.Layer) and obj is not layers.Layer:
            found[name] = obj
    return found


def serialize_layer(layer, input_shape=None) -> dict:
    """Keras's full serialization of a layer: `module`, `class_name`, `config`, `registered_name`, and
    `build_config` when the input shape is known."""
    name = type(layer).__name__
    builtin = builtin_layers().get(name) is type(layer)
    out = {
        "module": "keras.layers" if builtin else type(layer).__module__,
        "class_name": name,
        "config": layer.get_config(),
        "registered_name": None if builtin else name,
    }
    if input_shape is not None:
        out["build_config"] = {"input_shape": _shape_json(input_shape)}
    return out


def _shape_json(shape):
    if isinstance(shape, list):
        return [_shape_json(s) for s in shape]
    return [None if d is None else int(d) for d in shape]


def resolve_class(entry: dict, custom_objects: dict | None, what: str) -> type[Layer]:
    """The class a serialized entry names: a built-in layer or one of `custom_objects`, never an import."""
    from funcnet.layers._base import Layer
    if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str):
        raise LayerConfigError(f"{what}: expected a serialized layer with a 'class_name'; got {entry!r:.200}.")
    name = entry["class_name"]
    custom = dict(custom_objects or {})
    registered = entry.get("registered_name")
    for key in (registered, name):
        if key and key in custom:
            cls = custom[key]
            if not (isinstance(cls, type) and issubclass(cls, Layer)):
                raise TypeError(f"{what}: custom_objects[{key!r}] must be a subclass of funcnet.layers.Layer; "
                                f"got {type(cls).__name__} {cls!r:.100}.")
            return cls
    builtin = builtin_layers()
    module = entry.get("module")
    if name in builtin and (module is None or module == "keras.layers" or str(module).startswith("keras.")
                            or str(module).startswith("funcnet.")):
        return builtin[name]
    raise LayerConfigError(
        f"{what}: unknown layer class {name!r} (module {module!r}); funcnet builds only its own layers "
        f"({', '.join(sorted(builtin))}) and the classes passed as custom_objects={{'{name}': TheClass}}. "
        "Nothing named in a file is imported."
    )


def deserialize_layer(entry: dict, custom_objects: dict | None = None, what: str = "layer"):
    """The layer of a serialized entry (`serialize_layer`'s or Keras's)."""
    cls = resolve_class(entry, custom_objects, what)
    config = entry.get("config")
    if not isinstance(config, dict):
        raise LayerConfigError(f"{what}: the entry of {entry['class_name']!r} has no 'config' dict.")
    try:
        return cls.from_config(config)
    except LayerConfigError:
        raise
    except (TypeError, ValueError) as err:
        raise LayerConfigError(f"{what}: {entry['class_name']} cannot be built from its config: {err}") from None
