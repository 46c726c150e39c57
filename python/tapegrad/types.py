"""Type aliases for code that calls tapegrad (TF's ``tf.types``).

``TensorLike`` is what every op accepts where it takes a tensor: a ``Tensor``,
a ``Variable`` (read), a Python scalar, a numpy array or scalar, or nested
lists/tuples of those. ``DTypeLike``, ``ShapeLike`` and ``AxisLike`` are the
``dtype=``, shape and ``axis=`` arguments. ``UnaryOp`` and ``BinaryOp`` are the
types of the elementwise ops (``tf.exp``, ``tf.add``, ``tf.nn.relu``, …).

>>> import tapegrad as tf
>>> from tapegrad.types import TensorLike
>>> def double(x: TensorLike) -> tf.Tensor:
...     return tf.multiply(x, 2.0)
>>> double([1.0, 2.0]).numpy().tolist()
[2.0, 4.0]
"""

import typing as _typing
from collections.abc import Sequence as _Sequence

import numpy as _np
import numpy.typing as _npt

from ._core import Tensor as _Tensor
from ._core import Variable as _Variable
from .dtypes import DType as _DType

__all__ = ["AxisLike", "BinaryOp", "DTypeLike", "ShapeLike", "TensorLike", "UnaryOp"]

# The imports above are private (`_np`, …): `dir(tapegrad.types)` is its API.
# Union[...] rather than `|`: the recursive member is a string at run time.
TensorLike: _typing.TypeAlias = _typing.Union[  # noqa: UP007
    _Tensor,
    _Variable,
    bool,
    int,
    float,
    _np.generic,
    _npt.NDArray[_typing.Any],
    _Sequence["TensorLike"],
]

DTypeLike: _typing.TypeAlias = _typing.Union[  # noqa: UP007
    _DType,
    str,  # "float32", "double", …
    _np.dtype[_typing.Any],
    type[_np.generic],  # np.float32, …
    type[float],  # Python's bool, int and float, as numpy reads them
]

# An int, a sequence of ints (a ``TensorShape`` is one), or a 1-D int tensor.
ShapeLike: _typing.TypeAlias = _typing.Union[  # noqa: UP007
    int,
    _Sequence[int],
    _Tensor,
    _Variable,
    _npt.NDArray[_np.integer[_typing.Any]],
]

# One axis or several, spelled like a shape; negative axes count from the end.
AxisLike: _typing.TypeAlias = ShapeLike


class _RegistryOp(_typing.Protocol):
    """What every registry op reports about itself (``tapegrad._core.Op``)."""

    @property
    def __name__(self) -> str: ...
    @property
    def arity(self) -> int: ...
    @property
    def differentiable(self) -> bool: ...
    @property
    def domain(self) -> str: ...
    @property
    def dtypes(self) -> str: ...


class UnaryOp(_RegistryOp, _typing.Protocol):
    """An elementwise op of one tensor, ``op(x, *, name=None)``: ``tf.exp``, ``tf.nn.relu``, ….

    The operand is positional; ``name`` (TF's graph-mode label) is accepted
    by keyword and ignored.

    >>> import tapegrad as tf
    >>> from tapegrad.types import UnaryOp
    >>> activation: UnaryOp = tf.nn.relu
    >>> activation(tf.constant([-1.0, 2.0])).numpy().tolist(), activation.arity
    ([0.0, 2.0], 1)
    """

    def __call__(self, x: TensorLike, /, *, name: str | None = None) -> _Tensor: ...


class BinaryOp(_RegistryOp, _typing.Protocol):
    """An elementwise op of two broadcast tensors, ``op(x, y, *, name=None)``: ``tf.add``, ….

    >>> import tapegrad as tf
    >>> from tapegrad.types import BinaryOp
    >>> combine: BinaryOp = tf.maximum
    >>> combine(tf.constant([1, 5]), 3).numpy().tolist()
    [3, 5]
    """

    def __call__(self, x: TensorLike, y: TensorLike, /, *, name: str | None = None) -> _Tensor: ...
