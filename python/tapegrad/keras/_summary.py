"""``model.summary()``: Keras 3's table of layers, output shapes and
parameter counts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .layers._base import InputLayer, Layer

_WIDTHS = (33, 24, 15)


def _bytes(count_bytes: int) -> str:
    size = float(count_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} GB"


def _weight_bytes(weights: list[Any]) -> int:
    return int(sum(int(np.prod(w.shape)) * w.dtype.size for w in weights))


def _shape_text(layer: Layer) -> str:
    shape = layer.output_shape
    if shape is None:
        return "?"
    return str(tuple(shape)) if not isinstance(shape, list) else str([tuple(s) for s in shape])


def print_summary(model: Any, print_fn: Callable[[str], Any]) -> None:
    top = "┏" + "┳".join("━" * w for w in _WIDTHS) + "┓"
    head_rule = "┡" + "╇".join("━" * w for w in _WIDTHS) + "┩"
    mid = "├" + "┼".join("─" * w for w in _WIDTHS) + "┤"
    bottom = "└" + "┴".join("─" * w for w in _WIDTHS) + "┘"

    def row(left: str, bar: str, cells: tuple[str, str, str]) -> str:
        name, shape, params = cells
        return (
            f"{left} {name:<{_WIDTHS[0] - 2}} {bar} {shape:<{_WIDTHS[1] - 2}} {bar} "
            f"{params:>{_WIDTHS[2] - 2}} {left}"
        )

    print_fn(f'Model: "{model.name}"')
    print_fn(top)
    print_fn(row("┃", "┃", ("Layer (type)", "Output Shape", "Param #")))
    print_fn(head_rule)
    layers = [layer for layer in model.layers if not isinstance(layer, InputLayer)]
    if type(model).__name__ == "Functional":
        layers = list(model.layers)
    for i, layer in enumerate(layers):
        params = str(layer.count_params()) if layer.built else "0 (unbuilt)"
        label = f"{layer.name} ({type(layer).__name__})"
        if len(label) > _WIDTHS[0] - 2:
            # Keras wraps a long label: the name, then the type on the next line
            print_fn(row("│", "│", (layer.name, _shape_text(layer), params)))
            print_fn(row("│", "│", (f"({type(layer).__name__})", "", "")))
        else:
            print_fn(row("│", "│", (label, _shape_text(layer), params)))
        if i < len(layers) - 1:
            print_fn(mid)
    print_fn(bottom)
    trainable = model.trainable_weights
    non_trainable = model.non_trainable_weights
    n_trainable = int(sum(int(np.prod(w.shape)) for w in trainable))
    n_non = int(sum(int(np.prod(w.shape)) for w in non_trainable))
    total_bytes = _weight_bytes(trainable) + _weight_bytes(non_trainable)
    optimizer = getattr(model, "optimizer", None)
    n_optimizer = optimizer_bytes = 0
    if optimizer is not None and optimizer.built:
        # Keras counts the iteration counter (int64), the learning rate
        # (float32) and every slot of every variable
        slots = len(optimizer.get_slot_names())
        variables = optimizer._trainable_variables
        n_optimizer = 2 + slots * int(sum(int(np.prod(v.shape)) for v in variables))
        optimizer_bytes = 8 + 4 + slots * _weight_bytes(variables)
    print_fn(
        f" Total params: {n_trainable + n_non + n_optimizer} "
        f"({_bytes(total_bytes + optimizer_bytes)})"
    )
    print_fn(f" Trainable params: {n_trainable} ({_bytes(_weight_bytes(trainable))})")
    print_fn(f" Non-trainable params: {n_non} ({_bytes(_weight_bytes(non_trainable))})")
    if n_optimizer:
        print_fn(f" Optimizer params: {n_optimizer} ({_bytes(optimizer_bytes)})")
