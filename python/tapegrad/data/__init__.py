"""``tf.data``: input pipelines (``Dataset``) with TF's element structures,
transformations and cardinality semantics.

>>> import tapegrad as tf
>>> ds = tf.data.Dataset.range(6).shuffle(6, seed=0).batch(4).prefetch(tf.data.AUTOTUNE)
>>> [len(b) for b in ds]
[4, 2]
"""

from . import experimental
from ._dataset import (
    AUTOTUNE,
    INFINITE_CARDINALITY,
    UNKNOWN_CARDINALITY,
    Dataset,
    Options,
    TextLineDataset,
)
from ._dataset import OwnedIterator as Iterator
from ._structure import DatasetSpec, TensorSpec

__all__ = [
    "AUTOTUNE",
    "INFINITE_CARDINALITY",
    "UNKNOWN_CARDINALITY",
    "Dataset",
    "DatasetSpec",
    "Iterator",
    "Options",
    "TensorSpec",
    "TextLineDataset",
    "experimental",
]
