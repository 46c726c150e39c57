"""Property-based fuzzing (Hypothesis): random op programs over random
shapes (0- and 1-size dims, broadcasting, scalars), dtypes and values (NaN,
±inf, huge, denormal), random tape configurations, and deliberately bad
arguments. Properties: nothing but a clean Python exception ever escapes
(never a PanicException, abort or segfault); forward values match numpy;
gradients match float64 central differences.

Profiles: ``ci`` (default, bounded) and ``long`` (run with
``python -m pytest tests/test_fuzz.py --hypothesis-profile=long``).
"""

from __future__ import annotations

import numpy as np
import pytest
import tapegrad as tf
from hypothesis import assume, given
from hypothesis import strategies as st

# profiles ("ci", the default, and "long") are registered in conftest.py

OPS = tf._core.ops
UNARY = sorted(n for n, op in OPS.items() if op.arity == 1)
BINARY = sorted(n for n, op in OPS.items() if op.arity == 2)
ALLOWED = (tf.errors.OpError, TypeError, ValueError, IndexError, MemoryError, OverflowError)

SPECIALS = [np.nan, np.inf, -np.inf, 1e38, -1e38, 1e-40, -0.0, 0.0]
DTYPES = ["float32", "float64", "int32", "int64", "bool"]

dims = st.lists(st.sampled_from([0, 1, 2, 3]), min_size=0, max_size=3)


@st.composite
def arrays(draw, shape=None, dtype=None):
    shape = tuple(draw(dims)) if shape is None else shape
    dtype = dtype or draw(st.sampled_from(DTYPES))
    n = int(np.prod(shape))
    if dtype == "bool":
        vals = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    elif dtype.startswith("int"):
        vals = draw(st.lists(st.integers(-5, 5), min_size=n, max_size=n))
    else:
        finite = st.floats(-3, 3, allow_nan=False, width=32)
        vals = draw(st.lists(st.one_of(finite, st.sampled_from(SPECIALS)), min_size=n, max_size=n))
    return np.array(vals, dtype=dtype).reshape(shape)


def clean_call(fn, *args, **kwargs):
    """Call fn; return its result, or None if it raised an allowed exception.
    Anything else (PanicException is a BaseException) fails the test."""
    try:
        out = fn(*args, **kwargs)
        if isinstance(out, tf.Tensor):
            out.numpy()
        return out
    except ALLOWED:
        return None
    except BaseException as e:  # noqa: BLE001 - exactly what we hunt for
        pytest.fail(f"{type(e).__module__}.{type(e).__name__} escaped: {e}")


@given(name=st.sampled_from(UNARY), a=arrays())
def test_unary_ops_never_crash_and_match_numpy_dtype_rules(name, a):
    import warnings

    out = clean_call(OPS[name], tf.constant(a))
    if out is not None:
        assert out.shape == a.shape
        assert isinstance(out.numpy(), (np.ndarray, np.generic))  # 0-d: a numpy scalar
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out2 = clean_call(getattr(tf, name, OPS[name]), a)  # numpy input converted
    assert (out is None) == (out2 is None) or a.dtype.kind == "f"


@given(name=st.sampled_from(BINARY), a=arrays(), b=arrays())
def test_binary_ops_broadcast_or_raise_cleanly(name, a, b):
    out = clean_call(OPS[name], tf.constant(a), tf.constant(b))
    try:
        expected_shape = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        assert out is None, "incompatible shapes must raise"
        return
    if out is not None:
        assert out.shape == expected_shape
        if a.dtype != b.dtype:
            pytest.fail("mixed dtypes must raise (TF never promotes)")


SHAPE_CALLS = {
    "reduce_sum": lambda x, i: tf.reduce_sum(x, axis=i),
    "reduce_mean": lambda x, i: tf.reduce_mean(x, axis=i, keepdims=True),
    "reduce_max": lambda x, i: tf.reduce_max(x, axis=i),
    "reduce_prod": lambda x, i: tf.reduce_prod(x, axis=i),
    "argmax": lambda x, i: tf.argmax(x, axis=i),
    "cumsum": lambda x, i: tf.cumsum(x, axis=i),
    "expand_dims": lambda x, i: tf.expand_dims(x, i),
    "squeeze": lambda x, i: tf.squeeze(x, axis=i),
    "reshape": lambda x, i: tf.reshape(x, [i, -1]),
    "transpose": lambda x, i: tf.transpose(x, perm=[i] + list(range(x.ndim))[1:]),
    "tile": lambda x, i: tf.tile(x, [i] * x.ndim),
    "gather": lambda x, i: tf.gather(x, [i, 0]),
    "one_hot": lambda x, i: tf.one_hot(tf.cast(x, tf.int32), i),
    "split": lambda x, i: tf.split(x, i),
    "reverse": lambda x, i: tf.reverse(x, [i]),
    "getitem": lambda x, i: x[i],
    "getitem_slice": lambda x, i: x[i::-1],
    "concat": lambda x, i: tf.concat([x, x], axis=i),
    "stack": lambda x, i: tf.stack([x, x], axis=i),
    "matmul": lambda x, i: tf.matmul(x, x, transpose_b=bool(i % 2)),
    "zeros": lambda x, i: tf.zeros([i, 2**40]),
    "fill": lambda x, i: tf.fill([i, 2], x),
    "pad": lambda x, i: tf.pad(x, [[i, 1]] * x.ndim),
    "broadcast_to": lambda x, i: tf.broadcast_to(x, [i, 2, 3]),
    "range": lambda x, i: tf.range(i, 5, 0),
    "eye": lambda x, i: tf.eye(i),
}


