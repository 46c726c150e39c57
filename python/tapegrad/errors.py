"""Exceptions raised by tapegrad, mirroring ``tf.errors``.

Each class also derives from the builtin exception a Python user would
catch, so ``except ValueError`` works for an ``InvalidArgumentError``.
"""

__all__ = [
    "OpError",
    "InvalidArgumentError",
    "OutOfRangeError",
    "ResourceExhaustedError",
    "UnimplementedError",
]


class OpError(Exception):
    """Base class of errors raised by a tapegrad op."""


class InvalidArgumentError(OpError, ValueError):
    """An op received an invalid argument: shapes, dtypes, axes, values."""


class OutOfRangeError(OpError, IndexError):
    """An index lies outside the dimension it indexes."""


class ResourceExhaustedError(OpError, MemoryError):
    """A tensor too large to allocate was requested."""


class UnimplementedError(OpError, NotImplementedError):
    """The operation is not implemented for these arguments."""
