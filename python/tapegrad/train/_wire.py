"""The protobuf wire format, for the few messages a TF checkpoint holds:
``BundleHeaderProto`` and ``BundleEntryProto`` (the ``.index`` table's
values) and ``TrackableObjectGraph`` (the object graph, stored as a string
tensor). Field numbers are those of TF's public ``.proto`` definitions
(tensor_bundle.proto, tensor_shape.proto, versions.proto,
trackable_object_graph.proto). Unknown fields are skipped when reading.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

__all__ = [
    "BundleEntry",
    "BundleHeader",
    "ObjectGraph",
    "ObjectNode",
    "SerializedTensor",
    "SlotReference",
]

_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5


class WireError(ValueError):
    """A malformed protobuf message."""


def encode_varint(value: int) -> bytes:
    """Base-128 varint; negative int64 values take ten bytes (two's complement)."""
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_varint(data: bytes | memoryview, pos: int) -> tuple[int, int]:
    """``(value, next position)`` of the varint at ``pos``."""
    result = shift = 0
    while True:
        if pos >= len(data):
            raise WireError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise WireError("varint longer than 10 bytes")


def _signed64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def fields(data: bytes | memoryview) -> list[tuple[int, int | bytes]]:
    """The ``(field number, value)`` pairs of a message, in order."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = decode_varint(data, pos)
        number, wire_type = key >> 3, key & 7
        value: int | bytes
        if wire_type == _VARINT:
            value, pos = decode_varint(data, pos)
        elif wire_type == _FIXED64:
            value = struct.unpack_from("<Q", data, pos)[0]
            pos += 8
        elif wire_type == _FIXED32:
            value = struct.unpack_from("<I", data, pos)[0]
            pos += 4
        elif wire_type == _BYTES:
            length, pos = decode_varint(data, pos)
            if pos + length > len(data):
                raise WireError("truncated length-delimited field")
            value = bytes(data[pos : pos + length])
            pos += length
        else:
            raise WireError(f"unsupported wire type {wire_type} (field {number})")
        if number == 0:
            raise WireError("field number 0")
        out.append((number, value))
    if pos != len(data):
        raise WireError("message overran its buffer")
    return out


class _Writer:
    def __init__(self) -> None:
        self._out = bytearray()

    def varint(self, number: int, value: int, *, skip_default: bool = True) -> None:
        if value or not skip_default:
            self._out += encode_varint(number << 3 | _VARINT) + encode_varint(value)

    def fixed32(self, number: int, value: int) -> None:
        self._out += encode_varint(number << 3 | _FIXED32) + struct.pack("<I", value)

    def blob(self, number: int, value: bytes, *, skip_default: bool = True) -> None:
        if value or not skip_default:
            self._out += encode_varint(number << 3 | _BYTES) + encode_varint(len(value)) + value

    def result(self) -> bytes:
        return bytes(self._out)


def _int(value: int | bytes) -> int:
    if not isinstance(value, int):
        raise WireError("expected a varint field")
    return value


def _bytes(value: int | bytes) -> bytes:
    if not isinstance(value, bytes):
        raise WireError("expected a length-delimited field")
    return value


# ---- tensor_bundle.proto -------------------------------------------------------------


@dataclass
class BundleHeader:
    """``BundleHeaderProto``: shard count, endianness (0: little) and version."""

    num_shards: int = 1
    endianness: int = 0
    producer: int = 1
    min_consumer: int = 0

    def encode(self) -> bytes:
        version = _Writer()
        version.varint(1, self.producer)
        version.varint(2, self.min_consumer)
        w = _Writer()
        w.varint(1, self.num_shards)
        w.varint(2, self.endianness)
        w.blob(3, version.result(), skip_default=False)
        return w.result()

    @classmethod
    def decode(cls, data: bytes) -> BundleHeader:
        header = cls(num_shards=0)
        for number, value in fields(data):
            if number == 1:
                header.num_shards = _int(value)
            elif number == 2:
                header.endianness = _int(value)
            elif number == 3:
                for vnumber, vvalue in fields(_bytes(value)):
                    if vnumber == 1:
                        header.producer = _int(vvalue)
                    elif vnumber == 2:
                        header.min_consumer = _int(vvalue)
        return header


@dataclass
class BundleEntry:
    """``BundleEntryProto``: where a tensor's bytes lie and what they are.
    ``has_slices``: the tensor is partitioned (not read by tapegrad)."""

    dtype: int = 0
    shape: tuple[int, ...] = ()
    shard_id: int = 0
    offset: int = 0
    size: int = 0
    crc32c: int = 0  # masked
    has_slices: bool = False

    def encode(self) -> bytes:
        shape = _Writer()
        for dim in self.shape:
            d = _Writer()
            d.varint(1, dim)
            shape.blob(2, d.result(), skip_default=False)
        w = _Writer()
        w.varint(1, self.dtype)
        w.blob(2, shape.result(), skip_default=False)
        w.varint(3, self.shard_id)
        w.varint(4, self.offset)
        w.varint(5, self.size)
        w.fixed32(6, self.crc32c)
        return w.result()

    @classmethod
    def decode(cls, data: bytes) -> BundleEntry:
        entry = cls()
        for number, value in fields(data):
            if number == 1:
                entry.dtype = _int(value)
            elif number == 2:
                dims: list[int] = []
                for snumber, svalue in fields(_bytes(value)):
                    if snumber == 2:
                        size = 0
                        for dnumber, dvalue in fields(_bytes(svalue)):
                            if dnumber == 1:
                                size = _signed64(_int(dvalue))
                        dims.append(size)
                    elif snumber == 3 and _int(svalue):
                        raise WireError("a checkpoint tensor of unknown rank")
                entry.shape = tuple(dims)
            elif number == 3:
                entry.shard_id = _int(value)
            elif number == 4:
                entry.offset = _int(value)
            elif number == 5:
                entry.size = _int(value)
            elif number == 6:
                entry.crc32c = _int(value)
            elif number == 7:
                entry.has_slices = True
        return entry


# ---- trackable_object_graph.proto ----------------------------------------------------


@dataclass
class SerializedTensor:
    """An object's saved value: its attribute name (``VARIABLE_VALUE``), the
    variable's name, and its key in the bundle."""

    name: str
    full_name: str
    checkpoint_key: str


@dataclass
class SlotReference:
    """An optimizer slot: (original variable node, slot name, slot node)."""

    original_variable_node_id: int
    slot_name: str
    slot_variable_node_id: int


@dataclass
class ObjectNode:
    """A ``TrackableObject``: named children, saved tensors, slot references."""

    children: list[tuple[int, str]] = field(default_factory=list)
    attributes: list[SerializedTensor] = field(default_factory=list)
    slot_variables: list[SlotReference] = field(default_factory=list)
    has_checkpoint_values: bool | None = None


@dataclass
class ObjectGraph:
    """A ``TrackableObjectGraph``: node 0 is the root (the ``Checkpoint``)."""

    nodes: list[ObjectNode] = field(default_factory=list)

    def encode(self) -> bytes:
        w = _Writer()
        for node in self.nodes:
            n = _Writer()
            for node_id, local_name in node.children:
                c = _Writer()
                c.varint(1, node_id)
                c.blob(2, local_name.encode())
                n.blob(1, c.result(), skip_default=False)
            for attribute in node.attributes:
                a = _Writer()
                a.blob(1, attribute.name.encode())
                a.blob(2, attribute.full_name.encode())
                a.blob(3, attribute.checkpoint_key.encode())
                n.blob(2, a.result(), skip_default=False)
            for slot in node.slot_variables:
                s = _Writer()
                s.varint(1, slot.original_variable_node_id)
                s.blob(2, slot.slot_name.encode())
                s.varint(3, slot.slot_variable_node_id)
                n.blob(3, s.result(), skip_default=False)
            if node.has_checkpoint_values is not None:
                flag = _Writer()
                flag.varint(1, int(node.has_checkpoint_values))
                n.blob(5, flag.result(), skip_default=False)
            w.blob(1, n.result(), skip_default=False)
        return w.result()

    @classmethod
    def decode(cls, data: bytes) -> ObjectGraph:
        graph = cls()
        for number, value in fields(data):
            if number != 1:
                continue
            node = ObjectNode()
            for nnumber, nvalue in fields(_bytes(value)):
                if nnumber == 1:
                    ref = dict(fields(_bytes(nvalue)))
                    node.children.append(
                        (_int(ref.get(1, 0)), _bytes(ref.get(2, b"")).decode())
                    )
                elif nnumber == 2:
                    attr = dict(fields(_bytes(nvalue)))
                    node.attributes.append(
                        SerializedTensor(
                            _bytes(attr.get(1, b"")).decode(),
                            _bytes(attr.get(2, b"")).decode(),
                            _bytes(attr.get(3, b"")).decode(),
                        )
                    )
                elif nnumber == 3:
                    slot = dict(fields(_bytes(nvalue)))
                    node.slot_variables.append(
                        SlotReference(
                            _int(slot.get(1, 0)),
                            _bytes(slot.get(2, b"")).decode(),
                            _int(slot.get(3, 0)),
                        )
                    )
                elif nnumber == 5:
                    node.has_checkpoint_values = bool(_int(dict(fields(_bytes(nvalue))).get(1, 0)))
            graph.nodes.append(node)
        return graph
