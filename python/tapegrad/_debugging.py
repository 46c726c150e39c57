"""The implementation behind ``tapegrad.debugging`` (see its docstring)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, cast

import numpy as np

from . import _core, errors
from ._core import Tensor, Variable
from .dtypes import as_dtype
from .types import DTypeLike, TensorLike


def _tensor(value: TensorLike, like: TensorLike | None = None) -> Tensor:
    if isinstance(value, (Tensor, Variable)):
        return _core.identity(value)
    hint = like.dtype if isinstance(like, (Tensor, Variable)) else None
    return _core.convert_to_tensor(value, dtype_hint=hint)


def _compare(
    x: TensorLike,
    y: TensorLike,
    holds: Any,
    symbol: str,
    message: str | None,
    summarize: int | None,
) -> None:
    """TF's report for an elementwise comparison that fails somewhere."""
    xt = _tensor(x, y)
    yt = _tensor(y, xt)
    ok = np.asarray(holds(xt, yt))
    if ok.all():
        return
    xa, ya = np.asarray(xt), np.asarray(yt)
    limit = 3 if summarize is None else summarize
    lines = [*([message] if message else []), f"Condition x {symbol} y did not hold."]
    if xa.shape == ya.shape:  # TF lists the failing indices only for equal shapes
        shown = np.argwhere(~np.broadcast_to(ok, xa.shape))[:limit]
        lines += [
            f"Indices of first {len(shown)} different values:",
            str(shown),
            "Corresponding x values:",
            str(xa[tuple(shown.T)]),
            "Corresponding y values:",
            str(ya[tuple(shown.T)]),
        ]
    for label, values in (("x", xa), ("y", ya)):
        head = values.reshape(-1)[:limit]
        lines += [f"First {head.size} elements of {label}:", str(head)]
    raise errors.InvalidArgumentError("\n".join(lines))


def assert_equal(
    x: TensorLike,
    y: TensorLike,
    message: str | None = None,
    summarize: int | None = None,
    name: str | None = None,
) -> None:
    """Raise ``InvalidArgumentError`` unless ``x == y`` everywhere (broadcasting);
    the message lists the first differing indices and values.

    >>> import tapegrad as tf
    >>> try:
    ...     tf.debugging.assert_equal(tf.constant([1, 2]), tf.constant([1, 3]))
    ... except tf.errors.InvalidArgumentError as e:
    ...     print(str(e).splitlines()[0])
    Condition x == y did not hold.
    """
    _compare(x, y, _core.ops["equal"], "==", message, summarize)


def assert_less(
    x: TensorLike,
    y: TensorLike,
    message: str | None = None,
    summarize: int | None = None,
    name: str | None = None,
) -> None:
    """Raise ``InvalidArgumentError`` unless ``x < y`` everywhere.

    >>> import tapegrad as tf
    >>> tf.debugging.assert_less(tf.constant([1, 2]), 3)
    """
    _compare(x, y, _core.ops["less"], "<", message, summarize)


def assert_greater(
    x: TensorLike,
    y: TensorLike,
    message: str | None = None,
    summarize: int | None = None,
    name: str | None = None,
) -> None:
    """Raise ``InvalidArgumentError`` unless ``x > y`` everywhere.

    >>> import tapegrad as tf
    >>> tf.debugging.assert_greater(tf.constant([4, 5]), 3)
    """
    _compare(x, y, _core.ops["greater"], ">", message, summarize)


