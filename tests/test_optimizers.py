"""``tapegrad.optimizers``: every rule and option against Keras 3's update
rules written out by hand in numpy, schedules, ``None`` gradients, weight
decay, clipping, lazy slots, a training loop, and errors."""

from __future__ import annotations

import inspect
import threading
from typing import Any

import numpy as np
import pytest
import tapegrad as tf
from tapegrad.optimizers import schedules

SHAPES = [(), (3,), (2, 3), (4, 1, 2)]
DTYPES = [np.float32, np.float64]


def tol(dtype: Any) -> dict[str, float]:
    # the reference runs in float64 from the same float32 inputs
    return {"rtol": 1e-5, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-13}


def f32(x: float) -> float:
    """Keras keeps the learning rate in a float32 variable."""
    return float(np.float32(x))


class Reference:
    """Keras 3's update rules (``keras/src/optimizers/*.py``), in numpy float64."""

    def __init__(self, kind: str, hp: dict[str, Any], w: np.ndarray):
        self.kind, self.hp = kind, hp
        self.w = np.asarray(w, np.float64).copy()
        z = np.zeros_like(self.w)
        init = hp.get("initial_accumulator_value", 0.1)
        self.slots = {
            "m": z.copy(),
            "v": z.copy(),
            "vhat": z.copy(),
            "avg": z.copy(),
            "acc": np.full_like(self.w, init),
        }

    def step(self, g: np.ndarray, lr: float, iteration: int, wd: float | None = None) -> None:
        g = np.asarray(g, np.float64)
        hp, s, w = self.hp, self.slots, self.w
        if wd is not None:
            w = w - w * wd * lr
        if self.kind == "SGD":
            mu = hp.get("momentum", 0.0)
            if mu == 0:
                w = w - lr * g
            else:
                s["m"] = mu * s["m"] - lr * g
                w = w + (mu * s["m"] - lr * g if hp.get("nesterov") else s["m"])
        elif self.kind in ("Adam", "AdamW"):
            b1, b2 = hp.get("beta_1", 0.9), hp.get("beta_2", 0.999)
            eps = hp.get("epsilon", 1e-7)
            t = iteration + 1
            s["m"] = b1 * s["m"] + (1 - b1) * g
            s["v"] = b2 * s["v"] + (1 - b2) * g * g
            v = s["v"]
            if hp.get("amsgrad"):
                s["vhat"] = np.maximum(s["vhat"], s["v"])
                v = s["vhat"]
            alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
            w = w - alpha * s["m"] / (np.sqrt(v) + eps)
        elif self.kind == "RMSprop":
            rho, mu = hp.get("rho", 0.9), hp.get("momentum", 0.0)
            eps = hp.get("epsilon", 1e-7)
            s["v"] = rho * s["v"] + (1 - rho) * g * g
            if hp.get("centered"):
                s["avg"] = rho * s["avg"] + (1 - rho) * g
                denom = s["v"] - s["avg"] ** 2 + eps
            else:
                denom = s["v"] + eps
            inc = lr * g / np.sqrt(denom)
            if mu > 0:
                s["m"] = mu * s["m"] + inc
                w = w - s["m"]
            else:
                w = w - inc
        elif self.kind == "Adagrad":
            eps = hp.get("epsilon", 1e-7)
            s["acc"] = s["acc"] + g * g
            w = w - lr * g / np.sqrt(s["acc"] + eps)
        else:
            raise AssertionError(self.kind)
        self.w = w


CASES = [
    ("SGD", {}),
    ("SGD", {"momentum": 0.9}),
    ("SGD", {"momentum": 0.9, "nesterov": True}),
    ("SGD", {"momentum": 1.0}),
    ("Adam", {}),
    ("Adam", {"amsgrad": True}),
    ("Adam", {"beta_1": 0.5, "beta_2": 0.9, "epsilon": 1e-3, "amsgrad": True}),
    ("AdamW", {}),
    ("AdamW", {"weight_decay": 0.1, "amsgrad": True}),
    ("RMSprop", {}),
    ("RMSprop", {"momentum": 0.5}),
    ("RMSprop", {"centered": True}),
    ("RMSprop", {"rho": 0.8, "momentum": 0.9, "centered": True, "epsilon": 1e-4}),
    ("Adagrad", {}),
    ("Adagrad", {"initial_accumulator_value": 0.0, "epsilon": 1e-2}),
]

