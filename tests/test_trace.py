"""The capture-and-replay engine under tf.function (tapegrad._trace): a
replay gives eager's values bitwise, reads variables and random streams as
eager calls would, stops at a guard when a value Python used changes, and
refuses (TraceUnsupported) what it cannot replay."""

import pickle
import threading

import numpy as np
import pytest
import tapegrad as tf
from tapegrad._trace import Trace, TraceUnsupported, is_tracing, trace_callback


def trace(fn, *inputs):
    """The plan of ``fn(*inputs)`` and its trace-time outputs (a list)."""
    with Trace(list(inputs)) as t:
        out = fn(*inputs)
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        plan = t.finish(outs)
    return plan, outs


def same(a, b):
    """Equal bitwise (a Python list ``b`` takes ``a``'s dtype)."""
    a = np.asarray(a)
    b = np.asarray(b, dtype=a.dtype) if isinstance(b, list) else np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes(), (a, b)


def check_replay(fn, traced_inputs, *replay_inputs):
    """Trace on ``traced_inputs``; each tuple in ``replay_inputs`` replays
    bitwise like an eager call."""
    plan, outs = trace(fn, *traced_inputs)
    eager = fn(*traced_inputs)
    eager = list(eager) if isinstance(eager, (list, tuple)) else [eager]
    for o, e in zip(outs, eager, strict=True):
        same(o, e)
    for inputs in replay_inputs:
        got = plan.run(list(inputs))
        assert got is not None
        want = fn(*inputs)
        want = list(want) if isinstance(want, (list, tuple)) else [want]
        for g, w in zip(got, want, strict=True):
            same(g, w)
    return plan


def rand(*shape, seed=0):
    return tf.constant(np.random.default_rng(seed).normal(size=shape).astype(np.float32))


def test_registry_ops_replay_bitwise():
    def f(x, y):
        return tf.exp(tf.sin(x)) * tf.tanh(y) + tf.math.log1p(tf.abs(y)) - tf.maximum(x, y)

    plan = check_replay(f, (rand(5), rand(5, seed=1)), (rand(5, seed=2), rand(5, seed=3)))
    assert len(plan) == 1  # the whole expression is one fused elementwise step


def test_irregular_bindings_replay_bitwise():
    def f(a, b):
        m = tf.matmul(a, b, transpose_b=True)
        r = tf.reshape(m, [-1])
        s = tf.reduce_sum(m, axis=1, keepdims=True) + tf.reduce_max(a)
        c = tf.concat([a, b], axis=0)
        st = tf.stack([a, b], axis=1)
        g = tf.gather(r, [0, 3, 1])
        w = tf.where(a > 0.0, a, b)
        t = tf.transpose(c)
        p, q = tf.split(c, [1, 5], axis=0)
        sm = tf.nn.softmax(a, axis=-1)
        oh = tf.one_hot(tf.argmax(a, axis=1), 4)
        e = tf.einsum("ij,kj->ik", a, b)
        return [m, r, s, c, st, g, w, t, p, q, sm, oh, e, tf.shape(c), tf.size(st)]

    check_replay(f, (rand(3, 4), rand(3, 4, seed=1)), (rand(3, 4, seed=2), rand(3, 4, seed=3)))


def test_operators_and_indexing_replay_bitwise():
    def f(x, i):
        return [
            -x,
            abs(x),
            x**2,
            2.0 - x,
            x / 3.0,
            x[1:, ::-1],
            x[0],
            x[:, None, 1],
            x[i],
            x == x[0],
            x @ tf.transpose(x),
            [row * 2.0 for row in x][1],
        ]

    idx = tf.constant([2, 0])
    check_replay(f, (rand(3, 3), idx), (rand(3, 3, seed=5), tf.constant([1, 1])))


def test_host_values_are_constants_and_earlier_tensors_are_captured():
    outer = rand(3, seed=9)

    def f(x):
        y = x * tf.constant([1.0, 2.0, 3.0]) + np.array([1.0, 1.0, 2.0], np.float32)
        return y + outer + [5.0, 6.0, 7.0]

    check_replay(f, (rand(3),), (rand(3, seed=1),), (rand(3, seed=2),))


def test_outputs_may_be_inputs_or_earlier_tensors():
    outer = rand(2, seed=4)
    x = rand(2)
    plan, _ = trace(lambda x: [x, outer, x + 1.0], x)
    y = rand(2, seed=1)
    got = plan.run([y])
    assert got[0] is not None and got[0]._id == y._id
    same(got[1], outer)
    same(got[2], y + 1.0)


