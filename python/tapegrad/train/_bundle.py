"""TF's tensor bundle: a checkpoint prefix ``P`` is the files ``P.index``
(a table from keys to ``BundleEntryProto``s, the ``BundleHeaderProto``
under the empty key) and ``P.data-00000-of-00001`` (the tensors' bytes,
little-endian, back to back).

Read: the fixed-width numeric dtypes and bool, and string tensors (as
``bytes``); every tensor's CRC-32C is checked. Not read: bfloat16 and the
other TF-only dtypes, resources/variants, and partitioned ("sliced")
variables. Written: one shard, numeric/bool and string tensors.
"""

from __future__ import annotations

import os
import struct
import tempfile
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._crc32c import crc32c, mask, unmask
from ._table import TableError, read_table, write_table
from ._wire import BundleEntry, BundleHeader, WireError, decode_varint, encode_varint

__all__ = ["BundleReader", "CheckpointFormatError", "data_path", "index_path", "write_bundle"]

# TF's DataType enum (types.proto) for the dtypes numpy can hold
_TF_TO_NUMPY: dict[int, np.dtype[Any]] = {
    1: np.dtype("<f4"),
    2: np.dtype("<f8"),
    3: np.dtype("<i4"),
    4: np.dtype("u1"),
    5: np.dtype("<i2"),
    6: np.dtype("i1"),
    8: np.dtype("<c8"),
    9: np.dtype("<i8"),
    10: np.dtype("?"),
    17: np.dtype("<u2"),
    18: np.dtype("<c16"),
    19: np.dtype("<f2"),
    22: np.dtype("<u4"),
    23: np.dtype("<u8"),
}
_NUMPY_TO_TF = {dtype.newbyteorder("="): code for code, dtype in _TF_TO_NUMPY.items()}
_DT_STRING = 7
_TF_NAMES = {14: "bfloat16", 20: "resource", 21: "variant", 7: "string"}


class CheckpointFormatError(ValueError):
    """A checkpoint file that is corrupt, truncated or of an unsupported kind
    (also a ``ValueError``).

    >>> import tapegrad as tf, tempfile, os
    >>> prefix = os.path.join(tempfile.mkdtemp(), "c")
    >>> with open(prefix + ".index", "wb") as f:
    ...     _ = f.write(b"not a table" * 10)
    >>> try:
    ...     tf.train.list_variables(prefix)
    ... except tf.train.CheckpointFormatError as e:
    ...     print("bad magic" in str(e))
    True
    """


def index_path(prefix: str) -> str:
    return prefix + ".index"


def data_path(prefix: str, shard: int = 0, num_shards: int = 1) -> str:
    return f"{prefix}.data-{shard:05d}-of-{num_shards:05d}"


def _string_tensor_bytes(values: np.ndarray) -> tuple[bytes, int]:
    """TF's layout of a string tensor: varint lengths, the masked CRC of the
    lengths (as uint32s), then the strings; and the entry's CRC, which covers
    the uint32 lengths, the stored length CRC and the strings."""
    items = [v if isinstance(v, bytes) else str(v).encode() for v in values.ravel().tolist()]
    lengths32 = b"".join(struct.pack("<I", len(s)) for s in items)
    if any(len(s) >= 1 << 32 for s in items):
        raise ValueError("strings of 4 GiB or more cannot be checkpointed by tapegrad")
    length_crc = struct.pack("<I", mask(crc32c(lengths32)))
    body = b"".join(items)
    encoded = b"".join(encode_varint(len(s)) for s in items) + length_crc + body
    return encoded, mask(crc32c(lengths32 + length_crc + body))


def _fsync_write(path: str, payload: bytes) -> None:
    with open(path, "wb") as f:
        f.write(payload)
        f.flush()
        os.fsync(f.fileno())


def write_bundle(prefix: str, tensors: Mapping[str, np.ndarray | bytes]) -> None:
    """Write ``tensors`` (numeric/bool arrays, or ``bytes`` for a string
    scalar) as the checkpoint ``prefix``, atomically: both files are written
    under temporary names and renamed into place, the index last, so a crash
    leaves either the old checkpoint or the new one, never a torn one."""
    directory = os.path.dirname(prefix) or "."
    os.makedirs(directory, exist_ok=True)
    data = bytearray()
    entries: list[tuple[bytes, bytes]] = [(b"", BundleHeader().encode())]
    for key in sorted(tensors):
        value = tensors[key]
        entry = BundleEntry(offset=len(data))
        if isinstance(value, bytes):
            value = np.array(value, dtype=object)
        array = np.asarray(value)
        if array.dtype == object or array.dtype.kind in "SU":
            encoded, entry.crc32c = _string_tensor_bytes(array)
            entry.dtype = _DT_STRING
        else:
            native = array.dtype.newbyteorder("=")
            if native not in _NUMPY_TO_TF:
                raise TypeError(f"cannot checkpoint {key!r}: dtype {array.dtype} has no TF code")
            entry.dtype = _NUMPY_TO_TF[native]
            encoded = np.ascontiguousarray(array, dtype=_TF_TO_NUMPY[entry.dtype]).tobytes()
            entry.crc32c = mask(crc32c(encoded))
        entry.shape = tuple(int(d) for d in array.shape)
        entry.size = len(encoded)
        data += encoded
        entries.append((key.encode(), entry.encode()))
    index = write_table(entries)
    final_data, final_index = data_path(prefix), index_path(prefix)
    base = os.path.basename(prefix)
    temps = []
    try:
        for payload in (bytes(data), index):
            fd, temp = tempfile.mkstemp(prefix=f".{base}.", suffix=".tempstate", dir=directory)
            os.close(fd)
            temps.append(temp)
            os.chmod(temp, 0o644)  # mkstemp's 0600 would hide the checkpoint from other users
            _fsync_write(temp, payload)
        os.replace(temps[0], final_data)
        os.replace(temps[1], final_index)
        temps.clear()
    finally:
        for temp in temps:
            if os.path.exists(temp):
                os.remove(temp)


