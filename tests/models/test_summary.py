"""model.summary(): rows, output shapes and parameter counts as Keras prints them."""
import re

import keras
import pytest

from funcnet import layers, models


def _summary(model) -> str:
    lines = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines)


def _rows(text):
    """{"dense (Dense)": ("(None, 512)", "401,920"), ...} from the table's body."""
    rows = {}
    for line in text.splitlines():
        m = re.match(r"^\s*(\S+ \(\w+\))\s+(\([^)]*\))\s+([\d,]+(?: \(shared\))?)", line)
        if m:
            rows[m.group(1)] = (m.group(2), m.group(3))
    return rows


def _book_model(dropout=False):
    return models.Sequential([
        layers.Dense(512, activation="relu", input_shape=(784,)),
        *([layers.Dropout(0.5)] if dropout else []),
        layers.Dense(10, activation="softmax"),
    ])


def test_book_network_summary():
    text = _summary(_book_model())
    assert text.splitlines()[0] == 'Model: "sequential"'
    assert "Layer (type)" in text and "Output Shape" in text and "Param #" in text
    rows = _rows(text)
    assert list(rows) == ["dense (Dense)", "dense_1 (Dense)"]
    assert rows["dense (Dense)"] == ("(None, 512)", "401,920")
    assert rows["dense_1 (Dense)"] == ("(None, 10)", "5,130")
    assert "Total params: 407,050" in text
    assert "Trainable params: 407,050" in text
    assert "Non-trainable params: 0" in text
    assert "InputLayer" not in text  # Keras lists no Input row for a Sequential model


def test_summary_totals_lines_match_keras_exactly():
    ours = _summary(_book_model(dropout=True))
    ref_lines = []
    ref = keras.Sequential([keras.Input((784,)), keras.layers.Dense(512, activation="relu"),
                            keras.layers.Dropout(0.5), keras.layers.Dense(10, activation="softmax")])
    ref.summary(print_fn=lambda text, *args, **kwargs: ref_lines.append(text))
    ref_text = "\n".join(ref_lines)
    for prefix in ("Total params:", "Trainable params:", "Non-trainable params:"):
        ours_line = next(line.strip() for line in ours.splitlines() if line.strip().startswith(prefix))
        ref_line = next(line.strip() for line in ref_text.splitlines() if line.strip().startswith(prefix))
        assert ours_line == ref_line
    # Same rows (types, output shapes, counts) in the same order; Keras's names are numbered per process.
    ref_rows = re.findall(r"│ \S+ \((\w+)\)\s+│ (\([^)]*\))\s+│\s+([\d,]+) │", ref_text)
    ours_rows = [(name.split(" (")[1][:-1], shape, count) for name, (shape, count) in _rows(ours).items()]
    assert ours_rows == ref_rows


def test_weightless_layers_are_rows_with_zero_params():
    model = models.Sequential([layers.Flatten(input_shape=(28, 28)), layers.Dense(16, activation="relu"),
                               layers.Dropout(0.5), layers.Activation("softmax"), layers.Reshape((4, 4))])
    rows = _rows(_summary(model))
    assert rows == {
        "flatten (Flatten)": ("(None, 784)", "0"),
        "dense (Dense)": ("(None, 16)", "12,560"),
        "dropout (Dropout)": ("(None, 16)", "0"),
        "activation (Activation)": ("(None, 16)", "0"),
        "reshape (Reshape)": ("(None, 4, 4)", "0"),
    }


def test_explicit_model_and_layer_names():
    model = models.Sequential([layers.Dense(3, input_shape=(2,), name="hidden")], name="tiny")
    text = _summary(model)
    assert text.splitlines()[0] == 'Model: "tiny"'
    assert _rows(text) == {"hidden (Dense)": ("(None, 3)", "9")}


def test_functional_summary_lists_input_rows_and_connections():
    a = layers.Input(shape=(784,))
    b = layers.Input(shape=(16,))
    h = layers.Dense(32, activation="relu")(a)
    out = layers.Dense(10, activation="softmax")(layers.Concatenate()([h, b]))
    text = _summary(models.Model(inputs=[a, b], outputs=out))
    assert text.splitlines()[0] == 'Model: "functional"'
    assert "Connected to" in text
    rows = _rows(text)
    assert rows["input_layer (InputLayer)"] == ("(None, 784)", "0")
    assert rows["input_layer_1 (InputLayer)"] == ("(None, 16)", "0")
    assert rows["dense (Dense)"] == ("(None, 32)", "25,120")
    assert rows["concatenate (Concatenate)"] == ("(None, 48)", "0")
    assert rows["dense_1 (Dense)"] == ("(None, 10)", "490")
    concat_line = next(line for line in text.splitlines() if "concatenate (Concatenate)" in line)
    assert concat_line.rstrip().endswith("dense, input_layer_1")
    assert "Total params: 25,610" in text


def test_named_inputs_and_nested_models_in_summary():
    inner_in = layers.Input((4,))
    encoder = models.Model(inner_in, layers.Dense(3)(inner_in), name="encoder")
    x_in = layers.Input((4,), name="features")
    text = _summary(models.Model(x_in, layers.Dense(1)(encoder(x_in))))
    rows = _rows(text)
    assert rows["features (InputLayer)"] == ("(None, 4)", "0")
    assert rows["encoder (Model)"] == ("(None, 3)", "15")
    assert rows["dense (Dense)"] == ("(None, 1)", "4")
    assert "Total params: 19 " in text


def test_summary_prints_by_default(capsys):
    _book_model().summary()
    out = capsys.readouterr().out
    assert "Total params: 407,050" in out and "dense_1 (Dense)" in out


def test_summary_needs_a_known_input_shape():
    with pytest.raises(ValueError, match="input shape"):
        models.Sequential([layers.Dense(3)]).summary(print_fn=lambda *a: None)

