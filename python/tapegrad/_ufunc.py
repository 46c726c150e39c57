"""numpy ufuncs and functions applied to tapegrad tensors.

Policy. A numpy ufunc that receives a ``Tensor`` or ``Variable``
(``np.sin(t)``, ``np.add(a, t)``, and every numpy operator with a tensor on
the right, ``a * t``, which numpy turns into ``np.multiply(a, t)``) is
answered in one of two ways:

* the ufunc has a tapegrad op: the call is the op (``np.sin(t)`` is
  ``tf.sin(t)``, ``np.subtract(a, t)`` is ``t.__rsub__(a)``), so it is
  recorded by active tapes and gradients flow, and the dtype rules are the
  operators' (a numpy operand adopts the tensor's dtype);
* it has none, or it is used in a way tapegrad cannot record (``reduce``,
  ``accumulate``, ``reduceat``, ``outer``, ``at``; ``out=``, ``where=``,
  ``dtype=`` and other keywords, so ``np.sum(t)`` and ``arr += t``): as in
  TF, the tensors are converted to arrays and numpy answers with arrays.

numpy's other functions (``np.mean(t, axis=0)``, ``np.concatenate([t, u])``)
also convert, as in TF (``array_function``). A conversion that may cut a
gradient, because a ``GradientTape`` is recording and the tensor is
floating, emits one :class:`NumpyConversionWarning` per call site. To leave
the tape on purpose and silently, convert first: ``np.arctan2(t.numpy(),
u.numpy())``. ``tapegrad.config.experimental.strict_numpy(True)`` turns
every implicit conversion into a ``TypeError`` instead. A ufunc whose inputs
are all numpy never reaches this module.

``UFUNC_OPS`` below is the single table of ufuncs that stay on the tape.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ._core import Tensor, Variable
from ._core import ops as _ops

__all__ = [
    "UFUNC_OPS",
    "NumpyConversionWarning",
    "array_function",
    "array_ufunc",
    "get_strict_numpy",
    "strict_numpy",
    "supported_ufuncs",
]


class NumpyConversionWarning(UserWarning):
    """A numpy call converted a tensor that a recording tape may need to an
    array: the result is off the tape, so no gradient flows through it.

    >>> import warnings, numpy as np, tapegrad as tf
    >>> x = tf.constant([1.0, 2.0])
    >>> with warnings.catch_warnings(record=True) as caught, tf.GradientTape() as tape:
    ...     warnings.simplefilter("always")
    ...     tape.watch(x)
    ...     total = np.sum(x)      # numpy answers, off the tape
    >>> caught[0].category.__name__
    'NumpyConversionWarning'
    """


_strict = False


def strict_numpy(enabled: bool = True) -> None:
    """Make numpy's implicit conversions of tensors raise ``TypeError``
    (``True``) or convert as TF does (``False``, the default).

    Implicit conversions are a ufunc without a tapegrad op or with a keyword
    or method tapegrad cannot record (``np.sum(t)``, ``np.add(a, t, out=a)``)
    and numpy functions (``np.mean(t)``). ``np.asarray(t)`` and ``t.numpy()``
    are explicit and always allowed.

    >>> import numpy as np, tapegrad as tf
    >>> tf.config.experimental.strict_numpy(True)
    >>> try:
    ...     np.sum(tf.constant([1.0, 2.0]))
    ... except TypeError as e:
    ...     print(str(e)[:38])
    numpy.sum is not supported on tapegrad
    >>> tf.config.experimental.strict_numpy(False)
    >>> print(np.sum(tf.constant([1.0, 2.0])))
    3.0
    """
    global _strict
    _strict = bool(enabled)


def get_strict_numpy() -> bool:
    """Whether numpy's implicit conversions of tensors raise (see ``strict_numpy``).

    >>> import tapegrad as tf
    >>> tf.config.experimental.get_strict_numpy()
    False
    """
    return _strict

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
        f"numpy.{name}{why} is not supported on tapegrad tensors in strict mode: numpy "
        f"would convert them to arrays and drop their gradients. Use {instead} instead, "
        "convert with .numpy() first to leave the tape on purpose, or turn strict mode off "
        "with tapegrad.config.experimental.strict_numpy(False)."
    )


_TENSOR_TYPES = (Tensor, Variable)
_HERE = os.path.dirname(os.path.abspath(__file__))
_NUMPY = os.path.dirname(os.path.abspath(np.__file__))


def _caller_stacklevel() -> int:
    """The ``stacklevel`` naming the first frame outside tapegrad and numpy:
    the user's line, whose warnings registry makes the warning once per site."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None:
        path = frame.f_code.co_filename
        if not (path.startswith(_HERE) or path.startswith(_NUMPY)):
            return level
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def _to_arrays(value: Any) -> Any:
    """``value`` with every tensor in it (also inside lists and tuples)
    replaced by its numpy array."""
    if isinstance(value, _TENSOR_TYPES):
        return np.asarray(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_to_arrays(v) for v in value)
    return value


