"""``keras.losses``: loss functions (per sample) and classes (reduced, with
``sample_weight`` and Keras 3's reductions).

>>> import tapegrad as tf
>>> mse = tf.keras.losses.MeanSquaredError()
>>> print(mse(tf.constant([[0.0, 1.0]]), tf.constant([[1.0, 1.0]])))
tapegrad.Tensor(0.5, shape=(), dtype=float32)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NoReturn

from .. import _core, dtypes, nn
from .._core import Tensor
from . import backend

__all__ = [
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "Huber",
    "Loss",
    "LossFunctionWrapper",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "SparseCategoricalCrossentropy",
    "binary_crossentropy",
    "categorical_crossentropy",
    "get",
    "huber",
    "mean_absolute_error",
    "mean_squared_error",
    "sparse_categorical_crossentropy",
]

_REDUCTIONS = ("sum_over_batch_size", "sum", "none", None, "mean", "mean_with_sample_weight")


def _pair(y_true: Any, y_pred: Any) -> tuple[Tensor, Tensor]:
    y_pred = _core.convert_to_tensor(y_pred)
    y_true = _core.convert_to_tensor(y_true)
    if y_true.dtype != y_pred.dtype:
        y_true = _core.cast(y_true, y_pred.dtype)
    return y_true, y_pred


def mean_squared_error(y_true: Any, y_pred: Any) -> Tensor:
    """``mean((y_pred - y_true)², axis=-1)``, one value per sample.

    >>> import tapegrad as tf
    >>> print(tf.keras.losses.mean_squared_error([[0.0, 2.0]], [[1.0, 1.0]]))
    tapegrad.Tensor([1.], shape=(1,), dtype=float32)
    """
    y_true, y_pred = _pair(y_true, y_pred)
    return _core.reduce_mean(_core.ops["squared_difference"](y_pred, y_true), axis=-1)


def mean_absolute_error(y_true: Any, y_pred: Any) -> Tensor:
    """``mean(|y_pred - y_true|, axis=-1)``, one value per sample.

    >>> import tapegrad as tf
    >>> print(tf.keras.losses.mean_absolute_error([[0.0, 2.0]], [[1.0, 1.0]]))
    tapegrad.Tensor([1.], shape=(1,), dtype=float32)
    """
    y_true, y_pred = _pair(y_true, y_pred)
    return _core.reduce_mean(abs(y_pred - y_true), axis=-1)


def huber(y_true: Any, y_pred: Any, delta: float = 1.0) -> Tensor:
    """``½e²`` where ``|e| ≤ delta``, else ``delta·|e| − ½delta²``; mean over the last axis.

    >>> import tapegrad as tf
    >>> print(tf.keras.losses.huber([[0.0, 0.0]], [[0.5, 3.0]]))
    tapegrad.Tensor([1.3125], shape=(1,), dtype=float32)
    """
    y_true, y_pred = _pair(y_true, y_pred)
    error = abs(y_pred - y_true)
    quadratic = 0.5 * error * error
    linear = delta * error - 0.5 * delta * delta
    return _core.reduce_mean(_core.where(error <= delta, quadratic, linear), axis=-1)


def _smooth(y_true: Tensor, label_smoothing: float, num_classes: Any) -> Tensor:
    if not label_smoothing:
        return y_true
    return y_true * (1.0 - label_smoothing) + label_smoothing / num_classes  # type: ignore[no-any-return]


def categorical_crossentropy(
    y_true: Any,
    y_pred: Any,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Tensor:
    """``-sum(y_true · log p)`` along ``axis``: ``p`` is ``softmax(y_pred)``
    when ``from_logits``, else ``y_pred`` renormalized and clipped to [ε, 1−ε].

    >>> import tapegrad as tf
    >>> print(tf.keras.losses.categorical_crossentropy([[0.0, 1.0]], [[0.5, 0.5]]))
    tapegrad.Tensor([0.6931472], shape=(1,), dtype=float32)
    """
    y_true, y_pred = _pair(y_true, y_pred)
    y_true = _smooth(y_true, label_smoothing, y_pred.shape[axis])
    if from_logits:
        return -_core.reduce_sum(y_true * nn.log_softmax(y_pred, axis=axis), axis=axis)
    eps = backend.epsilon()
    probs = y_pred / _core.reduce_sum(y_pred, axis=axis, keepdims=True)
    probs = _core.clip_by_value(probs, eps, 1.0 - eps)
    return -_core.reduce_sum(y_true * _core.ops["log"](probs), axis=axis)


def sparse_categorical_crossentropy(
    y_true: Any,
    y_pred: Any,
    from_logits: bool = False,
    ignore_class: int | None = None,
    axis: int = -1,
) -> Tensor:
    """``-log p[label]`` with integer labels (a trailing axis of 1 is
    squeezed); ``p`` as in ``categorical_crossentropy``.

    >>> import tapegrad as tf
    >>> print(tf.keras.losses.sparse_categorical_crossentropy([1], [[0.5, 0.5]]))
    tapegrad.Tensor([0.6931472], shape=(1,), dtype=float32)
    """
    if ignore_class is not None:
        raise NotImplementedError("keras.losses.sparse_categorical_crossentropy: ignore_class")
    if axis != -1:
        raise NotImplementedError("keras.losses.sparse_categorical_crossentropy: axis != -1")
    y_pred = _core.convert_to_tensor(y_pred)
    labels = _core.convert_to_tensor(y_true)
    if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
        labels = _core.squeeze(labels, axis=-1)
    if labels.dtype not in (dtypes.int32, dtypes.int64):
        labels = _core.cast(labels, dtypes.int64)
    if from_logits:
        logits = y_pred
    else:
        eps = backend.epsilon()
        probs = y_pred / _core.reduce_sum(y_pred, axis=-1, keepdims=True)
        logits = _core.ops["log"](_core.clip_by_value(probs, eps, 1.0 - eps))
    return nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)


def binary_crossentropy(
    y_true: Any,
    y_pred: Any,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Tensor:
    """``-(y log p + (1 − y) log(1 − p))`` averaged over ``axis``; ``p`` is
    ``sigmoid(y_pred)`` when ``from_logits``, else ``y_pred`` clipped to [ε, 1−ε].

    >>> import tapegrad as tf
    >>> print(tf.keras.losses.binary_crossentropy([[1.0]], [[0.5]]))
    tapegrad.Tensor([0.6931472], shape=(1,), dtype=float32)
    """
    y_true, y_pred = _pair(y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        per_element = nn.sigmoid_cross_entropy_with_logits(labels=y_true, logits=y_pred)
    else:
        eps = backend.epsilon()
        p = _core.clip_by_value(y_pred, eps, 1.0 - eps)
        log = _core.ops["log"]
        per_element = -(y_true * log(p) + (1.0 - y_true) * log(1.0 - p))
    return _core.reduce_mean(per_element, axis=axis)


def reduce_weighted(values: Tensor, sample_weight: Any, reduction: str | None) -> Tensor:
    """Keras 3's reductions of per-sample losses: ``sum_over_batch_size``
    divides the weighted sum by the number of values, ``sum`` does not
    divide, ``mean_with_sample_weight`` divides by the sum of the weights."""
    weights = None
    if sample_weight is not None:
        weights = _core.convert_to_tensor(sample_weight)
        if weights.dtype != values.dtype:
            weights = _core.cast(weights, values.dtype)
        while weights.ndim > values.ndim and weights.shape[-1] == 1:
            weights = _core.squeeze(weights, axis=-1)
        while weights.ndim < values.ndim:
            weights = _core.expand_dims(weights, -1)
        values = values * weights
    if reduction in ("none", None):
        return values
    total = _core.reduce_sum(values)
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and weights is not None:
        return total / _core.reduce_sum(_core.broadcast_to(weights, values.shape))
    count = max(1, math.prod(values.shape))
    return total / _core.cast(count, values.dtype)


class Loss:
    """Base class of the losses: ``loss(y_true, y_pred, sample_weight=None)``
    applies ``call`` (per sample), the weights, then the reduction.

    >>> import tapegrad as tf
    >>> class Abs(tf.keras.losses.Loss):
    ...     def call(self, y_true, y_pred):
    ...         return tf.reduce_mean(tf.abs(y_pred - y_true), axis=-1)
    >>> print(Abs()([[1.0]], [[3.0]]))
    tapegrad.Tensor(2.0, shape=(), dtype=float32)
    """

    def __init__(
        self,
        name: str | None = None,
        reduction: str | None = "sum_over_batch_size",
        dtype: Any = None,
    ) -> None:
        if reduction not in _REDUCTIONS:
            raise ValueError(
                f"{type(self).__name__}: invalid reduction {reduction!r}; "
                f"expected one of {_REDUCTIONS}"
            )
        self.name = name or backend.snake_case(type(self).__name__)
        self.reduction = "sum_over_batch_size" if reduction == "mean" else reduction
        # Keras computes losses in this dtype (floatx by default): float
        # inputs are cast to it
        self.dtype = backend.standardize_dtype(dtype)

    def call(self, y_true: Any, y_pred: Any) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not define call()")

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Tensor:
        y_true, y_pred = self._convert(y_true), self._convert(y_pred)
        values = self.call(y_true, y_pred)
        return reduce_weighted(values, sample_weight, self.reduction)

    def _convert(self, value: Any) -> Tensor:
        tensor = _core.convert_to_tensor(value)
        if tensor.dtype in (dtypes.float32, dtypes.float64) and tensor.dtype.name != self.dtype:
            tensor = _core.cast(tensor, self.dtype)
        return tensor

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments.

        >>> import tapegrad as tf
        >>> tf.keras.losses.MeanSquaredError().get_config()
        {'name': 'mean_squared_error', 'reduction': 'sum_over_batch_size'}
        """
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Loss:
        """The loss ``get_config`` describes.

        >>> import tapegrad as tf
        >>> tf.keras.losses.Huber.from_config({"delta": 2.0}).delta
        2.0
        """
        return cls(**config)


