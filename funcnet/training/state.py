"""`TrainState`: everything a training run carries from step to step, as one pytree."""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax


class TrainState(NamedTuple):
    """The whole state of a run: what a checkpoint holds and what an exact resume needs.

    Attributes:
      params: the model's params pytree.
      opt_state: the optimizer's state for those params.
      step: the number of optimizer steps taken, an int32 scalar on the device.
      rng: the run's base PRNG key. Randomness is derived from it and the step or epoch number
        (`fold_in`), never split and carried, so it never has to change and any step can be replayed.
    """

    params: Any
    opt_state: optax.OptState
    step: jax.Array
    rng: jax.Array

    @classmethod
    def create(cls, params, optimizer: optax.GradientTransformation, rng: jax.Array) -> "TrainState":
        """A fresh state: `optimizer.init(params)` and step 0."""
        return cls(params=params, opt_state=optimizer.init(params), step=jnp.zeros([], jnp.int32), rng=rng)


# Independent random streams derived from TrainState.rng.
SHUFFLE_STREAM = 0
DROPOUT_STREAM = 1


def stream_key(rng: jax.Array, stream: int, index) -> jax.Array:
    """The key for item `index` (an epoch or a step) of one random stream of the run."""
    return jax.random.fold_in(jax.random.fold_in(rng, stream), index)
