"""``keras.metrics``: stateful metrics (``update_state`` / ``result`` /
``reset_state``), accumulated in float32 variables like Keras's.

>>> import tapegrad as tf
>>> m = tf.keras.metrics.Mean()
>>> m.update_state([1.0, 2.0, 3.0])
>>> float(m.result())
2.0
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

from .. import _core, dtypes
from .._core import Tensor, Variable
from . import backend, losses

__all__ = [
    "Accuracy",
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "Mean",
    "MeanAbsoluteError",
    "MeanMetricWrapper",
    "MeanSquaredError",
    "Metric",
    "SparseCategoricalAccuracy",
    "Sum",
    "accuracy",
    "binary_accuracy",
    "categorical_accuracy",
    "get",
    "sparse_categorical_accuracy",
]


class Metric:
    """Base class: ``update_state(...)`` accumulates, ``result()`` reports,
    ``reset_state()`` starts over; ``metric(...)`` updates and returns the result.

    >>> import tapegrad as tf
    >>> s = tf.keras.metrics.Sum()
    >>> print(float(s([1.0, 2.0])), float(s([3.0])))
    3.0 6.0
    """

    def __init__(self, name: str | None = None, dtype: Any = None) -> None:
        self.name = name or backend.snake_case(type(self).__name__)
        self.dtype = backend.standardize_dtype(dtype)
        self._variables: list[Variable] = []

    def add_variable(self, name: str, initial: float = 0.0) -> Variable:
        variable = Variable(
            _core.constant(initial, dtype=self.dtype), trainable=False, name=f"{self.name}/{name}/"
        )
        self._variables.append(variable)
        return variable

    @property
    def variables(self) -> list[Variable]:
        """The accumulators.

        >>> import tapegrad as tf
        >>> [v.name for v in tf.keras.metrics.Mean().variables]
        ['mean/total:0', 'mean/count:0']
        """
        return list(self._variables)

    def update_state(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not define update_state()")

    def result(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not define result()")

    def reset_state(self) -> None:
        """Zero the accumulators.

        >>> import tapegrad as tf
        >>> m = tf.keras.metrics.Sum(); m.update_state([2.0]); m.reset_state()
        >>> float(m.result())
        0.0
        """
        for variable in self._variables:
            variable.assign(_core.zeros_like(variable))

    def __call__(self, *args: Any, **kwargs: Any) -> Tensor:
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments.

        >>> import tapegrad as tf
        >>> tf.keras.metrics.Mean(name="m").get_config()
        {'name': 'm', 'dtype': 'float32'}
        """
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Metric:
        """The metric ``get_config`` describes.

        >>> import tapegrad as tf
        >>> tf.keras.metrics.Mean.from_config({"name": "m"}).name
        'm'
        """
        return cls(**config)


def _weighted(values: Any, sample_weight: Any, dtype: str) -> tuple[Tensor, Tensor]:
    """(sum of weighted values, sum of the weights broadcast to the values)."""
    values = _core.convert_to_tensor(values)
    if values.dtype.name != dtype:
        values = _core.cast(values, dtype)
    if sample_weight is None:
        return _core.reduce_sum(values), _core.constant(
            float(values.shape.num_elements() or 0), dtype=dtype
        )
    weights = _core.cast(_core.convert_to_tensor(sample_weight), dtype)
    while weights.ndim > values.ndim and weights.shape[-1] == 1:
        weights = _core.squeeze(weights, axis=-1)
    while weights.ndim < values.ndim:
        weights = _core.expand_dims(weights, -1)
    weights = _core.broadcast_to(weights, values.shape)
    return _core.reduce_sum(values * weights), _core.reduce_sum(weights)


class Sum(Metric):
    """The (weighted) sum of every value seen.

    >>> import tapegrad as tf
    >>> s = tf.keras.metrics.Sum(); s.update_state([1.0, 2.0], sample_weight=[1.0, 0.0])
    >>> float(s.result())
    1.0
    """

    def __init__(self, name: str = "sum", dtype: Any = None) -> None:
        super().__init__(name, dtype)
        self.total = self.add_variable("total")

    def update_state(self, values: Any, sample_weight: Any = None) -> None:
        self.total.assign_add(_weighted(values, sample_weight, self.dtype)[0])

    def result(self) -> Tensor:
        return self.total.read_value()


