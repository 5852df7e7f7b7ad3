"""funcnet.layers.recurrent: SimpleRNN, LSTM, GRU and Bidirectional against Keras 3 (numpy backend)."""
import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from jax.test_util import check_grads

from funcnet import layers

TOL = dict(rtol=2e-5, atol=2e-6)
STEPS, FEATURES, UNITS = 7, 5, 4


def _x(shape=(3, STEPS, FEATURES), seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _random_params(params, seed=1):
    """Random weights of the layer's shapes (initial ones would hide a wrong gate order: zero biases)."""
    rs = np.random.default_rng(seed)
    return jax.tree.map(lambda v: (0.5 * rs.normal(size=v.shape)).astype(np.float32), params)


def _weights(params) -> list:
    """Keras's weight order for a recurrent layer."""
    return [np.asarray(params[k]) for k in ("kernel", "recurrent_kernel", "bias") if k in params]


def _padding_mask(batch=3, steps=STEPS):
    """Rows: all real, post-padded (last 3 steps masked), pre-padded (first 2 masked)."""
    mask = np.ones((batch, steps), bool)
    mask[1 % batch, steps - 3:] = False
    mask[2 % batch, :2] = False
    return mask


def _assert_same(ours, want):
    if isinstance(want, (list, tuple)):
        assert isinstance(ours, list) and len(ours) == len(want)
        for a, b in zip(ours, want):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), **TOL)
    else:
        np.testing.assert_allclose(np.asarray(ours), np.asarray(want), **TOL)


CASES = [
    ("SimpleRNN", {}),
    ("SimpleRNN", {"activation": "relu", "return_sequences": True}),
    ("SimpleRNN", {"use_bias": False, "go_backwards": True}),
    ("LSTM", {}),
    ("LSTM", {"return_sequences": True, "go_backwards": True}),
    ("LSTM", {"return_state": True}),
    ("LSTM", {"return_sequences": True, "return_state": True, "use_bias": False}),
    ("LSTM", {"recurrent_activation": "hard_sigmoid", "activation": "relu"}),
    ("GRU", {}),
    ("GRU", {"reset_after": False}),
    ("GRU", {"reset_after": False, "return_sequences": True, "go_backwards": True}),
    ("GRU", {"return_sequences": True, "return_state": True}),
    ("GRU", {"use_bias": False}),
]


@pytest.mark.parametrize("cls,kwargs", CASES, ids=[f"{c}-{k}" for c, k in CASES])
@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
def test_equals_keras(cls, kwargs, masked):
    ours = getattr(layers, cls)(UNITS, **kwargs)
    params = _random_params(ours.init(jax.random.key(0), (STEPS, FEATURES)))
    ref = getattr(keras.layers, cls)(UNITS, **kwargs)
    ref.build((None, STEPS, FEATURES))
    assert [tuple(w.shape) for w in ref.weights] == [w.shape for w in _weights(params)]
    ref.set_weights(_weights(params))
    x = _x()
    mask = _padding_mask() if masked else None
    want = ref(x, mask=mask)
    _assert_same(ours.apply(params, x, mask=mask), want)
    expected_shape = ours.compute_output_shape((None, STEPS, FEATURES))
    got_shapes = [tuple(s) for s in expected_shape] if isinstance(expected_shape, list) else [tuple(expected_shape)]
    want_shapes = [(None, *np.shape(w)[1:]) for w in (want if isinstance(want, (list, tuple)) else [want])]
    assert got_shapes == want_shapes


