"""``tf.data.Dataset``: input pipelines with TF's element structures and
semantics.

Each dataset knows its ``element_spec`` and ``cardinality`` and makes a
fresh Python iterator of elements per ``iter()``. Elements travel as numpy
arrays (slices of the source, no per-element copies) or tensors and become
tensors only when the user sees them. ``from_tensor_slices`` followed by
``shuffle`` and ``batch`` never touches single elements: the shuffle is a
permutation of row indices and each batch one numpy gather.
"""

from __future__ import annotations

import gzip
import io
import itertools
import os
import queue
import threading
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

import numpy as np

from .. import _core
from ..dtypes import as_dtype
from ..errors import InvalidArgumentError, NotFoundError, OutOfRangeError
from . import _files
from . import _structure as st
from ._structure import DatasetSpec, TensorSpec

__all__ = ["AUTOTUNE", "INFINITE_CARDINALITY", "UNKNOWN_CARDINALITY", "Dataset", "OwnedIterator"]

AUTOTUNE = -1
INFINITE_CARDINALITY = -1
UNKNOWN_CARDINALITY = -2

_INF = INFINITE_CARDINALITY
_UNKNOWN = UNKNOWN_CARDINALITY
# indices handed from a shuffle to a batch per refill
_INDEX_CHUNK = 1 << 16


def _parallelism(num_parallel_calls: int | None) -> int:
    if num_parallel_calls is None:
        return 1
    if num_parallel_calls == AUTOTUNE:
        return max(2, os.cpu_count() or 1)
    if num_parallel_calls < 1:
        raise ValueError(f"num_parallel_calls must be positive or tf.data.AUTOTUNE, got "
                         f"{num_parallel_calls}")
    return int(num_parallel_calls)


def _call(fn: Callable[..., Any], element: Any) -> Any:
    """TF's calling convention: a plain tuple is spread over the arguments,
    anything else (a dict, a namedtuple, a tensor) is one argument. Never
    recorded on a tape: in TF a dataset function is its own graph, and a
    gradient does not flow through the input pipeline."""
    args = st.map_structure(st.to_tensor, element)
    with _core.Suspension():
        if type(args) is tuple:
            return fn(*args)
        return fn(args)


def _check_count(value: Any, what: str) -> int:
    """A count argument (a Python int or an integer scalar tensor) as an int."""
    array = np.asarray(value)
    if array.ndim != 0 or not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"`{what}` must be an integer scalar, got {value!r}")
    return int(array)


