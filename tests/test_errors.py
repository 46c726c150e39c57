"""Bad input raises a proper ``Exception`` of the documented class (a
``tapegrad.errors`` exception or the builtin TF raises) whose message names
the op, never a ``pyo3_runtime.PanicException`` (which derives from
``BaseException``): the error hierarchy, then every op family, then wrong
argument types, absurd sizes and tape misuse."""

from __future__ import annotations

import numpy as np
import pytest
import tapegrad as tf
from tapegrad.errors import (
    InvalidArgumentError,
    OpError,
    ResourceExhaustedError,
)


def raises(expected, fn, *fragments: str) -> BaseException:
    """Call ``fn``; it must raise an ``Exception`` that is an ``expected``
    (a class or tuple), with every fragment in its message."""
    try:
        fn()
    except BaseException as e:  # noqa: BLE001 - a PanicException must be caught too
        assert type(e).__name__ != "PanicException", f"panic reached Python: {e}"
        assert isinstance(e, Exception), f"{type(e).__mro__} is not an Exception"
        assert isinstance(e, expected), f"expected {expected}, got {type(e).__name__}: {e}"
        for frag in fragments:
            assert frag in str(e), f"{frag!r} not in {str(e)!r}"
        return e
    raise AssertionError(f"{fn} did not raise")


def test_error_hierarchy():
    assert issubclass(InvalidArgumentError, ValueError)
    assert issubclass(InvalidArgumentError, OpError)
    assert issubclass(ResourceExhaustedError, MemoryError)
    assert issubclass(tf.errors.OutOfRangeError, IndexError)
    assert issubclass(tf.errors.UnimplementedError, NotImplementedError)


M = tf.ones([2, 3])
I = tf.constant([[1, 2], [3, 4]])  # noqa: E741