DEFAULT_LR = {"SGD": 0.01, "Adam": 0.001, "AdamW": 0.001, "RMSprop": 0.001, "Adagrad": 0.001}


def make(kind: str, **kwargs: Any) -> tf.optimizers.Optimizer:
    return getattr(tf.optimizers, kind)(**kwargs)


def run_and_compare(
    kind: str,
    hp: dict[str, Any],
    shape: tuple[int, ...],
    dtype: Any,
    *,
    steps: int = 5,
    lr: float | None = 0.1,
    seed: int = 0,
) -> None:
    rng = np.random.default_rng(seed)
    w0 = rng.standard_normal(shape).astype(dtype)
    var = tf.Variable(w0, name="w")
    kwargs = dict(hp)
    if lr is not None:
        kwargs["learning_rate"] = lr
    opt = make(kind, **kwargs)
    ref = Reference(kind, hp, w0)
    rate = f32(lr if lr is not None else DEFAULT_LR[kind])
    wd = hp.get("weight_decay", 0.004 if kind == "AdamW" else None)
    for step in range(steps):
        g = (rng.standard_normal(shape) * 2).astype(dtype)
        if step % 2:
            opt.apply_gradients(zip([tf.constant(g)], [var], strict=True))
        else:
            opt.apply([tf.constant(g)], [var])
        ref.step(g, rate, step, wd)
        assert int(opt.iterations) == step + 1
        assert var.dtype.name == np.dtype(dtype).name and tuple(var.shape) == shape
        np.testing.assert_allclose(var.numpy(), ref.w, **tol(dtype), err_msg=f"step {step}")


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize(("kind", "hp"), CASES, ids=lambda c: str(c))
def test_rule_matches_keras_formula(kind, hp, shape, dtype):
    run_and_compare(kind, hp, shape, dtype)


