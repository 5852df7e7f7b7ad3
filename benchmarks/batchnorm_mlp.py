"""Two checks of the state channel on the real MNIST, each implementation in a fresh process.

1. **The book's network is unchanged.** funcnet's `fit` of 784 -> Dense(512, relu) -> Dense(10, softmax)
   (`mnist_peers.py`'s funcnet child) at two revisions of funcnet, `--base` (say the commit before the
   state channel) and the working tree, run alternately `--repeats` times in one run; the first and
   steady epochs of each, and the medians.
2. **A BatchNormalization MLP against Keras 3 on JAX.** 784 -> Dense(512, no bias) -> BatchNormalization
   -> relu -> Dense(10, softmax), RMSprop(1e-3), categorical crossentropy, batch 128, 5 epochs (the last
   batch of 96 included): funcnet `fit`, Keras 3 on JAX `fit`, and plain JAX with the whole epoch in
   one `lax.scan` (batch statistics and moving averages written by hand) as the floor.

Run:  FUNCNET_DATA_DIR=../shared/datasets .venv/bin/python benchmarks/batchnorm_mlp.py --base 4562ce6 \\
          --out docs/perf-batchnorm.md
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile

import _harness as H
import mnist_peers

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
BATCH, SEED = mnist_peers.BATCH, mnist_peers.SEED
LEARNING_RATE, RHO, EPSILON = mnist_peers.LEARNING_RATE, mnist_peers.RHO, mnist_peers.EPSILON
MOMENTUM, BN_EPSILON = 0.99, 1e-3

IMPLEMENTATIONS = {
    "funcnet": "funcnet `model.fit`",
    "keras_jax": "Keras 3 on JAX, `model.fit`",
    "jax_scan": "plain JAX, whole epoch in one `lax.scan`",
}
CHILD_ENV = {"keras_jax": {"KERAS_BACKEND": "jax"}}


# --------------------------------------------------------------------------- the children
def batchnorm_network(layers) -> list:
    """The MLP with BatchNormalization, from either library's `layers` module (funcnet's or Keras's)."""
    return [layers.Input(shape=(784,)), layers.Dense(512, use_bias=False), layers.BatchNormalization(),
            layers.Activation("relu"), layers.Dense(10, activation="softmax")]


def run_funcnet(d, epochs: int, clock: H.EpochClock) -> dict:
    return mnist_peers.run_funcnet(d, epochs, clock, network=batchnorm_network)


def run_keras_jax(d, epochs: int, clock: H.EpochClock) -> dict:
    return mnist_peers.run_keras_jax(d, epochs, clock, network=batchnorm_network)