def test_variables_are_read_at_each_replay_and_updates_run_in_order():
    v = tf.Variable([1.0, 2.0])

    def f(x):
        before = v * 1.0
        v.assign_add(x)
        after = v.read_value() * 2.0
        v.assign_sub([0.5, 0.5])
        return [before, after]

    x = tf.constant([1.0, 1.0])
    plan, outs = trace(f, x)
    same(outs[0], [1.0, 2.0])
    same(v, [1.5, 2.5])
    v.assign([10.0, 20.0])  # assigned between calls: the replay sees it
    before, after = plan.run([tf.constant([1.0, 2.0])])
    same(before, [10.0, 20.0])
    same(after, [22.0, 44.0])
    same(v, [10.5, 21.5])


def test_a_variable_input_is_the_one_given_at_each_replay():
    def f(w):
        w.assign_add([1.0])
        return w * 2.0

    a, b = tf.Variable([1.0]), tf.Variable([5.0])
    plan, _ = trace(f, a)
    (out,) = plan.run([b])
    same(out, [12.0])
    same(b, [6.0])
    same(a, [2.0])
    assert plan.run([tf.Variable([1.0, 2.0])]) is None  # another shape


def test_random_ops_draw_fresh_numbers_as_eager_calls_do():
    def f(x):
        return x + tf.random.uniform([3]) + tf.random.normal([3], seed=3)

    x = tf.zeros([3])
    tf.random.set_seed(7)
    eager = [f(x) for _ in range(3)]
    tf.random.set_seed(7)
    plan, outs = trace(f, x)
    same(outs[0], eager[0])
    same(plan.run([x])[0], eager[1])
    same(plan.run([x])[0], eager[2])


def test_a_python_branch_on_a_tensor_is_guarded():
    def f(x):
        if tf.reduce_sum(x) > 0:
            return x * 2.0
        return -x

    plan, _ = trace(f, tf.constant([1.0, 2.0]))
    same(plan.run([tf.constant([3.0, -1.0])])[0], [6.0, -2.0])
    assert plan.run([tf.constant([-3.0, 1.0])]) is None


def test_a_python_while_on_a_tensor_is_guarded():
    def f(x):
        while tf.reduce_max(x) < 10.0:
            x = x * 2.0
        return x

    plan, _ = trace(f, tf.constant([1.0, 3.0]))  # 2 doublings
    same(plan.run([tf.constant([2.0, 3.5])])[0], [8.0, 14.0])
    assert plan.run([tf.constant([0.5, 0.1])]) is None  # needs 5


def test_float_and_numpy_of_a_tensor_are_guarded_by_value():
    def f(x):
        scale = float(tf.reduce_sum(x))
        return x * scale

    plan, _ = trace(f, tf.constant([1.0, 2.0]))
    same(plan.run([tf.constant([2.0, 1.0])])[0], [6.0, 3.0])
    assert plan.run([tf.constant([2.0, 2.0])]) is None


def test_a_failed_guard_undoes_the_replays_updates():
    v = tf.Variable(0.0)

    def f(x):
        v.assign_add(1.0)
        if x > 0:
            return x + v
        return x - v

    plan, _ = trace(f, tf.constant(1.0))
    assert plan.run([tf.constant(-1.0)]) is None
    assert float(v) == 1.0
    plan.run([tf.constant(2.0)])
    assert float(v) == 2.0


def test_persistent_tape_inside_gives_eager_gradients():
    w = tf.Variable([[0.5, -1.0], [2.0, 0.25]])

    def f(x):
        with tf.GradientTape(persistent=True) as t:
            t.watch(x)
            y = tf.reduce_sum(tf.tanh(tf.matmul(x, w)))
            z = tf.reduce_sum(x * x)
        return [t.gradient(y, x), t.gradient(y, w), t.gradient(z, x)]

    check_replay(f, (rand(3, 2),), (rand(3, 2, seed=1),), (rand(3, 2, seed=2),))


def test_the_w2_chain_with_its_tape_replays_bitwise():
    cycle = [
        tf.sin,
        lambda y, x: y * 0.5,
        lambda y, x: y + x,
        tf.tanh,
        tf.exp,
        lambda y, x: y * 0.5,
        lambda y, x: y * y,
        tf.cos,
        lambda y, x: y * x,
    ]

    def f(x):
        with tf.GradientTape() as t:
            t.watch(x)
            y = x
            for i in range(36):
                op = cycle[i % len(cycle)]
                y = op(y) if op in (tf.sin, tf.tanh, tf.exp, tf.cos) else op(y, x)
            loss = tf.reduce_sum(y)
        return [loss, t.gradient(loss, x)]

    check_replay(f, (rand(4),), (rand(4, seed=1),))


def test_jacobian_inside_replays():
    def f(x):
        with tf.GradientTape() as t:
            t.watch(x)
            y = tf.sin(x) * x
        return t.jacobian(y, x)

    check_replay(f, (rand(3),), (rand(3, seed=1),))


