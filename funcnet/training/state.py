"""`TrainState`: everything a training run carries from step to step, as one pytree."""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax


class TrainState(NamedTuple):
    """The whole state of a run: what a checkpoint holds and what an exact resume needs.

    Attributes:
      params: the model's params pytree (what the optimizer updates).
      opt_state: the optimizer's state for those params.
      step: the number of optimizer steps taken, an int32 scalar on the device.
      rng: the run's base PRNG key. Randomness is derived from it and the step or epoch number
        (`fold_in`), never split and carried, so it never has to change and any step can be replayed.
      model_state: the model's non-trainable state (`model.init_with_state(key)[1]`: BatchNormalization's
        moving statistics), updated by every training step without gradients; `{}` for most models.
    """

    params: Any
    opt_state: optax.OptState
    step: jax.Array
    rng: jax.Array
    model_state: Any = {}

    @classmethod
    def create(cls, params, optimizer: optax.GradientTransformation, rng: jax.Array, model_state=None) -> TrainState:
        """A fresh state: `optimizer.init(params)` and step 0 (the optimizer never sees `model_state`)."""
        return cls(params=params, opt_state=optimizer.init(params), step=jnp.zeros([], jnp.int32), rng=rng,
                   model_state={} if model_state is None else model_state)


# Independent random streams derived from TrainState.rng.
SHUFFLE_STREAM = 0
DROPOUT_STREAM = 1


def stream_key(rng: jax.Array, stream: int, index) -> jax.Array:
    """The key for item `index` (an epoch or a step) of one random stream of the run."""
    return jax.random.fold_in(jax.random.fold_in(rng, stream), index)


def shuffle_key(rng: jax.Array, epoch) -> jax.Array:
    """The key of epoch `epoch`'s order in `fit` and `make_train_epoch`: `batch_plan(n, batch_size, key)`."""
    return stream_key(rng, SHUFFLE_STREAM, epoch)


def step_key(rng: jax.Array, epoch, step) -> jax.Array:
    """The key `fit` gives the stochastic layers (Dropout) at step `step` of epoch `epoch` (both from 0).

    With `shuffle_key` it is all a hand-written loop over `make_train_step` needs to train as `fit` does.
    """
    return jax.random.fold_in(stream_key(rng, DROPOUT_STREAM, epoch), step)
