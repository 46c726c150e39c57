"""Type aliases for code that calls tapegrad (TF's ``tf.types``).

``TensorLike`` is what every op accepts where it takes a tensor: a ``Tensor``,
a ``Variable`` (read), a Python scalar, a numpy array or scalar, or nested
lists/tuples of those. ``DTypeLike``, ``ShapeLike`` and ``AxisLike`` are the
``dtype=``, shape and ``axis=`` arguments.

>>> import tapegrad as tf
>>> from tapegrad.types import TensorLike
>>> def double(x: TensorLike) -> tf.Tensor:
...     return tf.multiply(x, 2.0)
>>> double([1.0, 2.0]).numpy().tolist()
[2.0, 4.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias, Union

import numpy as np
import numpy.typing as npt

from ._core import Tensor, Variable
from .dtypes import DType

__all__ = ["AxisLike", "DTypeLike", "ShapeLike", "TensorLike"]

# Union[...] rather than `|`: the recursive member is a string at run time.
TensorLike: TypeAlias = Union[  # noqa: UP007
    Tensor,
    Variable,
    bool,
    int,
    float,
    np.generic,
    npt.NDArray[Any],
    Sequence["TensorLike"],
]

DTypeLike: TypeAlias = Union[  # noqa: UP007
    DType,
    str,  # "float32", "double", …
    np.dtype[Any],
    type[np.generic],  # np.float32, …
    type[float],  # Python's bool, int and float, as numpy reads them
]

# An int, a sequence of ints (a ``TensorShape`` is one), or a 1-D int tensor.
ShapeLike: TypeAlias = Union[  # noqa: UP007
    int,
    Sequence[int],
    Tensor,
    Variable,
    npt.NDArray[np.integer[Any]],
]

# One axis or several, spelled like a shape; negative axes count from the end.
AxisLike: TypeAlias = ShapeLike
