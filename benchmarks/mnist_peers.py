"""The book's MNIST network, trained the same way by funcnet and its peers, each in a fresh process.

    784 -> Dense(512, relu) -> Dense(10, softmax), categorical crossentropy,
    RMSprop(lr 1e-3, rho 0.9, eps 1e-7), batch 128, 5 epochs, real MNIST (pixels / 255, one-hot labels).

Every implementation trains on all 60000 samples each epoch, the last partial batch of 96 included
(469 steps), draws a new order each epoch, and waits for the epoch's results (`block_until_ready`)
before the epoch's clock stops. Each runs in its own subprocess, so imports, compile caches and
peak memory are its own.

Measured per implementation:
  first epoch   from building the model to the end of epoch 1: init, tracing, compiling, one pass;
  steady epoch  the median of epochs 2..E (end of epoch k-1 to end of epoch k);
  whole process the child's wall time, measured by this parent: interpreter start, imports, data
                loading, training, test evaluation;
  test accuracy on the 10000 test images;
  peak RSS      the child's `ru_maxrss`.
funcnet runs twice: first with an empty compile cache (a folder of this benchmark's own), then again
reading what the first wrote there, as a script's second run does (funcnet/_compile_cache.py).
Plus the fp32 matmul roofline of an epoch (also in its own subprocess): the epoch's matmul FLOPs at
this machine's peak GEMM rate, and each of a step's five matmuls timed alone at its own shape.

Run:  FUNCNET_DATA_DIR=../shared/datasets .venv/bin/python benchmarks/mnist_peers.py --out docs/perf-mnist.md
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

import _harness as H

BATCH = 128
LEARNING_RATE, RHO, EPSILON = 1e-3, 0.9, 1e-7
SEED = 0

# name -> label in the table; the order is the table's.
IMPLEMENTATIONS = {
    "funcnet": "funcnet `model.fit`, first run (empty compile cache)",
    "funcnet_second_run": "funcnet `model.fit`, second run (its compile cache from the first)",
    "funcnet_streamed": "funcnet `model.fit`, data on the host (`steps_per_execution=64`)",
    "keras_jax": "Keras 3 on JAX, `model.fit`",
    "flax_nnx": "Flax NNX, `nnx.jit` step, Python loop",
    "equinox": "Equinox, `eqx.filter_jit` step, Python loop",
    "torch": "PyTorch eager, CPU",
    "jax_scan": "plain JAX, whole epoch in one `lax.scan`",
}
CHILD_ENV = {"keras_jax": {"KERAS_BACKEND": "jax"}}
# funcnet keeps compiled programs on disk (funcnet/_compile_cache.py): its first run starts from an empty
# cache folder of this benchmark's own, its second run from what the first wrote there; the streamed row
# has a folder of its own, so it too runs cold. The peers keep no programs unless told to.
CACHED = {"funcnet": "funcnet", "funcnet_second_run": "funcnet", "funcnet_streamed": "funcnet_streamed"}


# --------------------------------------------------------------------------- data (in the child)
class Data:
    """MNIST as the book prepares it: `x` [n, 784] float32 in [0, 1], `y` one-hot [n, 10] float32."""

    def __init__(self, folder: str):
        import numpy as np

        with np.load(os.path.join(folder, "mnist.npz")) as f:
            x_train, y_train, x_test, y_test = f["x_train"], f["y_train"], f["x_test"], f["y_test"]
        self.x_train = x_train.reshape(len(x_train), 784).astype("float32") / 255
        self.x_test = x_test.reshape(len(x_test), 784).astype("float32") / 255
        eye = np.eye(10, dtype="float32")
        self.y_train, self.y_test = eye[y_train], eye[y_test]
        self.labels_test = y_test.astype("int64")
        self.n = len(self.x_train)
        self.steps = -(-self.n // BATCH)  # 469: the last batch holds 96 samples


def batches(rng, n: int):
    """One epoch's batches of sample indices in a fresh random order; the last may be short."""
    order = rng.permutation(n)
    return [order[i:i + BATCH] for i in range(0, n, BATCH)]


