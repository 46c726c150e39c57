"""Array ops composed in Python from the core ops (and so differentiable
wherever those are): ``range`` with TF's argument conversion, ``repeat``,
``meshgrid``, norm clipping, and the small predicates of TF's top level."""

from __future__ import annotations

import builtins
from collections.abc import Sequence

import numpy as np

from . import _core, errors
from ._core import Tensor, Variable
from ._indexed_slices import IndexedSlices
from .dtypes import as_dtype
from .types import DTypeLike, TensorLike

__all__ = [
    "add_n",
    "clip_by_global_norm",
    "clip_by_norm",
    "executing_eagerly",
    "global_norm",
    "is_tensor",
    "meshgrid",
    "newaxis",
    "range",
    "repeat",
]

#: ``t[:, tf.newaxis]`` inserts a dimension of size 1 (it is ``None``, as in TF).
newaxis = None

_TENSORS = (Tensor, Variable)


def range(  # noqa: A001 - TF's name
    start: TensorLike,
    limit: TensorLike | None = None,
    delta: TensorLike = 1,
    dtype: DTypeLike | None = None,
    name: str | None = None,
) -> Tensor:
    """``start, start + delta, …`` up to but excluding ``limit`` (``tf.range``).

    ``tf.range(n)`` counts from 0. Without ``dtype`` the result has the widest
    of the arguments' dtypes (Python ints are int32, floats float32); with
    ``dtype`` the arguments are converted to it first, so ``dtype=tf.float64``
    steps by the double ``0.1``. As in TF, the count is
    ``ceil((limit - start) / delta)`` and element ``i`` is
    ``start + i * delta``, both computed in the dtype.

    >>> import tapegrad as tf
    >>> print(tf.range(5))
    tapegrad.Tensor([0 1 2 3 4], shape=(5,), dtype=int32)
    >>> print(tf.range(1.0, 2.0, 0.25))
    tapegrad.Tensor([1.   1.25 1.5  1.75], shape=(4,), dtype=float32)
    >>> r = tf.range(-8.0, 8.0, 0.1)
    >>> r.shape, float(r[80])
    (TensorShape([160]), 0.0)
    """
    if dtype is not None:
        target = as_dtype(dtype)

        def convert(value: TensorLike) -> Tensor:
            if isinstance(value, _TENSORS):
                return _core.cast(value, target)
            return _core.convert_to_tensor(value, dtype=target)

        start = convert(start)
        limit = None if limit is None else convert(limit)
        delta = convert(delta)
    return _core.range(start, limit, delta, dtype=dtype, name=name)


def repeat(
    input: TensorLike,  # noqa: A002 - TF's name
    repeats: TensorLike,
    axis: int | None = None,
    name: str | None = None,
) -> Tensor:
    """Repeat each element (or each slice along ``axis``) ``repeats`` times
    (``tf.repeat``); ``axis=None`` repeats the flattened elements.

    ``repeats`` is one count for all, or one per slice. Differentiable: the
    gradient of each input element is the sum over its copies.

    >>> import tapegrad as tf
    >>> print(tf.repeat(tf.constant([[1, 2], [3, 4]]), [1, 2], axis=0))
    tapegrad.Tensor(
    [[1 2]
     [3 4]
     [3 4]], shape=(3, 2), dtype=int32)
    >>> print(tf.repeat(tf.constant([1.0, 2.0]), 2))
    tapegrad.Tensor([1. 1. 2. 2.], shape=(4,), dtype=float32)
    """
    x = input if isinstance(input, _TENSORS) else _core.convert_to_tensor(input)
    if axis is None:
        x = _core.reshape(x, [-1])
        axis = 0
    rank = builtins.max(x.ndim, 1)
    if not -rank <= axis < rank:
        raise errors.InvalidArgumentError(
            f"repeat: axis {axis} is out of range for a tensor of rank {x.ndim}"
        )
    if x.ndim == 0:
        x = _core.reshape(x, [1])
    axis %= x.ndim
    counts = np.asarray(repeats)
    if counts.dtype.kind not in "iu" and counts.size:
        raise TypeError(f"repeat: repeats must be integers, got dtype {counts.dtype}")
    size = x.shape[axis]
    if counts.ndim > 1 or (counts.ndim == 1 and counts.size not in (1, size)):
        raise errors.InvalidArgumentError(
            f"repeat: repeats has shape {list(counts.shape)}; it must be a scalar or hold "
            f"one count per slice along axis {axis} ({size})"
        )
    if (counts < 0).any():
        raise errors.InvalidArgumentError(f"repeat: repeats must be >= 0, got {counts.tolist()}")
    # gather's gradient scatter-adds: each source slice gets the sum over its copies
    indices = np.repeat(np.arange(size, dtype=np.int64), np.broadcast_to(counts.reshape(-1), size))
    return _core.gather(x, _core.constant(indices), axis=axis)


