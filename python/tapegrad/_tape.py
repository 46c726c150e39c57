"""``GradientTape`` and ``UnconnectedGradients``, with TensorFlow 2's
semantics (see the README for the few deliberate differences)."""

from __future__ import annotations

import contextlib
import enum
import logging
from collections.abc import Callable, Iterator
from typing import Any

from . import _core, _explain, _indexed_slices, _inspect
from ._nest import flatten, pack_sequence_as

__all__ = ["GradientTape", "UnconnectedGradients"]

_log = logging.getLogger("tapegrad")
if not _log.handlers:
    # Like TF's own logger: visible by default as "WARNING:tapegrad:<message>".
    _handler = logging.StreamHandler()
    _handler.setFormatter(logging.Formatter(logging.BASIC_FORMAT))
    _log.addHandler(_handler)
    _log.propagate = False

_PERSISTENT_IN_CONTEXT = (
    "Calling GradientTape.gradient on a persistent tape inside its context is "
    "significantly less efficient than calling it outside the context (it causes the "
    "gradient ops to be recorded on the tape, leading to increased CPU and memory usage). "
    "Only call GradientTape.gradient inside the context if you actually want to trace "
    "the gradient in order to compute higher order derivatives."
)
_ONE_SET = (
    "A non-persistent GradientTape can only be used to compute one set of gradients (or jacobians)"
)
_ONE_SET_FIX = (
    "; this tape already gave its set and freed its record. To compute several, create it "
    "with GradientTape(persistent=True) (and `del tape` when done), or ask for all the "
    "gradients in one call: tape.gradient(target, [a, b])."
)
_NONFLOAT_WARNINGS_LEFT = [5]
# warned once per process, as TF does for an integer watch
_WARNED: set[str] = set()


def _warn_once(key: str, message: str) -> None:
    if key not in _WARNED:
        _WARNED.add(key)
        _log.warning(message)


class UnconnectedGradients(enum.Enum):
    """What ``gradient`` returns for a source the target does not depend on.

    >>> import tapegrad as tf
    >>> x, unused = tf.constant(1.0), tf.constant(2.0)
    >>> with tf.GradientTape() as tape:
    ...     tape.watch([x, unused])
    ...     y = x * 3.0
    >>> float(tape.gradient(y, unused, unconnected_gradients=tf.UnconnectedGradients.ZERO))
    0.0
    """

    NONE = "none"
    ZERO = "zero"


def _unconnected_is_zero(value: object) -> bool:
    if value is UnconnectedGradients.NONE:
        return False
    try:
        return UnconnectedGradients(value) is UnconnectedGradients.ZERO
    except ValueError:
        raise ValueError(f"Unknown value for unconnected_gradients: {value!r}") from None


_LEAF_SOURCES = (_core.Tensor, _core.Variable)


def _is_watchable(x: object) -> bool:
    return isinstance(x, (_core.Tensor, _core.Variable))


