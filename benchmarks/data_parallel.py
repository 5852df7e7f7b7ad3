"""Throughput of `fit` against the device count: a correctness and overhead check of data parallelism.

On this 2-core CPU, `--xla_force_host_platform_device_count=8` makes 8 "devices" that share the same
two cores, so more devices cannot be faster here: the numbers show what splitting a batch costs (the
all-reduce, smaller matmuls) and that every layout learns the same thing (the loss column). On a
machine with several GPUs, run it without the flag to see the speed-up.

Each device count runs in a fresh subprocess (JAX fixes its devices at start-up). Per run: the book's
MNIST network (or `--width` units) on real MNIST, `fit` for `--epochs` epochs of `--batch-size` with
`compile(..., distribution=DataParallel(jax.devices()[:n]))`; the steady epoch is the median of
epochs 2..E.

    FUNCNET_DATA_DIR=../shared/datasets python benchmarks/data_parallel.py --devices 1 2 4 8 --out docs/perf-data-parallel.md
    # a GPU host, funcnet beside Keras 3 on JAX for MNIST and the wider MLP (4096 units, batch 1024):
    ... --forced-devices 0 --devices 1 --keras
    ... --forced-devices 0 --devices 1 --keras --width 4096 --batch-size 1024
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness  # noqa: E402


def _mnist(data_dir: str):
    """The book's MNIST training set: images `[60000, 784]` in [0, 1], one-hot labels `[60000, 10]`."""
    from funcnet import datasets, utils

    (x, y), _ = datasets.mnist.load_data(path=os.path.join(data_dir, "mnist.npz"))
    return x.reshape(len(x), -1).astype("float32") / 255, utils.to_categorical(y, 10)


def _emit(clock, losses: list, samples: int, tags: dict) -> None:
    """A child's result: its epoch times, the steady epoch (median of epochs 2..E), losses and `tags`."""
    times = clock.epoch_times()
    steady = statistics.median(times[1:]) if len(times) > 1 else times[0]
    _harness.emit({**tags, "epoch_times": times, "steady": steady, "losses": losses, "samples": samples})


def child(args) -> None:
    import jax

    from funcnet import distribution, layers, models

    x, y = _mnist(args.data_dir)
    devices = jax.devices()[: args.n]
    if len(devices) < args.n:
        raise SystemExit(f"asked for {args.n} devices; this process has {len(jax.devices())}")
    clock = _harness.EpochClock()
    clock.start()
    model = models.Sequential([layers.Dense(args.width, activation="relu", input_shape=(784,)),
                               layers.Dense(10, activation="softmax")])
    dp = distribution.DataParallel(devices) if args.n > 1 or args.dp1 else None
    model.compile("rmsprop", "categorical_crossentropy", ["accuracy"], distribution=dp,
                  dtype_policy=args.dtype_policy)
    losses = []
    for epoch in range(args.epochs):
        history = model.fit(x, y, epochs=epoch + 1, initial_epoch=epoch, batch_size=args.batch_size, verbose=0)
        losses.append(history.history["loss"][-1])  # fit returns after the epoch's logs are on the host
        clock.epoch_end()
    _emit(clock, losses, len(x), {"devices": args.n, "data_parallel": dp is not None,
                                  "platform": devices[0].platform})


def child_keras(args) -> None:
    """Keras 3 on JAX, `model.fit` on one device: the peer for the GPU side-by-side (`--keras`)."""
    os.environ["KERAS_BACKEND"] = "jax"
    import jax
    import keras

    x, y = _mnist(args.data_dir)
    clock = _harness.EpochClock()
    clock.start()
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(args.width, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.RMSprop(1e-3), loss="categorical_crossentropy", metrics=["accuracy"])
    losses = []
    for epoch in range(args.epochs):
        history = model.fit(x, y, epochs=epoch + 1, initial_epoch=epoch, batch_size=args.batch_size, verbose=0)
        losses.append(history.history["loss"][-1])
        clock.epoch_end()
    _emit(clock, losses, len(x), {"devices": 1, "data_parallel": False, "keras": True,
                                  "platform": jax.devices()[0].platform})


