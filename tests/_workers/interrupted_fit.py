"""Runs in a subprocess that the test interrupts: `fit` with a ModelCheckpoint, printing `EPOCH e` after
each epoch. Modes:

    python interrupted_fit.py sigint DIR    # catches the KeyboardInterrupt, checks and resumes (see below)
    python interrupted_fit.py run DIR       # trains until it is killed (SIGKILL)
    python interrupted_fit.py resume DIR    # resumes from DIR/ckpt.npz, and from scratch, writes both

Results go to DIR/result.npz. The problem is the same in every mode: a Dropout MLP, 12 epochs long enough
(about 0.2 s each) that a signal sent after an epoch's line lands inside a later epoch.
"""
import os
import sys

import numpy as np

EPOCHS = 12


def problem():
    from funcnet import layers, models

    rs = np.random.RandomState(0)
    x = rs.randn(6000, 32).astype(np.float32)
    y = (x[:, :8].sum(axis=1) > 0).astype(np.int32)
    model = models.Sequential([layers.Dense(128, activation="relu", input_shape=(32,)), layers.Dropout(0.3),
                               layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model, x, y


def fit(model, x, y, folder, **kwargs):
    from funcnet import callbacks

    class Announce(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            print(f"EPOCH {epoch}", flush=True)

    checkpoint = callbacks.ModelCheckpoint(os.path.join(folder, "ckpt.npz"))
    return model.fit(x, y, batch_size=16, verbose=0, seed=3, callbacks=[checkpoint, Announce()], **kwargs)


def flat(tree):
    import jax

    return {"/".join(str(p) for p in path): np.asarray(leaf) for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}


def main(mode: str, folder: str) -> None:
    import jax

    model, x, y = problem()
    out = {}
    if mode == "sigint":
        try:
            fit(model, x, y, folder, epochs=EPOCHS)
            out["interrupted"] = np.array(False)
        except KeyboardInterrupt:
            out["interrupted"] = np.array(True)
        done = len(model.history.epoch)
        out["done"] = np.array(done)
        out["history_loss"] = np.array(model.history.history["loss"])
        out["history_epochs"] = np.array(model.history.epoch)
        out["step"] = np.array(int(model._session.step))
        # the state left behind is that of `done` epochs: the same as a run of `done` epochs
        reference, _, _ = problem()
        fit(reference, x, y, os.path.join(folder, "ref"), epochs=done)
        out["params_match"] = np.array(all(np.array_equal(a, b) for a, b in
                                           zip(jax.tree.leaves(model.params), jax.tree.leaves(reference.params))))
        out["opt_match"] = np.array(all(np.array_equal(a, b) for a, b in zip(
            jax.tree.leaves(model._session.opt_state), jax.tree.leaves(reference._session.opt_state))))
        ckpt_model, _, _ = problem()
        out["checkpoint_epoch"] = np.array(ckpt_model.load_checkpoint(os.path.join(folder, "ckpt.npz")))
        # resumed, it ends where the uninterrupted run ends
        fit(model, x, y, folder, epochs=EPOCHS, initial_epoch=model.history.epoch[-1] + 1)
        whole, _, _ = problem()
        fit(whole, x, y, os.path.join(folder, "ref"), epochs=EPOCHS)
        out.update({f"resumed/{k}": v for k, v in flat(model.params).items()})
        out.update({f"whole/{k}": v for k, v in flat(whole.params).items()})
    elif mode == "run":
        fit(model, x, y, folder, epochs=1000)
    elif mode == "resume":
        epoch = model.load_checkpoint(os.path.join(folder, "ckpt.npz"))
        out["resumed_from"] = np.array(epoch)
        history = fit(model, x, y, folder, epochs=EPOCHS, initial_epoch=epoch)
        whole, _, _ = problem()
        whole_history = fit(whole, x, y, os.path.join(folder, "ref"), epochs=EPOCHS)
        out["resumed_loss"] = np.array(history.history["loss"])
        out["whole_loss"] = np.array(whole_history.history["loss"][epoch:])
        out.update({f"resumed/{k}": v for k, v in flat(model.params).items()})
        out.update({f"whole/{k}": v for k, v in flat(whole.params).items()})
    np.savez(os.path.join(folder, "result.npz"), **out)


if __name__ == "__main__":
    os.makedirs(os.path.join(sys.argv[2], "ref"), exist_ok=True)
    main(sys.argv[1], sys.argv[2])
