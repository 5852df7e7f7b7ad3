"""The text of `model.summary()`, laid out as Keras prints it."""
from __future__ import annotations

import math

import jax
import numpy as np

from funcnet._checks import format_shape
from funcnet.models._graph import Graph


def _size(n_bytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n_bytes < 1024 or unit == "GB":
            return f"{n_bytes:.2f} {unit}"
        n_bytes /= 1024
    raise AssertionError  # unreachable


def render(model_name: str, graph: Graph, expected_params: dict, show_inputs: bool) -> str:
    """Rows of `name (Type) | output shape | param count`, then the totals.

    `show_inputs` adds the Input rows and a "Connected to" column, as Keras does for functional models.
    """
    producer = {step.output: step.name for step in graph.steps}
    producer.update(zip(graph.input_slots, graph.input_names))
    rows = []
    if show_inputs:
        for name, layer, shape in zip(graph.input_names, graph.input_layers, graph.input_shapes):
            rows.append((f"{name} (InputLayer)", format_shape(shape), "0", "-"))
    seen: set[str] = set()
    for step in graph.steps:
        if step.name in seen:
            count = "0 (shared)"
        else:
            seen.add(step.name)
            leaves = jax.tree_util.tree_leaves(expected_params.get(step.name, {}))
            count = f"{sum(math.prod(leaf.shape) for leaf in leaves):,}"
        out = step.output_shape
        rows.append(
            (
                f"{step.name} ({type(step.layer).__name__})",
                format_shape(list(out)) if isinstance(out, list) else format_shape(out),
                count,
                ", ".join(producer[s] for s in step.inputs),
            )
        )
    headers = ("Layer (type)", "Output Shape", "Param #", "Connected to")
    ncols = 4 if show_inputs else 3
    widths = [max(len(headers[c]), *(len(r[c]) for r in rows)) + 3 for c in range(ncols)]

    def line(cells):
        parts = [cells[c].ljust(widths[c]) if c != 2 else cells[c].rjust(widths[c] - 3) + "   " for c in range(ncols)]
        return " " + "".join(parts).rstrip()

    total_width = sum(widths) + 1
    leaves = jax.tree_util.tree_leaves(expected_params)
    total = sum(math.prod(leaf.shape) for leaf in leaves)
    total_bytes = sum(math.prod(leaf.shape) * np.dtype(leaf.dtype).itemsize for leaf in leaves)
    out = [f'Model: "{model_name}"', "_" * total_width, line(headers), "=" * total_width]
    out += [line(r) for r in rows]
    out += [
        "=" * total_width,
        f" Total params: {total:,} ({_size(total_bytes)})",
        f" Trainable params: {total:,} ({_size(total_bytes)})",
        f" Non-trainable params: 0 ({_size(0)})",
        "_" * total_width,
    ]
    return "\n".join(out)
