"""Forward mode: ``tf.autodiff.ForwardAccumulator`` JVPs against float64
central differences, forward-over-reverse and reverse-over-forward nesting,
and its errors."""

from __future__ import annotations

import numpy as np
import pytest
import tapegrad as tf
from _helpers import numeric_jacobian

RNG = np.random.default_rng(7)


def test_jvp_matches_finite_differences():
    x0 = np.array([0.4, -1.2, 2.0])
    v0 = np.array([1.0, -0.5, 0.25])
    x, v = tf.constant(x0), tf.constant(v0)
    with tf.autodiff.ForwardAccumulator(x, v) as acc:
        y = tf.exp(tf.sin(x)) * x + tf.reduce_sum(x * x)
    want = numeric_jacobian(lambda u: np.exp(np.sin(u)) * u + np.sum(u * u), [x0]) @ v0
    np.testing.assert_allclose(acc.jvp(y).numpy(), want, atol=1e-8)
    assert acc.jvp(tf.constant(1.0)) is None
    assert acc.jvp(tf.constant([1.0]), unconnected_gradients="zero").numpy().tolist() == [0.0]


def test_forward_over_reverse_hvp_equals_nested_tapes():
    x0 = RNG.standard_normal(6)
    v0 = RNG.standard_normal(6)
    x, v = tf.constant(x0), tf.constant(v0)
    with tf.autodiff.ForwardAccumulator(x, v) as acc:
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(tf.tanh(x) ** 2)
        g = tape.gradient(y, x)
    hvp_fwd = acc.jvp(g).numpy()
    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            y = tf.reduce_sum(tf.tanh(x) ** 2)
        gv = tf.reduce_sum(inner.gradient(y, x) * v)
    np.testing.assert_allclose(hvp_fwd, outer.gradient(gv, x).numpy(), atol=1e-10)
    th = np.tanh(x0)
    np.testing.assert_allclose(hvp_fwd, (2 * (1 - th**2) ** 2 - 4 * th**2 * (1 - th**2)) * v0)


def test_reverse_over_forward():
    x = tf.constant([1.0, 2.0], dtype=tf.float64)
    v = tf.constant([1.0, 1.0], dtype=tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(x)
        with tf.autodiff.ForwardAccumulator(x, v) as acc:
            y = tf.reduce_sum(x * x * x)
        jvp = acc.jvp(y)  # 3·Σ x²·v
    np.testing.assert_allclose(tape.gradient(jvp, x).numpy(), [6.0, 12.0])


def test_accumulator_errors_and_variables():
    x = tf.constant([1.0, 2.0])
    with pytest.raises(ValueError, match="specified as a primal multiple times"):
        tf.autodiff.ForwardAccumulator([x, x], [x, x])
    acc = tf.autodiff.ForwardAccumulator(x, tf.ones([2]))
    with acc, pytest.raises(ValueError, match="already recording"), acc:
        pass
    with pytest.raises(ValueError):
        tf.autodiff.ForwardAccumulator(x, tf.ones([3]))
    w = tf.Variable([1.0, 2.0])
    with tf.autodiff.ForwardAccumulator(w, tf.constant([1.0, 0.0])) as acc:
        y = w * w
    np.testing.assert_array_equal(acc.jvp(y).numpy(), [2.0, 0.0])


def test_forward_mode_through_recompute_grad():
    f = tf.recompute_grad(lambda x: tf.sin(x) * x)
    x0, v0 = np.array([0.3, 1.0]), np.array([1.0, 2.0])
    x = tf.constant(x0)
    with tf.autodiff.ForwardAccumulator(x, tf.constant(v0)) as acc:
        y = f(x)
    np.testing.assert_allclose(acc.jvp(y).numpy(), (np.cos(x0) * x0 + np.sin(x0)) * v0)