def test_default_weights_have_keras_shapes_and_forget_bias():
    lstm = layers.LSTM(32).init(jax.random.key(0), (500, 16))
    assert jax.tree.map(jnp.shape, lstm) == {"kernel": (16, 128), "recurrent_kernel": (32, 128), "bias": (128,)}
    np.testing.assert_array_equal(lstm["bias"][32:64], 1.0)
    np.testing.assert_array_equal(np.delete(np.asarray(lstm["bias"]), np.s_[32:64]), 0.0)
    # the recurrent kernel starts orthogonal, as Keras's
    u = np.asarray(layers.SimpleRNN(6).init(jax.random.key(1), (3, 2))["recurrent_kernel"])
    np.testing.assert_allclose(u @ u.T, np.eye(6), atol=1e-5)
    gru = layers.GRU(8).init(jax.random.key(0), (4, 3))
    assert gru["bias"].shape == (2, 24)
    assert layers.GRU(8, reset_after=False).init(jax.random.key(0), (4, 3))["bias"].shape == (24,)
    assert "bias" not in layers.LSTM(3, unit_forget_bias=False, use_bias=False).init(jax.random.key(0), (4, 3))


def test_zero_output_for_mask():
    ours = layers.LSTM(UNITS, return_sequences=True, zero_output_for_mask=True)
    params = _random_params(ours.init(jax.random.key(0), (STEPS, FEATURES)))
    ref = keras.layers.LSTM(UNITS, return_sequences=True, zero_output_for_mask=True)
    ref.build((None, STEPS, FEATURES))
    ref.set_weights(_weights(params))
    mask = _padding_mask()
    y = ours.apply(params, _x(), mask=mask)
    _assert_same(y, ref(_x(), mask=mask))
    np.testing.assert_array_equal(np.asarray(y)[~mask], 0.0)


