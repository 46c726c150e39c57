"""``tf.RaggedTensor``: rows of different lengths (one ragged dimension).

A RaggedTensor is ``flat_values`` (every row's elements, concatenated; any
uniform inner dimensions stay) plus ``row_splits`` (row ``i`` is
``flat_values[row_splits[i]:row_splits[i + 1]]``). The splits are plain data;
every op moves ``flat_values`` with tensor ops, so gradients flow to them.
"""

from __future__ import annotations

import builtins
import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _core
from ._core import Tensor, Variable
from .dtypes import int64
from .errors import InvalidArgumentError
from .types import TensorLike

_TENSORS = (Tensor, Variable)


def _tensor(x: Any, dtype: Any = None) -> Tensor:
    if isinstance(x, _TENSORS) and dtype is None:
        return x  # type: ignore[return-value]
    return _core.convert_to_tensor(x, dtype=dtype)


class RaggedTensor:
    """Rows of different lengths (``tf.RaggedTensor``), ragged in axis 1.

    >>> import tapegrad as tf
    >>> rt = tf.ragged.constant([[1.0, 2.0], [], [3.0]])
    >>> rt.shape
    TensorShape([3, None])
    >>> print(rt.row_lengths())
    tapegrad.Tensor([2 0 1], shape=(3,), dtype=int64)
    >>> print(rt.to_tensor())
    tapegrad.Tensor(
    [[1. 2.]
     [0. 0.]
     [3. 0.]], shape=(3, 2), dtype=float32)
    """

    def __init__(self, values: TensorLike, row_splits: Any, _internal: bool = False) -> None:
        if not _internal:
            raise ValueError(
                "RaggedTensor constructor is private; please use one of the factory methods "
                "instead (e.g., RaggedTensor.from_row_lengths())"
            )
        self._values = _tensor(values)
        self._splits = np.asarray(row_splits, dtype=np.int64).reshape(-1)

    # -- factories ---------------------------------------------------------
    @classmethod
    def from_row_splits(
        cls,
        values: TensorLike,
        row_splits: TensorLike,
        name: str | None = None,
        validate: bool = True,
    ) -> RaggedTensor:
        """Row ``i`` is ``values[row_splits[i]:row_splits[i + 1]]``.

        >>> import tapegrad as tf
        >>> print(tf.RaggedTensor.from_row_splits([1, 2, 3], [0, 2, 2, 3]))
        <tf.RaggedTensor [[1, 2], [], [3]]>
        """
        flat = _tensor(values)
        splits = np.asarray(_tensor(row_splits).numpy(), dtype=np.int64).reshape(-1)
        if validate and (
            splits.size == 0
            or splits[0] != 0
            or np.any(np.diff(splits) < 0)
            or splits[-1] != int(flat.shape[0])
        ):
            raise InvalidArgumentError(
                f"RaggedTensor: row_splits {splits.tolist()} must start at 0, not decrease, "
                f"and end at "
                f"the number of values ({int(flat.shape[0])})"
            )
        return cls(flat, splits, _internal=True)

    @classmethod
    def from_row_lengths(
        cls,
        values: TensorLike,
        row_lengths: TensorLike,
        name: str | None = None,
        validate: bool = True,
    ) -> RaggedTensor:
        """Row ``i`` holds the next ``row_lengths[i]`` values.

        >>> import tapegrad as tf
        >>> print(tf.RaggedTensor.from_row_lengths([1, 2, 3], [2, 0, 1]))
        <tf.RaggedTensor [[1, 2], [], [3]]>
        """
        lengths = np.asarray(_tensor(row_lengths).numpy(), dtype=np.int64).reshape(-1)
        if np.any(lengths < 0):
            raise InvalidArgumentError(f"RaggedTensor: row_lengths {lengths.tolist()} must be >= 0")
        return cls.from_row_splits(
            values, np.concatenate([[0], np.cumsum(lengths)]), validate=validate
        )

    @classmethod
    def from_value_rowids(
        cls,
        values: TensorLike,
        value_rowids: TensorLike,
        nrows: int | None = None,
        name: str | None = None,
        validate: bool = True,
    ) -> RaggedTensor:
        """Value ``j`` goes to row ``value_rowids[j]`` (sorted); ``nrows`` adds empty trailing rows.

        >>> import tapegrad as tf
        >>> print(tf.RaggedTensor.from_value_rowids([1, 2, 3], [0, 0, 2], nrows=4))
        <tf.RaggedTensor [[1, 2], [], [3], []]>
        """
        ids = np.asarray(_tensor(value_rowids).numpy(), dtype=np.int64).reshape(-1)
        if np.any(np.diff(ids) < 0) or np.any(ids < 0):
            raise InvalidArgumentError(
                f"RaggedTensor: value_rowids {ids.tolist()} must be sorted and >= 0"
            )
        count = int(ids[-1]) + 1 if ids.size else 0
        rows = count if nrows is None else int(nrows)
        if rows < count:
            raise InvalidArgumentError(
                f"RaggedTensor: nrows {rows} is smaller than the row ids need ({count})"
            )
        return cls.from_row_lengths(values, np.bincount(ids, minlength=rows), validate=validate)

    # -- structure ---------------------------------------------------------
    @property
    def flat_values(self) -> Tensor:
        """Every row's values, concatenated."""
        return self._values

    @property
    def values(self) -> Tensor:
        """The concatenated rows (``flat_values`` for one ragged dimension)."""
        return self._values

    @property
    def row_splits(self) -> Tensor:
        """Where each row starts and ends in ``values`` (int64, ``nrows + 1``)."""
        return _core.constant(self._splits, dtype=int64)

    def row_lengths(self, axis: int = 1, name: str | None = None) -> Tensor:
        """The length of each row (int64)."""
        return _core.constant(np.diff(self._splits), dtype=int64)

    def value_rowids(self, name: str | None = None) -> Tensor:
        """The row of each value (int64)."""
        return _core.constant(self._rowids(), dtype=int64)

    def nrows(self, out_type: Any = None, name: str | None = None) -> Tensor:
        """The number of rows (an int64 scalar)."""
        return _core.constant(len(self._splits) - 1, dtype=int64 if out_type is None else out_type)

    @property
    def ragged_rank(self) -> int:
        """The number of ragged dimensions (1)."""
        return 1

    @property
    def dtype(self) -> Any:
        """The values' dtype."""
        return self._values.dtype

    @property
    def shape(self) -> Any:
        """``(nrows, None, *inner)``: the ragged dimension is unknown (None)."""
        from ._shape import TensorShape

        return TensorShape([len(self._splits) - 1, None, *self._values.shape[1:]])  # type: ignore[list-item]

    def _rowids(self) -> np.ndarray:
        return np.repeat(np.arange(len(self._splits) - 1), np.diff(self._splits))

    def with_flat_values(self, new_values: TensorLike) -> RaggedTensor:
        """The same rows with other flat values (same leading length)."""
        new = _tensor(new_values)
        if int(new.shape[0]) != int(self._values.shape[0]):
            raise InvalidArgumentError(
                f"RaggedTensor.with_flat_values: {int(new.shape[0])} values for "
                f"{int(self._values.shape[0])} slots"
            )
        return RaggedTensor(new, self._splits, _internal=True)

    with_values = with_flat_values

    # -- conversions ---------------------------------------------------------
    def to_list(self) -> list[Any]:
        """The rows as nested Python lists."""
        flat = self._values.numpy().tolist()
        bounds = builtins.zip(self._splits[:-1], self._splits[1:], strict=True)
        return [flat[a:b] for a, b in bounds]

    def numpy(self) -> np.ndarray:
        """An object array of the rows, each a numpy array (TF)."""
        flat = self._values.numpy()
        rows = np.empty(len(self._splits) - 1, dtype=object)
        for i, (a, b) in enumerate(builtins.zip(self._splits[:-1], self._splits[1:], strict=True)):
            rows[i] = flat[a:b]
        return rows

    def to_tensor(
        self, default_value: Any = None, name: str | None = None, shape: Any = None
    ) -> Tensor:
        """A dense tensor, each row padded with ``default_value`` (0) to the
        longest row, or cut/padded to ``shape``.

        >>> import tapegrad as tf
        >>> rt = tf.ragged.constant([[1.0, 2.0], [], [3.0]])
        >>> print(rt.to_tensor(default_value=-1.0, shape=[2, 3]))
        tapegrad.Tensor(
        [[ 1.  2. -1.]
         [-1. -1. -1.]], shape=(2, 3), dtype=float32)
        """
        lengths = np.diff(self._splits)
        rows, width = len(lengths), int(lengths.max()) if lengths.size else 0
        inner = list(self._values.shape[1:])
        if shape is not None:
            dims = list(shape) if not isinstance(shape, _TENSORS) else shape.numpy().tolist()
            rows = rows if dims[0] is None or dims[0] == -1 else int(dims[0])
            width = width if dims[1] is None or dims[1] == -1 else int(dims[1])
        rowids = self._rowids()
        cols = np.arange(len(rowids)) - self._splits[rowids]
        keep = np.nonzero((rowids < rows) & (cols < width))[0]
        fill = _core.cast(0 if default_value is None else default_value, self.dtype)
        base = _core.fill([rows, width, *inner], fill)
        picked = _core.gather(self._values, _core.constant(keep.astype(np.int64)))
        where = _core.constant(
            np.stack([rowids[keep], cols[keep]], axis=1).astype(np.int64).reshape(-1, 2)
        )
        return _core.tensor_scatter_nd(base, where, picked, "update")

    def __str__(self) -> str:
        return f"<tf.RaggedTensor {self.to_list()}>"

    __repr__ = __str__

    # -- indexing ------------------------------------------------------------
    def __getitem__(self, key: Any) -> Any:
        rest: tuple[Any, ...] = ()
        if isinstance(key, tuple):
            key, rest = key[0], key[1:]
        nrows = len(self._splits) - 1
        if isinstance(key, builtins.slice):
            if rest:
                raise NotImplementedError(
                    "RaggedTensor: only x[rows] and x[row, ...] indexing is supported"
                )
            start, stop, step = key.indices(nrows)
            if step != 1:
                raise NotImplementedError("RaggedTensor: row slices with a step are not supported")
            stop = max(stop, start)
            lo, hi = int(self._splits[start]), int(self._splits[stop])
            return RaggedTensor(
                self._values[lo:hi], self._splits[start : stop + 1] - lo, _internal=True
            )
        i = int(key)
        if not -nrows <= i < nrows:
            raise InvalidArgumentError(f"RaggedTensor: row {i} is out of range for {nrows} rows")
        i %= nrows
        row = self._values[int(self._splits[i]) : int(self._splits[i + 1])]
        return row[rest] if rest else row

    def __len__(self) -> int:
        return len(self._splits) - 1

    # -- elementwise math ----------------------------------------------------
    def _flat_operand(self, other: Any) -> Any:
        if isinstance(other, RaggedTensor):
            if not np.array_equal(other._splits, self._splits):
                raise InvalidArgumentError(
                    f"RaggedTensor: operands have different row lengths "
                    f"{np.diff(self._splits).tolist()} "
                    f"and {np.diff(other._splits).tolist()}"
                )
            return other._values
        value = (
            other
            if isinstance(other, _TENSORS)
            else _core.convert_to_tensor(other, dtype_hint=self.dtype)
        )
        if len(value.shape) > 0:
            raise NotImplementedError(
                "RaggedTensor: elementwise math takes a scalar or a RaggedTensor with the same rows"
            )
        return value

    def _binary(
        self, other: Any, f: Callable[[Any, Any], Any], reflected: bool = False
    ) -> RaggedTensor:
        o = self._flat_operand(other)
        return self.with_flat_values(f(o, self._values) if reflected else f(self._values, o))

    def __add__(self, o: Any) -> RaggedTensor:
        return self._binary(o, lambda a, b: a + b)

    def __radd__(self, o: Any) -> RaggedTensor:
        return self._binary(o, lambda a, b: a + b, True)

    def __sub__(self, o: Any) -> RaggedTensor:
        return self._binary(o, lambda a, b: a - b)

    def __rsub__(self, o: Any) -> RaggedTensor:
        return self._binary(o, lambda a, b: a - b, True)

    def __mul__(self, o: Any) -> RaggedTensor:
        return self._binary(o, lambda a, b: a * b)

    def __rmul__(self, o: Any) -> RaggedTensor:
        return self._binary(o, lambda a, b: a * b, True)

    def __truediv__(self, o: Any) -> RaggedTensor:
        return self._binary(o, lambda a, b: a / b)

    def __rtruediv__(self, o: Any) -> RaggedTensor:
        return self._binary(o, lambda a, b: a / b, True)

    def __pow__(self, o: Any) -> RaggedTensor:
        return self._binary(o, lambda a, b: a**b)

    def __neg__(self) -> RaggedTensor:
        return self.with_flat_values(-self._values)


