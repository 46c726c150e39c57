"""Horovod's collectives on tapegrad tensors: allreduce (fused when grouped),
allgather, broadcast, alltoall, the object variants, join and barrier.

Tensors are read through zero-copy, read-only numpy views. The allreduce of
one tensor receives straight into the memory of the tensor it returns
(``_fill_new``), with what the ranks must agree on prepared once per tensor
signature; other results land in numpy buffers that become tensors with one
copy (tapegrad tensors own their memory)."""

from __future__ import annotations

import enum
import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import _core
from .._indexed_slices import IndexedSlices
from ..errors import UnimplementedError
from . import _state
from ._engine import Description, Job, digest_of
from ._fusion import PackedBucket, fusion_threshold, pack, plan_buckets
from ._transport import Transport


class ReduceOp(enum.Enum):
    """How ``allreduce`` combines the ranks' tensors (``hvd.Average``,
    ``hvd.Sum``, ``hvd.Min``, ``hvd.Max``, ``hvd.Product``; ``hvd.Adasum``
    is named but not implemented), and how ``tf.distribute``'s
    ``Strategy.reduce`` combines replicas (``ReduceOp.SUM``, ``ReduceOp.MEAN``:
    TF's name for the average). One enum serves both APIs, which share
    this namespace.

    >>> import tapegrad.distribute as hvd
    >>> hvd.Average is hvd.ReduceOp.AVERAGE
    True
    """

    AVERAGE = "average"
    SUM = "sum"
    MIN = "min"
    MAX = "max"
    PRODUCT = "prod"
    ADASUM = "adasum"
    MEAN = "average"  # tf.distribute.ReduceOp.MEAN: an alias of AVERAGE


Average = ReduceOp.AVERAGE
Sum = ReduceOp.SUM
Min = ReduceOp.MIN
Max = ReduceOp.MAX
Product = ReduceOp.PRODUCT
Adasum = ReduceOp.ADASUM


class Compressor:
    """Horovod's compressor interface: ``compress(tensor) -> (tensor, ctx)``
    and ``decompress(tensor, ctx) -> tensor`` around the reduction.
    ``wire_dtype`` lets the fused path cast while packing instead of making
    a compressed copy of each tensor first.

    >>> import numpy as np, tapegrad as tf, tapegrad.distribute as hvd
    >>> c, ctx = hvd.Compression.none.compress(tf.constant([1.0]))
    >>> hvd.Compression.none.decompress(c, ctx).numpy()
    array([1.], dtype=float32)
    """

    @staticmethod
    def wire_dtype(dtype: np.dtype[Any]) -> np.dtype[Any]:
        return dtype

    @classmethod
    def compress(cls, tensor: Any) -> tuple[Any, Any]:
        array = as_array(tensor)
        wire = cls.wire_dtype(array.dtype)
        if wire == array.dtype:
            return tensor, None
        return array.astype(wire), array.dtype

    @staticmethod
    def decompress(tensor: Any, ctx: Any) -> Any:
        if ctx is None:
            return tensor
        return _core.constant(np.asarray(tensor).astype(ctx))


class NoneCompressor(Compressor):
    """No compression: tensors travel in their own dtype.

    >>> import numpy as np, tapegrad.distribute as hvd
    >>> hvd.Compression.none.wire_dtype(np.dtype("float32"))
    dtype('float32')
    """


class FP16Compressor(Compressor):
    """Floating tensors travel as float16 (half the bytes), reduced in
    float16 and cast back; other dtypes are not compressed.

    >>> import numpy as np, tapegrad.distribute as hvd
    >>> hvd.Compression.fp16.wire_dtype(np.dtype("float32"))
    dtype('float16')
    """

    @staticmethod
    def wire_dtype(dtype: np.dtype[Any]) -> np.dtype[Any]:
        return np.dtype(np.float16) if dtype.kind == "f" else dtype


class Compression:
    """The compressors: ``Compression.none`` and ``Compression.fp16``.

    >>> import tapegrad.distribute as hvd
    >>> hvd.Compression.fp16.__name__
    'FP16Compressor'
    """

    none = NoneCompressor
    fp16 = FP16Compressor


