"""tapegrad: TensorFlow 2's eager autodiff API on a Rust tape.

import tapegrad as tf

x = tf.constant([1.0, 2.0])
with tf.GradientTape() as tape:
    tape.watch(x)
    y = tf.reduce_sum(x * x)
tape.gradient(y, x)   # [2., 4.]
"""

import os as _os

from . import _core, dtypes, errors
from ._core import (
    Tensor,
    Variable,
    argmax,
    argmin,
    argsort,
    boolean_mask,
    broadcast_to,
    cast,
    clip_by_value,
    concat,
    constant,
    convert_to_tensor,
    cumsum,
    einsum,
    expand_dims,
    eye,
    fill,
    gather,
    gather_nd,
    identity,
    linspace,
    matmul,
    norm,
    one_hot,
    ones,
    ones_like,
    pad,
    rank,
    reduce_all,
    reduce_any,
    reduce_logsumexp,
    reduce_max,
    reduce_mean,
    reduce_min,
    reduce_prod,
    reduce_sum,
    reshape,
    reverse,
    shape,
    size,
    sort,
    split,
    squeeze,
    stack,
    stop_gradient,
    tensordot,
    tile,
    transpose,
    unstack,
    where,
    zeros,
    zeros_like,
)
from ._core import __version__ as __version__
from ._core import ops as _ops
from ._shape import TensorShape
from ._tape import GradientTape, UnconnectedGradients
from .dtypes import DType, as_dtype, bool, float32, float64, int32, int64  # noqa: A004
from .types import TensorLike

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
rsqrt = _ops["rsqrt"]
reciprocal = _ops["reciprocal"]
expm1 = _ops["expm1"]
log1p = _ops["log1p"]
tan = _ops["tan"]
asin = _ops["asin"]
acos = _ops["acos"]
atan = _ops["atan"]
sinh = _ops["sinh"]
cosh = _ops["cosh"]
erf = _ops["erf"]
floor = _ops["floor"]
ceil = _ops["ceil"]
round = _ops["round"]  # noqa: A001 - TF's name
sigmoid = _ops["sigmoid"]
logical_not = _ops["logical_not"]
squared_difference = _ops["squared_difference"]
logical_and = _ops["logical_and"]
logical_or = _ops["logical_or"]
floordiv = _ops["floordiv"]
floormod = _ops["floormod"]


def divide(x: TensorLike, y: TensorLike, name: str | None = None) -> Tensor:
    """``x / y`` elementwise (``tf.divide``); integer tensors divide as float64.

    >>> import tapegrad as tf
    >>> print(tf.divide(tf.constant([1, 3]), 2))
    tapegrad.Tensor([0.5 1.5], shape=(2,), dtype=float64)
    >>> print(tf.divide(tf.constant([1.0, 3.0]), tf.constant([4.0, 4.0])))
    tapegrad.Tensor([0.25 0.75], shape=(2,), dtype=float32)
    """
    x_tensor = (
        x
        if isinstance(x, (Tensor, Variable))
        else convert_to_tensor(x, dtype_hint=getattr(y, "dtype", None))
    )
    return x_tensor / y


truediv = divide

# rayon's thread pool does not survive fork(): a forked child runs kernels serially
_os.register_at_fork(after_in_child=_core._after_fork_in_child)

# namespaces last: they re-export the names above
# -- issue 15: TF's everyday namespace (one block; see docs/compat.md) --------
from typing import TYPE_CHECKING as _TYPE_CHECKING  # noqa: E402

from . import (  # noqa: E402  # noqa: E402
    autodiff,
    config,
    debugging,
    distribute,
    experimental,
    image,
    linalg,
    math,
    nest,
    nn,
    optimizers,
    random,
    test,
    types,
)
from ._array_ops import (  # noqa: E402
    add_n,
    clip_by_global_norm,
    clip_by_norm,
    executing_eagerly,
    is_tensor,
    meshgrid,
    newaxis,
    repeat,
)
from ._array_ops import range as range  # noqa: E402, A004 - TF's name
from ._compat import missing_names as _missing_names  # noqa: E402
from ._custom import custom_gradient, recompute_grad  # noqa: E402
from ._device import device  # noqa: E402
from ._print import print_ as print  # noqa: E402, A004 - TF's name
from ._pyfunc import py_function  # noqa: E402
from .random import random_normal_initializer, random_uniform_initializer  # noqa: E402

if not _TYPE_CHECKING:
    __getattr__ = _missing_names("tf")
# -- end of issue 15's block ---------------------------------------------------

__all__ = [
    "add_n",
    "clip_by_global_norm",
    "clip_by_norm",
    "config",
    "debugging",
    "device",
    "distribute",
    "executing_eagerly",
    "image",
    "is_tensor",
    "meshgrid",
    "nest",
    "newaxis",
    "print",
    "py_function",
    "random_normal_initializer",
    "random_uniform_initializer",
    "repeat",
    "test",
    "DType",
    "GradientTape",
    "acos",
    "argmax",
    "argmin",
    "argsort",
    "asin",
    "atan",
    "boolean_mask",
    "ceil",
    "clip_by_value",
    "concat",
    "cosh",
    "cumsum",
    "einsum",
    "erf",
    "expand_dims",
    "expm1",
    "eye",
    "fill",
    "floor",
    "floordiv",
    "floormod",
    "gather",
    "gather_nd",
    "linspace",
    "log1p",
    "logical_and",
    "logical_not",
    "logical_or",
    "one_hot",
    "ones_like",
    "pad",
    "range",
    "rank",
    "reciprocal",
    "reduce_all",
    "reduce_any",
    "reduce_logsumexp",
    "reduce_max",
    "reduce_min",
    "reduce_prod",
    "reverse",
    "round",
    "rsqrt",
    "shape",
    "sigmoid",
    "sinh",
    "size",
    "sort",
    "split",
    "squared_difference",
    "squeeze",
    "stack",
    "tan",
    "tensordot",
    "tile",
    "unstack",
    "zeros_like",
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
    "experimental",
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
    "optimizers",
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
    "types",
    "where",
    "zeros",
]
