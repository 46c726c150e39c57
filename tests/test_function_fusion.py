"""Fused replay under tf.function: runs of elementwise float ops (and a
trailing full reduce_sum) become one fused step, and the replay still gives
eager's values and gradients bitwise, on the benchmark's program shapes (a
long chain on a tiny tensor, a big elementwise loss, an MLP step)."""

import itertools

import numpy as np
import tapegrad as tf
from tapegrad._trace import Trace

CHAIN = ("sin", "mul_c", "add_x", "tanh", "exp", "mul_c", "mul_self", "cos", "mul_x")
OPS = {
    "sin": lambda y, x: tf.sin(y),
    "cos": lambda y, x: tf.cos(y),
    "tanh": lambda y, x: tf.tanh(y),
    "exp": lambda y, x: tf.exp(y),
    "mul_c": lambda y, x: y * 0.5,
    "mul_self": lambda y, x: y * y,
    "add_x": lambda y, x: y + x,
    "mul_x": lambda y, x: y * x,
}


def same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes(), (a, b)


def chain_step(x, n_ops):
    fns = [OPS[CHAIN[i % len(CHAIN)]] for i in range(n_ops)]

    def step():
        with tf.GradientTape() as t:
            t.watch(x)
            y = x
            for fn in fns:
                y = fn(y, x)
            loss = tf.reduce_sum(y)
        return {"loss": loss, "grad": t.gradient(loss, x)}

    return step


def check_function_is_eager(step, calls=3):
    traced = tf.function(step)
    for _ in range(calls):
        got, want = traced(), step()
        assert set(got) == set(want)
        for k in want:
            same(got[k].numpy(), want[k].numpy())


def test_long_chain_on_a_tiny_tensor_is_one_fused_step_bitwise_eager():
    x = tf.constant(np.linspace(0.1, 0.9, 4).astype(np.float32))
    check_function_is_eager(chain_step(x, 200))
    with Trace([x]) as t:
        y = x
        for i in range(200):
            y = OPS[CHAIN[i % len(CHAIN)]](y, x)
        plan = t.finish([tf.reduce_sum(y)])
    assert len(plan) == 1


def test_a_loss_the_function_does_not_return_gives_eager_gradients_bitwise():
    # only the gradient leaves the function: the fused loss step records its
    # tape node without evaluating the forward chain (the backward program
    # recomputes it), and the gradient is still eager's, bit for bit
    for n in (4, 70_001):
        x = tf.constant(np.linspace(0.1, 0.9, n).astype(np.float32))
        full = chain_step(x, 60)

        def grad_only(full=full):
            return {"grad": full()["grad"]}

        check_function_is_eager(grad_only)


def test_chain_across_blocks_and_threads_float64_bitwise_eager():
    for dtype in (np.float32, np.float64):
        x = tf.constant(np.linspace(-1.0, 1.0, 70_001).astype(dtype))
        check_function_is_eager(chain_step(x, 50), calls=2)


def test_big_elementwise_loss_of_a_variable_bitwise_eager():
    x = tf.Variable(np.linspace(-3.0, 3.0, 50_000).astype(np.float32))

    def step():
        with tf.GradientTape() as t:
            loss = tf.reduce_sum(tf.tanh(x) * tf.sigmoid(x) + x * x)
        return {"loss": loss, "grad": t.gradient(loss, x)}

    check_function_is_eager(step)


def test_mlp_sgd_step_bitwise_eager():
    rng = np.random.default_rng(0)
    X = tf.constant(rng.normal(size=(32, 20)).astype(np.float32))
    labels = tf.constant(rng.integers(0, 5, size=32).astype(np.int32))

    def make():
        init = np.random.default_rng(1)
        shapes = [(20, 16), (16,), (16, 5), (5,)]
        return [tf.Variable((init.normal(size=s) * 0.3).astype(np.float32)) for s in shapes]

    def step_on(params):
        def step():
            W1, b1, W2, b2 = params
            with tf.GradientTape() as t:
                h = tf.nn.relu(tf.matmul(X, W1) + b1)
                logits = tf.matmul(h, W2) + b2
                loss = tf.reduce_mean(
                    tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
                )
            grads = t.gradient(loss, params)
            for p, g in zip(params, grads, strict=True):
                p.assign_sub(0.1 * g)
            return dict(loss=loss, gW1=grads[0], gb1=grads[1], gW2=grads[2], gb2=grads[3])

        return step

    eager_params, traced_params = make(), make()
    eager, traced = step_on(eager_params), tf.function(step_on(traced_params))
    for _ in range(3):
        got, want = traced(), eager()
        for k in want:
            same(got[k].numpy(), want[k].numpy())
    for p, q in zip(traced_params, eager_params, strict=True):
        same(p.numpy(), q.numpy())


