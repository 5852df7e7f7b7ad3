"""Interrupted runs lose nothing: a real SIGINT during `fit` leaves the last completed epoch whole
(params, optimizer state, step and `model.history` agree), the checkpoint readable, and a resumed `fit`
bit-identical to the uninterrupted run; after a SIGKILL, resuming from the checkpoint in a fresh process
is bit-identical too."""
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from funcnet._interrupts import deferred_interrupt

WORKER = pathlib.Path(__file__).resolve().parents[1] / "_workers" / "interrupted_fit.py"


def _start(mode, folder):
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    return subprocess.Popen([sys.executable, str(WORKER), mode, str(folder)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def _wait_for_epoch(proc, epoch: int, timeout: float = 300):
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        if line.strip() == f"EPOCH {epoch}":
            return
        if time.monotonic() > deadline:
            break
    proc.kill()
    pytest.fail(f"the worker never reached epoch {epoch}: {proc.stderr.read()[-3000:]}")


def _same_params(result):
    resumed = {k[len("resumed/"):]: result[k] for k in result.files if k.startswith("resumed/")}
    whole = {k[len("whole/"):]: result[k] for k in result.files if k.startswith("whole/")}
    assert resumed.keys() == whole.keys() and resumed
    for key in resumed:
        np.testing.assert_array_equal(resumed[key], whole[key], err_msg=key)


def test_a_sigint_during_fit_leaves_the_last_epoch_whole_and_resumes_bit_identical(tmp_path):
    proc = _start("sigint", tmp_path)
    _wait_for_epoch(proc, 1)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr[-3000:]
    result = np.load(tmp_path / "result.npz")
    assert bool(result["interrupted"])
    done = int(result["done"])
    assert 2 <= done < 12
    assert result["history_epochs"].tolist() == list(range(done)) and len(result["history_loss"]) == done
    assert int(result["step"]) == done * 375  # 6000 samples, batch 16: 375 steps an epoch
    assert bool(result["params_match"]) and bool(result["opt_match"])
    assert int(result["checkpoint_epoch"]) in (done - 1, done)  # readable; the last or the one before
    _same_params(result)


def test_after_a_sigkill_the_checkpoint_resumes_bit_identical(tmp_path):
    proc = _start("run", tmp_path)
    _wait_for_epoch(proc, 2)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    done = subprocess.run([sys.executable, str(WORKER), "resume", str(tmp_path)], capture_output=True, text=True,
                          env=dict(os.environ, JAX_PLATFORMS="cpu"), timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = np.load(tmp_path / "result.npz")
    assert 3 <= int(result["resumed_from"]) < 12
    np.testing.assert_array_equal(result["resumed_loss"], result["whole_loss"])
    _same_params(result)


def test_a_sigint_inside_a_commit_waits_for_its_end():
    events = []
    with pytest.raises(KeyboardInterrupt):
        with deferred_interrupt():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # the handler has run by now: Python checks signals between bytecodes
            events.append("committed")
    assert events == ["committed"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with deferred_interrupt():  # no signal: nothing raised
        events.append("again")
    assert events == ["committed", "again"]
