"""The capture-and-replay engine under ``tf.function`` (private).

``Trace`` runs a Python function once, eagerly, on real inputs while the
Rust core records every op, variable read and update, tape step and
callback as a step; ``Trace.finish`` turns the record into a ``Plan``,
which replays the steps in Rust with the GIL released.

>>> import tapegrad as tf
>>> from tapegrad._trace import Trace
>>> x = tf.constant([1.0, 2.0])
>>> with Trace([x]) as trace:
...     plan = trace.finish([tf.exp(x) * 2.0])
>>> print(plan.run([tf.constant([0.0, 0.0])])[0])
tapegrad.Tensor([2. 2.], shape=(2,), dtype=float32)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType

from . import _core

__all__ = ["Plan", "Trace", "TraceUnsupported", "is_tracing", "trace_callback"]

Plan = _core._Plan


class TraceUnsupported(Exception):
    """Something the traced function did cannot be replayed (the message
    names it): run the function eagerly instead."""


class Trace:
    """Capture the ops run inside ``with Trace(inputs):`` on this thread.

    ``inputs`` (tensors and variables) are the plan's inputs: ``Plan.run``
    takes new ones of the same kinds, dtypes and shapes. Anything else the
    function reads that was made before the trace is captured by value.
    One trace is active per thread; an exception in the block aborts it.

    >>> import tapegrad as tf
    >>> v = tf.Variable(1.0)
    >>> with Trace([]) as trace:
    ...     plan = trace.finish([v * 3.0])
    >>> _ = v.assign(2.0)
    >>> float(plan.run([])[0])
    6.0
    """

    def __init__(self, inputs: Sequence[_core.Tensor | _core.Variable]) -> None:
        self._inputs = list(inputs)
        self._active = False
        self._created = 0

    def __enter__(self) -> Trace:
        _core._trace_begin(self._inputs)
        self._active = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._active:
            self._stop()
            _core._trace_abort()

    def _stop(self) -> None:
        self._created = _core._trace_created() or 0
        self._active = False

    def finish(self, outputs: Sequence[_core.Tensor]) -> _core._Plan:
        """End the capture: the plan that returns ``outputs`` (tensors the
        function returned). Raises ``TraceUnsupported`` naming what cannot
        be replayed."""
        if not self._active:
            raise RuntimeError("Trace.finish: the trace is not active")
        self._stop()
        try:
            return _core._trace_finish(list(outputs))
        except TraceUnsupported:
            raise
        except BaseException:
            _core._trace_abort()
            raise

    @property
    def created_variables(self) -> int:
        """How many ``tf.Variable``s the function created while traced."""
        if self._active:
            return _core._trace_created() or 0
        return self._created


def trace_callback(fn: Callable[..., object], tensors: Sequence[_core.Tensor]) -> object:
    """Call ``fn(*tensors)`` now and, inside a trace, again at every replay
    (``tf.print``, ``tf.py_function``); the tensors it returns (one, or a
    list or tuple) feed the ops that follow.

    >>> import tapegrad as tf
    >>> trace_callback(lambda t: t * 2.0, [tf.constant(1.0)])
    <tapegrad.Tensor: shape=(), dtype=float32, numpy=2.0>
    """
    return _core._trace_callback(fn, list(tensors))


def is_tracing() -> bool:
    """Is a ``Trace`` capturing on this thread?

    >>> is_tracing()
    False
    """
    return _core._is_tracing()
