"""Trajectories of funcnet optimizers, Keras 3 optimizers and optax aliases on the same problems."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import keras
import numpy as np
import optax

STEPS = 100


def random_problem(seed: int, shapes=((3, 4), (4,), (2, 2, 2))):
    """Initial weights and a fixed sequence of random gradients, one array per shape."""
    rs = np.random.default_rng(seed)
    w0 = [rs.normal(size=s).astype(np.float32) for s in shapes]
    grads = [[rs.normal(size=s).astype(np.float32) for s in shapes] for _ in range(STEPS)]
    return w0, lambda step, w: grads[step]


def least_squares_problem(seed: int, n: int = 32, d: int = 5, scale: float = 10.0):
    """Weights `[w (d,), b ()]` of `0.5 * mean((X w + b - y)**2)`; gradients depend on the weights.

    The optimum lies about `scale` away from the start, so 100 small steps stay in the descent.
    Near the optimum, sign-normalised methods (RMSprop, Adam) hop around it chaotically and a
    difference of one rounding grows without bound, which would test the rounding, not the formula.
    """
    rs = np.random.default_rng(seed)
    x = rs.normal(size=(n, d)).astype(np.float32)
    y = (x @ (scale * rs.normal(size=d)) + scale + 0.1 * rs.normal(size=n)).astype(np.float32)

    def grad(step, w):
        del step
        w_vec, b = (np.asarray(a, np.float32) for a in w)
        r = x @ w_vec + b - y
        return [(x.T @ r / n).astype(np.float32), np.asarray(r.mean(), np.float32)]

    return [np.zeros(d, np.float32), np.zeros((), np.float32)], grad


def keras_trajectory(optimizer: keras.optimizers.Optimizer, w0, grad_fn) -> list[list[np.ndarray]]:
    variables = [keras.Variable(w.copy()) for w in w0]
    out = []
    for step in range(STEPS):
        grads = grad_fn(step, [np.asarray(v) for v in variables])
        optimizer.apply_gradients(list(zip(grads, variables)))
        out.append([np.asarray(v).copy() for v in variables])
    return out


def optax_trajectory(tx: optax.GradientTransformation, w0, grad_fn, jit: bool = True) -> list[list[np.ndarray]]:
    params = [jnp.asarray(w) for w in w0]
    state = tx.init(params)

    def step_fn(params, state, grads):
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    step_fn = jax.jit(step_fn) if jit else step_fn
    out = []
    for step in range(STEPS):
        grads = [jnp.asarray(g) for g in grad_fn(step, [np.asarray(p) for p in params])]
        params, state = step_fn(params, state, grads)
        out.append([np.asarray(p) for p in params])
    return out


def assert_trajectories_close(actual, expected, rtol=1e-5):
    """Every step's weights agree within `rtol` relative to the weights' scale.

    Elementwise, `|a - e| <= rtol * (|e| + max|e|)`: the second term keeps an entry that crosses zero
    (where the rounding of XLA's fused multiply-adds against numpy's is all that differs) from counting
    as a relative error of 100%.
    """
    assert len(actual) == len(expected)
    for step, (a_step, e_step) in enumerate(zip(actual, expected)):
        for a, e in zip(a_step, e_step):
            scale = float(np.max(np.abs(e))) if np.size(e) else 0.0
            np.testing.assert_allclose(a, e, rtol=rtol, atol=rtol * scale + 1e-12, err_msg=f"diverged at step {step + 1}")
