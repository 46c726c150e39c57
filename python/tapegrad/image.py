"""``tf.image``: resizing, flipping, contrast and dtype conversion of images.

Images are ``[height, width, channels]`` or batches ``[batch, height, width,
channels]``. Everything is composed of differentiable tapegrad ops
(``gather``, arithmetic, ``reverse``, ``pad``), so gradients flow to the
pixels wherever TF's do.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from ._image import (
    ResizeMethod,
    adjust_contrast,
    convert_image_dtype,
    flip_left_right,
    flip_up_down,
    resize,
    resize_with_pad,
)

__all__ = [
    "ResizeMethod",
    "adjust_contrast",
    "convert_image_dtype",
    "flip_left_right",
    "flip_up_down",
    "resize",
    "resize_with_pad",
]

if not _TYPE_CHECKING:
    from ._compat import missing_names as _missing_names

    __getattr__ = _missing_names("tf.image")
