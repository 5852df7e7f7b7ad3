"""The book's chapter-6 IMDB networks on sequences of word ids (Deep Learning with Python, 6.1 and 6.2).

    embedding:  Embedding(10000, 8, input_length=20) -> Flatten -> Dense(1, sigmoid)      (maxlen 20, batch 32)
    simplernn:  Embedding(10000, 32) -> SimpleRNN(32) -> Dense(1, sigmoid)                (maxlen 500, batch 128)
    lstm:       Embedding(10000, 32) -> LSTM(32) -> Dense(1, sigmoid)                     (maxlen 500, batch 128)

Each as the book trains it: the 10,000 most frequent words, reviews cut to their last `maxlen` words
and pre-padded with zeros (`utils.pad_sequences`), RMSprop, binary crossentropy, 10 epochs with the last
20% of the 25,000 training reviews held out (`validation_split=0.2`). The book reads the validation
accuracy: ~0.76 (embedding), ~0.85 (SimpleRNN), ~0.89 (LSTM). After the 10 epochs the script also
evaluates on the 25,000 test reviews (the book does not).

Run:  FUNCNET_DATA_DIR=../shared/datasets python experiments/imdb_sequences.py --seeds 0 1 2
      (--networks embedding lstm to pick some; --train-samples/--test-samples for quick runs)
"""
from __future__ import annotations

import os
import pathlib
import sys
from typing import NamedTuple

import jax
import numpy as np

from funcnet import datasets, layers, models, utils

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))  # the experiments' shared helpers
import _common as common  # noqa: E402

MAX_FEATURES = 10000


class Network(NamedTuple):
    title: str
    maxlen: int
    batch_size: int
    book_val_accuracy: float  # what the book's text reads off its curves (the LSTM's: its log's best, 0.8928)
    book_history: dict  # the book notebook's training log (Keras 2.0.8)
    figure: str  # the curves' file in --out


# first_edition/6.1-using-word-embeddings.ipynb and 6.2-understanding-recurrent-neural-networks.ipynb
# (Keras 2.0.8): the logs of model.fit(..., epochs=10, validation_split=0.2).
NETWORKS = {
    "embedding": Network(
        "Embedding(10000, 8) + Flatten + Dense (listing 6.7), maxlen 20, batch 32", 20, 32, 0.76, {
            "loss": [0.6560, 0.5189, 0.4512, 0.4190, 0.3965, 0.3784, 0.3624, 0.3474, 0.3330, 0.3194],
            "accuracy": [0.6482, 0.7595, 0.7933, 0.8069, 0.8198, 0.8311, 0.8419, 0.8484, 0.8582, 0.8669],
            "val_loss": [0.5906, 0.5117, 0.4949, 0.4905, 0.4914, 0.4953, 0.5004, 0.5058, 0.5122, 0.5183],
            "val_accuracy": [0.7146, 0.7364, 0.7470, 0.7538, 0.7572, 0.7594, 0.7574, 0.7572, 0.7528, 0.7554],
        }, "imdb_embedding.png"),
    "simplernn": Network(
        "Embedding(10000, 32) + SimpleRNN(32) + Dense (listing 6.22), maxlen 500, batch 128", 500, 128, 0.85, {
            "loss": [0.6455, 0.4005, 0.2739, 0.1916, 0.1308, 0.0924, 0.0726, 0.0426, 0.0300, 0.0256],
            "accuracy": [0.6210, 0.8362, 0.8920, 0.9290, 0.9528, 0.9675, 0.9768, 0.9862, 0.9918, 0.9925],
            "val_loss": [0.5293, 0.4752, 0.4947, 0.3783, 0.5755, 0.5829, 0.5541, 0.5551, 0.5962, 0.6707],
            "val_accuracy": [0.7758, 0.7742, 0.8064, 0.8460, 0.7376, 0.7634, 0.7932, 0.8292, 0.8312, 0.8054],
        }, "imdb_simplernn.png"),
    "lstm": Network(
        "Embedding(10000, 32) + LSTM(32) + Dense (listing 6.27), maxlen 500, batch 128", 500, 128, 0.89, {
            "loss": [0.5038, 0.2917, 0.2305, 0.2033, 0.1749, 0.1543, 0.1417, 0.1331, 0.1147, 0.1092],
            "accuracy": [0.7574, 0.8866, 0.9105, 0.9261, 0.9385, 0.9457, 0.9493, 0.9522, 0.9618, 0.9628],
            "val_loss": [0.3853, 0.3020, 0.3125, 0.4013, 0.3273, 0.3505, 0.4485, 0.3242, 0.4216, 0.3972],
            "val_accuracy": [0.8346, 0.8794, 0.8688, 0.8574, 0.8912, 0.8774, 0.8396, 0.8928, 0.8746, 0.8758],
        }, "imdb_lstm.png"),
}


def build_model(network: str) -> models.Sequential:
    """The book's network `network` ("embedding", "simplernn" or "lstm")."""
    if network == "embedding":
        return models.Sequential([
            layers.Embedding(MAX_FEATURES, 8, input_length=NETWORKS[network].maxlen),
            layers.Flatten(),
            layers.Dense(1, activation="sigmoid"),
        ])
    recurrent = {"simplernn": layers.SimpleRNN, "lstm": layers.LSTM}[network]
    return models.Sequential([
        layers.Input((NETWORKS[network].maxlen,), dtype="int32"),
        layers.Embedding(MAX_FEATURES, 32),
        recurrent(32),
        layers.Dense(1, activation="sigmoid"),
    ])


