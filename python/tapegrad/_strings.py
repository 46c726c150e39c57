"""``tf.strings`` and ``tf.io.decode_raw``: text functions over string tensors.

A string tensor lives in the core (``Data::Str``: shape ops, ``where`` and
``equal`` move and compare it there); these functions read its elements as
numpy's object array of ``bytes`` (what ``.numpy()`` gives), work per element
in Python, and build the result tensor back. None is differentiable: strings
never carry gradients, and the numbers they produce (``length``,
``to_number``, ``unicode_decode``) come from no differentiable input.
Regular expressions are Python's ``re`` on bytes, not RE2 (docs/compat.md).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import _core
from ._core import Tensor, Variable
from ._print import format_tensor
from ._ragged import RaggedTensor
from .dtypes import DType, as_dtype, float32, int32, int64, string
from .errors import InvalidArgumentError

__all__ = [
    "as_string",
    "bytes_split",
    "decode_raw",
    "format",
    "join",
    "length",
    "lower",
    "reduce_join",
    "regex_full_match",
    "regex_replace",
    "split",
    "strip",
    "substr",
    "to_hash_bucket_fast",
    "to_number",
    "unicode_decode",
    "unicode_split",
    "upper",
]


def _strings(x: Any, op: str) -> np.ndarray[Any, Any]:
    """``x``'s elements as an object array of bytes; a non-string tensor is
    refused as TF refuses it (the op has no kernel for its dtype)."""
    t = x if isinstance(x, (Tensor, Variable)) else _core.convert_to_tensor(x, dtype=string)
    if t.dtype != string:
        raise InvalidArgumentError(
            f"cannot compute {op} as input #0(zero-based) was expected to be a string tensor "
            f"but is a {t.dtype.name} tensor; convert numbers with tf.strings.as_string first"
        )
    return np.asarray(t.numpy(), dtype=object)


def _flat_bytes(value: Any, hinted: bool) -> tuple[list[int], list[bytes]]:
    """The shape and row-major elements of a host value that becomes a string
    tensor (the core's conversion calls this): ``str`` is UTF-8, as in TF;
    anything else is refused with TF's error (``hinted``: ``dtype=tf.string``
    was asked for, so a number is a ``TypeError``).

    >>> _flat_bytes([["a", b"b"]], False)
    ([1, 2], [b'a', b'b'])
    """
    from_numpy = isinstance(value, (np.ndarray, np.generic))
    # (a list through an object array: numpy would turn b"b" into "b'b'")
    objects = np.asarray(value) if from_numpy else np.array(value, dtype=object)
    items = objects.ravel().tolist()
    for i, item in enumerate(items):
        if isinstance(item, str):
            items[i] = item.encode()
        elif isinstance(item, bytes):
            continue
        elif from_numpy:
            raise ValueError(
                "Failed to convert a NumPy array to a Tensor (Unsupported object "
                f"type {type(item).__name__})."
            )
        elif hinted:
            raise TypeError(f"Cannot convert {value!r:.200} to EagerTensor of dtype string")
        elif any(isinstance(other, (str, bytes)) for other in items):
            raise ValueError("Can't convert Python sequence with mixed types to Tensor.")
        else:
            raise ValueError(
                f"Attempt to convert a value ({item!r}) with an unsupported type "
                f"({type(item)}) to a Tensor."
            )
    return list(objects.shape), items


def _tensor(values: np.ndarray[Any, Any] | list[Any], dtype: DType = string) -> Tensor:
    """A tensor of ``dtype`` from an array (or list) of its elements."""
    if dtype == string:
        return _core.convert_to_tensor(np.asarray(values, dtype=object).reshape(np.shape(values)))
    return _core.convert_to_tensor(np.asarray(values, dtype=dtype.as_numpy_dtype))


def _map(x: Any, op: str, fn: Callable[[bytes], Any], dtype: DType = string) -> Tensor:
    """``fn`` applied to every element, in ``x``'s shape."""
    items = _strings(x, op)
    out = np.empty(items.shape, dtype=object)
    for index, item in np.ndenumerate(items):
        out[index] = fn(item)
    return _tensor(out if dtype == string else out.astype(dtype.as_numpy_dtype), dtype)


