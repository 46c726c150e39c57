"""The GradientTape contract (ARCHITECTURE.md §1), its corner cases and the
context rules; jacobians, forward mode and custom gradients have files of
their own."""

from __future__ import annotations

import itertools
import threading

import numpy as np
import pytest
import tapegrad as tf
from _helpers import check_vjp, projected_grad

ONE_SET = (
    "A non-persistent GradientTape can only be used to compute one set of gradients (or jacobians)"
)
PERSISTENT_WARNING = (
    "Calling GradientTape.gradient on a persistent tape inside its context is "
    "significantly less efficient than calling it outside the context (it causes the "
    "gradient ops to be recorded on the tape, leading to increased CPU and memory usage). "
    "Only call GradientTape.gradient inside the context if you actually want to trace "
    "the gradient in order to compute higher order derivatives."
)


def _x41():
    return tf.reshape(tf.Variable(range(4), dtype=tf.float32), (4, 1))


def _assert_tensor(t, expected, dtype=tf.float32):
    assert isinstance(t, tf.Tensor)
    assert t.dtype == dtype
    expected = np.asarray(expected)
    assert tuple(t.shape) == expected.shape
    np.testing.assert_array_equal(t.numpy(), expected)


# --- the tutorial (§1) ----------------------------------------------------


def test_tutorial_matmul_gradient():
    x = _x41()
    with tf.GradientTape() as t:
        t.watch(x)
        y = 2 * tf.matmul(tf.transpose(x), x)
    _assert_tensor(t.gradient(y, x), [[0], [4], [8], [12]])


def test_tutorial_persistent_in_context(tapegrad_log):
    x = _x41()
    with tf.GradientTape(persistent=True) as g:
        g.watch(x)
        y = x * x
        z = y * y
        dz_dx = g.gradient(z, x)
        dy_dx = g.gradient(y, x)
    _assert_tensor(dz_dx, [[0], [4], [32], [108]])
    _assert_tensor(dy_dx, [[0], [2], [4], [6]])
    messages = [r.getMessage() for r in tapegrad_log.records if r.name == "tapegrad"]
    assert messages == [PERSISTENT_WARNING]
    assert tapegrad_log.records[0].levelname == "WARNING"


def _tutorial_f(a):
    b = a * 2
    while tf.norm(b) < 1000:
        b = b * 2
    if tf.reduce_sum(b) > 0:
        c = b
    else:
        c = 100 * b
    return c


def _tutorial_factor(a: float) -> np.float32:
    """df/da of the tutorial's f, computed in numpy float32."""
    k = np.float32(2)
    b = np.float32(a) * k
    while abs(b) < 1000:
        b = b * np.float32(2)
        k = k * np.float32(2)
    return k if b > 0 else np.float32(100) * k


@pytest.mark.parametrize("value", [0.3, -0.7, None])
def test_tutorial_control_flow(value):
    if value is None:
        tf.random.set_seed(0)
        a = tf.random.normal((1, 1), dtype=tf.float32)
    else:
        a = tf.constant([[value]])
    with tf.GradientTape() as t:
        t.watch(a)
        c = _tutorial_f(a)
    grad = t.gradient(c, a)
    a0 = a.numpy()[0, 0]
    _assert_tensor(grad, [[_tutorial_factor(a0)]])
    same = grad == c / a
    assert isinstance(same, tf.Tensor) and same.dtype == tf.bool and tuple(same.shape) == (1, 1)
    # TF's arithmetic, not the word True: float32 c / a may round away from k
    assert same.numpy()[0, 0] == (grad.numpy()[0, 0] == c.numpy()[0, 0] / a0)
    if value is not None and value > 0:
        assert bool(same)
    with pytest.raises(RuntimeError) as e:
        t.gradient(c, a)
    assert str(e.value).startswith(ONE_SET)
    assert "GradientTape(persistent=True)" in str(e.value)


