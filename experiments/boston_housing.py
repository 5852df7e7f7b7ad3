"""Predicting house prices (Deep Learning with Python, section 3.6): K-fold validation, all folds at once.

    13 standardised features -> Dense(64, relu) -> Dense(64, relu) -> Dense(1), MSE loss, MAE metric,
    RMSprop(1e-3), on the 404 Boston housing training samples (102 test samples).

1. K-fold validation as the book does it (K=4, 100 epochs of batch 1, then each fold's validation MAE;
   the book's notebook: mean 2.384). Batch-1 training is 4 x 100 x 303 = 121,200 steps of a tiny
   network: one at a time it is all per-step overhead, so the four folds train side by side, with
   `models.fit_many(model, x, y, folds=4, seeds=...)`: one compiled program vmaps `fit`'s epoch over
   the folds. Fold i trains on the same 303 samples, from the same initial params and in the same
   order as `fit(..., batch_size=1, seed=seed * 4 + i)` would, which `check_against_fit` verifies.
2. The book's 500-epoch run: the validation MAE per epoch averaged over the folds, raw and smoothed
   (exponential moving average, factor 0.9, first 10 epochs dropped).
3. The final model: a fresh network, 80 epochs of batch 16 on all 404 samples, test MAE (book: 2.553).

Features are standardised with the training samples' mean and standard deviation only.

Run:  FUNCNET_DATA_DIR=../shared/datasets python experiments/boston_housing.py --seeds 0 1 2
"""
from __future__ import annotations

import argparse
import os
import pathlib
import sys
from typing import NamedTuple

import jax
import numpy as np

from funcnet import datasets, layers, models


sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))  # the experiments' shared helpers
import _common as common  # noqa: E402

BOOK_KFOLD_MAE = 2.3837935992396706  # first_edition/3.7-predicting-house-prices.ipynb, np.mean(all_scores)
BOOK_FOLD_MAES = (2.0750808349930412, 2.117215852926273, 2.9140411863232605, 2.4288365227161068)
BOOK_TEST_MAE = 2.5532484335057877


class BostonData(NamedTuple):
    x_train: np.ndarray  # float32 [404, 13], standardised
    y_train: np.ndarray  # float32 [404, 1], k$
    x_test: np.ndarray  # float32 [102, 13], standardised with the training statistics
    y_test: np.ndarray  # float32 [102, 1]


class Folds(NamedTuple):
    """K folds stacked on a leading axis: fold i validates on samples [i*m, (i+1)*m) and trains on the rest."""

    x_train: np.ndarray  # [K, n - m, 13]
    y_train: np.ndarray  # [K, n - m, 1]
    x_val: np.ndarray  # [K, m, 13]
    y_val: np.ndarray  # [K, m, 1]


def load_data(data_dir: str | None = None) -> BostonData:
    (x_train, y_train), (x_test, y_test) = datasets.boston_housing.load_data(path=common.data_path(data_dir, "boston_housing.npz"))
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    standardise = lambda x: ((x - mean) / std).astype(np.float32)  # noqa: E731
    return BostonData(standardise(x_train), y_train.astype(np.float32).reshape(-1, 1),
                      standardise(x_test), y_test.astype(np.float32).reshape(-1, 1))


def make_folds(x: np.ndarray, y: np.ndarray, k: int = 4) -> Folds:
    """The book's split: `num_val_samples = len(x) // k`, contiguous validation slices, training on the rest."""
    m = len(x) // k
    parts = [(np.concatenate([x[: i * m], x[(i + 1) * m :]]), np.concatenate([y[: i * m], y[(i + 1) * m :]]),
              x[i * m : (i + 1) * m], y[i * m : (i + 1) * m]) for i in range(k)]
    return Folds(*(np.stack(column) for column in zip(*parts)))


def build_model() -> models.Sequential:
    return models.Sequential([
        layers.Dense(64, activation="relu", input_shape=(13,)),
        layers.Dense(64, activation="relu"),
        layers.Dense(1),
    ])


