"""``tf.IndexedSlices``: a sparse set of rows, and the gradient of a gather.

TF returns the gradient of ``gather``/``embedding_lookup`` (axis 0, no batch
dims; ``gather_nd`` with one-coordinate indices) with respect to its params as
``IndexedSlices(values=the gradient of the gathered rows, indices=the
gathered indices, dense_shape=the params' shape)`` when those gathers are the
params' only uses on the way to the target; any dense use on that way turns
the sum into a dense tensor. ``GradientTape.gradient`` does the same here: the
tape remembers the gathers it recorded (``remember_gather``), and
``gradient_with_slices`` asks the core for the gradients of their outputs
instead of the params (so no dense scatter is built), then packs them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import _core
from ._core import Tensor, Variable
from .dtypes import int32
from .types import TensorLike

_TENSORS = (Tensor, Variable)


class IndexedSlices:
    """Rows ``values[i]`` of a tensor of shape ``dense_shape`` at positions
    ``indices[i]`` along axis 0 (``tf.IndexedSlices``); repeated indices add up
    when densified (``tf.convert_to_tensor``).

    >>> import tapegrad as tf
    >>> s = tf.IndexedSlices(tf.constant([[1.0, 2.0]]), tf.constant([1]), tf.constant([3, 2]))
    >>> print(tf.convert_to_tensor(s))
    tapegrad.Tensor(
    [[0. 0.]
     [1. 2.]
     [0. 0.]], shape=(3, 2), dtype=float32)
    """

    def __init__(
        self, values: TensorLike, indices: TensorLike, dense_shape: TensorLike | None = None
    ) -> None:
        self._values = values if isinstance(values, _TENSORS) else _core.convert_to_tensor(values)
        self._indices = (
            indices if isinstance(indices, _TENSORS) else _core.convert_to_tensor(indices)
        )
        self._dense_shape = (
            None
            if dense_shape is None
            else dense_shape
            if isinstance(dense_shape, _TENSORS)
            else _core.convert_to_tensor(dense_shape)
        )

    @property
    def values(self) -> Tensor:
        """The rows, ``indices.shape + dense_shape[1:]``."""
        return self._values  # type: ignore[return-value]

    @property
    def indices(self) -> Tensor:
        """Where each row goes along axis 0 (int32 or int64)."""
        return self._indices  # type: ignore[return-value]

    @property
    def dense_shape(self) -> Tensor | None:
        """The dense tensor's shape (a 1-D integer tensor), or ``None``."""
        return self._dense_shape  # type: ignore[return-value]

    @property
    def dtype(self) -> Any:
        """The values' dtype."""
        return self._values.dtype

    @property
    def shape(self) -> Any:
        """The dense shape as a ``TensorShape`` (``None`` without ``dense_shape``)."""
        from ._shape import TensorShape

        if self._dense_shape is None:
            return None
        return TensorShape([int(d) for d in self._dense_shape.numpy()])

    @property
    def device(self) -> str:
        """The values' device."""
        return str(self._values.device)

    @property
    def name(self) -> str:
        """The values' name (TF's graph-mode label)."""
        return str(getattr(self._values, "name", ""))

    def __str__(self) -> str:
        parts = f"indices={self._indices!s}, values={self._values!s}"
        if self._dense_shape is not None:
            parts += f", dense_shape={self._dense_shape!s}"
        return f"IndexedSlices({parts})"

    def __neg__(self) -> IndexedSlices:
        return IndexedSlices(-self._values, self._indices, self._dense_shape)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        dense = to_dense(self).numpy()
        return dense if dtype is None else dense.astype(dtype)


def to_dense(slices: IndexedSlices) -> Tensor:
    """The dense tensor: zeros of ``dense_shape`` with each row added at its index."""
    if slices.dense_shape is None:
        raise ValueError(
            "Tensor conversion requested for IndexedSlices for argument `value` without "
            f"dense_shape: {slices}"
        )
    shape = [int(d) for d in np.asarray(slices.dense_shape).reshape(-1)]
    rows = _core.reshape(slices.indices, [-1, 1])
    values = _core.reshape(slices.values, [-1, *shape[1:]])
    zeros = _core.zeros(shape, dtype=values.dtype)
    return _core.tensor_scatter_nd(zeros, rows, values, "scatter_nd")


def convert_to_tensor(
    value: Any, dtype: Any = None, dtype_hint: Any = None, name: str | None = None
) -> Tensor:
    """``value`` as a tensor (``tf.convert_to_tensor``); an ``IndexedSlices`` is densified.

    ``dtype`` must match an existing tensor's dtype; ``dtype_hint`` is only a
    preference for Python values.

    >>> import tapegrad as tf
    >>> print(tf.convert_to_tensor([1, 2], dtype=tf.float32))
    tapegrad.Tensor([1. 2.], shape=(2,), dtype=float32)
    """
    if isinstance(value, IndexedSlices):
        dense = to_dense(value)
        return dense if dtype is None else _core.convert_to_tensor(dense, dtype=dtype)
    return _core.convert_to_tensor(value, dtype=dtype, dtype_hint=dtype_hint)