# every op family: (call, expected class, a fragment of the message)
OP_CASES = [
    # reductions: bad axis, wrong dtype
    (lambda: tf.reduce_max(M, axis=2), InvalidArgumentError, "Max"),
    (lambda: tf.reduce_min(M, axis=-3), InvalidArgumentError, "Min"),
    (lambda: tf.reduce_prod(tf.constant([True]), axis=0), InvalidArgumentError, "Prod"),
    (lambda: tf.reduce_logsumexp(I), InvalidArgumentError, "ReduceLogSumExp"),
    (lambda: tf.math.reduce_std(I), InvalidArgumentError, "ReduceStd"),
    (lambda: tf.reduce_any(M), InvalidArgumentError, "Any"),
    (lambda: tf.argmax(M, axis=5), InvalidArgumentError, "ArgMax"),
    (lambda: tf.argmax(tf.zeros([0, 2])), InvalidArgumentError, "ArgMax"),
    (lambda: tf.argmin(tf.constant(1.0)), InvalidArgumentError, "ArgMin"),
    (lambda: tf.cumsum(M, axis=2), InvalidArgumentError, "Cumsum"),
    (lambda: tf.norm(M, ord=2, axis=[0, 1]), tf.errors.UnimplementedError, "norm"),
    (lambda: tf.norm(M, axis=[0, 0]), InvalidArgumentError, "norm"),
    (lambda: tf.norm(I), InvalidArgumentError, "norm"),
    # shape ops
    (lambda: tf.expand_dims(M, 4), InvalidArgumentError, "ExpandDims"),
    (lambda: tf.squeeze(M, axis=0), InvalidArgumentError, "Squeeze"),
    (lambda: tf.concat([M, tf.ones([2, 2])], axis=0), InvalidArgumentError, "ConcatV2"),
    (lambda: tf.concat([M, tf.ones([2, 3], tf.float64)], axis=0), InvalidArgumentError, "ConcatV2"),
    (lambda: tf.concat([M], axis=2), InvalidArgumentError, "ConcatV2"),
    (lambda: tf.stack([M, tf.ones([3, 2])]), InvalidArgumentError, "Pack"),
    (lambda: tf.unstack(tf.constant(1.0)), InvalidArgumentError, "Unpack"),
    (lambda: tf.split(M, [1, 1], axis=1), InvalidArgumentError, "SplitV"),
    (lambda: tf.tile(M, [2]), InvalidArgumentError, "Tile"),
    (lambda: tf.pad(M, [[1, 1]]), InvalidArgumentError, "Pad"),
    (lambda: tf.pad(M, [[1, 1], [0, 0]], mode="REFLECT"), tf.errors.UnimplementedError, "Pad"),
    (lambda: tf.reverse(M, [3]), InvalidArgumentError, "ReverseV2"),
    (lambda: tf.reshape(M, [4, -1]), InvalidArgumentError, "Reshape"),
    # indexing: out-of-range index, wrong dtype
    (lambda: tf.gather(M, [0, 2]), InvalidArgumentError, "GatherV2"),
    (lambda: tf.gather(M, [0, -1], axis=1), InvalidArgumentError, "GatherV2"),
    (lambda: tf.gather(M, [0.0]), InvalidArgumentError, "GatherV2"),
    (lambda: tf.gather(M, [[0]], axis=0, batch_dims=1), InvalidArgumentError, "GatherV2"),
    (lambda: tf.gather_nd(M, [[0, 3]]), InvalidArgumentError, "GatherNd"),
    (lambda: tf.gather_nd(M, [[0, 0, 0]]), InvalidArgumentError, "GatherNd"),
    (lambda: tf.gather_nd(M, [[0], [1], [0]], batch_dims=1), InvalidArgumentError, "GatherNd"),
    (lambda: tf.gather_nd(M, [[0, 1]], batch_dims=2), InvalidArgumentError, "GatherNd"),
    (lambda: tf.boolean_mask(M, [True, False, True]), InvalidArgumentError, "boolean_mask"),
    (lambda: tf.one_hot([0], 3, axis=3), InvalidArgumentError, "OneHot"),
    (lambda: tf.one_hot([0.5], 3), InvalidArgumentError, "OneHot"),
    (lambda: M[2], InvalidArgumentError, "StridedSlice"),
    (lambda: M[0, 0, 0], InvalidArgumentError, "StridedSlice"),
    (lambda: M[..., ...], ValueError, "ellipses"),
    (lambda: M["a"], TypeError, "valid indices"),
    # nn
    (lambda: tf.nn.softmax(tf.constant([1, 2])), InvalidArgumentError, "Softmax"),
    (lambda: tf.nn.softmax(M, axis=2), InvalidArgumentError, "Max"),
    (
        lambda: tf.nn.sparse_softmax_cross_entropy_with_logits(labels=[0, 3], logits=M),
        InvalidArgumentError,
        "valid range of [0, 3)",
    ),
    (
        lambda: tf.nn.sparse_softmax_cross_entropy_with_logits(labels=[0], logits=M),
        InvalidArgumentError,
        "SparseSoftmaxCrossEntropyWithLogits",
    ),
    (
        lambda: tf.nn.softmax_cross_entropy_with_logits(labels=tf.ones([2, 2]), logits=M),
        InvalidArgumentError,
        "SoftmaxCrossEntropyWithLogits",
    ),
    (
        lambda: tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.ones([3]), logits=M),
        InvalidArgumentError,
        "sigmoid_cross_entropy_with_logits",
    ),
    (lambda: tf.nn.bias_add(M, tf.ones([2])), InvalidArgumentError, "BiasAdd"),
    (lambda: tf.nn.dropout(M, rate=-0.1), InvalidArgumentError, "dropout"),
    (lambda: tf.nn.l2_loss(I), InvalidArgumentError, "L2Loss"),
    (lambda: tf.nn.relu(tf.constant([True])), InvalidArgumentError, "Relu"),
    (lambda: tf.sigmoid(I), InvalidArgumentError, "Sigmoid"),
    (lambda: tf.squared_difference(M, tf.ones([3, 2])), InvalidArgumentError, "SquaredDifference"),
    (lambda: tf.clip_by_value(M, tf.zeros([4, 2, 3]), 1.0), InvalidArgumentError, "clip_by_value"),
    # linalg
    (lambda: tf.linalg.matvec(M, tf.ones([2])), InvalidArgumentError, "MatMul"),
    (lambda: tf.linalg.diag_part(tf.ones([3])), InvalidArgumentError, "MatrixDiagPart"),
    (lambda: tf.linalg.trace(tf.ones([3])), InvalidArgumentError, "MatrixDiagPart"),
    (lambda: tf.tensordot(M, M, 1), InvalidArgumentError, "tensordot"),
    (lambda: tf.tensordot(M, M, 3), InvalidArgumentError, "tensordot"),
    (lambda: tf.einsum("ij,jk->ik", M, M), InvalidArgumentError, "einsum"),
    (lambda: tf.einsum("ij->i", M, M), InvalidArgumentError, "einsum"),
    (lambda: tf.einsum("i...->i", M), tf.errors.UnimplementedError, "einsum"),
    (lambda: tf.einsum("ij->k", M), InvalidArgumentError, "einsum"),
    (lambda: tf.linalg.inv(M), InvalidArgumentError, "MatrixInverse"),
    (lambda: tf.linalg.inv(tf.zeros([2, 2])), InvalidArgumentError, "not invertible"),
    (lambda: tf.linalg.det(I), InvalidArgumentError, "MatrixDeterminant"),
    (lambda: tf.linalg.solve(tf.eye(2), tf.ones([3, 1])), InvalidArgumentError, "MatrixSolve"),
    (lambda: tf.linalg.cholesky(-tf.eye(2)), InvalidArgumentError, "Cholesky"),
    # convolution and pooling
    (
        lambda: tf.nn.conv2d(tf.ones([1, 4, 4, 2]), tf.ones([2, 2, 3, 1]), 1, "SAME"),
        InvalidArgumentError,
        "Conv2D",
    ),
    (lambda: tf.nn.conv2d(M, tf.ones([2, 2, 3, 1]), 1, "SAME"), InvalidArgumentError, "Conv2D"),
    (
        lambda: tf.nn.conv2d(tf.ones([1, 2, 2, 1]), tf.ones([3, 3, 1, 1]), 1, "VALID"),
        InvalidArgumentError,
        "Conv2D",
    ),
    (
        lambda: tf.nn.conv2d(tf.ones([1, 4, 4, 1]), tf.ones([2, 2, 1, 1]), 1, "FULL"),
        InvalidArgumentError,
        "Conv2D",
    ),
    (
        lambda: tf.nn.max_pool2d(tf.ones([1, 4, 4, 1]), 2, 0, "SAME"),
        InvalidArgumentError,
        "MaxPool",
    ),
    (
        lambda: tf.nn.avg_pool2d(tf.ones([1, 4, 4, 1]), 2, 2, "SAME", data_format="NCHW"),
        tf.errors.UnimplementedError,
        "AvgPool",
    ),
    # creation and random
    (lambda: tf.linspace(0.0, 1.0, 0), InvalidArgumentError, "LinSpace"),
    (lambda: tf.fill([2], tf.ones([2])), InvalidArgumentError, "Fill"),
    (
        lambda: tf.random.truncated_normal([2], dtype=tf.int32),
        InvalidArgumentError,
        "TruncatedNormal",
    ),
    (lambda: tf.random.shuffle(tf.constant(1.0)), InvalidArgumentError, "RandomShuffle"),
    (lambda: tf.random.categorical(tf.ones([3]), 2), InvalidArgumentError, "Multinomial"),
]


