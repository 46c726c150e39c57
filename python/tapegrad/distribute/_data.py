"""Give each rank its own part of the data: ``shard``."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

import numpy as np

from .. import _core
from . import _state


def shard(
    data: Any, num_shards: int | None = None, index: int | None = None, drop_remainder: bool = False
) -> Any:
    """Rank ``index``'s share of ``data``: elements ``index``,
    ``index + num_shards``, … (``tf.data.Dataset.shard``'s rule; defaults:
    ``hvd.size()`` shards, this rank's).

    ``data`` may be anything with a ``shard(num_shards, index)`` method (a
    ``tf.data.Dataset``), a numpy array, tensor or list (sliced along the
    first dimension), a tuple or dict of them (parallel arrays, sharded
    alike, as ``Dataset.from_tensor_slices`` pairs them), or any iterable
    (an iterator over this rank's elements). With ``drop_remainder=True``
    every shard of a sized input gets ``len // num_shards`` elements, so all
    ranks run the same number of steps (otherwise use ``hvd.join()``).

    >>> import numpy as np, tapegrad.distribute as hvd
    >>> hvd.shard(np.arange(10), num_shards=3, index=1)
    array([1, 4, 7])
    >>> x, y = hvd.shard((np.arange(5), np.arange(5) * 10), num_shards=2, index=0)
    >>> x.tolist(), y.tolist()
    ([0, 2, 4], [0, 20, 40])
    >>> list(hvd.shard(iter("abcdef"), num_shards=2, index=1))
    ['b', 'd', 'f']
    """
    if num_shards is None:
        num_shards = _state.size()
    if index is None:
        index = _state.rank()
    if num_shards < 1 or not 0 <= index < num_shards:
        raise ValueError(
            f"shard: need num_shards >= 1 and 0 <= index < num_shards, got {num_shards}, {index}"
        )
    method = getattr(data, "shard", None)
    if callable(method):
        return method(num_shards, index)
    if isinstance(data, tuple):
        return tuple(_shard_sized(part, num_shards, index, drop_remainder) for part in data)
    if isinstance(data, dict):
        return {k: _shard_sized(v, num_shards, index, drop_remainder) for k, v in data.items()}
    if isinstance(data, (np.ndarray, list, range, _core.Tensor, _core.Variable)):
        return _shard_sized(data, num_shards, index, drop_remainder)
    if isinstance(data, Iterable):
        if drop_remainder:
            raise ValueError(
                "shard: drop_remainder needs a sized input (its length), not an iterator"
            )
        return itertools.islice(data, index, None, num_shards)
    raise TypeError(f"shard: cannot shard a {type(data).__name__}")


def _shard_sized(data: Any, num_shards: int, index: int, drop_remainder: bool) -> Any:
    stop = (len(data) // num_shards) * num_shards if drop_remainder else None
    return data[index:stop:num_shards]
