"""The W2 step — a 200-op elementwise chain on a (4,) tensor under a tape,
then its gradient — run eagerly and as a replayed trace (``Plan.run``, the
engine under ``tf.function``). Prints medians in µs per op (the step's time
over its 200 forward ops, as the W2 row of ``compare.py`` counts), and
checks that both give the same values bitwise first.

    PYTHONPATH=python python benches/trace_replay.py
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import tapegrad as tf
from tapegrad._trace import Trace

OPS = 200
REPEATS = 200
ROUNDS = 9
SCALE = 0.5
CYCLE = ("sin", "mul_c", "add_x", "tanh", "exp", "mul_c", "mul_self", "cos", "mul_x")


def link(name: str, y: tf.Tensor, x: tf.Tensor) -> tf.Tensor:
    if name == "sin":
        return tf.sin(y)
    if name == "cos":
        return tf.cos(y)
    if name == "tanh":
        return tf.tanh(y)
    if name == "exp":
        return tf.exp(y)
    if name == "mul_c":
        return y * SCALE
    if name == "mul_self":
        return y * y
    if name == "add_x":
        return y + x
    return y * x


def step(x: tf.Tensor) -> tf.Tensor:
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = x
        for i in range(OPS):
            y = link(CYCLE[i % len(CYCLE)], y, x)
        loss = tf.reduce_sum(y)
    return tape.gradient(loss, x)


def per_op_us(fn) -> float:
    rounds = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(REPEATS):
            fn()
        rounds.append((time.perf_counter() - start) / REPEATS / OPS * 1e6)
    return statistics.median(rounds)


def main() -> None:
    x = tf.constant(np.random.default_rng(0).normal(size=4).astype(np.float32))
    with Trace([x]) as trace:
        plan = trace.finish([step(x)])
    replayed = plan.run([x])
    assert replayed is not None
    assert replayed[0].numpy().tobytes() == step(x).numpy().tobytes()
    eager = per_op_us(lambda: step(x))
    replay = per_op_us(lambda: plan.run([x]))
    print(f"plan: {len(plan)} steps")
    print(f"eager step   {eager:.3f} µs/op (median of {ROUNDS})")
    print(f"Plan.run     {replay:.3f} µs/op (median of {ROUNDS})  {eager / replay:.2f}x")


if __name__ == "__main__":
    main()