# -- tensors as buffers -------------------------------------------------------


def as_array(value: Any) -> np.ndarray[Any, Any]:
    """A C-contiguous numpy array of the value: for a tapegrad tensor a
    zero-copy, read-only view (``Tensor.__array__``, which shares the
    buffer: tensors are immutable, so MPI may read it in place; called
    directly, since ``np.asarray`` first tries other protocols and costs ten
    times as much), and for a variable a copy (a snapshot: an ``assign`` from
    another thread must not change what is on the wire)."""
    if isinstance(value, _core.Tensor):
        array = value.__array__()
    elif isinstance(value, _core.Variable):
        array = np.from_dlpack(value)
    else:
        array = np.asarray(value)
    # (np.ascontiguousarray would turn a scalar into shape (1,))
    return array if array.flags.c_contiguous else np.ascontiguousarray(array)


def to_tensor(array: np.ndarray[Any, Any]) -> Any:
    return _core.constant(array)


_DTYPE_NAMES: dict[np.dtype[Any], str] = {}


def dtype_name(dtype: np.dtype[Any]) -> str:
    """``str(dtype)``, cached: numpy computes it in Python each time."""
    name = _DTYPE_NAMES.get(dtype)
    if name is None:
        name = _DTYPE_NAMES[dtype] = str(dtype)
    return name


def _spec(array: np.ndarray[Any, Any]) -> str:
    return f"{array.dtype}{list(array.shape)}"


def _check_op(op: ReduceOp | None, average: bool | None) -> ReduceOp:
    if average is not None:
        if op is not None:
            raise ValueError("allreduce: give `op` or the deprecated `average`, not both")
        return Average if average else Sum
    if op is None:
        return Average
    if not isinstance(op, ReduceOp):
        raise TypeError(
            f"allreduce: op must be one of hvd.Average, Sum, Min, Max, Product; got {op!r}"
        )
    if op is Adasum:
        raise UnimplementedError(
            "allreduce: hvd.Adasum is not implemented by tapegrad.distribute; use hvd.Average"
        )
    return op


_IDENTITY = {"sum": 0, "prod": 1}


def _identity(op: str, dtype: np.dtype[Any]) -> Any:
    """The neutral element a joined rank contributes."""
    if op in _IDENTITY:
        return _IDENTITY[op]
    if dtype.kind == "f":
        return np.inf if op == "min" else -np.inf
    info = np.iinfo(dtype)
    return info.max if op == "min" else info.min


# -- allreduce ----------------------------------------------------------------


def _bucket_what(
    names: list[str], arrays: list[np.ndarray[Any, Any] | None], indices: list[int]
) -> str:
    shown = ", ".join(
        f"{names[i]!r} ({_spec(a)})" for i in indices[:4] if (a := arrays[i]) is not None
    )
    more = f" and {len(indices) - 4} more" if len(indices) > 4 else ""
    label = "allreduce of " if len(indices) == 1 else f"fused allreduce of {len(indices)} tensors: "
    return label + shown + more


def _scaling(op: ReduceOp, prescale: float, postscale: float) -> tuple[Any, ...]:
    """The part of an allreduce's description that says how values are
    combined, which the ranks must agree on too: ``Average`` and ``Sum``
    are one MPI sum, told apart only here."""
    return ("op, prescale, postscale", op.value, float(prescale), float(postscale))


