"""``tf.data.experimental``: the names real TF 2 code still uses
(``AUTOTUNE``, ``cardinality`` and its constants, ``sample_from_datasets``,
``choose_from_datasets``)."""

from typing import Any as _Any

from ._dataset import AUTOTUNE, INFINITE_CARDINALITY, UNKNOWN_CARDINALITY
from ._dataset import Dataset as _Dataset

__all__ = [
    "AUTOTUNE",
    "INFINITE_CARDINALITY",
    "UNKNOWN_CARDINALITY",
    "cardinality",
    "choose_from_datasets",
    "sample_from_datasets",
]

# the older spellings of Dataset.choose_from_datasets / sample_from_datasets
choose_from_datasets = _Dataset.choose_from_datasets
sample_from_datasets = _Dataset.sample_from_datasets


def cardinality(dataset: _Dataset) -> _Any:
    """``dataset.cardinality()`` (the older spelling).

    >>> import tapegrad as tf
    >>> int(tf.data.experimental.cardinality(tf.data.Dataset.range(4)))
    4
    """
    return dataset.cardinality()
