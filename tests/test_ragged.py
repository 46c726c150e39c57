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


def test_nested_ragged_dimensions_match_tf():
    rt = tf.RaggedTensor.from_nested_row_splits([1.0, 2.0, 3.0, 4.0], [[0, 2, 3], [0, 1, 1, 4]])
    assert str(rt) == "<tf.RaggedTensor [[[1.0], []], [[2.0, 3.0, 4.0]]]>"
    assert rt.shape == (2, None, None) and rt.ragged_rank == 2 and rt.dtype == tf.float32
    assert [s.numpy().tolist() for s in rt.nested_row_splits] == [[0, 2, 3], [0, 1, 1, 4]]
    assert [x.numpy().tolist() for x in rt.nested_row_lengths()] == [[2, 1], [1, 0, 3]]
    assert rt.to_tensor(default_value=-1.0).numpy().tolist() == [
        [[1.0, -1.0, -1.0], [-1.0, -1.0, -1.0]],
        [[2.0, 3.0, 4.0], [-1.0, -1.0, -1.0]],
    ]
    assert rt.to_tensor(shape=[3, 1, 2]).numpy().tolist() == [
        [[1.0, 0.0]],
        [[2.0, 3.0]],
        [[0.0, 0.0]],
    ]
    assert rt.row_lengths().numpy().tolist() == [2, 1]
    assert rt.row_lengths(axis=2).to_list() == [[1, 0], [3]]
    assert rt.row_lengths(axis=-1).to_list() == [[1, 0], [3]]
    assert rt.values.to_list() == [[1.0], [], [2.0, 3.0, 4.0]]
    assert rt.flat_values.numpy().tolist() == [1.0, 2.0, 3.0, 4.0]
    assert rt.bounding_shape().numpy().tolist() == [2, 2, 3]
    lengths = tf.RaggedTensor.from_nested_row_lengths([1.0, 2.0, 3.0, 4.0], [[2, 1], [1, 0, 3]])
    assert lengths.to_list() == rt.to_list()
    with pytest.raises(NotImplementedError, match="ragged_rank 2"):
        rt.row_lengths(axis=3)


def test_nested_indexing_math_and_concat_match_tf():
    rt = tf.RaggedTensor.from_nested_row_splits([1.0, 2.0, 3.0, 4.0], [[0, 2, 3], [0, 1, 1, 4]])
    assert (rt * 2.0 + rt).to_list() == [[[3.0], []], [[6.0, 9.0, 12.0]]]
    assert tf.ragged.map_flat_values(tf.square, rt).to_list() == [[[1.0], []], [[4.0, 9.0, 16.0]]]
    assert rt[1].to_list() == [[2.0, 3.0, 4.0]]
    assert rt[0][1].numpy().tolist() == []
    assert rt[1:].to_list() == [[[2.0, 3.0, 4.0]]]
    assert rt[1, 0].numpy().tolist() == [2.0, 3.0, 4.0]
    both = tf.concat([rt, rt[1:]], 0)
    assert both.to_list() == [[[1.0], []], [[2.0, 3.0, 4.0]], [[2.0, 3.0, 4.0]]]
    assert both.ragged_rank == 2
    assert float(tf.reduce_sum(rt)) == 10.0
    with pytest.raises(NotImplementedError, match="ragged_rank 2"):
        tf.reduce_sum(rt, axis=1)
    other = tf.RaggedTensor.from_nested_row_lengths([1.0, 2.0, 3.0, 4.0], [[2, 1], [0, 1, 3]])
    with pytest.raises(tf.errors.InvalidArgumentError, match="different row lengths"):
        rt + other


def test_constant_ragged_rank_and_uniform_rows_match_tf():
    nested = tf.ragged.constant([[[1, 2], [3]], [], [[4, 5, 6]]])
    assert str(nested) == "<tf.RaggedTensor [[[1, 2], [3]], [], [[4, 5, 6]]]>"
    assert nested.shape == (3, None, None) and nested.ragged_rank == 2
    assert nested.dtype == tf.int32
    inner_uniform = tf.ragged.constant([[[1, 2], [3, 4]], [[5, 6]]], ragged_rank=1)
    assert str(inner_uniform) == "<tf.RaggedTensor [[[1, 2],\n  [3, 4]], [[5, 6]]]>"
    assert inner_uniform.shape == (2, None, 2) and inner_uniform.ragged_rank == 1
    assert inner_uniform.flat_values.shape == (3, 2)
    with pytest.raises(ValueError, match="one length"):
        tf.ragged.constant([[[1, 2], [3]]], ragged_rank=1)
    with pytest.raises(ValueError, match="ragged_rank"):
        tf.ragged.constant([1, 2])

    rows = tf.RaggedTensor.from_uniform_row_length([1, 2, 3, 4, 5, 6], 3)
    assert str(rows) == "<tf.RaggedTensor [[1, 2, 3],\n [4, 5, 6]]>"
    assert rows.shape == (2, 3) and rows.ragged_rank == 1
    assert rows.row_splits.numpy().tolist() == [0, 3, 6]
    assert int(rows.uniform_row_length) == 3
    grouped = tf.RaggedTensor.from_uniform_row_length(
        tf.RaggedTensor.from_row_lengths([1, 2, 3], [1, 0, 2, 0]), 2
    )
    assert str(grouped) == "<tf.RaggedTensor [[[1], []],\n [[2, 3], []]]>"
    assert grouped.shape == (2, 2, None)
    assert grouped.to_tensor().numpy().tolist() == [[[1, 0], [0, 0]], [[2, 3], [0, 0]]]
    # concatenated rows are ragged again (TF)
    assert tf.concat([grouped, grouped], 0).shape == (4, None, None)
    with pytest.raises(tf.errors.InvalidArgumentError, match="rows of 4"):
        tf.RaggedTensor.from_uniform_row_length([1, 2, 3], 4)


def test_nested_numeric_gradients_first_and_second_order():
    rng = np.random.default_rng(7)
    values = rng.standard_normal(6)
    splits = [[0, 2, 4], [0, 1, 1, 4, 6]]

    def f(v):
        rt = tf.RaggedTensor.from_nested_row_splits(v, splits)
        cubed = tf.ragged.map_flat_values(lambda t: t * t * t, rt * rt.flat_values[0])
        return cubed.to_tensor(default_value=0.5)

    check_vjp(f, [values])
    check_vjp(projected_grad(f, [values]), [values], unconnected="zero")