# --- persistence -------------------------------------------------------------


def test_non_persistent_second_gradient_raises():
    x = tf.constant(2.0)
    with tf.GradientTape() as t:
        t.watch(x)
        y = x * x
    assert float(t.gradient(y, x)) == 4.0
    with pytest.raises(RuntimeError) as e:
        t.gradient(y, x)
    assert str(e.value).startswith(ONE_SET)
    assert "GradientTape(persistent=True)" in str(e.value)


def test_persistent_outside_context_many_gradients(tapegrad_log):
    x = tf.constant(3.0)
    with tf.GradientTape(persistent=True) as t:
        t.watch(x)
        y = x * x
        z = y * x
    for _ in range(3):
        assert float(t.gradient(z, x)) == 27.0
        assert float(t.gradient(y, x)) == 6.0
    assert [r for r in tapegrad_log.records if r.name == "tapegrad"] == []


def test_persistent_in_context_warns_once_and_records(tapegrad_log):
    x = tf.constant(3.0)
    with tf.GradientTape(persistent=True) as t:
        t.watch(x)
        y = x * x * x
        dy = t.gradient(y, x)  # 3x² = 27, recorded on t itself
        dy_again = t.gradient(y, x)
    assert float(dy) == 27.0 and float(dy_again) == 27.0
    assert float(t.gradient(dy, x)) == 18.0  # higher order from the same tape
    messages = [r.getMessage() for r in tapegrad_log.records if r.name == "tapegrad"]
    assert messages == [PERSISTENT_WARNING]


def test_non_persistent_gradient_in_context_stops_recording():
    x = tf.constant(2.0)
    with tf.GradientTape() as t:
        t.watch(x)
        y = x * x
        assert float(t.gradient(y, x)) == 4.0
        # the tape has stopped recording: it is no longer active in its own context
        with pytest.raises(ValueError):
            t.watch(x)
        with pytest.raises(ValueError), t.stop_recording():
            pass
        z = y * 3.0
    with pytest.raises(RuntimeError):
        t.gradient(z, x)


# --- second order (third order: test_higher_order.py) ---------------------


def test_nested_persistent_inner_and_outer():
    x = tf.constant(np.array([0.5, -1.0, 2.0]))
    with tf.GradientTape(persistent=True) as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            y = tf.reduce_sum(tf.sin(x) * x)
        g = inner.gradient(y, x)  # sin x + x cos x
    h = outer.gradient(g, x)  # 2 cos x - x sin x
    xs = x.numpy()
    np.testing.assert_allclose(g.numpy(), np.sin(xs) + xs * np.cos(xs), rtol=1e-12)
    np.testing.assert_allclose(h.numpy(), 2 * np.cos(xs) - xs * np.sin(xs), rtol=1e-12)
    # the outer tape saw the forward pass too
    np.testing.assert_allclose(outer.gradient(y, x).numpy(), g.numpy(), rtol=1e-12)


# --- targets, sources, structures --------------------------------------------


def test_multiple_targets_are_summed():
    x = tf.constant(2.0)
    with tf.GradientTape(persistent=True) as t:
        t.watch(x)
        y1 = x * x
        y2 = x * 5.0
        y3 = tf.exp(x)
    assert float(t.gradient([y1, y2], x)) == 9.0
    assert float(t.gradient({"b": y2, "a": y1}, x)) == 9.0
    np.testing.assert_allclose(float(t.gradient((y1, [y2, y3]), x)), 9.0 + np.exp(2.0), rtol=1e-6)
    assert float(t.gradient([y1, y1], x)) == 8.0


def test_non_scalar_target_seeded_with_ones():
    x = tf.constant([1.0, 2.0, 3.0])
    with tf.GradientTape() as t:
        t.watch(x)
        y = x * x
    _assert_tensor(t.gradient(y, x), [2.0, 4.0, 6.0])


