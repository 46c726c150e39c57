"""The implementation behind ``tapegrad.nest`` (see its docstring)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from . import _nest


def is_nested(structure: object) -> bool:
    """Whether ``structure`` is a container: a list, tuple, namedtuple or
    mapping. Strings, tensors and arrays are leaves.

    >>> import tapegrad as tf
    >>> tf.nest.is_nested([1]), tf.nest.is_nested("ab"), tf.nest.is_nested(tf.constant([1]))
    (True, False, False)
    """
    return _nest.is_nested(structure)


def flatten(structure: Any, expand_composites: bool = False) -> list[Any]:
    """The leaves of ``structure``, depth first; a dict's values in sorted key
    order (keys of mixed types that cannot be sorted raise ``TypeError``). A
    leaf flattens to ``[leaf]`` (``None`` too).

    >>> import tapegrad as tf
    >>> tf.nest.flatten([1, (2, {"y": 3, "x": 4})])
    [1, 2, 4, 3]
    """
    return _nest.flatten(structure)


def pack_sequence_as(structure: Any, flat_sequence: Any, expand_composites: bool = False) -> Any:
    """``structure`` rebuilt with its leaves taken in order from
    ``flat_sequence`` (the inverse of ``flatten``); dicts keep their own key
    order, and get their values in sorted key order.

    >>> import tapegrad as tf
    >>> tf.nest.pack_sequence_as({"b": [0, 0], "a": 0}, [1, 2, 3])
    {'b': [2, 3], 'a': 1}
    """
    flat = list(flat_sequence)
    count = len(_nest.flatten(structure))
    if count != len(flat):
        raise ValueError(
            f"Could not pack sequence. Structure had {count} atoms, but flat_sequence had "
            f"{len(flat)} items.  Structure: {structure}, flat_sequence: {flat}."
        )
    return _nest.pack_sequence_as(structure, flat)


def _shape_text(structure: Any) -> str:
    """The structure with every leaf drawn as ``.`` (TF's error display)."""
    return repr(_nest.pack_sequence_as(structure, [_Dot()] * len(_nest.flatten(structure))))


class _Dot:
    __slots__ = ()

    def __repr__(self) -> str:
        return "."


def _describe(value: Any) -> str:
    return f"type={type(value).__name__} str={value}"


def _mismatch(first: Any, second: Any, check_types: bool) -> tuple[type[Exception], str] | None:
    """Why two structures differ (error class and detail), or ``None``."""
    first_nested, second_nested = is_nested(first), is_nested(second)
    if first_nested != second_nested:
        nested, leaf = (first, second) if first_nested else (second, first)
        return ValueError, (
            f'Substructure "{_describe(nested)}" is a sequence, while substructure '
            f'"{_describe(leaf)}" is not'
        )
    if not first_nested:
        return None
    both_mappings = isinstance(first, Mapping) and isinstance(second, Mapping)
    if check_types and type(first) is not type(second) and not both_mappings:
        return TypeError, (
            f"The two structures don't have the same sequence type. First structure "
            f"{_describe(first)} has type {type(first).__name__}, while second structure "
            f"{_describe(second)} has type {type(second).__name__}"
        )
    if isinstance(first, Mapping) != isinstance(second, Mapping):
        return ValueError, (
            f"The two structures don't have the same sequence type: "
            f"{_describe(first)} and {_describe(second)}"
        )
    if isinstance(first, Mapping):
        if set(first) != set(second):
            return ValueError, (
                f"The two dictionaries don't have the same set of keys. First structure has "
                f"keys {sorted(first)}, while second structure has keys {sorted(second)}"
            )
        pairs = [(first[k], second[k]) for k in sorted(first)]
    else:
        if len(first) != len(second):
            return ValueError, (
                f"The two structures don't have the same number of elements. First "
                f"structure {_describe(first)} has length {len(first)}, while second "
                f"structure {_describe(second)} has length {len(second)}"
            )
        pairs = list(zip(first, second, strict=True))
    for a, b in pairs:
        found = _mismatch(a, b, check_types)
        if found is not None:
            return found
    return None


def assert_same_structure(
    nest1: Any, nest2: Any, check_types: bool = True, expand_composites: bool = False
) -> None:
    """Raise unless ``nest1`` and ``nest2`` nest the same way: ``ValueError``
    for a different shape of nesting, ``TypeError`` for a different sequence
    type (``list`` vs ``tuple``) when ``check_types``.

    >>> import tapegrad as tf
    >>> tf.nest.assert_same_structure([1, (2, 3)], [4, (5, 6)])
    >>> try:
    ...     tf.nest.assert_same_structure([1, [2, 3]], [4, 5])
    ... except ValueError as e:
    ...     print(str(e).splitlines()[0])
    The two structures don't have the same nested structure.
    """
    found = _mismatch(nest1, nest2, check_types)
    if found is None:
        return
    error, detail = found
    raise error(
        "The two structures don't have the same nested structure.\n\n"
        f"First structure: {_describe(nest1)}\n\n"
        f"Second structure: {_describe(nest2)}\n\n"
        f"More specifically: {detail}\n"
        f"Entire first structure:\n{_shape_text(nest1)}\n"
        f"Entire second structure:\n{_shape_text(nest2)}"
    )


def map_structure(func: Callable[..., Any], *structure: Any, **kwargs: Any) -> Any:
    """``func`` applied to the matching leaves of one or more structures of
    the same nesting, in a structure like the first.

    ``check_types=False`` lets a list match a tuple.

    >>> import tapegrad as tf
    >>> tf.nest.map_structure(lambda a, b: a + b, [1, (2, 3)], [10, (20, 30)])
    [11, (22, 33)]
    """
    if not callable(func):
        raise TypeError(f"func must be callable, got: {func}")
    if not structure:
        raise ValueError("Must provide at least one structure")
    check_types = kwargs.pop("check_types", True)
    kwargs.pop("expand_composites", None)
    if kwargs:
        raise ValueError(
            f"Only valid keyword arguments are `check_types` and `expand_composites`, "
            f"not: `{'`, `'.join(kwargs)}`"
        )
    for other in structure[1:]:
        assert_same_structure(structure[0], other, check_types=check_types)
    columns = zip(*(_nest.flatten(s) for s in structure), strict=True)
    return _nest.pack_sequence_as(structure[0], [func(*leaves) for leaves in columns])

