"""The rest of the GradientTape contract: jacobians, forward mode, custom
gradients, recompute_grad and TF's corner cases, against values derived by
hand or by float64 finite differences."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import tapegrad as tf
from conftest import numeric_grad

RNG = np.random.default_rng(7)


def _jac_fd(f, x0: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central-difference jacobian of numpy ``f`` at ``x0``: shape f(x).shape + x.shape."""
    y0 = np.asarray(f(x0))
    out = np.zeros(y0.shape + x0.shape)
    for idx in np.ndindex(*x0.shape):
        d = np.zeros_like(x0)
        d[idx] = eps
        out[(...,) + idx] = (np.asarray(f(x0 + d)) - np.asarray(f(x0 - d))) / (2 * eps)
    return out


# ---------------------------------------------------------------- jacobian
def test_jacobian_of_tanh_matmul_matches_finite_differences():
    w = RNG.standard_normal((4, 3))
    x0 = RNG.standard_normal((3, 1))
    W, x = tf.constant(w), tf.constant(x0)
    with tf.GradientTape() as t:
        t.watch(x)
        y = tf.tanh(tf.matmul(W, x))
    j = t.jacobian(y, x)
    assert j.shape == (4, 1, 3, 1)
    np.testing.assert_allclose(j.numpy(), _jac_fd(lambda v: np.tanh(w @ v), x0), atol=1e-8)


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

    np.testing.assert_allclose(h.numpy(), _jac_fd(grad, x0, eps=1e-4), atol=1e-5)
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
            bj.numpy()[i], _jac_fd(lambda v: np.tanh(v @ w), x0[i]), atol=1e-8
        )
    z = tf.constant(np.ones((3, 5)))
    assert t.batch_jacobian(y, z) is None  # deliberate: TF returns zeros here
    assert t.batch_jacobian(y, z, unconnected_gradients="zero").shape == (3, 4, 5)
    with pytest.raises(ValueError, match="rank at least 2"):
        t.batch_jacobian(tf.reduce_sum(y, axis=1), x)
    with pytest.raises(ValueError, match="first dimension"):
        t.batch_jacobian(y, tf.constant(np.ones((2, 2))))


# ------------------------------------------------------------ forward mode
def test_jvp_matches_finite_differences():
    x0 = np.array([0.4, -1.2, 2.0])
    v0 = np.array([1.0, -0.5, 0.25])
    x, v = tf.constant(x0), tf.constant(v0)
    with tf.autodiff.ForwardAccumulator(x, v) as acc:
        y = tf.exp(tf.sin(x)) * x + tf.reduce_sum(x * x)
    want = _jac_fd(lambda u: np.exp(np.sin(u)) * u + np.sum(u * u), x0) @ v0
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


# --------------------------------------------------------- custom gradients
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


# ------------------------------------------------------ TF's corner cases
def test_tf_corner_cases():
    x = tf.constant([1.0, 2.0])
    with tf.GradientTape(persistent=True) as t:
        t.watch(x)
        y = x * x
    # a target that is a source contributes its seed; duplicates each get it all
    np.testing.assert_array_equal(t.gradient([x, y], x).numpy(), [3.0, 5.0])
    a, b = t.gradient(y, [x, x])
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(t.gradient(x, x).numpy(), [1.0, 1.0])
    with tf.GradientTape() as t2:
        t2.watch(x)
        y = tf.stop_gradient(x * x) + x
    np.testing.assert_array_equal(t2.gradient(y, x).numpy(), [1.0, 1.0])
    v = tf.Variable([1.0, 2.0])
    with tf.GradientTape() as t3:
        _ = v * 2.0
    np.testing.assert_array_equal(t3.gradient(v, v).numpy(), [1.0, 1.0])


def test_third_order_through_a_persistent_tape_inside_its_context():
    x = tf.constant(0.7, dtype=tf.float64)
    with tf.GradientTape(persistent=True) as t:
        t.watch(x)
        y = tf.sin(x) * x
        d1 = t.gradient(y, x)
        d2 = t.gradient(d1, x)
        d3 = t.gradient(d2, x)
    v = 0.7
    assert np.isclose(float(d3), -3 * np.sin(v) - v * np.cos(v))


def test_tapes_are_thread_local_under_concurrency():
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        try:
            x0 = np.random.default_rng(seed).standard_normal(8)
            x = tf.constant(x0)
            for _ in range(50):
                with tf.GradientTape() as t:
                    t.watch(x)
                    y = tf.reduce_sum(tf.sin(x) * x)
                g = t.gradient(y, x).numpy()
                np.testing.assert_allclose(g, np.cos(x0) * x0 + np.sin(x0), atol=1e-12)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors


def test_context_rules():
    x = tf.constant(2.0)
    t = tf.GradientTape()
    with t:
        t.watch(x)
        y1 = x * x
    with t:  # re-entering an exited tape appends to the same record
        y2 = y1 * x
    assert float(t.gradient(y2, x)) == 12.0
    a, b = tf.GradientTape(), tf.GradientTape()
    with a, b:
        a.watch(x)
        b.watch(x)
        y = x * x * x
    assert float(a.gradient(y, x)) == float(b.gradient(y, x)) == 12.0
    fresh = tf.GradientTape()
    with pytest.raises(RuntimeError, match="not recording"):
        with fresh.stop_recording():
            pass
    with pytest.raises(ValueError, match="not recording"):
        with a.stop_recording():
            pass
    with pytest.raises(ValueError, match="not recording"):
        a.reset()
    with tf.GradientTape() as t:
        t.watch(x)
        y = x * x
    with pytest.raises(TypeError, match="received None"):
        t.gradient(None, x)


def test_none_output_gradient_means_ones():
    x = tf.constant([1.0, 2.0])
    with tf.GradientTape() as t:
        t.watch(x)
        y, z = x * 2.0, x * 3.0
    g = t.gradient([y, z], x, output_gradients=[None, tf.constant([10.0, 10.0])])
    np.testing.assert_array_equal(g.numpy(), [32.0, 32.0])


def test_forward_mode_through_recompute_grad():
    f = tf.recompute_grad(lambda x: tf.sin(x) * x)
    x0, v0 = np.array([0.3, 1.0]), np.array([1.0, 2.0])
    x = tf.constant(x0)
    with tf.autodiff.ForwardAccumulator(x, tf.constant(v0)) as acc:
        y = f(x)
    np.testing.assert_allclose(acc.jvp(y).numpy(), (np.cos(x0) * x0 + np.sin(x0)) * v0)


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
