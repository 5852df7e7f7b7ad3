"""funcnet.saving: `.keras` archives written by funcnet open in Keras 3 and back, Keras's open in
funcnet, with the same predictions; and nothing in a file can run code or load silently wrong."""
import io
import json
import zipfile

import h5py
import jax
import keras
import numpy as np
import pytest

from funcnet import layers, models, optimizers
from tests._shared import Scale, kill_while_saving

RS = np.random.default_rng(0)


def _randomize(model, seed=0):
    """Random params (and positive variances) so that a misplaced weight cannot go unnoticed."""
    rs = np.random.default_rng(seed)
    params, state = model.init_with_state(jax.random.key(0))
    model.params = jax.tree.map(lambda a: (0.3 * rs.normal(size=a.shape)).astype(np.float32), params)
    if state:
        model.state = jax.tree.map(lambda a: (0.5 + np.abs(rs.normal(size=a.shape))).astype(np.float32), state)
    return model


def _predict(model, x):
    y, _ = model.apply_with_state(model.params, model.state or {}, x)
    return y


def _close(a, b, tol=1e-5):
    a = a if isinstance(a, (list, tuple)) else [a]
    b = b if isinstance(b, (list, tuple)) else [b]
    assert len(a) == len(b)
    for u, v in zip(a, b):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=tol, atol=tol)


def _sequence_model():
    return models.Sequential([
        layers.Input((12,), dtype="int32"), layers.Embedding(50, 6, mask_zero=True),
        layers.Bidirectional(layers.LSTM(4, return_sequences=True)), layers.GRU(3, return_sequences=True),
        layers.GlobalAveragePooling1D(), layers.Dropout(0.2), layers.Dense(5), layers.BatchNormalization(),
        layers.Dense(1, activation="sigmoid"),
    ])


def _ids():
    ids = RS.integers(1, 50, (4, 12))
    ids[0, :5] = 0
    ids[1, 8:] = 0
    return ids


def _convnet():
    return models.Sequential([
        layers.Conv2D(4, 3, activation="relu", input_shape=(10, 10, 1)), layers.MaxPooling2D(2),
        layers.Conv2D(6, 2, padding="same"), layers.GlobalAveragePooling2D(), layers.LayerNormalization(),
        layers.Dense(3, activation="softmax"),
    ])


def _functional():
    inner = models.Sequential([layers.Input((6,)), layers.Dense(3), layers.Dense(4)], name="inner")
    a, b = layers.Input((6,), name="a"), layers.Input((4,), name="b")
    shared = layers.Dense(4, name="shared")
    y = shared(layers.Add()([inner(a), b]))
    z = shared(layers.Dense(4)(y))
    return models.Model([a, b], [layers.Dense(2)(layers.Concatenate()([y, z])), z])


