"""``tf.linalg``: matrix ops."""

from . import matmul, norm, transpose

__all__ = ["matmul", "norm", "transpose"]