def assert_near(
    x: TensorLike,
    y: TensorLike,
    rtol: TensorLike | None = None,
    atol: TensorLike | None = None,
    message: str | None = None,
    summarize: int | None = None,
    name: str | None = None,
) -> None:
    """Raise ``InvalidArgumentError`` unless ``|x - y| <= atol + rtol * |y|``
    everywhere. Both tolerances default to ten machine epsilons of the dtype
    (``1.19e-06`` for float32, ``2.2e-15`` for float64), as in TF.

    >>> import tapegrad as tf
    >>> tf.debugging.assert_near(tf.constant([1.0, 2.0]), [1.0, 2.0000001])
    >>> try:
    ...     tf.debugging.assert_near(tf.constant(1.0), 1.5)
    ... except tf.errors.InvalidArgumentError as e:
    ...     print(str(e).splitlines()[0])
    x and y not equal to tolerance rtol = 1.1920929e-06, atol = 1.1920929e-06
    """
    xt = _tensor(x, y)
    yt = _tensor(y, xt)
    if not xt.dtype.is_floating:
        raise TypeError(f"assert_near expects float tensors, got dtype {xt.dtype.name}")
    eps = np.finfo(np.dtype(xt.dtype.name)).eps
    kind: Any = xt.dtype.as_numpy_dtype
    r = kind(10 * eps if rtol is None else np.asarray(rtol))
    a = kind(10 * eps if atol is None else np.asarray(atol))
    xs, ys = np.asarray(xt), np.asarray(yt)
    if bool(np.all(np.abs(xs - ys) <= a + r * np.abs(ys))):
        return
    limit = xs.size if summarize is None else summarize
    lines = [
        *([message] if message else []),
        f"x and y not equal to tolerance rtol = {str(r)}, atol = {str(a)}",
        f"x (shape={tuple(xs.shape)} dtype={xt.dtype.name}) = ",
        ", ".join(str(v) for v in xs.reshape(-1)[:limit].tolist()),
        f"y (shape={tuple(ys.shape)} dtype={yt.dtype.name}) = ",
        ", ".join(str(v) for v in ys.reshape(-1)[:limit].tolist()),
    ]
    raise errors.InvalidArgumentError("\n".join(lines))


def _shape_of(x: TensorLike) -> tuple[int, ...]:
    return tuple(x.shape) if isinstance(x, (Tensor, Variable)) else np.shape(np.asarray(x))


def assert_rank(
    x: TensorLike, rank: int, message: str | None = None, name: str | None = None
) -> None:
    """Raise ``ValueError`` unless ``x`` has rank ``rank``.

    >>> import tapegrad as tf
    >>> try:
    ...     tf.debugging.assert_rank(tf.zeros([2, 3]), 3)
    ... except ValueError as e:
    ...     print(e)
    Tensor  must have rank 3.  Received rank 2, shape (2, 3)
    """
    shape = _shape_of(x)
    expected = int(rank)
    # "Tensor  must": TF names the tensor there, and an eager tensor's name is empty
    if len(shape) != expected:
        prefix = f"{message}.  " if message else ""
        raise ValueError(
            f"{prefix}Tensor  must have rank {expected}.  Received rank {len(shape)}, shape {shape}"
        )


def _describe(x: TensorLike) -> str:
    dtype = x.dtype.name if isinstance(x, (Tensor, Variable)) else np.asarray(x).dtype.name
    return f"Tensor shape={_shape_of(x)} dtype={dtype}"


def assert_shapes(
    shapes: Iterable[tuple[TensorLike, Sequence[Any]]],
    data: object = None,
    summarize: int | None = None,
    message: str | None = None,
    name: str | None = None,
) -> None:
    """Check tensors' shapes against specs in which a name (``"N"``) must mean
    the same size everywhere, an int that size, ``None`` any size, and a
    leading ``...`` any number of leading dimensions (``ValueError`` if not).

    >>> import tapegrad as tf
    >>> tf.debugging.assert_shapes([(tf.zeros([2, 3]), ("N", "D")), (tf.zeros([2]), ("N",))])
    >>> try:
    ...     tf.debugging.assert_shapes([(tf.zeros([2, 3]), ("N", "D")), (tf.zeros([3]), ("N",))])
    ... except ValueError as e:
    ...     print(str(e)[:59])
    Specified by tensor shape=(2, 3) dtype=float32 dimension 0.
    """
    prefix = f"{message}.  " if message else ""
    pairs = list(shapes.items()) if isinstance(shapes, dict) else list(shapes)
    bound: dict[Any, tuple[int, str]] = {}
    for x, spec in pairs:
        shape = _shape_of(x)
        dims = list(spec) if isinstance(spec, (list, tuple)) else [spec]
        leading_any = bool(dims) and dims[0] is Ellipsis
        if leading_any:
            dims = dims[1:]
        if leading_any and len(shape) < len(dims) or not leading_any and len(shape) != len(dims):
            wanted = f"at least {len(dims)}" if leading_any else f"rank {len(dims)}"
            raise ValueError(
                f"{prefix}Tensor  must have {wanted}.  Received rank {len(shape)}, shape {shape}"
            )
        tail = shape[len(shape) - len(dims) :]
        for offset, (want, got) in enumerate(zip(dims, tail, strict=True)):
            axis = len(shape) - len(dims) + offset
            if want is None:
                continue
            if isinstance(want, str):
                if want not in bound:
                    bound[want] = (got, f"Specified by tensor {_describe(x)[7:]} dimension {axis}.")
                    continue
                size, origin = bound[want]
            else:
                size, origin = int(cast(Any, want)), "Specified explicitly."
            if got != size:
                raise ValueError(
                    f"{prefix}{origin}  {_describe(x)} dimension {axis} must have size "
                    f"{size}.  Received size {got}, shape {shape}"
                )