CASES = {
    "sequence": (_sequence_model, _ids),
    "convnet": (_convnet, lambda: RS.normal(size=(3, 10, 10, 1)).astype(np.float32)),
    "functional": (_functional, lambda: [RS.normal(size=(3, 6)).astype(np.float32),
                                         RS.normal(size=(3, 4)).astype(np.float32)]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_funcnet_to_keras_to_funcnet(case, tmp_path):
    build, data = CASES[case]
    model, x = _randomize(build()), data()
    want = _predict(model, x)
    model.save(tmp_path / "ours.keras")
    # Keras 3 opens funcnet's archive and predicts the same ...
    ref = keras.saving.load_model(tmp_path / "ours.keras")
    _close(ref(x), want)
    # ... funcnet reopens it ...
    back = models.load_model(tmp_path / "ours.keras")
    _close(_predict(back, x), want, tol=0)
    assert jax.tree.map(np.shape, back.params) == jax.tree.map(np.shape, model.params)
    # ... and opens what Keras writes of the same model.
    ref.save(tmp_path / "theirs.keras")
    again = models.load_model(tmp_path / "theirs.keras")
    _close(_predict(again, x), want)


def test_a_model_keras_built_loads_with_its_predictions(tmp_path):
    ref = keras.Sequential([keras.Input((12,), dtype="int32"), keras.layers.Embedding(50, 6, mask_zero=True),
                            keras.layers.LSTM(4), keras.layers.BatchNormalization(), keras.layers.Dense(1)])
    ref.compile(optimizer="rmsprop", loss="mse")
    # Keras's numpy backend (the tests' reference) cannot fit: weights and moving statistics set at random.
    ref.set_weights([(0.5 + np.abs(RS.normal(size=w.shape))).astype(np.float32) for w in ref.get_weights()])
    ref.save(tmp_path / "trained.keras")
    model = models.load_model(tmp_path / "trained.keras")
    # (Keras numbers its layers' names per process, so they are looked up by type.)
    assert [type(layer).__name__ for layer in model.layers] == ["Embedding", "LSTM", "BatchNormalization", "Dense"]
    assert model.stateful and model.state is not None
    ids = _ids()
    _close(_predict(model, ids), ref.predict(ids, verbose=0))


def test_a_fitted_model_reloads_with_its_state(tmp_path):
    model = _sequence_model()
    model.compile(optimizer="adam", loss="binary_crossentropy")
    ids = _ids()
    model.fit(ids, np.array([0, 1, 1, 0], np.float32), epochs=2, verbose=0)
    model.save(tmp_path / "fitted.keras")
    back = models.load_model(tmp_path / "fitted.keras")
    _close(back.predict(ids, verbose=0), model.predict(ids, verbose=0), tol=0)
    for a, b in zip(jax.tree.leaves(back.state), jax.tree.leaves(model.state)):
        np.testing.assert_array_equal(a, b)


def test_config_round_trip_gives_the_same_model():
    model = _functional()
    again = models.Model.from_config(model.get_config())
    assert again.structure_key() == model.structure_key()
    seq = _sequence_model()
    assert models.Sequential.from_config(seq.get_config()).structure_key() == seq.structure_key()


def test_a_custom_layer_needs_to_be_given(tmp_path):
    model = _randomize(models.Sequential([layers.Input((3,)), layers.Dense(2), Scale(3.0)]))
    model.save(tmp_path / "custom.keras")
    with pytest.raises(ValueError, match=r"unknown layer class 'Scale'.*custom_objects"):
        models.load_model(tmp_path / "custom.keras")
    back = models.load_model(tmp_path / "custom.keras", custom_objects={"Scale": Scale})
    x = RS.normal(size=(2, 3)).astype(np.float32)
    _close(back.apply(back.params, x), model.apply(model.params, x), tol=0)
    for wrong in (3, lambda config: None, dict):
        with pytest.raises(ValueError, match=r"custom_objects\['Scale'\] must be a subclass of funcnet.layers.Layer"):
            models.load_model(tmp_path / "custom.keras", custom_objects={"Scale": wrong})


# ------------------------------------------------------------------ what a file must not do
@pytest.fixture
def saved(tmp_path):
    model = _randomize(models.Sequential([layers.Input((3,)), layers.Dense(2, name="dense")]))
    path = tmp_path / "m.keras"
    model.save(path)
    return path


def _rewrite(path, target, change):
    """A copy of the archive at `path` with member contents changed by `change(name, bytes) -> bytes | None`."""
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    with zipfile.ZipFile(target, "w") as zf:
        for name, data in members.items():
            data = change(name, data)
            if data is not None:
                zf.writestr(name, data)
    return target


def _with_config(path, target, edit):
    def change(name, data):
        if name != "config.json":
            return data
        config = json.loads(data)
        edit(config)
        return json.dumps(config)

    return _rewrite(path, target, change)


def _with_weights(path, target, edit):
    """A copy of the archive at `path` whose `model.weights.h5` was changed in place by `edit(h5_file)`."""
    def change(name, data):
        if name != "model.weights.h5":
            return data
        buffer = io.BytesIO(data)
        with h5py.File(buffer, "r+") as h5:
            edit(h5)
        return buffer.getvalue()

    return _rewrite(path, target, change)


def test_not_a_zip_or_truncated_or_missing_member(saved, tmp_path):
    (tmp_path / "text.keras").write_text("hello")
    with pytest.raises(ValueError, match=r"text.keras' is not a \.keras archive"):
        models.load_model(tmp_path / "text.keras")
    data = saved.read_bytes()
    (tmp_path / "cut.keras").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cut.keras"):
        models.load_model(tmp_path / "cut.keras")
    missing = _rewrite(saved, tmp_path / "missing.keras", lambda n, d: None if n == "model.weights.h5" else d)
    with pytest.raises(ValueError, match="missing.keras' has no model.weights.h5"):
        models.load_model(missing)
    bad_json = _rewrite(saved, tmp_path / "json.keras", lambda n, d: b"{not json" if n == "config.json" else d)
    with pytest.raises(ValueError, match="config.json is not valid JSON"):
        models.load_model(bad_json)


@pytest.mark.parametrize("module,class_name", [("keras.layers", "Lambda"), ("os", "system"), ("builtins", "eval"),
                                               ("keras.layers", "TFSMLayer")])
def test_a_class_funcnet_does_not_know_is_never_imported_or_built(saved, tmp_path, module, class_name):
    def edit(config):
        entry = config["config"]["layers"][1]
        entry["module"], entry["class_name"] = module, class_name
        entry["config"] = {"function": {"class_name": "__lambda__", "config": {"code": "ZXZpbA=="}}}

    path = _with_config(saved, tmp_path / "forged.keras", edit)
    with pytest.raises(ValueError, match=rf"unknown layer class '{class_name}'.*Nothing named in a file is imported"):
        models.load_model(path)


def test_weights_that_do_not_fit_are_refused(saved, tmp_path):
    def reshaped(h5):
        del h5["layers/dense/vars/0"]
        h5["layers/dense/vars/0"] = np.zeros((4, 2), np.float32)

    with pytest.raises(ValueError, match=r"weight 'layers/dense/vars/0' \(dense/kernel\) has shape \(4, 2\); the "
                                         r"architecture needs \(3, 2\)"):
        models.load_model(_with_weights(saved, tmp_path / "shape.keras", reshaped))

    def dropped(h5):
        del h5["layers/dense/vars/1"]

    with pytest.raises(ValueError, match=r"has no weight 'layers/dense/vars/1' \(dense/bias\)"):
        models.load_model(_with_weights(saved, tmp_path / "dropped.keras", dropped))

    wider = _with_config(saved, tmp_path / "wider.keras", lambda c: c["config"]["layers"][1]["config"].update(units=5))
    with pytest.raises(ValueError, match="the architecture needs"):
        models.load_model(wider)


def test_save_refuses_what_it_cannot_write(tmp_path):
    model = models.Sequential([layers.Input((3,)), layers.Dense(2)])
    with pytest.raises(ValueError, match="no params to save"):
        model.save(tmp_path / "m.keras")
    model.params = model.init(jax.random.key(0))
    with pytest.raises(ValueError, match="ending in '.keras'"):
        model.save(tmp_path / "m.h5")
    own = models.Sequential([layers.Input((3,)), layers.Dense(2, activation=lambda x: 2 * x)])
    own.params = own.init(jax.random.key(0))
    with pytest.raises(ValueError, match="function of your own"):
        own.save(tmp_path / "own.keras")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_process_killed_while_saving_leaves_the_previous_archive_whole(tmp_path):
    path = tmp_path / "big.keras"
    kill_while_saving("""
        import jax, numpy as np
        from funcnet import layers, models
        model = models.Sequential([layers.Input((2000,)), layers.Dense(2000)])
        model.params = model.init(jax.random.key(0))
    """, f"model.save({str(path)!r})", seconds=0.5)
    model = models.load_model(path)
    assert model.params["dense"]["kernel"].shape == (2000, 2000)


# ------------------------------------------------------------------ compile settings and optimizer state
def _small_net():
    return models.Sequential([layers.Input((5,)), layers.Dense(8, activation="relu"), layers.BatchNormalization(),
                              layers.Dense(1, activation="sigmoid")])


def _xy():
    rs = np.random.default_rng(1)
    x = rs.normal(size=(64, 5)).astype(np.float32)
    return x, (x.sum(1) > 0).astype(np.float32)


OPTIMIZERS = {
    "rmsprop": lambda: "rmsprop",
    "rmsprop-momentum-centered": lambda: optimizers.rmsprop(1e-2, momentum=0.9, centered=True),
    "adam": lambda: "adam",
    "adam-amsgrad": lambda: optimizers.adam(3e-3, amsgrad=True),
    "sgd-nesterov": lambda: optimizers.sgd(0.1, momentum=0.9, nesterov=True),
    "adagrad": lambda: "adagrad",
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_fit_after_load_model_continues_exactly(name, tmp_path):
    """2 epochs, save, load, 2 more epochs == 4 epochs straight: params, state, optimizer state and step."""
    x, y = _xy()

    def compiled():
        model = _small_net()
        model.compile(optimizer=OPTIMIZERS[name](), loss="binary_crossentropy", metrics=["accuracy"])
        model.params = model.init(jax.random.key(1))
        return model

    straight = compiled()
    straight.fit(x, y, epochs=4, batch_size=16, verbose=0, seed=3)
    first = compiled()
    first.fit(x, y, epochs=2, batch_size=16, verbose=0, seed=3)
    first.save(tmp_path / "half.keras")
    resumed = models.load_model(tmp_path / "half.keras")
    history = resumed.fit(x, y, epochs=4, initial_epoch=2, batch_size=16, verbose=0, seed=3)
    assert set(history.history) == {"loss", "accuracy"}
    for a, b in zip(jax.tree.leaves((resumed.params, resumed.state)), jax.tree.leaves((straight.params, straight.state))):
        np.testing.assert_array_equal(a, b)
    # Keras 3 reads the same optimizer, step and slots.
    ref = keras.saving.load_model(tmp_path / "half.keras")
    _close(ref(x), first.predict(x, verbose=0))  # the trained model predicts the same in Keras
    assert int(np.asarray(ref.optimizer.iterations)) == 8
    if name == "rmsprop":
        np.testing.assert_allclose(np.asarray(ref.optimizer.variables[2]),
                                   np.asarray(first._session.opt_state.inner_state[0].nu["dense"]["kernel"]), rtol=1e-6)


def test_compile_settings_keras_cannot_name_are_left_out_with_a_warning(tmp_path):
    import optax

    model = _randomize(_small_net())
    model.compile(optimizer=optax.adamw(1e-3), loss="mse")
    with pytest.warns(UserWarning, match="compile settings were left out.*optimizer"):
        model.save(tmp_path / "adamw.keras")
    back = models.load_model(tmp_path / "adamw.keras")
    with pytest.raises(RuntimeError, match="compile"):
        back.fit(*_xy(), epochs=1, verbose=0)
    x = _xy()[0]
    _close(back.predict(x, verbose=0), model.predict(x, verbose=0), tol=0)


def test_a_keras_compiled_model_loads_compiled(tmp_path):
    ref = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1, activation="sigmoid")])
    ref.compile(optimizer=keras.optimizers.RMSprop(learning_rate=0.01, rho=0.8), loss="binary_crossentropy",
                metrics=["accuracy"])
    ref.save(tmp_path / "compiled.keras")
    model = models.load_model(tmp_path / "compiled.keras")
    history = model.fit(*_xy(), epochs=1, verbose=0)
    assert set(history.history) == {"loss", "accuracy"}
    assert _aliases_config(model) == ("RMSprop", {"learning_rate": pytest.approx(0.01), "rho": pytest.approx(0.8),
                                                  "momentum": 0.0, "epsilon": pytest.approx(1e-7), "centered": False})
    ref.compile(optimizer=keras.optimizers.SGD(weight_decay=0.01), loss="mse")
    ref.save(tmp_path / "decay.keras")
    with pytest.warns(UserWarning, match="loaded uncompiled.*weight_decay=0.01"):
        models.load_model(tmp_path / "decay.keras")
    assert models.load_model(tmp_path / "compiled.keras", compile=False)._session.settings is None


