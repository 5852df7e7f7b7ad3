"""Passes over many members at once: the training epoch, evaluation and prediction of `K` models of one
structure, side by side in one compiled program (`models.fit_many`).

Each member is a whole run: its own `TrainState` (params, optimizer state, step, key, model state), its
own optimizer hyper-parameters (`hyper`: data, not constants, so one program serves a learning-rate
grid) and, for K-fold validation, its own samples (`index`: the rows of the shared data set it trains on,
so the data are never copied per member). Everything a member does is the single-model pass of
`funcnet.training.passes`, vmapped over a leading member axis: member k draws its order and dropout
keys from its own key exactly as `fit(seed=...)` does, so it trains as that `fit` would, up to the
rounding of batched arithmetic.

The batch source is `funcnet.training.batches.DeviceBatches`, unchanged: the member axis stands where a
single pass has its batch axis (`idx` is `[steps, members, width]`), so a `DataParallel` placement splits
the members across its devices, each device training whole members with no communication.

Members that are done (`active` False: an `EarlyStopping` that fired) keep their state: the pass
still computes them (a vmapped program has one shape) and `finish` puts their old state back.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp

from funcnet import mixed_precision
from funcnet.distribution import SingleDevice
from funcnet.training.batches import Batch, Pass, Progress, make_source, num_samples
from funcnet.training.passes import evaluate_pass, predict_pass, train_pass
from funcnet.training.step import forward_fn, make_eval_step, make_train_step

OptimizerFor = Callable[[object], object]  # member's hyper-parameters -> optax.GradientTransformation


class MemberStart(NamedTuple):
    """What a training epoch of many members starts from; every leaf has a leading member axis.

    Attributes:
      states: the members' `TrainState`s, stacked.
      hyper: each member's optimizer hyper-parameters (a pytree of `[members]` arrays; `()` when the
        members share one optimizer).
      active: `[members]` bool; an inactive member's state is left as it is.
      rows: `[members, n_k]` int32, the rows of the shared data each member trains on (its fold), or
        None when every member trains on all of them.
    """

    states: object
    hyper: object
    active: jax.Array
    rows: jax.Array | None = None


# Inside a member nothing is laid out: the member axis is what a placement splits.
_WITHIN_MEMBER = SingleDevice()


def _member_rows(idx, weight, index):
    """A per-member plan `[members, steps, width]` as global rows `[steps, members, width]`."""
    if index is not None:
        idx = jax.vmap(lambda rows, plan: rows[plan])(index, idx)
    return jnp.swapaxes(idx, 0, 1), jnp.swapaxes(weight, 0, 1)


def _shared_rows(idx, weight, members: int, index):
    """One plan `[steps, width]` for every member, as `[steps, members, width]` rows of the shared data."""
    idx = jnp.broadcast_to(idx, (members, *idx.shape))
    weight = jnp.broadcast_to(weight, (members, *weight.shape))
    return _member_rows(idx, weight, index)


def make_train_epoch_many(apply_fn, loss_fn, optimizer_for: OptimizerFor, metrics: Sequence = (), *, batch_size: int,
                          shuffle: bool = True, progress: Progress | None = None, stop_on_nan: bool = False,
                          policy=None, distribution=None, with_state: bool = False, one_at_a_time: bool = False):
    """Builds `epoch(start, x, y, epoch) -> (states, logs)`: one training epoch of every member.

    Args:
      apply_fn, loss_fn, metrics, batch_size, shuffle, stop_on_nan, policy, with_state: as
        `passes.make_train_epoch`, for each member.
      optimizer_for: `hyper -> optax.GradientTransformation`, called inside the program with one member's
        hyper-parameters (traced): the members' optimizers differ only in data.
      progress: a host function called about 50 times an epoch with (batches done, the members' mean loss).
      distribution: a `distribution.DataParallel` splits the members across its devices (their count a
        multiple of the device count); None: one device.
      one_at_a_time: run the members' epochs one after another inside the program (a `lax.scan` over
        members, each epoch the pass over a member axis of one) instead of every step of all members at
        once. For compute-bound steps on a CPU: XLA's batched matrix products there run slower than
        the same products one by one (9.3 against 7.9 ms for 8 of the MNIST network's first layer).

    `start` is a `MemberStart`; `x`, `y` the shared data `[n, ...]` on the device (`put_data`). `logs`
    maps `loss`, each metric and `halted` to `[members]` arrays. Member k's batches, keys and arithmetic
    are those of `make_train_epoch` on its own samples with its own state.
    """
    metrics = tuple(metrics)
    source = make_source(distribution)

    def member_pass(hyper) -> Pass:
        step = make_train_step(apply_fn, loss_fn, optimizer_for(hyper), metrics, policy=policy, with_state=with_state)
        return train_pass(step, metrics, batch_size=batch_size, shuffle=shuffle, stop_on_nan=stop_on_nan,
                          placement=_WITHIN_MEMBER)

    plan = _plan_only(metrics, batch_size, shuffle)

    def prepare(start: MemberStart, n: int, epoch_index):
        members_n = n if start.rows is None else start.rows.shape[1]
        idx, weight, dropout_keys, carry = jax.vmap(lambda s: plan.prepare(s, members_n, epoch_index))(start.states)
        idx, weight = _member_rows(idx, weight, start.rows)
        return idx, weight, (start, dropout_keys), carry

    def body(context, carry, batch: Batch):
        start, dropout_keys = context

        def member(hyper, key, carry, x, y, weight):
            return member_pass(hyper).body(key, carry, Batch(x, y, weight, batch.step))

        carry = jax.vmap(member)(start.hyper, dropout_keys, carry, batch.x, batch.y, batch.weight)
        states = carry[0]
        states = states._replace(params=source.placement.constrain_batch(states.params),
                                 opt_state=source.placement.constrain_batch(states.opt_state),
                                 model_state=source.placement.constrain_batch(states.model_state))
        return (states, *carry[1:])

    def finish(context, carry, n):
        start, dropout_keys = context
        states, logs = jax.vmap(lambda key, c: plan.finish(key, c, n))(dropout_keys, carry)

        def keep(new, old):
            return jnp.where(start.active.reshape((-1,) + (1,) * (new.ndim - 1)), new, old)

        old = start.states
        states = states._replace(params=jax.tree.map(keep, states.params, old.params),
                                 opt_state=jax.tree.map(keep, states.opt_state, old.opt_state),
                                 step=keep(states.step, old.step),
                                 model_state=jax.tree.map(keep, states.model_state, old.model_state))
        return states, logs

    def report(carry):
        return jnp.mean(carry[2] / jnp.maximum(carry[3], 1.0))

    if not one_at_a_time:
        return source.compile(Pass(prepare, body, finish, report), progress)
    # Each member's pass reports from 0 to `steps`; the bar hears the members' passes as one.
    relay = _Relay(progress) if progress else None
    run = source.compile(Pass(prepare, body, finish, report), relay)


    @jax.jit
    def run_all(start: MemberStart, x, y, epoch_index):
        one = lambda tree: jax.tree.map(lambda leaf: leaf[:, None], tree)  # noqa: E731  [K, ...] -> [K, 1, ...]

        def member(_, start_k):
            states, logs = run(start_k, x, y, epoch_index)
            return None, (states, logs)

        _, (states, logs) = jax.lax.scan(member, None, one(start))
        return jax.tree.map(lambda leaf: leaf[:, 0], (states, logs))

    def epoch(start: MemberStart, x, y, epoch_index):
        if relay is not None:
            relay.reset()
        return run_all(start, x, y, epoch_index)

    return epoch


class _Relay:
    """Passes a member's progress reports on as the whole epoch's: (members done x steps + done, loss)."""

    def __init__(self, progress: Progress):
        self.progress, self.offset, self.last = progress, 0, 0

    def __call__(self, done, loss) -> None:
        done = int(done)
        if done < self.last:  # the next member's pass began
            self.offset += self.last
        self.last = done
        self.progress(self.offset + done, loss)

    def reset(self) -> None:
        self.offset = self.last = 0


def _plan_only(metrics, batch_size: int, shuffle: bool) -> Pass:
    """The training pass whose plan, first carry and logs every member shares (its step is never run:
    each member's step is built from its own hyper-parameters, in `body`)."""
    return train_pass(None, metrics, batch_size=batch_size, shuffle=shuffle, stop_on_nan=False,
                      placement=_WITHIN_MEMBER)


def make_evaluate_many(apply_fn, loss_fn, metrics: Sequence = (), *, batch_size: int, policy=None, distribution=None,
                       with_state: bool = False):
    """Builds `evaluate(params, model_state, x, y, index=None) -> logs`: every member evaluated.

    `params` and `model_state` are member-stacked; `index` (`[members, m]`) the rows of the shared data
    each member is evaluated on (its validation fold), or None for all of them. `logs` maps `loss` and
    each metric to `[members]` arrays, each equal to `passes.make_evaluate`'s for that member.
    """
    metrics = tuple(metrics)
    eval_step = make_eval_step(apply_fn, loss_fn, metrics, policy=policy, with_state=with_state)
    single = evaluate_pass(eval_step, metrics, batch_size=batch_size, width=batch_size)
    source = make_source(distribution)

    def prepare(start, n: int):
        params, model_state, index = start
        members = jax.tree.leaves(params)[0].shape[0]
        count = n if index is None else index.shape[1]
        idx, weight, _, carry = single.prepare(None, count)
        idx, weight = _shared_rows(idx, weight, members, index)
        carry = jax.tree.map(lambda leaf: jnp.broadcast_to(leaf, (members, *jnp.shape(leaf))), carry)
        return idx, weight, (params, model_state, count), carry

    def body(context, carry, batch: Batch):
        params, model_state, _ = context

        def member(p, s, carry, x, y, weight):
            return single.body((p, s), carry, Batch(x, y, weight, batch.step))

        return jax.vmap(member)(params, model_state, carry, batch.x, batch.y, batch.weight)

    def finish(context, carry, n):
        params, model_state, count = context
        return jax.vmap(lambda p, s, c: single.finish((p, s), c, count))(params, model_state, carry)

    run = source.compile(Pass(prepare, body, finish))

    def evaluate(params, model_state, x, y, index=None):
        return run((params, model_state, index), x, y)

    return evaluate


def make_predict_many(apply_fn, *, batch_size: int, policy=None, distribution=None, with_state: bool = False):
    """Builds `predict(params, model_state, x) -> y_pred [members, n, ...]`: every member's outputs for `x`."""
    forward = forward_fn(apply_fn, mixed_precision.get(policy), with_state)
    single = predict_pass(forward, batch_size=batch_size, width=batch_size)
    source = make_source(distribution)

    def prepare(start, n: int):
        params, model_state = start
        members = jax.tree.leaves(params)[0].shape[0]
        idx, weight, _, _ = single.prepare(None, n)
        idx, weight = _shared_rows(idx, weight, members, None)
        return idx, weight, (params, model_state), ()

    def body(context, carry, batch: Batch):
        params, model_state = context

        def member(p, s, x, weight):
            return single.body((p, s), (), Batch(x, None, weight, batch.step))[1]

        return carry, jax.vmap(member)(params, model_state, batch.x, batch.weight)

    run = source.compile(Pass(prepare, body, lambda context, carry, n: None, collects=True))

    def predict(params, model_state, x):
        n = num_samples(x)
        _, outputs = run((params, model_state), x, None)
        # [steps, members, batch, ...] -> [members, n, ...]
        return jax.tree.map(lambda o: jnp.swapaxes(o, 0, 1).reshape((o.shape[1], -1, *o.shape[3:]))[:, :n], outputs)

    return predict