@pytest.mark.parametrize(
    ("fn", "expected", "fragment"), OP_CASES, ids=[c[2] + str(i) for i, c in enumerate(OP_CASES)]
)
def test_bad_input_raises(fn, expected, fragment):
    raises(expected, fn, fragment)


def test_errors_are_tapegrad_errors():
    with pytest.raises(tf.errors.OpError):
        tf.gather(M, [9])
    with pytest.raises(ValueError):  # InvalidArgumentError is also a ValueError
        tf.reduce_max(M, axis=7)
    assert np.isfinite(tf.reduce_max(tf.zeros([0, 2]), axis=1).numpy()).all()


def test_matmul_shape_mismatch():
    a, b = tf.ones([2, 3]), tf.ones([4, 5])
    for fn in (lambda: tf.matmul(a, b), lambda: a @ b, lambda: tf.matmul(a, a)):
        raises(InvalidArgumentError, fn, "MatMul", "2, 3")
    raises(InvalidArgumentError, lambda: tf.matmul(a, b), "MatMul", "2, 3", "4, 5")
    raises(InvalidArgumentError, lambda: tf.matmul(a, b, transpose_a=True), "MatMul")
    raises(InvalidArgumentError, lambda: tf.matmul(tf.ones([3]), tf.ones([3])), "MatMul", "3")
    # stacks of matrices broadcast their batch dimensions; incompatible ones raise
    assert tf.matmul(tf.ones([2, 2, 2]), tf.ones([2, 2])).shape == (2, 2, 2)
    raises(
        InvalidArgumentError, lambda: tf.matmul(tf.ones([2, 2, 2]), tf.ones([3, 2, 2])), "MatMul"
    )
    raises(InvalidArgumentError, lambda: tf.matmul(tf.ones([2, 2], dtype=tf.int32), a), "MatMul")
    raises(InvalidArgumentError, lambda: tf.matmul(tf.constant([[True]]), tf.constant([[True]])))