class Dataset:
    """A sequence of elements, each a tensor or a nested tuple/dict of
    tensors, built from sources and transformations (``tf.data.Dataset``).

    >>> import tapegrad as tf
    >>> ds = tf.data.Dataset.from_tensor_slices(([1, 2, 3, 4], [0.5, 1.5, 2.5, 3.5]))
    >>> ds = ds.map(lambda x, y: (x * 2, y)).batch(3)
    >>> for x, y in ds:
    ...     print(x.numpy(), y.numpy())
    [2 4 6] [0.5 1.5 2.5]
    [8] [3.5]
    >>> ds.element_spec
    (TensorSpec(shape=(None,), dtype=tf.int32, name=None),
     TensorSpec(shape=(None,), dtype=tf.float32, name=None))
    """

    # --- what each dataset defines --------------------------------------------------

    def _elements(self) -> Iterator[Any]:
        """A fresh iterator over internal elements (arrays/tensors in structures)."""
        raise NotImplementedError

    def _compute_spec(self) -> Any:
        raise NotImplementedError

    def _cardinality(self) -> int:
        return _UNKNOWN

    def _index_plan(self) -> tuple[_TensorSlicesDataset, Callable[[], Iterator[np.ndarray]]] | None:
        """``(source, order)`` when this dataset is ``source``'s rows in the
        order ``order()`` yields (chunks of row indices); enables gathers."""
        return None

    # --- the public surface ---------------------------------------------------------

    @property
    def element_spec(self) -> Any:
        """The structure of ``TensorSpec``s of one element.

        >>> import tapegrad as tf
        >>> tf.data.Dataset.from_tensor_slices({"a": [1, 2], "b": [[1.0], [2.0]]}).element_spec
        {'a': TensorSpec(shape=(), dtype=tf.int32, name=None),
         'b': TensorSpec(shape=(1,), dtype=tf.float32, name=None)}
        """
        spec = self.__dict__.get("_spec_cache")
        if spec is None:
            spec = self._compute_spec()
            self.__dict__["_spec_cache"] = spec
        return spec

    def cardinality(self) -> Any:
        """The number of elements as an int64 scalar tensor;
        ``tf.data.INFINITE_CARDINALITY`` (-1) or ``UNKNOWN_CARDINALITY`` (-2).

        >>> import tapegrad as tf
        >>> int(tf.data.Dataset.range(10).batch(3).cardinality())
        4
        >>> ds = tf.data.Dataset.range(3)
        >>> int(ds.repeat().cardinality()), int(ds.filter(lambda x: x > 0).cardinality())
        (-1, -2)
        """
        return _core.constant(self._cardinality(), dtype="int64")

    def __len__(self) -> int:
        n = self._cardinality()
        if n == _INF:
            raise TypeError("The dataset is infinite.")
        if n == _UNKNOWN:
            raise TypeError("The dataset length is unknown.")
        return n

    def __iter__(self) -> OwnedIterator:
        return OwnedIterator(self)

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"<{type(self).__name__} element_spec={self.element_spec!r}>"

    def as_numpy_iterator(self) -> Iterator[Any]:
        """Iterate the elements as numpy arrays (numpy scalars for rank 0).

        >>> import tapegrad as tf
        >>> list(tf.data.Dataset.range(3).as_numpy_iterator())
        [np.int64(0), np.int64(1), np.int64(2)]
        """
        for element in self._elements():
            yield st.map_structure(st.to_numpy, element)

    # --- sources --------------------------------------------------------------------

    @staticmethod
    def from_tensor_slices(tensors: Any, name: str | None = None) -> Dataset:
        """One element per row (first-axis slice) of ``tensors``; every
        component must have the same first dimension. Numpy arrays are
        sliced in place, never copied per element.

        >>> import tapegrad as tf
        >>> [x.numpy().tolist() for x in tf.data.Dataset.from_tensor_slices([[1, 2], [3, 4]])]
        [[1, 2], [3, 4]]
        """
        return _TensorSlicesDataset(tensors)

    @staticmethod
    def from_tensors(tensors: Any, name: str | None = None) -> Dataset:
        """A dataset of exactly one element, ``tensors``.

        >>> import tapegrad as tf
        >>> [x.shape for x in tf.data.Dataset.from_tensors([[1, 2], [3, 4]])]
        [TensorShape([2, 2])]
        """
        return _TensorsDataset(tensors)

    @staticmethod
    def range(*args: Any, output_type: Any = "int64", name: str | None = None) -> Dataset:  # noqa: A003
        """``range(stop)``, ``range(start, stop[, step])`` as int64 scalars
        (``output_type`` to change).

        >>> import tapegrad as tf
        >>> list(tf.data.Dataset.range(1, 8, 3).as_numpy_iterator())
        [np.int64(1), np.int64(4), np.int64(7)]
        """
        return _RangeDataset(*args, output_type=output_type)

    @staticmethod
    def from_generator(
        generator: Callable[..., Iterable[Any]],
        output_types: Any = None,
        output_shapes: Any = None,
        args: Any = None,
        output_signature: Any = None,
        name: str | None = None,
    ) -> Dataset:
        """Elements from calling ``generator(*args)`` (again on every
        iteration), converted to ``output_signature`` (a structure of
        ``TensorSpec``) or to ``output_types``/``output_shapes``.

        >>> import tapegrad as tf
        >>> def gen():
        ...     for i in range(3):
        ...         yield i, [1.0] * i
        >>> ds = tf.data.Dataset.from_generator(gen, output_signature=(
        ...     tf.TensorSpec([], tf.int32), tf.TensorSpec([None], tf.float32)))
        >>> [(int(i), v.shape) for i, v in ds]
        [(0, TensorShape([0])), (1, TensorShape([1])), (2, TensorShape([2]))]
        """
        if output_signature is None:
            if output_types is None:
                raise TypeError(
                    "from_generator: pass `output_signature` (a structure of tf.TensorSpec) or "
                    "`output_types` (with optional `output_shapes`)."
                )
            if output_shapes is None:
                raise ValueError(
                    "from_generator: tapegrad needs the element ranks: pass `output_shapes` or "
                    "`output_signature`."
                )
            flat_types = st.flatten(output_types)
            flat_shapes = (
                [output_shapes]
                if len(flat_types) == 1 and not st.is_container(output_shapes)
                else st.flatten(output_shapes)
            )
            specs = [TensorSpec(s, t) for s, t in zip(flat_shapes, flat_types, strict=True)]
            output_signature = st.pack_as(output_types, specs)
        return _GeneratorDataset(generator, output_signature, args)

    @staticmethod
    def zip(*datasets: Any, name: str | None = None) -> Dataset:  # noqa: A003
        """Elements combined from several datasets, stopping at the shortest;
        ``zip(a, b)`` or ``zip((a, b))`` or a dict of datasets.

        >>> import tapegrad as tf
        >>> a, b = tf.data.Dataset.range(3), tf.data.Dataset.range(10, 12)
        >>> [(int(x), int(y)) for x, y in tf.data.Dataset.zip(a, b)]
        [(0, 10), (1, 11)]
        """
        structure: Any = datasets[0] if len(datasets) == 1 else datasets
        return _ZipDataset(structure)

    @staticmethod
    def choose_from_datasets(
        datasets: list[Dataset], choice_dataset: Dataset, stop_on_empty_dataset: bool = True
    ) -> Dataset:
        """The next element of ``datasets[i]`` for each ``i`` (an int64
        scalar) of ``choice_dataset``; an exhausted dataset ends the result
        (``stop_on_empty_dataset``) or its choices are skipped.

        >>> import tapegrad as tf
        >>> letters = [tf.data.Dataset.from_tensors(v).repeat() for v in (0, 1)]
        >>> choice = tf.data.Dataset.from_tensor_slices(tf.constant([0, 1, 1, 0], tf.int64))
        >>> [int(v) for v in tf.data.Dataset.choose_from_datasets(letters, choice)]
        [0, 1, 1, 0]
        """
        return _ChooseDataset(list(datasets), choice_dataset, bool(stop_on_empty_dataset))

    @staticmethod
    def sample_from_datasets(
        datasets: list[Dataset],
        weights: Any = None,
        seed: int | None = None,
        stop_on_empty_dataset: bool = False,
        rerandomize_each_iteration: bool | None = None,
    ) -> Dataset:
        """Each element drawn from ``datasets[i]`` with probability
        ``weights[i]`` (uniform by default); an exhausted dataset ends the
        result (``stop_on_empty_dataset``) or drops out of the draw. Every
        iteration repeats the same draws unless ``rerandomize_each_iteration``.

        >>> import tapegrad as tf
        >>> a, b = tf.data.Dataset.range(3), tf.data.Dataset.range(10, 13)
        >>> ds = tf.data.Dataset.sample_from_datasets([a, b], weights=[0.5, 0.5], seed=1)
        >>> sorted(int(v) for v in ds)
        [0, 1, 2, 10, 11, 12]
        """
        n = len(datasets)
        probabilities = np.full(n, 1.0 / n) if weights is None else np.asarray(
            st.to_array(weights), dtype=np.float64)
        if probabilities.shape != (n,) or np.any(probabilities < 0) or probabilities.sum() <= 0:
            raise InvalidArgumentError(
                f"sample_from_datasets: weights must be {n} non-negative numbers, not all 0; "
                f"got {weights!r}"
            )
        return _SampleDataset(list(datasets), probabilities / probabilities.sum(), seed,
                              bool(stop_on_empty_dataset), bool(rerandomize_each_iteration))

    # --- transformations ------------------------------------------------------------

    def concatenate(self, dataset: Dataset, name: str | None = None) -> Dataset:
        """This dataset's elements followed by ``dataset``'s (same structure and dtypes).

        >>> import tapegrad as tf
        >>> ds = tf.data.Dataset.range(2).concatenate(tf.data.Dataset.range(5, 7))
        >>> list(ds.as_numpy_iterator())
        [np.int64(0), np.int64(1), np.int64(5), np.int64(6)]
        """
        return _ConcatenateDataset(self, dataset)

    def map(
        self,
        map_func: Callable[..., Any],
        num_parallel_calls: int | None = None,
        deterministic: bool | None = None,
        name: str | None = None,
    ) -> Dataset:
        """``map_func`` applied to each element (a tuple element is spread
        over the arguments). With ``num_parallel_calls`` (or
        ``tf.data.AUTOTUNE``) that many calls run at once in threads: a
        speedup where the function releases the GIL (tapegrad's ops on large
        tensors, numpy, I/O). Output order is the input order unless
        ``deterministic=False``.

        >>> import tapegrad as tf
        >>> ds = tf.data.Dataset.range(4).map(lambda x: x * x, num_parallel_calls=tf.data.AUTOTUNE)
        >>> list(ds.as_numpy_iterator())
        [np.int64(0), np.int64(1), np.int64(4), np.int64(9)]
        """
        return _MapDataset(self, map_func, _parallelism(num_parallel_calls), deterministic)

    def filter(self, predicate: Callable[..., Any], name: str | None = None) -> Dataset:
        """The elements for which ``predicate`` returns a true scalar bool.

        >>> import tapegrad as tf
        >>> list(tf.data.Dataset.range(6).filter(lambda x: x % 2 == 0).as_numpy_iterator())
        [np.int64(0), np.int64(2), np.int64(4)]
        """
        return _FilterDataset(self, predicate)

    def flat_map(self, map_func: Callable[..., Dataset], name: str | None = None) -> Dataset:
        """``map_func`` maps each element to a dataset; their elements, in order.

        >>> import tapegrad as tf
        >>> ds = tf.data.Dataset.range(3).flat_map(lambda x: tf.data.Dataset.range(x))
        >>> list(ds.as_numpy_iterator())
        [np.int64(0), np.int64(0), np.int64(1)]
        """
        return _FlatMapDataset(self, map_func)

    def interleave(
        self,
        map_func: Callable[..., Dataset],
        cycle_length: int | None = None,
        block_length: int | None = None,
        num_parallel_calls: int | None = None,
        deterministic: bool | None = None,
        name: str | None = None,
    ) -> Dataset:
        """Like ``flat_map``, but ``cycle_length`` inner datasets are open at
        once and ``block_length`` elements are taken from each in turn
        (TF's order; an exhausted one is replaced by the next input's).
        ``num_parallel_calls`` is accepted; the inner datasets are read in
        the consumer's thread, in the same order.

        >>> import tapegrad as tf
        >>> ds = tf.data.Dataset.range(1, 4).interleave(
        ...     lambda x: tf.data.Dataset.from_tensors(x).repeat(3), cycle_length=2, block_length=2)
        >>> [int(v) for v in ds]
        [1, 1, 2, 2, 1, 2, 3, 3, 3]
        """
        cycle = (os.cpu_count() or 1) if cycle_length in (None, AUTOTUNE) else _check_count(
            cycle_length, "cycle_length")
        block = 1 if block_length is None else _check_count(block_length, "block_length")
        if cycle <= 0 or block <= 0:
            raise InvalidArgumentError(
                f"interleave: cycle_length and block_length must be positive, got "
                f"{cycle_length}, {block_length}"
            )
        return _InterleaveDataset(self, map_func, cycle, block)

    def scan(self, initial_state: Any, scan_func: Callable[[Any, Any], Any],
             name: str | None = None) -> Dataset:
        """Carry a state through the elements: ``scan_func(state, element)``
        returns ``(new_state, output)``; the outputs form the dataset.

        >>> import tapegrad as tf
        >>> start = tf.constant(0, tf.int64)
        >>> ds = tf.data.Dataset.range(5).scan(start, lambda s, x: (s + x, s + x))
        >>> [int(v) for v in ds]
        [0, 1, 3, 6, 10]
        """
        return _ScanDataset(self, initial_state, scan_func)

    def get_single_element(self, name: str | None = None) -> Any:
        """The one element of a one-element dataset (``InvalidArgumentError`` otherwise).

        >>> import tapegrad as tf
        >>> tf.data.Dataset.range(10).batch(10).get_single_element().shape
        TensorShape([10])
        """
        elements = list(itertools.islice(self._elements(), 2))
        if len(elements) != 1:
            raise InvalidArgumentError(
                "Dataset was empty." if not elements else "Dataset had more than one element."
            )
        return st.map_structure(st.to_tensor, elements[0])

    def batch(
        self,
        batch_size: int,
        drop_remainder: bool = False,
        num_parallel_calls: int | None = None,
        deterministic: bool | None = None,
        name: str | None = None,
    ) -> Dataset:
        """Consecutive elements stacked into batches of ``batch_size`` along
        a new first axis; the last batch may be smaller unless
        ``drop_remainder=True``.

        >>> import tapegrad as tf
        >>> [b.numpy().tolist() for b in tf.data.Dataset.range(5).batch(2)]
        [[0, 1], [2, 3], [4]]
        """
        batch_size = _check_count(batch_size, "batch_size")
        if batch_size <= 0:
            raise InvalidArgumentError(f"batch: batch_size must be greater than zero, got "
                                       f"{batch_size}")
        return _BatchDataset(self, batch_size, bool(drop_remainder))

    def padded_batch(
        self,
        batch_size: int,
        padded_shapes: Any = None,
        padding_values: Any = None,
        drop_remainder: bool = False,
        name: str | None = None,
    ) -> Dataset:
        """Like ``batch``, padding each component to the largest shape in the
        batch (or to ``padded_shapes``, ``None``/-1 meaning "the largest")
        with ``padding_values`` (default 0 / False).

        >>> import tapegrad as tf
        >>> ds = tf.data.Dataset.range(1, 4).map(lambda n: tf.fill([n], n))
        >>> [b.numpy().tolist() for b in ds.padded_batch(2)]
        [[[1, 0], [2, 2]], [[3, 3, 3]]]
        """
        batch_size = _check_count(batch_size, "batch_size")
        if batch_size <= 0:
            raise InvalidArgumentError(f"padded_batch: batch_size must be greater than zero, "
                                       f"got {batch_size}")
        return _PaddedBatchDataset(self, batch_size, padded_shapes, padding_values,
                                   bool(drop_remainder))

    def unbatch(self, name: str | None = None) -> Dataset:
        """Split each element along its first axis into that many elements.

        >>> import tapegrad as tf
        >>> list(tf.data.Dataset.from_tensors([[1, 2], [3, 4]]).unbatch().as_numpy_iterator())
        [array([1, 2], dtype=int32), array([3, 4], dtype=int32)]
        """
        return _UnbatchDataset(self)

    def shuffle(
        self,
        buffer_size: int,
        seed: int | None = None,
        reshuffle_each_iteration: bool = True,
        name: str | None = None,
    ) -> Dataset:
        """Randomly shuffle with TF's buffer semantics: a buffer of
        ``buffer_size`` elements is filled and each output is drawn uniformly
        from it, its place taken by the next input (``buffer_size`` at least
        the dataset's size gives a uniform permutation). With ``seed`` the
        order is reproducible (not TF's order: the same multiset), as it is
        after ``tf.random.set_seed``; with ``reshuffle_each_iteration`` every
        epoch has a new order.

        >>> import tapegrad as tf
        >>> ds = tf.data.Dataset.range(5).shuffle(5, seed=1)
        >>> sorted(ds.as_numpy_iterator()) == list(range(5))
        True
        """
        buffer_size = _check_count(buffer_size, "buffer_size")
        if buffer_size == AUTOTUNE:
            raise ValueError("shuffle: buffer_size=AUTOTUNE is not supported; pass a size")
        if buffer_size <= 0:
            raise InvalidArgumentError(
                f"shuffle: buffer_size must be greater than zero, got {buffer_size}"
            )
        return _ShuffleDataset(self, buffer_size, seed, bool(reshuffle_each_iteration))

    def repeat(self, count: int | None = None, name: str | None = None) -> Dataset:
        """The dataset ``count`` times (forever for ``None`` or -1); each
        pass is a new iteration (a shuffle reshuffles).

        >>> import tapegrad as tf
        >>> list(tf.data.Dataset.range(2).repeat(2).as_numpy_iterator())
        [np.int64(0), np.int64(1), np.int64(0), np.int64(1)]
        """
        n = -1 if count is None else _check_count(count, "count")
        return _RepeatDataset(self, n)

    def take(self, count: int, name: str | None = None) -> Dataset:
        """The first ``count`` elements (all for -1).

        >>> import tapegrad as tf
        >>> list(tf.data.Dataset.range(10).take(2).as_numpy_iterator())
        [np.int64(0), np.int64(1)]
        """
        return _TakeDataset(self, _check_count(count, "count"))

    def skip(self, count: int, name: str | None = None) -> Dataset:
        """All but the first ``count`` elements (none for -1).

        >>> import tapegrad as tf
        >>> list(tf.data.Dataset.range(4).skip(2).as_numpy_iterator())
        [np.int64(2), np.int64(3)]
        """
        return _SkipDataset(self, _check_count(count, "count"))

    def shard(self, num_shards: int, index: int, name: str | None = None) -> Dataset:
        """Every ``num_shards``-th element starting at ``index``.

        >>> import tapegrad as tf
        >>> list(tf.data.Dataset.range(7).shard(3, 1).as_numpy_iterator())
        [np.int64(1), np.int64(4)]
        """
        num_shards, index = int(num_shards), int(index)
        if num_shards <= 0 or not 0 <= index < num_shards:
            raise InvalidArgumentError(
                f"shard: need num_shards > 0 and 0 <= index < num_shards, got "
                f"num_shards={num_shards}, index={index}"
            )
        return _ShardDataset(self, num_shards, index)

    def prefetch(self, buffer_size: int, name: str | None = None) -> Dataset:
        """Produce up to ``buffer_size`` elements ahead in a background
        thread, so the input pipeline overlaps the consumer's work (e.g. a
        training step); ``tf.data.AUTOTUNE`` picks the buffer.

        >>> import tapegrad as tf
        >>> list(tf.data.Dataset.range(3).prefetch(tf.data.AUTOTUNE).as_numpy_iterator())
        [np.int64(0), np.int64(1), np.int64(2)]
        """
        size = _check_count(buffer_size, "buffer_size")
        if size == AUTOTUNE:
            size = 4
        if size < 0:
            raise InvalidArgumentError(f"prefetch: buffer_size must be >= 0 or AUTOTUNE, got "
                                       f"{size}")
        return self if size == 0 else _PrefetchDataset(self, size)

    def cache(self, filename: str = "", name: str | None = None) -> Dataset:
        """Keep the elements of the first complete iteration and replay them
        afterwards (upstream work, e.g. a ``map``, runs once): in memory, or
        with ``filename`` in TF's files ``filename.index`` and
        ``filename.data-00000-of-00001``, which later iterations and other
        datasets caching to the same ``filename`` read instead of their
        input. A partial pass leaves no cache; a second writer while one is
        writing raises ``tf.errors.AlreadyExistsError`` (TF's lockfile).

        >>> import os, tempfile, tapegrad as tf
        >>> calls = []
        >>> ds = tf.data.Dataset.range(3).map(lambda x: (calls.append(1), x)[1]).cache()
        >>> _ = list(ds), list(ds)
        >>> len(calls)
        3
        >>> prefix = os.path.join(tempfile.mkdtemp(), "cache")
        >>> _ = list(tf.data.Dataset.range(3).cache(prefix))
        >>> sorted(os.listdir(os.path.dirname(prefix)))
        ['cache.data-00000-of-00001', 'cache.index']
        >>> [int(x) for x in tf.data.Dataset.range(10, 20).cache(prefix)]  # read from the files
        [0, 1, 2]
        """
        filename = os.fspath(filename)
        if filename:
            return _FileCacheDataset(self, filename)
        return _CacheDataset(self)

    def enumerate(self, start: int = 0, name: str | None = None) -> Dataset:  # noqa: A003
        """``(index, element)`` pairs, the index an int64 counting from ``start``.

        >>> import tapegrad as tf
        >>> [(int(i), int(x)) for i, x in tf.data.Dataset.range(5, 7).enumerate()]
        [(0, 5), (1, 6)]
        """
        return Dataset.zip(_RangeDataset(int(start), np.iinfo(np.int64).max), self)

    def window(
        self,
        size: int,
        shift: int | None = None,
        stride: int = 1,
        drop_remainder: bool = False,
        name: str | None = None,
    ) -> Dataset:
        """Windows of ``size`` elements (every ``stride``-th), a new window
        every ``shift`` elements; each window is a (structure of) dataset(s).

        >>> import tapegrad as tf
        >>> windows = tf.data.Dataset.range(7).window(3, shift=2, drop_remainder=True)
        >>> [list(w.as_numpy_iterator()) for w in windows]
        [[np.int64(0), np.int64(1), np.int64(2)], [np.int64(2), np.int64(3), np.int64(4)],
         [np.int64(4), np.int64(5), np.int64(6)]]
        """
        size = _check_count(size, "size")
        shift = size if shift is None else _check_count(shift, "shift")
        stride = _check_count(stride, "stride")
        for arg, value in (("size", size), ("shift", shift), ("stride", stride)):
            if value <= 0:
                raise InvalidArgumentError(f"window: {arg} must be positive, got {value}")
        return _WindowDataset(self, size, shift, stride, bool(drop_remainder))

    def save(self, path: str, compression: str | None = None,
             shard_func: Callable[..., Any] | None = None,
             checkpoint_args: Any = None) -> None:
        """Write the elements under the directory ``path`` for
        ``Dataset.load`` (TF's snapshot layout, tapegrad's encoding: see
        docs/compat.md); ``compression`` None or ``"GZIP"``; ``shard_func``
        maps an element to its shard (an int64 scalar; one shard without it).

        >>> import os, tempfile, tapegrad as tf
        >>> path = os.path.join(tempfile.mkdtemp(), "saved")
        >>> tf.data.Dataset.range(6).batch(4).save(path, compression="GZIP")
        >>> loaded = tf.data.Dataset.load(path, compression="GZIP")
        >>> loaded.element_spec, int(loaded.cardinality())
        (TensorSpec(shape=(None,), dtype=tf.int64, name=None), 2)
        >>> [b.tolist() for b in loaded.as_numpy_iterator()]
        [[0, 1, 2, 3], [4, 5]]
        """
        if checkpoint_args is not None:
            raise NotImplementedError("Dataset.save: checkpoint_args is not supported")
        shard_of = None
        if shard_func is not None:
            func = shard_func

            def shard_of(element: Any) -> int:
                shard = np.asarray(_call(func, element))
                if shard.ndim != 0 or not np.issubdtype(shard.dtype, np.integer) or shard < 0:
                    raise InvalidArgumentError(
                        f"Dataset.save: shard_func must return a non-negative integer scalar, "
                        f"got {shard!r}"
                    )
                return int(shard)

        _files.save(self._elements(), self.element_spec, os.fspath(path), compression, shard_of)

    @staticmethod
    def load(path: str, element_spec: Any = None, compression: str | None = None,
             reader_func: Callable[[Dataset], Dataset] | None = None,
             wait: bool = False) -> Dataset:
        """The dataset ``Dataset.save`` wrote under ``path`` (its spec read
        from the files unless ``element_spec`` is given); ``reader_func``
        receives the dataset of shard datasets (by default TF's: interleaved
        with ``cycle_length=os.cpu_count()``).

        >>> import os, tempfile, tapegrad as tf
        >>> path = os.path.join(tempfile.mkdtemp(), "saved")
        >>> tf.data.Dataset.from_tensor_slices({"x": [1.0, 2.0]}).save(path)
        >>> list(tf.data.Dataset.load(path))
        [{'x': <tapegrad.Tensor: shape=(), dtype=float32, numpy=1.0>},
         {'x': <tapegrad.Tensor: shape=(), dtype=float32, numpy=2.0>}]
        """
        if wait:
            raise NotImplementedError("Dataset.load: wait=True (distributed snapshots) is not "
                                      "supported")
        return _LoadedDataset(os.fspath(path), element_spec, compression, reader_func)

    def reduce(self, initial_state: Any, reduce_func: Callable[[Any, Any], Any]) -> Any:
        """Fold the elements into ``initial_state`` with ``reduce_func(state, element)``.

        >>> import tapegrad as tf
        >>> int(tf.data.Dataset.range(5).reduce(tf.constant(0, tf.int64), lambda s, x: s + x))
        10
        """
        state = st.map_structure(st.to_tensor, st.normalize(initial_state))
        for element in self._elements():
            tensors = st.map_structure(st.to_tensor, element)
            state = reduce_func(state, tensors)
        return state

    def apply(self, transformation_func: Callable[[Dataset], Dataset]) -> Dataset:
        """``transformation_func(self)``, for chaining custom transformations.

        >>> import tapegrad as tf
        >>> int(tf.data.Dataset.range(9).apply(lambda d: d.skip(4)).cardinality())
        5
        """
        return transformation_func(self)

    def options(self) -> Any:
        """The (empty) options: tapegrad has no graph optimizations to tune."""
        return _Options()

    def with_options(self, options: Any, name: str | None = None) -> Dataset:
        """Accepted for compatibility; tapegrad's pipelines ignore options.

        >>> import tapegrad as tf
        >>> len(tf.data.Dataset.range(3).with_options(tf.data.Options()))
        3
        """
        return self