def _rows(items: np.ndarray[Any, Any], parts: Callable[[bytes], list[Any]], dtype: DType) -> Any:
    """The pieces of each element: a tensor for a scalar, else a RaggedTensor
    of ``items``' shape plus one ragged dimension (its outer dimensions
    uniform, so ``shape`` keeps their sizes, as in TF)."""
    if items.ndim == 0:
        pieces = parts(items.item())
        if dtype == string:
            return _tensor(np.array(pieces, dtype=object).reshape(-1))
        return _tensor(np.asarray(pieces, dtype=dtype.as_numpy_dtype).reshape(-1), dtype)
    rows = [parts(item) for item in items.reshape(-1)]
    splits = np.cumsum([0] + [len(r) for r in rows], dtype=np.int64)
    flat = [piece for row in rows for piece in row]
    values = (
        _tensor(np.array(flat, dtype=object).reshape(-1))
        if dtype == string
        else _tensor(np.asarray(flat, dtype=dtype.as_numpy_dtype).reshape(-1), dtype)
    )
    result = RaggedTensor.from_row_splits(values, splits, validate=False)
    # rebuild the outer dimensions, innermost first: each groups the rows below it
    for axis in range(items.ndim - 1, 0, -1):
        outer_rows = int(np.prod(items.shape[:axis]))
        result = RaggedTensor.from_uniform_row_length(result, items.shape[axis], nrows=outer_rows)
    return result


def split(
    input: Any, sep: str | bytes | None = None, maxsplit: int = -1, name: str | None = None
) -> Any:
    """Split each string at ``sep`` (default: runs of ASCII whitespace).

    A scalar gives a vector of pieces; an input of shape ``[d0, ..., dk]``
    gives a RaggedTensor of shape ``[d0, ..., dk, None]``.

    >>> import tapegrad as tf
    >>> print(tf.strings.split(["a b", "c  d e", ""]))
    <tf.RaggedTensor [[b'a', b'b'], [b'c', b'd', b'e'], []]>
    >>> tf.strings.split([["a b", "c"], ["d e f", ""]]).shape
    TensorShape([2, 2, None])
    >>> print(tf.strings.split("a,b,,c", sep=","))
    tapegrad.Tensor([b'a' b'b' b'' b'c'], shape=(4,), dtype=string)
    """
    separator = sep.encode() if isinstance(sep, str) else sep
    if separator == b"":
        raise InvalidArgumentError("StringSplitV2: the separator must not be empty")

    def parts(item: bytes) -> list[bytes]:
        if separator is None:
            return item.split(None, maxsplit)
        return item.split(separator, maxsplit)  # "" gives [""] (only runs of spaces give [])

    return _rows(_strings(input, "StringSplitV2"), parts, string)


def bytes_split(input: Any, name: str | None = None) -> Any:
    """Each string's bytes, one string each (a scalar: a vector; else a
    RaggedTensor with one more, ragged, dimension).

    >>> import tapegrad as tf
    >>> print(tf.strings.bytes_split("ab"))
    tapegrad.Tensor([b'a' b'b'], shape=(2,), dtype=string)
    """
    return _rows(
        _strings(input, "bytes_split"),
        lambda item: [item[i : i + 1] for i in range(len(item))],
        string,
    )


def join(inputs: Sequence[Any], separator: str = "", name: str | None = None) -> Tensor:
    """Join the strings of ``inputs`` elementwise (they broadcast), with ``separator``.

    >>> import tapegrad as tf
    >>> print(tf.strings.join([["a", "b"], "x"], separator="-"))
    tapegrad.Tensor([b'a-x' b'b-x'], shape=(2,), dtype=string)
    """
    if isinstance(inputs, (Tensor, Variable, str, bytes)):
        raise TypeError("tf.strings.join takes a list of string tensors")
    arrays = np.broadcast_arrays(*[_strings(x, "StringJoin") for x in inputs])
    sep = separator.encode()
    out = np.empty(arrays[0].shape if arrays else (), dtype=object)
    for index in np.ndindex(out.shape):
        out[index] = sep.join(bytes(a[index]) for a in arrays)
    return _tensor(out)