@pytest.mark.parametrize(
    ("fn", "op"),
    [
        (lambda a, b: tf.add(a, b), "Add"),
        (lambda a, b: a + b, "Add"),
        (lambda a, b: tf.multiply(a, b), "Mul"),
        (lambda a, b: a * b, "Mul"),
        (lambda a, b: a - b, "Sub"),
        (lambda a, b: tf.maximum(a, b), "Maximum"),
        (lambda a, b: a < b, "Less"),
    ],
)
def test_broadcast_mismatch(fn, op):
    raises(InvalidArgumentError, lambda: fn(tf.ones([2, 3]), tf.ones([4])), op, "2, 3", "4")
    raises(InvalidArgumentError, lambda: fn(tf.ones([2, 3]), tf.ones([2, 2])), op, "2, 3", "2, 2")
    raises(InvalidArgumentError, lambda: fn(tf.ones([2, 3]), np.ones([3, 3], np.float32)), op)


def test_broadcast_mismatch_elsewhere():
    raises(InvalidArgumentError, lambda: tf.broadcast_to(tf.ones([2]), [3]))
    raises(InvalidArgumentError, lambda: tf.broadcast_to(tf.ones([2, 3]), [3]))
    cond, three, two = tf.constant([True]), tf.constant([1.0, 2.0, 3.0]), tf.constant([1.0, 2.0])
    raises(InvalidArgumentError, lambda: tf.where(cond, three, two))
    raises(InvalidArgumentError, lambda: tf.constant([1.0, 2.0], shape=[3]))


def test_reduce_bad_axis():
    x = tf.ones([2, 3])
    raises(InvalidArgumentError, lambda: tf.reduce_sum(x, axis=2), "2")
    raises(InvalidArgumentError, lambda: tf.reduce_sum(x, axis=-3), "-3")
    raises(InvalidArgumentError, lambda: tf.reduce_sum(x, axis=[0, 5]), "5")
    raises(InvalidArgumentError, lambda: tf.reduce_mean(x, axis=7))
    raises(InvalidArgumentError, lambda: tf.norm(x, axis=3))
    raises(InvalidArgumentError, lambda: tf.reduce_sum(tf.constant(1.0), axis=0))
    raises(InvalidArgumentError, lambda: tf.reduce_sum(tf.constant([True])))


def test_transpose_bad_perm():
    x = tf.ones([2, 3])
    for perm in ([0, 0], [0, 1, 2], [0, 2], [1], [-3, 0]):
        raises(InvalidArgumentError, lambda perm=perm: tf.transpose(x, perm=perm), "Transpose")
    raises(InvalidArgumentError, lambda: tf.transpose(tf.constant(1.0), perm=[0]))


def test_bad_reshape():
    x = tf.ones([2, 3])
    for shape in ([4, 2], [-1, -1], [-1, 4], [-2, -3], [0, -1], [7], [2**62, 2**62]):
        raises(InvalidArgumentError, lambda shape=shape: tf.reshape(x, shape), "Reshape")
    raises(InvalidArgumentError, lambda: tf.reshape(tf.zeros([0, 3]), [-1, 0]))


def test_unsupported_dtypes():
    ints = tf.constant([1, 2])
    for op in (tf.exp, tf.log, tf.sin, tf.cos, tf.tanh, tf.sqrt):
        raises(InvalidArgumentError, lambda op=op: op(ints), "int32")
    raises(InvalidArgumentError, lambda: tf.exp(tf.constant([1, 2], dtype=tf.int64)), "Exp")
    raises(InvalidArgumentError, lambda: tf.sqrt(tf.constant([True])))
    raises(InvalidArgumentError, lambda: -tf.constant([True]))
    raises(InvalidArgumentError, lambda: tf.constant([True]) + tf.constant([True]))
    raises(InvalidArgumentError, lambda: tf.pow(tf.constant([2]), tf.constant([-1])))
    raises(InvalidArgumentError, lambda: tf.random.normal([2], dtype=tf.int32))
    raises(InvalidArgumentError, lambda: tf.where(tf.constant([1.0]), 1.0, 2.0))


@pytest.mark.parametrize(
    "fn",
    [
        lambda: tf.zeros([2**40, 2**40]),
        lambda: tf.ones([2**40, 2**40], dtype=tf.float64),
        lambda: tf.zeros([2**62]),
        lambda: tf.zeros([2**63 - 1], dtype=tf.bool),
        lambda: tf.broadcast_to(tf.constant(1.0), [2**40, 2**40]),
        lambda: tf.constant(1.0, shape=[2**40, 2**40]),
        lambda: tf.random.normal([2**40, 2**40]),
        lambda: tf.random.uniform([2**40, 2**40]),
    ],
)
def test_absurd_allocation(fn):
    raises((ResourceExhaustedError, MemoryError), fn)
    raises(ResourceExhaustedError, fn)


