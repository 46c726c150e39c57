"""Why ``tape.gradient(target, source)`` is ``None``: ``GradientTape.explain``.

The Rust tape hands over what it knows: the recorded nodes (op, input and
output ids), where each was called from (a code object and an instruction
offset, turned into ``file:line`` only here), where a watched tensor left the
tape (``.numpy()``, ``float()``, ``stop_gradient``, ``argmax``, a cast to an
integer dtype), and id marks taken when the tape started, paused and
stopped. Tensor ids are handed out in creation order, so a mark dates every
tensor: created before the tape started, while it recorded, inside
``stop_recording()`` or after the ``with`` block.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from types import CodeType
from typing import Any

import numpy as np

from . import _core

__all__ = ["Record", "explain"]

_Site = tuple[CodeType, int] | None


@dataclass
class Record:
    """What ``explain`` reads from one ``GradientTape``."""

    state: str  # "not entered", "recording", "stopped" or "released"
    watch_accessed_variables: bool
    # ("enter" | "exit" | "stop" | "resume", id mark), in order
    marks: list[tuple[str, int]]
    watched_ids: set[int]
    variable_ids: set[int]
    # (op, [(input id, dtype name)], output ids) per recorded node, and
    # where each was called
    nodes: list[tuple[str, list[tuple[int, str]], list[int]]] = field(default_factory=list)
    sites: list[_Site] = field(default_factory=list)
    escapes: list[tuple[str, int, int | None, _Site]] = field(default_factory=list)


def where(site: _Site) -> str:
    """``file:line`` of a recorded call site ("unknown place" without one)."""
    if site is None:
        return "an unknown place"
    code, lasti = site
    for start, end, line in code.co_lines():
        if start <= lasti < end and line is not None:
            return f"{code.co_filename}:{line}"
    return f"{code.co_filename}:{code.co_firstlineno}"


def _describe(value: Any) -> str:
    dtype = getattr(value, "dtype", None)
    shape = getattr(value, "shape", None)
    name = getattr(dtype, "name", dtype)
    if shape is None:
        return type(value).__name__
    return f"{type(value).__name__} {name}{list(shape)}"


def _dtype_name(value: Any) -> str:
    return str(getattr(value.dtype, "name", value.dtype))


_RECORDING = "while the tape recorded"


def _when(record: Record, tensor_id: int) -> str:
    """When a tensor was created, relative to the tape's marks."""
    state = "before the tape started"
    for kind, mark in record.marks:
        if tensor_id < mark:
            return state
        state = {
            "enter": _RECORDING,
            "resume": _RECORDING,
            "stop": "inside tape.stop_recording()",
            "exit": "after the tape's `with` block ended",
        }[kind]
    return state


def _escapes_of(record: Record, ids: set[int], skip: set[int] | None = None) -> list[str]:
    """A line per escape of one of ``ids`` (those whose output is in
    ``skip`` are already named)."""
    return [
        f"  - a watched tensor left the tape through {how} at {where(site)}"
        for how, tid, output, site in record.escapes
        if tid in ids and (skip is None or output not in skip)
    ]


def _why_untracked(record: Record, tensor_id: int, dtype: str) -> str:
    """Why a tensor that some recorded path needs is not on the tape."""
    for how, _, output, site in record.escapes:
        if output == tensor_id:
            return f"it came out of {how} at {where(site)}, which lets no gradient through"
    if not dtype.startswith("float"):
        return (
            f"it is {dtype}: made by an op with no gradient (argmax, a comparison, "
            "a cast to an integer type)"
        )
    when = _when(record, tensor_id)
    if when == _RECORDING:
        return (
            "it was computed while the tape recorded, but not from anything the tape "
            "watches: in another thread (tapes are thread-local), by an op with no gradient "
            "(round, floor, sign, a comparison), or from a value that left the tape "
            "(.numpy(), float(), a numpy function, tf.constant of a Python value)"
        )
    return f"it was computed {when}, so the tape never saw the ops that made it"