def check_numerics(tensor: TensorLike, message: str, name: str | None = None) -> Tensor:
    """``tensor`` itself if it holds no NaN or infinity, else
    ``InvalidArgumentError`` with ``message``. Float tensors only.
    The identity for gradients.

    >>> import math, tapegrad as tf
    >>> try:
    ...     tf.debugging.check_numerics(tf.constant([1.0, math.nan]), "after the loss")
    ... except tf.errors.InvalidArgumentError as e:
    ...     print(e)
    after the loss : Tensor had NaN values
    """
    x = _tensor(tensor)
    if not x.dtype.is_floating:
        raise errors.InvalidArgumentError(
            f"check_numerics: expects a float tensor, got dtype {x.dtype.name}"
        )
    values = np.asarray(x)
    if np.isnan(values).any():
        raise errors.InvalidArgumentError(f"{message} : Tensor had NaN values")
    if np.isinf(values).any():
        raise errors.InvalidArgumentError(f"{message} : Tensor had Inf values")
    return x


def assert_all_finite(t: TensorLike, msg: str, name: str | None = None) -> Tensor:
    """``check_numerics`` under its other TF name.

    >>> import tapegrad as tf
    >>> print(tf.debugging.assert_all_finite(tf.constant([1.0]), "finite"))
    tapegrad.Tensor([1.], shape=(1,), dtype=float32)
    """
    return check_numerics(t, msg)


def assert_type(
    tensor: TensorLike, tf_type: DTypeLike, message: str | None = None, name: str | None = None
) -> None:
    """Raise ``TypeError`` unless ``tensor`` has dtype ``tf_type``.

    >>> import tapegrad as tf
    >>> try:
    ...     tf.debugging.assert_type(tf.constant([1, 2]), tf.float32)
    ... except TypeError as e:
    ...     print(e)
    tensor must be of type tf.float32; got tf.int32
    """
    expected = as_dtype(tf_type)
    actual = _tensor(tensor).dtype
    if actual != expected:
        prefix = f"{message}, " if message else ""
        raise TypeError(f"{prefix}tensor must be of type tf.{expected.name}; got tf.{actual.name}")



def enable_check_numerics(stack_height_limit: int = 30, path_length_limit: int = 50) -> None:
    """Check every op's float output for NaN/Inf from now on
    (``tf.debugging.enable_check_numerics``): the first op that produces one
    raises ``InvalidArgumentError`` naming it, with TF's report. The limits
    (of TF's stack trace printing) are accepted and ignored.

    >>> import tapegrad as tf
    >>> tf.debugging.enable_check_numerics()
    >>> try:
    ...     tf.math.log(tf.constant([0.0, 1.0]))
    ... except tf.errors.InvalidArgumentError as e:
    ...     print("Detected Infinity or NaN" in str(e), '"Log"' in str(e))
    True True
    >>> tf.debugging.disable_check_numerics()
    """
    _core._set_check_numerics(True)


def disable_check_numerics() -> None:
    """Stop checking op outputs for NaN/Inf (``tf.debugging.disable_check_numerics``).

    >>> import tapegrad as tf
    >>> tf.debugging.disable_check_numerics()
    >>> print(tf.math.log(tf.constant([0.0])))
    tapegrad.Tensor([-inf], shape=(1,), dtype=float32)
    """
    _core._set_check_numerics(False)
