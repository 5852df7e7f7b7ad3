"""What the benchmark scripts share: one fresh subprocess per measured implementation, and the table.

Imports only the standard library, so a parent process stays light and a child's import time is its
framework's own. A child reports one JSON object on a line of its stdout that starts with `MARKER`.
"""
from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

MARKER = "@@BENCH-RESULT "


def data_dir(arg: str | None) -> str:
    """The folder of the `keras.datasets`-format files: `--data-dir`, else `$FUNCNET_DATA_DIR`."""
    folder = arg or os.environ.get("FUNCNET_DATA_DIR")
    if not folder:
        sys.exit("Set FUNCNET_DATA_DIR (or pass --data-dir) to the folder holding mnist.npz and "
                 "boston_housing.npz; in this repository: FUNCNET_DATA_DIR=../shared/datasets.")
    return os.path.abspath(folder)


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB (Linux reports `ru_maxrss` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def emit(result: dict) -> None:
    """A child's last word: its result as one marked JSON line."""
    result["peak_rss_mb"] = peak_rss_mb()
    sys.stdout.write(MARKER + json.dumps(result) + "\n")
    sys.stdout.flush()


class EpochClock:
    """Wall times of a training run: `start()` before the model is built, `epoch_end()` after each
    epoch's results are on the host (the caller syncs first). Epoch k lasts from the end of epoch k-1
    (or from `start()`) to its own end, so per-epoch work between epochs (shuffling, callbacks) counts."""

    def __init__(self):
        self.t0 = None
        self.ends: list[float] = []

    def start(self) -> None:
        self.t0 = time.perf_counter()

    def epoch_end(self) -> None:
        self.ends.append(time.perf_counter())

    def epoch_times(self) -> list[float]:
        marks = [self.t0, *self.ends]
        return [b - a for a, b in zip(marks, marks[1:])]


def funcnet_epoch_clock(clock: EpochClock):
    """A funcnet callback that stops `clock` at each epoch's end, once the params and state are computed
    (JAX dispatches asynchronously). Imports funcnet only when called: a parent stays light."""
    import jax

    from funcnet import callbacks

    class Clock(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            # getattr: batchnorm_mlp.py times revisions of funcnet without `state`.
            jax.block_until_ready((self.model.params, getattr(self.model, "state", None)))
            clock.epoch_end()

    return Clock()


def keras_epoch_clock(clock: EpochClock):
    """The same for a Keras 3 model on JAX: its variables' values computed, then the clock stops."""
    import jax
    import keras

    class Clock(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            jax.block_until_ready([v.value for v in self.model.variables])
            clock.epoch_end()

    return Clock()


def summarize_epochs(times: list[float]) -> dict:
    """First epoch (setup and compile included) and steady epoch (median of the others)."""
    return {
        "epoch_times_s": times,
        "first_epoch_s": times[0] if times else None,
        "steady_epoch_s": statistics.median(times[1:]) if len(times) > 1 else None,
    }


def run_child(script: str, args: list[str], env_extra: dict | None = None, timeout: float | None = None):
    """Runs `python script *args` in a fresh process; returns (result dict or None, wall seconds, stderr).

    The wall time runs from before the interpreter starts to its exit: imports, data loading,
    compiles, training and evaluation.
    """
    env = dict(os.environ)
    env.update(env_extra or {})
    start = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, script, *args], env=env, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as err:
        return None, time.perf_counter() - start, f"timed out after {timeout} s\n{err.stderr or ''}"
    wall = time.perf_counter() - start
    result = None
    for line in proc.stdout.splitlines():
        if line.startswith(MARKER):
            result = json.loads(line[len(MARKER):])
    if proc.returncode != 0 or result is None:
        return None, wall, f"exit code {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return result, wall, proc.stderr


def machine_info() -> dict:
    """Where and when: a benchmark's numbers mean little without the machine and its load."""
    info = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return info


def fmt(value, digits: int = 2, suffix: str = "") -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return f"{value:.{digits}f}{suffix}"


def ratio(value, reference) -> float | None:
    if value is None or reference in (None, 0):
        return None
    return value / reference


def markdown_table(header: list[str], rows: list[list[str]], align: str) -> str:
    """`align` holds one of 'l'/'r' per column."""
    marks = {"l": "---", "r": "---:"}
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(marks[a] for a in align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
