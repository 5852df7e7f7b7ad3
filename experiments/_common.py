"""Shared helpers of the book's experiments: the command line, seed statistics, the figures, and the
RMSprop of Keras 2.0.8 (the Keras the book's notebooks ran on), for comparisons.

Not a public module: the experiment scripts import it by path, so they stay runnable as plain files.
"""
from __future__ import annotations

import argparse
import functools
import os
import pathlib
import time
from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from funcnet import optimizers

ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "img"

# The book's colours: blue dots for training, a blue line for validation ('bo' and 'b').
FUNCNET_COLOR = "tab:blue"
BOOK_COLOR = "0.45"


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------

def parser(description: str, epochs: int) -> argparse.ArgumentParser:
    """The options every experiment takes: `--epochs`, `--seed`/`--seeds`, `--out`, `--data-dir`."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--epochs", type=int, default=epochs, help=f"epochs of the main run (default {epochs}, the book's)")
    p.add_argument("--seed", type=int, default=0, help="seed of params, shuffling and splits (default 0)")
    p.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="run once per seed and report mean +- standard deviation (overrides --seed)")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="folder for the PNG figures (default docs/img)")
    p.add_argument("--data-dir", default=None, help="folder with the data files (default: $FUNCNET_DATA_DIR)")
    return p


def add_subset_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--train-samples", type=int, default=None, help="use the first N training samples only (quick runs)")
    p.add_argument("--test-samples", type=int, default=None, help="use the first N test samples only (quick runs)")


def add_save_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--save", default=None, metavar="PATH.keras",
                   help="write the first seed's trained model to PATH.keras (Keras's format: models.load_model "
                        "and keras.saving.load_model open it)")


def save_model(args: argparse.Namespace, model, name: str | None = None) -> str | None:
    """Writes `model` to `--save` (with `-name` before `.keras` for a script that trains several networks)."""
    if not getattr(args, "save", None):
        return None
    path = args.save
    if name is not None:
        stem, ext = os.path.splitext(path)
        path = f"{stem}-{name}{ext or '.keras'}"
    model.save(path)
    print(f"saved the model to {path}", flush=True)
    return path


def seeds_of(args: argparse.Namespace) -> list[int]:
    return list(args.seeds) if args.seeds else [args.seed]


def data_path(data_dir: str | os.PathLike | None, name: str) -> str:
    """The `path=` argument of a `funcnet.datasets` loader: the file in `data_dir`, else the plain name
    (looked up in $FUNCNET_DATA_DIR, the cache, or downloaded). Absolute, because the loaders take a
    relative path, as Keras does, for a name to look up in those folders."""
    return os.path.abspath(os.path.join(os.fspath(data_dir), name)) if data_dir else name


class Timer:
    """`with Timer() as t: ...; t.seconds` -- wall-clock seconds of the block."""

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


class SeedRuns(NamedTuple):
    """One network trained once per seed side by side (`models.fit_many`)."""

    runs: Any  # the funcnet.models.Runs
    histories: list  # per seed, `fit`'s `history.history` (name -> list of floats)
    seconds: float  # the whole fit_many call, compile included


def fit_seeds(model, x, y, seeds: Sequence[int], **fit_kwargs) -> SeedRuns:
    """`model.fit(x, y, seed=s, **fit_kwargs)` for every seed in `seeds`, as one compiled program: member k
    is the fit with seed `seeds[k]` (to float rounding; bit for bit on a CPU)."""
    from funcnet import models

    with Timer() as timer:
        runs = models.fit_many(model, x, y, seeds=list(seeds), verbose=0, **fit_kwargs)
    histories = [{name: [float(v) for v in values[k] if np.isfinite(v)] for name, values in runs.history.items()}
                 for k in range(len(seeds))]
    return SeedRuns(runs, histories, timer.seconds)


# --------------------------------------------------------------------------------------------
# Statistics over seeds
# --------------------------------------------------------------------------------------------

class Summary(NamedTuple):
    mean: float
    sd: float  # sample standard deviation over seeds (0 for one seed)
    low: float
    high: float
    n: int

    def format(self, digits: int = 4) -> str:
        if self.n == 1:
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} ± {self.sd:.{digits}f}"


def summarize(values: Sequence[float]) -> Summary:
    a = np.asarray(values, dtype=np.float64)
    sd = float(a.std(ddof=1)) if a.size > 1 else 0.0
    return Summary(float(a.mean()), sd, float(a.min()), float(a.max()), int(a.size))


def format_values(values: Sequence[float], digits: int = 4) -> str:
    """`mean ± sd (v0, v1, v2)` for several seeds; the value alone for one."""
    s = summarize(values)
    if s.n == 1:
        return f"{s.mean:.{digits}f}"
    return f"{s.format(digits)} ({', '.join(f'{v:.{digits}f}' for v in values)})"


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------

def agg_figure(**kwargs):
    """A matplotlib Figure drawn by the Agg canvas: no pyplot, no global backend state."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(**kwargs)
    FigureCanvasAgg(figure)
    return figure