def meshgrid(*args: TensorLike, indexing: str = "xy", name: str | None = None) -> list[Tensor]:
    """Coordinate grids from 1-D coordinate vectors (``tf.meshgrid``).

    With ``N`` vectors of lengths ``n1, …, nN`` each output has shape
    ``(n1, …, nN)`` for ``indexing="ij"``; ``"xy"`` (the default, as in TF
    and numpy) swaps the first two dimensions. Inputs of any shape are
    flattened. Differentiable (a broadcast, whose gradient sums).

    >>> import tapegrad as tf
    >>> X, Y = tf.meshgrid([1, 2, 3], [4, 5])
    >>> print(X)
    tapegrad.Tensor(
    [[1 2 3]
     [1 2 3]], shape=(2, 3), dtype=int32)
    >>> print(Y)
    tapegrad.Tensor(
    [[4 4 4]
     [5 5 5]], shape=(2, 3), dtype=int32)
    """
    if indexing not in ("xy", "ij"):
        raise ValueError(
            f"Argument `indexing` parameter must be either 'xy' or 'ij', got '{indexing}'"
        )
    vectors = [
        _core.reshape(a if isinstance(a, _TENSORS) else _core.convert_to_tensor(a), [-1])
        for a in args
    ]
    dtypes = {v.dtype for v in vectors}
    if len(dtypes) > 1:
        raise errors.InvalidArgumentError(
            f"meshgrid: all inputs must have one dtype, got {sorted(d.name for d in dtypes)}"
        )
    shape = [v.shape[0] for v in vectors]
    swap = indexing == "xy" and len(vectors) > 1
    if swap:
        shape[0], shape[1] = shape[1], shape[0]
    grids = []
    for i, v in enumerate(vectors):
        position = {0: 1, 1: 0}.get(i, i) if swap else i
        view = [1] * len(vectors)
        view[position] = shape[position]
        grids.append(_core.broadcast_to(_core.reshape(v, view), shape))
    return grids


def is_tensor(x: object) -> bool:
    """Whether ``x`` is a tapegrad ``Tensor`` or ``Variable`` (``tf.is_tensor``);
    numpy arrays and Python numbers are not.

    >>> import numpy as np, tapegrad as tf
    >>> tf.is_tensor(tf.constant(1.0)), tf.is_tensor(tf.Variable(1.0)), tf.is_tensor(np.ones(2))
    (True, True, False)
    """
    return isinstance(x, _TENSORS)


def executing_eagerly() -> bool:
    """Whether ops run eagerly (``tf.executing_eagerly``): always, in tapegrad.

    >>> import tapegrad as tf
    >>> tf.executing_eagerly()
    True
    """
    return True


def _float_tensor(op: str, value: TensorLike) -> Tensor | Variable:
    t = value if isinstance(value, _TENSORS) else _core.convert_to_tensor(value)
    if not t.dtype.is_floating:
        raise errors.InvalidArgumentError(
            f"{op}: expects a float tensor, got dtype {t.dtype.name}; cast it first"
        )
    return t


def clip_by_norm(
    t: TensorLike,
    clip_norm: TensorLike,
    axes: int | Sequence[int] | None = None,
    name: str | None = None,
) -> Tensor:
    """Scale ``t`` down so that its L2 norm (over ``axes``; all if ``None``)
    is at most ``clip_norm`` (``tf.clip_by_norm``).

    Computes ``t * clip_norm / maximum(norm, clip_norm)``; a zero ``t``
    stays zero with a finite gradient, as in TF.

    >>> import tapegrad as tf
    >>> print(tf.clip_by_norm(tf.constant([3.0, 4.0]), 1.0))
    tapegrad.Tensor([0.6 0.8], shape=(2,), dtype=float32)
    >>> print(tf.clip_by_norm(tf.constant([3.0, 4.0]), 10.0))
    tapegrad.Tensor([3. 4.], shape=(2,), dtype=float32)
    """
    if isinstance(t, IndexedSlices):
        # TF clips the rows by the norm of the values (repeated indices count apart)
        return IndexedSlices(clip_by_norm(t.values, clip_norm, axes), t.indices, t.dense_shape)  # type: ignore[return-value]
    x = _float_tensor("clip_by_norm", t)
    limit = _core.cast(clip_norm, x.dtype)
    squares = _core.reduce_sum(x * x, axis=axes, keepdims=True)
    # sqrt'(0) is infinite: take the root of 1 where the sum is 0, so the
    # gradient stays finite, and use the zero sum itself there as the norm
    nonzero = squares > 0.0
    norm = _core.where(nonzero, _core.ops["sqrt"](_core.where(nonzero, squares, 1.0)), squares)
    return _core.identity(x * limit / _core.ops["maximum"](norm, limit))


