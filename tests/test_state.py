"""Scatter ops, Variable scatter methods and sliced Variable assignment.

Expected values were recorded from TensorFlow 2.21 (CPU).
"""

import numpy as np
import pytest
import tapegrad as tf
from _helpers import check_vjp, projected_grad

IDX = np.array([[1], [3], [1]])


def test_tensor_scatter_values_match_tf():
    t = tf.zeros([4, 2])
    # duplicates: update keeps the last (TF's CPU kernel), add accumulates
    dup = [[1], [1]]
    upd = [[1.0, 2.0], [3.0, 4.0]]
    np.testing.assert_array_equal(
        tf.tensor_scatter_nd_update(t, dup, upd).numpy(), [[0, 0], [3, 4], [0, 0], [0, 0]]
    )
    np.testing.assert_array_equal(
        tf.tensor_scatter_nd_add(t, dup, upd).numpy(), [[0, 0], [4, 6], [0, 0], [0, 0]]
    )
    np.testing.assert_array_equal(
        tf.tensor_scatter_nd_sub(t, dup, upd).numpy(), [[0, 0], [-4, -6], [0, 0], [0, 0]]
    )
    x = tf.constant([1.0, 5.0, 3.0, 2.0])
    np.testing.assert_array_equal(
        tf.tensor_scatter_nd_max(x, [[0], [1]], [4.0, 4.0]).numpy(), [4, 5, 3, 2]
    )
    np.testing.assert_array_equal(
        tf.tensor_scatter_nd_min(x, [[0], [1]], [4.0, 4.0]).numpy(), [1, 4, 3, 2]
    )
    s = tf.scatter_nd([[1], [1], [3]], [1.0, 2.0, 3.0], [5])
    np.testing.assert_array_equal(s.numpy(), [0, 3, 0, 3, 0])
    assert s.dtype == tf.float32
    # full-coordinate indices into a matrix, int and bool tensors
    m = tf.tensor_scatter_nd_add(tf.zeros([2, 3], tf.int32), [[0, 2], [1, 0]], [7, 8])
    np.testing.assert_array_equal(m.numpy(), [[0, 0, 7], [8, 0, 0]])
    b = tf.tensor_scatter_nd_update(tf.cast(tf.zeros([3]), tf.bool), [[2]], [True])
    np.testing.assert_array_equal(b.numpy(), [False, False, True])
    # Python updates take the tensor's dtype
    d = tf.tensor_scatter_nd_update(tf.zeros([2], tf.float64), [[0]], [1.5])
    assert d.dtype == tf.float64


def test_scatter_errors_name_the_op():
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"ScatterNd.*indices\[0\] = \[7\] does not index into shape \[5\]",
    ):
        tf.scatter_nd([[7]], [1.0], [5])
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"TensorScatterUpdate.*does not index into shape \[4, 2\]",
    ):
        tf.tensor_scatter_nd_update(tf.zeros([4, 2]), [[7]], [[1.0, 1.0]])
    with pytest.raises(tf.errors.InvalidArgumentError, match="updates must have shape"):
        tf.tensor_scatter_nd_add(tf.zeros([4, 2]), [[1]], [1.0, 2.0, 3.0])
    with pytest.raises(tf.errors.InvalidArgumentError, match="int32, int64"):
        tf.tensor_scatter_nd_add(tf.zeros([4]), [[0.5]], [1.0])
    with pytest.raises(tf.errors.InvalidArgumentError, match="bool is not supported"):
        tf.tensor_scatter_nd_add(tf.cast(tf.zeros([4]), tf.bool), [[0]], [True])


def test_max_min_and_update_gradients_match_tf():
    x = tf.constant([1.0, 5.0, 3.0, 2.0])
    u = tf.constant([4.0, 4.0])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, u])
        y = tf.tensor_scatter_nd_max(x, [[0], [1]], u)
        z = tf.tensor_scatter_nd_update(x, [[0], [0]], u)
    gx, gu = tape.gradient(y, [x, u])
    np.testing.assert_array_equal(gx.numpy(), [0, 1, 1, 1])
    np.testing.assert_array_equal(gu.numpy(), [1, 0])
    gx, gu = tape.gradient(z, [x, u])
    np.testing.assert_array_equal(gx.numpy(), [0, 1, 1, 1])
    np.testing.assert_array_equal(gu.numpy(), [1, 1])  # every duplicate gets the gradient
    # a tie splits the gradient evenly
    with tf.GradientTape() as tape:
        tape.watch([x, u])
        y = tf.tensor_scatter_nd_max(x, [[2]], [3.0])
    assert tape.gradient(y, x).numpy()[2] == 0.5


