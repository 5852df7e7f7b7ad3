"""Many models in one program: `models.fit_many` against loops of `fit` and of Keras 3 on JAX's `fit`.

(a) The book's Boston K-fold (listing 3.8 with listing 3.9's per-epoch validation): 4 folds x 100 epochs
    of batch 1, Dense(64, relu) - Dense(64, relu) - Dense(1), rmsprop, mse, mae, each fold validated
    on its 101 samples after every epoch. funcnet `fit_many(folds=4)` (one program), funcnet `fit` on
    each fold in turn, Keras 3 on JAX `fit` on each fold in turn. Time: the whole run, from building
    the first model to the last fold's history, compile included (the first run of a fresh process);
    for `fit_many` also a second, warm call in the same process.
(b) 8 seeds of the book's MNIST network (Dense(512, relu) - Dense(10, softmax), rmsprop, batch 128),
    5 epochs on the 60,000 training images, then each model's test accuracy: `fit_many(seeds=0..7)`,
    8 sequential funcnet `fit`s, 8 sequential Keras fits. Time as in (a); peak resident memory of
    each process.

Every implementation runs in its own fresh subprocess. One run on this machine (shared, noisy): the
ratios come from it. The table goes to --out (markdown, and the results as JSON beside it); the last
line printed is one JSON object.

Run:  FUNCNET_DATA_DIR=../shared/datasets .venv/bin/python benchmarks/many_models.py --out docs/perf-many.md
      (--quick: 10 Boston epochs, 2 MNIST seeds of 1 epoch on 6,000 images, to check the script works)
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import _harness as H

CASES = {
    "boston_fit_many": "funcnet `fit_many(folds=4)`",
    "boston_fit_loop": "funcnet `fit`, fold after fold",
    "boston_keras": "Keras 3 on JAX `fit`, fold after fold",
    "mnist_fit_many": "funcnet `fit_many(seeds=...)`",
    "mnist_fit_loop": "funcnet `fit`, seed after seed",
    "mnist_keras": "Keras 3 on JAX `fit`, seed after seed",
}
FOLDS = 4


# --------------------------------------------------------------------------- the children
def boston_data(folder):
    import numpy as np

    with np.load(os.path.join(folder, "boston_housing.npz"), allow_pickle=False) as f:
        x, y = f["x"], f["y"]
    order = np.arange(len(x))
    np.random.RandomState(113).shuffle(order)  # Keras's split
    cut = int(len(x) * 0.8)
    x, y = x[order][:cut], y[order][:cut]
    mean = x.mean(axis=0)
    x = ((x - mean) / (x - mean).std(axis=0)).astype("float32")
    return x, y.astype("float32").reshape(-1, 1)


def boston_folds(x, y):
    import numpy as np

    m = len(x) // FOLDS
    for k in range(FOLDS):
        yield (np.concatenate([x[:k * m], x[(k + 1) * m:]]), np.concatenate([y[:k * m], y[(k + 1) * m:]]),
               x[k * m:(k + 1) * m], y[k * m:(k + 1) * m])


def mnist_data(folder, train_samples):
    import numpy as np

    with np.load(os.path.join(folder, "mnist.npz"), allow_pickle=False) as f:
        x_train, y_train, x_test, y_test = f["x_train"], f["y_train"], f["x_test"], f["y_test"]
    prep = lambda a: (a.reshape(len(a), 784).astype("float32") / 255.0)  # noqa: E731  the book's
    return prep(x_train[:train_samples]), y_train[:train_samples], prep(x_test), y_test


def funcnet_boston_model():
    from funcnet import layers, models

    model = models.Sequential([layers.Dense(64, activation="relu", input_shape=(13,)),
                               layers.Dense(64, activation="relu"), layers.Dense(1)])
    model.compile(optimizer="rmsprop", loss="mse", metrics=["mae"])
    return model


def funcnet_mnist_model():
    from funcnet import layers, models

    model = models.Sequential([layers.Dense(512, activation="relu", input_shape=(784,)),
                               layers.Dense(10, activation="softmax")])
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def keras_boston_model():
    import keras

    model = keras.Sequential([keras.Input(shape=(13,)), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(64, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer="rmsprop", loss="mse", metrics=["mae"])
    return model


def keras_mnist_model():
    import keras

    model = keras.Sequential([keras.Input(shape=(784,)), keras.layers.Dense(512, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def child(args) -> dict:
    name = args.child
    if name.startswith("boston"):
        x, y = boston_data(args.data_dir)
        epochs = args.boston_epochs
        start = time.perf_counter()
        if name == "boston_fit_many":
            from funcnet import models

            runs = models.fit_many(funcnet_boston_model(), x, y, folds=FOLDS, seeds=list(range(FOLDS)), epochs=epochs,
                                   batch_size=1, verbose=0)
            run_s = time.perf_counter() - start
            maes = runs.history["val_mae"][:, -1].tolist()
            start = time.perf_counter()
            models.fit_many(funcnet_boston_model(), x, y, folds=FOLDS, seeds=list(range(FOLDS)), epochs=epochs,
                            batch_size=1, verbose=0)
            return {"run_s": run_s, "warm_s": time.perf_counter() - start, "val_maes": maes,
                    "group_size": runs.group_size}
        maes = []
        for k, (x_tr, y_tr, x_val, y_val) in enumerate(boston_folds(x, y)):
            if name == "boston_fit_loop":
                history = funcnet_boston_model().fit(x_tr, y_tr, epochs=epochs, batch_size=1, verbose=0, seed=k,
                                                     validation_data=(x_val, y_val))
            else:
                import keras

                keras.utils.set_random_seed(k)
                history = keras_boston_model().fit(x_tr, y_tr, epochs=epochs, batch_size=1, verbose=0,
                                                   validation_data=(x_val, y_val))
            maes.append(float(history.history["val_mae"][-1]))
        return {"run_s": time.perf_counter() - start, "val_maes": maes}

    x, y, x_test, y_test = mnist_data(args.data_dir, args.mnist_samples)
    seeds = list(range(args.mnist_seeds))
    epochs = args.mnist_epochs
    start = time.perf_counter()
    if name == "mnist_fit_many":
        from funcnet import models

        runs = models.fit_many(funcnet_mnist_model(), x, y, seeds=seeds, epochs=epochs, batch_size=128, verbose=0)
        accuracies = runs.evaluate(x_test, y_test, batch_size=128)["accuracy"].tolist()
        return {"run_s": time.perf_counter() - start, "test_accuracies": accuracies, "group_size": runs.group_size}
    accuracies = []
    for seed in seeds:
        if name == "mnist_fit_loop":
            model = funcnet_mnist_model()
            model.fit(x, y, epochs=epochs, batch_size=128, verbose=0, seed=seed)
            accuracies.append(float(model.evaluate(x_test, y_test, batch_size=128, verbose=0)[1]))
        else:
            import keras

            keras.utils.set_random_seed(seed)
            model = keras_mnist_model()
            model.fit(x, y, epochs=epochs, batch_size=128, verbose=0)
            accuracies.append(float(model.evaluate(x_test, y_test, batch_size=128, verbose=0)[1]))
    return {"run_s": time.perf_counter() - start, "test_accuracies": accuracies}


def versions(name: str) -> dict:
    import jax

    out = {"jax": jax.__version__}
    if name.endswith("keras"):
        import keras

        out["keras"] = keras.__version__
    return out


# --------------------------------------------------------------------------- the parent
def report(results: dict, info: dict, args) -> str:
    def row(name, reference, extra):
        r = results.get(name, {})
        if "error" in r or not r:
            return [CASES[name], "failed"] + [""] * (3 + len(extra))
        ratio = H.ratio(r["run_s"], results.get(reference, {}).get("run_s"))
        return [CASES[name], H.fmt(r["run_s"], 2), H.fmt(r.get("warm_s"), 2), H.fmt(r["process_s"], 1),
                H.fmt(r["peak_rss_mb"], 0)] + [e(r) for e in extra] + [H.fmt(1 / ratio if ratio else None, 1, "x")]

    mean = lambda values: sum(values) / len(values)  # noqa: E731
    boston = [row(n, "boston_keras", [lambda r: H.fmt(mean(r["val_maes"]), 3)])
              for n in ("boston_fit_many", "boston_fit_loop", "boston_keras")]
    mnist = [row(n, "mnist_keras", [lambda r: H.fmt(mean(r["test_accuracies"]), 4)])
             for n in ("mnist_fit_many", "mnist_fit_loop", "mnist_keras")]
    versions_seen = {}
    for r in results.values():
        versions_seen.update(r.get("versions", {}))
    many = results.get("mnist_fit_many", {})
    loop = results.get("mnist_fit_loop", {})
    lines = [
        "# Many models in one program: `fit_many` against loops of `fit`",
        "",
        f"{info['date']}, {info.get('cpu', '?')}, {info['cpus']} CPUs, Python {info['python']}; load average at "
        f"start {info['load_average_at_start']}, at end {info.get('load_average_at_end')}. One run; every "
        "implementation in its own fresh process. `run s`: the whole run, from building the first model to the "
        "last result, compile included; `warm s`: the same call again in the same process.",
        "",
        f"## (a) Boston K-fold: {FOLDS} folds x {args.boston_epochs} epochs of batch 1, validated every epoch",
        "",
        H.markdown_table(["implementation", "run s", "warm s", "process s", "peak RSS MB", "mean val MAE",
                          "speed-up over Keras"], boston, "lrrrrrr"),
        "",
        f"## (b) {args.mnist_seeds} seeds of the MNIST network, {args.mnist_epochs} epochs of batch 128 on "
        f"{args.mnist_samples} images, then test accuracy",
        "",
        H.markdown_table(["implementation", "run s", "warm s", "process s", "peak RSS MB", "mean test accuracy",
                          "speed-up over Keras"], mnist, "lrrrrrr"),
    ]
    if many.get("run_s") and loop.get("run_s"):
        lines += ["", f"`fit_many` / sequential `fit`s (MNIST): {many['run_s'] / loop['run_s']:.2f}x the time, "
                      f"{many['peak_rss_mb'] / loop['peak_rss_mb']:.2f}x the peak memory "
                      f"(group size {many.get('group_size')})."]
    lines += ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions_seen.items())) + "."]
    return "\n".join(lines) + "\n"


def summary(results: dict) -> dict:
    get = lambda name: results.get(name, {}).get("run_s")  # noqa: E731
    out = {name: get(name) for name in CASES}
    if get("boston_fit_many") and get("boston_keras"):
        out["boston_speedup_over_keras"] = get("boston_keras") / get("boston_fit_many")
    if get("boston_fit_many") and get("boston_fit_loop"):
        out["boston_speedup_over_fit_loop"] = get("boston_fit_loop") / get("boston_fit_many")
    if get("mnist_fit_many") and get("mnist_fit_loop"):
        out["mnist_fit_many_over_fit_loop"] = get("mnist_fit_many") / get("mnist_fit_loop")
    out["peak_rss_mb"] = {name: results.get(name, {}).get("peak_rss_mb") for name in CASES}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--child", choices=list(CASES), help=argparse.SUPPRESS)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", default=None, help="write the markdown report here (and .json beside it)")
    p.add_argument("--only", default="", help="comma-separated cases to run (default all)")
    p.add_argument("--quick", action="store_true", help="small settings, to check that the script works")
    p.add_argument("--boston-epochs", type=int, default=100)
    p.add_argument("--mnist-seeds", type=int, default=8)
    p.add_argument("--mnist-epochs", type=int, default=5)
    p.add_argument("--mnist-samples", type=int, default=60000)
    args = p.parse_args()
    if args.quick:
        args.boston_epochs, args.mnist_seeds, args.mnist_epochs, args.mnist_samples = 10, 2, 1, 6000
    args.data_dir = H.data_dir(args.data_dir)
    if args.child:
        result = child(args)
        result["versions"] = versions(args.child)
        H.emit(result)
        return
    names = [n for n in CASES if not args.only or n in args.only.split(",")]
    info = H.machine_info()
    print(f"# {info['date']}  load average {info['load_average_at_start']}", flush=True)
    results = {}
    for name in names:
        child_args = ["--child", name, "--data-dir", args.data_dir, "--boston-epochs", str(args.boston_epochs),
                      "--mnist-seeds", str(args.mnist_seeds), "--mnist-epochs", str(args.mnist_epochs),
                      "--mnist-samples", str(args.mnist_samples)]
        env = {"KERAS_BACKEND": "jax"} if name.endswith("keras") else None
        result, wall, stderr = H.run_child(__file__, child_args, env)
        if result is None:
            print(f"{name}: FAILED after {wall:.1f} s\n{stderr}", file=sys.stderr, flush=True)
            results[name] = {"error": stderr[-2000:], "process_s": wall}
            continue
        result["process_s"] = wall
        results[name] = result
        print(f"{name:16s} run {result['run_s']:.2f} s  process {wall:.1f} s  peak RSS {result['peak_rss_mb']:.0f} MB",
              flush=True)
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    text = report(results, info, args)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
        with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
            json.dump({"machine": info, "results": results}, f, indent=2)
    print(text)
    print(json.dumps(summary(results)))


if __name__ == "__main__":
    main()
