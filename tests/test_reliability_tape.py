"""Reliability of the tape, differentiation and custom gradients: each test
pins a failure found by an adversarial review (masked singular gradients,
cumprod at zeros)."""

from __future__ import annotations

import itertools

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

