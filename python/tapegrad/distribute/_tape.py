"""Data-parallel training: ``DistributedGradientTape``, ``DistributedOptimizer``
and ``broadcast_variables`` (Horovod's TensorFlow 2 API)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import _core
from .._indexed_slices import IndexedSlices, to_dense
from .._nest import flatten, pack_sequence_as
from .._tape import GradientTape, UnconnectedGradients
from ..errors import UnimplementedError
from . import _state
from ._collectives import (
    Average,
    Compression,
    Compressor,
    ReduceOp,
    Reduction,
    Sum,
    allgather_slices,
    as_array,
    reduce_arrays,
)
from ._engine import Description, Job
from ._fusion import fusion_threshold, plan_buckets
from ._transport import Transport


def _check_gradient_op(op: ReduceOp, gradient_predivide_factor: float, who: str) -> None:
    if op not in (Average, Sum):
        raise UnimplementedError(
            f"{who}: op must be hvd.Average or hvd.Sum for gradients, got {op!r}"
        )
    if gradient_predivide_factor != 1.0 and op is not Average:
        raise ValueError(f"{who}: gradient_predivide_factor needs op=hvd.Average")


def _check_unsupported(who: str, num_groups: int, groups: Any, process_set: Any) -> None:
    if num_groups or groups is not None:
        raise UnimplementedError(
            f"{who}: num_groups/groups are not implemented; fusion buckets are sized by "
            "TAPEGRAD_FUSION_THRESHOLD instead"
        )
    if process_set is not None:
        raise UnimplementedError(f"{who}: process sets are not implemented")


def allreduce_gradients(
    grads: list[Any],
    names: list[str],
    op: ReduceOp,
    compression: type[Compressor],
    gradient_predivide_factor: float,
    sparse_as_dense: bool = False,
) -> list[Any]:
    """The gradients reduced across ranks in fused buckets; None stays None
    (and a None on one rank where another has a gradient is a mismatch).
    An ``IndexedSlices`` is allgathered after the dense buckets, as Horovod
    does, or densified first with ``sparse_as_dense``; on one process it
    stays as it is (Horovod skips the reduction there)."""
    if sparse_as_dense:
        grads = [to_dense(g) if isinstance(g, IndexedSlices) else g for g in grads]
    if _state.transport().size == 1 and compression is Compression.none:
        return list(grads)  # one process: the average is the gradient itself
    arrays: list[np.ndarray[Any, Any] | None] = [
        None if g is None or isinstance(g, IndexedSlices) else as_array(g) for g in grads
    ]
    prescale = 1.0 / gradient_predivide_factor
    postscale = gradient_predivide_factor
    labels = [f"DistributedGradientTape_Allreduce/{n}" for n in names]
    # which gradients are None must agree too: every bucket's description says
    none_names = tuple(n for n, g in zip(names, grads, strict=True) if g is None)
    agreed: list[str | None] = list(names)
    reduced = reduce_arrays(
        arrays, labels, agreed, op, compression, prescale, postscale, none_names
    )
    one_process = _state.transport().size == 1  # here only to compress: nothing to gather
    for index, grad in enumerate(grads):
        if isinstance(grad, IndexedSlices):
            reduced[index] = grad if one_process else allgather_slices(grad, op, labels[index])
    return reduced


# Buckets of the overlapped path close at this many bytes (or the fusion
# threshold, if smaller): a bucket travels only once it is closed, so the
# 64 MiB fusion default would hold every gradient of most models until the
# backward pass ends.
OVERLAP_BUCKET_BYTES = 1 << 20
OVERLAP_VARIABLE = "TAPEGRAD_OVERLAP"


def overlap_enabled() -> bool:
    """Whether ``DistributedGradientTape`` reduces gradients during the
    backward pass (``TAPEGRAD_OVERLAP``, default on; ``0`` turns it off)."""
    return os.environ.get(OVERLAP_VARIABLE, "1") != "0"


class _OverlappedGradients:
    """Gradients reduced while the backward pass still runs: the tape
    reports each source's gradient as soon as it is final (the last layers'
    first), and gradients are fused, in that order, into buckets per wire
    dtype that start their allreduce as soon as they close, on the
    communication thread, while the backward pass goes on.

    Every rank differentiates the same model, so every rank finishes the
    gradients in the same order and forms the same buckets; a rank that does
    not (another model, a gradient None on one rank only) submits another
    description and gets ``CollectiveMismatchError`` naming the tensor."""

    def __init__(self, reduction: Reduction, cap: int, sparse_as_dense: bool) -> None:
        self.reduction = reduction
        self.cap = cap
        self.sparse_as_dense = sparse_as_dense
        self.open: dict[np.dtype[Any], tuple[list[int], int]] = {}
        self.nones: list[str] = []
        self.sparse: dict[int, IndexedSlices] = {}  # allgathered after the buckets

    def on_final(self, index: int, grad: Any) -> None:
        if grad is None:
            self.nones.append(self.reduction.names[index])
            return
        if isinstance(grad, IndexedSlices):
            if not self.sparse_as_dense:
                self.sparse[index] = grad
                return
            grad = to_dense(grad)
        array = as_array(grad)
        wire = self.reduction.add(index, array)
        members, nbytes = self.open.pop(wire, ([], 0))
        members.append(index)
        nbytes += array.size * wire.itemsize
        if nbytes >= self.cap:
            self.reduction.submit(members, tuple(self.nones))
        else:
            self.open[wire] = (members, nbytes)

    def finish(self) -> list[Any]:
        """Start the buckets still open (in the order their first gradient
        came) and return the reduced gradients, then the gathered
        ``IndexedSlices`` (in source order, the same on every rank)."""
        for members, _ in sorted(self.open.values(), key=lambda bucket: bucket[0][0]):
            self.reduction.submit(members, tuple(self.nones))
        self.open.clear()
        results = self.reduction.results()
        for index in sorted(self.sparse):
            label = self.reduction.names[index]
            results[index] = allgather_slices(self.sparse[index], self.reduction.op, label)
        return results


def overlapped_gradient(
    tape: GradientTape,
    target: Any,
    sources: Any,
    output_gradients: Any,
    unconnected_gradients: UnconnectedGradients | str,
    op: ReduceOp,
    compression: type[Compressor],
    gradient_predivide_factor: float,
    sparse_as_dense: bool = False,
) -> Any:
    """``tape.gradient`` with every gradient reduced over all ranks, each
    bucket's allreduce started during the backward pass."""
    flat_sources = flatten(sources)
    names = _source_names(flat_sources)
    labels = [f"DistributedGradientTape_Allreduce/{n}" for n in names]
    reduction = Reduction(
        len(flat_sources),
        labels,
        list(names),
        op,
        compression,
        1.0 / gradient_predivide_factor,
        gradient_predivide_factor,
    )
    cap = min(OVERLAP_BUCKET_BYTES, fusion_threshold())
    overlapped = _OverlappedGradients(reduction, cap, sparse_as_dense)
    with _state.STATE.call_lock:
        tape._on_final = overlapped.on_final
        try:
            tape.gradient(target, sources, output_gradients, unconnected_gradients)
            reduced = overlapped.finish()
        except BaseException:
            reduction.settle()
            raise
        finally:
            tape._on_final = None
    return pack_sequence_as(sources, reduced)