def _tensors_in(value: Any) -> list[Any]:
    if isinstance(value, _TENSOR_TYPES):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors_in(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors_in(v)]
    return []


def _convert(what: str, tensors: list[Any], refuse: Callable[[], TypeError]) -> None:
    """Allow (warning if a gradient may be lost) or refuse an implicit conversion."""
    if _strict:
        raise refuse()
    if any(t._may_be_recorded() for t in tensors):
        warnings.warn(
            f"{what} converted a tapegrad tensor to a numpy array while a GradientTape is "
            "recording: the result is off the tape and no gradient flows through it. Use "
            "the tapegrad.math op instead, or call .numpy() to convert on purpose.",
            NumpyConversionWarning,
            stacklevel=_caller_stacklevel(),
        )


def array_ufunc(
    ufunc: np.ufunc, method: str, inputs: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """``Tensor.__array_ufunc__(ufunc, method, *inputs, **kwargs)``: run
    ``ufunc`` as the matching tapegrad op, or convert to arrays as TF does.

    >>> import numpy as np, tapegrad as tf
    >>> np.sin(tf.constant([0.0]))          # the same as tf.sin(...), on the tape
    <tapegrad.Tensor: shape=(1,), dtype=float32, numpy=array([0.], dtype=float32)>
    >>> np.add.reduce(tf.constant([1.0, 2.0]))   # no op for this: numpy answers
    np.float32(3.0)
    """
    out = kwargs.get("out")
    has_out = out is not None and any(o is not None for o in out)
    other_keywords = sorted(k for k in kwargs if k != "out")
    op = UFUNC_OPS.get(ufunc)
    if method == "__call__" and not has_out and not other_keywords and op is not None:
        return op(*inputs)
    if has_out and _tensors_in(out):
        raise TypeError(
            f"numpy.{ufunc.__name__} cannot write into a tapegrad tensor (out=): tensors are "
            "immutable; assign the result to a tapegrad.Variable instead."
        )
    why = " with out=" if has_out else ""
    if other_keywords:
        why = f" with {', '.join(f'{k}=' for k in other_keywords)}"
    name = ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}"
    _convert(f"numpy.{name}", _tensors_in(inputs), lambda: _refuse(ufunc, method, why))
    return getattr(ufunc, method)(*_to_arrays(inputs), **kwargs)


def array_function(
    func: Callable[..., Any], types: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """``Tensor.__array_function__``: a numpy function (``np.mean``,
    ``np.concatenate``, …) on tensors converts them to arrays, as in TF.

    >>> import numpy as np, tapegrad as tf
    >>> np.concatenate([tf.constant([1, 2]), np.array([3])])
    array([1, 2, 3])
    >>> np.mean(tf.constant([[1.0, 2.0], [3.0, 4.0]]), axis=0)
    array([2., 3.], dtype=float32)
    """
    name = f"numpy.{getattr(func, '__name__', 'function')}"

    def refuse() -> TypeError:
        return TypeError(
            f"{name} is not supported on tapegrad tensors in strict mode: numpy would "
            "convert them to arrays and drop their gradients. Use the tapegrad op, convert "
            "with .numpy() first, or turn strict mode off with "
            "tapegrad.config.experimental.strict_numpy(False)."
        )

    _convert(name, _tensors_in(args) + _tensors_in(kwargs), refuse)
    converted_kwargs = {k: _to_arrays(v) for k, v in kwargs.items()}
    return func(*_to_arrays(args), **converted_kwargs)
