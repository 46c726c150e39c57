"""tf.keras on tapegrad against Keras 3 on TensorFlow's CPU backend, in the
same process: one ``fit`` epoch and one hand-written ``GradientTape`` step,
for an MLP (64-64-10) and a small CNN (Conv2D-MaxPool-Conv2D-Dense) on
digits-shaped data (8x8 images, 10 classes). The same model code runs on
both, written against ``tf.keras``. Prints medians (ms) and the ratios.

    python benches/keras_fit.py            # tapegrad only
    python benches/keras_fit.py --tf       # and TensorFlow (needs tensorflow)

TensorFlow's custom loop is timed twice: eagerly (what the loop code does
as written) and wrapped in ``tf.function`` (graph-compiled, the fastest
TF offers); Keras's ``fit`` compiles its step with ``tf.function`` itself.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

N_SAMPLES, BATCH, REPEATS = 320, 32, 9


def make_model(tf: Any, kind: str) -> Any:
    layers = tf.keras.layers
    if kind == "mlp":
        return tf.keras.Sequential(
            [
                tf.keras.Input((64,)),
                layers.Dense(64, activation="relu"),
                layers.Dense(10),
            ]
        )
    return tf.keras.Sequential(
        [
            tf.keras.Input((8, 8, 1)),
            layers.Conv2D(16, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(32, 3, padding="same", activation="relu"),
            layers.Flatten(),
            layers.Dense(10),
        ]
    )


def data(kind: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    shape = (N_SAMPLES, 64) if kind == "mlp" else (N_SAMPLES, 8, 8, 1)
    return rng.random(shape, dtype=np.float32), rng.integers(0, 10, N_SAMPLES).astype("int32")


def workloads(tf: Any, kind: str, compiled_step: bool) -> dict[str, tuple[Callable[[], None], int]]:
    """Name -> (a run, how many epochs or steps the run does)."""
    tf.keras.utils.set_random_seed(0)
    x, y = data(kind)
    model = make_model(tf, kind)
    model.compile(
        optimizer=tf.keras.optimizers.Adam(1e-3),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    optimizer = tf.keras.optimizers.Adam(1e-3)
    xb, yb = tf.constant(x[:BATCH]), tf.constant(y[:BATCH])

    def step(xb: Any, yb: Any) -> Any:
        with tf.GradientTape() as tape:
            loss = loss_fn(yb, model(xb, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    def steps(fn: Callable[[Any, Any], Any]) -> Callable[[], None]:
        def run() -> None:
            for _ in range(20):
                fn(xb, yb)

        return run

    runs = {
        "fit epoch": (lambda: model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0), 1),
        # fit's per-call cost (data adapters, callbacks) spread over 10 epochs
        "fit epoch (of 10)": (lambda: model.fit(x, y, batch_size=BATCH, epochs=10, verbose=0), 10),
        "custom step": (steps(step), 20),
    }
    if compiled_step:
        runs["custom step (tf.function)"] = (steps(tf.function(step)), 20)
    return runs


def bench(frameworks: dict[str, Any], kind: str) -> dict[str, dict[str, float]]:
    """Median ms per epoch or step; the frameworks take turns in every
    repeat, so a burst of load on the machine hits them alike."""
    runs = {
        name: workloads(module, kind, compiled_step=name == "tensorflow")
        for name, module in frameworks.items()
    }
    for per_framework in runs.values():  # warm up: traces, slots, caches
        for run, _ in per_framework.values():
            run()
    times: dict[str, dict[str, list[float]]] = {
        name: {what: [] for what in per_framework} for name, per_framework in runs.items()
    }
    for _ in range(REPEATS):
        for name, per_framework in runs.items():
            for what, (run, count) in per_framework.items():
                start = time.perf_counter()
                run()
                times[name][what].append((time.perf_counter() - start) / count)
    return {
        name: {what: 1e3 * statistics.median(t) for what, t in per_what.items()}
        for name, per_what in times.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tf", action="store_true", help="also time TensorFlow/Keras")
    args = parser.parse_args()
    import tapegrad

    frameworks: dict[str, Any] = {"tapegrad": tapegrad}
    if args.tf:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import tensorflow

        frameworks["tensorflow"] = tensorflow
        print(
            f"TensorFlow {tensorflow.__version__}, Keras {tensorflow.keras.__version__}, "
            f"tapegrad {tapegrad.__version__}; median of {REPEATS}, ms"
        )
    rows = []
    for kind in ("mlp", "cnn"):
        measured = bench(frameworks, kind)
        for what in ("fit epoch", "fit epoch (of 10)", "custom step"):
            ours = measured["tapegrad"][what]
            row = [f"{kind} {what}", f"{ours:.2f}"]
            if args.tf:
                theirs = measured["tensorflow"][what]
                row += [f"{theirs:.2f}", f"{theirs / ours:.1f}x"]
                if what == "custom step":
                    compiled = measured["tensorflow"]["custom step (tf.function)"]
                    row += [f"{compiled:.2f}", f"{compiled / ours:.1f}x"]
            rows.append(row)
    header = ["", "tapegrad"]
    if args.tf:
        header += ["TF eager/fit", "speed-up", "TF tf.function", "speed-up"]
    widths = [
        max(len(r[i]) if i < len(r) else 0 for r in [header, *rows]) for i in range(len(header))
    ]
    for r in [header, *rows]:
        print(
            "  ".join(
                cell.rjust(w) if i else cell.ljust(w)
                for i, (cell, w) in enumerate(zip(r, widths, strict=False))
            )
        )


if __name__ == "__main__":
    main()
