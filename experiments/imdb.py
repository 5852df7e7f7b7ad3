"""Classifying movie reviews (Deep Learning with Python, section 3.4): IMDB, a binary classification.

    10,000-word multi-hot vectors -> Dense(16, relu) -> Dense(16, relu) -> Dense(1, sigmoid),
    RMSprop(1e-3), binary crossentropy, batch 512.

1. 20 epochs on 15,000 reviews, validated on the first 10,000 training reviews held out (the book's
   `x_val = x_train[:10000]`): the training and validation curves of the book's figures 3.7 and 3.8.
2. A fresh network, 4 epochs on all 25,000 training reviews, then the test accuracy (book: 0.8850).

Run:  FUNCNET_DATA_DIR=../shared/datasets python experiments/imdb.py --seeds 0 1 2
"""
from __future__ import annotations

import os
import pathlib
import sys
from typing import NamedTuple, Sequence

import jax
import numpy as np

from funcnet import datasets, layers, models, utils


sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))  # the experiments' shared helpers
import _common as common  # noqa: E402

BOOK_TEST_ACCURACY = 0.88496  # first_edition/3.5-classifying-movie-reviews.ipynb: results [0.2918, 0.88496]
# The same notebook (Keras 2.0.8): the log of the 20-epoch run against the 10,000 held-out reviews.
BOOK_HISTORY = {
    "loss": [0.5103, 0.3110, 0.2309, 0.1795, 0.1475, 0.1185, 0.1005, 0.0818, 0.0696, 0.0547,
             0.0453, 0.0353, 0.0269, 0.0212, 0.0162, 0.0115, 0.0116, 0.0054, 0.0083, 0.0031],
    "accuracy": [0.7911, 0.9031, 0.9235, 0.9428, 0.9526, 0.9638, 0.9703, 0.9773, 0.9814, 0.9873,
                 0.9895, 0.9930, 0.9956, 0.9968, 0.9977, 0.9993, 0.9979, 0.9998, 0.9984, 0.9998],
    "val_loss": [0.4016, 0.3085, 0.2803, 0.2735, 0.2788, 0.3330, 0.3055, 0.3344, 0.3607, 0.3776,
                 0.4035, 0.4437, 0.4637, 0.4877, 0.6080, 0.5778, 0.5906, 0.6204, 0.6419, 0.6796],
    "val_accuracy": [0.8628, 0.8870, 0.8908, 0.8893, 0.8890, 0.8764, 0.8838, 0.8769, 0.8800, 0.8785,
                     0.8765, 0.8766, 0.8747, 0.8714, 0.8625, 0.8698, 0.8702, 0.8639, 0.8676, 0.8683],
}


class ImdbData(NamedTuple):
    x_train: np.ndarray  # float32 [n, 10000], multi-hot
    y_train: np.ndarray  # float32 [n], 0/1
    x_test: np.ndarray
    y_test: np.ndarray


def load_data(data_dir: str | None = None, train_samples: int | None = None, test_samples: int | None = None) -> ImdbData:
    """The 10,000 most frequent words, multi-hot (`vectorize_sequences`); optionally the first N reviews."""
    (train_data, train_labels), (test_data, test_labels) = datasets.imdb.load_data(
        path=common.data_path(data_dir, "imdb.npz"), num_words=10000)
    train_data, train_labels = train_data[:train_samples], train_labels[:train_samples]
    test_data, test_labels = test_data[:test_samples], test_labels[:test_samples]
    return ImdbData(utils.vectorize_sequences(train_data), train_labels.astype("float32"),
                    utils.vectorize_sequences(test_data), test_labels.astype("float32"))


def build_model() -> models.Sequential:
    model = models.Sequential()
    model.add(layers.Dense(16, activation="relu", input_shape=(10000,)))
    model.add(layers.Dense(16, activation="relu"))
    model.add(layers.Dense(1, activation="sigmoid"))
    return model


class CurvesRun(NamedTuple):
    history: dict  # loss, accuracy, val_loss, val_accuracy per epoch
    seconds: float
    num_train: int
    num_val: int


class FinalRun(NamedTuple):
    test_loss: float
    test_accuracy: float
    history: dict
    seconds: float
    model: models.Sequential | None = None


def train_with_validation(data: ImdbData, epochs: int = 20, seed: int = 0, num_val: int = 10000,
                          batch_size: int = 512, rmsprop: str = "keras3") -> CurvesRun:
    """The book's listing 3.8: hold out the first `num_val` training reviews, train on the rest."""
    x_val, partial_x_train = data.x_train[:num_val], data.x_train[num_val:]
    y_val, partial_y_train = data.y_train[:num_val], data.y_train[num_val:]
    model = build_model()
    model.compile(optimizer=common.compile_optimizer(rmsprop), loss="binary_crossentropy", metrics=["accuracy"])
    with common.Timer() as timer:
        history = model.fit(partial_x_train, partial_y_train, epochs=epochs, batch_size=batch_size, verbose=0,
                            validation_data=(x_val, y_val), seed=seed)
    return CurvesRun(history.history, timer.seconds, len(partial_x_train), len(x_val))


