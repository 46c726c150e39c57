"""Linear regression from scratch (Dive into Deep Learning, §3.2):
synthetic data y = Xw + b + noise, minibatch SGD with ``GradientTape`` and
``Variable.assign_sub``.

    python examples/linear_regression.py [--plot PATH | --no-plot]
"""

from __future__ import annotations

import tapegrad as tf
from _training import Progress, finish, parse_args


def synthetic_data(w: tf.Tensor, b: float, n: int) -> tuple[tf.Tensor, tf.Tensor]:
    """y = Xw + b + N(0, 0.01²) noise."""
    x = tf.random.normal((n, w.shape[0]))
    y = tf.linalg.matvec(x, w) + b
    y += tf.random.normal(y.shape, stddev=0.01)
    return x, tf.reshape(y, (-1, 1))


def squared_loss(y_hat: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    return (y_hat - y) ** 2 / 2


def main() -> None:
    args = parse_args(__file__, "Linear regression with minibatch SGD.")
    tf.random.set_seed(0)
    true_w, true_b = tf.constant([2.0, -3.4]), 4.2
    n = 1000
    features, labels = synthetic_data(true_w, true_b, n)

    w = tf.Variable(tf.random.normal((2, 1), stddev=0.01))
    b = tf.Variable(tf.zeros(1))
    lr, epochs, batch_size = 0.03, 3, 10
    with Progress(total=epochs * (n // batch_size), every=50, desc="linear regression") as progress:
        for epoch in range(epochs):
            order = tf.random.shuffle(tf.range(n))
            for start in range(0, n, batch_size):
                idx = order[start : start + batch_size]
                x, y = tf.gather(features, idx), tf.gather(labels, idx)
                with tf.GradientTape() as tape:
                    loss = tf.reduce_sum(squared_loss(tf.matmul(x, w) + b, y))
                dw, db = tape.gradient(loss, [w, b])
                w.assign_sub(lr * dw / batch_size)
                b.assign_sub(lr * db / batch_size)
                progress.step(float(loss) / batch_size)
            train_loss = tf.reduce_mean(squared_loss(tf.matmul(features, w) + b, labels))
            progress.epoch(epoch + 1, train_loss=float(train_loss))
    print(f"error in estimating w: {(true_w - tf.reshape(w, true_w.shape)).numpy()}")
    print(f"error in estimating b: {(true_b - b).numpy()}")
    print(f"final loss: {float(train_loss):.6f}")
    finish(progress, args, "linear regression")


if __name__ == "__main__":
    main()