class Reduction:
    """One allreduce call over a list of arrays (None entries stay None):
    ``add`` validates each array, ``submit`` packs a bucket and hands it to
    the communication thread at once, so bucket k is on the wire while
    bucket k+1 is packed (or, for ``DistributedGradientTape``, while the
    backward pass is still producing it); ``results`` waits and unpacks.
    The caller holds ``STATE.call_lock`` from the first ``submit`` to
    ``results`` (the buckets use the pooled buffers)."""

    def __init__(
        self,
        count: int,
        names: list[str],
        agreed_names: list[str | None],
        op: ReduceOp,
        compression: type[Compressor],
        prescale_factor: float,
        postscale_factor: float,
    ) -> None:
        self.engine = _state.engine()
        self.size = _state.transport().size
        self.arrays: list[np.ndarray[Any, Any] | None] = [None] * count
        self.wires: list[np.dtype[Any] | None] = [None] * count
        self.names = names
        self.agreed_names = agreed_names
        self.op = op
        self.mpi_op = "sum" if op is Average else op.value
        self.compression = compression
        self.scaled = prescale_factor != 1.0 or postscale_factor != 1.0
        self.prescale = float(prescale_factor)
        self.postscale = float(postscale_factor)
        self.scaling = _scaling(op, self.prescale, self.postscale)
        if op is Average and compression is FP16Compressor:
            # averaging before the float16 sum keeps it from overflowing
            self.prescale, self.postscale = self.prescale / self.size, self.postscale * self.size
        self.jobs: list[tuple[Job, PackedBucket]] = []

    def add(self, index: int, array: np.ndarray[Any, Any]) -> np.dtype[Any]:
        """Take the array at ``index``; returns its wire dtype."""
        name = self.names[index]
        if array.dtype.kind not in "fiu":
            raise TypeError(
                f"allreduce of {name!r}: dtype {array.dtype} cannot be reduced "
                "(floating and integer tensors only)"
            )
        if array.dtype.kind in "iu" and self.scaled:
            raise TypeError(
                f"allreduce of {name!r}: prescale_factor/postscale_factor need a floating "
                f"tensor, got {array.dtype}"
            )
        wire = np.dtype(self.compression.wire_dtype(array.dtype))
        self.arrays[index] = array
        self.wires[index] = wire
        return wire

    def submit(self, indices: list[int], none_names: tuple[str, ...]) -> None:
        """Pack the arrays at ``indices`` (one wire dtype) and start their
        allreduce; ``none_names``, the None gradients the ranks must agree
        on, goes into the description."""
        arrays = self.arrays
        wire = self.wires[indices[0]]
        assert wire is not None
        packed = pack(
            arrays,
            indices,
            wire,
            self.prescale if wire.kind == "f" else 1.0,
            _state.STATE.pool,
            len(self.jobs),
        )
        entries = tuple(
            (self.agreed_names[i], dtype_name(arrays[i].dtype), arrays[i].shape)  # type: ignore[union-attr]
            for i in indices
        )
        description: Description = (
            "allreduce",
            self.mpi_op,
            dtype_name(wire),
            packed.recv.size,
            ("None gradients", none_names),
            self.scaling,
            entries,
        )
        job = Job(
            description,
            functools.partial(_bucket_what, self.names, arrays, indices),
            _allreduce_runner(packed, self.mpi_op, self.op is Average, self.postscale, self.size),
        )
        self.engine.submit(job)  # the communication thread starts on it now
        self.jobs.append((job, packed))

    def results(self, as_tensors: bool = True) -> list[Any]:
        """Wait for every bucket; the reduced tensors (or, with
        ``as_tensors=False``, numpy arrays that may share the pooled
        buffers: for measuring the cost of that last copy)."""
        results: list[Any] = [None] * len(self.arrays)
        for job, packed in self.jobs:
            self.engine.wait(job.future, job.what_text)
            for index, (lo, hi) in zip(packed.indices, packed.offsets, strict=True):
                original = self.arrays[index]
                assert original is not None
                piece = packed.recv[lo:hi].reshape(original.shape)
                if piece.dtype != original.dtype:
                    piece = piece.astype(original.dtype)
                results[index] = to_tensor(piece) if as_tensors else piece
        return results

    def settle(self) -> None:
        """After a failure: wait for the buckets already started (their
        errors were the ranks' to see), so the pooled buffers are free."""
        for job, _ in self.jobs:
            try:
                self.engine.wait(job.future, job.what_text)
            except Exception:  # noqa: BLE001, S110 - the first error is the one raised
                pass


