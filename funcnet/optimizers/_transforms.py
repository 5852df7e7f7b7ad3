"""The atomic gradient transformations funcnet's optimizers are built from.

Each is an `optax.GradientTransformation`: `init(params) -> state` and
`update(updates, state, params=None) -> (updates, state)`, with its own NamedTuple state whose
leaves keep the dtype of the params (float32 or bfloat16) and a device-side int32 step count where
one is needed. They are written to follow Keras 3's update rules to the rounding, and chain with
each other and with any optax transformation.

Notation: `g` is the incoming update (the gradient at the head of a chain), `t` the step, counted from 1.
"""
from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

Schedule = Callable[[jax.Array], jax.Array]
ScalarOrSchedule = float | Schedule


def _is_scalar_array(value) -> bool:
    """A scalar array, as `optax.inject_hyperparams` passes hyper-parameters (possibly traced)."""
    return (isinstance(value, (jax.Array, np.ndarray)) and value.shape == ()
            and jnp.issubdtype(value.dtype, jnp.floating))


def _check_rate(value, what: str, low: float = 0.0, high: float | None = None, include_high: bool = False):
    """A hyper-parameter in range; scalar arrays (from `optax.inject_hyperparams`) pass unchecked."""
    if _is_scalar_array(value):
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a real number; got {type(value).__name__} {value!r}.")
    value = float(value)
    above = value >= low
    below = high is None or (value <= high if include_high else value < high)
    if not (above and below):
        bound = f"[{low}, {high}{']' if include_high else ')'}" if high is not None else f">= {low}"
        raise ValueError(f"{what} must be in {bound}; got {value}.")
    return value


def check_learning_rate(learning_rate, what: str = "learning_rate") -> ScalarOrSchedule:
    """A non-negative float, or a schedule `step -> rate` (e.g. from `optax.exponential_decay`)."""
    if callable(learning_rate) or _is_scalar_array(learning_rate):
        return learning_rate
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, numbers.Real):
        raise TypeError(
            f"{what} must be a float or a schedule step -> rate (e.g. optax.exponential_decay(...)); "
            f"got {type(learning_rate).__name__} {learning_rate!r}."
        )
    return _check_rate(learning_rate, what)


class ScaleByLearningRateState(NamedTuple):
    """`count`: the number of updates made so far (a schedule's argument)."""

    # optax's own field name (ScaleByScheduleState.count), so optax.tree_utils.tree_get(state, "count")
    # finds the step count in funcnet's states as in optax's; it shadows tuple.count, as in optax.
    count: jax.Array  # type: ignore[assignment]


def scale_by_learning_rate(learning_rate: ScalarOrSchedule) -> optax.GradientTransformation:
    """`u = -lr * g`, with `lr` a float or `lr = schedule(count)`, `count` starting at 0 (as Keras's
    `optimizer.iterations`). The sign makes the result an update to add to the params."""
    learning_rate = check_learning_rate(learning_rate)

    def init(params):
        del params
        return ScaleByLearningRateState(count=jnp.zeros([], jnp.int32))

    def update(updates, state, params=None):
        del params
        lr = learning_rate(state.count) if callable(learning_rate) else learning_rate
        updates = jax.tree.map(lambda g: -jnp.asarray(lr, g.dtype) * g, updates)
        return updates, ScaleByLearningRateState(count=optax.safe_increment(state.count))

    return optax.GradientTransformation(init, update)


class TraceState(NamedTuple):
    """`trace`: the running sum `m` of past updates, decayed by `momentum`."""

    trace: optax.Updates