def test_an_outer_tape_records_a_replay_like_eager_ops_first_and_second_order():
    def f(x):
        return tf.reduce_sum(tf.sin(x) * x)

    plan, _ = trace(f, rand(3))
    x = rand(3, seed=1)
    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            (y,) = plan.run([x])
        g = inner.gradient(y, x)
    h = outer.gradient(g, x)
    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            ye = f(x)
        ge = inner.gradient(ye, x)
    same(y, ye)
    same(g, ge)
    same(h, outer.gradient(ge, x))


def test_an_outer_tape_watches_variables_read_by_a_replay():
    v = tf.Variable([1.0, 2.0])
    plan, _ = trace(lambda: tf.reduce_sum(v * v))
    with tf.GradientTape() as t:
        (y,) = plan.run([])
    same(t.gradient(y, v), [2.0, 4.0])


def test_an_uncaptured_path_raises_trace_unsupported():
    w = tf.Variable([1.0, 2.0])
    opt = tf.optimizers.SGD(0.1, momentum=0.9)
    opt.build([w])

    def f(x):
        # an optimizer slot's copy is a tensor no step made
        return opt.get_slot(w, "momentum") + x

    with pytest.raises(TraceUnsupported, match="not captured"):
        trace(f, rand(2))
    assert not is_tracing()


def test_a_pickled_tensor_is_guarded_by_value():
    def f(x):
        return pickle.loads(pickle.dumps(x * 2.0)) + 1.0

    plan, _ = trace(f, tf.constant([1.0]))
    same(plan.run([tf.constant([1.0])])[0], [3.0])
    assert plan.run([tf.constant([2.0])]) is None


def test_custom_gradients_fall_back():
    @tf.custom_gradient
    def clipped(x):
        return tf.identity(x), lambda g: g

    with pytest.raises(TraceUnsupported, match="custom_gradient"):
        trace(lambda x: clipped(x) * 2.0, rand(2))


def test_a_stateful_python_generator_falls_back():
    g = tf.random.Generator.from_seed(1)
    with pytest.raises(TraceUnsupported, match="Generator"):
        trace(lambda x: x + g.normal([2]), rand(2))


def test_an_optimizer_step_replays_with_the_current_counter_and_rate():
    def run_steps(traced):
        w = tf.Variable([1.0, -2.0])
        opt = tf.optimizers.Adam(0.1)

        def step(x):
            with tf.GradientTape() as t:
                loss = tf.reduce_sum(w * w * x)
            opt.apply(t.gradient(loss, [w]), [w])
            return loss

        x = tf.constant([1.0, 3.0])
        if traced:
            plan, _ = trace(step, x)
            for _ in range(3):
                plan.run([x])
        else:
            for _ in range(4):
                step(x)
        opt.learning_rate = 0.01  # assigned between calls: the next step sees it
        plan.run([x]) if traced else step(x)
        return w, opt

    (w_traced, opt_traced), (w_eager, opt_eager) = run_steps(True), run_steps(False)
    same(w_traced, w_eager)
    assert int(opt_traced.iterations) == int(opt_eager.iterations) == 5
    same(opt_traced.get_slot(w_traced, "velocity"), opt_eager.get_slot(w_eager, "velocity"))


def test_trace_callback_runs_at_every_replay():
    seen = []

    def log(t):
        seen.append(float(t))
        return t * 10.0

    def f(x):
        y = trace_callback(log, [x + 1.0])
        return y * 2.0

    plan, outs = trace(f, tf.constant(1.0))
    assert seen == [2.0] and float(outs[0]) == 40.0
    assert float(plan.run([tf.constant(4.0)])[0]) == 100.0
    assert seen == [2.0, 5.0]


def test_an_exception_aborts_and_a_second_trace_is_refused():
    with pytest.raises(ZeroDivisionError), Trace([]):
        _ = 1 / 0
    assert not is_tracing()
    with Trace([]) as t:
        with pytest.raises(RuntimeError, match="already active"), Trace([]):
            pass
        assert is_tracing()
        t.finish([])
    assert not is_tracing()


def test_variables_created_while_tracing_are_counted():
    with Trace([]) as t:
        tf.Variable(1.0)
        assert t.created_variables == 1
        t.finish([])
    assert t.created_variables == 1


def test_another_thread_runs_while_a_long_plan_runs():
    a = rand(512, 512)

    def f(x):
        for _ in range(20):
            x = tf.tanh(tf.matmul(x, a))
        return x

    plan, _ = trace(f, a)
    done = threading.Event()
    result = []
    worker = threading.Thread(target=lambda: (result.append(plan.run([a])), done.set()))
    ticks = 0
    worker.start()
    while not done.is_set():
        ticks += 1
    worker.join()
    assert result[0] is not None
    assert ticks > 1000
