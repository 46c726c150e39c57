"""Element structures of ``tf.data``: ``TensorSpec``, ``DatasetSpec`` and the
conversions between user values, the pipeline's internal leaves and tensors.

Inside a pipeline a leaf is a numpy array (slices of the source arrays, no
copy), a ``Tensor`` (what a ``map`` function returned) or a ``Dataset``
(``window``); users only ever see tensors (or numpy, from
``as_numpy_iterator``). Structures follow ``tf.data``'s rules: tuples,
namedtuples and dicts are containers; a Python *list* is one tensor.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .. import _core
from .._shape import TensorShape
from ..dtypes import DType, as_dtype
from ..errors import InvalidArgumentError

__all__ = ["TensorSpec", "DatasetSpec"]

_NATIVE_DTYPES = frozenset(("float32", "float64", "int32", "int64", "bool"))


def _as_shape(shape: Any) -> TensorShape:
    if shape is None:
        raise ValueError("tapegrad TensorSpec needs a known rank: pass a shape, e.g. [None, 3]")
    if isinstance(shape, (_core.Tensor, _core.Variable, np.ndarray)):
        shape = np.asarray(shape).tolist()
    dims: list[int | None] = []
    for d in shape:
        if d is None or (isinstance(d, (int, np.integer)) and d == -1):
            dims.append(None)
        else:
            dims.append(int(d))
    return TensorShape(dims)  # type: ignore[arg-type]  # None: an unknown dimension


class TensorSpec:
    """The type of a tensor: its shape (``None`` for an unknown dimension)
    and dtype, as ``Dataset.element_spec`` reports it (``tf.TensorSpec``).

    >>> import tapegrad as tf
    >>> spec = tf.TensorSpec([None, 3], tf.float32)
    >>> spec
    TensorSpec(shape=(None, 3), dtype=tf.float32, name=None)
    >>> spec.is_compatible_with(tf.zeros([5, 3]))
    True
    """

    __slots__ = ("_shape", "_dtype", "_name")

    def __init__(self, shape: Any, dtype: Any = "float32", name: str | None = None) -> None:
        self._shape = _as_shape(shape)
        self._dtype = as_dtype(dtype)
        self._name = name

    @property
    def shape(self) -> TensorShape:
        return self._shape

    @property
    def dtype(self) -> DType:
        return self._dtype

    @property
    def name(self) -> str | None:
        return self._name

    @classmethod
    def from_tensor(cls, tensor: Any, name: str | None = None) -> TensorSpec:
        """The spec of a concrete tensor (or array).

        >>> import tapegrad as tf
        >>> tf.TensorSpec.from_tensor(tf.constant([1, 2]))
        TensorSpec(shape=(2,), dtype=tf.int32, name=None)
        """
        array = np.asarray(tensor)
        return cls(array.shape, array.dtype, name)

    def is_compatible_with(self, other: Any) -> bool:
        """Whether ``other`` (a spec, tensor or array) fits this spec: same
        dtype, same rank, equal dimensions where both are known."""
        if isinstance(other, TensorSpec):
            shape, dtype = tuple(other.shape), other.dtype
        else:
            array = np.asarray(other)
            shape, dtype = array.shape, as_dtype(array.dtype)
        return dtype == self._dtype and _shape_fits(shape, self._shape)

    def most_specific_compatible_type(self, other: TensorSpec) -> TensorSpec:
        """The spec both fit: unequal dimensions become ``None``."""
        if other.dtype != self._dtype or len(other.shape) != len(self._shape):
            raise TypeError(f"{self} and {other} have no common type")
        dims = [a if a == b else None for a, b in zip(self._shape, other.shape, strict=True)]
        return TensorSpec(dims, self._dtype)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, TensorSpec)
            and tuple(self._shape) == tuple(other._shape)
            and self._dtype == other._dtype
            and self._name == other._name
        )

    def __hash__(self) -> int:
        return hash((tuple(self._shape), self._dtype, self._name))

    def __repr__(self) -> str:
        dims = tuple(self._shape)
        return f"TensorSpec(shape={dims}, dtype=tf.{self._dtype.name}, name={self._name!r})"


class DatasetSpec:
    """The type of a dataset-valued element (``window`` yields these):
    the inner dataset's element spec.

    >>> import tapegrad as tf
    >>> tf.data.Dataset.range(5).window(2).element_spec
    DatasetSpec(TensorSpec(shape=(), dtype=tf.int64, name=None), TensorShape([]))
    """

    __slots__ = ("element_spec",)

    def __init__(self, element_spec: Any) -> None:
        self.element_spec = element_spec

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DatasetSpec) and other.element_spec == self.element_spec

    def __hash__(self) -> int:
        return hash(repr(self))

    def __repr__(self) -> str:
        return f"DatasetSpec({self.element_spec!r}, TensorShape([]))"


def _shape_fits(shape: tuple[Any, ...], spec_shape: tuple[Any, ...]) -> bool:
    return len(shape) == len(spec_shape) and all(
        s is None or d is None or s == d for d, s in zip(shape, spec_shape, strict=True)
    )


# ---- structures ------------------------------------------------------------------


def is_container(x: object) -> bool:
    """tf.data's containers: tuples (and namedtuples) and mappings; a list is a leaf."""
    return isinstance(x, (tuple, dict)) or (isinstance(x, Mapping) and not _is_leaf_type(x))


