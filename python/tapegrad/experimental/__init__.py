"""``tf.experimental``: interop with other array libraries (``dlpack``) and
control of tapegrad's buffer cache."""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from .._core import _release_cached_memory
from . import dlpack

__all__ = ["dlpack", "release_memory"]


def release_memory() -> int:
    """Give the cached tensor buffers back to the operating system.

    tapegrad keeps freed buffers of 256 KiB and more (up to 2 GiB in all)
    to reuse them instead of page-faulting fresh memory in on every op, and
    the buffers of the last few allreduce results (``tapegrad.distribute``)
    to receive the next ones into.
    Call this after a large computation to shrink the process; returns the
    number of bytes released.

    >>> import tapegrad as tf
    >>> y = tf.ones([1 << 20]) * 2.0   # 4 MiB buffers
    >>> del y
    >>> tf.experimental.release_memory() >= 0
    True
    """
    return _release_cached_memory()


if not _TYPE_CHECKING:
    from .._compat import missing_names as _missing_names

    __getattr__ = _missing_names("tf.experimental")
