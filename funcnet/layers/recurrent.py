"""Recurrent layers: SimpleRNN, LSTM and GRU over `[batch, steps, features]`, and Bidirectional.

Each is a `lax.scan` over time inside the compiled program, with Keras 3's arguments, weight names,
shapes and gate orders, so the same weights give Keras's outputs:

    SimpleRNN  h = tanh(x W + h U + b)                                   kernel [in, u]
    LSTM       [i, f, c~, o] = x W + h U + b                             kernel [in, 4u], bias [4u]
               c = sig(f) * c + sig(i) * tanh(c~);  h = sig(o) * tanh(c)
    GRU        [z, r, h~]: z = sig(x W_z + h U_z + b), r likewise,       kernel [in, 3u], bias [2, 3u]
               h~ = tanh(x W_h + r * (h U_h + b_rh));  h = z * h + (1 - z) * h~     (reset_after=True)

The input projection `x W + b` does not depend on the previous step, so it can be hoisted out of the
scan, one matmul over `[steps * batch, in]` before it. On accelerators it is. On a CPU it costs more than
it saves: the projected `[steps, batch, gates * units]` array and its gradient (four times the embedded
inputs' size for the book's LSTM) travel through memory several times, while inside the scan each step's
small matmul works on data in cache: a steady epoch of the book's LSTM on IMDB takes 23.0 s so, 30.6 s hoisted
(`benchmarks/lstm_imdb.py`, docs/perf-lstm.md). Both compute the same values, up to float rounding.

A mask (`Embedding(mask_zero=True)`, `Masking`) skips steps as Keras does: a masked step keeps the
previous state, and its output is the previous output (`zero_output_for_mask=True`: zeros). Dropout, on
the inputs (`dropout`) and on the state (`recurrent_dropout`), draws one mask per sequence, the same
for every step, from the `rng` key (`training=True`); with recurrent dropout each gate has its own, as
Keras's cells.
"""
from __future__ import annotations

import copy
import numbers
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from funcnet import activations as _activations
from funcnet import initializers as _initializers
from funcnet._checks import flag, format_shape, positive_int, resolved
from funcnet.layers._base import Layer
from funcnet.layers._matmul import matmul
from funcnet.layers.core import _as_array, _single_shape


