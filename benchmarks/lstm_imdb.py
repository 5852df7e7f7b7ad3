"""The book's LSTM on IMDB (listing 6.27), trained by funcnet and by Keras 3 on JAX, each in a fresh process.

    Embedding(10000, 32) -> LSTM(32) -> Dense(1, sigmoid); RMSprop(1e-3, rho 0.9, eps 1e-7), binary
    crossentropy, batch 128; the 25,000 training reviews cut to their last 500 words (`pad_sequences`),
    `validation_split=0.2` (20,000 trained on, 157 steps of which the last has 32; 5,000 validated each
    epoch), as the book's `fit`.

Implementations: funcnet `fit` (on a CPU the layer computes each step's input projection `x W + b`
inside the scan); the same with the projection hoisted out of the scan (one matmul over all 500 steps
before it, funcnet's choice on accelerators), to measure what hoisting buys here; Keras 3 on JAX `fit`
(its `LSTM` on JAX runs `lax.scan` over Keras's cell, the projection inside; no cuDNN on a CPU). Columns as `mnist_peers.py`: first epoch (compile
included), steady epoch (median of epochs 2..E), whole process, test accuracy after E epochs, peak RSS.

Run:  FUNCNET_DATA_DIR=../shared/datasets .venv/bin/python benchmarks/lstm_imdb.py --out docs/perf-lstm.md
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import _harness as H

MAX_FEATURES, MAXLEN, UNITS, BATCH = 10000, 500, 32, 128
LEARNING_RATE, RHO, EPSILON = 1e-3, 0.9, 1e-7
SEED = 0

IMPLEMENTATIONS = {
    "funcnet": "funcnet `model.fit` (on a CPU: the input projection inside each step)",
    "funcnet_hoisted": "funcnet `model.fit`, the input projection hoisted out of the scan",
    "keras_jax": "Keras 3 on JAX, `model.fit`",
}
CHILD_ENV = {"keras_jax": {"KERAS_BACKEND": "jax"}}


class Data:
    """IMDB as the book prepares it, by the measured library's own loader and `pad_sequences` (each the
    same as Keras's: shuffled with seed 113, the 10,000 most frequent words, ids offset by 3, the last 500
    ids of a review, pre-padded with 0): int32 ids [25000, 500], labels float32 0/1."""

    def __init__(self, folder: str, library: str):
        path = os.path.join(folder, "imdb.npz")
        if library == "keras":
            from keras.src.datasets import imdb
            from keras.utils import pad_sequences

            # Keras's loader, on the local file (its `get_file` would check the download's hash and fetch).
            imdb.get_file = lambda *args, **kwargs: path
        else:
            from funcnet.datasets import imdb
            from funcnet.utils import pad_sequences
        (x_train, y_train), (x_test, y_test) = imdb.load_data(path=path, num_words=MAX_FEATURES)
        self.x_train = pad_sequences(x_train, maxlen=MAXLEN).astype("int32")
        self.x_test = pad_sequences(x_test, maxlen=MAXLEN).astype("int32")
        self.y_train, self.y_test = y_train.astype("float32"), y_test.astype("float32")


def book_network(layers) -> list:
    return [layers.Input(shape=(MAXLEN,), dtype="int32"), layers.Embedding(MAX_FEATURES, 32), layers.LSTM(UNITS),
            layers.Dense(1, activation="sigmoid")]


def run_funcnet(d: Data, epochs: int, clock: H.EpochClock, input_projection: str | None = None) -> dict:
    import jax

    from funcnet import layers, models


    clock.start()
    network = book_network(layers)
    network[2]._input_projection = input_projection  # None: the layer's own choice
    model = models.Sequential(network)
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(d.x_train, d.y_train, epochs=epochs, batch_size=BATCH, validation_split=0.2, verbose=0,
                        callbacks=[H.funcnet_epoch_clock(clock)], seed=SEED)
    _, accuracy = model.evaluate(d.x_test, d.y_test, batch_size=512, verbose=0)
    return {"test_accuracy": float(accuracy), "val_accuracy": history.history["val_accuracy"],
            "versions": {"jax": jax.__version__}}


def run_keras_jax(d: Data, epochs: int, clock: H.EpochClock) -> dict:
    os.environ["KERAS_BACKEND"] = "jax"
    import jax
    import keras


    keras.utils.set_random_seed(SEED)
    clock.start()
    model = keras.Sequential(book_network(keras.layers))
    model.compile(optimizer=keras.optimizers.RMSprop(LEARNING_RATE, rho=RHO, epsilon=EPSILON),
                  loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(d.x_train, d.y_train, epochs=epochs, batch_size=BATCH, validation_split=0.2, verbose=0,
                        callbacks=[H.keras_epoch_clock(clock)])
    _, accuracy = model.evaluate(d.x_test, d.y_test, batch_size=512, verbose=0)
    return {"test_accuracy": float(accuracy), "val_accuracy": history.history["val_accuracy"],
            "versions": {"keras": keras.__version__, "jax": jax.__version__}}


RUNNERS = {
    "funcnet": run_funcnet,
    "funcnet_hoisted": lambda d, e, c: run_funcnet(d, e, c, input_projection="hoisted"),
    "keras_jax": run_keras_jax,
}


def child_main(args) -> None:
    d = Data(args.data_dir, "keras" if args.child == "keras_jax" else "funcnet")
    clock = H.EpochClock()
    result = RUNNERS[args.child](d, args.epochs, clock)
    result.update(H.summarize_epochs(clock.epoch_times()))
    result["name"] = args.child
    H.emit(result)


def build_report(results: dict, info: dict) -> str:
    ref = results.get("funcnet") or {}
    header = ["implementation", "epochs", "first epoch s", "steady epoch s", "whole process s", "test accuracy",
              "peak RSS MB", "steady x funcnet", "first x funcnet", "process x funcnet", "memory x funcnet"]
    rows = []
    for name, label in IMPLEMENTATIONS.items():
        r = results.get(name)
        if r is None:
            continue
        if "error" in r:
            rows.append([label, "", "failed", "", H.fmt(r.get("process_s")), "", "", "", "", "", ""])
            continue
        rows.append([
            label, str(len(r["epoch_times_s"])), H.fmt(r["first_epoch_s"]), H.fmt(r["steady_epoch_s"]),
            H.fmt(r["process_s"], 1), H.fmt(r["test_accuracy"], 4), H.fmt(r["peak_rss_mb"], 0),
            H.fmt(H.ratio(r["steady_epoch_s"], ref.get("steady_epoch_s")), 2, "x"),
            H.fmt(H.ratio(r["first_epoch_s"], ref.get("first_epoch_s")), 2, "x"),
            H.fmt(H.ratio(r["process_s"], ref.get("process_s")), 2, "x"),
            H.fmt(H.ratio(r["peak_rss_mb"], ref.get("peak_rss_mb")), 2, "x"),
        ])
    versions = {}
    for r in results.values():
        versions.update((r or {}).get("versions", {}))
    return "\n".join([
        f"# IMDB, the book's LSTM (listing 6.27): funcnet and Keras 3 on JAX (maxlen {MAXLEN}, batch {BATCH})",
        "",
        f"{info['date']}, {info.get('cpu', '?')}, {info['cpus']} CPUs, Python {info['python']}; "
        f"load average at start {info['load_average_at_start']}, at end {info.get('load_average_at_end')}.",
        "An epoch: 157 training steps on 20,000 reviews and the validation pass on 5,000 (`validation_split=0.2`). "
        "First epoch: from building the model to the end of epoch 1 (init, compile, one pass). Steady epoch: "
        "median of epochs 2..E. Whole process: the fresh subprocess's wall time (imports, data, training, the test "
        "evaluation on 25,000 reviews). Ratios: this row / funcnet's.",
        "",
        H.markdown_table(header, rows, "lrrrrrrrrrr"),
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())) + ".",
    ]) + "\n"


def parent_main(args) -> None:
    names = list(IMPLEMENTATIONS) if not args.only else [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in IMPLEMENTATIONS]
    if unknown:
        sys.exit(f"--only: unknown name(s) {unknown}; choose from {list(IMPLEMENTATIONS)}.")
    info = H.machine_info()
    print(f"# {info['date']}  load average {info['load_average_at_start']}  epochs {args.epochs}", flush=True)
    results = {}
    for name in names:
        child_args = ["--child", name, "--epochs", str(args.epochs), "--data-dir", args.data_dir]
        result, wall, stderr = H.run_child(__file__, child_args, CHILD_ENV.get(name))
        if result is None:
            print(f"{name}: FAILED after {wall:.1f} s\n{stderr}", file=sys.stderr, flush=True)
            results[name] = {"error": stderr, "process_s": wall}
            continue
        result["process_s"] = wall
        results[name] = result
        print(f"{name:16s} epochs [{' '.join(f'{t:.2f}' for t in result['epoch_times_s'])}] s  process {wall:.1f} s  "
              f"test acc {result['test_accuracy']:.4f}  peak RSS {result['peak_rss_mb']:.0f} MB", flush=True)
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report = build_report(results, info)
    if args.out:
        with open(args.out, "w") as f:
            f.write(report)
        with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
            json.dump({"machine": info, "epochs": args.epochs, "batch_size": BATCH, "results": results}, f, indent=2)
        print(f"wrote {args.out}")
    print()
    print(report)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3, help="epochs per implementation (default 3)")
    parser.add_argument("--only", default="", help="comma-separated subset of: " + ",".join(IMPLEMENTATIONS))
    parser.add_argument("--out", default="", help="write the table to this markdown file (and .json beside it)")
    parser.add_argument("--data-dir", default=None, help="folder of imdb.npz (default $FUNCNET_DATA_DIR)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.data_dir = H.data_dir(args.data_dir)
    if args.child:
        child_main(args)
    else:
        parent_main(args)


if __name__ == "__main__":
    main()
