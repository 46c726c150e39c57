"""Data types, mirroring ``tf.dtypes``: ``float16``, ``bfloat16``,
``float32``, ``float64``, ``int8``, ``int16``, ``int32``, ``int64``,
``uint8``, ``uint16``, ``uint32``, ``uint64``, ``complex64``, ``complex128``,
``bool`` and ``string`` (byte strings; numpy's form is an object array of
``bytes``). Only the float and complex dtypes carry gradients. numpy's
bfloat16 is ``ml_dtypes.bfloat16``."""

# `_builtins.bool` in annotations: this module's `bool` is the DType. The
# imports are private (`_np`, …): `dir(tapegrad.dtypes)` is its API.
import builtins as _builtins
from collections.abc import Callable as _Callable
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

import numpy as _np

__all__ = [
    "DType",
    "as_dtype",
    "bfloat16",
    "bool",
    "complex128",
    "complex64",
    "float16",
    "float32",
    "float64",
    "half",
    "int16",
    "int32",
    "int64",
    "int8",
    "string",
    "uint16",
    "uint32",
    "uint64",
    "uint8",
]


def _numpy_dtype(name: str) -> _np.dtype[_Any]:
    """numpy's dtype of a name. numpy knows "bfloat16" once ``ml_dtypes``
    registered it, imported here on first need rather than with tapegrad:
    its ufunc registration costs more than the rest of ``import tapegrad``."""
    if name == "bfloat16":
        import ml_dtypes  # noqa: F401 - registers numpy's "bfloat16"
    return _np.dtype(name)


class DType:
    """A tensor element type; compares equal to its name and numpy dtype.

    >>> import numpy as np
    >>> import tapegrad as tf
    >>> tf.float32 == "float32", tf.float32 == np.float32
    (True, True)
    >>> tf.int64.is_integer, tf.float64.is_floating, tf.float64.size
    (True, True, 8)
    >>> print(tf.float32)
    <dtype: 'float32'>
    >>> tf.uint8.min, tf.uint8.max, tf.uint8.is_unsigned, tf.bfloat16.size
    (0, 255, True, 2)
    >>> tf.complex64.is_complex, tf.complex64.real_dtype, tf.complex128.size
    (True, tapegrad.float32, 16)
    """

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    @property
    def as_numpy_dtype(self) -> type[_Any]:
        if self._name == "string":
            return object  # TF: a string tensor's numpy form holds bytes objects
        return _numpy_dtype(self._name).type

    @property
    def is_floating(self) -> _builtins.bool:
        return "float" in self._name

    @property
    def is_integer(self) -> _builtins.bool:
        return "int" in self._name

    @property
    def is_complex(self) -> _builtins.bool:
        return self._name.startswith("complex")

    @property
    def real_dtype(self) -> "DType":
        """The dtype of a complex dtype's parts (float32 for complex64);
        any other dtype is its own."""
        return _REAL_PARTS.get(self._name, self)

    @property
    def is_unsigned(self) -> _builtins.bool:
        return self._name.startswith("uint")

    @property
    def min(self) -> int | float:
        """The smallest value (the most negative finite one for floats)."""
        return self._limits()[0]

    @property
    def max(self) -> int | float:
        """The largest finite value."""
        return self._limits()[1]

    def _limits(self) -> tuple[int | float, int | float]:
        if self._name == "bool":
            raise TypeError("Cannot find minimum value of <dtype: 'bool'>.")
        if self.is_complex or self._name == "string":
            raise TypeError(f"Cannot find minimum value of {self} with type {self}.")
        np_dtype = _numpy_dtype(self._name)
        if self.is_integer:
            info = _np.iinfo(np_dtype)
            return int(info.min), int(info.max)
        import ml_dtypes  # its finfo knows bfloat16 (see _numpy_dtype)

        finfo = ml_dtypes.finfo(np_dtype)  # type: ignore[no-untyped-call]
        # Python floats (TF gives numpy scalars of the dtype; the values are equal)
        return float(finfo.min), float(finfo.max)

    @property
    def is_bool(self) -> _builtins.bool:
        return self._name == "bool"

    @property
    def size(self) -> int:
        if self._name == "string":
            return 0  # TF: elements have no fixed size
        return _numpy_dtype(self._name).itemsize

    def __eq__(self, other: object) -> _builtins.bool:
        try:
            return self._name == as_dtype(other)._name
        except TypeError:
            return NotImplemented

    def __hash__(self) -> int:
        return hash(self._name)

    def __repr__(self) -> str:
        return f"tapegrad.{self._name}"

    def __str__(self) -> str:
        return f"<dtype: '{self._name}'>"

    def __reduce__(self) -> tuple[_Callable[[str], "DType"], tuple[str]]:
        return as_dtype, (self._name,)


float16 = DType("float16")
half = float16
bfloat16 = DType("bfloat16")
float32 = DType("float32")
float64 = DType("float64")
int8 = DType("int8")
int16 = DType("int16")
int32 = DType("int32")
int64 = DType("int64")
uint8 = DType("uint8")
uint16 = DType("uint16")
uint32 = DType("uint32")
uint64 = DType("uint64")
complex64 = DType("complex64")
complex128 = DType("complex128")
bool = DType("bool")  # noqa: A001 - TF's name
string = DType("string")
_REAL_PARTS = {"complex64": float32, "complex128": float64}

_BY_NAME = {
    d.name: d
    for d in (
        float16,
        bfloat16,
        float32,
        float64,
        int8,
        int16,
        int32,
        int64,
        uint8,
        uint16,
        uint32,
        uint64,
        complex64,
        complex128,
        bool,
        string,
    )
}
_ALIASES = {"float": "float32", "double": "float64", "half": "float16"}


def as_dtype(value: object) -> DType:
    """The ``DType`` for a DType, a name, or a numpy dtype/scalar type;
    ``TypeError`` for anything else.

    >>> import numpy as np
    >>> import tapegrad as tf
    >>> tf.as_dtype("double"), tf.as_dtype(np.int32)
    (tapegrad.float64, tapegrad.int32)
    """
    if isinstance(value, DType):
        return value
    if value is None:
        raise TypeError("Cannot convert None to a tapegrad DType")
    if isinstance(value, str):
        name = _ALIASES.get(value, value)
    else:
        try:
            np_dtype = _np.dtype(value)  # type: ignore[call-overload]
        except TypeError:
            raise TypeError(f"Cannot convert {value!r} to a tapegrad DType") from None
        # numpy's object, bytes_ and str_ arrays hold strings (TF: tf.string)
        name = "string" if np_dtype.kind in "OSU" else np_dtype.name
    if name not in _BY_NAME:
        raise TypeError(f"Unsupported dtype {name!r}; tapegrad has {sorted(_BY_NAME)}")
    return _BY_NAME[name]


if not _TYPE_CHECKING:
    from ._compat import missing_names as _missing_names

    __getattr__ = _missing_names("tf.dtypes")
