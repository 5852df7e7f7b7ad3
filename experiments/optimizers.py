"""Optimizers side by side: the book's ball rolling down a 1-D loss, then five optimizers on MNIST.

Part 1, Chollet's picture (Deep Learning with Python, section 2.4.3): on a tilted double well

    f(x) = (x**2 - 1)**2 + 0.3 * x          (local minimum near +0.96, global near -1.04)

plain SGD with a small learning rate, started on the local minimum's side, stops in the local
minimum; SGD with momentum 0.9 and the same learning rate rolls over the bump into the global one.
Gradients come from `jax.grad`; each run is one `jax.lax.scan` over its steps.

Part 2: the book's MNIST network (784 -> Dense(512, relu) -> Dense(10, softmax), categorical
crossentropy, batch 128), trained from the same initial params and in the same shuffle order by
funcnet's SGD, SGD with momentum 0.9, RMSprop, Adagrad and Adam, all with Keras's default
hyper-parameters. Each epoch is one compiled `lax.scan` over device-resident batches, the last
partial batch included. Figures go to `--out` (default `docs/img`).

Run:  FUNCNET_DATA_DIR=../shared/datasets python experiments/optimizers.py --epochs 5 --seed 0
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import pathlib
import re
import sys
import time
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from funcnet import losses, optimizers

_HERE = pathlib.Path(__file__).resolve().parent


def _load_mnist_pure():
    """experiments/mnist_pure.py, for its `load_mnist`, `prepare` and `build_model` helpers."""
    spec = importlib.util.spec_from_file_location("_funcnet_experiments_mnist_pure", _HERE / "mnist_pure.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


mnist_pure = _load_mnist_pure()
sys.path.insert(0, str(_HERE))  # the experiments' shared helpers
import _common as common  # noqa: E402


# --------------------------------------------------------------------------------------------
# Part 1: a ball rolling down a one-parameter loss curve.
# --------------------------------------------------------------------------------------------

TILT = 0.3


def double_well(x: jax.Array) -> jax.Array:
    """`f(x) = (x**2 - 1)**2 + 0.3 x`: two wells, the left one (global minimum) deeper."""
    return (x**2 - 1) ** 2 + TILT * x


def double_well_minima() -> tuple[float, float]:
    """`(local, global)` minima of `double_well`, the outer real roots of `f'(x) = 4x^3 - 4x + 0.3`."""
    roots = np.sort(np.roots([4.0, 0.0, -4.0, TILT]).real)  # three real roots: min, max (bump), min
    left, right = float(roots[0]), float(roots[2])
    return (right, left) if double_well(right) > double_well(left) else (left, right)


def descend(optimizer: optax.GradientTransformation, x0: float, steps: int, loss: Callable = double_well) -> np.ndarray:
    """Positions `[x_0, x_1, ..., x_steps]` of `steps` optimizer steps on `loss`, from `x0`."""

    @jax.jit
    def run(x0):
        def step(carry, _):
            x, state = carry
            updates, state = optimizer.update(jax.grad(loss)(x), state, x)
            x = optax.apply_updates(x, updates)
            return (x, state), x

        _, xs = jax.lax.scan(step, (x0, optimizer.init(x0)), None, length=steps)
        return jnp.concatenate([x0[None], xs])

    return np.asarray(run(jnp.asarray(x0, jnp.float32)))


def one_d_paths(learning_rate: float = 0.01, momentum: float = 0.9, x0: float = 2.0, steps: int = 300) -> dict[str, np.ndarray]:
    """The two paths of the book's picture, `{label: positions}`: plain SGD and SGD with momentum."""
    return {
        f"SGD (lr={learning_rate})": descend(optimizers.sgd(learning_rate), x0, steps),
        f"SGD + momentum {momentum} (lr={learning_rate})": descend(optimizers.sgd(learning_rate, momentum=momentum), x0, steps),
    }


