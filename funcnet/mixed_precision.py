"""Mixed precision: compute in bfloat16 or float16, keep params and optimizer state in float32.

A `Policy` names three dtypes, as Keras's `DTypePolicy` does:

- `compute_dtype`: the dtype params and inputs are cast to for the forward and backward pass;
- `param_dtype`: the dtype params (and so the optimizer state and the updates) are kept in;
- `output_dtype`: the dtype the model's outputs are cast to before the loss and metrics.

`"mixed_bfloat16"` needs nothing more: bfloat16 has float32's exponent range. `"mixed_float16"` has
five exponent bits, so small gradients underflow to zero; its policy scales the loss up before
differentiation and the gradients down after (`loss_scaling`), skipping the steps whose scaled
gradients overflow and adjusting the scale as Keras's `LossScaleOptimizer` does.

Use it with `model.compile(..., dtype_policy="mixed_bfloat16")`, or pass a `Policy` to
`training.make_train_step` / `make_train_epoch`.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

__all__ = ["Policy", "get", "loss_scaling", "LossScaleState", "loss_scale_of"]

_FLOAT_NAMES = ("float32", "bfloat16", "float16")


class Policy(NamedTuple):
    """The dtypes of a run (see the module docstring); `Policy()` is plain float32.

    Attributes:
      compute_dtype, param_dtype, output_dtype: dtype names (`"float32"`, `"bfloat16"`, `"float16"`).
      loss_scale: True to scale the loss dynamically (needed by float16 compute).
    """

    compute_dtype: str = "float32"
    param_dtype: str = "float32"
    output_dtype: str = "float32"
    loss_scale: bool = False

    @property
    def name(self) -> str:
        if self.compute_dtype == self.param_dtype == "float32":
            return "float32"
        if self.param_dtype == "float32":
            return f"mixed_{self.compute_dtype}"
        return self.compute_dtype

    @property
    def is_mixed(self) -> bool:
        """True when compute and params differ in dtype (the forward pass casts)."""
        return self.compute_dtype != self.param_dtype

    def cast_to_compute(self, tree):
        """Floating leaves of `tree` (params or inputs) cast to `compute_dtype`; others unchanged."""
        return _cast_floats(tree, self.compute_dtype)

    def cast_to_output(self, tree):
        """Floating leaves of `tree` (model outputs) cast to `output_dtype`."""
        return _cast_floats(tree, self.output_dtype)


_NAMED = {
    "float32": Policy(),
    "mixed_bfloat16": Policy("bfloat16", "float32", "float32"),
    "mixed_float16": Policy("float16", "float32", "float32", loss_scale=True),
    "bfloat16": Policy("bfloat16", "bfloat16", "bfloat16"),
}


def get(policy) -> Policy:
    """A `Policy` from a name (`"float32"`, `"mixed_bfloat16"`, `"mixed_float16"`, `"bfloat16"`), a
    `Policy` (returned as is) or None (float32)."""
    if policy is None:
        return _NAMED["float32"]
    if isinstance(policy, Policy):
        for field in ("compute_dtype", "param_dtype", "output_dtype"):
            if getattr(policy, field) not in _FLOAT_NAMES:
                raise ValueError(f"Policy({field}={getattr(policy, field)!r}) must be one of {list(_FLOAT_NAMES)}.")
        return policy
    if isinstance(policy, str) and policy in _NAMED:
        return _NAMED[policy]
    raise ValueError(f"unknown dtype policy {policy!r}; expected one of {sorted(_NAMED)} or a mixed_precision.Policy.")


def _cast_floats(tree, dtype: str):
    target = jnp.dtype(dtype)

    def cast(leaf):
        if hasattr(leaf, "dtype") and jnp.issubdtype(leaf.dtype, jnp.floating) and leaf.dtype != target:
            return leaf.astype(target)
        return leaf

    return jax.tree.map(cast, tree)


class LossScaleState(NamedTuple):
    """State of `loss_scaling`: the current `scale`, the finite steps since it last changed, and the
    wrapped optimizer's state."""

    scale: jax.Array
    good_steps: jax.Array
    inner_state: Any


def loss_scaling(
    optimizer: optax.GradientTransformation,
    initial_scale: float = 2.0 ** 15,
    growth_interval: int = 2000,
    factor: float = 2.0,
) -> optax.GradientTransformation:
    """Wraps `optimizer` for dynamic loss scaling; its gradients must be those of `loss * scale`.

    The train step reads the scale with `loss_scale_of(opt_state)`, multiplies the loss by it, and
    passes the scaled gradients here. This divides them by the scale; if any is NaN or inf the step is
    skipped (zero updates, the inner state unchanged) and the scale divided by `factor`; after
    `growth_interval` finite steps in a row it is multiplied by `factor`. The defaults are Keras's.
    """
    if not initial_scale > 0 or not factor > 1 or growth_interval < 1:
        raise ValueError(
            "loss_scaling needs initial_scale > 0, factor > 1 and growth_interval >= 1; got "
            f"{initial_scale!r}, {factor!r}, {growth_interval!r}."
        )

    def init(params):
        return LossScaleState(jnp.asarray(initial_scale, jnp.float32), jnp.zeros([], jnp.int32), optimizer.init(params))

    def update(grads, state, params=None):
        grads = jax.tree.map(lambda g: g.astype(jnp.float32) / state.scale, grads)
        finite = jnp.all(jnp.array([jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grads)]))
        safe = jax.tree.map(lambda g: jnp.where(finite, g, jnp.zeros_like(g)), grads)
        updates, inner = optimizer.update(safe, state.inner_state, params)
        updates = jax.tree.map(lambda u: jnp.where(finite, u, jnp.zeros_like(u)), updates)
        inner = jax.tree.map(lambda new, old: jnp.where(finite, new, old), inner, state.inner_state)
        grow = finite & (state.good_steps + 1 >= growth_interval)
        scale = jnp.where(finite, jnp.where(grow, state.scale * factor, state.scale),
                          jnp.maximum(state.scale / factor, 1.0))
        good_steps = jnp.where(finite & ~grow, state.good_steps + 1, 0)
        return updates, LossScaleState(scale, good_steps.astype(jnp.int32), inner)

    return optax.GradientTransformation(init, update)


def loss_scale_of(opt_state) -> jax.Array | float:
    """The loss scale held by a `loss_scaling` state, else 1.0."""
    if isinstance(opt_state, LossScaleState):
        return opt_state.scale
    return 1.0