class LossFunctionWrapper(Loss):
    """A ``Loss`` around a per-sample function and its keyword arguments.

    >>> import tapegrad as tf
    >>> loss = tf.keras.losses.LossFunctionWrapper(tf.keras.losses.mean_absolute_error)
    >>> print(loss([[0.0]], [[2.0]]))
    tapegrad.Tensor(2.0, shape=(), dtype=float32)
    """

    def __init__(
        self,
        fn: Callable[..., Tensor],
        name: str | None = None,
        reduction: str | None = "sum_over_batch_size",
        dtype: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name or fn.__name__, reduction=reduction, dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true: Any, y_pred: Any) -> Tensor:
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), **self._fn_kwargs}


class MeanSquaredError(LossFunctionWrapper):
    """Mean of squared errors.

    >>> import tapegrad as tf
    >>> print(tf.keras.losses.MeanSquaredError()([[0.0]], [[2.0]]))
    tapegrad.Tensor(4.0, shape=(), dtype=float32)
    """

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str = "mean_squared_error",
        dtype: Any = None,
    ) -> None:
        super().__init__(mean_squared_error, name=name, reduction=reduction, dtype=dtype)


class MeanAbsoluteError(LossFunctionWrapper):
    """Mean of absolute errors.

    >>> import tapegrad as tf
    >>> print(tf.keras.losses.MeanAbsoluteError()([[0.0]], [[2.0]]))
    tapegrad.Tensor(2.0, shape=(), dtype=float32)
    """

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str = "mean_absolute_error",
        dtype: Any = None,
    ) -> None:
        super().__init__(mean_absolute_error, name=name, reduction=reduction, dtype=dtype)