def _is_leaf_type(x: object) -> bool:
    return isinstance(x, (np.ndarray, _core.Tensor, _core.Variable))


def map_structure(fn: Callable[[Any], Any], structure: Any) -> Any:
    """``fn`` applied to every leaf; containers rebuilt with their own type."""
    if isinstance(structure, tuple):
        items = [map_structure(fn, s) for s in structure]
        if hasattr(structure, "_fields"):  # namedtuple
            return type(structure)(*items)
        return tuple(items)
    if isinstance(structure, Mapping):
        return type(structure)((k, map_structure(fn, v)) for k, v in structure.items())  # type: ignore[call-arg]
    return fn(structure)


def flatten(structure: Any) -> list[Any]:
    """The leaves, dict entries in sorted key order (``tf.nest``'s order)."""
    if isinstance(structure, tuple):
        out: list[Any] = []
        for s in structure:
            out.extend(flatten(s))
        return out
    if isinstance(structure, Mapping):
        out = []
        for k in sorted(structure):
            out.extend(flatten(structure[k]))
        return out
    return [structure]


def pack_as(structure: Any, leaves: list[Any]) -> Any:
    """The inverse of ``flatten``: ``structure`` rebuilt with ``leaves``."""
    iterator = iter(leaves)

    def build(s: Any) -> Any:
        if isinstance(s, tuple):
            items = [build(c) for c in s]
            return type(s)(*items) if hasattr(s, "_fields") else tuple(items)
        if isinstance(s, Mapping):
            values = {k: build(s[k]) for k in sorted(s)}
            return type(s)((k, values[k]) for k in s)  # type: ignore[call-arg]
        return next(iterator)

    return build(structure)


def assert_same_structure(a: Any, b: Any, what: str) -> None:
    def shape_of(s: Any) -> Any:
        if isinstance(s, tuple):
            return ("tuple", tuple(shape_of(c) for c in s))
        if isinstance(s, Mapping):
            return ("dict", tuple((k, shape_of(s[k])) for k in sorted(s)))
        return "leaf"

    if shape_of(a) != shape_of(b):
        raise TypeError(f"{what}: the structures differ: {a!r} vs {b!r}")


# ---- leaves ----------------------------------------------------------------------


def to_array(value: Any) -> np.ndarray:
    """A leaf as a numpy array with tapegrad's dtype rules (numpy arrays of
    float32/64, int32/64 and bool are used as they are, without a copy)."""
    if isinstance(value, np.ndarray) and value.dtype.name in _NATIVE_DTYPES:
        return value
    if isinstance(value, _core.Tensor):
        return np.asarray(value)
    if isinstance(value, _core.Variable):
        return value.numpy()
    return np.asarray(_core.convert_to_tensor(value))


def to_tensor(leaf: Any) -> Any:
    """The leaf as the user sees it: a Tensor (datasets pass through)."""
    if isinstance(leaf, np.ndarray):
        return _core.constant(leaf)
    return leaf


def to_numpy(leaf: Any) -> Any:
    """The leaf as ``as_numpy_iterator`` yields it: an array (a numpy scalar
    for rank 0), never aliasing the pipeline's source arrays."""
    if isinstance(leaf, np.ndarray):
        return leaf[()] if leaf.ndim == 0 else leaf.copy()
    if isinstance(leaf, (_core.Tensor, _core.Variable)):
        array = leaf.numpy()  # (a numpy scalar, or `bytes` for a string, at rank 0)
        return array[()] if isinstance(array, np.ndarray) and array.ndim == 0 else array
    return leaf


def as_array(leaf: Any) -> np.ndarray:
    """Zero-copy numpy view of an internal leaf."""
    return leaf if isinstance(leaf, np.ndarray) else np.asarray(leaf)


def normalize(value: Any) -> Any:
    """A user value as an internal element: containers kept, leaves as arrays."""
    if isinstance(value, (tuple, Mapping)) and not _is_leaf_type(value):
        return map_structure(normalize_leaf, value)
    return normalize_leaf(value)


def normalize_leaf(value: Any) -> Any:
    from ._dataset import Dataset

    if isinstance(value, Dataset):
        return value
    if isinstance(value, _core.Tensor):
        return value
    return to_array(value)


def normalize_function_output(value: Any) -> Any:
    """What a ``map`` function returned, as an element (a top-level list
    becomes a tuple, as in TF)."""
    if isinstance(value, list):
        value = tuple(value)
    return normalize(value)


def spec_of_leaf(leaf: Any) -> Any:
    from ._dataset import Dataset

    if isinstance(leaf, Dataset):
        return DatasetSpec(leaf.element_spec)
    array = as_array(leaf)
    return TensorSpec(array.shape, array.dtype)


def spec_of(element: Any) -> Any:
    return map_structure(spec_of_leaf, element)


def from_spec_value(value: Any, spec: TensorSpec, where: str) -> np.ndarray:
    """A generator's yielded leaf converted to ``spec``'s dtype, its shape checked."""
    array = np.asarray(_core.convert_to_tensor(value, dtype=spec.dtype))
    if not _shape_fits(array.shape, tuple(spec.shape)):
        raise InvalidArgumentError(
            f"{where}: `generator` yielded an element of shape {array.shape} where an element "
            f"of shape {tuple(spec.shape)} was expected."
        )
    return array

