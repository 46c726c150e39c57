"""What a ``GradientTape`` has recorded, as a text table (``summary``) or a
Graphviz graph (``to_dot``). The Rust tape hands over a read-only snapshot;
everything here is formatting.

Tensors are named by where they come from: ``#3`` is the output of row 3
(``#3.1`` its second output when the op has several), ``x0, x1, …`` the
watched tensors in order of first use, ``var <name>`` a watched Variable and
``const`` anything the tape does not watch (a constant, a Python number).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["TapeSnapshot", "snapshot", "summary", "to_dot"]

# (id, dtype name, shape) as the Rust side reports a tensor
_Meta = tuple[int, str, list[int]]


@dataclass(frozen=True)
class _Node:
    op: str
    inputs: list[_Meta]
    outputs: list[_Meta]
    saved_bytes: int | None  # None: a custom gradient's Python closure, not measurable


@dataclass(frozen=True)
class TapeSnapshot:
    """Everything ``summary`` and ``to_dot`` show, taken at one moment."""

    persistent: bool
    # "not entered", "recording", "stopped" or "released" (a non-persistent
    # tape after gradient()/jacobian(): its record was handed to the backward
    # pass and freed)
    state: str
    nodes: list[_Node] = field(default_factory=list)
    watched_sources: list[int] = field(default_factory=list)
    variable_names: dict[int, str] = field(default_factory=dict)
    saved_bytes: int = 0
    saved_buffers: int = 0


def snapshot(core_tape: Any, persistent: bool, state: str) -> TapeSnapshot:
    """Read ``core_tape`` (a ``_core.Tape`` or ``None``) into a snapshot."""
    if core_tape is None or state == "released":
        return TapeSnapshot(persistent, state)
    raw_nodes, watched, handles, saved_bytes, saved_buffers = core_tape.inspect()
    alive = {v._handle_id: v.name for v in core_tape.watched_variables()}
    # the record outlives a Variable deleted since: it keeps a row, not a name
    names = {h: alive.get(h, "<deleted>") for h in handles}
    nodes = [_Node(op, list(ins), list(outs), saved) for op, ins, outs, saved in raw_nodes]
    return TapeSnapshot(persistent, state, nodes, list(watched), names, saved_bytes, saved_buffers)


def _type(meta: _Meta) -> str:
    _, dtype, shape = meta
    return f"{dtype}[{','.join(str(d) for d in shape)}]"


def _human(n: int) -> str:
    """1536 -> '1.5 KiB'."""
    if n < 1024:
        return f"{n} B"
    size = n / 1024
    for unit in ("KiB", "MiB"):
        if size < 1024:
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


class _Names:
    """Short, stable names for the tensors of one snapshot."""

    def __init__(self, snap: TapeSnapshot) -> None:
        self.producer: dict[int, tuple[int, int, int]] = {}  # id -> (row, output, n_outputs)
        self.source_index = {
            tid: i
            for i, tid in enumerate(t for t in snap.watched_sources if t not in snap.variable_names)
        }
        self.variable_names = snap.variable_names
        for row, node in enumerate(snap.nodes, start=1):
            for k, (tid, _, _) in enumerate(node.outputs):
                self.producer[tid] = (row, k, len(node.outputs))

    def ref(self, tid: int, before_row: int) -> str:
        made = self.producer.get(tid)
        if made is not None and made[0] < before_row:
            row, k, n = made
            return f"#{row}" if n == 1 else f"#{row}.{k}"
        if tid in self.variable_names:
            return f"var {self.variable_names[tid]}"
        if tid in self.source_index:
            return f"x{self.source_index[tid]}"
        return "const"


def _header(snap: TapeSnapshot) -> str:
    kind = "persistent" if snap.persistent else "non-persistent"
    count = len(snap.nodes)
    ops = f"{count} op{'s' if count != 1 else ''} recorded"
    return f"GradientTape ({kind}, {snap.state}): {ops}"


def summary(snap: TapeSnapshot) -> str:
    """A fixed-width table, one row per recorded op (several lines when an op
    has several inputs or outputs), then the totals."""
    names = _Names(snap)
    headers = ("#", "Op", "Inputs", "Outputs", "Saved (bytes)")
    rows: list[tuple[str, str, list[str], list[str], str]] = []
    for row, node in enumerate(snap.nodes, start=1):
        ins = [f"{names.ref(m[0], row)}: {_type(m)}" for m in node.inputs]
        outs = [_type(m) for m in node.outputs]
        saved = "?" if node.saved_bytes is None else f"{node.saved_bytes:,}"
        rows.append((str(row), node.op, ins, outs, saved))
    widths = [len(h) for h in headers]
    for r in rows:
        widths[0] = max(widths[0], len(r[0]))
        widths[1] = max(widths[1], len(r[1]))
        widths[2] = max([widths[2], *map(len, r[2])])
        widths[3] = max([widths[3], *map(len, r[3])])
        widths[4] = max(widths[4], len(r[4]))
    gap = "  "
    line_length = sum(widths) + len(gap) * (len(widths) - 1)

    def line(cells: tuple[str, str, str, str, str]) -> str:
        a, op, ins, outs, saved = cells
        text = gap.join(
            (
                a.rjust(widths[0]),
                op.ljust(widths[1]),
                ins.ljust(widths[2]),
                outs.ljust(widths[3]),
                saved.rjust(widths[4]),
            )
        )
        return text.rstrip()

    out = [_header(snap), "_" * line_length, line(headers), "=" * line_length]
    for i, (num, op, ins, outs, saved) in enumerate(rows):
        height = max(len(ins), len(outs), 1)
        for k in range(height):
            first = k == 0
            out.append(
                line(
                    (
                        num if first else "",
                        op if first else "",
                        ins[k] if k < len(ins) else "",
                        outs[k] if k < len(outs) else "",
                        saved if first else "",
                    )
                )
            )
        if i + 1 < len(rows):
            out.append("-" * line_length)
    if snap.state == "released":
        out.append("(the record was freed by gradient(); use persistent=True to inspect it after)")
    out.append("=" * line_length)
    out.append(
        f"Saved for backward: {snap.saved_bytes:,} bytes ({_human(snap.saved_bytes)}) in "
        f"{snap.saved_buffers} distinct buffer{'s' if snap.saved_buffers != 1 else ''}"
    )
    if any(n.saved_bytes is None for n in snap.nodes):
        out.append("? = a custom gradient: what its Python function keeps is not counted")
    out.append("_" * line_length)
    return "\n".join(out)


def _quote(text: str) -> str:
    """A DOT double-quoted string; ``\\n`` in ``text`` stays a line break."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(snap: TapeSnapshot) -> str:
    """Graphviz DOT: a box per op, an ellipse per watched source or
    Variable, a dashed ellipse per constant input and per output no recorded
    op consumed; an edge per use of a tensor, labelled with its type."""
    names = _Names(snap)
    lines = [
        "digraph GradientTape {",
        f"  label={_quote(_header(snap))};",
        '  node [fontname="monospace"];',
        '  edge [fontname="monospace", fontsize=10];',
    ]
    if snap.state == "released":
        lines.append(f"  released [shape=note, label={_quote('record freed by gradient()')}];")
    declared: set[str] = set()
    consumed: set[int] = set()

    def source_node(meta: _Meta, row: int) -> str:
        tid = meta[0]
        made = names.producer.get(tid)
        if made is not None and made[0] < row:
            return f"op{made[0]}"
        node_id = f"t{tid}"
        if node_id not in declared:
            declared.add(node_id)
            name = names.ref(tid, row)
            if name == "const":
                attrs = "shape=ellipse, style=dashed, color=gray50"
            elif name.startswith("var "):
                attrs = "shape=ellipse, style=filled, fillcolor=lightblue"
            else:
                attrs = "shape=ellipse, style=filled, fillcolor=lightyellow"
            label = _quote(name + "\n" + _type(meta))
            lines.append(f"  {node_id} [{attrs}, label={label}];")
        return node_id

    for row, node in enumerate(snap.nodes, start=1):
        saved = "?" if node.saved_bytes is None else _human(node.saved_bytes)
        label = f"#{row} {node.op}\nsaved {saved}"
        lines.append(f"  op{row} [shape=box, label={_quote(label)}];")
        for meta in node.inputs:
            consumed.add(meta[0])
            lines.append(f"  {source_node(meta, row)} -> op{row} [label={_quote(_type(meta))}];")
    for row, node in enumerate(snap.nodes, start=1):
        for meta in node.outputs:
            if meta[0] in consumed:
                continue
            node_id = f"t{meta[0]}"
            label = _quote(names.ref(meta[0], row + 1) + "\n" + _type(meta))
            lines.append(f"  {node_id} [shape=ellipse, style=dashed, label={label}];")
            lines.append(f"  op{row} -> {node_id} [label={_quote(_type(meta))}];")
    lines.append("}")
    return "\n".join(lines)
