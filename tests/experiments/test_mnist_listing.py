"""The README's main job: the book's MNIST listing, run as it is, reaches the book's accuracy."""
import pathlib
import runpy

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "experiments" / "mnist_listing.py"


@pytest.mark.data
@pytest.mark.slow
def test_the_books_listing_reaches_0978(data_dir, monkeypatch, capsys):
    monkeypatch.setenv("FUNCNET_DATA_DIR", data_dir)
    namespace = runpy.run_path(str(SCRIPT), run_name="__main__")
    out = capsys.readouterr().out
    assert namespace["test_acc"] >= 0.978, namespace["test_acc"]
    assert "Epoch 5/5" in out and "469/469" in out and "test_acc:" in out
    assert namespace["network"].params["dense"]["kernel"].shape == (784, 512)