def fold_seeds(seed: int, k: int = 4) -> list[int]:
    """Fold i's seed (params, shuffling): distinct for every fold of every run seed."""
    return [seed * k + i for i in range(k)]


class KFoldResult(NamedTuple):
    history: dict  # name -> float64 [K, epochs], as fit_many's Runs.history
    seconds: float  # wall-clock of the whole fit_many call (the first call of a process compiles)


def compile_model(rmsprop: str = "keras3") -> models.Sequential:
    model = build_model()
    model.compile(optimizer=common.compile_optimizer(rmsprop), loss="mse", metrics=["mae"])
    return model


def kfold(data: BostonData, epochs: int = 100, seed: int = 0, k: int = 4, batch_size: int = 1,
          rmsprop: str = "keras3") -> KFoldResult:
    """K-fold validation with all folds trained side by side (`models.fit_many(folds=k)`), fold i with seed
    `fold_seeds(seed)[i]`."""
    with common.Timer() as timer:
        runs = models.fit_many(compile_model(rmsprop), data.x_train, data.y_train, folds=k, seeds=fold_seeds(seed, k),
                               epochs=epochs, batch_size=batch_size, verbose=0)
    return KFoldResult({key: np.asarray(value, np.float64) for key, value in runs.history.items()}, timer.seconds)


def check_against_fit(data: BostonData, epochs: int = 3, seed: int = 0, fold: int = 1, k: int = 4):
    """Trains fold `fold` alone with `fit` (batch 1, `seed=fold_seeds(seed)[fold]`, validation on the fold)
    and compares it with `fit_many`'s member `fold` over `epochs` epochs.

    Returns `(largest relative difference over loss, mae, val_loss and val_mae, fit's history,
    fit_many's history)`.
    """
    folds = make_folds(data.x_train, data.y_train, k)
    model = compile_model()
    history = model.fit(folds.x_train[fold], folds.y_train[fold], epochs=epochs, batch_size=1, verbose=0,
                        validation_data=(folds.x_val[fold], folds.y_val[fold]), seed=fold_seeds(seed, k)[fold]).history
    together = kfold(data, epochs=epochs, seed=seed, k=k).history
    worst = 0.0
    for key in ("loss", "mae", "val_loss", "val_mae"):
        alone = np.asarray(history[key], np.float64)
        worst = max(worst, float(np.max(np.abs(alone - together[key][fold]) / np.abs(alone))))
    return worst, history, together


def final_model(data: BostonData, epochs: int = 80, batch_size: int = 16, seed: int = 0, rmsprop: str = "keras3",
                save: str | None = None):
    """A fresh network trained on all 404 samples; returns (test MAE, history, seconds). `save`: write the
    trained model there (a .keras archive)."""
    model = compile_model(rmsprop)
    with common.Timer() as timer:
        history = model.fit(data.x_train, data.y_train, epochs=epochs, batch_size=batch_size, verbose=0, seed=seed)
        _, test_mae = model.evaluate(data.x_test, data.y_test, verbose=0)
    if save:
        common.save_model(argparse.Namespace(save=save), model)
    return float(test_mae), history.history, timer.seconds


def smooth_curve(points, factor: float = 0.9) -> np.ndarray:
    """The book's exponential moving average: s_0 = p_0, s_t = factor * s_{t-1} + (1 - factor) * p_t."""
    smoothed = []
    for point in points:
        smoothed.append(smoothed[-1] * factor + point * (1 - factor) if smoothed else point)
    return np.asarray(smoothed)


