"""True SGD, mini-batch SGD and batch gradient descent on MNIST: loss against epochs and against time.

The book (Deep Learning with Python, section 2.4.1) names the three variants of the training loop:
true SGD (one sample per step), mini-batch SGD (here 128 samples) and batch gradient descent (all
60,000 samples per step). Here each trains the book's first network (784 -> Dense(512, relu) ->
Dense(10, softmax), categorical crossentropy) with plain SGD (`funcnet.optimizers.sgd`, no momentum)
from the same initial params, and the loss on the whole training set is measured along the way.

Each run is a sequence of segments, each one compiled program: a `lax.scan` of
`funcnet.training.make_train_step` over the segment's batches, drawn from a per-epoch shuffle
(`training.batch_plan`). The clock runs only while a segment trains (compilation and the
measurements of the loss are not counted). The whole-training-set loss is measured after each
segment with `training.make_evaluate`; for batch gradient descent each step computes exactly that
loss (before its update), so it is taken from the step and only the last point is measured.

The learning rates (defaults 0.01, 1.0 and 0.3) come from a short sweep with seed 0 (numbers in
docs/results.md), keeping for each variant the rate with the lowest training-set loss at the sweep's
end: batch 128 after 3 epochs of {0.03, 0.1, 0.3, 0.5, 1, 2, 3}: 1 (2 stalls, 3 diverges); batch 60,000
after 15 steps of {0.1, 0.3, 0.5, 1}: 0.3 (0.5 and 1 oscillate); batch 1 after half an epoch of
{0.003, 0.01, 0.03}: 0.01, Keras's default (over a whole epoch 0.02 came out marginally lower, 0.095
against 0.100, within the seed spread; 0.1 does not converge). The budgets (2, 10 and 20 epochs) give
each variant some 10 to 30 seconds of training on this 2-core CPU, about a minute per seed in all.

Run:  FUNCNET_DATA_DIR=../shared/datasets python experiments/sgd_variants.py --seeds 0 1 2
"""
from __future__ import annotations

import importlib.util
import os
import pathlib
import sys
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from funcnet import losses, optimizers, training


def _load(name: str, file: str):
    spec = importlib.util.spec_from_file_location(name, pathlib.Path(__file__).with_name(file))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


common = _load("_funcnet_experiments_common", "_common.py")
mnist = _load("_funcnet_experiments_mnist", "mnist.py")


class Variant(NamedTuple):
    name: str
    batch_size: int  # 0 means the whole training set
    learning_rate: float
    epochs: float  # may be fractional for true SGD
    segments_per_epoch: int  # loss measurements per epoch


def default_variants(epochs: float = 10.0, num_samples: int = 60000) -> list[Variant]:
    """The three variants with the chosen learning rates; `epochs` is the mini-batch budget, true SGD
    gets a fifth of it (an epoch of batch 1 costs ~7x an epoch of batch 128 here) and batch gradient
    descent twice as many epochs (one step each)."""
    return [
        Variant("true SGD (batch 1)", 1, 0.01, epochs / 5, 5),
        Variant("mini-batch SGD (batch 128)", 128, 1.0, epochs, 1),
        Variant(f"batch gradient descent (batch {num_samples:,})", 0, 0.3, 2 * epochs, 1),
    ]


class Curve(NamedTuple):
    name: str
    epochs: np.ndarray  # epochs done at each point (fractional), starting at 0
    seconds: np.ndarray  # training wall-clock seconds at each point, starting at 0
    loss: np.ndarray  # loss on the whole training set at each point
    compile_seconds: float
    model: object = None  # the trained network (its params set), for --save


