"""The communication engine: one background thread that runs every collective
in submission order, a negotiation header that checks the ranks agree on
each collective before any data moves, ``join`` for uneven data, and bounded
waits.

A collective submitted while the thread has nothing to do runs in the
calling thread instead (``run_inline``, and ``allreduce_inline`` for the
allreduce of one tensor): handing it to the thread and back costs two thread
wake-ups, several times a small allreduce. Waits stay
bounded there too, because the only step that waits on other ranks
submitting is the header, and the header is a non-blocking allreduce that
the calling thread polls against the deadline (the communication thread
waits on it blocking, bounded by the thread waiting for its job); once every
rank has agreed, the data collective runs on ranks that are all inside it.

Why a thread (Horovod's design too): Open MPI progresses a non-blocking
collective (``MPI_Iallreduce``) only inside MPI calls, so one started from
the training thread mostly waits for the next MPI call instead of running
beside the computation. A thread parked in a blocking ``MPI_Allreduce``
(mpi4py releases the GIL there) makes progress the whole time, while the
training thread packs the next fusion bucket or applies finished gradients.

Negotiation: before each collective every rank contributes one small int64
vector to an ``MPI_MAX`` allreduce::

    [active, digest, -digest, -rank, joined, first_join_rank]

``digest`` hashes what the ranks must agree on (kind, op, names, dtypes,
shapes that must match); max(digest) == min(digest) means they agree. A rank
inside ``join()`` sends the identity of ``MPI_MAX`` in the first four slots,
so the others see it joined and it learns, from a broadcast of the
description, which collective to take part in with neutral data. When no
rank is active any more, every rank has joined: ``join`` returns.
"""

from __future__ import annotations

import os
import struct
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ._transport import Transport

if TYPE_CHECKING:
    import queue

_INT64_MIN = int(np.iinfo(np.int64).min)
# the negotiation header: six int64 in native byte order (MPI_INT64_T)
_HEADER = struct.Struct("=6q")
_DIGEST_LIMIT = 1 << 62  # digests in [0, 2**62): negating one never overflows

DEFAULT_TIMEOUT_S = 300.0
TIMEOUT_VARIABLE = "TAPEGRAD_DISTRIBUTE_TIMEOUT"


class HorovodInternalError(RuntimeError):
    """A collective failed: a rank timed out, MPI reported an error, or an
    earlier failure left the communicator unusable (Horovod's name).

    >>> import tapegrad.distribute as hvd
    >>> issubclass(hvd.HorovodInternalError, RuntimeError)
    True
    """


class CollectiveMismatchError(HorovodInternalError, ValueError):
    """The ranks submitted different collectives at the same point (another
    tensor name, shape, dtype, op or root). Raised on every rank, naming the
    tensor and what each rank submitted.

    >>> import tapegrad.distribute as hvd
    >>> issubclass(hvd.CollectiveMismatchError, ValueError)
    True
    """


class CollectiveTimeoutError(HorovodInternalError, TimeoutError):
    """No collective completed for the engine's timeout (``init(timeout=...)``
    or ``TAPEGRAD_DISTRIBUTE_TIMEOUT``): another rank is stuck, gone, or
    skipped the collective.

    >>> import tapegrad.distribute as hvd
    >>> issubclass(hvd.CollectiveTimeoutError, TimeoutError)
    True
    """


# A description is a picklable tuple every rank must agree on: (kind, ...).
Description = tuple[Any, ...]
# What a joined rank runs for a collective it is not part of: neutral data.
JoinedRunner = Callable[[Transport, Description], None]


class Job:
    """One collective: what must match across ranks, and how to run it.

    ``what`` is for messages, e.g. "allreduce of 'w1' (float32[64, 64])"; a
    callable is only called when a message needs it (formatting costs
    microseconds). ``digest`` may be given when the caller has it cached."""

    __slots__ = ("description", "what_text", "run", "digest", "future")

    def __init__(
        self,
        description: Description,
        what_text: str | Callable[[], str],
        run: Callable[[Transport, bool], Any],  # (transport, some_rank_joined) -> result
        digest: int | None = None,
    ) -> None:
        self.description = description
        self.what_text = what_text
        self.run = run
        self.digest = digest_of(description) if digest is None else digest
        # made by `submit` (a Future costs more than a small allreduce, and
        # a job run inline needs none)
        self.future: Future[Any]

    @property
    def what(self) -> str:
        return _text(self.what_text)


_DIGESTS: dict[Description, int] = {}
_DIGEST_CACHE_LIMIT = 4096


