"""Keras's global state: the float type, layer-name counters and the seed
stream the initializers and dropout draw from when they have no seed."""

from __future__ import annotations

import re
from typing import Any, NoReturn

import numpy as np

from .. import dtypes as _dtypes

__all__ = ["clear_session", "floatx", "set_floatx", "epsilon", "unique_name", "snake_case"]

_state: dict[str, Any] = {"floatx": "float32", "epsilon": 1e-7}
_name_uids: dict[str, int] = {}


def floatx() -> str:
    """The default float type of new weights (``"float32"``).

    >>> import tapegrad as tf
    >>> tf.keras.backend.floatx()
    'float32'
    """
    return str(_state["floatx"])


def set_floatx(value: str) -> None:
    """Set the default float type of new weights (``"float32"`` or ``"float64"``).

    >>> import tapegrad as tf
    >>> tf.keras.backend.set_floatx("float64"); tf.keras.backend.floatx()
    'float64'
    >>> tf.keras.backend.set_floatx("float32")
    """
    if value not in ("float32", "float64"):
        raise NotImplementedError(
            f"keras.backend.set_floatx({value!r}): tapegrad has float32 and float64 only"
        )
    _state["floatx"] = value


def epsilon() -> float:
    """The fuzz factor of the losses and metrics (1e-7).

    >>> import tapegrad as tf
    >>> tf.keras.backend.epsilon()
    1e-07
    """
    return float(_state["epsilon"])


def snake_case(name: str) -> str:
    """``"MyLayer"`` → ``"my_layer"`` (Keras's automatic names).

    >>> import tapegrad as tf
    >>> tf.keras.backend.snake_case("GlobalAveragePooling2D")
    'global_average_pooling2d'
    """
    step = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", step).lower()


def unique_name(base: str) -> str:
    """``base``, then ``base_1``, ``base_2``, … (reset by ``clear_session``).

    >>> import tapegrad as tf
    >>> tf.keras.backend.clear_session()
    >>> tf.keras.backend.unique_name("dense"), tf.keras.backend.unique_name("dense")
    ('dense', 'dense_1')
    """
    count = _name_uids.get(base, 0)
    _name_uids[base] = count + 1
    return base if count == 0 else f"{base}_{count}"


def clear_session() -> None:
    """Reset the automatic layer names (``dense``, ``dense_1``, …).

    >>> import tapegrad as tf
    >>> tf.keras.backend.clear_session()
    """
    _name_uids.clear()


def standardize_dtype(dtype: Any) -> str:
    if dtype is None:
        return floatx()
    if isinstance(dtype, dict):  # a Keras DTypePolicy config
        dtype = dtype.get("config", {}).get("name", floatx())
    name = dtype.name if isinstance(dtype, _dtypes.DType) else str(np.dtype(dtype))
    if name not in ("float32", "float64", "int32", "int64", "bool"):
        raise NotImplementedError(f"keras: dtype {name!r} is not supported by tapegrad")
    return name


def __getattr__(name: str) -> NoReturn:
    from ._missing import missing

    missing("keras.backend", name)
