"""funcnet: deep learning the JAX way.

Models are pure functions over parameter pytrees:

    >>> import jax, jax.numpy as jnp
    >>> from funcnet import layers, models
    >>> model = models.Sequential([layers.Dense(10, activation="softmax", input_shape=(784,))])
    >>> params = model.init(jax.random.key(0))
    >>> jax.tree.map(jnp.shape, params)
    {'dense': {'bias': (10,), 'kernel': (784, 10)}}
    >>> y = model.apply(params, jnp.zeros((2, 784)))
    >>> y.shape
    (2, 10)
"""
from funcnet import _compile_cache

_compile_cache.enable()  # JAX's persistent compilation cache, unless configured or turned off (see there)

from funcnet import (  # noqa: E402
    activations,
    callbacks,
    checkpoints,
    datasets,
    distribution,
    initializers,
    layers,
    losses,
    metrics,
    mixed_precision,
    models,
    optimizers,
    training,
    utils,
)

__version__ = "0.1.0"

__all__ = [
    "activations",
    "callbacks",
    "checkpoints",
    "datasets",
    "distribution",
    "initializers",
    "layers",
    "losses",
    "metrics",
    "mixed_precision",
    "models",
    "optimizers",
    "training",
    "utils",
    "__version__",
]