def constant(
    pylist: Any, dtype: Any = None, ragged_rank: int | None = None, name: str | None = None
) -> RaggedTensor:
    """A RaggedTensor from nested Python lists whose second level has rows
    of different lengths (``tf.ragged.constant``); deeper levels must be
    uniform (one ragged dimension).

    >>> import tapegrad as tf
    >>> print(tf.ragged.constant([[1, 2], [3]]))
    <tf.RaggedTensor [[1, 2], [3]]>
    """
    if ragged_rank not in (None, 1):
        raise NotImplementedError(
            "tf.ragged.constant: tapegrad supports one ragged dimension (ragged_rank=1)"
        )
    rows = [list(r) for r in pylist]
    flat: list[Any] = [v for r in rows for v in r]
    lengths = [len(r) for r in rows]
    try:
        values = (
            _core.constant(flat, dtype=dtype)
            if flat
            else _core.zeros([0], dtype=dtype or "float32")
        )
    except ValueError as err:
        raise NotImplementedError(
            "tf.ragged.constant: tapegrad supports one ragged dimension; inner lists must "
            "have one length"
        ) from err
    return RaggedTensor.from_row_lengths(values, lengths)


def map_flat_values(op: Callable[..., Any], *args: Any, **kwargs: Any) -> RaggedTensor:
    """``op`` applied to the flat values of the RaggedTensor arguments (all
    with the same rows), rebuilt with those rows (``tf.ragged.map_flat_values``).

    >>> import tapegrad as tf
    >>> print(tf.ragged.map_flat_values(tf.square, tf.ragged.constant([[1.0, 2.0], [3.0]])))
    <tf.RaggedTensor [[1.0, 4.0], [9.0]]>
    """
    template: list[RaggedTensor] = []

    def flat(x: Any) -> Any:
        if isinstance(x, RaggedTensor):
            if template and not np.array_equal(template[0]._splits, x._splits):
                raise InvalidArgumentError(
                    "tf.ragged.map_flat_values: the RaggedTensors have different rows"
                )
            template.append(x)
            return x.flat_values
        return x

    flat_args = [flat(a) for a in args]
    flat_kwargs = {k: flat(v) for k, v in kwargs.items()}
    if not template:
        raise ValueError("tf.ragged.map_flat_values: no RaggedTensor among the arguments")
    return template[0].with_flat_values(op(*flat_args, **flat_kwargs))


