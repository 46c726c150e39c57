"""tf.function: retracing, signatures, concrete functions, methods, variables,
side effects and gradients, against TF's answers (fixtures/tf_function.json,
recorded by fixtures/record_tf_function.py from tests/_function_scenarios.py)."""

import json
import pathlib
import traceback

import numpy as np
import pytest
import tapegrad as tf
from _function_scenarios import retracing, side_effects, variables
from tapegrad import _function

FIXTURES = pathlib.Path(__file__).with_name("fixtures")
EXPECTED = json.loads(FIXTURES.joinpath("tf_function.json").read_text())
needs_engine = pytest.mark.skipif(
    _function._engine is None, reason="needs the replay engine (python/tapegrad/_trace.py)"
)


def _mismatches(got, expected):
    assert set(got) == set(expected)
    return {k: (got[k], expected[k]) for k in expected if got[k] != expected[k]}


def test_retracing_matches_tf():
    assert not _mismatches(retracing(tf), EXPECTED["retracing"])


@needs_engine
def test_side_effects_match_tf():
    assert not _mismatches(side_effects(tf), EXPECTED["side_effects"])


def test_run_functions_eagerly_matches_tf():
    got = side_effects(tf)
    for key in ("eager_appends", "eager_count", "eager_flag", "count"):
        assert got[key] == EXPECTED["side_effects"][key]


@needs_engine
def test_variables_match_tf():
    got = variables(tf)
    expected = EXPECTED["variables"]
    # TF traces twice on the first call that creates variables; tapegrad runs
    # the check trace on the second call (docs/compat.md): the same totals
    assert not _mismatches(got, expected)


@needs_engine
def test_variable_created_on_every_call_raises_tfs_error():
    @tf.function
    def f(x):
        return tf.Variable(1.0) + x

    f(tf.constant(1.0))  # TF raises here already (its second, checking trace)
    with pytest.raises(ValueError, match="only supports singleton tf.Variables"):
        f(tf.constant(1.0))


def test_decorator_forms_and_attributes():
    def plain(x):
        return x + 1

    relaxed = tf.function(reduce_retracing=True)(plain)
    for wrapped in (tf.function(plain), tf.function()(plain), relaxed):
        assert float(wrapped(tf.constant(1.0))) == 2.0
        assert wrapped.python_function is plain
        assert wrapped.__name__ == "plain"
    assert tf.function(tf.function(plain)).python_function is plain
    kwargs_only = tf.function(jit_compile=True, autograph=False, experimental_relax_shapes=True)
    assert float(kwargs_only(plain)(tf.constant(2.0))) == 3.0


def test_python_values_and_numpy_are_converted_like_tf():
    @tf.function
    def f(x):
        return x * 2

    out = f(np.array([1.0, 2.0], np.float32))
    assert isinstance(out, tf.Tensor) and out.dtype == tf.float32
    assert isinstance(f(3), tf.Tensor) and int(f(3)) == 6


def test_reduce_retracing_concrete_signature():
    @tf.function(reduce_retracing=True)
    def f(x):
        return x

    f(tf.constant([1.0]))
    f(tf.constant([1.0, 2.0]))
    cf = f.get_concrete_function(tf.constant([5.0, 6.0, 7.0]))
    assert repr(cf.structured_input_signature) == (
        "((TensorSpec(shape=(None,), dtype=tf.float32, name='x'),), {})"
    )
    f(tf.constant([[1.0]]))
    cf = f.get_concrete_function(tf.constant([[1.0, 2.0]]))
    assert repr(cf.structured_input_signature[0][0]) == (
        "TensorSpec(shape=<unknown>, dtype=tf.float32, name='x')"
    )


def test_input_signature_errors_are_tfs():
    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def f(x):
        return x

    with pytest.raises(TypeError) as info:
        f(tf.constant(1.0))
    assert str(info.value).startswith(
        "Binding inputs to tf.function failed due to `Can not cast TensorSpec(shape=(), "
        "dtype=tf.float32, name=None) to TensorSpec(shape=(None,), dtype=tf.float32, name=None)`"
    )
    with pytest.raises(TypeError, match="too many positional arguments"):
        f(tf.constant([1.0]), tf.constant([2.0]))
    with pytest.raises(TypeError, match="missing a required argument: 'x'"):
        f()
    with pytest.raises(TypeError, match="input_signature must be a possibly nested sequence"):
        tf.function(lambda x: x, input_signature=[3])
    assert f.input_signature == (tf.TensorSpec([None], tf.float32),)
    assert repr(f.get_concrete_function().structured_input_signature[0][0]) == (
        "TensorSpec(shape=(None,), dtype=tf.float32, name='x')"
    )