def trace(momentum: float, nesterov: bool = False) -> optax.GradientTransformation:
    """Momentum, "a ball rolling down the loss curve":

        m_t = momentum * m_{t-1} + g_t
        u_t = m_t                           (heavy ball)
        u_t = momentum * m_t + g_t          (Nesterov)

    Placed after `scale_by_learning_rate` (so `g_t = -lr_t * grad_t`) this is Keras's SGD momentum
    exactly, schedules included.
    """
    momentum = _check_rate(momentum, "momentum", 0.0, 1.0, include_high=True)

    def init(params):
        return TraceState(trace=jax.tree.map(jnp.zeros_like, params))

    def update(updates, state, params=None):
        del params
        m = jax.tree.map(lambda g, t: momentum * t + g, updates, state.trace)
        if nesterov:
            updates = jax.tree.map(lambda g, t: momentum * t + g, updates, m)
        else:
            updates = m
        return updates, TraceState(trace=m)

    return optax.GradientTransformation(init, update)


class ScaleByRmsState(NamedTuple):
    """`nu`: moving average of `g**2`; `mu`: moving average of `g` (centered variant), else None."""

    nu: optax.Updates
    mu: optax.Updates | None


def scale_by_rms(rho: float = 0.9, epsilon: float = 1e-7, centered: bool = False) -> optax.GradientTransformation:
    """RMSprop's scaling (Hinton, 2012), as Keras 3 computes it:

        nu_t = rho * nu_{t-1} + (1 - rho) * g_t**2
        mu_t = rho * mu_{t-1} + (1 - rho) * g_t                (centered only)
        u_t  = g_t / sqrt(nu_t + epsilon)                      (plain)
        u_t  = g_t / sqrt(nu_t - mu_t**2 + epsilon)            (centered)

    `epsilon` sits inside the square root, as in Keras 3 and optax. Both moments start at zero.
    """
    rho = _check_rate(rho, "rho", 0.0, 1.0)
    epsilon = _check_rate(epsilon, "epsilon")

    def init(params):
        zeros = jax.tree.map(jnp.zeros_like, params)
        return ScaleByRmsState(nu=zeros, mu=jax.tree.map(jnp.zeros_like, params) if centered else None)

    def update(updates, state, params=None):
        del params
        nu = jax.tree.map(lambda g, n: rho * n + (1 - rho) * jnp.square(g), updates, state.nu)
        if centered:
            mu = jax.tree.map(lambda g, m: rho * m + (1 - rho) * g, updates, state.mu)
            denominator = jax.tree.map(lambda n, m: n - jnp.square(m) + epsilon, nu, mu)
        else:
            mu = None
            denominator = jax.tree.map(lambda n: n + epsilon, nu)
        updates = jax.tree.map(lambda g, d: g / jnp.sqrt(d), updates, denominator)
        return updates, ScaleByRmsState(nu=nu, mu=mu)

    return optax.GradientTransformation(init, update)


class ScaleBySumOfSquaresState(NamedTuple):
    """`sum_of_squares`: the accumulated `g**2`, starting at `initial_accumulator_value`."""

    sum_of_squares: optax.Updates


def scale_by_sum_of_squares(
    initial_accumulator_value: float = 0.1, epsilon: float = 1e-7
) -> optax.GradientTransformation:
    """Adagrad's scaling (Duchi et al., 2011):

        s_t = s_{t-1} + g_t**2,   s_0 = initial_accumulator_value
        u_t = g_t / sqrt(s_t + epsilon)
    """
    initial = _check_rate(initial_accumulator_value, "initial_accumulator_value")
    epsilon = _check_rate(epsilon, "epsilon")

    def init(params):
        return ScaleBySumOfSquaresState(sum_of_squares=jax.tree.map(lambda p: jnp.full_like(p, initial), params))

    def update(updates, state, params=None):
        del params
        s = jax.tree.map(lambda g, a: a + jnp.square(g), updates, state.sum_of_squares)
        updates = jax.tree.map(lambda g, a: g / jnp.sqrt(a + epsilon), updates, s)
        return updates, ScaleBySumOfSquaresState(sum_of_squares=s)

    return optax.GradientTransformation(init, update)


