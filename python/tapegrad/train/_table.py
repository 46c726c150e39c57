"""The sorted string table of a checkpoint's ``.index`` file (LevelDB's
table format, as TF writes it without compression).

A table is a run of blocks, then a metaindex block (empty here), an index
block and a 48-byte footer. A block holds key/value entries, each key stored
as the length it shares with the previous key plus the rest, with a
"restart point" (a full key) every ``_RESTART_INTERVAL`` entries, and ends
with the restart offsets (uint32 each) and their count. Every block is
followed by a one-byte compression type and the masked CRC-32C of the block
and that byte. The index block maps a key at or after each data block's
last key to that block's (offset, size). The footer holds the metaindex and
index handles (varints, zero-padded to 40 bytes) and the magic number.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator

from ._crc32c import crc32c, mask, unmask
from ._wire import decode_varint, encode_varint

__all__ = ["TableError", "read_table", "write_table"]

_MAGIC = 0xDB4775248B80FB57
_FOOTER_SIZE = 48
_HANDLES_SIZE = 40
_RESTART_INTERVAL = 16
_BLOCK_SIZE = 1 << 18  # bytes of entries per data block before a new block starts
_NO_COMPRESSION = 0


class TableError(ValueError):
    """A corrupt or unsupported ``.index`` table."""


def _block(entries: list[tuple[bytes, bytes]]) -> bytes:
    out = bytearray()
    restarts = []
    previous = b""
    for i, (key, value) in enumerate(entries):
        if i % _RESTART_INTERVAL == 0:
            restarts.append(len(out))
            shared = 0
        else:
            shared = 0
            limit = min(len(key), len(previous))
            while shared < limit and key[shared] == previous[shared]:
                shared += 1
        out += encode_varint(shared) + encode_varint(len(key) - shared)
        out += encode_varint(len(value)) + key[shared:] + value
        previous = key
    if not restarts:
        restarts.append(0)
    out += b"".join(struct.pack("<I", r) for r in restarts) + struct.pack("<I", len(restarts))
    return bytes(out)


def _handle(offset: int, size: int) -> bytes:
    return encode_varint(offset) + encode_varint(size)


def write_table(entries: Iterable[tuple[bytes, bytes]]) -> bytes:
    """The table of ``entries`` (keys strictly increasing, bytewise)."""
    out = bytearray()
    index_entries: list[tuple[bytes, bytes]] = []

    def emit(block: bytes) -> tuple[int, int]:
        offset = len(out)
        trailer_type = bytes([_NO_COMPRESSION])
        out.extend(block + trailer_type + struct.pack("<I", mask(crc32c(block + trailer_type))))
        return offset, len(block)

    pending: list[tuple[bytes, bytes]] = []
    pending_bytes = 0
    previous: bytes | None = None
    for key, value in entries:
        if previous is not None and key <= previous:
            raise TableError(f"table keys must be strictly increasing: {previous!r}, {key!r}")
        previous = key
        pending.append((key, value))
        pending_bytes += len(key) + len(value)
        if pending_bytes >= _BLOCK_SIZE:
            index_entries.append((key, _handle(*emit(_block(pending)))))
            pending, pending_bytes = [], 0
    if pending:
        index_entries.append((pending[-1][0], _handle(*emit(_block(pending)))))
    metaindex = emit(_block([]))
    index = emit(_block(index_entries))
    handles = _handle(*metaindex) + _handle(*index)
    out += handles + bytes(_HANDLES_SIZE - len(handles)) + struct.pack("<Q", _MAGIC)
    return bytes(out)


def _read_block(data: bytes, offset: int, size: int, verify: bool) -> bytes:
    if offset + size + 5 > len(data):
        raise TableError("a block handle points past the end of the file")
    block = data[offset : offset + size]
    compression = data[offset + size]
    if verify:
        (stored,) = struct.unpack_from("<I", data, offset + size + 1)
        if unmask(stored) != crc32c(data[offset : offset + size + 1]):
            raise TableError(f"block checksum mismatch at offset {offset}")
    if compression != _NO_COMPRESSION:
        raise TableError(
            f"compressed table blocks (type {compression}) are not supported; TF writes "
            "checkpoint index files uncompressed"
        )
    return block


def _entries(block: bytes) -> Iterator[tuple[bytes, bytes]]:
    if len(block) < 4:
        raise TableError("block too short")
    (num_restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    end = len(block) - 4 - 4 * num_restarts
    if end < 0:
        raise TableError("bad restart count")
    pos = 0
    key = b""
    while pos < end:
        shared, pos = decode_varint(block, pos)
        unshared, pos = decode_varint(block, pos)
        value_length, pos = decode_varint(block, pos)
        if shared > len(key) or pos + unshared + value_length > end:
            raise TableError("corrupt block entry")
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        yield key, block[pos : pos + value_length]
        pos += value_length


def read_table(data: bytes, verify: bool = True) -> Iterator[tuple[bytes, bytes]]:
    """The table's entries in key order (block checksums checked when ``verify``)."""
    if len(data) < _FOOTER_SIZE:
        raise TableError("file too short for a table footer")
    footer = data[-_FOOTER_SIZE:]
    (magic,) = struct.unpack_from("<Q", footer, _HANDLES_SIZE)
    if magic != _MAGIC:
        raise TableError("bad magic number: not a checkpoint .index file")
    pos = 0
    for _ in range(2):  # the metaindex handle, unused
        _, pos = decode_varint(footer, pos)
    index_offset, pos = decode_varint(footer, pos)
    index_size, pos = decode_varint(footer, pos)
    for _, handle in _entries(_read_block(data, index_offset, index_size, verify)):
        offset, hpos = decode_varint(handle, 0)
        size, _ = decode_varint(handle, hpos)
        yield from _entries(_read_block(data, offset, size, verify))