class Mean(Metric):
    """The (weighted) mean of every value seen.

    >>> import tapegrad as tf
    >>> m = tf.keras.metrics.Mean(); m.update_state([1.0, 3.0], sample_weight=[3.0, 1.0])
    >>> float(m.result())
    1.5
    """

    def __init__(self, name: str = "mean", dtype: Any = None) -> None:
        super().__init__(name, dtype)
        self.total = self.add_variable("total")
        self.count = self.add_variable("count")

    def update_state(self, values: Any, sample_weight: Any = None) -> None:
        total, count = _weighted(values, sample_weight, self.dtype)
        self.total.assign_add(total)
        self.count.assign_add(count)

    def result(self) -> Tensor:
        # Keras's divide_no_nan: the total is 0 while the count is 0
        return self.total.read_value() / _core.ops["maximum"](self.count.read_value(), 1e-30)


class MeanMetricWrapper(Mean):
    """The mean of ``fn(y_true, y_pred)`` over every sample seen.

    >>> import tapegrad as tf
    >>> m = tf.keras.metrics.MeanMetricWrapper(tf.keras.losses.mean_absolute_error, name="mae")
    >>> float(m([[0.0]], [[2.0]]))
    2.0
    """

    def __init__(
        self, fn: Callable[..., Tensor], name: str | None = None, dtype: Any = None, **kwargs: Any
    ) -> None:
        super().__init__(name=name or fn.__name__, dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        super().update_state(self._fn(y_true, y_pred, **self._fn_kwargs), sample_weight)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), **self._fn_kwargs}


def accuracy(y_true: Any, y_pred: Any) -> Tensor:
    """1.0 where ``y_true == y_pred``, else 0.0.

    >>> import tapegrad as tf
    >>> print(tf.keras.metrics.accuracy([1, 2], [1, 3]))
    tapegrad.Tensor([1. 0.], shape=(2,), dtype=float32)
    """
    y_pred = _core.convert_to_tensor(y_pred)
    y_true = _core.cast(_core.convert_to_tensor(y_true), y_pred.dtype)
    return _core.cast(_core.ops["equal"](y_true, y_pred), backend.floatx())


def sparse_categorical_accuracy(y_true: Any, y_pred: Any) -> Tensor:
    """1.0 where the largest ``y_pred`` entry is the integer label.

    >>> import tapegrad as tf
    >>> print(tf.keras.metrics.sparse_categorical_accuracy([1, 0], [[0.1, 0.9], [0.2, 0.8]]))
    tapegrad.Tensor([1. 0.], shape=(2,), dtype=float32)
    """
    y_pred = _core.convert_to_tensor(y_pred)
    labels = _core.convert_to_tensor(y_true)
    if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
        labels = _core.squeeze(labels, axis=-1)
    predicted = _core.argmax(y_pred, axis=-1)
    return _core.cast(
        _core.ops["equal"](_core.cast(labels, dtypes.int64), predicted), backend.floatx()
    )


def categorical_accuracy(y_true: Any, y_pred: Any) -> Tensor:
    """1.0 where ``argmax(y_pred) == argmax(y_true)``.

    >>> import tapegrad as tf
    >>> print(tf.keras.metrics.categorical_accuracy([[0.0, 1.0]], [[0.3, 0.7]]))
    tapegrad.Tensor([1.], shape=(1,), dtype=float32)
    """
    y_pred = _core.convert_to_tensor(y_pred)
    y_true = _core.convert_to_tensor(y_true)
    return _core.cast(
        _core.ops["equal"](_core.argmax(y_true, axis=-1), _core.argmax(y_pred, axis=-1)),
        backend.floatx(),
    )


def binary_accuracy(y_true: Any, y_pred: Any, threshold: float = 0.5) -> Tensor:
    """Mean over the last axis of ``(y_pred > threshold) == y_true``.

    >>> import tapegrad as tf
    >>> print(tf.keras.metrics.binary_accuracy([[1.0], [0.0]], [[0.7], [0.6]]))
    tapegrad.Tensor([1. 0.], shape=(2,), dtype=float32)
    """
    y_pred = _core.convert_to_tensor(y_pred)
    y_true = _core.cast(_core.convert_to_tensor(y_true), y_pred.dtype)
    predicted = _core.cast(y_pred > threshold, y_pred.dtype)
    return _core.reduce_mean(
        _core.cast(_core.ops["equal"](y_true, predicted), backend.floatx()), axis=-1
    )