def plot_train_val(ax, runs: Sequence[dict], key: str, label: str, book: dict | None = None,
                   book_label: str = "book") -> None:
    """One panel in the book's style: training `key` as dots, validation `val_<key>` as a line.

    `runs` are `history.history` dicts, one per seed: the mean over seeds is drawn, with the seeds'
    range as error bars (training) or a band (validation). `book` holds the book notebook's values.
    """
    train = np.asarray([r[key] for r in runs], dtype=np.float64)
    epochs = np.arange(1, train.shape[1] + 1)
    n = len(runs)
    what = f"mean of {n} seeds" if n > 1 else "funcnet"
    if n > 1:
        ax.errorbar(epochs, train.mean(0), yerr=[train.mean(0) - train.min(0), train.max(0) - train.mean(0)],
                    fmt="o", color=FUNCNET_COLOR, markersize=5, capsize=0, elinewidth=1,
                    label=f"training {label} ({what})")
    else:
        ax.plot(epochs, train[0], "o", color=FUNCNET_COLOR, markersize=5, label=f"training {label} ({what})")
    if f"val_{key}" in runs[0]:
        val = np.asarray([r[f"val_{key}"] for r in runs], dtype=np.float64)
        ax.plot(epochs, val.mean(0), "-", color=FUNCNET_COLOR, linewidth=2, label=f"validation {label} ({what})")
        if n > 1:
            ax.fill_between(epochs, val.min(0), val.max(0), color=FUNCNET_COLOR, alpha=0.18, linewidth=0)
    if book is not None and key in book:
        book_epochs = np.arange(1, len(book[key]) + 1)
        ax.plot(book_epochs, book[key], "+", color=BOOK_COLOR, markersize=8, mew=1.5, label=f"training {label} ({book_label})")
        if f"val_{key}" in book:
            ax.plot(book_epochs, book[f"val_{key}"], "--", color=BOOK_COLOR, linewidth=1.5,
                    label=f"validation {label} ({book_label})")
    ax.set_xlabel("Epochs")
    ax.set_ylabel(label.capitalize() if label.islower() else label)
    ax.set_xticks(epochs if len(epochs) <= 20 else np.arange(0, len(epochs) + 1, max(1, len(epochs) // 10)))
    ax.grid(True, alpha=0.3)
    ordered_legend(ax)


def ordered_legend(ax, **kwargs) -> None:
    """A legend listing funcnet before the book, training before validation (errorbar handles come last otherwise)."""
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: ("book" in labels[i], "validation" in labels[i]))
    ax.legend([handles[i] for i in order], [labels[i] for i in order], fontsize=kwargs.pop("fontsize", 8), **kwargs)


def seeds_caption(n: int) -> str:
    """`1 seed`, or `3 seeds; bars and band: range over seeds`: how a figure's curves were made."""
    return f"{n} seed{'s' * (n > 1)}{'; bars and band: range over seeds' if n > 1 else ''}"


def save_history_figure(runs: Sequence[dict], path: str | os.PathLike, title: str, metric: str = "accuracy",
                        metric_label: str = "accuracy", loss_label: str = "loss", book: dict | None = None,
                        book_label: str = "book notebook, Keras 2.0.8") -> str:
    """The book's two figures side by side: training and validation loss (left) and `metric` (right)."""
    figure = agg_figure(figsize=(12, 4.6), layout="constrained")
    ax_loss, ax_metric = figure.subplots(1, 2)
    plot_train_val(ax_loss, runs, "loss", loss_label, book, book_label)
    ax_loss.set_title(f"Training and validation {loss_label}", fontsize=11)
    plot_train_val(ax_metric, runs, metric, metric_label, book, book_label)
    ax_metric.set_title(f"Training and validation {metric_label}", fontsize=11)
    figure.suptitle(title, fontsize=12)
    os.makedirs(os.path.dirname(os.fspath(path)) or ".", exist_ok=True)
    figure.savefig(path, dpi=100)
    return os.fspath(path)


# --------------------------------------------------------------------------------------------
# Keras 2.0.8's RMSprop, for comparisons with the book's numbers
# --------------------------------------------------------------------------------------------

class _Keras2RmsState(NamedTuple):
    nu: Any


def keras2_rmsprop(learning_rate: float = 0.001, rho: float = 0.9, epsilon: float = 1e-8) -> optax.GradientTransformation:
    """RMSprop as Keras 2.0.8 wrote it (`keras/optimizers.py`, tag 2.0.8), the Keras of the book's notebooks:

        a_t = rho * a_{t-1} + (1 - rho) * g_t**2,     a_0 = 0
        w_t = w_{t-1} - lr * g_t / (sqrt(a_t) + epsilon),    epsilon = 1e-8

    Keras 3 (and `funcnet.optimizers.rmsprop`) divide by `sqrt(a_t + 1e-7)` instead: for a gradient
    much smaller than sqrt(1e-7) ~ 3e-4 the step shrinks in proportion to the gradient, where Keras
    2.0.8 still takes a step of about `lr / sqrt(1 - rho)` (3.2 lr at the first step).
    """

    def init(params):
        return _Keras2RmsState(jax.tree.map(jnp.zeros_like, params))

    def update(updates, state, params=None):
        del params
        nu = jax.tree.map(lambda n, g: rho * n + (1 - rho) * jnp.square(g), state.nu, updates)
        updates = jax.tree.map(lambda g, n: -learning_rate * g / (jnp.sqrt(n) + epsilon), updates, nu)
        return updates, _Keras2RmsState(nu)

    return optax.GradientTransformation(init, update)


def rmsprop(variant: str = "keras3") -> optax.GradientTransformation:
    """The book's `optimizer='rmsprop'`: funcnet's (Keras 3 semantics) or Keras 2.0.8's (`"keras2"`)."""
    if variant == "keras3":
        return optimizers.rmsprop()
    if variant == "keras2":
        return keras2_rmsprop()
    raise ValueError(f"rmsprop variant must be 'keras3' or 'keras2'; got {variant!r}.")


@functools.lru_cache(maxsize=None)
def _shared_keras2_rmsprop() -> optax.GradientTransformation:
    return keras2_rmsprop()


def compile_optimizer(variant: str = "keras3"):
    """The `optimizer=` argument of `model.compile` for the book's `'rmsprop'`: the name itself for
    funcnet's (so `fit` shares its compiled programs between models of one structure: later seeds
    compile nothing), or one shared instance of Keras 2.0.8's (shared by identity, to the same effect)."""
    if variant == "keras3":
        return "rmsprop"
    if variant == "keras2":
        return _shared_keras2_rmsprop()
    raise ValueError(f"rmsprop variant must be 'keras3' or 'keras2'; got {variant!r}.")


def add_rmsprop_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rmsprop", choices=["keras3", "keras2"], default="keras3",
                   help="keras3: funcnet's rmsprop (Keras 3: eps 1e-7 inside the sqrt, the default); "
                        "keras2: Keras 2.0.8's (eps 1e-8 outside the sqrt), as in the book's notebooks")
