"""Tensor behaviour users rely on (ARCHITECTURE.md §4) and TF's dtype rules (§3.9)."""

from __future__ import annotations

import operator

import numpy as np
import pytest
import tapegrad as tf


def _numpy_truth_error() -> str:
    try:
        bool(np.array([1.0, 2.0]))
    except ValueError as e:
        return str(e)
    raise AssertionError("numpy accepted bool() of a 2-element array")


# --- repr / str -------------------------------------------------------------


def test_repr():
    assert (
        repr(tf.constant([1.0, 2.0]))
        == "<tapegrad.Tensor: shape=(2,), dtype=float32, numpy=array([1., 2.], dtype=float32)>"
    )
    assert repr(tf.constant(3.0)) == "<tapegrad.Tensor: shape=(), dtype=float32, numpy=3.0>"
    assert repr(tf.constant(3)) == "<tapegrad.Tensor: shape=(), dtype=int32, numpy=3>"
    assert repr(tf.constant(True)) == "<tapegrad.Tensor: shape=(), dtype=bool, numpy=True>"
    assert (
        repr(tf.constant([1.0, 2.0], dtype=tf.float64))
        == "<tapegrad.Tensor: shape=(2,), dtype=float64, numpy=array([1., 2.])>"
    )
    m = np.array([[0.0], [4.0]], np.float32)
    assert repr(tf.constant(m)) == (
        "<tapegrad.Tensor: shape=(2, 1), dtype=float32, numpy=\n" + repr(m) + ">"
    )
    assert repr(tf.zeros([0, 2])).startswith("<tapegrad.Tensor: shape=(0, 2), dtype=float32")


def test_str():
    assert str(tf.constant([1.0, 2.0])) == "tapegrad.Tensor([1. 2.], shape=(2,), dtype=float32)"
    assert str(tf.constant(3.0)) == "tapegrad.Tensor(3.0, shape=(), dtype=float32)"


# --- truth, equality, hashing -------------------------------------------------


def test_bool():
    assert bool(tf.constant(True)) is True
    assert bool(tf.constant(0.0)) is False
    assert bool(tf.constant(2)) is True
    assert bool(tf.constant([[1.0]])) is True  # one element, any rank
    assert bool(tf.constant([])) is False
    assert bool(tf.zeros([0, 3])) is False
    with pytest.raises(ValueError) as e:
        bool(tf.constant([1.0, 2.0]))
    assert str(e.value) == _numpy_truth_error()
    with pytest.raises(ValueError):
        if tf.constant([[1, 2], [3, 4]]) > 0:
            pass


def test_eq_is_elementwise():
    r = tf.constant([1.0, 2.0, 3.0]) == tf.constant([1.0, 0.0, 3.0])
    assert isinstance(r, tf.Tensor) and r.dtype == tf.bool
    np.testing.assert_array_equal(r.numpy(), [True, False, True])
    r = tf.constant([1, 2]) != 2
    np.testing.assert_array_equal(r.numpy(), [True, False])
    r = tf.constant([[1.0], [2.0]]) == tf.constant([1.0, 2.0])  # broadcasts
    np.testing.assert_array_equal(r.numpy(), [[True, False], [False, True]])
    t = tf.constant([1.0, 2.0])
    assert (t == None) is False  # noqa: E711 - the behaviour under test
    assert (t != None) is True  # noqa: E711
    assert (None == t) is False  # noqa: E711


def test_comparisons_return_bool_tensors():
    t = tf.constant([1.0, 2.0, 3.0])
    for r, expected in [
        (t < 2, [True, False, False]),
        (t <= 2, [True, True, False]),
        (t > 2, [False, False, True]),
        (t >= 2, [False, True, True]),
        (2 < t, [False, False, True]),
    ]:
        assert isinstance(r, tf.Tensor) and r.dtype == tf.bool
        np.testing.assert_array_equal(r.numpy(), expected)


def test_unhashable():
    with pytest.raises(TypeError, match=r"ref\(\)"):
        hash(tf.constant(1.0))
    with pytest.raises(TypeError):
        {tf.constant(1.0): 1}  # noqa: B018


# --- numpy, shape, dtype --------------------------------------------------------