class Huber(LossFunctionWrapper):
    """Huber loss with threshold ``delta``.

    >>> import tapegrad as tf
    >>> print(tf.keras.losses.Huber()([[0.0]], [[3.0]]))
    tapegrad.Tensor(2.5, shape=(), dtype=float32)
    """

    def __init__(
        self,
        delta: float = 1.0,
        reduction: str | None = "sum_over_batch_size",
        name: str = "huber_loss",
        dtype: Any = None,
    ) -> None:
        super().__init__(huber, name=name, reduction=reduction, dtype=dtype, delta=delta)
        self.delta = delta


class CategoricalCrossentropy(LossFunctionWrapper):
    """Cross-entropy with one-hot (or soft) labels.

    >>> import tapegrad as tf
    >>> loss = tf.keras.losses.CategoricalCrossentropy(from_logits=True)
    >>> print(loss([[0.0, 1.0]], [[0.0, 0.0]]))
    tapegrad.Tensor(0.6931472, shape=(), dtype=float32)
    """

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "categorical_crossentropy",
        dtype: Any = None,
    ) -> None:
        super().__init__(
            categorical_crossentropy,
            name=name,
            reduction=reduction,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )
        self.from_logits = from_logits


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    """Cross-entropy with integer labels.

    >>> import tapegrad as tf
    >>> loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    >>> print(loss([1], [[0.0, 0.0]]))
    tapegrad.Tensor(0.6931472, shape=(), dtype=float32)
    """

    def __init__(
        self,
        from_logits: bool = False,
        ignore_class: int | None = None,
        reduction: str | None = "sum_over_batch_size",
        name: str = "sparse_categorical_crossentropy",
        dtype: Any = None,
    ) -> None:
        super().__init__(
            sparse_categorical_crossentropy,
            name=name,
            reduction=reduction,
            dtype=dtype,
            from_logits=from_logits,
            ignore_class=ignore_class,
        )
        self.from_logits = from_logits


