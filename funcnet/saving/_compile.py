"""Compile settings and optimizer state in a `.keras` archive, in Keras 3's own form.

`config.json`'s `compile_config` names the optimizer by Keras class and hyper-parameters, the loss and
the metrics; `model.weights.h5`'s `optimizer/vars/0..n` hold Keras's optimizer variables: the step count
(`iterations`), the learning rate, then each slot for every trainable weight in the layout's order
(RMSprop: all velocities, then momentums, then average gradients; Adam: momentum and velocity
interleaved per weight, then the AMSGrad maxima; SGD: momentums; Adagrad: accumulators). funcnet's
optimizer states map onto them one to one (Keras's RMSprop momentum is the negative of funcnet's
trace of the negated steps), so `load_model` then `fit` continues where the saved model stopped.

Only what Keras can name is saved: a funcnet optimizer made by name or by `optimizers.sgd/rmsprop/
adagrad/adam` with a constant learning rate, a loss and metrics given by name. Anything else (an optax
chain, a schedule, a loss function of your own) leaves the compile settings out, with a warning that
names it; the architecture and weights are saved all the same.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from funcnet.optimizers import _aliases
from funcnet.optimizers._transforms import (
    InjectLearningRateState,
    ScaleByAdamState,
    ScaleByLearningRateState,
    ScaleByRmsState,
    ScaleBySumOfSquaresState,
    TraceState,
    injected_learning_rate,
)

# Keras's optimizer options funcnet honours only at these values.
_KERAS_OPTIMIZER_DEFAULTS = {"weight_decay": None, "clipnorm": None, "global_clipnorm": None, "clipvalue": None,
                             "use_ema": False, "loss_scale_factor": None, "gradient_accumulation_steps": None}
_IGNORED = {"name", "ema_momentum", "ema_overwrite_frequency"}
_FACTORIES: dict[str, Callable[..., optax.GradientTransformation]] = {
    "SGD": _aliases.sgd, "RMSprop": _aliases.rmsprop, "Adagrad": _aliases.adagrad, "Adam": _aliases.adam,
}


def compile_config(session) -> dict | None:
    """Keras's `compile_config` of a compiled session, or None (with a warning naming what Keras
    cannot name) when it cannot be written."""
    spec = session.compile_spec
    if spec is None or session.settings is None:
        return None
    problems = []
    optimizer = _aliases.keras_config(spec["optimizer"])
    if optimizer is None:
        problems.append("the optimizer (an optax transformation or a schedule, not one of funcnet's named optimizers "
                        "with a constant learning rate)")
    if not isinstance(spec["loss"], str):
        problems.append(f"the loss {spec['loss']!r} (not a name)")
    bad_metrics = [m for m in spec["metrics"] if not isinstance(m, str)]
    if bad_metrics:
        problems.append(f"the metrics {bad_metrics!r} (not names)")
    if spec["dtype_policy"] not in (None, "float32"):
        problems.append(f"dtype_policy={spec['dtype_policy']!r}")
    if problems or optimizer is None:
        warnings.warn("model.save: the compile settings were left out of the archive because Keras cannot name "
                      + "; ".join(problems) + ". The architecture, weights and state are saved; compile the loaded "
                      "model again.", stacklevel=3)
        return None
    class_name, hyper = optimizer
    return {
        "optimizer": {"module": "keras.optimizers", "class_name": class_name,
                      "config": {"name": class_name.lower(), **hyper}, "registered_name": None},
        "loss": spec["loss"], "loss_weights": None, "metrics": list(spec["metrics"]) or None,
        "weighted_metrics": None, "run_eagerly": False, "steps_per_execution": 1, "jit_compile": True,
    }


def _states(opt_state) -> dict:
    """funcnet's optimizer state by kind (the chain's member states)."""
    if isinstance(opt_state, InjectLearningRateState):  # fit's form of a named optimizer
        opt_state = opt_state.inner_state
    found = {}
    for member in opt_state if isinstance(opt_state, tuple) and not hasattr(opt_state, "_fields") else (opt_state,):
        found[type(member).__name__] = member
    return found


def _slots(class_name: str, hyper: dict, opt_state, leaves) -> list:
    """Keras's slot variables (after iterations and learning_rate) of funcnet's `opt_state`;
    `leaves(tree)` lists a params-shaped tree in the layout's order."""
    states = _states(opt_state)
    if class_name == "RMSprop":
        rms = states["ScaleByRmsState"]
        out = list(leaves(rms.nu))
        if hyper["momentum"] != 0:
            out += [-t for t in leaves(states["TraceState"].trace)]
        if hyper["centered"]:
            out += list(leaves(rms.mu))
        return out
    if class_name == "Adam":
        adam = states["ScaleByAdamState"]
        out = [a for pair in zip(leaves(adam.mu), leaves(adam.nu)) for a in pair]
        if hyper["amsgrad"]:
            out += list(leaves(adam.nu_max))
        return out
    if class_name == "SGD":
        return list(leaves(states["TraceState"].trace)) if hyper["momentum"] != 0 else []
    if class_name == "Adagrad":
        return list(leaves(states["ScaleBySumOfSquaresState"].sum_of_squares))
    raise ValueError(f"no Keras slots known for {class_name}")


