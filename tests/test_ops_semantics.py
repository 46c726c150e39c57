"""TF conventions the gradient checks cannot see: subgradients at kinks,
ties, dtypes of results, non-differentiable ops, creation ops, random ops,
indexing and iteration."""

from __future__ import annotations

import numpy as np
import pytest
import tapegrad as tf


def grad(f, *xs):
    xs = [tf.constant(x) for x in xs]
    with tf.GradientTape() as tape:
        tape.watch(xs)
        y = f(*xs)
    return tape.gradient(y, xs)


# ---------------------------------------------------------------- kinks and ties
def test_subgradients_at_kinks_match_tf():
    x = np.array([-1.0, 0.0, 2.0, 6.0, 7.0])
    (g,) = grad(tf.nn.relu, x)
    np.testing.assert_array_equal(g.numpy(), [0, 0, 1, 1, 1])  # relu'(0) = 0
    (g,) = grad(tf.nn.relu6, x)
    np.testing.assert_array_equal(g.numpy(), [0, 0, 1, 0, 0])
    (g,) = grad(lambda v: tf.nn.leaky_relu(v, alpha=0.1), x)
    np.testing.assert_allclose(g.numpy(), [0.1, 0.1, 1, 1, 1])
    (g,) = grad(tf.abs, x)
    np.testing.assert_array_equal(g.numpy(), [-1, 0, 1, 1, 1])
    (g,) = grad(lambda v: tf.clip_by_value(v, 0.0, 6.0), x)
    np.testing.assert_array_equal(g.numpy(), [0, 1, 1, 1, 0])  # at a bound the gradient flows


def test_reduce_max_and_min_ties_share_the_gradient():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    (g,) = grad(lambda v: tf.reduce_max(v, axis=1), x)
    np.testing.assert_allclose(g.numpy(), [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    (g,) = grad(tf.reduce_min, x)
    np.testing.assert_allclose(g.numpy(), [[1, 0, 0], [0, 0, 0]])


def test_max_pool_sends_the_gradient_to_the_first_maximum_of_a_window():
    (g,) = grad(lambda v: tf.nn.max_pool2d(v, 2, 2, "VALID"), np.ones((1, 2, 4, 1)))
    np.testing.assert_array_equal(g.numpy()[0, :, :, 0], [[1, 0, 1, 0], [0, 0, 0, 0]])


def test_norm_gradient_at_zero_is_nan_and_reduce_prod_with_zeros_is_exact():
    (g,) = grad(tf.norm, np.zeros(3))
    assert np.isnan(g.numpy()).all()
    (g,) = grad(tf.reduce_prod, np.array([2.0, 0.0, 3.0]))
    np.testing.assert_array_equal(g.numpy(), [0.0, 6.0, 0.0])
    (g,) = grad(tf.reduce_prod, np.array([0.0, 0.0, 3.0]))
    np.testing.assert_array_equal(g.numpy(), [0.0, 0.0, 0.0])


def test_sigmoid_cross_entropy_gradient_at_zero_logit():
    labels = tf.constant([0.0, 1.0, 0.3])
    (g,) = grad(
        lambda x: tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=x),
        np.zeros(3, np.float32),
    )
    np.testing.assert_allclose(g.numpy(), [0.5, -0.5, 0.2], rtol=1e-6)


def test_softmax_and_losses_are_stable_for_large_logits():
    x = tf.constant([[1000.0, 0.0, -1000.0]])
    np.testing.assert_allclose(tf.nn.softmax(x).numpy(), [[1, 0, 0]])
    np.testing.assert_allclose(tf.nn.log_softmax(x).numpy(), [[0, -1000, -2000]])
    np.testing.assert_allclose(tf.reduce_logsumexp(x).numpy(), 1000.0)
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=[2], logits=x)
    np.testing.assert_allclose(ce.numpy(), [2000.0])
    np.testing.assert_allclose(
        tf.reduce_logsumexp(tf.constant([-np.inf, -np.inf])).numpy(), -np.inf
    )