def reduce_join(
    inputs: Any,
    axis: int | Sequence[int] | None = None,
    keepdims: bool = False,
    separator: str = "",
    name: str | None = None,
) -> Tensor:
    """Join the strings along ``axis`` (all axes when ``None``).

    >>> import tapegrad as tf
    >>> print(tf.strings.reduce_join([["a", "b"], ["c", "d"]], axis=1, separator=","))
    tapegrad.Tensor([b'a,b' b'c,d'], shape=(2,), dtype=string)
    """
    items = _strings(inputs, "ReduceJoin")
    axes = list(range(items.ndim)) if axis is None else np.atleast_1d(np.asarray(axis)).tolist()
    for a in axes:
        if not -items.ndim <= a < max(items.ndim, 1):
            raise InvalidArgumentError(f"ReduceJoin: axis {a} out of range for rank {items.ndim}")
    axes = sorted({a % max(items.ndim, 1) for a in axes}) if items.ndim else []
    kept = [d for d in range(items.ndim) if d not in axes]
    moved = items.transpose(kept + axes).reshape([items.shape[d] for d in kept] + [-1])
    sep = separator.encode()
    out = np.empty(moved.shape[:-1], dtype=object)
    for index in np.ndindex(out.shape):
        out[index] = sep.join(moved[index])
    if keepdims:
        out = out.reshape([1 if d in axes else items.shape[d] for d in range(items.ndim)])
    return _tensor(out)


def length(input: Any, name: str | None = None, unit: str = "BYTE") -> Tensor:
    """The length of each string, in bytes or (``unit="UTF8_CHAR"``) characters.

    >>> import tapegrad as tf
    >>> print(tf.strings.length(["héllo", ""], unit="UTF8_CHAR"))
    tapegrad.Tensor([5 0], shape=(2,), dtype=int32)
    """
    if unit == "BYTE":
        return _map(input, "StringLength", len, int32)
    if unit == "UTF8_CHAR":
        # every byte that is not a continuation byte (0b10xxxxxx) starts a character
        return _map(input, "StringLength", lambda b: sum((c & 0xC0) != 0x80 for c in b), int32)
    raise InvalidArgumentError(f"StringLength: unit must be 'BYTE' or 'UTF8_CHAR', got {unit!r}")


# --- Fingerprint64 (FarmHash's 64-bit hash, farmhash "na"), for to_hash_bucket_fast ---
# TF buckets a string by Fingerprint64(bytes) mod num_buckets; the arithmetic below
# is on Python ints kept to 64 bits (& _U64), reading words little-endian.

_U64 = (1 << 64) - 1
_K0, _K1, _K2 = 0xC3A5C85C97CB3127, 0xB492B66FBE98F273, 0x9AE16A3B2F90404F


def _rotr(v: int, shift: int) -> int:
    return ((v >> shift) | (v << (64 - shift))) & _U64


def _word(data: bytes, at: int, size: int = 8) -> int:
    return int.from_bytes(data[at : at + size], "little")


def _mix16(u: int, v: int, mul: int) -> int:
    """Two words folded into one (a Murmur-style multiply-xorshift)."""
    a = ((u ^ v) * mul) & _U64
    a ^= a >> 47
    b = ((v ^ a) * mul) & _U64
    b ^= b >> 47
    return (b * mul) & _U64


def _seeded32(data: bytes, at: int, a: int, b: int) -> tuple[int, int]:
    """Two words from 32 bytes at ``at`` and two seeds."""
    w, x, y, z = (_word(data, at + 8 * i) for i in range(4))
    a = (a + w) & _U64
    b = _rotr((b + a + z) & _U64, 21)
    c = a
    a = (a + x + y) & _U64
    b = (b + _rotr(a, 44)) & _U64
    return (a + z) & _U64, (b + c) & _U64


