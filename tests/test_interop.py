"""numpy / DLPack / pickle interop of Tensor and Variable.

Covers numpy 2's ``__array__`` (zero-copy read-only views), numpy arrays on
either side of every operator, ``__array_ufunc__`` (every supported ufunc
keeps the gradient; every other use converts to numpy as TF does, warning when a tape
is recording, or raises in strict mode), ``__array_function__``, DLPack export and import with
their lifetimes, pickling and copying, and ``ref()``.
"""

from __future__ import annotations

import copy
import gc
import importlib.util
import operator
import pickle
import subprocess
import sys
import tracemalloc
import weakref

import numpy as np
import pytest
import tapegrad as tf
from tapegrad._ufunc import UFUNC_OPS
from tapegrad.experimental import dlpack

DTYPES = ["float32", "float64", "int32", "int64", "bool"]
SHAPES = [(), (0,), (3,), (2, 3), (0, 3), (2, 1, 2)]


def sample(dtype: str, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype == "bool":
        return rng.integers(0, 2, shape).astype(bool)
    if dtype.startswith("int"):
        return rng.integers(-50, 50, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def const(a: np.ndarray) -> tf.Tensor:
    t = tf.constant(a)
    assert t.dtype.name == a.dtype.name and tuple(t.shape) == a.shape
    return t


def layouts() -> list[tuple[str, tf.Tensor, np.ndarray]]:
    """Tensors whose storage is not plain row-major, with their numpy values."""
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    t = const(a)
    return [
        ("transpose", tf.transpose(t, [2, 0, 1]), np.transpose(a, [2, 0, 1])),
        ("reverse-step", t[:, ::-1, ::2], a[:, ::-1, ::2]),
        ("column", t[:, 1], a[:, 1]),
        ("broadcast", tf.broadcast_to(const(a[0, 0]), (3, 4)), np.broadcast_to(a[0, 0], (3, 4))),
    ]


# --- __array__ -------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_asarray_is_a_read_only_view_with_the_exact_values(dtype, shape):
    a = sample(dtype, shape)
    t = const(a)
    view = np.asarray(t)
    assert view.dtype == a.dtype and view.shape == a.shape
    np.testing.assert_array_equal(view, a)
    assert not view.flags.writeable
    if a.size:
        # two conversions see one buffer: nothing was copied
        assert np.shares_memory(view, np.asarray(t))
        with pytest.raises(ValueError, match="read-only"):
            view[...] = view
    with pytest.raises(ValueError):
        view.flags.writeable = True


@pytest.mark.parametrize("name,t,expected", layouts(), ids=[case[0] for case in layouts()])
def test_asarray_views_strided_layouts_without_copying(name, t, expected):
    view = np.asarray(t, copy=False)
    np.testing.assert_array_equal(view, expected)
    assert np.shares_memory(view, np.asarray(t))
    np.testing.assert_array_equal(np.array(t), expected)


def test_view_keeps_the_tensor_alive():
    t = tf.constant(np.arange(1000.0))
    alive = weakref.ref(t)
    view = np.asarray(t)
    del t
    gc.collect()
    assert alive() is not None, "the view's base must own the tensor"
    np.testing.assert_array_equal(view, np.arange(1000.0))
    del view
    gc.collect()
    assert alive() is None, "the tensor must be freed with its last view"


def test_copy_true_is_a_fresh_writable_array():
    t = tf.constant([1.0, 2.0])
    a = np.array(t)  # numpy passes copy=True
    b = t.__array__(copy=True)
    for fresh in (a, b, np.asarray(t, copy=True)):
        assert fresh.flags.writeable and fresh.flags.owndata
        assert not np.shares_memory(fresh, np.asarray(t))
    a[0] = 10.0
    np.testing.assert_array_equal(t.numpy(), [1.0, 2.0])


def test_numpy_method_stays_a_writable_copy():
    t = tf.constant([1.0, 2.0])
    a = t.numpy()
    a += 1  # TF users mutate .numpy() results
    np.testing.assert_array_equal(a, [2.0, 3.0])
    np.testing.assert_array_equal(t.numpy(), [1.0, 2.0])


def test_dtype_argument_casts_and_copy_false_refuses_to():
    t = tf.constant([1.5, -2.5])
    same = np.asarray(t, dtype=np.float32)
    assert np.shares_memory(same, np.asarray(t)), "asking for the tensor's own dtype is no cast"
    assert np.asarray(t, dtype="float32", copy=False).dtype == np.float32
    cast = np.asarray(t, dtype=np.int64)
    assert cast.dtype == np.int64 and cast.flags.writeable
    np.testing.assert_array_equal(cast, np.array([1.5, -2.5], np.float32).astype(np.int64))
    assert t.__array__(tf.float64).dtype == np.float64  # our dtype objects work too
    with pytest.raises(ValueError, match="Unable to avoid copy.*float32.*int64"):
        np.asarray(t, dtype=np.int64, copy=False)
    with pytest.raises(ValueError, match="Unable to avoid copy"):
        t.__array__(np.float64, copy=False)


def test_variable_view_is_a_snapshot_that_assign_does_not_change():
    v = tf.Variable([1.0, 2.0])
    view = np.asarray(v)
    assert not view.flags.writeable
    v.assign([5.0, 6.0])
    v.assign_add([1.0, 1.0])
    v.assign_sub([0.5, 0.5])
    np.testing.assert_array_equal(view, [1.0, 2.0])
    np.testing.assert_array_equal(np.asarray(v), [5.5, 6.5])
    copied = np.array(v)
    assert copied.flags.writeable
    copied[0] = 0.0
    np.testing.assert_array_equal(v.numpy(), [5.5, 6.5])


# --- numpy arrays as operands ------------------------------------------------------------

A = np.array([0.5, 1.5, 2.0])
X = np.array([1.25, 0.75, 3.0])

# (operator, d/dx sum(a op x), d/dx sum(x op a)) for float64 operands
DIFFERENTIABLE = [
    (operator.add, lambda a, x: np.ones_like(x), lambda a, x: np.ones_like(x)),
    (operator.sub, lambda a, x: -np.ones_like(x), lambda a, x: np.ones_like(x)),
    (operator.mul, lambda a, x: a, lambda a, x: a),
    (operator.truediv, lambda a, x: -a / x**2, lambda a, x: 1 / a),
    (operator.pow, lambda a, x: a**x * np.log(a), lambda a, x: a * x ** (a - 1)),
]


@pytest.mark.parametrize("op,grad_right,grad_left", DIFFERENTIABLE, ids=lambda v: v.__name__)
def test_numpy_operand_on_either_side_keeps_the_gradient(op, grad_right, grad_left):
    x = tf.constant(X)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        right = op(A, x)  # numpy array first: numpy's operator must defer to us
        left = op(x, A)
    for out, ref in ((right, op(A, X)), (left, op(X, A))):
        assert isinstance(out, tf.Tensor) and out.dtype == tf.float64
        np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12)
    np.testing.assert_allclose(tape.gradient(right, x).numpy(), grad_right(A, X), rtol=1e-12)
    np.testing.assert_allclose(tape.gradient(left, x).numpy(), grad_left(A, X), rtol=1e-12)


def test_matmul_with_numpy_on_either_side_keeps_the_gradient():
    a = np.arange(6.0).reshape(2, 3)
    xv = np.linspace(-1, 1, 12).reshape(3, 4)
    x = tf.constant(xv)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        right = a @ x
        left = tf.transpose(x) @ a.T
    np.testing.assert_allclose(right.numpy(), a @ xv, rtol=1e-12)
    np.testing.assert_allclose(left.numpy(), xv.T @ a.T, rtol=1e-12)
    # d sum(a @ x) / dx = a^T 1;  d sum(x^T a^T) / dx = the same, transposed twice
    expected = a.T @ np.ones((2, 4))
    np.testing.assert_allclose(tape.gradient(right, x).numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(tape.gradient(left, x).numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("op", [operator.floordiv, operator.mod], ids=lambda f: f.__name__)
def test_floordiv_and_mod_with_numpy_operands(op):
    a = np.array([7.0, -7.5, 3.0])
    xv = np.array([2.0, 2.0, -1.25])
    x = tf.constant(xv)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        right, left = op(a, x), op(x, a)
        right_ref, left_ref = op(tf.constant(a), x), op(x, tf.constant(a))
    np.testing.assert_allclose(right.numpy(), op(a, xv), rtol=1e-12)
    np.testing.assert_allclose(left.numpy(), op(xv, a), rtol=1e-12)
    # the same op as with two tensors, so the same gradient (or the same None)
    for out, ref in ((right, right_ref), (left, left_ref)):
        g, g_ref = tape.gradient(out, x), tape.gradient(ref, x)
        assert (g is None) == (g_ref is None)
        if g is not None:
            np.testing.assert_array_equal(g.numpy(), g_ref.numpy())
    ints = tf.constant([7, -7, 9])
    np.testing.assert_array_equal(
        op(np.array([2, 3, -4], np.int32), ints).numpy(),
        op(np.array([2, 3, -4]), np.array([7, -7, 9])),
    )


@pytest.mark.parametrize(
    "op",
    [operator.lt, operator.le, operator.gt, operator.ge, operator.eq, operator.ne],
    ids=lambda f: f.__name__,
)
def test_comparisons_with_numpy_on_either_side(op):
    a = np.array([1.0, 2.0, 3.0], np.float32)
    x = tf.constant([2.0, 2.0, 2.0])
    for out, ref in ((op(a, x), op(a, x.numpy())), (op(x, a), op(x.numpy(), a))):
        assert isinstance(out, tf.Tensor) and out.dtype == tf.bool
        np.testing.assert_array_equal(out.numpy(), ref)


def test_logical_operators_with_numpy_bool_arrays():
    a = np.array([True, False, True])
    x = tf.constant([True, True, False])
    np.testing.assert_array_equal((a & x).numpy(), a & x.numpy())
    np.testing.assert_array_equal((x & a).numpy(), a & x.numpy())
    np.testing.assert_array_equal((a | x).numpy(), a | x.numpy())
    np.testing.assert_array_equal((x | a).numpy(), a | x.numpy())


def test_numpy_operands_adopt_the_tensor_dtype_and_variables_get_gradients():
    v = tf.Variable([1.0, 2.0])  # float32
    with tf.GradientTape() as tape:
        y = np.array([3.0, 4.0]) * v + np.float64(1.0)
        z = np.float64(2.0) * y
    assert isinstance(z, tf.Tensor) and z.dtype == tf.float32
    np.testing.assert_allclose(tape.gradient(z, v).numpy(), [6.0, 8.0])


# --- __array_ufunc__ ---------------------------------------------------------------------

# Each supported ufunc and the tapegrad function it must behave as, written out
# here independently of the table in tapegrad._ufunc; `domain` gives inputs.
UNARY = {
    np.negative: (tf.negative, "real"),
    np.positive: (tf.identity, "real"),
    np.absolute: (tf.abs, "real"),
    np.fabs: (tf.abs, "real"),
    np.sign: (tf.sign, "real"),
    np.square: (tf.square, "real"),
    np.sqrt: (tf.sqrt, "positive"),
    np.reciprocal: (tf.math.reciprocal, "positive"),
    np.exp: (tf.exp, "real"),
    np.expm1: (tf.math.expm1, "real"),
    np.log: (tf.math.log, "positive"),
    np.log1p: (tf.math.log1p, "positive"),
    np.sin: (tf.sin, "real"),
    np.cos: (tf.cos, "real"),
    np.tan: (tf.math.tan, "unit"),
    np.arcsin: (tf.math.asin, "unit"),
    np.arccos: (tf.math.acos, "unit"),
    np.arctan: (tf.math.atan, "real"),
    np.sinh: (tf.math.sinh, "real"),
    np.cosh: (tf.math.cosh, "real"),
    np.tanh: (tf.tanh, "real"),
    np.arcsinh: (tf.math.asinh, "real"),
    np.arctanh: (tf.math.atanh, "unit"),
    np.floor: (tf.math.floor, "real"),
    np.ceil: (tf.math.ceil, "real"),
    np.rint: (tf.math.round, "real"),
    np.isfinite: (tf.math.is_finite, "real"),
    np.isinf: (tf.math.is_inf, "real"),
    np.isnan: (tf.math.is_nan, "real"),
}
BINARY = {
    np.add: tf.add,
    np.subtract: tf.subtract,
    np.multiply: tf.multiply,
    np.true_divide: tf.divide,
    np.power: tf.pow,
    np.maximum: tf.maximum,
    np.minimum: tf.minimum,
    np.floor_divide: tf.math.floordiv,
    np.remainder: tf.math.floormod,
    np.matmul: tf.matmul,
    np.less: tf.less,
    np.less_equal: tf.less_equal,
    np.greater: tf.greater,
    np.greater_equal: tf.greater_equal,
    np.equal: tf.equal,
    np.not_equal: tf.not_equal,
}
LOGICAL = {
    np.logical_not: tf.math.logical_not,
    np.invert: tf.math.logical_not,
    np.logical_and: tf.math.logical_and,
    np.logical_or: tf.math.logical_or,
    np.bitwise_and: tf.math.logical_and,
    np.bitwise_or: tf.math.logical_or,
}


def domain_values(kind: str, shape: tuple[int, ...], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "positive":
        return rng.uniform(0.2, 2.0, shape)
    if kind == "unit":
        return rng.uniform(-0.8, 0.8, shape)
    return rng.uniform(-2.0, 2.0, shape)


def test_every_supported_ufunc_is_tested_here():
    assert set(UFUNC_OPS) == set(UNARY) | set(BINARY) | set(LOGICAL)
    assert "sin" in tf._ufunc.supported_ufuncs()


def gradient_of(f, x: tf.Tensor, w: np.ndarray):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = f(x)
        target = tf.reduce_sum(tf.cast(y, tf.float64) * w) if y.dtype != tf.bool else None
    return y, (tape.gradient(target, x) if target is not None else None)


def assert_same_gradient(g, g_ref):
    assert (g is None) == (g_ref is None), f"{g} vs {g_ref}"
    if g is not None:
        np.testing.assert_allclose(g.numpy(), g_ref.numpy(), rtol=1e-12, atol=0)


@pytest.mark.parametrize("ufunc", list(UNARY), ids=lambda u: u.__name__)
def test_unary_ufunc_stays_on_the_tape(ufunc):
    op, kind = UNARY[ufunc]
    xv = domain_values(kind, (2, 3), seed=1)
    w = np.random.default_rng(2).standard_normal((2, 3))
    x = tf.constant(xv)
    y, g = gradient_of(ufunc, x, w)
    y_ref, g_ref = gradient_of(op, x, w)
    assert isinstance(y, tf.Tensor) and y.dtype == y_ref.dtype
    np.testing.assert_allclose(y.numpy(), ufunc(xv), rtol=1e-12)
    assert_same_gradient(g, g_ref)


@pytest.mark.parametrize("ufunc", list(BINARY), ids=lambda u: u.__name__)
def test_binary_ufunc_stays_on_the_tape_with_numpy_on_either_side(ufunc):
    op = BINARY[ufunc]
    shape = (3, 3)
    av = domain_values("positive", shape, seed=3)
    xv = domain_values("positive", shape, seed=4)
    w = np.random.default_rng(5).standard_normal(shape)
    x = tf.constant(xv)
    for f, f_ref, expected in (
        (lambda t: ufunc(av, t), lambda t: op(tf.constant(av), t), ufunc(av, xv)),
        (lambda t: ufunc(t, av), lambda t: op(t, tf.constant(av)), ufunc(xv, av)),
        (lambda t: ufunc(t, t), lambda t: op(t, t), ufunc(xv, xv)),
    ):
        y, g = gradient_of(f, x, w)
        y_ref, g_ref = gradient_of(f_ref, x, w)
        assert isinstance(y, tf.Tensor) and y.dtype == y_ref.dtype
        np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12)
        assert_same_gradient(g, g_ref)


@pytest.mark.parametrize("ufunc", list(LOGICAL), ids=lambda u: u.__name__)
def test_logical_ufuncs_on_bool_tensors(ufunc):
    a = np.array([True, False, True, False])
    b = np.array([True, True, False, False])
    x = tf.constant(b)
    if ufunc.nin == 1:
        out, expected = ufunc(x), ufunc(b)
    else:
        out, expected = ufunc(a, x), ufunc(a, b)
        np.testing.assert_array_equal(ufunc(x, a).numpy(), expected)
    assert isinstance(out, tf.Tensor) and out.dtype == tf.bool
    np.testing.assert_array_equal(out.numpy(), expected)
    np.testing.assert_array_equal(
        out.numpy(), (LOGICAL[ufunc](x) if ufunc.nin == 1 else LOGICAL[ufunc](a, x)).numpy()
    )


def test_ufunc_on_a_variable_watches_it_and_gets_its_gradient():
    v = tf.Variable([0.5, 1.0])
    with tf.GradientTape() as tape:
        y = np.exp(v) + np.multiply(np.array([2.0, 3.0]), v)
    assert [w.name for w in tape.watched_variables()] == [v.name]
    np.testing.assert_allclose(
        tape.gradient(y, v).numpy(), np.exp([0.5, 1.0]) + [2.0, 3.0], rtol=1e-6
    )


@pytest.fixture
def strict_numpy():
    tf.config.experimental.strict_numpy(True)
    yield
    tf.config.experimental.strict_numpy(False)


UNSUPPORTED_UFUNCS = [
    np.arctan2, np.hypot, np.exp2, np.log2, np.log10, np.logaddexp, np.cbrt, np.fmod
]


@pytest.mark.parametrize("ufunc", UNSUPPORTED_UFUNCS, ids=lambda u: u.__name__)
def test_unsupported_ufunc_converts_as_tf_does(ufunc):
    x = tf.constant([0.5, 1.5])
    args = (x,) * ufunc.nin
    expected = ufunc(*(np.array([0.5, 1.5], np.float32),) * ufunc.nin)
    out = ufunc(*args)
    assert type(out) is np.ndarray and out.dtype == expected.dtype
    np.testing.assert_array_equal(out, expected)
    if ufunc.nin == 2:  # numpy first too
        np.testing.assert_array_equal(ufunc(np.ones(2), x), ufunc(np.ones(2), np.asarray(x)))


@pytest.mark.parametrize("ufunc", UNSUPPORTED_UFUNCS, ids=lambda u: u.__name__)
def test_unsupported_ufunc_warns_once_per_site_when_a_tape_records(ufunc):
    x = tf.constant([0.5, 1.5])
    args = (x,) * ufunc.nin
    with tf.GradientTape() as tape:
        tape.watch(x)
        with pytest.warns(tf.config.experimental.NumpyConversionWarning) as record:
            ufunc(*args)
    assert len(record) == 1
    assert record[0].filename == __file__  # the warning names the caller's line
    assert f"numpy.{ufunc.__name__} converted a tapegrad tensor" in str(record[0].message)


def test_conversion_warning_is_shown_once_per_call_site():
    program = (
        "import warnings, numpy as np, tapegrad as tf\n"
        "x = tf.constant([1.0, 2.0])\n"
        "for _ in range(3):\n"
        "    with tf.GradientTape() as tape:\n"
        "        tape.watch(x)\n"
        "        np.hypot(x, x)\n"
        "        np.sum(x)\n"
    )
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stderr.count("NumpyConversionWarning") == 2, out.stderr


def test_no_warning_without_a_recording_tape_or_for_integers():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.hypot(tf.constant([3.0]), 4.0)
        np.sum(tf.constant([1.0, 2.0]))
        with tf.GradientTape():
            np.sum(tf.constant([1, 2]))  # no gradient to lose
            np.gcd(tf.constant([4]), 6)


@pytest.mark.parametrize("ufunc", UNSUPPORTED_UFUNCS, ids=lambda u: u.__name__)
def test_strict_mode_raises_instead_of_converting(ufunc, strict_numpy):
    x = tf.constant([0.5, 1.5])
    args = (x,) * ufunc.nin
    with pytest.raises(TypeError, match=rf"numpy\.{ufunc.__name__} .*strict mode.*tapegrad\.math"):
        ufunc(*args)
    with pytest.raises(TypeError, match=rf"numpy\.{ufunc.__name__} "):
        ufunc(np.ones(2), *args[1:]) if ufunc.nin == 2 else ufunc(x)


UFUNC_METHOD_CALLS = [
    (lambda x: np.add.reduce(x), "add.reduce.*tapegrad.math.reduce_sum", np.float32(2.0)),
    (lambda x: np.sum(x), "sum", np.float32(2.0)),
    (lambda x: np.prod(x), "prod", np.float32(0.75)),
    (lambda x: np.maximum.reduce(x), "maximum.reduce.*reduce_max", np.float32(1.5)),
    (lambda x: np.add.accumulate(x), "add.accumulate.*tapegrad.math.cumsum", [0.5, 2.0]),
    (lambda x: np.multiply.outer(x, x), "multiply.outer", [[0.25, 0.75], [0.75, 2.25]]),
    (lambda x: np.add.reduceat(x, [0]), "add.reduceat", [2.0]),
    (lambda x: np.sin(x, out=np.empty(2, np.float32)), "sin with out=", np.sin([0.5, 1.5])),
    (
        lambda x: np.add(x, 1.0, where=np.array([True, False]), out=np.zeros(2, np.float32)),
        "add with where=",
        [1.5, 0.0],
    ),
    (lambda x: np.multiply(x, 2.0, dtype=np.float64), "multiply with dtype=", [1.0, 3.0]),
]


@pytest.mark.parametrize("call,name,expected", UFUNC_METHOD_CALLS)
def test_ufunc_methods_and_keywords_convert(call, name, expected):
    out = call(tf.constant([0.5, 1.5]))
    assert isinstance(out, (np.ndarray, np.generic))
    if expected is not None:
        np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_sum_of_a_scalar_tensor_is_a_numpy_scalar_as_in_tf():
    out = np.sum(tf.constant([1.0, 2.0]))
    assert type(out) is np.float32 and out == 3.0


@pytest.mark.parametrize("call,name,expected", UFUNC_METHOD_CALLS)
def test_ufunc_methods_and_keywords_raise_in_strict_mode(call, name, expected, strict_numpy):
    with pytest.raises(TypeError, match=rf"numpy\.{name}"):
        call(tf.constant([0.5, 1.5]))


def test_in_place_numpy_operator_with_a_tensor_works_as_in_tf():
    a = np.zeros(2)
    a += tf.constant([1.0, 2.0])
    np.testing.assert_array_equal(a, [1.0, 2.0])
    # the gradient-norm idiom: a numpy accumulator and reduce_sum of gradients
    norm = np.zeros(())
    for g in [tf.constant([1.0, 2.0]), tf.constant([3.0])]:
        norm += tf.reduce_sum(g**2)
    assert float(norm) == 14.0


def test_in_place_numpy_operator_raises_in_strict_mode(strict_numpy):
    a = np.zeros(2)
    with pytest.raises(TypeError, match=r"numpy\.add with out="):
        a += tf.constant([1.0, 2.0])
    np.testing.assert_array_equal(a, [0.0, 0.0])


def test_a_ufunc_cannot_write_into_a_tensor():
    with pytest.raises(TypeError, match="cannot write into a tapegrad tensor"):
        np.sin(np.ones(2), out=tf.constant([0.0, 0.0]))


def test_numpy_functions_convert_as_in_tf():
    t = tf.constant([[1.0, 2.0], [3.0, 4.0]])
    mean = np.mean(t, axis=0)
    assert type(mean) is np.ndarray and mean.dtype == np.float32
    np.testing.assert_array_equal(mean, [2.0, 3.0])
    np.testing.assert_array_equal(np.concatenate([t, np.ones((1, 2))]), [[1, 2], [3, 4], [1, 1]])
    np.testing.assert_array_equal(np.stack([tf.constant([1]), tf.constant([2])]), [[1], [2]])
    assert np.shape(t) == (2, 2) and np.ndim(t) == 2
    np.testing.assert_array_equal(np.where(tf.constant([True, False]), 1, 0), [1, 0])
    np.testing.assert_allclose(np.linalg.norm(t), np.sqrt(30.0), rtol=1e-6)
    v = tf.Variable([1.0, 2.0])
    np.testing.assert_array_equal(np.concatenate([v, v]), [1.0, 2.0, 1.0, 2.0])
    np.testing.assert_allclose(t, [[1.0, 2.0], [3.0, 4.0]])  # np.testing on tensors


def test_numpy_functions_warn_under_a_tape_and_raise_in_strict_mode():
    x = tf.constant([1.0, 2.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        with pytest.warns(tf.config.experimental.NumpyConversionWarning, match="numpy.mean"):
            np.mean(x)
    tf.config.experimental.strict_numpy(True)
    try:
        assert tf.config.experimental.get_strict_numpy()
        with pytest.raises(TypeError, match=r"numpy\.concatenate is not supported .*strict mode"):
            np.concatenate([x, x])
        np.testing.assert_array_equal(np.asarray(x), [1.0, 2.0])  # explicit: always allowed
    finally:
        tf.config.experimental.strict_numpy(False)
    assert not tf.config.experimental.get_strict_numpy()


def test_numpy_only_ufuncs_are_untouched():
    out = np.sin(np.array([0.0, 1.0]))
    assert type(out) is np.ndarray


# --- DLPack ------------------------------------------------------------------------------


def test_dlpack_device_is_the_cpu():
    assert tf.constant([1.0]).__dlpack_device__() == (1, 0)
    assert tf.Variable([1.0]).__dlpack_device__() == (1, 0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_numpy_consumes_tensors_without_copying_on_request(dtype, shape):
    a = sample(dtype, shape, seed=7)
    t = const(a)
    b = np.from_dlpack(t, copy=False)
    assert b.dtype == a.dtype and b.shape == a.shape
    np.testing.assert_array_equal(b, a)
    assert not b.flags.writeable
    if a.size:
        assert np.shares_memory(b, np.asarray(t))


@pytest.mark.parametrize("name,t,expected", layouts(), ids=[case[0] for case in layouts()])
def test_dlpack_exports_strided_layouts(name, t, expected):
    np.testing.assert_array_equal(np.from_dlpack(t), expected)
    np.testing.assert_array_equal(dlpack.from_dlpack(t).numpy(), expected)


def test_capsule_kinds_and_the_read_only_flag():
    t = tf.constant([1.0, 2.0])
    versioned = t.__dlpack__(max_version=(1, 0))
    assert "dltensor_versioned" in repr(versioned)
    assert '"dltensor"' in repr(t.__dlpack__())
    assert '"dltensor"' in repr(t.__dlpack__(max_version=(0, 8)))
    assert '"dltensor"' in repr(dlpack.to_dlpack(t))


class LegacyConsumer:
    """Forwards numpy's request as a consumer that predates DLPack 1.0 would."""

    def __init__(self, producer, **kwargs):
        self.producer, self.kwargs = producer, kwargs

    def __dlpack__(self, **_):
        return self.producer.__dlpack__(**self.kwargs)

    def __dlpack_device__(self):
        return self.producer.__dlpack_device__()


def test_legacy_consumers_get_a_private_copy():
    t = tf.constant([1.0, 2.0])
    b = np.from_dlpack(LegacyConsumer(t))
    np.testing.assert_array_equal(b, [1.0, 2.0])
    assert not np.shares_memory(b, np.asarray(t))
    with pytest.raises(BufferError, match="legacy"):
        t.__dlpack__(copy=False)


def test_dlpack_copy_keyword():
    t = tf.constant([1.0, 2.0])
    copied = np.from_dlpack(t, copy=True)
    assert copied.flags.writeable and not np.shares_memory(copied, np.asarray(t))
    shared = np.from_dlpack(t, copy=False)
    assert np.shares_memory(shared, np.asarray(t)) and not shared.flags.writeable


def test_dlpack_argument_errors():
    t = tf.constant([1.0, 2.0])
    with pytest.raises(BufferError, match="stream must be None"):
        t.__dlpack__(stream=1, max_version=(1, 0))
    with pytest.raises(BufferError):
        t.__dlpack__(max_version=(1, 0), dl_device=(2, 0))  # kDLCUDA
    assert "dltensor_versioned" in repr(t.__dlpack__(max_version=(1, 0), dl_device=(1, 0)))
    with pytest.raises(TypeError, match="max_version"):
        t.__dlpack__(max_version="1.0")
    with pytest.raises(TypeError):
        t.__dlpack__(None)  # keyword-only, as the standard says


def test_dlpack_consumer_outlives_the_producer():
    t = tf.constant(np.arange(4096.0))
    alive = weakref.ref(t)
    b = np.from_dlpack(t, copy=False)
    capsule = t.__dlpack__(max_version=(1, 0), copy=False)
    del t
    gc.collect()
    np.testing.assert_array_equal(b, np.arange(4096.0))
    del b
    gc.collect()
    assert alive() is not None, "an unconsumed capsule owns the buffer too"
    c = np.from_dlpack(dlpack._Capsule(capsule))
    del capsule
    gc.collect()
    np.testing.assert_array_equal(c, np.arange(4096.0))
    del c
    gc.collect()
    assert alive() is None, "the tensor must be freed with its last consumer"


def test_variable_exports_a_snapshot():
    v = tf.Variable([1.0, 2.0])
    b = np.from_dlpack(v)
    v.assign([3.0, 4.0])
    np.testing.assert_array_equal(b, [1.0, 2.0])
    np.testing.assert_array_equal(dlpack.from_dlpack(v).numpy(), [3.0, 4.0])


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def test_no_leak_over_ten_thousand_exports():
    t = tf.constant(np.arange(8192.0))  # 64 KiB: a leaked copy per export is 640 MiB
    alive = weakref.ref(t)

    def export_all(t):
        np.from_dlpack(t)
        np.from_dlpack(t, copy=False)
        t.__dlpack__(max_version=(1, 0), copy=False)  # dropped unconsumed
        t.__dlpack__()  # legacy: a copy, dropped unconsumed
        dlpack.from_dlpack(dlpack.to_dlpack(t))
        np.asarray(t)

    for _ in range(200):
        export_all(t)
    gc.collect()
    tracemalloc.start()
    try:
        before_traced, _ = tracemalloc.get_traced_memory()
        before_rss = rss_bytes()
        for _ in range(10_000):
            export_all(t)
        gc.collect()
        after_traced, _ = tracemalloc.get_traced_memory()
        after_rss = rss_bytes()
    finally:
        tracemalloc.stop()
    assert after_traced - before_traced < 1 << 20
    assert after_rss - before_rss < 64 << 20
    del t
    gc.collect()
    assert alive() is None


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_from_dlpack_copies_numpy_arrays_exactly(dtype, shape):
    a = sample(dtype, shape, seed=11)
    t = dlpack.from_dlpack(a)
    assert isinstance(t, tf.Tensor)
    assert t.dtype.name == dtype and tuple(t.shape) == shape
    np.testing.assert_array_equal(t.numpy(), a)
    if a.size:
        a.flat[0] = not a.flat[0] if dtype == "bool" else a.flat[0] + 1
        assert t.numpy().flat[0] != a.flat[0], "from_dlpack must copy"


def test_from_dlpack_round_trips_through_capsules_and_strided_arrays():
    t = tf.constant([[1, 2, 3], [4, 5, 6]])
    back = dlpack.from_dlpack(dlpack.to_dlpack(t))
    assert back.dtype == tf.int32
    np.testing.assert_array_equal(back.numpy(), t.numpy())
    np.testing.assert_array_equal(
        dlpack.from_dlpack(np.arange(12.0).reshape(3, 4)[::2, ::-1]).numpy(),
        np.arange(12.0).reshape(3, 4)[::2, ::-1],
    )
    capsule = np.arange(3.0).__dlpack__()
    np.testing.assert_array_equal(dlpack.from_dlpack(capsule).numpy(), [0.0, 1.0, 2.0])


def test_from_dlpack_errors():
    with pytest.raises(TypeError, match="unsupported dtype uint8"):
        dlpack.from_dlpack(np.zeros(2, np.uint8))
    with pytest.raises(TypeError, match="unsupported dtype complex128"):
        dlpack.from_dlpack(np.zeros(2, np.complex128))
    with pytest.raises(TypeError, match="__dlpack__"):
        dlpack.from_dlpack([1.0, 2.0])
    with pytest.raises(TypeError, match="to_dlpack expects"):
        dlpack.to_dlpack(np.zeros(2))


def test_dlpack_is_reachable_as_tf_experimental_dlpack():
    assert tf.experimental.dlpack.from_dlpack is dlpack.from_dlpack
    assert tf.experimental.dlpack.to_dlpack is dlpack.to_dlpack


# PyTorch and JAX run in a child interpreter: importing JAX registers a fork
# hook that warns in every later os.fork() of the test process (and the
# reliability tests fork).
TORCH_ROUND_TRIP = """
import gc
import numpy as np, torch, tapegrad as tf
from tapegrad.experimental import dlpack
t = tf.constant([[1.0, 2.0], [3.0, 4.0]])
pt = torch.from_dlpack(t)
del t
gc.collect()
assert pt.tolist() == [[1.0, 2.0], [3.0, 4.0]], pt
back = dlpack.from_dlpack(torch.arange(6, dtype=torch.int64).reshape(2, 3))
assert back.dtype == tf.int64 and back.numpy().tolist() == [[0, 1, 2], [3, 4, 5]]
capsule = dlpack.to_dlpack(tf.constant([True, False]))
assert torch.utils.dlpack.from_dlpack(capsule).tolist() == [True, False]
"""

JAX_ROUND_TRIP = """
import gc
import numpy as np, jax.numpy as jnp, tapegrad as tf
from tapegrad.experimental import dlpack
t = tf.constant([[1.0, 2.0], [3.0, 4.0]])
j = jnp.from_dlpack(t)
del t
gc.collect()
assert np.asarray(j).tolist() == [[1.0, 2.0], [3.0, 4.0]], j
back = dlpack.from_dlpack(jnp.arange(6, dtype=jnp.float32).reshape(2, 3))
assert back.dtype == tf.float32 and back.numpy().tolist() == [[0, 1, 2], [3, 4, 5]]
"""


@pytest.mark.parametrize(
    "module,script", [("torch", TORCH_ROUND_TRIP), ("jax", JAX_ROUND_TRIP)], ids=["torch", "jax"]
)
def test_round_trip_with_other_libraries(module, script):
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


# --- pickle and copy ---------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_tensor_pickle_round_trips_dtype_shape_and_values(protocol, dtype, shape):
    a = sample(dtype, shape, seed=13)
    t = const(a)
    back = pickle.loads(pickle.dumps(t, protocol=protocol))
    assert isinstance(back, tf.Tensor)
    assert back.dtype == t.dtype and tuple(back.shape) == shape
    np.testing.assert_array_equal(back.numpy(), a)


def test_tensor_pickles_strided_layouts():
    for _, t, expected in layouts():
        np.testing.assert_array_equal(pickle.loads(pickle.dumps(t)).numpy(), expected)


def test_tensor_copies_are_the_tensor_itself():
    t = tf.constant([1.0, 2.0])
    assert copy.copy(t) is t
    assert copy.deepcopy(t) is t  # immutable, as in TF


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
def test_variable_round_trip_keeps_everything_and_is_distinct(dtype, shape, how):
    a = sample(dtype, shape, seed=17)
    v = tf.Variable(a, name="weights", trainable=dtype.startswith("float"))
    back = pickle.loads(pickle.dumps(v)) if how == "pickle" else copy.deepcopy(v)
    assert isinstance(back, tf.Variable) and back is not v
    assert back.name == "weights:0"
    assert back.dtype == v.dtype and tuple(back.shape) == shape
    assert back.trainable == v.trainable
    np.testing.assert_array_equal(back.numpy(), a)
    assert back._handle_id != v._handle_id
    back.assign(np.ones(shape, dtype))
    np.testing.assert_array_equal(v.numpy(), a)


def test_untrainable_and_default_named_variables_round_trip():
    v = tf.Variable(3.0, trainable=False)
    back = pickle.loads(pickle.dumps(v))
    assert back.trainable is False and back.name == v.name
    w = copy.deepcopy(tf.Variable([1.0], name="a:0"))  # a ":0" the user wrote stays
    assert w.name == "a:0:0"


def test_deepcopy_shares_one_copy_per_variable_and_shallow_copy_is_identity():
    v = tf.Variable([1.0, 2.0], name="v")
    assert copy.copy(v) is v  # TF: a shallow copy is the same variable
    first, second = copy.deepcopy([v, v])
    assert first is second and first is not v
    first.assign_add([1.0, 1.0])
    np.testing.assert_array_equal(v.numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(second.numpy(), [2.0, 3.0])


def test_copied_variable_is_trained_on_its_own():
    v = tf.Variable([1.0, 2.0])
    w = copy.deepcopy(v)
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(w * w)
    grad_v, grad_w = tape.gradient(y, [v, w])
    assert grad_v is None
    np.testing.assert_allclose(grad_w.numpy(), [2.0, 4.0])


# --- ref() -------------------------------------------------------------------------------


def test_tensors_and_variables_are_unhashable_with_a_true_hint():
    t, v = tf.constant(1.0), tf.Variable(1.0)
    with pytest.raises(TypeError, match=r"Tensor is unhashable\. Instead, use tensor\.ref\(\)"):
        hash(t)
    with pytest.raises(TypeError, match=r"Variable is unhashable\. Instead, use variable\.ref\(\)"):
        {v}  # noqa: B018
    assert t.ref().deref() is t and v.ref().deref() is v


def test_refs_are_equal_iff_they_refer_to_the_same_object():
    a, b = tf.constant([1.0]), tf.constant([1.0])
    assert a.ref() == a.ref() and hash(a.ref()) == hash(a.ref())
    assert a.ref() != b.ref()  # equal values, distinct tensors
    assert a.experimental_ref() == a.ref()
    assert a.ref() != a and a.ref() != 1
    table = {a.ref(): "a", b.ref(): "b"}
    assert table[a.ref()] == "a" and table[b.ref()] == "b"
    assert {r.deref() is a for r in {a.ref(), a.ref()}} == {True}


def test_variable_refs_follow_the_variable_not_the_wrapper():
    v, w = tf.Variable(1.0), tf.Variable(1.0)
    with tf.GradientTape() as tape:
        _ = v * 2.0
    (watched,) = tape.watched_variables()
    assert watched.ref() == v.ref() and hash(watched.ref()) == hash(v.ref())
    assert v.ref() != w.ref()
    assert {v.ref(): 1}[watched.ref()] == 1
