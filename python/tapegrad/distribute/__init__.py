"""Data-parallel training over MPI with Horovod's TensorFlow API.

A Horovod script runs with ``import tapegrad.distribute as hvd`` (and
``import tapegrad as tf``)::

    hvd.init()
    x_local, y_local = hvd.shard((x, y))          # this rank's part of the data
    with tf.GradientTape() as tape:
        loss = loss_fn(x_local, y_local)
    tape = hvd.DistributedGradientTape(tape)      # gradients averaged over ranks
    grads = tape.gradient(loss, variables)
    optimizer.apply_gradients(zip(grads, variables))
    if first_step:
        hvd.broadcast_variables(variables, root_rank=0)

Launch with ``mpirun -n 4 python train.py`` (see ``docs/distributed.md``).
Without a launcher the same script runs as a job of one process.
"""

from ._collectives import (
    Adasum,
    Average,
    Compression,
    Compressor,
    FP16Compressor,
    Max,
    Min,
    NoneCompressor,
    Product,
    ReduceOp,
    Sum,
    allgather,
    allgather_object,
    allreduce,
    alltoall,
    barrier,
    broadcast,
    broadcast_object,
    grouped_allreduce,
    join,
)
from ._data import shard
from ._engine import CollectiveMismatchError, CollectiveTimeoutError, HorovodInternalError
from ._state import (
    cross_rank,
    cross_size,
    init,
    is_initialized,
    local_rank,
    local_size,
    mpi_enabled,
    mpi_threads_supported,
    rank,
    shutdown,
    size,
)
from ._tape import DistributedGradientTape, DistributedOptimizer, broadcast_variables

# errors print as tapegrad.distribute.X, where users catch them
for _error in (HorovodInternalError, CollectiveMismatchError, CollectiveTimeoutError):
    _error.__module__ = __name__

__all__ = [
    "Adasum",
    "Average",
    "CollectiveMismatchError",
    "CollectiveTimeoutError",
    "Compression",
    "Compressor",
    "DistributedGradientTape",
    "DistributedOptimizer",
    "FP16Compressor",
    "HorovodInternalError",
    "Max",
    "Min",
    "NoneCompressor",
    "Product",
    "ReduceOp",
    "Sum",
    "allgather",
    "allgather_object",
    "allreduce",
    "alltoall",
    "barrier",
    "broadcast",
    "broadcast_object",
    "broadcast_variables",
    "cross_rank",
    "cross_size",
    "grouped_allreduce",
    "init",
    "is_initialized",
    "join",
    "local_rank",
    "local_size",
    "mpi_enabled",
    "mpi_threads_supported",
    "rank",
    "shard",
    "shutdown",
    "size",
]

# TF's single-machine strategies (tf.distribute.MirroredStrategy, …) beside
# Horovod's API: one namespace, as `tf.distribute` and `hvd` code expect
from typing import TYPE_CHECKING as _TYPE_CHECKING  # noqa: E402

from ._strategies import (  # noqa: E402
    InputContext,
    MirroredStrategy,
    OneDeviceStrategy,
    Strategy,
    get_strategy,
    has_strategy,
    in_cross_replica_context,
)

__all__ += [
    "InputContext",
    "MirroredStrategy",
    "OneDeviceStrategy",
    "Strategy",
    "get_strategy",
    "has_strategy",
    "in_cross_replica_context",
]

if not _TYPE_CHECKING:
    from .._compat import missing_names as _missing_names

    __getattr__ = _missing_names("tf.distribute")

