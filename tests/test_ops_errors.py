"""Bad input for every op family raises a ``tapegrad.errors`` exception
(or the builtin TF raises) naming the op, never a panic."""

from __future__ import annotations

import numpy as np
import pytest
import tapegrad as tf

M = tf.ones([2, 3])
I = tf.constant([[1, 2], [3, 4]])  # noqa: E741
InvalidArgument = tf.errors.InvalidArgumentError

CASES = [
    # reductions: bad axis, wrong dtype
    (lambda: tf.reduce_max(M, axis=2), InvalidArgument, "Max"),
    (lambda: tf.reduce_min(M, axis=-3), InvalidArgument, "Min"),
    (lambda: tf.reduce_prod(tf.constant([True]), axis=0), InvalidArgument, "Prod"),
    (lambda: tf.reduce_logsumexp(I), InvalidArgument, "ReduceLogSumExp"),
    (lambda: tf.math.reduce_std(I), InvalidArgument, "ReduceStd"),
    (lambda: tf.reduce_any(M), InvalidArgument, "Any"),
    (lambda: tf.argmax(M, axis=5), InvalidArgument, "ArgMax"),
    (lambda: tf.argmax(tf.zeros([0, 2])), InvalidArgument, "ArgMax"),
    (lambda: tf.argmin(tf.constant(1.0)), InvalidArgument, "ArgMin"),
    (lambda: tf.cumsum(M, axis=2), InvalidArgument, "Cumsum"),
    (lambda: tf.norm(M, ord=2, axis=[0, 1]), tf.errors.UnimplementedError, "norm"),
    (lambda: tf.norm(M, axis=[0, 0]), InvalidArgument, "norm"),
    (lambda: tf.norm(I), InvalidArgument, "norm"),
    # shape ops
    (lambda: tf.expand_dims(M, 4), InvalidArgument, "ExpandDims"),
    (lambda: tf.squeeze(M, axis=0), InvalidArgument, "Squeeze"),
    (lambda: tf.concat([M, tf.ones([2, 2])], axis=0), InvalidArgument, "ConcatV2"),
    (lambda: tf.concat([M, tf.ones([2, 3], tf.float64)], axis=0), InvalidArgument, "ConcatV2"),
    (lambda: tf.concat([M], axis=2), InvalidArgument, "ConcatV2"),
    (lambda: tf.stack([M, tf.ones([3, 2])]), InvalidArgument, "Pack"),
    (lambda: tf.unstack(tf.constant(1.0)), InvalidArgument, "Unpack"),
    (lambda: tf.split(M, [1, 1], axis=1), InvalidArgument, "SplitV"),
    (lambda: tf.tile(M, [2]), InvalidArgument, "Tile"),
    (lambda: tf.pad(M, [[1, 1]]), InvalidArgument, "Pad"),
    (lambda: tf.pad(M, [[1, 1], [0, 0]], mode="REFLECT"), tf.errors.UnimplementedError, "Pad"),
    (lambda: tf.reverse(M, [3]), InvalidArgument, "ReverseV2"),
    (lambda: tf.transpose(M, [0, 0]), InvalidArgument, "Transpose"),
    (lambda: tf.reshape(M, [4, -1]), InvalidArgument, "Reshape"),
    # indexing: out-of-range index, wrong dtype
    (lambda: tf.gather(M, [0, 2]), InvalidArgument, "GatherV2"),
    (lambda: tf.gather(M, [0, -1], axis=1), InvalidArgument, "GatherV2"),
    (lambda: tf.gather(M, [0.0]), InvalidArgument, "GatherV2"),
    (lambda: tf.gather(M, [[0]], axis=0, batch_dims=1), InvalidArgument, "GatherV2"),
    (lambda: tf.gather_nd(M, [[0, 3]]), InvalidArgument, "GatherNd"),
    (lambda: tf.gather_nd(M, [[0, 0, 0]]), InvalidArgument, "GatherNd"),
    (lambda: tf.gather_nd(M, [[0], [1], [0]], batch_dims=1), InvalidArgument, "GatherNd"),
    (lambda: tf.gather_nd(M, [[0, 1]], batch_dims=2), InvalidArgument, "GatherNd"),
    (lambda: tf.boolean_mask(M, [True, False, True]), InvalidArgument, "boolean_mask"),
    (lambda: tf.one_hot([0], 3, axis=3), InvalidArgument, "OneHot"),
    (lambda: tf.one_hot([0.5], 3), InvalidArgument, "OneHot"),
    (lambda: M[2], InvalidArgument, "StridedSlice"),
    (lambda: M[0, 0, 0], InvalidArgument, "StridedSlice"),
    (lambda: M[..., ...], ValueError, "ellipses"),
    (lambda: M["a"], TypeError, "valid indices"),
    # nn
    (lambda: tf.nn.softmax(tf.constant([1, 2])), InvalidArgument, "Softmax"),
    (lambda: tf.nn.softmax(M, axis=2), InvalidArgument, "Max"),
    (
        lambda: tf.nn.sparse_softmax_cross_entropy_with_logits(labels=[0, 3], logits=M),
        InvalidArgument,
        "valid range of [0, 3)",
    ),
    (
        lambda: tf.nn.sparse_softmax_cross_entropy_with_logits(labels=[0], logits=M),
        InvalidArgument,
        "SparseSoftmaxCrossEntropyWithLogits",
    ),
    (
        lambda: tf.nn.softmax_cross_entropy_with_logits(labels=tf.ones([2, 2]), logits=M),
        InvalidArgument,
        "SoftmaxCrossEntropyWithLogits",
    ),
    (
        lambda: tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.ones([3]), logits=M),
        InvalidArgument,
        "sigmoid_cross_entropy_with_logits",
    ),
    (lambda: tf.nn.bias_add(M, tf.ones([2])), InvalidArgument, "BiasAdd"),
    (lambda: tf.nn.dropout(M, rate=-0.1), InvalidArgument, "dropout"),
    (lambda: tf.nn.l2_loss(I), InvalidArgument, "L2Loss"),
    (lambda: tf.nn.relu(tf.constant([True])), InvalidArgument, "Relu"),
    (lambda: tf.sigmoid(I), InvalidArgument, "Sigmoid"),
    (lambda: tf.squared_difference(M, tf.ones([3, 2])), InvalidArgument, "SquaredDifference"),
    (lambda: tf.clip_by_value(M, tf.zeros([4, 2, 3]), 1.0), InvalidArgument, "clip_by_value"),
    # linalg
    (lambda: tf.linalg.matvec(M, tf.ones([2])), InvalidArgument, "MatMul"),
    (lambda: tf.linalg.diag_part(tf.ones([3])), InvalidArgument, "MatrixDiagPart"),
    (lambda: tf.linalg.trace(tf.ones([3])), InvalidArgument, "MatrixDiagPart"),
    (lambda: tf.tensordot(M, M, 1), InvalidArgument, "tensordot"),
    (lambda: tf.tensordot(M, M, 3), InvalidArgument, "tensordot"),
    (lambda: tf.einsum("ij,jk->ik", M, M), InvalidArgument, "einsum"),
    (lambda: tf.einsum("ij->i", M, M), InvalidArgument, "einsum"),
    (lambda: tf.einsum("i...->i", M), tf.errors.UnimplementedError, "einsum"),
    (lambda: tf.einsum("ij->k", M), InvalidArgument, "einsum"),
    (lambda: tf.linalg.inv(M), InvalidArgument, "MatrixInverse"),
    (lambda: tf.linalg.inv(tf.zeros([2, 2])), InvalidArgument, "not invertible"),
    (lambda: tf.linalg.det(I), InvalidArgument, "MatrixDeterminant"),
    (lambda: tf.linalg.solve(tf.eye(2), tf.ones([3, 1])), InvalidArgument, "MatrixSolve"),
    (lambda: tf.linalg.cholesky(-tf.eye(2)), InvalidArgument, "Cholesky"),
    # convolution and pooling
    (
        lambda: tf.nn.conv2d(tf.ones([1, 4, 4, 2]), tf.ones([2, 2, 3, 1]), 1, "SAME"),
        InvalidArgument,
        "Conv2D",
    ),
    (lambda: tf.nn.conv2d(M, tf.ones([2, 2, 3, 1]), 1, "SAME"), InvalidArgument, "Conv2D"),
    (
        lambda: tf.nn.conv2d(tf.ones([1, 2, 2, 1]), tf.ones([3, 3, 1, 1]), 1, "VALID"),
        InvalidArgument,
        "Conv2D",
    ),
    (
        lambda: tf.nn.conv2d(tf.ones([1, 4, 4, 1]), tf.ones([2, 2, 1, 1]), 1, "FULL"),
        InvalidArgument,
        "Conv2D",
    ),
    (lambda: tf.nn.max_pool2d(tf.ones([1, 4, 4, 1]), 2, 0, "SAME"), InvalidArgument, "MaxPool"),
    (
        lambda: tf.nn.avg_pool2d(tf.ones([1, 4, 4, 1]), 2, 2, "SAME", data_format="NCHW"),
        tf.errors.UnimplementedError,
        "AvgPool",
    ),
    # creation and random
    (lambda: tf.linspace(0.0, 1.0, 0), InvalidArgument, "LinSpace"),
    (lambda: tf.fill([2], tf.ones([2])), InvalidArgument, "Fill"),
    (lambda: tf.random.truncated_normal([2], dtype=tf.int32), InvalidArgument, "TruncatedNormal"),
    (lambda: tf.random.shuffle(tf.constant(1.0)), InvalidArgument, "RandomShuffle"),
    (lambda: tf.random.categorical(tf.ones([3]), 2), InvalidArgument, "Multinomial"),
]


@pytest.mark.parametrize(
    ("fn", "expected", "fragment"), CASES, ids=[c[2] + str(i) for i, c in enumerate(CASES)]
)
def test_bad_input_raises(fn, expected, fragment):
    with pytest.raises(expected) as info:
        fn()
    assert type(info.value).__name__ != "PanicException"
    assert fragment in str(info.value), str(info.value)


def test_errors_are_tapegrad_errors():
    with pytest.raises(tf.errors.OpError):
        tf.gather(M, [9])
    with pytest.raises(ValueError):  # InvalidArgumentError is also a ValueError
        tf.reduce_max(M, axis=7)
    assert np.isfinite(tf.reduce_max(tf.zeros([0, 2]), axis=1).numpy()).all()
