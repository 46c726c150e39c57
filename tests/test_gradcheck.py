"""Registry-driven checks of every regular op: forward values against numpy,
first- and second-order gradients against float64 central differences."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tapegrad as tf
from _helpers import check_vjp, const, op_rng, projected_grad, sample_smooth_float
from tapegrad._core import ops as OPS

# Every registry op must appear here: an op without a numpy reference fails
# its test case below instead of being skipped silently.
NUMPY = {
    "add": np.add,
    "subtract": np.subtract,
    "multiply": np.multiply,
    "divide": np.divide,
    "pow": np.power,
    "maximum": np.maximum,
    "minimum": np.minimum,
    "negative": np.negative,
    "abs": np.abs,
    "sign": np.sign,
    "square": np.square,
    "exp": np.exp,
    "log": np.log,
    "sin": np.sin,
    "cos": np.cos,
    "tanh": np.tanh,
    "sqrt": np.sqrt,
    "equal": np.equal,
    "not_equal": np.not_equal,
    "less": np.less,
    "less_equal": np.less_equal,
    "greater": np.greater,
    "greater_equal": np.greater_equal,
    "rsqrt": lambda x: 1 / np.sqrt(x),
    "reciprocal": np.reciprocal,
    "expm1": np.expm1,
    "log1p": np.log1p,
    "tan": np.tan,
    "asin": np.arcsin,
    "acos": np.arccos,
    "atan": np.arctan,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "erf": lambda x: _elementwise(math.erf, x),
    "floor": np.floor,
    "ceil": np.ceil,
    "round": np.round,  # half to even, as TF
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "tanh_grad": lambda y, g: g * (1 - y * y),
    "sigmoid_grad": lambda y, g: g * y * (1 - y),
    "relu": lambda x: np.maximum(x, 0).astype(x.dtype),
    "relu6": lambda x: np.clip(x, 0, 6).astype(x.dtype),
    "elu": lambda x: np.where(x > 0, x, np.expm1(x)).astype(x.dtype),
    "selu": lambda x: (SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(x))).astype(x.dtype),
    "softplus": lambda x: np.logaddexp(x, 0),
    "gelu": lambda x: (0.5 * x * (1 + _elementwise(math.erf, x / np.sqrt(2)))).astype(x.dtype),
    "asinh": np.arcsinh,
    "acosh": np.arccosh,
    "atanh": np.arctanh,
    "softsign": lambda x: x / (1 + np.abs(x)),
    "silu": lambda x: x / (1 + np.exp(-x)),
    "log_sigmoid": lambda x: -np.logaddexp(0, -x),
    "logical_not": np.logical_not,
    "is_finite": np.isfinite,
    "is_inf": np.isinf,
    "is_nan": np.isnan,
    "squared_difference": lambda a, b: np.square(a - b),
    "logical_and": np.logical_and,
    "logical_or": np.logical_or,
    "floordiv": np.floor_divide,
    "floormod": np.mod,
}

SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805


def _elementwise(f, x: np.ndarray) -> np.ndarray:
    """``f`` (a float function of the math module) over an array, in its dtype."""
    x = np.asarray(x)
    return np.asarray(np.vectorize(f, otypes=[np.float64])(x), dtype=x.dtype).reshape(x.shape)


UNARY_SHAPES = [(), (1,), (5,), (2, 3), (1, 1, 1), (0,), (3, 0)]
BINARY_SHAPES = [
    ((), ()),
    ((4,), (4,)),
    ((2, 3), (2, 3)),
    ((3, 1), (1, 4)),
    ((), (2, 3)),
    ((2, 3), ()),
    ((4,), (3, 1)),
    ((1,), (3,)),
    ((1, 1), (1, 1)),
    ((0,), (0,)),
    ((0,), (1,)),
    ((2, 0), (1, 0)),
]

DTYPES = {
    "float": ["float64", "float32"],
    "numeric": ["float64", "float32", "int32", "int64"],
    "any": ["float64", "float32", "int32", "int64", "bool"],
    "bool": ["bool"],
}

def _cases():
    for name in sorted(OPS):
        shapes = UNARY_SHAPES if OPS[name].arity == 1 else BINARY_SHAPES
        for s in shapes:
            yield pytest.param(name, s if OPS[name].arity == 2 else (s,), id=f"{name}-{s}")


def _sample(name: str, shapes: tuple, dtype: str, rng: np.random.Generator) -> list[np.ndarray]:
    if dtype == "bool":
        return [np.asarray(rng.integers(0, 2, s), dtype=bool) for s in shapes]
    if dtype.startswith("int"):
        if name == "pow":  # integer tensors refuse negative exponents
            return [np.asarray(rng.integers(0, 4, s), dtype=dtype) for s in shapes]
        if name in ("floordiv", "floormod"):  # integer division by zero is an error
            a = np.asarray(rng.integers(-7, 8, shapes[0]), dtype=dtype)
            b = rng.integers(1, 4, shapes[1]) * rng.choice([-1, 1], shapes[1])
            return [a, np.asarray(b, dtype=dtype)]
        return [np.asarray(rng.integers(-5, 6, s), dtype=dtype) for s in shapes]
    return [np.asarray(x, dtype=dtype) for x in sample_smooth_float(name, shapes, rng)]


def _check_forward(name: str, shapes: tuple, dtype: str, rng: np.random.Generator) -> None:
    xs = _sample(name, shapes, dtype, rng)
    expected = np.asarray(NUMPY[name](*xs))
    out = OPS[name](*[const(x) for x in xs])
    assert isinstance(out, tf.Tensor)
    assert out.dtype == tf.as_dtype(expected.dtype), (dtype, out.dtype, expected.dtype)
    assert tuple(out.shape) == expected.shape
    got = out.numpy()
    assert got.dtype == expected.dtype
    if dtype.startswith("float"):
        rtol = 1e-12 if dtype == "float64" else 2e-6
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=0, err_msg=dtype)
    else:
        np.testing.assert_array_equal(got, expected, err_msg=dtype)


@pytest.mark.parametrize(("name", "shapes"), list(_cases()))
def test_op(name: str, shapes: tuple) -> None:
    op = OPS[name]
    if name not in NUMPY:
        pytest.fail(f"registry op {name!r} has no numpy reference in NUMPY: add one")
    assert op.arity == len(shapes)
    assert op.domain in ("real", "positive", "unit", "above_one")
    assert op.dtypes in DTYPES
    rng = op_rng(name, shapes)

    # forward, in every dtype the op accepts
    for dtype in DTYPES[op.dtypes]:
        _check_forward(name, shapes, dtype, rng)
    if op.dtypes in ("float", "bool"):
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"\w"):
            op(*[const(np.ones(s, np.int32)) for s in shapes])
    if op.dtypes == "bool":  # logical ops: no float inputs, no gradients
        return

    xs = [np.asarray(x, dtype=np.float64) for x in sample_smooth_float(name, shapes, rng)]
    if not op.differentiable:
        sources = [const(x) for x in xs]
        with tf.GradientTape() as tape:
            tape.watch(sources)
            y = op(*sources)
        assert tape.gradient(y, sources) == [None] * len(xs)
        return

    # first order
    check_vjp(op, xs)
    # second order: the gradient of a (randomly projected) gradient, via nested tapes
    check_vjp(projected_grad(op, xs), xs, unconnected="zero")