# -- where tape.gradient returns IndexedSlices ---------------------------------

# the GradientTapes now recording (entered and not stopped), on any thread
RECORDING: list[Any] = []

# per thread: the gathers run while tf.function traces (None when it does not):
# the plan returns their outputs and indices too, so that a replay under a
# recording tape remembers them as the traced run did (see _function)
_TRACING = threading.local()


def remember(out: Tensor, shape: tuple[int, ...], indices: Tensor) -> None:
    """Tell the recording tapes that ``out`` gathered rows ``indices`` of a
    source of shape ``shape`` (a replay of a traced gather calls this)."""
    for tape in RECORDING:
        tape._gathers.append((out, indices, shape))


class collect_traced_gathers:  # noqa: N801 - used as a context manager, like a function
    """``with collect_traced_gathers() as gathers:`` the ``(out, indices,
    shape)`` of the gathers run in the block on this thread (a trace)."""

    def __enter__(self) -> list[tuple[Tensor, Tensor, tuple[int, ...]]]:
        self._outer = getattr(_TRACING, "gathers", None)
        gathers: list[tuple[Tensor, Tensor, tuple[int, ...]]] = []
        _TRACING.gathers = gathers
        return gathers

    def __exit__(self, *exc_info: object) -> None:
        _TRACING.gathers = self._outer


def _remember(out: Tensor, params: Tensor | Variable, indices: Tensor) -> None:
    shape = tuple(params.shape)
    remember(out, shape, indices)
    traced = getattr(_TRACING, "gathers", None)
    if traced is not None:
        traced.append((out, indices, shape))


def gather(
    params: TensorLike,
    indices: TensorLike,
    validate_indices: Any = None,
    axis: Any = None,
    batch_dims: int = 0,
    name: str | None = None,
) -> Tensor:
    """Slices of ``params`` at ``indices`` along ``axis`` (``tf.gather``).

    Out-of-range indices raise ``InvalidArgumentError``. The gradient
    w.r.t. ``params`` is an ``IndexedSlices`` when ``axis`` is 0, there are no
    batch dims and the gather is the params' only use (TF's rule).

    >>> import tapegrad as tf
    >>> print(tf.gather(tf.constant([10, 20, 30]), [2, 0, 2]))
    tapegrad.Tensor([30 10 30], shape=(3,), dtype=int32)
    """
    if not RECORDING and getattr(_TRACING, "gathers", None) is None:
        return _core.gather(params, indices, axis=axis, batch_dims=batch_dims)
    index_tensor = indices if isinstance(indices, Tensor) else _core.convert_to_tensor(indices)
    out = _core.gather(params, index_tensor, axis=axis, batch_dims=batch_dims)
    if (
        isinstance(params, _TENSORS)
        and batch_dims == 0
        and (axis is None or int(axis) in (0, -len(params.shape)))
    ):
        _remember(out, params, index_tensor)
    return out


def gather_nd(
    params: TensorLike, indices: TensorLike, batch_dims: int = 0, name: str | None = None
) -> Tensor:
    """Elements or slices of ``params`` at the index tuples in the last axis of
    ``indices`` (``tf.gather_nd``). With ``[n, 1]`` indices the gradient
    w.r.t. ``params`` is an ``IndexedSlices`` (TF's rule).

    >>> import tapegrad as tf
    >>> print(tf.gather_nd(tf.constant([[1, 2], [3, 4]]), [[1, 0], [0, 1]]))
    tapegrad.Tensor([3 2], shape=(2,), dtype=int32)
    """
    if not RECORDING and getattr(_TRACING, "gathers", None) is None:
        return _core.gather_nd(params, indices, batch_dims=batch_dims)
    index_tensor = indices if isinstance(indices, Tensor) else _core.convert_to_tensor(indices)
    shape = tuple(index_tensor.shape)
    if isinstance(params, _TENSORS) and batch_dims == 0 and len(shape) == 2 and shape[1] == 1:
        # one coordinate per row: the same as a gather along axis 0
        return gather(params, _core.squeeze(index_tensor, -1))
    return _core.gather_nd(params, index_tensor, batch_dims=batch_dims)


def embedding_lookup(
    params: TensorLike | Sequence[TensorLike],
    ids: TensorLike,
    max_norm: Any = None,
    name: str | None = None,
) -> Tensor:
    """The rows of ``params`` at ``ids`` (``tf.nn.embedding_lookup``): ``gather``
    along axis 0, so the gradient w.r.t. ``params`` is an ``IndexedSlices``.
    ``params`` may be a list holding one tensor; ``max_norm`` clips each row's
    L2 norm.

    >>> import tapegrad as tf
    >>> table = tf.constant([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
    >>> print(tf.nn.embedding_lookup(table, [2, 0]))
    tapegrad.Tensor(
    [[4. 5.]
     [0. 1.]], shape=(2, 2), dtype=float32)
    """
    if isinstance(params, (list, tuple)):
        if len(params) != 1:
            raise NotImplementedError(
                "tf.nn.embedding_lookup: tapegrad takes one params tensor (a list of one); "
                "concatenate sharded tables with tf.concat first (see docs/compat.md)"
            )
        params = params[0]
    rows = gather(params, ids)
    if max_norm is not None:
        from ._array_ops import clip_by_norm

        rows = clip_by_norm(rows, max_norm, axes=[-1])
    return rows


