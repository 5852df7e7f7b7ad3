"""The text of `model.summary()`, laid out as Keras prints it."""
from __future__ import annotations

import math

import jax
import numpy as np

from funcnet._checks import format_shape
from funcnet.models._graph import Graph
from funcnet.optimizers._transforms import is_frozen


def _size(n_bytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n_bytes < 1024 or unit == "GB":
            return f"{n_bytes:.2f} {unit}"
        n_bytes /= 1024
    raise AssertionError  # unreachable


def _count(tree) -> int:
    return sum(math.prod(leaf.shape) for leaf in jax.tree_util.tree_leaves(tree))


def _bytes(tree) -> int:
    return sum(math.prod(leaf.shape) * np.dtype(leaf.dtype).itemsize for leaf in jax.tree_util.tree_leaves(tree))


def render(model_name: str, graph: Graph, expected_params: dict, expected_state: dict, show_inputs: bool,
           frozen: tuple = ()) -> str:
    """Rows of `name (Type) | output shape | param count`, then the totals.

    A layer's count includes its state (BatchNormalization's moving statistics), which the totals list
    as non-trainable, as Keras does, and so do the params under `frozen` (the key paths of the layers
    with `trainable=False`). `show_inputs` adds the Input rows and a "Connected to" column, as
    Keras does for functional models.
    """
    producer = {step.output: step.name for step in graph.steps}
    producer.update(zip(graph.input_slots, graph.input_names))
    rows = []
    if show_inputs:
        for name, shape in zip(graph.input_names, graph.input_shapes):
            rows.append((f"{name} (InputLayer)", format_shape(shape), "0", "-"))
    seen: set[str] = set()
    for step in graph.steps:
        if step.name in seen:
            count = "0 (shared)"
        else:
            seen.add(step.name)
            count = f"{_count(expected_params.get(step.name, {})) + _count(expected_state.get(step.name, {})):,}"
        out = step.output_shape
        rows.append(
            (
                f"{step.name} ({type(step.layer).__name__})",
                format_shape(list(out)) if isinstance(out, list) else format_shape(out),
                count,
                ", ".join(producer[s] + ("" if i is None else f"[{i}]") for s, i in step.inputs),
            )
        )
    headers = ("Layer (type)", "Output Shape", "Param #", "Connected to")
    ncols = 4 if show_inputs else 3
    widths = [max(len(headers[c]), *(len(r[c]) for r in rows)) + 3 for c in range(ncols)]

    def line(cells):
        parts = [cells[c].ljust(widths[c]) if c != 2 else cells[c].rjust(widths[c] - 3) + "   " for c in range(ncols)]
        return " " + "".join(parts).rstrip()

    total_width = sum(widths) + 1
    leaves = jax.tree_util.tree_flatten_with_path(expected_params)[0]
    held = [leaf for path, leaf in leaves if not is_frozen(path, frozen)]
    still = [leaf for path, leaf in leaves if is_frozen(path, frozen)]
    trainable, non_trainable = _count(held), _count(expected_state) + _count(still)
    trainable_bytes, non_trainable_bytes = _bytes(held), _bytes(expected_state) + _bytes(still)
    total, total_bytes = trainable + non_trainable, trainable_bytes + non_trainable_bytes
    out = [f'Model: "{model_name}"', "_" * total_width, line(headers), "=" * total_width]
    out += [line(r) for r in rows]
    out += [
        "=" * total_width,
        f" Total params: {total:,} ({_size(total_bytes)})",
        f" Trainable params: {trainable:,} ({_size(trainable_bytes)})",
        f" Non-trainable params: {non_trainable:,} ({_size(non_trainable_bytes)})",
        "_" * total_width,
    ]
    return "\n".join(out)
