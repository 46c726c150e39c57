"""Helpers shared by the test modules: central differences, random-projection
VJP checks and the samplers of registry-op inputs.

Plain functions rather than fixtures: they are called while the modules are
collected (in parametrize tables and module-level case lists), where fixtures
do not exist. Test modules import them as ``from _helpers import ...``;
``conftest.py`` holds only fixtures and the Hypothesis profiles, and no test
module imports another.

``check_vjp(f, xs)`` compares the tape gradient of ``sum(f(*xs) * w)`` (``w``
random, fixed per call) with float64 central differences of the same scalar
function, HIPS-autograd style. ``projected_grad(f, xs)`` turns ``f`` into the
scalar function ``sum_i sum(v_i * d/dx_i sum(f * w))`` computed with its own
tape, so ``check_vjp(projected_grad(f, xs), xs)`` checks second-order
gradients (and nesting it once more checks third order).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence

import numpy as np
import tapegrad as tf
from tapegrad._core import ops as OPS

RTOL = 1e-5
ATOL = 1e-6


def numeric_grad(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of the scalar function ``f`` at ``x`` (float64)."""
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        orig = x[idx]
        x[idx] = orig + eps
        fp = float(f(x.copy()))
        x[idx] = orig - eps
        fm = float(f(x.copy()))
        x[idx] = orig
        g[idx] = (fp - fm) / (2 * eps)
    return g


def const(x: object) -> tf.Tensor:
    """``tf.constant`` of a numpy value, keeping its dtype and shape.

    0-d values go through a Python scalar with an explicit dtype, so that the
    gradient checks do not depend on how numpy scalars are converted (that
    conversion has its own tests in test_tensor.py).
    """
    a = np.asarray(x)
    if a.ndim == 0:
        return tf.constant(a.item(), dtype=a.dtype.name)
    return tf.constant(a)


def _as_f64(xs: Sequence[np.ndarray]) -> list[np.ndarray]:
    return [np.asarray(x, dtype=np.float64) for x in xs]


def _value(f: Callable[..., object], arrays: Sequence[np.ndarray]) -> np.ndarray:
    out = f(*[const(a) for a in arrays])
    assert isinstance(out, tf.Tensor), f"expected a tapegrad.Tensor, got {type(out)!r}"
    return out.numpy()


def check_vjp(
    f: Callable[..., tf.Tensor],
    xs: Sequence[np.ndarray],
    *,
    seed: int | None = 0,
    unconnected: str = "none",
    rtol: float = RTOL,
    atol: float = ATOL,
    eps: float = 1e-6,
) -> list[np.ndarray]:
    """Tape gradients of ``sum(f(*xs) * w)`` vs central differences; returns them.

    With ``unconnected="none"`` every source must get a gradient (not None);
    with ``"zero"`` an unconnected source counts as a zero gradient.
    """
    xs = _as_f64(xs)
    rng = np.random.default_rng(seed)
    y0 = _value(f, xs)
    w = rng.standard_normal(y0.shape)
    sources = [const(x) for x in xs]
    with tf.GradientTape() as tape:
        tape.watch(sources)
        s = tf.reduce_sum(f(*sources) * const(w))
    grads = tape.gradient(s, sources, unconnected_gradients=unconnected)
    assert isinstance(grads, list) and len(grads) == len(xs)
    out = []
    for i, (x, g) in enumerate(zip(xs, grads, strict=True)):
        assert g is not None, f"no gradient for input {i}"
        assert isinstance(g, tf.Tensor)
        assert g.dtype == tf.float64, f"gradient {i} has dtype {g.dtype}"
        assert tuple(g.shape) == x.shape, f"gradient {i} has shape {g.shape}, input {x.shape}"

        def scalar(xi: np.ndarray, i: int = i) -> float:
            args = list(xs)
            args[i] = xi
            return float(np.sum(_value(f, args) * w))

        expected = numeric_grad(scalar, x, eps=eps)
        np.testing.assert_allclose(
            g.numpy(), expected, rtol=rtol, atol=atol, err_msg=f"gradient of input {i}"
        )
        out.append(g.numpy())
    return out