def make_segment(model, optimizer, steps: int):
    """`segment(state, x, y, idx, weight) -> (state, losses)`: `steps` train steps of `[steps, batch]`
    index and weight batches, one compiled `lax.scan`; `losses[s]` is step s's batch loss before its update."""
    step = training.make_train_step(model.apply, losses.categorical_crossentropy, optimizer)

    @jax.jit
    def segment(state, x, y, idx, weight):
        def body(state, batch):
            batch_idx, batch_weight = batch
            count = jnp.sum(batch_weight)
            state, _, total = step(state, (), jnp.take(x, batch_idx, axis=0), jnp.take(y, batch_idx, axis=0),
                                   batch_weight, count)
            return state, total / count

        return jax.lax.scan(body, state, (idx, weight))

    return segment


def run_variant(variant: Variant, data, seed: int = 0, verbose: bool = True) -> Curve:
    """Trains one variant from `model.init(key(seed))`, shuffling each epoch from `(seed, epoch)`."""
    model = mnist.build_model()
    optimizer = optimizers.sgd(variant.learning_rate)
    x, y = jax.device_put(data.x_train), jax.device_put(data.y_train)
    n = len(data.x_train)
    batch_size = variant.batch_size or n
    full_batch = batch_size == n
    steps_per_epoch = -(-n // batch_size)
    if steps_per_epoch % variant.segments_per_epoch:
        raise ValueError(f"{variant.name}: {steps_per_epoch} steps per epoch do not split into "
                         f"{variant.segments_per_epoch} segments.")
    steps_per_segment = steps_per_epoch // variant.segments_per_epoch
    total_segments = int(round(variant.epochs * variant.segments_per_epoch))

    state = training.TrainState.create(model.init(jax.random.key(seed)), optimizer, rng=jax.random.key(seed))
    evaluate = training.make_evaluate(model.apply, losses.categorical_crossentropy, [], batch_size=min(n, 10000))
    idx, weight = training.batch_plan(n, batch_size, jax.random.key(0))
    start = time.perf_counter()
    segment = make_segment(model, optimizer, steps_per_segment).lower(
        state, x, y, idx[:steps_per_segment], weight[:steps_per_segment]).compile()
    compile_seconds = time.perf_counter() - start

    epochs_done, seconds, loss = [0.0], [0.0], [float(evaluate(state.params, x, y)["loss"])]
    clock = 0.0
    for s in range(total_segments):
        epoch, part = divmod(s, variant.segments_per_epoch)
        if part == 0:  # a new shuffle each epoch, drawn from (seed, epoch)
            key = jax.random.fold_in(jax.random.key(seed), epoch)
            idx, weight = training.batch_plan(n, batch_size, key)
            jax.block_until_ready((idx, weight))
        rows = slice(part * steps_per_segment, (part + 1) * steps_per_segment)
        tick = time.perf_counter()
        state, step_losses = segment(state, x, y, idx[rows], weight[rows])
        jax.block_until_ready(state)
        clock += time.perf_counter() - tick
        if full_batch and s + 1 < total_segments:
            loss_after = None  # the next step computes it
        else:
            loss_after = float(evaluate(state.params, x, y)["loss"])
        if full_batch:
            loss[-1] = float(step_losses[0])  # the exact whole-set loss before this step
        epochs_done.append((s + 1) / variant.segments_per_epoch)
        seconds.append(clock)
        loss.append(loss_after if loss_after is not None else np.nan)
        if verbose and (not full_batch or (s + 1) % 5 == 0 or s + 1 == total_segments):
            at = -1 if loss_after is not None else -2  # batch gradient descent knows the loss one step late
            print(f"  {variant.name:<40s} epoch {epochs_done[at]:6.2f}  {seconds[at]:6.1f}s  training-set loss "
                  f"{loss[at]:.4f}", flush=True)
    model.params = state.params
    return Curve(variant.name, np.asarray(epochs_done), np.asarray(seconds), np.asarray(loss), compile_seconds, model)


def plot(curves_by_seed: list[list[Curve]], path, title: str = "", num_samples: int = 60000) -> str:
    """Two panels: training-set loss against epochs (left) and against training seconds (right), log scale."""
    figure = common.agg_figure(figsize=(12, 4.8), layout="constrained")
    ax_epochs, ax_seconds = figure.subplots(1, 2, sharey=True)
    colors = ["tab:red", "tab:blue", "tab:green"]
    for v, color in enumerate(colors[: len(curves_by_seed[0])]):
        for i, curves in enumerate(curves_by_seed):
            c = curves[v]
            label = c.name if i == 0 else None
            marker = dict(marker="o", markersize=3) if len(c.loss) <= 60 else {}
            ax_epochs.plot(c.epochs, c.loss, color=color, alpha=0.9 if i == 0 else 0.45, label=label, **marker)
            ax_seconds.plot(c.seconds, c.loss, color=color, alpha=0.9 if i == 0 else 0.45, label=label, **marker)
    for ax, xlabel in ((ax_epochs, f"Epochs (passes over the {num_samples:,} training images)"),
                       (ax_seconds, "Training seconds (2-core CPU; compiling and measuring the loss excluded)")):
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=9)
    ax_epochs.set_ylabel("Loss on the whole training set (categorical crossentropy)")
    from matplotlib.ticker import FixedLocator, FormatStrFormatter, NullFormatter

    ax_epochs.yaxis.set_major_locator(FixedLocator([0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0]))
    ax_epochs.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax_epochs.yaxis.set_minor_formatter(NullFormatter())
    ax_epochs.set_title("Against epochs", fontsize=11)
    ax_seconds.set_title("Against time", fontsize=11)
    figure.suptitle(title, fontsize=12)
    figure.savefig(path, dpi=100)
    return os.fspath(path)


