"""``tf.linalg``: matrix ops."""

from . import einsum, eye, matmul, norm, tensordot, transpose
from ._core import diag, diag_part, matvec, trace

__all__ = [
    "diag",
    "diag_part",
    "einsum",
    "eye",
    "matmul",
    "matvec",
    "norm",
    "tensordot",
    "trace",
    "transpose",
]
