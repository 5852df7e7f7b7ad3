"""True SGD (batch 1): the book's Boston-housing K-fold run in funcnet and in Keras 3 on JAX.

    13 standardised features -> Dense(64, relu) -> Dense(64, relu) -> Dense(1), rmsprop, mse loss, mae
    metric, batch 1, 100 epochs, 4 folds: each fold a fresh model trained on 303 samples with
    `fit(batch_size=1, epochs=100, verbose=0)` and evaluated on the other 101.

The data are Keras's split of boston_housing.npz (seed-113 shuffle, test_split=0.2: 404 training
samples), standardised with the training mean and std. Each framework runs in its own subprocess.

Measured per framework: the total time of the 4 folds (each from building the model to the end of
its evaluation), each fold's first epoch (compile included) and steady epoch (median of the others),
the time per SGD step in a steady epoch, the mean validation MAE over the folds, and the whole
process's wall time.

Keras runs one Python-level step per sample (121,200 steps for the full run). If its run would take
longer than --keras-budget-s (projected after its first fold's third epoch), every Keras fold stops
at the epoch count that fits and its time is EXTRAPOLATED to the full epoch count from its own
steady epochs; the report says so, and its MAE is then that of the shorter training. funcnet always
runs in full.

Run:  FUNCNET_DATA_DIR=../shared/datasets .venv/bin/python benchmarks/boston_sgd.py
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import _harness as H

FOLDS = 4
SEED = 0
FRAMEWORKS = {"funcnet": "funcnet `model.fit`", "keras_jax": "Keras 3 on JAX, `model.fit`"}
CHILD_ENV = {"keras_jax": {"KERAS_BACKEND": "jax"}}


# --------------------------------------------------------------------------- data (in the child)
def load_boston(folder: str):
    """`(x_train, y_train)`: 404 samples, as `keras.datasets.boston_housing.load_data()` returns them."""
    import numpy as np

    with np.load(os.path.join(folder, "boston_housing.npz"), allow_pickle=False) as f:
        x, y = f["x"], f["y"]
    indices = np.arange(len(x))
    np.random.RandomState(113).shuffle(indices)  # Keras's seed and procedure
    x, y = x[indices], y[indices]
    cut = int(len(x) * (1 - 0.2))
    return np.array(x[:cut]), np.array(y[:cut])


def folds(x, y):
    """The book's 4 folds: (train x, train y, validation x, validation y), 303 / 101 samples each."""
    import numpy as np

    mean = x.mean(axis=0)  # in float64, as the book does it
    x = ((x - mean) / (x - mean).std(axis=0)).astype("float32")
    y = y.astype("float32")
    size = len(x) // FOLDS
    for i in range(FOLDS):
        val = slice(i * size, (i + 1) * size)
        yield (np.concatenate([x[:i * size], x[(i + 1) * size:]]), np.concatenate([y[:i * size], y[(i + 1) * size:]]),
               x[val], y[val])


# --------------------------------------------------------------------------- one framework's K-fold run
class Budget:
    """Caps the epochs of every fold when the full run is projected to exceed `seconds`.

    Projection (after the first fold's `probe` epochs): the first fold's time so far plus its steady
    epoch times the epochs left, times the number of folds."""

    def __init__(self, epochs: int, seconds: float | None, probe: int = 3):
        self.epochs, self.seconds, self.probe = epochs, seconds, probe
        self.cap = epochs
        self.projected_s = None

    def after_epoch(self, fold: int, fold_start: float, ends: list[float]) -> bool:
        """Called after each epoch; True when this fold should stop now."""
        done = len(ends)
        if fold == 0 and self.seconds and done == self.probe and self.probe < self.epochs:
            steady = statistics.median([b - a for a, b in zip(ends, ends[1:])])
            elapsed = ends[-1] - fold_start
            self.projected_s = FOLDS * (elapsed + steady * (self.epochs - done))
            if self.projected_s > self.seconds:
                first = ends[0] - fold_start
                self.cap = max(self.probe, int((self.seconds / FOLDS - first) / steady) + 1)
                self.cap = min(self.cap, self.epochs)
        return done >= self.cap


def kfold(build, fit, evaluate, make_clock_callback, data, epochs: int, budget: Budget) -> dict:
    """Runs the folds with framework-specific `build() -> model`, `fit(model, x, y, epochs, callback)`,
    `evaluate(model, x, y) -> mae`; returns per-fold timings and MAEs."""
    results = []
    for fold, (x_tr, y_tr, x_val, y_val) in enumerate(folds(*data)):
        ends: list[float] = []
        start = time.perf_counter()

        def on_epoch_end(model_stop):
            ends.append(time.perf_counter())
            if budget.after_epoch(fold, start, ends):
                model_stop()

        model = build()
        fit(model, x_tr, y_tr, budget.cap, make_clock_callback(on_epoch_end))
        fit_end = time.perf_counter()
        mae = evaluate(model, x_val, y_val)
        end = time.perf_counter()
        marks = [start, *ends]
        epoch_times = [b - a for a, b in zip(marks, marks[1:])]
        steady = statistics.median(epoch_times[1:]) if len(epoch_times) > 1 else None
        measured = end - start
        missing = epochs - len(epoch_times)
        results.append({
            "fold": fold, "epochs_run": len(epoch_times), "train_samples": len(x_tr), "val_samples": len(x_val),
            "first_epoch_s": epoch_times[0], "steady_epoch_s": steady, "fit_s": fit_end - start,
            "evaluate_s": end - fit_end, "measured_s": measured,
            "full_s": measured + (missing * steady if missing and steady else 0.0), "val_mae": mae,
        })
    return {"folds": results}