def run_jax_scan(d, epochs: int, clock: H.EpochClock) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np

    def init(key):
        k1, k2 = jax.random.split(key)
        glorot = lambda k, i, o: jax.random.uniform(k, (i, o), jnp.float32, -np.sqrt(6 / (i + o)), np.sqrt(6 / (i + o)))  # noqa: E731
        params = {"w1": glorot(k1, 784, 512), "gamma": jnp.ones(512), "beta": jnp.zeros(512),
                  "w2": glorot(k2, 512, 10), "b2": jnp.zeros(10)}
        return params, {"mean": jnp.zeros(512), "var": jnp.ones(512)}

    def logits(p, stats, x, training):
        z = x @ p["w1"]
        if training:
            mean, var = jnp.mean(z, 0), jnp.var(z, 0)
            stats = {"mean": stats["mean"] * MOMENTUM + mean * (1 - MOMENTUM),
                     "var": stats["var"] * MOMENTUM + var * (1 - MOMENTUM)}
        else:
            mean, var = stats["mean"], stats["var"]
        h = jax.nn.relu((z - mean) * jax.lax.rsqrt(var + BN_EPSILON) * p["gamma"] + p["beta"])
        return h @ p["w2"] + p["b2"], stats

    def loss_fn(p, stats, x, y):
        out, stats = logits(p, stats, x, True)
        return -jnp.mean(jnp.sum(y * jax.nn.log_softmax(out), axis=-1)), stats

    def step(p, ms, stats, x, y):
        (loss, stats), g = jax.value_and_grad(loss_fn, has_aux=True)(p, stats, x, y)
        ms = jax.tree.map(lambda m, g: RHO * m + (1 - RHO) * g * g, ms, g)
        p = jax.tree.map(lambda p, g, m: p - LEARNING_RATE * g / (jnp.sqrt(m) + EPSILON), p, g, ms)
        return p, ms, stats, loss

    @jax.jit
    def epoch(p, ms, stats, x, y, key, epoch_index):
        n = x.shape[0]
        full = n // BATCH
        order = jax.random.permutation(jax.random.fold_in(key, epoch_index), n)

        def body(carry, idx):
            p, ms, stats = carry
            p, ms, stats, loss = step(p, ms, stats, x[idx], y[idx])
            return (p, ms, stats), loss

        (p, ms, stats), losses = jax.lax.scan(body, (p, ms, stats), order[:full * BATCH].reshape(full, BATCH))
        total = jnp.sum(losses) * BATCH
        if n % BATCH:  # static: the last, short batch, trained on as the others do
            tail = order[full * BATCH:]
            p, ms, stats, loss = step(p, ms, stats, x[tail], y[tail])
            total = total + loss * tail.shape[0]
        return p, ms, stats, total / n

    @jax.jit
    def predict(p, stats, x):
        return jnp.argmax(logits(p, stats, x, False)[0], axis=-1)

    key = jax.random.key(SEED)
    x_train, y_train = jax.device_put(d.x_train), jax.device_put(d.y_train)
    clock.start()
    params, stats = init(key)
    ms = jax.tree.map(jnp.zeros_like, params)
    for e in range(epochs):
        params, ms, stats, loss = epoch(params, ms, stats, x_train, y_train, key, e)
        jax.block_until_ready((params, ms, stats, loss))
        clock.epoch_end()
    accuracy = float(np.mean(np.asarray(predict(params, stats, d.x_test)) == d.labels_test))
    return {"test_accuracy": accuracy, "versions": {"jax": jax.__version__}}


RUNNERS = {"funcnet": run_funcnet, "keras_jax": run_keras_jax, "jax_scan": run_jax_scan}


def child_main(args) -> None:
    d = mnist_peers.Data(args.data_dir)
    clock = H.EpochClock()
    result = RUNNERS[args.child](d, args.epochs, clock)
    result.update(H.summarize_epochs(clock.epoch_times()))
    result["name"] = args.child
    H.emit(result)


# --------------------------------------------------------------------------- the parent
def book_network_at(tree: str, label: str, args) -> dict:
    """`mnist_peers.py`'s funcnet child with funcnet imported from `tree`."""
    child = ["--child", "funcnet", "--epochs", str(args.epochs), "--data-dir", args.data_dir]
    result, wall, stderr = H.run_child(str(HERE / "mnist_peers.py"), child, {"PYTHONPATH": tree})
    if result is None:
        sys.exit(f"{label}: the book's network failed\n{stderr}")
    result["process_s"] = wall
    print(f"  {label:8s} first {result['first_epoch_s']:.2f} s  steady {result['steady_epoch_s']:.3f} s  "
          f"process {wall:.1f} s", flush=True)
    return result


def compare_revisions(args) -> dict:
    """Alternate runs of the base revision and the working tree: medians of first and steady epochs."""
    folder = tempfile.mkdtemp(prefix="funcnet-base-")
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", folder, args.base], check=True,
                   capture_output=True)
    runs = {"base": [], "current": []}
    try:
        for i in range(args.repeats):
            print(f"book network, round {i + 1} of {args.repeats}", flush=True)
            runs["base"].append(book_network_at(folder, "base", args))
            runs["current"].append(book_network_at(str(ROOT), "current", args))
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", folder], capture_output=True)
    summary = {}
    for name, results in runs.items():
        summary[name] = {key: statistics.median(r[key] for r in results)
                         for key in ("first_epoch_s", "steady_epoch_s", "process_s", "test_accuracy")}
    return {"base": args.base, "runs": runs, "median": summary}


