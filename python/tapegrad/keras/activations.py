"""``keras.activations``: elementwise activations by name or function.

>>> import tapegrad as tf
>>> print(tf.keras.activations.get("relu")(tf.constant([-1.0, 2.0])))
tapegrad.Tensor([0. 2.], shape=(2,), dtype=float32)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

from .. import _core, nn
from .._core import Tensor

__all__ = [
    "elu",
    "exponential",
    "gelu",
    "get",
    "hard_sigmoid",
    "leaky_relu",
    "linear",
    "log_softmax",
    "relu",
    "relu6",
    "selu",
    "serialize",
    "sigmoid",
    "silu",
    "softmax",
    "softplus",
    "softsign",
    "swish",
    "tanh",
]


def relu(
    x: Any, negative_slope: float = 0.0, max_value: float | None = None, threshold: float = 0.0
) -> Tensor:
    """``max(x, 0)``; with Keras's ``negative_slope``, ``max_value`` and ``threshold``.

    >>> import tapegrad as tf
    >>> print(tf.keras.activations.relu(tf.constant([-2.0, 1.0, 9.0]), max_value=6.0))
    tapegrad.Tensor([0. 1. 6.], shape=(3,), dtype=float32)
    """
    x = _core.convert_to_tensor(x)
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return nn.relu(x)
    if threshold != 0.0:
        out = _core.where(x > threshold, x, negative_slope * (x - threshold))
    elif negative_slope != 0.0:
        out = nn.leaky_relu(x, alpha=negative_slope)
    else:
        out = nn.relu(x)
    if max_value is not None:
        out = _core.ops["minimum"](out, max_value)
    return out


def _op(name: str, doc: str) -> Callable[[Any], Tensor]:
    fn = _core.ops[name]

    def activation(x: Any) -> Tensor:
        return fn(x)

    activation.__name__ = activation.__qualname__ = name
    activation.__doc__ = doc
    return activation


sigmoid = _op(
    "sigmoid",
    """``1 / (1 + exp(-x))``.

    >>> import tapegrad as tf
    >>> print(tf.keras.activations.sigmoid(tf.constant([0.0])))
    tapegrad.Tensor([0.5], shape=(1,), dtype=float32)
    """,
)
tanh = _op(
    "tanh",
    """Hyperbolic tangent.

    >>> import tapegrad as tf
    >>> print(tf.keras.activations.tanh(tf.constant([0.0])))
    tapegrad.Tensor([0.], shape=(1,), dtype=float32)
    """,
)
softplus = _op(
    "softplus",
    """``log(1 + exp(x))``.

    >>> import tapegrad as tf
    >>> print(tf.keras.activations.softplus(tf.constant([0.0])))
    tapegrad.Tensor([0.6931472], shape=(1,), dtype=float32)
    """,
)
softsign = _op(
    "softsign",
    """``x / (1 + |x|)``.

    >>> import tapegrad as tf
    >>> print(tf.keras.activations.softsign(tf.constant([1.0])))
    tapegrad.Tensor([0.5], shape=(1,), dtype=float32)
    """,
)
selu = _op(
    "selu",
    """Scaled exponential linear unit.

    >>> import tapegrad as tf
    >>> print(tf.keras.activations.selu(tf.constant([0.0])))
    tapegrad.Tensor([0.], shape=(1,), dtype=float32)
    """,
)
relu6 = _op(
    "relu6",
    """``min(max(x, 0), 6)``.

    >>> import tapegrad as tf
    >>> print(tf.keras.activations.relu6(tf.constant([9.0])))
    tapegrad.Tensor([6.], shape=(1,), dtype=float32)
    """,
)
silu = _op(
    "silu",
    """``x * sigmoid(x)``.

    >>> import tapegrad as tf
    >>> print(tf.keras.activations.silu(tf.constant([0.0])))
    tapegrad.Tensor([0.], shape=(1,), dtype=float32)
    """,
)
swish = silu
exponential = _op(
    "exp",
    """``exp(x)``.

    >>> import tapegrad as tf
    >>> print(tf.keras.activations.exponential(tf.constant([0.0])))
    tapegrad.Tensor([1.], shape=(1,), dtype=float32)
    """,
)
exponential.__name__ = exponential.__qualname__ = "exponential"


def elu(x: Any, alpha: float = 1.0) -> Tensor:
    """``x`` if positive, else ``alpha * (exp(x) - 1)``.

    >>> import tapegrad as tf
    >>> print(tf.keras.activations.elu(tf.constant([0.0, 2.0])))
    tapegrad.Tensor([0. 2.], shape=(2,), dtype=float32)
    """
    x = _core.convert_to_tensor(x)
    if alpha == 1.0:
        return nn.elu(x)
    return _core.where(x > 0, x, alpha * nn.elu(x))


def gelu(x: Any, approximate: bool = False) -> Tensor:
    """Gaussian error linear unit (exact erf form unless ``approximate``).

    >>> import tapegrad as tf
    >>> print(tf.keras.activations.gelu(tf.constant([0.0])))
    tapegrad.Tensor([0.], shape=(1,), dtype=float32)
    """
    return nn.gelu(x, approximate=approximate)


def leaky_relu(x: Any, negative_slope: float = 0.2) -> Tensor:
    """``x`` if positive, else ``negative_slope * x``.

    >>> import tapegrad as tf
    >>> print(tf.keras.activations.leaky_relu(tf.constant([-1.0])))
    tapegrad.Tensor([-0.2], shape=(1,), dtype=float32)
    """
    return nn.leaky_relu(x, alpha=negative_slope)


def hard_sigmoid(x: Any) -> Tensor:
    """``relu6(x + 3) / 6`` (Keras 3's definition).

    >>> import tapegrad as tf
    >>> print(tf.keras.activations.hard_sigmoid(tf.constant([0.0])))
    tapegrad.Tensor([0.5], shape=(1,), dtype=float32)
    """
    return nn.relu6(_core.convert_to_tensor(x) + 3.0) / 6.0


def softmax(x: Any, axis: int = -1) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``axis``.

    >>> import tapegrad as tf
    >>> print(tf.keras.activations.softmax(tf.constant([[0.0, 0.0]])))
    tapegrad.Tensor([[0.5 0.5]], shape=(1, 2), dtype=float32)
    """
    return nn.softmax(x, axis=axis)


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    """``log(softmax(x))`` along ``axis``, computed stably.

    >>> import tapegrad as tf
    >>> print(tf.keras.activations.log_softmax(tf.constant([[0.0, 0.0]])))
    tapegrad.Tensor([[-0.6931472 -0.6931472]], shape=(1, 2), dtype=float32)
    """
    return nn.log_softmax(x, axis=axis)


def linear(x: Any) -> Any:
    """The identity (``activation=None``).

    >>> import tapegrad as tf
    >>> print(tf.keras.activations.linear(tf.constant([3.0])))
    tapegrad.Tensor([3.], shape=(1,), dtype=float32)
    """
    return x


_BY_NAME: dict[str, Callable[..., Any]] = {
    f.__name__: f
    for f in (
        relu,
        sigmoid,
        tanh,
        softplus,
        softsign,
        selu,
        relu6,
        silu,
        elu,
        gelu,
        leaky_relu,
        hard_sigmoid,
        softmax,
        log_softmax,
        linear,
        exponential,
    )
}
_BY_NAME["swish"] = silu


def get(identifier: Any) -> Callable[..., Any]:
    """An activation from its name, a function, or ``None`` (linear).

    >>> import tapegrad as tf
    >>> tf.keras.activations.get(None).__name__
    'linear'
    """
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        if identifier not in _BY_NAME:
            raise NotImplementedError(f"keras.activations: unknown activation {identifier!r}")
        return _BY_NAME[identifier]
    if isinstance(identifier, dict):
        return get(identifier.get("config", identifier.get("class_name")))
    if callable(identifier):
        return identifier  # type: ignore[no-any-return]
    raise ValueError(f"keras.activations: cannot interpret {identifier!r} as an activation")


def serialize(activation: Callable[..., Any]) -> Any:
    """The name Keras stores in configs (``"relu"``).

    >>> import tapegrad as tf
    >>> tf.keras.activations.serialize(tf.keras.activations.relu)
    'relu'
    """
    for name, fn in _BY_NAME.items():
        if fn is activation:
            return "silu" if name == "swish" else name
    raise NotImplementedError(
        f"keras.activations: cannot serialize the custom activation {activation!r}"
    )


def __getattr__(name: str) -> NoReturn:
    from ._missing import missing

    missing("keras.activations", name)
