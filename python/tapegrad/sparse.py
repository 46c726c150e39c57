"""``tf.sparse``: SparseTensor and the ops on it (gradients flow to the values).

>>> import tapegrad as tf
>>> st = tf.sparse.from_dense(tf.constant([[0.0, 3.0], [4.0, 0.0]]))
>>> print(tf.sparse.reduce_sum(st))
tapegrad.Tensor(7.0, shape=(), dtype=float32)
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from ._sparse import (
    SparseTensor,
    add,
    from_dense,
    reduce_sum,
    reorder,
    retain,
    slice,  # noqa: A004 - TF's name
    sparse_dense_matmul,
    to_dense,
)

__all__ = [
    "SparseTensor",
    "add",
    "from_dense",
    "reduce_sum",
    "reorder",
    "retain",
    "slice",
    "sparse_dense_matmul",
    "to_dense",
]

if not _TYPE_CHECKING:
    from ._compat import missing_names as _missing_names

    __getattr__ = _missing_names("tf.sparse")