def test_numpy_is_a_copy():
    t = tf.constant([1.0, 2.0])
    a = t.numpy()
    assert isinstance(a, np.ndarray) and a.dtype == np.float32
    a[0] = 100.0
    np.testing.assert_array_equal(t.numpy(), [1.0, 2.0])
    src = np.array([1.0, 2.0])
    t = tf.constant(src)
    src[0] = 100.0
    np.testing.assert_array_equal(t.numpy(), [1.0, 2.0])


def test_shape():
    t = tf.zeros([2, 3])
    s = t.shape
    assert isinstance(s, tf.TensorShape) and isinstance(s, tuple)
    assert s == (2, 3) and s == [2, 3] and s != (3, 2)
    assert s.as_list() == [2, 3] and s.rank == 2 and len(s) == 2 and s[1] == 3
    assert s.num_elements() == 6
    assert t.ndim == 2
    assert tf.constant(1.0).shape == () and tf.constant(1.0).shape.as_list() == []
    assert tf.zeros([0, 4]).shape == (0, 4)


def test_dtype_objects():
    assert tf.constant(1.0).dtype == tf.float32
    assert tf.constant(1.0).dtype is tf.float32
    assert tf.constant(1.0).dtype.name == "float32"
    assert tf.constant(1).dtype == tf.int32 and tf.constant(1).dtype.name == "int32"
    assert tf.constant(True).dtype == tf.bool
    assert tf.constant(1.0, dtype=tf.float64).dtype.name == "float64"
    assert isinstance(tf.float32, tf.DType)
    assert tf.float32 == "float32" and tf.float32 == np.float32
    assert tf.float32 != tf.float64
    assert tf.dtypes.float64 is tf.float64
    assert tf.as_dtype("double") is tf.float64
    assert len({tf.float32, tf.as_dtype("float32")}) == 1


def test_dtype_never_equals_none():
    for d in (tf.float32, tf.float64, tf.int32, tf.int64, tf.bool):
        assert (d == None) is False  # noqa: E711 - the behaviour under test
        assert (d != None) is True  # noqa: E711


def test_array_protocol():
    t = tf.constant([[1.0, 2.0]])
    a = np.asarray(t)
    assert isinstance(a, np.ndarray) and a.dtype == np.float32 and a.shape == (1, 2)
    b = t.__array__(dtype=np.float64)
    assert b.dtype == np.float64
    np.testing.assert_array_equal(b, [[1.0, 2.0]])
    assert np.asarray(t, dtype=np.int64).dtype == np.int64
    assert np.asarray(tf.constant(3.0)).shape == ()
    assert np.array(tf.constant([1, 2])).dtype == np.int32


def test_scalar_conversions():
    assert float(tf.constant(2.5)) == 2.5
    assert int(tf.constant(3.7)) == 3
    assert int(tf.constant(-3)) == -3
    assert operator.index(tf.constant(3)) == 3
    assert list(range(tf.constant(3))) == [0, 1, 2]
    with pytest.raises(TypeError):
        operator.index(tf.constant(3.0))
    with pytest.raises(TypeError):
        float(tf.constant([1.0, 2.0]))
    assert float(tf.constant([[2.0]])) == 2.0  # one element, like numpy


def test_len():
    assert len(tf.zeros([3, 2])) == 3
    assert len(tf.zeros([0])) == 0
    with pytest.raises(TypeError):
        len(tf.constant(1.0))


def test_format():
    t = tf.constant(3.14159)
    assert format(t, ".2f") == "3.14"
    assert f"{t:.3f}" == "3.142"
    assert f"{tf.constant(7):03d}" == "007"
    assert format(tf.constant([1.0, 2.0])) == str(np.array([1.0, 2.0], np.float32))


# --- operators ---------------------------------------------------------------------


def _check(result, expected, dtype=tf.float32):
    assert isinstance(result, tf.Tensor), type(result)
    assert result.dtype == dtype, (result.dtype, dtype)
    np.testing.assert_allclose(result.numpy(), expected, rtol=1e-6)


