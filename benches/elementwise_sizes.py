"""Per-op time of cheap and dear elementwise ops and a full sum across the
sizes where the engine switches from one thread to several. Prints the
median of many calls per (op, size), in microseconds.

Compare thread counts by running it twice:

    RAYON_NUM_THREADS=1 python benches/elementwise_sizes.py
    python benches/elementwise_sizes.py
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import tapegrad as tf

SIZES = [10_000, 30_000, 100_000, 300_000, 1_000_000, 4_000_000]


def median_us(
    op: Callable[[tf.Tensor, tf.Tensor], object], x: tf.Tensor, v: tf.Tensor, calls: int
) -> float:
    for _ in range(3):
        op(x, v)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        op(x, v)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def main() -> None:
    sizes = [int(s) for s in sys.argv[1:]] or SIZES
    rng = np.random.default_rng(0)
    ops: dict[str, Callable[[tf.Tensor, tf.Tensor], object]] = {
        "x**2": lambda x, v: x**2,
        "x*v": lambda x, v: x * v,
        "x+1": lambda x, v: x + 1.0,
        "reduce_sum": lambda x, v: tf.reduce_sum(x),
        "tanh": lambda x, v: tf.tanh(x),
        "sin": lambda x, v: tf.sin(x),
        "pow(x,v)": lambda x, v: tf.pow(tf.abs(x), v),
    }
    print("op         " + "".join(f"{n:>11,}" for n in sizes))
    for name, op in ops.items():
        row = []
        for n in sizes:
            x = tf.constant(rng.standard_normal(n).astype(np.float32))
            v = tf.constant(rng.standard_normal(n).astype(np.float32))
            calls = max(20, min(400, 40_000_000 // (n * 10)))
            row.append(median_us(op, x, v, calls))
        print(f"{name:<11}" + "".join(f"{t:11.1f}" for t in row))


if __name__ == "__main__":
    main()
