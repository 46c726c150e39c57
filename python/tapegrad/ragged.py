"""``tf.ragged``: building RaggedTensors and mapping ops over their values.

>>> import tapegrad as tf
>>> rt = tf.ragged.constant([[1.0, 2.0], [3.0]])
>>> print(tf.reduce_sum(rt, axis=1))
tapegrad.Tensor([3. 3.], shape=(2,), dtype=float32)
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from ._ragged import constant, map_flat_values

__all__ = ["constant", "map_flat_values"]

if not _TYPE_CHECKING:
    from ._compat import missing_names as _missing_names

    __getattr__ = _missing_names("tf.ragged")
