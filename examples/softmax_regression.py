"""Softmax regression from scratch (Dive into Deep Learning, §3.6) on the
digits shipped in ``examples/data``: a linear layer, softmax cross-entropy,
minibatch SGD with ``GradientTape`` and ``Variable.assign_sub``.

    python examples/softmax_regression.py
"""

from __future__ import annotations

import tapegrad as tf
from _digits import accuracy, load, minibatches


def main() -> None:
    tf.random.set_seed(0)
    x_train, y_train, x_test, y_test = load()
    w = tf.Variable(tf.random.normal((64, 10), stddev=0.01))
    b = tf.Variable(tf.zeros(10))
    params = [w, b]

    def net(x: tf.Tensor) -> tf.Tensor:
        return tf.matmul(x, w) + b

    def loss_fn(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        return tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=net(x))
        )

    lr, epochs, batch_size = 0.5, 60, 32
    n = x_train.shape[0]
    for epoch in range(epochs):
        for idx in minibatches(n, batch_size):
            x, y = tf.gather(x_train, idx), tf.gather(y_train, idx)
            with tf.GradientTape() as tape:
                loss = loss_fn(x, y)
            for p, g in zip(params, tape.gradient(loss, params), strict=True):
                p.assign_sub(lr * g)
        if (epoch + 1) % 20 == 0:
            print(
                f"epoch {epoch + 1}: train loss {float(loss_fn(x_train, y_train)):.4f}, "
                f"train acc {accuracy(net(x_train), y_train):.3f}, "
                f"test acc {accuracy(net(x_test), y_test):.3f}"
            )
    print(
        f"final loss: {float(loss_fn(x_train, y_train)):.4f}, "
        f"test accuracy: {accuracy(net(x_test), y_test):.3f}"
    )


if __name__ == "__main__":
    main()
