"""What ``fit``/``evaluate``/``predict`` iterate: numpy arrays, a
``tf.data.Dataset``, a Python generator or a ``keras.utils.PyDataset``,
each behind one adapter (``num_batches`` and a fresh per-epoch iterator of
batches), and Keras 3's epoch iterator on top of them.

The epoch iterator follows Keras 3.15 step for step, traps included:

- with ``steps_per_epoch`` the same iterator continues from one epoch to the
  next (a ``repeat()``-ed dataset is never restarted); a finite dataset is
  restarted only once all its batches were seen, so an epoch may be cut
  short ("Your input ran out of data" warning) without stopping training;
- without it, an epoch is one full pass; a dataset of unknown cardinality
  runs until it is exhausted, which Keras reports with the same warning and
  remembers as ``seen + 1`` batches for the next epochs;
- a generator is consumed once: later epochs see only the two batches Keras
  peeked at to learn the element structure.
"""

from __future__ import annotations

import itertools
import math
import random
import types
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from .. import _core, _nest
from .._core import Tensor, Variable
from ..data._dataset import Dataset
from . import backend
from .initializers import generator

__all__: list[str] = []

# Keras peeks this many batches of a generator to learn its structure
_PEEKED_BATCHES = 2

_RAN_OUT = (
    "Your input ran out of data; interrupting training. Make sure that your dataset or "
    "generator can generate at least `steps_per_epoch * epochs` batches. You may need to use "
    "the `.repeat()` function when building your dataset."
)


def to_array(value: Any) -> Any:
    """Inputs and targets as numpy arrays (structures kept)."""
    if value is None:
        return None
    if isinstance(value, (Tensor, Variable)):
        return np.asarray(value.numpy())
    if isinstance(value, dict):
        return {k: to_array(v) for k, v in value.items()}
    if isinstance(value, tuple) or (
        isinstance(value, list) and value and isinstance(value[0], (np.ndarray, Tensor, Variable))
    ):
        return [to_array(v) for v in value]
    return np.asarray(value)


def num_samples(x: Any, *others: Any) -> int:
    """The number of samples, the same in every array of ``x``, ``y`` and
    ``sample_weight`` (Keras's "data cardinality" check)."""
    counts: dict[str, list[int]] = {}
    for name, structure in zip(("x", "y", "sample_weight"), (x, *others), strict=False):
        if structure is not None:
            counts[name] = sorted({int(len(array)) for array in _nest.flatten(structure)})
    distinct = {n for sizes in counts.values() for n in sizes}
    if len(distinct) != 1:
        detail = ", ".join(f"{name} sizes: {sizes}" for name, sizes in counts.items())
        raise ValueError(
            "Data cardinality is ambiguous. Make sure all arrays contain the same number "
            f"of samples. {detail}"
        )
    return distinct.pop()


def take(value: Any, index: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, dict):
        return {k: take(v, index) for k, v in value.items()}
    if isinstance(value, list):
        return [take(v, index) for v in value]
    return value[index]