def _aliases_config(model):
    from funcnet.optimizers import _aliases

    return _aliases.keras_config(model._session.compile_spec["optimizer"])


def test_an_archive_gets_a_plain_file_s_permissions(saved):
    import os

    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(saved).st_mode & 0o777 == 0o666 & ~umask


# Each built-in layer with weights, alone in a model: its weights land where Keras 3 reads them.
# (tests/layers/test_config.py walks the registry for configs; a layer added with weights joins this list.)
WEIGHTED = {
    "Dense": ((4,), lambda: layers.Dense(3)),
    "Conv1D": ((8, 3), lambda: layers.Conv1D(4, 3)),
    "Conv2D": ((6, 6, 4), lambda: layers.Conv2D(4, 3, groups=2)),
    "Embedding": ((5,), lambda: layers.Embedding(20, 3)),
    "BatchNormalization": ((4,), lambda: layers.BatchNormalization()),
    "LayerNormalization": ((3, 4), lambda: layers.LayerNormalization(axis=[1, 2])),
    "SimpleRNN": ((5, 3), lambda: layers.SimpleRNN(2)),
    "LSTM": ((5, 3), lambda: layers.LSTM(2, use_bias=False)),
    "GRU": ((5, 3), lambda: layers.GRU(2, reset_after=False)),
    "Bidirectional": ((5, 3), lambda: layers.Bidirectional(layers.GRU(2))),
}


def test_every_layer_with_weights_is_covered():
    """A built-in layer that makes weights (overrides `build`) must be in WEIGHTED."""
    from funcnet.layers._config import builtin_layers

    builds = {name for name, cls in builtin_layers().items() if cls.build is not layers.Layer.build}
    assert builds == set(WEIGHTED)


@pytest.mark.parametrize("name", sorted(WEIGHTED))
def test_each_weighted_layer_saves_where_keras_reads(name, tmp_path):
    shape, factory = WEIGHTED[name]
    dtype = "int32" if name == "Embedding" else None
    model = _randomize(models.Sequential([layers.Input(shape, dtype=dtype), factory()]))
    rs = np.random.default_rng(3)
    x = rs.integers(0, 20, (2, *shape)) if dtype else rs.normal(size=(2, *shape)).astype(np.float32)
    model.save(tmp_path / "one.keras")
    _close(keras.saving.load_model(tmp_path / "one.keras")(x), _predict(model, x))
