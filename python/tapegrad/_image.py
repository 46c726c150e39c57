"""The implementation behind ``tapegrad.image`` (see its docstring)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _core, errors
from ._core import Tensor, Variable
from .dtypes import DType, as_dtype, float32
from .types import DTypeLike, TensorLike


class ResizeMethod:
    """The names of the ``method`` argument of ``resize`` (TF's ``ResizeMethod``).

    >>> import tapegrad as tf
    >>> tf.image.ResizeMethod.BILINEAR
    'bilinear'
    """

    BILINEAR = "bilinear"
    NEAREST_NEIGHBOR = "nearest"


def _images(op: str, images: TensorLike) -> tuple[Tensor, bool]:
    """``images`` as a 4-D tensor, and whether it was a single 3-D image."""
    x = images if isinstance(images, (Tensor, Variable)) else _core.convert_to_tensor(images)
    if x.ndim not in (3, 4):
        raise ValueError("'images' must have either 3 or 4 dimensions.")
    single = x.ndim == 3
    return (_core.expand_dims(x, 0) if single else _core.identity(x)), single


def _unbatch(x: Tensor, single: bool) -> Tensor:
    return _core.squeeze(x, [0]) if single else x


def _bilinear_taps(
    in_size: int, out_size: int
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """(lower index, upper index, weight of upper) per output position, with
    half-pixel centres: output pixel ``i`` samples input coordinate
    ``(i + 0.5) * in/out - 0.5``; float32 arithmetic, as TF's kernel."""
    scale = np.float32(in_size) / np.float32(out_size)
    centres = (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5)
    floor = np.floor(centres)
    lower = np.clip(floor, 0, in_size - 1).astype(np.int64)
    upper = np.clip(np.ceil(centres), 0, in_size - 1).astype(np.int64)
    return lower, upper, (centres - floor).astype(np.float32)


def _nearest_taps(in_size: int, out_size: int) -> np.ndarray[Any, Any]:
    """The input index of each output position: the pixel whose half-open
    cell ``[j, j + 1)`` contains the output's centre ``(i + 0.5) * in/out``."""
    scale = np.float32(in_size) / np.float32(out_size)
    centres = (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale
    indices: np.ndarray[Any, Any] = np.minimum(np.floor(centres), in_size - 1).astype(np.int64)
    return indices


def _lerp_axis(x: Tensor, axis: int, in_size: int, out_size: int) -> Tensor:
    lower, upper, weight = _bilinear_taps(in_size, out_size)
    low = _core.gather(x, _core.constant(lower), axis=axis)
    high = _core.gather(x, _core.constant(upper), axis=axis)
    shape = [1, 1, 1, 1]
    shape[axis] = out_size
    w = _core.constant(weight.reshape(shape))
    return low + (high - low) * w


def _target_size(size: Sequence[int] | TensorLike) -> tuple[int, int]:
    dims = np.asarray(size).reshape(-1)
    if dims.shape != (2,):
        raise ValueError(
            f"'size' must be a 1-D Tensor of 2 elements: new_height, new_width; got {dims.tolist()}"
        )
    height, width = int(dims[0]), int(dims[1])
    if height <= 0 or width <= 0:
        raise errors.InvalidArgumentError(
            f"resize: output dimensions must be positive, got {[height, width]}"
        )
    return height, width


def resize(
    images: TensorLike,
    size: Sequence[int] | TensorLike,
    method: str = ResizeMethod.BILINEAR,
    preserve_aspect_ratio: bool = False,
    antialias: bool = False,
    name: str | None = None,
) -> Tensor:
    """Resize images to ``size = (height, width)`` (``tf.image.resize``).

    ``"bilinear"`` (the default) interpolates between the two nearest input
    pixels per axis and returns float32, as TF does for every input dtype;
    ``"nearest"`` picks one input pixel and keeps the dtype. Both use TF 2's
    half-pixel centres. ``preserve_aspect_ratio=True`` shrinks the target to
    the largest size of the input's proportions that fits (rounded).

    >>> import tapegrad as tf
    >>> image = tf.reshape(tf.range(4.0), [2, 2, 1])
    >>> print(tf.image.resize(image, [4, 4])[..., 0])
    tapegrad.Tensor(
    [[0.   0.25 0.75 1.  ]
     [0.5  0.75 1.25 1.5 ]
     [1.5  1.75 2.25 2.5 ]
     [2.   2.25 2.75 3.  ]], shape=(4, 4), dtype=float32)
    """
    x, single = _images("resize", images)
    height, width = _target_size(size)
    in_height, in_width = x.shape[1], x.shape[2]
    if preserve_aspect_ratio:
        factor = min(
            np.float32(height) / np.float32(in_height), np.float32(width) / np.float32(in_width)
        )
        height = int(np.round(np.float32(in_height) * factor))
        width = int(np.round(np.float32(in_width) * factor))
    if antialias:
        raise errors.UnimplementedError("resize: antialias=True is not implemented in tapegrad")
    if method == ResizeMethod.BILINEAR:
        if not x.dtype.is_floating or x.dtype != float32:
            x = _core.cast(x, float32)
        # width first, then height: TF's kernel order, so the roundings match
        out = _lerp_axis(_lerp_axis(x, 2, in_width, width), 1, in_height, height)
    elif method == ResizeMethod.NEAREST_NEIGHBOR:
        rows = _core.constant(_nearest_taps(in_height, height))
        columns = _core.constant(_nearest_taps(in_width, width))
        out = _core.gather(_core.gather(x, rows, axis=1), columns, axis=2)
    else:
        raise errors.UnimplementedError(
            f"resize: method {method!r} is not implemented in tapegrad; use 'bilinear' or 'nearest'"
        )
    return _unbatch(out, single)


def resize_with_pad(
    image: TensorLike,
    target_height: int,
    target_width: int,
    method: str = ResizeMethod.BILINEAR,
    antialias: bool = False,
) -> Tensor:
    """Resize keeping the aspect ratio so the image fits in
    ``(target_height, target_width)`` (sizes rounded down), then pad with
    zeros around it: ``floor((target - exact size) / 2)`` rows on top and
    columns on the left, as TF, the rest at the bottom/right.

    >>> import tapegrad as tf
    >>> padded = tf.image.resize_with_pad(tf.ones([2, 4, 1]), 4, 4)
    >>> print(padded[..., 0])
    tapegrad.Tensor(
    [[0. 0. 0. 0.]
     [1. 1. 1. 1.]
     [1. 1. 1. 1.]
     [0. 0. 0. 0.]], shape=(4, 4), dtype=float32)
    """
    x, single = _images("resize_with_pad", image)
    if target_height <= 0 or target_width <= 0:
        raise ValueError(
            f"resize_with_pad: target size must be positive, got {[target_height, target_width]}"
        )
    in_height, in_width = x.shape[1], x.shape[2]
    ratio = max(
        np.float32(in_width) / np.float32(target_width),
        np.float32(in_height) / np.float32(target_height),
    )
    exact_height = np.float32(in_height) / ratio
    exact_width = np.float32(in_width) / ratio
    height, width = int(np.floor(exact_height)), int(np.floor(exact_width))
    resized = resize(x, [height, width], method=method, antialias=antialias)
    # as TF, the margins come from the unrounded size: (4 - 2.4) / 2 puts 0 rows on top
    top = int(np.floor(max(np.float32(0), (np.float32(target_height) - exact_height) / 2)))
    left = int(np.floor(max(np.float32(0), (np.float32(target_width) - exact_width) / 2)))
    paddings = [
        [0, 0],
        [top, target_height - height - top],
        [left, target_width - width - left],
        [0, 0],
    ]
    return _unbatch(_core.pad(resized, paddings), single)


def flip_left_right(image: TensorLike) -> Tensor:
    """Mirror images horizontally (reverse the width axis).

    >>> import tapegrad as tf
    >>> print(tf.image.flip_left_right(tf.reshape(tf.range(3), [1, 3, 1]))[..., 0])
    tapegrad.Tensor([[2 1 0]], shape=(1, 3), dtype=int32)
    """
    x, single = _images("flip_left_right", image)
    return _unbatch(_core.reverse(x, [2]), single)


def flip_up_down(image: TensorLike) -> Tensor:
    """Mirror images vertically (reverse the height axis).

    >>> import tapegrad as tf
    >>> print(tf.image.flip_up_down(tf.reshape(tf.range(3), [3, 1, 1]))[..., 0, 0])
    tapegrad.Tensor([2 1 0], shape=(3,), dtype=int32)
    """
    x, single = _images("flip_up_down", image)
    return _unbatch(_core.reverse(x, [1]), single)


def adjust_contrast(images: TensorLike, contrast_factor: TensorLike) -> Tensor:
    """``(x - mean) * contrast_factor + mean``, with the mean of each channel
    of each image taken over its pixels. Integer images are computed in
    float32 and cast back.

    >>> import tapegrad as tf
    >>> print(tf.image.adjust_contrast(tf.constant([[[1.0], [3.0]]]), 2.0)[..., 0])
    tapegrad.Tensor([[0. 4.]], shape=(1, 2), dtype=float32)
    """
    x = images if isinstance(images, (Tensor, Variable)) else _core.convert_to_tensor(images)
    if x.ndim < 3:
        raise ValueError(
            f"adjust_contrast: 'images' must be at least 3-D, got shape {list(x.shape)}"
        )
    dtype = x.dtype
    work = x if dtype.is_floating else _core.cast(x, float32)
    mean = _core.reduce_mean(work, axis=[-3, -2], keepdims=True)
    out = (work - mean) * _core.cast(contrast_factor, work.dtype) + mean
    return out if dtype.is_floating else _core.cast(out, dtype)


def _int_max(dtype: DType) -> int:
    return int(np.iinfo(np.dtype(dtype.name)).max)


def convert_image_dtype(
    image: TensorLike, dtype: DTypeLike, saturate: bool = False, name: str | None = None
) -> Tensor:
    """Convert pixel values between dtypes, rescaling as TF does: floats span
    ``[0, 1]`` and integers ``[0, MAX]`` of their dtype.

    float → float is a cast; int → float divides by the int's MAX; float →
    int multiplies by ``MAX + 0.5`` and truncates (``saturate=True`` clips to
    the int's range first); int → int shifts by the ratio of the ranges.

    >>> import tapegrad as tf
    >>> print(tf.image.convert_image_dtype(tf.constant([0.0, 0.5]), tf.int32))
    tapegrad.Tensor([         0 1073741824], shape=(2,), dtype=int32)
    >>> print(tf.image.convert_image_dtype(tf.constant([1, 5]), tf.int64))
    tapegrad.Tensor([ 4294967296 21474836480], shape=(2,), dtype=int64)
    """
    x = image if isinstance(image, (Tensor, Variable)) else _core.convert_to_tensor(image)
    source, target = x.dtype, as_dtype(dtype)
    if source.is_bool or target.is_bool:
        raise TypeError("convert_image_dtype: bool images are not supported")
    if source == target:
        return _core.identity(x)
    if source.is_floating and target.is_floating:
        return _core.cast(x, target)
    if source.is_integer and target.is_floating:
        return _core.cast(x, target) * _core.constant(1.0 / _int_max(source), dtype=target)
    if source.is_floating and target.is_integer:
        scaled = x * _core.constant(_int_max(target) + 0.5, dtype=source)
        if saturate:
            info = np.iinfo(np.dtype(target.name))
            kind: Any = source.as_numpy_dtype
            # the widest float range that casts inside the int's range
            high = (
                np.nextafter(kind(info.max), kind(0))
                if int(kind(info.max)) > info.max
                else kind(info.max)
            )
            scaled = _core.clip_by_value(scaled, kind(info.min), high)
        return _core.cast(scaled, target)
    # int -> int: the ranges differ by a power of two
    factor = (
        (_int_max(target) + 1) // (_int_max(source) + 1)
        if _int_max(target) > _int_max(source)
        else 0
    )
    if factor:
        return _core.cast(x, target) * _core.constant(factor, dtype=target)
    divisor = (_int_max(source) + 1) // (_int_max(target) + 1)
    return _core.cast(_core.ops["floordiv"](x, _core.constant(divisor, dtype=source)), target)

