"""What `fit(verbose=1)`'s live progress bar costs, against `verbose=0`, on the book's MNIST network.

Epochs of each mode alternate in one process (after a warm-up epoch of each), with stdout a fake
terminal so the bar really draws; prints each mode's median epoch time and the overhead in percent.

Run: FUNCNET_DATA_DIR=../shared/datasets .venv/bin/python benchmarks/progress_overhead.py
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import time

import numpy as np

from funcnet import layers, models


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    with np.load(os.path.join(os.environ["FUNCNET_DATA_DIR"], "mnist.npz")) as f:
        x = f["x_train"].reshape(60000, 784).astype("float32") / 255
        y = np.eye(10, dtype="float32")[f["y_train"]]
    model = models.Sequential([layers.Dense(512, activation="relu", input_shape=(784,)), layers.Dense(10, activation="softmax")])
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    times: dict[int, list[float]] = {0: [], 1: []}
    for rnd in range(args.rounds + 1):
        for verbose in (0, 1):
            with contextlib.redirect_stdout(_Terminal()):
                start = time.perf_counter()
                model.fit(x, y, epochs=1, batch_size=128, verbose=verbose)
                if rnd:  # round 0 warms both programs up
                    times[verbose].append(time.perf_counter() - start)
    quiet, bar = (float(np.median(times[v])) for v in (0, 1))
    print(f"verbose=0: {quiet:.3f} s/epoch  verbose=1: {bar:.3f} s/epoch  overhead: {100 * (bar / quiet - 1):+.1f}%")


if __name__ == "__main__":
    main()
