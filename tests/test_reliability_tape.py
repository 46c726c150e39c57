"""Reliability of the tape, differentiation and custom gradients: each test
pins a failure found by an adversarial review (masked singular gradients,
custom gradients under jacobians and forward mode, tapes stopped from other
threads, reference cycles through tapes, cumprod at zeros, randomness in
recompute_grad)."""

from __future__ import annotations

import gc
import itertools
import threading
import weakref

import numpy as np
import pytest
import tapegrad as tf

# -- where-masked sqrt / rsqrt / reciprocal ------------------------------------

# (op, d op / dx at x = 4, d² op / dx² at x = 4)
SINGULAR_AT_ZERO = [
    (tf.sqrt, 0.25, -1.0 / 32.0),
    (tf.math.rsqrt, -0.5 * 4.0**-1.5, 0.75 * 4.0**-2.5),
    (tf.math.reciprocal, -1.0 / 16.0, 2.0 / 64.0),
]


@pytest.mark.parametrize(("op", "d1", "d2"), SINGULAR_AT_ZERO)
def test_where_masked_singular_ops_give_zero_gradient_like_tf(op, d1, d2):
    # TF 2.21: [0, 0, d1]. A zero upstream gradient stays zero where the
    # local derivative is infinite (x = 0) or undefined (x < 0).
    x = tf.constant([0.0, -1.0, 4.0], dtype=tf.float64)
    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            y = tf.reduce_sum(tf.where(x > 0, op(x), tf.zeros_like(x)))
        g = inner.gradient(y, x)
    np.testing.assert_allclose(g.numpy(), [0.0, 0.0, d1], rtol=1e-12)
    # second order: TF 2.21 gives NaN at the masked points, d2 elsewhere
    np.testing.assert_allclose(outer.gradient(g, x).numpy()[2], d2, rtol=1e-12)


@pytest.mark.parametrize(("op", "d1", "d2"), SINGULAR_AT_ZERO)
def test_masked_singular_ops_keep_their_forward_mode_derivative(op, d1, d2):
    x = tf.constant([4.0, 4.0], dtype=tf.float64)
    with tf.autodiff.ForwardAccumulator(x, tf.constant([1.0, 2.0], tf.float64)) as acc:
        y = op(x)
    np.testing.assert_allclose(acc.jvp(y).numpy(), [d1, 2 * d1], rtol=1e-12)


def test_safe_distance_idiom_differentiates():
    # where(d2 > 0, sqrt(d2), 0): finite everywhere, 0 on the diagonal
    p = tf.constant([[0.0, 0.0], [3.0, 4.0]])
    with tf.GradientTape() as tape:
        tape.watch(p)
        diff = p[:, None, :] - p[None, :, :]
        d2 = tf.reduce_sum(diff * diff, axis=-1)
        dist = tf.where(d2 > 0, tf.sqrt(d2), tf.zeros_like(d2))
        total = tf.reduce_sum(dist)
    g = tape.gradient(total, p).numpy()
    np.testing.assert_allclose(g, [[-1.2, -1.6], [1.2, 1.6]], rtol=1e-6)


# -- custom_gradient under jacobian ------------------------------------------------


@pytest.mark.parametrize("chunk", [None, 1, 2, 3, 4, 6, 12])
def test_custom_gradient_jacobian_sees_unbatched_cotangents(chunk):
    x = tf.constant([1.0, 2.0, 3.0])
    seen = []

    @tf.custom_gradient
    def bcast(a):  # y[i, j] = a[j] for i < 4
        def grad_fn(dy):
            seen.append(tuple(dy.shape))
            return tf.reduce_sum(dy, axis=0)

        return a + tf.zeros([4, 3]), grad_fn

    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = bcast(x)
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [4.0, 4.0, 4.0])
    j = tape.jacobian(y, x, parallel_iterations=chunk).numpy()
    np.testing.assert_array_equal(j, np.broadcast_to(np.eye(3), (4, 3, 3)))
    assert set(seen) == {(4, 3)}