def as_tensors(value: Any) -> Any:
    """Arrays (in lists/tuples/dicts) as tensors; float64 becomes floatx."""
    if value is None:
        return None
    if isinstance(value, dict):
        return {k: as_tensors(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(as_tensors(v) for v in value)
    if isinstance(value, (Tensor, Variable)):
        return value
    array = np.ascontiguousarray(value)
    if array.dtype == np.float64 and backend.floatx() == "float32":
        array = array.astype(np.float32)
    return _core.constant(array)


def is_streamed(x: Any) -> bool:
    """Whether ``x`` brings its own batches (not arrays to be batched)."""
    from .utils import PyDataset

    return isinstance(x, (Dataset, types.GeneratorType, PyDataset))


def _reject_with_stream(kind: str, y: Any, sample_weight: Any) -> None:
    """Keras's errors for targets/weights passed beside a stream."""
    for value, arg, what in ((y, "y", "the targets"),
                             (sample_weight, "sample_weights", "the sample weights")):
        if value is not None:
            raise ValueError(
                f"When providing `x` as a {kind}, `{arg}` should not be passed. Instead, "
                f"{what} should be included as part of the {kind}."
            )


class _Adapter:
    num_batches: int | None = None

    def batches(self) -> Iterator[Any]:
        """A fresh iterator over one pass of batches."""
        raise NotImplementedError

    def on_epoch_begin(self) -> None:
        pass

    def on_epoch_end(self) -> None:
        pass


class _ArrayAdapter(_Adapter):
    def __init__(self, x: Any, y: Any, sample_weight: Any, batch_size: int | None,
                 steps: int | None, shuffle: bool) -> None:
        self._x, self._y, self._w = to_array(x), to_array(y), to_array(sample_weight)
        self._n = num_samples(self._x, self._y, self._w)
        if batch_size is None:
            # Keras: without a batch size, `steps` batches cover the data
            batch_size = math.ceil(self._n / steps) if steps else 32
        self._batch_size = batch_size
        self._shuffle = shuffle
        self._count = math.ceil(self._n / batch_size)
        self.num_batches = self._count

    def batches(self) -> Iterator[Any]:
        order = generator(None).permutation(self._n) if self._shuffle else None
        for step in range(self._count):
            window = slice(step * self._batch_size, (step + 1) * self._batch_size)
            index = order[window] if order is not None else window
            batch = (take(self._x, index), take(self._y, index), take(self._w, index))
            if self._y is None and self._w is None:
                yield (as_tensors(batch[0]),)
            else:
                yield tuple(as_tensors(part) for part in batch)


class _DatasetAdapter(_Adapter):
    def __init__(self, dataset: Dataset) -> None:
        self._dataset = dataset
        cardinality = dataset._cardinality()
        self.num_batches = cardinality if cardinality >= 0 else None

    def batches(self) -> Iterator[Any]:
        # a new iterator per pass: a shuffle reshuffles, as each epoch does in Keras
        return iter(self._dataset)


class _GeneratorAdapter(_Adapter):
    def __init__(self, source: Iterator[Any]) -> None:
        self._peeked = list(itertools.islice(source, _PEEKED_BATCHES))
        self._source = source
        if not self._peeked:
            raise ValueError(
                "When passing a Python generator to a Keras model, the generator must yield "
                "at least one batch. Received an empty generator."
            )
        if not isinstance(self._peeked[0], tuple):
            raise ValueError(
                "When passing a Python generator to a Keras model, the generator must return "
                "a tuple, either (input,) or (inputs, targets) or (inputs, targets, "
                f"sample_weights). Received: {self._peeked[0]}"
            )

    def batches(self) -> Iterator[Any]:
        return (as_tensors(batch) for batch in itertools.chain(self._peeked, self._source))


class _PyDatasetAdapter(_Adapter):
    def __init__(self, dataset: Any, shuffle: bool) -> None:
        self._dataset = dataset
        self._shuffle = shuffle
        self.num_batches = dataset.num_batches

    def batches(self) -> Iterator[Any]:
        if self.num_batches is None:
            indices: Iterator[int] = itertools.count()
        else:
            order = list(range(self.num_batches))
            if self._shuffle:
                random.shuffle(order)  # Keras shuffles the batch order with `random`
            indices = iter(order)
        for index in indices:
            try:
                batch = self._dataset[index]
            except IndexError:  # an infinite PyDataset ends by raising IndexError
                return
            yield as_tensors(batch if isinstance(batch, tuple) else (batch,))

    def on_epoch_begin(self) -> None:
        self._dataset.on_epoch_begin()

    def on_epoch_end(self) -> None:
        self._dataset.on_epoch_end()


def make_adapter(x: Any, y: Any, sample_weight: Any, batch_size: int | None,
                 steps: int | None, shuffle: bool) -> _Adapter:
    """The adapter for ``x`` (Keras's errors and warnings for what a
    stream ignores or rejects)."""
    from .utils import PyDataset

    if isinstance(x, Dataset):
        _reject_with_stream("tf.data.Dataset", y, sample_weight)
        if shuffle:
            warnings.warn(
                "`shuffle=True` was passed, but will be ignored since the data `x` was provided "
                "as a tf.data.Dataset. The Dataset is expected to already be shuffled (via "
                "`.shuffle(buffer_size)`).",
                stacklevel=3,
            )
        return _DatasetAdapter(x)
    if isinstance(x, PyDataset):
        _reject_with_stream("PyDataset", y, sample_weight)
        if x.num_batches is None and shuffle:
            warnings.warn(
                "`shuffle=True` was passed, but will be ignored since the data `x` was provided "
                "as an infinite PyDataset. The PyDataset is expected to already be shuffled.",
                stacklevel=3,
            )
        return _PyDatasetAdapter(x, shuffle)
    if isinstance(x, types.GeneratorType):
        _reject_with_stream("generator", y, sample_weight)
        if shuffle:
            warnings.warn(
                "`shuffle=True` was passed, but will be ignored since the data `x` was provided "
                "as a generator. The generator is expected to yield already-shuffled data.",
                stacklevel=3,
            )
        return _GeneratorAdapter(x)
    if not _is_array_like(x):
        raise ValueError(f"Unrecognized data type: x={x} (of type {type(x)})")
    return _ArrayAdapter(x, y, sample_weight, batch_size, steps, shuffle)


def _is_array_like(value: Any) -> bool:
    """What Keras batches itself: arrays (anything with ``__array__``),
    tensors, numbers and (nested) lists/tuples/dicts of them; not iterators
    or arbitrary objects."""
    if isinstance(value, dict):
        return all(_is_array_like(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_is_array_like(v) for v in value)
    if isinstance(value, (np.ndarray, np.generic, Tensor, Variable, int, float, bool)):
        return True
    return hasattr(value, "__array__")  # pandas frames, other array libraries


class EpochIterator:
    """Batches per epoch with Keras 3's ``steps_per_epoch`` rules (see the
    module docstring)."""

    def __init__(self, adapter: _Adapter, steps_per_epoch: int | None) -> None:
        self.adapter = adapter
        self.steps_per_epoch = steps_per_epoch
        self._iterator: Iterator[Any] | None = None
        self._steps_seen = 0
        self._num_batches = adapter.num_batches

    @property
    def num_batches(self) -> int | None:
        """What callbacks see as ``params["steps"]`` (``None``: unknown)."""
        return self.steps_per_epoch or self._num_batches

    def _ran_out(self) -> None:
        if self._num_batches is None:
            # Keras counts the failed step too: later epochs plan one step more
            self._num_batches = self._steps_seen
        warnings.warn(_RAN_OUT, stacklevel=4)
        self._iterator = None
        self.adapter.on_epoch_end()

    def epoch(self) -> Iterator[tuple[int, Any]]:
        """``(step, batch)`` pairs of one epoch."""
        self.adapter.on_epoch_begin()
        planned = self.steps_per_epoch or self._num_batches or -1
        if planned > 0:
            if self._iterator is None or self.steps_per_epoch is None:
                self._iterator = self.adapter.batches()
                self._steps_seen = 0
            iterator = self._iterator
            for step in range(planned):
                if self._num_batches and self._steps_seen >= self._num_batches:
                    if self.steps_per_epoch:
                        warnings.warn(_RAN_OUT, stacklevel=3)
                    break
                self._steps_seen += 1
                try:
                    batch = next(iterator)
                except StopIteration:
                    self._ran_out()
                    return
                yield step, batch
            if self._num_batches and self._steps_seen >= self._num_batches:
                self._iterator = self.adapter.batches()
                self._steps_seen = 0
        else:
            iterator = self.adapter.batches()
            for step in itertools.count():
                self._steps_seen = step + 1
                try:
                    batch = next(iterator)
                except StopIteration:
                    self._ran_out()
                    return
                yield step, batch
        self.adapter.on_epoch_end()