def report(revisions: dict | None, peers: dict, info: dict, epochs: int) -> str:
    out = [f"# The state channel on MNIST ({epochs} epochs, batch {BATCH})", "",
           f"{info['date']}, {info.get('cpu', '?')}, {info['cpus']} CPUs, Python {info['python']}; load average "
           f"at start {info['load_average_at_start']}, at end {info.get('load_average_at_end')}.", ""]
    if revisions:
        base, current = revisions["median"]["base"], revisions["median"]["current"]
        out += [f"## The book's network, funcnet at `{revisions['base']}` and at the working tree",
                "", f"Medians of {len(revisions['runs']['base'])} alternating runs of each; ratio: working tree / base.", ""]
        rows = []
        for key, label in (("first_epoch_s", "first epoch s"), ("steady_epoch_s", "steady epoch s"),
                           ("process_s", "whole process s"), ("test_accuracy", "test accuracy")):
            digits = 4 if key == "test_accuracy" else 3
            each = lambda name, k=key, dg=digits: ", ".join(H.fmt(r[k], dg) for r in revisions["runs"][name])  # noqa: E731
            rows.append([label, H.fmt(base[key], digits), H.fmt(current[key], digits),
                         H.fmt(H.ratio(current[key], base[key]), 3, "x"), each("base"), each("current")])
        out.append(H.markdown_table(["", "base", "working tree", "ratio", "base runs", "working tree runs"], rows,
                                    "lrrrll"))
        out.append("")
    ref = peers.get("funcnet") or {}
    rows = []
    for name, label in IMPLEMENTATIONS.items():
        r = peers.get(name)
        if r is None:
            continue
        rows.append([label, H.fmt(r["first_epoch_s"]), H.fmt(r["steady_epoch_s"]), H.fmt(r["process_s"], 1),
                     H.fmt(r["test_accuracy"], 4), H.fmt(r["peak_rss_mb"], 0),
                     H.fmt(H.ratio(r["steady_epoch_s"], ref.get("steady_epoch_s")), 2, "x"),
                     H.fmt(H.ratio(r["first_epoch_s"], ref.get("first_epoch_s")), 2, "x")])
    out += ["## An MLP with BatchNormalization: funcnet, Keras 3 on JAX, plain JAX", "",
            "784 -> Dense(512, no bias) -> BatchNormalization -> relu -> Dense(10, softmax), RMSprop(1e-3), batch "
            f"{BATCH}. Ratios: this row / funcnet's.", "",
            H.markdown_table(["implementation", "first epoch s", "steady epoch s", "whole process s", "test accuracy",
                              "peak RSS MB", "steady x funcnet", "first x funcnet"], rows, "lrrrrrrr")]
    return "\n".join(out) + "\n"


def parent_main(args) -> None:
    info = H.machine_info()
    print(f"# {info['date']}  load average {info['load_average_at_start']}  epochs {args.epochs}", flush=True)
    revisions = compare_revisions(args) if args.base else None
    peers = {}
    for name in [n for n in IMPLEMENTATIONS if not args.only or n in args.only.split(",")]:
        result, wall, stderr = H.run_child(__file__, ["--child", name, "--epochs", str(args.epochs),
                                                      "--data-dir", args.data_dir], CHILD_ENV.get(name))
        if result is None:
            sys.exit(f"{name} failed\n{stderr}")
        result["process_s"] = wall
        peers[name] = result
        print(f"{name:10s} epochs [{' '.join(f'{t:.2f}' for t in result['epoch_times_s'])}] s  process {wall:.1f} s  "
              f"test acc {result['test_accuracy']:.4f}  peak RSS {result['peak_rss_mb']:.0f} MB", flush=True)
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    text = report(revisions, peers, info, args.epochs)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
        with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
            json.dump({"machine": info, "epochs": args.epochs, "revisions": revisions, "results": peers}, f, indent=2)
    print()
    print(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--base", default="", help="a git revision to time the book's network at, beside the "
                        "working tree (default: skip that comparison)")
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs of each revision (default 3)")
    parser.add_argument("--only", default="", help="comma-separated subset of " + ",".join(IMPLEMENTATIONS))
    parser.add_argument("--out", default="", help="write the tables to this markdown file (and .json beside it)")
    parser.add_argument("--data-dir", default=None, help="folder of mnist.npz (default $FUNCNET_DATA_DIR)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args)
    else:
        args.data_dir = H.data_dir(args.data_dir)
        parent_main(args)


if __name__ == "__main__":
    main()
