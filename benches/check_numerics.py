"""Per-op cost of tf.debugging.enable_check_numerics: a chain of small
elementwise ops timed with the check off and on (medians of repeated runs).

    python benches/check_numerics.py

Off, the check is one relaxed atomic load where the op records itself and
one where the binding returns; on, each float output is scanned once.
"""

import statistics
import time

import tapegrad as tf

OPS = 200


def chain(x: tf.Tensor) -> tf.Tensor:
    for _ in range(OPS // 2):
        x = tf.sin(x) * 0.5
    return x


def per_op_us(size: int, reps: int = 31) -> float:
    x = tf.ones([size])
    chain(x)  # warm up
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        chain(x)
        times.append((time.perf_counter() - start) / OPS * 1e6)
    return statistics.median(times)


def main() -> None:
    print(f"{'size':>8} {'off (us/op)':>12} {'on (us/op)':>12}")
    for size in (4, 1024, 262144):
        tf.debugging.disable_check_numerics()
        off = per_op_us(size)
        tf.debugging.enable_check_numerics()
        on = per_op_us(size)
        tf.debugging.disable_check_numerics()
        print(f"{size:>8} {off:>12.3f} {on:>12.3f}")


if __name__ == "__main__":
    main()
