"""The functional training layer: a train state, pure steps, and whole passes compiled as one program.

Write your own loop with these pieces, or let `model.fit` drive them.

Examples:
    >>> import jax, numpy as np
    >>> from funcnet import layers, losses, metrics, models, optimizers, training
    >>> model = models.Sequential([layers.Dense(3, activation="softmax", input_shape=(4,))])
    >>> optimizer = optimizers.rmsprop(1e-2)
    >>> state = training.TrainState.create(model.init(jax.random.key(0)), optimizer, rng=jax.random.key(0))
    >>> epoch = training.make_train_epoch(model.apply, losses.sparse_categorical_crossentropy, optimizer,
    ...                                   [metrics.get("accuracy", loss="sparse_categorical_crossentropy")],
    ...                                   batch_size=8)
    >>> x, y = np.ones((20, 4), np.float32), np.zeros(20, np.int32)
    >>> for e in range(3):
    ...     state, logs = epoch(state, x, y, e)
    >>> float(logs["accuracy"])
    1.0
"""
from funcnet.training.batches import batch_plan
from funcnet.training.passes import make_evaluate, make_predict, make_train_epoch
from funcnet.training.state import TrainState, shuffle_key, step_key
from funcnet.training.step import make_eval_step, make_train_step

__all__ = [
    "TrainState",
    "batch_plan",
    "make_eval_step",
    "make_evaluate",
    "make_predict",
    "make_train_epoch",
    "make_train_step",
    "shuffle_key",
    "step_key",
]