def test_an_intermediate_the_function_returns_keeps_its_value():
    x = tf.constant(np.linspace(0.0, 2.0, 10).astype(np.float32))

    def step():
        with tf.GradientTape() as t:
            t.watch(x)
            a = tf.sin(x) * 0.5
            b = tf.exp(a) + x
            loss = tf.reduce_sum(b * a)
        return {"a": a, "b": b, "loss": loss, "grad": t.gradient(loss, x)}

    check_function_is_eager(step)


def test_gradient_with_respect_to_an_intermediate_through_a_fused_run():
    x = tf.constant(np.linspace(-1.0, 1.0, 6).astype(np.float32))

    def step():
        a = tf.sin(x) * 2.0
        with tf.GradientTape(persistent=True) as t:
            t.watch(a)
            b = tf.tanh(a) * a
            loss = tf.reduce_sum(tf.exp(b))
        return {"da": t.gradient(loss, a), "db": t.gradient(loss, b)}

    check_function_is_eager(step)


def matmul_loss_step(A, B, transpose_a=False, transpose_b=False, with_loss=False):
    def step():
        with tf.GradientTape() as t:
            loss = tf.reduce_sum(tf.matmul(A, B, transpose_a=transpose_a, transpose_b=transpose_b))
        dA, dB = t.gradient(loss, [A, B])
        out = {"dA": dA, "dB": dB}
        if with_loss:
            out["loss"] = loss
        return out

    return step


def test_a_product_only_summed_into_an_unreturned_loss_gives_eager_gradients_bitwise():
    # the product and its sum are recorded on the tape without being
    # computed (their VJPs read the operands and a shape); with the loss
    # returned they are computed. Either way: eager's gradients, bitwise
    rng = np.random.default_rng(3)
    for dtype in (np.float32, np.float64):
        for transpose_a, transpose_b in itertools.product((False, True), repeat=2):
            a_shape = (7, 5) if transpose_a else (5, 7)
            b_shape = (3, 7) if transpose_b else (7, 3)
            A = tf.Variable(rng.normal(size=a_shape).astype(dtype))
            B = tf.Variable(rng.normal(size=b_shape).astype(dtype))
            for with_loss in (False, True):
                check_function_is_eager(
                    matmul_loss_step(A, B, transpose_a, transpose_b, with_loss), calls=2
                )
    # a stack of products, broadcast over the batch
    A = tf.Variable(rng.normal(size=(2, 4, 6)).astype(np.float32))
    B = tf.Variable(rng.normal(size=(6, 3)).astype(np.float32))
    check_function_is_eager(matmul_loss_step(A, B))


def test_a_variable_update_between_calls_reaches_an_unevaluated_product():
    A = tf.Variable(np.linspace(-1.0, 1.0, 12).reshape(3, 4).astype(np.float32))
    B = tf.Variable(np.linspace(0.5, 2.0, 8).reshape(4, 2).astype(np.float32))
    traced = tf.function(matmul_loss_step(A, B))
    for _ in range(3):
        got, want = traced(), matmul_loss_step(A, B)()
        for k in want:
            same(got[k].numpy(), want[k].numpy())
        A.assign_add(tf.ones_like(A))
        B.assign(B * 1.5)


def test_a_product_python_reads_is_computed_and_guarded():
    # `if` on the product reads its value: it is computed at each replay,
    # and a call where it decides otherwise runs the function again
    x = tf.Variable([[1.0, 2.0]])
    w = tf.constant([[1.0], [1.0]])

    def step():
        with tf.GradientTape() as t:
            p = tf.matmul(x, w)
            loss = tf.reduce_sum(p) if p > 0 else tf.reduce_sum(p * 3.0)
        return {"dx": t.gradient(loss, x)}

    traced = tf.function(step)
    same(traced()["dx"].numpy(), step()["dx"].numpy())
    x.assign([[-1.0, -2.0]])
    same(traced()["dx"].numpy(), np.array([[3.0, 3.0]], np.float32))
    same(traced()["dx"].numpy(), step()["dx"].numpy())


