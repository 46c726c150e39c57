"""``tf.config``: the devices tapegrad runs on (the host CPU) and its threads.

tapegrad has one device, the host CPU, so the device lists are TF's answers
on a machine without accelerators.

>>> import tapegrad as tf
>>> tf.config.list_physical_devices()
[PhysicalDevice(name='/physical_device:CPU:0', device_type='CPU')]
>>> tf.config.list_physical_devices("GPU")
[]
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from .._compat import missing_names as _missing_names
from .._function import functions_run_eagerly, run_functions_eagerly
from . import experimental, threading
from ._devices import (
    LogicalDevice,
    PhysicalDevice,
    get_visible_devices,
    list_logical_devices,
    list_physical_devices,
)

__all__ = [
    "LogicalDevice",
    "PhysicalDevice",
    "experimental",
    "functions_run_eagerly",
    "get_visible_devices",
    "list_logical_devices",
    "list_physical_devices",
    "run_functions_eagerly",
    "threading",
]


if not _TYPE_CHECKING:
    __getattr__ = _missing_names("tf.config")