def reduce_arrays(
    arrays: list[np.ndarray[Any, Any] | None],
    names: list[str],
    agreed_names: list[str | None],
    op: ReduceOp,
    compression: type[Compressor],
    prescale_factor: float,
    postscale_factor: float,
    none_names: tuple[str, ...] = (),
    as_tensors: bool = True,
) -> list[Any]:
    """Allreduce a list of arrays (None entries stay None) in fused buckets,
    pipelined: bucket k+1 is packed while bucket k is on the wire. Returns
    tapegrad tensors (or, with ``as_tensors=False``, numpy arrays that may
    share the pooled buffers: for measuring the cost of that last copy)."""
    if len(arrays) == 1 and as_tensors and (only := arrays[0]) is not None:
        if _fills_directly(only, compression, prescale_factor, postscale_factor):
            return [_reduce_one(only, names[0], agreed_names[0], op, postscale_factor, none_names)]
    reduction = Reduction(
        len(arrays), names, agreed_names, op, compression, prescale_factor, postscale_factor
    )
    for index, array in enumerate(arrays):
        if array is not None:
            reduction.add(index, array)
    with _state.STATE.call_lock:
        if len(arrays) == 1:  # one tensor: nothing to plan
            buckets = [[0]] if arrays[0] is not None else []
        else:
            buckets = plan_buckets(arrays, reduction.wires, fusion_threshold())
        for indices in buckets:
            reduction.submit(indices, none_names)
        return reduction.results(as_tensors)


# the dtypes a tensor's memory can be received into directly
_FILLABLE = frozenset(np.dtype(name) for name in ("float32", "float64", "int32", "int64"))


def _fills_directly(
    array: np.ndarray[Any, Any],
    compression: type[Compressor],
    prescale_factor: float,
    postscale_factor: float,
) -> bool:
    """Whether ``_reduce_one`` can reduce ``array`` (no compression, no
    prescale, a dtype MPI reduces natively)."""
    return (
        compression is NoneCompressor
        and prescale_factor == 1.0
        and array.dtype in _FILLABLE
        and (postscale_factor == 1.0 or array.dtype.kind == "f")
    )


class _OnePlan:
    """The allreduce of one tensor of a given signature, prepared once per
    signature (a training loop reduces the same few every step): what the
    ranks must agree on, its hash, and how the result is scaled (the
    number of ranks is read at each call: a new ``init`` may change it)."""

    __slots__ = ("description", "digest", "dtype", "mpi_op", "average", "postscale")

    def __init__(
        self,
        array: np.ndarray[Any, Any],
        agreed_name: str | None,
        op: ReduceOp,
        postscale: float,
        none_names: tuple[str, ...],
    ) -> None:
        mpi_op = "sum" if op is Average else op.value
        self.dtype = dtype_name(array.dtype)
        self.description: Description = (
            "allreduce",
            mpi_op,
            self.dtype,
            array.size,
            ("None gradients", none_names),
            _scaling(op, 1.0, postscale),
            ((agreed_name, self.dtype, array.shape),),
        )
        self.digest = digest_of(self.description)
        self.mpi_op = mpi_op
        self.average = op is Average
        self.postscale = float(postscale)


_ONE_PLANS: dict[tuple[Any, ...], _OnePlan] = {}
_PLAN_LIMIT = 4096


def _reduce_one(
    array: np.ndarray[Any, Any],
    label: str | int,
    agreed_name: str | None,
    op: ReduceOp,
    postscale: float,
    none_names: tuple[str, ...],
) -> Any:
    """The allreduce of one tensor (no compression, no prescale), received
    straight into the memory of the tensor returned, and run in this thread
    when the communication thread is idle (no hand-over and back). ``label``
    names the tensor in messages (an int: the number of an unnamed one)."""
    engine = _state.engine()
    postscale = float(postscale)  # (a numpy scalar or a 0-d tensor is fine too)
    # (op._value_: an Enum's hash and its `value` property run Python code)
    key = (array.dtype, array.shape, op._value_, postscale, agreed_name, none_names)
    plan = _ONE_PLANS.get(key)
    if plan is None:
        if len(_ONE_PLANS) >= _PLAN_LIMIT:
            _ONE_PLANS.clear()
        plan = _ONE_PLANS[key] = _OnePlan(array, agreed_name, op, postscale, none_names)

    def what() -> str:
        name = label if isinstance(label, str) else f"allreduce #{label} (unnamed)"
        return _bucket_what([name], [array], [0])

    def fill(out: np.ndarray[Any, Any]) -> None:
        if engine.allreduce_inline(plan.description, plan.digest, what, array, out, plan.mpi_op):
            if plan.average or plan.postscale != 1.0:
                _scale(out, plan.average, plan.postscale, engine.transport.size)
            return
        # earlier collectives are queued: this one waits its turn on the
        # communication thread, which must not keep `out` (it is only lent
        # for this call), so it reduces into a buffer of its own
        staging = np.empty_like(array)
        run = functools.partial(_reduce_into, array, staging, plan)
        engine.run(Job(plan.description, what, run, plan.digest))
        np.copyto(out, staging)

    return _core._fill_new(plan.dtype, array.shape, fill)