def _source_id(source: Any) -> int:
    return int(source._handle_id if isinstance(source, Variable) else source._id)


def gradient_with_slices(
    tape: Any,
    gathers: list[Any],
    targets: list[Any],
    seeds: list[Any],
    sources: list[Any],
    zero: bool,
    on_final: Callable[[int, Any], object] | None = None,
) -> list[Any]:
    """``core_tape.derive("gradient", targets, seeds, sources, zero)`` with TF's
    ``IndexedSlices`` for each source whose uses on the way to the targets
    are all remembered gathers. ``on_final(k, gradient)`` hears of source
    ``k``'s gradient as soon as it is final (an ``IndexedSlices`` once the
    gradients of all its gathers are)."""
    nodes = tape._tape.inspect()[0]
    by_output = {out._id: (out, rows, shape) for out, rows, shape in gathers}
    # the tensors from which some target can be reached
    reaches = {t._id for t in targets if isinstance(t, Tensor)}
    reaches.update(t._handle_id for t in targets if isinstance(t, Variable))
    for _, inputs, outputs, _ in reversed(nodes):
        if any(o[0] in reaches for o in outputs):
            reaches.update(i[0] for i in inputs)
    consumers: dict[int, list[Any]] = {}
    for node in nodes:
        for i in node[1]:
            consumers.setdefault(i[0], []).append(node)
    expanded: list[Any] = []
    # expanded position -> (source index, its gathers (None: a dense source), part)
    owners: list[tuple[int, list[Any] | None, int]] = []
    for index, source in enumerate(sources):
        picks = _sparse_uses(_source_id(source), consumers, reaches, by_output)
        if picks:
            owners.extend((index, picks, part) for part in range(len(picks)))
            expanded.extend(out for out, _, _ in picks)
        else:
            owners.append((index, None, 0))
            expanded.append(source)
    arrived: dict[int, list[Any]] = {}  # a sparse source's gathers' gradients so far
    counts: dict[int, int] = {}

    def report(position: int, grad: Any) -> None:
        assert on_final is not None
        index, picks, part = owners[position]
        if picks is None:
            on_final(index, grad)
            return
        received = arrived.setdefault(index, [None] * len(picks))
        received[part] = grad
        counts[index] = counts.get(index, 0) + 1
        if counts[index] == len(picks):
            on_final(index, _pack(received, picks))

    grads = tape._tape.derive(
        "gradient", targets, seeds, expanded, zero, on_final=None if on_final is None else report
    )
    result: list[Any] = [None] * len(sources)
    for position, (index, gathered, part) in enumerate(owners):
        if gathered is None:
            result[index] = grads[position]
        elif part == len(gathered) - 1:  # the source's last gather
            result[index] = _pack(grads[position - part : position + 1], gathered)
    return result


def _pack(grads: list[Any], picks: list[Any]) -> IndexedSlices | None:
    """The gradients of a source's gathers' outputs as one ``IndexedSlices``
    (their rows concatenated), or None when none of them is connected."""
    connected = [(g, rows) for g, (_, rows, _) in zip(grads, picks, strict=True) if g is not None]
    if not connected:
        return None
    shape = picks[0][2]
    values = [_core.reshape(g, [-1, *shape[1:]]) for g, _ in connected]
    indices = [_core.reshape(rows, [-1]) for _, rows in connected]
    return IndexedSlices(
        values[0] if len(values) == 1 else _core.concat(values, 0),
        indices[0] if len(indices) == 1 else _core.concat(indices, 0),
        _core.constant(list(shape), dtype=int32),
    )


def _sparse_uses(
    source_id: int, consumers: dict[int, list[Any]], reaches: set[int], by_output: dict[int, Any]
) -> list[Any]:
    """The remembered gathers of ``source_id`` on the way to a target, or
    ``[]`` when there are none or some other use is on the way too."""
    direct = consumers.get(source_id, [])
    # a variable is used through its reads
    uses = [n for n in direct if n[0] != "ReadVariableOp"]
    for read in (n for n in direct if n[0] == "ReadVariableOp"):
        uses.extend(consumers.get(read[2][0][0], []))
    picks = []
    for _, _, outputs, _ in uses:
        if not any(o[0] in reaches for o in outputs):
            continue  # off the way to the targets: contributes nothing
        gathered = by_output.get(outputs[0][0])
        if gathered is None:
            return []  # a dense use: the gradient is dense
        picks.append(gathered)
    return picks
