"""funcnet and Keras 3 on JAX side by side on one accelerator, and `fit`'s bit-determinism there.

Four workloads, each trained by funcnet's `fit` and Keras's `fit` (KERAS_BACKEND=jax), each run in its
own fresh process:

    mnist_mlp   the book's MNIST network: 784 -> Dense(512, relu) -> Dense(10, softmax), batch 128
    convnet     listing 5.1: Conv2D(32)-MaxPool-Conv2D(64)-MaxPool-Conv2D(64)-Flatten-Dense(64)-Dense(10), batch 64
    imdb_lstm   listing 6.27: Embedding(10000, 32) -> LSTM(32) -> Dense(1, sigmoid), 500 words, batch 128
    wide_mlp    4096 -> Dense(4096, relu) -> Dense(4096, relu) -> Dense(10, softmax), batch 1024

All train with RMSprop(1e-3) for `--epochs` epochs. Per run: the first epoch (build, compile, one pass),
the steady epoch (median of the others), samples a second in the steady epoch, the process's wall time
and, on a GPU, the device's peak memory. MNIST and IMDB are the real data sets where `FUNCNET_DATA_DIR`
holds them (mnist.npz, imdb.npz), else random data of the same shapes (the table says which); wide_mlp's
data are random.

Determinism: with `jax_default_matmul_precision="highest"`, funcnet's `fit` of mnist_mlp and convnet runs
in two more fresh processes; the params (SHA-256 of every byte) must equal the first run's.

`--small` shrinks everything (a few thousand samples, a 512-wide MLP, 100-word reviews) so that the
script is known to run on a CPU in about two minutes; figures from it say nothing about an accelerator.

Run:  bash benchmarks/gpu.sh --out docs/perf-gpu.md         (on the GPU machine, under 8 minutes)
      bash benchmarks/gpu.sh --small --out /tmp/gpu-small.md  (on this CPU)
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as H  # noqa: E402

LEARNING_RATE = 1e-3
SEED = 0
WORKLOADS = {
    "mnist_mlp": "MNIST MLP (784-512-10), batch 128",
    "convnet": "listing 5.1 convnet on MNIST, batch 64",
    "imdb_lstm": "IMDB LSTM(32), batch 128",
    "wide_mlp": "4096-wide MLP, batch 1024",
}
IMPLEMENTATIONS = {"funcnet": "funcnet `fit`", "keras_jax": "Keras 3 on JAX `fit`"}
DETERMINISM = ("mnist_mlp", "convnet")


# --------------------------------------------------------------------------- data (in the child)
def load_data(workload: str, small: bool, library: str):
    """(x_train, y_train, x_test, y_test, batch size, source) as numpy arrays."""
    import numpy as np

    rs = np.random.default_rng(0)
    folder = os.environ.get("FUNCNET_DATA_DIR", "")
    if workload in ("mnist_mlp", "convnet"):
        path = os.path.join(folder, "mnist.npz")
        if folder and os.path.exists(path):
            with np.load(path) as f:
                x, y, xt, yt = f["x_train"], f["y_train"], f["x_test"], f["y_test"]
            source = "MNIST"
        else:
            x, xt = rs.integers(0, 256, (60000, 28, 28), np.uint8), rs.integers(0, 256, (10000, 28, 28), np.uint8)
            y, yt = rs.integers(0, 10, 60000), rs.integers(0, 10, 10000)
            source = "random, MNIST's shapes"
        if small:
            x, y, xt, yt = x[:4096], y[:4096], xt[:1024], yt[:1024]
        shape = (784,) if workload == "mnist_mlp" else (28, 28, 1)
        prep = lambda a: (a.reshape((len(a), *shape)).astype("float32") / 255)  # noqa: E731
        eye = np.eye(10, dtype="float32")
        return prep(x), eye[y], prep(xt), eye[yt], 128 if workload == "mnist_mlp" else 64, source
    if workload == "imdb_lstm":
        maxlen = 100 if small else 500
        path = os.path.join(folder, "imdb.npz")
        if folder and os.path.exists(path):
            # Each library's own loader and pad_sequences (they give the same arrays): 10,000 words, the
            # last `maxlen` ids of each review, pre-padded with 0.
            path = os.path.abspath(path)
            if library == "keras":
                from keras.src.datasets import imdb
                from keras.utils import pad_sequences

                imdb.get_file = lambda *args, **kwargs: path  # the local file, never a download
            else:
                from funcnet.datasets import imdb
                from funcnet.utils import pad_sequences
            (x, y), (xt, yt) = imdb.load_data(path=path, num_words=10000)
            x, xt = pad_sequences(x, maxlen=maxlen).astype("int32"), pad_sequences(xt, maxlen=maxlen).astype("int32")
            source = "IMDB"
        else:
            x, xt = rs.integers(1, 10000, (25000, maxlen), np.int32), rs.integers(1, 10000, (25000, maxlen), np.int32)
            y, yt = rs.integers(0, 2, 25000), rs.integers(0, 2, 25000)
            source = "random, IMDB's shapes"
        if small:
            x, y, xt, yt = x[:2048], y[:2048], xt[:512], yt[:512]
        return x, y.astype("float32"), xt, yt.astype("float32"), 128, source
    width = 512 if small else 4096
    n, n_test = (8192, 2048) if small else (65536, 8192)
    w = rs.normal(size=(width, 10)).astype("float32")
    x, xt = rs.normal(size=(n, width)).astype("float32"), rs.normal(size=(n_test, width)).astype("float32")
    eye = np.eye(10, dtype="float32")
    return x, eye[np.argmax(x @ w, 1)], xt, eye[np.argmax(xt @ w, 1)], 1024, "random (a linear teacher)"


def network(workload: str, layers, small: bool) -> list:
    """The workload's layers, from funcnet's or Keras's `layers` module (the same names and arguments)."""
    if workload == "mnist_mlp":
        return [layers.Input(shape=(784,)), layers.Dense(512, activation="relu"),
                layers.Dense(10, activation="softmax")]
    if workload == "convnet":
        return [layers.Input(shape=(28, 28, 1)),
                layers.Conv2D(32, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
                layers.Conv2D(64, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
                layers.Conv2D(64, (3, 3), activation="relu"), layers.Flatten(),
                layers.Dense(64, activation="relu"), layers.Dense(10, activation="softmax")]
    if workload == "imdb_lstm":
        return [layers.Input(shape=(100 if small else 500,), dtype="int32"), layers.Embedding(10000, 32),
                layers.LSTM(32), layers.Dense(1, activation="sigmoid")]
    width = 512 if small else 4096
    return [layers.Input(shape=(width,)), layers.Dense(width, activation="relu"),
            layers.Dense(width, activation="relu"), layers.Dense(10, activation="softmax")]


def loss_of(workload: str) -> str:
    return "binary_crossentropy" if workload == "imdb_lstm" else "categorical_crossentropy"


def device_peak_mb():
    import jax

    stats = jax.devices()[0].memory_stats() or {}
    peak = stats.get("peak_bytes_in_use")
    return None if peak is None else peak / 2**20


def params_digest(leaves) -> str:
    import numpy as np

    digest = hashlib.sha256()
    for leaf in leaves:
        digest.update(np.ascontiguousarray(np.asarray(leaf)).tobytes())
    return digest.hexdigest()


# --------------------------------------------------------------------------- the implementations
def run_funcnet(workload, data, epochs, clock, small):
    import jax

    from funcnet import layers, models, optimizers

    x, y, xt, yt, batch, _ = data


    clock.start()
    model = models.Sequential(network(workload, layers, small))
    model.compile(optimizer=optimizers.rmsprop(LEARNING_RATE), loss=loss_of(workload), metrics=["accuracy"])
    model.fit(x, y, epochs=epochs, batch_size=batch, verbose=0, callbacks=[H.funcnet_epoch_clock(clock)], seed=SEED)
    _, accuracy = model.evaluate(xt, yt, batch_size=batch, verbose=0)
    return {"test_accuracy": float(accuracy), "params_sha256": params_digest(jax.tree.leaves(model.params)),
            "versions": {"jax": jax.__version__}}


def run_keras_jax(workload, data, epochs, clock, small):
    import jax
    import keras

    x, y, xt, yt, batch, _ = data


    keras.utils.set_random_seed(SEED)
    clock.start()
    model = keras.Sequential(network(workload, keras.layers, small))
    model.compile(optimizer=keras.optimizers.RMSprop(LEARNING_RATE), loss=loss_of(workload), metrics=["accuracy"])
    model.fit(x, y, epochs=epochs, batch_size=batch, verbose=0, callbacks=[H.keras_epoch_clock(clock)])
    _, accuracy = model.evaluate(xt, yt, batch_size=batch, verbose=0)
    return {"test_accuracy": float(accuracy), "versions": {"keras": keras.__version__, "jax": jax.__version__}}


RUNNERS = {"funcnet": run_funcnet, "keras_jax": run_keras_jax}


def child_main(args) -> None:
    import jax

    if args.precision:
        jax.config.update("jax_default_matmul_precision", args.precision)
    data = load_data(args.workload, args.small, "keras" if args.child == "keras_jax" else "funcnet")
    clock = H.EpochClock()
    result = RUNNERS[args.child](args.workload, data, args.epochs, clock, args.small)
    result.update(H.summarize_epochs(clock.epoch_times()))
    result.update(name=args.child, workload=args.workload, data=data[5], samples=len(data[0]),
                  device=str(jax.devices()[0].device_kind), platform=jax.devices()[0].platform,
                  device_peak_mb=device_peak_mb())
    H.emit(result)


# --------------------------------------------------------------------------- the parent
def report(results: list[dict], determinism: list[dict], info: dict, args) -> str:
    header = ["workload", "implementation", "data", "first epoch s", "steady epoch s", "samples/s (steady)",
              "process s", "test accuracy", "device peak MB", "steady x funcnet"]
    rows = []
    by_key = {(r["workload"], r["name"]): r for r in results if "error" not in r}
    names = {w: (label.replace("4096", "512") if args.small else label) for w, label in WORKLOADS.items()}
    for r in results:
        label = f"{IMPLEMENTATIONS[r['name']]}"
        if "error" in r:
            rows.append([names[r["workload"]], label, "", "failed", "", "", H.fmt(r.get("process_s"), 1), "", "", ""])
            continue
        steady = r["steady_epoch_s"]
        ref = by_key.get((r["workload"], "funcnet"), {}).get("steady_epoch_s")
        rows.append([names[r["workload"]], label, r["data"], H.fmt(r["first_epoch_s"]), H.fmt(steady),
                     H.fmt(r["samples"] / steady if steady else None, 0), H.fmt(r["process_s"], 1),
                     H.fmt(r["test_accuracy"], 4), H.fmt(r.get("device_peak_mb"), 0),
                     H.fmt(H.ratio(steady, ref), 2, "x")])
    device = next((f"{r['device']} ({r['platform']})" for r in results if "device" in r), "?")
    out = [f"# funcnet and Keras 3 on JAX on {device}{' (--small)' if args.small else ''}", "",
           f"{info['date']}, {info.get('cpu', '?')}, {info['cpus']} CPUs; {args.epochs} epochs each; "
           f"whole script {info['wall_s']:.0f} s. Command: `bash benchmarks/gpu.sh{' --small' if args.small else ''}`.",
           "", H.markdown_table(header, rows, "lllrrrrrrr"), "",
           "`fit` bit-determinism, `jax_default_matmul_precision=\"highest\"` (SHA-256 of the trained params, "
           "three fresh processes):", ""]
    det_rows = []
    for d in determinism:
        det_rows.append([names[d["workload"]], ", ".join(h[:12] for h in d["digests"]),
                         "yes" if d["identical"] else "**no**"])
    out += [H.markdown_table(["workload", "params SHA-256 (first 12 hex digits) per run", "bit-identical"],
                             det_rows, "llr")]
    versions = {}
    for r in results:
        versions.update(r.get("versions", {}))
    out += ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())) + "."]
    return "\n".join(out) + "\n"


