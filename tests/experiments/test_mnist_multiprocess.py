"""The documented two-process run (docs/accelerators.md, experiments/mnist.py): two processes on
loopback, two forced CPU devices each, each feeding its half of MNIST, train as one process does."""
import os
import pathlib
import re
import socket
import subprocess
import sys

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "experiments" / "mnist.py"
QUICK = ["--epochs", "1", "--train-samples", "2000", "--test-samples", "1000"]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _seed_line(output: str) -> str:
    return re.search(r"^seed 0: loss \[(.*?)\].*test acc ([0-9.]+)", output, re.M).group(0)


@pytest.mark.data
@pytest.mark.slow
def test_two_processes_on_loopback_match_one_process(data_dir, tmp_path):
    env = dict(os.environ, FUNCNET_DATA_DIR=data_dir, XLA_FLAGS="--xla_force_host_platform_device_count=2",
               JAX_PLATFORMS="cpu")
    port = _port()
    procs = [
        subprocess.Popen(
            [sys.executable, str(SCRIPT), "--data-parallel", "--coordinator", f"127.0.0.1:{port}",
             "--num-processes", "2", "--process-id", str(i), "--out", str(tmp_path / "two"), *QUICK],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for i in range(2)
    ]
    try:
        outputs = [p.communicate(timeout=300)[0] for p in procs]
    finally:
        for p in procs:
            p.kill()
    for p, out in zip(procs, outputs):
        assert p.returncode == 0, out[-4000:]
    assert "process 0 of 2" in outputs[0] and "4 device" not in outputs[0]
    assert outputs[0].count("CpuDevice") == 4  # one mesh over both processes' devices
    assert "results:" in outputs[0] and "results:" not in outputs[1]  # process 0 reports and draws
    one = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path / "one"), *QUICK],
                         env=dict(os.environ, FUNCNET_DATA_DIR=data_dir), capture_output=True, text=True, timeout=300)
    assert one.returncode == 0, one.stderr[-4000:]
    # Printed to 4 decimals: the same loss and test accuracy as the one-process run.
    strip = lambda line: re.sub(r"\s+\(.*s\)$", "", line)  # noqa: E731  (drop the timing)
    assert strip(_seed_line(outputs[0])) == strip(_seed_line(one.stdout))
    assert strip(_seed_line(outputs[1])) == strip(_seed_line(one.stdout))
