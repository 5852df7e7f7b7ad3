"""The book's experiments on real data (experiments/{mnist,imdb,reuters,boston_housing,sgd_variants}.py):
each script's command line runs on small settings, learns, prints its results line and writes its
figures; Boston's K-fold training with `fit_many` is the same as training one fold alone with `fit`."""
import importlib.util
import pathlib

import jax
import numpy as np
import pytest

from funcnet import models

EXPERIMENTS = pathlib.Path(__file__).resolve().parents[2] / "experiments"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"book_experiment_{name}", EXPERIMENTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def boston():
    return _load("boston_housing")


def _assert_figures(out, figures, names):
    assert sorted(pathlib.Path(f).name for f in figures) == sorted(names)
    for name in names:
        path = out / name
        assert path.read_bytes()[:8] == PNG_MAGIC, path
        assert path.stat().st_size > 20_000, path  # a drawn figure, not an empty canvas


def _falls(values):
    return all(np.isfinite(values)) and values[-1] < values[0]


@pytest.mark.data
def test_mnist_learns_and_draws_its_curves(data_dir, tmp_path, capsys):
    script = _load("mnist")
    result = script.main(["--epochs", "2", "--train-samples", "2000", "--test-samples", "1000",
                          "--out", str(tmp_path), "--data-dir", data_dir])
    (run,) = result["runs"]
    history = run.history
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(history["loss"]) == 2 and _falls(history["loss"]) and _falls(history["val_loss"])
    assert run.test_accuracy > 0.8  # chance: 0.1
    assert run.test_accuracy == pytest.approx(history["val_accuracy"][-1])  # validation data = the test set
    _assert_figures(tmp_path, result["figures"], ["mnist.png"])
    assert "results: test accuracy" in capsys.readouterr().out


@pytest.mark.data
def test_mnist_seeds_side_by_side_are_the_seeds_one_by_one(data_dir):
    script = _load("mnist")
    data = script.load_data(data_dir, 1000, 300)
    together = script.train_seeds(data, epochs=2, batch_size=128, seeds=[0, 3])
    for run, seed in zip(together, [0, 3]):
        alone = script.train(data, epochs=2, batch_size=128, seed=seed)
        for key, values in alone.history.items():
            np.testing.assert_allclose(run.history[key], values, rtol=1e-5, err_msg=key)
        assert run.test_accuracy == pytest.approx(alone.test_accuracy, abs=1e-6)
    assert together[0].model is not None  # member 0, compiled, for --save


@pytest.mark.data
def test_imdb_learns_and_draws_its_curves(data_dir, tmp_path, capsys):
    script = _load("imdb")
    result = script.main(["--epochs", "3", "--final-epochs", "2", "--num-val", "1000", "--train-samples", "4000",
                          "--test-samples", "1000", "--out", str(tmp_path), "--data-dir", data_dir,
                          "--save", str(tmp_path / "imdb.keras")])
    (curves,), (final,) = result["curves"], result["finals"]
    reloaded = script.models.load_model(tmp_path / "imdb.keras")  # the final model, compiled as it was
    x = script.load_data(data_dir, 1, 8).x_test
    np.testing.assert_array_equal(reloaded.predict(x, verbose=0), final.model.predict(x, verbose=0))
    assert reloaded.evaluate(x, final.model.predict(x, verbose=0).round()[:, 0], verbose=0)[0] >= 0
    assert (curves.num_train, curves.num_val) == (3000, 1000)
    assert _falls(curves.history["loss"]) and curves.history["accuracy"][-1] > 0.8
    assert max(curves.history["val_accuracy"]) > 0.7  # chance: 0.5
    assert _falls(final.history["loss"]) and final.test_accuracy > 0.7
    _assert_figures(tmp_path, result["figures"], ["imdb.png"])
    assert "results: test accuracy" in capsys.readouterr().out


