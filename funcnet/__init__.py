"""funcnet: deep learning the JAX way.

Models are pure functions over parameter pytrees::

    params = model.init(jax.random.key(0))
    y = model.apply(params, x)
"""
from funcnet import (
    activations,
    callbacks,
    checkpoints,
    datasets,
    initializers,
    layers,
    losses,
    metrics,
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
    "initializers",
    "layers",
    "losses",
    "metrics",
    "models",
    "optimizers",
    "training",
    "utils",
    "__version__",
]