def run_funcnet(data, epochs, budget):
    import jax

    import funcnet
    from funcnet import callbacks, layers, models

    class Clock(callbacks.Callback):
        def __init__(self, hook):
            super().__init__()
            self.hook = hook

        def on_epoch_end(self, epoch, logs=None):
            jax.block_until_ready(self.model.params)
            self.hook(lambda: setattr(self.model, "stop_training", True))

    fold_seed = iter(range(FOLDS))

    def build():
        model = models.Sequential([
            layers.Dense(64, activation="relu", input_shape=(13,)),
            layers.Dense(64, activation="relu"),
            layers.Dense(1),
        ])
        model.compile(optimizer="rmsprop", loss="mse", metrics=["mae"])
        return model

    def fit(model, x, y, epochs, callback):
        model.fit(x, y, epochs=epochs, batch_size=1, verbose=0, callbacks=[callback], seed=SEED + next(fold_seed))

    def evaluate(model, x, y):
        return float(model.evaluate(x, y, verbose=0)[1])

    out = kfold(build, fit, evaluate, Clock, data, epochs, budget)
    out["versions"] = {"funcnet": getattr(funcnet, "__version__", "?"), "jax": jax.__version__}
    return out


def run_keras_jax(data, epochs, budget):
    os.environ["KERAS_BACKEND"] = "jax"
    import jax
    import keras

    class Clock(keras.callbacks.Callback):
        def __init__(self, hook):
            super().__init__()
            self.hook = hook

        def on_epoch_end(self, epoch, logs=None):
            jax.block_until_ready([v.value for v in self.model.variables])
            self.hook(lambda: setattr(self.model, "stop_training", True))

    keras.utils.set_random_seed(SEED)

    def build():
        model = keras.Sequential([
            keras.Input(shape=(13,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(1),
        ])
        model.compile(optimizer="rmsprop", loss="mse", metrics=["mae"])
        return model

    def fit(model, x, y, epochs, callback):
        model.fit(x, y, epochs=epochs, batch_size=1, verbose=0, callbacks=[callback])

    def evaluate(model, x, y):
        return float(model.evaluate(x, y, verbose=0)[1])

    out = kfold(build, fit, evaluate, Clock, data, epochs, budget)
    out["versions"] = {"keras": keras.__version__, "jax": jax.__version__}
    return out


RUNNERS = {"funcnet": run_funcnet, "keras_jax": run_keras_jax}


def child_main(args) -> None:
    data = load_boston(args.data_dir)
    budget_s = args.keras_budget_s if args.child == "keras_jax" and args.keras_budget_s > 0 else None
    budget = Budget(args.epochs, budget_s)
    if args.child == "keras_jax" and args.keras_epochs:
        budget.cap = min(args.keras_epochs, args.epochs)
    start = time.perf_counter()
    result = RUNNERS[args.child](data, args.epochs, budget)
    folds_ = result["folds"]
    result.update({
        "name": args.child,
        "epochs": args.epochs,
        "epochs_run": folds_[0]["epochs_run"],
        "extrapolated": any(f["epochs_run"] < args.epochs for f in folds_),
        "projected_full_s": budget.projected_s,
        "total_measured_s": sum(f["measured_s"] for f in folds_),
        "total_s": sum(f["full_s"] for f in folds_),
        "in_process_s": time.perf_counter() - start,
        "mean_val_mae": statistics.mean(f["val_mae"] for f in folds_),
        "first_epoch_s": folds_[0]["first_epoch_s"],
        "steady_epoch_s": statistics.median(f["steady_epoch_s"] for f in folds_ if f["steady_epoch_s"]),
        "steps_per_epoch": folds_[0]["train_samples"],  # batch 1
    })
    H.emit(result)


# --------------------------------------------------------------------------- the parent
def build_report(results: dict, info: dict, epochs: int) -> str:
    ref = results.get("funcnet") or {}
    header = ["implementation", "epochs per fold", "total s (4 folds)", "mean val MAE", "first epoch s (fold 1)",
              "steady epoch s", "us per SGD step", "whole process s", "peak RSS MB", "total x funcnet"]
    rows, notes = [], []
    for name, label in FRAMEWORKS.items():
        r = results.get(name)
        if r is None:
            continue
        if "error" in r:
            rows.append([label, "failed"] + [""] * 8)
            continue
        epochs_text = str(r["epochs_run"]) if not r["extrapolated"] else f"{r['epochs_run']} (of {epochs})"
        total_text = H.fmt(r["total_s"], 1) + (" (extrapolated)" if r["extrapolated"] else "")
        mae_text = H.fmt(r["mean_val_mae"], 3) + (f" (after {r['epochs_run']} epochs)" if r["extrapolated"] else "")
        rows.append([
            label, epochs_text, total_text, mae_text, H.fmt(r["first_epoch_s"], 2), H.fmt(r["steady_epoch_s"], 3),
            H.fmt(r["steady_epoch_s"] / r["steps_per_epoch"] * 1e6, 0), H.fmt(r["process_s"], 1),
            H.fmt(r["peak_rss_mb"], 0), H.fmt(H.ratio(r["total_s"], ref.get("total_s")), 2, "x"),
        ])
        if r["extrapolated"]:
            notes.append(
                f"{label}: trained {r['epochs_run']} of {epochs} epochs per fold ({r['total_measured_s']:.1f} s measured; "
                f"the full run was projected at {H.fmt(r['projected_full_s'], 0)} s). Its total is extrapolated: each "
                f"fold's measured time plus its median steady epoch times the {epochs - r['epochs_run']} epochs not run. "
                "Its MAE is that of the shorter training and is not comparable."
            )
    out = [
        f"# Boston housing, 4-fold, true SGD (batch 1, {epochs} epochs): funcnet and Keras 3 on JAX",
        "",
        f"{info['date']}, {info.get('cpu', '?')}, {info['cpus']} CPUs, Python {info['python']}; "
        f"load average at start {info['load_average_at_start']}, at end {info.get('load_average_at_end')}.",
        "Total: the sum over the 4 folds of building the model, fit and evaluate. A step is one sample "
        "(303 per epoch). Book (Keras 2.0.8): mean validation MAE 2.384 after 100 epochs.",
        "",
        H.markdown_table(header, rows, "lrrrrrrrrr"),
    ]
    if notes:
        out += [""] + [f"- EXTRAPOLATED: {n}" for n in notes]
    versions = {}
    for r in results.values():
        versions.update(r.get("versions", {}))
    out += ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())) + "."]
    return "\n".join(out) + "\n"


