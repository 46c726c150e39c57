"""``tf.experimental``: interop with other array libraries (``dlpack``)."""

from . import dlpack

__all__ = ["dlpack"]
