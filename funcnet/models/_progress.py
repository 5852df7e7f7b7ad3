"""The host side of `fit(verbose=1)`: a progress bar the compiled epoch reports to."""
from __future__ import annotations

import sys
import time


class ProgressBar:
    """The compiled epoch calls `update` about 50 times an epoch.

    On a terminal a live bar redraws in place; elsewhere (a log file, CI) one line per epoch is printed
    at its end, as Keras does for non-interactive output.
    """

    def __init__(self):
        self.bar = None

    def start(self, steps: int, epoch: int, epochs: int) -> None:
        print(f"Epoch {epoch + 1}/{epochs}", flush=True)
        self.steps, self.started = steps, time.perf_counter()
        if not sys.stdout.isatty():
            return
        from tqdm import tqdm  # imported only when a bar is shown

        self.bar = tqdm(total=steps, file=sys.stdout, unit="step", leave=True, dynamic_ncols=True, mininterval=0.2,
                        bar_format="{n_fmt}/{total_fmt} {bar} {elapsed} {rate_fmt}{postfix}")

    def update(self, done, loss) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"loss: {float(loss):.4f}", refresh=False)
            self.bar.update(int(done) - self.bar.n)  # redraws at most every `mininterval` seconds

    def close(self, logs: dict | str) -> None:
        """Ends the epoch's bar with its logs (a dict, or the line to show)."""
        text = logs if isinstance(logs, str) else format_logs(logs)
        if self.bar is None:
            seconds = time.perf_counter() - self.started
            print(f"{self.steps}/{self.steps} - {seconds:.1f}s - {text}", flush=True)
            return
        self.bar.set_postfix_str(text, refresh=True)
        self.bar.close()
        self.bar = None


def format_logs(logs: dict) -> str:
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())