def digest_of(description: Description) -> int:
    """A hash of the description that is the same in every process (unlike
    ``hash()``, which is salted per process), cached: a training loop
    submits the same few descriptions every step, and hashing one costs
    more than a small allreduce."""
    digest = _DIGESTS.get(description)
    if digest is None:
        # imported here: hashlib loads OpenSSL, a cost `import tapegrad` need not pay
        import hashlib
        import pickle

        raw = hashlib.blake2b(pickle.dumps(description), digest_size=8).digest()
        digest = int.from_bytes(raw, "little") % _DIGEST_LIMIT
        if len(_DIGESTS) >= _DIGEST_CACHE_LIMIT:
            _DIGESTS.clear()
        _DIGESTS[description] = digest
    return digest


@dataclass
class _JoinRequest:
    future: Future[Any] = field(init=False)
    what: str = "join()"


def _unused_runner(transport: Transport, some_joined: bool) -> None:
    raise AssertionError("allreduce_inline runs its collective itself")


def _text(what: str | Callable[[], str]) -> str:
    return what if isinstance(what, str) else what()


def _first_difference(mine: Description, theirs: Description, rank: int) -> str | None:
    """The first tensor (or else setting) on which rank 0's description
    differs from ``rank``'s; the tensors (the last field) are compared first."""
    if mine[0] != theirs[0]:
        return f"a {mine[0]} against a {theirs[0]}"
    for a, b in reversed(list(zip(mine[1:], theirs[1:], strict=False))):
        if a == b:
            continue
        if isinstance(a, tuple) and a and isinstance(a[0], tuple) and isinstance(b, tuple):
            # a tensor only one side has (buckets fill in the order gradients
            # become final, so it need not be the last)
            names_b = {y[0] for y in b}
            names_a = {x[0] for x in a}
            for entries, others, only_on in ((a, names_b, 0), (b, names_a, rank)):
                for x in entries:
                    if x[0] is not None and x[0] not in others:
                        return f"tensor {x[0]!r} is only on rank {only_on}"
            for x, y in zip(a, b, strict=False):
                if x != y:
                    return (
                        f"tensor {x[0] or '(unnamed)'!r} is {x[1]}{list(x[2])} on rank 0, "
                        f"tensor {y[0] or '(unnamed)'!r} is {y[1]}{list(y[2])} on rank {rank}"
                    )
            longer, only_on = (a, 0) if len(a) > len(b) else (b, rank)
            return f"tensor {longer[min(len(a), len(b))][0]!r} is only on rank {only_on}"
        if isinstance(a, tuple) and isinstance(b, tuple) and a and b and a[0] == b[0]:
            # a labelled setting: ("op, prescale, postscale", "sum", 1.0, 1.0)
            shown = [", ".join(map(repr, x[1:])) for x in (a, b)]
            return f"{a[0]}: {shown[0]} on rank 0, {shown[1]} on rank {rank}"
        return f"{a!r} on rank 0, {b!r} on rank {rank}"
    return None


def describe_mismatch(descriptions: list[Any], what: list[str]) -> str:
    """A message naming, per rank, the collective it submitted, and the
    first tensor on which each rank differs from rank 0."""
    lines = [
        f"  rank {rank}: {text if desc is not None else 'joined (hvd.join())'}"
        for rank, (desc, text) in enumerate(zip(descriptions, what, strict=True))
    ]
    reference = descriptions[0]
    for rank, desc in enumerate(descriptions[1:], start=1):
        if desc is None or reference is None or desc == reference:
            continue
        difference = _first_difference(reference, desc, rank)
        if difference is not None:
            lines.append(f"  first difference: {difference}")
    return (
        "the ranks submitted different collectives at the same point, so none ran:\n"
        + "\n".join(lines)
        + "\nEvery rank must call the same collectives, in the same order, with the same "
        "names, dtypes and shapes (only allgather's first dimension and alltoall's splits "
        "may differ)."
    )