def _segments(rt: RaggedTensor) -> tuple[Tensor, int]:
    return _core.constant(rt._rowids().reshape(-1, 1).astype(np.int64)), len(rt._splits) - 1


def reduce_ragged(kind: str, rt: RaggedTensor, axis: Any, keepdims: bool) -> Tensor:
    """``tf.reduce_<kind>(rt, axis)``: over the ragged axis (1) each row
    reduces alone (an empty row gives 0 for a sum, NaN for a mean, the
    dtype's lowest value for a max, as in TF); ``None`` reduces everything."""
    if axis is None:
        total: Tensor = getattr(_core, f"reduce_{kind}")(rt.flat_values)
        return total
    if int(axis) not in (1, -len(rt.shape)):
        raise NotImplementedError(
            f"tf.reduce_{kind} of a RaggedTensor: tapegrad reduces over axis 1 or all axes"
        )
    ids, nrows = _segments(rt)
    values = rt.flat_values
    shape = [nrows, *values.shape[1:]]
    if kind in ("sum", "mean"):
        out = _core.tensor_scatter_nd(
            _core.zeros(shape, dtype=values.dtype), ids, values, "scatter_nd"
        )
        if kind == "mean":
            lengths = _core.cast(rt.row_lengths(), values.dtype)
            out = out / _core.reshape(lengths, [nrows] + [1] * (len(shape) - 1))
    elif kind in ("max", "min"):
        info = np.finfo if values.dtype.is_floating else np.iinfo
        extreme = info(values.dtype.name).min if kind == "max" else info(values.dtype.name).max
        out = _core.tensor_scatter_nd(
            _core.fill(shape, _core.cast(extreme, values.dtype)), ids, values, kind
        )
    else:
        raise NotImplementedError(f"tf.reduce_{kind} of a RaggedTensor is not supported")
    return _core.expand_dims(out, 1) if keepdims else out


