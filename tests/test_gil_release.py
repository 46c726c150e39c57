"""Heavy ops release the GIL: while one runs on a large input, another Python
thread keeps running. A second thread stamps the time at each of its counts,
sleeping a moment without the GIL in between; each stamp needs the GIL.
An op that held the GIL would leave no stamp inside the middle half of the
call (Rust code never hands the GIL over; only around the call can the
interpreter switch threads); an op that releases it leaves them all along.
No timing thresholds: the op's own start and end delimit the window."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest
import tapegrad as tf

# stamps inside the middle half of a call that show the other thread ran
MARGIN = 3
TRIES = 6


class Counter:
    """A thread that takes the GIL only briefly, to stamp the time."""

    def __init__(self) -> None:
        self.stamps: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.stamps.append(time.perf_counter_ns())
            time.sleep(1e-4)

    def __enter__(self) -> Counter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def ran_during(self, op: Callable[[], object]) -> int:
        """How often this thread ran in the middle half of one call of `op`:
        the most over a few calls (a loaded machine may not schedule it in
        every one)."""
        best = 0
        for _ in range(TRIES):
            start = time.perf_counter_ns()
            op()
            end = time.perf_counter_ns()
            quarter = (end - start) // 4
            inside = [s for s in self.stamps[-100_000:] if start + quarter < s < end - quarter]
            best = max(best, len(inside))
            if best >= MARGIN:
                break
        return best


@pytest.fixture(scope="module")
def counter() -> Iterator[Counter]:
    with Counter() as c:
        yield c


rng = np.random.default_rng(0)
HUGE = 1 << 24


def backward_pass(x: tf.Variable) -> object:
    with tf.GradientTape() as tape:
        y = x
        for _ in range(6):
            y = tf.sin(y) * x + tf.exp(-tf.abs(y))
        loss = tf.reduce_sum(y)
    return tape.gradient(loss, x)


def heavy_ops() -> dict[str, Callable[[], object]]:
    values = tf.constant(rng.standard_normal(1 << 19).astype(np.float32))
    ones = tf.ones([HUGE])
    square = tf.reshape(ones, [4096, 4096])
    mask = tf.reshape(tf.eye(4096), [HUGE]) > 0.5
    matrix = tf.constant(rng.standard_normal((1024, 1024)).astype(np.float32))
    spd = tf.constant(rng.standard_normal((320, 320)) + 320 * np.eye(320))
    rhs = tf.constant(rng.standard_normal((320, 320)))
    table = tf.constant(rng.standard_normal((1024, 64)).astype(np.float32))
    rows = tf.constant(rng.integers(0, 1024, (400_000, 1)))
    variable = tf.Variable(values)
    return {
        "sort": lambda: tf.sort(values),
        "cumsum": lambda: tf.cumsum(square, axis=0),
        "where": lambda: tf.where(mask, ones, -1.0),
        "gather_nd": lambda: tf.gather_nd(table, rows),
        "pad": lambda: tf.pad(square, [[3, 3], [5, 5]]),
        "matmul": lambda: tf.matmul(matrix, matrix),
        "solve": lambda: tf.linalg.solve(spd, rhs),
        "reduce_logsumexp": lambda: tf.reduce_logsumexp(square, axis=1),
        "reduce_std": lambda: tf.math.reduce_std(ones),
        "backward": lambda: backward_pass(variable),
    }


OPS = heavy_ops()


@pytest.mark.parametrize("name", sorted(OPS))
def test_other_threads_run_during_a_heavy_op(counter: Counter, name: str) -> None:
    ran = counter.ran_during(OPS[name])
    assert ran >= MARGIN, f"{name}: the other thread ran {ran} times in the middle of the op"


def test_a_call_that_holds_the_gil_leaves_no_stamp_in_its_middle(counter: Counter) -> None:
    # the other side of the measurement: converting a long Python list reads
    # Python objects, so it keeps the GIL for all but the (instant) reshape
    values = [0.5] * 2_000_000
    start = time.perf_counter_ns()
    tf.reshape(values, [-1])
    end = time.perf_counter_ns()
    quarter = (end - start) // 4
    assert not [s for s in counter.stamps[-100_000:] if start + quarter < s < end - quarter]