# ---------------------------------------------------------------- dtypes and nondiff
def test_result_dtypes():
    x = tf.constant([[1.0, 5.0], [7.0, 2.0]])
    assert tf.argmax(x, axis=1).dtype == tf.int64
    assert tf.argmin(x, output_type=tf.int32).dtype == tf.int32
    np.testing.assert_array_equal(tf.argmax(x).numpy(), [1, 0])
    assert tf.reduce_any(x > 6.0).dtype == tf.bool
    assert bool(tf.reduce_any(x > 6.0)) and not bool(tf.reduce_all(x > 1.5))
    np.testing.assert_array_equal(tf.reduce_all(x > 1.5, axis=0).numpy(), [False, True])
    assert tf.shape(x).dtype == tf.int32 and tf.shape(x).numpy().tolist() == [2, 2]
    assert int(tf.size(x)) == 4 and int(tf.rank(x)) == 2
    assert tf.reduce_max(tf.constant([3, 9, 2])).dtype == tf.int32
    assert tf.reduce_prod(tf.constant([3, 4])).numpy() == 12


@pytest.mark.parametrize(
    "f",
    [
        lambda x: tf.floor(x),
        lambda x: tf.math.ceil(x),
        lambda x: tf.round(x),
        lambda x: tf.math.floordiv(x, 2.0),
        lambda x: tf.cast(tf.argmax(x), tf.float64),
        lambda x: tf.one_hot(tf.cast(x, tf.int32), 3),
        lambda x: tf.cast(tf.reduce_any(x > 0), tf.float64),
    ],
)
def test_non_differentiable_ops_give_none(f):
    (g,) = grad(f, np.array([0.3, 1.7]))
    assert g is None


def test_round_floordiv_mod_follow_numpy():
    x = tf.constant([0.5, 1.5, 2.5, -0.5, -2.5])
    np.testing.assert_array_equal(tf.round(x).numpy(), [0, 2, 2, -0, -2])
    a, b = tf.constant([7, -7, 7, -7]), tf.constant([2, 2, -2, -2])
    np.testing.assert_array_equal(tf.math.floordiv(a, b).numpy(), [3, -4, -4, 3])
    np.testing.assert_array_equal(tf.math.floormod(a, b).numpy(), [1, 1, -1, -1])
    with pytest.raises(tf.errors.InvalidArgumentError, match="FloorDiv"):
        tf.math.floordiv(a, tf.constant([1, 0, 1, 1]))
    (ga, gb) = grad(tf.math.floormod, np.array([7.5]), np.array([2.0]))
    np.testing.assert_array_equal([ga.numpy(), gb.numpy()], [[1.0], [-3.0]])


def test_logical_ops():
    p, q = tf.constant([True, True, False]), tf.constant([True, False, False])
    np.testing.assert_array_equal(tf.logical_and(p, q).numpy(), [True, False, False])
    np.testing.assert_array_equal(tf.logical_or(p, q).numpy(), [True, True, False])
    np.testing.assert_array_equal(tf.logical_not(p).numpy(), [False, False, True])
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.logical_and(p, tf.constant([1, 0, 0]))


# ---------------------------------------------------------------- creation
def test_creation_ops():
    assert tf.range(5).dtype == tf.int32
    np.testing.assert_array_equal(tf.range(5).numpy(), np.arange(5))
    np.testing.assert_allclose(tf.range(1.0, 2.0, 0.25).numpy(), [1, 1.25, 1.5, 1.75])
    assert tf.range(1.0, 2.0, 0.25).dtype == tf.float32
    np.testing.assert_array_equal(tf.range(10, 2, -3).numpy(), [10, 7, 4])
    assert tf.range(3, dtype=tf.float64).dtype == tf.float64
    np.testing.assert_allclose(tf.linspace(0.0, 1.0, 5).numpy(), np.linspace(0, 1, 5))
    np.testing.assert_array_equal(tf.eye(2, 3).numpy(), np.eye(2, 3))
    assert tf.eye(2, batch_shape=[3]).shape == (3, 2, 2)
    f = tf.fill([2, 3], 7)
    assert f.dtype == tf.int32 and (f.numpy() == 7).all()
    x = tf.constant([[1.5, 2.0]])
    assert tf.zeros_like(x).dtype == tf.float32 and not tf.zeros_like(x).numpy().any()
    assert tf.ones_like(x, dtype=tf.int64).dtype == tf.int64
    oh = tf.one_hot([0, 2, 5], 3)
    np.testing.assert_array_equal(oh.numpy(), [[1, 0, 0], [0, 0, 1], [0, 0, 0]])
    assert tf.one_hot([1], 2, on_value=5, off_value=-1).numpy().tolist() == [[-1, 5]]
    assert tf.one_hot([[1, 0]], 2, axis=0).shape == (2, 1, 2)
    with pytest.raises(tf.errors.InvalidArgumentError, match="Range"):
        tf.range(0, 5, 0)


