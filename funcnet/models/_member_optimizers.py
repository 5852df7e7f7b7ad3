"""How the members of `fit_many` get their optimizers: one program, the differences as data.

Three cases, chosen from the optimizers given:

- none given: every member uses the compiled optimizer (no hyper-parameters to pass);
- optimizers made by one of funcnet's aliases (`optimizers.rmsprop(lr)`, `adam(...)`) with the same
  switches (`centered`, `amsgrad`, `nesterov`, the same schedule object): the alias is called inside the
  program with each member's differing numbers (learning rate, rho, momentum, ...) as traced scalars,
  so a grid of 8 learning rates runs one optimizer update per member;
- any other optax transformations whose states have one structure: the program runs every member's
  own update and keeps its member's (`lax.switch` on the member's index, a select under `vmap`), which
  costs `members` times the optimizer's elementwise work per member.
"""
from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Callable, Hashable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from funcnet import mixed_precision
from funcnet import optimizers as optimizers_module
from funcnet._checks import same_structure
from funcnet.models import _programs
from funcnet.optimizers import _aliases


@dataclasses.dataclass(frozen=True)
class MemberOptimizers:
    """`build(hyper) -> GradientTransformation` for one member's hyper-parameters (a pytree of scalars),
    `hyper`: every member's, stacked (`[members]` leaves), and `key`: what compiled programs depend on."""

    build: Callable[[Any], optax.GradientTransformation]
    hyper: Any
    key: Hashable
    description: str

    def take(self, members: np.ndarray):
        """The hyper-parameters of these members (indices), in order."""
        return jax.tree.map(lambda leaf: leaf[members], self.hyper)


def _numeric(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def plan(given, compiled: optax.GradientTransformation, policy: mixed_precision.Policy, members: int,
         params_spec) -> MemberOptimizers:
    """The members' optimizers: `given` (a list, one per member, or None) or the compiled one for all."""
    if given is None:
        return MemberOptimizers(lambda hyper: compiled, np.zeros(members, np.int32), ("compiled",),
                                "the compiled optimizer")
    resolved = [optimizers_module.get(tx) for tx in given]
    scale = mixed_precision.loss_scaling if policy.loss_scale else (lambda tx: tx)
    recipes = [r for r in map(_aliases.recipe, resolved) if r is not None]
    if len(recipes) == len(resolved) and len({id(factory) for factory, _ in recipes}) == 1:
        factory = recipes[0][0]
        configs = [config for _, config in recipes]
        names = sorted(configs[0])
        shared, varying = {}, []
        for name in names:
            values = [c[name] for c in configs]
            if all(_same(v, values[0]) for v in values):
                shared[name] = values[0]
            elif all(_numeric(v) for v in values):
                varying.append(name)
            else:
                break  # a switch (centered, amsgrad) or a schedule differs: not data
        else:
            shared_key = tuple((name, _programs.value_key(value) or _programs.identity_key(value))
                               for name, value in sorted(shared.items()))
            hyper = {name: np.asarray([c[name] for c in configs], np.float32) for name in varying}

            def build(member_hyper):
                return scale(factory(**shared, **member_hyper))

            return MemberOptimizers(build, hyper, ("alias", factory.__name__, shared_key, tuple(varying)),
                                    f"{factory.__name__} with {', '.join(varying) or 'nothing'} per member")
    return _switched(resolved, scale, params_spec)


def _same(a, b) -> bool:
    if _numeric(a) and _numeric(b):
        return float(a) == float(b)
    return a is b or (type(a) is type(b) and isinstance(a, (bool, str)) and a == b)


def _switched(txs, scale, params_spec) -> MemberOptimizers:
    """Every member runs each optimizer's update and keeps its own (for transformations no alias made)."""
    txs = [scale(tx) for tx in txs]
    zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), params_spec)
    structures = [jax.eval_shape(tx.init, zeros) for tx in txs]
    first = jax.tree.structure(structures[0])
    for k, s in enumerate(structures[1:], start=1):
        same = same_structure(s, structures[0]) and all(
            (a.shape, a.dtype) == (b.shape, b.dtype)
            for a, b in zip(jax.tree.leaves(s), jax.tree.leaves(structures[0])))
        if not same:
            raise ValueError(
                f"fit_many(optimizers=...): optimizer {k} keeps a state of another structure than optimizer 0 "
                f"({jax.tree.structure(s)} vs {first}); the members of one run need optimizers of one structure "
                "that differ in numbers only (e.g. [optimizers.adam(lr) for lr in (1e-2, 1e-3)])."
            )

    def build(member_index):
        def init(params):
            return jax.lax.switch(member_index, [tx.init for tx in txs], params)

        def update(updates, state, params=None):
            branches = [lambda u, s, p, tx=tx: tx.update(u, s, p) for tx in txs]
            return jax.lax.switch(member_index, branches, updates, state, params)

        return optax.GradientTransformation(init, update)

    key = ("switch", tuple(_programs.value_key(tx) or _programs.identity_key(tx) for tx in txs))
    return MemberOptimizers(build, np.arange(len(txs), dtype=np.int32), key,
                            f"{len(txs)} optax transformations, each member's update selected")
