"""The README's main job (experiments/mnist_listing.py, the book's listings 2.1-2.5) run twice, with
funcnet's persistent compilation cache: the second process reads the programs the first compiled.

Each run is a fresh process that executes the listing unchanged, with a clock added to its `fit` (the
first epoch: from `fit` being called to the end of epoch 1, init and compiles included; the steady epoch:
the median of the others). Per round: a cold run into an empty cache folder, a warm run from it, and a
run with the cache turned off (FUNCNET_COMPILE_CACHE=0). Whole process: the child's wall time.

Run:  FUNCNET_DATA_DIR=../shared/datasets .venv/bin/python benchmarks/startup.py --rounds 3 --out docs/perf-startup.md
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import runpy
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as H  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
LISTING = ROOT / "experiments" / "mnist_listing.py"


def child_main() -> None:
    import jax

    from funcnet import callbacks, models

    ends: list[float] = []
    fit = models.Sequential.fit

    class Clock(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            jax.block_until_ready(self.model.params)
            ends.append(time.perf_counter())

    def timed_fit(self, *args, **kwargs):
        kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), Clock()]
        kwargs["verbose"] = 0
        ends.append(time.perf_counter())
        return fit(self, *args, **kwargs)

    models.Sequential.fit = timed_fit
    sys.argv = [str(LISTING)]
    runpy.run_path(str(LISTING), run_name="__main__")
    epochs = [b - a for a, b in zip(ends, ends[1:])]
    H.emit({"first_epoch_s": epochs[0], "steady_epoch_s": statistics.median(epochs[1:]),
            "cache_dir": jax.config.jax_compilation_cache_dir or ""})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default="")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main()
        return
    H.data_dir(None)
    info = H.machine_info()
    rows: dict[str, list[dict]] = {"cold": [], "warm": [], "off": []}
    for r in range(args.rounds):
        with tempfile.TemporaryDirectory() as cache:
            for kind, setting in (("cold", cache), ("warm", cache), ("off", "0")):
                result, wall, stderr = H.run_child(__file__, ["--child"], {"FUNCNET_COMPILE_CACHE": setting})
                if result is None:
                    sys.exit(f"{kind} run failed:\n{stderr}")
                result["process_s"] = wall
                rows[kind].append(result)
                print(f"round {r + 1} {kind:4s} first epoch {result['first_epoch_s']:.2f} s  steady "
                      f"{result['steady_epoch_s']:.2f} s  process {wall:.1f} s  peak RSS {result['peak_rss_mb']:.0f} MB",
                      flush=True)
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    med = {k: {m: statistics.median(r[m] for r in v) for m in ("first_epoch_s", "steady_epoch_s", "process_s",
                                                                "peak_rss_mb")} for k, v in rows.items()}
    table = H.markdown_table(
        ["run", "first epoch s", "steady epoch s", "whole process s", "peak RSS MB", "first epoch x cold"],
        [[label, H.fmt(med[k]["first_epoch_s"]), H.fmt(med[k]["steady_epoch_s"]), H.fmt(med[k]["process_s"], 1),
          H.fmt(med[k]["peak_rss_mb"], 0), f"{med[k]['first_epoch_s'] / med['cold']['first_epoch_s']:.2f}x"]
         for k, label in (("cold", "first run (empty cache)"), ("warm", "second run (cache of the first)"),
                          ("off", "cache off (`FUNCNET_COMPILE_CACHE=0`)"))],
        "lrrrrr")
    report = (f"# Start-up: the README's main job run twice\n\n{info['date']}, load average "
              f"{info['load_average_at_start']} at the start, {info['load_average_at_end']} at the end; "
              f"medians of {args.rounds} rounds (cold, warm, off in each round).\n\n"
              f"```bash\nFUNCNET_DATA_DIR=../shared/datasets .venv/bin/python benchmarks/startup.py "
              f"--rounds {args.rounds} --out docs/perf-startup.md\n```\n\n{table}\n")
    print(report)
    if args.out:
        pathlib.Path(args.out).write_text(report)
        pathlib.Path(args.out).with_suffix(".json").write_text(json.dumps({"machine": info, "runs": rows}, indent=2))


if __name__ == "__main__":
    main()
