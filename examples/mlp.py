"""A two-layer perceptron from scratch (Dive into Deep Learning, §4.2–4.6)
on the digits shipped in ``examples/data``: ReLU hidden layer, dropout,
weight decay, softmax cross-entropy, minibatch SGD with ``GradientTape`` and
``Variable.assign_sub``.

    python examples/mlp.py
"""

from __future__ import annotations

import tapegrad as tf
from _digits import accuracy, load, minibatches


def main() -> None:
    tf.random.set_seed(0)
    x_train, y_train, x_test, y_test = load()
    hidden = 64
    w1 = tf.Variable(tf.random.normal((64, hidden), stddev=0.1))
    b1 = tf.Variable(tf.zeros(hidden))
    w2 = tf.Variable(tf.random.normal((hidden, 10), stddev=0.1))
    b2 = tf.Variable(tf.zeros(10))
    params = [w1, b1, w2, b2]

    def net(x: tf.Tensor, training: bool = False) -> tf.Tensor:
        h = tf.nn.relu(tf.matmul(x, w1) + b1)
        if training:
            h = tf.nn.dropout(h, rate=0.2)
        return tf.matmul(h, w2) + b2

    def loss_fn(x: tf.Tensor, y: tf.Tensor, training: bool = False) -> tf.Tensor:
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=net(x, training))
        return tf.reduce_mean(ce)

    lr, weight_decay, epochs, batch_size = 0.2, 1e-4, 60, 32
    n = x_train.shape[0]
    for epoch in range(epochs):
        for idx in minibatches(n, batch_size):
            x, y = tf.gather(x_train, idx), tf.gather(y_train, idx)
            with tf.GradientTape() as tape:
                penalty = tf.nn.l2_loss(w1) + tf.nn.l2_loss(w2)
                loss = loss_fn(x, y, training=True) + weight_decay * penalty
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