def optimizer_arrays(session, class_name: str, hyper: dict, keys_in_order: list[tuple]) -> list[np.ndarray]:
    """`optimizer/vars/0..n` of a compiled session's optimizer state (zeros before any `fit`)."""
    opt_state = session.opt_state if session.opt_state is not None else session.settings.optimizer.init(session.params)

    def leaves(tree):
        out = []
        for keys in keys_in_order:
            value = tree
            for key in keys:
                value = value[key]
            out.append(value)
        return out

    step = int(jax.device_get(session.step))
    rate = injected_learning_rate(opt_state)  # the current rate (a callback may have changed it)
    rate = hyper["learning_rate"] if rate is None else rate
    head: list[np.ndarray] = [np.asarray(step, np.int64), np.asarray(jax.device_get(rate), np.float32)]
    return head + [np.asarray(jax.device_get(a)) for a in _slots(class_name, hyper, opt_state, leaves)]


def restore_compile(model, config: dict | None, what: str) -> tuple[str, dict] | None:
    """Compiles a loaded model as `compile_config` says; returns `(class name, hyper)` or None (with a
    warning for settings funcnet cannot honour)."""
    if not config:
        return None
    optimizer = config.get("optimizer")
    problems = []
    class_name, factory, hyper = "", None, {}
    if isinstance(optimizer, str):
        optimizer = {"class_name": {"sgd": "SGD", "rmsprop": "RMSprop", "adagrad": "Adagrad", "adam": "Adam"}
                     .get(optimizer.lower(), optimizer), "config": {}}
    if not isinstance(optimizer, dict) or optimizer.get("class_name") not in _FACTORIES:
        problems.append("the optimizer "
                        f"{optimizer if not isinstance(optimizer, dict) else optimizer.get('class_name')!r}")
    else:
        class_name = optimizer["class_name"]
        factory = _FACTORIES[class_name]
        for key, value in (optimizer.get("config") or {}).items():
            if key in _IGNORED:
                continue
            if key in _KERAS_OPTIMIZER_DEFAULTS:
                if value != _KERAS_OPTIMIZER_DEFAULTS[key]:
                    problems.append(f"the optimizer's {key}={value!r}")
                continue
            hyper[key] = value
        if not isinstance(hyper.get("learning_rate", 0.0), (int, float)):
            problems.append("a learning-rate schedule")
    loss, metrics = config.get("loss"), config.get("metrics") or []
    if not isinstance(loss, str):
        problems.append(f"the loss {loss!r}")
    if not all(isinstance(m, str) for m in metrics):
        problems.append(f"the metrics {metrics!r}")
    if config.get("loss_weights") is not None or config.get("weighted_metrics") is not None:
        problems.append("loss_weights or weighted_metrics")
    if problems or factory is None:
        warnings.warn(f"{what}: loaded uncompiled: funcnet cannot honour " + "; ".join(problems)
                      + ". Compile it yourself.", stacklevel=3)
        return None
    try:
        tx = factory(**hyper)
        model.compile(optimizer=tx, loss=loss, metrics=list(metrics))
    except (TypeError, ValueError) as err:
        warnings.warn(f"{what}: loaded uncompiled: its compile settings do not compile here: {err}", stacklevel=3)
        return None
    described = _aliases.keras_config(tx)
    assert described is not None, "an alias with a constant learning rate always has a Keras config"
    return class_name, described[1]


