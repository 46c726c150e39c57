"""Process-level state: ``init``/``shutdown``, the rank queries, and the
abort-on-uncaught-exception hook that turns one failing rank into a prompt
failure of the whole job instead of a hang."""

from __future__ import annotations

import atexit
import os
import sys
import threading
import traceback
from types import TracebackType
from typing import Any

from . import _engine, _transport
from ._fusion import BufferPool

ABORT_VARIABLE = "TAPEGRAD_DISTRIBUTE_ABORT_ON_ERROR"


class _State:
    transport: _transport.Transport | None = None
    engine: _engine.Engine | None = None
    pool = BufferPool()
    # one multi-bucket call at a time: the pooled buffers of two concurrent
    # calls would overlap (calls from several threads still need the same
    # order on every rank, or they fail as mismatches)
    call_lock = threading.Lock()
    previous_hook: Any = None
    unnamed_counter = 0


STATE = _State()


def _not_initialized() -> ValueError:
    return ValueError(
        "Horovod has not been initialized; use hvd.init() "
        "(tapegrad.distribute.init() must run before any collective or rank query)"
    )


def init(comm: Any = None, timeout: float | None = None) -> None:
    """Start tapegrad.distribute (``hvd.init()``): set up the communicator
    and the background communication thread.

    Under an MPI launcher (``mpirun``, ``srun``, ``mpiexec``) the job spans
    all its processes; ``comm`` may be an mpi4py communicator (or a list of
    ranks of ``COMM_WORLD``) to run on a subset. Started as a plain
    ``python script.py`` (no launcher, no ``comm``), it is a job of one
    process: rank 0 of size 1, no MPI needed. ``timeout`` (seconds; default
    ``TAPEGRAD_DISTRIBUTE_TIMEOUT`` or 300) bounds how long any collective
    waits without progress before raising ``CollectiveTimeoutError``.
    Calling ``init`` again while initialised does nothing.

    >>> import tapegrad.distribute as hvd
    >>> hvd.init()
    >>> hvd.is_initialized(), hvd.size() >= 1
    (True, True)
    """
    if STATE.engine is not None:
        return
    limit = _engine.timeout_from_environment(timeout)
    transport: _transport.Transport
    if comm is None and not _transport.launched_by_mpi():
        transport = _transport.LocalTransport()
    else:
        mpi = _transport.import_mpi()
        if comm is None:
            comm = mpi.COMM_WORLD
        elif isinstance(comm, (list, tuple)):
            ranks = [int(r) for r in comm]
            group = mpi.COMM_WORLD.Get_group().Incl(ranks)
            comm = mpi.COMM_WORLD.Create_group(group)
            group.Free()
            if comm == mpi.COMM_NULL:
                raise ValueError(
                    f"this process (world rank {mpi.COMM_WORLD.Get_rank()}) called init(comm="
                    f"{ranks}) but is not one of those ranks"
                )
        transport = _transport.MPITransport(comm)
        if not transport.threads_supported:
            transport.close()
            raise RuntimeError(
                "the MPI library was initialised without thread support "
                "(MPI_THREAD_SERIALIZED or better), which tapegrad.distribute's communication "
                "thread needs; do not set mpi4py.rc.thread_level below 'serialized'"
            )
    STATE.transport = transport
    STATE.engine = _engine.Engine(
        transport, limit, _joined_runners(), threaded=transport.size > 1
    )
    STATE.unnamed_counter = 0
    if transport.size > 1 and os.environ.get(ABORT_VARIABLE, "1") != "0":
        STATE.previous_hook = sys.excepthook
        sys.excepthook = _abort_on_uncaught
    atexit.register(shutdown)


def _joined_runners() -> dict[str, Any]:
    from . import _collectives

    return _collectives.JOINED_RUNNERS


