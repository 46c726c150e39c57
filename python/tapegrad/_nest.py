"""Nested structures (``tf.nest``'s rules): lists, tuples, namedtuples and
dicts (in sorted key order) are containers; everything else is a leaf."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import _core

__all__ = ["flatten", "pack_sequence_as", "is_nested"]


def is_nested(x: object) -> bool:
    """Whether ``x`` is a container (list, tuple, namedtuple or mapping).

    >>> is_nested([1, (2, 3)]), is_nested({"a": 1}), is_nested(1.0)
    (True, True, False)
    """
    if isinstance(x, (list, tuple, dict)):
        return True
    # The common leaves first: an ABC check on them costs more than the op.
    if isinstance(x, (_core.Tensor, _core.Variable, float, int)) or x is None:
        return False
    return isinstance(x, Mapping)


def _children(x: Any) -> list[Any]:
    if isinstance(x, Mapping):
        return [x[k] for k in sorted(x)]
    return list(x)


def flatten(x: Any) -> list[Any]:
    """The leaves of ``x``, depth first."""
    if not is_nested(x):
        return [x]
    out: list[Any] = []
    for c in _children(x):
        out.extend(flatten(c))
    return out


def pack_sequence_as(structure: Any, flat: list[Any]) -> Any:
    """Rebuild ``structure`` with the leaves taken in order from ``flat``."""
    it = iter(flat)

    def build(s: Any) -> Any:
        if not is_nested(s):
            return next(it)
        if isinstance(s, Mapping):
            keys = sorted(s)
            values = {k: build(s[k]) for k in keys}
            mapping_class: Any = type(s)  # dict, OrderedDict, …: rebuilt in its own key order
            return mapping_class((k, values[k]) for k in s)
        items = [build(c) for c in s]
        if isinstance(s, tuple) and hasattr(s, "_fields"):  # namedtuple
            return type(s)(*items)
        return type(s)(items)

    return build(structure)