def test_custom_gradient_jacobian_of_a_scalar_output():
    x = tf.constant([1.0, 2.0, 3.0])

    @tf.custom_gradient
    def square_sum(a):
        return tf.reduce_sum(a * a), lambda dy: dy * 2.0 * a

    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = square_sum(x)
        z = square_sum(x) * x  # a vector target through the same rule
    np.testing.assert_array_equal(tape.jacobian(y, x).numpy(), [2.0, 4.0, 6.0])
    expected = np.diag([14.0] * 3) + np.outer([1.0, 2.0, 3.0], [2.0, 4.0, 6.0])
    np.testing.assert_allclose(tape.jacobian(z, x).numpy(), expected, rtol=1e-6)


def test_custom_gradient_batch_jacobian_and_none_rows():
    x = tf.constant([[1.0, 2.0], [3.0, 4.0]])
    w = tf.constant([5.0, 7.0])

    @tf.custom_gradient
    def scale(a, b):
        # b's gradient is None: a row-wise rule must give zeros, not fail
        return a * b, lambda dy: (dy * b, None)

    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, w])
        y = scale(x, w)
    bj = tape.batch_jacobian(y, x).numpy()
    np.testing.assert_array_equal(bj, np.broadcast_to(np.diag([5.0, 7.0]), (2, 2, 2)))
    assert tape.jacobian(y, w) is None


# -- wrong-shaped custom gradients -------------------------------------------------


@pytest.mark.parametrize("bad", [[2, 3], [1, 3]])
def test_custom_gradient_of_the_wrong_shape_raises(bad):
    x = tf.constant([1.0, 2.0, 3.0])

    @tf.custom_gradient
    def doubled(a):
        return a * 2.0, lambda dy: tf.ones(bad)

    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(doubled(x))
    with pytest.raises(ValueError, match=rf"doubled.*shape \({bad[0]}, 3\).*shape \(3,\)"):
        tape.gradient(y, x)


def test_custom_gradient_returning_a_dict_raises():
    x = tf.constant([1.0, 2.0, 3.0])

    @tf.custom_gradient
    def keyed(a):
        return a * 2.0, lambda dy: {"a": dy}

    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(keyed(x))
    with pytest.raises(TypeError, match="keyed.*dict"):
        tape.gradient(y, x)


def test_custom_gradient_variable_gradient_of_the_wrong_shape_raises():
    v = tf.Variable([1.0, 2.0])
    x = tf.constant(1.0)

    @tf.custom_gradient
    def uses_v(a):
        def grad_fn(dy, variables=None):
            return dy, [tf.ones([3])]

        return a * tf.reduce_sum(v), grad_fn

    with tf.GradientTape() as tape:
        tape.watch(x)
        y = uses_v(x)
    with pytest.raises(ValueError, match=r"uses_v.*shape \(3,\).*shape \(2,\)"):
        tape.gradient(y, [x, v])


# -- forward mode through custom gradients ------------------------------------------


def _jvp_through(grad_fn):
    x = tf.constant([1.0, 2.0, 3.0])

    @tf.custom_gradient
    def doubled(a):
        return a * 2.0, grad_fn

    with tf.autodiff.ForwardAccumulator(x, tf.ones([3])) as acc:
        y = doubled(x)
    return acc.jvp(y)


@pytest.mark.parametrize(
    "grad_fn",
    [
        lambda dy: tf.sign(dy) * 2.0,
        lambda dy: tf.constant(np.asarray(dy) * 2.0),
        lambda dy: dy * dy,
    ],
    ids=["sign", "numpy", "square"],
)
def test_forward_mode_refuses_a_non_linear_custom_gradient(grad_fn):
    with pytest.raises(tf.errors.InvalidArgumentError, match="not linear in the upstream"):
        _jvp_through(grad_fn)