@pytest.mark.parametrize("kind", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_defaults_are_keras_defaults(kind):
    opt = make(kind)
    assert np.isclose(float(opt.learning_rate), DEFAULT_LR[kind])
    cfg = opt.get_config()
    expected_name = {"SGD": "SGD", "Adam": "adam", "AdamW": "adamw"}.get(kind, kind.lower())
    assert cfg["name"] == opt.name == expected_name
    if kind in ("Adam", "AdamW"):
        assert (cfg["beta_1"], cfg["beta_2"], cfg["epsilon"], cfg["amsgrad"]) == (
            0.9,
            0.999,
            1e-7,
            False,
        )
    if kind == "AdamW":
        assert cfg["weight_decay"] == 0.004
    else:
        assert cfg["weight_decay"] is None
    if kind == "RMSprop":
        assert (cfg["rho"], cfg["momentum"], cfg["epsilon"], cfg["centered"]) == (
            0.9,
            0.0,
            1e-7,
            False,
        )
    if kind == "Adagrad":
        assert (cfg["initial_accumulator_value"], cfg["epsilon"]) == (0.1, 1e-7)
    # the defaults drive the update too
    run_and_compare(kind, {}, (3,), np.float64, lr=None)
    # and the config rebuilds an equivalent optimizer
    again = type(opt).from_config(cfg)
    assert again.get_config() == cfg


RULES = {"SGD": "sgd", "Adam": "adam", "AdamW": "adamw", "RMSprop": "rmsprop", "Adagrad": "adagrad"}


@pytest.mark.parametrize("kind", list(RULES))
def test_keras_signature_defaults_are_the_rust_defaults(kind):
    # the Python classes keep Keras's signatures; the Rust rule has its own
    # `Default`: they must agree, hyperparameter by hyperparameter
    rust = tf._core._OptimizerRule(RULES[kind]).config()
    parameters = inspect.signature(getattr(tf.optimizers, kind)).parameters
    assert rust == {name: parameters[name].default for name in rust}
    assert make(kind).get_config().items() >= rust.items()


def test_rule_slots_and_config():
    rule = tf._core._OptimizerRule("rmsprop", momentum=0.5, centered=True)
    assert rule.slot_names() == ["velocity", "momentum", "average_gradient"]
    assert rule.config() == {"rho": 0.9, "momentum": 0.5, "epsilon": 1e-7, "centered": True}
    assert tf._core._OptimizerRule("sgd").slot_names() == []
    assert tf._core._OptimizerRule("sgd", momentum=0.1).slot_names() == ["momentum"]
    assert tf._core._OptimizerRule("adamw", amsgrad=True).slot_names() == [
        "momentum",
        "velocity",
        "velocity_hat",
    ]
    assert tf._core._OptimizerRule("adagrad").slot_names() == ["accumulator"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="unexpected hyperparameter"):
        tf._core._OptimizerRule("adam", rho=0.9)
    with pytest.raises(tf.errors.InvalidArgumentError, match="unknown update rule"):
        tf._core._OptimizerRule("lion")
    opt = tf.optimizers.RMSprop(momentum=0.5, centered=True)
    assert opt.get_slot_names() == rule.slot_names()
    assert (opt.rho, opt.momentum, opt.epsilon, opt.centered) == (0.9, 0.5, 1e-7, True)


def test_weight_decay_is_settable_and_checked():
    var = tf.Variable([2.0], dtype=tf.float64)
    opt = tf.optimizers.SGD(learning_rate=0.5)
    assert opt.weight_decay is None
    opt.weight_decay = 0.1
    assert opt.weight_decay == 0.1 and opt.get_config()["weight_decay"] == 0.1
    opt.apply([[0.0]], [var])
    np.testing.assert_allclose(var.numpy(), [2.0 * (1 - 0.1 * 0.5)], rtol=1e-15)
    with pytest.raises(ValueError, match=r"SGD: `weight_decay` must be a finite number >= 0"):
        opt.weight_decay = float("inf")
    assert opt.weight_decay == 0.1
    opt.weight_decay = None
    opt.apply([[0.0]], [var])
    np.testing.assert_allclose(var.numpy(), [1.9], rtol=1e-15)
    adamw = tf.optimizers.AdamW()
    with pytest.raises(ValueError, match="AdamW: `weight_decay` must be a float"):
        adamw.weight_decay = None
    assert adamw.weight_decay == 0.004


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("kind", ["SGD", "Adam", "RMSprop", "Adagrad"])
def test_weight_decay_for_every_optimizer(kind, dtype):
    run_and_compare(kind, {"weight_decay": 0.05}, (2, 3), dtype)
    run_and_compare(
        kind,
        {"weight_decay": 0.05, "momentum": 0.5} if kind == "SGD" else {"weight_decay": 0.0},
        (4,),
        dtype,
    )


def test_weight_decay_exclusions():
    a = tf.Variable([1.0, 2.0], dtype=tf.float64, name="kernel")
    b = tf.Variable([1.0, 2.0], dtype=tf.float64, name="dense/bias")
    c = tf.Variable([1.0, 2.0], dtype=tf.float64, name="other")
    opt = tf.optimizers.SGD(learning_rate=0.5, weight_decay=0.1)
    opt.exclude_from_weight_decay(var_list=[c], var_names=["bias"])
    zero = np.zeros(2)
    opt.apply([zero, zero, zero], [a, b, c])
    lr = f32(0.5)
    np.testing.assert_allclose(a.numpy(), np.array([1.0, 2.0]) * (1 - 0.1 * lr), rtol=1e-15)
    np.testing.assert_array_equal(b.numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(c.numpy(), [1.0, 2.0])
    with pytest.raises(ValueError, match="before the optimizer is built"):
        opt.exclude_from_weight_decay(var_names=["kernel"])


def clip_reference(kind: str, grads: list[np.ndarray], value: float) -> list[np.ndarray]:
    if kind == "clipnorm":
        return [g * value / max(np.sqrt(np.sum(g * g)), value) for g in grads]
    if kind == "global_clipnorm":
        norm = np.sqrt(sum(np.sum(g * g) for g in grads))
        return [g * value * min(1 / norm, 1 / value) for g in grads]
    return [np.clip(g, -value, value) for g in grads]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("clip", ["clipnorm", "clipvalue", "global_clipnorm"])
@pytest.mark.parametrize(("kind", "hp"), [("SGD", {"momentum": 0.9}), ("Adam", {})])
def test_gradient_clipping(kind, hp, clip, dtype):
    rng = np.random.default_rng(1)
    shapes = [(3,), (2, 2)]
    w0 = [rng.standard_normal(s).astype(dtype) for s in shapes]
    variables = [tf.Variable(w) for w in w0]
    opt = make(kind, learning_rate=0.1, **hp, **{clip: 1.5})
    refs = [Reference(kind, hp, w) for w in w0]
    for step in range(4):
        # large and small gradients, so that clipping bites on some steps only
        scale = 5.0 if step % 2 == 0 else 0.2
        grads = [(rng.standard_normal(s) * scale).astype(dtype) for s in shapes]
        opt.apply(grads, variables)
        clipped = clip_reference(clip, [g.astype(np.float64) for g in grads], 1.5)
        for ref, g, v in zip(refs, clipped, variables, strict=True):
            ref.step(g, f32(0.1), step)
            np.testing.assert_allclose(v.numpy(), ref.w, **tol(dtype))


def test_learning_rate_schedules_are_called_with_the_step():
    w0 = np.array([1.0, -1.0])
    seen: list[int] = []

    def by_step(step: int) -> float:
        seen.append(step)
        return 0.1 / (1 + step)

    rates = {
        "schedule": (
            schedules.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5),
            lambda s: 0.1 * 0.5 ** (s / 2),
        ),
        "staircase": (
            schedules.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5, staircase=True),
            lambda s: 0.1 * 0.5 ** (s // 2),
        ),
        "inverse": (
            schedules.InverseTimeDecay(0.1, decay_steps=1, decay_rate=0.5),
            lambda s: 0.1 / (1 + 0.5 * s),
        ),
        "piecewise": (
            schedules.PiecewiseConstantDecay([1, 3], [0.3, 0.2, 0.1]),
            lambda s: 0.3 if s <= 1 else 0.2 if s <= 3 else 0.1,
        ),
        "callable": (by_step, lambda s: 0.1 / (1 + s)),
        "no-argument callable": (lambda: 0.05, lambda s: 0.05),
    }
    for name, (lr, formula) in rates.items():
        var = tf.Variable(w0)
        opt = tf.optimizers.SGD(learning_rate=lr)
        ref = Reference("SGD", {}, w0)
        for step in range(6):
            assert np.isclose(float(opt.learning_rate), formula(step), rtol=1e-6), name
            g = np.array([1.0, 2.0]) * (step + 1)
            opt.apply([g], [var])
            ref.step(g, f32(formula(step)), step)
            np.testing.assert_allclose(var.numpy(), ref.w, rtol=1e-12, err_msg=name)
    assert sorted(set(seen)) == list(range(6))


def test_learning_rate_is_settable():
    var = tf.Variable([1.0], dtype=tf.float64)
    opt = tf.optimizers.SGD(learning_rate=0.5)
    assert isinstance(opt.learning_rate, tf.Variable)
    assert opt.learning_rate.dtype == tf.float32
    opt.apply([[1.0]], [var])
    opt.learning_rate = 0.25
    assert float(opt.learning_rate) == 0.25
    opt.apply([[1.0]], [var])
    np.testing.assert_allclose(var.numpy(), [1.0 - 0.5 - 0.25])
    opt.learning_rate.assign(0.125)
    opt.apply([[1.0]], [var])
    np.testing.assert_allclose(var.numpy(), [0.125])
    opt.learning_rate = lambda step: 0.0
    opt.apply([[1.0]], [var])
    np.testing.assert_allclose(var.numpy(), [0.125])
    with pytest.raises(ValueError, match="learning_rate"):
        opt.learning_rate = -1.0
    scheduled = tf.optimizers.SGD(learning_rate=schedules.ExponentialDecay(0.1, 1, 0.5))
    with pytest.raises(TypeError, match="not settable"):
        scheduled.learning_rate = 0.1


def test_none_gradients_are_skipped_with_a_warning():
    a = tf.Variable([1.0, 2.0], name="a")
    b = tf.Variable([3.0], name="b")
    opt = tf.optimizers.SGD(learning_rate=0.5)
    with pytest.warns(UserWarning, match=r"Gradients do not exist for variables \['b:0'\]"):
        opt.apply_gradients(zip([tf.constant([1.0, 1.0]), None], [a, b], strict=True))
    np.testing.assert_array_equal(a.numpy(), [0.5, 1.5])
    np.testing.assert_array_equal(b.numpy(), [3.0])
    assert int(opt.iterations) == 1
    with pytest.raises(ValueError, match="No gradients provided for any variable"):
        opt.apply([None, None], [a, b])
    assert int(opt.iterations) == 1
    # an empty list is a no-op that does not count as a step
    opt.apply_gradients(zip([], [], strict=True))
    assert int(opt.iterations) == 1


def test_gradients_from_a_tape_with_an_unconnected_variable():
    w = tf.Variable([[1.0], [2.0]], name="w")
    unused = tf.Variable(0.0, name="unused")
    opt = tf.optimizers.Adam(learning_rate=0.1)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(w * w)
    grads = tape.gradient(loss, [w, unused])
    assert grads[1] is None
    with pytest.warns(UserWarning, match="unused:0"):
        opt.apply_gradients(zip(grads, [w, unused], strict=True))
    # Adam's first step moves each element by lr (times sign), up to epsilon
    np.testing.assert_allclose(w.numpy(), [[0.9], [1.9]], rtol=1e-6)
    assert float(unused.numpy()) == 0.0


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize(
    ("kind", "hp"),
    [("Adam", {"amsgrad": True}), ("RMSprop", {"momentum": 0.5, "centered": True})],
)
def test_variables_created_after_the_first_step_get_slots_lazily(kind, hp, dtype):
    rng = np.random.default_rng(2)
    a0 = rng.standard_normal((2, 2)).astype(dtype)
    b0 = rng.standard_normal((3,)).astype(dtype)
    a = tf.Variable(a0, name="a")
    opt = make(kind, learning_rate=0.05, **hp)
    ref_a = Reference(kind, hp, a0)
    ref_b = None
    for step in range(6):
        ga = rng.standard_normal((2, 2)).astype(dtype)
        if step < 3:
            opt.apply([ga], [a])
        else:
            if step == 3:
                b = tf.Variable(b0, name="b")
                with pytest.raises(KeyError, match="no slot"):
                    opt.get_slot(b, "momentum")
                ref_b = Reference(kind, hp, b0)
            gb = rng.standard_normal((3,)).astype(dtype)
            opt.apply([ga, gb], [a, b])
            # the step counter, not the variable's age, drives bias correction
            ref_b.step(gb, f32(0.05), step)
            np.testing.assert_allclose(b.numpy(), ref_b.w, **tol(dtype))
        ref_a.step(ga, f32(0.05), step)
        np.testing.assert_allclose(a.numpy(), ref_a.w, **tol(dtype))
    if kind == "Adam":
        assert opt.get_slot_names() == ["momentum", "velocity", "velocity_hat"]
        np.testing.assert_allclose(
            opt.get_slot(b, "momentum").numpy(), ref_b.slots["m"], **tol(dtype)
        )
        np.testing.assert_allclose(
            opt.get_slot(a, "velocity").numpy(), ref_a.slots["v"], **tol(dtype)
        )
        np.testing.assert_allclose(
            opt.get_slot(a, "velocity_hat").numpy(), ref_a.slots["vhat"], **tol(dtype)
        )
    else:
        assert opt.get_slot_names() == ["velocity", "momentum", "average_gradient"]
        np.testing.assert_allclose(
            opt.get_slot(b, "average_gradient").numpy(), ref_b.slots["avg"], **tol(dtype)
        )
    assert opt.get_slot(a, "velocity").dtype.name == np.dtype(dtype).name


def test_build_then_apply_without_variables():
    a = tf.Variable([1.0, 2.0], dtype=tf.float64)
    b = tf.Variable(3.0, dtype=tf.float64)
    opt = tf.optimizers.SGD(learning_rate=0.5, momentum=0.5)
    with pytest.raises(ValueError, match="must already be built"):
        opt.apply([np.ones(2), 1.0])
    opt.build([a, b])
    assert opt.built
    np.testing.assert_array_equal(opt.get_slot(b, "momentum").numpy(), 0.0)
    opt.apply([np.ones(2), 1.0])
    np.testing.assert_allclose(a.numpy(), [0.5, 1.5])
    np.testing.assert_allclose(b.numpy(), 2.5)
    with pytest.raises(ValueError, match="1 gradients for 2 variables"):
        opt.apply([np.ones(2)])


def test_minimize_with_a_callable_and_with_a_tape():
    w = tf.Variable([3.0, -1.0], dtype=tf.float64)
    opt = tf.optimizers.SGD(learning_rate=0.25)
    opt.minimize(lambda: tf.reduce_sum(w * w), [w])
    np.testing.assert_allclose(w.numpy(), [1.5, -0.5])
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(w * w)
    opt.minimize(loss, lambda: [w], tape=tape)
    np.testing.assert_allclose(w.numpy(), [0.75, -0.25])
    assert int(opt.iterations) == 2
    with pytest.raises(ValueError, match="tape"):
        opt.minimize(loss, [w])


@pytest.mark.parametrize(
    ("kind", "hp", "steps"),
    [
        ("SGD", {"learning_rate": 0.1, "momentum": 0.9}, 150),
        ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}, 150),
        ("Adam", {"learning_rate": 0.05}, 300),
        ("AdamW", {"learning_rate": 0.05, "weight_decay": 1e-4}, 300),
        ("RMSprop", {"learning_rate": 0.01, "momentum": 0.5, "centered": True}, 300),
        ("Adagrad", {"learning_rate": 0.5}, 300),
    ],
)
def test_training_loop_converges(kind, hp, steps):
    rng = np.random.default_rng(3)
    x = tf.constant(rng.standard_normal((64, 3)).astype(np.float32))
    w_true = np.array([[1.5], [-2.0], [0.5]], np.float32)
    y = tf.matmul(x, tf.constant(w_true)) + 0.7
    w = tf.Variable(tf.zeros([3, 1]), name="w")
    b = tf.Variable(0.0, name="b")
    opt = make(kind, **hp)
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(tf.matmul(x, w) + b - y))
        grads = tape.gradient(loss, [w, b])
        opt.apply_gradients(zip(grads, [w, b], strict=True))
    assert float(loss) < 1e-3, f"{kind}: loss {float(loss)}"
    np.testing.assert_allclose(w.numpy(), w_true, atol=0.05)
    np.testing.assert_allclose(float(b.numpy()), 0.7, atol=0.05)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_large_variables_take_the_parallel_path(dtype):
    # above the rayon threshold (2^15 elements), split into pieces
    shape = (300, 257)
    rng = np.random.default_rng(4)
    w0 = rng.standard_normal(shape).astype(dtype)
    var = tf.Variable(w0)
    opt = tf.optimizers.RMSprop(learning_rate=0.01, momentum=0.5, centered=True)
    ref = Reference("RMSprop", {"momentum": 0.5, "centered": True}, w0)
    for step in range(3):
        g = rng.standard_normal(shape).astype(dtype)
        opt.apply([g], [var])
        ref.step(g, f32(0.01), step)
    np.testing.assert_allclose(var.numpy(), ref.w, **tol(dtype))