@pytest.mark.parametrize(
    "fn",
    [
        lambda: tf.zeros([-1, 2]),
        lambda: tf.ones([-3]),
        lambda: tf.random.normal([-1]),
        lambda: tf.random.uniform([2, -2]),
        lambda: tf.broadcast_to(tf.constant(1.0), [-1]),
        lambda: tf.constant(1.0, shape=[-1]),
    ],
)
def test_negative_dims(fn):
    raises(ValueError, fn)


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        (lambda: tf.exp("abc"), (TypeError, ValueError)),
        (lambda: tf.constant(object()), (TypeError, ValueError)),
        (lambda: tf.constant(None), (TypeError, ValueError)),
        (lambda: tf.constant([[1, 2], [3]]), (TypeError, ValueError)),
        (lambda: tf.constant(1 + 2j, tf.float32), TypeError),
        (lambda: tf.constant(2**70), (TypeError, ValueError, OverflowError)),
        (lambda: tf.constant([2**70]), (TypeError, ValueError, OverflowError)),
        (lambda: tf.zeros([2**64]), (TypeError, ValueError, OverflowError, MemoryError)),
        (lambda: tf.constant([1, 2], dtype="foo"), TypeError),
        (lambda: tf.cast(tf.ones([2]), "qint8"), TypeError),
        (lambda: tf.cast(tf.ones([2]), object()), TypeError),
        (lambda: tf.constant(1.5, dtype=tf.int32), TypeError),
        (lambda: tf.reshape(tf.ones([2, 3]), "ab"), (TypeError, ValueError)),
        (lambda: tf.reshape(tf.ones([2, 3]), [2.0, 3.0]), (TypeError, ValueError)),
        (lambda: tf.reduce_sum(tf.ones([2, 3]), axis=1.5), (TypeError, ValueError)),
        (lambda: tf.reduce_sum(tf.ones([2, 3]), axis=[[0]]), (TypeError, ValueError)),
        (lambda: tf.zeros("a"), (TypeError, ValueError)),
        (lambda: tf.zeros([2.5]), (TypeError, ValueError)),
        (lambda: tf.zeros([[2, 3]]), (TypeError, ValueError)),
        (lambda: tf.matmul(tf.ones([2, 2]), None), (TypeError, ValueError)),
        (lambda: tf.add(1), TypeError),
        (lambda: tf.exp(tf.ones([2]), tf.ones([2])), TypeError),
        (lambda: tf.ones([2]) + "a", (TypeError, ValueError)),
        (lambda: tf.constant([1, 2]) + 2**40, (TypeError, ValueError)),
        (lambda: tf.norm(tf.ones([2]), ord=-1), ValueError),
        (lambda: tf.where(tf.constant([True]), 1.0), (TypeError, ValueError)),
        (lambda: tf.Variable(None), (TypeError, ValueError)),
        (lambda: tf.Variable(1.0, constraint=lambda v: v), (TypeError, ValueError)),
        (lambda: tf.convert_to_tensor(tf.constant(1.0), dtype=tf.float64), (TypeError, ValueError)),
        (lambda: tf.random.set_seed("a"), TypeError),
        (lambda: tf.as_dtype("qint8"), TypeError),
        (lambda: float(tf.zeros([0])), TypeError),
        (lambda: int(tf.constant([1, 2])), TypeError),
        (lambda: len(tf.constant(1.0)), TypeError),
        (lambda: tf.random.uniform([2], dtype=tf.int32), ValueError),
    ],
)
def test_wrong_arguments(fn, expected):
    raises(expected, fn)


def test_tape_misuse_raises_cleanly():
    x = tf.constant([1.0, 2.0])
    with tf.GradientTape(persistent=True) as t:
        t.watch(x)
        y = tf.reduce_sum(x * x)
    raises(TypeError, lambda: t.gradient(None, x))
    raises(TypeError, lambda: t.gradient(y, 3.0))
    raises(TypeError, lambda: t.gradient(y, [x, "a"]))
    raises(ValueError, lambda: t.gradient(y, x, output_gradients=tf.constant([1.0])))
    # a seed of another dtype than its target
    seed64 = tf.constant(1.0, dtype=tf.float64)
    raises(ValueError, lambda: t.gradient(y, x, output_gradients=seed64))
    raises(RuntimeError, lambda: tf.GradientTape().gradient(y, x))
    raises(RuntimeError, lambda: tf.GradientTape().stop_recording().__enter__())
    raises(ValueError, lambda: tf.GradientTape().reset())
