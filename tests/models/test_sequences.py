"""Sequence models: masks through Sequential, functional and nested models (against Keras 3 on the
numpy backend), and `fit` of a masked recurrent model against a plain per-batch loop."""
import logging

import jax
import jax.numpy as jnp
import keras
import numpy as np
import optax
import pytest

from funcnet import layers, losses, models, optimizers

VOCAB, STEPS = 30, 8
TOL = dict(rtol=2e-5, atol=2e-6)


def _ids(n=5, seed=0):
    """Ids with pre-padding (rows 0, 2), post-padding (rows 1, 3) and no padding (row 4)."""
    rs = np.random.default_rng(seed)
    ids = rs.integers(1, VOCAB, size=(n, STEPS)).astype(np.int32)
    ids[0, :5] = 0
    ids[1, 3:] = 0
    ids[2, :1] = 0
    ids[3, 6:] = 0
    return ids


def _randomized(params, seed=1):
    rs = np.random.default_rng(seed)
    return jax.tree.map(lambda v: (0.4 * rs.normal(size=v.shape)).astype(np.float32), params)


def _keras_weights(ours: models.Model, params) -> list:
    """funcnet params in the order Keras lists a model's weights: layers in the model's order (that of
    `init`'s dict; jax.tree.map sorts keys), each layer's weights in Keras's order."""
    order = ("embeddings", "kernel", "recurrent_kernel", "bias", "gamma", "beta")
    out = []

    def add(tree):
        if "forward" in tree:
            add(tree["forward"])
            add(tree["backward"])
        else:
            out.extend(np.asarray(tree[k]) for k in order if k in tree)

    for name in ours.init(jax.random.key(0)):
        add(params[name])
    return out


def _same_as_keras(ours, ref, x):
    params = _randomized(ours.init(jax.random.key(0)))
    ref.set_weights(_keras_weights(ours, params))
    np.testing.assert_allclose(ours.apply(params, x), ref(x), **TOL)
    return params


def test_sequential_mask_flows_through_dense_to_pooling():
    ours = models.Sequential([layers.Input((STEPS,), dtype="int32"), layers.Embedding(VOCAB, 6, mask_zero=True),
                              layers.LSTM(5, return_sequences=True), layers.Dense(4, activation="tanh"),
                              layers.GlobalAveragePooling1D(), layers.Dense(1, activation="sigmoid")])
    ref = keras.Sequential([keras.Input((STEPS,), dtype="int32"), keras.layers.Embedding(VOCAB, 6, mask_zero=True),
                            keras.layers.LSTM(5, return_sequences=True), keras.layers.Dense(4, activation="tanh"),
                            keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(1, activation="sigmoid")])
    params = _same_as_keras(ours, ref, _ids())
    # the mask matters: the unmasked network gives other outputs on padded rows
    plain = models.Sequential([layers.Input((STEPS,), dtype="int32"), layers.Embedding(VOCAB, 6),
                               layers.LSTM(5, return_sequences=True), layers.Dense(4, activation="tanh"),
                               layers.GlobalAveragePooling1D(), layers.Dense(1, activation="sigmoid")])
    assert not np.allclose(plain.apply(params, _ids())[:4], ours.apply(params, _ids())[:4], atol=1e-4)


def test_functional_masks_merge_and_masking_layer():
    ids = keras.Input((STEPS,), dtype="int32")
    feats = keras.Input((STEPS, 3))
    a = keras.layers.Embedding(VOCAB, 4, mask_zero=True)(ids)
    b = keras.layers.Masking(0.0)(feats)
    merged = keras.layers.Concatenate()([a, b])
    h = keras.layers.GRU(5, return_sequences=True)(merged)
    added = keras.layers.Add()([h, keras.layers.Dense(5)(a)])
    out = keras.layers.SimpleRNN(3)(added)
    ref = keras.Model([ids, feats], out)

    ids_f, feats_f = layers.Input((STEPS,), dtype="int32"), layers.Input((STEPS, 3))
    a = layers.Embedding(VOCAB, 4, mask_zero=True)(ids_f)
    b = layers.Masking(0.0)(feats_f)
    merged = layers.Concatenate()([a, b])
    h = layers.GRU(5, return_sequences=True)(merged)
    added = layers.Add()([h, layers.Dense(5)(a)])
    ours = models.Model([ids_f, feats_f], layers.SimpleRNN(3)(added))

    x_ids = _ids()
    x_feats = np.random.default_rng(2).normal(size=(5, STEPS, 3)).astype(np.float32)
    x_feats[:, -2:] = 0.0  # Masking drops the last two steps of the features; Concatenate ORs the two masks
    params = _randomized(ours.init(jax.random.key(0)))
    ref.set_weights(_keras_weights(ours, params))
    np.testing.assert_allclose(ours.apply(params, [x_ids, x_feats]), ref([x_ids, x_feats]), **TOL)


