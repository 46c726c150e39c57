"""``tf.config.experimental``: determinism, and tapegrad's strict numpy mode."""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from .._compat import missing_names as _missing_names
from .._ufunc import NumpyConversionWarning, get_strict_numpy, strict_numpy
from ._devices import list_logical_devices, list_physical_devices

__all__ = [
    "NumpyConversionWarning",
    "disable_op_determinism",
    "enable_op_determinism",
    "get_strict_numpy",
    "is_op_determinism_enabled",
    "list_logical_devices",
    "list_physical_devices",
    "strict_numpy",
]

_determinism_requested = False


def enable_op_determinism() -> None:
    """Ask for deterministic ops. tapegrad's ops are deterministic already:
    every kernel splits its work the same way and reduces in a fixed order
    whatever the thread count, and random ops follow the seeds. So this only
    records the request (``is_op_determinism_enabled``).

    >>> import tapegrad as tf
    >>> tf.config.experimental.enable_op_determinism()
    >>> tf.config.experimental.is_op_determinism_enabled()
    True
    >>> tf.config.experimental.disable_op_determinism()
    """
    global _determinism_requested
    _determinism_requested = True


def disable_op_determinism() -> None:
    """Withdraw ``enable_op_determinism`` (ops stay deterministic).

    >>> import tapegrad as tf
    >>> tf.config.experimental.disable_op_determinism()
    >>> tf.config.experimental.is_op_determinism_enabled()
    False
    """
    global _determinism_requested
    _determinism_requested = False


def is_op_determinism_enabled() -> bool:
    """Whether ``enable_op_determinism`` was called (and not withdrawn).

    >>> import tapegrad as tf
    >>> isinstance(tf.config.experimental.is_op_determinism_enabled(), bool)
    True
    """
    return _determinism_requested


if not _TYPE_CHECKING:
    __getattr__ = _missing_names("tf.config.experimental")
