"""Scatter updates and sliced Variable assignment (TF's state-update API).

``tf.scatter_nd`` and ``tf.tensor_scatter_nd_*`` are functional: one core op
(``_core.tensor_scatter_nd``) returns a new tensor and records its gradient.
A Variable's ``scatter_*`` methods and ``v[key].assign(x)`` compute the new
value with it and ``assign`` it, so they work wherever ``assign`` does.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _core
from ._core import Tensor, Variable
from .errors import InvalidArgumentError
from .types import TensorLike


def _updates_like(updates: TensorLike, tensor: Tensor | Variable) -> Tensor:
    # TF converts Python updates to the tensor's dtype
    return _core.convert_to_tensor(updates, dtype_hint=tensor.dtype)


def scatter_nd(
    indices: TensorLike, updates: TensorLike, shape: TensorLike, name: str | None = None
) -> Tensor:
    """Zeros of ``shape`` with ``updates`` added at ``indices`` (``tf.scatter_nd``).

    ``indices`` is ``[..., k]``: each tuple addresses the first ``k`` axes;
    ``updates`` has shape ``indices.shape[:-1] + shape[k:]``. Duplicate
    indices add up, as in TF. The gradient w.r.t. ``updates`` gathers.

    >>> import tapegrad as tf
    >>> print(tf.scatter_nd([[1], [3], [1]], [1.0, 2.0, 3.0], [5]))
    tapegrad.Tensor([0. 4. 0. 2. 0.], shape=(5,), dtype=float32)
    """
    values = _core.convert_to_tensor(updates)
    dims = [int(d) for d in np.asarray(shape).reshape(-1)]
    return _core.tensor_scatter_nd(
        _core.zeros(dims, dtype=values.dtype), indices, values, "scatter_nd"
    )


def _functional(mode: str, summary: str, example: str) -> Callable[..., Tensor]:
    def op(
        tensor: TensorLike, indices: TensorLike, updates: TensorLike, name: str | None = None
    ) -> Tensor:
        base = _core.convert_to_tensor(tensor)
        return _core.tensor_scatter_nd(base, indices, _updates_like(updates, base), mode)

    op.__name__ = op.__qualname__ = f"tensor_scatter_nd_{mode}"
    op.__doc__ = f"""{summary}

    ``indices`` is ``[..., k]``: each tuple addresses the first ``k`` axes of
    ``tensor``; ``updates`` has shape ``indices.shape[:-1] + tensor.shape[k:]``
    and is converted to ``tensor``'s dtype. Out-of-range indices raise
    ``InvalidArgumentError``.

    >>> import tapegrad as tf
    >>> x = tf.constant([1.0, 5.0, 3.0, 2.0])
    >>> print(tf.tensor_scatter_nd_{mode}(x, [[1], [3]], [4.0, 4.0]))
    {example}
    """
    return op


tensor_scatter_nd_update = _functional(
    "update",
    "``tensor`` with the slices at ``indices`` replaced by ``updates``.\n\n"
    "    With duplicate indices the last update wins (TF's CPU kernel). The\n"
    "    gradient w.r.t. ``tensor`` is zero at the overwritten entries; each update\n"
    "    gets the gradient of the entry it was written to.",
    "tapegrad.Tensor([1. 4. 3. 4.], shape=(4,), dtype=float32)",
)
tensor_scatter_nd_add = _functional(
    "add",
    "``tensor`` with ``updates`` added at ``indices`` (duplicates add up).",
    "tapegrad.Tensor([1. 9. 3. 6.], shape=(4,), dtype=float32)",
)
tensor_scatter_nd_sub = _functional(
    "sub",
    "``tensor`` with ``updates`` subtracted at ``indices`` (duplicates add up).",
    "tapegrad.Tensor([ 1.  1.  3. -2.], shape=(4,), dtype=float32)",
)
tensor_scatter_nd_max = _functional(
    "max",
    "``tensor`` with the larger of the entry and the update at ``indices``.\n\n"
    "    The gradient goes to whichever holds the result, split evenly over ties (TF).",
    "tapegrad.Tensor([1. 5. 3. 4.], shape=(4,), dtype=float32)",
)
tensor_scatter_nd_min = _functional(
    "min",
    "``tensor`` with the smaller of the entry and the update at ``indices``.\n\n"
    "    The gradient goes to whichever holds the result, split evenly over ties (TF).",
    "tapegrad.Tensor([1. 4. 3. 2.], shape=(4,), dtype=float32)",
)


# -- Variable methods ----------------------------------------------------------


def _scatter_nd_method(mode: str) -> Callable[..., Variable]:
    def method(
        var: Variable, indices: TensorLike, updates: TensorLike, name: str | None = None
    ) -> Variable:
        new = _core.tensor_scatter_nd(var.value(), indices, _updates_like(updates, var), mode)
        var.assign(new)
        return var

    return method


def _sparse_delta(var: Variable, sparse_delta: Any) -> tuple[Tensor, Tensor]:
    from ._indexed_slices import IndexedSlices

    if not isinstance(sparse_delta, IndexedSlices):
        raise TypeError(
            f"Argument `sparse_delta` must be a `tf.IndexedSlices`. Received arg: {sparse_delta}"
        )
    rows = _core.expand_dims(sparse_delta.indices, -1)
    return rows, _updates_like(sparse_delta.values, var)


def _scatter_rows_method(mode: str) -> Callable[..., Variable]:
    def method(
        var: Variable, sparse_delta: Any, use_locking: bool = False, name: str | None = None
    ) -> Variable:
        rows, values = _sparse_delta(var, sparse_delta)
        var.assign(_core.tensor_scatter_nd(var.value(), rows, values, mode))
        return var

    return method


def _sparse_read(var: Variable, indices: TensorLike, name: str | None = None) -> Tensor:
    from ._indexed_slices import gather

    return gather(var, indices)


def _gather_nd(var: Variable, indices: TensorLike, name: str | None = None) -> Tensor:
    from ._indexed_slices import gather_nd

    return gather_nd(var, indices)


_VARIABLE_METHODS: dict[str, Callable[..., Any]] = {
    **{f"scatter_nd_{m}": _scatter_nd_method(m) for m in ("update", "add", "sub", "max", "min")},
    **{f"scatter_{m}": _scatter_rows_method(m) for m in ("update", "add", "sub", "max", "min")},
    "sparse_read": _sparse_read,
    "gather_nd": _gather_nd,
}


def variable_attr(var: Variable, name: str) -> Any:
    """``Variable.<name>`` for the methods written here (called by the core
    when ordinary lookup fails)."""
    method = _VARIABLE_METHODS.get(name)
    if method is None:
        raise AttributeError(f"'tapegrad.Variable' object has no attribute '{name}'")
    return functools.partial(method, var)


# -- sliced assignment: v[key].assign(x) ---------------------------------------

# tensor id -> (weak reference to the slice, its variable, the key); an entry
# goes when its slice does
_SLICES: dict[int, tuple[weakref.ref[Tensor], Variable, Any]] = {}


def remember_slice(var: Variable, key: Any, sliced: Tensor) -> Tensor:
    """``var[key]`` returns ``sliced``; remember where it came from so that
    ``sliced.assign(x)`` writes into ``var``."""
    tensor_id = sliced._id
    ref = weakref.ref(sliced, lambda _: _SLICES.pop(tensor_id, None))
    _SLICES[tensor_id] = (ref, var, key)
    return sliced


def slice_assign(sliced: Tensor) -> Callable[..., Variable]:
    """``sliced.assign`` of a Variable's slice (called by the core)."""
    entry = _SLICES.get(sliced._id)
    if entry is None:
        raise AttributeError("'tapegrad.Tensor' object has no attribute 'assign'")
    _, var, key = entry
    return functools.partial(_assign_into, var, key)


def _assign_into(var: Variable, key: Any, value: TensorLike, name: str | None = None) -> Variable:
    """Write ``value`` (broadcast to the slice's shape) into ``var[key]``."""
    # the flat position of every element the key selects, by the same
    # indexing rules as the read
    positions = _core.constant(
        np.arange(int(np.prod(var.shape)), dtype=np.int64).reshape(tuple(var.shape))
    )[key]
    values = _core.convert_to_tensor(value, dtype_hint=var.dtype)
    if values.dtype != var.dtype:
        values = _core.cast(values, var.dtype)
    try:
        values = _core.broadcast_to(values, positions.shape)
    except ValueError as err:
        raise InvalidArgumentError(
            f"Variable slice assignment: cannot broadcast input shape {list(values.shape)} into "
            f"final shape {list(positions.shape)} (the shape of {var.name}[...])"
        ) from err
    flat = _core.tensor_scatter_nd(
        _core.reshape(var.value(), [-1]),
        _core.reshape(positions, [-1, 1]),
        _core.reshape(values, [-1]),
        "update",
    )
    var.assign(_core.reshape(flat, list(var.shape)))
    return var
