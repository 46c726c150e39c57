"""``BatchNormalization`` and ``LayerNormalization``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ... import _core, nn
from ..._core import Tensor
from .. import initializers, regularizers
from ._base import Layer

__all__ = ["BatchNormalization", "LayerNormalization"]


def _normalize(
    x: Tensor, mean: Tensor, variance: Tensor, gamma: Any, beta: Any, eps: float
) -> Tensor:
    # TF's batch_normalization: x * inv + (beta - mean * inv), inv = gamma / sqrt(var + eps)
    inv = _core.ops["rsqrt"](variance + eps)
    if gamma is not None:
        inv = inv * gamma
    shift = -mean * inv
    if beta is not None:
        shift = shift + beta
    return x * inv + shift


class BatchNormalization(Layer):
    """Normalize with the batch statistics while training (and move
    ``moving_mean``/``moving_variance`` toward them by ``1 - momentum``),
    with the moving statistics in inference; a frozen layer
    (``trainable=False``) always runs in inference mode, as in Keras 3.

    >>> import tapegrad as tf
    >>> bn = tf.keras.layers.BatchNormalization()
    >>> y = bn(tf.constant([[0.0], [2.0]]), training=True)
    >>> print(y.numpy().round(2).ravel(), bn.moving_mean.numpy())
    [-1.  1.] [0.01]
    """

    def __init__(
        self,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        moving_mean_initializer: Any = "zeros",
        moving_variance_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        beta_constraint: Any = None,
        gamma_constraint: Any = None,
        synchronized: bool = False,
        renorm: bool = False,
        **kwargs: Any,
    ) -> None:
        if beta_constraint is not None or gamma_constraint is not None or renorm:
            raise NotImplementedError(
                "keras.layers.BatchNormalization: constraints and renorm are not supported"
            )
        super().__init__(**kwargs)
        self.axis = axis
        self.momentum, self.epsilon = float(momentum), float(epsilon)
        self.center, self.scale = center, scale
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.synchronized = synchronized

    def build(self, input_shape: Any) -> None:
        rank = len(input_shape)
        self._axis = self.axis % rank
        shape = (input_shape[self._axis],)
        self.gamma = (
            self.add_weight(
                shape=shape,
                initializer=self.gamma_initializer,
                regularizer=self.gamma_regularizer,
                name="gamma",
            )
            if self.scale
            else None
        )
        self.beta = (
            self.add_weight(
                shape=shape,
                initializer=self.beta_initializer,
                regularizer=self.beta_regularizer,
                name="beta",
            )
            if self.center
            else None
        )
        self.moving_mean = self.add_weight(
            shape=shape,
            initializer=self.moving_mean_initializer,
            trainable=False,
            name="moving_mean",
        )
        self.moving_variance = self.add_weight(
            shape=shape,
            initializer=self.moving_variance_initializer,
            trainable=False,
            name="moving_variance",
        )
        self._reduction_axes = [i for i in range(rank) if i != self._axis]
        self._broadcast = [1] * rank
        self._broadcast[self._axis] = shape[0]

    def _shaped(self, value: Any) -> Any:
        if value is None or self._axis == len(self._broadcast) - 1:
            return value
        return _core.reshape(value, self._broadcast)

    def call(self, inputs: Any, training: bool | None = None) -> Tensor:
        if training and self.trainable:
            mean, variance = nn.moments(inputs, axes=self._reduction_axes)
            keep = self.momentum
            self.moving_mean.assign(
                self.moving_mean * keep + _core.stop_gradient(mean) * (1.0 - keep)
            )
            self.moving_variance.assign(
                self.moving_variance * keep + _core.stop_gradient(variance) * (1.0 - keep)
            )
        else:
            mean, variance = self.moving_mean.read_value(), self.moving_variance.read_value()
        return _normalize(
            inputs,
            self._shaped(mean),
            self._shaped(variance),
            self._shaped(self.gamma),
            self._shaped(self.beta),
            self.epsilon,
        )

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
            "beta_constraint": None,
            "gamma_constraint": None,
            "synchronized": self.synchronized,
        }


class LayerNormalization(Layer):
    """Normalize each sample over ``axis`` (the last by default), then scale
    by ``gamma`` and shift by ``beta``.

    >>> import tapegrad as tf
    >>> ln = tf.keras.layers.LayerNormalization()
    >>> print(ln(tf.constant([[1.0, 3.0]])).numpy().round(2))
    [[-1.  1.]]
    """

    def __init__(
        self,
        axis: int | Sequence[int] = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        rms_scaling: bool = False,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        beta_constraint: Any = None,
        gamma_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        if beta_constraint is not None or gamma_constraint is not None or rms_scaling:
            raise NotImplementedError(
                "keras.layers.LayerNormalization: constraints and rms_scaling are not supported"
            )
        super().__init__(**kwargs)
        self.axis = axis
        self.epsilon = float(epsilon)
        self.center, self.scale = center, scale
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)

    def build(self, input_shape: Any) -> None:
        rank = len(input_shape)
        axes = [self.axis] if isinstance(self.axis, int) else list(self.axis)
        self._axes = sorted(a % rank for a in axes)
        shape = tuple(input_shape[a] for a in self._axes)
        self._broadcast = [input_shape[i] if i in self._axes else 1 for i in range(rank)]
        self.gamma = (
            self.add_weight(
                shape=shape,
                initializer=self.gamma_initializer,
                regularizer=self.gamma_regularizer,
                name="gamma",
            )
            if self.scale
            else None
        )
        self.beta = (
            self.add_weight(
                shape=shape,
                initializer=self.beta_initializer,
                regularizer=self.beta_regularizer,
                name="beta",
            )
            if self.center
            else None
        )

    def call(self, inputs: Any) -> Tensor:
        mean, variance = nn.moments(inputs, axes=self._axes, keepdims=True)

        def shaped(value: Any) -> Any:
            return None if value is None else _core.reshape(value, self._broadcast)

        return _normalize(
            inputs, mean, variance, shaped(self.gamma), shaped(self.beta), self.epsilon
        )

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "rms_scaling": False,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
            "beta_constraint": None,
            "gamma_constraint": None,
        }
