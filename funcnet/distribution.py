"""Data parallelism over many devices and hosts, with JAX's own SPMD engine.

`DataParallel` lays a one-axis `jax.sharding.Mesh` (axis `"batch"`) over the devices. Every batch is
split along its first axis across them; params and optimizer state are replicated (or, with
`shard_params=True`, the large ones split across the devices, FSDP-style); XLA partitions the compiled
step and inserts the gradient all-reduce itself. Nothing here runs per step in Python.

Turn it on with one argument, `model.compile(..., distribution=distribution.DataParallel())`, or,
in the functional style, pass it to `training.make_train_epoch(..., distribution=dp)` and place the
state and data with `dp.put_state(state)` and `dp.put_data(x)`.

Several hosts: call `distribution.initialize(...)` (a thin wrapper of `jax.distributed.initialize`)
first in every process; `DataParallel()` then spans every device of every process. Each process
passes its own shard of the data to `fit` / `put_data`; the shards are gathered once, so every device
holds the whole (book-sized) data set and draws the same global order as a one-device run. In one
process, a data set too large for that can stay on the host with `compile(...,
steps_per_execution=k)`; across several processes that is not supported yet.

Examples:
    >>> import numpy as np
    >>> from funcnet import distribution, layers, models
    >>> model = models.Sequential([layers.Dense(1, input_shape=(3,))])
    >>> model.compile(optimizer="sgd", loss="mse", distribution=distribution.DataParallel())
    >>> history = model.fit(np.ones((64, 3)), np.ones((64, 1)), epochs=2, batch_size=16, verbose=0)
    >>> len(history.history["loss"])
    2

The layout of a step does not change its arithmetic: the same seed and global batch size give the
same training on 1 or 8 devices, up to the order of the floating-point sums in the all-reduce.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from funcnet import _zero_copy

BATCH_AXIS = "batch"

__all__ = ["DataParallel", "SingleDevice", "as_placement", "initialize", "host_array", "BATCH_AXIS"]


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    local_device_ids: Sequence[int] | None = None,
) -> None:
    """Joins this process to a multi-process run: `jax.distributed.initialize` with the same arguments.

    Call it once, first thing, in every process (before any other JAX call). On a cluster JAX can read
    the arguments from its environment (SLURM, Cloud TPU, ...); on one machine give them, e.g.
    `initialize("127.0.0.1:1234", num_processes=2, process_id=i)`. On CPU the processes talk over gloo.
    """
    if num_processes is not None and (isinstance(num_processes, bool) or not isinstance(num_processes, int)
                                      or num_processes < 1):
        raise ValueError(f"initialize(num_processes=...) must be a positive int; got {num_processes!r}.")
    if process_id is not None and num_processes is not None and not 0 <= process_id < num_processes:
        raise ValueError(f"initialize(process_id={process_id!r}) must be in [0, {num_processes}).")
    jax.distributed.initialize(
        coordinator_address=coordinator_address,
        num_processes=num_processes,
        process_id=process_id,
        local_device_ids=local_device_ids,
    )


class SingleDevice:
    """Everything on one device: the placement of a run without a distribution.

    It has `DataParallel`'s interface, every layout a no-op, so the training passes are written once
    for both; a program built with it holds no sharding code at all.

    Args:
      device: a `jax.Device`, or None for JAX's default device.
    """

    num_devices = 1

    def __init__(self, device: Any | None = None):
        if device is not None and not isinstance(device, jax.Device):
            raise TypeError(f"SingleDevice(device=...) takes a jax.Device or None; got {device!r}.")
        self.device = device

    def key(self) -> tuple:
        return ("SingleDevice", None if self.device is None else self.device.id)

    def __eq__(self, other):
        return isinstance(other, SingleDevice) and self.key() == other.key()

    def __hash__(self):
        return hash(self.key())

    def __repr__(self):
        return f"SingleDevice({self.device or 'default device'})"

    def padded_batch_size(self, batch_size: int) -> int:
        return batch_size

    def constrain_state(self, tree):
        return tree

    def constrain_batch(self, tree):
        return tree

    def replicate(self, tree):
        return tree

    def put_state(self, tree):
        return jax.device_put(tree, self.device)

    def put_data(self, tree):
        # On a CPU, large numpy arrays are read where they lie (funcnet._zero_copy), not copied whole.
        return jax.tree.map(lambda a: _zero_copy.device_put(a, self.device), tree)

    def chunk_putter(self):
        return lambda chunk: jax.device_put(chunk, self.device)

    def put_members(self, tree):
        return jax.device_put(tree, self.device)

    def gather(self, tree):
        return jax.tree.map(host_array, tree)


def as_placement(distribution) -> SingleDevice | DataParallel:
    """The placement of a run: `distribution` itself, or `SingleDevice()` for None."""
    if distribution is None:
        return SingleDevice()
    if not isinstance(distribution, (SingleDevice, DataParallel)):
        raise TypeError(f"distribution= takes a funcnet.distribution.DataParallel or None; got {distribution!r}.")
    return distribution


class DataParallel:
    """Data parallelism over `devices` (default: every device of every process).

    Args:
      devices: the devices to use, a sequence of `jax.Device` (default `jax.devices()`).
      shard_params: split each large param (and its optimizer state) across the devices along its
        largest axis the device count divides, instead of a full copy on each device. XLA gathers
        them for the step. Saves memory for wide layers; costs communication.
      min_shard_size: the number of elements from which a param is split (with `shard_params`).

    Attributes:
      mesh: the `Mesh`, one axis named `"batch"`.
      num_devices: the number of devices; batches are padded with weight-0 samples to a multiple of it.
    """

    def __init__(self, devices: Sequence[Any] | None = None, *, shard_params: bool = False,
                 min_shard_size: int = 2 ** 16):
        if devices is None:
            devices = jax.devices()
        if isinstance(devices, (str, bytes)) or not isinstance(devices, Sequence) or not devices:
            raise TypeError(f"DataParallel(devices=...) takes a non-empty list of jax devices; got {devices!r}.")
        devices = list(devices)
        bad = [d for d in devices if not isinstance(d, jax.Device)]
        if bad:
            raise TypeError(f"DataParallel(devices=...) holds {bad[0]!r}, not a jax.Device (see jax.devices()).")
        if len(set(devices)) != len(devices):
            raise ValueError("DataParallel(devices=...) names a device more than once.")
        if isinstance(min_shard_size, bool) or not isinstance(min_shard_size, int) or min_shard_size < 1:
            raise ValueError(f"DataParallel(min_shard_size=...) must be a positive int; got {min_shard_size!r}.")
        self.devices = tuple(devices)
        self.shard_params = bool(shard_params)
        self.min_shard_size = min_shard_size
        self.mesh = Mesh(np.array(devices), (BATCH_AXIS,))
        self.num_devices = len(devices)

    # ------------------------------------------------------------------ identity
    def key(self) -> tuple:
        """What compiled programs depend on: the devices and the param layout."""
        return ("DataParallel", tuple(d.id for d in self.devices), self.shard_params, self.min_shard_size)

    def __eq__(self, other):
        return isinstance(other, DataParallel) and self.key() == other.key()

    def __hash__(self):
        return hash(self.key())

    def __repr__(self):
        return (f"DataParallel({self.num_devices} device(s) of {jax.process_count()} process(es), "
                f"shard_params={self.shard_params})")

    # ------------------------------------------------------------------ shardings
    @property
    def replicated(self) -> NamedSharding:
        """A full copy on every device."""
        return NamedSharding(self.mesh, PartitionSpec())

    @property
    def batch_sharding(self) -> NamedSharding:
        """Split along the first (batch) axis across the devices."""
        return NamedSharding(self.mesh, PartitionSpec(BATCH_AXIS))

    def padded_batch_size(self, batch_size: int) -> int:
        """`batch_size` rounded up to a multiple of the device count (the rest is weight-0 padding)."""
        return -(-batch_size // self.num_devices) * self.num_devices

    def param_sharding(self, leaf) -> NamedSharding:
        """The sharding of one param or optimizer-state leaf: replicated, or split along one axis."""
        shape = np.shape(leaf)
        if not self.shard_params or math.prod(shape) < self.min_shard_size:
            return self.replicated
        axes = [a for a in range(len(shape)) if shape[a] % self.num_devices == 0]
        if not axes:
            return self.replicated
        axis = max(axes, key=lambda a: shape[a])
        spec: list[str | None] = [None] * len(shape)
        spec[axis] = BATCH_AXIS
        return NamedSharding(self.mesh, PartitionSpec(*spec))

    def state_shardings(self, tree):
        """A pytree of shardings for `tree` (params, optimizer state or a whole `TrainState`)."""
        return jax.tree.map(self.param_sharding, tree)

    def constrain_state(self, tree):
        """Inside a compiled function: keep `tree` laid out as `state_shardings` says."""
        return jax.lax.with_sharding_constraint(tree, self.state_shardings(tree))

    def constrain_batch(self, tree):
        """Inside a compiled function: split every array of `tree` along its first axis."""
        return jax.lax.with_sharding_constraint(tree, jax.tree.map(lambda _: self.batch_sharding, tree))

    def replicate(self, tree):
        """Inside a compiled function: a full copy of `tree` on every device (a pass's outputs)."""
        return jax.lax.with_sharding_constraint(tree, jax.tree.map(lambda _: self.replicated, tree))

    def chunk_putter(self):
        """Places a host chunk of batches `[steps, batch, ...]` on the devices, split along its batch axis."""
        sharding = NamedSharding(self.mesh, PartitionSpec(None, BATCH_AXIS))
        return lambda chunk: jax.device_put(chunk, sharding)

    # ------------------------------------------------------------------ placement (on the host)
    def put_state(self, tree):
        """Places params, optimizer state or a `TrainState` on the devices (every process passes the same)."""
        return jax.tree.map(lambda leaf, s: _put_global(leaf, s), tree, self.state_shardings(tree))

    def put_members(self, tree):
        """Places member-stacked arrays `[members, ...]` (`models.fit_many`), split along their leading
        member axis: each device holds whole members (their count a multiple of the device count)."""
        return jax.tree.map(lambda leaf: _put_global(leaf, self.batch_sharding), tree)

    def put_data(self, tree):
        """Places a data set `[n, ...]` (or a pytree of them) whole on every device.

        With one process, `tree` is the data set. With several, each passes its own shard (any sizes);
        the shards are concatenated in process order, so process 0's samples come first.
        """
        if jax.process_count() > 1:
            tree = jax.tree.map(_gather_process_shards, tree)
        return jax.tree.map(lambda leaf: _put_global(leaf, self.replicated), tree)

    def shard_batch(self, tree):
        """A batch for a hand-written `jax.jit` step: split across the devices along its first axis.

        With several processes, each passes its local part of the global batch (equal sizes, summing to
        a multiple of the device count).
        """
        if jax.process_count() > 1:
            return jax.tree.map(
                lambda a: jax.make_array_from_process_local_data(self.batch_sharding, np.asarray(a)), tree
            )

        def put(a):
            if np.shape(a)[0] % self.num_devices:
                raise ValueError(
                    f"DataParallel.shard_batch: a batch of {np.shape(a)[0]} samples does not split over "
                    f"{self.num_devices} devices; use a batch size that is a multiple of {self.num_devices}."
                )
            return jax.device_put(a, self.batch_sharding)

        return jax.tree.map(put, tree)

    def gather(self, tree):
        """Every leaf as a numpy array on every process (for saving, printing, comparing)."""
        return jax.tree.map(host_array, tree)


def _put_global(leaf, sharding: NamedSharding):
    if isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        data = _put_global(jax.random.key_data(leaf), sharding)
        return jax.random.wrap_key_data(data, impl=jax.random.key_impl(leaf))
    if isinstance(leaf, jax.Array) and leaf.sharding == sharding:
        return leaf
    if jax.process_count() == 1:
        return jax.device_put(leaf, sharding)
    value = host_array(leaf)
    return jax.make_array_from_callback(value.shape, sharding, lambda index: value[index])


def host_array(leaf) -> np.ndarray:
    """`leaf` as one numpy array on this host, also when it is spread over the devices of several
    processes (gathered; every process must call it)."""
    if not isinstance(leaf, jax.Array) or leaf.is_fully_addressable:
        return np.asarray(jax.device_get(leaf))
    if leaf.is_fully_replicated:
        return np.asarray(leaf.addressable_data(0))
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(leaf, tiled=True))


def _gather_process_shards(local) -> np.ndarray:
    """Concatenates every process's `local` array (same trailing shape, any length), in process order."""
    from jax.experimental import multihost_utils

    local = np.asarray(local)
    lengths = np.asarray(multihost_utils.process_allgather(np.array([local.shape[0]], np.int64))).reshape(-1)
    longest = int(lengths.max())
    padded = np.zeros((longest, *local.shape[1:]), local.dtype)
    padded[: local.shape[0]] = local
    gathered = np.asarray(multihost_utils.process_allgather(padded[None], tiled=True))
    return np.concatenate([gathered[p, : int(n)] for p, n in enumerate(lengths)])