def _fingerprint_short(data: bytes) -> int:
    """Up to 64 bytes: one of four fixed-size mixes by length."""
    n = len(data)
    mul = _K2 + 2 * n
    if n == 0:
        return _K2
    if n < 4:
        y = data[0] + (data[n >> 1] << 8)
        z = n + (data[-1] << 2)
        v = ((y * _K2) ^ (z * _K0)) & _U64
        return ((v ^ (v >> 47)) * _K2) & _U64
    if n < 8:
        return _mix16(n + (_word(data, 0, 4) << 3), _word(data, n - 4, 4), mul)
    if n <= 16:
        a = (_word(data, 0) + _K2) & _U64
        b = _word(data, n - 8)
        c = (_rotr(b, 37) * mul + a) & _U64
        return _mix16(c, ((_rotr(a, 25) + b) * mul) & _U64, mul)
    a = (_word(data, 0) * (_K1 if n <= 32 else _K2)) & _U64
    b = _word(data, 8)
    c = (_word(data, n - 8) * mul) & _U64
    d = (_word(data, n - 16) * _K2) & _U64
    y = (_rotr((a + b) & _U64, 43) + _rotr(c, 30) + d) & _U64
    z = (a + _rotr((b + _K2) & _U64, 18) + c) & _U64
    if n <= 32:
        return _mix16(y, z, mul)
    z = _mix16(y, z, mul)  # 33..64 bytes: the first 32 seed a second round
    e = (_word(data, 16) * mul) & _U64
    f = _word(data, 24)
    g = ((y + _word(data, n - 32)) * mul) & _U64
    h = ((z + _word(data, n - 24)) * mul) & _U64
    return _mix16(
        (_rotr((e + f) & _U64, 43) + _rotr(g, 30) + h) & _U64,
        (e + _rotr((f + a) & _U64, 18) + g) & _U64,
        mul,
    )


def _fingerprint64(data: bytes) -> int:
    """FarmHash's Fingerprint64 of ``data``: over 64 bytes, a state of
    seven words absorbs each 64-byte block, the last (overlapping) block
    with its own multiplier, and folds down to one word.

    >>> _fingerprint64(b"a")
    12917804110809363939
    """
    n = len(data)
    if n <= 64:
        return _fingerprint_short(data)
    y = (81 * _K1 + 113) & _U64
    t = (y * _K2 + 113) & _U64
    z = ((t ^ (t >> 47)) * _K2) & _U64
    x = (81 * _K2 + _word(data, 0)) & _U64
    v0 = v1 = w0 = w1 = 0

    def absorb(at: int, mul: int, weight: int) -> None:
        nonlocal x, y, z, v0, v1, w0, w1
        x = (_rotr((x + y + v0 + _word(data, at + 8)) & _U64, 37) * mul) & _U64
        y = (_rotr((y + v1 + _word(data, at + 48)) & _U64, 42) * mul) & _U64
        x ^= (w1 * weight) & _U64
        y = (y + v0 * weight + _word(data, at + 40)) & _U64
        z = (_rotr((z + w0) & _U64, 33) * mul) & _U64
        v0, v1 = _seeded32(data, at, (v1 * mul) & _U64, (x + w0) & _U64)
        w0, w1 = _seeded32(data, at + 32, (z + w1) & _U64, (y + _word(data, at + 16)) & _U64)
        x, z = z, x

    end = (n - 1) // 64 * 64
    for at in range(0, end, 64):
        absorb(at, _K1, 1)
    mul = _K1 + ((z & 0xFF) << 1)
    w0 = (w0 + ((n - 1) & 63)) & _U64
    v0 = (v0 + w0) & _U64
    w0 = (w0 + v0) & _U64
    absorb(n - 64, mul, 9)
    return _mix16(
        (_mix16(v0, w0, mul) + (y ^ (y >> 47)) * _K0 + z) & _U64,
        (_mix16(v1, w1, mul) + x) & _U64,
        mul,
    )


def to_hash_bucket_fast(input: Any, num_buckets: int, name: str | None = None) -> Tensor:
    """Each string's bucket in ``[0, num_buckets)``: its FarmHash Fingerprint64
    modulo ``num_buckets`` (int64), the same numbers TF gives.

    >>> import tapegrad as tf
    >>> print(tf.strings.to_hash_bucket_fast(["Hello", "TensorFlow", "2.x"], 3))
    tapegrad.Tensor([0 2 2], shape=(3,), dtype=int64)
    """
    if isinstance(num_buckets, bool) or not isinstance(num_buckets, (int, np.integer)):
        raise TypeError(f"to_hash_bucket_fast: num_buckets must be an int, got {num_buckets!r}")
    if num_buckets < 1:
        raise InvalidArgumentError(
            f"Value for attr 'num_buckets' of {num_buckets} must be at least minimum 1"
        )
    buckets = int(num_buckets)
    return _map(
        input, "StringToHashBucketFast", lambda b: _fingerprint64(b) % buckets, int64
    )