class Accuracy(MeanMetricWrapper):
    """How often ``y_pred`` equals ``y_true``.

    >>> import tapegrad as tf
    >>> float(tf.keras.metrics.Accuracy()([1, 2, 3, 4], [1, 2, 0, 0]))
    0.5
    """

    def __init__(self, name: str = "accuracy", dtype: Any = None) -> None:
        super().__init__(accuracy, name=name, dtype=dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often the arg-max of ``y_pred`` is the integer label.

    >>> import tapegrad as tf
    >>> float(tf.keras.metrics.SparseCategoricalAccuracy()([1], [[0.2, 0.8]]))
    1.0
    """

    def __init__(self, name: str = "sparse_categorical_accuracy", dtype: Any = None) -> None:
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)


class CategoricalAccuracy(MeanMetricWrapper):
    """How often the arg-max of ``y_pred`` is that of the one-hot ``y_true``.

    >>> import tapegrad as tf
    >>> float(tf.keras.metrics.CategoricalAccuracy()([[1.0, 0.0]], [[0.2, 0.8]]))
    0.0
    """

    def __init__(self, name: str = "categorical_accuracy", dtype: Any = None) -> None:
        super().__init__(categorical_accuracy, name=name, dtype=dtype)


class BinaryAccuracy(MeanMetricWrapper):
    """How often ``y_pred > threshold`` matches the binary ``y_true``.

    >>> import tapegrad as tf
    >>> float(tf.keras.metrics.BinaryAccuracy()([[1.0], [0.0]], [[0.9], [0.1]]))
    1.0
    """

    def __init__(
        self, name: str = "binary_accuracy", dtype: Any = None, threshold: float = 0.5
    ) -> None:
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=threshold)


class MeanSquaredError(MeanMetricWrapper):
    """The mean of the per-sample mean squared errors.

    >>> import tapegrad as tf
    >>> float(tf.keras.metrics.MeanSquaredError()([[0.0, 0.0]], [[1.0, 3.0]]))
    5.0
    """

    def __init__(self, name: str = "mean_squared_error", dtype: Any = None) -> None:
        super().__init__(losses.mean_squared_error, name=name, dtype=dtype)


class MeanAbsoluteError(MeanMetricWrapper):
    """The mean of the per-sample mean absolute errors.

    >>> import tapegrad as tf
    >>> float(tf.keras.metrics.MeanAbsoluteError()([[0.0, 0.0]], [[1.0, 3.0]]))
    2.0
    """

    def __init__(self, name: str = "mean_absolute_error", dtype: Any = None) -> None:
        super().__init__(losses.mean_absolute_error, name=name, dtype=dtype)


_CLASSES: dict[str, type[Metric]] = {
    cls.__name__: cls
    for cls in (
        Mean,
        Sum,
        Accuracy,
        SparseCategoricalAccuracy,
        CategoricalAccuracy,
        BinaryAccuracy,
        MeanSquaredError,
        MeanAbsoluteError,
    )
}
_FUNCTIONS: dict[str, Callable[..., Tensor]] = {
    "accuracy": accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "categorical_accuracy": categorical_accuracy,
    "binary_accuracy": binary_accuracy,
    "mse": losses.mean_squared_error,
    "mean_squared_error": losses.mean_squared_error,
    "mae": losses.mean_absolute_error,
    "mean_absolute_error": losses.mean_absolute_error,
}


def get(identifier: Any, y_true: Any = None, y_pred: Any = None) -> Metric:
    """A metric from a name, a class name, a ``Metric`` or a function.

    ``"accuracy"``/``"acc"`` picks binary, sparse or categorical accuracy
    from the shapes of ``y_true`` and ``y_pred`` when given (Keras's rule);
    the metric keeps the name it was asked for.

    >>> import tapegrad as tf
    >>> tf.keras.metrics.get("mae").name
    'mae'
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        if identifier in ("accuracy", "acc"):
            fn = accuracy
            if y_pred is not None:
                pred_shape = list(y_pred.shape)
                true_shape = list(y_true.shape) if y_true is not None else pred_shape
                if pred_shape[-1:] == [1]:
                    fn = binary_accuracy
                elif len(true_shape) < len(pred_shape) or true_shape[-1:] == [1]:
                    fn = sparse_categorical_accuracy
                else:
                    fn = categorical_accuracy
            return MeanMetricWrapper(fn, name=identifier)
        if identifier in _FUNCTIONS:
            return MeanMetricWrapper(_FUNCTIONS[identifier], name=identifier)
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
        raise NotImplementedError(f"keras.metrics: unknown metric {identifier!r}")
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return MeanMetricWrapper(identifier, name=getattr(identifier, "__name__", None))
    raise ValueError(f"keras.metrics: cannot interpret {identifier!r} as a metric")


def __getattr__(name: str) -> NoReturn:
    from ._missing import missing

    missing("keras.metrics", name)