def _reduce_into(
    send: np.ndarray[Any, Any],
    out: np.ndarray[Any, Any],
    plan: _OnePlan,
    transport: Transport,
    some_joined: bool,
) -> None:
    transport.allreduce(send, out, plan.mpi_op)
    if plan.average or plan.postscale != 1.0:
        _scale(out, plan.average, plan.postscale, transport.size)


def _scale(out: np.ndarray[Any, Any], average: bool, postscale: float, size: int) -> None:
    # numpy releases the GIL in these loops: on the communication thread,
    # scaling overlaps the training thread's packing
    if out.dtype.kind in "iu":
        if average:
            np.floor_divide(out, size, out=out)
    else:
        scale = postscale / size if average else postscale
        if scale != 1.0:
            np.multiply(out, scale, out=out, casting="unsafe")


def _allreduce_runner(
    packed: PackedBucket, mpi_op: str, average: bool, postscale: float, size: int
) -> Any:
    def run(transport: Transport, some_joined: bool) -> None:
        if packed.in_place:
            transport.allreduce_inplace(packed.recv, mpi_op)
        else:
            transport.allreduce(packed.send, packed.recv, mpi_op)
        _scale(packed.recv, average, postscale, size)

    return run


def _joined_allreduce(transport: Transport, description: Description) -> None:
    _, mpi_op, wire, count, *_ = description
    dtype = np.dtype(wire)
    buf = np.full(count, _identity(mpi_op, dtype), dtype=dtype)
    transport.allreduce_inplace(buf, mpi_op)


def allreduce(
    tensor: Any,
    average: bool | None = None,
    device_dense: str = "",
    device_sparse: str = "",
    compression: type[Compressor] = Compression.none,
    op: ReduceOp | None = None,
    prescale_factor: float = 1.0,
    postscale_factor: float = 1.0,
    name: str | None = None,
    process_set: Any = None,
    ignore_name_scope: bool = False,
) -> Any:
    """The tensor reduced over all ranks (``hvd.allreduce``): ``op`` is
    ``Average`` (default), ``Sum``, ``Min``, ``Max`` or ``Product``; every
    rank's tensor is multiplied by ``prescale_factor`` before and the result
    by ``postscale_factor`` after. Average of integer tensors floor-divides.
    Every rank gets the same result, bit for bit. An ``IndexedSlices`` is
    reduced as Horovod does, by two allgathers (``allgather_slices``).

    >>> import tapegrad as tf, tapegrad.distribute as hvd
    >>> hvd.init()
    >>> hvd.allreduce(tf.constant([1.0, 2.0]), op=hvd.Sum).numpy() / hvd.size()
    array([1., 2.], dtype=float32)
    """
    if process_set is not None:
        _check_process_set(process_set)
    reduce_op = _check_op(op, average)
    if isinstance(tensor, IndexedSlices):
        label = name if name is not None else _state.next_unnamed("allreduce")
        _check_unscaled(prescale_factor, postscale_factor, label)
        return allgather_slices(tensor, reduce_op, label)
    array = as_array(tensor)
    if _fills_directly(array, compression, prescale_factor, postscale_factor):
        # the common case, kept lean: a small allreduce costs microseconds
        tag = name if name is not None else _state.next_unnamed_number()
        return _reduce_one(array, tag, name, reduce_op, postscale_factor, ())
    label = name if name is not None else _state.next_unnamed("allreduce")
    return reduce_arrays(
        [array], [label], [name], reduce_op, compression, prescale_factor, postscale_factor
    )[0]


