"""Optimizers: hand-written gradient transformations in optax's `(init, update)` protocol.

Named optimizers (`sgd`, `rmsprop`, `adagrad`, `adam`) follow Keras 3's update rules and defaults
and are chains of the atomic transformations below, so they compose with optax:

    >>> import optax
    >>> from funcnet import optimizers
    >>> optimizer = optax.chain(optax.clip_by_global_norm(1.0), optimizers.rmsprop(1e-3))
    >>> isinstance(optimizer, optax.GradientTransformation)
    True
"""
from funcnet.optimizers._aliases import adagrad, adam, rmsprop, sgd
from funcnet.optimizers._registry import get, names
from funcnet.optimizers._transforms import (
    InjectLearningRateState,
    ScaleByAdamState,
    ScaleByLearningRateState,
    ScaleByRmsState,
    ScaleBySumOfSquaresState,
    TraceState,
    freeze,
    inject_learning_rate,
    scale_by_adam,
    scale_by_learning_rate,
    scale_by_rms,
    scale_by_sum_of_squares,
    trace,
)

__all__ = [
    "ScaleByAdamState",
    "freeze",
    "InjectLearningRateState",
    "inject_learning_rate",
    "ScaleByLearningRateState",
    "ScaleByRmsState",
    "ScaleBySumOfSquaresState",
    "TraceState",
    "adagrad",
    "adam",
    "get",
    "names",
    "rmsprop",
    "scale_by_adam",
    "scale_by_learning_rate",
    "scale_by_rms",
    "scale_by_sum_of_squares",
    "sgd",
    "trace",
]