def explain(record: Record, target: Any, source: Any) -> str:
    """The report ``GradientTape.explain`` returns (see there)."""
    head = "tape.gradient(target, source) is None because"
    # 1. the target is not a tensor at all
    if not isinstance(target, (_core.Tensor, _core.Variable)):
        if isinstance(target, (np.ndarray, np.generic)):
            how = "the path left the tape through .numpy(), np.asarray or a numpy function"
        elif isinstance(target, numbers.Number):
            how = "the path left the tape through float(), int(), .item() or Python arithmetic"
        else:
            how = "it is not a tensor: nothing recorded it"
        lines = [f"{head} the target is a {_describe(target)}, not a tensor of this tape: {how}."]
        lines += _escapes_of(record, record.watched_ids | _produced(record))
        lines.append("Fix: compute the target with tapegrad ops (x * x, tf.square, tf.reduce_sum).")
        return "\n".join(lines)
    # 2. the source
    if not isinstance(source, (_core.Tensor, _core.Variable)):
        return (
            f"{head} the source is a {_describe(source)}: gradients are taken with respect "
            "to the tensors or Variables used in the computation (the same objects)."
        )
    dtype = _dtype_name(source)
    if not dtype.startswith("float"):
        return (
            f"{head} the source is {dtype}: gradients flow through float32 and float64 only "
            "(as in TF). Fix: make it floating from the start, e.g. "
            "tf.constant([1.0, 2.0]) or tf.Variable(..., dtype=tf.float32)."
        )
    if isinstance(source, _core.Variable):
        source_id = source._handle_id
        if source_id not in record.variable_ids and source_id not in record.watched_ids:
            if not source.trainable:
                why = (
                    f"Variable {source.name!r} has trainable=False, so reading it does not "
                    "watch it"
                )
            elif not record.watch_accessed_variables:
                why = (
                    f"the tape was created with watch_accessed_variables=False and never "
                    f"watched Variable {source.name!r}"
                )
            else:
                why = f"Variable {source.name!r} was never read while the tape recorded"
            return f"{head} {why}. Fix: tape.watch(v) (or read v) inside the `with` block."
    else:
        source_id = source._id
        if source_id not in record.watched_ids and source_id not in _produced(record):
            return (
                f"{head} the source was never watched: constants are not watched on their own "
                "(trainable Variables are). Fix: tape.watch(x) inside the `with` block."
            )
    # 3. the record
    if record.state == "released":
        return (
            f"{head} of something in the recorded path, but this non-persistent tape freed its "
            "record in gradient(). Use GradientTape(persistent=True) to call explain after "
            "gradient, or GradientTape(strict=True), which raises with this explanation."
        )
    target_id = target._handle_id if isinstance(target, _core.Variable) else target._id
    producer = {o: i for i, (_, _, outs) in enumerate(record.nodes) for o in outs}
    if target_id not in producer:
        if target_id == source_id:
            return "The target is the source: the gradient is ones, not None."
        escapes = _escapes_of(record, record.watched_ids | _produced(record))
        dtype = _dtype_name(target)
        if escapes and dtype.startswith("float") and _when(record, target_id) == _RECORDING:
            why = "it was computed from a value that left the tape:"
        else:
            why = _why_untracked(record, target_id, dtype) + "."
        return "\n".join([f"{head} the target is not on the tape: {why}", *escapes])
    # walk back from the target; collect the float inputs no recorded op
    # produced that are suspect: made by stop_gradient/argmax/…, or made
    # while the tape did not record (constants made inside the block are not)
    escaped = {output for _, _, output, _ in record.escapes if output is not None}
    seen, stack, breaks = {target_id}, [target_id], []
    while stack:
        row = producer.get(stack.pop())
        if row is None:
            continue
        op, inputs, _ = record.nodes[row]
        for position, (tid, input_dtype) in enumerate(inputs):
            if tid == source_id:
                return (
                    "The target depends on the source on this tape: the gradient is not None "
                    "(a custom gradient that returns None can still make it None)."
                )
            if tid in seen:
                continue
            seen.add(tid)
            stack.append(tid)
            suspect = tid in escaped or _when(record, tid) != _RECORDING
            loose = tid not in producer and tid not in record.watched_ids
            if loose and input_dtype.startswith("float") and suspect:
                breaks.append((row, op, position, tid, input_dtype))
    lines = [f"{head} no recorded path leads from the source to the target."]
    for row, op, position, tid, input_dtype in sorted(breaks):
        lines.append(
            f"  - {op} at {where(record.sites[row])} uses input #{position} that the tape "
            f"did not record: {_why_untracked(record, tid, input_dtype)}"
        )
    named = {tid for _, _, _, tid, _ in breaks}
    lines += _escapes_of(record, {source_id} | _produced(record), skip=named)
    if len(lines) == 1:
        lines.append(
            "  - the path breaks at an op with no gradient (round, floor, sign, a "
            "comparison), in another thread (tapes are thread-local), or where a value "
            "left the tape and came back as a constant"
        )
    lines.append(
        "Fix: compute every step from source to target with differentiable tapegrad ops, "
        "on this thread, inside the `with` block."
    )
    return "\n".join(lines)


def _produced(record: Record) -> set[int]:
    return {o for _, _, outs in record.nodes for o in outs}
