"""``tf.sparse.SparseTensor`` and the ``tf.sparse`` ops, over gather/scatter.

A SparseTensor is three tensors: ``indices`` (``[n, rank]`` int64, the
coordinates of the stored entries), ``values`` (``[n]``) and ``dense_shape``
(``[rank]`` int64). The coordinates are plain data (numpy does the index
bookkeeping); every op moves ``values`` with ``gather``/``scatter_nd``/``*``,
so gradients flow to the values (and to dense operands) through the tape.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _core
from ._core import Tensor, Variable
from .dtypes import int64
from .errors import InvalidArgumentError
from .types import TensorLike

_TENSORS = (Tensor, Variable)


def _as_tensor(x: Any, dtype: Any = None) -> Tensor:
    if isinstance(x, _TENSORS) and (dtype is None or x.dtype == dtype):
        return x  # type: ignore[return-value]
    return _core.convert_to_tensor(x, dtype=dtype)


class SparseTensor:
    """A tensor stored as its non-default entries (``tf.sparse.SparseTensor``).

    >>> import tapegrad as tf
    >>> st = tf.sparse.SparseTensor(indices=[[0, 3], [2, 1]], values=[1.0, 2.0], dense_shape=[3, 4])
    >>> st.shape
    TensorShape([3, 4])
    >>> print(tf.sparse.to_dense(st))
    tapegrad.Tensor(
    [[0. 0. 0. 1.]
     [0. 0. 0. 0.]
     [0. 2. 0. 0.]], shape=(3, 4), dtype=float32)
    """

    def __init__(self, indices: TensorLike, values: TensorLike, dense_shape: TensorLike) -> None:
        self._indices = _int64(indices)
        self._values = _as_tensor(values)
        self._dense_shape = _int64(dense_shape)
        n, rank = (list(self._indices.shape) + [0, 0])[:2]
        if (
            len(self._indices.shape) != 2
            or list(self._values.shape) != [n]
            or list(self._dense_shape.shape) != [rank]
        ):
            raise ValueError(
                f"SparseTensor: indices must be [n, rank], values [n] and dense_shape [rank]; got "
                f"indices {list(self._indices.shape)}, values {list(self._values.shape)}, "
                f"dense_shape {list(self._dense_shape.shape)}"
            )

    @property
    def indices(self) -> Tensor:
        """The coordinates of the stored entries, ``[n, rank]`` int64."""
        return self._indices

    @property
    def values(self) -> Tensor:
        """The stored entries, ``[n]``."""
        return self._values

    @property
    def dense_shape(self) -> Tensor:
        """The dense shape, ``[rank]`` int64."""
        return self._dense_shape

    @property
    def dtype(self) -> Any:
        """The values' dtype."""
        return self._values.dtype

    @property
    def shape(self) -> Any:
        """The dense shape as a ``TensorShape``."""
        from ._shape import TensorShape

        return TensorShape(_dims(self))

    def get_shape(self) -> Any:
        """``shape`` (TF's graph-era name)."""
        return self.shape

    def with_values(self, new_values: TensorLike) -> SparseTensor:
        """The same coordinates with other values."""
        return SparseTensor(self._indices, new_values, self._dense_shape)

    @classmethod
    def from_value(cls, value: Any) -> SparseTensor:
        """``value`` itself if it is a SparseTensor (TF's ``from_value``)."""
        if isinstance(value, SparseTensor):
            return value
        raise TypeError(
            f"SparseTensor.from_value: expected a SparseTensor, got {type(value).__name__}"
        )

    def __str__(self) -> str:
        parts = f"indices={self._indices!s}, values={self._values!s}"
        return f"SparseTensor({parts}, dense_shape={self._dense_shape!s})"

    __repr__ = __str__

    def _dense_operand(self, other: TensorLike) -> Tensor:
        dense = _core.broadcast_to(
            _core.convert_to_tensor(other, dtype_hint=self.dtype), _dims(self)
        )
        return _core.gather_nd(dense, self._indices)

    def __mul__(self, other: TensorLike) -> SparseTensor:
        return self.with_values(self._values * self._dense_operand(other))

    def __truediv__(self, other: TensorLike) -> SparseTensor:
        return self.with_values(self._values / self._dense_operand(other))

    def __neg__(self) -> SparseTensor:
        return self.with_values(-self._values)


