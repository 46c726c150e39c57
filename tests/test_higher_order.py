"""Third-order derivatives, all in one place: closed forms through three
nested tapes and through one persistent tape, then every differentiable
registry op and the irregular ops as the gradient of a projected gradient of a
projected gradient, against float64 central differences of the (tape-computed)
second order."""

from __future__ import annotations

import numpy as np
import pytest
import tapegrad as tf
from _helpers import check_vjp, op_rng, projected_grad, sample_smooth_float
from tapegrad._core import ops as OPS


# ---------------------------------------------------------------- closed forms
def test_nested_second_and_third_order():
    x = tf.constant(3.0)
    with tf.GradientTape() as t3:
        t3.watch(x)
        with tf.GradientTape() as t2:
            t2.watch(x)
            with tf.GradientTape() as t1:
                t1.watch(x)
                y = x * x * x
            d1 = t1.gradient(y, x)
        d2 = t2.gradient(d1, x)
    d3 = t3.gradient(d2, x)
    assert (float(d1), float(d2), float(d3)) == (27.0, 18.0, 6.0)


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



def _cube(x):
    return x * x * x


THIRD = {
    "exp": (tf.exp, np.exp),
    "sin": (tf.sin, lambda x: -np.cos(x)),
    "tanh": (tf.tanh, lambda x: -2 * (1 - np.tanh(x) ** 2) * (1 - 3 * np.tanh(x) ** 2)),
    "cube": (_cube, lambda x: np.full_like(x, 6.0)),
}


@pytest.mark.parametrize("name", sorted(THIRD))
def test_third_order_closed_form(name: str) -> None:
    f, d3_expected = THIRD[name]
    xs = np.array([-1.3, -0.4, 0.2, 0.9, 1.6])
    x = tf.constant(xs)
    with tf.GradientTape() as t3:
        t3.watch(x)
        with tf.GradientTape() as t2:
            t2.watch(x)
            with tf.GradientTape() as t1:
                t1.watch(x)
                y = f(x)
            d1 = t1.gradient(y, x)
        d2 = t2.gradient(d1, x)
    d3 = t3.gradient(d2, x)
    assert d3 is not None and d3.dtype == tf.float64 and tuple(d3.shape) == (5,)
    np.testing.assert_allclose(d3.numpy(), d3_expected(xs), rtol=1e-10, atol=1e-12)

    # and against central differences of the tape's second-order gradient
    g3 = projected_grad(projected_grad(f, [xs], seed=1), [xs], seed=2)
    check_vjp(g3, [xs], unconnected="zero")


# ---------------------------------------------------------------- every registry op
SHAPES = {1: ((3,),), 2: ((3,), (3,))}


@pytest.mark.parametrize("name", sorted(n for n, op in OPS.items() if op.differentiable))
def test_third_order(name: str) -> None:
    op = OPS[name]
    if op.dtypes == "bool":
        pytest.skip("logical ops take no float inputs")
    shapes = SHAPES[op.arity]
    xs = sample_smooth_float(name, shapes, op_rng(name, shapes))
    xs = [np.asarray(x, dtype=np.float64) for x in xs]
    second = projected_grad(op, xs)
    check_vjp(projected_grad(second, xs, seed=2), xs, unconnected="zero", rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------- irregular ops
IRREGULAR = {
    "matmul": (lambda a, b: tf.matmul(a, b), ((2, 3), (3, 2))),
    "matmul_batched_t": (
        lambda a, b: tf.matmul(a, b, transpose_b=True),
        ((2, 2, 3), (4, 3)),
    ),
    "reduce_sum_axis": (lambda a: tf.reduce_sum(a * a, axis=1), ((2, 3),)),
    "reduce_mean_keep": (
        lambda a: tf.reduce_mean(a * a * a, axis=0, keepdims=True),
        ((3, 2),),
    ),
    "reshape_transpose": (
        lambda a: tf.transpose(tf.reshape(a * a, [3, 2])),
        ((2, 3),),
    ),
    "broadcast_to": (
        lambda a: tf.broadcast_to(a, [2, 3]) ** 3,
        ((1, 3),),
    ),
    "softmax": (lambda a: tf.nn.softmax(a), ((2, 4),)),
    "log_softmax": (lambda a: tf.nn.log_softmax(a), ((2, 4),)),
    "reduce_logsumexp": (lambda a: tf.reduce_logsumexp(a, axis=1), ((2, 4),)),
    "reduce_prod": (lambda a: tf.reduce_prod(a, axis=0), ((3, 2),)),
    "norm": (lambda a: tf.norm(a), ((4,),)),
    "concat": (
        lambda a, b: tf.concat([a * a, b * a], axis=0),
        ((2, 2), (2, 2)),
    ),
    "einsum": (lambda a, b: tf.einsum("ij,jk->ik", a, b) ** 2, ((2, 3), (3, 2))),
    "cumsum": (lambda a: tf.cumsum(a * a * a, axis=0), ((4,),)),
}


@pytest.mark.parametrize("name", sorted(IRREGULAR))
def test_third_order_irregular(name: str) -> None:
    f, shapes = IRREGULAR[name]
    rng = np.random.default_rng(11)
    xs = [rng.uniform(0.5, 1.5, s) * rng.choice([-1.0, 1.0], s) for s in shapes]
    if name == "norm":
        xs = [np.abs(x) for x in xs]
    second = projected_grad(f, xs)
    check_vjp(projected_grad(second, xs, seed=2), xs, unconnected="zero", rtol=1e-4, atol=1e-6)


# ------------------------------------------- sin's and cos's one-pass backward
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [4, 5003])
def test_one_pass_sin_cos_backward_is_bitwise_the_recorded_one(dtype, n: int) -> None:
    """A plain backward pass makes g·cos x (sin's VJP) and −g·sin x (cos's)
    in one pass; under a recording tape it builds them from ops, which have
    gradients of their own. Both give the same bits: the float32 slice
    functions see the same blocks (one block holds an argument beyond 2^28,
    where they fall back to libm for the whole block), and g may be strided
    (a transposed gradient takes the op-by-op path either way)."""
    rng = np.random.default_rng(7)
    values = rng.uniform(-40.0, 40.0, n)
    values[n // 2] = 3e9
    x = tf.constant(values.astype(dtype))
    w = tf.constant(rng.normal(size=n).astype(dtype))

    def gradient():
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(w * tf.sin(tf.cos(x) * w))
        return tape.gradient(y, x).numpy()

    one_pass = gradient()
    with tf.GradientTape() as outer:  # records the backward pass op by op
        outer.watch(x)
        recorded = gradient()
    assert one_pass.dtype == dtype
    np.testing.assert_array_equal(one_pass.view(np.uint8), recorded.view(np.uint8))
    # and the value is the closed form
    xs = values.astype(np.float64)
    ws = w.numpy().astype(np.float64)
    expected = ws * np.cos(np.cos(xs) * ws) * ws * -np.sin(xs)
    finite = np.abs(xs) < 1e3
    np.testing.assert_allclose(one_pass[finite], expected[finite], rtol=1e-4, atol=1e-4)


def test_one_pass_backward_keeps_second_order() -> None:
    """Inside a tape the backward records sin's VJP op by op, so its own
    gradient exists: d²/dx² sin x = −sin x."""
    x = tf.constant([0.3, -1.2], dtype=tf.float64)
    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            y = tf.reduce_sum(tf.sin(x))
        dy = inner.gradient(y, x)
    np.testing.assert_allclose(outer.gradient(dy, x).numpy(), -np.sin(x.numpy()), rtol=1e-15)
