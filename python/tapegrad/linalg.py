"""``tf.linalg``: matrix ops."""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from . import einsum, eye, matmul, norm, tensordot, transpose
from ._array_ops import global_norm
from ._core import cholesky, det, diag, diag_part, inv, matvec, solve, trace

__all__ = [
    "cholesky",
    "det",
    "diag",
    "diag_part",
    "einsum",
    "eye",
    "global_norm",
    "inv",
    "matmul",
    "matvec",
    "norm",
    "solve",
    "tensordot",
    "trace",
    "transpose",
]


if not _TYPE_CHECKING:
    from ._compat import missing_names as _missing_names

    __getattr__ = _missing_names("tf.linalg")