def _int64(x: Any) -> Tensor:
    t = _as_tensor(x)
    return t if t.dtype == int64 else _core.cast(t, int64)


def _dims(sp: SparseTensor) -> list[int]:
    return [int(d) for d in sp.dense_shape.numpy()]


def _coords(sp: SparseTensor) -> np.ndarray:
    return np.asarray(sp.indices.numpy(), dtype=np.int64).reshape(-1, len(_dims(sp)))


def _linear(coords: np.ndarray, dims: Sequence[int]) -> np.ndarray:
    return (
        np.ravel_multi_index(tuple(coords.T), tuple(dims)) if coords.size else np.zeros(0, np.int64)
    )


def _check(sp: Any, op: str) -> SparseTensor:
    if not isinstance(sp, SparseTensor):
        raise TypeError(f"tf.sparse.{op}: expected a SparseTensor, got {type(sp).__name__}")
    return sp


def from_dense(tensor: TensorLike, name: str | None = None) -> SparseTensor:
    """The non-zero entries of a dense tensor (``tf.sparse.from_dense``).

    >>> import tapegrad as tf
    >>> sp = tf.sparse.from_dense(tf.constant([[0.0, 1.0], [2.0, 0.0]]))
    >>> sp.indices.numpy().tolist(), sp.values.numpy().tolist()
    ([[0, 1], [1, 0]], [1.0, 2.0])
    """
    dense = _as_tensor(tensor)
    coords = _core.cast(_core.where(_core.ops["not_equal"](dense, _core.zeros_like(dense))), int64)
    return SparseTensor(
        coords, _core.gather_nd(dense, coords), _core.constant(list(dense.shape), dtype=int64)
    )


def to_dense(
    sp_input: SparseTensor,
    default_value: Any = None,
    validate_indices: bool = True,
    name: str | None = None,
) -> Tensor:
    """The dense tensor: ``values`` at ``indices``, ``default_value`` (0)
    elsewhere (``tf.sparse.to_dense``). Indices must be in row-major order
    without repeats (``tf.sparse.reorder`` sorts them), as TF requires.

    >>> import tapegrad as tf
    >>> print(tf.sparse.to_dense(tf.sparse.SparseTensor([[1]], [5], [3]), default_value=-1))
    tapegrad.Tensor([-1  5 -1], shape=(3,), dtype=int32)
    """
    sp = _check(sp_input, "to_dense")
    dims = _dims(sp)
    coords = _coords(sp)
    if validate_indices and len(coords) > 1:
        flat = _linear(coords, dims)
        bad = np.nonzero(np.diff(flat) <= 0)[0]
        if bad.size:
            k = int(bad[0]) + 1
            what = "is repeated" if flat[k] == flat[k - 1] else "is out of order"
            raise InvalidArgumentError(
                f"SparseToDense: indices[{k}] = {coords[k].tolist()} {what}. Many sparse ops "
                "require "
                "sorted indices. Use `tf.sparse.reorder` to create a correctly ordered copy."
            )
    base = _core.fill(dims, _core.cast(0 if default_value is None else default_value, sp.dtype))
    return _core.tensor_scatter_nd(base, sp.indices, sp.values, "update")


def reorder(sp_input: SparseTensor, name: str | None = None) -> SparseTensor:
    """The same entries in row-major order of their indices (``tf.sparse.reorder``).

    >>> import tapegrad as tf
    >>> sp = tf.sparse.reorder(tf.sparse.SparseTensor([[2, 1], [0, 3]], [2.0, 1.0], [3, 4]))
    >>> sp.indices.numpy().tolist(), sp.values.numpy().tolist()
    ([[0, 3], [2, 1]], [1.0, 2.0])
    """
    sp = _check(sp_input, "reorder")
    order = np.argsort(_linear(_coords(sp), _dims(sp)), kind="stable")
    return _take(sp, order)


def _take(sp: SparseTensor, rows: np.ndarray) -> SparseTensor:
    picked = _core.constant(np.asarray(rows, dtype=np.int64).reshape(-1))
    return SparseTensor(
        _core.gather(sp.indices, picked), _core.gather(sp.values, picked), sp.dense_shape
    )