def test_layers_without_mask_support_drop_it_as_keras():
    """Conv1D and Flatten do not support masking: the LSTM after them sees no mask (Keras warns and drops it)."""
    def build(lib):
        return [lib.Embedding(VOCAB, 4, mask_zero=True), lib.Conv1D(3, 2, padding="same"), lib.LSTM(4)]

    ours = models.Sequential([layers.Input((STEPS,), dtype="int32"), *build(layers)])
    ref = keras.Sequential([keras.Input((STEPS,), dtype="int32"), *build(keras.layers)])
    _same_as_keras(ours, ref, _ids())


def test_a_nested_model_passes_its_output_mask_on():
    inner = models.Sequential([layers.Input((STEPS,), dtype="int32"), layers.Embedding(VOCAB, 4, mask_zero=True)],
                              name="embed")
    x = layers.Input((STEPS,), dtype="int32")
    ours = models.Model(x, layers.LSTM(3)(inner(x)))
    params = _randomized(ours.init(jax.random.key(0)))
    direct = models.Sequential([layers.Input((STEPS,), dtype="int32"), layers.Embedding(VOCAB, 4, mask_zero=True),
                                layers.LSTM(3)])
    flat = {"embedding": params["embed"]["embedding"], "lstm": params["lstm"]}
    np.testing.assert_allclose(ours.apply(params, _ids()), direct.apply(flat, _ids()), rtol=1e-6, atol=1e-7)


def test_apply_takes_a_mask_as_keras_models_do():
    """`model.apply(params, x, mask=...)` hands the mask to the first layers, as Keras's `model(x, mask=...)`:
    the same as the Embedding(mask_zero=True) mask of the ids, and refused with the expected shape when wrong."""
    embedded = models.Sequential([layers.Input((STEPS,), dtype="int32"), layers.Embedding(VOCAB, 4)])
    recurrent = models.Sequential([layers.Input((STEPS, 4)), layers.LSTM(3)])
    masked = models.Sequential([layers.Input((STEPS,), dtype="int32"), layers.Embedding(VOCAB, 4, mask_zero=True),
                                layers.LSTM(3)])
    params = _randomized(masked.init(jax.random.key(0)))
    ids = _ids()
    vectors = embedded.apply({"embedding": params["embedding"]}, ids)
    lstm = {"lstm": params["lstm"]}
    expected = masked.apply(params, ids)
    np.testing.assert_allclose(recurrent.apply(lstm, vectors, mask=ids != 0), expected, rtol=1e-6, atol=1e-7)
    y, _ = recurrent.apply_with_state(lstm, {}, vectors, mask=[ids != 0])
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-7)
    assert np.abs(np.asarray(recurrent.apply(lstm, vectors)) - np.asarray(expected)).max() > 1e-3
    with pytest.raises(ValueError, match=r"mask for input .* has shape \(5, 7\); expected \[batch, steps\] = \(5, 8\)"):
        recurrent.apply(lstm, vectors, mask=np.ones((5, 7), bool))
    with pytest.raises(ValueError, match=r"takes 1 inputs; give one mask \(or None\) per input, got 2"):
        recurrent.apply(lstm, vectors, mask=[None, None])


def test_bidirectional_sequence_model_equals_keras_and_counts_params():
    def build(lib):
        return [lib.Embedding(VOCAB, 6, mask_zero=True), lib.Bidirectional(lib.LSTM(4, return_sequences=True)),
                lib.Bidirectional(lib.GRU(3), merge_mode="sum"), lib.Dense(2)]

    ours = models.Sequential([layers.Input((STEPS,), dtype="int32"), *build(layers)])
    ref = keras.Sequential([keras.Input((STEPS,), dtype="int32"), *build(keras.layers)])
    params = _same_as_keras(ours, ref, _ids())
    assert sum(np.size(p) for p in jax.tree.leaves(params)) == ref.count_params()