def _source_names(sources: list[Any]) -> list[str]:
    return [
        s.name if isinstance(s, _core.Variable) else f"gradient_{i}" for i, s in enumerate(sources)
    ]


class DistributedGradientTape:
    """A ``GradientTape`` whose ``gradient`` returns the gradients averaged
    (or summed, ``op=hvd.Sum``) over all ranks (``hvd.DistributedGradientTape``).

    The gradients are fused into buckets (``TAPEGRAD_FUSION_THRESHOLD``)
    reduced on the communication thread, each bucket starting as soon as it
    is packed. ``compression=hvd.Compression.fp16`` halves the bytes;
    ``gradient_predivide_factor=f`` divides by ``f`` before the sum and by
    ``size/f`` after. An ``IndexedSlices`` gradient (an embedding's) is
    allgathered (values and indices, values averaged) as in Horovod, or
    densified first with ``sparse_as_dense=True``. Everything else is the
    wrapped tape's.

    >>> import tapegrad as tf, tapegrad.distribute as hvd
    >>> hvd.init()
    >>> w = tf.Variable([1.0, 2.0])
    >>> with tf.GradientTape() as tape:
    ...     loss = tf.reduce_sum(w * w)
    >>> tape = hvd.DistributedGradientTape(tape)
    >>> tape.gradient(loss, [w])[0].numpy()
    array([2., 4.], dtype=float32)
    """

    def __init__(
        self,
        gradtape: GradientTape,
        device_dense: str = "",
        device_sparse: str = "",
        compression: type[Compressor] = Compression.none,
        sparse_as_dense: bool = False,
        op: ReduceOp = Average,
        gradient_predivide_factor: float = 1.0,
        num_groups: int = 0,
        groups: Any = None,
        process_set: Any = None,
        scale_local_gradients: bool = True,
    ) -> None:
        if not isinstance(gradtape, GradientTape):
            raise TypeError(
                f"DistributedGradientTape wraps a tf.GradientTape, got {type(gradtape).__name__}"
            )
        _check_gradient_op(op, gradient_predivide_factor, "DistributedGradientTape")
        _check_unsupported("DistributedGradientTape", num_groups, groups, process_set)
        self._tape = gradtape
        self._op = op
        self._compression = compression
        self._predivide = float(gradient_predivide_factor)
        self._sparse_as_dense = bool(sparse_as_dense)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tape, name)

    def __enter__(self) -> DistributedGradientTape:
        self._tape.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._tape.__exit__(*exc_info)

    def gradient(
        self,
        target: Any,
        sources: Any,
        output_gradients: Any = None,
        unconnected_gradients: UnconnectedGradients | str = UnconnectedGradients.NONE,
    ) -> Any:
        """The wrapped tape's gradients, reduced over all ranks, in the
        structure of ``sources``.

        >>> import tapegrad as tf, tapegrad.distribute as hvd
        >>> hvd.init()
        >>> x = tf.constant(3.0)
        >>> with hvd.DistributedGradientTape(tf.GradientTape()) as tape:
        ...     tape.watch(x)
        ...     y = x * x
        >>> float(tape.gradient(y, x))
        6.0
        """
        if overlap_enabled() and _state.transport().size > 1:
            return overlapped_gradient(
                self._tape,
                target,
                sources,
                output_gradients,
                unconnected_gradients,
                self._op,
                self._compression,
                self._predivide,
                self._sparse_as_dense,
            )
        grads = self._tape.gradient(target, sources, output_gradients, unconnected_gradients)
        flat_sources = flatten(sources)
        reduced = allreduce_gradients(
            flatten(grads),
            _source_names(flat_sources),
            self._op,
            self._compression,
            self._predivide,
            self._sparse_as_dense,
        )
        return pack_sequence_as(sources, reduced)