def retain(sp_input: SparseTensor, to_retain: TensorLike) -> SparseTensor:
    """The entries where the boolean vector ``to_retain`` holds (``tf.sparse.retain``).

    >>> import tapegrad as tf
    >>> st = tf.sparse.SparseTensor([[0, 3], [2, 1]], [1.0, 2.0], [3, 4])
    >>> sp = tf.sparse.retain(st, [False, True])
    >>> sp.indices.numpy().tolist(), sp.values.numpy().tolist()
    ([[2, 1]], [2.0])
    """
    sp = _check(sp_input, "retain")
    keep = np.asarray(_as_tensor(to_retain).numpy(), dtype=bool).reshape(-1)
    if keep.shape[0] != int(sp.values.shape[0]):
        raise InvalidArgumentError(
            f"tf.sparse.retain: to_retain has {keep.shape[0]} entries for "
            f"{int(sp.values.shape[0])} values"
        )
    return _take(sp, np.nonzero(keep)[0])


def add(a: Any, b: Any, threshold: float = 0, name: str | None = None) -> Any:
    """``a + b`` (``tf.sparse.add``): a SparseTensor when both are sparse
    (coinciding entries summed; sums with ``|sum| < threshold`` dropped), a
    dense tensor when one is dense.

    >>> import tapegrad as tf
    >>> a = tf.sparse.SparseTensor([[0, 0], [1, 1]], [1.0, 2.0], [2, 2])
    >>> b = tf.sparse.SparseTensor([[0, 0], [0, 1]], [3.0, 4.0], [2, 2])
    >>> s = tf.sparse.add(a, b)
    >>> s.indices.numpy().tolist(), s.values.numpy().tolist()
    ([[0, 0], [0, 1], [1, 1]], [4.0, 4.0, 2.0])
    """
    if not isinstance(a, SparseTensor):
        a, b = b, a
    a = _check(a, "add")
    if not isinstance(b, SparseTensor):
        return _dense_sum(a, b)
    dims = _dims(a)
    if dims != _dims(b):
        raise InvalidArgumentError(
            f"tf.sparse.add: operands have dense shapes {dims} and {_dims(b)}"
        )
    coords = np.concatenate([_coords(a), _coords(b)])
    unique, inverse = np.unique(_linear(coords, dims), return_inverse=True)
    values = _core.concat([a.values, b.values], 0)
    summed = _core.tensor_scatter_nd(
        _core.zeros([len(unique)], dtype=values.dtype),
        _core.constant(inverse.reshape(-1, 1).astype(np.int64)),
        values,
        "scatter_nd",
    )
    indices = (
        np.stack(np.unravel_index(unique, dims), axis=1)
        if len(unique)
        else np.zeros((0, len(dims)), np.int64)
    )
    out = SparseTensor(_core.constant(indices.astype(np.int64)), summed, a.dense_shape)
    if threshold:
        return retain(out, np.abs(summed.numpy()) >= threshold)
    return out


def _dense_sum(a: SparseTensor, b: TensorLike) -> Tensor:
    dense = _core.convert_to_tensor(b, dtype_hint=a.dtype)
    return _core.tensor_scatter_nd(dense, a.indices, a.values, "add")


def sparse_dense_matmul(
    sp_a: Any, b: Any, adjoint_a: bool = False, adjoint_b: bool = False, name: str | None = None
) -> Tensor:
    """The matrix product of a rank-2 SparseTensor and a dense matrix
    (``tf.sparse.sparse_dense_matmul``); ``adjoint_*`` transposes an operand
    first (real dtypes: the adjoint is the transpose).

    >>> import tapegrad as tf
    >>> sp = tf.sparse.SparseTensor([[0, 1], [2, 0]], [1.0, 2.0], [3, 2])
    >>> print(tf.sparse.sparse_dense_matmul(sp, tf.ones([2, 2])))
    tapegrad.Tensor(
    [[1. 1.]
     [0. 0.]
     [2. 2.]], shape=(3, 2), dtype=float32)
    """
    sp = _check(sp_a, "sparse_dense_matmul")
    dims = _dims(sp)
    if len(dims) != 2:
        raise InvalidArgumentError(
            f"tf.sparse.sparse_dense_matmul: sp_a must be a matrix, got dense shape {dims}"
        )
    dense = _core.convert_to_tensor(b, dtype_hint=sp.dtype)
    if adjoint_b:
        dense = _core.transpose(dense)
    rows, cols = (1, 0) if adjoint_a else (0, 1)
    m, k = dims[rows], dims[cols]
    if len(dense.shape) != 2 or int(dense.shape[0]) != k:
        raise InvalidArgumentError(
            f"tf.sparse.sparse_dense_matmul: cannot multiply a {m}x{k} sparse matrix by "
            f"shape {list(dense.shape)}"
        )
    coords = _coords(sp)
    picked = _core.gather(dense, _core.constant(coords[:, cols]))
    contributions = _core.expand_dims(sp.values, -1) * picked
    out_rows = _core.constant(coords[:, rows : rows + 1])
    zeros = _core.zeros([m, int(dense.shape[1])], dtype=contributions.dtype)
    return _core.tensor_scatter_nd(zeros, out_rows, contributions, "scatter_nd")