def train_final(data: ImdbData, epochs: int = 4, seed: int = 0, batch_size: int = 512, rmsprop: str = "keras3") -> FinalRun:
    """The book's listing 3.11: a fresh network on all training reviews, evaluated on the test reviews."""
    model = build_model()
    model.compile(optimizer=common.compile_optimizer(rmsprop), loss="binary_crossentropy", metrics=["accuracy"])
    with common.Timer() as timer:
        history = model.fit(data.x_train, data.y_train, epochs=epochs, batch_size=batch_size, verbose=0, seed=seed)
        test_loss, test_accuracy = model.evaluate(data.x_test, data.y_test, batch_size=batch_size, verbose=0)
    return FinalRun(float(test_loss), float(test_accuracy), history.history, timer.seconds, model)


def train_seeds(data: ImdbData, epochs: int = 20, final_epochs: int = 4, seeds: Sequence[int] = (0,),
                num_val: int = 10000, batch_size: int = 512, rmsprop: str = "keras3"):
    """`(train_with_validation, train_final)` for every seed, each network's seeds side by side in one
    program (`models.fit_many`): the same runs, to float rounding; `seconds` is each call's time divided
    among the seeds. One seed: the two functions above."""
    if len(seeds) == 1:
        return ([train_with_validation(data, epochs, seeds[0], num_val, batch_size, rmsprop)],
                [train_final(data, final_epochs, seeds[0], batch_size, rmsprop)])

    def compiled():
        model = build_model()
        model.compile(optimizer=common.compile_optimizer(rmsprop), loss="binary_crossentropy", metrics=["accuracy"])
        return model

    curves = common.fit_seeds(compiled(), data.x_train[num_val:], data.y_train[num_val:], seeds, epochs=epochs,
                              batch_size=batch_size, validation_data=(data.x_train[:num_val], data.y_train[:num_val]))
    with common.Timer() as timer:
        final = common.fit_seeds(compiled(), data.x_train, data.y_train, seeds, epochs=final_epochs,
                                 batch_size=batch_size)
        test = final.runs.evaluate(data.x_test, data.y_test, batch_size=batch_size)
    n = len(seeds)
    return ([CurvesRun(h, curves.seconds / n, len(data.x_train) - num_val, num_val) for h in curves.histories],
            [FinalRun(float(test["loss"][k]), float(test["accuracy"][k]), h, timer.seconds / n,
                      final.runs.member(k) if k == 0 else None) for k, h in enumerate(final.histories)])


def plot(runs: list[CurvesRun], path) -> str:
    n = len(runs)
    return common.save_history_figure(
        [r.history for r in runs], path,
        f"IMDB: {runs[0].num_train:,} training reviews, {runs[0].num_val:,} held-out validation reviews, batch 512 "
        f"({common.seeds_caption(n)})",
        book=BOOK_HISTORY)


def main(argv: list[str] | None = None) -> dict:
    p = common.parser(__doc__.splitlines()[0], epochs=20)
    p.add_argument("--final-epochs", type=int, default=4, help="epochs of the final model on all 25,000 reviews")
    p.add_argument("--num-val", type=int, default=10000, help="held-out training reviews (default 10,000)")
    common.add_rmsprop_option(p)
    common.add_subset_options(p)
    common.add_save_option(p)
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    seeds = common.seeds_of(args)
    with common.Timer() as load_timer:
        data = load_data(args.data_dir, args.train_samples, args.test_samples)
    print(f"IMDB: {len(data.x_train)} training, {len(data.x_test)} test reviews, 10,000 words "
          f"(loaded and vectorised in {load_timer.seconds:.1f}s); seeds {seeds}; rmsprop {args.rmsprop}; "
          f"devices {jax.devices()}", flush=True)
    curves, finals = train_seeds(data, args.epochs, args.final_epochs, seeds, num_val=args.num_val,
                                 rmsprop=args.rmsprop)
    common.save_model(args, finals[0].model)
    for seed, run, final in zip(seeds, curves, finals):
        h = run.history
        best = int(np.argmin(h["val_loss"]))
        print(f"seed {seed}: {args.epochs} epochs: val_loss min {h['val_loss'][best]:.4f} at epoch {best + 1}, "
              f"max val acc {max(h['val_accuracy']):.4f}, final val acc {h['val_accuracy'][-1]:.4f}, "
              f"final train acc {h['accuracy'][-1]:.4f}  ({run.seconds:.1f}s)", flush=True)
        print(f"seed {seed}: {args.final_epochs} epochs on all 25,000: test loss {final.test_loss:.4f}, "
              f"test acc {final.test_accuracy:.4f}  ({final.seconds:.1f}s)", flush=True)
    png = plot(curves, os.path.join(args.out, "imdb.png"))
    print("figure:", png)
    print(f"results: test accuracy {common.format_values([f.test_accuracy for f in finals])} "
          f"(book {BOOK_TEST_ACCURACY:.4f}) | min validation loss "
          f"{common.format_values([min(c.history['val_loss']) for c in curves])} (book 0.2735, epoch 4) at epoch "
          f"{[int(np.argmin(c.history['val_loss'])) + 1 for c in curves]} | max validation accuracy "
          f"{common.format_values([max(c.history['val_accuracy']) for c in curves])} (book 0.8908) | seconds: "
          f"{args.epochs}-epoch run {common.format_values([c.seconds for c in curves], 1)}, "
          f"final run {common.format_values([f.seconds for f in finals], 1)}")
    return {"curves": curves, "finals": finals, "figures": [png]}


if __name__ == "__main__":
    main(sys.argv[1:])