def projected_grad(
    f: Callable[..., tf.Tensor], xs: Sequence[np.ndarray], *, seed: int | None = 1
) -> Callable[..., tf.Tensor]:
    """The scalar ``sum_i sum(v_i * grad_i)`` of ``grad = d/dxs sum(f(xs) * w)``,
    computed by a tape of its own (so an enclosing tape differentiates it)."""
    xs = _as_f64(xs)
    rng = np.random.default_rng(seed)
    w = const(rng.standard_normal(_value(f, xs).shape))
    vs = [const(rng.standard_normal(x.shape)) for x in xs]

    def g(*ts: tf.Tensor) -> tf.Tensor:
        ts_list = list(ts)
        with tf.GradientTape() as tape:
            tape.watch(ts_list)
            s = tf.reduce_sum(f(*ts_list) * w)
        grads = tape.gradient(s, ts_list, unconnected_gradients="zero")
        total = const(np.float64(0.0))
        for gi, vi in zip(grads, vs, strict=True):
            total = total + tf.reduce_sum(gi * vi)
        return total

    return g


def numeric_jacobian(
    f: Callable[..., object], xs: Sequence[np.ndarray], i: int = 0, eps: float = 1e-6
) -> np.ndarray:
    """Central-difference jacobian of the numpy function ``f(*xs)`` with respect
    to ``xs[i]``: shape ``f(*xs).shape + xs[i].shape``."""
    y0 = np.asarray(f(*xs))
    out = np.zeros(y0.shape + xs[i].shape)
    for idx in np.ndindex(*xs[i].shape):
        d = np.zeros_like(xs[i])
        d[idx] = eps
        plus = [x + d if k == i else x for k, x in enumerate(xs)]
        minus = [x - d if k == i else x for k, x in enumerate(xs)]
        out[(...,) + idx] = (np.asarray(f(*plus)) - np.asarray(f(*minus))) / (2 * eps)
    return out


# ------------------------------------------------ inputs of registry ops
# not smooth at 0 (elu, selu: their second derivative jumps there)
KINKED = {"abs", "sign", "relu", "relu6", "elu", "selu", "softsign", "floor", "ceil", "round"}
TIES = {"maximum", "minimum"}  # not smooth where the operands are equal
COMPARISONS = {"equal", "not_equal", "less", "less_equal", "greater", "greater_equal"}


def op_rng(name: str, shapes: tuple) -> np.random.Generator:
    """A generator seeded by the op and its shapes: each case draws the same inputs every run."""
    return np.random.default_rng(zlib.crc32(f"{name}{shapes}".encode()))


def sample_smooth_float(name: str, shapes: tuple, rng: np.random.Generator) -> list[np.ndarray]:
    """float64 inputs of registry op ``name`` where it is smooth: inside its
    domain, away from kinks and ties."""
    domain = OPS[name].domain

    def magnitude(shape):  # |x| in [0.5, 2], random sign
        return rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)

    if name in COMPARISONS:  # small integers, so that ties happen
        return [rng.integers(-2, 3, s).astype(np.float64) for s in shapes]
    if name in KINKED:
        return [magnitude(s) for s in shapes]
    if name in TIES:
        # a on the grid k/2 + 1/4, b on the grid k/2: |a - b| >= 0.15 after jitter
        a = rng.integers(-4, 4, shapes[0]) * 0.5 + 0.25 + rng.uniform(-0.05, 0.05, shapes[0])
        b = rng.integers(-4, 4, shapes[1]) * 0.5 + rng.uniform(-0.05, 0.05, shapes[1])
        return [a, b]
    if name == "divide":  # keep the denominator away from 0
        return [rng.uniform(-2.0, 2.0, shapes[0]), magnitude(shapes[1])]
    if name in ("floordiv", "floormod"):  # |a/b| in [0.1, 0.8]: away from the jumps
        a = rng.uniform(0.2, 1.2, shapes[0]) * rng.choice([-1.0, 1.0], shapes[0])
        return [a, rng.uniform(1.5, 2.0, shapes[1]) * rng.choice([-1.0, 1.0], shapes[1])]
    if name in ("floor", "ceil", "round"):  # away from the jumps
        return [rng.integers(-3, 3, s) + rng.uniform(0.1, 0.4, s) for s in shapes]
    lo, hi = {
        "real": (-2.0, 2.0),
        "positive": (0.5, 2.0),
        "unit": (-0.9, 0.9),
        "above_one": (1.5, 3.0),
    }[domain]
    return [rng.uniform(lo, hi, s) for s in shapes]