class _Options:
    """``tf.data.Options``: accepted so pipelines that set them run; ignored.

    >>> import tapegrad as tf
    >>> opts = tf.data.Options()
    >>> opts.deterministic = True
    """

    def __init__(self) -> None:
        self.__dict__["_values"] = {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        values: dict[str, Any] = self.__dict__["_values"]
        return values.setdefault(name, _Options())

    def __setattr__(self, name: str, value: Any) -> None:
        self.__dict__["_values"][name] = value


Options = _Options


class _SeedStream:
    """The seeds of a random transformation's successive iterations (a
    shuffle's epochs): the k-th is a function of ``(seed, k)``, so the
    randomness an iterator will see is fixed by the counter ``drawn``, which
    an iterator checkpoint saves. Without ``seed`` the base seed is drawn
    from tapegrad's random stream (reproducible under ``tf.random.set_seed``)."""

    def __init__(self, seed: int | None) -> None:
        if seed is None:
            seed = int(_core.random_uniform([], maxval=2**62, dtype="int64"))
        self._seed = int(seed) % 2**64
        self.drawn = 0
        self._lock = threading.Lock()

    def next_seed(self) -> int:
        with self._lock:
            k, self.drawn = self.drawn, self.drawn + 1
        return int(np.random.default_rng([self._seed, k]).integers(2**63))


def _seed_streams(dataset: Dataset) -> list[_SeedStream]:
    """The seed streams of the random transformations in ``dataset``'s
    pipeline, in a fixed (depth-first) order."""
    found: list[_SeedStream] = []
    seen: set[int] = set()

    def visit(value: Any) -> None:
        if isinstance(value, _SeedStream):
            found.append(value)
        elif isinstance(value, Dataset) and id(value) not in seen:
            seen.add(id(value))
            for name, attribute in sorted(vars(value).items()):
                if name not in ("_cached", "_spec_cache"):  # data, not pipeline
                    visit(attribute)
        elif isinstance(value, (list, tuple)) and value and isinstance(value[0], Dataset):
            for item in value:
                visit(item)

    visit(dataset)
    return found


class OwnedIterator:
    """An iterator over a dataset's elements (``iter(dataset)``); also
    ``get_next()`` and ``element_spec``.

    >>> import tapegrad as tf
    >>> it = iter(tf.data.Dataset.range(2))
    >>> int(it.get_next()), int(next(it))
    (0, 1)
    """

    def __init__(self, dataset: Dataset) -> None:
        self._dataset = dataset
        # the state a checkpoint saves: the random streams' counters when this
        # iterator began, and the number of elements it delivered since
        self._streams = _seed_streams(dataset)
        self._stream_starts = [stream.drawn for stream in self._streams]
        self._elements = dataset._elements()
        self._position = 0

    def _checkpoint_state(self) -> np.ndarray:
        """``[position, *stream counters at the start]`` as int64."""
        return np.array([self._position, *self._stream_starts], dtype=np.int64)

    def _restore_state(self, state: np.ndarray) -> None:
        """Rewind the random streams to where the saved iterator began, start
        over and skip its ``position`` elements: the same pipeline (seeds
        included) then continues exactly as the saved iterator would."""
        values = [int(v) for v in np.atleast_1d(state)]
        position, starts = values[0], values[1:]
        if starts:
            if len(starts) != len(self._streams):
                raise InvalidArgumentError(
                    f"cannot restore the iterator: the checkpoint's pipeline has {len(starts)} "
                    f"random transformation(s) (shuffle, sample_from_datasets), this one "
                    f"{len(self._streams)}; rebuild the same pipeline before restoring"
                )
            for stream, start in zip(self._streams, starts, strict=True):
                stream.drawn = start
            self._stream_starts = starts
        self._restore_position(position)

    def _restore_position(self, position: int) -> None:
        """Start over and skip ``position`` elements."""
        self._elements = self._dataset._elements()
        skipped = sum(1 for _ in itertools.islice(self._elements, position))
        if skipped != position:
            raise InvalidArgumentError(
                f"cannot restore an iterator at position {position}: the dataset has only "
                f"{skipped} elements"
            )
        self._position = position

    @property
    def element_spec(self) -> Any:
        return self._dataset.element_spec

    def __iter__(self) -> OwnedIterator:
        return self

    def __next__(self) -> Any:
        element = next(self._elements)
        self._position += 1
        if isinstance(element, np.ndarray):
            return _core.constant(element)
        return st.map_structure(st.to_tensor, element)

    def get_next(self) -> Any:
        """The next element; ``tf.errors.OutOfRangeError`` at the end."""
        try:
            return self.__next__()
        except StopIteration:
            raise OutOfRangeError("End of sequence") from None



# ---- sources -------------------------------------------------------------------------


class _TensorSlicesDataset(Dataset):
    def __init__(self, tensors: Any) -> None:
        self._structure = st.normalize(tensors)
        self._arrays = [st.as_array(leaf) for leaf in st.flatten(self._structure)]
        if any(a.ndim == 0 for a in self._arrays):
            raise InvalidArgumentError(
                "from_tensor_slices: every component needs at least one dimension to slice; "
                f"got shapes {[a.shape for a in self._arrays]}"
            )
        lengths = {a.shape[0] for a in self._arrays}
        if len(lengths) != 1:
            raise InvalidArgumentError(
                "from_tensor_slices: all components must have the same size in dimension 0, "
                f"got shapes {[a.shape for a in self._arrays]}"
            )
        self._length: int = lengths.pop()
        self._single = not st.is_container(self._structure)

    def _compute_spec(self) -> Any:
        specs = [TensorSpec(a.shape[1:], a.dtype) for a in self._arrays]
        return st.pack_as(self._structure, specs)

    def _cardinality(self) -> int:
        return self._length

    def _elements(self) -> Iterator[Any]:
        # `a[i, ...]` is a (0-d for vectors) array view, never a numpy scalar copy
        if self._single:
            source = self._arrays[0]
            for i in range(self._length):
                yield source[i, ...]
            return
        for i in range(self._length):
            yield st.pack_as(self._structure, [a[i, ...] for a in self._arrays])

    def _gather(self, indices: np.ndarray) -> Any:
        """The rows ``indices`` of every component, stacked (one numpy gather each)."""
        start, stop = int(indices[0]), int(indices[-1]) + 1
        contiguous = stop - start == len(indices) and (
            len(indices) == 1 or bool(np.all(np.diff(indices) == 1))
        )
        if contiguous:
            rows = [a[start:stop] for a in self._arrays]
        else:
            rows = [np.take(a, indices, axis=0) for a in self._arrays]
        return rows[0] if self._single else st.pack_as(self._structure, rows)

    def _index_plan(self) -> tuple[_TensorSlicesDataset, Callable[[], Iterator[np.ndarray]]]:
        n = self._length

        def order() -> Iterator[np.ndarray]:
            for start in range(0, n, _INDEX_CHUNK):
                yield np.arange(start, min(n, start + _INDEX_CHUNK), dtype=np.int64)

        return self, order


class _TensorsDataset(Dataset):
    def __init__(self, tensors: Any) -> None:
        self._element = st.normalize(tensors)

    def _compute_spec(self) -> Any:
        return st.spec_of(self._element)

    def _cardinality(self) -> int:
        return 1

    def _elements(self) -> Iterator[Any]:
        yield self._element


class _RangeDataset(Dataset):
    def __init__(self, *args: Any, output_type: Any = "int64") -> None:
        values = [int(np.asarray(a)) for a in args]
        if not 1 <= len(values) <= 3:
            raise TypeError(f"range takes 1 to 3 arguments (start, stop, step), got {len(values)}")
        if len(values) == 1:
            values = [0, values[0], 1]
        elif len(values) == 2:
            values.append(1)
        self._start, self._stop, self._step = values
        if self._step == 0:
            raise InvalidArgumentError("range: step must not be 0")
        self._dtype = np.dtype(as_dtype(output_type).name)

    def _compute_spec(self) -> Any:
        return TensorSpec([], self._dtype)

    def _cardinality(self) -> int:
        return len(range(self._start, self._stop, self._step))

    def _elements(self) -> Iterator[Any]:
        dtype = self._dtype
        for value in range(self._start, self._stop, self._step):
            yield np.array(value, dtype=dtype)


class _GeneratorDataset(Dataset):
    def __init__(self, generator: Callable[..., Iterable[Any]], signature: Any,
                 args: Any) -> None:
        if not callable(generator):
            raise TypeError("from_generator: `generator` must be a callable.")
        self._generator = generator
        self._signature = signature
        self._args = tuple(args) if args is not None else ()
        for spec in st.flatten(signature):
            if not isinstance(spec, TensorSpec):
                raise TypeError(
                    f"from_generator: output_signature must be a structure of tf.TensorSpec, "
                    f"got {spec!r}"
                )

    def _compute_spec(self) -> Any:
        return self._signature

    def _elements(self) -> Iterator[Any]:
        args = [st.to_tensor(st.normalize_leaf(a)) for a in self._args]
        where = "from_generator"
        for value in self._generator(*args):
            if isinstance(value, list) and st.is_container(self._signature):
                value = tuple(value)
            if not st.is_container(self._signature):
                yield st.from_spec_value(value, self._signature, where)
                continue
            try:
                st.assert_same_structure(self._signature, value, where)
            except TypeError:
                raise TypeError(
                    f"{where}: `generator` yielded an element that did not match the expected "
                    f"structure. The expected structure was {self._signature!r}, but the yielded "
                    f"element was {value!r}."
                ) from None
            leaves = [
                st.from_spec_value(v, s, where)
                for v, s in zip(st.flatten(value), st.flatten(self._signature), strict=True)
            ]
            yield st.pack_as(self._signature, leaves)


class _ZipDataset(Dataset):
    def __init__(self, datasets: Any) -> None:
        leaves = st.flatten(datasets)
        if not leaves or not all(isinstance(d, Dataset) for d in leaves):
            raise TypeError(
                f"zip: expected datasets (or a tuple/dict of datasets), got {datasets!r}"
            )
        self._datasets = datasets
        self._leaves: list[Dataset] = leaves

    def _compute_spec(self) -> Any:
        return st.pack_as(self._datasets, [d.element_spec for d in self._leaves])

    def _cardinality(self) -> int:
        counts = [d._cardinality() for d in self._leaves]
        finite = [c for c in counts if c >= 0]
        if _UNKNOWN in counts:
            return _UNKNOWN
        return min(finite) if finite else _INF

    def _elements(self) -> Iterator[Any]:
        iterators = [d._elements() for d in self._leaves]
        for parts in zip(*iterators, strict=False):
            yield st.pack_as(self._datasets, list(parts))


# ---- transformations -----------------------------------------------------------------


def _common_spec(datasets: list[Dataset], where: str) -> Any:
    specs = [d.element_spec for d in datasets]
    merged = st.flatten(specs[0])
    for spec in specs[1:]:
        st.assert_same_structure(specs[0], spec, where)
        flat = st.flatten(spec)
        if any(a.dtype != b.dtype or len(a.shape) != len(b.shape)
               for a, b in zip(merged, flat, strict=True)):
            raise TypeError(f"{where}: the datasets' elements differ in dtype or rank: {specs}")
        merged = [a.most_specific_compatible_type(b) for a, b in zip(merged, flat, strict=True)]
    return st.pack_as(specs[0], merged)


class _ChooseDataset(Dataset):
    def __init__(self, datasets: list[Dataset], choices: Dataset, stop_on_empty: bool) -> None:
        if not datasets or not all(isinstance(d, Dataset) for d in datasets):
            raise TypeError("choose_from_datasets: `datasets` must be a non-empty list of datasets")
        spec = choices.element_spec
        if not isinstance(spec, TensorSpec) or spec.dtype != "int64" or len(spec.shape):
            raise TypeError(
                f"choose_from_datasets: `choice_dataset` must yield int64 scalars, got {spec}"
            )
        self._datasets, self._choices, self._stop = datasets, choices, stop_on_empty

    def _compute_spec(self) -> Any:
        return _common_spec(self._datasets, "choose_from_datasets")

    def _elements(self) -> Iterator[Any]:
        self.element_spec  # noqa: B018 - checks the datasets agree before iterating
        iterators: list[Iterator[Any] | None] = [d._elements() for d in self._datasets]
        for choice in self._choices._elements():
            i = int(choice)
            if not 0 <= i < len(iterators):
                raise InvalidArgumentError(
                    f"choose_from_datasets: choice {i} is outside [0, {len(iterators)})"
                )
            current = iterators[i]
            if current is None:
                continue
            try:
                yield next(current)
            except StopIteration:
                if self._stop:
                    return
                iterators[i] = None


class _SampleDataset(Dataset):
    def __init__(self, datasets: list[Dataset], probabilities: np.ndarray, seed: int | None,
                 stop_on_empty: bool, rerandomize: bool) -> None:
        if not datasets or not all(isinstance(d, Dataset) for d in datasets):
            raise TypeError("sample_from_datasets: `datasets` must be a non-empty list of datasets")
        self._datasets, self._probabilities, self._stop = datasets, probabilities, stop_on_empty
        self._seeds = _SeedStream(seed)
        self._fixed_seed = None if rerandomize else self._seeds.next_seed()

    def _compute_spec(self) -> Any:
        return _common_spec(self._datasets, "sample_from_datasets")

    def _cardinality(self) -> int:
        counts = [d._cardinality() for d in self._datasets]
        return _INF if all(c == _INF for c in counts) else _UNKNOWN

    def _elements(self) -> Iterator[Any]:
        self.element_spec  # noqa: B018 - checks the datasets agree before iterating
        seed = self._fixed_seed
        rng = np.random.default_rng(self._seeds.next_seed() if seed is None else seed)
        iterators: list[Iterator[Any] | None] = [d._elements() for d in self._datasets]
        probabilities = self._probabilities.copy()
        while probabilities.sum() > 0:
            i = int(rng.choice(len(iterators), p=probabilities / probabilities.sum()))
            current = iterators[i]
            assert current is not None
            try:
                yield next(current)
            except StopIteration:
                if self._stop:
                    return
                iterators[i] = None
                probabilities[i] = 0.0


class _UnaryDataset(Dataset):
    def __init__(self, input_dataset: Dataset) -> None:
        if not isinstance(input_dataset, Dataset):
            raise TypeError(f"expected a tf.data.Dataset, got {type(input_dataset).__name__}")
        self._input = input_dataset

    def _compute_spec(self) -> Any:
        return self._input.element_spec

    def _cardinality(self) -> int:
        return self._input._cardinality()


class _ConcatenateDataset(Dataset):
    def __init__(self, first: Dataset, second: Dataset) -> None:
        if not isinstance(second, Dataset):
            raise TypeError(f"concatenate: expected a tf.data.Dataset, got {second!r}")
        self._first, self._second = first, second

    def _compute_spec(self) -> Any:
        a, b = self._first.element_spec, self._second.element_spec
        st.assert_same_structure(a, b, "concatenate")
        merged = []
        for sa, sb in zip(st.flatten(a), st.flatten(b), strict=True):
            if sa.dtype != sb.dtype or len(sa.shape) != len(sb.shape):
                raise TypeError(
                    f"concatenate: incompatible dataset elements: {a!r} and {b!r}; "
                    "both need the same dtypes and ranks"
                )
            merged.append(sa.most_specific_compatible_type(sb))
        return st.pack_as(a, merged)

    def _cardinality(self) -> int:
        a, b = self._first._cardinality(), self._second._cardinality()
        if _INF in (a, b):
            return _INF
        if _UNKNOWN in (a, b):
            return _UNKNOWN
        return a + b

    def _elements(self) -> Iterator[Any]:
        self.element_spec  # noqa: B018 - checks the two element types before iterating
        yield from self._first._elements()
        yield from self._second._elements()


class _MapDataset(_UnaryDataset):
    def __init__(self, input_dataset: Dataset, fn: Callable[..., Any], parallelism: int,
                 deterministic: bool | None) -> None:
        super().__init__(input_dataset)
        if not callable(fn):
            raise TypeError(f"map: map_func must be callable, got {fn!r}")
        self._fn = fn
        self._parallelism = parallelism
        self._deterministic = deterministic is not False

    def _compute_spec(self) -> Any:
        # Without tracing, the spec is that of the function's output on the
        # first element (see docs/compat.md).
        for element in self._elements():
            return st.spec_of(element)
        return self._input.element_spec

    def _apply(self, element: Any) -> Any:
        return st.normalize_function_output(_call(self._fn, element))

    def _elements(self) -> Iterator[Any]:
        if self._parallelism == 1:
            for element in self._input._elements():
                yield self._apply(element)
            return
        yield from _parallel_map(self._input._elements(), self._apply, self._parallelism,
                                 self._deterministic)


def _parallel_map(source: Iterator[Any], fn: Callable[[Any], Any], parallelism: int,
                  deterministic: bool) -> Iterator[Any]:
    """``fn`` over ``source`` with up to ``parallelism`` calls in flight in threads."""
    with ThreadPoolExecutor(max_workers=parallelism, thread_name_prefix="tf.data.map") as pool:
        pending: deque[Future[Any]] = deque()
        exhausted = False
        try:
            while True:
                while not exhausted and len(pending) < parallelism:
                    try:
                        element = next(source)
                    except StopIteration:
                        exhausted = True
                        break
                    pending.append(pool.submit(fn, element))
                if not pending:
                    return
                if deterministic:
                    yield pending.popleft().result()
                else:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    finished = next(f for f in pending if f in done)
                    pending.remove(finished)
                    yield finished.result()
        finally:
            for future in pending:
                future.cancel()


class _FilterDataset(_UnaryDataset):
    def __init__(self, input_dataset: Dataset, predicate: Callable[..., Any]) -> None:
        super().__init__(input_dataset)
        self._predicate = predicate

    def _cardinality(self) -> int:
        return _INF if self._input._cardinality() == _INF else _UNKNOWN

    def _elements(self) -> Iterator[Any]:
        for element in self._input._elements():
            keep = np.asarray(st.to_array(_call(self._predicate, element)))
            if keep.dtype != np.bool_ or keep.ndim != 0:
                raise InvalidArgumentError(
                    f"filter: the predicate must return a scalar bool tensor, got shape "
                    f"{keep.shape} dtype {keep.dtype}"
                )
            if keep:
                yield element


class _FlatMapDataset(_UnaryDataset):
    def __init__(self, input_dataset: Dataset, fn: Callable[..., Dataset]) -> None:
        super().__init__(input_dataset)
        self._fn = fn

    def _inner(self, element: Any) -> Dataset:
        inner = _call(self._fn, element)
        if not isinstance(inner, Dataset):
            raise TypeError(f"flat_map: map_func must return a Dataset, got {inner!r}")
        return inner

    def _compute_spec(self) -> Any:
        for element in self._input._elements():
            return self._inner(element).element_spec
        raise ValueError("flat_map over an empty dataset has no element_spec")

    def _cardinality(self) -> int:
        return _UNKNOWN

    def _elements(self) -> Iterator[Any]:
        for element in self._input._elements():
            yield from self._inner(element)._elements()


class _InterleaveDataset(_FlatMapDataset):
    def __init__(self, input_dataset: Dataset, fn: Callable[..., Dataset], cycle: int,
                 block: int) -> None:
        super().__init__(input_dataset, fn)
        self._cycle, self._block = cycle, block

    def _elements(self) -> Iterator[Any]:
        source = self._input._elements()
        slots: list[Iterator[Any] | None] = [None] * self._cycle
        input_done = False
        index = 0
        while not input_done or any(s is not None for s in slots):
            current = slots[index]
            if current is None and not input_done:
                try:
                    current = slots[index] = self._inner(next(source))._elements()
                except StopIteration:
                    input_done = True
            if current is not None:
                produced = 0
                for element in itertools.islice(current, self._block):
                    produced += 1
                    yield element
                if produced < self._block:  # exhausted: the slot reopens on a later turn
                    slots[index] = None
            index = (index + 1) % self._cycle


class _ScanDataset(_UnaryDataset):
    def __init__(self, input_dataset: Dataset, initial_state: Any,
                 fn: Callable[[Any, Any], Any]) -> None:
        super().__init__(input_dataset)
        self._initial = st.normalize(initial_state)
        self._fn = fn

    def _compute_spec(self) -> Any:
        for element in self._elements():
            return st.spec_of(element)
        raise ValueError("scan over an empty dataset has no element_spec")

    def _cardinality(self) -> int:
        return self._input._cardinality()

    def _elements(self) -> Iterator[Any]:
        state = st.map_structure(st.to_tensor, self._initial)
        for element in self._input._elements():
            with _core.Suspension():
                result = self._fn(state, st.map_structure(st.to_tensor, element))
            if not isinstance(result, (tuple, list)) or len(result) != 2:
                raise TypeError("scan: scan_func must return a pair (new_state, output)")
            new_state, output = result
            st.assert_same_structure(self._initial, st.normalize(new_state), "scan state")
            state = st.map_structure(st.to_tensor, st.normalize(new_state))
            yield st.normalize_function_output(output)


def _stack(elements: list[Any], where: str) -> Any:
    """Elements stacked along a new first axis, component by component."""
    first = elements[0]
    flat = [st.flatten(e) for e in elements]
    stacked = []
    for i, leaf in enumerate(st.flatten(first)):
        arrays = [st.as_array(parts[i]) for parts in flat]
        shapes = {a.shape for a in arrays}
        if len(shapes) != 1:
            raise InvalidArgumentError(
                f"{where}: cannot batch tensors with different shapes in component {i}: "
                f"{sorted(shapes)}. Use padded_batch, or make the shapes equal first."
            )
        stacked.append(np.stack(arrays) if not isinstance(leaf, Dataset) else None)
    return st.pack_as(first, stacked)


class _BatchDataset(_UnaryDataset):
    def __init__(self, input_dataset: Dataset, batch_size: int, drop_remainder: bool) -> None:
        super().__init__(input_dataset)
        self._batch_size = batch_size
        self._drop_remainder = drop_remainder

    def _compute_spec(self) -> Any:
        leading = self._batch_size if self._drop_remainder else None
        return st.map_structure(
            lambda s: TensorSpec([leading, *s.shape], s.dtype), self._input.element_spec
        )

    def _cardinality(self) -> int:
        n = self._input._cardinality()
        if n < 0:
            return n
        if self._drop_remainder:
            return n // self._batch_size
        return -(-n // self._batch_size)

    def _elements(self) -> Iterator[Any]:
        plan = self._input._index_plan()
        if plan is not None:
            yield from self._gathered(*plan)
            return
        batch: list[Any] = []
        for element in self._input._elements():
            batch.append(element)
            if len(batch) == self._batch_size:
                yield _stack(batch, "batch")
                batch = []
        if batch and not self._drop_remainder:
            yield _stack(batch, "batch")

    def _gathered(self, source: _TensorSlicesDataset,
                  order: Callable[[], Iterator[np.ndarray]]) -> Iterator[Any]:
        """Batches as gathers of the source rows, ``batch_size`` indices at a time."""
        size = self._batch_size
        carry = np.empty(0, dtype=np.int64)
        for chunk in order():
            if len(carry):
                chunk = np.concatenate([carry, chunk])
            full = len(chunk) - len(chunk) % size
            for start in range(0, full, size):
                yield source._gather(chunk[start:start + size])
            carry = chunk[full:]
        if len(carry) and not self._drop_remainder:
            yield source._gather(carry)


class _PaddedBatchDataset(_UnaryDataset):
    def __init__(self, input_dataset: Dataset, batch_size: int, padded_shapes: Any,
                 padding_values: Any, drop_remainder: bool) -> None:
        super().__init__(input_dataset)
        self._batch_size = batch_size
        self._drop_remainder = drop_remainder
        self._padded_shapes = padded_shapes
        self._padding_values = padding_values

    def _target_shapes(self) -> list[list[int | None]]:
        specs = st.flatten(self._input.element_spec)
        if self._padded_shapes is None:
            return [[None] * len(s.shape) for s in specs]
        shapes = self._padded_shapes
        flat = [shapes] if not st.is_container(self._input.element_spec) else st.flatten(shapes)
        out = []
        for spec, shape in zip(specs, flat, strict=True):
            dims = [None if d is None or int(d) == -1 else int(d)
                    for d in np.asarray(shape).reshape(-1).tolist()]
            if len(dims) != len(spec.shape):
                raise ValueError(
                    f"padded_batch: padded shape {dims} has the wrong rank for component {spec}"
                )
            out.append(dims)
        return out

    def _pad_values(self) -> list[Any]:
        specs = st.flatten(self._input.element_spec)
        if self._padding_values is None:
            return [np.zeros((), s.dtype.as_numpy_dtype) for s in specs]
        values = self._padding_values
        flat = [values] if not st.is_container(self._input.element_spec) else st.flatten(values)
        return [np.asarray(st.to_array(v)).astype(s.dtype.as_numpy_dtype)
                for v, s in zip(flat, specs, strict=True)]

    def _compute_spec(self) -> Any:
        leading = self._batch_size if self._drop_remainder else None
        specs = st.flatten(self._input.element_spec)
        targets = self._target_shapes()
        out = [TensorSpec([leading, *target], s.dtype) for s, target in zip(specs, targets,
                                                                         strict=True)]
        return st.pack_as(self._input.element_spec, out)

    def _cardinality(self) -> int:
        n = self._input._cardinality()
        if n < 0:
            return n
        return n // self._batch_size if self._drop_remainder else -(-n // self._batch_size)

    def _pad(self, batch: list[Any], targets: list[list[int | None]],
             pads: list[Any]) -> Any:
        flat = [st.flatten(e) for e in batch]
        out = []
        for i, (target, pad) in enumerate(zip(targets, pads, strict=True)):
            arrays = [st.as_array(parts[i]) for parts in flat]
            if len({a.ndim for a in arrays}) != 1 or arrays[0].ndim != len(target):
                raise InvalidArgumentError(
                    f"padded_batch: component {i} has ranks {[a.ndim for a in arrays]}; "
                    f"expected {len(target)}"
                )
            largest = np.max([a.shape for a in arrays], axis=0) if arrays[0].ndim else []
            shape = [int(m) if t is None else t for t, m in zip(target, largest, strict=True)]
            result = np.full([len(arrays), *shape], pad, dtype=arrays[0].dtype)
            for row, a in enumerate(arrays):
                if any(d > s for d, s in zip(a.shape, shape, strict=True)):
                    raise InvalidArgumentError(
                        f"padded_batch: an element of shape {a.shape} is larger than the "
                        f"padded shape {shape}"
                    )
                region: tuple[Any, ...] = (row, *(slice(0, d) for d in a.shape))
                result[region] = a
            out.append(result)
        return st.pack_as(batch[0], out)

    def _elements(self) -> Iterator[Any]:
        targets, pads = self._target_shapes(), self._pad_values()
        batch: list[Any] = []
        for element in self._input._elements():
            batch.append(element)
            if len(batch) == self._batch_size:
                yield self._pad(batch, targets, pads)
                batch = []
        if batch and not self._drop_remainder:
            yield self._pad(batch, targets, pads)


class _UnbatchDataset(_UnaryDataset):
    def _compute_spec(self) -> Any:
        def inner(spec: TensorSpec) -> TensorSpec:
            if len(spec.shape) == 0:
                raise ValueError("unbatch: every component needs a first dimension to split")
            return TensorSpec(list(spec.shape)[1:], spec.dtype)

        return st.map_structure(inner, self._input.element_spec)

    def _cardinality(self) -> int:
        return _INF if self._input._cardinality() == _INF else _UNKNOWN

    def _elements(self) -> Iterator[Any]:
        self.element_spec  # noqa: B018 - rank check before iterating
        for element in self._input._elements():
            leaves = [st.as_array(leaf) for leaf in st.flatten(element)]
            lengths = {a.shape[0] for a in leaves}
            if len(lengths) != 1:
                raise InvalidArgumentError(
                    f"unbatch: components have different first dimensions "
                    f"{[a.shape for a in leaves]}"
                )
            for i in range(lengths.pop()):
                yield st.pack_as(element, [a[i, ...] for a in leaves])


class _ShuffleDataset(_UnaryDataset):
    def __init__(self, input_dataset: Dataset, buffer_size: int, seed: int | None,
                 reshuffle: bool) -> None:
        super().__init__(input_dataset)
        self._buffer_size = buffer_size
        self._seeds = _SeedStream(seed)
        self._fixed_seed = None if reshuffle else self._seeds.next_seed()

    def _epoch_rng(self) -> np.random.Generator:
        if self._fixed_seed is not None:
            return np.random.default_rng(self._fixed_seed)
        return np.random.default_rng(self._seeds.next_seed())

    def _elements(self) -> Iterator[Any]:
        yield from _buffer_shuffle(self._input._elements(), self._buffer_size, self._epoch_rng())

    def _index_plan(self) -> tuple[_TensorSlicesDataset, Callable[[], Iterator[np.ndarray]]] | None:
        plan = self._input._index_plan()
        if plan is None:
            return None
        source, parent_order = plan
        n = self._input._cardinality()

        def order() -> Iterator[np.ndarray]:
            rng = self._epoch_rng()
            if 0 <= n <= self._buffer_size:
                # the buffer holds everything: a uniform permutation, vectorised
                indices = np.concatenate(list(parent_order()) or [np.empty(0, np.int64)])
                yield indices[rng.permutation(len(indices))]
                return
            flat = (int(i) for chunk in parent_order() for i in chunk)
            shuffled = _buffer_shuffle(flat, self._buffer_size, rng)
            while True:
                chunk = np.fromiter(itertools.islice(shuffled, _INDEX_CHUNK), dtype=np.int64)
                if not len(chunk):
                    return
                yield chunk

        return source, order


def _buffer_shuffle(source: Iterator[Any], buffer_size: int,
                    rng: np.random.Generator) -> Iterator[Any]:
    """TF's shuffle: draw uniformly from a buffer refilled from ``source``."""
    buffer = list(itertools.islice(source, buffer_size))
    # random draws in blocks: one numpy call per 1024 outputs
    while buffer:
        for u in rng.random(1024):
            if not buffer:
                return
            i = int(u * len(buffer))
            element = buffer[i]
            try:
                buffer[i] = next(source)
            except StopIteration:
                buffer[i] = buffer[-1]
                buffer.pop()
            yield element


class _RepeatDataset(_UnaryDataset):
    def __init__(self, input_dataset: Dataset, count: int) -> None:
        super().__init__(input_dataset)
        self._count = count

    def _cardinality(self) -> int:
        n = self._input._cardinality()
        if self._count < 0:
            return 0 if n == 0 else (_INF if n != _UNKNOWN else _UNKNOWN)
        if self._count == 0:
            return 0
        return n * self._count if n >= 0 else n

    def _epochs(self) -> Iterator[int]:
        return itertools.count() if self._count < 0 else iter(range(self._count))

    def _elements(self) -> Iterator[Any]:
        for _ in self._epochs():
            produced = False
            for element in self._input._elements():
                produced = True
                yield element
            if not produced:  # an empty dataset repeated forever is empty
                return

    def _index_plan(self) -> tuple[_TensorSlicesDataset, Callable[[], Iterator[np.ndarray]]] | None:
        plan = self._input._index_plan()
        if plan is None:
            return None
        source, parent_order = plan

        def order() -> Iterator[np.ndarray]:
            for _ in self._epochs():
                produced = False
                for chunk in parent_order():
                    produced = produced or len(chunk) > 0
                    yield chunk
                if not produced:
                    return

        return source, order


class _TakeDataset(_UnaryDataset):
    def __init__(self, input_dataset: Dataset, count: int) -> None:
        super().__init__(input_dataset)
        self._count = count

    def _cardinality(self) -> int:
        n = self._input._cardinality()
        if self._count < 0:
            return n
        if n == _INF:
            return self._count
        return min(n, self._count) if n >= 0 else _UNKNOWN

    def _elements(self) -> Iterator[Any]:
        if self._count < 0:
            return self._input._elements()
        return itertools.islice(self._input._elements(), self._count)


class _SkipDataset(_UnaryDataset):
    def __init__(self, input_dataset: Dataset, count: int) -> None:
        super().__init__(input_dataset)
        self._count = count

    def _cardinality(self) -> int:
        n = self._input._cardinality()
        if n < 0:
            return n
        return 0 if self._count < 0 else max(0, n - self._count)

    def _elements(self) -> Iterator[Any]:
        if self._count < 0:
            return iter(())
        return itertools.islice(self._input._elements(), self._count, None)


class _ShardDataset(_UnaryDataset):
    def __init__(self, input_dataset: Dataset, num_shards: int, index: int) -> None:
        super().__init__(input_dataset)
        self._num_shards, self._index = num_shards, index

    def _cardinality(self) -> int:
        n = self._input._cardinality()
        if n < 0:
            return n
        return n // self._num_shards + (1 if n % self._num_shards > self._index else 0)

    def _elements(self) -> Iterator[Any]:
        return itertools.islice(self._input._elements(), self._index, None, self._num_shards)


_END = object()


class _PrefetchDataset(_UnaryDataset):
    def __init__(self, input_dataset: Dataset, buffer_size: int) -> None:
        super().__init__(input_dataset)
        self._buffer_size = buffer_size

    def _elements(self) -> Iterator[Any]:
        """A producer thread runs the upstream pipeline (and converts the
        elements to tensors) while the consumer works on earlier elements."""
        buffer: queue.Queue[Any] = queue.Queue(maxsize=self._buffer_size)
        stop = threading.Event()
        upstream = self._input._elements()

        def put(item: Any) -> bool:
            while not stop.is_set():
                try:
                    buffer.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def produce() -> None:
            try:
                for element in upstream:
                    tensors = (_core.constant(element) if isinstance(element, np.ndarray)
                               else st.map_structure(st.to_tensor, element))
                    if not put(tensors):
                        return
                put(_END)
            except BaseException as error:  # handed to the consumer, raised there
                put(_Failure(error))

        producer = threading.Thread(target=produce, name="tf.data.prefetch", daemon=True)
        producer.start()
        try:
            while True:
                item = buffer.get()
                if item is _END:
                    return
                if isinstance(item, _Failure):
                    raise item.error
                yield item
        finally:
            stop.set()
            producer.join()


class _Failure:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class _CacheDataset(_UnaryDataset):
    def __init__(self, input_dataset: Dataset) -> None:
        super().__init__(input_dataset)
        self._cached: list[Any] | None = None

    def _elements(self) -> Iterator[Any]:
        if self._cached is not None:
            yield from self._cached
            return
        recorded = []
        for element in self._input._elements():
            recorded.append(element)
            yield element
        # only a complete pass is kept (a partial one is discarded, as in TF)
        self._cached = recorded

    def _index_plan(self) -> tuple[_TensorSlicesDataset, Callable[[], Iterator[np.ndarray]]] | None:
        # caching a slice source is the source itself: nothing to compute twice
        plan = self._input._index_plan()
        if plan is not None and isinstance(self._input, _TensorSlicesDataset):
            return plan
        return None


class _FileCacheDataset(_UnaryDataset):
    def __init__(self, input_dataset: Dataset, filename: str) -> None:
        super().__init__(input_dataset)
        _files.spec_to_json(input_dataset.element_spec)  # elements a file can hold
        self._prefix = filename

    def _elements(self) -> Iterator[Any]:
        return _files.cached_elements(self._prefix, self.element_spec, self._input._elements)


class _LoadedDataset(Dataset):
    def __init__(self, path: str, element_spec: Any, compression: str | None,
                 reader_func: Callable[[Dataset], Dataset] | None) -> None:
        self._path, self._compression = path, compression
        self._header = _files.load_header(path)
        saved_spec = _files.spec_from_json(self._header["element_spec"])
        self._spec = saved_spec if element_spec is None else element_spec
        self._reader_func = reader_func

    def _compute_spec(self) -> Any:
        return self._spec

    def _cardinality(self) -> int:
        if self._reader_func is not None:
            return self._reader()._cardinality()
        return int(self._header["elements"])

    def _reader(self) -> Dataset:
        shards = [_ShardFileDataset(self, shard, count) for shard, count in self._header["shards"]]
        datasets = _ListDataset(shards, DatasetSpec(self._spec))
        if self._reader_func is None:
            return datasets.interleave(lambda shard: shard, cycle_length=os.cpu_count() or 1)
        result = self._reader_func(datasets)
        if not isinstance(result, Dataset):
            raise TypeError(f"Dataset.load: reader_func must return a Dataset, got {result!r}")
        return result

    def _elements(self) -> Iterator[Any]:
        return self._reader()._elements()


class _ShardFileDataset(Dataset):
    """One shard of a saved dataset."""

    def __init__(self, loaded: _LoadedDataset, shard: int, count: int) -> None:
        self._loaded, self._shard, self._count = loaded, shard, count

    def _compute_spec(self) -> Any:
        return self._loaded._spec

    def _cardinality(self) -> int:
        return self._count

    def _elements(self) -> Iterator[Any]:
        loaded = self._loaded
        return _files.shard_elements(loaded._path, loaded._header, self._shard, self._count,
                                     loaded._spec, loaded._compression)


class _WindowDataset(_UnaryDataset):
    def __init__(self, input_dataset: Dataset, size: int, shift: int, stride: int,
                 drop_remainder: bool) -> None:
        super().__init__(input_dataset)
        self._size, self._shift, self._stride = size, shift, stride
        self._drop_remainder = drop_remainder

    def _compute_spec(self) -> Any:
        return st.map_structure(DatasetSpec, self._input.element_spec)

    def _cardinality(self) -> int:
        n = self._input._cardinality()
        if n < 0:
            return n
        span = (self._size - 1) * self._stride + 1
        if self._drop_remainder:
            return 0 if n < span else (n - span) // self._shift + 1
        return -(-n // self._shift)

    def _elements(self) -> Iterator[Any]:
        span = (self._size - 1) * self._stride + 1
        structure = self._input.element_spec
        pending: deque[Any] = deque()
        source = self._input._elements()
        exhausted = False
        while True:
            while not exhausted and len(pending) < span:
                try:
                    pending.append(next(source))
                except StopIteration:
                    exhausted = True
            if not pending:
                return
            members = list(pending)[:: self._stride][: self._size]
            if len(members) < self._size and self._drop_remainder:
                return
            yield self._window(structure, members)
            for _ in range(self._shift):
                if pending:
                    pending.popleft()
                elif not exhausted:
                    try:
                        next(source)
                    except StopIteration:
                        exhausted = True

    @staticmethod
    def _window(structure: Any, members: list[Any]) -> Any:
        flat = [st.flatten(m) for m in members]
        specs = st.flatten(structure)
        datasets = [_ListDataset([parts[i] for parts in flat], spec)
                    for i, spec in enumerate(specs)]
        return st.pack_as(structure, datasets)


class _ListDataset(Dataset):
    """The elements of one window component."""

    def __init__(self, elements: list[Any], spec: Any) -> None:
        self._items = elements
        self._spec = spec

    def _compute_spec(self) -> Any:
        return self._spec

    def _cardinality(self) -> int:
        return len(self._items)

    def _elements(self) -> Iterator[Any]:
        return iter(self._items)



_COMPRESSIONS = {None: "", "": "", "GZIP": "GZIP", "ZLIB": "ZLIB"}


def _text_lines(path: str, compression: str) -> Iterator[np.ndarray]:
    """The lines of one file as 0-d object arrays of bytes, each without its
    ``\\n`` (and a ``\\r`` before it); a last line without one is kept whole."""
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed by the `with` below
    except FileNotFoundError:
        raise NotFoundError(f"{path}; No such file or directory") from None
    with raw:
        stream: Iterable[bytes] = raw
        if compression == "GZIP":
            stream = gzip.GzipFile(fileobj=raw)
        elif compression == "ZLIB":
            stream = io.BytesIO(zlib.decompress(raw.read()))
        for line in stream:
            if line.endswith(b"\n"):
                line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
            yield np.array(line, dtype=object)


class TextLineDataset(Dataset):
    """The lines of text files, one scalar ``tf.string`` each, without their
    line endings (``\\n`` or ``\\r\\n``): file after file, or with
    ``num_parallel_reads=n`` that many files at once, one line from each in
    turn (TF's order). ``filenames`` is a name, a list of names or a string
    tensor; ``compression_type`` is ``None``/``""``, ``"GZIP"`` or ``"ZLIB"``.
    Files are opened as the dataset is iterated (a missing one is a
    ``NotFoundError`` then, as in TF); ``buffer_size`` is accepted.

    >>> import os, tempfile
    >>> import tapegrad as tf
    >>> path = os.path.join(tempfile.mkdtemp(), "lines.txt")
    >>> with open(path, "w") as f:
    ...     _ = f.write("a b\\n\\nc\\n")
    >>> list(tf.data.TextLineDataset(path).as_numpy_iterator())
    [b'a b', b'', b'c']
    """

    def __init__(
        self,
        filenames: Any,
        compression_type: str | None = None,
        buffer_size: int | None = None,
        num_parallel_reads: int | None = None,
        name: str | None = None,
    ) -> None:
        try:  # (an empty list is no files, as TF's)
            names = _core.convert_to_tensor(filenames, dtype_hint="string")
        except TypeError:
            names = _core.convert_to_tensor(filenames)
        if names.dtype != "string":
            raise TypeError(
                "The `filenames` argument must contain `tf.string` elements. Got "
                f"`tf.{names.dtype.name}` elements."
            )
        items = np.asarray(names.numpy(), dtype=object).reshape(-1)
        self._names = [os.fsdecode(item) for item in items]
        if compression_type not in _COMPRESSIONS:
            raise InvalidArgumentError(
                "TextLineDataset: compression_type must be None, '', 'GZIP' or 'ZLIB', got "
                f"{compression_type!r}"
            )
        self._compression = _COMPRESSIONS[compression_type]
        reads = 1 if num_parallel_reads is None else (
            (os.cpu_count() or 1) if num_parallel_reads == AUTOTUNE
            else _check_count(num_parallel_reads, "num_parallel_reads"))
        if reads <= 0:
            raise InvalidArgumentError(
                f"TextLineDataset: num_parallel_reads must be positive, got {num_parallel_reads}"
            )
        self._reads = reads

    def _compute_spec(self) -> Any:
        return TensorSpec([], "string")

    def _elements(self) -> Iterator[Any]:
        files = [_text_lines(path, self._compression) for path in self._names]
        if self._reads == 1:
            for lines in files:
                yield from lines
            return
        # `reads` files open at once, one line each in turn; an exhausted
        # slot takes the next file on its next turn (TF's interleave order)
        pending = iter(files)
        slots: list[Iterator[np.ndarray] | None] = [None] * self._reads
        more = True
        index = 0
        while more or any(slot is not None for slot in slots):
            if slots[index] is None and more:
                slots[index] = next(pending, None)
                more = slots[index] is not None
            current = slots[index]
            if current is not None:
                line = next(current, None)
                if line is None:
                    slots[index] = None
                else:
                    yield line
            index = (index + 1) % self._reads