def test_masked_steps_carry_the_state():
    """A pre-padded sequence gives the same last output as the unpadded one; post-padding likewise."""
    layer = layers.GRU(UNITS)
    params = _random_params(layer.init(jax.random.key(0), (None, FEATURES)))
    seq = _x((1, 4, FEATURES))
    pad = np.zeros((1, 3, FEATURES), np.float32) + 9.0  # padding values that would change the state
    plain = layer.apply(params, seq)
    pre = layer.apply(params, np.concatenate([pad, seq], 1), mask=np.array([[0, 0, 0, 1, 1, 1, 1]], bool))
    post = layer.apply(params, np.concatenate([seq, pad], 1), mask=np.array([[1, 1, 1, 1, 0, 0, 0]], bool))
    np.testing.assert_allclose(pre, plain, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(post, plain, rtol=1e-6, atol=1e-6)


BIDI_MODES = ["concat", "sum", "mul", "ave", None]


@pytest.mark.parametrize("merge_mode", BIDI_MODES)
@pytest.mark.parametrize("inner", [("LSTM", {"return_sequences": True}), ("GRU", {}),
                                   ("SimpleRNN", {"return_state": True})], ids=["lstm-seq", "gru", "rnn-state"])
def test_bidirectional_equals_keras(merge_mode, inner):
    cls, kwargs = inner
    ours = layers.Bidirectional(getattr(layers, cls)(UNITS, **kwargs), merge_mode=merge_mode)
    params = _random_params(ours.init(jax.random.key(0), (STEPS, FEATURES)))
    assert sorted(params) == ["backward", "forward"]
    ref = keras.layers.Bidirectional(getattr(keras.layers, cls)(UNITS, **kwargs), merge_mode=merge_mode)
    ref.build((None, STEPS, FEATURES))
    ref.set_weights(_weights(params["forward"]) + _weights(params["backward"]))
    x, mask = _x(), _padding_mask()
    _assert_same(ours.apply(params, x), ref(x))
    _assert_same(ours.apply(params, x, mask=mask), ref(x, mask=mask))
    shape = ours.compute_output_shape((None, STEPS, FEATURES))
    want = ref.compute_output_shape((None, STEPS, FEATURES))
    if isinstance(shape, list):
        assert [tuple(s) for s in shape] == [tuple(s) for s in want]
    else:
        assert tuple(shape) == tuple(want)


def test_bidirectional_arguments():
    with pytest.raises(TypeError, match="SimpleRNN, LSTM or GRU"):
        layers.Bidirectional(layers.Dense(3))
    with pytest.raises(ValueError, match="merge_mode"):
        layers.Bidirectional(layers.LSTM(3), merge_mode="max")
    with pytest.raises(ValueError, match="other way"):
        layers.Bidirectional(layers.LSTM(3), backward_layer=layers.LSTM(3))
    with pytest.raises(ValueError, match="return_sequences"):
        layers.Bidirectional(layers.LSTM(3), backward_layer=layers.LSTM(3, go_backwards=True, return_sequences=True))
    # an explicit backward layer of another kind
    ours = layers.Bidirectional(layers.LSTM(UNITS), backward_layer=layers.GRU(UNITS, go_backwards=True))
    params = _random_params(ours.init(jax.random.key(0), (STEPS, FEATURES)))
    ref = keras.layers.Bidirectional(keras.layers.LSTM(UNITS), backward_layer=keras.layers.GRU(UNITS, go_backwards=True))
    ref.build((None, STEPS, FEATURES))
    ref.set_weights(_weights(params["forward"]) + _weights(params["backward"]))
    _assert_same(ours.apply(params, _x()), ref(_x()))


@pytest.mark.parametrize("cls,kwargs", [("SimpleRNN", {}), ("LSTM", {"return_sequences": True}),
                                        ("GRU", {}), ("GRU", {"reset_after": False})])
def test_gradients(cls, kwargs):
    layer = getattr(layers, cls)(3, **kwargs)
    params = _random_params(layer.init(jax.random.key(0), (5, 2)))
    x = jnp.asarray(_x((2, 5, 2)))
    mask = jnp.asarray(_padding_mask(2, 5))
    check_grads(lambda p, x: layer.apply(p, x, mask=mask), (params, x), order=1, modes=["rev"], atol=1e-2, rtol=1e-2)


def test_dropout_draws_one_mask_per_sequence():
    """Input dropout multiplies every step of a sequence by the same mask (Keras's cells), scaled by
    1/(1-rate); without training or a rate, outputs are the deterministic ones."""
    layer = layers.SimpleRNN(FEATURES, activation="linear", use_bias=False, dropout=0.5, return_sequences=True)
    params = {"kernel": jnp.eye(FEATURES), "recurrent_kernel": jnp.zeros((FEATURES, FEATURES))}
    x = jnp.ones((64, STEPS, FEATURES))
    y = np.asarray(layer.apply(params, x, rng=jax.random.key(3), training=True))
    assert set(np.unique(y)) <= {0.0, 2.0}
    np.testing.assert_array_equal(y, np.broadcast_to(y[:, :1], y.shape))  # the same mask at every step
    assert 0.35 < (y == 0).mean() < 0.65
    np.testing.assert_array_equal(layer.apply(params, x, training=False), x)
    again = layer.apply(params, x, rng=jax.random.key(3), training=True)
    np.testing.assert_array_equal(again, y)
    assert not np.array_equal(layer.apply(params, x, rng=jax.random.key(4), training=True), y)


def test_recurrent_dropout_gives_each_gate_its_own_mask():
    layer = layers.LSTM(UNITS, recurrent_dropout=0.5, dropout=0.2)
    params = _random_params(layer.init(jax.random.key(0), (STEPS, FEATURES)))
    x = _x()
    deterministic = layer.apply(params, x)
    dropped = layer.apply(params, x, rng=jax.random.key(1), training=True)
    assert not np.allclose(dropped, deterministic)
    in_masks, rec_masks = layer._dropout(jax.random.key(1), True, 3, FEATURES, jnp.float32)
    assert in_masks.shape == (4, 3, FEATURES) and rec_masks.shape == (4, 3, UNITS)
    assert not np.array_equal(rec_masks[0], rec_masks[1])
    with pytest.raises(ValueError, match="PRNG key"):
        layer.apply(params, x, training=True)


def test_grad_under_jit_and_vmap():
    layer = layers.LSTM(UNITS)
    params = layer.init(jax.random.key(0), (STEPS, FEATURES))
    x = jnp.asarray(_x())
    loss = lambda p, x: jnp.sum(layer.apply(p, x) ** 2)
    grads = jax.jit(jax.grad(loss))(params, x)
    assert jax.tree.map(jnp.shape, grads) == jax.tree.map(jnp.shape, params)
    per_sample = jax.vmap(lambda xi: layer.apply(params, xi[None])[0])(x)
    np.testing.assert_allclose(per_sample, layer.apply(params, x), rtol=1e-5, atol=1e-6)


def test_unroll_gives_the_same_outputs():
    rolled, unrolled = layers.GRU(UNITS, return_sequences=True), layers.GRU(UNITS, return_sequences=True, unroll=True)
    params = _random_params(rolled.init(jax.random.key(0), (STEPS, FEATURES)))
    np.testing.assert_allclose(unrolled.apply(params, _x()), rolled.apply(params, _x()), rtol=1e-6, atol=1e-6)


def test_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match=r"LSTM\(units=...\)"):
        layers.LSTM(0)
    with pytest.raises(ValueError, match="dropout"):
        layers.GRU(3, dropout=1.0)
    with pytest.raises(ValueError, match=r"stateful=True\) is not supported"):
        layers.SimpleRNN(3, stateful=True)
    with pytest.raises(ValueError, match=r"3-D inputs.*Embed ids first"):
        layers.LSTM(3).init(jax.random.key(0), (10,))
    layer = layers.LSTM(3)
    params = layer.init(jax.random.key(0), (4, 2))
    with pytest.raises(ValueError, match=r"kernel of shape \(2, 12\)"):
        layer.apply(params, jnp.ones((1, 4, 5)))
    with pytest.raises(ValueError, match=r"mask must have shape \(1, 4\)"):
        layer.apply(params, jnp.ones((1, 4, 2)), mask=jnp.ones((1, 5), bool))


