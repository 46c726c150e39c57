"""``tf.experimental.dlpack``: exchange tensors with other libraries via DLPack.

Tensors are DLPack producers themselves: ``np.from_dlpack(t)``,
``torch.from_dlpack(t)`` and ``jax.dlpack.from_dlpack(t)`` get a private
copy of a tensor, as does ``to_dlpack``: a consumer can never write into a
tensor, a tape's saved values or a Variable (torch ignores DLPack's
read-only flag). A DLPack >= 1.0 consumer that asks for ``copy=False``
shares the memory, marked read-only. Only CPU memory is exchanged.

>>> import numpy as np, tapegrad as tf
>>> t = tf.constant([1.0, 2.0])
>>> a = np.from_dlpack(t)                     # a private, writable copy
>>> b = np.from_dlpack(t, copy=False)         # shares t's memory, read-only
>>> from_dlpack(np.arange(3)).dtype           # copies into a tapegrad tensor
tapegrad.int64
"""

# the imports are private (`_np`, …): `dir()` of this module is its API
import typing as _typing

import numpy as _np

from .._core import Tensor as _Tensor
from .._core import Variable as _Variable
from .._core import convert_to_tensor as _convert_to_tensor

__all__ = ["from_dlpack", "to_dlpack"]

# the element types a tapegrad tensor can hold
_DTYPES = frozenset(_np.dtype(d) for d in ("float32", "float64", "int32", "int64", "bool"))


class _Capsule:
    """A bare DLPack capsule dressed as a producer, so numpy can consume it."""

    __slots__ = ("_capsule",)

    def __init__(self, capsule: object) -> None:
        self._capsule = capsule

    def __dlpack__(self, **kwargs: _typing.Any) -> object:
        # the capsule is what it is: numpy reads its version and device from it
        return self._capsule

    def __dlpack_device__(self) -> tuple[int, int]:
        return (1, 0)


def _is_capsule(obj: object) -> bool:
    return type(obj).__name__ == "PyCapsule"


def from_dlpack(dlcapsule: _typing.Any) -> _Tensor:
    """A tensor with the contents of a DLPack producer or capsule.

    ``dlcapsule`` is an object with ``__dlpack__`` (a numpy array, a torch or
    JAX CPU array, a tapegrad tensor) or a capsule from ``to_dlpack`` or a
    library's own ``to_dlpack``. The values are **copied** into tapegrad's
    storage (tensors own their memory), so later writes to the producer do
    not change the tensor. dtypes float32, float64, int32, int64 and bool
    are kept; others raise ``TypeError``; non-CPU memory raises
    ``BufferError``.

    >>> import numpy as np
    >>> from_dlpack(np.array([[1.5, 2.5]]))
    <tapegrad.Tensor: shape=(1, 2), dtype=float64, numpy=array([[1.5, 2.5]])>
    """
    if _is_capsule(dlcapsule):
        producer: _typing.Any = _Capsule(dlcapsule)
    elif hasattr(dlcapsule, "__dlpack__"):
        producer = dlcapsule
    else:
        raise TypeError(
            "from_dlpack expects a DLPack capsule or an object with __dlpack__, got "
            f"{type(dlcapsule).__name__}"
        )
    array = _np.from_dlpack(producer)
    if array.dtype not in _DTYPES:
        raise TypeError(
            f"from_dlpack: unsupported dtype {array.dtype} (shape {array.shape}); tapegrad "
            "tensors hold float32, float64, int32, int64 or bool"
        )
    return _convert_to_tensor(array)


def to_dlpack(tf_tensor: _Tensor | _Variable) -> object:
    """A legacy DLPack capsule (``"dltensor"``) holding a copy of the tensor.

    For capsule-based consumers such as ``torch.utils.dlpack.from_dlpack``;
    the capsule can be consumed once. It holds a copy because the legacy
    capsule cannot mark memory read-only; to share memory instead, pass the
    tensor itself to a DLPack >= 1.0 consumer with ``copy=False``
    (``np.from_dlpack(t, copy=False)``).

    >>> import numpy as np, tapegrad as tf
    >>> capsule = to_dlpack(tf.constant([1, 2]))
    >>> from_dlpack(capsule)
    <tapegrad.Tensor: shape=(2,), dtype=int32, numpy=array([1, 2], dtype=int32)>
    """
    if not isinstance(tf_tensor, (_Tensor, _Variable)):
        raise TypeError(
            f"to_dlpack expects a tapegrad Tensor or Variable, got {type(tf_tensor).__name__}"
        )
    return tf_tensor.__dlpack__()
