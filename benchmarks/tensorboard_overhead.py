"""What `callbacks.TensorBoard` costs an epoch, on the book's MNIST network.

One process, one model: epochs with and without the callback alternate (each a `fit` of one epoch, so
both run the same compiled program; a warm-up epoch of each first), the callback writing every scalar
and, with `--histograms`, every weight's histogram each epoch. Prints and writes each mode's median epoch
and the overhead in percent (target: at most 2%).

Run:
  FUNCNET_DATA_DIR=../shared/datasets .venv/bin/python benchmarks/tensorboard_overhead.py --out docs/perf-tensorboard.md
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import jax
import numpy as np

from funcnet import callbacks, layers, models


class _Timed(callbacks.TensorBoard):
    """The callback, with the time its epoch-end work takes on the host (the writes and the flush)."""

    spent: list[float] = []

    def on_epoch_end(self, epoch, logs=None):
        start = time.perf_counter()
        super().on_epoch_end(epoch, logs)
        _Timed.spent.append(time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--histograms", action="store_true", help="also a histogram of every weight each epoch")
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    with np.load(os.path.join(os.environ["FUNCNET_DATA_DIR"], "mnist.npz")) as f:
        x = f["x_train"].reshape(60000, 784).astype("float32") / 255
        y = np.eye(10, dtype="float32")[f["y_train"]]
    model = models.Sequential([layers.Dense(512, activation="relu", input_shape=(784,)),
                               layers.Dense(10, activation="softmax")])
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    log_dir = tempfile.mkdtemp(prefix="tensorboard-overhead-")
    times: dict[str, list[float]] = {"without": [], "with TensorBoard": []}
    load = os.getloadavg()
    for rnd in range(args.rounds + 1):
        for mode in times:
            board = [_Timed(log_dir, histogram_freq=1 if args.histograms else 0)] \
                if mode != "without" else []
            start = time.perf_counter()
            model.fit(x, y, epochs=rnd + 1, initial_epoch=rnd, batch_size=128, verbose=0, callbacks=board)
            jax.block_until_ready(model.params)
            if rnd:  # round 0 warms up (compiles, opens the writer's thread)
                times[mode].append(time.perf_counter() - start)
    medians = {mode: statistics.median(t) for mode, t in times.items()}
    overhead = 100 * (medians["with TensorBoard"] / medians["without"] - 1)
    lines = [
        "# `callbacks.TensorBoard`: its cost per epoch (MNIST MLP, batch 128)",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, load average {load[0]:.2f} at the start; "
        f"{args.rounds} alternating rounds of one-epoch fits{' , histograms every epoch' if args.histograms else ''}.",
        "",
        "```bash",
        "FUNCNET_DATA_DIR=../shared/datasets .venv/bin/python benchmarks/tensorboard_overhead.py"
        + (" --histograms" if args.histograms else "") + " --out docs/perf-tensorboard.md",
        "```",
        "",
        "| mode | median epoch s | all epochs s |",
        "|---|---:|---:|",
    ]
    for mode, t in times.items():
        lines.append(f"| {mode} | {medians[mode]:.3f} | {' '.join(f'{v:.3f}' for v in t)} |")
    spent = statistics.median(_Timed.spent[1:])
    lines += ["", f"Overhead of the whole epochs: **{overhead:+.1f}%** (target: at most +2%; epochs of one mode "
              "vary by more than that on this shared machine, so this is noise-limited). The callback's own "
              f"work at each epoch's end (writing and flushing the events, timed inside it): median "
              f"**{spent * 1e3:.2f} ms**, {100 * spent / medians['without']:.2f}% of an epoch."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
