"""Tensor fusion (Horovod's): many small gradients travel as a few large
buffers, because each collective pays a fixed latency (the negotiation
header, the thread hand-off, MPI's own start-up) that dwarfs the time to move
a few kilobytes.

Tensors are grouped, in order, into buckets of one wire dtype holding up to
``threshold`` bytes (``TAPEGRAD_FUSION_THRESHOLD``, or Horovod's
``HOROVOD_FUSION_THRESHOLD``; default 64 MiB; 0 sends each tensor alone).
Each bucket is packed with one ``memcpy`` per tensor (read through a
zero-copy view of the tensor, never element by element) into a
reusable buffer, and handed to the communication thread as soon as it is
packed, so its allreduce runs while the next bucket is packed and finished
buckets are unpacked.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT_THRESHOLD = 64 * 1024 * 1024
_THRESHOLD_VARIABLES = ("TAPEGRAD_FUSION_THRESHOLD", "HOROVOD_FUSION_THRESHOLD")


def fusion_threshold() -> int:
    """The bucket size in bytes, from the environment (default 64 MiB)."""
    for name in _THRESHOLD_VARIABLES:
        raw = os.environ.get(name)
        if raw:
            try:
                value = int(raw)
            except ValueError:
                raise ValueError(f"{name}={raw!r} is not a number of bytes") from None
            if value < 0:
                raise ValueError(f"{name} must be >= 0 bytes, got {value}")
            return value
    return DEFAULT_THRESHOLD


def plan_buckets(
    arrays: list[np.ndarray[Any, Any] | None],
    wire_dtypes: list[np.dtype[Any] | None],
    threshold: int,
) -> list[list[int]]:
    """Indices of the non-None arrays, grouped in order into buckets of one
    wire dtype and at most ``threshold`` bytes on the wire (an array larger
    than that travels alone). A bucket is closed as soon as it is full, so
    the first buckets can start while later ones are still being planned.

    >>> import numpy as np
    >>> a = [np.zeros(4, np.float32), np.zeros(4, np.float32), None, np.zeros(8, np.float32)]
    >>> plan_buckets(a, [x.dtype if x is not None else None for x in a], 32)
    [[0, 1], [3]]
    """
    buckets: list[list[int]] = []
    open_buckets: dict[np.dtype[Any], tuple[list[int], int]] = {}
    for index, (array, wire) in enumerate(zip(arrays, wire_dtypes, strict=True)):
        if array is None or wire is None:
            continue
        nbytes = array.size * wire.itemsize
        current = open_buckets.get(wire)
        if current is not None and current[1] + nbytes > threshold:
            buckets.append(current[0])
            current = None
        if current is None:
            current = ([], 0)
        members, size = current
        members.append(index)
        open_buckets[wire] = (members, size + nbytes)
        if size + nbytes >= threshold:
            buckets.append(members)
            del open_buckets[wire]
    buckets.extend(members for members, _ in open_buckets.values())
    buckets.sort(key=lambda members: members[0])
    return buckets


class BufferPool:
    """Fusion buffers kept between steps: allocating 64 MiB afresh would
    page-fault through it on every step. Slot ``k`` serves the ``k``-th
    bucket of a call, so buckets in flight at once never share memory."""

    def __init__(self) -> None:
        self._buffers: dict[tuple[str, int, np.dtype[Any]], np.ndarray[Any, Any]] = {}

    def get(self, role: str, slot: int, dtype: np.dtype[Any], count: int) -> np.ndarray[Any, Any]:
        key = (role, slot, dtype)
        buf = self._buffers.get(key)
        if buf is None or buf.size < count:
            buf = np.empty(count, dtype=dtype)
            self._buffers[key] = buf
        return buf[:count]

    def clear(self) -> None:
        self._buffers.clear()


@dataclass
class PackedBucket:
    """A bucket ready to reduce: ``send`` is the packed data (or a single
    tensor's own memory when nothing needs packing), ``recv`` where the
    result lands, and where each member sits in it."""

    indices: list[int]
    send: np.ndarray[Any, Any]
    recv: np.ndarray[Any, Any]
    offsets: list[tuple[int, int]]  # (start, stop) in elements
    in_place: bool


def pack(
    arrays: list[np.ndarray[Any, Any] | None],
    indices: list[int],
    wire: np.dtype[Any],
    prescale: float,
    pool: BufferPool,
    slot: int,
) -> PackedBucket:
    """One memcpy (with the cast to the wire dtype and the prescale folded
    in) per member into a pooled buffer; a lone tensor that needs neither is
    sent from its own memory."""
    members = [arrays[i] for i in indices]
    assert all(m is not None for m in members)
    sizes = [m.size for m in members if m is not None]
    total = sum(sizes)
    offsets = []
    start = 0
    for size in sizes:
        offsets.append((start, start + size))
        start += size
    first = members[0]
    assert first is not None
    if len(members) == 1 and first.dtype == wire and prescale == 1.0:
        recv = pool.get("recv", slot, wire, total)
        return PackedBucket(indices, first.reshape(-1), recv, offsets, in_place=False)
    buf = pool.get("fused", slot, wire, total)
    for member, (lo, hi) in zip(members, offsets, strict=True):
        assert member is not None
        flat = member.reshape(-1)
        if prescale != 1.0:
            np.multiply(flat, prescale, out=buf[lo:hi], casting="unsafe")
        else:
            np.copyto(buf[lo:hi], flat, casting="unsafe")
    return PackedBucket(indices, buf, buf, offsets, in_place=True)
