"""The named optimizers, each a chain of the atomic transformations, with Keras 3's defaults.

Their parameter trajectories follow `keras.optimizers.<Name>` with the same hyper-parameters.
Use them as any optax optimizer:

    >>> import jax.numpy as jnp, optax
    >>> from funcnet import optimizers
    >>> params = {"w": jnp.array([1.0, -2.0])}
    >>> grads = {"w": jnp.array([0.5, 0.5])}
    >>> optimizer = optimizers.rmsprop(1e-3)
    >>> opt_state = optimizer.init(params)
    >>> updates, opt_state = optimizer.update(grads, opt_state, params)
    >>> params = optax.apply_updates(params, updates)
    >>> params["w"].shape
    (2,)
"""
from __future__ import annotations

from collections.abc import Callable

import optax

from funcnet.optimizers._transforms import (
    ScalarOrSchedule,
    _check_rate,
    scale_by_adam,
    scale_by_learning_rate,
    scale_by_rms,
    scale_by_sum_of_squares,
    trace,
)

# The Keras optimizer each alias call stands for: `id(transformation) -> (transformation, class name,
# hyper-parameters)`, read by `keras_config` when a model is saved. The transformation is kept so its
# id stays its own.
_KERAS: dict[int, tuple] = {}


def _described(tx: optax.GradientTransformation, class_name: str, **config) -> optax.GradientTransformation:
    _KERAS[id(tx)] = (tx, class_name, config)
    return tx


def keras_config(tx) -> tuple[str, dict] | None:
    """`(Keras class name, hyper-parameters)` of a transformation made by `sgd`, `rmsprop`, `adagrad` or
    `adam` with a constant learning rate, else None (an optax chain, a schedule: Keras cannot name it)."""
    entry = _KERAS.get(id(tx))
    if entry is None or entry[0] is not tx:
        return None
    _, class_name, config = entry
    if not all(isinstance(v, (int, float, bool)) for v in config.values()):
        return None
    return class_name, dict(config)


def recipe(tx) -> tuple[Callable[..., optax.GradientTransformation], dict] | None:
    """`(factory, keyword arguments)` that made `tx` (`rmsprop`, `{"learning_rate": 1e-3, ...}`), or None for a
    transformation no alias made: `models.fit_many` rebuilds members' optimizers from it with their
    differing hyper-parameters as data."""
    entry = _KERAS.get(id(tx))
    if entry is None or entry[0] is not tx:
        return None
    _, class_name, config = entry
    return _FACTORIES[class_name], dict(config)


def _is_zero(momentum) -> bool:
    # A momentum given as an array (optax.inject_hyperparams) may change later: keep its trace.
    return isinstance(momentum, float) and momentum == 0.0


def sgd(learning_rate: ScalarOrSchedule = 0.01, momentum: float = 0.0,
        nesterov: bool = False) -> optax.GradientTransformation:
    """Stochastic gradient descent, with optional (Nesterov) momentum, as `keras.optimizers.SGD`.

        m_t = momentum * m_{t-1} - lr_t * grad_t
        w_t = w_{t-1} + m_t                                  (momentum)
        w_t = w_{t-1} + momentum * m_t - lr_t * grad_t       (Nesterov)
        w_t = w_{t-1} - lr_t * grad_t                        (momentum = 0)
    """
    momentum = _check_rate(momentum, "sgd(momentum=...)", 0.0, 1.0, include_high=True)
    if nesterov and _is_zero(momentum):
        raise ValueError("sgd(nesterov=True) needs momentum > 0; got momentum=0.")
    steps = [scale_by_learning_rate(learning_rate)]
    if not _is_zero(momentum):
        steps.append(trace(momentum, nesterov))
    return _described(optax.chain(*steps), "SGD", learning_rate=learning_rate, momentum=momentum,
                      nesterov=bool(nesterov))


def rmsprop(
    learning_rate: ScalarOrSchedule = 0.001,
    rho: float = 0.9,
    epsilon: float = 1e-7,
    momentum: float = 0.0,
    centered: bool = False,
) -> optax.GradientTransformation:
    """RMSprop, as `keras.optimizers.RMSprop`:

        nu_t = rho * nu_{t-1} + (1 - rho) * grad_t**2
        step = lr_t * grad_t / sqrt(nu_t + epsilon)          (centered: nu_t - mean_grad_t**2 + epsilon)
        m_t  = momentum * m_{t-1} + step,   w_t = w_{t-1} - m_t
    """
    momentum = _check_rate(momentum, "rmsprop(momentum=...)", 0.0, 1.0, include_high=True)
    steps = [scale_by_rms(rho, epsilon, centered), scale_by_learning_rate(learning_rate)]
    if not _is_zero(momentum):
        steps.append(trace(momentum))
    return _described(optax.chain(*steps), "RMSprop", learning_rate=learning_rate, rho=rho, momentum=momentum,
                      epsilon=epsilon, centered=bool(centered))


def adagrad(
    learning_rate: ScalarOrSchedule = 0.001, initial_accumulator_value: float = 0.1, epsilon: float = 1e-7
) -> optax.GradientTransformation:
    """Adagrad, as `keras.optimizers.Adagrad`:

        s_t = s_{t-1} + grad_t**2,   s_0 = initial_accumulator_value
        w_t = w_{t-1} - lr_t * grad_t / sqrt(s_t + epsilon)
    """
    return _described(optax.chain(scale_by_sum_of_squares(initial_accumulator_value, epsilon),
                                  scale_by_learning_rate(learning_rate)),
                      "Adagrad", learning_rate=learning_rate, initial_accumulator_value=initial_accumulator_value,
                      epsilon=epsilon)


def adam(
    learning_rate: ScalarOrSchedule = 0.001,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-7,
    amsgrad: bool = False,
) -> optax.GradientTransformation:
    """Adam, as `keras.optimizers.Adam`:

        mu_t = beta_1 * mu_{t-1} + (1 - beta_1) * grad_t
        nu_t = beta_2 * nu_{t-1} + (1 - beta_2) * grad_t**2
        w_t  = w_{t-1} - lr_t * sqrt(1 - beta_2**t) / (1 - beta_1**t) * mu_t / (sqrt(nu_t) + epsilon)
    """
    steps = [scale_by_adam(beta_1, beta_2, epsilon, amsgrad), scale_by_learning_rate(learning_rate)]
    return _described(optax.chain(*steps),
                      "Adam", learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
                      amsgrad=bool(amsgrad))


_FACTORIES: dict[str, Callable[..., optax.GradientTransformation]] = {
    "SGD": sgd, "RMSprop": rmsprop, "Adagrad": adagrad, "Adam": adam,
}