# --------------------------------------------------------------------------- the implementations
def book_network(layers) -> list:
    """The book's network, from either library's `layers` module (funcnet's or Keras's)."""
    return [layers.Input(shape=(784,)), layers.Dense(512, activation="relu"), layers.Dense(10, activation="softmax")]


def run_funcnet(d: Data, epochs: int, clock: H.EpochClock, steps_per_execution: int | None = None,
                network=book_network) -> dict:
    import jax

    import funcnet
    from funcnet import layers, models


    clock.start()
    model = models.Sequential(network(layers))
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"],
                  steps_per_execution=steps_per_execution)
    model.fit(d.x_train, d.y_train, epochs=epochs, batch_size=BATCH, verbose=0,
              callbacks=[H.funcnet_epoch_clock(clock)], seed=SEED)
    _, accuracy = model.evaluate(d.x_test, d.y_test, batch_size=BATCH, verbose=0)
    return {"test_accuracy": float(accuracy), "versions": {"funcnet": getattr(funcnet, "__version__", "?"),
                                                           "jax": jax.__version__}}


def run_keras_jax(d: Data, epochs: int, clock: H.EpochClock, network=book_network) -> dict:
    os.environ["KERAS_BACKEND"] = "jax"
    import jax
    import keras


    keras.utils.set_random_seed(SEED)
    clock.start()
    model = keras.Sequential(network(keras.layers))
    model.compile(optimizer=keras.optimizers.RMSprop(LEARNING_RATE, rho=RHO, epsilon=EPSILON),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(d.x_train, d.y_train, epochs=epochs, batch_size=BATCH, verbose=0, callbacks=[H.keras_epoch_clock(clock)])
    _, accuracy = model.evaluate(d.x_test, d.y_test, batch_size=BATCH, verbose=0)
    return {"test_accuracy": float(accuracy), "versions": {"keras": keras.__version__, "jax": jax.__version__}}


def _optax_rmsprop():
    import optax

    # eps outside the square root, as Keras and torch: g / (sqrt(ms) + eps).
    return optax.rmsprop(LEARNING_RATE, decay=RHO, eps=EPSILON, eps_in_sqrt=False)


def run_flax_nnx(d: Data, epochs: int, clock: H.EpochClock) -> dict:
    import flax
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax
    from flax import nnx

    class MLP(nnx.Module):
        def __init__(self, rngs: nnx.Rngs):
            self.hidden = nnx.Linear(784, 512, rngs=rngs)
            self.out = nnx.Linear(512, 10, rngs=rngs)

        def __call__(self, x):
            return self.out(nnx.relu(self.hidden(x)))

    @nnx.jit
    def train_step(model, optimizer, x, y):
        def loss_fn(model):
            return optax.softmax_cross_entropy(model(x), y).mean()

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(model, grads)
        return loss

    @nnx.jit
    def predict(model, x):
        return jnp.argmax(model(x), axis=-1)

    rng = np.random.default_rng(SEED)
    clock.start()
    model = MLP(nnx.Rngs(SEED))
    optimizer = nnx.Optimizer(model, _optax_rmsprop(), wrt=nnx.Param)
    for _ in range(epochs):
        for idx in batches(rng, d.n):
            train_step(model, optimizer, d.x_train[idx], d.y_train[idx])
        jax.block_until_ready(nnx.state(model))
        clock.epoch_end()
    accuracy = float(np.mean(np.asarray(predict(model, d.x_test)) == d.labels_test))
    return {"test_accuracy": accuracy, "versions": {"flax": flax.__version__, "jax": jax.__version__}}


def run_equinox(d: Data, epochs: int, clock: H.EpochClock) -> dict:
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    tx = _optax_rmsprop()

    @eqx.filter_jit
    def train_step(model, opt_state, x, y):
        def loss_fn(model):
            return optax.softmax_cross_entropy(jax.vmap(model)(x), y).mean()

        loss, grads = eqx.filter_value_and_grad(loss_fn)(model)
        updates, opt_state = tx.update(grads, opt_state, eqx.filter(model, eqx.is_array))
        return eqx.apply_updates(model, updates), opt_state, loss

    @eqx.filter_jit
    def predict(model, x):
        return jnp.argmax(jax.vmap(model)(x), axis=-1)

    rng = np.random.default_rng(SEED)
    clock.start()
    model = eqx.nn.MLP(784, 10, width_size=512, depth=1, activation=jax.nn.relu, key=jax.random.key(SEED))
    opt_state = tx.init(eqx.filter(model, eqx.is_array))
    for _ in range(epochs):
        for idx in batches(rng, d.n):
            model, opt_state, _ = train_step(model, opt_state, d.x_train[idx], d.y_train[idx])
        jax.block_until_ready(eqx.filter(model, eqx.is_array))
        clock.epoch_end()
    accuracy = float(np.mean(np.asarray(predict(model, d.x_test)) == d.labels_test))
    return {"test_accuracy": accuracy, "versions": {"equinox": eqx.__version__, "jax": jax.__version__}}


def run_torch(d: Data, epochs: int, clock: H.EpochClock, threads: int = 2) -> dict:
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    torch.manual_seed(SEED)
    generator = torch.Generator().manual_seed(SEED)
    x_train, y_train = torch.from_numpy(d.x_train), torch.from_numpy(d.y_train)
    clock.start()
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 10))
    optimizer = torch.optim.RMSprop(model.parameters(), lr=LEARNING_RATE, alpha=RHO, eps=EPSILON)
    loss_fn = nn.CrossEntropyLoss()  # softmax + crossentropy on one-hot (probability) targets
    for _ in range(epochs):
        order = torch.randperm(d.n, generator=generator)
        for start in range(0, d.n, BATCH):
            idx = order[start:start + BATCH]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x_train[idx]), y_train[idx])
            loss.backward()
            optimizer.step()
        clock.epoch_end()  # eager CPU: every op has finished when it returns
    with torch.no_grad():
        predicted = model(torch.from_numpy(d.x_test)).argmax(dim=-1).numpy()
    accuracy = float((predicted == d.labels_test).mean())
    return {"test_accuracy": accuracy, "torch_threads": torch.get_num_threads(),
            "versions": {"torch": torch.__version__}}


