"""A small CNN trained with Keras's ``fit`` on the digits shipped in
``examples/data``: Conv2D → MaxPooling2D → Conv2D → Flatten → Dense, Adam,
sparse categorical cross-entropy, a validation split, early stopping, and
Keras's progress display. The same code runs on TensorFlow with
``import tensorflow as tf``.

    python examples/cnn_fit.py [--epochs N] [--verbose 0|1|2]
"""

from __future__ import annotations

import argparse

import numpy as np
import tapegrad as tf
from _digits import load


def build_model() -> tf.keras.Model:
    return tf.keras.Sequential(
        [
            tf.keras.Input((8, 8, 1)),
            tf.keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
            tf.keras.layers.MaxPooling2D(),
            tf.keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            tf.keras.layers.Flatten(),
            tf.keras.layers.Dense(10),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--verbose", type=int, default=2)
    args = parser.parse_args()

    tf.keras.utils.set_random_seed(0)
    x_train, y_train, x_test, y_test = (np.asarray(t) for t in load())
    x_train, x_test = x_train.reshape(-1, 8, 8, 1), x_test.reshape(-1, 8, 8, 1)

    model = build_model()
    model.compile(
        optimizer=tf.keras.optimizers.Adam(0.005),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.summary()
    stop = tf.keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=5, restore_best_weights=True
    )
    history = model.fit(
        x_train,
        y_train,
        batch_size=32,
        epochs=args.epochs,
        validation_split=0.1,
        callbacks=[stop],
        verbose=args.verbose,
    )
    test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"epochs run: {len(history.history['loss'])}")
    print(f"test loss: {test_loss:.4f}, test accuracy: {test_accuracy:.3f}")


if __name__ == "__main__":
    main()
