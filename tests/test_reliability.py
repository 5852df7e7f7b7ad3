"""Long runs that do not grow, and the same results in every fresh process."""
import json
import os
import pathlib
import subprocess
import sys

import numpy as np

WORKERS = pathlib.Path(__file__).resolve().parent / "_workers"
ENV = dict(os.environ, JAX_PLATFORMS="cpu")

# Bounds, after a warm-up of 20 models (or 20 epochs): no live device buffer more, and resident memory
# within these many MB (a few KB a model are Python's: interned names, caches of small objects).
MODELS_RSS_MB = 10.0
EPOCHS_RSS_MB = 2.0


def test_200_models_one_after_another_and_300_epochs_stay_flat():
    done = subprocess.run([sys.executable, str(WORKERS / "long_runs.py"), "200", "300"], capture_output=True,
                          text=True, env=ENV, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    points = json.loads(done.stdout.strip().splitlines()[-1])
    # No model's arrays outlive it: nothing live between models (compiled programs hold no params).
    assert points["models_20"]["live_arrays"] == points["models_100"]["live_arrays"] == \
        points["models_200"]["live_arrays"] == 0, points
    assert points["models_200"]["rss_mb"] - points["models_20"]["rss_mb"] < MODELS_RSS_MB, points
    # One model's run holds the same buffers at epoch 20 and 300 (its params, optimizer state, data).
    assert points["epochs_20"]["live_arrays"] == points["epochs_150"]["live_arrays"] == \
        points["epochs_300"]["live_arrays"], points
    assert points["epochs_300"]["rss_mb"] - points["epochs_20"]["rss_mb"] < EPOCHS_RSS_MB, points


def test_the_same_script_and_seed_in_two_fresh_processes_give_the_same_bits(tmp_path):
    results = []
    for run in range(2):
        out = tmp_path / f"run{run}.npz"
        done = subprocess.run([sys.executable, str(WORKERS / "determinism.py"), str(out)], capture_output=True,
                              text=True, env=ENV, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        results.append(np.load(out))
    first, second = results
    assert sorted(first.files) == sorted(second.files) and any(k.startswith("state/") for k in first.files)
    for key in first.files:
        if not key.startswith("cache/"):  # the compile cache's hits differ: the second run reads the first's
            np.testing.assert_array_equal(first[key], second[key], err_msg=key)
