"""Shared helpers: central differences and random-projection VJP checks.

``check_vjp(f, xs)`` compares the tape gradient of ``sum(f(*xs) * w)`` (``w``
random, fixed per call) with float64 central differences of the same scalar
function, HIPS-autograd style. ``projected_grad(f, xs)`` turns ``f`` into the
scalar function ``sum_i sum(v_i * d/dx_i sum(f * w))`` computed with its own
tape, so ``check_vjp(projected_grad(f, xs), xs)`` checks second-order
gradients (and nesting it once more checks third order).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
import pytest
import tapegrad as tf
from hypothesis import HealthCheck, settings

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


def _rng(seed: int | None) -> np.random.Generator:
    return np.random.default_rng(seed)


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
    rng = _rng(seed)
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
    rng = _rng(seed)
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


@pytest.fixture
def tapegrad_log(caplog: pytest.LogCaptureFixture):
    """caplog for the ``tapegrad`` logger (which does not propagate to root)."""
    logger = logging.getLogger("tapegrad")
    logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.WARNING, logger="tapegrad"):
            yield caplog
    finally:
        logger.removeHandler(caplog.handler)


# Hypothesis profiles for tests/test_fuzz.py: "ci" is the default (bounded);
# `--hypothesis-profile=long` runs 25,000 examples per property.
settings.register_profile(
    "ci", max_examples=150, deadline=None, suppress_health_check=list(HealthCheck)
)
settings.register_profile(
    "long", max_examples=25_000, deadline=None, suppress_health_check=list(HealthCheck)
)
settings.load_profile("ci")