@pytest.mark.parametrize("mode", ["update", "add", "sub", "max", "min"])
def test_scatter_gradients_first_and_second_order(mode):
    op = getattr(tf, f"tensor_scatter_nd_{mode}")
    rng = np.random.default_rng(3)
    base = rng.standard_normal((5, 2))
    updates = rng.standard_normal((3, 2)) * 3
    idx = tf.constant([[1], [4], [2]])  # no duplicates: max/min are smooth away from ties

    def f(t, u):
        return op(t * t, idx, u * u * u)

    check_vjp(f, [base, updates])
    check_vjp(projected_grad(f, [base, updates]), [base, updates], unconnected="zero")


def test_scatter_nd_gradient_with_duplicates_and_jacobian():
    rng = np.random.default_rng(4)
    updates = rng.standard_normal((3, 2))

    def f(u):
        return tf.scatter_nd(tf.constant(IDX), u * u, [4, 2])

    check_vjp(f, [updates])
    check_vjp(projected_grad(f, [updates]), [updates], unconnected="zero")
    u = tf.constant(updates)
    with tf.GradientTape() as tape:
        tape.watch(u)
        y = tf.tensor_scatter_nd_update(tf.zeros([4, 2], tf.float64), IDX[:2], u[:2])
    jac = tape.jacobian(y, u).numpy()
    expected = np.zeros((4, 2, 3, 2))
    for k, row in enumerate([1, 3]):
        expected[row, :, k, :] = np.eye(2)
    np.testing.assert_array_equal(jac, expected)


def test_variable_scatter_methods_match_tf():
    v = tf.Variable([1.0, 2.0, 3.0, 4.0])
    assert v.scatter_nd_update([[0]], [9.0]) is v
    np.testing.assert_array_equal(v.numpy(), [9, 2, 3, 4])
    v.scatter_nd_add([[1], [1]], [1.0, 1.0])
    np.testing.assert_array_equal(v.numpy(), [9, 4, 3, 4])
    v.scatter_nd_sub([[2]], [1.0])
    v.scatter_nd_max([[3]], [10.0])
    v.scatter_nd_min([[0]], [0.0])
    np.testing.assert_array_equal(v.numpy(), [0, 4, 2, 10])
    v.scatter_update(tf.IndexedSlices(tf.constant([7.0]), tf.constant([3])))
    np.testing.assert_array_equal(v.numpy(), [0, 4, 2, 7])
    m = tf.Variable([[2.0, 2.0, 2.0], [0.0, 0.0, 0.0]])
    m.scatter_add(tf.IndexedSlices(tf.constant([[1.0, 1.0, 1.0]]), [1]))
    np.testing.assert_array_equal(m.numpy(), [[2, 2, 2], [1, 1, 1]])
    with pytest.raises(TypeError, match="must be a `tf.IndexedSlices`"):
        v.scatter_update(tf.constant([1.0]))
    with pytest.raises(AttributeError, match="no attribute 'scatter_frobnicate'"):
        v.scatter_frobnicate  # noqa: B018
    np.testing.assert_array_equal(v.sparse_read([3, 0]).numpy(), [7, 0])


def test_sliced_variable_assignment_matches_tf():
    v = tf.Variable([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    v[0].assign(7.0)  # broadcast, as TF
    v[:, 1:].assign([9.0, 8.0])
    np.testing.assert_array_equal(v.numpy(), [[7, 9, 8], [4, 9, 8]])
    v[tf.constant(1)].assign([0.0, 0.0, 0.0])
    np.testing.assert_array_equal(v.numpy(), [[7, 9, 8], [0, 0, 0]])
    v[..., None].assign(tf.ones((2, 3, 1)))
    v[0, None].assign([[3.0, 3.0, 3.0]])
    np.testing.assert_array_equal(v.numpy(), [[3, 3, 3], [1, 1, 1]])
    w = tf.Variable([1, 2, 3])
    w[::-1].assign([4, 5, 6])
    np.testing.assert_array_equal(w.numpy(), [6, 5, 4])
    # the slice is a snapshot: later assignments do not change it
    x = v[0]
    v.assign(tf.zeros((2, 3)))
    np.testing.assert_array_equal(x.numpy(), [3, 3, 3])
    with pytest.raises(tf.errors.InvalidArgumentError, match="cannot broadcast input shape"):
        v[0].assign([1.0, 2.0])
    # TF gives a slice `.assign` only (no assign_add), and plain tensors none
    with pytest.raises(AttributeError):
        v[0].assign_add(1.0)  # noqa: B018
    with pytest.raises(AttributeError, match="no attribute 'assign'"):
        tf.constant([1.0]).assign  # noqa: B018


def test_variable_slice_reads_are_differentiable():
    v = tf.Variable([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(v[0] * 2.0)
    np.testing.assert_array_equal(tape.gradient(y, v).numpy(), [[2, 2, 2], [0, 0, 0]])
