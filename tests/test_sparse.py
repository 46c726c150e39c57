"""tf.sparse.SparseTensor and the tf.sparse ops (values recorded from TF 2.21)."""

import numpy as np
import pytest
import tapegrad as tf
from _helpers import check_vjp, projected_grad


def _st(values=(1.0, 2.0)):
    return tf.sparse.SparseTensor(indices=[[0, 3], [2, 1]], values=list(values), dense_shape=[3, 4])


def test_sparse_tensor_attributes_and_conversions_match_tf():
    st = _st()
    assert tf.SparseTensor is tf.sparse.SparseTensor
    assert st.shape == (3, 4) and st.dtype == tf.float32
    assert st.indices.dtype == tf.int64 and st.dense_shape.dtype == tf.int64
    assert str(st).startswith("SparseTensor(indices=tapegrad.Tensor(")
    np.testing.assert_array_equal(
        tf.sparse.to_dense(st).numpy(), [[0, 0, 0, 1], [0, 0, 0, 0], [0, 2, 0, 0]]
    )
    fd = tf.sparse.from_dense(tf.constant([[0.0, 1.0], [2.0, 0.0]]))
    assert fd.indices.numpy().tolist() == [[0, 1], [1, 0]]
    np.testing.assert_array_equal(fd.values.numpy(), [1, 2])
    assert fd.dense_shape.numpy().tolist() == [2, 2]
    with pytest.raises(ValueError):
        tf.convert_to_tensor(st)
    with pytest.raises(TypeError):
        st + st  # noqa: B018 - TF has no + on SparseTensors
    np.testing.assert_array_equal((st * 2.0).values.numpy(), [2, 4])
    with pytest.raises(
        tf.errors.InvalidArgumentError, match=r"indices\[1\] = \[0, 3\] is out of order"
    ):
        tf.sparse.to_dense(tf.sparse.SparseTensor([[2, 1], [0, 3]], [2.0, 1.0], [3, 4]))


def test_sparse_ops_match_tf():
    a = tf.sparse.SparseTensor([[0, 0], [1, 1]], [1.0, 2.0], [2, 2])
    b = tf.sparse.SparseTensor([[0, 0], [0, 1]], [3.0, 4.0], [2, 2])
    s = tf.sparse.add(a, b)
    assert s.indices.numpy().tolist() == [[0, 0], [0, 1], [1, 1]]
    np.testing.assert_array_equal(s.values.numpy(), [4, 4, 2])
    dense = tf.sparse.add(a, tf.constant([[0.0, 1.0], [2.0, 0.0]]))
    np.testing.assert_array_equal(dense.numpy(), [[1, 1], [2, 2]])
    neg = tf.sparse.SparseTensor([[0, 0]], [-1.0], [2, 2])
    s3 = tf.sparse.add(a, neg)
    assert s3.indices.numpy().tolist() == [[0, 0], [1, 1]]
    np.testing.assert_array_equal(s3.values.numpy(), [0, 2])
    s4 = tf.sparse.add(a, neg, threshold=0.5)
    assert s4.indices.numpy().tolist() == [[1, 1]]
    st = _st()
    np.testing.assert_array_equal(
        tf.sparse.sparse_dense_matmul(st, tf.ones((4, 2))).numpy(), [[1, 1], [0, 0], [2, 2]]
    )
    np.testing.assert_array_equal(
        tf.sparse.sparse_dense_matmul(st, tf.ones((3, 2)), adjoint_a=True).numpy(),
        [[0, 0], [2, 2], [0, 0], [1, 1]],
    )
    assert float(tf.sparse.reduce_sum(st)) == 3.0
    np.testing.assert_array_equal(tf.sparse.reduce_sum(st, axis=1).numpy(), [1, 0, 2])
    np.testing.assert_array_equal(
        tf.sparse.reduce_sum(st, axis=0, keepdims=True).numpy(), [[0, 2, 0, 1]]
    )
    o = tf.sparse.reduce_sum(st, axis=1, output_is_sparse=True)
    assert isinstance(o, tf.SparseTensor) and o.indices.numpy().tolist() == [[0], [2]]
    r = tf.sparse.reorder(tf.sparse.SparseTensor([[2, 1], [0, 3]], [2.0, 1.0], [3, 4]))
    assert r.indices.numpy().tolist() == [[0, 3], [2, 1]]
    np.testing.assert_array_equal(r.values.numpy(), [1, 2])
    rt = tf.sparse.retain(st, [False, True])
    assert rt.indices.numpy().tolist() == [[2, 1]]
    sl = tf.sparse.slice(st, [1, 0], [2, 4])
    assert sl.indices.numpy().tolist() == [[1, 1]] and sl.dense_shape.numpy().tolist() == [2, 4]
    np.testing.assert_array_equal(sl.values.numpy(), [2])


def test_gradients_reach_the_values_as_in_tf():
    v = tf.constant([1.0, 2.0])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(v)
        sp = tf.sparse.SparseTensor([[0, 3], [2, 1]], v, [3, 4])
        y = tf.reduce_sum(
            tf.sparse.sparse_dense_matmul(sp, tf.constant(np.arange(8.0).reshape(4, 2), tf.float32))
        )
        z = tf.reduce_sum(
            tf.sparse.to_dense(sp) * tf.constant(np.arange(12.0).reshape(3, 4), tf.float32)
        )
        w = tf.sparse.reduce_sum(sp)
    np.testing.assert_array_equal(tape.gradient(y, v).numpy(), [13, 5])
    np.testing.assert_array_equal(tape.gradient(z, v).numpy(), [3, 9])
    np.testing.assert_array_equal(tape.gradient(w, v).numpy(), [1, 1])


def test_numeric_gradients_first_and_second_order():
    rng = np.random.default_rng(5)
    values = rng.standard_normal(3)
    dense = rng.standard_normal((4, 2))
    idx = [[0, 1], [2, 3], [2, 0]]

    def matmul(v, d):
        sp = tf.sparse.SparseTensor(idx, v * v, [3, 4])
        return tf.sparse.sparse_dense_matmul(sp, d * d)

    def add_and_reduce(v, d):
        sp = tf.sparse.SparseTensor(idx, v * v * v, [3, 4])
        other = tf.sparse.SparseTensor([[2, 3]], v[:1] * 2.0, [3, 4])
        return tf.sparse.reduce_sum(tf.sparse.add(sp, other), axis=0) + tf.reduce_sum(d)

    for f in (matmul, add_and_reduce):
        check_vjp(f, [values, dense])
        check_vjp(projected_grad(f, [values, dense]), [values, dense], unconnected="zero")
