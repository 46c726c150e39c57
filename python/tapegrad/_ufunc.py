"""numpy ufuncs applied to tapegrad tensors: stay on the tape, or refuse.

Policy. A numpy ufunc that receives a ``Tensor`` or ``Variable``
(``np.sin(t)``, ``np.add(a, t)``, and every numpy operator with a tensor on
the right, ``a * t``, which numpy turns into ``np.multiply(a, t)``) is
answered in one of two ways, never a third:

* the ufunc has a tapegrad op: the call is the op (``np.sin(t)`` is
  ``tf.sin(t)``, ``np.subtract(a, t)`` is ``t.__rsub__(a)``), so it is
  recorded by active tapes and gradients flow, and the dtype rules are the
  operators' (a numpy operand adopts the tensor's dtype);
* it has none, or it is used in a way tapegrad cannot record (``reduce``,
  ``accumulate``, ``reduceat``, ``outer``, ``at``; ``out=``, ``where=``,
  ``dtype=`` and other keywords): ``TypeError`` naming the ufunc and pointing
  at ``tapegrad.math``.

What never happens is the numpy default: converting the tensors to arrays and
returning an ``ndarray``, which would silently cut the gradient. To leave the
tape on purpose, convert first: ``np.arctan2(t.numpy(), u.numpy())``.
A ufunc whose inputs are all numpy never reaches this module.

``UFUNC_OPS`` below is the single table of supported ufuncs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ._core import Tensor, Variable
from ._core import ops as _ops

__all__ = ["UFUNC_OPS", "array_ufunc", "supported_ufuncs"]

# A binary ufunc whose operator exists on tensors is answered by that operator,
# called on the tensor operand: (method when the tensor is first, method when
# it is second). `np.less(a, t)` is `t > a`, so comparisons swap.
_OPERATORS: dict[np.ufunc, tuple[str, str]] = {
    np.add: ("__add__", "__radd__"),
    np.subtract: ("__sub__", "__rsub__"),
    np.multiply: ("__mul__", "__rmul__"),
    np.true_divide: ("__truediv__", "__rtruediv__"),
    np.floor_divide: ("__floordiv__", "__rfloordiv__"),
    np.remainder: ("__mod__", "__rmod__"),
    np.power: ("__pow__", "__rpow__"),
    np.matmul: ("__matmul__", "__rmatmul__"),
    np.less: ("__lt__", "__gt__"),
    np.less_equal: ("__le__", "__ge__"),
    np.greater: ("__gt__", "__lt__"),
    np.greater_equal: ("__ge__", "__le__"),
    np.equal: ("__eq__", "__eq__"),
    np.not_equal: ("__ne__", "__ne__"),
    # `a & t` and `a | t` reach us as the bitwise ufuncs; tensors' `&`/`|`
    # are logical (bool tensors only), as TF's
    np.bitwise_and: ("__and__", "__rand__"),
    np.bitwise_or: ("__or__", "__ror__"),
}

# Ufuncs answered by an op of the same meaning (numpy name -> tapegrad name).
_OPS: dict[np.ufunc, str] = {
    np.negative: "negative",
    np.absolute: "abs",
    np.fabs: "abs",
    np.sign: "sign",
    np.square: "square",
    np.sqrt: "sqrt",
    np.reciprocal: "reciprocal",
    np.exp: "exp",
    np.expm1: "expm1",
    np.log: "log",
    np.log1p: "log1p",
    np.sin: "sin",
    np.cos: "cos",
    np.tan: "tan",
    np.arcsin: "asin",
    np.arccos: "acos",
    np.arctan: "atan",
    np.sinh: "sinh",
    np.cosh: "cosh",
    np.tanh: "tanh",
    np.arcsinh: "asinh",
    np.arctanh: "atanh",
    np.floor: "floor",
    np.ceil: "ceil",
    # numpy's rint and TF's round both round half to even
    np.rint: "round",
    np.isfinite: "is_finite",
    np.isinf: "is_inf",
    np.isnan: "is_nan",
    np.logical_not: "logical_not",
    np.logical_and: "logical_and",
    np.logical_or: "logical_or",
    np.maximum: "maximum",
    np.minimum: "minimum",
}


def _positive(x: Any) -> Any:
    return +x


def _invert(x: Any) -> Any:
    return ~x


def _operator(forward: str, reflected: str) -> Callable[..., Any]:
    def apply(x: Any, y: Any) -> Any:
        if isinstance(x, (Tensor, Variable)):
            return getattr(x, forward)(y)
        return getattr(y, reflected)(x)

    apply.__name__ = forward.strip("_")
    return apply


#: Every supported ufunc and the tapegrad callable that computes it.
UFUNC_OPS: Mapping[np.ufunc, Callable[..., Any]] = {
    **{u: _operator(fwd, refl) for u, (fwd, refl) in _OPERATORS.items()},
    **{u: _ops[name] for u, name in _OPS.items()},
    np.positive: _positive,
    # `~a` for a bool array is np.invert; on tensors it is logical_not
    np.invert: _invert,
}


def supported_ufuncs() -> list[str]:
    """The names of the numpy ufuncs that tapegrad tensors answer with an op.

    >>> "sin" in supported_ufuncs()
    True
    """
    return sorted(u.__name__ for u in UFUNC_OPS)


# what to call instead of the ufunc methods tapegrad cannot record
_METHOD_HINTS: dict[tuple[np.ufunc, str], str] = {
    (np.add, "reduce"): "reduce_sum",
    (np.multiply, "reduce"): "reduce_prod",
    (np.maximum, "reduce"): "reduce_max",
    (np.minimum, "reduce"): "reduce_min",
    (np.logical_and, "reduce"): "reduce_all",
    (np.logical_or, "reduce"): "reduce_any",
    (np.add, "accumulate"): "cumsum",
    (np.multiply, "accumulate"): "cumprod",
}


def _refuse(ufunc: np.ufunc, method: str, why: str = "") -> TypeError:
    name = ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}"
    hint = _METHOD_HINTS.get((ufunc, method))
    instead = f"tapegrad.math.{hint}" if hint else "the tapegrad.math functions"
    return TypeError(
        f"numpy.{name}{why} is not supported on tapegrad tensors: numpy would convert them "
        f"to arrays and silently drop their gradients. Use {instead} instead, or convert "
        "with .numpy() first to leave the tape on purpose."
    )


def array_ufunc(
    ufunc: np.ufunc, method: str, inputs: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """``Tensor.__array_ufunc__(ufunc, method, *inputs, **kwargs)``: run
    ``ufunc`` as the matching tapegrad op, or raise ``TypeError``.

    >>> import numpy as np, tapegrad as tf
    >>> np.sin(tf.constant([0.0]))          # the same as tf.sin(...), on the tape
    <tapegrad.Tensor: shape=(1,), dtype=float32, numpy=array([0.], dtype=float32)>
    """
    if method != "__call__":
        raise _refuse(ufunc, method)
    # numpy passes only the keywords the caller wrote; `out=None` is harmless
    kwargs = dict(kwargs)
    out = kwargs.pop("out", None)
    if out is not None and any(o is not None for o in out):
        raise _refuse(ufunc, method, " with out=")
    if kwargs:
        raise _refuse(ufunc, method, f" with {', '.join(f'{k}=' for k in sorted(kwargs))}")
    op = UFUNC_OPS.get(ufunc)
    if op is None:
        raise _refuse(ufunc, method)
    return op(*inputs)
