"""``tf.math``: elementwise math and reductions."""

from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import NamedTuple

from . import (
    abs,
    acos,
    add,
    argmax,
    argmin,
    asin,
    atan,
    ceil,
    cos,
    cosh,
    cumsum,
    divide,
    equal,
    erf,
    exp,
    expm1,
    floor,
    floordiv,
    floormod,
    greater,
    greater_equal,
    less,
    less_equal,
    log,
    log1p,
    logical_and,
    logical_not,
    logical_or,
    maximum,
    minimum,
    multiply,
    negative,
    not_equal,
    pow,
    reciprocal,
    reduce_all,
    reduce_any,
    reduce_logsumexp,
    reduce_max,
    reduce_mean,
    reduce_min,
    reduce_prod,
    reduce_sum,
    round,
    rsqrt,
    sigmoid,
    sign,
    sin,
    sinh,
    sqrt,
    square,
    squared_difference,
    subtract,
    tan,
    tanh,
    truediv,
)
from ._array_ops import add_n
from ._core import (
    Tensor,
    count_nonzero,
    cumprod,
    reduce_euclidean_norm,
    reduce_std,
    reduce_variance,
)
from ._core import ops as _ops
from ._core import top_k as _top_k
from .types import DTypeLike, TensorLike

asinh = _ops["asinh"]
atanh = _ops["atanh"]
log_sigmoid = _ops["log_sigmoid"]
softsign = _ops["softsign"]
is_finite = _ops["is_finite"]
is_inf = _ops["is_inf"]
is_nan = _ops["is_nan"]
mod = floormod


class TopKV2(NamedTuple):
    """What ``top_k`` returns: the ``values`` and their ``indices``, TF's ``TopKV2``.

    >>> import tapegrad as tf
    >>> tf.math.top_k(tf.constant([2, 9, 4]), k=1).indices.numpy()
    array([1], dtype=int32)
    """

    values: Tensor
    indices: Tensor


def top_k(
    input: TensorLike,  # noqa: A002 - TF's name
    k: int = 1,
    sorted: bool = True,  # noqa: A002 - TF's name
    index_type: DTypeLike | None = None,
    name: str | None = None,
) -> TopKV2:
    """The ``k`` largest entries of the last axis and their indices
    (``tf.math.top_k``), as a ``TopKV2(values, indices)`` named tuple; ties
    keep the lower index first.

    >>> import tapegrad as tf
    >>> result = tf.math.top_k(tf.constant([1.0, 3.0, 2.0]), k=2)
    >>> print(result.values)
    tapegrad.Tensor([3. 2.], shape=(2,), dtype=float32)
    >>> print(result.indices)
    tapegrad.Tensor([1 2], shape=(2,), dtype=int32)
    >>> values, indices = result
    """
    values, indices = _top_k(input, k=k, sorted=sorted, index_type=index_type, name=name)
    return TopKV2(values, indices)
softplus = _ops["softplus"]

__all__ = [
    "abs",
    "acos",
    "add",
    "add_n",
    "argmax",
    "argmin",
    "asin",
    "asinh",
    "atan",
    "atanh",
    "ceil",
    "cos",
    "cosh",
    "count_nonzero",
    "cumprod",
    "cumsum",
    "divide",
    "equal",
    "erf",
    "exp",
    "expm1",
    "floor",
    "floordiv",
    "floormod",
    "greater",
    "greater_equal",
    "is_finite",
    "is_inf",
    "is_nan",
    "less",
    "less_equal",
    "log",
    "log1p",
    "log_sigmoid",
    "logical_and",
    "logical_not",
    "logical_or",
    "maximum",
    "minimum",
    "mod",
    "multiply",
    "negative",
    "not_equal",
    "pow",
    "reciprocal",
    "reduce_all",
    "reduce_any",
    "reduce_euclidean_norm",
    "reduce_logsumexp",
    "reduce_max",
    "reduce_mean",
    "reduce_min",
    "reduce_prod",
    "reduce_std",
    "reduce_sum",
    "reduce_variance",
    "round",
    "rsqrt",
    "sigmoid",
    "sign",
    "sin",
    "sinh",
    "softplus",
    "softsign",
    "sqrt",
    "square",
    "squared_difference",
    "subtract",
    "tan",
    "tanh",
    "top_k",
    "TopKV2",
    "truediv",
]


if not _TYPE_CHECKING:
    from ._compat import missing_names as _missing_names

    __getattr__ = _missing_names("tf.math")