def _agg_figure(**kwargs):
    """A matplotlib Figure drawn by the Agg canvas: no pyplot, no global backend state."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(**kwargs)
    FigureCanvasAgg(figure)
    return figure


def plot_one_d(paths: dict[str, np.ndarray], path: str | os.PathLike) -> None:
    """The loss curve with each path's points on it (left) and position against step (right)."""
    local_min, global_min = double_well_minima()
    xs = np.linspace(-1.72, 2.08, 400)
    curve = np.asarray(double_well(jnp.asarray(xs)))
    figure = _agg_figure(figsize=(11, 4.8), layout="constrained")
    ax_curve, ax_steps = figure.subplots(1, 2, gridspec_kw={"width_ratios": [1.15, 1]})

    ax_curve.plot(xs, curve, color="0.25", linewidth=1.5, label="loss $f(x)=(x^2-1)^2+0.3x$", zorder=1)
    colors = ["tab:red", "tab:blue"]
    for (label, positions), color in zip(paths.items(), colors):
        ax_curve.plot(positions, np.asarray(double_well(jnp.asarray(positions))), "o", color=color,
                      markersize=3.5, alpha=0.45, label=f"{label}: steps", zorder=2)
        end = positions[-1]
        ax_curve.plot([end], [float(double_well(jnp.asarray(end)))], marker="*", color=color, markersize=17,
                      markeredgecolor="black", linestyle="none", label=f"{label}: end x={end:.3f}", zorder=3)
        ax_steps.plot(np.arange(len(positions)), positions, color=color, linewidth=1.6, label=label)
    start = next(iter(paths.values()))[0]
    ax_curve.plot([start], [float(double_well(jnp.asarray(start)))], "ks", markersize=7, label=f"start x={start:g}", zorder=3)
    ax_curve.set_xlabel("parameter x")
    ax_curve.set_ylabel("loss f(x)")
    ax_curve.set_title("A ball rolling down the loss curve")
    ax_curve.legend(fontsize=8, loc="upper center")
    ax_curve.set_ylim(-0.7, 10.3)

    for value, name in ((local_min, "local minimum"), (global_min, "global minimum")):
        ax_steps.axhline(value, color="0.5", linestyle="--", linewidth=1)
        ax_steps.annotate(f"{name} x={value:.3f}", (max(len(p) for p in paths.values()) - 1, value),
                          xytext=(0, 4), textcoords="offset points", ha="right", fontsize=8, color="0.35")
    ax_steps.set_xlabel("step")
    ax_steps.set_ylabel("parameter x")
    ax_steps.set_title("Position along the way")
    ax_steps.legend(fontsize=8, loc="upper right", bbox_to_anchor=(1.0, 0.9))
    figure.savefig(path, dpi=110)


# --------------------------------------------------------------------------------------------
# Part 2: five optimizers on the book's MNIST network.
# --------------------------------------------------------------------------------------------


def mnist_optimizers() -> dict[str, optax.GradientTransformation]:
    """The five contenders, with Keras 3's default hyper-parameters."""
    return {
        "SGD": optimizers.sgd(0.01),
        "SGD + momentum 0.9": optimizers.sgd(0.01, momentum=0.9),
        "RMSprop": optimizers.rmsprop(0.001, rho=0.9, epsilon=1e-7),
        "Adagrad": optimizers.adagrad(0.001, initial_accumulator_value=0.1, epsilon=1e-7),
        "Adam": optimizers.adam(0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7),
    }


class MnistData(NamedTuple):
    """Device-resident MNIST: `[n, 784]` float32 images in [0, 1] and `[n, 10]` one-hot labels."""

    x_train: jax.Array
    y_train: jax.Array
    x_test: jax.Array
    y_test: jax.Array


def load_data(data_dir: str | None = None, train_samples: int | None = None) -> MnistData:
    """The real MNIST (via mnist_pure's helpers), optionally only the first `train_samples` training images."""
    (train_images, train_labels), (test_images, test_labels) = mnist_pure.load_mnist(data_dir)
    if train_samples is not None:
        train_images, train_labels = train_images[:train_samples], train_labels[:train_samples]
    x_train, y_train = mnist_pure.prepare(train_images, train_labels)
    x_test, y_test = mnist_pure.prepare(test_images, test_labels)
    return MnistData(*map(jnp.asarray, (x_train, y_train, x_test, y_test)))