class Engine:
    """The background communication thread and its queue."""

    def __init__(
        self,
        transport: Transport,
        timeout: float,
        joined_runners: dict[str, Any],
        threaded: bool = True,
    ) -> None:
        """``threaded=False`` (a one-process job, where nothing can wait on
        a peer) runs each job in the submitting thread instead."""
        self.transport = transport
        self.timeout = timeout
        self._joined_runners = joined_runners
        import queue

        self._queue: queue.SimpleQueue[Job | _JoinRequest | None] = queue.SimpleQueue()
        self._progress_at = time.monotonic()
        self._failure: str | None = None
        self._submit_lock = threading.Lock()
        # jobs queued or running on the thread; 0 means it is idle
        self._pending = 0
        self._header_buf = bytearray(_HEADER.size)
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(
                target=self._loop, name="tapegrad.distribute engine", daemon=True
            )
            self._thread.start()

    # -- the training thread's side ---------------------------------------
    def submit(self, job: Job | _JoinRequest) -> Future[Any]:
        with self._submit_lock:
            self.check_usable()
            job.future = Future()
            if self._thread is None:
                self._execute(job)
            else:
                self._pending += 1
                self._queue.put(job)
        return job.future

    def run_inline(self, job: Job) -> bool:
        """Run ``job`` in this thread if the communication thread is idle
        (raising what the job raises); False, without running it, when
        earlier jobs are still queued, since collectives run in submission
        order."""
        with self._submit_lock:
            if self._failure is not None:
                self.check_usable()
            if self._pending:
                return False
            self._attempt(job)
        return True

    def allreduce_inline(
        self,
        description: Description,
        digest: int,
        what: Callable[[], str],
        send: np.ndarray[Any, Any],
        out: np.ndarray[Any, Any],
        op: str,
    ) -> bool:
        """``run_inline`` of the allreduce of ``send`` into ``out`` (of the
        collective ``description``, hashed to ``digest``), with the steps of
        ``_attempt`` and ``_run_job`` written out: each Python call costs a
        tenth of a microsecond, a 4 KiB allreduce a few. No Job is made
        unless the negotiation finds a mismatch or a joined rank."""
        with self._submit_lock:
            if self._failure is not None:
                self.check_usable()
            if self._pending:
                return False
            self._progress_at = time.monotonic()
            try:
                header = self._header(digest, False, what)
                if header[1] != -header[2] or header[4]:
                    self._settle_header(Job(description, what, _unused_runner, digest), header)
                self.transport.allreduce(send, out, op)
            except BaseException as err:
                self._note_failure(err)
                raise
            finally:
                self._progress_at = time.monotonic()
        return True

    def run(self, job: Job) -> Any:
        """Submit ``job`` and wait for its result."""
        return self.wait(self.submit(job), job.what_text)

    def join(self) -> int:
        request = _JoinRequest()
        return int(self.wait(self.submit(request), request.what))

    def check_usable(self) -> None:
        if self._failure is not None:
            raise HorovodInternalError(
                f"tapegrad.distribute cannot run more collectives after an earlier failure "
                f"({self._failure}); the ranks may disagree on what ran, so the job has to be "
                "restarted"
            )

    def wait(self, future: Future[Any], what: str | Callable[[], str]) -> Any:
        """The job's result. The GIL is free while waiting (a condition
        variable); gives up when no collective has completed on this rank for
        ``timeout`` seconds, which bounds every wait on a dead or stuck peer."""
        warn_after = min(60.0, self.timeout / 2)
        warned = False
        while True:
            idle = time.monotonic() - self._progress_at
            left = self.timeout - idle
            if left <= 0:
                message = (
                    f"rank {self.transport.rank}: no collective completed for "
                    f"{self.timeout:g} s while waiting for {_text(what)}: another rank is "
                    "stuck, has exited, or did not submit this collective (uneven data needs "
                    "hvd.join()). "
                    f"Raise the limit with init(timeout=...) or {TIMEOUT_VARIABLE}."
                )
                self._failure = f"timed out waiting for {_text(what)}"
                raise CollectiveTimeoutError(message)
            if not warned and idle >= warn_after:
                warned = True
                print(
                    f"tapegrad.distribute: rank {self.transport.rank} has waited {idle:.0f} s "
                    f"for {_text(what)}; other ranks may not have submitted it (giving up after "
                    f"{self.timeout:g} s)",
                    file=sys.stderr,
                    flush=True,
                )
            step = left if warned else min(left, warn_after - idle + 0.01)
            try:
                return future.result(timeout=max(step, 0.001))
            except FutureTimeout:
                continue

    def close(self) -> None:
        """Stop the thread once the queue is drained (if it is not stuck)."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=5.0)
        if self._failure is None:
            self._failure = "tapegrad.distribute was shut down"

    # -- the communication thread ----------------------------------------
    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            self._execute(item)
            with self._submit_lock:
                self._pending -= 1

    def _execute(self, item: Job | _JoinRequest) -> None:
        """Run one job and settle its future."""
        try:
            result = self._attempt(item)
        except BaseException as err:  # noqa: BLE001 - handed to the waiting thread
            item.future.set_exception(err)
        else:
            item.future.set_result(result)

    def _attempt(self, item: Job | _JoinRequest) -> Any:
        """Run one job; an error other than a mismatch makes the engine
        unusable."""
        self._progress_at = time.monotonic()
        try:
            if isinstance(item, _JoinRequest):
                return self._run_join()
            return self._run_job(item)
        except BaseException as err:
            self._note_failure(err)
            raise
        finally:
            self._progress_at = time.monotonic()

    def _note_failure(self, err: BaseException) -> None:
        # a mismatch is found by every rank before any data moves: the
        # communicator is still in step and later collectives may run
        if self._failure is None and not isinstance(err, CollectiveMismatchError):
            self._failure = f"{type(err).__name__}: {err}"

    def _header(
        self, digest: int | None, first_join: bool, what: str | Callable[[], str]
    ) -> tuple[int, ...]:
        t = self.transport
        buf = self._header_buf  # one header is in flight at a time (see run_inline)
        if digest is None:  # joined: the identity of MPI_MAX, except the flags
            _HEADER.pack_into(
                buf, 0, 0, _INT64_MIN, _INT64_MIN, _INT64_MIN, 1, t.rank if first_join else -1
            )
        else:
            _HEADER.pack_into(buf, 0, 1, digest, -digest, -t.rank, 0, -1)
        request = t.iallreduce_header(buf)
        if not request.Test():
            if threading.current_thread() is self._thread:
                # the communication thread blocks (GIL released throughout:
                # polling would hold it between polls and stall the training
                # thread); the thread waiting for its job bounds the wait
                request.Wait()
            else:
                self._await(request, what)
            self._progress_at = time.monotonic()
        return _HEADER.unpack_from(buf)

    def _await(self, request: Any, what: str | Callable[[], str]) -> None:
        """Poll the header's request until every rank has submitted, or
        the timeout passes without progress. Spins at first (a peer is
        usually microseconds behind), then sleeps a little between polls so
        that a rank waiting for slower ones (or inside ``join``) does not
        take their CPU."""
        spins = 0
        pause = 0.0
        warned = False
        while not request.Test():
            spins += 1
            if spins < 2000:
                continue
            pause = min(2 * pause or 1e-5, 1e-3)
            time.sleep(pause)
            idle = time.monotonic() - self._progress_at
            if not warned and idle >= min(60.0, self.timeout / 2):
                warned = True
                print(
                    f"tapegrad.distribute: rank {self.transport.rank} has waited {idle:.0f} s "
                    f"for {_text(what)}; other ranks may not have submitted it (giving up after "
                    f"{self.timeout:g} s)",
                    file=sys.stderr,
                    flush=True,
                )
            if idle >= self.timeout:
                raise CollectiveTimeoutError(
                    f"rank {self.transport.rank}: no collective completed for "
                    f"{self.timeout:g} s while waiting for {_text(what)}: another rank is "
                    "stuck, has exited, or did not submit this collective (uneven data needs "
                    f"hvd.join()). Raise the limit with init(timeout=...) or {TIMEOUT_VARIABLE}."
                )

    def _mismatch(self, job: Job | None) -> CollectiveMismatchError:
        pairs = self.transport.allgather_object(
            None if job is None else (job.description, job.what)
        )
        descriptions = [None if p is None else p[0] for p in pairs]
        whats = ["" if p is None else p[1] for p in pairs]
        return CollectiveMismatchError(describe_mismatch(descriptions, whats))

    def _run_job(self, job: Job) -> Any:
        header = self._header(job.digest, first_join=False, what=job.what_text)
        return job.run(self.transport, self._settle_header(job, header))

    def _settle_header(self, job: Job, header: tuple[int, ...]) -> bool:
        """Act on the negotiation's outcome: raise on every rank if they
        disagree; if a rank has joined, send it the description (from the
        active rank with the lowest rank). Whether a rank has joined."""
        _, top, bottom, root, some_joined, _ = header
        if top != -bottom:
            # this rank may be the one that agrees with the majority: every
            # rank raises, naming what each submitted
            raise self._mismatch(job)
        if some_joined:
            root = -root
            mine = job.description if root == self.transport.rank else None
            self.transport.bcast_object(mine, root)
            if job.description[0] not in self._joined_runners:
                raise HorovodInternalError(
                    f"{job.what} cannot run while a rank is inside hvd.join() (joined ranks "
                    "take part only in allreduce and allgather)"
                )
        return bool(some_joined)

    def _run_join(self) -> int:
        first = True
        while True:
            header = self._header(None, first_join=first, what="join()")
            first = False
            if not header[0]:  # nobody active: everyone has joined
                return header[5]
            if header[1] != -header[2]:
                raise self._mismatch(None)
            root = -header[3]
            description = self.transport.bcast_object(None, root)
            runner = self._joined_runners.get(description[0])
            if runner is None:
                raise HorovodInternalError(
                    f"rank {self.transport.rank} is inside hvd.join() while other ranks ran a "
                    f"{description[0]}, which joined ranks cannot take part in (only allreduce "
                    "and allgather can)"
                )
            runner(self.transport, description)
            self._progress_at = time.monotonic()


def timeout_from_environment(timeout: float | None) -> float:
    if timeout is not None:
        value = float(timeout)
    else:
        raw = os.environ.get(TIMEOUT_VARIABLE, "")
        try:
            value = float(raw) if raw else DEFAULT_TIMEOUT_S
        except ValueError:
            raise ValueError(f"{TIMEOUT_VARIABLE}={raw!r} is not a number of seconds") from None
    if not value > 0:
        raise ValueError(f"the collective timeout must be positive seconds, got {value}")
    return value
