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
    # a GPU host, the wider MLP of the issue:  ... --forced-devices 0 --width 4096 --batch-size 1024
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness  # noqa: E402


def child(args) -> None:
    import jax
    import numpy as np

    from funcnet import datasets, distribution, layers, models, utils

    (x, y), (xt, yt) = datasets.mnist.load_data(path=os.path.join(args.data_dir, "mnist.npz"))
    x = x.reshape(len(x), -1).astype("float32") / 255
    y = utils.to_categorical(y, 10)
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
    times = clock.epoch_times()
    _harness.emit({
        "devices": args.n, "data_parallel": dp is not None, "platform": devices[0].platform,
        "epoch_times": times, "steady": float(np.median(times[1:])) if len(times) > 1 else times[0],
        "losses": losses, "samples": len(x),
    })


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
    args = p.parse_args()
    args.data_dir = _harness.data_dir(args.data_dir)
    if args.child is not None:
        args.n = args.child
        child(args)
        return

    env = dict(os.environ)
    if args.forced_devices:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={args.forced_devices}"
    load_start = os.getloadavg()
    rows = []
    runs = [(1, False)] + [(n, True) for n in args.devices]
    for n, dp in runs:
        cmd = [sys.executable, __file__, "--child", str(n), "--epochs", str(args.epochs), "--batch-size",
               str(args.batch_size), "--width", str(args.width), "--dtype-policy", args.dtype_policy,
               "--data-dir", args.data_dir] + (["--dp1"] if dp and n == 1 else [])
        started = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        line = [ln for ln in done.stdout.splitlines() if ln.startswith(_harness.MARKER)]
        if done.returncode or not line:
            sys.exit(f"child for {n} device(s) failed:\n{done.stderr[-3000:]}")
        result = json.loads(line[-1][len(_harness.MARKER):])
        result["process_seconds"] = time.perf_counter() - started
        rows.append(result)
        label = f"{n} (DataParallel)" if result["data_parallel"] else f"{n} (no distribution)"
        print(f"{label:>20}: steady epoch {result['steady']:.2f} s, first {result['epoch_times'][0]:.2f} s, "
              f"{result['samples'] / result['steady']:,.0f} samples/s, losses {[round(v, 4) for v in result['losses']]}",
              flush=True)
    load_end = os.getloadavg()
    base = rows[0]["steady"]
    table = ["| devices | layout | steady epoch (s) | samples/s | vs one device | first epoch (s) | final loss |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        layout = "DataParallel" if r["data_parallel"] else "none (default path)"
        table.append(f"| {r['devices']} | {layout} | {r['steady']:.2f} | {r['samples'] / r['steady']:,.0f} | "
                     f"{r['steady'] / base:.2f}x | {r['epoch_times'][0]:.2f} | {r['losses'][-1]:.4f} |")
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


if __name__ == "__main__":
    main()
