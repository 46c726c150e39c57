"""``tf.data.experimental``: the names real TF 2 code still uses
(``AUTOTUNE``, ``cardinality`` and its constants, ``sample_from_datasets``,
``choose_from_datasets``, ``save`` and ``load``)."""

from typing import Any as _Any

from ._dataset import AUTOTUNE, INFINITE_CARDINALITY, UNKNOWN_CARDINALITY
from ._dataset import Dataset as _Dataset

__all__ = [
    "AUTOTUNE",
    "INFINITE_CARDINALITY",
    "UNKNOWN_CARDINALITY",
    "cardinality",
    "choose_from_datasets",
    "load",
    "sample_from_datasets",
    "save",
]

# the older spellings of Dataset.choose_from_datasets / sample_from_datasets
choose_from_datasets = _Dataset.choose_from_datasets
sample_from_datasets = _Dataset.sample_from_datasets
load = _Dataset.load


def save(dataset: _Dataset, path: str, compression: str | None = None,
         shard_func: _Any = None, checkpoint_args: _Any = None) -> None:
    """``dataset.save(path, ...)`` (the older spelling).

    >>> import os, tempfile, tapegrad as tf
    >>> path = os.path.join(tempfile.mkdtemp(), "saved")
    >>> tf.data.experimental.save(tf.data.Dataset.range(3), path)
    >>> [int(x) for x in tf.data.experimental.load(path)]
    [0, 1, 2]
    """
    dataset.save(path, compression, shard_func, checkpoint_args)


def cardinality(dataset: _Dataset) -> _Any:
    """``dataset.cardinality()`` (the older spelling).

    >>> import tapegrad as tf
    >>> int(tf.data.experimental.cardinality(tf.data.Dataset.range(4)))
    4
    """
    return dataset.cardinality()