class GradientTape:
    """Record operations for automatic differentiation (``tf.GradientTape``).

    Ops run inside ``with GradientTape() as tape:`` on tensors the tape
    watches are recorded; ``tape.gradient(target, sources)`` then computes
    d(target)/d(sources) by one reverse pass over the record.

    >>> import tapegrad as tf
    >>> x = tf.constant(3.0)
    >>> with tf.GradientTape() as tape:
    ...     tape.watch(x)
    ...     y = x * x
    >>> float(tape.gradient(y, x))
    6.0

    ``strict=True`` (a tapegrad extension) makes ``gradient`` raise
    ``ValueError`` with ``explain``'s report instead of returning ``None``.
    """

    def __init__(
        self,
        persistent: bool = False,
        watch_accessed_variables: bool = True,
        strict: bool = False,
    ) -> None:
        self._persistent = bool(persistent)
        self._strict = bool(strict)
        # id marks of enter/exit/stop/resume and the ids watched: what
        # explain() dates tensors by (see tapegrad/_explain.py)
        self._marks: list[tuple[str, int]] = []
        self._watched_ids: set[int] = set()
        self._released: _explain.Record | None = None
        self._watch_accessed_variables = bool(watch_accessed_variables)
        self._tape: Any = None  # created on first __enter__, as in TF
        self._recording = False
        self._spent = False
        self._warned_in_context = False
        self._spent_variables: tuple[Any, ...] = ()
        # told (flat source index, gradient) as soon as each gradient is
        # final, during the backward pass (tapegrad.distribute's overlap)
        self._on_final: Callable[[int, Any], object] | None = None
        # the gathers recorded while this tape recorded (see _indexed_slices)
        self._gathers: list[Any] = []

    def __enter__(self) -> GradientTape:
        """Start recording (``with GradientTape() as tape:``)."""
        if self._recording:
            raise ValueError(
                "Tape is still recording, This can happen if you try to re-enter an "
                "already-active tape."
            )
        if self._tape is None:
            self._tape = _core.Tape(self._persistent, self._watch_accessed_variables)
        # (the mark is taken first: `explain` may date a tensor made in
        # between as recorded, never the other way, which the tape's choice
        # of which call sites to keep relies on)
        mark = self._tape.mark()
        self._tape.push()
        self._recording = True
        _indexed_slices.RECORDING.append(self)
        self._marks.append(("enter", mark))
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop recording; the record stays for ``gradient``."""
        if self._recording:
            self._pop("exit")

    def _push(self, kind: str = "enter") -> None:
        mark = self._tape.mark()  # (first, as in __enter__)
        self._tape.push()
        self._recording = True
        _indexed_slices.RECORDING.append(self)
        self._marks.append((kind, mark))

    def _pop(self, kind: str = "exit") -> None:
        self._tape.pop()
        self._recording = False
        if self in _indexed_slices.RECORDING:
            _indexed_slices.RECORDING.remove(self)
        self._marks.append((kind, self._tape.mark()))

    # -- watching ----------------------------------------------------------
    def watch(self, tensor: Any) -> None:
        """Watch a tensor, a Variable, or a nested structure of them.

        Unlike TF, watching outside the tape's context raises (TF silently
        ignores it, and the gradient later comes back ``None``).

        >>> import tapegrad as tf
        >>> params = {"a": tf.constant(1.0), "b": [tf.constant(2.0)]}
        >>> with tf.GradientTape() as tape:
        ...     tape.watch(params)
        ...     y = params["a"] * params["b"][0]
        >>> [float(g) for g in tape.gradient(y, [params["a"], params["b"][0]])]
        [2.0, 1.0]
        """
        leaves = [tensor] if type(tensor) in _LEAF_SOURCES else flatten(tensor)
        for t in leaves:
            if not _is_watchable(t):
                raise ValueError(
                    f"GradientTape.watch: passed in object {t!r} of type {type(t).__name__!r}, "
                    "not a tf.Tensor or tf.Variable; convert it first (x = tf.constant(...), "
                    "or a tf.Variable) and use that same object in the computation"
                )
        if not self._recording:
            raise ValueError(
                "GradientTape.watch was called outside the tape's context; nothing would be "
                "recorded (TensorFlow silently ignores this)."
            )
        for t in leaves:
            dtype = self._tape.watch(t)
            self._watched_ids.add(t._handle_id if isinstance(t, _core.Variable) else t._id)
            if not dtype.startswith(("float", "complex")) and _NONFLOAT_WARNINGS_LEFT[0] > 0:
                _NONFLOAT_WARNINGS_LEFT[0] -= 1
                _log.warning(
                    "The dtype of the watched tensor must be floating (e.g. tf.float32), got tf.%s",
                    dtype,
                )

    @contextlib.contextmanager
    def stop_recording(self) -> Iterator[None]:
        """Temporarily stop recording on this tape (other tapes are unaffected).

        >>> import tapegrad as tf
        >>> x = tf.constant(2.0)
        >>> with tf.GradientTape() as tape:
        ...     tape.watch(x)
        ...     with tape.stop_recording():
        ...         y = x * x
        >>> print(tape.gradient(y, x))
        None
        """
        if self._tape is None:
            raise RuntimeError("Trying to stop recording a tape which is not recording.")
        if not self._recording:
            raise ValueError("Tape is not recording.")
        self._pop("stop")
        try:
            yield
        finally:
            self._push("resume")

    def reset(self) -> None:
        """Forget everything recorded and watched so far; keep recording.

        >>> import tapegrad as tf
        >>> x = tf.constant(2.0)
        >>> with tf.GradientTape() as tape:
        ...     tape.watch(x)
        ...     y = x * x
        ...     tape.reset()
        >>> print(tape.gradient(y, x))
        None
        """
        if not self._recording:
            raise ValueError("Tape is not recording.")
        self._tape.reset()
        self._gathers = []

    def watched_variables(self) -> tuple[Any, ...]:
        """The variables this tape watched, in creation order.

        >>> import tapegrad as tf
        >>> a, b = tf.Variable(1.0, name="a"), tf.Variable(2.0, name="b")
        >>> with tf.GradientTape() as tape:
        ...     y = b * a
        >>> [v.name for v in tape.watched_variables()]
        ['a:0', 'b:0']
        """
        if self._spent:
            return self._spent_variables
        if self._tape is None:
            return ()
        return tuple(self._tape.watched_variables())

    # -- introspection -----------------------------------------------------
    def _state(self) -> str:
        if self._tape is None:
            return "not entered"
        if self._spent:
            return "released"
        return "recording" if self._recording else "stopped"

    def _snapshot(self) -> _inspect.TapeSnapshot:
        return _inspect.snapshot(self._tape, self._persistent, self._state())

    def _record(self) -> _explain.Record:
        record = _explain.Record(
            self._state(),
            self._watch_accessed_variables,
            list(self._marks),
            set(self._watched_ids),
            set(),
        )
        if self._tape is None:
            return record
        variables = self._spent_variables if self._spent else self._tape.watched_variables()
        record.variable_ids = {v._handle_id for v in variables}
        if not self._spent:
            raw_nodes = self._tape.inspect()[0]
            record.nodes = [
                (op, [(tid, dtype) for tid, dtype, _ in ins], [tid for tid, _, _ in outs])
                for op, ins, outs, _ in raw_nodes
            ]
            record.sites = self._tape.call_sites()
        record.escapes = self._tape.escapes()
        return record

    def explain(self, target: Any, source: Any) -> str:
        """Why ``self.gradient(target, source)`` is (or would be) ``None``:
        a short report naming the cause and, where the path breaks, the op
        and the source line (the tape keeps where each op was called).

        It covers: a source never watched (and not a trainable Variable),
        an integer or bool source, a target that left the tape (``.numpy()``,
        a numpy function, ``float()``), ``stop_gradient``, ops with no
        gradient (``argmax``, casts to an integer dtype), and a target made
        before the tape started, inside ``stop_recording()``, after the
        ``with`` block or in another thread. A non-persistent tape frees its
        record in ``gradient()``: call ``explain`` before, or use
        ``persistent=True`` (or ``strict=True``, which raises with this
        report). Records nothing. See docs/faq.md for every case.

        >>> import tapegrad as tf
        >>> x = tf.constant(2.0)
        >>> with tf.GradientTape() as tape:
        ...     y = x * x
        >>> print(tape.explain(y, x))  # doctest: +ELLIPSIS
        tape.gradient(target, source) is None because the source was never watched: ...
        """
        return _explain.explain(self._record(), target, source)

    def summary(self) -> str:
        """A text table of what the tape has recorded so far, like Keras's
        ``model.summary()``: one row per op (inputs, outputs, and the bytes
        its gradient rule keeps alive), then the total, each shared buffer
        counted once. Returns the text; prints nothing.

        It can be called inside or after the ``with`` block and records
        nothing. A non-persistent tape frees its record in ``gradient()``;
        after that the table is empty and says so.

        >>> import tapegrad as tf
        >>> x = tf.constant([1.0, 2.0])
        >>> with tf.GradientTape() as tape:
        ...     tape.watch(x)
        ...     y = tf.reduce_sum(tf.exp(x))
        >>> print(tape.summary().splitlines()[4])
        1  Exp  x0: float32[2]  float32[2]              8
        """
        return _inspect.summary(self._snapshot())

    def to_dot(self) -> str:
        """The recorded graph as Graphviz DOT text (``dot -Tsvg``): a box per
        op, an ellipse per watched tensor or Variable, dashed ellipses for
        constants and for outputs nothing recorded consumed; edges carry
        dtypes and shapes. Same timing rules as ``summary``.

        >>> import tapegrad as tf
        >>> x = tf.constant([1.0, 2.0])
        >>> with tf.GradientTape() as tape:
        ...     tape.watch(x)
        ...     y = tf.exp(x)
        >>> tape.to_dot().count("->")
        2
        """
        return _inspect.to_dot(self._snapshot())

    # -- differentiation ---------------------------------------------------
    def gradient(
        self,
        target: Any,
        sources: Any,
        output_gradients: Any = None,
        unconnected_gradients: UnconnectedGradients | str = UnconnectedGradients.NONE,
    ) -> Any:
        """d(sum of ``target``)/d(``sources``), with the structure of ``sources``.

        ``output_gradients`` seeds each target (ones by default; a ``None``
        entry also means ones, and a seed must have its target's shape).
        Sources the target does not depend on give ``None``, or zeros with
        ``unconnected_gradients='zero'``.

        >>> import tapegrad as tf
        >>> w = tf.Variable([1.0, 2.0])
        >>> with tf.GradientTape() as tape:
        ...     y = tf.reduce_sum(w * w)
        >>> tape.gradient(y, {"w": w})["w"].numpy()
        array([2., 4.], dtype=float32)
        """
        self._check_usable()
        self._leave_context()
        if target is None:
            raise TypeError(
                "Argument `target` should be a list or nested structure of Tensors, Variables "
                "or CompositeTensors to be differentiated, but received None."
            )
        zero = _unconnected_is_zero(unconnected_gradients)
        if (
            output_gradients is None
            and type(target) is _core.Tensor
            and type(sources) in _LEAF_SOURCES
            and not self._strict
            and (
                type(sources) is _core.Tensor
                or sources.dtype.is_floating
                or sources.dtype.is_complex
            )
            and not self._gathers
        ):
            # one tensor, one source: the common case, without nest's walk
            self._spend()
            return self._tape.derive(
                "gradient", [target], [None], [sources], zero, on_final=self._on_final
            )[0]
        flat_targets = flatten(target)
        flat_sources = flatten(sources)
        for s in flat_sources:
            if not _is_watchable(s):
                raise TypeError(
                    f"GradientTape.gradient: sources must be tensors or Variables (or nested "
                    f"structures of them), got {type(s).__name__}; pass the tf.constant or "
                    "tf.Variable objects the computation used"
                )
            if isinstance(s, _core.Variable) and not (s.dtype.is_floating or s.dtype.is_complex):
                _warn_once(
                    "int-variable",
                    f"GradientTape.gradient: Variable {s.name!r} is {s.dtype.name}; gradients "
                    "flow through floating dtypes only, so its gradient is None. Create it "
                    "with dtype=tf.float32.",
                )
        for t in flat_targets:
            if t is None:
                raise TypeError(
                    "Cannot convert the argument `type_value`: None to a TensorFlow DType."
                )
            if not isinstance(t, _LEAF_SOURCES):
                _warn_once(
                    "foreign-target",
                    f"GradientTape.gradient: the target is a {type(t).__name__}, not a tensor "
                    "this tape recorded (did it leave the tape through .numpy(), float() or a "
                    "numpy function?); its gradient is None. tape.explain(target, source) "
                    "says where the path broke.",
                )
        if output_gradients is None:
            seeds: list[Any] = [None] * len(flat_targets)
        else:
            seeds = flatten(output_gradients)
            if len(seeds) != len(flat_targets):
                raise ValueError(
                    f"output_gradients has {len(seeds)} entries but target has "
                    f"{len(flat_targets)} (TensorFlow would pad with ones)"
                )
        record = self._record() if self._strict else None
        self._spend()
        if self._gathers:
            grads = _indexed_slices.gradient_with_slices(
                self, self._gathers, flat_targets, seeds, flat_sources, zero, self._on_final
            )
            if not self._persistent:
                self._gathers = []
        else:
            grads = self._tape.derive(
                "gradient", flat_targets, seeds, flat_sources, zero, on_final=self._on_final
            )
        if record is not None:
            for source, grad in zip(flat_sources, grads, strict=True):
                if grad is None:
                    raise ValueError(
                        "GradientTape(strict=True): "
                        + _explain.explain(record, flat_targets[0], source)
                    )
        return pack_sequence_as(sources, grads)

    def _check_usable(self) -> None:
        if self._tape is None:
            raise RuntimeError(
                _ONE_SET + "; this tape was never entered: record with `with tape:` first."
            )
        if self._spent:
            raise RuntimeError(_ONE_SET + _ONE_SET_FIX)

    def _leave_context(self) -> None:
        """Differentiating inside the context: a persistent tape records its
        own backward pass (after one warning); a non-persistent one stops
        recording, as in TF, so later ops in the block go unrecorded."""
        if not self._recording:
            return
        if not self._persistent:
            self._pop()
        elif not self._warned_in_context:
            self._warned_in_context = True
            _log.warning(_PERSISTENT_IN_CONTEXT)

    def _spend(self) -> None:
        """A non-persistent tape gives one set of gradients (or jacobians)."""
        if not self._persistent:
            self._spent_variables = tuple(self._tape.watched_variables())
            self._spent = True

    def _begin_jacobian(self, kind: str, experimental_use_pfor: bool) -> None:
        self._check_usable()
        if not experimental_use_pfor and not self._persistent:
            raise RuntimeError(
                f"GradientTape must be created with persistent=True to compute the {kind} "
                "with eager execution enabled and with  experimental_use_pfor set to False."
            )
        self._leave_context()
        self._spend()

    def jacobian(
        self,
        target: Any,
        sources: Any,
        unconnected_gradients: UnconnectedGradients | str = UnconnectedGradients.NONE,
        parallel_iterations: int | None = None,
        experimental_use_pfor: bool = True,
    ) -> Any:
        """d ``target`` / d ``sources``: for each source a tensor of shape
        ``target.shape + source.shape``, in the structure of ``sources``.

        All rows are computed by one backward pass that carries a batch of
        cotangents (the rows of an identity matrix), so there is no loop
        over rows and nothing to trace. ``parallel_iterations`` caps how
        many rows go through at once; ``experimental_use_pfor=False`` runs
        the rows one at a time (and, as in TF, needs a persistent tape).

        >>> import tapegrad as tf
        >>> x = tf.constant([1.0, 2.0])
        >>> with tf.GradientTape() as tape:
        ...     tape.watch(x)
        ...     y = x * x
        >>> tape.jacobian(y, x).numpy()
        array([[2., 0.],
               [0., 4.]], dtype=float32)
        """
        zero = _unconnected_is_zero(unconnected_gradients)
        self._begin_jacobian("jacobian", experimental_use_pfor)
        flat_sources = flatten(sources)
        for s in flat_sources:
            if not _is_watchable(s):
                raise TypeError(f"sources must be tensors or Variables; got {type(s).__name__}")
        chunk = parallel_iterations if experimental_use_pfor else 1
        grads = self._tape.derive("jacobian", [target], [], flat_sources, zero, chunk)
        return pack_sequence_as(sources, grads)

    def batch_jacobian(
        self,
        target: Any,
        source: Any,
        unconnected_gradients: UnconnectedGradients | str = UnconnectedGradients.NONE,
        parallel_iterations: int | None = None,
        experimental_use_pfor: bool = True,
    ) -> Any:
        """Per-example jacobian: ``target`` is ``[b, y...]``, ``source``
        ``[b, x...]``, example ``i`` of the target depends only on example
        ``i`` of the source; the result is ``[b, y..., x...]``.

        Unlike TF, an unconnected target gives ``None`` under
        ``UnconnectedGradients.NONE`` (TF returns zeros).

        >>> import tapegrad as tf
        >>> x = tf.constant([[1.0, 2.0], [3.0, 4.0]])  # two examples
        >>> with tf.GradientTape() as tape:
        ...     tape.watch(x)
        ...     y = x * x
        >>> tape.batch_jacobian(y, x).shape  # one 2×2 jacobian per example
        TensorShape([2, 2, 2])
        """
        zero = _unconnected_is_zero(unconnected_gradients)
        target_shape = tuple(target.shape)
        source_shape = tuple(source.shape)
        for shape in (target_shape, source_shape):
            if len(shape) < 2:
                raise ValueError(f"Shape {shape} must have rank at least 2")
        if target_shape[0] != source_shape[0]:
            raise ValueError(
                f"Need first dimension of target shape ({target_shape}) and source shape "
                f"({source_shape}) to match."
            )
        del parallel_iterations  # one batched pass; nothing to parallelise over
        self._begin_jacobian("batch_jacobian", experimental_use_pfor)
        return self._tape.derive("batch_jacobian", [target], [], [source], zero)[0]
