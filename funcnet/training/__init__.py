"""The functional training layer: a train state, pure steps, and whole epochs compiled as one program.

Write your own loop with these pieces, or let `model.fit` drive them::

    state = training.TrainState.create(model.init(key), optimizer, rng=jax.random.key(0))
    epoch = training.make_train_epoch(model.apply, losses.categorical_crossentropy, optimizer,
                                      [metrics.get("accuracy")], batch_size=128)
    for e in range(5):
        state, logs = epoch(state, x_train, y_train, e)
"""
from funcnet.training.loop import batch_plan, make_evaluate, make_predict, make_train_epoch
from funcnet.training.state import TrainState
from funcnet.training.step import make_eval_step, make_train_step

__all__ = [
    "TrainState",
    "batch_plan",
    "make_eval_step",
    "make_evaluate",
    "make_predict",
    "make_train_epoch",
    "make_train_step",
]