class _DistributedOptimizerMixin:
    """Overrides ``apply`` (which ``apply_gradients`` and ``minimize`` call)
    to reduce the gradients over all ranks first."""

    _hvd_op: ReduceOp
    _hvd_compression: type[Compressor]
    _hvd_predivide: float
    _hvd_sparse_as_dense: bool

    def apply(self, grads: Sequence[Any], trainable_variables: Sequence[Any] | None = None) -> None:
        grads = list(grads)
        if trainable_variables is None:
            variables = list(getattr(self, "_trainable_variables", []) or [])
        else:
            variables = list(trainable_variables)
        if grads and len(variables) == len(grads):
            names = _source_names(variables)
        else:  # the base class raises its own error for a length mismatch
            names = [f"gradient_{i}" for i in range(len(grads))]
        if grads:
            grads = allreduce_gradients(
                grads,
                names,
                self._hvd_op,
                self._hvd_compression,
                self._hvd_predivide,
                self._hvd_sparse_as_dense,
            )
        super().apply(grads, trainable_variables)  # type: ignore[misc]


def DistributedOptimizer(  # noqa: N802 - Horovod's name
    optimizer: Any,
    name: str | None = None,
    use_locking: bool = False,
    device_dense: str = "",
    device_sparse: str = "",
    compression: type[Compressor] = Compression.none,
    sparse_as_dense: bool = False,
    backward_passes_per_step: int = 1,
    op: ReduceOp = Average,
    gradient_predivide_factor: float = 1.0,
    average_aggregated_gradients: bool = False,
    num_groups: int = 0,
    groups: Any = None,
    process_set: Any = None,
    scale_local_gradients: bool = True,
) -> Any:
    """A new optimizer of the same class and configuration whose updates use
    gradients reduced over all ranks (``hvd.DistributedOptimizer``). As in
    Horovod it is built from ``optimizer.get_config()``: it starts without
    the original's slots and step count.

    >>> import tapegrad as tf, tapegrad.distribute as hvd
    >>> hvd.init()
    >>> opt = hvd.DistributedOptimizer(tf.optimizers.SGD(learning_rate=0.5))
    >>> isinstance(opt, tf.optimizers.SGD)
    True
    >>> w = tf.Variable([1.0])
    >>> _ = opt.minimize(lambda: tf.reduce_sum(w * w), [w])
    >>> w.numpy()
    array([0.], dtype=float32)
    """
    _check_gradient_op(op, gradient_predivide_factor, "DistributedOptimizer")
    _check_unsupported("DistributedOptimizer", num_groups, groups, process_set)
    if backward_passes_per_step != 1:
        raise UnimplementedError(
            "DistributedOptimizer: backward_passes_per_step > 1 (local gradient accumulation) "
            "is not implemented; accumulate the gradients yourself and apply every k steps"
        )
    base = type(optimizer)
    if not hasattr(base, "apply") or not hasattr(base, "from_config"):
        raise TypeError(f"DistributedOptimizer wraps a tapegrad optimizer, got {base.__name__}")
    cls: Any = type(
        base.__name__, (_DistributedOptimizerMixin, base), {"__module__": base.__module__}
    )
    config = optimizer.get_config()
    if name is not None:
        config["name"] = name
    distributed = cls.from_config(config)
    distributed._hvd_op = op
    distributed._hvd_compression = compression
    distributed._hvd_predivide = float(gradient_predivide_factor)
    distributed._hvd_sparse_as_dense = bool(sparse_as_dense)
    return distributed