def test_gradients_of_an_unevaluated_product_differentiate_again():
    rng = np.random.default_rng(4)
    A = tf.Variable(rng.normal(size=(4, 5)).astype(np.float64))
    B = tf.Variable(rng.normal(size=(5, 3)).astype(np.float64))
    step = matmul_loss_step(A, B)
    traced = tf.function(step)

    def second(fn):
        with tf.GradientTape() as outer:
            g = fn()
            s = tf.reduce_sum(g["dA"] * g["dA"]) + tf.reduce_sum(tf.sin(g["dB"]))
        return outer.gradient(s, [A, B])

    for _ in range(2):
        for got, want in zip(second(traced), second(step), strict=True):
            same(got.numpy(), want.numpy())


def test_a_returned_loss_and_its_gradient_from_one_pass_differentiate_again():
    # the loss is returned and differentiated: one pass gives both; a second
    # gradient of the same tape and one with other upstream gradients still
    # get eager's numbers, bitwise, and an outer tape's second derivative
    # eager's up to rounding (the fused backward's own backward adds its
    # terms in another order)
    x = tf.Variable(np.linspace(-2.0, 2.0, 9000).astype(np.float64))

    def step():
        with tf.GradientTape() as outer:
            with tf.GradientTape(persistent=True) as t:
                loss = tf.reduce_sum(tf.tanh(x) * tf.sigmoid(x) + x * x)
            g1 = t.gradient(loss, x)
            g2 = t.gradient(loss, x)
            g3 = t.gradient(loss, x, output_gradients=tf.constant(0.5, tf.float64))
            curvature = tf.reduce_sum(g1 * g1)
        return {"loss": loss, "g1": g1, "g2": g2, "g3": g3, "h": outer.gradient(curvature, x)}

    traced = tf.function(step)
    for _ in range(3):
        got, want = traced(), step()
        for k in ("loss", "g1", "g2", "g3"):
            same(got[k].numpy(), want[k].numpy())
        np.testing.assert_allclose(got["h"].numpy(), want["h"].numpy(), rtol=1e-12, atol=0)


def test_a_variable_read_many_times_in_a_fused_loss_gets_eager_gradients_bitwise():
    # the reads become one input of the fused step; their gradients (all
    # different here) are summed in eager's order, so the bits agree
    for dtype in (np.float32, np.float64):
        x = tf.Variable(np.linspace(0.5, 3.0, 70_001).astype(dtype))

        def step(x=x):
            with tf.GradientTape() as t:
                loss = tf.reduce_sum(tf.maximum(x - tf.exp(x) / x, tf.sin(x)) * x)
            return {"loss": loss, "grad": t.gradient(loss, x)}

        def grad_only(step=step):
            return {"grad": step()["grad"]}

        check_function_is_eager(step, calls=2)
        check_function_is_eager(grad_only, calls=2)


def test_fused_results_read_later_and_inputs_handed_back_are_bitwise_eager():
    """Fused programs whose results are read by later instructions, or are
    inputs handed back (the gradient of `+ b` with respect to `b` is the
    upstream gradient, a new tensor), give eager's values across blocks and
    threads."""
    rng = np.random.default_rng(5)
    x, w, b = (tf.constant(rng.normal(size=(300, 70)).astype(np.float32)) for _ in range(3))

    def step():
        with tf.GradientTape() as t:
            t.watch([x, w, b])
            h = tf.tanh(x * w + b)
            loss = tf.reduce_sum(h * h + h)
        gx, gw, gb = t.gradient(loss, [x, w, b])
        return {"loss": loss, "gx": gx, "gw": gw, "gb": gb, "h": h}

    check_function_is_eager(step)
    got = tf.function(step)()
    assert got["gb"]._id != got["h"]._id
    h = got["h"].numpy()
    np.testing.assert_allclose(got["gb"].numpy(), (2 * h + 1) * (1 - h**2), rtol=1e-5)
