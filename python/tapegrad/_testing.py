"""The implementation behind ``tapegrad.test`` (see its docstring)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import _core
from ._core import Tensor, Variable
from ._tape import GradientTape
from .types import TensorLike

# TF's default perturbation: a power of two, so x ± delta is exact for moderate x
_DEFAULT_DELTA = 1.0 / 1024


def _as_tensor(x: TensorLike) -> Tensor:
    if isinstance(x, Variable):
        return _core.identity(x)
    return x if isinstance(x, Tensor) else _core.convert_to_tensor(x)


def _output(f: Callable[..., Any], xs: list[Tensor]) -> Tensor:
    y = f(*xs)
    return y if isinstance(y, Tensor) else _core.convert_to_tensor(y)


def compute_gradient(
    f: Callable[..., Any], x: Sequence[TensorLike], delta: float | None = None
) -> tuple[tuple[np.ndarray[Any, Any], ...], tuple[np.ndarray[Any, Any], ...]]:
    """The theoretical (from the tape) and numerical (central differences)
    jacobians of ``f(*x)`` with respect to each ``x[i]`` (``tf.test.compute_gradient``).

    Returns ``(theoretical, numerical)``, two tuples holding one 2-D numpy
    array per argument, of shape ``(size of f(*x), size of x[i])``: row
    ``r``, column ``c`` is d y.flat[r] / d x[i].flat[c]. The numerical one is
    ``(f(x + delta) - f(x - delta)) / (2 delta)`` with ``delta = 1/1024``
    unless given. Compare them with ``np.testing.assert_allclose``.

    >>> import numpy as np, tapegrad as tf
    >>> theoretical, numerical = tf.test.compute_gradient(tf.sin, [tf.constant([0.5], tf.float64)])
    >>> theoretical[0]
    array([[0.87758256]])
    >>> np.allclose(theoretical[0], numerical[0], atol=1e-6)
    True
    """
    if isinstance(x, (Tensor, Variable)) or not isinstance(x, (list, tuple)):
        raise ValueError(f"`x` must be a list or tuple of tensors, got {type(x).__name__}")
    step = _DEFAULT_DELTA if delta is None else float(delta)
    xs = [_as_tensor(v) for v in x]
    for v in xs:
        if not v.dtype.is_floating:
            raise TypeError(
                f"compute_gradient: every x must be a float tensor, got dtype {v.dtype.name}"
            )
    with GradientTape(persistent=True) as tape:
        for v in xs:
            tape.watch(v)
        y = _output(f, xs)
    y_size = int(np.prod(y.shape))
    theoretical = []
    for v in xs:
        jacobian = tape.jacobian(y, v, unconnected_gradients="zero")
        x_size = int(np.prod(v.shape))
        theoretical.append(
            np.asarray(jacobian, dtype=v.dtype.as_numpy_dtype).reshape(y_size, x_size)
        )
    del tape
    numerical = []
    y_kind = y.dtype.as_numpy_dtype
    for i, v in enumerate(xs):
        base = np.array(v)  # a writable copy
        flat = base.reshape(-1)
        jacobian = np.zeros((y_size, flat.size), dtype=y_kind)
        for column in range(flat.size):
            original = flat[column]
            values = []
            for sign in (1.0, -1.0):
                flat[column] = original + sign * step
                args = list(xs)
                args[i] = _core.constant(base, dtype=v.dtype)
                values.append(np.asarray(_output(f, args), dtype=y_kind).reshape(-1))
            flat[column] = original
            jacobian[:, column] = (values[0] - values[1]) / y_kind(2 * step)
        numerical.append(jacobian)
    return tuple(theoretical), tuple(numerical)


def is_gpu_available(cuda_only: bool = False, min_cuda_compute_capability: object = None) -> bool:
    """Whether a GPU can run ops: never, in tapegrad (it computes on the CPU).

    >>> import tapegrad as tf
    >>> tf.test.is_gpu_available()
    False
    """
    return False


def is_built_with_cuda() -> bool:
    """Whether tapegrad was built with CUDA: no.

    >>> import tapegrad as tf
    >>> tf.test.is_built_with_cuda()
    False
    """
    return False


def gpu_device_name() -> str:
    """The name of a GPU device, or ``""`` when there is none (always, here).

    >>> import tapegrad as tf
    >>> tf.test.gpu_device_name()
    ''
    """
    return ""

