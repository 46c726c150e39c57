"""``tf.linalg``: matrix ops."""

from . import einsum, eye, matmul, norm, tensordot, transpose
from ._core import cholesky, det, diag, diag_part, inv, matvec, solve, trace

__all__ = [
    "cholesky",
    "det",
    "diag",
    "diag_part",
    "einsum",
    "eye",
    "inv",
    "matmul",
    "matvec",
    "norm",
    "solve",
    "tensordot",
    "trace",
    "transpose",
]