def test_operators_with_python_scalars():
    t = tf.constant([1.0, 2.0, 4.0])
    x = np.array([1.0, 2.0, 4.0])
    _check(t + 1, x + 1)
    _check(1 + t, 1 + x)
    _check(t - 1.5, x - 1.5)
    _check(1.5 - t, 1.5 - x)
    _check(t * 2, x * 2)
    _check(2 * t, 2 * x)
    _check(t / 2, x / 2)
    _check(2 / t, 2 / x)
    _check(t**2, x**2)
    _check(2**t, 2**x)
    _check(-t, -x)
    _check(+t, x)
    _check(abs(-t), x)


def test_operators_with_numpy_on_either_side():
    t = tf.constant([[1.0, 2.0]])
    a = np.array([[3.0, 4.0]])
    col = np.array([[1.0], [2.0]], np.float32)
    x = np.array([[1.0, 2.0]])
    _check(t + a, x + a)
    _check(a + t, a + x)
    _check(t - a, x - a)
    _check(a - t, a - x)
    _check(t * a, x * a)
    _check(a * t, a * x)
    _check(a / t, a / x)
    _check(t / a, x / a)
    _check(t @ col, x @ col)
    _check(col @ t, col @ x)
    _check(np.float32(2.0) * t, 2 * x)
    _check(t * np.float64(2.0), 2 * x)
    r = a > t
    assert isinstance(r, tf.Tensor) and r.dtype == tf.bool


def test_operators_on_variables():
    v = tf.Variable([1.0, 2.0])
    _check(v + 1, [2.0, 3.0])
    _check(1 - v, [0.0, -1.0])
    _check(v * v, [1.0, 4.0])
    _check(np.array([2.0, 2.0]) * v, [2.0, 4.0])


# --- dtype rules ---------------------------------------------------------------------


def test_no_implicit_promotion_between_tensors():
    a = tf.constant([1.0, 2.0])
    b = tf.constant([1.0, 2.0], dtype=tf.float64)
    for f in (operator.add, operator.mul, operator.sub, operator.truediv, tf.add, tf.maximum):
        with pytest.raises(tf.errors.InvalidArgumentError) as e:
            f(a, b)
        assert isinstance(e.value, ValueError)
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.constant([1, 2]) + tf.constant([1, 2], dtype=tf.int64)


def test_python_float_does_not_become_int():
    t = tf.constant([1, 2])
    with pytest.raises(TypeError):
        t * 1.5
    with pytest.raises(TypeError):
        1.5 + t
    with pytest.raises(TypeError):
        tf.constant(1.5, dtype=tf.int32)
    _check(t * 2, [2, 4], dtype=tf.int32)


def test_python_scalar_dtypes():
    assert tf.constant(1).dtype == tf.int32
    assert tf.constant(2**40).dtype == tf.int64
    assert tf.constant(1.0).dtype == tf.float32
    assert tf.constant([1.0, 2.0]).dtype == tf.float32
    assert tf.constant([1, 2]).dtype == tf.int32
    assert tf.constant(True).dtype == tf.bool
    # Python scalars take the other operand's dtype
    assert (tf.constant(1.0, dtype=tf.float64) + 1.0).dtype == tf.float64
    assert (tf.constant(1, dtype=tf.int64) + 1).dtype == tf.int64
    assert (tf.constant(1.0) + 1).dtype == tf.float32


def test_numpy_values_keep_their_dtype():
    assert tf.constant(np.array([1.0])).dtype == tf.float64
    assert tf.constant(np.array([1.0], np.float32)).dtype == tf.float32
    assert tf.constant(np.array([1], np.int64)).dtype == tf.int64
    assert tf.constant(np.float64(1.0)).dtype == tf.float64
    assert tf.convert_to_tensor(np.float64(1.0)).dtype == tf.float64


@pytest.mark.parametrize(
    "value",
    [np.float64(1.5), np.float32(1.5), np.int64(3), np.int32(3), np.bool_(True), np.array(1.5)],
    ids=lambda v: f"{type(v).__name__}-{np.asarray(v).dtype}",
)
def test_numpy_scalars_are_scalars(value):
    t = tf.constant(value)
    assert t.shape == ()
    assert t.dtype == tf.as_dtype(np.asarray(value).dtype)
    assert t.numpy() == value