def test_concrete_function_outputs_and_errors():
    @tf.function
    def f(x):
        return {"double": x * 2.0, "pair": (x, 1)}

    cf = f.get_concrete_function(tf.constant([1.0, 2.0]))
    assert cf.structured_outputs == {
        "double": tf.TensorSpec([2], tf.float32),
        "pair": (tf.TensorSpec([2], tf.float32), tf.TensorSpec([], tf.int32)),
    }
    np.testing.assert_array_equal(cf(tf.constant([3.0, 4.0]))["double"].numpy(), [6.0, 8.0])
    with pytest.raises(tf.errors.InvalidArgumentError, match="expected to be a float32 tensor"):
        cf(tf.constant([3, 4]))
    spec_cf = f.get_concrete_function(tf.TensorSpec([None], tf.float32))
    with pytest.raises(ValueError, match="has not run yet"):
        _ = spec_cf.structured_outputs
    spec_cf(tf.constant([1.0, 2.0, 3.0]))
    assert spec_cf.structured_outputs["double"] == tf.TensorSpec([3], tf.float32)


def test_trace_errors_point_at_the_users_line():
    @tf.function
    def broken(x):
        return x + undefined_name  # noqa: F821 - the error under test

    with pytest.raises(NameError) as info:
        broken(tf.constant(1.0))
    frames = traceback.extract_tb(info.value.__traceback__)
    assert any(frame.name == "broken" and "undefined_name" in frame.line for frame in frames)


def test_methods_get_one_function_per_instance():
    class Scale(tf.Module):
        def __init__(self, factor):
            super().__init__()
            self.factor = tf.Variable(factor)

        @tf.function
        def __call__(self, x):
            return x * self.factor

    a, b = Scale(2.0), Scale(3.0)
    assert float(a(tf.constant(1.0))) == 2.0 and float(b(tf.constant(1.0))) == 3.0
    assert a.__call__ is a.__call__ and a.__call__ is not b.__call__
    assert isinstance(Scale.__call__, _function.Function)
    a.factor.assign(5.0)
    assert float(a(tf.constant(1.0))) == 5.0


