"""An MLP with BatchNormalization on MNIST, trained with `fit`: the book's first network made deeper.

    784 -> [Dense(512, no bias) -> BatchNormalization -> relu -> Dropout(0.2)] x 2 -> Dense(10, softmax),
    RMSprop(1e-3), categorical crossentropy, 10 epochs of batch 128 on all 60,000 training images.

The book's chapter 7 introduces BatchNormalization (`Dense(use_bias=False)` before it, the activation
after it, as the book writes it). The moving means and variances are the model's state
(`model.state`): `fit` updates them in the same compiled step that trains the params, the last batch
of 96 images included (its padding never enters the statistics), and `evaluate` on the test set uses
them. As in `mnist.py`, the test set is `fit`'s `validation_data`, for the curves.

`--depth 1 --dropout 0 --epochs 5` is the book's network with one BatchNormalization inserted: its test
accuracy after 5 epochs (about 0.977, also in Keras 3) swings by half a point from epoch to epoch.

Run:  FUNCNET_DATA_DIR=../shared/datasets python experiments/mnist_batchnorm.py --seeds 0 1 2
"""
from __future__ import annotations

import os
import pathlib
import sys
from typing import NamedTuple

import numpy as np

from funcnet import layers, models

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))  # the experiments' shared helpers
import _common as common  # noqa: E402
import mnist  # noqa: E402

TARGET_TEST_ACCURACY = 0.98


def build_model(depth: int = 2, dropout: float = 0.2) -> models.Sequential:
    stack = [layers.Input(shape=(28 * 28,))]
    for _ in range(depth):
        stack += [layers.Dense(512, use_bias=False), layers.BatchNormalization(), layers.Activation("relu")]
        if dropout:
            stack.append(layers.Dropout(dropout))
    return models.Sequential([*stack, layers.Dense(10, activation="softmax")])


class Run(NamedTuple):
    history: dict  # loss, accuracy, val_loss, val_accuracy (validation = the test set)
    test_loss: float
    test_accuracy: float
    seconds: float  # fit and evaluate, compile included
    moving_mean_spread: float  # standard deviation of the 512 moving means after training
    model: models.Sequential | None = None


def train(data: mnist.MnistData, epochs: int = 10, batch_size: int = 128, seed: int = 0, depth: int = 2,
          dropout: float = 0.2) -> Run:
    network = build_model(depth, dropout)
    network.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    with common.Timer() as timer:
        history = network.fit(data.x_train, data.y_train, epochs=epochs, batch_size=batch_size, verbose=0,
                              validation_data=(data.x_test, data.y_test), seed=seed)
        test_loss, test_accuracy = network.evaluate(data.x_test, data.y_test, batch_size=batch_size, verbose=0)
    spread = float(np.std(np.asarray(network.state["batch_normalization"]["moving_mean"])))  # the first block's
    return Run(history.history, float(test_loss), float(test_accuracy), timer.seconds, spread, network)


def main(argv: list[str] | None = None) -> dict:
    p = common.parser(__doc__.splitlines()[0], epochs=10)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--depth", type=int, default=2, help="hidden Dense-BatchNormalization-relu blocks (default 2)")
    p.add_argument("--dropout", type=float, default=0.2, help="dropout rate after each block (default 0.2)")
    common.add_subset_options(p)
    common.add_save_option(p)
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    seeds = common.seeds_of(args)
    data = mnist.load_data(args.data_dir, args.train_samples, args.test_samples)
    print(f"MNIST with BatchNormalization: {len(data.x_train)} training, {len(data.x_test)} test images; "
          f"{args.depth} block(s), dropout {args.dropout}; {args.epochs} epochs of batch {args.batch_size}; "
          f"seeds {seeds}", flush=True)
    runs = []
    for seed in seeds:
        run = train(data, args.epochs, args.batch_size, seed, args.depth, args.dropout)
        runs.append(run)
        if len(runs) == 1:
            common.save_model(args, run.model)
        h = run.history
        print(f"seed {seed}: loss {np.round(h['loss'], 4).tolist()}  train acc {h['accuracy'][-1]:.4f}  "
              f"test loss {run.test_loss:.4f}  test acc {run.test_accuracy:.4f}  ({run.seconds:.1f}s)", flush=True)
    png = common.save_history_figure(
        [r.history for r in runs], os.path.join(args.out, "mnist_batchnorm.png"),
        f"MNIST, {args.depth} x (Dense 512, BatchNormalization), RMSprop; validation = the test images "
        f"({common.seeds_caption(len(runs))})")
    print("figure:", png)
    print(f"results: test accuracy {common.format_values([r.test_accuracy for r in runs])} "
          f"(target {TARGET_TEST_ACCURACY}) | final training loss "
          f"{common.format_values([r.history['loss'][-1] for r in runs])} | seconds per run "
          f"{common.format_values([r.seconds for r in runs], 1)}")
    return {"runs": runs, "figures": [png]}


if __name__ == "__main__":
    main(sys.argv[1:])