@pytest.mark.parametrize(
    ("grad_fn", "expected"),
    [
        (lambda dy: dy * 2.0, [2.0, 2.0, 2.0]),
        (lambda dy: tf.minimum(dy, 1.0) * 5.0, [5.0, 5.0, 5.0]),  # the docstring's clip
    ],
    ids=["linear", "clip"],
)
def test_forward_mode_through_linear_custom_gradients(grad_fn, expected):
    np.testing.assert_allclose(_jvp_through(grad_fn).numpy(), expected, rtol=1e-6)


# -- tapes stopped from another thread ----------------------------------------------


def test_tape_closed_from_another_thread_stops_recording():
    def holds_a_tape():
        with tf.GradientTape() as orphan:
            yield orphan

    gen = holds_a_tape()
    orphan = next(gen)
    closer = threading.Thread(target=gen.close)  # the generator is finalised elsewhere
    closer.start()
    closer.join()
    w = tf.Variable(np.ones(4, np.float32))
    for _ in range(5):
        tf.reduce_sum(w * 2.0)
    assert not orphan._tape.is_active()
    assert orphan._tape.num_nodes() == 0


def test_gradient_from_another_thread_ends_the_owners_recording():
    w = tf.Variable(2.0)
    box = {}
    with tf.GradientTape() as tape:
        y = w * w
        worker = threading.Thread(target=lambda: box.setdefault("g", tape.gradient(y, w)))
        worker.start()
        worker.join()
        nodes_after_gradient = tape._tape.num_nodes()
        for _ in range(10):
            w * 3.0
        assert not tape._tape.is_active()
    assert float(box["g"]) == 4.0
    assert tape._tape.num_nodes() == nodes_after_gradient


def test_forward_accumulator_exited_on_another_thread_stops():
    x = tf.constant(1.0)
    acc = tf.autodiff.ForwardAccumulator(x, tf.constant(1.0))
    acc.__enter__()
    closer = threading.Thread(target=acc.__exit__, args=(None, None, None))
    closer.start()
    closer.join()
    y = x * 3.0
    assert not acc._acc.is_active()
    assert acc.jvp(y) is None
    with tf.GradientTape() as tape:  # the thread's stack is usable afterwards
        tape.watch(x)
        z = x * x
    assert float(tape.gradient(z, x)) == 2.0


# -- reference cycles through a stored tape -----------------------------------------


class _Model:
    def __init__(self):
        self.w = tf.Variable(np.ones(1000, np.float32))
        self.scale = 2.0

    def step(self):
        model = self

        @tf.custom_gradient
        def f(a):
            return a * 2.0, lambda dy: dy * model.scale

        self.tape = tf.GradientTape(persistent=True)  # kept for inspection
        with self.tape:
            y = tf.reduce_sum(f(self.w * 1.0))
        return self.tape.gradient(y, self.w)


def test_cycle_through_a_stored_tape_and_a_custom_gradient_is_collected():
    refs = []
    for _ in range(5):
        m = _Model()
        np.testing.assert_array_equal(m.step().numpy(), np.full(1000, 2.0, np.float32))
        refs.append(weakref.ref(m))
        del m
    gc.collect()
    assert sum(r() is not None for r in refs) == 0


def test_a_collected_cycle_leaves_other_tapes_intact():
    # the same custom-gradient node on two tapes: the outer one, reachable,
    # must still differentiate after the inner one's cycle is collected
    x = tf.constant([1.0, 2.0])

    def cycle_on_an_inner_tape():
        holder = _Model()
        holder.tape = tf.GradientTape(persistent=True)
        with holder.tape:
            holder.tape.watch(x)

            @tf.custom_gradient
            def f(a):
                return a * 3.0, lambda dy: dy * holder.scale

            y = tf.reduce_sum(f(x))
        return y, weakref.ref(holder)

    outer = tf.GradientTape(persistent=True)
    with outer:
        outer.watch(x)
        y, holder = cycle_on_an_inner_tape()
    gc.collect()
    np.testing.assert_array_equal(outer.gradient(y, x).numpy(), [2.0, 2.0])
    del outer
    gc.collect()
    assert holder() is None