def broadcast_variables(
    variables: Sequence[Any], root_rank: int = 0, process_set: Any = None
) -> None:
    """Assign rank ``root_rank``'s values to ``variables`` on every rank
    (``hvd.broadcast_variables``), fused into one broadcast per dtype and
    fusion bucket; afterwards the variables are bitwise identical on all
    ranks.

    >>> import tapegrad as tf, tapegrad.distribute as hvd
    >>> hvd.init()
    >>> w = tf.Variable([1.0, 2.0])
    >>> hvd.broadcast_variables([w], root_rank=0)
    >>> w.numpy()
    array([1., 2.], dtype=float32)
    """
    if process_set is not None:
        raise UnimplementedError("broadcast_variables: process sets are not implemented")
    variables = list(variables)
    for v in variables:
        if not isinstance(v, _core.Variable):
            raise TypeError(
                f"broadcast_variables: expected tf.Variable objects, got {type(v).__name__}"
            )
    transport = _state.transport()
    if not 0 <= int(root_rank) < transport.size:
        raise ValueError(
            f"broadcast_variables: root_rank {root_rank} is not a rank of this job "
            f"(size {transport.size})"
        )
    if transport.size == 1 or not variables:
        return
    engine = _state.engine()
    arrays = [as_array(v) for v in variables]
    buckets = plan_buckets(list(arrays), [a.dtype for a in arrays], fusion_threshold())
    pending = []
    for indices in buckets:
        members = [arrays[i] for i in indices]
        buf = np.empty(sum(m.size for m in members), dtype=members[0].dtype)
        offsets = []
        start = 0
        for m in members:
            offsets.append((start, start + m.size))
            if transport.rank == root_rank:
                buf[start : start + m.size] = m.reshape(-1)
            start += m.size
        entries = tuple(
            (variables[i].name, str(arrays[i].dtype), tuple(arrays[i].shape)) for i in indices
        )
        description: Description = ("broadcast", int(root_rank), entries)

        def run(transport: Transport, some_joined: bool, buf: np.ndarray[Any, Any] = buf) -> None:
            transport.bcast(buf, int(root_rank))

        shown = ", ".join(repr(e[0]) for e in entries[:4]) + (", …" if len(entries) > 4 else "")
        what = f"broadcast_variables of {len(indices)} variables ({shown}) from rank {root_rank}"
        job = Job(description, what, run)
        engine.submit(job)
        pending.append((job, indices, buf, offsets))
    for job, indices, buf, offsets in pending:
        engine.wait(job.future, job.what_text)
        for index, (lo, hi) in zip(indices, offsets, strict=True):
            variables[index].assign(buf[lo:hi].reshape(variables[index].shape))
