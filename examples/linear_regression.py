"""Linear regression from scratch (Dive into Deep Learning, §3.2):
synthetic data y = Xw + b + noise, minibatch SGD with ``GradientTape`` and
``Variable.assign_sub``.

    python examples/linear_regression.py
"""

from __future__ import annotations

import tapegrad as tf


def synthetic_data(w: tf.Tensor, b: float, n: int) -> tuple[tf.Tensor, tf.Tensor]:
    """y = Xw + b + N(0, 0.01²) noise."""
    x = tf.random.normal((n, w.shape[0]))
    y = tf.linalg.matvec(x, w) + b
    y += tf.random.normal(y.shape, stddev=0.01)
    return x, tf.reshape(y, (-1, 1))


def squared_loss(y_hat: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    return (y_hat - y) ** 2 / 2


def main() -> None:
    tf.random.set_seed(0)
    true_w, true_b = tf.constant([2.0, -3.4]), 4.2
    features, labels = synthetic_data(true_w, true_b, 1000)

    w = tf.Variable(tf.random.normal((2, 1), stddev=0.01))
    b = tf.Variable(tf.zeros(1))
    lr, epochs, batch_size = 0.03, 3, 10
    for epoch in range(epochs):
        order = tf.random.shuffle(tf.range(1000))
        for start in range(0, 1000, batch_size):
            idx = order[start : start + batch_size]
            x, y = tf.gather(features, idx), tf.gather(labels, idx)
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(squared_loss(tf.matmul(x, w) + b, y))
            dw, db = tape.gradient(loss, [w, b])
            w.assign_sub(lr * dw / batch_size)
            b.assign_sub(lr * db / batch_size)
        train_loss = tf.reduce_mean(squared_loss(tf.matmul(features, w) + b, labels))
        print(f"epoch {epoch + 1}, loss {float(train_loss):f}")
    print(f"error in estimating w: {(true_w - tf.reshape(w, true_w.shape)).numpy()}")
    print(f"error in estimating b: {(true_b - b).numpy()}")
    print(f"final loss: {float(train_loss):.6f}")


if __name__ == "__main__":
    main()