def grouped_allreduce(
    tensors: Sequence[Any],
    average: bool | None = None,
    device_dense: str = "",
    device_sparse: str = "",
    compression: type[Compressor] = Compression.none,
    op: ReduceOp | None = None,
    prescale_factor: float = 1.0,
    postscale_factor: float = 1.0,
    process_set: Any = None,
) -> list[Any]:
    """``allreduce`` of a list of tensors, fused into as few collectives as
    the fusion threshold allows (``hvd.grouped_allreduce``); an
    ``IndexedSlices`` among them is allgathered, as ``allreduce`` does.

    >>> import tapegrad as tf, tapegrad.distribute as hvd
    >>> hvd.init()
    >>> [t.shape for t in hvd.grouped_allreduce([tf.ones((2, 3)), tf.ones(4)])]
    [TensorShape([2, 3]), TensorShape([4])]
    """
    _check_process_set(process_set)
    reduce_op = _check_op(op, average)
    # IndexedSlices are allgathered after the dense ones, as in Horovod
    sparse = [isinstance(t, IndexedSlices) for t in tensors]
    arrays: list[np.ndarray[Any, Any] | None] = [
        None if is_sparse else as_array(t) for t, is_sparse in zip(tensors, sparse, strict=True)
    ]
    names = [_state.next_unnamed("grouped_allreduce") for _ in arrays]
    if any(sparse):
        _check_unscaled(prescale_factor, postscale_factor, "grouped_allreduce")
    reduced = reduce_arrays(
        arrays,
        names,
        [None] * len(arrays),
        reduce_op,
        compression,
        prescale_factor,
        postscale_factor,
    )
    for index, tensor in enumerate(tensors):
        if sparse[index]:
            reduced[index] = allgather_slices(tensor, reduce_op, names[index])
    return reduced


def _check_process_set(process_set: Any) -> None:
    if process_set is not None and process_set != 0:
        raise UnimplementedError(
            "process sets are not implemented by tapegrad.distribute: collectives run on the "
            "communicator given to hvd.init(comm=...)"
        )


# -- allgather, broadcast, alltoall ------------------------------------------


def allgather(
    tensor: Any, name: str | None = None, process_set: Any = None, ignore_name_scope: bool = False
) -> Any:
    """The ranks' tensors concatenated along the first dimension, in rank
    order (``hvd.allgather``). The first dimension may differ from rank to
    rank; the others and the dtype must match.

    >>> import tapegrad as tf, tapegrad.distribute as hvd
    >>> hvd.init()
    >>> hvd.allgather(tf.constant([[1, 2]])).shape[0] == hvd.size()
    True
    """
    _check_process_set(process_set)
    array = as_array(tensor)
    if array.ndim == 0:
        raise ValueError(
            f"allgather of {name or 'a tensor'}: needs at least one dimension, got a scalar"
        )
    label = name if name is not None else _state.next_unnamed("allgather")
    trailing = tuple(array.shape[1:])
    description: Description = (
        "allgather",
        str(array.dtype),
        trailing,
        ((name, str(array.dtype), ("?", *trailing)),),
    )

    def run(transport: Transport, some_joined: bool) -> np.ndarray[Any, Any]:
        rows = transport.allgather_ints(np.array([array.shape[0]], dtype=np.int64))[:, 0]
        row_size = int(np.prod(trailing, dtype=np.int64))
        out = np.empty((int(rows.sum()), *trailing), dtype=array.dtype)
        transport.allgatherv(array.reshape(-1), out.reshape(-1), [int(r) * row_size for r in rows])
        return out

    what = f"allgather of {label!r} ({array.dtype}[?, {', '.join(map(str, trailing))}])"
    return to_tensor(_state.engine().run(Job(description, what, run)))


def _check_unscaled(prescale_factor: float, postscale_factor: float, name: str) -> None:
    if prescale_factor != 1.0 or postscale_factor != 1.0:
        raise UnimplementedError(
            f"allreduce of the IndexedSlices in {name!r}: prescale_factor/postscale_factor are "
            "not supported with tf.IndexedSlices (as in Horovod); scale the values yourself"
        )