class ScaleByAdamState(NamedTuple):
    """`count`: steps taken; `mu`, `nu`: first and second moments; `nu_max`: running max of `nu`
    (AMSGrad only, else None)."""

    count: jax.Array  # type: ignore[assignment]  # optax's field name, as in ScaleByLearningRateState
    mu: optax.Updates
    nu: optax.Updates
    nu_max: optax.Updates | None


def scale_by_adam(
    beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7, amsgrad: bool = False
) -> optax.GradientTransformation:
    """Adam's scaling (Kingma & Ba, 2015) in Keras 3's form, bias correction folded into the step:

        mu_t = mu_{t-1} + (1 - beta_1) * (g_t - mu_{t-1})
        nu_t = nu_{t-1} + (1 - beta_2) * (g_t**2 - nu_{t-1})
        u_t  = mu_t * sqrt(1 - beta_2**t) / (1 - beta_1**t) / (sqrt(v_t) + epsilon)

    with `v_t = nu_t`, or for AMSGrad the running maximum `v_t = max(v_{t-1}, nu_t)` (kept as `nu_max`;
    `nu` itself is stored without the maximum, as in Keras).

    This is the paper's "epsilon hat" variant: `epsilon` is not bias-corrected, so it differs from
    `optax.adam`'s `mu_hat / (sqrt(nu_hat) + eps)` by how much `epsilon` weighs in early steps.
    """
    beta_1 = _check_rate(beta_1, "beta_1", 0.0, 1.0)
    beta_2 = _check_rate(beta_2, "beta_2", 0.0, 1.0)
    epsilon = _check_rate(epsilon, "epsilon")

    def init(params):
        zeros = lambda: jax.tree.map(jnp.zeros_like, params)  # noqa: E731
        return ScaleByAdamState(
            count=jnp.zeros([], jnp.int32), mu=zeros(), nu=zeros(), nu_max=zeros() if amsgrad else None
        )

    def update(updates, state, params=None):
        del params
        count = optax.safe_increment(state.count)
        t = count.astype(jnp.float32)
        correction = jnp.sqrt(1 - beta_2**t) / (1 - beta_1**t)
        mu = jax.tree.map(lambda g, m: m + (1 - beta_1) * (g - m), updates, state.mu)
        nu = jax.tree.map(lambda g, v: v + (1 - beta_2) * (jnp.square(g) - v), updates, state.nu)
        nu_max = jax.tree.map(jnp.maximum, state.nu_max, nu) if amsgrad else None
        denominator_source = nu_max if amsgrad else nu
        updates = jax.tree.map(
            lambda m, v: m * correction.astype(m.dtype) / (jnp.sqrt(v) + epsilon), mu, denominator_source
        )
        return updates, ScaleByAdamState(count=count, mu=mu, nu=nu, nu_max=nu_max)

    return optax.GradientTransformation(init, update)


def is_frozen(path, frozen_paths) -> bool:
    """Whether a params key path (a tuple of keys, or a `jax.tree_util` key path) lies under one of
    `frozen_paths` (key-path prefixes such as `("base", "dense")`)."""
    keys = tuple(getattr(k, "key", getattr(k, "idx", k)) for k in path)
    return any(keys[:len(f)] == tuple(f) for f in frozen_paths)


