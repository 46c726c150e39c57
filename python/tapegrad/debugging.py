"""``tf.debugging``: assertions on tensor values and shapes.

Each assertion returns ``None`` when it holds and raises TF's error when it
does not: ``InvalidArgumentError`` for a value condition, ``ValueError``
for a static shape or rank condition.

>>> import tapegrad as tf
>>> tf.debugging.assert_equal(tf.constant([1, 2]), [1, 2])
>>> tf.debugging.assert_rank(tf.zeros([2, 3]), 2)
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from ._debugging import (
    assert_all_finite,
    assert_equal,
    assert_greater,
    assert_less,
    assert_near,
    assert_rank,
    assert_shapes,
    assert_type,
    check_numerics,
    disable_check_numerics,
    enable_check_numerics,
)

__all__ = [
    "assert_all_finite",
    "assert_equal",
    "assert_greater",
    "assert_less",
    "assert_near",
    "assert_rank",
    "assert_shapes",
    "assert_type",
    "check_numerics",
    "disable_check_numerics",
    "enable_check_numerics",
]

if not _TYPE_CHECKING:
    from ._compat import missing_names as _missing_names

    __getattr__ = _missing_names("tf.debugging")