@pytest.mark.data
def test_reuters_one_hot_and_sparse_labels_agree_and_the_bottleneck_trains(data_dir, tmp_path, capsys):
    script = _load("reuters")
    # Test set as large as the validation set: one compiled evaluation serves both.
    # Two seeds: each network's seeds train side by side (fit_many).
    result = script.main(["--epochs", "3", "--final-epochs", "3", "--bottleneck-epochs", "2", "--num-val", "500",
                          "--train-samples", "2500", "--test-samples", "500", "--out", str(tmp_path),
                          "--data-dir", data_dir, "--seeds", "0", "1"])
    (curves, _), (one_hot, _), (sparse, _), (narrow, _) = (result[k] for k in ("curves", "finals", "finals_sparse", "bottlenecks"))
    assert _falls(curves.history["loss"]) and _falls(curves.history["val_loss"])
    assert one_hot.test_accuracy > 0.5  # the most frequent topic is ~35% of the newswires
    # Same params, same order, the same function of the probabilities: equal up to float rounding.
    assert result["differences"][0] < 1e-5
    assert sparse.test_accuracy == pytest.approx(one_hot.test_accuracy, abs=1e-6)
    np.testing.assert_allclose(sparse.history["loss"], one_hot.history["loss"], rtol=1e-5)
    assert _falls(narrow.history["loss"])
    _assert_figures(tmp_path, result["figures"], ["reuters.png", "reuters_bottleneck.png"])
    assert "largest one-hot/sparse difference" in capsys.readouterr().out


