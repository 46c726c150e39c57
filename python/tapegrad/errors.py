"""Exceptions raised by tapegrad, mirroring ``tf.errors``.

Each class also derives from the builtin exception a Python user would
catch, so ``except ValueError`` works for an ``InvalidArgumentError``.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

__all__ = [
    "OpError",
    "AlreadyExistsError",
    "DataLossError",
    "InvalidArgumentError",
    "NotFoundError",
    "OutOfRangeError",
    "ResourceExhaustedError",
    "UnimplementedError",
]


class OpError(Exception):
    """Base class of errors raised by a tapegrad op.

    >>> import tapegrad as tf
    >>> try:
    ...     tf.reshape(tf.zeros([6]), [4, -1])
    ... except tf.errors.OpError as e:
    ...     print(type(e).__name__)
    InvalidArgumentError
    """


class InvalidArgumentError(OpError, ValueError):
    """An op received an invalid argument: shapes, dtypes, axes, values.

    Also a ``ValueError``, so ``except ValueError`` catches it.

    >>> import tapegrad as tf
    >>> try:
    ...     tf.add(tf.zeros([2]), tf.zeros([3]))
    ... except ValueError as e:
    ...     print(isinstance(e, tf.errors.InvalidArgumentError))
    True
    """


class NotFoundError(OpError, FileNotFoundError):
    """A file or directory an op needs does not exist (also a ``FileNotFoundError``).

    >>> import tapegrad as tf
    >>> issubclass(tf.errors.NotFoundError, FileNotFoundError)
    True
    """


class AlreadyExistsError(OpError, FileExistsError):
    """What an op would create exists already, e.g. another writer's
    lockfile (also a ``FileExistsError``).

    >>> import tapegrad as tf
    >>> issubclass(tf.errors.AlreadyExistsError, FileExistsError)
    True
    """


class DataLossError(OpError, OSError):
    """A file's contents are unreadable: truncated, corrupted, or read with
    the wrong compression (also an ``OSError``).

    >>> import tapegrad as tf
    >>> issubclass(tf.errors.DataLossError, OSError)
    True
    """


class OutOfRangeError(OpError, IndexError):
    """An index lies outside the dimension it indexes (also an ``IndexError``).

    >>> import tapegrad as tf
    >>> issubclass(tf.errors.OutOfRangeError, IndexError)
    True
    """


class ResourceExhaustedError(OpError, MemoryError):
    """A tensor too large to allocate was requested (also a ``MemoryError``).

    >>> import tapegrad as tf
    >>> try:
    ...     tf.zeros([2**62, 2**62])
    ... except MemoryError as e:
    ...     print(type(e).__name__)
    ResourceExhaustedError
    """


class UnimplementedError(OpError, NotImplementedError):
    """The operation is not implemented for these arguments (also a
    ``NotImplementedError``).

    >>> import tapegrad as tf
    >>> try:
    ...     tf.pad(tf.constant([1, 2]), [[1, 1]], mode="REFLECT")
    ... except tf.errors.UnimplementedError:
    ...     print("only CONSTANT padding")
    only CONSTANT padding
    """


if not _TYPE_CHECKING:
    from ._compat import missing_names as _missing_names

    __getattr__ = _missing_names("tf.errors")
