"""``tf.RaggedTensor``: rows of different lengths.

A RaggedTensor is ``values`` (every row's elements, concatenated) plus
``row_splits`` (row ``i`` is ``values[row_splits[i]:row_splits[i + 1]]``).
``values`` is a tensor (any uniform inner dimensions stay) or, for several
ragged dimensions, itself a RaggedTensor; ``flat_values`` is the tensor at
the bottom. A partition whose rows all have one length remembers it
(``uniform_row_length``), so that dimension has a known size in ``shape``.
The splits are plain data; every op moves ``flat_values`` with tensor ops,
so gradients flow to them.
"""

from __future__ import annotations

import builtins
import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _core
from ._core import Tensor, Variable
from .dtypes import int64, string
from .errors import InvalidArgumentError
from .types import TensorLike

_TENSORS = (Tensor, Variable)


def _tensor(x: Any, dtype: Any = None) -> Tensor:
    if isinstance(x, _TENSORS) and dtype is None:
        return x  # type: ignore[return-value]
    return _core.convert_to_tensor(x, dtype=dtype)


def _leading(values: Tensor | RaggedTensor) -> int:
    """How many values (rows of the next level) there are."""
    return len(values) if isinstance(values, RaggedTensor) else int(values.shape[0])


def _as_bytes(value: Any) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


def _format(value: Any) -> str:
    """TF's text of ``numpy()``: numpy's layout, comma separated, each element by itself."""
    if not isinstance(value, np.ndarray):
        return str(value)
    if not value.size:
        return str(value.tolist())
    return np.array2string(value, separator=", ", formatter={"all": _format})