@pytest.mark.data
def test_boston_fit_many_folds_train_as_fit_trains_one_fold(boston, data_dir):
    data = boston.load_data(data_dir)
    # Standardised with the training samples' statistics only.
    np.testing.assert_allclose(data.x_train.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(data.x_train.std(axis=0), 1.0, atol=1e-5)
    assert np.abs(data.x_test.mean(axis=0)).max() > 1e-3

    worst, fit_history, vmapped = boston.check_against_fit(data, epochs=2, seed=0, fold=1)
    assert worst < 1e-4, worst
    assert {key: value.shape for key, value in vmapped.items()} == {k: (4, 2) for k in ("loss", "mae", "val_loss", "val_mae")}
    np.testing.assert_allclose(vmapped["val_mae"][1], fit_history["val_mae"], rtol=1e-4)
    # The folds differ (own validation slice, own initial params and order) and all learn.
    assert len(set(np.round(vmapped["val_mae"][:, -1], 4))) == 4
    assert np.all(vmapped["loss"][:, 1] < vmapped["loss"][:, 0])


def test_boston_folds_and_smoothing_are_the_books(boston):
    x = np.arange(404 * 13, dtype=np.float32).reshape(404, 13)
    y = np.arange(404, dtype=np.float32).reshape(404, 1)
    folds = boston.make_folds(x, y, k=4)
    assert folds.x_train.shape == (4, 303, 13) and folds.x_val.shape == (4, 101, 13)
    np.testing.assert_array_equal(folds.y_val[2, :, 0], np.arange(202, 303))
    np.testing.assert_array_equal(folds.y_train[2, :, 0], np.concatenate([np.arange(202), np.arange(303, 404)]))
    np.testing.assert_allclose(boston.smooth_curve([1.0, 2.0, 4.0]), [1.0, 1.1, 1.39])
    assert boston.fold_seeds(2) == [8, 9, 10, 11]


@pytest.mark.data
def test_boston_script_trains_and_draws(boston, data_dir, tmp_path, capsys):
    # 2 epochs: the program the check above compiled (one per process and shape), reused.
    result = boston.main(["--epochs", "2", "--long-epochs", "12", "--final-epochs", "5", "--no-check",
                          "--out", str(tmp_path), "--data-dir", data_dir])
    (history,) = result["kfold"]
    assert history["val_mae"].shape == (4, 2)
    (long_history,) = result["long"]
    assert long_history["val_mae"].shape == (4, 12)
    assert np.all(long_history["val_mae"][:, -1] < long_history["val_mae"][:, 0])
    assert np.all(long_history["val_mae"][:, -1] < 6.0)  # the targets' spread is ~9.2 k$
    assert result["test_maes"][0] < 6.0
    _assert_figures(tmp_path, result["figures"], ["boston_kfold.png", "boston_validation_mae.png"])
    assert "results: k-fold mean validation MAE" in capsys.readouterr().out


@pytest.mark.data
def test_sgd_variants_all_descend_and_draw(data_dir, tmp_path, capsys):
    script = _load("sgd_variants")
    result = script.main(["--epochs", "1", "--train-samples", "1000", "--out", str(tmp_path), "--data-dir", data_dir,
                          "--save", str(tmp_path / "sgd.keras")])
    (curves,) = result["curves"]
    assert [c.name.split(" (")[0] for c in curves] == ["true SGD", "mini-batch SGD", "batch gradient descent"]
    saved = models.load_model(tmp_path / "sgd-batch1.keras")  # the true-SGD network, as trained
    for a, b in zip(jax.tree.leaves(saved.params), jax.tree.leaves(curves[0].model.params)):
        np.testing.assert_array_equal(a, b)
    assert sorted(p.name for p in tmp_path.glob("sgd-*.keras")) == ["sgd-batch1.keras", "sgd-batch1000.keras",
                                                                    "sgd-batch128.keras"]
    for curve in curves:
        assert curve.epochs[0] == 0 and curve.seconds[0] == 0
        assert np.all(np.diff(curve.seconds) >= 0)
        assert np.isfinite(curve.loss).all() and curve.loss[-1] < curve.loss[0], (curve.name, curve.loss)
    true_sgd, mini_batch, full_batch = curves
    assert true_sgd.epochs[-1] == pytest.approx(0.2) and len(full_batch.loss) == 3  # 2 steps + the start
    assert true_sgd.loss[-1] < full_batch.loss[-1]  # 200 steps beat 2
    _assert_figures(tmp_path, result["figures"], ["sgd_variants.png"])
    assert "results: true SGD" in capsys.readouterr().out


@pytest.mark.data
def test_mnist_batchnorm_learns_and_keeps_its_moving_statistics(data_dir, tmp_path, capsys):
    script = _load("mnist_batchnorm")
    result = script.main(["--epochs", "2", "--train-samples", "2000", "--test-samples", "1000",
                          "--out", str(tmp_path), "--data-dir", data_dir])
    (run,) = result["runs"]
    assert len(run.history["loss"]) == 2 and _falls(run.history["loss"])
    # 32 steps: the moving statistics (momentum 0.99) are a quarter of the way to the batch ones, hence 0.83
    assert run.test_accuracy > 0.75 and run.moving_mean_spread > 0  # chance: 0.1
    _assert_figures(tmp_path, result["figures"], ["mnist_batchnorm.png"])
    assert "results: test accuracy" in capsys.readouterr().out


@pytest.mark.data
def test_mnist_convnet_learns_and_draws_its_curves_and_filters(data_dir, tmp_path, capsys):
    script = _load("mnist_convnet")
    result = script.main(["--epochs", "1", "--train-samples", "3000", "--test-samples", "1000",
                          "--out", str(tmp_path), "--data-dir", data_dir])
    (run,) = result["runs"]
    assert set(run.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert run.test_accuracy > 0.8  # 47 steps; chance 0.1
    first, second = script.feature_maps(run.model, script.load_data(data_dir, 1, 1).x_test[0])
    assert first.shape == (26, 26, 32) and second.shape == (11, 11, 64) and first.min() >= 0
    _assert_figures(tmp_path, result["figures"], ["mnist_convnet.png", "convnet_filters.png"])
    assert "results: test accuracy" in capsys.readouterr().out


@pytest.mark.data
@pytest.mark.slow
def test_the_books_convnet_listing_runs_as_printed(data_dir, monkeypatch):
    # The listing trains 5 epochs on all 60,000 images (two minutes here); 200 steps show that it runs as
    # printed and learns (the full run is experiments/mnist_convnet.py's, docs/results.md).
    script = _load("mnist_convnet")
    fit = script.models.Sequential.fit

    def short_fit(self, x, y, **kwargs):
        return fit(self, x[:12800], y[:12800], **{**kwargs, "epochs": 1, "verbose": 0})

    monkeypatch.setattr(script.models.Sequential, "fit", short_fit)
    model, test_acc = script.listing(data_dir)
    assert test_acc > 0.9  # chance: 0.1
    assert model.count_params() == 93_322


@pytest.mark.data
def test_imdb_sequences_runs_the_three_networks_and_draws_their_curves(data_dir, tmp_path, capsys):
    script = _load("imdb_sequences")
    assert [script.build_model(n).count_params() for n in script.NETWORKS] == [80_161, 322_113, 328_353]  # the book's
    result = script.main(["--epochs", "2", "--train-samples", "1500", "--test-samples", "300",
                          "--out", str(tmp_path), "--data-dir", data_dir, "--save", str(tmp_path / "imdb.keras")])
    runs = result["runs"]
    assert list(runs) == ["embedding", "simplernn", "lstm"]
    loaded = script.models.load_model(tmp_path / "imdb-lstm.keras")  # the first seed's trained LSTM network
    x = script.load_data(500, data_dir, 1, 4).x_test
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), runs["lstm"][0].model.predict(x, verbose=0))
    for network, (run,) in runs.items():
        assert set(run.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
        assert run.history["loss"][1] < run.history["loss"][0], network
        assert len(run.epoch_seconds) == 2
    _assert_figures(tmp_path, result["figures"], ["imdb_embedding.png", "imdb_simplernn.png", "imdb_lstm.png"])
    assert "results:" in capsys.readouterr().out