def parent_main(args) -> None:
    names = list(FRAMEWORKS) if not args.only else [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in FRAMEWORKS]
    if unknown:
        sys.exit(f"--only: unknown name(s) {unknown}; choose from {list(FRAMEWORKS)}.")
    info = H.machine_info()
    print(f"# {info['date']}  load average {info['load_average_at_start']}  epochs {args.epochs}", flush=True)
    results = {}
    for name in names:
        child_args = ["--child", name, "--epochs", str(args.epochs), "--data-dir", args.data_dir,
                      "--keras-budget-s", str(args.keras_budget_s), "--keras-epochs", str(args.keras_epochs)]
        result, wall, stderr = H.run_child(__file__, child_args, CHILD_ENV.get(name))
        if result is None:
            print(f"{name}: FAILED after {wall:.1f} s\n{stderr}", file=sys.stderr, flush=True)
            results[name] = {"error": stderr, "process_s": wall}
            continue
        result["process_s"] = wall
        results[name] = result
        per_fold = " ".join(f"{f['measured_s']:.1f}" for f in result["folds"])
        maes = " ".join(f"{f['val_mae']:.2f}" for f in result["folds"])
        print(f"{name:10s} folds [{per_fold}] s  total {result['total_s']:.1f} s"
              f"{' (extrapolated)' if result['extrapolated'] else ''}  epochs/fold {result['epochs_run']}  "
              f"val MAE [{maes}] mean {result['mean_val_mae']:.3f}  process {wall:.1f} s", flush=True)
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report = build_report(results, info, args.epochs)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(report)
        json_path = os.path.splitext(args.out)[0] + ".json"
        with open(json_path, "w") as f:
            json.dump({"machine": info, "epochs": args.epochs, "results": results}, f, indent=2)
        print(f"wrote {args.out} and {json_path}")
    print()
    print(report)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=100, help="epochs per fold (default 100, the book's)")
    parser.add_argument("--keras-epochs", type=int, default=0, help="train Keras only this many epochs per "
                        "fold and extrapolate its time to --epochs (default 0: as many as --keras-budget-s allows)")
    parser.add_argument("--keras-budget-s", type=float, default=300.0, help="if Keras's full run is projected "
                        "past this many seconds, cap its epochs and extrapolate (default 300; 0: never cap)")
    parser.add_argument("--only", default="", help="comma-separated subset of: " + ",".join(FRAMEWORKS))
    parser.add_argument("--out", default="", help="write the table to this markdown file, and the raw "
                        "numbers beside it as .json")
    parser.add_argument("--data-dir", default=None, help="folder of boston_housing.npz (default $FUNCNET_DATA_DIR)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    if args.keras_epochs < 0:
        parser.error("--keras-epochs must be >= 0")
    if args.child:
        child_main(args)
    else:
        args.data_dir = H.data_dir(args.data_dir)
        parent_main(args)


if __name__ == "__main__":
    main()