def test_source_structures_are_preserved():
    a, b, c = tf.constant(1.0), tf.constant(2.0), tf.constant(3.0)
    with tf.GradientTape(persistent=True) as t:
        t.watch([a, b, c])
        y = a * 10.0 + b * 20.0 + c * 30.0
    g = t.gradient(y, [a, b])
    assert isinstance(g, list) and [float(v) for v in g] == [10.0, 20.0]
    g = t.gradient(y, (c, a))
    assert isinstance(g, tuple) and [float(v) for v in g] == [30.0, 10.0]
    g = t.gradient(y, {"z": a, "y": b, "x": c})
    assert isinstance(g, dict) and list(g) == ["z", "y", "x"]
    assert {k: float(v) for k, v in g.items()} == {"z": 10.0, "y": 20.0, "x": 30.0}
    g = t.gradient(y, {"p": [a, (b,)], "q": c})
    assert isinstance(g["p"], list) and isinstance(g["p"][1], tuple)
    assert (float(g["p"][0]), float(g["p"][1][0]), float(g["q"])) == (10.0, 20.0, 30.0)
    g = t.gradient(y, a)
    assert isinstance(g, tf.Tensor) and float(g) == 10.0


def test_unconnected_gradients():
    x = tf.constant([1.0, 2.0])
    u = tf.constant([[1.0, 2.0, 3.0]], dtype=tf.float64)
    with tf.GradientTape(persistent=True) as t:
        t.watch([x, u])
        y = tf.reduce_sum(x * x)
    assert t.gradient(y, u) is None
    assert t.gradient(y, [x, u])[1] is None
    for zero in ("zero", tf.UnconnectedGradients.ZERO):
        g = t.gradient(y, [x, u], unconnected_gradients=zero)
        _assert_tensor(g[0], [2.0, 4.0])
        _assert_tensor(g[1], np.zeros((1, 3)), dtype=tf.float64)
    assert t.gradient(y, u, unconnected_gradients=tf.UnconnectedGradients.NONE) is None
    assert t.gradient(y, u, unconnected_gradients="none") is None
    with pytest.raises(ValueError):
        t.gradient(y, u, unconnected_gradients="zeros")


def test_unwatched_source_is_unconnected():
    x = tf.constant(2.0)
    with tf.GradientTape() as t:
        y = x * x
    assert t.gradient(y, x) is None


def test_output_gradients():
    x = tf.constant([1.0, 2.0])
    with tf.GradientTape(persistent=True) as t:
        t.watch(x)
        y = x * x  # dy/dx = 2x
        z = tf.reduce_sum(x) * 3.0
    _assert_tensor(t.gradient(y, x, output_gradients=tf.constant([10.0, -1.0])), [20.0, -4.0])
    _assert_tensor(t.gradient(y, x, output_gradients=[tf.constant([2.0, 2.0])]), [4.0, 8.0])
    _assert_tensor(
        t.gradient([y, z], x, output_gradients=[tf.constant([1.0, 0.0]), tf.constant(2.0)]),
        [2.0 + 6.0, 0.0 + 6.0],
    )
    # a None entry means ones (deliberate difference from TF)
    _assert_tensor(t.gradient([y, z], x, output_gradients=[None, tf.constant(0.0)]), [2.0, 4.0])
    with pytest.raises(ValueError):  # wrong length
        t.gradient([y, z], x, output_gradients=[tf.constant([1.0, 1.0])])
    with pytest.raises(ValueError):  # wrong length
        t.gradient(y, x, output_gradients=[tf.constant([1.0, 1.0]), tf.constant([1.0, 1.0])])
    with pytest.raises(ValueError):  # wrong shape
        t.gradient(y, x, output_gradients=tf.constant([1.0, 1.0, 1.0]))
    with pytest.raises(ValueError):  # wrong shape, even though it would broadcast
        t.gradient(y, x, output_gradients=tf.constant(1.0))


# --- watch, enter, stop, reset --------------------------------------------------