def allgather_slices(slices: IndexedSlices, op: ReduceOp, name: str) -> IndexedSlices:
    """Horovod's allreduce of an ``IndexedSlices``: the ranks' ``values`` and
    ``indices`` allgathered (rank order), the values divided by the number
    of ranks for ``Average``; densified, that is the reduction of the ranks'
    densified tensors, since repeated indices add up. No compression or
    scale factors apply (as in Horovod)."""
    if op not in (ReduceOp.AVERAGE, ReduceOp.SUM):
        raise UnimplementedError(
            f"allreduce of the IndexedSlices {name!r}: op must be hvd.Average or hvd.Sum, "
            f"got {op!r}; densify it first (tf.convert_to_tensor, or sparse_as_dense=True)"
        )
    values = allgather(slices.values, name=f"{name}/values")
    indices = allgather(slices.indices, name=f"{name}/indices")
    if op is ReduceOp.AVERAGE:
        values = values / _core.constant(_state.transport().size, dtype=values.dtype)
    return IndexedSlices(values, indices, slices.dense_shape)


def _joined_allgather(transport: Transport, description: Description) -> None:
    _, dtype_name, trailing, _ = description
    rows = transport.allgather_ints(np.array([0], dtype=np.int64))[:, 0]
    row_size = int(np.prod(trailing, dtype=np.int64))
    out = np.empty((int(rows.sum()), *trailing), dtype=np.dtype(dtype_name))
    transport.allgatherv(
        np.empty(0, dtype=out.dtype), out.reshape(-1), [int(r) * row_size for r in rows]
    )


def broadcast(
    tensor: Any,
    root_rank: int,
    name: str | None = None,
    process_set: Any = None,
    ignore_name_scope: bool = False,
) -> Any:
    """Rank ``root_rank``'s tensor, on every rank (``hvd.broadcast``); shapes
    and dtypes must match across ranks.

    >>> import tapegrad as tf, tapegrad.distribute as hvd
    >>> hvd.init()
    >>> hvd.broadcast(tf.constant([3.0]), root_rank=0).numpy()
    array([3.], dtype=float32)
    """
    _check_process_set(process_set)
    transport = _state.transport()
    _check_root(root_rank, transport.size, "broadcast")
    array = as_array(tensor)
    label = name if name is not None else _state.next_unnamed("broadcast")
    description: Description = (
        "broadcast",
        int(root_rank),
        ((name, str(array.dtype), tuple(array.shape)),),
    )

    def run(transport: Transport, some_joined: bool) -> np.ndarray[Any, Any]:
        # the root's buffer is read by MPI_Bcast but must be writable for mpi4py
        buf = np.array(array) if transport.rank == root_rank else np.empty_like(array)
        transport.bcast(buf, root_rank)
        return buf

    what = f"broadcast of {label!r} ({_spec(array)}) from rank {root_rank}"
    return to_tensor(_state.engine().run(Job(description, what, run)))


def _check_root(root_rank: int, size: int, what: str) -> None:
    if not 0 <= int(root_rank) < size:
        raise ValueError(f"{what}: root_rank {root_rank} is not a rank of this job (size {size})")