def main(argv: list[str] | None = None) -> dict:
    p = common.parser(__doc__.splitlines()[0], epochs=10)
    p.add_argument("--train-samples", type=int, default=None, help="train on the first N images only (quick runs)")
    p.add_argument("--lr", type=float, nargs=3, default=None, metavar=("BATCH1", "BATCH128", "FULL"),
                   help="learning rates of the three variants (default 0.01 1.0 0.3)")
    common.add_save_option(p)
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    seeds = common.seeds_of(args)
    data = mnist.load_data(args.data_dir, train_samples=args.train_samples)
    variants = default_variants(args.epochs, len(data.x_train))
    if args.lr:
        variants = [v._replace(learning_rate=lr) for v, lr in zip(variants, args.lr)]
    print(f"MNIST, {len(data.x_train)} training images; plain SGD; seeds {seeds}; devices {jax.devices()}")
    for v in variants:
        print(f"  {v.name}: learning rate {v.learning_rate}, {v.epochs:g} epochs")
    curves_by_seed = []
    with common.Timer() as wall:
        for seed in seeds:
            curves_by_seed.append([run_variant(v, data, seed) for v in variants])
    for v, curve in zip(variants, curves_by_seed[0]):  # the first seed's networks, one file per variant
        common.save_model(args, curve.model, f"batch{v.batch_size or len(data.x_train)}")
    title = ("MNIST, the book's first network, plain SGD: " +
             ", ".join(f"lr {v.learning_rate:g} for batch {v.batch_size or len(data.x_train):,}" for v in variants) +
             (f"\n(seeds {', '.join(map(str, seeds))}: seed {seeds[0]} bold, the others faint)" if len(seeds) > 1
              else f" (seed {seeds[0]})"))
    png = plot(curves_by_seed, os.path.join(args.out, "sgd_variants.png"), title, len(data.x_train))
    print("figure:", png)
    parts = []
    for v_index, v in enumerate(variants):
        finals = [curves[v_index].loss[-1] for curves in curves_by_seed]
        secs = [curves[v_index].seconds[-1] for curves in curves_by_seed]
        parts.append(f"{v.name} {v.epochs:g} epochs: final loss {common.format_values(finals)} in "
                     f"{common.format_values(secs, 1)}s")
    print(f"results: {' | '.join(parts)} | wall time {wall.seconds:.1f}s")
    return {"curves": curves_by_seed, "figures": [png]}


if __name__ == "__main__":
    main(sys.argv[1:])