def test_bfloat16_inputs_keep_their_dtype():
    layer = layers.GRU(UNITS, return_sequences=True)
    params = jax.tree.map(lambda a: a.astype(jnp.bfloat16), layer.init(jax.random.key(0), (STEPS, FEATURES)))
    y = layer.apply(params, jnp.asarray(_x(), jnp.bfloat16), mask=_padding_mask())
    assert y.dtype == jnp.bfloat16 and bool(jnp.all(jnp.isfinite(y)))


@pytest.mark.parametrize("cls,kwargs", [("LSTM", {"dropout": 0.3}), ("GRU", {"dropout": 0.2, "recurrent_dropout": 0.2}),
                                        ("GRU", {"reset_after": False}), ("SimpleRNN", {"go_backwards": True})])
def test_hoisted_and_per_step_projections_agree(cls, kwargs):
    """The input projection before the scan (accelerators) or inside it (CPU): the same values and
    gradients, with masks and dropout."""
    per_step, hoisted = (getattr(layers, cls)(UNITS, return_sequences=True, **kwargs) for _ in range(2))
    per_step._input_projection, hoisted._input_projection = "per_step", "hoisted"
    params = _random_params(per_step.init(jax.random.key(0), (STEPS, FEATURES)))
    x, mask = jnp.asarray(_x()), _padding_mask()

    def loss(layer):
        return lambda p: jnp.sum(layer.apply(p, x, mask=mask, rng=jax.random.key(5), training=True) ** 2)

    np.testing.assert_allclose(hoisted.apply(params, x, mask=mask), per_step.apply(params, x, mask=mask),
                               rtol=1e-5, atol=1e-6)
    for a, b in zip(jax.tree.leaves(jax.grad(loss(hoisted))(params)), jax.tree.leaves(jax.grad(loss(per_step))(params))):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
