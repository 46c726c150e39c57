"""``tf.distribute``: strategies for one process on the host CPU.

tapegrad computes on one device, so ``MirroredStrategy`` and
``OneDeviceStrategy`` have one replica (``num_replicas_in_sync == 1``), as
TF's do on a machine with only a CPU: ``run`` calls the function once,
``reduce`` over replicas is the value itself (reducing along ``axis`` sums
or averages the examples), and a distributed dataset yields the batches of
any iterable as they are. Code written for TF's strategies runs unchanged.

>>> import tapegrad as tf
>>> strategy = tf.distribute.MirroredStrategy()
>>> with strategy.scope():
...     w = tf.Variable(2.0)
>>> per_replica = strategy.run(lambda x: x * w, args=(tf.constant([1.0, 2.0]),))
>>> print(strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=0))
tapegrad.Tensor(6.0, shape=(), dtype=float32)
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from .. import _core, _nest
from .._core import Tensor, Variable
from .._device import _parse
from ._collectives import ReduceOp

_CPU = "/job:localhost/replica:0/task:0/device:CPU:0"


class InputContext:
    """What ``distribute_datasets_from_function`` tells the dataset function:
    one input pipeline, one replica.

    >>> import tapegrad as tf
    >>> tf.distribute.InputContext().get_per_replica_batch_size(32)
    32
    """

    def __init__(
        self,
        num_input_pipelines: int = 1,
        input_pipeline_id: int = 0,
        num_replicas_in_sync: int = 1,
    ) -> None:
        self.num_input_pipelines = num_input_pipelines
        self.input_pipeline_id = input_pipeline_id
        self.num_replicas_in_sync = num_replicas_in_sync

    def get_per_replica_batch_size(self, global_batch_size: int) -> int:
        if global_batch_size % self.num_replicas_in_sync:
            raise ValueError(
                f"The `global_batch_size` {global_batch_size} is not divisible by "
                f"`num_replicas_in_sync` {self.num_replicas_in_sync}"
            )
        return global_batch_size // self.num_replicas_in_sync


class _Extended:
    """``strategy.extended``: the devices behind the strategy."""

    def __init__(self) -> None:
        self.worker_devices = (_CPU,)
        self.parameter_devices = (_CPU,)


class _DistributedDataset:
    """A dataset as the one replica sees it: the batches, unchanged."""

    def __init__(self, batches: Iterable[Any]) -> None:
        self._batches = batches

    def __iter__(self) -> Iterator[Any]:
        return iter(self._batches)


_scopes = threading.local()


class Strategy:
    """The strategy API shared by ``MirroredStrategy`` and ``OneDeviceStrategy``
    (and the default strategy outside any ``scope()``).

    >>> import tapegrad as tf
    >>> tf.distribute.get_strategy().num_replicas_in_sync
    1
    """

    def __init__(self) -> None:
        self.extended = _Extended()

    @property
    def num_replicas_in_sync(self) -> int:
        return 1

    @contextlib.contextmanager
    def scope(self) -> Iterator[Strategy]:
        """Make this the current strategy (``get_strategy()``) for the block;
        variables created in it are ordinary variables on the CPU."""
        stack: list[Strategy] = _scopes.__dict__.setdefault("stack", [])
        stack.append(self)
        try:
            yield self
        finally:
            stack.pop()

    def run(
        self,
        fn: Callable[..., Any],
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        options: object = None,
    ) -> Any:
        """``fn(*args, **kwargs)`` on the one replica; its result is the per-replica value."""
        _scopes.replica_depth = getattr(_scopes, "replica_depth", 0) + 1
        try:
            return fn(*args, **(kwargs or {}))
        finally:
            _scopes.replica_depth -= 1

    def reduce(self, reduce_op: ReduceOp | str, value: Any, axis: int | None) -> Any:
        """Combine a per-replica value over the replicas (one: the value
        itself) and, with ``axis``, over that axis of each tensor: ``SUM``
        adds the examples, ``MEAN`` averages them."""
        op = ReduceOp[reduce_op.upper()] if isinstance(reduce_op, str) else ReduceOp(reduce_op)
        if op not in (ReduceOp.SUM, ReduceOp.MEAN):
            raise ValueError(
                f"Strategy.reduce: reduce_op must be ReduceOp.SUM or ReduceOp.MEAN, got {op}"
            )
        if axis is None:
            return value
        reduce = _core.reduce_sum if op is ReduceOp.SUM else _core.reduce_mean

        def along_axis(v: Any) -> Any:
            t = v if isinstance(v, (Tensor, Variable)) else _core.convert_to_tensor(v)
            return reduce(t, axis=axis)

        return _nest.pack_sequence_as(value, [along_axis(v) for v in _nest.flatten(value)])

    def experimental_distribute_dataset(
        self, dataset: Iterable[Any], options: object = None
    ) -> _DistributedDataset:
        """The dataset for iterating in a replica loop: each batch as it is
        (any iterable of batches works, a ``tf.data.Dataset`` included)."""
        return _DistributedDataset(dataset)

    def distribute_datasets_from_function(
        self, dataset_fn: Callable[[InputContext], Iterable[Any]], options: object = None
    ) -> _DistributedDataset:
        """``dataset_fn(InputContext())``, distributed over the one replica."""
        return _DistributedDataset(dataset_fn(InputContext()))

    def experimental_local_results(self, value: Any) -> tuple[Any, ...]:
        """The per-replica values held by this process, as a tuple (one)."""
        return (value,)

    def gather(self, value: Any, axis: int) -> Any:
        """The per-replica values concatenated along ``axis`` (one: the value)."""
        return value


class OneDeviceStrategy(Strategy):
    """All computation on one device (``tf.distribute.OneDeviceStrategy``);
    any CPU or GPU name is accepted and the device is the CPU, as with soft
    placement in TF.

    >>> import tapegrad as tf
    >>> strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    >>> print(strategy.run(lambda: tf.constant(1.0) + 1.0))
    tapegrad.Tensor(2.0, shape=(), dtype=float32)
    """

    def __init__(self, device: str) -> None:
        _parse(device)
        super().__init__()


class MirroredStrategy(Strategy):
    """Synchronous data parallelism over ``devices`` (``tf.distribute.MirroredStrategy``);
    here one replica on the CPU, as TF has on a machine without GPUs.

    >>> import tapegrad as tf
    >>> tf.distribute.MirroredStrategy().num_replicas_in_sync
    1
    """

    def __init__(
        self, devices: Sequence[str] | None = None, cross_device_ops: object = None
    ) -> None:
        for device in devices or ():
            _parse(device)
        super().__init__()


_default = Strategy()


def get_strategy() -> Strategy:
    """The strategy of the innermost ``scope()``, else the default one.

    >>> import tapegrad as tf
    >>> s = tf.distribute.OneDeviceStrategy("/cpu:0")
    >>> with s.scope():
    ...     print(tf.distribute.get_strategy() is s)
    True
    """
    stack: list[Strategy] = _scopes.__dict__.get("stack", [])
    return stack[-1] if stack else _default


def has_strategy() -> bool:
    """Whether a strategy's ``scope()`` is open on this thread.

    >>> import tapegrad as tf
    >>> tf.distribute.has_strategy()
    False
    """
    return bool(_scopes.__dict__.get("stack"))


def in_cross_replica_context() -> bool:
    """Whether code runs in a strategy's ``scope()`` but outside its ``run``.

    >>> import tapegrad as tf
    >>> tf.distribute.in_cross_replica_context()
    False
    """
    return has_strategy() and not getattr(_scopes, "replica_depth", 0)