def plot_kfold(runs: list[dict], path, title: str) -> str:
    """Training MAE (dots) and validation MAE (line) per epoch, averaged over the folds, for each seed."""
    per_seed = [{key: value.mean(axis=0) for key, value in run.items()} for run in runs]
    figure = common.agg_figure(figsize=(12, 4.6), layout="constrained")
    ax_loss, ax_mae = figure.subplots(1, 2)
    common.plot_train_val(ax_loss, per_seed, "loss", "loss (MSE)")
    ax_loss.set_yscale("log")
    ax_loss.set_title("Training and validation loss, mean of the 4 folds", fontsize=11)
    common.plot_train_val(ax_mae, per_seed, "mae", "MAE (k$)")
    ax_mae.axhline(BOOK_KFOLD_MAE, color=common.BOOK_COLOR, linestyle="--", linewidth=1.5,
                   label=f"book: mean validation MAE after 100 epochs ({BOOK_KFOLD_MAE:.3f})")
    ax_mae.set_ylim(1.0, 5.0)
    common.ordered_legend(ax_mae)
    ax_mae.set_title("Training and validation MAE, mean of the 4 folds", fontsize=11)
    figure.suptitle(title, fontsize=12)
    figure.savefig(path, dpi=100)
    return os.fspath(path)


