"""``tf.py_function``: a Python function as an op."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

from . import _core, errors
from ._core import Tensor, Variable
from .dtypes import as_dtype
from .types import DTypeLike, TensorLike

__all__ = ["py_function"]


def _as_output(value: Any, dtype: DTypeLike, position: int) -> Tensor:
    expected = as_dtype(dtype)
    if isinstance(value, (Tensor, Variable)):
        if value.dtype != expected:
            raise errors.InvalidArgumentError(
                f"py_function: output {position} has dtype {value.dtype.name}, but Tout says "
                f"{expected.name}; cast it in the function or fix Tout"
            )
        return _core.identity(value)
    return _core.convert_to_tensor(value, dtype=expected)


def py_function(
    func: Callable[..., Any],
    inp: Sequence[TensorLike] | TensorLike,
    Tout: DTypeLike | Sequence[DTypeLike] | None,  # noqa: N803 - TF's name
    name: str | None = None,
) -> Any:
    """Run ``func`` on the tensors ``inp`` and return its outputs as tensors of
    the dtypes ``Tout`` (``tf.py_function``).

    ``func`` runs eagerly, so its ops are recorded by active tapes and the
    result is differentiable with respect to ``inp``, as in TF. ``Tout`` a
    single dtype gives one tensor; a list gives a list; ``None`` gives ``None``.

    >>> import numpy as np, tapegrad as tf
    >>> def numpy_sinh(x):
    ...     return np.sinh(x.numpy())
    >>> print(tf.py_function(numpy_sinh, [tf.constant([0.0, 1.0])], Tout=tf.float32))
    tapegrad.Tensor([0.        1.1752012], shape=(2,), dtype=float32)
    """
    from ._function import every_call  # late: _function imports the data package

    items = list(inp) if isinstance(inp, (list, tuple)) else [inp]
    args = [v if isinstance(v, (Tensor, Variable)) else _core.convert_to_tensor(v) for v in items]
    # inside tf.function func runs at every call, its outputs converted each time
    return every_call(lambda *values: _outputs(func(*values), Tout), args)


def _outputs(result: Any, Tout: Any) -> Any:  # noqa: N803 - TF's name
    if Tout is None:
        return None
    if isinstance(Tout, (list, tuple)):
        values = list(result) if isinstance(result, (list, tuple)) else [result]
        if len(values) != len(Tout):
            raise errors.InvalidArgumentError(
                f"py_function: the function returned {len(values)} values, Tout lists {len(Tout)}"
            )
        dtypes = cast(Sequence[DTypeLike], Tout)
        return [_as_output(v, d, i) for i, (v, d) in enumerate(zip(values, dtypes, strict=True))]
    return _as_output(result, cast(DTypeLike, Tout), 0)
