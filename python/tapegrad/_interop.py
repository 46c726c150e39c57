"""Identity references and pickling for ``Tensor`` and ``Variable``.

Tensors compare elementwise (``t == u`` is a tensor), so they cannot be dict
keys or set members; ``t.ref()`` gives a :class:`Reference` that can, as in
TF. Pickling stores the value as a numpy array, whose dtype round-trips
exactly; a Variable also keeps its name and trainable flag.
"""

from __future__ import annotations

import numpy as np

from ._core import Tensor, Variable

__all__ = ["Reference"]


class Reference:
    """A hashable reference to a tensor or variable (``x.ref()``).

    Two references are equal iff they refer to the same tensor object, or to
    the same variable (wrappers of one variable handed out by
    ``GradientTape.watched_variables()`` count as the same); ``deref()``
    gives the object back.

    >>> import tapegrad as tf
    >>> x = tf.constant(1.0)
    >>> seen = {x.ref(): "x"}
    >>> seen[x.ref()], x.ref().deref() is x
    ('x', True)
    """

    __slots__ = ("_key", "_obj")

    def __init__(self, obj: Tensor | Variable) -> None:
        self._obj = obj
        # wrappers of one variable are distinct Python objects sharing a handle
        self._key: tuple[str, int] = (
            ("variable", obj._handle_id) if isinstance(obj, Variable) else ("object", id(obj))
        )

    def deref(self) -> Tensor | Variable:
        """The referenced tensor or variable."""
        return self._obj

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Reference):
            return NotImplemented
        return self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        return f"<Reference wrapping {self._obj!r}>"


def rebuild_tensor(value: np.ndarray) -> Tensor:
    """Unpickle a tensor: a copy of ``value``, with its exact dtype and shape."""
    from . import convert_to_tensor

    return convert_to_tensor(value)


def rebuild_variable(value: np.ndarray, name: str, trainable: bool) -> Variable:
    """Unpickle (or deep-copy) a variable: a new variable with this value."""
    # the trailing "/" makes the name absolute: the copy keeps it in any name scope
    return Variable(value, trainable=trainable, name=name + "/", dtype=value.dtype)