class RaggedTensor:
    """Rows of different lengths (``tf.RaggedTensor``), ragged in axis 1
    and, when ``values`` is itself a RaggedTensor, deeper axes too.

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

    def __init__(
        self,
        values: Any,
        row_splits: Any,
        _internal: bool = False,
        uniform_row_length: int | None = None,
    ) -> None:
        if not _internal:
            raise ValueError(
                "RaggedTensor constructor is private; please use one of the factory methods "
                "instead (e.g., RaggedTensor.from_row_lengths())"
            )
        self._values: Tensor | RaggedTensor = (
            values if isinstance(values, RaggedTensor) else _tensor(values)
        )
        self._splits = np.asarray(row_splits, dtype=np.int64).reshape(-1)
        self._uniform = uniform_row_length

    # -- factories ---------------------------------------------------------
    @classmethod
    def from_row_splits(
        cls,
        values: Any,
        row_splits: TensorLike,
        name: str | None = None,
        validate: bool = True,
    ) -> RaggedTensor:
        """Row ``i`` is ``values[row_splits[i]:row_splits[i + 1]]``; ``values``
        may itself be a RaggedTensor (another ragged dimension).

        >>> import tapegrad as tf
        >>> print(tf.RaggedTensor.from_row_splits([1, 2, 3], [0, 2, 2, 3]))
        <tf.RaggedTensor [[1, 2], [], [3]]>
        """
        inner = values if isinstance(values, RaggedTensor) else _tensor(values)
        splits = np.asarray(_tensor(row_splits).numpy(), dtype=np.int64).reshape(-1)
        count = _leading(inner)
        if validate and (
            splits.size == 0 or splits[0] != 0 or np.any(np.diff(splits) < 0) or splits[-1] != count
        ):
            raise InvalidArgumentError(
                f"RaggedTensor: row_splits {splits.tolist()} must start at 0, not decrease, "
                f"and end at the number of values ({count})"
            )
        return cls(inner, splits, _internal=True)

    @classmethod
    def from_row_lengths(
        cls,
        values: Any,
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
    def from_uniform_row_length(
        cls,
        values: Any,
        uniform_row_length: int,
        nrows: int | None = None,
        validate: bool = True,
        name: str | None = None,
    ) -> RaggedTensor:
        """Rows of ``uniform_row_length`` values each; that dimension's size is
        known in ``shape``. ``nrows`` is needed only when the length is 0.

        >>> import tapegrad as tf
        >>> rt = tf.RaggedTensor.from_uniform_row_length([1, 2, 3, 4], 2)
        >>> rt.shape
        TensorShape([2, 2])
        """
        inner = values if isinstance(values, RaggedTensor) else _tensor(values)
        length, count = int(uniform_row_length), _leading(inner)
        if length < 0 or (length and count % length) or (not length and count):
            raise InvalidArgumentError(
                f"RaggedTensor.from_uniform_row_length: {count} values do not split into rows "
                f"of {length}"
            )
        rows = count // length if length else int(nrows or 0)
        if nrows is not None and int(nrows) != rows:
            raise InvalidArgumentError(
                f"RaggedTensor.from_uniform_row_length: nrows {int(nrows)} does not match "
                f"{count} values in rows of {length}"
            )
        splits = np.arange(rows + 1, dtype=np.int64) * length
        return cls(inner, splits, _internal=True, uniform_row_length=length)

    @classmethod
    def from_nested_row_splits(
        cls,
        flat_values: TensorLike,
        nested_row_splits: Any,
        name: str | None = None,
        validate: bool = True,
    ) -> RaggedTensor:
        """One ragged dimension per splits vector, outermost first.

        >>> import tapegrad as tf
        >>> print(tf.RaggedTensor.from_nested_row_splits([1, 2, 3, 4], [[0, 2, 3], [0, 1, 1, 4]]))
        <tf.RaggedTensor [[[1], []], [[2, 3, 4]]]>
        """
        if not len(nested_row_splits):
            raise ValueError("RaggedTensor.from_nested_row_splits: no row_splits given")
        result: Any = flat_values
        for splits in reversed(list(nested_row_splits)):
            result = cls.from_row_splits(result, splits, validate=validate)
        return result  # type: ignore[no-any-return]

    @classmethod
    def from_nested_row_lengths(
        cls,
        flat_values: TensorLike,
        nested_row_lengths: Any,
        name: str | None = None,
        validate: bool = True,
    ) -> RaggedTensor:
        """One ragged dimension per row-lengths vector, outermost first.

        >>> import tapegrad as tf
        >>> print(tf.RaggedTensor.from_nested_row_lengths([1, 2, 3, 4], [[2, 1], [1, 0, 3]]))
        <tf.RaggedTensor [[[1], []], [[2, 3, 4]]]>
        """
        if not len(nested_row_lengths):
            raise ValueError("RaggedTensor.from_nested_row_lengths: no row_lengths given")
        result: Any = flat_values
        for lengths in reversed(list(nested_row_lengths)):
            result = cls.from_row_lengths(result, lengths, validate=validate)
        return result  # type: ignore[no-any-return]

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
        """Every row's values, concatenated, down through every ragged dimension."""
        inner = self._values
        return inner.flat_values if isinstance(inner, RaggedTensor) else inner

    @property
    def values(self) -> Any:  # Tensor, or a RaggedTensor for several ragged dimensions
        """The concatenated rows: a tensor, or a RaggedTensor when ``ragged_rank > 1``."""
        return self._values

    @property
    def row_splits(self) -> Tensor:
        """Where each row starts and ends in ``values`` (int64, ``nrows + 1``)."""
        return _core.constant(self._splits, dtype=int64)

    @property
    def nested_row_splits(self) -> tuple[Tensor, ...]:
        """The ``row_splits`` of each ragged dimension, outermost first."""
        return tuple(_core.constant(s, dtype=int64) for s in self._levels())

    def nested_row_lengths(self, name: str | None = None) -> tuple[Tensor, ...]:
        """The row lengths of each ragged dimension, outermost first."""
        return tuple(_core.constant(np.diff(s), dtype=int64) for s in self._levels())

    @property
    def uniform_row_length(self) -> Tensor | None:
        """The one length of every row, when the rows were built uniform (else None)."""
        return None if self._uniform is None else _core.constant(self._uniform, dtype=int64)

    def row_lengths(self, axis: int = 1, name: str | None = None) -> Any:
        """The length of each row (int64): a vector for ``axis=1``; for a
        deeper ragged axis, a RaggedTensor shaped like the rows above it.

        >>> import tapegrad as tf
        >>> rt = tf.ragged.constant([[[1, 2], [3]], [[4]]])
        >>> print(rt.row_lengths(axis=2))
        <tf.RaggedTensor [[2, 1], [1]]>
        """
        depth = int(axis) + len(self.shape) if int(axis) < 0 else int(axis)
        if depth == 1:
            return _core.constant(np.diff(self._splits), dtype=int64)
        if not 1 <= depth <= self.ragged_rank or not isinstance(self._values, RaggedTensor):
            raise NotImplementedError(
                f"RaggedTensor.row_lengths: axis {axis} is not a ragged axis of a RaggedTensor "
                f"with ragged_rank {self.ragged_rank} (use 1..{self.ragged_rank})"
            )
        return self.with_values(self._values.row_lengths(depth - 1))

    def value_rowids(self, name: str | None = None) -> Tensor:
        """The row of each value (int64)."""
        return _core.constant(self._rowids(), dtype=int64)

    def nrows(self, out_type: Any = None, name: str | None = None) -> Tensor:
        """The number of rows (an int64 scalar)."""
        return _core.constant(len(self._splits) - 1, dtype=int64 if out_type is None else out_type)

    @property
    def ragged_rank(self) -> int:
        """The number of ragged dimensions."""
        inner = self._values
        return 1 + (inner.ragged_rank if isinstance(inner, RaggedTensor) else 0)

    @property
    def dtype(self) -> Any:
        """The values' dtype."""
        return self.flat_values.dtype

    @property
    def shape(self) -> Any:
        """``(nrows, row length, *inner)``: a ragged dimension's size is None
        unless its rows were built with one uniform length."""
        from ._shape import TensorShape

        dims: list[Any] = [len(self._splits) - 1, self._uniform, *list(self._values.shape)[1:]]
        return TensorShape(dims)

    def _levels(self) -> list[np.ndarray]:
        """The splits of each ragged dimension, outermost first."""
        inner = self._values
        return [self._splits, *(inner._levels() if isinstance(inner, RaggedTensor) else [])]

    def _rowids(self) -> np.ndarray:
        return np.repeat(np.arange(len(self._splits) - 1), np.diff(self._splits))

    def _same_rows(self, other: RaggedTensor) -> bool:
        mine, theirs = self._levels(), other._levels()
        return len(mine) == len(theirs) and all(
            np.array_equal(a, b) for a, b in builtins.zip(mine, theirs, strict=True)
        )

    def with_values(self, new_values: Any) -> RaggedTensor:
        """The same outer rows over other ``values`` (as many as before)."""
        new = new_values if isinstance(new_values, RaggedTensor) else _tensor(new_values)
        if _leading(new) != _leading(self._values):
            raise InvalidArgumentError(
                f"RaggedTensor.with_values: {_leading(new)} values for "
                f"{_leading(self._values)} slots"
            )
        return RaggedTensor(new, self._splits, _internal=True, uniform_row_length=self._uniform)

    def with_flat_values(self, new_values: TensorLike) -> RaggedTensor:
        """The same rows (every ragged dimension) with other flat values."""
        inner = self._values
        if isinstance(inner, RaggedTensor):
            return self.with_values(inner.with_flat_values(new_values))
        new = _tensor(new_values)
        if int(new.shape[0]) != int(inner.shape[0]):
            raise InvalidArgumentError(
                f"RaggedTensor.with_flat_values: {int(new.shape[0])} values for "
                f"{int(inner.shape[0])} slots"
            )
        return self.with_values(new)

    # -- conversions ---------------------------------------------------------
    def to_list(self) -> list[Any]:
        """The rows as nested Python lists."""
        inner = self._values
        flat = inner.to_list() if isinstance(inner, RaggedTensor) else inner.numpy().tolist()
        bounds = builtins.zip(self._splits[:-1], self._splits[1:], strict=True)
        return [flat[a:b] for a, b in bounds]

    def numpy(self) -> np.ndarray:
        """An object array of the rows, each a numpy array (TF); a dimension
        of uniform rows is a real axis of that array."""
        flat = self._values.numpy()
        if self._uniform is not None:
            return flat.reshape(len(self), self._uniform, *flat.shape[1:])
        rows = np.empty(len(self._splits) - 1, dtype=object)
        for i, (a, b) in enumerate(builtins.zip(self._splits[:-1], self._splits[1:], strict=True)):
            rows[i] = flat[a:b]
        return rows

    def _positions(self) -> list[np.ndarray]:
        """For each value of ``values`` (recursively: each flat value), its
        index along each ragged dimension: row, then column at every level."""
        rowids = self._rowids()
        cols = np.arange(len(rowids)) - self._splits[rowids]
        inner = self._values
        if not isinstance(inner, RaggedTensor):
            return [rowids, cols]
        below = inner._positions()  # below[0] indexes this level's values
        return [rowids[below[0]], cols[below[0]], *below[1:]]

    def bounding_shape(self, axis: Any = None, name: str | None = None) -> Tensor:
        """The smallest dense shape that holds every row (int64).

        >>> import tapegrad as tf
        >>> print(tf.ragged.constant([[[1, 2], [3]], [[4, 5, 6]]]).bounding_shape())
        tapegrad.Tensor([2 2 3], shape=(3,), dtype=int64)
        """
        dims = self._bounds()
        out = _core.constant(np.asarray(dims, dtype=np.int64), dtype=int64)
        return out if axis is None else _core.gather(out, axis)

    def _bounds(self) -> list[int]:
        lengths = np.diff(self._splits)
        width = int(lengths.max()) if lengths.size else (self._uniform or 0)
        inner = self._values
        below = inner._bounds()[1:] if isinstance(inner, RaggedTensor) else list(inner.shape[1:])
        return [len(lengths), width, *below]

    def to_tensor(
        self, default_value: Any = None, name: str | None = None, shape: Any = None
    ) -> Tensor:
        """A dense tensor, each ragged dimension padded with ``default_value``
        (0, or b"" for strings) to its longest row, or cut/padded to ``shape``.

        >>> import tapegrad as tf
        >>> rt = tf.ragged.constant([[1.0, 2.0], [], [3.0]])
        >>> print(rt.to_tensor(default_value=-1.0, shape=[2, 3]))
        tapegrad.Tensor(
        [[ 1.  2. -1.]
         [-1. -1. -1.]], shape=(2, 3), dtype=float32)
        """
        levels = self.ragged_rank + 1  # the dimensions the splits index
        dims = self._bounds()
        if shape is not None:
            wanted = list(shape) if not isinstance(shape, _TENSORS) else shape.numpy().tolist()
            for d in range(min(levels, len(wanted))):
                if wanted[d] is not None and wanted[d] != -1:
                    dims[d] = int(wanted[d])
        index = np.stack(self._positions(), axis=1).astype(np.int64).reshape(-1, levels)
        keep = np.nonzero(np.all(index < np.asarray(dims[:levels]), axis=1))[0]
        flat = self.flat_values
        if self.dtype == string:  # no gradient to carry: place the strings in numpy
            text = np.full(dims, b"" if default_value is None else default_value, dtype=object)
            text[tuple(index[keep].T)] = flat.numpy()[keep]
            return _core.convert_to_tensor(np.vectorize(_as_bytes, otypes=[object])(text))
        if default_value is None:
            fill = _core.zeros([], dtype=self.dtype)
        else:
            fill = _core.cast(default_value, self.dtype)
        base = _core.fill(dims, fill)
        picked = _core.gather(flat, _core.constant(keep.astype(np.int64)))
        return _core.tensor_scatter_nd(base, _core.constant(index[keep]), picked, "update")

    def __str__(self) -> str:
        # TF prints numpy()'s rows (a uniform axis breaks lines as numpy does)
        return f"<tf.RaggedTensor {_format(self.numpy())}>"

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
                self._values[lo:hi],
                self._splits[start : stop + 1] - lo,
                _internal=True,
                uniform_row_length=self._uniform,
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
            if not self._same_rows(other):
                raise InvalidArgumentError(
                    f"RaggedTensor: operands have different row lengths "
                    f"{[np.diff(s).tolist() for s in self._levels()]} "
                    f"and {[np.diff(s).tolist() for s in other._levels()]}"
                )
            return other.flat_values
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
        flat = self.flat_values
        return self.with_flat_values(f(o, flat) if reflected else f(flat, o))

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
        return self.with_flat_values(-self.flat_values)


