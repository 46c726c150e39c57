"""The devices of ``tf.config``: the host CPU only."""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "LogicalDevice",
    "PhysicalDevice",
    "get_visible_devices",
    "list_logical_devices",
    "list_physical_devices",
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