# -- cumprod at zeros ---------------------------------------------------------------


def test_cumprod_gradient_at_a_zero():
    x = tf.constant([2.0, 0.0, 3.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(tf.math.cumprod(x))  # 2 + 2·x1 + 6·x1
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [1.0, 8.0, 0.0])


def _numeric_jacobian(f, x, eps=1e-3):
    # cumprod is multilinear, so central differences are exact up to rounding
    x = np.asarray(x, np.float64)
    rows = []
    for i in range(x.size):
        step = np.zeros_like(x)
        step.flat[i] = eps
        rows.append((f(x + step) - f(x - step)) / (2 * eps))
    return np.stack(rows, axis=-1).reshape(f(x).shape + x.shape)


@pytest.mark.parametrize(
    ("exclusive", "reverse", "axis"), list(itertools.product([False, True], [False, True], [0, 1]))
)
def test_cumprod_jacobian_and_hessian_with_zeros(exclusive, reverse, axis):
    values = np.array([[2.0, 0.0, 3.0, 0.0], [0.0, -1.5, 0.5, 4.0], [1.0, 2.0, -3.0, 0.5]])

    def cumprod_np(v):
        t = tf.math.cumprod(tf.constant(v), axis=axis, exclusive=exclusive, reverse=reverse)
        return t.numpy()

    weights = np.arange(1.0, 13.0).reshape(3, 4)

    def weighted_grad_np(v):
        xv = tf.constant(v)
        with tf.GradientTape() as t:
            t.watch(xv)
            y = tf.math.cumprod(xv, axis=axis, exclusive=exclusive, reverse=reverse)
            s = tf.reduce_sum(y * weights)
        return t.gradient(s, xv).numpy()

    x = tf.constant(values)
    with tf.GradientTape(persistent=True) as outer:
        outer.watch(x)
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            y = tf.math.cumprod(x, axis=axis, exclusive=exclusive, reverse=reverse)
            s = tf.reduce_sum(y * weights)
        g = tape.gradient(s, x)
    jac = tape.jacobian(y, x).numpy()
    assert np.isfinite(jac).all()
    np.testing.assert_allclose(jac, _numeric_jacobian(cumprod_np, values), atol=1e-9)
    hessian = outer.jacobian(g, x).numpy()
    np.testing.assert_allclose(hessian, _numeric_jacobian(weighted_grad_np, values), atol=1e-8)


# -- recompute_grad replays randomness ----------------------------------------------


def test_recompute_grad_replays_the_forward_dropout_mask():
    block = tf.recompute_grad(lambda h: tf.nn.dropout(h, 0.5))
    x = tf.ones([1000])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = block(x)
        loss = tf.reduce_sum(y)
    g = tape.gradient(loss, x)
    np.testing.assert_array_equal(g.numpy(), y.numpy())


def test_recompute_grad_replays_random_values_and_keeps_the_seed_sequence():
    block = tf.recompute_grad(lambda h: h * tf.random.uniform([3]) + tf.random.normal([3]))
    x = tf.ones([3])
    tf.random.set_seed(7)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = block(x)
    factor = y.numpy()
    g = tape.gradient(y, x)
    after = tf.random.uniform([2]).numpy()
    tf.random.set_seed(7)
    u = tf.random.uniform([3]).numpy()
    n = tf.random.normal([3]).numpy()
    np.testing.assert_array_equal(factor, u + n)
    np.testing.assert_array_equal(g.numpy(), u)
    # the recomputation drew nothing new: the sequence goes on as without it
    np.testing.assert_array_equal(after, tf.random.uniform([2]).numpy())
