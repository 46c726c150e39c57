"""Optimizers with Keras 3's interface and update rules (``keras.optimizers``).

The update of each variable runs in Rust as one fused pass over its buffer
that updates the variable and its slots (momentum, m, v, …) in place; it is
not recorded on any tape. Slots are created on a variable's first update::

    import tapegrad as tf

    w = tf.Variable([1.0, -2.0])
    opt = tf.optimizers.Adam(learning_rate=0.1)
    for _ in range(100):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(w * w)
        grads = tape.gradient(loss, [w])
        opt.apply_gradients(zip(grads, [w]))
    int(opt.iterations)   # 100
"""

from . import schedules
from ._optimizers import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop

__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "schedules"]
