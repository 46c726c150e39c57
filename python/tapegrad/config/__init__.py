"""``tf.config``: the devices tapegrad runs on (the host CPU) and its threads.

tapegrad has one device, the host CPU, so the device lists are TF's answers
on a machine without accelerators.

>>> import tapegrad as tf
>>> tf.config.list_physical_devices()
[PhysicalDevice(name='/physical_device:CPU:0', device_type='CPU')]
>>> tf.config.list_physical_devices("GPU")
[]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from .._compat import missing_names
from . import experimental, threading

__all__ = [
    "LogicalDevice",
    "PhysicalDevice",
    "experimental",
    "get_visible_devices",
    "list_logical_devices",
    "list_physical_devices",
    "threading",
]


class PhysicalDevice(NamedTuple):
    """A device of the machine, as ``tf.config.PhysicalDevice``.

    >>> import tapegrad as tf
    >>> tf.config.list_physical_devices("CPU")[0].device_type
    'CPU'
    """

    name: str
    device_type: str


class LogicalDevice(NamedTuple):
    """A device ops can be placed on, as ``tf.config.LogicalDevice``.

    >>> import tapegrad as tf
    >>> tf.config.list_logical_devices()[0].name
    '/device:CPU:0'
    """

    name: str
    device_type: str


_CPU = PhysicalDevice("/physical_device:CPU:0", "CPU")
_LOGICAL_CPU = LogicalDevice("/device:CPU:0", "CPU")


def list_physical_devices(device_type: str | None = None) -> list[PhysicalDevice]:
    """The machine's devices of ``device_type`` ("CPU", "GPU", …; all if
    ``None``). Like TF, the type is case-sensitive: ``"cpu"`` matches nothing.

    >>> import tapegrad as tf
    >>> tf.config.list_physical_devices("CPU")
    [PhysicalDevice(name='/physical_device:CPU:0', device_type='CPU')]
    """
    return [_CPU] if device_type in (None, "CPU") else []


def list_logical_devices(device_type: str | None = None) -> list[LogicalDevice]:
    """The devices ops can run on, of ``device_type`` (all if ``None``).

    >>> import tapegrad as tf
    >>> tf.config.list_logical_devices("GPU")
    []
    """
    return [_LOGICAL_CPU] if device_type in (None, "CPU") else []


def get_visible_devices(device_type: str | None = None) -> list[PhysicalDevice]:
    """The physical devices the runtime may use: all of them, the CPU.

    >>> import tapegrad as tf
    >>> len(tf.config.get_visible_devices())
    1
    """
    return list_physical_devices(device_type)


if not TYPE_CHECKING:
    __getattr__ = missing_names("tf.config")
