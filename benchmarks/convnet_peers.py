"""The book's first convnet (listing 5.1) on MNIST, trained by funcnet and its peers, each in a fresh process.

    Conv2D(32, 3x3, relu) -> MaxPooling2D -> Conv2D(64, 3x3, relu) -> MaxPooling2D -> Conv2D(64, 3x3, relu)
    -> Flatten -> Dense(64, relu) -> Dense(10, softmax); RMSprop(1e-3, rho 0.9, eps 1e-7), categorical
    crossentropy, batch 64 (938 steps, the last of 32), real MNIST (pixels / 255, one-hot labels).

Implementations: funcnet `fit`; Keras 3 on JAX `fit`; Flax NNX (`nnx.Conv`, `nnx.max_pool`, an `nnx.jit`
step and a Python loop); plain JAX with the whole epoch in one `lax.scan`, written the natural way
(`lax.conv_general_dilated`, `lax.reduce_window`). Columns as `mnist_peers.py`: first epoch, steady
epoch (median of epochs 2..E), whole process, test accuracy, peak RSS.

The roofline child times the step's convolutions one by one at this machine's speed: each convolution's
forward, input gradient and kernel gradient, jitted alone, in XLA's native form and in funcnet's form
(one matmul of the windows' patches); max-pooling's forward and gradient with `lax.reduce_window` and
with funcnet's maxima of strided slices; and the kernel gradient of a native convolution inside a
`fori_loop` against alone. The rooflines: the epoch's FLOPs at the peak GEMM rate, and 938 times the
sum of the step's ops at their measured speeds (native, and funcnet's formulation).

Run:  FUNCNET_DATA_DIR=../shared/datasets .venv/bin/python benchmarks/convnet_peers.py --out docs/perf-convnet.md
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import _harness as H

BATCH = 64
LEARNING_RATE, RHO, EPSILON = 1e-3, 0.9, 1e-7
SEED = 0

IMPLEMENTATIONS = {
    "funcnet": "funcnet `model.fit`",
    "funcnet_streamed": "funcnet `model.fit`, data on the host (`steps_per_execution=64`)",
    "keras_jax": "Keras 3 on JAX, `model.fit`",
    "flax_nnx": "Flax NNX, `nnx.jit` step, Python loop",
    "jax_scan": "plain JAX, epoch in one `lax.scan` (`lax.conv_general_dilated`, `reduce_window`)",
}
CHILD_ENV = {"keras_jax": {"KERAS_BACKEND": "jax"}}

# (name, input [N, H, W, C], kernel [kh, kw, in, out]) of the listing's convolutions at batch 64.
CONVS = [
    ("conv2d: 28x28x1 -> 26x26x32", (BATCH, 28, 28, 1), (3, 3, 1, 32)),
    ("conv2d_1: 13x13x32 -> 11x11x64", (BATCH, 13, 13, 32), (3, 3, 32, 64)),
    ("conv2d_2: 5x5x64 -> 3x3x64", (BATCH, 5, 5, 64), (3, 3, 64, 64)),
]
POOLS = [("max_pooling2d: 26x26x32", (BATCH, 26, 26, 32)), ("max_pooling2d_1: 11x11x64", (BATCH, 11, 11, 64))]
DENSES = [(576, 64), (64, 10)]


# --------------------------------------------------------------------------- data (in the child)
class Data:
    """MNIST as listing 5.3 prepares it: `x` [n, 28, 28, 1] float32 in [0, 1], `y` one-hot [n, 10]."""

    def __init__(self, folder: str):
        import numpy as np

        with np.load(os.path.join(folder, "mnist.npz")) as f:
            x_train, y_train, x_test, y_test = f["x_train"], f["y_train"], f["x_test"], f["y_test"]
        self.x_train = x_train.reshape(len(x_train), 28, 28, 1).astype("float32") / 255
        self.x_test = x_test.reshape(len(x_test), 28, 28, 1).astype("float32") / 255
        eye = np.eye(10, dtype="float32")
        self.y_train, self.y_test = eye[y_train], eye[y_test]
        self.labels_test = y_test.astype("int64")
        self.n = len(self.x_train)


def listing_5_1(layers) -> list:
    """The network, from either library's `layers` module (funcnet's or Keras's)."""
    return [layers.Input(shape=(28, 28, 1)),
            layers.Conv2D(32, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
            layers.Conv2D(64, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
            layers.Conv2D(64, (3, 3), activation="relu"), layers.Flatten(),
            layers.Dense(64, activation="relu"), layers.Dense(10, activation="softmax")]


# --------------------------------------------------------------------------- the implementations
def run_funcnet(d: Data, epochs: int, clock: H.EpochClock, steps_per_execution: int | None = None) -> dict:
    import jax

    from funcnet import layers, models


    clock.start()
    model = models.Sequential(listing_5_1(layers))
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"],
                  steps_per_execution=steps_per_execution)
    model.fit(d.x_train, d.y_train, epochs=epochs, batch_size=BATCH, verbose=0,
              callbacks=[H.funcnet_epoch_clock(clock)], seed=SEED)
    _, accuracy = model.evaluate(d.x_test, d.y_test, batch_size=BATCH, verbose=0)
    return {"test_accuracy": float(accuracy), "versions": {"jax": jax.__version__}}


def run_keras_jax(d: Data, epochs: int, clock: H.EpochClock) -> dict:
    os.environ["KERAS_BACKEND"] = "jax"
    import jax
    import keras


    keras.utils.set_random_seed(SEED)
    clock.start()
    model = keras.Sequential(listing_5_1(keras.layers))
    model.compile(optimizer=keras.optimizers.RMSprop(LEARNING_RATE, rho=RHO, epsilon=EPSILON),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(d.x_train, d.y_train, epochs=epochs, batch_size=BATCH, verbose=0, callbacks=[H.keras_epoch_clock(clock)])
    _, accuracy = model.evaluate(d.x_test, d.y_test, batch_size=BATCH, verbose=0)
    return {"test_accuracy": float(accuracy), "versions": {"keras": keras.__version__, "jax": jax.__version__}}


def _optax_rmsprop():
    import optax

    return optax.rmsprop(LEARNING_RATE, decay=RHO, eps=EPSILON, eps_in_sqrt=False)  # Keras's g / (sqrt(ms) + eps)


def run_flax_nnx(d: Data, epochs: int, clock: H.EpochClock) -> dict:
    import flax
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax
    from flax import nnx

    class Convnet(nnx.Module):
        def __init__(self, rngs: nnx.Rngs):
            self.c1 = nnx.Conv(1, 32, (3, 3), padding="VALID", rngs=rngs)
            self.c2 = nnx.Conv(32, 64, (3, 3), padding="VALID", rngs=rngs)
            self.c3 = nnx.Conv(64, 64, (3, 3), padding="VALID", rngs=rngs)
            self.d1 = nnx.Linear(576, 64, rngs=rngs)
            self.d2 = nnx.Linear(64, 10, rngs=rngs)

        def __call__(self, x):
            x = nnx.max_pool(jax.nn.relu(self.c1(x)), (2, 2), (2, 2))
            x = nnx.max_pool(jax.nn.relu(self.c2(x)), (2, 2), (2, 2))
            x = jax.nn.relu(self.c3(x)).reshape(x.shape[0], -1)
            return self.d2(jax.nn.relu(self.d1(x)))

    @nnx.jit
    def train_step(model, optimizer, x, y):
        def loss_fn(model):
            return optax.softmax_cross_entropy(model(x), y).mean()

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(model, grads)
        return loss

    rng = np.random.default_rng(SEED)
    clock.start()
    model = Convnet(nnx.Rngs(SEED))
    optimizer = nnx.Optimizer(model, _optax_rmsprop(), wrt=nnx.Param)
    for _ in range(epochs):
        order = rng.permutation(d.n)
        for i in range(0, d.n, BATCH):
            idx = order[i:i + BATCH]
            loss = train_step(model, optimizer, d.x_train[idx], d.y_train[idx])
        jax.block_until_ready(loss)
        clock.epoch_end()
    predict = nnx.jit(lambda model, x: jnp.argmax(model(x), -1))
    accuracy = float(np.mean(np.asarray(predict(model, d.x_test)) == d.labels_test))
    return {"test_accuracy": accuracy, "versions": {"flax": flax.__version__, "jax": jax.__version__}}


def run_jax_scan(d: Data, epochs: int, clock: H.EpochClock) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax import lax

    dims = ("NHWC", "HWIO", "NHWC")

    def init(key):
        keys = jax.random.split(key, 5)

        def glorot(k, shape):
            fan_in, fan_out = np.prod(shape[:-1]), np.prod(shape[:-2]) * shape[-1]
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            return jax.random.uniform(k, shape, jnp.float32, -limit, limit)

        shapes = [(3, 3, 1, 32), (3, 3, 32, 64), (3, 3, 64, 64), (576, 64), (64, 10)]
        return [(glorot(k, s), jnp.zeros(s[-1])) for k, s in zip(keys, shapes)]

    def logits(p, x):
        for i, (w, b) in enumerate(p[:3]):
            x = jax.nn.relu(lax.conv_general_dilated(x, w, (1, 1), "VALID", dimension_numbers=dims) + b)
            if i < 2:  # a max-pooling after the first two convolutions
                x = lax.reduce_window(x, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
        x = x.reshape(x.shape[0], -1)
        x = jax.nn.relu(x @ p[3][0] + p[3][1])
        return x @ p[4][0] + p[4][1]

    def loss_fn(p, x, y):
        return -jnp.mean(jnp.sum(y * jax.nn.log_softmax(logits(p, x)), axis=-1))

    def step(p, ms, x, y):
        loss, g = jax.value_and_grad(loss_fn)(p, x, y)
        ms = jax.tree.map(lambda m, g: RHO * m + (1 - RHO) * g * g, ms, g)
        p = jax.tree.map(lambda p, g, m: p - LEARNING_RATE * g / (jnp.sqrt(m) + EPSILON), p, g, ms)
        return p, ms, loss

    @jax.jit
    def epoch(p, ms, x, y, key, epoch_index):
        n = x.shape[0]
        full = n // BATCH
        order = jax.random.permutation(jax.random.fold_in(key, epoch_index), n)

        def body(carry, idx):
            p, ms = carry
            p, ms, loss = step(p, ms, x[idx], y[idx])
            return (p, ms), loss

        (p, ms), losses = lax.scan(body, (p, ms), order[:full * BATCH].reshape(full, BATCH))
        if n % BATCH:  # static: the last, short batch
            p, ms, _ = step(p, ms, x[order[full * BATCH:]], y[order[full * BATCH:]])
        return p, ms, losses.mean()

    @jax.jit
    def predict(p, x):
        return jnp.argmax(logits(p, x), -1)

    key = jax.random.key(SEED)
    x_train, y_train = jax.device_put(d.x_train), jax.device_put(d.y_train)
    clock.start()
    params = init(key)
    ms = jax.tree.map(jnp.zeros_like, params)
    for e in range(epochs):
        params, ms, loss = epoch(params, ms, x_train, y_train, key, e)
        jax.block_until_ready((params, ms, loss))
        clock.epoch_end()
    accuracy = float(np.mean(np.asarray(predict(params, d.x_test)) == d.labels_test))
    return {"test_accuracy": accuracy, "versions": {"jax": jax.__version__}}


RUNNERS = {
    "funcnet": run_funcnet,
    "funcnet_streamed": lambda d, epochs, clock: run_funcnet(d, epochs, clock, steps_per_execution=64),
    "keras_jax": run_keras_jax,
    "flax_nnx": run_flax_nnx,
    "jax_scan": run_jax_scan,
}


# --------------------------------------------------------------------------- the roofline (a child too)
def _median_call_s(fn, args, calls: int) -> float:
    import jax

    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_roofline(calls: int, steps: int) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax import lax

    from funcnet.layers import _windows
    from funcnet.layers.convolutional import convolve

    rng = np.random.default_rng(0)
    size = 2048
    a = jnp.asarray(rng.standard_normal((size, size), dtype=np.float32))
    peak = 2 * size ** 3 / _median_call_s(jax.jit(jnp.matmul), (a, a), 10)

    rows, totals = [], {"native": 0.0, "funcnet": 0.0}
    epoch_flops = 0.0
    for index, (name, x_shape, k_shape) in enumerate(CONVS):
        x = jnp.asarray(rng.standard_normal(x_shape, dtype=np.float32))
        k = jnp.asarray(rng.standard_normal(k_shape, dtype=np.float32))
        wins = _windows.windows(x_shape[1:3], k_shape[:2], (1, 1), (1, 1), "valid")
        out_elems = x_shape[0] * wins[0].out * wins[1].out * k_shape[-1]
        flops = 2.0 * out_elems * k_shape[0] * k_shape[1] * k_shape[2]
        kinds = ["forward", "kernel gradient"] + (["input gradient"] if index else [])  # no gradient into the images
        epoch_flops += flops * len(kinds)
        cot = jnp.asarray(rng.standard_normal((x_shape[0], wins[0].out, wins[1].out, k_shape[-1]), dtype=np.float32))
        for method, label in (("lax", "native"), ("patches", "funcnet")):
            conv = lambda x, k, m=method: convolve(x, k, wins, 1, method=m)  # noqa: E731
            fns = {
                "forward": jax.jit(conv),
                "kernel gradient": jax.jit(lambda x, k, c=conv: jax.vjp(lambda k: c(x, k), k)[1](cot)[0]),
                "input gradient": jax.jit(lambda x, k, c=conv: jax.vjp(lambda x: c(x, k), x)[1](cot)[0]),
            }
            for kind in kinds:
                seconds = _median_call_s(fns[kind], (x, k), calls)
                totals[label] += seconds
                rows.append({"op": f"{name} {kind}", "formulation": label, "seconds": seconds,
                             "gflops_per_s": flops / seconds / 1e9})
        # The native kernel gradient inside a loop (where a compiled epoch runs it) against alone.
        native_dw = lambda x, k: jax.vjp(lambda k: convolve(x, k, wins, 1, method="lax"), k)[1](cot)[0]  # noqa: E731
        looped = jax.jit(lambda x, k: lax.fori_loop(0, 10, lambda i, acc: acc + native_dw(x + i * 1e-3, k), jnp.zeros_like(k)))
        rows.append({"op": f"{name} kernel gradient, in a fori_loop (per call)", "formulation": "native",
                     "seconds": _median_call_s(looped, (x, k), max(3, calls // 10)) / 10,
                     "gflops_per_s": None})
    for name, x_shape in POOLS:
        x = jnp.asarray(rng.standard_normal(x_shape, dtype=np.float32))
        wins = _windows.windows(x_shape[1:3], (2, 2), (2, 2), (1, 1), "valid")
        forms = {
            "native": lambda x: lax.reduce_window(x, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID"),
            "funcnet": lambda x: _windows.reduce(x, wins, "max"),
        }
        for label, pool in forms.items():
            cot = jnp.ones(pool(x).shape, jnp.float32)
            for kind, fn in (("forward", jax.jit(pool)),
                             ("gradient", jax.jit(lambda x, p=pool, c=cot: jax.vjp(p, x)[1](c)[0]))):
                seconds = _median_call_s(fn, (x,), calls)
                totals[label] += seconds
                rows.append({"op": f"{name} {kind}", "formulation": label, "seconds": seconds, "gflops_per_s": None})
    for fan_in, fan_out in DENSES:
        epoch_flops += 3 * 2.0 * BATCH * fan_in * fan_out
    epoch_flops *= steps
    return {
        "peak_gemm_gflops_per_s": peak / 1e9,
        "epoch_gflop": epoch_flops / 1e9,
        "roofline_at_peak_s": epoch_flops / peak,
        "ops": rows,
        "roofline_native_s": steps * totals["native"],
        "roofline_funcnet_s": steps * totals["funcnet"],
        "steps": steps,
        "versions": {"jax": jax.__version__},
    }


# --------------------------------------------------------------------------- the child's entry
def child_main(args) -> None:
    if args.child == "roofline":
        result = run_roofline(args.op_calls, steps=-(-60000 // BATCH))
        result["name"] = "roofline"
        H.emit(result)
        return
    d = Data(args.data_dir)
    clock = H.EpochClock()
    epochs = min(args.epochs, args.scan_epochs) if args.child == "jax_scan" else args.epochs
    result = RUNNERS[args.child](d, epochs, clock)
    result.update(H.summarize_epochs(clock.epoch_times()))
    result["name"] = args.child
    H.emit(result)


# --------------------------------------------------------------------------- the parent
def build_report(results: dict, roofline: dict | None, info: dict, args) -> str:
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
    if roofline:
        for label, seconds in (
            (f"roofline at peak ({roofline['epoch_gflop']:.0f} GFLOP/epoch at {roofline['peak_gemm_gflops_per_s']:.0f} "
             "GFLOP/s)", roofline["roofline_at_peak_s"]),
            ("roofline, each op at its measured speed: XLA's native conv and reduce_window", roofline["roofline_native_s"]),
            ("roofline, each op at its measured speed: funcnet's patches and slices", roofline["roofline_funcnet_s"]),
        ):
            rows.append([label, "", "", H.fmt(seconds), "", "", "", H.fmt(H.ratio(seconds, ref.get("steady_epoch_s")), 2, "x"),
                         "", "", ""])
    out = [
        f"# MNIST, the book's first convnet (listing 5.1): funcnet and its peers (batch {BATCH})",
        "",
        f"{info['date']}, {info.get('cpu', '?')}, {info['cpus']} CPUs, Python {info['python']}; "
        f"load average at start {info['load_average_at_start']}, at end {info.get('load_average_at_end')}.",
        "First epoch: from building the model to the end of epoch 1 (init, compile, one pass). Steady epoch: "
        "median of epochs 2..E. Whole process: the fresh subprocess's wall time. Ratios: this row / funcnet's.",
        "",
        H.markdown_table(header, rows, "lrrrrrrrrrr"),
    ]
    if roofline:
        out += ["", "The step's ops at batch 64, each jitted alone (median of calls; the op's own FLOP rate for "
                "convolutions):", ""]
        op_rows = [[r["op"], r["formulation"], H.fmt(r["seconds"] * 1e3, 3), H.fmt(r["gflops_per_s"], 1)]
                   for r in roofline["ops"]]
        out.append(H.markdown_table(["op", "formulation", "ms", "GFLOP/s"], op_rows, "llrr"))
    versions = {}
    for r in list(results.values()) + ([roofline] if roofline else []):
        versions.update((r or {}).get("versions", {}))
    out += ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())) + "."]
    return "\n".join(out) + "\n"


def parent_main(args) -> None:
    names = list(IMPLEMENTATIONS) if not args.only else [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in IMPLEMENTATIONS and n != "roofline"]
    if unknown:
        sys.exit(f"--only: unknown name(s) {unknown}; choose from {list(IMPLEMENTATIONS) + ['roofline']}.")
    with_roofline = not args.only or "roofline" in names
    names = [n for n in names if n != "roofline"]
    info = H.machine_info()
    print(f"# {info['date']}  load average {info['load_average_at_start']}  epochs {args.epochs}", flush=True)
    results = {}
    for name in names:
        child_args = ["--child", name, "--epochs", str(args.epochs), "--scan-epochs", str(args.scan_epochs),
                      "--data-dir", args.data_dir]
        result, wall, stderr = H.run_child(__file__, child_args, CHILD_ENV.get(name))
        if result is None:
            print(f"{name}: FAILED after {wall:.1f} s\n{stderr}", file=sys.stderr, flush=True)
            results[name] = {"error": stderr, "process_s": wall}
            continue
        result["process_s"] = wall
        results[name] = result
        print(f"{name:10s} epochs [{' '.join(f'{t:.2f}' for t in result['epoch_times_s'])}] s  process {wall:.1f} s  "
              f"test acc {result['test_accuracy']:.4f}  peak RSS {result['peak_rss_mb']:.0f} MB", flush=True)
    roofline = None
    if with_roofline:
        roofline, wall, stderr = H.run_child(__file__, ["--child", "roofline", "--op-calls", str(args.op_calls)])
        if roofline is None:
            print(f"roofline: FAILED\n{stderr}", file=sys.stderr, flush=True)
        else:
            print(f"roofline   {roofline['epoch_gflop']:.0f} GFLOP/epoch at {roofline['peak_gemm_gflops_per_s']:.0f} GFLOP/s"
                  f" -> {roofline['roofline_at_peak_s']:.2f} s; ops native {roofline['roofline_native_s']:.2f} s, "
                  f"funcnet {roofline['roofline_funcnet_s']:.2f} s", flush=True)
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report = build_report(results, roofline, info, args)
    if args.out:
        with open(args.out, "w") as f:
            f.write(report)
        with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
            json.dump({"machine": info, "epochs": args.epochs, "batch_size": BATCH, "results": results,
                       "roofline": roofline}, f, indent=2)
        print(f"wrote {args.out}")
    print()
    print(report)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3, help="epochs per implementation (default 3)")
    parser.add_argument("--scan-epochs", type=int, default=2, help="at most this many for jax_scan, whose native "
                        "convolutions' gradients are slow inside a loop (default 2)")
    parser.add_argument("--only", default="", help="comma-separated subset of: "
                        + ",".join([*IMPLEMENTATIONS, "roofline"]) + " (default: all, roofline included)")
    parser.add_argument("--out", default="", help="write the table to this markdown file (and .json beside it)")
    parser.add_argument("--data-dir", default=None, help="folder of mnist.npz (default $FUNCNET_DATA_DIR)")
    parser.add_argument("--op-calls", type=int, default=50, help="calls per op timing (median)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the steady epoch is the median of epochs 2..E)")
    if args.child:
        child_main(args)
    else:
        args.data_dir = H.data_dir(args.data_dir)
        parent_main(args)


if __name__ == "__main__":
    main()
