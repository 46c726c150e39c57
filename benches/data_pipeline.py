"""tf.data throughput, tapegrad against TensorFlow in one run, and prefetch
overlapping a training step.

    PYTHONPATH=python python benches/data_pipeline.py            # TF too when installed
    PYTHONPATH=python python benches/data_pipeline.py --epochs 3 --frameworks tapegrad

Part 1: ``from_tensor_slices((x, y)) → shuffle(B) → batch(128) →
prefetch(AUTOTUNE)`` over 60,000×784 float32 images and int64 labels (MNIST's
shape), iterated in Python as a training loop does (each batch becomes a
framework tensor). Batches per second over whole epochs; the median of
``--epochs`` epochs after one warm-up epoch. Each framework runs in its own
subprocess so neither's threads disturb the other.

Part 2 (tapegrad): a map that takes ``--map-ms`` per element (sleeping: the
GIL is free, like file I/O or a large op) and a "training step" that takes
``--step-ms`` (a sleep, then a 256×256 matmul). Without prefetch the two run
one after the other; with ``prefetch(1)`` the next element is produced while
the step runs, so the total approaches max(map, step) per element instead
of map + step.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import statistics
import subprocess
import sys
import time

import numpy as np

N, FEATURES, BATCH = 60_000, 784, 128


def pipeline_rates(framework: str, buffer_size: int, epochs: int) -> list[float]:
    tf = importlib.import_module("tensorflow" if framework == "tensorflow" else "tapegrad")
    rng = np.random.default_rng(0)
    x = rng.random((N, FEATURES), dtype=np.float32)
    y = rng.integers(0, 10, N).astype(np.int64)
    ds = (
        tf.data.Dataset.from_tensor_slices((x, y))
        .shuffle(buffer_size, seed=1)
        .batch(BATCH)
        .prefetch(tf.data.AUTOTUNE)
    )
    rates = []
    for epoch in range(epochs + 1):
        start = time.perf_counter()
        batches = rows = 0
        for images, _ in ds:
            batches += 1
            rows += int(images.shape[0])
        elapsed = time.perf_counter() - start
        assert batches == -(-N // BATCH) and rows == N
        if epoch:  # the first epoch warms up
            rates.append(batches / elapsed)
    return rates


def overlap(map_ms: float, step_ms: float, elements: int) -> dict[str, float]:
    import tapegrad as tf

    weights = tf.constant(np.full((256, 256), 0.01, np.float32))

    def slow_map(i: object) -> object:
        time.sleep(map_ms / 1000)
        return tf.fill([256, 256], tf.cast(i, tf.float32))

    def step(batch: object) -> None:
        time.sleep(step_ms / 1000)
        tf.reduce_sum(tf.matmul(batch, weights))

    timings = {}
    for label, prefetch in (("without prefetch", 0), ("with prefetch", 1)):
        ds = tf.data.Dataset.range(elements).map(slow_map).prefetch(prefetch)
        start = time.perf_counter()
        for batch in ds:
            step(batch)
        timings[label] = (time.perf_counter() - start) / elements * 1000
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frameworks", default="tapegrad,tensorflow")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--buffers", default="60000,10000", help="shuffle buffer sizes")
    parser.add_argument("--map-ms", type=float, default=20.0)
    parser.add_argument("--step-ms", type=float, default=20.0)
    parser.add_argument("--elements", type=int, default=50)
    parser.add_argument(
        "--worker", nargs=2, metavar=("FRAMEWORK", "BUFFER"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.worker:
        framework, buffer_size = args.worker
        print(json.dumps(pipeline_rates(framework, int(buffer_size), args.epochs)))
        return

    rows = []
    for buffer_size in [int(b) for b in args.buffers.split(",")]:
        medians = {}
        for framework in args.frameworks.split(","):
            if framework == "tensorflow" and importlib.util.find_spec("tensorflow") is None:
                continue
            out = subprocess.run(
                [sys.executable, __file__, "--epochs", str(args.epochs), "--worker", framework,
                 str(buffer_size)],
                check=True, capture_output=True, text=True,
            ).stdout
            medians[framework] = statistics.median(json.loads(out.strip().splitlines()[-1]))
        rows.append((buffer_size, medians))

    print(f"## from_tensor_slices → shuffle → batch({BATCH}) → prefetch, {N}×{FEATURES} float32")
    print(f"(batches/s, median of {args.epochs} epochs, higher is better)\n")
    print("| shuffle buffer | tapegrad | TensorFlow | tapegrad / TF |")
    print("|---:|---:|---:|---:|")
    for buffer_size, medians in rows:
        ours, theirs = medians.get("tapegrad"), medians.get("tensorflow")
        ratio = f"{ours / theirs:.1f}×" if ours and theirs else "–"
        cells = [f"{v:,.0f}" if v else "–" for v in (ours, theirs)]
        print(f"| {buffer_size:,} | {cells[0]} | {cells[1]} | {ratio} |")

    if "tapegrad" in args.frameworks:
        timings = overlap(args.map_ms, args.step_ms, args.elements)
        print(f"\n## prefetch overlap (tapegrad): map {args.map_ms:g} ms/element, "
              f"training step {args.step_ms:g} ms + a 256×256 matmul")
        print("\n| pipeline | ms per element |")
        print("|---|---:|")
        for label, ms in timings.items():
            print(f"| {label} | {ms:.1f} |")


if __name__ == "__main__":
    main()
