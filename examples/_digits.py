"""The digits data the examples share: 400 8×8 images (40 per class) from
scikit-learn's bundled digits dataset, shipped as ``data/digits_subset.csv``
(64 pixel values in 0..16, then the label)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tapegrad as tf

CSV = Path(__file__).parent / "data" / "digits_subset.csv"


def load(test_fraction: float = 0.25, seed: int = 0):
    """(x_train, y_train, x_test, y_test): float32 pixels scaled to [0, 1]
    and int32 labels, split at random (fixed seed) into train and test."""
    data = np.loadtxt(CSV, delimiter=",", dtype=np.int64)
    order = np.random.default_rng(seed).permutation(len(data))
    data = data[order]
    x = (data[:, :64] / 16.0).astype(np.float32)
    y = data[:, 64].astype(np.int32)
    n_test = int(len(data) * test_fraction)
    return (
        tf.constant(x[n_test:]),
        tf.constant(y[n_test:]),
        tf.constant(x[:n_test]),
        tf.constant(y[:n_test]),
    )


def accuracy(logits: tf.Tensor, labels: tf.Tensor) -> float:
    """The fraction of rows whose largest logit is the label."""
    predicted = tf.cast(tf.argmax(logits, axis=1), tf.int32)
    return float(tf.reduce_mean(tf.cast(predicted == labels, tf.float32)))


def minibatches(n: int, batch_size: int):
    """Shuffled index batches covering ``range(n)`` once (an epoch)."""
    order = tf.random.shuffle(tf.range(n))
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]