def parent_main(args) -> int:
    start = time.perf_counter()
    info = H.machine_info()
    names = [w.strip() for w in args.only.split(",") if w.strip()] if args.only else list(WORKLOADS)
    unknown = [w for w in names if w not in WORKLOADS]
    if unknown:
        sys.exit(f"--only: unknown workload(s) {unknown}; choose from {list(WORKLOADS)}.")
    common = ["--epochs", str(args.epochs)] + (["--small"] if args.small else [])
    # funcnet's runs share a compile cache of this script's own, empty at the start: its first run of each
    # workload compiles everything (as on a fresh machine), and the determinism runs, two of which read
    # programs the one before wrote, check that the cache changes no result.
    cache = tempfile.mkdtemp(prefix="gpu-bench-compile-cache-")
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [H_ROOT, os.environ.get("PYTHONPATH", "")])),
           "FUNCNET_COMPILE_CACHE": cache}
    keras_env = {**env, "KERAS_BACKEND": "jax"}

    def child(name, workload, precision=None):
        child_args = ["--child", name, "--workload", workload, *common]
        if precision:
            child_args += ["--precision", precision]
        result, wall, stderr = H.run_child(__file__, child_args, keras_env if name == "keras_jax" else env,
                                           timeout=args.child_timeout)
        if result is None:
            print(f"{workload} {name}: FAILED after {wall:.1f} s\n{stderr[-3000:]}", file=sys.stderr, flush=True)
            return {"name": name, "workload": workload, "error": stderr[-3000:], "process_s": wall}
        result["process_s"] = wall
        print(f"{workload:10s} {name:9s} epochs {[round(t, 3) for t in result['epoch_times_s']]} "
              f"process {wall:.1f} s acc {result['test_accuracy']:.4f}", flush=True)
        return result

    results = [child(name, workload) for workload in names for name in IMPLEMENTATIONS]
    determinism = []
    for workload in [w for w in DETERMINISM if w in names]:
        runs = [child("funcnet", workload, precision="highest") for _ in range(3)]
        digests = [r.get("params_sha256", "failed") for r in runs]
        determinism.append({"workload": workload, "digests": digests,
                            "identical": "failed" not in digests and len(set(digests)) == 1})
        print(f"determinism {workload}: {'identical' if determinism[-1]['identical'] else 'DIFFERENT'} {digests}",
              flush=True)
    shutil.rmtree(cache, ignore_errors=True)
    info["wall_s"] = time.perf_counter() - start
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    text = report(results, determinism, info, args)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
        with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
            json.dump({"machine": info, "results": results, "determinism": determinism}, f, indent=2)
        print(f"wrote {args.out}")
    print(text)
    failed = [r for r in results if "error" in r]
    return 1 if failed or not all(d["identical"] for d in determinism) else 0


H_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="shrink every workload (a CPU check that it runs)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (default 3; the first compiles)")
    parser.add_argument("--only", default="", help="comma-separated subset of: " + ",".join(WORKLOADS))
    parser.add_argument("--out", default="", help="write the table here (markdown), the raw numbers beside it (.json)")
    parser.add_argument("--child-timeout", type=float, default=300.0, help="seconds one run may take (default 300)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--workload", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--precision", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first epoch compiles; the others are the steady ones)")
    if args.child:
        child_main(args)
    else:
        sys.exit(parent_main(args))


if __name__ == "__main__":
    main()