def _depth(value: Any) -> int:
    """How many levels of lists ``value`` nests (an empty list counts one)."""
    if isinstance(value, (list, tuple)):
        return 1 + builtins.max((_depth(v) for v in value), default=0)
    return 0


def constant(
    pylist: Any, dtype: Any = None, ragged_rank: int | None = None, name: str | None = None
) -> RaggedTensor:
    """A RaggedTensor from nested Python lists (``tf.ragged.constant``).
    Every nesting level but the last is ragged unless ``ragged_rank`` says
    fewer (the levels below it must then have one length, as in TF).

    >>> import tapegrad as tf
    >>> print(tf.ragged.constant([[1, 2], [3]]))
    <tf.RaggedTensor [[1, 2], [3]]>
    >>> tf.ragged.constant([[[1, 2], [3]], []]).shape
    TensorShape([2, None, None])
    """
    depth = _depth(pylist)
    rank = depth - 1 if ragged_rank is None else int(ragged_rank)
    if depth < 2 or not 1 <= rank < depth:
        raise ValueError(
            f"tf.ragged.constant: ragged_rank {rank} needs lists nested more than {rank} deep "
            f"(got {depth} level(s)); pass a list of rows"
        )
    level: list[Any] = list(pylist)
    nested_lengths: list[list[int]] = []
    try:
        for _ in range(rank):
            nested_lengths.append([len(r) for r in level])
            level = [v for r in level for v in r]
    except TypeError as err:
        raise ValueError(
            f"tf.ragged.constant: every value must be nested {rank + 1} lists deep"
        ) from err
    try:
        values = (
            _core.constant(level, dtype=dtype)
            if level
            else _core.zeros([0], dtype=dtype or "float32")
        )
    except ValueError as err:
        raise ValueError(
            f"tf.ragged.constant: with ragged_rank {rank} the lists below the ragged "
            "levels must all have one length"
        ) from err
    return RaggedTensor.from_nested_row_lengths(values, nested_lengths)


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
            if template and not template[0]._same_rows(x):
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
    if rt.ragged_rank > 1:
        raise NotImplementedError(
            f"tf.reduce_{kind} of a RaggedTensor with ragged_rank {rt.ragged_rank}: tapegrad "
            "reduces it over all axes only (axis=None), or reduce rt.flat_values"
        )
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
    if len({p.ragged_rank for p in values}) > 1:
        raise InvalidArgumentError(
            "tf.concat: the RaggedTensors have different ragged_rank "
            f"{[p.ragged_rank for p in values]}"
        )
    splits = [np.asarray([0], np.int64)]
    offset = 0
    for p in values:
        splits.append(p._splits[1:] + offset)
        offset += int(p._splits[-1])
    inner = [p.values for p in values]
    joined = concat_rows(inner) if isinstance(inner[0], RaggedTensor) else _core.concat(inner, 0)
    # the result's rows are ragged even when every part's were uniform (TF)
    return RaggedTensor(joined, np.concatenate(splits), _internal=True)


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