def plot_long_run(histories: list[dict], path, title: str) -> str:
    """The book's figures 3.9 and 3.10: validation MAE per epoch (mean of the folds), then smoothed
    without the first 10 epochs. Several seeds: their mean, and their range as a band.

    Unlike the book's figure 3.10, whose x axis restarts at 1 after dropping 10 epochs, the smoothed
    curve is drawn at its true epochs (11 onwards)."""
    average = np.stack([h["val_mae"].mean(axis=0) for h in histories])  # [seeds, epochs]
    smoothed = np.stack([smooth_curve(a[10:]) for a in average])
    epochs = np.arange(1, average.shape[1] + 1)
    figure = common.agg_figure(figsize=(12, 4.4), layout="constrained")
    ax_raw, ax_smooth = figure.subplots(1, 2)
    what = f" (mean of {len(histories)} seeds)" if len(histories) > 1 else ""
    for ax, values, x in ((ax_raw, average, epochs), (ax_smooth, smoothed, epochs[10:])):
        ax.plot(x, values.mean(0), color=common.FUNCNET_COLOR, linewidth=1.2 if ax is ax_raw else 1.8,
                label=f"validation MAE{what}")
        if len(histories) > 1:
            ax.fill_between(x, values.min(0), values.max(0), color=common.FUNCNET_COLOR, alpha=0.18, linewidth=0,
                            label="range over seeds")
    best = int(np.argmin(smoothed.mean(0)))
    ax_smooth.plot([best + 11], [smoothed.mean(0)[best]], "o", color="tab:red",
                   label=f"minimum {smoothed.mean(0)[best]:.3f} at epoch {best + 11}")
    ax_raw.set_title("Validation MAE by epoch, mean of the 4 folds", fontsize=11)
    ax_smooth.set_title("Smoothed (factor 0.9), first 10 epochs dropped", fontsize=11)
    for ax in (ax_raw, ax_smooth):
        ax.set_xlabel("Epochs")
        ax.set_ylabel("Validation MAE (k$)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=9)
    ax_raw.set_ylim(min(1.5, float(average.min()) - 0.1), 5.0)
    figure.suptitle(title, fontsize=12)
    figure.savefig(path, dpi=100)
    return os.fspath(path)


def main(argv: list[str] | None = None) -> dict:
    p = common.parser(__doc__.splitlines()[0], epochs=100)
    p.add_argument("--long-epochs", type=int, default=500, help="epochs of the smoothed-curve run (0: skip it)")
    p.add_argument("--long-seeds", type=int, default=None, help="how many of the seeds run the long run (default all)")
    p.add_argument("--final-epochs", type=int, default=80)
    p.add_argument("--no-check", action="store_true", help="skip the vmapped-versus-fit check")
    common.add_rmsprop_option(p)
    common.add_save_option(p)
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    seeds = common.seeds_of(args)
    data = load_data(args.data_dir)
    print(f"Boston housing: {len(data.x_train)} training, {len(data.x_test)} test samples; seeds {seeds}; "
          f"rmsprop {args.rmsprop}; devices {jax.devices()}", flush=True)

    worst = None
    if not args.no_check:
        worst = check_against_fit(data, epochs=2, seed=seeds[0])[0]
        print(f"fit_many's folds vs fit on fold 1 alone, 2 epochs: largest relative difference {worst:.2e}", flush=True)

    runs, fold_maes, seconds = [], [], []
    for seed in seeds:
        result = kfold(data, epochs=args.epochs, seed=seed, rmsprop=args.rmsprop)
        runs.append(result.history)
        fold_maes.append(result.history["val_mae"][:, -1])
        seconds.append(result.seconds)
        print(f"seed {seed}: {args.epochs} epochs x 4 folds, batch 1: validation MAE per fold "
              f"{np.round(fold_maes[-1], 3).tolist()}, mean {fold_maes[-1].mean():.3f}  "
              f"(fit_many {result.seconds:.2f}s)", flush=True)
    kfold_png = plot_kfold(runs, os.path.join(args.out, "boston_kfold.png"),
                           f"Boston housing, 4-fold validation, {args.epochs} epochs of batch 1 "
                           f"({len(seeds)} seed{'s' * (len(seeds) > 1)}; band: range over seeds)")

    long_runs, long_minima, long_seconds = [], [], []
    if args.long_epochs:
        for seed in seeds[: args.long_seeds]:
            result = kfold(data, epochs=args.long_epochs, seed=seed, rmsprop=args.rmsprop)
            smoothed = smooth_curve(result.history["val_mae"].mean(axis=0)[10:])
            long_runs.append(result.history)
            long_minima.append((int(np.argmin(smoothed)) + 11, float(smoothed.min())))
            long_seconds.append(result.seconds)
            print(f"seed {seed}: {args.long_epochs} epochs x 4 folds: smoothed validation MAE minimum "
                  f"{smoothed.min():.3f} at epoch {long_minima[-1][0]} (fit_many {result.seconds:.2f}s)", flush=True)
        n = len(long_runs)
        long_png = plot_long_run(long_runs, os.path.join(args.out, "boston_validation_mae.png"),
                                 f"Boston housing, 4-fold validation, {args.long_epochs} epochs of batch 1 "
                                 f"({n} seed{'s' * (n > 1)})")

    test_maes, final_seconds = [], []
    for seed in seeds:
        test_mae, _, secs = final_model(data, epochs=args.final_epochs, seed=seed, rmsprop=args.rmsprop,
                                        save=args.save if not test_maes else None)
        test_maes.append(test_mae)
        final_seconds.append(secs)
        print(f"seed {seed}: final model, {args.final_epochs} epochs of batch 16 on all 404: test MAE {test_mae:.3f} ({secs:.1f}s)")

    figures = [kfold_png] + ([long_png] if args.long_epochs else [])
    print("figures:", ", ".join(figures))
    long_text = (f" | {args.long_epochs}-epoch smoothed minimum " +
                 ", ".join(f"{v:.3f} at epoch {e}" for e, v in long_minima) +
                 f" (fit_many {common.format_values(long_seconds, 2)}s)") if long_minima else ""
    print(f"results: k-fold mean validation MAE {common.format_values([m.mean() for m in fold_maes], 3)} "
          f"(book {BOOK_KFOLD_MAE:.3f}), {args.epochs} epochs x 4 folds of batch 1: fit_many "
          f"{common.format_values(seconds, 2)}s (the first compiles){long_text} | final test MAE {common.format_values(test_maes, 3)} "
          f"(book {BOOK_TEST_MAE:.3f})")
    return {"kfold": runs, "kfold_seconds": seconds, "long": long_runs, "test_maes": test_maes,
            "vmap_vs_fit": worst, "figures": figures}


if __name__ == "__main__":
    main(sys.argv[1:])