# ---------------------------------------------------------------- indexing and iteration
def test_getitem_and_iteration():
    x = tf.reshape(tf.range(12), (3, 4))
    np.testing.assert_array_equal(x[1].numpy(), [4, 5, 6, 7])
    np.testing.assert_array_equal(x[-1, ::-1].numpy(), [11, 10, 9, 8])
    np.testing.assert_array_equal(x[:, 1:10:2].numpy(), [[1, 3], [5, 7], [9, 11]])
    assert x[None, ..., None].shape == (1, 3, 4, 1)
    assert x[2:1].shape == (0, 4)
    assert int(x[2, 3]) == 11
    np.testing.assert_array_equal(x[tf.constant([2, 0])].numpy(), [[8, 9, 10, 11], [0, 1, 2, 3]])
    rows = list(x)
    assert len(rows) == 3 and rows[2].numpy().tolist() == [8, 9, 10, 11]
    v = tf.Variable([[1.0, 2.0], [3.0, 4.0]])
    with tf.GradientTape() as tape:
        y = v[0, 1] * 3.0 + v[1][0]
    np.testing.assert_array_equal(tape.gradient(y, v).numpy(), [[0, 3], [1, 0]])
    with pytest.raises(TypeError, match="scalar"):
        iter(tf.constant(1.0))
    with pytest.raises(tf.errors.InvalidArgumentError):
        x[3]
    with pytest.raises(tf.errors.InvalidArgumentError):
        x[0, 0, 0]
    with pytest.raises(TypeError):
        x[1.5]


def test_unstack_split_shapes():
    x = tf.reshape(tf.range(24.0), (2, 3, 4))
    parts = tf.unstack(x, axis=2)
    assert len(parts) == 4 and parts[0].shape == (2, 3)
    a, b, c = tf.split(x, [1, 2, -1], axis=2)
    assert (a.shape, b.shape, c.shape) == ((2, 3, 1), (2, 3, 2), (2, 3, 1))
    assert [p.shape for p in tf.split(x, 3, axis=1)] == [(2, 1, 4)] * 3
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.split(x, 5, axis=2)


# ---------------------------------------------------------------- random
def test_random_ops_are_seeded_and_in_range():
    tf.random.set_seed(3)
    t1 = tf.random.truncated_normal([2000], mean=1.0, stddev=2.0, dtype=tf.float64)
    s1 = tf.random.shuffle(tf.range(10))
    c1 = tf.random.categorical(tf.math.log([[0.1, 0.2, 0.7]]), 4000)
    u1 = tf.random.uniform([100], minval=-3, maxval=4, dtype=tf.int64)
    d1 = tf.nn.dropout(tf.ones([1000]), rate=0.3)
    tf.random.set_seed(3)
    t2 = tf.random.truncated_normal([2000], mean=1.0, stddev=2.0, dtype=tf.float64)
    s2 = tf.random.shuffle(tf.range(10))
    c2 = tf.random.categorical(tf.math.log([[0.1, 0.2, 0.7]]), 4000)
    u2 = tf.random.uniform([100], minval=-3, maxval=4, dtype=tf.int64)
    d2 = tf.nn.dropout(tf.ones([1000]), rate=0.3)
    for a, b in [(t1, t2), (s1, s2), (c1, c2), (u1, u2), (d1, d2)]:
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    t = t1.numpy()
    assert np.abs(t - 1.0).max() <= 4.0 and abs(t.mean() - 1.0) < 0.15
    assert sorted(s1.numpy().tolist()) == list(range(10))
    assert c1.dtype == tf.int64 and c1.shape == (1, 4000)
    np.testing.assert_allclose(
        np.bincount(c1.numpy()[0], minlength=3) / 4000, [0.1, 0.2, 0.7], atol=0.03
    )
    assert u1.dtype == tf.int64 and u1.numpy().min() >= -3 and u1.numpy().max() <= 3
    kept = d1.numpy()
    np.testing.assert_allclose(kept[kept > 0], 1 / 0.7, rtol=1e-6)
    assert 0.6 < (kept > 0).mean() < 0.8


