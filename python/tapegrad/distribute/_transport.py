"""The two transports the collectives run on: MPI (through mpi4py) across
processes, and a trivial one-process transport for scripts started without a
launcher, so ``hvd.init()`` and every collective also work in a plain
``python train.py`` (size 1, rank 0), as the single-process half of a
Horovod script expects.

Both move numpy buffers only: no pickling of tensors, no Python objects per
element. mpi4py releases the GIL inside every blocking MPI call, so the
communication thread of ``_engine`` waits in MPI while the training thread
keeps running Python.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

import numpy as np

# Environment variables a launcher sets in every process it starts: Open MPI's
# mpirun, PMIx (Open MPI 5, srun --mpi=pmix), Hydra (MPICH, Intel MPI).
_LAUNCHER_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK")

REDUCE_OPS = ("sum", "min", "max", "prod")


def launched_by_mpi() -> bool:
    """Was this process started by an MPI launcher (mpirun, srun, mpiexec)?"""
    return any(name in os.environ for name in _LAUNCHER_VARIABLES)


def import_mpi() -> Any:
    """mpi4py's ``MPI`` module (importing it initialises MPI, at the
    ``MPI_THREAD_MULTIPLE`` level mpi4py asks for by default)."""
    try:
        return importlib.import_module("mpi4py.MPI")
    except ImportError as err:
        raise ImportError(
            "tapegrad.distribute needs mpi4py and an MPI library to run on several processes: "
            "install the system's Open MPI (e.g. `apt-get install openmpi-bin libopenmpi-dev`) "
            "and then `pip install 'tapegrad[distributed]'`"
        ) from err


class MPITransport:
    """Collectives on an mpi4py communicator (a private duplicate of the
    one given, so user traffic on that communicator cannot interleave)."""

    def __init__(self, comm: Any) -> None:
        self.mpi = import_mpi()
        self.comm = comm.Dup()
        # errors come back as exceptions (mpi4py's default on its own
        # communicators; set here so a user's communicator cannot override it)
        self.comm.Set_errhandler(self.mpi.ERRORS_RETURN)
        self.rank: int = self.comm.Get_rank()
        self.size: int = self.comm.Get_size()
        local = self.comm.Split_type(self.mpi.COMM_TYPE_SHARED, key=self.rank)
        self.local_rank: int = local.Get_rank()
        self.local_size: int = local.Get_size()
        local.Free()
        # one process per machine with the same local rank: the "cross" view
        cross = self.comm.Split(self.local_rank, self.rank)
        self.cross_rank: int = cross.Get_rank()
        self.cross_size: int = cross.Get_size()
        cross.Free()
        self._ops = {
            "sum": self.mpi.SUM,
            "min": self.mpi.MIN,
            "max": self.mpi.MAX,
            "prod": self.mpi.PROD,
        }
        self._float16_ops: dict[str, Any] = {}
        self.threads_supported = self.mpi.Query_thread() >= self.mpi.THREAD_SERIALIZED

    def _op(self, op: str, dtype: np.dtype[Any]) -> Any:
        # (the type code: comparing dtypes costs a tenth of a small allreduce)
        if dtype.char != "e":
            return self._ops[op]
        # MPI has no half-precision type: the bytes travel as 16-bit
        # integers and a user-defined op reduces them as float16 (numpy's
        # vectorised loop on each chunk MPI hands over).
        if op not in self._float16_ops:
            ufunc = {"sum": np.add, "min": np.minimum, "max": np.maximum, "prod": np.multiply}[op]

            def reduce_half(inbuf: Any, inoutbuf: Any, datatype: Any) -> None:
                a = np.frombuffer(inbuf, dtype=np.float16)
                b = np.frombuffer(inoutbuf, dtype=np.float16)
                ufunc(a, b, out=b)

            self._float16_ops[op] = self.mpi.Op.Create(reduce_half, commute=True)
        return self._float16_ops[op]

    @staticmethod
    def _wire(array: np.ndarray[Any, Any]) -> Any:
        """The array as mpi4py sees it (float16 as raw 16-bit words)."""
        return array.view(np.int16) if array.dtype.char == "e" else array

    def allreduce(self, send: np.ndarray[Any, Any], recv: np.ndarray[Any, Any], op: str) -> None:
        if send.dtype.char == "e":
            send, recv = self._wire(send), self._wire(recv)
            self.comm.Allreduce(send, recv, op=self._op(op, np.dtype(np.float16)))
        else:  # (the common case in one call: a small allreduce costs a few µs)
            self.comm.Allreduce(send, recv, op=self._ops[op])

    def allreduce_inplace(self, buf: np.ndarray[Any, Any], op: str) -> None:
        self.comm.Allreduce(self.mpi.IN_PLACE, self._wire(buf), op=self._op(op, buf.dtype))

    def iallreduce_header(self, buf: bytearray) -> Any:
        """A started non-blocking ``MPI_MAX`` allreduce of the int64 values
        in ``buf``, in place: poll its ``Test()``."""
        return self.comm.Iallreduce(self.mpi.IN_PLACE, [buf, self.mpi.INT64_T], op=self.mpi.MAX)

    def allgatherv(
        self, send: np.ndarray[Any, Any], recv: np.ndarray[Any, Any], counts: list[int]
    ) -> None:
        self.comm.Allgatherv(send, [recv, counts])

    def bcast(self, buf: np.ndarray[Any, Any], root: int) -> None:
        self.comm.Bcast(buf, root=root)

    def alltoallv(
        self,
        send: np.ndarray[Any, Any],
        send_counts: list[int],
        recv: np.ndarray[Any, Any],
        recv_counts: list[int],
    ) -> None:
        self.comm.Alltoallv([send, send_counts], [recv, recv_counts])

    def alltoall_ints(self, values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        out = np.empty_like(values)
        self.comm.Alltoall(values, out)
        return out

    def allgather_ints(self, values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        out = np.empty((self.size, *values.shape), dtype=values.dtype)
        self.comm.Allgather(values, out)
        return out

    def allgather_object(self, obj: object) -> list[Any]:
        return list(self.comm.allgather(obj))

    def bcast_object(self, obj: object, root: int) -> Any:
        return self.comm.bcast(obj, root=root)

    def barrier(self) -> None:
        self.comm.Barrier()

    def abort(self, code: int) -> None:
        self.mpi.COMM_WORLD.Abort(code)

    def close(self) -> None:
        for op in self._float16_ops.values():
            op.Free()
        self._float16_ops.clear()
        self.comm.Free()


def _pickled_copy(obj: object) -> Any:
    import pickle

    return pickle.loads(pickle.dumps(obj))


class _Done:
    """A request that has completed (one process has no one to wait for)."""

    @staticmethod
    def Test() -> bool:  # noqa: N802 - mpi4py's name
        return True


class LocalTransport:
    """One process, no launcher: every collective over a single rank is a
    copy (objects go through pickle, so callers get copies as with MPI)."""

    rank = 0
    size = 1
    local_rank = 0
    local_size = 1
    cross_rank = 0
    cross_size = 1
    threads_supported = True

    def allreduce(self, send: np.ndarray[Any, Any], recv: np.ndarray[Any, Any], op: str) -> None:
        np.copyto(recv, send)

    def allreduce_inplace(self, buf: np.ndarray[Any, Any], op: str) -> None:
        pass

    def iallreduce_header(self, buf: bytearray) -> Any:
        return _Done()

    def allgatherv(
        self, send: np.ndarray[Any, Any], recv: np.ndarray[Any, Any], counts: list[int]
    ) -> None:
        np.copyto(recv, send)

    def bcast(self, buf: np.ndarray[Any, Any], root: int) -> None:
        pass

    def alltoallv(
        self,
        send: np.ndarray[Any, Any],
        send_counts: list[int],
        recv: np.ndarray[Any, Any],
        recv_counts: list[int],
    ) -> None:
        np.copyto(recv, send)

    def alltoall_ints(self, values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        return values.copy()

    def allgather_ints(self, values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        return values[None].copy()

    def allgather_object(self, obj: object) -> list[Any]:
        return [_pickled_copy(obj)]

    def bcast_object(self, obj: object, root: int) -> Any:
        return _pickled_copy(obj)

    def barrier(self) -> None:
        pass

    def abort(self, code: int) -> None:
        os._exit(code)

    def close(self) -> None:
        pass


Transport = MPITransport | LocalTransport
