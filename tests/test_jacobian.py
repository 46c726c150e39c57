"""``GradientTape.jacobian`` and ``batch_jacobian``: values against float64
central differences, structures, unconnected sources, chunking
(``parallel_iterations``, ``experimental_use_pfor``), persistence, and
jacobians of gradients (Hessians) and gradients of jacobians."""

from __future__ import annotations

import numpy as np
import pytest
import tapegrad as tf
from _helpers import numeric_grad, numeric_jacobian

RNG = np.random.default_rng(7)


def test_jacobian_of_tanh_matmul_matches_finite_differences():
    w = RNG.standard_normal((4, 3))
    x0 = RNG.standard_normal((3, 1))
    W, x = tf.constant(w), tf.constant(x0)
    with tf.GradientTape() as t:
        t.watch(x)
        y = tf.tanh(tf.matmul(W, x))
    j = t.jacobian(y, x)
    assert j.shape == (4, 1, 3, 1)
    expected = numeric_jacobian(lambda v: np.tanh(w @ v), [x0])
    np.testing.assert_allclose(j.numpy(), expected, atol=1e-8)


def test_jacobian_structure_unconnected_and_chunks():
    x = tf.constant([1.0, 2.0, 3.0], dtype=tf.float64)
    z = tf.constant([5.0], dtype=tf.float64)
    with tf.GradientTape(persistent=True) as t:
        t.watch([x, z])
        y = x * x
    jd = t.jacobian(y, {"x": x, "z": z})
    np.testing.assert_array_equal(jd["x"].numpy(), np.diag([2.0, 4.0, 6.0]))
    assert jd["z"] is None
    zero = t.jacobian(y, [x, z], unconnected_gradients="zero")
    assert zero[1].shape == (3, 1) and not zero[1].numpy().any()
    # one row at a time, two at a time and all at once agree
    for kw in ({"experimental_use_pfor": False}, {"parallel_iterations": 2}, {}):
        np.testing.assert_array_equal(t.jacobian(y, x, **kw).numpy(), np.diag([2.0, 4.0, 6.0]))


def test_jacobian_spends_a_non_persistent_tape_and_loop_needs_persistence():
    x = tf.constant([1.0, 2.0])
    with tf.GradientTape() as t:
        t.watch(x)
        y = x * 3.0
    np.testing.assert_array_equal(t.jacobian(y, x).numpy(), 3 * np.eye(2))
    with pytest.raises(RuntimeError, match="one set of gradients"):
        t.gradient(y, x)
    with tf.GradientTape() as t2:
        t2.watch(x)
        y = x * 3.0
    with pytest.raises(RuntimeError, match="persistent=True to compute the jacobian"):
        t2.jacobian(y, x, experimental_use_pfor=False)


def test_hessian_as_jacobian_of_a_gradient():
    x0 = np.array([0.3, -0.7, 1.1])
    x = tf.constant(x0)
    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            y = tf.reduce_sum(tf.sin(x)) * tf.reduce_sum(x * x)
        g = inner.gradient(y, x)
    h = outer.jacobian(g, x)

    def f(v):
        return np.sum(np.sin(v)) * np.sum(v * v)

    def grad(v):
        return numeric_grad(f, v)

    np.testing.assert_allclose(h.numpy(), numeric_jacobian(grad, [x0], eps=1e-4), atol=1e-5)
    np.testing.assert_allclose(h.numpy(), h.numpy().T, atol=1e-12)


def test_batch_jacobian():
    x0 = RNG.standard_normal((3, 2))
    w = RNG.standard_normal((2, 4))
    x = tf.constant(x0)
    with tf.GradientTape(persistent=True) as t:
        t.watch(x)
        y = tf.tanh(tf.matmul(x, tf.constant(w)))
    bj = t.batch_jacobian(y, x)
    assert bj.shape == (3, 4, 2)
    for i in range(3):
        np.testing.assert_allclose(
            bj.numpy()[i], numeric_jacobian(lambda v: np.tanh(v @ w), [x0[i]]), atol=1e-8
        )
    z = tf.constant(np.ones((3, 5)))
    assert t.batch_jacobian(y, z) is None  # deliberate: TF returns zeros here
    assert t.batch_jacobian(y, z, unconnected_gradients="zero").shape == (3, 4, 5)
    with pytest.raises(ValueError, match="rank at least 2"):
        t.batch_jacobian(tf.reduce_sum(y, axis=1), x)
    with pytest.raises(ValueError, match="first dimension"):
        t.batch_jacobian(y, tf.constant(np.ones((2, 2))))


def test_a_chunked_jacobian_is_differentiable_again():
    x = tf.constant([0.3, -0.6, 0.9], dtype=tf.float64)
    results = []
    for chunk in (None, 1):
        with tf.GradientTape() as outer:
            outer.watch(x)
            with tf.GradientTape() as inner:
                inner.watch(x)
                y = tf.sin(x) * tf.reduce_sum(x * x)
            j = inner.jacobian(y, x, parallel_iterations=chunk)
            s = tf.reduce_sum(j * j)
        results.append(outer.gradient(s, x).numpy())
    np.testing.assert_allclose(results[0], results[1], atol=1e-12)
    assert np.abs(results[0]).sum() > 0


def test_jacobian_through_broadcasting_inputs_of_lower_rank():
    x = tf.constant([1.0, 2.0, 3.0])
    b = tf.constant([0.5, -0.5])
    w = tf.constant(np.arange(6.0, dtype=np.float32).reshape(3, 2))
    with tf.GradientTape(persistent=True) as t:
        t.watch([x, b])
        y = x + tf.ones([3, 3])  # (3,) broadcast against (3, 3)
        z = tf.matmul(tf.reshape(x, [1, 3]), w) + b  # bias of lower rank
    np.testing.assert_array_equal(t.jacobian(y, x).numpy(), np.broadcast_to(np.eye(3), (3, 3, 3)))
    np.testing.assert_array_equal(t.jacobian(z, b).numpy(), np.eye(2).reshape(1, 2, 2))
    for chunk in (1, 2):
        np.testing.assert_array_equal(
            t.jacobian(z, b, parallel_iterations=chunk).numpy(), np.eye(2).reshape(1, 2, 2)
        )
