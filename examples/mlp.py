"""A two-layer perceptron from scratch (Dive into Deep Learning, §4.2–4.6)
on the digits shipped in ``examples/data``: ReLU hidden layer, dropout,
weight decay, softmax cross-entropy, minibatch SGD with ``GradientTape`` and
``Variable.assign_sub``. At the end it prints the tape of one step
(``GradientTape.summary()``): the ops, and the memory the backward pass needs.

    python examples/mlp.py [--plot PATH | --no-plot]
"""

from __future__ import annotations

import math

import tapegrad as tf
from _digits import accuracy, load, minibatches
from _training import Progress, finish, parse_args


def main() -> None:
    args = parse_args(__file__, "A 64-64-10 ReLU MLP on 8x8 digits.")
    tf.random.set_seed(0)
    x_train, y_train, x_test, y_test = load()
    hidden = 64
    w1 = tf.Variable(tf.random.normal((64, hidden), stddev=0.1), name="w1")
    b1 = tf.Variable(tf.zeros(hidden), name="b1")
    w2 = tf.Variable(tf.random.normal((hidden, 10), stddev=0.1), name="w2")
    b2 = tf.Variable(tf.zeros(10), name="b2")
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

    def train_step(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.GradientTape]:
        with tf.GradientTape() as tape:
            penalty = tf.nn.l2_loss(w1) + tf.nn.l2_loss(w2)
            loss = loss_fn(x, y, training=True) + weight_decay * penalty
        return loss, tape

    total = epochs * math.ceil(n / batch_size)
    with Progress(total=total, every=100, desc="mlp") as progress:
        for epoch in range(epochs):
            for idx in minibatches(n, batch_size):
                loss, tape = train_step(tf.gather(x_train, idx), tf.gather(y_train, idx))
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
    finish(progress, args, "MLP")

    # What one training step records (a throwaway step: its gradient is not
    # applied), and how much memory its backward pass holds.
    _, tape = train_step(x_train[:batch_size], y_train[:batch_size])
    print(tape.summary())


if __name__ == "__main__":
    main()