def _rate(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{what} is the fraction of units dropped, in [0, 1); got {value!r}.")
    return float(value)


def _dropout_masks(key: jax.Array, count: int, shape: tuple, rate: float, dtype) -> jax.Array:
    """`count` inverted-dropout masks of `shape` (entries 0 or `1 / (1 - rate)`), stacked."""
    keep = jax.random.bernoulli(key, 1.0 - rate, (count, *shape))
    return keep.astype(dtype) / (1.0 - rate)



def _check_use_cudnn(value, what: str) -> None:
    """Keras's `use_cudnn` ("auto", True or False) is accepted and has no effect: the same loop runs everywhere."""
    if not (value == "auto" if isinstance(value, str) else isinstance(value, (bool, np.bool_))):
        raise ValueError(f"{what} must be 'auto', True or False; got {value!r:.60}.")

class _RNN(Layer):
    """The recurrent layers' shared loop; subclasses give the gates and the cell."""

    gates: int
    supports_masking = True
    _build_only = (*Layer._build_only, "recurrent_initializer")

    #: Where each step's `x W + b` is computed: "hoisted" (all steps in one matmul before the scan),
    #: "per_step" (inside the scan), or None: per step on a CPU, hoisted elsewhere (see the module doc).
    _input_projection: str | None = None

    def __init__(
        self,
        units: int,
        activation="tanh",
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        zero_output_for_mask: bool = False,
        name: str | None = None,
        input_shape: Sequence[int] | None = None,
    ):
        super().__init__(name=name, input_shape=input_shape)
        cls = type(self).__name__
        self.units = positive_int(units, f"{cls}(units=...)")
        self.activation = resolved(_activations.get, activation, self._arg("activation"))
        self.use_bias = flag(use_bias, self._arg("use_bias"))
        self.kernel_initializer = resolved(_initializers.get, kernel_initializer, self._arg("kernel_initializer"))
        self.recurrent_initializer = resolved(
            _initializers.get, recurrent_initializer, self._arg("recurrent_initializer"))
        self.bias_initializer = resolved(_initializers.get, bias_initializer, self._arg("bias_initializer"))
        self.dropout = _rate(dropout, f"{cls}(dropout=...)")
        self.recurrent_dropout = _rate(recurrent_dropout, f"{cls}(recurrent_dropout=...)")
        self.return_sequences = flag(return_sequences, self._arg("return_sequences"))
        self.return_state = flag(return_state, self._arg("return_state"))
        self.go_backwards = flag(go_backwards, self._arg("go_backwards"))
        if flag(stateful, self._arg("stateful")):
            raise ValueError(
                f"{cls}(stateful=True) is not supported: a funcnet model keeps no hidden state between calls. "
                "Pass the last states on yourself (return_state=True) or feed longer sequences."
            )
        self.unroll = flag(unroll, self._arg("unroll"))
        self.zero_output_for_mask = flag(zero_output_for_mask, self._arg("zero_output_for_mask"))

    @property
    def uses_rng(self) -> bool:  # type: ignore[override]
        return self.dropout > 0 or self.recurrent_dropout > 0

    def _config_overrides(self):
        return {"stateful": False}  # (`Layer.stateful` means something else here: non-trainable state)

    # ---------------------------------------------------------------- what the cells vary
    state_count = 1

    def bias_shape(self) -> tuple:
        return (self.gates * self.units,)

    def initial_bias(self, key) -> jax.Array:
        return self.bias_initializer(key, self.bias_shape(), jnp.float32)

    def input_bias(self, params):
        """The part of the bias added to the hoisted input projection (None: no bias)."""
        return params["bias"] if self.use_bias else None

    def cell(self, params, states: tuple, x_t: jax.Array, rec_masks) -> tuple[jax.Array, tuple]:
        """One step: `(output, new states)` from the states and the step's projected input `x W + b`."""
        raise NotImplementedError

    # ---------------------------------------------------------------- shapes and weights
    def _features(self, input_shape) -> int:
        shape = _single_shape(self, input_shape)
        if len(shape) != 3:
            raise ValueError(
                f"{self.describe()} takes 3-D inputs (batch, steps, features); got shape {format_shape(shape)}."
                + (" Embed ids first (layers.Embedding) or add a features axis: x[..., None]."
                   if len(shape) == 2 else "")
            )
        if shape[-1] is None:
            raise ValueError(f"{self.describe()} needs a known number of features; got shape {format_shape(shape)}.")
        return shape[-1]

    def compute_output_shape(self, input_shape):
        self._features(input_shape)
        batch, steps = input_shape[0], input_shape[1]
        out = (batch, steps, self.units) if self.return_sequences else (batch, self.units)
        if self.return_state:
            return [out, *[(batch, self.units)] * self.state_count]
        return out

    def compute_mask(self, x, mask):
        out = mask if self.return_sequences else None
        return [out, *[None] * self.state_count] if self.return_state else out

    def build(self, key, input_shape):
        features = self._features(input_shape)
        k_kernel, k_recurrent, k_bias = jax.random.split(key, 3)
        params = {
            "kernel": self.kernel_initializer(k_kernel, (features, self.gates * self.units), jnp.float32),
            "recurrent_kernel": self.recurrent_initializer(k_recurrent, (self.units, self.gates * self.units),
                                                           jnp.float32),
        }
        if self.use_bias:
            params["bias"] = self.initial_bias(k_bias)
        return params

    # ---------------------------------------------------------------- the loop
    def call_with_state(self, params, state, x, rng, training, sample_mask, mask=None):
        kernel = params["kernel"]
        x = _as_array(self, x).astype(kernel.dtype)
        features = self._features(x.shape)
        batch, steps = x.shape[0], x.shape[1]
        if kernel.shape != (features, self.gates * self.units):
            raise ValueError(
                f"{self.describe()} has a kernel of shape {kernel.shape}; inputs of shape {format_shape(x.shape)} need "
                f"({features}, {self.gates * self.units})."
            )
        if mask is not None:
            mask = jnp.asarray(mask)
            if mask.shape != (batch, steps):
                raise ValueError(f"{self.describe()}: the mask must have shape ({batch}, {steps}); got {mask.shape}.")
        in_masks, rec_masks = self._dropout(rng, training, batch, features, x.dtype)
        # Time first for the scan. The inputs are transposed, not their projection: on a CPU XLA's
        # transposes cost more than the loop itself, and the projection is gates * units wide.
        x_time = jnp.swapaxes(x, 0, 1)  # [steps, batch, features]
        where = self._input_projection or ("per_step" if jax.default_backend() == "cpu" else "hoisted")
        if where == "hoisted":
            xs = self._project(x_time, params, in_masks)  # [steps, batch, gates * units]
            project_step = lambda x_t: x_t  # noqa: E731
        else:
            xs = x_time
            project_step = lambda x_t: self._project(x_t, params, in_masks)  # noqa: E731
        ms = None if mask is None else jnp.swapaxes(mask, 0, 1)
        if self.go_backwards:
            xs = xs[::-1]
            ms = None if ms is None else ms[::-1]
        states = tuple(jnp.zeros((batch, self.units), x.dtype) for _ in range(self.state_count))

        def step(carry, inputs):
            states, _ = carry
            x_t, m_t = inputs
            output, new_states = self.cell(params, states, project_step(x_t), rec_masks)
            if m_t is not None:
                keep = m_t[:, None]
                previous = jnp.zeros_like(output) if self.zero_output_for_mask else states[0]
                output = jnp.where(keep, output, previous)
                new_states = tuple(jnp.where(keep, new, old) for new, old in zip(new_states, states))
            # Only a returned sequence is stacked; otherwise the last output rides in the carry.
            return (new_states, output), (output if self.return_sequences else None)

        (final, last), outputs = jax.lax.scan(step, (states, jnp.zeros((batch, self.units), x.dtype)), (xs, ms),
                                              unroll=steps if self.unroll else 1)
        # [batch, steps, units], in the order the steps were read
        y = jnp.swapaxes(outputs, 0, 1) if self.return_sequences else last
        return ([y, *final] if self.return_state else y), state

    def _dropout(self, rng, training: bool, batch: int, features: int, dtype):
        """(input masks, recurrent masks): stacked per gate (one for all gates without recurrent dropout, as
        Keras's fused cells), or None when not dropping."""
        if not training or not self.uses_rng:
            return None, None
        if rng is None:
            raise ValueError(
                f"{self.describe()} has dropout={self.dropout}, recurrent_dropout={self.recurrent_dropout}: "
                "training=True needs a PRNG key, e.g. model.apply(params, x, rng=jax.random.key(1), training=True)."
            )
        per_gate = self.gates if self.recurrent_dropout > 0 else 1
        k_in, k_rec = jax.random.split(rng)
        in_masks = _dropout_masks(k_in, per_gate, (batch, features), self.dropout, dtype) if self.dropout > 0 else None
        rec_masks = (_dropout_masks(k_rec, self.gates, (batch, self.units), self.recurrent_dropout, dtype)
                     if self.recurrent_dropout > 0 else None)
        return in_masks, rec_masks

    def _project(self, x, params, in_masks):
        """`x W + b` for `x` `[..., batch, features]` (every step at once, or one step), each gate with
        its input dropout mask (`in_masks` `[1 or gates, batch, features]`)."""
        kernel, bias = params["kernel"], self.input_bias(params)
        lead = (1,) * (x.ndim - 2)  # explicit broadcasting of the per-sequence masks over the steps
        if in_masks is None or in_masks.shape[0] == 1:
            x_in = x if in_masks is None else x * in_masks[0].reshape(lead + in_masks.shape[1:])
            projected = matmul(x_in, kernel)
        else:
            blocks = jnp.split(kernel, self.gates, axis=1)
            projected = jnp.concatenate(
                [matmul(x * m.reshape(lead + m.shape), k) for m, k in zip(in_masks, blocks)], axis=-1)
        if bias is not None:
            projected = projected + bias.reshape((1,) * (projected.ndim - 1) + (-1,))
        return projected

    def _recurrent(self, h, recurrent_kernel, rec_masks):
        """`h U`, each gate's block with its own recurrent dropout mask when there are masks."""
        if rec_masks is None:
            return h @ recurrent_kernel
        blocks = jnp.split(recurrent_kernel, self.gates, axis=1)
        return jnp.concatenate([(h * m) @ k for m, k in zip(rec_masks, blocks)], axis=-1)


class SimpleRNN(_RNN):
    """A fully connected recurrence: `h_t = activation(x_t W + h_{t-1} U + b)`, output `h_t`.

    Shapes: `x` `[batch, steps, features]`; params `kernel` `[features, units]`, `recurrent_kernel`
    `[units, units]`, `bias` `[units]`; output `[batch, units]` (the last step's), or `[batch, steps, units]`
    with `return_sequences`; with `return_state`, `[output, h]`.

    Args:
      units: the size of the state.
      activation: applied to each new state (default tanh).
      use_bias: add a learned bias.
      kernel_initializer: for `kernel` (glorot_uniform).
      recurrent_initializer: for `recurrent_kernel` (orthogonal).
      bias_initializer: for `bias` (zeros).
      dropout: fraction of the inputs dropped in training (one mask per sequence).
      recurrent_dropout: fraction of the state dropped in training (one mask per sequence).
      return_sequences: return every step's output, not only the last.
      return_state: also return the last state.
      go_backwards: read the sequence from its end (outputs in that order, as Keras).
      stateful: not supported (raises): funcnet models keep no hidden state between calls.
      unroll: unroll the loop (faster compiles of short sequences, slower of long ones).
      zero_output_for_mask: a masked step outputs zeros instead of the previous output.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> layer = SimpleRNN(4, return_sequences=True)
      >>> params = layer.init(jax.random.key(0), (7, 3))
      >>> layer.apply(params, jnp.ones((2, 7, 3))).shape
      (2, 7, 4)
    """

    gates = 1

    def cell(self, params, states, x_t, rec_masks):
        (h,) = states
        h = self.activation(x_t + self._recurrent(h, params["recurrent_kernel"], rec_masks))
        return h, (h,)


class LSTM(_RNN):
    """Long short-term memory: a state `h` and a carry `c` updated through input, forget and output gates.

        [i, f, c~, o] = x_t W + h_{t-1} U + b                 (Keras's gate order)
        c_t = sig(f) * c_{t-1} + sig(i) * tanh(c~)
        h_t = sig(o) * tanh(c_t)                              (sig: recurrent_activation, tanh: activation)

    Shapes: params `kernel` `[features, 4 * units]`, `recurrent_kernel` `[units, 4 * units]`, `bias`
    `[4 * units]` (the forget gate's part starts at 1 with `unit_forget_bias`); output `[batch, units]` or
    `[batch, steps, units]`; with `return_state`, `[output, h, c]`.

    Args:
      units: the size of the state and the carry.
      activation: of the candidate carry and of the output (tanh).
      recurrent_activation: of the gates (sigmoid).
      use_bias: add a learned bias.
      kernel_initializer: for `kernel` (glorot_uniform).
      recurrent_initializer: for `recurrent_kernel` (orthogonal).
      bias_initializer: for `bias` (zeros).
      unit_forget_bias: start the forget gate's bias at 1 (Jozefowicz et al., 2015).
      dropout: fraction of the inputs dropped in training.
      recurrent_dropout: fraction of the state dropped in training (a mask per gate, as Keras).
      return_sequences: return every step's output, not only the last.
      return_state: also return the last `h` and `c`.
      go_backwards: read the sequence from its end.
      stateful: not supported (raises).
      unroll: unroll the loop.
      use_cudnn: accepted for Keras's code; funcnet runs the same loop on every backend.
      zero_output_for_mask: a masked step outputs zeros instead of the previous output.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> layer = LSTM(32)
      >>> params = layer.init(jax.random.key(0), (500, 16))
      >>> jax.tree.map(jnp.shape, params)
      {'bias': (128,), 'kernel': (16, 128), 'recurrent_kernel': (32, 128)}
      >>> float(params["bias"][32:64].mean())                        # the forget gate's bias
      1.0
    """

    gates = 4
    state_count = 2

    def __init__(self, units: int, activation="tanh", recurrent_activation="sigmoid", use_bias: bool = True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias: bool = True, dropout: float = 0.0, recurrent_dropout: float = 0.0,
                 return_sequences: bool = False, return_state: bool = False, go_backwards: bool = False,
                 stateful: bool = False, unroll: bool = False, use_cudnn="auto", zero_output_for_mask: bool = False,
                 name: str | None = None, input_shape: Sequence[int] | None = None):
        super().__init__(units, activation, use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
                         dropout, recurrent_dropout, return_sequences, return_state, go_backwards, stateful, unroll,
                         zero_output_for_mask, name, input_shape)
        self.recurrent_activation = resolved(_activations.get, recurrent_activation, self._arg("recurrent_activation"))
        self.unit_forget_bias = flag(unit_forget_bias, self._arg("unit_forget_bias"))
        _check_use_cudnn(use_cudnn, self._arg("use_cudnn"))

    def initial_bias(self, key):
        bias = self.bias_initializer(key, self.bias_shape(), jnp.float32)
        if self.unit_forget_bias:
            bias = bias.at[self.units:2 * self.units].set(1.0)
        return bias

    def cell(self, params, states, x_t, rec_masks):
        h, c = states
        z = x_t + self._recurrent(h, params["recurrent_kernel"], rec_masks)
        i, f, candidate, o = jnp.split(z, 4, axis=-1)
        c = self.recurrent_activation(f) * c + self.recurrent_activation(i) * self.activation(candidate)
        h = self.recurrent_activation(o) * self.activation(c)
        return h, (h, c)


class GRU(_RNN):
    """Gated recurrent unit: update gate `z`, reset gate `r`, candidate `h~` (Keras's gate order z, r, h).

    With `reset_after=True` (Keras 3's default, cuDNN's formulation) the reset gate multiplies the
    recurrent projection, which has its own bias:

        [x_z, x_r, x_h] = x_t W + b_in;   [u_z, u_r, u_h] = h_{t-1} U + b_rec
        z = sig(x_z + u_z);  r = sig(x_r + u_r);  h~ = tanh(x_h + r * u_h);  h_t = z * h_{t-1} + (1 - z) * h~

    With `reset_after=False`: one bias, and `h~ = tanh(x_h + (r * h_{t-1}) U_h)`.

    Shapes: params `kernel` `[features, 3 * units]`, `recurrent_kernel` `[units, 3 * units]`, `bias`
    `[2, 3 * units]` (input and recurrent biases; `[3 * units]` with `reset_after=False`); output as
    `SimpleRNN`'s; with `return_state`, `[output, h]`.

    Args:
      units: the size of the state.
      activation: of the candidate (tanh).
      recurrent_activation: of the gates (sigmoid).
      use_bias: add learned biases.
      kernel_initializer: for `kernel` (glorot_uniform).
      recurrent_initializer: for `recurrent_kernel` (orthogonal).
      bias_initializer: for `bias` (zeros).
      dropout: fraction of the inputs dropped in training.
      recurrent_dropout: fraction of the state dropped in training (a mask per gate, as Keras).
      return_sequences: return every step's output, not only the last.
      return_state: also return the last state.
      go_backwards: read the sequence from its end.
      stateful: not supported (raises).
      unroll: unroll the loop.
      reset_after: apply the reset gate after the recurrent projection (see above).
      use_cudnn: accepted for Keras's code; funcnet runs the same loop on every backend.
      zero_output_for_mask: a masked step outputs zeros instead of the previous output.
    """

    gates = 3

    def __init__(self, units: int, activation="tanh", recurrent_activation="sigmoid", use_bias: bool = True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 dropout: float = 0.0, recurrent_dropout: float = 0.0, return_sequences: bool = False,
                 return_state: bool = False, go_backwards: bool = False, stateful: bool = False, unroll: bool = False,
                 reset_after: bool = True, use_cudnn="auto", zero_output_for_mask: bool = False,
                 name: str | None = None, input_shape: Sequence[int] | None = None):
        super().__init__(units, activation, use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
                         dropout, recurrent_dropout, return_sequences, return_state, go_backwards, stateful, unroll,
                         zero_output_for_mask, name, input_shape)
        self.recurrent_activation = resolved(_activations.get, recurrent_activation, self._arg("recurrent_activation"))
        self.reset_after = flag(reset_after, self._arg("reset_after"))
        _check_use_cudnn(use_cudnn, self._arg("use_cudnn"))

    def bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def input_bias(self, params):
        if not self.use_bias:
            return None
        return params["bias"][0] if self.reset_after else params["bias"]

    def cell(self, params, states, x_t, rec_masks):
        (h,) = states
        u, kernel = self.units, params["recurrent_kernel"]
        x_z, x_r, x_h = jnp.split(x_t, 3, axis=-1)
        if self.reset_after:
            inner = self._recurrent(h, kernel, rec_masks)
            if self.use_bias:
                inner = inner + params["bias"][1][None, :]
            u_z, u_r, u_h = jnp.split(inner, 3, axis=-1)
            z = self.recurrent_activation(x_z + u_z)
            r = self.recurrent_activation(x_r + u_r)
            candidate = self.activation(x_h + r * u_h)
        else:
            if rec_masks is None:
                inner = h @ kernel[:, :2 * u]
                h_h = h
            else:
                inner = jnp.concatenate([(h * rec_masks[0]) @ kernel[:, :u], (h * rec_masks[1]) @ kernel[:, u:2 * u]],
                                        axis=-1)
                h_h = h * rec_masks[2]
            u_z, u_r = jnp.split(inner, 2, axis=-1)
            z = self.recurrent_activation(x_z + u_z)
            r = self.recurrent_activation(x_r + u_r)
            candidate = self.activation(x_h + (r * h_h) @ kernel[:, 2 * u:])
        h = z * h + (1.0 - z) * candidate
        return h, (h,)


_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


class Bidirectional(Layer):
    """Runs a recurrent layer forwards and a copy of it backwards over the sequence, and merges the two.

    Params: `{"forward": <the layer's>, "backward": <the copy's>}`. With `return_sequences` the backward
    outputs are flipped back into time order before merging, and masked steps output zeros (as Keras).
    `merge_mode`: "concat" (features side by side, `[..., 2 * units]`), "sum", "mul", "ave", or None (a
    list of the two outputs). With the layer's `return_state`, `[output, *forward states, *backward states]`.

    Args:
      layer: a `SimpleRNN`, `LSTM` or `GRU`.
      merge_mode: see above.
      backward_layer: the backward layer, if not a copy of `layer` with `go_backwards` flipped; it must
        have `layer`'s `return_sequences` and `return_state`, and read the other way.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> layer = Bidirectional(LSTM(8, return_sequences=True))
      >>> params = layer.init(jax.random.key(0), (5, 3))
      >>> sorted(params), layer.apply(params, jnp.ones((2, 5, 3))).shape
      (['backward', 'forward'], (2, 5, 16))
    """

    supports_masking = True

    def __init__(self, layer, merge_mode: str | None = "concat", backward_layer=None, name: str | None = None,
                 input_shape: Sequence[int] | None = None):
        super().__init__(name=name, input_shape=input_shape)
        if not isinstance(layer, _RNN):
            raise TypeError(f"Bidirectional(layer=...) takes a SimpleRNN, LSTM or GRU; got {layer!r}.")
        if merge_mode not in _MERGE_MODES:
            raise ValueError(f"Bidirectional(merge_mode=...) must be one of {list(_MERGE_MODES)}; got {merge_mode!r}.")
        if backward_layer is None:
            backward_layer = copy.copy(layer)
            backward_layer.go_backwards = not layer.go_backwards
        elif not isinstance(backward_layer, _RNN):
            raise TypeError("Bidirectional(backward_layer=...) takes a SimpleRNN, LSTM or GRU; "
                            f"got {backward_layer!r}.")
        elif backward_layer.go_backwards == layer.go_backwards:
            raise ValueError("Bidirectional: backward_layer must read the sequence the other way (go_backwards).")
        for attr in ("return_sequences", "return_state"):
            if getattr(backward_layer, attr) != getattr(layer, attr):
                raise ValueError(f"Bidirectional: layer and backward_layer must agree on {attr}.")
        # As Keras: returned sequences show zeros at masked steps, so the two directions' outputs at a
        # padded step merge to zero (not to the states each carried over).
        self.forward_layer, self.backward_layer = copy.copy(layer), copy.copy(backward_layer)
        for inner in (self.forward_layer, self.backward_layer):
            inner.zero_output_for_mask = inner.return_sequences
        self.merge_mode = merge_mode

    @property
    def uses_rng(self) -> bool:  # type: ignore[override]
        return self.forward_layer.uses_rng or self.backward_layer.uses_rng

    def _config_overrides(self):
        from funcnet.layers._config import serialize_layer

        return {"layer": serialize_layer(self.forward_layer), "backward_layer": serialize_layer(self.backward_layer)}

    @classmethod
    def from_config(cls, config: dict) -> Bidirectional:
        from funcnet.layers._config import deserialize_layer, layer_kwargs

        kwargs = layer_kwargs(cls, config, "Bidirectional.from_config")
        kwargs["layer"] = deserialize_layer(kwargs["layer"], what="Bidirectional.from_config: layer")
        if kwargs.get("backward_layer") is not None:
            kwargs["backward_layer"] = deserialize_layer(kwargs["backward_layer"],
                                                         what="Bidirectional.from_config: backward_layer")
        return cls(**kwargs)

    def structure_key(self):
        forward, backward = self.forward_layer.structure_key(), self.backward_layer.structure_key()
        if forward is None or backward is None:
            return None
        return (Bidirectional, forward, backward, self.merge_mode)

    def _merged_shape(self, shape: tuple):
        if self.merge_mode == "concat":
            return (*shape[:-1], 2 * shape[-1])
        return shape

    def compute_output_shape(self, input_shape):
        forward = self.forward_layer.compute_output_shape(input_shape)
        backward = self.backward_layer.compute_output_shape(input_shape)
        out_f = forward[0] if isinstance(forward, list) else forward
        out_b = backward[0] if isinstance(backward, list) else backward
        outputs = [out_f, out_b] if self.merge_mode is None else [self._merged_shape(out_f)]
        if self.forward_layer.return_state:
            return [*outputs, *forward[1:], *backward[1:]]
        return outputs if self.merge_mode is None else outputs[0]

    def compute_mask(self, x, mask):
        out = mask if self.forward_layer.return_sequences else None
        outputs = [out, out] if self.merge_mode is None else [out]
        if self.forward_layer.return_state:
            return [*outputs, *[None] * (2 * self.forward_layer.state_count)]
        return outputs if self.merge_mode is None else outputs[0]

    def build(self, key, input_shape):
        k_forward, k_backward = jax.random.split(key)
        return {"forward": self.forward_layer.build(k_forward, input_shape),
                "backward": self.backward_layer.build(k_backward, input_shape)}

    def call_with_state(self, params, state, x, rng, training, sample_mask, mask=None):
        k_forward = k_backward = None
        if rng is not None:
            k_forward, k_backward = jax.random.split(rng)
        forward = self.forward_layer.apply(params["forward"], x, rng=k_forward, training=training, mask=mask)
        backward = self.backward_layer.apply(params["backward"], x, rng=k_backward, training=training, mask=mask)
        states = []
        if self.forward_layer.return_state:
            states = [*forward[1:], *backward[1:]]
            forward, backward = forward[0], backward[0]
        if self.forward_layer.return_sequences:
            backward = backward[:, ::-1]
        if self.merge_mode is None:
            outputs = [forward, backward]
        elif self.merge_mode == "concat":
            outputs = [jnp.concatenate([forward, backward], axis=-1)]
        elif self.merge_mode == "sum":
            outputs = [forward + backward]
        elif self.merge_mode == "mul":
            outputs = [forward * backward]
        else:
            outputs = [(forward + backward) / 2]
        if states:
            return [*outputs, *states], state
        return (outputs if self.merge_mode is None else outputs[0]), state
