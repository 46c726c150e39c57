"""``tf.data.experimental``: the names real TF 2 code still uses
(``AUTOTUNE``, ``cardinality`` and its constants, ``sample_from_datasets``,
``choose_from_datasets``)."""

from typing import Any

from .dataset import AUTOTUNE, INFINITE_CARDINALITY, UNKNOWN_CARDINALITY, Dataset

__all__ = [
    "AUTOTUNE",
    "INFINITE_CARDINALITY",
    "UNKNOWN_CARDINALITY",
    "cardinality",
    "choose_from_datasets",
    "sample_from_datasets",
]

# the older spellings of Dataset.choose_from_datasets / sample_from_datasets
choose_from_datasets = Dataset.choose_from_datasets
sample_from_datasets = Dataset.sample_from_datasets


def cardinality(dataset: Dataset) -> Any:
    """``dataset.cardinality()`` (the older spelling).

    >>> import tapegrad as tf
    >>> int(tf.data.experimental.cardinality(tf.data.Dataset.range(4)))
    4
    """
    return dataset.cardinality()