@pytest.mark.parametrize("bad", [3.0, "x", np.array([1.0]), None, [tf.constant(1.0), 2.0]])
def test_watch_non_tensor_raises(bad):
    with tf.GradientTape() as t:
        with pytest.raises(ValueError):
            t.watch(bad)


def test_watch_outside_context_raises():
    x = tf.constant(1.0)
    t = tf.GradientTape()
    with pytest.raises(ValueError):
        t.watch(x)
    with t:
        pass
    with pytest.raises(ValueError):
        t.watch(x)


def test_watch_nested_structure():
    a, b = tf.constant(2.0), tf.constant(3.0)
    with tf.GradientTape() as t:
        t.watch({"a": a, "rest": (b,)})
        y = a * b
    assert [float(g) for g in t.gradient(y, [a, b])] == [3.0, 2.0]


def test_reentering_active_tape_raises():
    t = tf.GradientTape()
    with t:
        with pytest.raises(ValueError):
            t.__enter__()
        with pytest.raises(ValueError):
            with t:
                pass
    # leaving the context deactivated it: the failed re-entries did not break it
    with pytest.raises(ValueError):
        t.watch(tf.constant(1.0))


def test_stop_recording():
    x = tf.constant(2.0)
    with tf.GradientTape(persistent=True) as t:
        t.watch(x)
        with t.stop_recording():
            y = x * x
        z = x * 3.0
        w = y * x  # y is a constant to the tape: dw/dx = y
    assert t.gradient(y, x) is None
    assert float(t.gradient(z, x)) == 3.0
    assert float(t.gradient(w, x)) == 4.0


def test_stop_recording_only_stops_this_tape():
    x = tf.constant(2.0)
    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            with inner.stop_recording():
                y = x * x
        assert inner.gradient(y, x) is None
    assert float(outer.gradient(y, x)) == 4.0


def test_reset():
    x = tf.constant(2.0)
    with tf.GradientTape(persistent=True) as t:
        t.watch(x)
        y = x * x
        t.reset()
        z = x * 3.0  # x is no longer watched after reset
        t.watch(x)
        w = x * 5.0
    assert t.gradient(y, x) is None
    assert t.gradient(z, x) is None
    assert float(t.gradient(w, x)) == 5.0


def test_watched_variables_in_creation_order():
    v1 = tf.Variable(1.0, name="v1")
    v2 = tf.Variable(2.0, name="v2")
    v3 = tf.Variable(3.0, name="v3")
    unused = tf.Variable(4.0, name="unused")
    with tf.GradientTape() as t:
        y = v3 * v1
        t.watch(v2)
    assert [v.name for v in t.watched_variables()] == ["v1:0", "v2:0", "v3:0"]
    g = t.gradient(y, [v1, v2, v3, unused])
    assert [None if v is None else float(v) for v in g] == [3.0, None, 1.0, None]
    # still answered after the non-persistent tape is spent
    assert [v.name for v in t.watched_variables()] == ["v1:0", "v2:0", "v3:0"]
    assert tf.GradientTape().watched_variables() == ()


@pytest.mark.parametrize("dtype", [tf.int32, tf.int64, tf.bool])
def test_non_float_source_gives_none(dtype, tapegrad_log):
    x = tf.constant([1, 0], dtype=dtype)
    f = tf.constant([1.0, 2.0])
    with tf.GradientTape(persistent=True) as t:
        t.watch([x, f])
        y = tf.cast(x, tf.float32) * f
    assert t.gradient(y, x) is None
    g = t.gradient(y, x, unconnected_gradients="zero")
    _assert_tensor(g, np.zeros(2), dtype=dtype)
    _assert_tensor(t.gradient(y, f), [1.0, 0.0])


# --- gradient values ------------------------------------------------------------