def global_norm(t_list: Sequence[TensorLike | None], name: str | None = None) -> Tensor:
    """``sqrt(sum of the squares of every element of every tensor)``; ``None``
    entries are skipped (``tf.linalg.global_norm``).

    >>> import tapegrad as tf
    >>> print(tf.linalg.global_norm([tf.constant([3.0]), None, tf.constant([4.0])]))
    tapegrad.Tensor(5.0, shape=(), dtype=float32)
    """
    if isinstance(t_list, _TENSORS) or not isinstance(t_list, Sequence):
        raise TypeError(f"`t_list` should be a sequence of tensors. Received {type(t_list)}.")
    tensors = [
        _float_tensor("global_norm", t.values if isinstance(t, IndexedSlices) else t)
        for t in t_list
        if t is not None
    ]
    if not tensors:
        return _core.constant(0.0)
    dtypes = {t.dtype for t in tensors}
    if len(dtypes) > 1:
        raise errors.InvalidArgumentError(
            f"global_norm: every tensor must have one dtype, got {sorted(d.name for d in dtypes)}"
        )
    return _core.ops["sqrt"](add_n([_core.reduce_sum(t * t) for t in tensors]))


def add_n(inputs: Sequence[TensorLike], name: str | None = None) -> Tensor:
    """The elementwise sum of a list of tensors of one shape and dtype (``tf.add_n``).

    >>> import tapegrad as tf
    >>> print(tf.add_n([tf.constant([1.0, 2.0]), tf.constant([3.0, 4.0]), [5.0, 6.0]]))
    tapegrad.Tensor([ 9. 12.], shape=(2,), dtype=float32)
    """
    if isinstance(inputs, _TENSORS) or not isinstance(inputs, Sequence) or not inputs:
        raise ValueError("inputs must be a non-empty list of tensors of one shape and dtype")
    tensors = [t if isinstance(t, _TENSORS) else _core.convert_to_tensor(t) for t in inputs]
    first = tensors[0]
    for t in tensors[1:]:
        if t.shape != first.shape or t.dtype != first.dtype:
            raise errors.InvalidArgumentError(
                f"add_n: every input must have shape {list(first.shape)} and dtype "
                f"{first.dtype.name}, got shape {list(t.shape)} and dtype {t.dtype.name}"
            )
    total = first
    for t in tensors[1:]:
        total = total + t
    return _core.identity(total)


def clip_by_global_norm(
    t_list: Sequence[TensorLike | None],
    clip_norm: TensorLike,
    use_norm: TensorLike | None = None,
    name: str | None = None,
) -> tuple[list[Tensor | None], Tensor]:
    """Scale every tensor by ``clip_norm / max(global_norm, clip_norm)``
    (``tf.clip_by_global_norm``); returns ``(clipped list, global norm)``.

    ``None`` entries stay ``None`` and count for nothing. ``use_norm`` gives
    the global norm instead of computing it. If the norm is infinite or NaN
    every clipped value is NaN, as in TF.

    >>> import tapegrad as tf
    >>> clipped, norm = tf.clip_by_global_norm([tf.constant([3.0]), None, tf.constant([4.0])], 1.0)
    >>> print(norm)
    tapegrad.Tensor(5.0, shape=(), dtype=float32)
    >>> [None if c is None else c.numpy().tolist() for c in clipped]
    [[0.6000000238418579], None, [0.800000011920929]]
    """
    if isinstance(t_list, _TENSORS) or not isinstance(t_list, Sequence):
        raise TypeError(f"`t_list` should be a sequence of tensors. Received {type(t_list)}.")
    if use_norm is None:
        norm = global_norm(t_list)
    else:
        norm = _core.identity(_float_tensor("clip_by_global_norm", use_norm))
    limit = _core.cast(clip_norm, norm.dtype)
    one = _core.constant(1.0, dtype=norm.dtype)
    # `norm - norm` is NaN exactly when the norm is not finite: it poisons the scale
    scale = limit * _core.ops["minimum"](one / norm, one / limit) + (norm - norm)
    clipped: list[Tensor | None] = []
    for t in t_list:
        if t is None:
            clipped.append(None)
            continue
        if isinstance(t, IndexedSlices):
            values = t.values * _core.cast(scale, t.values.dtype)
            clipped.append(IndexedSlices(values, t.indices, t.dense_shape))  # type: ignore[arg-type]
            continue
        x = _float_tensor("clip_by_global_norm", t)
        clipped.append(_core.identity(x * _core.cast(scale, x.dtype)))
    return clipped, norm
