"""The pure train and eval steps: forward, loss, gradient, optimizer update and metrics.

A batch comes with a `weight` per sample: 1 for a real sample, 0 for the padding that fills the last
batch of an epoch to the full batch size (times the user's sample weights, if any). The loss is
`sum(weight * loss) / sum(valid)`, Keras's "sum over batch size", so a padded batch trains exactly
like the short one it stands for, and every batch has one shape: one compiled program per epoch.
"""
from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import optax

from funcnet import mixed_precision
from funcnet.training.state import DROPOUT_STREAM, TrainState, stream_key

LossFn = Callable[[jax.Array, jax.Array], jax.Array]


def per_sample(loss_values: jax.Array) -> jax.Array:
    """Reduces a loss's output `[batch, ...]` to one value per sample `[batch]` (mean over the rest)."""
    if loss_values.ndim == 1:
        return loss_values
    return loss_values.reshape(loss_values.shape[0], -1).mean(axis=1)


def weighted_loss(loss_fn: LossFn, y_true, y_pred, weight: jax.Array, count: jax.Array):
    """(batch loss, sum of weighted per-sample losses): `sum(w * l) / count` and `sum(w * l)`."""
    values = per_sample(loss_fn(y_true, y_pred)).astype(jnp.float32)
    total = jnp.sum(values * weight)
    return total / jnp.maximum(count, 1.0), total


def make_train_step(apply_fn, loss_fn: LossFn, optimizer: optax.GradientTransformation, metrics: Sequence = (),
                    *, policy=None):
    """Builds `step(state, metric_states, x, y, weight, valid) -> (state, metric_states, loss_total)`.

    Args:
      apply_fn: `apply(params, x, rng=..., training=True) -> y_pred`, e.g. `model.apply`.
      loss_fn: per-sample loss `(y_true, y_pred) -> [batch, ...]`, e.g. `losses.categorical_crossentropy`.
      optimizer: any optax gradient transformation.
      metrics: streaming metrics (`init / update / result`), updated with the batch's predictions
        before the update, as Keras reports training metrics.
      policy: a `mixed_precision.Policy` or its name (default float32). A mixed policy runs the forward
        and backward pass on params and inputs cast to its compute dtype, and the loss in float32; the
        gradients and the update stay in the params' dtype. With loss scaling the optimizer must be
        wrapped in `mixed_precision.loss_scaling` (`model.compile` does this).

    The returned step is pure; `jax.jit` it, or run it inside `lax.scan` (see `make_train_epoch`).
    `weight` is `[batch]` (zeros mark padding), `valid` the number of real samples in the batch, and
    `rng` the key for stochastic layers (default: derived from `state.rng` and `state.step`).
    """
    metrics = tuple(metrics)
    policy = mixed_precision.get(policy)
    forward = _forward(apply_fn, policy)

    def step(state: TrainState, metric_states, x, y, weight, valid, rng=None):
        if rng is None:
            rng = stream_key(state.rng, DROPOUT_STREAM, state.step)
        scale = 1.0
        if policy.loss_scale:
            if not isinstance(state.opt_state, mixed_precision.LossScaleState):
                raise ValueError(
                    f"dtype policy {policy.name!r} scales the loss: wrap the optimizer in "
                    "mixed_precision.loss_scaling(optimizer) (model.compile does this for you)."
                )
            scale = state.opt_state.scale

        def objective(params):
            y_pred = forward(params, x, rng=rng, training=True)
            mean, total = weighted_loss(loss_fn, y, y_pred, weight, valid)
            return mean * scale, (y_pred, total)

        (_, (y_pred, total)), grads = jax.value_and_grad(objective, has_aux=True)(state.params)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        metric_states = tuple(
            m.update(s, y, jax.lax.stop_gradient(y_pred), sample_weight=weight) for m, s in zip(metrics, metric_states)
        )
        new_state = TrainState(params=params, opt_state=opt_state, step=state.step + 1, rng=state.rng)
        return new_state, metric_states, total

    return step


def make_eval_step(apply_fn, loss_fn: LossFn | None, metrics: Sequence = (), *, policy=None):
    """Builds `step(params, metric_states, x, y, weight, valid) -> (metric_states, loss_total)` (no update)."""
    metrics = tuple(metrics)
    forward = _forward(apply_fn, mixed_precision.get(policy))

    def step(params, metric_states, x, y, weight, valid):
        y_pred = forward(params, x, training=False)
        total = weighted_loss(loss_fn, y, y_pred, weight, valid)[1] if loss_fn is not None else jnp.zeros([])
        metric_states = tuple(m.update(s, y, y_pred, sample_weight=weight) for m, s in zip(metrics, metric_states))
        return metric_states, total

    return step


def _forward(apply_fn, policy: mixed_precision.Policy):
    """`apply_fn` under `policy`: params and inputs cast to the compute dtype, outputs to the output dtype."""
    if not policy.is_mixed and policy.output_dtype == policy.compute_dtype:
        return apply_fn

    def forward(params, x, **kwargs):
        y = apply_fn(policy.cast_to_compute(params), policy.cast_to_compute(x), **kwargs)
        return policy.cast_to_output(y)

    return forward
