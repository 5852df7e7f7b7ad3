"""The book's first convnet on MNIST (Deep Learning with Python, listings 5.1-5.3), with its curves.

    Conv2D(32, 3x3, relu) -> MaxPooling2D(2x2) -> Conv2D(64, 3x3, relu) -> MaxPooling2D(2x2)
    -> Conv2D(64, 3x3, relu) -> Flatten -> Dense(64, relu) -> Dense(10, softmax);
    rmsprop, categorical crossentropy, 5 epochs of batch 64 on all 60,000 images; test accuracy
    (the book: 0.9908; its notebook: 0.9913).

`listing()` is listings 5.1-5.3 verbatim but for the imports (`from funcnet import ...`). The seeds'
runs give `fit` the test set as `validation_data` to draw the curves (it changes nothing in training, so
the last validation accuracy is the test accuracy). The script also draws what the first two
convolutions respond to on a test digit (`convnet_filters.png`, for docs/convnets.md).

Run:  FUNCNET_DATA_DIR=../shared/datasets python experiments/mnist_convnet.py --seeds 0 1 2
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

BOOK_TEST_ACCURACY = 0.9908  # the book's text; its notebook printed 0.9913
# first_edition/5.1-introduction-to-convnets.ipynb (Keras 2.0.8): the training log of model.fit.
BOOK_HISTORY = {
    "loss": [0.1766, 0.0462, 0.0322, 0.0241, 0.0187],
    "accuracy": [0.9440, 0.9855, 0.9902, 0.9926, 0.9943],
}


def listing(data_dir: str | None = None):
    """Listings 5.1-5.3 as the book prints them (imports aside); returns the model and its test accuracy."""
    from funcnet import layers
    from funcnet import models

    model = models.Sequential()
    model.add(layers.Conv2D(32, (3, 3), activation='relu', input_shape=(28, 28, 1)))
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Conv2D(64, (3, 3), activation='relu'))
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Conv2D(64, (3, 3), activation='relu'))

    model.add(layers.Flatten())
    model.add(layers.Dense(64, activation='relu'))
    model.add(layers.Dense(10, activation='softmax'))

    from funcnet.datasets import mnist
    from funcnet.utils import to_categorical

    (train_images, train_labels), (test_images, test_labels) = mnist.load_data(path=common.data_path(data_dir, "mnist.npz"))

    train_images = train_images.reshape((60000, 28, 28, 1))
    train_images = train_images.astype('float32') / 255

    test_images = test_images.reshape((10000, 28, 28, 1))
    test_images = test_images.astype('float32') / 255

    train_labels = to_categorical(train_labels)
    test_labels = to_categorical(test_labels)

    model.compile(optimizer='rmsprop',
                  loss='categorical_crossentropy',
                  metrics=['accuracy'])
    model.fit(train_images, train_labels, epochs=5, batch_size=64)

    test_loss, test_acc = model.evaluate(test_images, test_labels)
    return model, test_acc


def build_model() -> models.Sequential:
    """The network of listings 5.1 and 5.2."""
    return models.Sequential([
        layers.Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])


class ImageData(NamedTuple):
    x_train: np.ndarray  # float32 [n, 28, 28, 1] in [0, 1]
    y_train: np.ndarray  # float32 [n, 10] one-hot
    x_test: np.ndarray
    y_test: np.ndarray


def load_data(data_dir: str | None = None, train_samples: int | None = None, test_samples: int | None = None) -> ImageData:
    """Listing 5.3's preparation (images keep their 28 x 28 x 1 shape); optionally the first N samples."""
    (x_train, y_train), (x_test, y_test) = datasets.mnist.load_data(path=common.data_path(data_dir, "mnist.npz"))
    x_train, y_train = x_train[:train_samples], y_train[:train_samples]
    x_test, y_test = x_test[:test_samples], y_test[:test_samples]
    prepare = lambda x: x.reshape((len(x), 28, 28, 1)).astype("float32") / 255  # noqa: E731
    return ImageData(prepare(x_train), utils.to_categorical(y_train, 10), prepare(x_test), utils.to_categorical(y_test, 10))


class Run(NamedTuple):
    history: dict  # loss, accuracy, val_loss, val_accuracy (validation = the test set)
    test_loss: float
    test_accuracy: float
    seconds: float  # fit and evaluate, compile included
    model: models.Sequential