class BundleReader:
    """The entries of a checkpoint and its tensors, read on demand.

    Raises ``CheckpointFormatError`` for a missing, corrupt or unsupported file.
    """

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        try:
            with open(index_path(prefix), "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            raise FileNotFoundError(
                f"Unsuccessful TensorSliceReader constructor: Failed to find any matching files "
                f"for {prefix} (no {index_path(prefix)})"
            ) from None
        self.entries: dict[str, BundleEntry] = {}
        header = None
        try:
            for key, value in read_table(raw):
                if key == b"":
                    header = BundleHeader.decode(value)
                else:
                    self.entries[key.decode()] = BundleEntry.decode(value)
        except (TableError, WireError, UnicodeDecodeError) as error:
            raise CheckpointFormatError(f"{index_path(prefix)}: {error}") from None
        if header is None:
            raise CheckpointFormatError(f"{index_path(prefix)}: no bundle header")
        if header.endianness != 0:
            raise CheckpointFormatError(f"{prefix}: big-endian checkpoints are not supported")
        self.num_shards = header.num_shards

    def dtype_name(self, key: str) -> str:
        code = self.entries[key].dtype
        if code == _DT_STRING:
            return "string"
        if code in _TF_TO_NUMPY:
            return _TF_TO_NUMPY[code].name
        return _TF_NAMES.get(code, f"dtype code {code}")

    def _raw(self, key: str, entry: BundleEntry) -> bytes:
        path = data_path(self.prefix, entry.shard_id, self.num_shards)
        try:
            with open(path, "rb") as f:
                f.seek(entry.offset)
                raw = f.read(entry.size)
        except FileNotFoundError:
            raise CheckpointFormatError(f"{key}: data file {path} is missing") from None
        if len(raw) != entry.size:
            raise CheckpointFormatError(f"{key}: {path} is truncated")
        return raw

    def read(self, key: str) -> np.ndarray | bytes:
        """The tensor under ``key``: an array, or ``bytes`` for a string
        scalar (an object array of ``bytes`` for other string shapes)."""
        if key not in self.entries:
            raise KeyError(f"Key {key} not found in checkpoint {self.prefix}")
        entry = self.entries[key]
        if entry.has_slices:
            raise CheckpointFormatError(
                f"{key}: partitioned (sliced) variables are not supported by tapegrad"
            )
        if entry.dtype == _DT_STRING:
            return self._read_strings(key, entry)
        if entry.dtype not in _TF_TO_NUMPY:
            raise CheckpointFormatError(
                f"{key}: dtype {self.dtype_name(key)} cannot be read by tapegrad"
            )
        raw = self._raw(key, entry)
        if crc32c(raw) != unmask(entry.crc32c):
            raise CheckpointFormatError(f"{key}: checksum mismatch, the data file is corrupt")
        dtype = _TF_TO_NUMPY[entry.dtype]
        count = int(np.prod(entry.shape, dtype=np.int64))
        if count * dtype.itemsize != len(raw):
            raise CheckpointFormatError(f"{key}: size {len(raw)} does not match shape/dtype")
        return np.frombuffer(raw, dtype=dtype).astype(dtype.newbyteorder("=")).reshape(
            entry.shape
        )

    def _read_strings(self, key: str, entry: BundleEntry) -> np.ndarray | bytes:
        raw = self._raw(key, entry)
        count = int(np.prod(entry.shape, dtype=np.int64))
        lengths = []
        pos = 0
        try:
            for _ in range(count):
                length, pos = decode_varint(raw, pos)
                lengths.append(length)
        except WireError:
            raise CheckpointFormatError(f"{key}: corrupt string tensor") from None
        lengths32 = b"".join(struct.pack("<I", n) for n in lengths)
        stored = raw[pos : pos + 4]
        body = raw[pos + 4 :]
        if (
            len(stored) != 4
            or unmask(struct.unpack("<I", stored)[0]) != crc32c(lengths32)
            or sum(lengths) != len(body)
            or unmask(entry.crc32c) != crc32c(lengths32 + stored + body)
        ):
            raise CheckpointFormatError(f"{key}: checksum mismatch, the data file is corrupt")
        items = []
        start = 0
        for length in lengths:
            items.append(body[start : start + length])
            start += length
        if not entry.shape:
            return items[0]
        out = np.empty(count, dtype=object)
        out[:] = items
        return out.reshape(entry.shape)