class BinaryCrossentropy(LossFunctionWrapper):
    """Binary cross-entropy.

    >>> import tapegrad as tf
    >>> print(tf.keras.losses.BinaryCrossentropy(from_logits=True)([[1.0]], [[0.0]]))
    tapegrad.Tensor(0.6931472, shape=(), dtype=float32)
    """

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "binary_crossentropy",
        dtype: Any = None,
    ) -> None:
        super().__init__(
            binary_crossentropy,
            name=name,
            reduction=reduction,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )
        self.from_logits = from_logits


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error

_BY_NAME: dict[str, Callable[..., Tensor]] = {
    "mean_squared_error": mean_squared_error,
    "mse": mean_squared_error,
    "mean_absolute_error": mean_absolute_error,
    "mae": mean_absolute_error,
    "huber": huber,
    "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
    "binary_crossentropy": binary_crossentropy,
}
_CLASSES: dict[str, type[Loss]] = {
    cls.__name__: cls
    for cls in (
        MeanSquaredError,
        MeanAbsoluteError,
        Huber,
        CategoricalCrossentropy,
        SparseCategoricalCrossentropy,
        BinaryCrossentropy,
    )
}


def get(identifier: Any) -> Any:
    """A loss from a name (``"mse"``), a config, a ``Loss`` or a function.

    >>> import tapegrad as tf
    >>> tf.keras.losses.get("mse").__name__
    'mean_squared_error'
    """
    if identifier is None or isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        if identifier in _BY_NAME:
            return _BY_NAME[identifier]
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
        raise NotImplementedError(f"keras.losses: unknown loss {identifier!r}")
    if isinstance(identifier, dict):
        cls = _CLASSES.get(identifier.get("class_name", ""))
        if cls is None:
            raise NotImplementedError(
                f"keras.losses: unknown loss {identifier.get('class_name')!r}"
            )
        return cls.from_config(identifier.get("config", {}))
    if callable(identifier):
        return identifier
    raise ValueError(f"keras.losses: cannot interpret {identifier!r} as a loss")


def __getattr__(name: str) -> NoReturn:
    from ._missing import missing

    missing("keras.losses", name)
