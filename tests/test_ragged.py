"""tf.RaggedTensor and tf.ragged (values recorded from TF 2.21)."""

import numpy as np
import pytest
import tapegrad as tf
from _helpers import check_vjp, projected_grad


def test_construction_and_structure_match_tf():
    rt = tf.ragged.constant([[1.0, 2.0], [], [3.0]])
    assert str(rt) == "<tf.RaggedTensor [[1.0, 2.0], [], [3.0]]>"
    assert rt.shape == (3, None) and str(rt.shape.as_list()) == "[3, None]"
    assert rt.dtype == tf.float32 and rt.ragged_rank == 1
    assert rt.row_splits.numpy().tolist() == [0, 2, 2, 3] and rt.row_splits.dtype == tf.int64
    assert rt.row_lengths().numpy().tolist() == [2, 0, 1]
    np.testing.assert_array_equal(rt.flat_values.numpy(), [1, 2, 3])
    np.testing.assert_array_equal(rt.values.numpy(), [1, 2, 3])
    assert int(rt.nrows()) == 3
    assert tf.ragged.constant([[1, 2], [3]]).dtype == tf.int32
    assert (
        str(tf.RaggedTensor.from_row_lengths([1, 2, 3], [2, 0, 1]))
        == "<tf.RaggedTensor [[1, 2], [], [3]]>"
    )
    assert (
        str(tf.RaggedTensor.from_row_splits([1, 2, 3], [0, 2, 2, 3]))
        == "<tf.RaggedTensor [[1, 2], [], [3]]>"
    )
    assert (
        str(tf.RaggedTensor.from_value_rowids([1, 2, 3], [0, 0, 2]))
        == "<tf.RaggedTensor [[1, 2], [], [3]]>"
    )
    r = tf.RaggedTensor.from_value_rowids([1, 2, 3], [0, 0, 2], nrows=4)
    assert str(r) == "<tf.RaggedTensor [[1, 2], [], [3], []]>"
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.RaggedTensor.from_row_splits([1, 2, 3], [0, 2, 5])
    with pytest.raises(ValueError, match="factory methods"):
        tf.RaggedTensor([1.0], [0, 1])


def test_dense_conversion_indexing_and_math_match_tf():
    rt = tf.ragged.constant([[1.0, 2.0], [], [3.0]])
    np.testing.assert_array_equal(rt.to_tensor().numpy(), [[1, 2], [0, 0], [3, 0]])
    np.testing.assert_array_equal(
        rt.to_tensor(default_value=-1.0, shape=[2, 3]).numpy(), [[1, 2, -1], [-1, -1, -1]]
    )
    np.testing.assert_array_equal(rt[0].numpy(), [1, 2])
    assert rt[1].shape == (0,)
    np.testing.assert_array_equal(rt[-1].numpy(), [3])
    assert str(rt[1:]) == "<tf.RaggedTensor [[], [3.0]]>"
    assert float(rt[0, 1]) == 2.0
    assert str(rt + 1.0) == "<tf.RaggedTensor [[2.0, 3.0], [], [4.0]]>"
    assert str(rt * rt) == "<tf.RaggedTensor [[1.0, 4.0], [], [9.0]]>"
    assert str(2.0 - rt) == "<tf.RaggedTensor [[1.0, 0.0], [], [-1.0]]>"
    assert (
        str(tf.ragged.map_flat_values(tf.square, rt)) == "<tf.RaggedTensor [[1.0, 4.0], [], [9.0]]>"
    )
    np.testing.assert_allclose(
        tf.ragged.map_flat_values(tf.exp, rt).flat_values.numpy(),
        np.exp([1.0, 2.0, 3.0]),
        rtol=1e-6,
    )
    np.testing.assert_array_equal(tf.reduce_sum(rt, axis=1).numpy(), [3, 0, 3])
    np.testing.assert_array_equal(tf.reduce_mean(rt, axis=1).numpy(), [1.5, np.nan, 3])
    np.testing.assert_array_equal(
        tf.reduce_max(rt, axis=1).numpy(), [2, np.finfo(np.float32).min, 3]
    )
    assert float(tf.reduce_sum(rt)) == 6.0
    both = tf.concat([rt, rt], axis=0)
    assert str(both) == "<tf.RaggedTensor [[1.0, 2.0], [], [3.0], [1.0, 2.0], [], [3.0]]>"
    with pytest.raises(tf.errors.InvalidArgumentError, match="different row lengths"):
        rt + tf.ragged.constant([[1.0], [2.0], [3.0]])  # noqa: B018
    # ordinary tensors still go the ordinary way
    assert float(tf.reduce_sum(tf.constant([1.0, 2.0]))) == 3.0
    np.testing.assert_array_equal(
        tf.concat([tf.constant([1]), tf.constant([2])], 0).numpy(), [1, 2]
    )


def test_gradient_reaches_flat_values_as_in_tf():
    x = tf.constant([1.0, 2.0, 3.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        r = tf.RaggedTensor.from_row_lengths(x, [2, 1])
        y = tf.reduce_sum(tf.reduce_mean(r * r, axis=1))
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [1, 2, 6])


def test_numeric_gradients_first_and_second_order():
    rng = np.random.default_rng(6)
    values = rng.standard_normal(5)

    def f(v):
        rt = tf.RaggedTensor.from_row_lengths(v, [2, 0, 3])
        cubed = tf.ragged.map_flat_values(lambda t: t * t * t, rt)
        # the empty middle row's mean is NaN: keep rows 0 and 2
        return tf.concat([tf.reduce_sum(cubed, axis=1), tf.reduce_mean(rt * rt, axis=1)[::2]], 0)

    check_vjp(f, [values])
    check_vjp(projected_grad(f, [values]), [values], unconnected="zero")
    check_vjp(lambda v: tf.RaggedTensor.from_row_lengths(v * v, [2, 0, 3]).to_tensor(), [values])