def test_dropout_gradient_uses_the_same_mask():
    x = tf.ones([50])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.nn.dropout(x, rate=0.5, seed=1)
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), y.numpy())
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.nn.dropout(x, rate=1.0)


def test_where_with_one_argument_gives_coordinates():
    c = tf.constant([[True, False], [False, True], [True, True]])
    w = tf.where(c)
    assert w.dtype == tf.int64
    np.testing.assert_array_equal(w.numpy(), np.argwhere(c.numpy()))
    assert tf.where(tf.constant([0.0, 2.0])).numpy().tolist() == [[1]]
    assert tf.where(tf.zeros([0, 3]) > 0).shape == (0, 2)


@pytest.mark.parametrize(
    ("f", "ref"),
    [
        (lambda x: tf.reduce_max(x, axis=0), lambda x: np.full(3, -np.inf)),
        (lambda x: tf.reduce_min(x, axis=1), lambda x: np.zeros(0)),
        (lambda x: tf.reduce_prod(x, axis=0), lambda x: np.ones(3)),
        (lambda x: tf.reduce_logsumexp(x, axis=0), lambda x: np.full(3, -np.inf)),
        (lambda x: tf.cumsum(x, axis=0), lambda x: x),
        (lambda x: tf.nn.softmax(x), lambda x: x),
        (lambda x: tf.concat([x, x], axis=0), lambda x: np.zeros((0, 3))),
        (lambda x: tf.stack([x, x]), lambda x: np.zeros((2, 0, 3))),
        (lambda x: tf.tile(x, [2, 2]), lambda x: np.zeros((0, 6))),
        (lambda x: tf.pad(x, [[1, 0], [0, 1]]), lambda x: np.zeros((1, 4))),
        (lambda x: tf.gather(x, tf.zeros([0], tf.int32), axis=1), lambda x: np.zeros((0, 0))),
        (lambda x: x[:, 1:], lambda x: np.zeros((0, 2))),
        (lambda x: tf.reverse(x, [0]), lambda x: x),
        (lambda x: tf.transpose(x), lambda x: x.T),
        (lambda x: tf.einsum("ij,kj->ik", x, x), lambda x: np.zeros((0, 0))),
        (lambda x: tf.norm(x, axis=1), lambda x: np.zeros(0)),
    ],
)
def test_size_zero_inputs(f, ref):
    x0 = np.zeros((0, 3))
    x = tf.constant(x0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = f(x)
    np.testing.assert_array_equal(y.numpy(), ref(x0))
    g = tape.gradient(y, x)
    assert g is None or (g.shape == (0, 3) and g.dtype == tf.float64)


def test_sorting_and_counting():
    x = tf.constant([[3.0, 1.0, 2.0, 1.0], [0.0, -1.0, 5.0, 0.0]])
    assert tf.argsort(x).dtype == tf.int32
    np.testing.assert_array_equal(tf.argsort(x).numpy(), [[1, 3, 2, 0], [1, 0, 3, 2]])
    desc = tf.argsort(x, direction="DESCENDING")
    np.testing.assert_array_equal(desc.numpy(), [[0, 2, 1, 3], [2, 0, 3, 1]])
    values, indices = tf.math.top_k(x, k=2)
    np.testing.assert_array_equal(values.numpy(), [[3, 2], [5, 0]])
    np.testing.assert_array_equal(indices.numpy(), [[0, 2], [2, 0]])
    assert tf.math.count_nonzero(x).dtype == tf.int64
    assert int(tf.math.count_nonzero(x)) == 6
    np.testing.assert_array_equal(tf.math.count_nonzero(x, axis=1).numpy(), [4, 2])
    with pytest.raises(tf.errors.InvalidArgumentError, match="TopKV2"):
        tf.math.top_k(x, k=5)
