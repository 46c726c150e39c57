"""Softmax regression from scratch (Dive into Deep Learning, §3.6) on the
digits shipped in ``examples/data``: a linear layer, softmax cross-entropy,
minibatch SGD with ``GradientTape`` and ``Variable.assign_sub``.

    python examples/softmax_regression.py [--plot PATH | --no-plot]
"""

from __future__ import annotations

import math

import tapegrad as tf
from _digits import accuracy, load, minibatches
from _training import Progress, finish, parse_args


def main() -> None:
    args = parse_args(__file__, "Softmax regression on 8x8 digits.")
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
    total = epochs * math.ceil(n / batch_size)
    with Progress(total=total, every=100, desc="softmax regression") as progress:
        for epoch in range(epochs):
            for idx in minibatches(n, batch_size):
                x, y = tf.gather(x_train, idx), tf.gather(y_train, idx)
                with tf.GradientTape() as tape:
                    loss = loss_fn(x, y)
                for p, g in zip(params, tape.gradient(loss, params), strict=True):
                    p.assign_sub(lr * g)
                progress.step(float(loss))
            progress.epoch(
                epoch + 1,
                show=(epoch + 1) % 20 == 0,
                train_loss=float(loss_fn(x_train, y_train)),
                train_acc=accuracy(net(x_train), y_train),
                test_acc=accuracy(net(x_test), y_test),
            )
    print(
        f"final loss: {float(loss_fn(x_train, y_train)):.4f}, "
        f"test accuracy: {accuracy(net(x_test), y_test):.3f}"
    )
    finish(progress, args, "softmax regression")


if __name__ == "__main__":
    main()