def restore_optimizer_state(model, class_name: str, hyper: dict, arrays: list, keys_in_order: list[tuple], what: str):
    """Sets the compiled model's optimizer state and step from Keras's `optimizer/vars` arrays."""
    session = model._session
    injected = session.settings.optimizer.init(session.params)
    template = injected.inner_state if isinstance(injected, InjectLearningRateState) else injected
    expected = 2 + len(_slots(class_name, hyper, template, lambda tree: [0.0] * len(keys_in_order)))
    if len(arrays) == 2 and expected > 2:  # an optimizer never built (no step taken yet): fresh slots
        session.step = int(np.asarray(arrays[0]))
        return
    if len(arrays) != expected:
        if arrays:
            warnings.warn(f"{what}: the optimizer state has {len(arrays)} variables where {class_name} needs "
                          f"{expected}; "
                          "it starts afresh.", stacklevel=3)
        return
    step = int(np.asarray(arrays[0]))
    slots = iter(arrays[2:])

    def filled(tree, sign=1.0):
        new = jax.tree.map(lambda a: a, tree)  # a copy of the nesting
        for keys in keys_in_order:
            target = new
            for key in keys[:-1]:
                target = target[key]
            value = np.asarray(next(slots))
            target[keys[-1]] = jnp.asarray(sign * value, target[keys[-1]].dtype).reshape(target[keys[-1]].shape)
        return new

    members = []
    chain = template if isinstance(template, tuple) and not hasattr(template, "_fields") else (template,)
    order = {"RMSprop": ["nu", "trace", "mu"], "Adam": ["adam"], "SGD": ["trace"],
             "Adagrad": ["sum_of_squares"]}[class_name]
    rebuilt = {}
    for part in order:
        if part == "nu":
            rebuilt["nu"] = filled(_states(template)["ScaleByRmsState"].nu)
        elif part == "trace" and "TraceState" in _states(template):
            rebuilt["trace"] = filled(_states(template)["TraceState"].trace, -1.0 if class_name == "RMSprop" else 1.0)
        elif part == "mu" and hyper.get("centered"):
            rebuilt["mu"] = filled(_states(template)["ScaleByRmsState"].mu)
        elif part == "sum_of_squares":
            rebuilt["sum_of_squares"] = filled(_states(template)["ScaleBySumOfSquaresState"].sum_of_squares)
        elif part == "adam":
            adam = _states(template)["ScaleByAdamState"]
            pairs = []
            for _ in keys_in_order:
                pairs.append((np.asarray(next(slots)), np.asarray(next(slots))))
            mu = jax.tree.map(lambda a: a, adam.mu)
            nu = jax.tree.map(lambda a: a, adam.nu)
            for keys, (m, v) in zip(keys_in_order, pairs):
                _assign(mu, keys, m)
                _assign(nu, keys, v)
            rebuilt["adam_mu"], rebuilt["adam_nu"] = mu, nu
            if hyper.get("amsgrad"):
                rebuilt["adam_nu_max"] = filled(adam.nu_max)
    count = jnp.asarray(step, jnp.int32)
    for member in chain:
        if isinstance(member, ScaleByRmsState):
            member = ScaleByRmsState(nu=rebuilt["nu"], mu=rebuilt.get("mu", member.mu))
        elif isinstance(member, TraceState):
            member = TraceState(trace=rebuilt["trace"])
        elif isinstance(member, ScaleBySumOfSquaresState):
            member = ScaleBySumOfSquaresState(sum_of_squares=rebuilt["sum_of_squares"])
        elif isinstance(member, ScaleByAdamState):
            member = ScaleByAdamState(count=count, mu=rebuilt["adam_mu"], nu=rebuilt["adam_nu"],
                                      nu_max=rebuilt.get("adam_nu_max", member.nu_max))
        elif isinstance(member, ScaleByLearningRateState):
            member = ScaleByLearningRateState(count=count)
        members.append(member)
    restored = tuple(members) if chain is template else members[0]
    if isinstance(injected, InjectLearningRateState):  # with the rate saved (a callback may have changed it)
        restored = InjectLearningRateState(jnp.asarray(np.asarray(arrays[1]), jnp.float32), restored)
    session.opt_state = restored
    session.step = step


def _assign(tree, keys, value):
    for key in keys[:-1]:
        tree = tree[key]
    tree[keys[-1]] = jnp.asarray(value, tree[keys[-1]].dtype).reshape(tree[keys[-1]].shape)