def test_multi_output_recurrent_layer_in_the_functional_api():
    x = layers.Input((STEPS, 3))
    out, h, c = layers.LSTM(4, return_state=True)(x)
    assert out.shape == h.shape == c.shape == (None, 4)
    model = models.Model(x, [layers.Dense(1)(out), c])
    params = model.init(jax.random.key(0))
    y, carry = model.apply(params, np.ones((2, STEPS, 3), np.float32))
    assert y.shape == (2, 1) and carry.shape == (2, 4)
    with pytest.raises(ValueError, match="has 3 outputs.*functional API"):
        models.Sequential([layers.Input((STEPS, 3)), layers.LSTM(4, return_state=True)])


def _data(n=50, seed=0):
    rs = np.random.default_rng(seed)
    ids = rs.integers(1, VOCAB, size=(n, STEPS)).astype(np.int32)
    for i, length in enumerate(rs.integers(2, STEPS + 1, n)):
        ids[i, :STEPS - length] = 0
    y = (ids[:, -1] > VOCAB // 2).astype(np.float32)
    return ids, y


def _sequence_model():
    return models.Sequential([layers.Input((STEPS,), dtype="int32"), layers.Embedding(VOCAB, 4, mask_zero=True),
                              layers.GRU(5), layers.Dense(1, activation="sigmoid")])


def test_fit_with_a_short_last_batch_equals_a_per_batch_loop():
    ids, y = _data()
    model = _sequence_model()
    model.compile(optimizer="rmsprop", loss="binary_crossentropy")
    start = model.init(jax.random.key(3))
    model.params = start
    model.fit(ids, y, epochs=2, batch_size=16, shuffle=False, verbose=0, seed=0)  # 16, 16, 16, 2

    tx = optimizers.rmsprop()  # what compile's "rmsprop" builds
    params, opt_state = start, tx.init(start)

    def loss(p, xb, yb):
        return losses.binary_crossentropy(yb[:, None], model.apply(p, xb)).mean()

    @jax.jit
    def step(p, s, xb, yb):
        updates, s = tx.update(jax.grad(loss)(p, xb, yb), s, p)
        return optax.apply_updates(p, updates), s

    for _ in range(2):
        for i in range(0, len(ids), 16):
            params, opt_state = step(params, opt_state, ids[i:i + 16], y[i:i + 16])
    for a, b in zip(jax.tree.leaves(model.params), jax.tree.leaves(params)):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)


def test_fit_refuses_ids_outside_the_vocabulary_before_compiling(caplog):
    ids, y = _data()
    model = _sequence_model()
    model.compile(optimizer="rmsprop", loss="binary_crossentropy")
    model.params = model.init(jax.random.key(0))
    bad = ids.copy()
    bad[7, 3] = VOCAB + 5
    with caplog.at_level(logging.DEBUG, logger="funcnet"):
        for call in (lambda: model.fit(bad, y, epochs=1, verbose=0), lambda: model.evaluate(bad, y, verbose=0),
                     lambda: model.predict(-bad, verbose=0)):
            with pytest.raises(ValueError, match=r"input '.*', read by Embedding 'embedding'.*\[0, 30\); sample"):
                call()
    assert not [r for r in caplog.records if "compil" in r.getMessage().lower()]


def test_masked_model_trains_under_mixed_precision():
    ids, y = _data(n=64)
    model = models.Sequential([layers.Input((STEPS,), dtype="int32"), layers.Embedding(VOCAB, 4, mask_zero=True),
                               layers.LSTM(5, dropout=0.2, recurrent_dropout=0.2), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"], dtype_policy="mixed_bfloat16")
    history = model.fit(ids, y, epochs=3, batch_size=16, verbose=0)
    assert all(np.isfinite(history.history["loss"]))
    assert jax.tree.leaves(model.params)[0].dtype == jnp.float32
    assert model.predict(ids[:3], verbose=0).dtype == np.float32
