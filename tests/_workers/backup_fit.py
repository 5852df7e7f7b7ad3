"""Runs in a fresh process: trains a small model (Dropout, BatchNormalization, shuffled, a short last
batch, validation, RMSprop) for 6 epochs with `BackupAndRestore(BACKUP)`, and writes its params, state and
the epochs it ran to OUT.npz. With KILL_AT = k >= 0, the process SIGKILLs itself at the start of epoch k
(after epoch k-1's backup), as a crash would; with -1 it runs to the end.

    python backup_fit.py BACKUP OUT.npz KILL_AT
"""
import os
import signal
import sys

import jax
import numpy as np

from funcnet import callbacks, layers, models


class Crash(callbacks.Callback):
    def __init__(self, at: int):
        super().__init__()
        self.at = at

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at:
            os.kill(os.getpid(), signal.SIGKILL)


def main(backup: str, out: str, kill_at: int) -> None:
    rs = np.random.RandomState(0)
    x, y = rs.randn(300, 12).astype(np.float32), rs.randint(0, 4, 300)
    model = models.Sequential([layers.Dense(32, activation="relu", input_shape=(12,)), layers.BatchNormalization(),
                               layers.Dropout(0.3), layers.Dense(4, activation="softmax")])
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=6, batch_size=32, validation_split=0.2, verbose=0, seed=7,
                        callbacks=[callbacks.BackupAndRestore(backup), Crash(kill_at)])
    arrays = {"epochs": np.array(history.epoch), "step": np.asarray(model._session.step)}
    for tag, tree in (("params", model.params), ("state", model.state), ("opt", model._session.opt_state)):
        for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
            arrays[f"{tag}/{jax.tree_util.keystr(path)}"] = np.asarray(leaf)
    np.savez(out, **arrays)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