def test_gradient_has_source_dtype_and_shape():
    for dtype in (tf.float32, tf.float64):
        x = tf.ones([2, 3], dtype=dtype)
        with tf.GradientTape() as t:
            t.watch(x)
            y = tf.reduce_sum(x * 2.0)
        g = t.gradient(y, x)
        _assert_tensor(g, np.full((2, 3), 2.0), dtype=dtype)


def test_broadcasting_gradients_reduce_to_input_shape():
    a = tf.constant([[1.0], [2.0], [3.0]])  # (3, 1)
    b = tf.constant([[10.0, 20.0, 30.0, 40.0]])  # (1, 4)
    with tf.GradientTape() as t:
        t.watch([a, b])
        y = a * b  # (3, 4)
    ga, gb = t.gradient(y, [a, b])
    _assert_tensor(ga, [[100.0], [100.0], [100.0]])
    _assert_tensor(gb, [[6.0, 6.0, 6.0, 6.0]])
    check_vjp(lambda p, q: p * q + p, [np.array([[1.0], [2.0], [3.0]]), np.arange(4.0)[None]])
    check_vjp(lambda p, q: p - q, [np.ones((2, 1, 3)), np.arange(4.0).reshape(4, 1)])


@pytest.mark.parametrize(("ta", "tb"), list(itertools.product([False, True], repeat=2)))
def test_matmul_gradient_with_transpose_flags(ta, tb):
    rng = np.random.default_rng(7)
    m, k, n = 3, 4, 2
    a = rng.standard_normal((k, m) if ta else (m, k))
    b = rng.standard_normal((n, k) if tb else (k, n))
    w = rng.standard_normal((m, n))
    op_a = a.T if ta else a
    op_b = b.T if tb else b
    A, B = tf.constant(a), tf.constant(b)
    with tf.GradientTape() as t:
        t.watch([A, B])
        y = tf.matmul(A, B, transpose_a=ta, transpose_b=tb)
        s = tf.reduce_sum(y * tf.constant(w))
    np.testing.assert_allclose(y.numpy(), op_a @ op_b, rtol=1e-12)
    ga, gb = t.gradient(s, [A, B])
    d_op_a = w @ op_b.T
    d_op_b = op_a.T @ w
    np.testing.assert_allclose(ga.numpy(), d_op_a.T if ta else d_op_a, rtol=1e-12)
    np.testing.assert_allclose(gb.numpy(), d_op_b.T if tb else d_op_b, rtol=1e-12)
    check_vjp(lambda p, q: tf.matmul(p, q, transpose_a=ta, transpose_b=tb), [a, b])
    check_vjp(lambda p, q: tf.matmul(p, q, adjoint_a=ta, adjoint_b=tb), [a, b])


@pytest.mark.parametrize(("ta", "tb"), [(False, True), (True, False)])
def test_a_product_cut_into_interrupt_blocks_equals_numpys(ta, tb):
    # 1100·1001·1030 multiply-adds: over the one-call budget (1024³), so it
    # runs as two depth slabs of 515 written into one result
    rng = np.random.default_rng(3)
    a = rng.standard_normal((1030, 1100) if ta else (1100, 1030))
    b = rng.standard_normal((1001, 1030) if tb else (1030, 1001))
    y = tf.matmul(tf.constant(a), tf.constant(b), transpose_a=ta, transpose_b=tb)
    want = (a.T if ta else a) @ (b.T if tb else b)
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradients_of_a_product_whose_transposed_reads_are_copied(dtype):
    # 24·512·512 multiply-adds (above the copy threshold, 2²²) with 512-long
    # rows (a cache-aliasing column stride once transposed): the VJP's g·Bᵀ
    # copies Bᵀ into row-major order, Aᵀ·g reads Aᵀ through its strides
    rng = np.random.default_rng(5)
    a = rng.standard_normal((24, 512)).astype(dtype)
    b = rng.standard_normal((512, 512)).astype(dtype)
    w = rng.standard_normal((24, 512)).astype(dtype)
    A, B = tf.constant(a), tf.constant(b)
    with tf.GradientTape() as t:
        t.watch([A, B])
        s = tf.reduce_sum(tf.matmul(A, B) * tf.constant(w))
    ga, gb = t.gradient(s, [A, B])
    tol = 1e-3 if dtype == np.float32 else 1e-12
    a64, b64, w64 = (x.astype(np.float64) for x in (a, b, w))
    np.testing.assert_allclose(ga.numpy(), w64 @ b64.T, rtol=tol, atol=tol)
    np.testing.assert_allclose(gb.numpy(), a64.T @ w64, rtol=tol, atol=tol)