def train(data: ImageData, epochs: int = 5, batch_size: int = 64, seed: int = 0) -> Run:
    model = build_model()
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    with common.Timer() as timer:
        history = model.fit(data.x_train, data.y_train, epochs=epochs, batch_size=batch_size, verbose=0,
                            validation_data=(data.x_test, data.y_test), seed=seed)
        test_loss, test_accuracy = model.evaluate(data.x_test, data.y_test, batch_size=batch_size, verbose=0)
    return Run(history.history, float(test_loss), float(test_accuracy), timer.seconds, model)


def feature_maps(model: models.Sequential, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first and second convolutions' outputs (after relu) for one image `[28, 28, 1]`:
    `[26, 26, 32]` and `[11, 11, 64]`, each layer applied as the pure function it is."""
    params = model.params
    conv1, pool1, conv2 = model.layers[:3]
    first = conv1.apply(params["conv2d"], image[None])
    second = conv2.apply(params["conv2d_1"], pool1.apply({}, first))
    return np.asarray(first[0]), np.asarray(second[0])


def plot_filters(model: models.Sequential, image: np.ndarray, label: int, path) -> str:
    """The digit, then 16 of the 32 first-layer and 16 of the 64 second-layer feature maps."""
    first, second = feature_maps(model, image)
    figure = common.agg_figure(figsize=(13, 4.4), layout="constrained")
    grid = figure.add_gridspec(2, 17, width_ratios=[2.2] + [1] * 16)
    ax = figure.add_subplot(grid[:, 0])
    ax.imshow(image[:, :, 0], cmap="gray_r")
    ax.set_title(f"test digit ({label})", fontsize=10)
    ax.axis("off")
    for row, (maps, name) in enumerate([(first, "conv2d: 26x26"), (second, "conv2d_1: 11x11")]):
        strongest = np.argsort(-maps.reshape(-1, maps.shape[-1]).mean(0))[:16]  # the most active channels
        for col, channel in enumerate(strongest):
            ax = figure.add_subplot(grid[row, col + 1])
            ax.imshow(maps[:, :, channel], cmap="viridis")
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(name, fontsize=9)
            ax.set_title(f"#{channel}", fontsize=8)
    figure.suptitle("What the trained convnet's first two convolutions respond to: 16 most active channels "
                    "of each (after relu)", fontsize=11)
    figure.savefig(path, dpi=100)
    return os.fspath(path)


def main(argv: list[str] | None = None) -> dict:
    p = common.parser(__doc__.splitlines()[0], epochs=5)
    p.add_argument("--batch-size", type=int, default=64)
    common.add_subset_options(p)
    common.add_save_option(p)
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    seeds = common.seeds_of(args)
    data = load_data(args.data_dir, args.train_samples, args.test_samples)
    print(f"MNIST convnet (listing 5.1): {len(data.x_train)} training, {len(data.x_test)} test images; "
          f"{args.epochs} epochs of batch {args.batch_size}; seeds {seeds}; devices {jax.devices()}", flush=True)
    runs = []
    for seed in seeds:
        run = train(data, args.epochs, args.batch_size, seed)
        runs.append(run)
        if len(runs) == 1:
            common.save_model(args, run.model)
        h = run.history
        print(f"seed {seed}: loss {np.round(h['loss'], 4).tolist()}  train acc {h['accuracy'][-1]:.4f}  "
              f"test loss {run.test_loss:.4f}  test acc {run.test_accuracy:.4f}  ({run.seconds:.1f}s)", flush=True)
    curves = common.save_history_figure(
        [r.history for r in runs], os.path.join(args.out, "mnist_convnet.png"),
        f"MNIST, the book's first convnet (listing 5.1): RMSprop, batch {args.batch_size}, validation = the "
        f"test images ({common.seeds_caption(len(runs))})", book=BOOK_HISTORY, book_label="book notebook, Keras 2.0.8")
    index = 0  # the first test image (a 7)
    filters = plot_filters(runs[0].model, data.x_test[index], int(np.argmax(data.y_test[index])),
                           os.path.join(args.out, "convnet_filters.png"))
    print("figures:", curves, filters)
    print(f"results: test accuracy {common.format_values([r.test_accuracy for r in runs])} (book {BOOK_TEST_ACCURACY}) | "
          f"final training loss {common.format_values([r.history['loss'][-1] for r in runs])} (book 0.0187) | "
          f"seconds per run {common.format_values([r.seconds for r in runs], 1)}")
    return {"runs": runs, "figures": [curves, filters]}


if __name__ == "__main__":
    main(sys.argv[1:])
