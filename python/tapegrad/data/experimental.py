"""``tf.data.experimental``: the names real TF 2 code still uses
(``AUTOTUNE``, ``cardinality`` and its constants)."""

from typing import Any

from .dataset import AUTOTUNE, INFINITE_CARDINALITY, UNKNOWN_CARDINALITY, Dataset

__all__ = ["AUTOTUNE", "INFINITE_CARDINALITY", "UNKNOWN_CARDINALITY", "cardinality"]


def cardinality(dataset: Dataset) -> Any:
    """``dataset.cardinality()`` (the older spelling).

    >>> import tapegrad as tf
    >>> int(tf.data.experimental.cardinality(tf.data.Dataset.range(4)))
    4
    """
    return dataset.cardinality()
