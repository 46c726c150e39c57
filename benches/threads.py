"""Two Python threads on large tensors versus one: heavy kernels release the
GIL, so the threads overlap. Prints the medians and the speed-up.

Each kernel is pinned to one rayon thread (RAYON_NUM_THREADS=1, unless set),
so that the only parallelism measured is the two Python threads'.

    python benches/threads.py            # after `pip install .`
"""

from __future__ import annotations

import os

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # before tapegrad starts its pool

import statistics
import threading
import time

import numpy as np  # noqa: E402
import tapegrad as tf  # noqa: E402

N = 384  # x is N×N float32
WORK = 8  # gradient evaluations per thread


def job(x: tf.Tensor) -> None:
    for _ in range(WORK):
        with tf.GradientTape() as t:
            t.watch(x)
            y = tf.reduce_sum(tf.tanh(tf.matmul(x, x)) * x)
        t.gradient(y, x)


def timed(threads: int, xs: list[tf.Tensor]) -> float:
    ts = [threading.Thread(target=job, args=(xs[i],)) for i in range(threads)]
    start = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return time.perf_counter() - start


def main() -> None:
    rng = np.random.default_rng(0)
    xs = [tf.constant(rng.standard_normal((N, N)).astype(np.float32) / N) for _ in range(2)]
    job(xs[0])  # warm up
    one = statistics.median(timed(1, xs) for _ in range(5))
    # two threads do twice the work: the same wall time would be a 2x speed-up
    two = statistics.median(timed(2, xs) for _ in range(5))
    print(f"1 thread : {one * 1e3:8.1f} ms for {WORK} gradients")
    print(f"2 threads: {two * 1e3:8.1f} ms for {2 * WORK} gradients")
    print(f"throughput speed-up: {2 * one / two:.2f}x")


if __name__ == "__main__":
    main()
