"""``keras.utils``: ``to_categorical``, ``set_random_seed`` and ``PyDataset``.

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

__all__ = ["PyDataset", "set_random_seed", "to_categorical"]


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


class PyDataset:
    """A dataset of batches for ``fit``/``evaluate``/``predict``: subclass
    it, define ``__getitem__(index)`` (a batch ``(x, y[, sample_weight])``)
    and ``__len__`` (or ``num_batches``; ``None`` for an infinite one, which
    ends by raising ``IndexError``). ``fit`` shuffles the batch order each
    epoch unless ``shuffle=False`` and calls ``on_epoch_begin``/``on_epoch_end``.
    Batches are read in the caller's thread (``workers`` and
    ``use_multiprocessing`` are accepted and ignored).

    >>> import numpy as np, tapegrad as tf
    >>> class Pairs(tf.keras.utils.PyDataset):
    ...     def __len__(self):
    ...         return 2
    ...     def __getitem__(self, index):
    ...         return np.full((3, 1), index, "float32"), np.zeros((3, 1), "float32")
    >>> m = tf.keras.Sequential([tf.keras.Input((1,)), tf.keras.layers.Dense(1)])
    >>> m.compile("sgd", "mse")
    >>> m.fit(Pairs(), epochs=1, verbose=0).params["steps"]
    2
    """

    def __init__(self, workers: int = 1, use_multiprocessing: bool = False,
                 max_queue_size: int = 10) -> None:
        self.workers = workers
        self.use_multiprocessing = use_multiprocessing
        self.max_queue_size = max_queue_size

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(
            f"{type(self).__name__}: a PyDataset must implement `__getitem__(index)` "
            "returning a batch"
        )

    @property
    def num_batches(self) -> int | None:
        """The number of batches: ``len(self)`` (define ``__len__`` or override this)."""
        if hasattr(self, "__len__"):
            return len(self)
        raise NotImplementedError(
            f"{type(self).__name__}: a PyDataset must implement `__len__` or the "
            "`num_batches` property (None for an infinite dataset)"
        )

    def on_epoch_begin(self) -> None:
        """Called at the start of each epoch."""

    def on_epoch_end(self) -> None:
        """Called at the end of each epoch."""


def __getattr__(name: str) -> NoReturn:
    from ._missing import missing

    missing("keras.utils", name)