def alltoall(
    tensor: Any,
    splits: Any = None,
    name: str | None = None,
    process_set: Any = None,
    ignore_name_scope: bool = False,
) -> tuple[Any, Any]:
    """Scatter slices of the first dimension to every rank and gather theirs
    (``hvd.alltoall``): ``splits[j]`` rows go to rank ``j`` (default: equal
    slices). Returns ``(gathered, received_splits)``.

    >>> import tapegrad as tf, tapegrad.distribute as hvd
    >>> hvd.init()
    >>> out, received = hvd.alltoall(tf.range(hvd.size() * 2))
    >>> out.shape[0] == 2 * hvd.size(), received.numpy().tolist() == [2] * hvd.size()
    (True, True)
    """
    _check_process_set(process_set)
    transport = _state.transport()
    array = as_array(tensor)
    if array.ndim == 0:
        raise ValueError("alltoall: needs a tensor with at least one dimension, got a scalar")
    rows = array.shape[0]
    label = name if name is not None else _state.next_unnamed("alltoall")
    if splits is None:
        if rows % transport.size:
            raise ValueError(
                f"alltoall of {label!r}: the first dimension ({rows}) does not divide into "
                f"{transport.size} equal parts; pass `splits`"
            )
        send_splits = np.full(transport.size, rows // transport.size, dtype=np.int64)
    else:
        send_splits = np.asarray(as_array(splits), dtype=np.int64).reshape(-1)
        if (
            send_splits.size != transport.size
            or (send_splits < 0).any()
            or send_splits.sum() != rows
        ):
            raise ValueError(
                f"alltoall of {label!r}: splits {send_splits.tolist()} must hold {transport.size} "
                f"non-negative counts adding up to the first dimension ({rows})"
            )
    trailing = tuple(array.shape[1:])
    description: Description = ("alltoall", ((name, str(array.dtype), ("?", *trailing)),))

    def run(
        transport: Transport, some_joined: bool
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        received = transport.alltoall_ints(send_splits)
        row_size = int(np.prod(trailing, dtype=np.int64))
        out = np.empty((int(received.sum()), *trailing), dtype=array.dtype)
        transport.alltoallv(
            array.reshape(-1),
            [int(s) * row_size for s in send_splits],
            out.reshape(-1),
            [int(r) * row_size for r in received],
        )
        return out, received

    what = f"alltoall of {label!r} ({array.dtype}[?, {', '.join(map(str, trailing))}])"
    out, received = _state.engine().run(Job(description, what, run))
    return to_tensor(out), to_tensor(received.astype(np.int32))


# -- objects, join, barrier ---------------------------------------------------


def broadcast_object(
    obj: Any, root_rank: int = 0, name: str | None = None, process_set: Any = None
) -> Any:
    """Rank ``root_rank``'s picklable object, on every rank
    (``hvd.broadcast_object``).

    >>> import tapegrad.distribute as hvd
    >>> hvd.init()
    >>> hvd.broadcast_object({"epoch": 3}, root_rank=0)
    {'epoch': 3}
    """
    _check_process_set(process_set)
    transport = _state.transport()
    _check_root(root_rank, transport.size, "broadcast_object")
    label = name if name is not None else _state.next_unnamed("broadcast_object")

    def run(transport: Transport, some_joined: bool) -> Any:
        return transport.bcast_object(obj if transport.rank == root_rank else None, root_rank)

    job = Job(("broadcast_object", int(root_rank), name), f"broadcast_object {label!r}", run)
    return _state.engine().run(job)


def allgather_object(obj: Any, name: str | None = None, process_set: Any = None) -> list[Any]:
    """Every rank's picklable object, as a list in rank order
    (``hvd.allgather_object``).

    >>> import tapegrad.distribute as hvd
    >>> hvd.init()
    >>> len(hvd.allgather_object(hvd.rank())) == hvd.size()
    True
    """
    _check_process_set(process_set)
    label = name if name is not None else _state.next_unnamed("allgather_object")

    def run(transport: Transport, some_joined: bool) -> list[Any]:
        return transport.allgather_object(obj)

    job = Job(("allgather_object", name), f"allgather_object {label!r}", run)
    result: list[Any] = _state.engine().run(job)
    return result


def join() -> int:
    """Wait, taking part in the other ranks' allreduces and allgathers with
    neutral data (zeros for a sum), until every rank has called ``join``;
    returns the rank that joined last (``hvd.join``). For uneven data:
    a rank out of batches joins instead of stopping.

    >>> import tapegrad.distribute as hvd
    >>> hvd.init()
    >>> hvd.join() < hvd.size()
    True
    """
    return _state.engine().join()


def barrier(process_set: Any = None) -> None:
    """Wait until every rank has reached the barrier (``hvd.barrier``).

    >>> import tapegrad.distribute as hvd
    >>> hvd.init(); hvd.barrier()
    """
    _check_process_set(process_set)

    def run(transport: Transport, some_joined: bool) -> None:
        transport.barrier()

    _state.engine().run(Job(("barrier",), "barrier", run))


JOINED_RUNNERS = {"allreduce": _joined_allreduce, "allgather": _joined_allgather}