class TrainResult(NamedTuple):
    name: str
    losses: list[float]            # mean training loss of each epoch (per sample, as Keras logs it)
    test_accuracy: float
    seconds: float                 # training time, compilation excluded
    compile_seconds: float
    params: dict


def make_epoch(model, optimizer: optax.GradientTransformation, num_samples: int, batch_size: int):
    """`epoch(params, opt_state, x, y, key) -> (params, opt_state, mean loss)`, to be jitted.

    One pass over a `key`-shuffled order as one `lax.scan` of `ceil(num_samples / batch_size)`
    steps. The last, partial batch is trained on too: it is padded to `batch_size` with weight-0
    rows and its loss is the mean over its real rows, so its gradient is that of the partial
    batch (as in Keras) while every step keeps one shape, and the epoch compiles one step body.
    The epoch's mean loss weighs each batch by its size, as Keras logs it.
    """
    num_batches = -(-num_samples // batch_size)
    padded = num_batches * batch_size

    def epoch(params, opt_state, x, y, key):
        def step(carry, batch):
            params, opt_state = carry
            idx, weight = batch

            def loss_fn(p):
                per_sample = losses.categorical_crossentropy(y[idx], model.apply(p, x[idx]))
                return jnp.sum(weight * per_sample) / jnp.sum(weight)

            loss, grads = jax.value_and_grad(loss_fn)(params)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss * jnp.sum(weight)

        order = jnp.concatenate([jax.random.permutation(key, num_samples),
                                 jnp.zeros([padded - num_samples], jnp.int32)])
        weight = (jnp.arange(padded) < num_samples).astype(x.dtype)
        batches = (order.reshape(num_batches, batch_size), weight.reshape(num_batches, batch_size))
        (params, opt_state), weighted_losses = jax.lax.scan(step, (params, opt_state), batches)
        return params, opt_state, weighted_losses.sum() / num_samples

    return epoch


def train_mnist(
    name: str,
    optimizer: optax.GradientTransformation,
    data: MnistData,
    epochs: int = 5,
    batch_size: int = 128,
    seed: int = 0,
    verbose: bool = True,
) -> TrainResult:
    """Trains the book's network with `optimizer` for `epochs` epochs; every optimizer given the same
    `seed` starts from the same params and sees the batches in the same order."""
    model = mnist_pure.build_model()
    init_key, shuffle_key = jax.random.split(jax.random.key(seed))
    params = model.init(init_key)
    opt_state = optimizer.init(params)
    num_samples = int(data.x_train.shape[0])

    start = time.perf_counter()
    epoch = jax.jit(make_epoch(model, optimizer, num_samples, batch_size), donate_argnums=(0, 1))
    epoch = epoch.lower(params, opt_state, data.x_train, data.y_train, shuffle_key).compile()
    accuracy = jax.jit(lambda p, x, y: jnp.mean(model.apply(p, x).argmax(-1) == y.argmax(-1)))
    accuracy = accuracy.lower(params, data.x_test, data.y_test).compile()
    compile_seconds = time.perf_counter() - start

    start = time.perf_counter()
    history = []
    for e in range(epochs):
        params, opt_state, loss = epoch(params, opt_state, data.x_train, data.y_train, jax.random.fold_in(shuffle_key, e))
        history.append(float(loss))  # one host transfer per epoch
        if verbose:
            print(f"  {name:<20s} epoch {e + 1}/{epochs}  loss {history[-1]:.4f}", flush=True)
    test_accuracy = float(accuracy(params, data.x_test, data.y_test))
    seconds = time.perf_counter() - start
    return TrainResult(name, history, test_accuracy, seconds, compile_seconds, params)


def plot_mnist(results: list[TrainResult], path: str | os.PathLike, title: str = "") -> None:
    """The training-loss curves of all optimizers on one log-scaled figure."""
    figure = _agg_figure(figsize=(7.5, 4.8), layout="constrained")
    ax = figure.subplots()
    markers = "osD^v<>"
    for result, marker in zip(results, markers):
        epochs = np.arange(1, len(result.losses) + 1)
        ax.plot(epochs, result.losses, marker=marker, linewidth=1.8,
                label=f"{result.name}  (test acc {result.test_accuracy:.4f})")
    from matplotlib.ticker import FixedLocator, FormatStrFormatter, NullFormatter

    ax.set_yscale("log")
    ax.yaxis.set_major_locator(FixedLocator([0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0]))
    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean training loss (categorical crossentropy, log scale)")
    ax.set_xticks(np.arange(1, max(len(r.losses) for r in results) + 1))
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(title or "Book's MNIST network, batch 128: five optimizers with Keras's defaults\n"
                          "(learning rate 0.01 for SGD, 0.001 for RMSprop, Adagrad and Adam)", fontsize=11)
    ax.legend(fontsize=9)
    figure.savefig(path, dpi=110)


def format_table(results: list[TrainResult]) -> str:
    lines = [f"{'optimizer':<20s} {'final train loss':>16s} {'test accuracy':>13s} {'seconds':>8s} {'compile s':>9s}"]
    for r in results:
        lines.append(f"{r.name:<20s} {r.losses[-1]:>16.4f} {r.test_accuracy:>13.4f} {r.seconds:>8.1f} {r.compile_seconds:>9.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(_HERE.parent / "docs" / "img"), help="folder for the figures")
    parser.add_argument("--train-samples", type=int, default=None, help="train on the first N images only (quick runs)")
    parser.add_argument("--data-dir", default=None, help="folder with mnist.npz (default: $FUNCNET_DATA_DIR)")
    common.add_save_option(parser)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    wall = time.perf_counter()

    # Part 1.
    paths = one_d_paths()
    local_min, global_min = double_well_minima()
    plot_one_d(paths, os.path.join(args.out, "optimizers_1d.png"))
    print(f"1-D double well: local minimum x={local_min:.4f}, global minimum x={global_min:.4f}, start x=2.0")
    for label, positions in paths.items():
        end = float(positions[-1])
        where = "global" if abs(end - global_min) < 1e-3 else "local" if abs(end - local_min) < 1e-3 else "no"
        print(f"  {label:<36s} ends at x={end:+.4f} ({where} minimum)")

    # Part 2.
    data = load_data(args.data_dir, args.train_samples)
    print(f"MNIST: {data.x_train.shape[0]} training images, {data.x_test.shape[0]} test images, "
          f"{args.epochs} epochs of batch {args.batch_size}, seed {args.seed}, devices {jax.devices()}")
    results = [train_mnist(name, opt, data, args.epochs, args.batch_size, args.seed)
               for name, opt in mnist_optimizers().items()]
    plot_mnist(results, os.path.join(args.out, "optimizers_mnist.png"))
    for result in results:  # one trained network per optimizer, its params only (trained by hand, not compiled)
        network = mnist_pure.build_model()
        network.params = result.params
        common.save_model(args, network, re.sub(r"[^a-z0-9]+", "-", result.name.lower()).strip("-"))
    print(format_table(results))
    print(f"figures: {os.path.join(args.out, 'optimizers_1d.png')}, {os.path.join(args.out, 'optimizers_mnist.png')}")
    ends = ", ".join(f"{label.split(' (')[0]} x={float(p[-1]):+.4f}" for label, p in paths.items())
    accuracies = ", ".join(f"{r.name} {r.test_accuracy:.4f}" for r in results)
    print(f"results: 1-D ends {ends} | MNIST test accuracy {accuracies} | wall time {time.perf_counter() - wall:.1f}s")


if __name__ == "__main__":
    main(sys.argv[1:])
