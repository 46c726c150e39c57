"""``tf.nest``: functions on nested structures of lists, tuples, namedtuples
and dicts, in TF's order (dict values by sorted key).

>>> import tapegrad as tf
>>> tf.nest.flatten({"b": [1, 2], "a": 3})
[3, 1, 2]
>>> tf.nest.map_structure(lambda v: v * 10, {"b": [1, 2], "a": 3})
{'b': [10, 20], 'a': 30}
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from ._nest_public import (
    assert_same_structure,
    flatten,
    is_nested,
    map_structure,
    pack_sequence_as,
)

__all__ = ["assert_same_structure", "flatten", "is_nested", "map_structure", "pack_sequence_as"]

if not _TYPE_CHECKING:
    from ._compat import missing_names as _missing_names

    __getattr__ = _missing_names("tf.nest")
