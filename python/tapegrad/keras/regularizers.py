"""``keras.regularizers``: weight penalties added to ``layer.losses``.

>>> import tapegrad as tf
>>> print(tf.keras.regularizers.L2(0.1)(tf.constant([1.0, 2.0])))
tapegrad.Tensor(0.5, shape=(), dtype=float32)
"""

from __future__ import annotations

from typing import Any, NoReturn

from .. import _core
from .._core import Tensor

__all__ = ["L1", "L1L2", "L2", "Regularizer", "get", "l1", "l1_l2", "l2", "serialize"]


class Regularizer:
    """Base class: ``reg(weight)`` returns a scalar penalty.

    >>> import tapegrad as tf
    >>> print(tf.keras.regularizers.L1(1.0)(tf.constant([-1.0, 2.0])))
    tapegrad.Tensor(3.0, shape=(), dtype=float32)
    """

    def __call__(self, x: Any) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not define its penalty")

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments.

        >>> import tapegrad as tf
        >>> tf.keras.regularizers.L2(0.5).get_config()
        {'l2': 0.5}
        """
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Regularizer:
        """The regularizer ``get_config`` describes.

        >>> import tapegrad as tf
        >>> tf.keras.regularizers.L2.from_config({"l2": 0.5}).l2
        0.5
        """
        return cls(**config)


class L1L2(Regularizer):
    """``l1 * sum(|x|) + l2 * sum(x²)``.

    >>> import tapegrad as tf
    >>> print(tf.keras.regularizers.L1L2(l1=1.0, l2=1.0)(tf.constant([2.0])))
    tapegrad.Tensor(6.0, shape=(), dtype=float32)
    """

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, x: Any) -> Tensor:
        x = _core.convert_to_tensor(x)
        total = _core.zeros([], dtype=x.dtype)
        if self.l1:
            total = total + self.l1 * _core.reduce_sum(abs(x))
        if self.l2:
            total = total + self.l2 * _core.reduce_sum(x * x)
        return total

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1, "l2": self.l2}


class L1(Regularizer):
    """``l1 * sum(|x|)``.

    >>> import tapegrad as tf
    >>> print(tf.keras.regularizers.L1(0.5)(tf.constant([-2.0])))
    tapegrad.Tensor(1.0, shape=(), dtype=float32)
    """

    def __init__(self, l1: float = 0.01) -> None:
        self.l1 = float(l1)

    def __call__(self, x: Any) -> Tensor:
        return self.l1 * _core.reduce_sum(abs(_core.convert_to_tensor(x)))

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1}


class L2(Regularizer):
    """``l2 * sum(x²)``.

    >>> import tapegrad as tf
    >>> print(tf.keras.regularizers.L2(0.5)(tf.constant([2.0])))
    tapegrad.Tensor(2.0, shape=(), dtype=float32)
    """

    def __init__(self, l2: float = 0.01) -> None:
        self.l2 = float(l2)

    def __call__(self, x: Any) -> Tensor:
        x = _core.convert_to_tensor(x)
        return self.l2 * _core.reduce_sum(x * x)

    def get_config(self) -> dict[str, Any]:
        return {"l2": self.l2}


l1 = L1
l2 = L2
l1_l2 = L1L2
_BY_NAME: dict[str, type[Regularizer]] = {
    "l1": L1,
    "l2": L2,
    "l1_l2": L1L2,
    "L1": L1,
    "L2": L2,
    "L1L2": L1L2,
}


def get(identifier: Any) -> Regularizer | None:
    """A regularizer from a name, a config dict, an instance or ``None``.

    >>> import tapegrad as tf
    >>> tf.keras.regularizers.get("l2").l2
    0.01
    """
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]()
    if isinstance(identifier, dict) and identifier.get("class_name") in _BY_NAME:
        return _BY_NAME[identifier["class_name"]].from_config(identifier.get("config", {}))
    if callable(identifier):
        return identifier  # type: ignore[no-any-return]
    raise NotImplementedError(f"keras.regularizers: unknown regularizer {identifier!r}")


def serialize(regularizer: Any) -> Any:
    """Keras's config dict of a regularizer.

    >>> import tapegrad as tf
    >>> tf.keras.regularizers.serialize(tf.keras.regularizers.L2(0.1))["config"]
    {'l2': 0.1}
    """
    if regularizer is None:
        return None
    if isinstance(regularizer, Regularizer):
        return {
            "module": "keras.regularizers",
            "class_name": type(regularizer).__name__,
            "config": regularizer.get_config(),
            "registered_name": None,
        }
    raise NotImplementedError(f"keras.regularizers: cannot serialize {regularizer!r}")


def __getattr__(name: str) -> NoReturn:
    from ._missing import missing

    missing("keras.regularizers", name)