class SequenceData(NamedTuple):
    x_train: np.ndarray  # int32 [n, maxlen] word ids, pre-padded with 0
    y_train: np.ndarray  # float32 [n], 0/1
    x_test: np.ndarray
    y_test: np.ndarray


def load_data(maxlen: int, data_dir: str | None = None, train_samples: int | None = None,
              test_samples: int | None = None) -> SequenceData:
    """The book's preparation: the 10,000 most frequent words, each review its last `maxlen` ids."""
    (x_train, y_train), (x_test, y_test) = datasets.imdb.load_data(
        path=common.data_path(data_dir, "imdb.npz"), num_words=MAX_FEATURES)
    x_train, y_train = x_train[:train_samples], y_train[:train_samples]
    x_test, y_test = x_test[:test_samples], y_test[:test_samples]
    return SequenceData(utils.pad_sequences(x_train, maxlen=maxlen), y_train.astype("float32"),
                        utils.pad_sequences(x_test, maxlen=maxlen), y_test.astype("float32"))


class Run(NamedTuple):
    history: dict  # loss, accuracy, val_loss, val_accuracy (validation: the last 20% of the training reviews)
    test_loss: float
    test_accuracy: float
    fit_seconds: float  # compile included
    epoch_seconds: list  # per epoch, from the history's timing callback
    model: models.Sequential | None = None


class _EpochTimes:
    """Wall-clock seconds of each epoch (the first includes compiling)."""

    def __init__(self):
        self.seconds: list[float] = []

    def as_callback(self):
        import time

        from funcnet import callbacks

        times = self

        class Timing(callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                times.seconds.append(time.perf_counter() - self.start)

        return Timing()


def train(network: str, data: SequenceData, epochs: int = 10, seed: int = 0, rmsprop: str = "keras3") -> Run:
    model = build_model(network)
    model.compile(optimizer=common.compile_optimizer(rmsprop), loss="binary_crossentropy", metrics=["accuracy"])
    times = _EpochTimes()
    with common.Timer() as timer:
        history = model.fit(data.x_train, data.y_train, epochs=epochs, batch_size=NETWORKS[network].batch_size,
                            validation_split=0.2, verbose=0, seed=seed, callbacks=[times.as_callback()])
    test_loss, test_accuracy = model.evaluate(data.x_test, data.y_test, batch_size=512, verbose=0)
    return Run(history.history, float(test_loss), float(test_accuracy), timer.seconds, times.seconds, model)


def main(argv: list[str] | None = None) -> dict:
    p = common.parser(__doc__.splitlines()[0], epochs=10)
    p.add_argument("--networks", nargs="+", choices=list(NETWORKS), default=list(NETWORKS))
    common.add_rmsprop_option(p)
    common.add_subset_options(p)
    common.add_save_option(p)
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    seeds = common.seeds_of(args)
    print(f"IMDB sequences: networks {args.networks}; {args.epochs} epochs; seeds {seeds}; rmsprop {args.rmsprop}; "
          f"devices {jax.devices()}", flush=True)
    results, figures, lines = {}, [], []
    for network in args.networks:
        spec = NETWORKS[network]
        data = load_data(spec.maxlen, args.data_dir, args.train_samples, args.test_samples)
        runs = []
        for seed in seeds:
            run = train(network, data, args.epochs, seed, args.rmsprop)
            runs.append(run)
            if len(runs) == 1:
                common.save_model(args, run.model, network)
            h = run.history
            print(f"{network} seed {seed}: val acc {np.round(h['val_accuracy'], 4).tolist()}  max {max(h['val_accuracy']):.4f}  "
                  f"test acc {run.test_accuracy:.4f}  epochs {run.epoch_seconds[0]:.1f}s first, "
                  f"{np.median(run.epoch_seconds[1:]) if len(run.epoch_seconds) > 1 else float('nan'):.1f}s steady "
                  f"({run.fit_seconds:.1f}s fit)", flush=True)
        results[network] = runs
        figures.append(common.save_history_figure(
            [r.history for r in runs], os.path.join(args.out, spec.figure),
            f"IMDB, {spec.title}\n{len(data.x_train) * 4 // 5:,} training, {len(data.x_train) // 5:,} validation "
            f"reviews ({common.seeds_caption(len(runs))})", book=spec.book_history or None))
        lines.append(
            f"{network}: final val acc {common.format_values([r.history['val_accuracy'][-1] for r in runs])}, max val acc "
            f"{common.format_values([max(r.history['val_accuracy']) for r in runs])} (book ~{spec.book_val_accuracy:.2f}), "
            f"test acc {common.format_values([r.test_accuracy for r in runs])}, steady epoch "
            f"{common.format_values([float(np.median(r.epoch_seconds[1:] or r.epoch_seconds)) for r in runs], 1)}s")
    print("figures:", *figures)
    print("results:\n  " + "\n  ".join(lines))
    return {"runs": results, "figures": figures}


if __name__ == "__main__":
    main(sys.argv[1:])
