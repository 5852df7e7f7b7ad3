"""The kernel gradient of Dense: plain `jnp.matmul` against funcnet's `_matmul` (see its docstring).

For each layer of the book's MNIST network, times the jitted gradient of `sum(sin(x @ kernel))`
with respect to the kernel, median of many calls after warm-up, on this machine's CPU.

Run: .venv/bin/python benchmarks/dense_grad.py
"""
from __future__ import annotations

import argparse
import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from funcnet.layers._matmul import matmul


def _time(fn, *args, calls: int) -> float:
    jax.block_until_ready(fn(*args))
    samples = []
    for _ in range(7):
        start = time.perf_counter()
        for _ in range(calls):
            out = fn(*args)
        jax.block_until_ready(out)
        samples.append((time.perf_counter() - start) / calls)
    return float(np.median(samples))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100)
    args = parser.parse_args()
    rs = np.random.default_rng(0)
    print("| layer (batch 128) | plain jnp.matmul grad, us | funcnet matmul grad, us | ratio |")
    print("|---|---:|---:|---:|")
    for fan_in, fan_out in ((784, 512), (512, 10)):
        x = jnp.asarray(rs.normal(size=(128, fan_in)), jnp.float32)
        kernel = jnp.asarray(rs.normal(size=(fan_in, fan_out)), jnp.float32)
        times = []
        for f in (jnp.matmul, matmul):
            grad = jax.jit(jax.grad(partial(lambda f, k, x: jnp.sum(jnp.sin(f(x, k))), f)))
            times.append(_time(grad, kernel, x, calls=args.calls) * 1e6)
        print(f"| {fan_in} -> {fan_out} | {times[0]:.0f} | {times[1]:.0f} | {times[0] / times[1]:.2f} |")


if __name__ == "__main__":
    main()
