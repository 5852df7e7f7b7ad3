"""The book's first network on MNIST (Deep Learning with Python, section 2.1), with its learning curves.

    784 -> Dense(512, relu) -> Dense(10, softmax), RMSprop(1e-3), categorical crossentropy,
    5 epochs of batch 128 on all 60,000 training images; test accuracy (book: 0.9777).

The book trains without validation data. Here `fit` is given the test set as `validation_data`, to
draw the curves: evaluating after each epoch changes nothing in training, so the final validation
accuracy *is* the test accuracy of the book's run, and the model trains on all 60,000 images as in
the book (a `validation_split` would take 12,000 of them away).

Run:  FUNCNET_DATA_DIR=../shared/datasets python experiments/mnist.py --seeds 0 1 2

Mixed precision (bfloat16 compute, float32 params and optimizer state): add `--dtype-policy mixed_bfloat16`.
Data parallelism over every device (a GPU host's GPUs, or forced host devices): add `--data-parallel`.
Several processes (here two on one machine, over loopback), each feeding its half of the data:

    for i in 0 1; do XLA_FLAGS=--xla_force_host_platform_device_count=2 python experiments/mnist.py \
        --data-parallel --coordinator 127.0.0.1:7777 --num-processes 2 --process-id $i & done; wait
"""
from __future__ import annotations

import os
import pathlib
import sys
from typing import NamedTuple, Sequence

import jax
import numpy as np

from funcnet import datasets, distribution, layers, models, utils


sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))  # the experiments' shared helpers
import _common as common  # noqa: E402

BOOK_TEST_ACCURACY = 0.9777
# first_edition/2.1-a-first-look-at-a-neural-network.ipynb (Keras 2.0.8): the training log of network.fit.
BOOK_HISTORY = {
    "loss": [0.2577, 0.1042, 0.0687, 0.0508, 0.0382],
    "accuracy": [0.9245, 0.9690, 0.9793, 0.9848, 0.9890],
}


class MnistData(NamedTuple):
    x_train: np.ndarray  # float32 [n, 784] in [0, 1]
    y_train: np.ndarray  # float32 [n, 10] one-hot
    x_test: np.ndarray
    y_test: np.ndarray


def load_data(data_dir: str | None = None, train_samples: int | None = None, test_samples: int | None = None) -> MnistData:
    """The book's preparation: flatten, scale to [0, 1], one-hot labels; optionally the first N samples."""
    (x_train, y_train), (x_test, y_test) = datasets.mnist.load_data(path=common.data_path(data_dir, "mnist.npz"))
    x_train, y_train = x_train[:train_samples], y_train[:train_samples]
    x_test, y_test = x_test[:test_samples], y_test[:test_samples]
    prepare = lambda x: x.reshape((len(x), 28 * 28)).astype("float32") / 255  # noqa: E731
    return MnistData(prepare(x_train), utils.to_categorical(y_train, 10), prepare(x_test), utils.to_categorical(y_test, 10))


def build_model() -> models.Sequential:
    network = models.Sequential()
    network.add(layers.Dense(512, activation="relu", input_shape=(28 * 28,)))
    network.add(layers.Dense(10, activation="softmax"))
    return network


def own_shard(data: MnistData) -> MnistData:
    """This process's contiguous share of every array (all of it in a one-process run)."""
    count, index = jax.process_count(), jax.process_index()

    def share(a):
        bounds = np.linspace(0, len(a), count + 1).astype(int)
        return a[bounds[index]:bounds[index + 1]]

    return MnistData(*(share(a) for a in data))


class Run(NamedTuple):
    history: dict  # loss, accuracy, val_loss, val_accuracy (validation = the test set)
    test_loss: float
    test_accuracy: float
    seconds: float  # fit and evaluate, compile included
    model: models.Sequential | None = None


def train(data: MnistData, epochs: int = 5, batch_size: int = 128, seed: int = 0, rmsprop: str = "keras3",
          dtype_policy: str = "float32", data_parallel: bool = False) -> Run:
    network = build_model()
    network.compile(optimizer=common.compile_optimizer(rmsprop), loss="categorical_crossentropy", metrics=["accuracy"],
                    dtype_policy=dtype_policy, distribution=distribution.DataParallel() if data_parallel else None)
    with common.Timer() as timer:
        history = network.fit(data.x_train, data.y_train, epochs=epochs, batch_size=batch_size, verbose=0,
                              validation_data=(data.x_test, data.y_test), seed=seed)
        test_loss, test_accuracy = network.evaluate(data.x_test, data.y_test, batch_size=batch_size, verbose=0)
    return Run(history.history, float(test_loss), float(test_accuracy), timer.seconds, network)


