"""Per-op cost of recording: a 200-op chain on a (4,) tensor, with no tape,
under a tape (forward only), and forward + backward. Prints medians in µs
per op. Run it on two builds to see what a change to recording costs (the
call site each recorded op keeps for ``GradientTape.explain`` was measured
this way).

    python benches/tape_overhead.py            # after `pip install .`
"""

from __future__ import annotations

import statistics
import time

import tapegrad as tf

OPS = 200
REPEATS = 400
ROUNDS = 9


def chain(x: tf.Tensor) -> tf.Tensor:
    for _ in range(OPS // 2):
        x = tf.sin(x) * 1.0001
    return x


def no_tape(x: tf.Tensor) -> None:
    chain(x)


def forward(x: tf.Tensor) -> None:
    with tf.GradientTape() as tape:
        tape.watch(x)
        chain(x)


def forward_backward(x: tf.Tensor) -> None:
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = chain(x)
    tape.gradient(y, x)


def per_op_us(fn, x: tf.Tensor) -> float:
    rounds = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(REPEATS):
            fn(x)
        rounds.append((time.perf_counter() - start) / REPEATS / OPS * 1e6)
    return statistics.median(rounds)


def main() -> None:
    x = tf.constant([0.1, 0.2, 0.3, 0.4])
    for fn in (no_tape, forward, forward_backward):
        fn(x)  # warm up
    for fn in (no_tape, forward, forward_backward):
        print(f"{fn.__name__:17s} {per_op_us(fn, x):.3f} µs/op (median of {ROUNDS})")


if __name__ == "__main__":
    main()
