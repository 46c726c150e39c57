"""``tf.math``: elementwise math and reductions."""

from . import (
    abs,
    add,
    cos,
    divide,
    equal,
    exp,
    greater,
    greater_equal,
    less,
    less_equal,
    log,
    maximum,
    minimum,
    multiply,
    negative,
    not_equal,
    pow,
    reduce_mean,
    reduce_sum,
    sign,
    sin,
    sqrt,
    square,
    subtract,
    tanh,
    truediv,
)

__all__ = [
    "abs", "add", "cos", "divide", "equal", "exp", "greater", "greater_equal", "less",
    "less_equal", "log", "maximum", "minimum", "multiply", "negative", "not_equal", "pow",
    "reduce_mean", "reduce_sum", "sign", "sin", "sqrt", "square", "subtract", "tanh", "truediv",
]