def train_seeds(data: MnistData, epochs: int = 5, batch_size: int = 128, seeds: Sequence[int] = (0,),
                rmsprop: str = "keras3", dtype_policy: str = "float32") -> list[Run]:
    """`train` for every seed, side by side in one program (`models.fit_many`): the same runs, to float
    rounding; each `Run.seconds` is the whole call's time divided among the seeds."""
    network = build_model()
    network.compile(optimizer=common.compile_optimizer(rmsprop), loss="categorical_crossentropy", metrics=["accuracy"],
                    dtype_policy=dtype_policy)
    with common.Timer() as timer:
        trained = common.fit_seeds(network, data.x_train, data.y_train, seeds, epochs=epochs, batch_size=batch_size,
                                   validation_data=(data.x_test, data.y_test))
        test = trained.runs.evaluate(data.x_test, data.y_test, batch_size=batch_size)
    return [Run(history, float(test["loss"][k]), float(test["accuracy"][k]), timer.seconds / len(seeds),
                trained.runs.member(k) if k == 0 else None)
            for k, history in enumerate(trained.histories)]


def plot(runs: list[Run], path) -> str:
    n = len(runs)
    return common.save_history_figure(
        [r.history for r in runs], path,
        f"MNIST, the book's first network: RMSprop, batch 128, validation = the 10,000 test images "
        f"({common.seeds_caption(n)})",
        book=BOOK_HISTORY, book_label="book notebook, Keras 2.0.8")


def main(argv: list[str] | None = None) -> dict:
    p = common.parser(__doc__.splitlines()[0], epochs=5)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--dtype-policy", default="float32", choices=["float32", "mixed_bfloat16", "mixed_float16"],
                   help="compute dtype (params and optimizer state stay float32); default float32")
    p.add_argument("--data-parallel", action="store_true", help="split each batch over all devices (DataParallel)")
    p.add_argument("--coordinator", default=None, help="HOST:PORT of process 0, for a multi-process run")
    p.add_argument("--num-processes", type=int, default=None, help="processes in a multi-process run")
    p.add_argument("--process-id", type=int, default=None, help="this process's index in a multi-process run")
    common.add_rmsprop_option(p)
    common.add_subset_options(p)
    common.add_save_option(p)
    args = p.parse_args(argv)
    if args.num_processes is not None:
        if not args.data_parallel:
            p.error("--num-processes needs --data-parallel")
        distribution.initialize(args.coordinator, num_processes=args.num_processes, process_id=args.process_id)
    os.makedirs(args.out, exist_ok=True)
    seeds = common.seeds_of(args)
    data = own_shard(load_data(args.data_dir, args.train_samples, args.test_samples))
    print(f"process {jax.process_index()} of {jax.process_count()}: " if jax.process_count() > 1 else "", end="")
    print(f"MNIST: {len(data.x_train)} training, {len(data.x_test)} test images; {args.epochs} epochs of batch "
          f"{args.batch_size}; seeds {seeds}; rmsprop {args.rmsprop}; dtype policy {args.dtype_policy}; "
          f"devices {jax.devices()}{' (data parallel)' if args.data_parallel else ''}", flush=True)
    if len(seeds) > 1 and not args.data_parallel and jax.process_count() == 1:
        # All seeds side by side in one program (DataParallel runs split the batches, so they loop).
        runs = train_seeds(data, args.epochs, args.batch_size, seeds, args.rmsprop, args.dtype_policy)
    else:
        runs = [train(data, args.epochs, args.batch_size, seed, args.rmsprop, args.dtype_policy, args.data_parallel)
                for seed in seeds]
    common.save_model(args, runs[0].model)
    for seed, run in zip(seeds, runs):
        h = run.history
        print(f"seed {seed}: loss {np.round(h['loss'], 4).tolist()}  train acc {h['accuracy'][-1]:.4f}  "
              f"test loss {run.test_loss:.4f}  test acc {run.test_accuracy:.4f}  ({run.seconds:.1f}s)", flush=True)
    if jax.process_index() != 0:  # one process of a multi-process run draws and reports
        return {"runs": runs, "figures": []}
    png = plot(runs, os.path.join(args.out, "mnist.png"))
    print("figure:", png)
    print(f"results: test accuracy {common.format_values([r.test_accuracy for r in runs])} (book {BOOK_TEST_ACCURACY}) | "
          f"final training loss {common.format_values([r.history['loss'][-1] for r in runs])} (book 0.0382) | "
          f"seconds per run {common.format_values([r.seconds for r in runs], 1)}")
    return {"runs": runs, "figures": [png]}


if __name__ == "__main__":
    main(sys.argv[1:])