def test_matrix_times_a_stack_of_vectors():
    # (the input gradient of W @ x under a jacobian: one product, the
    # vectors as the rows of a matrix)
    rng = np.random.default_rng(4)
    w = rng.standard_normal((5, 7))
    v = rng.standard_normal((2, 3, 7, 1))
    got = tf.matmul(tf.constant(w), tf.constant(v))
    np.testing.assert_allclose(got.numpy(), w @ v, rtol=1e-12)
    got_t = tf.matmul(tf.constant(w.T), tf.constant(v), transpose_a=True)
    np.testing.assert_allclose(got_t.numpy(), w @ v, rtol=1e-12)
    check_vjp(lambda p, q: tf.matmul(p, q), [w, v])


def test_matmul_float32_gradient_dtype():
    a = tf.constant([[1.0, 2.0]])
    b = tf.constant([[3.0], [4.0]])
    with tf.GradientTape() as t:
        t.watch([a, b])
        y = a @ b
    ga, gb = t.gradient(y, [a, b])
    _assert_tensor(ga, [[3.0, 4.0]])
    _assert_tensor(gb, [[1.0], [2.0]])


def test_tape_is_thread_local():
    x = tf.constant(3.0)
    result = {}

    def other_thread():
        result["y"] = x * x  # not recorded: the tape is active on the main thread only
        x2 = tf.constant(5.0)
        with tf.GradientTape() as t2:
            t2.watch(x2)
            z = x2 * x2
        result["own"] = t2.gradient(z, x2)

    with tf.GradientTape(persistent=True) as t:
        t.watch(x)
        th = threading.Thread(target=other_thread)
        th.start()
        th.join()
        y_main = x * x
    assert t.gradient(result["y"], x) is None
    assert float(t.gradient(y_main, x)) == 6.0
    assert float(result["own"]) == 10.0


STRUCTURAL = {
    "reduce_sum": lambda t: tf.reduce_sum(t),
    "reduce_sum_axis": lambda t: tf.reduce_sum(t, axis=1),
    "reduce_sum_axes_keepdims": lambda t: tf.reduce_sum(t, axis=[-1, 0], keepdims=True),
    "reduce_mean": lambda t: tf.reduce_mean(t),
    "reduce_mean_axes": lambda t: tf.reduce_mean(t, axis=[0, 2]),
    "reshape": lambda t: tf.reshape(t, [4, -1]) * tf.reshape(t, [4, -1]),
    "transpose_perm": lambda t: tf.transpose(t, perm=[2, 0, 1]) ** 2,
    "transpose_default": lambda t: tf.exp(tf.transpose(t)),
    "broadcast_to": lambda t: tf.broadcast_to(tf.reduce_sum(t, axis=0), [5, 3, 4]) ** 2,
    "norm": lambda t: tf.norm(t),
    "norm_axis": lambda t: tf.norm(t, axis=1),
    "norm_ord1": lambda t: tf.norm(t, ord=1),
    "where": lambda t: tf.where(t > 0, t * t, tf.sin(t)),
    "identity": lambda t: tf.identity(t) * t,
    "truediv": lambda t: t / (t * t + 1.0),
    "rtruediv": lambda t: 1.0 / (t * t + 1.0),
    "rsub_rpow": lambda t: (1.0 - t) * 2.0**t,
    "matmul_of_views": lambda t: tf.matmul(tf.reshape(t, [6, 4]), tf.reshape(t, [6, 4]), True),
}


