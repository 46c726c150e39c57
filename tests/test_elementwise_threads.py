"""The elementwise and reduction engine gives the same bits whatever the
number of threads and on either side of the size where it starts sharing a
loop with pool threads; float32 `pow` is within 1 ulp of the correctly
rounded power, with C's special cases; `x ** 0` is 1 everywhere (the
gradient of `x ** 1` asks for it)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import tapegrad as tf

# either side of the engine's parallel threshold (2**15) and of its blocks
SIZES = [2**15 - 1, 2**15, 100_003, 1_100_007]

_RESULTS = """
import hashlib, sys
import numpy as np
import tapegrad as tf
digest = hashlib.sha256()
rng = np.random.default_rng(7)
for n in [int(s) for s in sys.argv[1:]]:
    x = tf.constant(rng.standard_normal(n).astype(np.float32))
    v = tf.constant(rng.standard_normal(n).astype(np.float32))
    m = tf.reshape(x[: n - n % 64], (-1, 64))
    for out in [tf.tanh(x), x * v, x + 1.0, tf.sin(x), tf.pow(tf.abs(x), v),
                tf.reduce_sum(x), tf.reduce_sum(m, axis=0), tf.reduce_sum(m, axis=1),
                tf.reduce_max(m, axis=1), tf.argmax(m, axis=1)]:
        digest.update(np.ascontiguousarray(out.numpy()).tobytes())
print(digest.hexdigest())
"""


def _digest(threads: int) -> str:
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    proc = subprocess.run(
        [sys.executable, "-c", _RESULTS, *map(str, SIZES)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.strip()


def test_results_do_not_depend_on_the_thread_count() -> None:
    assert _digest(1) == _digest(2) == _digest(3)


def _ulps(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Distance in float32 steps (monotone integer view of the bits)."""

    def key(a: np.ndarray) -> np.ndarray:
        i = a.astype(np.float32).view(np.int32).astype(np.int64)
        return np.where(i < 0, -(i & 0x7FFFFFFF), i)

    return np.abs(key(got) - key(want))


def test_float32_pow_is_within_one_ulp_and_keeps_special_cases() -> None:
    rng = np.random.default_rng(3)
    n = 300_001  # large enough to share the loop between threads
    x = np.abs(rng.standard_normal(n)).astype(np.float32) * 4
    y = (rng.standard_normal(n) * 3).astype(np.float32)
    got = tf.pow(tf.constant(x), tf.constant(y)).numpy()
    exact = np.power(x.astype(np.float64), y.astype(np.float64))
    finite = np.isfinite(exact.astype(np.float32))
    assert _ulps(got[finite], exact[finite].astype(np.float32)).max() <= 1
    assert np.array_equal(np.isinf(got), np.isinf(exact.astype(np.float32)))
    # C99 pow's special values, as TF (std::pow) gives them
    inf, nan = np.inf, np.nan
    xs = np.array([-2.0, -2.0, -0.0, -0.0, 0.0, -inf, -inf, 1.0, -1.0, nan, nan, -8.0],
                  np.float32)
    ys = np.array([3.0, 0.5, 3.0, -3.0, -2.0, 3.0, -3.0, nan, inf, 0.0, 1.0, 1 / 3],
                  np.float32)
    got = tf.pow(tf.constant(xs), tf.constant(ys)).numpy()
    with np.errstate(all="ignore"):
        want = np.power(xs, ys)
    np.testing.assert_array_equal(got, want)
    # signed zeros and infinities (a NaN's sign bit means nothing)
    number = ~np.isnan(want)
    assert np.array_equal(np.signbit(got[number]), np.signbit(want[number]))


def test_power_zero_is_one_everywhere_and_hessian_of_a_square() -> None:
    for dtype in [tf.float32, tf.float64]:
        x = tf.constant([-2.0, 0.0, -0.0, np.inf, -np.inf, np.nan, 1e-40], dtype)
        np.testing.assert_array_equal((x**0).numpy(), np.ones(7))
        np.testing.assert_array_equal((x**0.0).numpy(), np.ones(7))
    # the Hessian-vector product of sum(tanh(x)**2) runs x ** 0 inside
    rng = np.random.default_rng(5)
    xv, vv = rng.standard_normal(50), rng.standard_normal(50)
    x, v = tf.constant(xv), tf.constant(vv)
    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            y = tf.reduce_sum(tf.tanh(x) ** 2)
        g = inner.gradient(y, x)
        gv = tf.reduce_sum(g * v)
    hvp = outer.gradient(gv, x).numpy()
    t = np.tanh(xv)
    # d²/dx² tanh² = 2(1 − t²)(1 − 3t²)
    np.testing.assert_allclose(hvp, 2 * (1 - t**2) * (1 - 3 * t**2) * vv, rtol=1e-12)
