"""A ``tf.keras.Sequential`` model trained with a hand-written
``GradientTape`` loop on the digits shipped in ``examples/data``: the loss
and metric objects of ``tf.keras``, an optimizer's ``apply_gradients``,
dropout on in training only, and the model's regularization losses. The
same code runs on TensorFlow with ``import tensorflow as tf``.

    python examples/sequential_custom_loop.py [--epochs N]
"""

from __future__ import annotations

import argparse

import numpy as np
import tapegrad as tf
from _digits import load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    args = parser.parse_args()

    tf.keras.utils.set_random_seed(0)
    x_train, y_train, x_test, y_test = (np.asarray(t) for t in load())
    model = tf.keras.Sequential(
        [
            tf.keras.Input((64,)),
            tf.keras.layers.Dense(
                64, activation="relu", kernel_regularizer=tf.keras.regularizers.L2(1e-4)
            ),
            tf.keras.layers.Dropout(0.2),
            tf.keras.layers.Dense(10),
        ]
    )
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    optimizer = tf.keras.optimizers.SGD(learning_rate=0.2, momentum=0.5)
    train_loss = tf.keras.metrics.Mean(name="loss")
    train_accuracy = tf.keras.metrics.SparseCategoricalAccuracy(name="accuracy")
    test_accuracy = tf.keras.metrics.SparseCategoricalAccuracy(name="test_accuracy")

    def train_step(x: np.ndarray, y: np.ndarray) -> None:
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss = loss_fn(y, logits) + sum(model.losses)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        train_loss.update_state(loss)
        train_accuracy.update_state(y, logits)

    rng = np.random.default_rng(0)
    batch_size = 32
    for epoch in range(args.epochs):
        train_loss.reset_state()
        train_accuracy.reset_state()
        order = rng.permutation(len(x_train))
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            train_step(x_train[index], y_train[index])
        if (epoch + 1) % 10 == 0:
            print(
                f"epoch {epoch + 1}: loss {float(train_loss.result()):.4f}, "
                f"accuracy {float(train_accuracy.result()):.3f}"
            )
    test_accuracy.update_state(y_test, model(x_test))
    final_loss = float(loss_fn(y_train, model(x_train)))
    print(f"final loss: {final_loss:.4f}, test accuracy: {float(test_accuracy.result()):.3f}")


if __name__ == "__main__":
    main()