@pytest.mark.parametrize("name", sorted(STRUCTURAL))
def test_structural_op_gradients(name):
    f = STRUCTURAL[name]
    x = np.random.default_rng(3).standard_normal((2, 3, 4))
    check_vjp(f, [x])
    check_vjp(projected_grad(f, [x]), [x], unconnected="zero")


def test_cast_gradient_returns_to_source_dtype():
    x = tf.constant([1.0, 2.0])
    with tf.GradientTape() as t:
        t.watch(x)
        y = tf.cast(x, tf.float64) * tf.constant([3.0, 4.0], dtype=tf.float64)
    _assert_tensor(t.gradient(y, x), [3.0, 4.0])
    with tf.GradientTape() as t:
        t.watch(x)
        y = tf.cast(x, tf.int32)
    assert t.gradient(y, x) is None


def test_stop_gradient_and_constant_cut_the_tape():
    x = tf.constant([1.0, 2.0])
    with tf.GradientTape(persistent=True) as t:
        t.watch(x)
        y = tf.stop_gradient(x * x) * x
        z = tf.constant(x) * x
    _assert_tensor(t.gradient(y, x), [1.0, 4.0])
    _assert_tensor(t.gradient(z, x), [1.0, 2.0])


def test_large_tensors_use_parallel_kernels_correctly():
    n = 200_000  # above the serial/parallel threshold
    xs = np.linspace(-2.0, 2.0, n)
    x = tf.constant(xs)
    with tf.GradientTape() as t:
        t.watch(x)
        y = tf.reduce_sum(tf.sin(x) * x + tf.exp(x) * 0.5)
    g = t.gradient(y, x)
    np.testing.assert_allclose(float(y), np.sum(np.sin(xs) * xs + np.exp(xs) * 0.5), rtol=1e-10)
    expected = np.cos(xs) * xs + np.sin(xs) + 0.5 * np.exp(xs)
    np.testing.assert_allclose(g.numpy(), expected, rtol=1e-12)


# --- TF's corner cases and the context rules ------------------------------


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


def test_gradients_summed_in_place_never_write_a_shared_buffer():
    """Gradients of one tensor from several consumers are summed into the
    first one's buffer when no one else holds it; `add` hands one buffer to
    both its inputs, and a caller's `output_gradients` stays the caller's."""
    x = tf.constant([1.0, 2.0])
    seed = tf.constant([1.0, 10.0])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x + x
        z = x * 3.0 + y
    assert tape.gradient(y, x, output_gradients=seed).numpy().tolist() == [2.0, 20.0]
    assert seed.numpy().tolist() == [1.0, 10.0]
    for _ in range(2):
        assert tape.gradient(z, x).numpy().tolist() == [5.0, 5.0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradients_summed_in_place_are_bitwise_the_recorded_sum(dtype):
    """Large enough to be summed in parallel pieces; under a recording tape
    the sum is an `add` op (it needs a node): the same bits either way."""
    x = tf.constant(np.random.default_rng(3).normal(size=300_001).astype(dtype))

    def gradient():
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(tf.tanh(x) * tf.sigmoid(x) + x * x)
        return tape.gradient(y, x).numpy()

    summed_in_place = gradient()
    with tf.GradientTape() as outer:
        outer.watch(x)
        recorded = gradient()
    np.testing.assert_array_equal(summed_in_place.view(np.uint8), recorded.view(np.uint8))
    v = x.numpy().astype(np.float64)
    s, t = 1 / (1 + np.exp(-v)), np.tanh(v)
    expected = (1 - t * t) * s + t * s * (1 - s) + 2 * v
    np.testing.assert_allclose(summed_in_place, expected, rtol=1e-4, atol=1e-5)
