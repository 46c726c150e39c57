"""Convolution and pooling layers (channels-last)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ... import _core, nn
from ..._core import Tensor
from .. import activations, initializers, regularizers
from ._base import Layer

__all__ = [
    "AveragePooling2D",
    "AvgPool2D",
    "Conv1D",
    "Conv2D",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling2D",
    "MaxPool2D",
    "MaxPooling2D",
]


def _tuple(value: int | Sequence[int], n: int, name: str) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * n
    out = tuple(int(v) for v in value)
    if len(out) != n:
        raise ValueError(f"`{name}` must be an int or a tuple of {n} ints, got {value!r}")
    return out


def _channels_last(layer: str, data_format: str | None) -> str:
    if data_format not in (None, "channels_last"):
        raise NotImplementedError(
            f"keras.layers.{layer}: data_format={data_format!r}; tapegrad supports channels_last"
        )
    return "channels_last"


class _Conv(Layer):
    _rank = 2

    def __init__(
        self,
        filters: int,
        kernel_size: int | Sequence[int],
        strides: int | Sequence[int] = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: int | Sequence[int] = 1,
        groups: int = 1,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        name = type(self).__name__
        if groups != 1:
            raise NotImplementedError(f"keras.layers.{name}: groups != 1 is not supported")
        if kernel_constraint is not None or bias_constraint is not None:
            raise NotImplementedError(f"keras.layers.{name}: constraints are not supported")
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        padding = padding.lower()
        allowed = ("valid", "same", "causal") if self._rank == 1 else ("valid", "same")
        if padding not in allowed:
            raise ValueError(
                f"keras.layers.{name}: padding must be one of {allowed}, got {padding!r}"
            )
        self.filters = int(filters)
        self.kernel_size = _tuple(kernel_size, self._rank, "kernel_size")
        self.strides = _tuple(strides, self._rank, "strides")
        self.dilation_rate = _tuple(dilation_rate, self._rank, "dilation_rate")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                f"keras.layers.{name}: strides > 1 with dilation_rate > 1 is not supported by TF"
            )
        self.padding = padding
        self.data_format = _channels_last(name, data_format)
        self.groups = groups
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)

    def build(self, input_shape: Any) -> None:
        channels = input_shape[-1]
        self.kernel = self.add_weight(
            shape=(*self.kernel_size, channels, self.filters),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            name="kernel",
        )
        self.bias = (
            self.add_weight(
                shape=(self.filters,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                name="bias",
            )
            if self.use_bias
            else None
        )

    def _convolve(self, inputs: Tensor) -> Tensor:
        return nn.conv2d(
            inputs,
            self.kernel,
            strides=list(self.strides),
            padding=self.padding.upper(),
            dilations=list(self.dilation_rate),
        )

    def call(self, inputs: Any) -> Tensor:
        outputs = self._convolve(inputs)
        if self.bias is not None:
            outputs = outputs + self.bias
        return self.activation(outputs)  # type: ignore[no-any-return]

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": list(self.dilation_rate),
            "groups": self.groups,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": None,
            "kernel_constraint": None,
            "bias_constraint": None,
        }


class Conv2D(_Conv):
    """2-D convolution of ``(batch, height, width, channels)`` inputs with a
    ``(kh, kw, in, filters)`` kernel (TF's cross-correlation).

    >>> import tapegrad as tf
    >>> conv = tf.keras.layers.Conv2D(4, 3, padding="same", activation="relu")
    >>> conv(tf.ones([2, 8, 8, 1])).shape
    TensorShape([2, 8, 8, 4])
    """

    _rank = 2


class Conv1D(_Conv):
    """1-D convolution of ``(batch, steps, channels)`` inputs with a
    ``(k, in, filters)`` kernel; ``padding="causal"`` pads on the left.

    >>> import tapegrad as tf
    >>> tf.keras.layers.Conv1D(2, 3, padding="causal")(tf.ones([1, 5, 3])).shape
    TensorShape([1, 5, 2])
    """

    _rank = 1

    def _convolve(self, inputs: Tensor) -> Tensor:
        padding = self.padding
        if padding == "causal":
            left = self.dilation_rate[0] * (self.kernel_size[0] - 1)
            inputs = _core.pad(inputs, [[0, 0], [left, 0], [0, 0]])
            padding = "valid"
        # a 1-D convolution is a 2-D one over a height of 1
        outputs = nn.conv2d(
            _core.expand_dims(inputs, 1),
            _core.expand_dims(self.kernel, 0),
            strides=[1, self.strides[0]],
            padding=padding.upper(),
            dilations=[1, self.dilation_rate[0]],
        )
        return _core.squeeze(outputs, axis=1)


class _Pool2D(Layer):
    _op: Any = None

    def __init__(
        self,
        pool_size: int | Sequence[int] = (2, 2),
        strides: int | Sequence[int] | None = None,
        padding: str = "valid",
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pool_size = _tuple(pool_size, 2, "pool_size")
        self.strides = self.pool_size if strides is None else _tuple(strides, 2, "strides")
        padding = padding.lower()
        if padding not in ("valid", "same"):
            raise ValueError(f"{type(self).__name__}: padding must be 'valid' or 'same'")
        self.padding = padding
        self.data_format = _channels_last(type(self).__name__, data_format)

    def call(self, inputs: Any) -> Tensor:
        return type(self)._op(  # type: ignore[no-any-return]
            inputs,
            ksize=list(self.pool_size),
            strides=list(self.strides),
            padding=self.padding.upper(),
        )

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "pool_size": list(self.pool_size),
            "padding": self.padding,
            "strides": list(self.strides),
            "data_format": self.data_format,
        }


class MaxPooling2D(_Pool2D):
    """The maximum over ``pool_size`` windows.

    >>> import tapegrad as tf
    >>> x = tf.reshape(tf.range(16.0), [1, 4, 4, 1])
    >>> print(tf.reshape(tf.keras.layers.MaxPooling2D()(x), [2, 2]))
    tapegrad.Tensor(
    [[ 5.  7.]
     [13. 15.]], shape=(2, 2), dtype=float32)
    """

    _op = staticmethod(nn.max_pool2d)


class AveragePooling2D(_Pool2D):
    """The mean over ``pool_size`` windows (``"same"`` padding averages
    the in-bounds elements only, as TF does).

    >>> import tapegrad as tf
    >>> x = tf.reshape(tf.range(16.0), [1, 4, 4, 1])
    >>> print(tf.reshape(tf.keras.layers.AveragePooling2D(2)(x), [2, 2]))
    tapegrad.Tensor(
    [[ 2.5  4.5]
     [10.5 12.5]], shape=(2, 2), dtype=float32)
    """

    _op = staticmethod(nn.avg_pool2d)

    def __init__(
        self,
        pool_size: int | Sequence[int],  # required, unlike MaxPooling2D's (Keras 3)
        strides: int | Sequence[int] | None = None,
        padding: str = "valid",
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D


class _GlobalPool(Layer):
    _axes: tuple[int, ...] = (1, 2)

    def __init__(
        self, data_format: str | None = None, keepdims: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.data_format = _channels_last(type(self).__name__, data_format)
        self.keepdims = keepdims

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class GlobalAveragePooling2D(_GlobalPool):
    """The mean over height and width.

    >>> import tapegrad as tf
    >>> tf.keras.layers.GlobalAveragePooling2D()(tf.ones([2, 4, 4, 3])).shape
    TensorShape([2, 3])
    """

    def call(self, inputs: Any) -> Tensor:
        return _core.reduce_mean(inputs, axis=[1, 2], keepdims=self.keepdims)


class GlobalMaxPooling2D(_GlobalPool):
    """The maximum over height and width.

    >>> import tapegrad as tf
    >>> tf.keras.layers.GlobalMaxPooling2D()(tf.ones([2, 4, 4, 3])).shape
    TensorShape([2, 3])
    """

    def call(self, inputs: Any) -> Tensor:
        return _core.reduce_max(inputs, axis=[1, 2], keepdims=self.keepdims)


class GlobalAveragePooling1D(_GlobalPool):
    """The mean over the steps axis.

    >>> import tapegrad as tf
    >>> tf.keras.layers.GlobalAveragePooling1D()(tf.ones([2, 5, 3])).shape
    TensorShape([2, 3])
    """

    def call(self, inputs: Any, mask: Any = None) -> Tensor:
        return _core.reduce_mean(inputs, axis=1, keepdims=self.keepdims)