def test_updates_are_not_recorded_and_do_not_change_earlier_reads():
    w = tf.Variable([1.0, 2.0], dtype=tf.float64)
    before = w.read_value()
    kept = tf.identity(w)
    opt = tf.optimizers.SGD(learning_rate=0.5)
    with tf.GradientTape(persistent=True) as tape:
        y = w * 3.0
        opt.apply([np.array([1.0, 1.0])], [w])
        z = w * 5.0
        total = y + z
    np.testing.assert_array_equal(before.numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(kept.numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(w.numpy(), [0.5, 1.5])
    np.testing.assert_array_equal(y.numpy(), [3.0, 6.0])
    np.testing.assert_array_equal(tape.gradient(y, w).numpy(), [3.0, 3.0])
    np.testing.assert_array_equal(tape.gradient(z, w).numpy(), [5.0, 5.0])
    # the update itself contributes nothing: y was computed before it
    np.testing.assert_array_equal(tape.gradient(total, w).numpy(), [8.0, 8.0])
    # the optimizer's own variables are not watched
    assert [v.name for v in tape.watched_variables()] == [w.name]


def test_a_reader_thread_never_sees_a_torn_value():
    n = 200_000  # large enough for the parallel, GIL-free path
    w = tf.Variable(np.zeros(n, np.float32))
    opt = tf.optimizers.SGD(learning_rate=1.0)
    ones = tf.ones([n])
    stop = threading.Event()
    bad: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            v = w.numpy()
            if v.min() != v.max():
                bad.append(f"torn read: min {v.min()} max {v.max()}")
                return

    t = threading.Thread(target=reader)
    t.start()
    try:
        for _ in range(40):
            opt.apply([ones], [w])
    finally:
        stop.set()
        t.join()
    assert not bad, bad[0]
    np.testing.assert_array_equal(w.numpy()[[0, -1]], [-40.0, -40.0])


def test_optimizers_in_two_threads_each_update_their_own_variables():
    results = {}

    def train(key: int) -> None:
        w = tf.Variable(np.full(50_000, float(key)), dtype=tf.float64)
        opt = tf.optimizers.Adam(learning_rate=0.1)
        for _ in range(10):
            opt.apply([w * 2.0], [w])
        results[key] = w.numpy()

    threads = [threading.Thread(target=train, args=(k,)) for k in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for key in (1, 2):
        ref = Reference("Adam", {}, np.full(3, float(key)))
        for step in range(10):
            ref.step(2.0 * ref.w, f32(0.1), step)
        np.testing.assert_allclose(results[key][:3], ref.w, rtol=1e-12)
        assert np.all(results[key] == results[key][0])


# --- errors -------------------------------------------------------------------


def test_shape_mismatch_names_optimizer_variable_and_shapes():
    w = tf.Variable(np.zeros((2, 3), np.float32), name="kernel")
    opt = tf.optimizers.Adam()
    with pytest.raises(
        tf.errors.InvalidArgumentError, match=r"Adam: .*'kernel:0'.*\[3, 2\].*\[2, 3\]"
    ):
        opt.apply([tf.zeros([3, 2])], [w])
    with pytest.raises(ValueError, match="kernel:0"):
        opt.apply([tf.zeros([2, 3, 1])], [w])


def test_dtype_mismatch_names_optimizer_variable_and_dtypes():
    w = tf.Variable(np.zeros(2, np.float32), name="w32")
    opt = tf.optimizers.RMSprop()
    with pytest.raises(
        tf.errors.InvalidArgumentError, match=r"RMSprop: .*'w32:0'.*float64.*float32"
    ):
        opt.apply([tf.constant(np.zeros(2))], [w])


def test_non_variable_and_non_float_targets():
    opt = tf.optimizers.SGD()
    with pytest.raises(
        ValueError, match="SGD: can only update tapegrad.Variable objects, got a Tensor"
    ):
        opt.apply([tf.constant(1.0)], [tf.constant(2.0)])
    with pytest.raises(ValueError, match="got a ndarray"):
        opt.apply_gradients([(np.ones(2), np.ones(2))])
    ints = tf.Variable([1, 2], name="counts")
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"SGD: .*'counts:0'.*int32"):
        opt.apply([tf.constant([1, 1])], [ints])
    assert int(opt.iterations) == 0


def test_a_failed_step_changes_nothing():
    a = tf.Variable([1.0, 2.0], name="a")
    b = tf.Variable([1.0, 2.0], name="b")
    opt = tf.optimizers.Adam(learning_rate=0.1)
    with pytest.raises(tf.errors.InvalidArgumentError, match="'b:0'"):
        opt.apply([tf.ones([2]), tf.ones([3])], [a, b])
    np.testing.assert_array_equal(a.numpy(), [1.0, 2.0])
    assert int(opt.iterations) == 0
    # as in Keras, the first call built the slots before the step failed
    np.testing.assert_array_equal(opt.get_slot(a, "momentum").numpy(), [0.0, 0.0])


@pytest.mark.parametrize(
    ("kind", "kwargs", "match"),
    [
        ("SGD", {"learning_rate": -0.1}, r"SGD: `learning_rate` must be .* >= 0, got -0.1"),
        ("Adam", {"learning_rate": float("nan")}, "Adam: `learning_rate` .* got NaN"),
        ("Adam", {"learning_rate": "fast"}, "learning_rate"),
        ("Adam", {"learning_rate": True}, "learning_rate"),
        ("SGD", {"momentum": 1.5}, r"SGD: `momentum` must be in \[0, 1\], got 1.5"),
        ("SGD", {"momentum": -0.5}, "SGD: `momentum`"),
        ("SGD", {"momentum": float("nan")}, "SGD: `momentum` .* got NaN"),
        ("Adam", {"beta_1": 1.0}, r"Adam: `beta_1` must be in \[0, 1\)"),
        ("AdamW", {"beta_2": -0.1}, r"AdamW: `beta_2` must be in \[0, 1\)"),
        ("Adam", {"epsilon": -1e-7}, "Adam: `epsilon` must be a finite number >= 0"),
        ("RMSprop", {"rho": 1.0}, r"RMSprop: `rho` must be in \[0, 1\)"),
        ("RMSprop", {"momentum": 2.0}, r"RMSprop: `momentum` must be in \[0, 1\]"),
        ("RMSprop", {"epsilon": float("inf")}, "RMSprop: `epsilon` .* got inf"),
        ("Adagrad", {"initial_accumulator_value": -1.0}, "Adagrad: `initial_accumulator_value`"),
        ("SGD", {"weight_decay": -0.1}, "SGD: `weight_decay` must be a finite number >= 0"),
        ("AdamW", {"weight_decay": None}, "AdamW: `weight_decay` must be a float"),
        (
            "SGD",
            {"clipnorm": 1.0, "clipvalue": 1.0},
            "SGD: only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set, "
            "got clipnorm=1, clipvalue=1, global_clipnorm=None",
        ),
        ("Adam", {"clipnorm": -1.0}, "Adam: `clipnorm` must be a number > 0, got -1"),
        ("Adam", {"global_clipnorm": 0.0}, "Adam: `global_clipnorm` must be a number > 0"),
        ("Adagrad", {"clipvalue": float("nan")}, "Adagrad: `clipvalue` .* got NaN"),
        ("Adam", {"colour": "red"}, "not recognized"),
    ],
)
def test_bad_hyperparameters(kind, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make(kind, **kwargs)


def test_unsupported_keras_options_are_refused_unless_default():
    with pytest.raises(NotImplementedError, match="use_ema"):
        tf.optimizers.Adam(use_ema=True)
    opt = tf.optimizers.Adam(use_ema=False, loss_scale_factor=None)
    assert opt.name == "adam"
    with pytest.warns(UserWarning, match="decay"):
        tf.optimizers.SGD(decay=0.1)


def test_a_schedule_that_goes_negative_is_an_error():
    w = tf.Variable([1.0])
    opt = tf.optimizers.SGD(learning_rate=lambda step: -1.0)
    with pytest.raises(
        tf.errors.InvalidArgumentError, match="SGD: `learning_rate` must be a finite number >= 0"
    ):
        opt.apply([[1.0]], [w])
    np.testing.assert_array_equal(w.numpy(), [1.0])


def test_keras_agrees_when_installed():
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(5)
    w0 = rng.standard_normal((3, 2)).astype(np.float32)
    grads = [rng.standard_normal((3, 2)).astype(np.float32) for _ in range(4)]
    for kind, hp in CASES:
        ours = tf.Variable(w0)
        theirs = keras.Variable(w0)
        opt = make(kind, learning_rate=0.1, **hp)
        kopt = getattr(keras.optimizers, kind)(learning_rate=0.1, **hp)
        for g in grads:
            opt.apply([g], [ours])
            kopt.apply([keras.ops.convert_to_tensor(g)], [theirs])
        np.testing.assert_allclose(
            ours.numpy(), keras.ops.convert_to_numpy(theirs), rtol=1e-5, atol=1e-6
        )


def test_one_step_over_mixed_dtypes_with_a_global_norm():
    a = tf.Variable(np.array([1.0, 2.0], np.float32))
    b = tf.Variable(np.array([[3.0]], np.float64))
    opt = tf.optimizers.SGD(learning_rate=1.0, global_clipnorm=2.5)
    # norms 5 (float32) and 12 (float64): global 13, so both scale by 2.5 / 13
    opt.apply([np.array([3.0, 4.0], np.float32), tf.Variable([[12.0]], dtype=tf.float64)], [a, b])
    s = 2.5 / 13
    np.testing.assert_allclose(a.numpy(), [1.0 - 3 * s, 2.0 - 4 * s], rtol=1e-6)
    np.testing.assert_allclose(b.numpy(), [[3.0 - 12 * s]], rtol=1e-15)
    assert a.dtype == tf.float32 and b.dtype == tf.float64
