"""CRC-32C (Castagnoli), the checksum of TF's checkpoint files, and TF's
"masked" form of it.

Large buffers are split into many equal lanes whose CRCs numpy computes in
lock step (one table lookup per byte position for all lanes at once); the
lane CRCs are then chained: the CRC register is linear over GF(2), so the
register after lanes ``A`` then ``B`` is ``advance(reg_A, len(B)) ^ crc0(B)``,
where ``advance`` feeds zero bytes and ``crc0`` starts from a zero register.
"""

from __future__ import annotations

import numpy as np

__all__ = ["crc32c", "mask", "unmask"]

_POLYNOMIAL = 0x82F63B78  # CRC-32C, bit-reflected


def _byte_table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(_POLYNOMIAL), table >> 1)
    return table.astype(np.uint32)


_TABLE = _byte_table()
_TABLE_LIST = [int(v) for v in _TABLE]
# below this many bytes a plain loop is faster than setting up lanes
_SMALL = 1 << 14
_MAX_LANES = 1 << 15
_COLUMN_BLOCK = 64


def _update(register: int, data: bytes | memoryview) -> int:
    table = _TABLE_LIST
    for byte in bytes(data):
        register = table[(register ^ byte) & 0xFF] ^ (register >> 8)
    return register


def _advance_tables(zero_bytes: int) -> list[list[int]]:
    """Four 256-entry tables whose XOR applies "feed ``zero_bytes`` zero
    bytes" to a register, one table per register byte."""
    # the images of the 32 basis registers, advanced together
    basis = np.left_shift(np.uint32(1), np.arange(32, dtype=np.uint32))
    for _ in range(zero_bytes):
        basis = _TABLE[basis & 0xFF] ^ (basis >> 8)
    images = [int(v) for v in basis]
    tables = []
    for byte_index in range(4):
        table = [0] * 256
        for value in range(1, 256):
            low = value & -value  # lowest set bit: table[v] = table[v - low] ^ image(low)
            table[value] = table[value ^ low] ^ images[8 * byte_index + low.bit_length() - 1]
        tables.append(table)
    return tables


def crc32c(data: bytes | bytearray | memoryview | np.ndarray) -> int:
    """The CRC-32C of ``data`` (bytes, or any contiguous array's bytes).

    >>> hex(crc32c(b"123456789"))
    '0xe3069283'
    """
    if isinstance(data, np.ndarray):
        buffer = np.ascontiguousarray(data).reshape(-1).view(np.uint8)
    else:
        buffer = np.frombuffer(data, dtype=np.uint8)
    n = len(buffer)
    if n < _SMALL:
        return _update(0xFFFFFFFF, buffer.tobytes()) ^ 0xFFFFFFFF
    lanes = min(_MAX_LANES, n // 512)
    lane_bytes = n // lanes
    body = buffer[: lanes * lane_bytes].reshape(lanes, lane_bytes)
    registers = np.zeros(lanes, dtype=np.uint32)
    index = np.empty(lanes, dtype=np.intp)
    looked_up = np.empty(lanes, dtype=np.uint32)
    table = _TABLE
    for start in range(0, lane_bytes, _COLUMN_BLOCK):
        # byte j of every lane side by side, transposed a cache line's worth
        # of columns at a time (a whole-buffer transpose thrashes the cache)
        columns = np.ascontiguousarray(body[:, start : start + _COLUMN_BLOCK].T)
        for column in columns:
            np.bitwise_xor(registers & 0xFF, column, out=index, casting="unsafe")
            np.take(table, index, out=looked_up)
            np.right_shift(registers, 8, out=registers)
            np.bitwise_xor(registers, looked_up, out=registers)
    t0, t1, t2, t3 = _advance_tables(lane_bytes)
    register = 0xFFFFFFFF
    for lane_register in registers.tolist():
        register = (
            t0[register & 0xFF]
            ^ t1[(register >> 8) & 0xFF]
            ^ t2[(register >> 16) & 0xFF]
            ^ t3[register >> 24]
            ^ lane_register
        )
    register = _update(register, buffer[lanes * lane_bytes :].tobytes())
    return register ^ 0xFFFFFFFF


_MASK_DELTA = 0xA282EAD8


def mask(crc: int) -> int:
    """TF/LevelDB's stored form of a CRC (rotated and offset, so that the CRC
    of data containing CRCs stays well distributed)."""
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def unmask(masked: int) -> int:
    """The inverse of ``mask``."""
    rotated = (masked - _MASK_DELTA) & 0xFFFFFFFF
    return ((rotated >> 17) | (rotated << 15)) & 0xFFFFFFFF
