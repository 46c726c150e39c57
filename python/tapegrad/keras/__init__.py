"""``tf.keras``: Keras 3's layers, models and training loop on tapegrad's
ops and tape (also importable as ``tapegrad.keras``).

>>> import numpy as np, tapegrad as tf
>>> model = tf.keras.Sequential([
...     tf.keras.Input((4,)),
...     tf.keras.layers.Dense(8, activation="relu"),
...     tf.keras.layers.Dense(3),
... ])
>>> model.compile(optimizer="adam",
...               loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
...               metrics=["accuracy"])
>>> history = model.fit(np.random.rand(32, 4), np.random.randint(0, 3, 32), epochs=2, verbose=0)
>>> sorted(history.history)
['accuracy', 'loss']
"""

from typing import NoReturn as _NoReturn

from .. import optimizers
from . import (
    activations,
    backend,
    callbacks,
    initializers,
    layers,
    losses,
    metrics,
    models,
    regularizers,
    saving,
    utils,
)
from .layers import Input, Layer
from .models import Model, Sequential

__version__ = "3.15.1"  # the Keras version whose behaviour this follows

__all__ = [
    "Input",
    "Layer",
    "Model",
    "Sequential",
    "activations",
    "backend",
    "callbacks",
    "initializers",
    "layers",
    "losses",
    "metrics",
    "models",
    "optimizers",
    "regularizers",
    "saving",
    "utils",
]


def __getattr__(name: str) -> _NoReturn:
    from ._missing import missing

    missing("keras", name)