def test_gradients_through_and_inside_a_traced_call_equal_eager():
    w = tf.Variable([[0.5, -1.0], [2.0, 0.25]], dtype=tf.float64)

    def loss_fn(x):
        return tf.reduce_sum(tf.tanh(tf.matmul(x, w)) ** 2)

    traced = tf.function(loss_fn)

    @tf.function
    def inner_grad(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = loss_fn(x)
        return y, tape.gradient(y, [x, w])

    for scale in (1.0, 2.0, -0.5):
        x = tf.constant(np.array([[1.0, 2.0], [3.0, -1.0]]) * scale)
        with tf.GradientTape(persistent=True) as outer:
            outer.watch(x)
            with tf.GradientTape() as tape:
                tape.watch(x)
                y_traced = traced(x)
            g_traced = tape.gradient(y_traced, x)
            with tf.GradientTape() as tape:
                tape.watch(x)
                y_eager = loss_fn(x)
            g_eager = tape.gradient(y_eager, x)
            s_traced, s_eager = tf.reduce_sum(g_traced), tf.reduce_sum(g_eager)
        np.testing.assert_array_equal(g_traced.numpy(), g_eager.numpy())
        np.testing.assert_array_equal(
            outer.gradient(s_traced, x).numpy(), outer.gradient(s_eager, x).numpy()
        )
        y_inside, (gx_inside, gw_inside) = inner_grad(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y_eager = loss_fn(x)
        gx_eager, gw_eager = tape.gradient(y_eager, [x, w])
        np.testing.assert_array_equal(y_inside.numpy(), y_eager.numpy())
        np.testing.assert_array_equal(gx_inside.numpy(), gx_eager.numpy())
        np.testing.assert_array_equal(gw_inside.numpy(), gw_eager.numpy())
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.tanh(traced(x) * x)
        np.testing.assert_array_equal(
            tape.jacobian(y, x).numpy(), _eager_jacobian(lambda t: tf.tanh(loss_fn(t) * t), x)
        )
        with tf.GradientTape() as tape:
            tape.watch(x)
            with tape.stop_recording():
                hidden = traced(x)
            y = hidden * tf.reduce_sum(x)
        np.testing.assert_array_equal(
            tape.gradient(y, x).numpy(), np.full((2, 2), loss_fn(x).numpy())
        )


def _eager_jacobian(f, x):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = f(x)
    return tape.jacobian(y, x).numpy()


def test_python_branch_on_a_tensor_gives_eagers_result_every_call():
    @tf.function
    def relu_like(x):
        if tf.reduce_sum(x) > 0:
            return x * 2.0
        return -x

    for values in ([1.0, 2.0], [-1.0, -2.0], [3.0, 1.0], [-5.0, 1.0]):
        x = tf.constant(values)
        expected = np.array(values) * 2.0 if sum(values) > 0 else -np.array(values)
        np.testing.assert_array_equal(relu_like(x).numpy(), expected.astype(np.float32))
    assert relu_like.experimental_get_tracing_count() == 1


def test_nested_functions_run_inline():
    inner = tf.function(lambda y: y * 3.0)

    @tf.function
    def outer(x):
        return inner(x) + 1.0

    assert float(outer(tf.constant(1.0))) == 4.0
    assert float(outer(tf.constant(2.0))) == 7.0
    assert outer.experimental_get_tracing_count() == 1
    assert inner.experimental_get_tracing_count() == 1


@needs_engine
def test_tf_print_and_py_function_run_on_every_call(capsys):
    import sys

    calls = []

    def numpy_side(t):
        calls.append(float(t.numpy()))
        return t * 10.0

    @tf.function
    def f(x):
        tf.print("x =", x, output_stream=sys.stdout)
        return tf.py_function(numpy_side, [x], Tout=tf.float32) + 1.0

    outputs = [float(f(tf.constant(v))) for v in (1.0, 2.0, 3.0)]
    assert outputs == [11.0, 21.0, 31.0]
    assert calls == [1.0, 2.0, 3.0]
    assert capsys.readouterr().out == "x = 1\nx = 2\nx = 3\n"
    assert f.experimental_get_tracing_count() == 1


@needs_engine
def test_python_side_effects_run_at_trace_time_and_on_guard_reruns():
    log = []

    @tf.function
    def f(x):
        log.append("python")
        if tf.reduce_sum(x) > 0:
            return x + 1.0
        return x - 1.0

    assert float(f(tf.constant(1.0))) == 2.0
    assert float(f(tf.constant(2.0))) == 3.0
    assert len(log) == 1  # replayed: no Python
    assert float(f(tf.constant(-1.0))) == -2.0  # the branch flips: the Python runs again
    assert len(log) == 2
    assert float(f(tf.constant(-3.0))) == -4.0  # both branch patterns are kept
    assert float(f(tf.constant(5.0))) == 6.0
    assert len(log) == 2
    assert f.experimental_get_tracing_count() == 1


@needs_engine
def test_unreplayable_function_runs_eagerly_every_call():
    from tapegrad import _core

    log = []

    @tf.function
    def f(x):
        log.append(1)
        _core._trace_unsupported("a test's unreplayable step")
        return x * 2.0

    assert [float(f(tf.constant(v))) for v in (1.0, 2.0, 3.0)] == [2.0, 4.0, 6.0]
    assert len(log) == 3 and f.experimental_get_tracing_count() == 1


@needs_engine
def test_assignments_inside_replay_each_call():
    v = tf.Variable(1.0)

    @tf.function
    def bump(x):
        v.assign_add(x)
        return v * 1.0

    assert [float(bump(tf.constant(2.0))) for _ in range(3)] == [3.0, 5.0, 7.0]
    v.assign(0.0)
    assert float(bump(tf.constant(1.0))) == 1.0
    assert bump.experimental_get_tracing_count() == 1


def test_custom_gradient_and_second_order_through_a_traced_call():
    @tf.custom_gradient
    def clipped_square(x):
        def grad(dy):
            return dy * tf.clip_by_value(2.0 * x, -1.0, 1.0)

        return x * x, grad

    def f(x):
        return tf.reduce_sum(clipped_square(x) + tf.sin(x) * x)

    traced = tf.function(f)
    for values in ([0.2, -0.3, 2.0], [1.5, 0.1, -2.0]):
        x = tf.constant(np.array(values))
        results = []
        for g in (traced, f):
            with tf.GradientTape() as outer:
                outer.watch(x)
                with tf.GradientTape() as inner:
                    inner.watch(x)
                    y = g(x)
                dy = inner.gradient(y, x)
            results.append((y.numpy(), dy.numpy(), outer.gradient(dy, x).numpy()))
        for traced_value, eager_value in zip(results[0], results[1], strict=True):
            np.testing.assert_array_equal(traced_value, eager_value)
