"""One Adam step on a float32 variable: the fused Rust update of
``tapegrad.optimizers.Adam`` against the same rule written with tapegrad ops
(one kernel and one temporary per operation, as a Python optimizer would)
and against numpy in place. Then one fused step of every rule and option at
the largest size. Prints the medians and ratios.

    python benches/optimizers.py         # after `pip install .`
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from functools import partial

import numpy as np
import tapegrad as tf

SIZES = [1_000, 100_000, 1_000_000]
REPEATS = 7
B1, B2, EPS, LR = 0.9, 0.999, 1e-7, 1e-3


def median_seconds(step: Callable[[], None], inner: int) -> float:
    step()  # warm up (creates the slots)
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        for _ in range(inner):
            step()
        times.append((time.perf_counter() - start) / inner)
    return statistics.median(times)


def bench(n: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    g_np = rng.standard_normal(n).astype(np.float32)
    g = tf.constant(g_np)
    inner = max(1, 200_000 // n)

    fused_var = tf.Variable(np.zeros(n, np.float32))
    opt = tf.optimizers.Adam(learning_rate=LR)

    def fused() -> None:
        opt.apply([g], [fused_var])

    op_var = tf.Variable(np.zeros(n, np.float32))
    m = tf.Variable(np.zeros(n, np.float32))
    v = tf.Variable(np.zeros(n, np.float32))
    t = [0]

    def with_ops() -> None:
        t[0] += 1
        alpha = LR * np.sqrt(1 - B2 ** t[0]) / (1 - B1 ** t[0])
        m.assign_add((g - m) * (1 - B1))
        v.assign_add((tf.square(g) - v) * (1 - B2))
        op_var.assign_sub(m * alpha / (tf.sqrt(v) + EPS))

    w_np, m_np, v_np = (np.zeros(n, np.float32) for _ in range(3))
    tn = [0]

    def numpy_step() -> None:
        tn[0] += 1
        alpha = LR * np.sqrt(1 - B2 ** tn[0]) / (1 - B1 ** tn[0])
        m_np[:] += (g_np - m_np) * np.float32(1 - B1)
        v_np[:] += (g_np * g_np - v_np) * np.float32(1 - B2)
        w_np[:] -= m_np * np.float32(alpha) / (np.sqrt(v_np) + np.float32(EPS))

    return {
        "fused": median_seconds(fused, inner),
        "ops": median_seconds(with_ops, inner),
        "numpy": median_seconds(numpy_step, inner),
    }


RULES: list[tuple[str, dict[str, object]]] = [
    ("SGD", {}),
    ("SGD", {"momentum": 0.9, "nesterov": True}),
    ("Adam", {}),
    ("Adam", {"amsgrad": True}),
    ("AdamW", {}),
    ("RMSprop", {"momentum": 0.5, "centered": True}),
    ("Adagrad", {}),
    ("SGD", {"momentum": 0.9, "clipvalue": 0.5}),
    ("Adam", {"global_clipnorm": 1.0}),
]


def bench_rules(n: int) -> None:
    g = tf.constant(np.random.default_rng(0).standard_normal(n).astype(np.float32))
    print(f"\nfused step of each rule, {n} float32 elements")
    for kind, options in RULES:
        var = tf.Variable(np.zeros(n, np.float32))
        opt = getattr(tf.optimizers, kind)(learning_rate=LR, **options)
        step = partial(opt.apply, [g], [var])
        seconds = median_seconds(step, max(1, 200_000 // n))
        label = kind + "".join(f" {k}={v}" for k, v in options.items())
        print(f"{label:>42} {seconds * 1e6:>8.1f}us")


def main() -> None:
    print(
        f"{'elements':>10} {'fused':>10} {'tf ops':>10} {'numpy':>10} {'ops/fused':>10} "
        f"{'numpy/fused':>12}"
    )
    for n in SIZES:
        r = bench(n)
        print(
            f"{n:>10} {r['fused'] * 1e6:>8.1f}us {r['ops'] * 1e6:>8.1f}us "
            f"{r['numpy'] * 1e6:>8.1f}us {r['ops'] / r['fused']:>10.2f} "
            f"{r['numpy'] / r['fused']:>12.2f}"
        )
    for n in (SIZES[0], SIZES[-1]):
        bench_rules(n)


if __name__ == "__main__":
    main()
