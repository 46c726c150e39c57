"""``tf.custom_gradient`` (values, first and second order, several outputs,
variables, errors) and ``tf.recompute_grad``."""

from __future__ import annotations

import numpy as np
import pytest
import tapegrad as tf


def test_custom_gradient_value_first_and_second_order():
    @tf.custom_gradient
    def f(x):
        def grad(dy):
            return dy * 3.0 * x  # deliberately not the true derivative 2x

        return x * x, grad

    x = tf.constant(2.0)
    with tf.GradientTape() as t2:
        t2.watch(x)
        with tf.GradientTape() as t1:
            t1.watch(x)
            y = f(x)
        g = t1.gradient(y, x)
    assert float(y) == 4.0
    assert float(g) == 6.0
    assert float(t2.gradient(g, x)) == 3.0


def test_custom_gradient_multiple_outputs_and_errors():
    @tf.custom_gradient
    def split(x):
        return (x * 2.0, x * 3.0), lambda da, db: da * 2.0 + db * 3.0

    x = tf.constant(1.0)
    with tf.GradientTape() as t:
        t.watch(x)
        a, b = split(x)
        y = a + 10.0 * b
    assert float(t.gradient(y, x)) == 32.0

    @tf.custom_gradient
    def wrong_count(x, z):
        return x * z, lambda dy: dy

    with tf.GradientTape() as t:
        t.watch(x)
        y = wrong_count(x, tf.constant(2.0))
    with pytest.raises(ValueError, match="expected to return 2 gradients, but returned 1"):
        t.gradient(y, x)

    @tf.custom_gradient
    def raising(x):
        def grad(dy):
            raise KeyError("from grad_fn")

        return x * 1.0, grad

    with tf.GradientTape() as t:
        t.watch(x)
        y = raising(x)
    with pytest.raises(KeyError, match="from grad_fn"):
        t.gradient(y, x)


def test_custom_gradient_with_variables():
    v = tf.Variable(3.0)

    @tf.custom_gradient
    def f(x):
        def grad(dy, variables=None):
            return dy * v, [dy * x * 10.0]

        return x * v, grad

    x = tf.constant(2.0)
    with tf.GradientTape() as t:
        t.watch(x)
        y = f(x)
    gx, gv = t.gradient(y, [x, v])
    assert (float(gx), float(gv)) == (3.0, 20.0)

    @tf.custom_gradient
    def no_kwarg(x):
        return x * v, lambda dy: dy

    with pytest.raises(TypeError, match="must accept keyword argument 'variables'"):
        no_kwarg(x)


def test_recompute_grad_matches_the_plain_gradient():
    w = tf.Variable([[0.5, -1.0], [2.0, 0.25]], dtype=tf.float64)

    def block(x):
        return tf.tanh(tf.matmul(x, w)) * x

    x = tf.constant([[0.3, -0.8]], dtype=tf.float64)
    grads = []
    for fn in (block, tf.recompute_grad(block)):
        with tf.GradientTape() as t:
            t.watch(x)
            y = tf.reduce_sum(fn(x))
        grads.append([g.numpy() for g in t.gradient(y, [x, w])])
    for a, b in zip(*grads, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-12)
