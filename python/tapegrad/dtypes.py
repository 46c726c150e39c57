"""Data types, mirroring ``tf.dtypes``: ``float32``, ``float64``, ``int32``,
``int64`` and ``bool``. Only the float dtypes carry gradients."""

# `_builtins.bool` in annotations: this module's `bool` is the DType. The
# imports are private (`_np`, …): `dir(tapegrad.dtypes)` is its API.
import builtins as _builtins
from collections.abc import Callable as _Callable
from typing import TYPE_CHECKING as _TYPE_CHECKING

import numpy as _np

__all__ = ["DType", "as_dtype", "float32", "float64", "int32", "int64", "bool"]


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
    """

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    @property
    def as_numpy_dtype(self) -> type[_np.generic]:
        return _np.dtype(self._name).type

    @property
    def is_floating(self) -> _builtins.bool:
        return self._name.startswith("float")

    @property
    def is_integer(self) -> _builtins.bool:
        return self._name.startswith("int")

    @property
    def is_bool(self) -> _builtins.bool:
        return self._name == "bool"

    @property
    def size(self) -> int:
        return _np.dtype(self._name).itemsize

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


float32 = DType("float32")
float64 = DType("float64")
int32 = DType("int32")
int64 = DType("int64")
bool = DType("bool")  # noqa: A001 - TF's name

_BY_NAME = {d.name: d for d in (float32, float64, int32, int64, bool)}
_ALIASES = {"float": "float32", "double": "float64"}


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
            name = _np.dtype(value).name  # type: ignore[call-overload]
        except TypeError:
            raise TypeError(f"Cannot convert {value!r} to a tapegrad DType") from None
    if name not in _BY_NAME:
        raise TypeError(f"Unsupported dtype {name!r}; tapegrad has {sorted(_BY_NAME)}")
    return _BY_NAME[name]


if not _TYPE_CHECKING:
    from ._compat import missing_names as _missing_names

    __getattr__ = _missing_names("tf.dtypes")
