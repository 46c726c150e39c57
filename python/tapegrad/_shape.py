"""``TensorShape``: what ``Tensor.shape`` returns."""

from __future__ import annotations

__all__ = ["TensorShape"]


class TensorShape(tuple[int, ...]):
    """A tuple of dimensions with TF's ``TensorShape`` conveniences.

    >>> import tapegrad as tf
    >>> s = tf.zeros([2, 3]).shape
    >>> s, s.rank, s.num_elements(), s.as_list()
    (TensorShape([2, 3]), 2, 6, [2, 3])
    >>> s == (2, 3)
    True
    >>> print(s)
    (2, 3)
    """

    __slots__ = ()

    @property
    def rank(self) -> int:
        return len(self)

    @property
    def ndims(self) -> int:
        return len(self)

    def as_list(self) -> list[int]:
        return list(self)

    def num_elements(self) -> int | None:
        n = 1
        for d in self:
            if d is None:  # a tf.data element_spec's unknown dimension
                return None
            n *= d
        return n

    def is_fully_defined(self) -> bool:
        return None not in self

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (tuple, list)):
            return tuple(self) == tuple(other)
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    __hash__ = tuple.__hash__

    def __repr__(self) -> str:
        return f"TensorShape({list(self)})"

    def __str__(self) -> str:
        # TF prints a shape as a tuple: `(3, 2)`, `(3,)`, `()`
        if len(self) == 1:
            return f"({self[0]},)"
        return f"({', '.join(str(d) for d in self)})"
