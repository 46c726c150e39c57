"""tf.cond / case / switch_case / while_loop / map_fn / scan / foldl / foldr /
vectorized_map: TF's values and error types (fixtures/tf_function.json), and
their gradients (float64, first and second order) eagerly and in tf.function."""

import json
import pathlib

import numpy as np
import pytest
import tapegrad as tf
from _function_scenarios import control_flow
from _helpers import check_vjp, projected_grad

EXPECTED = json.loads(
    pathlib.Path(__file__).with_name("fixtures").joinpath("tf_function.json").read_text()
)


def test_values_and_error_types_match_tf():
    got = control_flow(tf)
    expected = EXPECTED["control_flow"]
    assert set(got) == set(expected)
    mismatched = {k: (got[k], expected[k]) for k in expected if got[k] != expected[k]}
    assert not mismatched


def _cond_fn(x):
    return tf.cond(tf.reduce_sum(x) > 0.0, lambda: tf.sin(x) * x, lambda: tf.exp(x))


def _case_fn(x):
    s = tf.reduce_sum(x)
    return tf.case(
        [(s < -1.0, lambda: x * x), (s < 1.0, lambda: tf.tanh(x))], default=lambda: tf.sin(x)
    )


def _switch_fn(x):
    index = tf.cast(tf.reduce_sum(x) > 0.0, tf.int32)
    return tf.switch_case(index, [lambda: tf.exp(x), lambda: x * tf.cos(x)])


def _while_fn(x):
    def body(i, acc):
        return i + 1, acc * tf.sin(x) + x

    return tf.while_loop(lambda i, acc: i < 3, body, [tf.constant(0), x])[1]


def _while_max_fn(x):
    return tf.while_loop(
        lambda y: tf.reduce_sum(y) < 1e9,
        lambda y: [y * tf.tanh(y) + 1.0],
        [x],
        maximum_iterations=2,
    )[0]


def _map_fn(x):
    return tf.map_fn(lambda row: tf.reduce_sum(tf.sin(row) * row), x)


def _map_fn_nested(x):
    return tf.map_fn(
        lambda t: {"a": t[0] * t[1], "b": tf.exp(t[1])},
        (x, x * 2.0),
        fn_output_signature={"a": tf.float64, "b": tf.float64},
    )["a"]


def _scan_fn(x):
    return tf.scan(lambda acc, row: acc * tf.cos(row) + row, x, initializer=tf.ones_like(x[0]))


def _scan_reverse_fn(x):
    return tf.scan(lambda acc, row: acc * row, x, reverse=True)


def _foldl_fn(x):
    return tf.foldl(lambda acc, row: acc * tf.sin(row) + row, x)


def _foldr_fn(x):
    return tf.foldr(lambda acc, row: acc * row + tf.tanh(acc), x, initializer=tf.ones_like(x[0]))


def _vectorized_fn(x):
    return tf.vectorized_map(lambda row: tf.tensordot(row, tf.sin(row), 1), x)


CASES = {
    "cond": (_cond_fn, [(3,)]),
    "case": (_case_fn, [(3,)]),
    "switch_case": (_switch_fn, [(3,)]),
    "while_loop": (_while_fn, [(3,)]),
    "while_loop_maximum_iterations": (_while_max_fn, [(2, 2)]),
    "map_fn": (_map_fn, [(4, 3)]),
    "map_fn_nested": (_map_fn_nested, [(3, 2)]),
    "scan": (_scan_fn, [(4, 2)]),
    "scan_reverse": (_scan_reverse_fn, [(3, 2)]),
    "foldl": (_foldl_fn, [(4, 2)]),
    "foldr": (_foldr_fn, [(3, 2)]),
    "vectorized_map": (_vectorized_fn, [(3, 4)]),
}


def _inputs(shapes, sign):
    rng = np.random.default_rng(7)
    return [sign * (0.3 + np.abs(rng.standard_normal(s))) for s in shapes]


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_gradients_first_and_second_order(name, sign):
    f, shapes = CASES[name]
    xs = _inputs(shapes, sign)
    check_vjp(f, xs)
    check_vjp(projected_grad(f, xs), xs)


@pytest.mark.parametrize("name", sorted(CASES))
def test_inside_function_equals_eager(name):
    f, shapes = CASES[name]
    traced = tf.function(f)
    for sign in (1.0, -1.0, 1.0):
        (x,) = [tf.constant(a) for a in _inputs(shapes, sign)]
        with tf.GradientTape() as tape:
            tape.watch(x)
            y_traced = tf.reduce_sum(traced(x) ** 2)
        g_traced = tape.gradient(y_traced, x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y_eager = tf.reduce_sum(f(x) ** 2)
        g_eager = tape.gradient(y_eager, x)
        np.testing.assert_allclose(y_traced.numpy(), y_eager.numpy(), rtol=1e-12)
        np.testing.assert_allclose(g_traced.numpy(), g_eager.numpy(), rtol=1e-12)


def test_while_loop_runs_until_the_condition_fails_and_counts():
    def collatz(n, steps):
        return tf.cond(n % 2 == 0, lambda: n // 2, lambda: 3 * n + 1), steps + 1

    n, steps = tf.while_loop(lambda n, s: n > 1, collatz, (tf.constant(27), tf.constant(0)))
    assert (int(n), int(steps)) == (1, 111)


def test_errors_name_the_op():
    with pytest.raises(tf.errors.InvalidArgumentError, match="map_fn.*fn_output_signature"):
        tf.map_fn(lambda x: tf.cast(x, tf.float32), tf.constant([1, 2]))
    with pytest.raises(TypeError, match="maximum_iterations"):
        tf.while_loop(lambda i: i < 5, lambda i: (i + 1,), [tf.constant(0)], maximum_iterations=3)
    with pytest.raises(tf.errors.InvalidArgumentError, match="none of the conditions"):
        tf.case([(tf.constant(False), lambda: 1)])
    with pytest.raises(tf.errors.OutOfRangeError, match="scan: elems is empty"):
        tf.scan(lambda a, x: a + x, tf.zeros([0]))