def reduce_sum(
    sp_input: SparseTensor,
    axis: Any = None,
    keepdims: bool = False,
    output_is_sparse: bool = False,
    name: str | None = None,
) -> Any:
    """The sum over ``axis`` (all axes if ``None``) of the entries
    (``tf.sparse.reduce_sum``): dense, or a SparseTensor of the coordinates
    that hold entries with ``output_is_sparse``.

    >>> import tapegrad as tf
    >>> sp = tf.sparse.SparseTensor([[0, 3], [2, 1]], [1.0, 2.0], [3, 4])
    >>> print(tf.sparse.reduce_sum(sp, axis=1))
    tapegrad.Tensor([1. 0. 2.], shape=(3,), dtype=float32)
    """
    sp = _check(sp_input, "reduce_sum")
    dims = _dims(sp)
    rank = len(dims)
    axes = range(rank) if axis is None else [int(a) % rank for a in np.asarray(axis).reshape(-1)]
    kept = [d for d in range(rank) if d not in set(axes)]
    out_dims = (
        [1 if d in set(axes) else n for d, n in enumerate(dims)]
        if keepdims
        else [dims[d] for d in kept]
    )
    coords = _coords(sp)
    if keepdims:
        target = coords.copy()
        target[:, list(set(axes))] = 0
    else:
        target = coords[:, kept]
    if output_is_sparse:
        flat = _linear(target, out_dims)
        unique, inverse = np.unique(flat, return_inverse=True)
        summed = _core.tensor_scatter_nd(
            _core.zeros([len(unique)], dtype=sp.dtype),
            _core.constant(inverse.reshape(-1, 1).astype(np.int64)),
            sp.values,
            "scatter_nd",
        )
        idx = (
            np.stack(np.unravel_index(unique, out_dims), axis=1)
            if out_dims
            else np.zeros((len(unique), 0), np.int64)
        )
        return SparseTensor(
            _core.constant(idx.astype(np.int64)), summed, _core.constant(out_dims, dtype=int64)
        )
    if not out_dims:
        return _core.reduce_sum(sp.values)
    zeros = _core.zeros(out_dims, dtype=sp.dtype)
    return _core.tensor_scatter_nd(
        zeros, _core.constant(target.astype(np.int64)), sp.values, "scatter_nd"
    )


def slice(sp_input: SparseTensor, start: Any, size: Any, name: str | None = None) -> SparseTensor:  # noqa: A001 - TF's name
    """The entries inside the box ``[start, start + size)``, re-based to it
    (``tf.sparse.slice``); the box is clipped to the dense shape.

    >>> import tapegrad as tf
    >>> sp = tf.sparse.SparseTensor([[0, 3], [2, 1]], [1.0, 2.0], [3, 4])
    >>> part = tf.sparse.slice(sp, [1, 0], [2, 4])
    >>> part.indices.numpy().tolist(), part.dense_shape.numpy().tolist()
    ([[1, 1]], [2, 4])
    """
    sp = _check(sp_input, "slice")
    dims = np.asarray(_dims(sp), dtype=np.int64)
    lo = np.asarray(start, dtype=np.int64).reshape(-1)
    hi = np.minimum(lo + np.asarray(size, dtype=np.int64).reshape(-1), dims)
    coords = _coords(sp)
    inside = np.all((coords >= lo) & (coords < hi), axis=1)
    rows = np.nonzero(inside)[0]
    picked = _core.constant(rows.astype(np.int64))
    return SparseTensor(
        _core.constant((coords[rows] - lo).astype(np.int64)),
        _core.gather(sp.values, picked),
        _core.constant(np.maximum(hi - lo, 0).astype(np.int64)),
    )