def _case(
    op: str,
    input: Any,
    encoding: str,
    ascii_fn: Callable[[bytes], bytes],
    text_fn: Callable[[str], str],
) -> Tensor:
    if encoding == "":
        return _map(input, op, ascii_fn)  # ASCII letters only, as TF without an encoding
    if encoding.lower().replace("-", "") != "utf8":
        raise InvalidArgumentError(f"{op}: encoding must be '' or 'utf-8', got {encoding!r}")
    return _map(
        input,
        op,
        lambda b: text_fn(b.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape"),
    )


def lower(input: Any, encoding: str = "", name: str | None = None) -> Tensor:
    """Lowercase: ASCII letters only, or every letter with ``encoding="utf-8"``.

    >>> import tapegrad as tf
    >>> print(tf.strings.lower(["HÉllo"], encoding="utf-8"))
    tapegrad.Tensor([b'h\\xc3\\xa9llo'], shape=(1,), dtype=string)
    """
    return _case("StringLower", input, encoding, bytes.lower, str.lower)


def upper(input: Any, encoding: str = "", name: str | None = None) -> Tensor:
    """Uppercase: ASCII letters only, or every letter with ``encoding="utf-8"``.

    >>> import tapegrad as tf
    >>> print(tf.strings.upper("abc"))
    tapegrad.Tensor(b'ABC', shape=(), dtype=string)
    """
    return _case("StringUpper", input, encoding, bytes.upper, str.upper)


def strip(input: Any, name: str | None = None) -> Tensor:
    """Drop leading and trailing ASCII whitespace.

    >>> import tapegrad as tf
    >>> print(tf.strings.strip(["  a b \\n"]))
    tapegrad.Tensor([b'a b'], shape=(1,), dtype=string)
    """
    return _map(input, "StringStrip", bytes.strip)


_INT_TEXT = re.compile(rb"[+-]?[0-9]+")


def to_number(string_tensor: Any, out_type: Any = float32, name: str | None = None) -> Tensor:
    """Parse each string as a number of ``out_type`` (float32, float64, int32, int64).

    Surrounding whitespace is allowed; floats also read ``inf``, ``nan``,
    exponents and hex (``0x10``); a string that does not parse, or an integer
    out of range, is an ``InvalidArgumentError`` naming it.

    >>> import tapegrad as tf
    >>> print(tf.strings.to_number(["1.5", " -2", "1e3"]))
    tapegrad.Tensor([   1.5   -2.  1000. ], shape=(3,), dtype=float32)
    """
    dtype = as_dtype(out_type)
    if dtype.name not in ("float32", "float64", "int32", "int64"):
        raise TypeError(
            f"StringToNumber: out_type must be float32, float64, int32 or int64, not {dtype.name}"
        )

    def bad(item: bytes) -> InvalidArgumentError:
        text = item.decode("utf-8", "replace")
        return InvalidArgumentError(f"StringToNumberOp could not correctly convert string: {text}")

    def parse(item: bytes) -> int | float:
        text = item.strip()
        if dtype.is_integer:
            if not _INT_TEXT.fullmatch(text):
                raise bad(item)
            value = int(text)
            info = np.iinfo(dtype.as_numpy_dtype)
            if not info.min <= value <= info.max:
                raise bad(item)
            return value
        if b"_" in text:  # Python's float() reads digit separators; C's strtod does not
            raise bad(item)
        try:
            return float(text)
        except ValueError:
            pass
        # C's strtod also reads hex floats, always with their 0x prefix
        if not re.fullmatch(rb"[+-]?0[xX][0-9a-fA-F.]+(p[+-]?[0-9]+)?", text):
            raise bad(item)
        try:
            return float.fromhex(text.decode("ascii"))
        except ValueError:
            raise bad(item) from None

    return _map(string_tensor, "StringToNumber", parse, dtype)


def as_string(
    input: Any,
    precision: int = -1,
    scientific: bool = False,
    shortest: bool = False,
    width: int = -1,
    fill: str = "",
    name: str | None = None,
) -> Tensor:
    """Format each number as a string, as C's ``printf`` (floats ``%f``:
    six decimals unless ``precision``; ``scientific`` ``%e``; ``shortest``
    ``%g``; ``width`` and a one-character ``fill`` pad on the left).

    >>> import tapegrad as tf
    >>> print(tf.strings.as_string([1.5, 2.0]))
    tapegrad.Tensor([b'1.500000' b'2.000000'], shape=(2,), dtype=string)
    >>> print(tf.strings.as_string([3], width=5, fill="0"))
    tapegrad.Tensor([b'00003'], shape=(1,), dtype=string)
    """
    t = input if isinstance(input, (Tensor, Variable)) else _core.convert_to_tensor(input)
    if scientific and shortest:
        raise InvalidArgumentError("AsString: Cannot select both scientific and shortest notation")
    if len(fill) > 1:
        raise InvalidArgumentError(f"AsString: Fill string must be one or fewer characters: {fill}")
    if t.dtype == string:  # TF's %s: right-aligned in `width` by spaces (`fill` unused)
        return _map(t, "AsString", lambda item: item.rjust(max(width, 0)))
    values = np.asarray(t.numpy())
    spec = "%" + fill + (str(width) if width > -1 else "")
    if t.dtype.is_floating:
        spec += (f".{precision}" if precision > -1 else "") + (
            "e" if scientific else "g" if shortest else "f"
        )
        convert: Callable[[Any], Any] = float
    elif t.dtype.is_bool:
        out = np.where(values, b"true", b"false").astype(object)
        return _tensor(out)
    else:
        spec += "d"
        convert = int
    out = np.empty(values.shape, dtype=object)
    for index, value in np.ndenumerate(values):
        out[index] = (spec % convert(value)).encode()
    return _tensor(out)


def _quoted(array: np.ndarray[Any, Any], summarize: int) -> str:
    """TF's text of a string tensor inside ``format``: each element quoted."""
    texts = np.empty(array.shape, dtype=object)
    for index, item in np.ndenumerate(array):
        texts[index] = _Text('"' + item.decode("utf-8", "surrogateescape") + '"')
    return format_tensor(texts, summarize)


class _Text(str):
    """An element already written as text (``format_tensor`` prints it as is)."""


def format(
    template: str,
    inputs: Any,
    placeholder: str = "{}",
    summarize: int = 3,
    name: str | None = None,
) -> Tensor:
    """``template`` with each ``placeholder`` replaced by the next input's
    text as ``tf.print`` writes it (``summarize`` entries per axis end).

    >>> import tapegrad as tf
    >>> print(tf.strings.format("x={} y={}", (tf.constant([1, 2]), tf.constant(3.5))))
    tapegrad.Tensor(b'x=[1 2] y=3.5', shape=(), dtype=string)
    """
    values = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    pieces = template.split(placeholder)
    if len(pieces) - 1 != len(values):
        raise ValueError(
            f"The template expects {len(pieces) - 1} tensors, but the inputs only has "
            f"{len(values)}. Please ensure the number of placeholders in template matches "
            "inputs length."
        )
    out = pieces[0]
    for value, piece in zip(values, pieces[1:], strict=True):
        t = value if isinstance(value, (Tensor, Variable)) else _core.convert_to_tensor(value)
        array = np.asarray(t.numpy(), dtype=object if t.dtype == string else None)
        out += (
            _quoted(array, summarize) if t.dtype == string else format_tensor(array, summarize)
        ) + piece
    return _tensor(np.array(out.encode("utf-8", "surrogateescape"), dtype=object))


def _decode(
    op: str, item: bytes, input_encoding: str, errors: str, replacement_char: int
) -> list[int]:
    if errors not in ("strict", "replace", "ignore"):
        raise InvalidArgumentError(
            f"{op}: errors must be 'strict', 'replace' or 'ignore', got {errors!r}"
        )
    try:
        text = item.decode(input_encoding, "strict" if errors == "strict" else "replace")
    except UnicodeDecodeError as e:
        raise InvalidArgumentError(f"{op}: Invalid formatting on input string: {e}") from None
    except LookupError:
        raise InvalidArgumentError(f"{op}: unknown input_encoding {input_encoding!r}") from None
    points = [ord(c) for c in text]
    if errors == "ignore":
        return [p for p in points if p != 0xFFFD or "\ufffd".encode(input_encoding) in item]
    return [replacement_char if p == 0xFFFD else p for p in points]


def unicode_decode(
    input: Any,
    input_encoding: str,
    errors: str = "replace",
    replacement_char: int = 65533,
    replace_control_characters: bool = False,
    name: str | None = None,
) -> Any:
    """Each string's code points (int32): a vector for a scalar, else a
    RaggedTensor with one more, ragged, dimension.

    >>> import tapegrad as tf
    >>> print(tf.strings.unicode_decode(["hé", "€"], "UTF-8"))
    <tf.RaggedTensor [[104, 233], [8364]]>
    """
    return _rows(
        _strings(input, "UnicodeDecode"),
        lambda b: _decode("UnicodeDecode", b, input_encoding, errors, replacement_char),
        int32,
    )


def unicode_split(
    input: Any,
    input_encoding: str,
    errors: str = "replace",
    replacement_char: int = 65533,
    name: str | None = None,
) -> Any:
    """Each string's characters, each as its UTF-8 bytes.

    >>> import tapegrad as tf
    >>> print(tf.strings.unicode_split("hé", "UTF-8"))
    tapegrad.Tensor([b'h' b'\\xc3\\xa9'], shape=(2,), dtype=string)
    """
    return _rows(
        _strings(input, "UnicodeSplit"),
        lambda b: [
            chr(p).encode("utf-8", "surrogatepass")
            for p in _decode("UnicodeSplit", b, input_encoding, errors, replacement_char)
        ],
        string,
    )


def _text(item: bytes) -> str:
    """Bytes as text for ``re``: UTF-8, each invalid byte kept as a lone
    surrogate (so that it round-trips through ``_bytes``)."""
    return item.decode("utf-8", "surrogateescape")


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


@functools.lru_cache(maxsize=64)
def _regex(pattern: str) -> re.Pattern[str]:
    # RE2 as TF runs it: UTF-8 text (`.` is one character), ASCII classes
    # (`\w`, `\d`, `\s`, `\b`)
    try:
        return re.compile(pattern, re.ASCII)
    except re.error as e:
        raise InvalidArgumentError(f"Invalid pattern: {pattern}, error: {e}") from None


def _as_text(value: Any) -> str:
    if isinstance(value, (Tensor, Variable)):
        value = value.numpy()
    return value if isinstance(value, str) else _text(bytes(value))


def _pattern(pattern: Any) -> re.Pattern[str]:
    return _regex(_as_text(pattern))


def regex_replace(
    input: Any, pattern: Any, rewrite: Any, replace_global: bool = True, name: str | None = None
) -> Tensor:
    """Replace the matches of ``pattern`` with ``rewrite`` (``\\1``…``\\9``
    name groups, ``\\0`` the whole match, as RE2's rewrite strings).

    >>> import tapegrad as tf
    >>> print(tf.strings.regex_replace(["aaa bbb", "ab"], "a+", "X"))
    tapegrad.Tensor([b'X bbb' b'Xb'], shape=(2,), dtype=string)
    """
    regex = _pattern(pattern)
    # RE2's rewrite: backslash-digit is a group, a double backslash one backslash
    tokens = re.split(r"(\\[0-9\\])", _as_text(rewrite))
    if any(
        len(t) == 2 and t[0] == "\\" and t != "\\\\" and int(t[1]) > regex.groups for t in tokens
    ):
        raise InvalidArgumentError(
            f"Invalid rewrite pattern: {_as_text(rewrite)} (the pattern has {regex.groups} groups)"
        )

    def substitute(match: re.Match[str]) -> str:
        out = ""
        for token in tokens:
            if len(token) == 2 and token[0] == "\\":
                out += "\\" if token == "\\\\" else (match.group(int(token[1])) or "")
            else:
                out += token
        return out

    count = 0 if replace_global else 1
    return _map(
        input, "StaticRegexReplace", lambda b: _bytes(regex.sub(substitute, _text(b), count=count))
    )


def regex_full_match(input: Any, pattern: Any, name: str | None = None) -> Tensor:
    """Whether each whole string matches ``pattern`` (bool).

    >>> import tapegrad as tf
    >>> print(tf.strings.regex_full_match(["abc", "ab1"], "[a-z]+"))
    tapegrad.Tensor([ True False], shape=(2,), dtype=bool)
    """
    regex = _pattern(pattern)
    return _map(
        input, "RegexFullMatch", lambda b: regex.fullmatch(_text(b)) is not None, as_dtype("bool")
    )


def substr(input: Any, pos: Any, len: Any, name: str | None = None, unit: str = "BYTE") -> Tensor:
    """The ``len`` bytes (or UTF-8 characters) from ``pos`` of each string;
    a negative ``pos`` counts from the end, ``len`` is cut at the end, and a
    ``pos`` beyond the string is an ``InvalidArgumentError``. ``pos`` and
    ``len`` broadcast against the strings.

    >>> import tapegrad as tf
    >>> print(tf.strings.substr(["hello", "hi"], 1, 3))
    tapegrad.Tensor([b'ell' b'i'], shape=(2,), dtype=string)
    """
    if unit not in ("BYTE", "UTF8_CHAR"):
        raise InvalidArgumentError(f"Substr: unit must be 'BYTE' or 'UTF8_CHAR', got {unit!r}")
    items = _strings(input, "Substr")
    starts = np.asarray(pos.numpy() if isinstance(pos, (Tensor, Variable)) else pos)
    lengths = np.asarray(len.numpy() if isinstance(len, (Tensor, Variable)) else len)
    items, starts, lengths = np.broadcast_arrays(items, starts, lengths)
    out = np.empty(items.shape, dtype=object)
    for at, (item, start, count) in enumerate(
        zip(items.flat, starts.flat, lengths.flat, strict=True)
    ):
        units: Any = item if unit == "BYTE" else item.decode("utf-8", "surrogateescape")
        size = units.__len__()
        first = int(start) + size if start < 0 else int(start)
        if not 0 <= first <= size:
            raise InvalidArgumentError(
                f"pos {int(start)} out of range for string {item!r} at index {at}"
            )
        piece = units[first : first + max(int(count), 0)]
        out.flat[at] = piece if unit == "BYTE" else piece.encode("utf-8", "surrogateescape")
    return _tensor(out)


_DECODE_RAW_TYPES = (
    "float16",
    "bfloat16",
    "float32",
    "float64",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "bool",
)


def decode_raw(
    input_bytes: Any,
    out_type: Any,
    little_endian: bool = True,
    fixed_length: int | None = None,
    name: str | None = None,
) -> Tensor:
    """Reinterpret each string's bytes as a vector of ``out_type``: the
    result has the input's shape plus one axis. Every string must have the
    same length, a multiple of the element size (or, with ``fixed_length``,
    each is cut or zero-padded to that many bytes).

    >>> import tapegrad as tf
    >>> print(tf.io.decode_raw(b"\\x01\\x00\\x02\\x00", tf.int16))
    tapegrad.Tensor([1 2], shape=(2,), dtype=int16)
    """
    dtype = as_dtype(out_type)
    if dtype.name not in _DECODE_RAW_TYPES:
        raise TypeError(f"DecodeRaw: out_type {dtype.name} is not a numeric dtype")
    items = _strings(input_bytes, "DecodeRaw")
    np_dtype = np.dtype(dtype.name).newbyteorder("<" if little_endian else ">")
    size = np_dtype.itemsize
    if fixed_length is not None:
        if fixed_length % size:
            raise InvalidArgumentError(
                f"DecodeRaw: fixed_length {fixed_length} is not a multiple of {size}, "
                f"the size of {dtype.name}"
            )
        items = np.vectorize(
            lambda b: b[:fixed_length].ljust(fixed_length, b"\0"), otypes=[object]
        )(items)
    flat: list[bytes] = items.reshape(-1).tolist()
    width = len(flat[0]) if flat else 0
    for i, item in enumerate(flat):
        if len(item) != width:
            raise InvalidArgumentError(
                "DecodeRaw requires input strings to all be the same size, but element "
                f"{i} has size {len(item)} != {width}"
            )
    if width % size:
        raise InvalidArgumentError(
            f"Input to DecodeRaw has length {width} that is not a multiple of {size}, "
            f"the size of {dtype.name}"
        )
    values = np.frombuffer(b"".join(flat), dtype=np_dtype).astype(np_dtype.newbyteorder("="))
    return _core.convert_to_tensor(values.reshape(items.shape + (width // size,)), dtype=dtype)
