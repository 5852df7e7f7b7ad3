"""Pieces several test files use: a custom layer no registry knows, and a process killed mid-save."""
import signal
import subprocess
import sys
import textwrap
import time

from funcnet import layers


class Scale(layers.Layer):
    """`x * factor`: a layer of the user's own, which saving must be told about (`custom_objects`)."""

    def __init__(self, factor=2.0, name=None, input_shape=None):
        super().__init__(name=name, input_shape=input_shape)
        self.factor = factor

    def compute_output_shape(self, input_shape):
        return input_shape

    def call(self, params, x, rng, training):
        return x * self.factor


def kill_while_saving(setup: str, save: str, seconds: float) -> None:
    """Runs `setup`, then `save` in a loop in a subprocess, and SIGKILLs it `seconds` after the first save
    finished (well inside some later save)."""
    body = textwrap.indent(textwrap.dedent(save).strip(), "    ")
    script = f"{textwrap.dedent(setup).strip()}\ni = 0\nwhile True:\n{body}\n    if i == 0:\n" \
             "        print('saved', flush=True)\n    i += 1\n"
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "saved"
        time.sleep(seconds)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
