"""Third-order derivatives of every differentiable registry op: the gradient
of a projected gradient of a projected gradient, through three nested tapes,
against float64 central differences of the (tape-computed) second order."""

from __future__ import annotations

import numpy as np
import pytest
import tapegrad as tf
from conftest import check_vjp, projected_grad
from tapegrad._core import ops as OPS
from test_gradcheck import _rng, _sample_float

SHAPES = {1: ((3,),), 2: ((3,), (3,))}


@pytest.mark.parametrize("name", sorted(n for n, op in OPS.items() if op.differentiable))
def test_third_order(name: str) -> None:
    op = OPS[name]
    if op.dtypes == "bool":
        pytest.skip("logical ops take no float inputs")
    shapes = SHAPES[op.arity]
    xs = [np.asarray(x, dtype=np.float64) for x in _sample_float(name, shapes, _rng(name, shapes))]
    second = projected_grad(op, xs)
    check_vjp(projected_grad(second, xs, seed=2), xs, unconnected="zero", rtol=1e-4, atol=1e-6)


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