def freeze(inner: optax.GradientTransformation, frozen_paths) -> optax.GradientTransformation:
    """`inner` on every param but those under `frozen_paths` (key paths into the params dict, such as
    `("base", "dense")`), whose updates are zero: `fit` leaves them unchanged, and `inner` keeps no state
    for them (an `optax.MaskedNode` stands in their place, as in `optax.masked`).

    Unlike `optax.masked`, whose unmasked leaves pass their gradients through as updates, a frozen leaf's
    update is 0, so `optax.apply_updates` leaves it as it was; its gradient is then unused and XLA
    drops its computation.

        >>> import jax.numpy as jnp
        >>> from funcnet import optimizers
        >>> tx = optimizers.freeze(optimizers.sgd(0.1), [("base",)])
        >>> params = {"base": {"kernel": jnp.ones(2)}, "head": {"kernel": jnp.ones(2)}}
        >>> updates, state = tx.update(params, tx.init(params), params)
        >>> updates["base"]["kernel"].tolist(), updates["head"]["kernel"].tolist()
        ([0.0, 0.0], [-0.10000000149011612, -0.10000000149011612])
    """
    frozen = tuple(tuple(path) for path in frozen_paths)

    def trainable_part(tree):
        return jax.tree_util.tree_map_with_path(lambda p, x: optax.MaskedNode() if is_frozen(p, frozen) else x, tree)

    def init_fn(params):
        return inner.init(trainable_part(params))

    def update_fn(updates, state, params=None):
        inner_updates, state = inner.update(trainable_part(updates), state,
                                            None if params is None else trainable_part(params))
        # The masked tree's leaves are the trainable ones, in the full tree's order.
        trained = iter(jax.tree.leaves(inner_updates))
        leaves, treedef = jax.tree_util.tree_flatten_with_path(updates)
        merged = [jnp.zeros_like(u) if is_frozen(p, frozen) else next(trained) for p, u in leaves]
        return jax.tree_util.tree_unflatten(treedef, merged), state

    return optax.GradientTransformation(init_fn, update_fn)


class InjectLearningRateState(NamedTuple):
    """`inject_learning_rate`: the rate (a float32 scalar, data of the compiled program) and the state of
    the optimizer it feeds."""

    learning_rate: jax.Array
    inner_state: optax.OptState


def _injected_rate(path, value) -> bool:
    return getattr(path[-1], "tuple_name", None) == InjectLearningRateState.__name__


def injected_learning_rate(opt_state):
    """The rate `inject_learning_rate` keeps in `opt_state`, wherever it is nested (under a loss-scaling or
    freezing wrapper's state), or None when the state has none (an optax chain, a schedule)."""
    found = optax.tree_utils.tree_get_all_with_path(opt_state, "learning_rate", filtering=_injected_rate)
    return found[0][1] if found else None


def with_injected_learning_rate(opt_state, learning_rate):
    """`opt_state` with the injected rate set to `learning_rate` (a float32 scalar), wherever it is nested."""
    return optax.tree_utils.tree_set(opt_state, _injected_rate, learning_rate=jnp.asarray(learning_rate, jnp.float32))


def inject_learning_rate(factory: Callable[..., optax.GradientTransformation], learning_rate: float,
                         **kwargs) -> optax.GradientTransformation:
    """`factory(learning_rate=..., **kwargs)` with its rate kept in the state, as optax's
    `inject_hyperparams` does for any hyper-parameter: each update calls `factory` with the state's rate
    (a traced scalar), so setting `state.learning_rate` between steps changes the rate without a new
    compile. This is how `fit` runs a named optimizer, and what `model.optimizer.learning_rate = ...`
    and the learning-rate callbacks set.

        >>> import jax.numpy as jnp
        >>> from funcnet import optimizers
        >>> tx = optimizers.inject_learning_rate(optimizers.sgd, 0.1)
        >>> params = {"w": jnp.ones(2)}
        >>> state = tx.init(params)
        >>> state = state._replace(learning_rate=jnp.asarray(0.5, jnp.float32))
        >>> tx.update(params, state, params)[0]["w"].tolist()
        [-0.5, -0.5]
    """
    rate = _check_rate(learning_rate, "learning_rate")

    def init_fn(params):
        inner = factory(learning_rate=rate, **kwargs)
        return InjectLearningRateState(jnp.asarray(rate, jnp.float32), inner.init(params))

    def update_fn(updates, state, params=None):
        inner = factory(learning_rate=state.learning_rate, **kwargs)
        updates, inner_state = inner.update(updates, state.inner_state, params)
        return updates, InjectLearningRateState(state.learning_rate, inner_state)

    return optax.GradientTransformation(init_fn, update_fn)
