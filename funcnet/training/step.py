"""The pure train and eval steps: forward, loss, gradient, optimizer update and metrics.

A batch comes with a `weight` per sample: 1 for a real sample, 0 for the padding that fills the last
batch of an epoch to the full batch size (times the user's sample weights, if any). The loss is
`sum(weight * loss) / sum(valid)`, Keras's "sum over batch size", so a padded batch trains exactly
like the short one it stands for, and every batch has one shape: one compiled program per epoch.
The padding never enters batch statistics either: the model gets `sample_mask = weight > 0`.

A model with non-trainable state (BatchNormalization) is trained through its `apply_with_state`
(`with_state=True`): the gradient is taken with respect to the params only, and the new state comes out
of the same step, in `TrainState.model_state`.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import optax

from funcnet import mixed_precision
from funcnet.training.state import TrainState

LossFn = Callable[[jax.Array, jax.Array], jax.Array]


def per_sample(loss_values: jax.Array) -> jax.Array:
    """Reduces a loss's output `[batch, ...]` to one value per sample `[batch]` (mean over the rest)."""
    if loss_values.ndim == 0:
        raise ValueError(
            "the loss returned a scalar; fit needs one value per sample, shape [batch]. Pass a per-sample "
            "function such as losses.mean_squared_error, or a losses.Loss object (its call is per-sample)."
        )
    if loss_values.ndim == 1:
        return loss_values
    return loss_values.reshape(loss_values.shape[0], -1).mean(axis=1)


def weighted_loss(loss_fn: LossFn, y_true, y_pred, weight: jax.Array, count: jax.Array):
    """(batch loss, sum of weighted per-sample losses): `sum(w * l) / count` and `sum(w * l)`."""
    values = per_sample(loss_fn(y_true, y_pred)).astype(jnp.float32)
    total = jnp.sum(values * weight)
    return total / jnp.maximum(count, 1.0), total


def with_state_form(apply_fn, with_state: bool):
    """`apply_fn` as `(params, model_state, x, *, rng, training, sample_mask) -> (y, model_state)`.

    A stateless `apply(params, x, rng=..., training=...)` gets the state back unchanged (`{}`): one form
    for every step, and nothing in the compiled program for models without state.
    """
    if with_state:
        return apply_fn

    def apply(params, model_state, x, *, rng=None, training=False, sample_mask=None):
        del sample_mask
        y = apply_fn(params, x, rng=rng, training=True) if training else apply_fn(params, x, training=False)
        return y, model_state

    return apply


def forward_fn(apply_fn, policy: mixed_precision.Policy, with_state: bool):
    """The model's forward pass in the with-state form, under `policy`: params and inputs cast to the
    compute dtype, outputs to the output dtype; the state is never cast (it stays float32)."""
    apply = with_state_form(apply_fn, with_state)
    if not policy.is_mixed and policy.output_dtype == policy.compute_dtype:
        return apply

    def forward(params, model_state, x, **kwargs):
        y, model_state = apply(policy.cast_to_compute(params), model_state, policy.cast_to_compute(x), **kwargs)
        return policy.cast_to_output(y), model_state

    return forward


def make_train_step(apply_fn, loss_fn: LossFn, optimizer: optax.GradientTransformation, metrics: Sequence = (),
                    *, policy=None, with_state: bool = False):
    """Builds `step(state, metric_states, x, y, weight, valid, rng=None) -> (state, metric_states, loss_total)`.

    Args:
      apply_fn: `apply(params, x, rng=..., training=True) -> y_pred`, e.g. `model.apply`; with
        `with_state=True`, `apply_with_state(params, model_state, x, rng=..., training=True, sample_mask=...)
        -> (y_pred, model_state)`, e.g. `model.apply_with_state`.
      loss_fn: per-sample loss `(y_true, y_pred) -> [batch, ...]`, e.g. `losses.categorical_crossentropy`.
      optimizer: any optax gradient transformation.
      metrics: streaming metrics (`init / update / result`), updated with the batch's predictions
        before the update, as Keras reports training metrics.
      policy: a `mixed_precision.Policy` or its name (default float32). A mixed policy runs the forward
        and backward pass on params and inputs cast to its compute dtype, and the loss in float32; the
        gradients and the update stay in the params' dtype, the model state in float32. With loss
        scaling the optimizer must be wrapped in `mixed_precision.loss_scaling` (`model.compile` does this).
      with_state: train a model with non-trainable state, carried in `state.model_state`.

    The returned step is pure; `jax.jit` it, or run it inside `lax.scan` (see `make_train_epoch`).
    `weight` is `[batch]` (zeros mark padding), `valid` the number of real samples in the batch, and
    `rng` the key of the stochastic layers (Dropout): `fit` gives step `i` of epoch `e`
    `training.step_key(state.rng, e, i)`. Without one, a model with stochastic layers raises.
    """
    metrics = tuple(metrics)
    policy = mixed_precision.get(policy)
    forward = forward_fn(apply_fn, policy, with_state)

    def step(state: TrainState, metric_states, x, y, weight, valid, rng=None):
        scale: float | jax.Array = 1.0
        if policy.loss_scale:
            if not isinstance(state.opt_state, mixed_precision.LossScaleState):
                raise ValueError(
                    f"dtype policy {policy.name!r} scales the loss: wrap the optimizer in "
                    "mixed_precision.loss_scaling(optimizer) (model.compile does this for you)."
                )
            scale = state.opt_state.scale
        sample_mask = weight > 0

        def objective(params):
            y_pred, model_state = forward(params, state.model_state, x, rng=rng, training=True, sample_mask=sample_mask)
            mean, total = weighted_loss(loss_fn, y, y_pred, weight, valid)
            return mean * scale, (y_pred, total, model_state)

        (_, (y_pred, total, model_state)), grads = jax.value_and_grad(objective, has_aux=True)(state.params)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        metric_states = tuple(
            m.update(s, y, jax.lax.stop_gradient(y_pred), sample_weight=weight) for m, s in zip(metrics, metric_states)
        )
        new_state = state._replace(params=params, opt_state=opt_state, step=state.step + 1,
                                   model_state=jax.lax.stop_gradient(model_state))
        return new_state, metric_states, total

    return step


def make_eval_step(apply_fn, loss_fn: LossFn | None, metrics: Sequence = (), *, policy=None, with_state: bool = False):
    """Builds `step(params, metric_states, x, y, weight, valid, model_state=None) -> (metric_states, loss_total)`.

    Inference mode (`training=False`): the state is read, never updated.
    """
    metrics = tuple(metrics)
    forward = forward_fn(apply_fn, mixed_precision.get(policy), with_state)

    def step(params, metric_states, x, y, weight, valid, model_state=None):
        y_pred, _ = forward(params, {} if model_state is None else model_state, x, training=False)
        total = weighted_loss(loss_fn, y, y_pred, weight, valid)[1] if loss_fn is not None else jnp.zeros([])
        metric_states = tuple(m.update(s, y, y_pred, sample_weight=weight) for m, s in zip(metrics, metric_states))
        return metric_states, total

    return step
