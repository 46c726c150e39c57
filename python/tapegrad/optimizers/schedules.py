"""Learning-rate schedules (``keras.optimizers.schedules``).

A schedule is called with the optimizer's step counter (the number of
updates applied so far, a Python ``int``) and returns the learning rate for
that step::

    import tapegrad as tf

    lr = tf.optimizers.schedules.ExponentialDecay(0.1, decay_steps=100, decay_rate=0.5)
    opt = tf.optimizers.SGD(learning_rate=lr)
    lr(200)   # 0.025
"""

from ._schedules import (
    ExponentialDecay,
    InverseTimeDecay,
    LearningRateSchedule,
    PiecewiseConstantDecay,
)

__all__ = [
    "ExponentialDecay",
    "InverseTimeDecay",
    "LearningRateSchedule",
    "PiecewiseConstantDecay",
]
