"""Core layers: Dense, activations, shape layers, Dropout, Embedding,
Lambda and the merging layers."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ... import _core, _indexed_slices, dtypes
from ..._core import Tensor
from .. import activations, initializers, regularizers
from ..initializers import generator
from ._base import Layer

__all__ = [
    "Activation",
    "Add",
    "Average",
    "Concatenate",
    "Dense",
    "Dropout",
    "Embedding",
    "Flatten",
    "Lambda",
    "LeakyReLU",
    "Maximum",
    "Minimum",
    "Multiply",
    "ReLU",
    "Reshape",
    "Softmax",
    "Subtract",
]


def _refuse(layer: str, **options: Any) -> None:
    for key, value in options.items():
        if value not in (None, False, 0):
            raise NotImplementedError(f"keras.layers.{layer}: `{key}` is not supported by tapegrad")


class Dense(Layer):
    """``activation(inputs @ kernel + bias)`` on the last axis.

    >>> import tapegrad as tf
    >>> d = tf.keras.layers.Dense(2, kernel_initializer="ones", bias_initializer="ones")
    >>> print(d(tf.constant([[1.0, 2.0]])))
    tapegrad.Tensor([[4. 4.]], shape=(1, 2), dtype=float32)
    """

    def __init__(
        self,
        units: int,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        lora_rank: int | None = None,
        lora_alpha: float | None = None,
        quantization_config: Any = None,
        **kwargs: Any,
    ) -> None:
        _refuse(
            "Dense",
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            lora_rank=lora_rank,
            quantization_config=quantization_config,
        )
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if not isinstance(units, int) or units <= 0:
            raise ValueError(f"Dense: units must be a positive integer, got {units!r}")
        self.units = units
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)

    def build(self, input_shape: Any) -> None:
        input_dim = input_shape[-1]
        self.kernel = self.add_weight(
            shape=(input_dim, self.units),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            name="kernel",
        )
        self.bias = (
            self.add_weight(
                shape=(self.units,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                name="bias",
            )
            if self.use_bias
            else None
        )

    def call(self, inputs: Any) -> Tensor:
        if inputs.ndim == 2:
            outputs = _core.matmul(inputs, self.kernel)
        else:
            outputs = _core.tensordot(inputs, self.kernel, [[inputs.ndim - 1], [0]])
        if self.bias is not None:
            outputs = outputs + self.bias
        return self.activation(outputs)  # type: ignore[no-any-return]

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": None,
            "bias_constraint": None,
        }


class Activation(Layer):
    """Applies an activation function.

    >>> import tapegrad as tf
    >>> print(tf.keras.layers.Activation("relu")(tf.constant([-1.0, 1.0])))
    tapegrad.Tensor([0. 1.], shape=(2,), dtype=float32)
    """

    def __init__(self, activation: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, inputs: Any) -> Tensor:
        return self.activation(inputs)  # type: ignore[no-any-return]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


class ReLU(Layer):
    """``relu`` with Keras's ``max_value``, ``negative_slope`` and ``threshold``.

    >>> import tapegrad as tf
    >>> print(tf.keras.layers.ReLU(max_value=1.0)(tf.constant([-1.0, 3.0])))
    tapegrad.Tensor([0. 1.], shape=(2,), dtype=float32)
    """

    def __init__(
        self,
        max_value: float | None = None,
        negative_slope: float = 0.0,
        threshold: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.max_value, self.negative_slope, self.threshold = max_value, negative_slope, threshold

    def call(self, inputs: Any) -> Tensor:
        return activations.relu(inputs, self.negative_slope, self.max_value, self.threshold)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "max_value": self.max_value,
            "negative_slope": self.negative_slope,
            "threshold": self.threshold,
        }


class LeakyReLU(Layer):
    """``x`` if positive, else ``negative_slope * x``.

    >>> import tapegrad as tf
    >>> print(tf.keras.layers.LeakyReLU(negative_slope=0.5)(tf.constant([-2.0])))
    tapegrad.Tensor([-1.], shape=(1,), dtype=float32)
    """

    def __init__(self, negative_slope: float = 0.3, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.negative_slope = negative_slope

    def call(self, inputs: Any) -> Tensor:
        return activations.leaky_relu(inputs, self.negative_slope)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "negative_slope": self.negative_slope}


class Softmax(Layer):
    """Softmax along ``axis``.

    >>> import tapegrad as tf
    >>> print(tf.keras.layers.Softmax()(tf.constant([[1.0, 1.0]])))
    tapegrad.Tensor([[0.5 0.5]], shape=(1, 2), dtype=float32)
    """

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, inputs: Any, mask: Any = None) -> Tensor:
        return activations.softmax(inputs, axis=self.axis)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


class Flatten(Layer):
    """Flatten all but the batch axis.

    >>> import tapegrad as tf
    >>> tf.keras.layers.Flatten()(tf.ones([2, 3, 4])).shape
    TensorShape([2, 12])
    """

    def __init__(self, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if data_format == "channels_first":
            raise NotImplementedError("keras.layers.Flatten: data_format='channels_first'")
        self.data_format = "channels_last"

    def call(self, inputs: Any) -> Tensor:
        return _core.reshape(inputs, (inputs.shape[0], math.prod(inputs.shape[1:])))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format}


class Reshape(Layer):
    """Reshape each sample to ``target_shape`` (one ``-1`` allowed).

    >>> import tapegrad as tf
    >>> tf.keras.layers.Reshape((3, 2))(tf.ones([4, 6])).shape
    TensorShape([4, 3, 2])
    """

    def __init__(self, target_shape: Sequence[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)

    def call(self, inputs: Any) -> Tensor:
        return _core.reshape(inputs, (inputs.shape[0], *self.target_shape))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "target_shape": list(self.target_shape)}


class Dropout(Layer):
    """Zero each element with probability ``rate`` and scale the rest by
    ``1 / (1 - rate)`` when ``training``; the identity otherwise.

    >>> import tapegrad as tf
    >>> drop = tf.keras.layers.Dropout(0.5, seed=0)
    >>> print(drop(tf.ones([4])))
    tapegrad.Tensor([1. 1. 1. 1.], shape=(4,), dtype=float32)
    >>> sorted(set(drop(tf.ones([100]), training=True).numpy().tolist()))
    [0.0, 2.0]
    """

    def __init__(
        self,
        rate: float,
        noise_shape: Sequence[int | None] | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"Dropout: rate must be in [0, 1], got {rate}")
        self.rate, self.seed = float(rate), seed
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self._rng = np.random.default_rng(seed) if seed is not None else None

    def call(self, inputs: Any, training: bool | None = None) -> Tensor:
        if not training or self.rate == 0.0:
            return inputs  # type: ignore[no-any-return]
        shape = tuple(inputs.shape)
        if self.noise_shape is not None:
            shape = tuple(
                s if n is None else n for s, n in zip(shape, self.noise_shape, strict=True)
            )
        rng = self._rng if self._rng is not None else generator(None)
        keep = rng.random(shape) >= self.rate
        scale = 0.0 if self.rate == 1.0 else 1.0 / (1.0 - self.rate)
        mask = _core.constant((keep * scale).astype(inputs.dtype.name))
        return inputs * mask  # type: ignore[no-any-return]

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "rate": self.rate,
            "seed": self.seed,
            "noise_shape": None if self.noise_shape is None else list(self.noise_shape),
        }


class Embedding(Layer):
    """Integer indices → rows of an ``(input_dim, output_dim)`` matrix.

    The lookup is a recorded ``tf.gather``, so the gradient w.r.t.
    ``embeddings`` is TF's ``IndexedSlices`` of the looked-up rows (dense
    when the table has another use on the way, e.g. a regularizer).

    >>> import tapegrad as tf
    >>> emb = tf.keras.layers.Embedding(10, 3)
    >>> emb(tf.constant([[1, 2], [3, 4]])).shape
    TensorShape([2, 2, 3])
    >>> with tf.GradientTape() as tape:
    ...     loss = tf.reduce_sum(emb(tf.constant([4, 1, 4])))
    >>> tape.gradient(loss, emb.embeddings).indices.numpy()
    array([4, 1, 4], dtype=int32)
    """

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        embeddings_initializer: Any = "uniform",
        embeddings_regularizer: Any = None,
        embeddings_constraint: Any = None,
        mask_zero: bool = False,
        weights: Any = None,
        lora_rank: int | None = None,
        **kwargs: Any,
    ) -> None:
        _refuse(
            "Embedding",
            embeddings_constraint=embeddings_constraint,
            mask_zero=mask_zero,
            lora_rank=lora_rank,
        )
        kwargs.pop("input_length", None)
        super().__init__(**kwargs)
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)
        if embeddings_initializer == "uniform":
            embeddings_initializer = initializers.RandomUniform()
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self._initial_weights = weights

    def build(self, input_shape: Any = None) -> None:
        self.embeddings = self.add_weight(
            shape=(self.input_dim, self.output_dim),
            initializer=self.embeddings_initializer,
            regularizer=self.embeddings_regularizer,
            name="embeddings",
        )
        if self._initial_weights is not None:
            self.embeddings.assign(np.asarray(self._initial_weights[0], dtype=self._dtype))

    def _convert_input(self, value: Any) -> Any:
        return value if isinstance(value, Tensor) else _core.convert_to_tensor(np.asarray(value))

    def call(self, inputs: Any) -> Tensor:
        if inputs.dtype not in (dtypes.int32, dtypes.int64):
            inputs = _core.cast(inputs, dtypes.int32)
        return _indexed_slices.gather(self.embeddings, inputs)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
            "embeddings_regularizer": regularizers.serialize(self.embeddings_regularizer),
            "embeddings_constraint": None,
            "mask_zero": False,
        }


class Lambda(Layer):
    """Wrap a function of tensors as a layer (``arguments`` are passed as
    keyword arguments).

    >>> import tapegrad as tf
    >>> print(tf.keras.layers.Lambda(lambda x: x * 2)(tf.constant([1.0])))
    tapegrad.Tensor([2.], shape=(1,), dtype=float32)
    """

    def __init__(
        self,
        function: Callable[..., Any],
        output_shape: Any = None,
        mask: Any = None,
        arguments: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        _refuse("Lambda", mask=mask)
        super().__init__(**kwargs)
        self.function = function
        self.arguments = dict(arguments or {})

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        return self.function(inputs, **self.arguments)

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError(
            "keras.layers.Lambda: tapegrad cannot serialize Python functions; "
            "rebuild the model in code and use save_weights/load_weights"
        )


class _Merge(Layer):
    def _merge(self, inputs: list[Tensor]) -> Tensor:
        raise NotImplementedError

    def call(self, inputs: Any) -> Tensor:
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 1:
            raise ValueError(f"{type(self).__name__}: expects a list of input tensors")
        return self._merge(list(inputs))


class Add(_Merge):
    """The elementwise sum of a list of tensors.

    >>> import tapegrad as tf
    >>> print(tf.keras.layers.Add()([tf.constant([1.0]), tf.constant([2.0])]))
    tapegrad.Tensor([3.], shape=(1,), dtype=float32)
    """

    def _merge(self, inputs: list[Tensor]) -> Tensor:
        out = inputs[0]
        for x in inputs[1:]:
            out = out + x
        return out


class Subtract(_Merge):
    """``inputs[0] - inputs[1]``.

    >>> import tapegrad as tf
    >>> print(tf.keras.layers.Subtract()([tf.constant([1.0]), tf.constant([2.0])]))
    tapegrad.Tensor([-1.], shape=(1,), dtype=float32)
    """

    def _merge(self, inputs: list[Tensor]) -> Tensor:
        if len(inputs) != 2:
            raise ValueError("Subtract: expects exactly 2 inputs")
        return inputs[0] - inputs[1]


class Multiply(_Merge):
    """The elementwise product of a list of tensors.

    >>> import tapegrad as tf
    >>> print(tf.keras.layers.Multiply()([tf.constant([3.0]), tf.constant([2.0])]))
    tapegrad.Tensor([6.], shape=(1,), dtype=float32)
    """

    def _merge(self, inputs: list[Tensor]) -> Tensor:
        out = inputs[0]
        for x in inputs[1:]:
            out = out * x
        return out


class Average(_Merge):
    """The elementwise mean of a list of tensors.

    >>> import tapegrad as tf
    >>> print(tf.keras.layers.Average()([tf.constant([3.0]), tf.constant([1.0])]))
    tapegrad.Tensor([2.], shape=(1,), dtype=float32)
    """

    def _merge(self, inputs: list[Tensor]) -> Tensor:
        return Add._merge(self, inputs) / float(len(inputs))  # type: ignore[arg-type]


class Maximum(_Merge):
    """The elementwise maximum of a list of tensors.

    >>> import tapegrad as tf
    >>> print(tf.keras.layers.Maximum()([tf.constant([3.0]), tf.constant([1.0])]))
    tapegrad.Tensor([3.], shape=(1,), dtype=float32)
    """

    def _merge(self, inputs: list[Tensor]) -> Tensor:
        out = inputs[0]
        for x in inputs[1:]:
            out = _core.ops["maximum"](out, x)
        return out


class Minimum(_Merge):
    """The elementwise minimum of a list of tensors.

    >>> import tapegrad as tf
    >>> print(tf.keras.layers.Minimum()([tf.constant([3.0]), tf.constant([1.0])]))
    tapegrad.Tensor([1.], shape=(1,), dtype=float32)
    """

    def _merge(self, inputs: list[Tensor]) -> Tensor:
        out = inputs[0]
        for x in inputs[1:]:
            out = _core.ops["minimum"](out, x)
        return out


class Concatenate(_Merge):
    """Concatenate a list of tensors along ``axis``.

    >>> import tapegrad as tf
    >>> tf.keras.layers.Concatenate()([tf.ones([2, 1]), tf.ones([2, 3])]).shape
    TensorShape([2, 4])
    """

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = axis

    def _merge(self, inputs: list[Tensor]) -> Tensor:
        return _core.concat(inputs, axis=self.axis)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}
