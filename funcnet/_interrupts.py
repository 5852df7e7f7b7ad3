"""Holding a Ctrl-C back while a training run commits an epoch, so an interrupted run is never half-updated.

`fit` runs each epoch as one compiled program, then *commits* it: the new params, model state,
optimizer state and step, and the epoch's logs in the history. A `KeyboardInterrupt` (SIGINT) can land
between any two Python statements; inside the commit it would leave params one epoch ahead of the
history, or the optimizer state of one epoch beside the params of another. `deferred_interrupt()`
holds SIGINT for the few statements of a commit and raises it right after, so an interrupted `fit`
always leaves the last completed epoch, whole. An interrupt during an epoch's program (the usual case:
that is where the time goes) drops that epoch: nothing of it was committed.
"""
from __future__ import annotations

import contextlib
import signal
import threading


@contextlib.contextmanager
def deferred_interrupt():
    """Runs the block with SIGINT held; a SIGINT that arrived meanwhile raises `KeyboardInterrupt` after.

    Only the main thread receives signals; elsewhere (and where the handler is not Python's default,
    e.g. a user's own) the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt
