"""``tf.signal``: discrete Fourier transforms (``fft``, ``ifft`` and their 2-D
and 3-D forms, ``rfft``/``irfft`` and ``rfft2d``/``irfft2d``) of
complex64/complex128 tensors, and of float32/float64 signals for ``rfft``.

Each transform is a product with a DFT matrix (O(n²) per transform, not a
fast Fourier transform), composed of differentiable tapegrad ops, so the
gradients are TF's (``fft``'s is ``n·ifft`` of the upstream gradient) and
differentiate again.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from ._signal import fft, fft2d, fft3d, ifft, ifft2d, ifft3d, irfft, irfft2d, rfft, rfft2d

__all__ = [
    "fft",
    "fft2d",
    "fft3d",
    "ifft",
    "ifft2d",
    "ifft3d",
    "irfft",
    "irfft2d",
    "rfft",
    "rfft2d",
]

if not _TYPE_CHECKING:
    from ._compat import missing_names as _missing_names

    __getattr__ = _missing_names("tf.signal")