@given(
    name=st.sampled_from(sorted(SHAPE_CALLS)),
    a=arrays(),
    # small, or far beyond any machine's memory (sizes in between could
    # legitimately allocate gigabytes and are not what this test is about)
    i=st.one_of(st.integers(-5, 5), st.sampled_from([2**40, -(2**40), 2**62])),
)
def test_shape_and_index_ops_with_bad_arguments_raise_cleanly(name, a, i):
    clean_call(SHAPE_CALLS[name], tf.constant(a), i)


@given(
    junk=st.sampled_from([None, "x", object(), [1, [2]], {"a": 1}, 1j, b"raw", slice(1)]),
    name=st.sampled_from(UNARY + ["reduce_sum", "matmul", "reshape", "constant"]),
)
def test_wrong_argument_types_raise_type_or_value_errors(junk, name):
    fn = getattr(tf, name, None) or OPS[name]
    if name in ("matmul", "reshape"):
        clean_call(fn, tf.ones([2, 2]), junk)
    else:
        clean_call(fn, junk)


SMOOTH_UNARY = ["sin", "cos", "tanh", "sigmoid", "square", "softplus", "erf", "atan", "negative"]
SMOOTH_BINARY = ["add", "subtract", "multiply", "squared_difference"]


@st.composite
def programs(draw):
    n = draw(st.integers(1, 6))
    return [
        (draw(st.sampled_from(SMOOTH_UNARY + SMOOTH_BINARY)), draw(st.booleans())) for _ in range(n)
    ]


def _richardson(f, x0, h):
    """Central differences refined by Richardson extrapolation (error O(h⁴)):
    programs like sin((x² − x)²) curve too fast for a plain difference."""

    def central(step):
        return np.array(
            [(f(x0 + step * e) - f(x0 - step * e)) / (2 * step) for e in np.eye(len(x0))]
        )

    return (4 * central(h / 2) - central(h)) / 3


def _apply(program, x, c):
    y = x
    for name, use_const in program:
        op = OPS[name]
        y = op(y) if op.arity == 1 else op(y, c if use_const else x)
    return tf.reduce_sum(y)


@given(
    program=programs(),
    x0=st.lists(st.floats(-1.5, 1.5), min_size=1, max_size=4),
    persistent=st.booleans(),
    nested=st.booleans(),
)
def test_random_programs_have_correct_gradients(program, x0, persistent, nested):
    x0 = np.array(x0)
    c = tf.constant(np.linspace(0.5, 1.5, len(x0)))
    x = tf.constant(x0)
    outer = tf.GradientTape(persistent=persistent)
    with outer:
        outer.watch(x)
        with tf.GradientTape(persistent=persistent) as inner:
            inner.watch(x)
            y = _apply(program, x, c)
        g = inner.gradient(y, x)
        if nested:
            s = tf.reduce_sum(g * g)

    # repeated squaring can blow x up until sin(x) oscillates faster than
    # any finite difference resolves: only compare well-conditioned programs
    assume(np.abs(g.numpy()).max() < 1e3)

    def f(v):
        return float(_apply(program, tf.constant(v), c))

    fd = _richardson(f, x0, 1e-6)
    np.testing.assert_allclose(g.numpy(), fd, rtol=1e-5, atol=1e-6)
    if nested:  # second order: d/dx sum(g²) against differences of tape gradients

        def g2(v):
            xv = tf.constant(v)
            with tf.GradientTape() as t:
                t.watch(xv)
                yv = _apply(program, xv, c)
            gv = t.gradient(yv, xv, unconnected_gradients="zero").numpy()
            return float(np.sum(gv * gv))

        h = outer.gradient(s, x, unconnected_gradients="zero")
        assume(np.abs(h.numpy()).max() < 1e4)
        fd2 = _richardson(g2, x0, 1e-5)
        np.testing.assert_allclose(h.numpy(), fd2, rtol=1e-4, atol=1e-5)


@given(
    actions=st.lists(
        st.sampled_from(["op", "watch", "watch_junk", "stop", "reset", "grad", "exit", "enter"]),
        max_size=12,
    ),
    persistent=st.booleans(),
)
def test_random_tape_configurations_never_crash(actions, persistent):
    x = tf.constant([1.0, 2.0])
    t = tf.GradientTape(persistent=persistent)
    entered = False
    y = x
    for act in actions:
        if act == "enter" and not entered:
            t.__enter__()
            entered = True
        elif act == "exit" and entered:
            t.__exit__(None, None, None)
            entered = False
        elif act == "op":
            y = y * x
        elif act == "watch":
            clean_call(t.watch, x)
        elif act == "watch_junk":
            clean_call(t.watch, 1.5)
        elif act == "reset":
            clean_call(t.reset)
        elif act == "grad":
            try:
                t.gradient(y, x)
            except RuntimeError:
                pass
        elif act == "stop":
            try:
                with t.stop_recording():
                    y = y + 1.0
            except (RuntimeError, ValueError):
                pass
    if entered:
        t.__exit__(None, None, None)
