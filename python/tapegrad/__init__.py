"""tapegrad: TensorFlow 2's eager autodiff API on a Rust tape.

import tapegrad as tf

x = tf.constant([1.0, 2.0])
with tf.GradientTape() as tape:
    tape.watch(x)
    y = tf.reduce_sum(x * x)
tape.gradient(y, x)   # [2., 4.]
"""

from . import dtypes, errors
from ._core import (
    Tensor,
    Variable,
    broadcast_to,
    cast,
    constant,
    convert_to_tensor,
    identity,
    matmul,
    norm,
    ones,
    reduce_mean,
    reduce_sum,
    reshape,
    stop_gradient,
    transpose,
    where,
    zeros,
)
from ._core import __version__ as __version__
from ._core import ops as _ops
from ._shape import TensorShape
from ._tape import GradientTape, UnconnectedGradients
from .dtypes import DType, as_dtype, bool, float32, float64, int32, int64  # noqa: A004

add = _ops["add"]
subtract = _ops["subtract"]
multiply = _ops["multiply"]
pow = _ops["pow"]  # noqa: A001 - TF's name
maximum = _ops["maximum"]
minimum = _ops["minimum"]
negative = _ops["negative"]
abs = _ops["abs"]  # noqa: A001 - TF's name
sign = _ops["sign"]
square = _ops["square"]
exp = _ops["exp"]
log = _ops["log"]
sin = _ops["sin"]
cos = _ops["cos"]
tanh = _ops["tanh"]
sqrt = _ops["sqrt"]
equal = _ops["equal"]
not_equal = _ops["not_equal"]
less = _ops["less"]
less_equal = _ops["less_equal"]
greater = _ops["greater"]
greater_equal = _ops["greater_equal"]


def divide(x: object, y: object, name: object = None) -> Tensor:
    """``x / y`` elementwise (``tf.divide``); integer tensors divide as float64."""
    x = (
        x
        if isinstance(x, (Tensor, Variable))
        else convert_to_tensor(x, dtype_hint=getattr(y, "dtype", None))
    )
    return x / y  # type: ignore[operator]


truediv = divide

# namespaces last: they re-export the names above
from . import autodiff, linalg, math, nn, random  # noqa: E402
from ._custom import custom_gradient, recompute_grad  # noqa: E402

__all__ = [
    "DType",
    "GradientTape",
    "Tensor",
    "TensorShape",
    "UnconnectedGradients",
    "Variable",
    "abs",
    "autodiff",
    "custom_gradient",
    "recompute_grad",
    "add",
    "as_dtype",
    "bool",
    "broadcast_to",
    "cast",
    "constant",
    "convert_to_tensor",
    "cos",
    "divide",
    "dtypes",
    "equal",
    "errors",
    "exp",
    "float32",
    "float64",
    "greater",
    "greater_equal",
    "identity",
    "int32",
    "int64",
    "less",
    "less_equal",
    "linalg",
    "log",
    "math",
    "matmul",
    "maximum",
    "minimum",
    "multiply",
    "negative",
    "nn",
    "norm",
    "not_equal",
    "ones",
    "pow",
    "random",
    "reduce_mean",
    "reduce_sum",
    "reshape",
    "sign",
    "sin",
    "sqrt",
    "square",
    "stop_gradient",
    "subtract",
    "tanh",
    "transpose",
    "truediv",
    "where",
    "zeros",
]
