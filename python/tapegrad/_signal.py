"""The implementation behind ``tapegrad.signal`` (see its docstring).

Each transform is a product with a DFT matrix built in numpy (complex128,
angles reduced mod n before the exponential, then cast to the tensor's
dtype): ``fft`` over the last axis is ``x @ F`` with
``F[j, k] = exp(-2πi·jk/n)``. The product is an ordinary complex
``tensordot``, so the gradients are its rules in TF's convention
(``fft``: ``G·Fᴴ``, i.e. ``n·ifft(G)``), the same as TF's FFT gradients, and
every order differentiates again. It costs O(n²) per transform.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _core, errors
from ._core import Tensor, Variable
from .types import TensorLike


def _tensor(x: TensorLike) -> Tensor:
    """``x`` as a tensor (a Variable reads its value, watched as usual)."""
    return _core.convert_to_tensor(x)


def _complex_input(op: str, x: TensorLike) -> Tensor:
    """``x`` as a complex tensor of rank ≥ 1, refused as TF refuses it."""
    t = _tensor(x)
    if not t.dtype.is_complex:
        raise errors.InvalidArgumentError(
            None,
            None,
            f"{op}: dtype {t.dtype.name} is not supported (allowed: complex64, complex128)",
        )
    return t


def _at_least_rank(op: str, t: Tensor, rank: int) -> None:
    if t.ndim < rank:
        raise errors.InvalidArgumentError(
            None, None, f"{op}: input must have rank of at least {rank} but got: {t.shape}"
        )


def _angles(rows: int, cols: int, n: int, sign: float) -> np.ndarray[Any, Any]:
    """exp(sign·2πi·jk/n) for j < rows, k < cols, with jk reduced mod n so
    the angle stays small, and the quarter turns exact (1, ±i, −1: no
    rounding residue where TF's FFT gives exact zeros)."""
    n = max(n, 1)
    j = np.arange(rows).reshape(-1, 1)
    k = np.arange(cols).reshape(1, -1)
    phase = (j * k) % n
    result: np.ndarray[Any, Any] = np.exp(sign * 2j * np.pi * phase / n)
    quarter = (4 * phase) % n == 0
    result[quarter] = (sign * 1j) ** ((4 * phase[quarter]) // n)
    return result


def _along(x: Tensor, axis_from_end: int, matrix: np.ndarray[Any, Any]) -> Tensor:
    """Contract axis ``-axis_from_end`` of ``x`` with the rows of ``matrix``
    (cast to ``x``'s dtype), the result's axis staying in that place."""
    m = _core.constant(matrix.astype(x.dtype.as_numpy_dtype))
    rank = x.ndim
    if axis_from_end == 1:
        return _core.tensordot(x, m, [[rank - 1], [0]])
    perm = list(range(rank))
    a = rank - axis_from_end
    perm[a], perm[-1] = perm[-1], perm[a]
    moved = _core.tensordot(_core.transpose(x, perm), m, [[rank - 1], [0]])
    return _core.transpose(moved, perm)


def _fft_axes(op: str, input: TensorLike, axes: int, inverse: bool) -> Tensor:
    x = _complex_input(op, input)
    _at_least_rank(op, x, axes)
    for axis_from_end in range(1, axes + 1):
        n = x.shape[-axis_from_end]
        matrix = _angles(n, n, n, 1.0 if inverse else -1.0)
        x = _along(x, axis_from_end, matrix / n if inverse and n else matrix)
    return x


def fft(input: TensorLike, name: str | None = None) -> Tensor:
    """The discrete Fourier transform over the last axis of a complex tensor:
    ``y[k] = Σ_j x[j]·exp(-2πi·jk/n)``.

    >>> import tapegrad as tf
    >>> print(tf.signal.fft(tf.constant([1 + 0j, 2, 0, 0])))
    tapegrad.Tensor([3.+0.j 1.-2.j -1.+0.j 1.+2.j], shape=(4,), dtype=complex128)
    """
    return _fft_axes("FFT", input, 1, inverse=False)


def ifft(input: TensorLike, name: str | None = None) -> Tensor:
    """The inverse DFT over the last axis: ``x[j] = (1/n)·Σ_k y[k]·exp(2πi·jk/n)``.

    >>> import tapegrad as tf
    >>> print(tf.signal.ifft(tf.constant([3 + 0j, 1 - 2j, -1, 1 + 2j])))
    tapegrad.Tensor([1.+0.j 2.+0.j 0.+0.j 0.+0.j], shape=(4,), dtype=complex128)
    """
    return _fft_axes("IFFT", input, 1, inverse=True)


def fft2d(input: TensorLike, name: str | None = None) -> Tensor:
    """The 2-D DFT over the last two axes of a complex tensor.

    >>> import tapegrad as tf
    >>> print(tf.signal.fft2d(tf.constant([[1 + 0j, 2], [3, 4]])))
    tapegrad.Tensor(
    [[10.+0.j -2.+0.j]
     [-4.+0.j  0.+0.j]], shape=(2, 2), dtype=complex128)
    """
    return _fft_axes("FFT2D", input, 2, inverse=False)


def ifft2d(input: TensorLike, name: str | None = None) -> Tensor:
    """The inverse 2-D DFT over the last two axes.

    >>> import tapegrad as tf
    >>> print(tf.signal.ifft2d(tf.constant([[10 + 0j, -2], [-4, 0]])))
    tapegrad.Tensor(
    [[1.+0.j 2.+0.j]
     [3.+0.j 4.+0.j]], shape=(2, 2), dtype=complex128)
    """
    return _fft_axes("IFFT2D", input, 2, inverse=True)


def fft3d(input: TensorLike, name: str | None = None) -> Tensor:
    """The 3-D DFT over the last three axes of a complex tensor.

    >>> import tapegrad as tf
    >>> print(tf.signal.fft3d(tf.ones([2, 2, 2], tf.complex64))[0, 0])
    tapegrad.Tensor([8.+0.j 0.+0.j], shape=(2,), dtype=complex64)
    """
    return _fft_axes("FFT3D", input, 3, inverse=False)


def ifft3d(input: TensorLike, name: str | None = None) -> Tensor:
    """The inverse 3-D DFT over the last three axes.

    >>> import tapegrad as tf
    >>> x = tf.constant([[[1 + 1j, 2], [0, -1j]], [[3, 0], [1j, 2 - 1j]]])
    >>> print(float(tf.reduce_max(tf.abs(tf.signal.ifft3d(tf.signal.fft3d(x)) - x))) < 1e-12)
    True
    """
    return _fft_axes("IFFT3D", input, 3, inverse=True)


def _fft_length(
    op: str, fft_length: TensorLike | Sequence[int] | None, count: int = 1
) -> list[int] | None:
    """``fft_length`` as ``count`` non-negative sizes, ``None`` when not given."""
    if fft_length is None:
        return None
    lengths = np.asarray(
        fft_length.numpy() if isinstance(fft_length, (Tensor, Variable)) else fft_length
    ).reshape(-1)
    if lengths.shape != (count,) or lengths.dtype.kind not in "iu" or (lengths < 0).any():
        raise errors.InvalidArgumentError(
            None,
            None,
            f"{op}: fft_length must be {count} non-negative integer(s), got {fft_length!r}",
        )
    return [int(v) for v in lengths]


def _fit(x: Tensor, axis_from_end: int, size: int) -> Tensor:
    """``x`` cropped or zero-padded along axis ``-axis_from_end`` to ``size``."""
    axis = x.ndim - axis_from_end
    n = x.shape[axis]
    if n > size:
        return _core.gather(x, list(range(size)), axis=axis)
    if n < size:
        padding = [[0, 0] for _ in range(x.ndim)]
        padding[axis] = [0, size - n]
        return _core.pad(x, padding)
    return x


def _real_input(op: str, input: TensorLike, rank: int) -> Tensor:
    x = _tensor(input)
    if x.dtype.name not in ("float32", "float64"):
        raise ValueError(f"{op} requires tf.float32 or tf.float64 inputs, got: {x!r}")
    _at_least_rank(op, x, rank)
    return x


def _rfft_last(x: Tensor, n: int | None) -> Tensor:
    """The rfft of a real ``x`` along its last axis, cropped/padded to ``n``."""
    if n is not None:
        x = _fit(x, 1, n)
    n = x.shape[-1]
    complex_dtype = "complex64" if x.dtype.name == "float32" else "complex128"
    return _along(_core.cast(x, complex_dtype), 1, _angles(n, n // 2 + 1, n, -1.0))


def _irfft_last(x: Tensor, n: int | None) -> Tensor:
    """The real signal of length ``n`` (default 2·(m − 1)) whose rfft along
    the last axis is ``x``."""
    if n is None:
        n = max(2 * (x.shape[-1] - 1), 0)
    bins = n // 2 + 1
    x = _fit(x, 1, bins)
    # y[t] = (1/n)·Σ_k c_k·Re(X_k·exp(2πi·kt/n)), c_k = 2 for the
    # frequencies whose mirror image is left out, 1 for 0 and Nyquist
    weights = np.full((bins, 1), 2.0)
    weights[0] = 1.0
    if n % 2 == 0 and n > 0:
        weights[-1] = 1.0
    matrix = _angles(bins, n, n, 1.0) * weights / max(n, 1)
    return _core.real(_along(x, 1, matrix))


def _dft_second_last(x: Tensor, n: int | None, inverse: bool) -> Tensor:
    """The (inverse) DFT of a complex ``x`` along axis −2, cropped/padded to ``n``."""
    if n is not None:
        x = _fit(x, 2, n)
    n = x.shape[-2]
    matrix = _angles(n, n, n, 1.0 if inverse else -1.0)
    return _along(x, 2, matrix / n if inverse and n else matrix)


def rfft(
    input: TensorLike,
    fft_length: TensorLike | Sequence[int] | None = None,
    name: str | None = None,
) -> Tensor:
    """The DFT of a real signal over its last axis: the ``n//2 + 1``
    non-negative frequencies (float32 → complex64, float64 → complex128);
    ``fft_length`` crops or zero-pads the signal to ``n`` first.

    >>> import tapegrad as tf
    >>> print(tf.signal.rfft(tf.constant([1.0, 2.0, 0.0, 0.0])))
    tapegrad.Tensor([ 3.+0.j  1.-2.j -1.+0.j], shape=(3,), dtype=complex64)
    """
    x = _real_input("RFFT", input, 1)
    lengths = _fft_length("RFFT", fft_length)
    return _rfft_last(x, None if lengths is None else lengths[0])


def irfft(
    input: TensorLike,
    fft_length: TensorLike | Sequence[int] | None = None,
    name: str | None = None,
) -> Tensor:
    """The real signal of length ``n`` whose ``rfft`` is ``input`` (complex64 →
    float32, complex128 → float64). ``n`` is ``fft_length``, or
    ``2·(m − 1)`` for ``m`` frequencies; the spectrum is cropped or
    zero-padded to ``n//2 + 1`` and read as Hermitian: the imaginary parts
    of the zero and (even ``n``) Nyquist frequencies are ignored, as TF.

    >>> import tapegrad as tf
    >>> print(tf.signal.irfft(tf.constant([3 + 0j, 1 - 2j, -1])))
    tapegrad.Tensor([1. 2. 0. 0.], shape=(4,), dtype=float64)
    """
    x = _tensor(input)
    if not x.dtype.is_complex:
        raise ValueError(f"IRFFT requires tf.complex64 or tf.complex128 inputs, got: {x!r}")
    _at_least_rank("IRFFT", x, 1)
    lengths = _fft_length("IRFFT", fft_length)
    return _irfft_last(x, None if lengths is None else lengths[0])


def rfft2d(
    input: TensorLike,
    fft_length: TensorLike | Sequence[int] | None = None,
    name: str | None = None,
) -> Tensor:
    """The 2-D DFT of a real signal over its last two axes: ``rfft`` along
    the last, then the DFT along the one before; ``fft_length`` ``[n1, n2]``
    crops or zero-pads each first.

    >>> import tapegrad as tf
    >>> print(tf.signal.rfft2d(tf.constant([[1.0, 2.0], [3.0, 4.0]])))
    tapegrad.Tensor(
    [[10.+0.j -2.+0.j]
     [-4.+0.j  0.+0.j]], shape=(2, 2), dtype=complex64)
    """
    x = _real_input("RFFT2D", input, 2)
    lengths = _fft_length("RFFT2D", fft_length, 2)
    rows, cols = (None, None) if lengths is None else lengths
    return _dft_second_last(_rfft_last(x, cols), rows, inverse=False)


def irfft2d(
    input: TensorLike,
    fft_length: TensorLike | Sequence[int] | None = None,
    name: str | None = None,
) -> Tensor:
    """The real 2-D signal whose ``rfft2d`` is ``input``: the inverse DFT
    along axis −2, then ``irfft`` along the last (``fft_length`` ``[n1, n2]``;
    by default ``n1`` rows and ``2·(m − 1)`` columns).

    >>> import tapegrad as tf
    >>> print(tf.signal.irfft2d(tf.constant([[10 + 0j, -2], [-4, 0]])))
    tapegrad.Tensor(
    [[1. 2.]
     [3. 4.]], shape=(2, 2), dtype=float64)
    """
    x = _tensor(input)
    if not x.dtype.is_complex:
        raise ValueError(f"IRFFT2D requires tf.complex64 or tf.complex128 inputs, got: {x!r}")
    _at_least_rank("IRFFT2D", x, 2)
    lengths = _fft_length("IRFFT2D", fft_length, 2)
    rows, cols = (None, None) if lengths is None else lengths
    return _irfft_last(_dft_second_last(x, rows, inverse=True), cols)