def concat_rows(values: list[RaggedTensor]) -> RaggedTensor:
    """``tf.concat`` of RaggedTensors on axis 0: their rows, one after another."""
    parts = [v if isinstance(v, RaggedTensor) else None for v in values]
    if any(p is None for p in parts):
        raise NotImplementedError(
            "tf.concat: mixing RaggedTensors and dense tensors is not supported"
        )
    splits = [np.asarray([0], np.int64)]
    offset = 0
    for p in values:
        splits.append(p._splits[1:] + offset)
        offset += int(p._splits[-1])
    flat = _core.concat([p.flat_values for p in values], 0)
    return RaggedTensor(flat, np.concatenate(splits), _internal=True)


def _reduction(kind: str) -> Callable[..., Any]:
    core = getattr(_core, f"reduce_{kind}")

    @functools.wraps(core)
    def reduce(
        input_tensor: Any, axis: Any = None, keepdims: bool = False, name: str | None = None
    ) -> Any:
        if type(input_tensor) is RaggedTensor:
            return reduce_ragged(kind, input_tensor, axis, keepdims)
        return core(input_tensor, axis=axis, keepdims=keepdims)

    return reduce


# tf.reduce_* and tf.concat take RaggedTensors too (TF's dispatch)
reduce_sum = _reduction("sum")
reduce_mean = _reduction("mean")
reduce_max = _reduction("max")
reduce_min = _reduction("min")


@functools.wraps(_core.concat)
def concat(values: Any, axis: Any, name: str | None = None) -> Any:  # Tensor or RaggedTensor
    if isinstance(values, (list, tuple)) and values and isinstance(values[0], RaggedTensor):
        if int(axis) != 0:
            raise NotImplementedError(
                "tf.concat of RaggedTensors: tapegrad concatenates rows (axis=0)"
            )
        return concat_rows(list(values))
    return _core.concat(values, axis)
