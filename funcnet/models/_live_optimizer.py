"""`model.optimizer`: the compiled optimizer as Keras's callbacks see it, its learning rate and step count.

Keras's learning-rate callbacks read and set `model.optimizer.learning_rate`. funcnet compiles a named
optimizer with a constant rate with that rate as data (`optimizers.inject_learning_rate`): reading it
gives the rate in the optimizer state, as a Python float of the float32 value (as Keras's variable reads);
setting it takes effect at the next epoch `fit` runs (the epoch starting, when set in `on_epoch_begin`),
without compiling again. Other optimizers (an optax chain, a schedule) have no settable rate, as in Keras.
"""
from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp
import numpy as np

from funcnet.optimizers._transforms import injected_learning_rate


class LiveOptimizer:
    """The optimizer `compile` set, seen through the model's session."""

    def __init__(self, session):
        self._session = session

    def __repr__(self) -> str:
        return f"<optimizer of {self._session.model.describe()}>"

    def _injected(self):
        """The rate in the optimizer state (a ShapeDtypeStruct before the model has params)."""
        session = self._session
        settings = session.require_compiled("optimizer")
        if session.opt_state is None:  # before the first fit: the optimizer's own start
            session.opt_state = settings.optimizer.init(session.params) if session.params is not None else None
        state = session.opt_state if session.opt_state is not None else jax.eval_shape(
            settings.optimizer.init, session._specs()[0])
        rate = injected_learning_rate(state)
        if rate is None:
            raise TypeError(
                f"{session.model.describe()}'s optimizer has no learning rate to read or set: it was compiled with "
                "an optax transformation or a learning-rate schedule. Compile with a name ('rmsprop') or "
                "funcnet.optimizers.rmsprop(0.001) (a constant rate) to change the rate between epochs."
            )
        return rate

    @property
    def learning_rate(self) -> float:
        pending = self._session.pending_learning_rate
        if pending is not None:
            return float(pending)
        rate = self._injected()
        if isinstance(rate, jax.ShapeDtypeStruct):  # no params yet: the compiled rate
            return float(np.float32(self._session.compile_spec_rate()))
        return float(jax.device_get(rate))

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.ndarray, jax.Array)) \
                or np.ndim(np.asarray(value)):
            raise TypeError(f"optimizer.learning_rate must be a float; got {type(value).__name__} {value!r}.")
        value = float(value)
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"optimizer.learning_rate must be a finite float >= 0; got {value}.")
        self._injected()  # refuses an optimizer without a settable rate
        self._session.set_learning_rate(np.float32(value))

    @property
    def iterations(self) -> int:
        """The number of steps taken (Keras's `optimizer.iterations`)."""
        return int(jax.device_get(jnp.asarray(self._session.step)))
