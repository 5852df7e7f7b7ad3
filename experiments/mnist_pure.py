"""Chollet's first network (Deep Learning with Python, section 2.1) in funcnet's pure style.

    784 -> Dense(512, relu) -> Dense(10, softmax), categorical crossentropy,
    RMSprop(1e-3, decay 0.9, eps 1e-7), 5 epochs of batch 128 on the real MNIST.

The model is a pure function of its params; the train step is one jitted function of
(params, optimizer state, batch); the optimizer is any optax gradient transformation.

Run:  FUNCNET_DATA_DIR=../shared/datasets python experiments/mnist_pure.py
"""
from __future__ import annotations

import argparse
import os
import time

import jax
import numpy as np
import optax

from funcnet import layers, losses, models


def load_mnist(data_dir: str | None = None):
    """`(x_train, y_train), (x_test, y_test)` from `mnist.npz` in the Keras format (plain numpy for now)."""
    folders = [d for d in (data_dir, os.environ.get("FUNCNET_DATA_DIR"), os.path.expanduser("~/.funcnet/datasets")) if d]
    for folder in folders:
        path = os.path.join(folder, "mnist.npz")
        if os.path.exists(path):
            with np.load(path) as f:
                return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])
    raise FileNotFoundError(
        f"mnist.npz not found in {folders}; set FUNCNET_DATA_DIR to the folder that holds it "
        "(for this repository: ../shared/datasets)."
    )


def prepare(images: np.ndarray, labels: np.ndarray):
    """Flattens 28x28 uint8 images to [n, 784] float32 in [0, 1]; one-hot labels [n, 10]."""
    x = images.reshape((len(images), 28 * 28)).astype("float32") / 255
    y = np.eye(10, dtype="float32")[labels]
    return x, y


def build_model() -> models.Sequential:
    return models.Sequential([
        layers.Dense(512, activation="relu", input_shape=(28 * 28,)),
        layers.Dense(10, activation="softmax"),
    ])


def train(epochs: int = 5, batch_size: int = 128, seed: int = 0, data_dir: str | None = None, verbose: bool = True):
    """Trains the network; returns (params, test accuracy, per-epoch mean training loss, seconds per epoch)."""
    (train_images, train_labels), (test_images, test_labels) = load_mnist(data_dir)
    x_train, y_train = prepare(train_images, train_labels)
    x_test, y_test = prepare(test_images, test_labels)

    model = build_model()
    params = model.init(jax.random.key(seed))
    optimizer = optax.rmsprop(1e-3, decay=0.9, eps=1e-7)
    opt_state = optimizer.init(params)

    @jax.jit
    def train_step(params, opt_state, x, y):
        def loss_fn(p):
            return losses.categorical_crossentropy(y, model.apply(p, x)).mean()

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    @jax.jit
    def correct(params, x, y):
        return (model.apply(params, x).argmax(-1) == y.argmax(-1)).sum()

    rng = np.random.default_rng(seed)
    history, times = [], []
    for epoch in range(epochs):
        start = time.perf_counter()
        order = rng.permutation(len(x_train))
        batch_losses = []
        for i in range(0, len(order), batch_size):  # the last, partial batch is trained on too
            idx = order[i : i + batch_size]
            params, opt_state, loss = train_step(params, opt_state, x_train[idx], y_train[idx])
            batch_losses.append(loss)
        history.append(float(np.mean(jax.device_get(batch_losses))))
        times.append(time.perf_counter() - start)
        if verbose:
            print(f"epoch {epoch + 1}/{epochs}  loss {history[-1]:.4f}  {times[-1]:.2f}s", flush=True)

    test_acc = int(correct(params, x_test, y_test)) / len(x_test)
    return params, test_acc, history, times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", default=None, metavar="PATH.keras",
                        help="write the trained network to PATH.keras (Keras's format; its params, uncompiled)")
    args = parser.parse_args()
    params, test_acc, _, times = train(args.epochs, args.batch_size, args.seed)
    print(f"test_acc: {test_acc:.4f}  (book: 0.9777)  steady epoch {np.median(times[1:] or times):.2f}s")
    if args.save:
        model = build_model()
        model.params = params  # the pure-style params go straight into a model to save
        model.save(args.save)
        print(f"saved the model to {args.save}")


if __name__ == "__main__":
    main()