def child_plain_jax(args) -> None:
    """The same network and layout written in plain JAX + optax: the floor for funcnet's overhead."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

    x, y = _mnist(args.data_dir)
    n, batch = len(x), args.batch_size
    steps = n // batch  # full batches only: a plain loop's usual simplification
    mesh = Mesh(np.array(jax.devices()[: args.n]), ("batch",))
    replicated, split = NamedSharding(mesh, P()), NamedSharding(mesh, P("batch"))
    clock = _harness.EpochClock()
    clock.start()
    k1, k2 = jax.random.split(jax.random.key(0))
    params = {"w1": jax.random.uniform(k1, (784, args.width), minval=-0.07, maxval=0.07), "b1": jnp.zeros(args.width),
              "w2": jax.random.uniform(k2, (args.width, 10), minval=-0.1, maxval=0.1), "b2": jnp.zeros(10)}
    tx = optax.rmsprop(1e-3, decay=0.9, eps=1e-7)
    params = jax.device_put(params, replicated)
    opt_state = jax.device_put(tx.init(params), replicated)
    x, y = jax.device_put(x, replicated), jax.device_put(y, replicated)

    @jax.jit
    def epoch(params, opt_state, x, y, e):
        order = jax.random.permutation(jax.random.fold_in(jax.random.key(1), e), n)

        def body(i, carry):
            params, opt_state, total = carry
            idx = jax.lax.with_sharding_constraint(jax.lax.dynamic_slice_in_dim(order, i * batch, batch), split)
            xb = jax.lax.with_sharding_constraint(jnp.take(x, idx, axis=0), split)
            yb = jax.lax.with_sharding_constraint(jnp.take(y, idx, axis=0), split)

            def loss_fn(p):
                h = jax.nn.relu(xb @ p["w1"] + p["b1"])
                return -(jax.nn.log_softmax(h @ p["w2"] + p["b2"]) * yb).sum(-1).mean()

            loss, grads = jax.value_and_grad(loss_fn)(params)
            updates, opt_state = tx.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state, total + loss

        params, opt_state, total = jax.lax.fori_loop(0, steps, body, (params, opt_state, jnp.zeros([])))
        return params, opt_state, total / steps

    losses = []
    for e in range(args.epochs):
        params, opt_state, loss = epoch(params, opt_state, x, y, e)
        losses.append(float(loss))
        clock.epoch_end()
    _emit(clock, losses, steps * batch, {"devices": args.n, "data_parallel": True, "plain_jax": True,
                                         "platform": jax.devices()[0].platform})


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4, 8])
    p.add_argument("--forced-devices", type=int, default=8,
                   help="--xla_force_host_platform_device_count for the children (0: leave the devices alone)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--width", type=int, default=512)
    p.add_argument("--dtype-policy", default="float32")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", default=None, help="write a markdown table here (and the raw numbers beside it as .json)")
    p.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--dp1", action="store_true", help="use DataParallel also for one device (its overhead)")
    p.add_argument("--plain-jax", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--no-baseline", action="store_true", help="skip the plain-JAX rows")
    p.add_argument("--keras", action="store_true", help="add Keras 3 on JAX (fit, one device) as a row")
    p.add_argument("--keras-child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    args.data_dir = _harness.data_dir(args.data_dir)
    if args.child is not None:
        args.n = args.child
        (child_keras if args.keras_child else child_plain_jax if args.plain_jax else child)(args)
        return

    env = {"XLA_FLAGS": f"--xla_force_host_platform_device_count={args.forced_devices}"} if args.forced_devices else {}
    load_start = os.getloadavg()
    rows = []
    runs = [(1, False, "")] + [(n, True, "") for n in args.devices]
    if not args.no_baseline:
        runs += [(n, True, "--plain-jax") for n in args.devices]
    if args.keras:
        runs += [(1, False, "--keras-child")]
    for n, dp, kind in runs:
        cmd = ["--child", str(n), "--epochs", str(args.epochs), "--batch-size",
               str(args.batch_size), "--width", str(args.width), "--dtype-policy", args.dtype_policy,
               "--data-dir", args.data_dir] + (["--dp1"] if dp and n == 1 else []) + ([kind] if kind else [])
        result, wall, stderr = _harness.run_child(__file__, cmd, env)
        if result is None:
            sys.exit(f"child for {n} device(s) failed:\n{stderr}")
        result["process_seconds"] = wall
        rows.append(result)
        label = f"{n} ({_layout(result)})"
        print(f"{label:>20}: steady epoch {result['steady']:.2f} s, first {result['epoch_times'][0]:.2f} s, "
              f"{result['samples'] / result['steady']:,.0f} samples/s, losses {[round(v, 4) for v in result['losses']]}",
              flush=True)
    load_end = os.getloadavg()
    base = rows[0]["steady"]
    plain = {r["devices"]: r for r in rows if r.get("plain_jax")}
    table = ["| devices | layout | steady epoch (s) | samples/s | vs funcnet on one device | vs plain JAX, same devices "
             "| first epoch (s) | final loss |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        same = plain.get(r["devices"])
        versus = f"{r['steady'] / same['steady']:.2f}x" if same and not r.get("plain_jax") and r["data_parallel"] else ""
        table.append(f"| {r['devices']} | {_layout(r)} | {r['steady']:.2f} | {r['samples'] / r['steady']:,.0f} | "
                     f"{r['steady'] / base:.2f}x | {versus} | {r['epoch_times'][0]:.2f} | {r['losses'][-1]:.4f} |")
    header = (f"`{' '.join(sys.argv)}`  \nplatform {rows[0]['platform']}, forced host devices "
              f"{args.forced_devices or 'off'}, width {args.width}, batch {args.batch_size}, {args.epochs} epochs, "
              f"dtype policy {args.dtype_policy}; load average {load_start[0]:.1f} at start, {load_end[0]:.1f} at end")
    text = header + "\n\n" + "\n".join(table) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
        with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
            json.dump({"argv": sys.argv, "rows": rows, "load": [load_start, load_end]}, f, indent=1)


def _layout(row: dict) -> str:
    if row.get("keras"):
        return "Keras 3 on JAX, `model.fit`"
    if row.get("plain_jax"):
        return "plain JAX + optax, batch split (full batches only)"
    return "funcnet DataParallel" if row["data_parallel"] else "funcnet, no distribution (default path)"


if __name__ == "__main__":
    main()
