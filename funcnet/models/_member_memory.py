"""How many members of `fit_many` train at once: as many as half the free memory holds.

A member needs its variables (params, optimizer state, model state) about four times over during a
step (the state, the gradients, the updates, the state kept for a member that stops), the values one
training step computes (bounded by the sum of every intermediate array of the step's jaxpr, which XLA
only ever needs a part of at once), and its batch plan (8 bytes a sample). The data set is shared and
placed once. The free memory is the device's (`bytes_limit - bytes_in_use` where the device reports it,
as GPUs and TPUs do) or, on a CPU, the host's available memory (`/proc/meminfo`'s `MemAvailable`).
Members beyond one group train group after group, each group one program of the same shape, with the
same results.

Within a group, the members step together (every step of the program trains all of them) on devices
whose batched matrix products are efficient, and on a CPU when the steps are small (their fixed cost,
which stepping together shares, outweighs the work); a CPU with compute-bound steps runs them one after
another inside the same program (`one_at_a_time`).
"""
from __future__ import annotations

import math
import os

import jax
import numpy as np

BUDGET_FRACTION = 0.5


def _nbytes(value) -> int:
    """The bytes of an array or abstract value; 0 for keys (a few words each) and non-arrays."""
    if not (hasattr(value, "shape") and hasattr(value, "dtype")) or \
            jax.dtypes.issubdtype(value.dtype, jax.dtypes.prng_key):
        return 0
    return math.prod(value.shape) * np.dtype(value.dtype).itemsize


def tree_bytes(tree) -> int:
    return sum(_nbytes(leaf) for leaf in jax.tree.leaves(tree))


def _inner_jaxprs(eqn):
    """The jaxprs inside an equation's params: a loop's body, a cond's branches, a call's program."""
    for param in eqn.params.values():
        for sub in (param if isinstance(param, (list, tuple)) else [param]):
            inner = getattr(sub, "jaxpr", None)
            if inner is not None and hasattr(inner, "eqns"):
                yield inner
            elif hasattr(sub, "eqns"):
                yield sub


def _jaxpr_bytes(jaxpr) -> int:
    total = 0
    for eqn in jaxpr.eqns:
        total += sum(_nbytes(var.aval) for var in eqn.outvars)
        total += sum(_jaxpr_bytes(inner) for inner in _inner_jaxprs(eqn))
    return total


def _jaxpr_flops(jaxpr) -> int:
    """The multiply-adds (x2) of the matrix products and convolutions of `jaxpr`, inner jaxprs included
    (a loop's body once)."""
    total = 0
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        if name == "dot_general":
            (lhs_contract, _), _ = eqn.params["dimension_numbers"]
            lhs = eqn.invars[0].aval.shape
            total += 2 * math.prod(eqn.outvars[0].aval.shape) * math.prod(lhs[d] for d in lhs_contract)
        elif name == "conv_general_dilated":
            rhs = eqn.invars[1].aval.shape  # kernel: its spatial size times input channels per group
            out_features = rhs[eqn.params["dimension_numbers"].rhs_spec[0]]
            total += 2 * math.prod(eqn.outvars[0].aval.shape) * math.prod(rhs) // max(out_features, 1)
        total += sum(_jaxpr_flops(inner) for inner in _inner_jaxprs(eqn))
    return total


def step_cost(step, *abstract_args) -> tuple[int, int]:
    """`(bytes, flops)` of one call of `step`: a bound on the bytes of what it computes (every
    intermediate value of its jaxpr) and the flops of its matrix products and convolutions."""
    jaxpr = jax.make_jaxpr(step)(*abstract_args).jaxpr
    return _jaxpr_bytes(jaxpr), _jaxpr_flops(jaxpr)


# Above this many flops a step (a MNIST-network step at batch 128 has 3e8), a CPU runs the members of a
# group one after another inside the program: its batched matrix products are slower than single ones,
# and the per-step overhead that running members side by side saves is small beside the work.
CPU_SEQUENTIAL_FLOPS = 2e7


def one_at_a_time(step_flops: int, platform: str, devices: int) -> bool:
    """Whether a group's members take turns (each a whole epoch) rather than step together."""
    return platform == "cpu" and devices == 1 and step_flops > CPU_SEQUENTIAL_FLOPS


def free_bytes(device=None) -> int:
    """The memory free for new arrays on `device` (default: JAX's default device)."""
    device = device or jax.devices()[0]
    stats = None
    try:
        stats = device.memory_stats()
    except Exception:  # some backends do not report
        stats = None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def group_size(members: int, per_member: int, devices: int, free: int | None = None, shared_memory: bool = True) -> int:
    """The members trained at once: as many as `BUDGET_FRACTION` of the free memory holds (times `devices`
    where each device has its own memory, not the host's), a multiple of `devices`, at least one per
    device and no more than the members rounded up to a multiple of `devices`."""
    free = free_bytes() if free is None else free
    fits = int(BUDGET_FRACTION * free * (1 if shared_memory else devices) // max(per_member, 1))
    most = -(-members // devices) * devices
    return min(most, max(devices, fits // devices * devices))
