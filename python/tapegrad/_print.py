"""``tf.print``: TF's text for tensors, written to a stream."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from . import _nest
from ._core import Tensor, Variable

__all__ = ["print_"]

_STREAM_HELP = (
    "Supported streams are sys.stdout, sys.stderr, and a file path in the form 'file://<filepath>'."
)


def _element(value: Any, dtype: np.dtype[Any]) -> str:
    """One element as TF writes it: the shortest of ``%.{digits}g`` and
    ``%.{digits + 2 or 3}g`` that reads back to the same number."""
    if dtype == np.bool_:
        return "1" if value else "0"
    if dtype.kind == "O":  # text written by the caller (tf.strings.format's quoted strings)
        return str(value)
    if dtype.kind in "iu":
        return str(int(value))
    if np.isnan(value):
        return "nan"
    if np.isinf(value):
        return "inf" if value > 0 else "-inf"
    short, full = (6, 9) if dtype == np.float32 else (15, 17)
    text = f"{float(value):.{short}g}"
    if dtype.type(text) != value:
        text = f"{float(value):.{full}g}"
    return text


def _summarized(count: int, summarize: int) -> list[int | None]:
    """The indices shown along one axis; ``None`` marks the elided middle."""
    if summarize < 0 or count <= 2 * summarize:
        return list(range(count))
    return [*range(summarize), None, *range(count - summarize, count)]


def format_tensor(array: np.ndarray[Any, Any], summarize: int = 3, depth: int = 0) -> str:
    """The text ``tf.print`` writes for an array: nested brackets, elements
    separated by spaces, and at most ``2 * summarize`` entries per axis.

    >>> import numpy as np
    >>> format_tensor(np.arange(10))
    '[0 1 2 ... 7 8 9]'
    """
    if array.ndim == 0:
        return _element(array[()], array.dtype)
    indices = _summarized(array.shape[0], summarize)
    separator = " " if array.ndim == 1 else "\n" * (array.ndim - 1) + " " * (depth + 1)
    if indices == [None]:  # summarize=0: TF writes the elision after an empty head
        return "[" + separator + "...]"
    if array.ndim == 1:
        return (
            "["
            + " ".join("..." if i is None else _element(array[i], array.dtype) for i in indices)
            + "]"
        )
    rows = ["..." if i is None else format_tensor(array[i], summarize, depth + 1) for i in indices]
    return "[" + separator.join(rows) + "]"


class _Formatted:
    """A tensor inside a printed structure: its repr is its TF text."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _text(value: Any, summarize: int) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (Tensor, Variable)):
        return format_tensor(np.asarray(value), summarize)
    if _nest.is_nested(value):
        leaves = [
            _Formatted(format_tensor(np.asarray(v), summarize))
            if isinstance(v, (Tensor, Variable))
            else v
            for v in _nest.flatten(value)
        ]
        return repr(_nest.pack_sequence_as(value, leaves))
    return repr(value)


def print_(
    *inputs: Any,
    output_stream: Any = None,
    summarize: int | None = 3,
    sep: str = " ",
    end: str = "\n",
    name: str | None = None,
) -> None:
    """Print tensors and Python values as TF's ``tf.print`` does.

    Tensors print as nested brackets of their elements, with at most
    ``summarize`` entries at each end of every axis (``-1`` or ``None``:
    all); floats use the fewest digits (6 or 9 for float32, 15 or 17 for
    float64) that read back exactly; bools print as ``1``/``0``. Strings
    print as they are, other values as their ``repr`` (tensors inside lists
    and dicts included). ``output_stream`` is ``sys.stderr`` (the default:
    the one current at the call), ``sys.stdout``, any object with a
    ``write`` method, or ``"file://<path>"`` (appended to).

    >>> import sys, tapegrad as tf
    >>> tf.print("loss:", tf.constant(0.5), tf.range(10), output_stream=sys.stdout)
    loss: 0.5 [0 1 2 ... 7 8 9]
    >>> tf.print(tf.constant([0.1, 1 / 3]), {"w": tf.constant([True])}, output_stream=sys.stdout)
    [0.1 0.333333343] {'w': [1]}
    """
    from ._function import every_call  # late: _function imports the data package

    # inside tf.function this prints at every call, with that call's values
    structure = list(inputs)
    flat = _nest.flatten(structure)
    tensors = [v for v in flat if isinstance(v, (Tensor, Variable))]

    def write(*values: Any) -> None:
        fresh = iter(values)
        leaves = [next(fresh) if isinstance(v, (Tensor, Variable)) else v for v in flat]
        _write(_nest.pack_sequence_as(structure, leaves), output_stream, summarize, sep, end)

    every_call(write, tensors)


def _write(
    inputs: list[Any], output_stream: Any, summarize: int | None, sep: str, end: str
) -> None:
    if output_stream is None:
        output_stream = sys.stderr
    limit = -1 if summarize is None else int(summarize)
    text = sep.join(_text(v, limit) for v in inputs) + end
    if isinstance(output_stream, str) and output_stream.startswith("file://"):
        with open(output_stream[len("file://") :], "a", encoding="utf-8") as f:
            f.write(text)
        return
    if hasattr(output_stream, "write"):
        output_stream.write(text)
        return
    raise ValueError(
        f"Unsupported output stream, logging level, or file.{output_stream}. {_STREAM_HELP}"
    )
