"""``tapegrad.Variable``: construction, tape interaction, assignment."""

from __future__ import annotations

import numpy as np
import pytest
import tapegrad as tf


def test_construction_dtype_name_trainable():
    v = tf.Variable([1.0, 2.0])
    assert isinstance(v, tf.Variable)
    assert v.dtype == tf.float32 and v.dtype.name == "float32"
    assert tuple(v.shape) == (2,)
    assert v.trainable is True
    assert v.name.endswith(":0")
    np.testing.assert_array_equal(v.numpy(), np.array([1.0, 2.0], np.float32))

    w = tf.Variable([1.0, 2.0], dtype=tf.float64, name="w", trainable=False)
    assert w.dtype == tf.float64 and w.name == "w:0" and w.trainable is False
    assert w.numpy().dtype == np.float64

    assert tf.Variable(range(4), dtype=tf.float32).dtype == tf.float32
    assert tf.Variable([1, 2]).dtype == tf.int32
    assert tf.Variable(np.array([1.0])).dtype == tf.float64
    assert tf.Variable(lambda: tf.ones([3])).numpy().tolist() == [1.0, 1.0, 1.0]
    assert tf.Variable(3, dtype="float64").dtype == tf.float64


def test_read_value_is_a_tensor():
    v = tf.Variable([[1.0, 2.0]], name="r")
    r = v.read_value()
    assert isinstance(r, tf.Tensor) and not isinstance(r, tf.Variable)
    np.testing.assert_array_equal(r.numpy(), [[1.0, 2.0]])
    assert isinstance(v + 1.0, tf.Tensor)
    np.testing.assert_array_equal(np.asarray(v), [[1.0, 2.0]])
    assert repr(v) == (
        "<tapegrad.Variable 'r:0' shape=(1, 2) dtype=float32, "
        "numpy=array([[1., 2.]], dtype=float32)>"
    )


def test_auto_watch_when_read_in_tape():
    v = tf.Variable([1.0, 2.0, 3.0])
    with tf.GradientTape() as t:
        y = tf.reduce_sum(v * v)
    g = t.gradient(y, v)
    assert isinstance(g, tf.Tensor) and g.dtype == tf.float32
    np.testing.assert_array_equal(g.numpy(), [2.0, 4.0, 6.0])


def test_variable_created_inside_tape_is_watched():
    with tf.GradientTape() as t:
        v = tf.Variable(3.0)
        y = v * v
    assert float(t.gradient(y, v)) == 6.0


def test_watch_accessed_variables_false():
    v = tf.Variable(3.0)
    with tf.GradientTape(watch_accessed_variables=False, persistent=True) as t:
        y = v * v
    assert t.gradient(y, v) is None
    assert t.watched_variables() == ()
    with tf.GradientTape(watch_accessed_variables=False) as t:
        t.watch(v)
        y = v * v
    assert float(t.gradient(y, v)) == 6.0
    assert [w.name for w in t.watched_variables()] == [v.name]


def test_non_trainable_not_auto_watched():
    v = tf.Variable(3.0, trainable=False)
    with tf.GradientTape(persistent=True) as t:
        y = v * v
    assert t.gradient(y, v) is None
    assert t.watched_variables() == ()
    with tf.GradientTape() as t:
        t.watch(v)  # explicit watch still works
        y = v * v
    assert float(t.gradient(y, v)) == 6.0


def test_assign_values():
    v = tf.Variable([1.0, 2.0])
    assert v.assign([3.0, 4.0]) is v
    np.testing.assert_array_equal(v.numpy(), [3.0, 4.0])
    assert v.assign_add(tf.constant([1.0, 1.0])) is v
    np.testing.assert_array_equal(v.numpy(), [4.0, 5.0])
    assert v.assign_sub(np.array([0.5, 0.5], np.float32)) is v
    np.testing.assert_array_equal(v.numpy(), [3.5, 4.5])
    assert v.assign([0.0, 0.0], read_value=False) is None
    np.testing.assert_array_equal(v.numpy(), [0.0, 0.0])
    assert v.dtype == tf.float32 and tuple(v.shape) == (2,)

    iv = tf.Variable([1, 2])
    iv.assign_add([10, 20])
    np.testing.assert_array_equal(iv.numpy(), [11, 22])
    assert iv.numpy().dtype == np.int32


def test_assign_does_not_change_earlier_reads():
    v = tf.Variable([1.0, 2.0])
    r = v.read_value()
    a = np.asarray(v)
    v.assign([5.0, 6.0])
    np.testing.assert_array_equal(r.numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(a, [1.0, 2.0])


@pytest.mark.parametrize("method", ["assign", "assign_add", "assign_sub"])
def test_assign_dtype_and_shape_mismatch(method):
    v = tf.Variable([1.0, 2.0])
    with pytest.raises(tf.errors.InvalidArgumentError):  # int32 tensor into float32
        getattr(v, method)(tf.constant([1, 2]))
    with pytest.raises(tf.errors.InvalidArgumentError):  # float64 tensor into float32
        getattr(v, method)(tf.constant([1.0, 2.0], dtype=tf.float64))
    with pytest.raises(ValueError):  # shape
        getattr(v, method)([1.0, 2.0, 3.0])
    with pytest.raises(ValueError):  # shape, even though it would broadcast
        getattr(v, method)(tf.constant(1.0))
    iv = tf.Variable([1, 2])
    with pytest.raises(TypeError):  # a float cannot become an int
        getattr(iv, method)([1.5, 2.0])
    np.testing.assert_array_equal(v.numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(iv.numpy(), [1, 2])


def test_reads_around_assign_sum_their_gradients():
    v = tf.Variable(2.0)
    with tf.GradientTape() as t:
        y1 = 3.0 * v  # read: 2
        v.assign(5.0)
        y2 = v * v  # reads: 5, 5
        y = y1 + y2
    assert float(y) == 6.0 + 25.0
    assert float(t.gradient(y, v)) == 3.0 + 10.0


def test_assign_is_not_differentiated():
    v = tf.Variable(2.0)
    x = tf.constant(4.0)
    with tf.GradientTape() as t:
        t.watch(x)
        v.assign_add(x * x)
        y = v * 1.0
    assert float(y) == 18.0
    grads = t.gradient(y, [v, x])
    assert float(grads[0]) == 1.0 and grads[1] is None