def _abort_on_uncaught(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    """An uncaught exception on one rank would leave the others waiting in
    their next collective: print it, then ``MPI_Abort`` the job, which makes
    the launcher stop every rank at once."""
    traceback.print_exception(exc_type, exc, tb)
    transport = STATE.transport
    if transport is None:
        return
    print(
        f"tapegrad.distribute: rank {transport.rank} of {transport.size} stopped with an "
        f"uncaught {exc_type.__name__}; aborting the job so the other ranks stop too "
        f"(set {ABORT_VARIABLE}=0 to let them wait for their timeout instead)",
        file=sys.stderr,
        flush=True,
    )
    transport.abort(1)


def shutdown() -> None:
    """Stop tapegrad.distribute (``hvd.shutdown()``): drain and stop the
    communication thread and free the communicator; ``init`` may be called
    again afterwards. Does nothing when not initialised.

    >>> import tapegrad.distribute as hvd
    >>> hvd.init(); hvd.shutdown(); hvd.is_initialized()
    False
    """
    engine, transport = STATE.engine, STATE.transport
    if engine is None or transport is None:
        return
    STATE.engine = None
    STATE.transport = None
    engine.close()
    transport.close()
    STATE.pool.clear()
    if STATE.previous_hook is not None:
        sys.excepthook = STATE.previous_hook
        STATE.previous_hook = None
    atexit.unregister(shutdown)


def engine() -> _engine.Engine:
    if STATE.engine is None:
        raise _not_initialized()
    return STATE.engine


def transport() -> _transport.Transport:
    if STATE.transport is None:
        raise _not_initialized()
    return STATE.transport


def is_initialized() -> bool:
    """Whether ``init()`` has run (and ``shutdown()`` has not since).

    >>> import tapegrad.distribute as hvd
    >>> hvd.init(); hvd.is_initialized()
    True
    """
    return STATE.engine is not None


def rank() -> int:
    """This process's rank, 0 to ``size() - 1``.

    >>> import tapegrad.distribute as hvd
    >>> hvd.init(); hvd.rank() < hvd.size()
    True
    """
    return transport().rank


def size() -> int:
    """The number of processes in the job.

    >>> import tapegrad.distribute as hvd
    >>> hvd.init(); hvd.size() >= 1
    True
    """
    return transport().size


def local_rank() -> int:
    """This process's rank among the processes on its machine (pick a
    device or a core set with it).

    >>> import tapegrad.distribute as hvd
    >>> hvd.init(); hvd.local_rank() < hvd.local_size()
    True
    """
    return transport().local_rank


def local_size() -> int:
    """The number of processes of the job on this machine.

    >>> import tapegrad.distribute as hvd
    >>> hvd.init(); hvd.local_size() <= hvd.size()
    True
    """
    return transport().local_size


def cross_rank() -> int:
    """The index of this machine among the job's machines (for local rank 0
    processes; in general, the rank among processes with this local rank).

    >>> import tapegrad.distribute as hvd
    >>> hvd.init(); hvd.cross_rank() < hvd.cross_size()
    True
    """
    return transport().cross_rank


def cross_size() -> int:
    """The number of processes with this process's local rank (the number
    of machines, when every machine runs the same number of processes).

    >>> import tapegrad.distribute as hvd
    >>> hvd.init(); hvd.cross_size() >= 1
    True
    """
    return transport().cross_size


def mpi_enabled() -> bool:
    """Whether this job runs on MPI (False for a one-process job started
    without a launcher).

    >>> import tapegrad.distribute as hvd
    >>> hvd.init(); isinstance(hvd.mpi_enabled(), bool)
    True
    """
    return isinstance(transport(), _transport.MPITransport)


def mpi_threads_supported() -> bool:
    """Whether MPI runs with the thread support the engine needs
    (``MPI_THREAD_SERIALIZED`` or better; always True once initialised).

    >>> import tapegrad.distribute as hvd
    >>> hvd.init(); hvd.mpi_threads_supported()
    True
    """
    return transport().threads_supported


def next_unnamed(kind: str) -> str:
    """A local label for an unnamed collective (for messages only: it is not
    part of what ranks must agree on)."""
    return f"{kind} #{next_unnamed_number()} (unnamed)"


def next_unnamed_number() -> int:
    """The number of the next unnamed collective, for a label formatted
    only if a message needs it."""
    STATE.unnamed_counter += 1
    return STATE.unnamed_counter
