"""tapegrad's 2-D products against numpy's (its BLAS) on the shapes of the
compare workloads: W4's three 1024² products (A·B, and the backward's A·Bᵀ
and Aᵀ·B), W5's MLP products (forward, and the backward's Xᵀ·G, G·W2ᵀ, …)
and W8's jacobian product (256 stacked mat-vecs), plus a 2048² product cut
into interrupt blocks. Prints the median ms of each library (all of
tapegrad's repetitions, then numpy's), and their ratio.

    python benches/matmul.py                  # after `pip install .`
    python benches/matmul.py --reps 41 --only W5
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import tapegrad as tf

# (group, name, lhs shape, rhs shape, transpose_a, transpose_b)
CASES: list[tuple[str, str, tuple[int, ...], tuple[int, ...], bool, bool]] = [
    ("W4", "A·B 1024³", (1024, 1024), (1024, 1024), False, False),
    ("W4", "A·Bᵀ 1024³", (1024, 1024), (1024, 1024), False, True),
    ("W4", "Aᵀ·B 1024³", (1024, 1024), (1024, 1024), True, False),
    ("W5", "X·W1 256×784·784×256", (256, 784), (784, 256), False, False),
    ("W5", "H·W2 256×256·256×10", (256, 256), (256, 10), False, False),
    ("W5", "G2·W2ᵀ 256×10·10×256", (256, 10), (256, 10), False, True),
    ("W5", "Hᵀ·G2 256×256·256×10", (256, 256), (256, 10), True, False),
    ("W5", "Xᵀ·G1 784×256·256×256", (256, 784), (256, 256), True, False),
    ("W8", "Wᵀ·[256 vectors] 256³", (256, 256), (256, 256, 1), True, False),
    ("big", "A·Bᵀ 2048³ (blocked)", (2048, 2048), (2048, 2048), False, True),
]


def ms_per_call(run: Callable[[], object], inner: int) -> float:
    start = time.perf_counter()
    for _ in range(inner):
        run()
    return (time.perf_counter() - start) / inner * 1e3


def compare(a: np.ndarray, b: np.ndarray, ta: bool, tb: bool, reps: int) -> tuple[float, float]:
    """Median ms of tapegrad's and of numpy's product, alternating."""
    x, y = tf.constant(a), tf.constant(b)
    got = tf.matmul(x, y, transpose_a=ta, transpose_b=tb).numpy()
    # about 20 ms per repetition, however small the product (at ~50 GFLOP/s)
    flops = 2 * got.size * (a.shape[-2] if ta else a.shape[-1])
    inner = max(1, int(20e-3 * 50e9 / flops))
    # (tapegrad first, after a pause, and not alternated: numpy's BLAS
    # threads keep spinning for a while after each call, taking the second
    # core from whatever runs next)
    time.sleep(0.5)
    ours = [
        ms_per_call(lambda: tf.matmul(x, y, transpose_a=ta, transpose_b=tb), inner)
        for _ in range(reps)
    ]
    assert np.allclose(got, numpy_product(a, b, ta, tb), rtol=1e-4, atol=1e-3)
    theirs = [ms_per_call(lambda: numpy_product(a, b, ta, tb), inner) for _ in range(reps)]
    return statistics.median(ours), statistics.median(theirs)


def numpy_product(a: np.ndarray, b: np.ndarray, ta: bool, tb: bool) -> np.ndarray:
    a = np.swapaxes(a, -1, -2) if ta else a
    b = np.swapaxes(b, -1, -2) if tb else b
    return a @ b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--only", help="a group: W4, W5, W8 or big")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'product':28} {'tapegrad ms':>12} {'numpy ms':>10} {'ratio':>6}")
    for group, name, sa, sb, ta, tb in CASES:
        if args.only and group != args.only:
            continue
        a = rng.standard_normal(sa).astype(np.float32)
        b = rng.standard_normal(sb).astype(np.float32)
        mine, base = compare(a, b, ta, tb, args.reps)
        print(f"{name:28} {mine:12.3f} {base:10.3f} {mine / base:6.2f}")


if __name__ == "__main__":
    main()
