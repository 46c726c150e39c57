"""``keras.utils``: ``to_categorical`` and ``set_random_seed``.

>>> import tapegrad as tf
>>> tf.keras.utils.to_categorical([0, 2], num_classes=3)
array([[1., 0., 0.],
       [0., 0., 1.]])
"""

from __future__ import annotations

import random
from typing import Any, NoReturn

import numpy as np

from .. import random as tf_random
from . import initializers

__all__ = ["set_random_seed", "to_categorical"]


def to_categorical(x: Any, num_classes: int | None = None) -> np.ndarray[Any, Any]:
    """One-hot rows (float64, like Keras) of integer labels; a trailing axis
    of 1 is dropped; ``num_classes`` defaults to ``max(x) + 1``.

    >>> import tapegrad as tf
    >>> tf.keras.utils.to_categorical([1]).tolist()
    [[0.0, 1.0]]
    """
    labels = np.asarray(x.numpy() if hasattr(x, "numpy") else x, dtype="int64")
    shape = labels.shape
    if shape and shape[-1] == 1 and len(shape) > 1:
        shape = shape[:-1]
    labels = labels.reshape(-1)
    if num_classes is None:
        num_classes = int(labels.max()) + 1
    out = np.zeros((labels.shape[0], num_classes))
    out[np.arange(labels.shape[0]), labels] = 1.0
    return out.reshape((*shape, num_classes))


def set_random_seed(seed: int) -> None:
    """Seed Python's ``random``, numpy, ``tf.random`` and the stream the
    initializers, ``Dropout`` and ``fit``'s shuffling draw from.

    >>> import tapegrad as tf
    >>> tf.keras.utils.set_random_seed(1); a = tf.keras.initializers.GlorotUniform()((2,))
    >>> tf.keras.utils.set_random_seed(1); b = tf.keras.initializers.GlorotUniform()((2,))
    >>> bool((a == b).numpy().all())
    True
    """
    if not isinstance(seed, int):
        raise ValueError(f"Expected `seed` argument to be an integer. Received: seed={seed}")
    random.seed(seed)
    np.random.seed(seed)
    tf_random.set_seed(seed)
    initializers.reset_global_generator(seed)


def __getattr__(name: str) -> NoReturn:
    from ._missing import missing

    missing("keras.utils", name)