def run_jax_scan(d: Data, epochs: int, clock: H.EpochClock) -> dict:
    """Hand-written: params dict, RMSprop by hand, one jitted epoch = a scan over the full batches and
    one step on the last, short batch. The data are arguments of the jitted epoch, never constants."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    def init(key):
        def glorot(key, fan_in, fan_out):
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            return jax.random.uniform(key, (fan_in, fan_out), jnp.float32, -limit, limit)

        k1, k2 = jax.random.split(key)
        return {"w1": glorot(k1, 784, 512), "b1": jnp.zeros(512), "w2": glorot(k2, 512, 10), "b2": jnp.zeros(10)}

    def logits(p, x):
        return jax.nn.relu(x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]

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

        (p, ms), losses = jax.lax.scan(body, (p, ms), order[:full * BATCH].reshape(full, BATCH))
        total = jnp.sum(losses) * BATCH
        if n % BATCH:  # static: the last, short batch, trained on as every other implementation does
            tail = order[full * BATCH:]
            p, ms, loss = step(p, ms, x[tail], y[tail])
            total = total + loss * tail.shape[0]
        return p, ms, total / n

    @jax.jit
    def predict(p, x):
        return jnp.argmax(logits(p, x), axis=-1)

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
    "funcnet_second_run": run_funcnet,
    "funcnet_streamed": lambda d, epochs, clock: run_funcnet(d, epochs, clock, steps_per_execution=64),
    "keras_jax": run_keras_jax,
    "flax_nnx": run_flax_nnx,
    "equinox": run_equinox,
    "torch": run_torch,
    "jax_scan": run_jax_scan,
}


# --------------------------------------------------------------------------- the roofline (a child too)
def epoch_flops(n: int) -> float:
    """Matmul FLOPs of one epoch: forward and weight gradients of both layers, plus the hidden layer's
    input gradient; no gradient flows to the images. 4n*784*512 + 6n*512*10 = 98.2 GFLOP for n=60000.
    (6n*(784*512 + 512*10) = 146 GFLOP would also count the unneeded input gradient.)"""
    return 2 * n * 784 * 512 * 2 + 2 * n * 512 * 10 * 3


# One step's matmuls at batch 128: (name, lhs shape, rhs shape, contracting dims, what autodiff writes).
# The backward ones contract the batch axis as the transpose rules do (no explicit transpose).
STEP_MATMULS = [
    ("forward hidden: x[128,784] @ W1[784,512]", (128, 784), (784, 512), ((1,), (0,))),
    ("forward output: h[128,512] @ W2[512,10]", (128, 512), (512, 10), ((1,), (0,))),
    ("grad W1: x^T[784,128] @ dh[128,512]", (128, 784), (128, 512), ((0,), (0,))),
    ("grad h: dz[128,10] @ W2^T[10,512]", (128, 10), (512, 10), ((1,), (1,))),
    ("grad W2: h^T[512,128] @ dz[128,10]", (128, 512), (128, 10), ((0,), (0,))),
]
# How jax.grad itself orients the two weight gradients ([out, in], transposed afterwards).
AUTODIFF_ORIENTATION = [
    ("grad W1 as autodiff writes it: dh^T[512,128] @ x[128,784]", (128, 512), (128, 784), ((0,), (0,))),
    ("grad W2 as autodiff writes it: dz^T[10,128] @ h[128,512]", (128, 10), (128, 512), ((0,), (0,))),
]


def _median_call_s(fn, args, calls: int) -> float:
    fn(*args).block_until_ready()  # compile
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn(*args).block_until_ready()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_roofline(steps: int, n: int, calls: int) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np

    rng = np.random.default_rng(0)
    size = 2048
    a = jnp.asarray(rng.standard_normal((size, size), dtype=np.float32))
    b = jnp.asarray(rng.standard_normal((size, size), dtype=np.float32))
    gemm = jax.jit(jnp.matmul)
    gemm(a, b).block_until_ready()
    best = float("inf")
    for _ in range(10):
        start = time.perf_counter()
        gemm(a, b).block_until_ready()
        best = min(best, time.perf_counter() - start)
    peak = 2 * size ** 3 / best

    tiny = jnp.zeros((128, 10), jnp.float32)
    dispatch = _median_call_s(jax.jit(lambda t: t + 1.0), (tiny,), calls)

    def time_matmuls(table):
        rows = []
        for name, ls, rs, contract in table:
            lhs = jnp.asarray(rng.standard_normal(ls, dtype=np.float32))
            rhs = jnp.asarray(rng.standard_normal(rs, dtype=np.float32))
            fn = jax.jit(lambda l, r, c=contract: jax.lax.dot_general(l, r, (c, ((), ()))))
            seconds = _median_call_s(fn, (lhs, rhs), calls)
            flops = 2.0 * np.prod(fn(lhs, rhs).shape) * ls[contract[0][0]]
            # numpy on the same shapes, for comparison
            nl, nr = np.asarray(lhs), np.asarray(rhs)
            nl = nl if contract[0][0] == 1 else nl.T
            nr = nr if contract[1][0] == 0 else nr.T
            np_times = []
            for _ in range(calls):
                start = time.perf_counter()
                np.dot(nl, nr)
                np_times.append(time.perf_counter() - start)
            rows.append({"matmul": name, "seconds": seconds, "gflops_per_s": flops / seconds / 1e9,
                         "numpy_seconds": statistics.median(np_times)})
        return rows

    step_rows = time_matmuls(STEP_MATMULS)
    autodiff_rows = time_matmuls(AUTODIFF_ORIENTATION)
    flops = epoch_flops(n)
    return {
        "peak_gemm_gflops_per_s": peak / 1e9,
        "peak_gemm_shape": f"{size}x{size} @ {size}x{size}",
        "jit_dispatch_s": dispatch,
        "epoch_gflop": flops / 1e9,
        "roofline_at_peak_s": flops / peak,
        "step_matmuls": step_rows,
        "autodiff_orientation": autodiff_rows,
        "roofline_per_shape_s": steps * sum(r["seconds"] for r in step_rows),
        "steps": steps,
        "versions": {"jax": jax.__version__},
    }


# --------------------------------------------------------------------------- the child's entry
def child_main(args) -> None:
    if args.child == "roofline":
        result = run_roofline(steps=-(-60000 // BATCH), n=60000, calls=args.matmul_calls)
        result["name"] = "roofline"
        H.emit(result)
        return
    d = Data(args.data_dir)
    clock = H.EpochClock()
    extra = {"threads": args.torch_threads} if args.child == "torch" else {}
    result = RUNNERS[args.child](d, args.epochs, clock, **extra)
    result.update(H.summarize_epochs(clock.epoch_times()))
    result["name"] = args.child
    H.emit(result)


# --------------------------------------------------------------------------- the parent
def build_report(results: dict, roofline: dict | None, info: dict, epochs: int) -> str:
    ref = results.get("funcnet") or {}
    header = ["implementation", "first epoch s", "steady epoch s", "whole process s", "test accuracy",
              "peak RSS MB", "steady x funcnet", "first x funcnet", "process x funcnet", "memory x funcnet"]
    rows = []
    for name, label in IMPLEMENTATIONS.items():
        r = results.get(name)
        if r is None:
            continue
        if r.get("torch_threads"):
            label = f"{label}, {r['torch_threads']} thread{'s' if r['torch_threads'] > 1 else ''}"
        if "error" in r:
            rows.append([label, "failed", "", H.fmt(r.get("process_s")), "", "", "", "", "", ""])
            continue
        rows.append([
            label, H.fmt(r["first_epoch_s"]), H.fmt(r["steady_epoch_s"]), H.fmt(r["process_s"], 1),
            H.fmt(r["test_accuracy"], 4), H.fmt(r["peak_rss_mb"], 0),
            H.fmt(H.ratio(r["steady_epoch_s"], ref.get("steady_epoch_s")), 2, "x"),
            H.fmt(H.ratio(r["first_epoch_s"], ref.get("first_epoch_s")), 2, "x"),
            H.fmt(H.ratio(r["process_s"], ref.get("process_s")), 2, "x"),
            H.fmt(H.ratio(r["peak_rss_mb"], ref.get("peak_rss_mb")), 2, "x"),
        ])
    if roofline:
        peak_label = (f"fp32 matmul roofline at peak ({roofline['epoch_gflop']:.1f} GFLOP/epoch at "
                      f"{roofline['peak_gemm_gflops_per_s']:.0f} GFLOP/s)")
        shape_label = "roofline with each matmul at its own measured speed (469 x sum)"
        for label, seconds in ((peak_label, roofline["roofline_at_peak_s"]),
                               (shape_label, roofline["roofline_per_shape_s"])):
            rows.append([label, "", H.fmt(seconds), "", "", "",
                         H.fmt(H.ratio(seconds, ref.get("steady_epoch_s")), 2, "x"), "", "", ""])
    out = [
        f"# MNIST, the book's network: funcnet and its peers ({epochs} epochs, batch {BATCH})",
        "",
        f"{info['date']}, {info.get('cpu', '?')}, {info['cpus']} CPUs, Python {info['python']}; "
        f"load average at start {info['load_average_at_start']}, at end {info.get('load_average_at_end')}.",
        "First epoch: from building the model to the end of epoch 1 (init, compile, one pass). Steady epoch: "
        "median of epochs 2..E. Whole process: the fresh subprocess's wall time (imports, data, training, "
        "test evaluation). Ratios: this row / funcnet's (above 1: slower or larger than funcnet).",
        "",
        H.markdown_table(header, rows, "lrrrrrrrrr"),
    ]
    if roofline:
        out += ["", f"Matmuls of one step at batch 128, each jitted alone (median of calls; the jit dispatch of a "
                f"trivial op is {roofline['jit_dispatch_s'] * 1e6:.0f} us of each):", ""]
        mm_rows = [[r["matmul"], H.fmt(r["seconds"] * 1e6, 0), H.fmt(r["gflops_per_s"], 1),
                    H.fmt(r["numpy_seconds"] * 1e6, 0)]
                   for r in roofline["step_matmuls"] + roofline["autodiff_orientation"]]
        out.append(H.markdown_table(["matmul", "XLA us", "XLA GFLOP/s", "numpy us"], mm_rows, "lrrr"))
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

    if "funcnet_second_run" in names and "funcnet" not in names:
        names.insert(names.index("funcnet_second_run"), "funcnet")  # the second run reads the first's cache
    cache_root = tempfile.mkdtemp(prefix="mnist-peers-compile-cache-")
    results = {}
    for name in names:
        child_args = ["--child", name, "--epochs", str(args.epochs), "--data-dir", args.data_dir,
                      "--torch-threads", str(args.torch_threads)]
        env = dict(CHILD_ENV.get(name, {}))
        if name in CACHED:
            env["FUNCNET_COMPILE_CACHE"] = os.path.join(cache_root, CACHED[name])
        result, wall, stderr = H.run_child(__file__, child_args, env)
        if result is None:
            print(f"{name}: FAILED after {wall:.1f} s\n{stderr}", file=sys.stderr, flush=True)
            results[name] = {"error": stderr, "process_s": wall}
            continue
        result["process_s"] = wall
        results[name] = result
        epochs_text = " ".join(f"{t:.2f}" for t in result["epoch_times_s"])
        print(f"{name:10s} epochs [{epochs_text}] s  process {wall:.1f} s  test acc {result['test_accuracy']:.4f}  "
              f"peak RSS {result['peak_rss_mb']:.0f} MB", flush=True)

    roofline = None
    if with_roofline:
        roofline, wall, stderr = H.run_child(__file__, ["--child", "roofline", "--matmul-calls",
                                                        str(args.matmul_calls)])
        if roofline is None:
            print(f"roofline: FAILED\n{stderr}", file=sys.stderr, flush=True)
        else:
            print(f"roofline   peak GEMM {roofline['peak_gemm_gflops_per_s']:.0f} GFLOP/s, "
                  f"{roofline['epoch_gflop']:.1f} GFLOP/epoch -> {roofline['roofline_at_peak_s']:.2f} s; "
                  f"per-shape {roofline['roofline_per_shape_s']:.2f} s", flush=True)

    shutil.rmtree(cache_root, ignore_errors=True)
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report = build_report(results, roofline, info, args.epochs)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(report)
        json_path = os.path.splitext(args.out)[0] + ".json"
        with open(json_path, "w") as f:
            json.dump({"machine": info, "epochs": args.epochs, "batch_size": BATCH, "results": results,
                       "roofline": roofline}, f, indent=2)
        print(f"wrote {args.out} and {json_path}")
    print()
    print(report)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=5, help="epochs per implementation (default 5)")
    parser.add_argument("--only", default="", help="comma-separated subset of: "
                        + ",".join([*IMPLEMENTATIONS, "roofline"]) + " (default: all, roofline included)")
    parser.add_argument("--out", default="", help="write the table to this markdown file, and the raw "
                        "numbers beside it as .json")
    parser.add_argument("--data-dir", default=None, help="folder of mnist.npz (default $FUNCNET_DATA_DIR)")
    parser.add_argument("--matmul-calls", type=int, default=300, help="calls per matmul timing (median)")
    parser.add_argument("--torch-threads", type=int, default=2, help="torch.set_num_threads for PyTorch "
                        "(default 2; on a loaded machine 2 spinning OpenMP threads slow it down many times)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    if args.child:
        child_main(args)
    else:
        args.data_dir = H.data_dir(args.data_dir)
        parent_main(args)


if __name__ == "__main__":
    main()
