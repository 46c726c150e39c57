"""``tf.test``: gradient checking (``compute_gradient``)."""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from ._testing import (
    compute_gradient,
    gpu_device_name,
    is_built_with_cuda,
    is_gpu_available,
)

__all__ = ["compute_gradient", "gpu_device_name", "is_built_with_cuda", "is_gpu_available"]

if not _TYPE_CHECKING:
    from ._compat import missing_names as _missing_names

    __getattr__ = _missing_names("tf.test")