def test_int_division_is_float64():
    r = tf.constant([1, 3]) / tf.constant([2, 4])
    _check(r, [0.5, 0.75], dtype=tf.float64)
    _check(tf.constant(1) / 2, 0.5, dtype=tf.float64)
    _check(3 / tf.constant(4), 0.75, dtype=tf.float64)
    _check(tf.divide(tf.constant(1), tf.constant(4)), 0.25, dtype=tf.float64)


def test_scalar_shapes_accepted():
    assert tf.zeros([]).shape == ()
    assert tf.ones((), dtype=tf.int32).shape == ()
    assert tf.reshape(tf.constant([5.0]), []).shape == ()
    assert float(tf.reshape(tf.constant([[5.0]]), ())) == 5.0


def test_floordiv_mod_and_logical_operators():
    a = tf.constant([7, -7, 5])
    b = tf.constant([2, 2, -3])
    np.testing.assert_array_equal((a // b).numpy(), np.array([7, -7, 5]) // np.array([2, 2, -3]))
    np.testing.assert_array_equal((a % b).numpy(), np.array([7, -7, 5]) % np.array([2, 2, -3]))
    np.testing.assert_array_equal((7 // b).numpy(), 7 // np.array([2, 2, -3]))
    np.testing.assert_array_equal((tf.constant(7.5) % 2.0).numpy(), 1.5)
    p = tf.constant([True, True, False])
    q = tf.constant([True, False, False])
    np.testing.assert_array_equal((p & q).numpy(), [True, False, False])
    np.testing.assert_array_equal((p | q).numpy(), [True, True, False])
    np.testing.assert_array_equal((~p).numpy(), [False, False, True])
    with pytest.raises(tf.errors.InvalidArgumentError):
        _ = tf.constant([1.0]) & tf.constant([2.0])


@pytest.mark.parametrize("shape", [(0,), (0, 3, 3), (3, 0, 2), (2, 3, 0)])
@pytest.mark.parametrize("dtype", ["int32", "int64", "float32", "float64", "bool"])
def test_empty_numpy_arrays_convert(shape, dtype):
    # numpy gives empty arrays non-zero strides; ndarray's to_owned used to
    # panic on them (found by test_fuzz)
    a = np.array([], dtype=dtype).reshape(shape)
    t = tf.constant(a)
    assert t.shape == shape and t.dtype.name == dtype
    assert t.numpy().shape == shape
    assert tf.identity(t).shape == shape


@pytest.mark.parametrize(
    "value, dtype, want_dtype",
    [
        ([[1.0, 2.0], [3.0, 4.0]], None, tf.float32),
        (((1, 2), (3, 4)), None, tf.int32),
        (range(5), None, tf.int32),
        (range(4), tf.float32, tf.float32),
        ([1, 2**40], None, tf.int64),
        ([1, 2.5], None, tf.float32),
        ([[1], [2]], tf.float64, tf.float64),
        ([3, -4], tf.int64, tf.int64),
        ([[0.1, float("inf")], [float("nan"), -0.0]], tf.float64, tf.float64),
    ],
)
def test_nested_python_numbers_convert_like_numpy(value, dtype, want_dtype):
    # plain lists are read directly (not through numpy): same values and dtypes
    got = tf.constant(value, dtype=dtype)
    assert got.dtype == want_dtype
    want = np.asarray(list(value) if isinstance(value, range) else value)
    np.testing.assert_array_equal(got.numpy(), want.astype(want_dtype.as_numpy_dtype))


@pytest.mark.parametrize(
    "value", [[[1.0, 2.0], [3.0]], [1.0, [2.0]], [[1.0], 2.0], [True, 1], [1, 2**70]]
)
def test_irregular_python_numbers_still_get_numpys_answer(value):
    # ragged, mixed-depth, bool and out-of-range inputs take the numpy path
    try:
        want = np.asarray(value)
    except ValueError:  # ragged: numpy refuses, and so does tapegrad
        with pytest.raises(ValueError):
            tf.constant(value)
        return
    if want.dtype == object:  # beyond int64
        with pytest.raises(ValueError):
            tf.constant(value)
        return
    np.testing.assert_array_equal(tf.constant(value).numpy(), want)
