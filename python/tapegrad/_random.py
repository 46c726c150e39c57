"""The implementation behind ``tapegrad.random``'s generators, stateless ops
and initializers (see its docstring)."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _core, errors
from ._core import Tensor, Variable
from ._core import random_normal as normal
from ._core import random_uniform as uniform
from .dtypes import DType, as_dtype, float32, int64
from .types import DTypeLike, ShapeLike, TensorLike

_MASK64 = (1 << 64) - 1


def _numpy_type(kind: DType) -> Any:
    """The numpy scalar type of ``kind`` (typed loosely: numpy's stubs want literals)."""
    return kind.as_numpy_dtype


def _shape(shape: ShapeLike) -> tuple[int, ...]:
    dims = np.asarray(shape, dtype=np.int64).reshape(-1)
    if (dims < 0).any():
        raise errors.InvalidArgumentError(
            f"random: shape must be non-negative, got {dims.tolist()}"
        )
    return tuple(int(d) for d in dims)


def _float_dtype(op: str, dtype: DTypeLike | None) -> DType:
    kind = float32 if dtype is None else as_dtype(dtype)
    if not kind.is_floating:
        raise ValueError(f"{op}: dtype must be float32 or float64, got {kind.name}")
    return kind


def _affine(
    standard: np.ndarray[Any, Any], scale: TensorLike, shift: TensorLike, dtype: DType
) -> Tensor:
    """``standard * scale + shift`` as tapegrad ops: gradients reach tensor
    ``scale``/``shift`` arguments, as in TF."""
    sample = _core.constant(standard, dtype=dtype)
    return sample * _core.cast(scale, dtype) + _core.cast(shift, dtype)


def _truncated(
    bits: np.random.Generator, shape: tuple[int, ...], kind: type[np.floating[Any]]
) -> np.ndarray[Any, Any]:
    """Standard normal samples redrawn until they lie within two standard deviations."""
    out = bits.standard_normal(shape, dtype=kind)
    outside = np.abs(out) > 2.0
    while outside.any():
        out[outside] = bits.standard_normal(int(outside.sum()), dtype=kind)
        outside = np.abs(out) > 2.0
    return out


def _uniform(
    op: str,
    bits: np.random.Generator,
    shape: tuple[int, ...],
    minval: TensorLike,
    maxval: TensorLike | None,
    dtype: DTypeLike | None,
) -> Tensor:
    kind = float32 if dtype is None else as_dtype(dtype)
    if kind.is_integer:
        if maxval is None or minval is None:
            raise ValueError(
                f"For integer `dtype` argument {kind}, argument `minval` and `maxval` must be "
                f"both None or not None. Got `minval`={minval} and `maxval`={maxval}."
            )
        low, high = int(np.asarray(minval)), int(np.asarray(maxval))
        if low >= high:
            raise errors.InvalidArgumentError(f"{op}: need minval < maxval, got {low} >= {high}")
        return _core.constant(bits.integers(low, high, shape, dtype=_numpy_type(kind)), dtype=kind)
    if not kind.is_floating:
        raise ValueError(f"{op}: dtype must be a float or integer dtype, got {kind.name}")
    top: TensorLike = 1.0 if maxval is None else maxval
    unit = bits.random(shape, dtype=_numpy_type(kind))
    # minval + u * (maxval - minval), on the tape for tensor bounds
    low_t = _core.cast(minval, kind)
    return _affine(unit, _core.cast(top, kind) - low_t, low_t, kind)


def _seed_pair(op: str, seed: TensorLike) -> tuple[int, int]:
    pair = (
        np.asarray(seed).reshape(-1)
        if not isinstance(seed, (Tensor, Variable))
        else np.asarray(seed)
    )
    if pair.shape != (2,) or pair.dtype.kind not in "iu":
        raise errors.InvalidArgumentError(
            f"{op}: seed must have shape [2] and an integer dtype, not shape "
            f"{list(np.shape(pair))} dtype {pair.dtype}"
        )
    return int(pair[0]) & _MASK64, int(pair[1]) & _MASK64


def _stateless_bits(op: str, seed: TensorLike) -> np.random.Generator:
    return np.random.Generator(np.random.Philox(key=list(_seed_pair(op, seed))))


def stateless_normal(
    shape: ShapeLike,
    seed: TensorLike,
    mean: TensorLike = 0.0,
    stddev: TensorLike = 1.0,
    dtype: DTypeLike = float32,
    name: str | None = None,
    alg: str = "auto_select",
) -> Tensor:
    """Normal samples determined by the seed pair alone: the same ``seed``
    (two integers) gives the same values, whatever ran before.

    >>> import tapegrad as tf
    >>> a = tf.random.stateless_normal([3], seed=[1, 2])
    >>> b = tf.random.stateless_normal([3], seed=[1, 2])
    >>> bool(tf.reduce_all(a == b))
    True
    """
    kind = _float_dtype("stateless_normal", dtype)
    bits = _stateless_bits("stateless_normal", seed)
    return _affine(bits.standard_normal(_shape(shape), dtype=_numpy_type(kind)), stddev, mean, kind)


def stateless_truncated_normal(
    shape: ShapeLike,
    seed: TensorLike,
    mean: TensorLike = 0.0,
    stddev: TensorLike = 1.0,
    dtype: DTypeLike = float32,
    name: str | None = None,
    alg: str = "auto_select",
) -> Tensor:
    """Normal samples within two standard deviations of the mean, determined
    by the seed pair.

    >>> import tapegrad as tf
    >>> x = tf.random.stateless_truncated_normal([1000], seed=[3, 4])
    >>> bool(tf.reduce_max(tf.abs(x)) <= 2.0)
    True
    """
    kind = _float_dtype("stateless_truncated_normal", dtype)
    bits = _stateless_bits("stateless_truncated_normal", seed)
    return _affine(_truncated(bits, _shape(shape), _numpy_type(kind)), stddev, mean, kind)


def stateless_uniform(
    shape: ShapeLike,
    seed: TensorLike,
    minval: TensorLike = 0,
    maxval: TensorLike | None = None,
    dtype: DTypeLike = float32,
    name: str | None = None,
    alg: str = "auto_select",
) -> Tensor:
    """Uniform samples in ``[minval, maxval)`` determined by the seed pair;
    ``maxval`` defaults to 1 for floats and is required for integers.

    >>> import tapegrad as tf
    >>> x = tf.random.stateless_uniform([4], seed=[1, 2], minval=0, maxval=10, dtype=tf.int32)
    >>> x.dtype, bool(tf.reduce_all((x >= 0) & (x < 10)))
    (tapegrad.int32, True)
    """
    bits = _stateless_bits("stateless_uniform", seed)
    return _uniform("stateless_uniform", bits, _shape(shape), minval, maxval, dtype)


def _categorical(
    bits: np.random.Generator, logits: TensorLike, num_samples: int, dtype: DTypeLike | None
) -> Tensor:
    values = np.asarray(logits, dtype=np.float64)
    if values.ndim != 2:
        raise errors.InvalidArgumentError(
            f"categorical: logits must be 2-D [batch, classes], got shape {list(values.shape)}"
        )
    kind = int64 if dtype is None else as_dtype(dtype)
    # Gumbel-max: argmax(logits + Gumbel noise) is a sample of softmax(logits)
    noise = -np.log(-np.log(bits.random((values.shape[0], int(num_samples), values.shape[1]))))
    samples = np.argmax(values[:, None, :] + noise, axis=-1)
    return _core.constant(samples.astype(_numpy_type(kind)), dtype=kind)


def stateless_categorical(
    logits: TensorLike,
    num_samples: int,
    seed: TensorLike,
    dtype: DTypeLike = int64,
    name: str | None = None,
) -> Tensor:
    """``num_samples`` class indices per row of ``logits`` ``[batch, classes]``,
    drawn from ``softmax(logits)``, determined by the seed pair.

    >>> import tapegrad as tf
    >>> s = tf.random.stateless_categorical(tf.math.log([[0.5, 0.5]]), 5, seed=[7, 8])
    >>> s.shape, s.dtype
    (TensorShape([1, 5]), tapegrad.int64)
    """
    bits = _stateless_bits("stateless_categorical", seed)
    return _categorical(bits, logits, num_samples, dtype)


class Generator:
    """A random number generator with its own state (``tf.random.Generator``).

    Made with ``Generator.from_seed(s)`` (reproducible) or
    ``Generator.from_non_deterministic_state()``; each call advances the
    state. ``split(n)`` gives ``n`` independent generators.

    >>> import tapegrad as tf
    >>> g = tf.random.Generator.from_seed(1)
    >>> a = g.normal([2])
    >>> bool(tf.reduce_all(tf.random.Generator.from_seed(1).normal([2]) == a))
    True
    >>> bool(tf.reduce_all(g.normal([2]) == a))     # the state moved on
    False
    """

    def __init__(self, key: tuple[int, int]) -> None:
        self._key = key
        self._stream = np.random.Generator(np.random.Philox(key=list(key)))

    @property
    def _bits(self) -> np.random.Generator:
        if _core._is_tracing():
            # its numbers become constants of a trace: a replay would repeat them
            _core._trace_unsupported("tf.random.Generator (its draws would repeat at every replay)")
        return self._stream

    @classmethod
    def from_seed(cls, seed: int, alg: object = None) -> Generator:
        """A generator whose stream is determined by the integer ``seed``.

        >>> import tapegrad as tf
        >>> g = tf.random.Generator.from_seed(42)
        >>> g.uniform([1]).shape
        TensorShape([1])
        """
        value = int(np.asarray(seed))
        return cls((value & _MASK64, (value >> 64) & _MASK64))

    @classmethod
    def from_non_deterministic_state(cls, alg: object = None) -> Generator:
        """A generator seeded from the operating system's entropy.

        >>> import tapegrad as tf
        >>> tf.random.Generator.from_non_deterministic_state().normal([2]).shape
        TensorShape([2])
        """
        words = np.random.SeedSequence().generate_state(2, dtype=np.uint64)
        return cls((int(words[0]), int(words[1])))

    @property
    def algorithm(self) -> int:
        """1, TF's number of the Philox algorithm family."""
        return 1

    @property
    def key(self) -> Tensor:
        """The two 64-bit words of this generator's key (as int64)."""
        return _core.constant(np.array(self._key, dtype=np.uint64).view(np.int64))

    @property
    def state(self) -> Tensor:
        """The 256-bit counter and 128-bit key, as six int64 words."""
        inner = self._bits.bit_generator.state["state"]
        words = np.concatenate([np.asarray(inner["counter"]), np.asarray(inner["key"])])
        return _core.constant(words.astype(np.uint64).view(np.int64))

    def normal(
        self,
        shape: ShapeLike,
        mean: TensorLike = 0.0,
        stddev: TensorLike = 1.0,
        dtype: DTypeLike = float32,
        name: str | None = None,
    ) -> Tensor:
        """Normal samples (mean and stddev may be tensors; gradients reach them).

        >>> import tapegrad as tf
        >>> tf.random.Generator.from_seed(0).normal([2, 3]).shape
        TensorShape([2, 3])
        """
        kind = _float_dtype("Generator.normal", dtype)
        standard = self._bits.standard_normal(_shape(shape), dtype=_numpy_type(kind))
        return _affine(standard, stddev, mean, kind)

    def truncated_normal(
        self,
        shape: ShapeLike,
        mean: TensorLike = 0.0,
        stddev: TensorLike = 1.0,
        dtype: DTypeLike = float32,
        name: str | None = None,
    ) -> Tensor:
        """Normal samples within two standard deviations of the mean.

        >>> import tapegrad as tf
        >>> x = tf.random.Generator.from_seed(0).truncated_normal([500])
        >>> bool(tf.reduce_max(tf.abs(x)) <= 2.0)
        True
        """
        kind = _float_dtype("Generator.truncated_normal", dtype)
        return _affine(_truncated(self._bits, _shape(shape), _numpy_type(kind)), stddev, mean, kind)

    def uniform(
        self,
        shape: ShapeLike,
        minval: TensorLike = 0,
        maxval: TensorLike | None = None,
        dtype: DTypeLike = float32,
        name: str | None = None,
    ) -> Tensor:
        """Uniform samples in ``[minval, maxval)`` (``maxval`` defaults to 1
        for floats; integers need both bounds, or neither for the full range).

        >>> import tapegrad as tf
        >>> g = tf.random.Generator.from_seed(3)
        >>> x = g.uniform([5], minval=0, maxval=10, dtype=tf.int64)
        >>> bool(tf.reduce_all((x >= 0) & (x < 10)))
        True
        """
        kind = as_dtype(dtype)
        if kind.is_integer and minval is None and maxval is None:
            return self.uniform_full_int(shape, kind)
        return _uniform("Generator.uniform", self._bits, _shape(shape), minval, maxval, kind)

    def uniform_full_int(
        self, shape: ShapeLike, dtype: DTypeLike = int64, name: str | None = None
    ) -> Tensor:
        """Integers uniform over the whole range of ``dtype``.

        >>> import tapegrad as tf
        >>> tf.random.Generator.from_seed(3).uniform_full_int([2], tf.int32).dtype
        tapegrad.int32
        """
        kind = as_dtype(dtype)
        if not kind.is_integer:
            raise ValueError(f"uniform_full_int: dtype must be int32 or int64, got {kind.name}")
        info = np.iinfo(_numpy_type(kind))
        values = self._bits.integers(
            info.min, info.max, _shape(shape), dtype=_numpy_type(kind), endpoint=True
        )
        return _core.constant(values, dtype=kind)

    def make_seeds(self, count: int = 1) -> Tensor:
        """``count`` seed pairs for the ``stateless_*`` ops, shape ``[2, count]``.

        >>> import tapegrad as tf
        >>> seeds = tf.random.Generator.from_seed(5).make_seeds(3)
        >>> seeds.shape, seeds.dtype
        (TensorShape([2, 3]), tapegrad.int64)
        """
        info = np.iinfo(np.int64)
        words = self._bits.integers(
            info.min, info.max, (2, int(count)), dtype=np.int64, endpoint=True
        )
        return _core.constant(words)

    def split(self, count: int = 1) -> list[Generator]:
        """``count`` new generators, independent of each other and of this one
        (whose state advances).

        >>> import tapegrad as tf
        >>> g1, g2 = tf.random.Generator.from_seed(1).split(2)
        >>> bool(tf.reduce_all(g1.normal([3]) == g2.normal([3])))
        False
        """
        words = self._bits.integers(
            0, np.iinfo(np.uint64).max, (int(count), 2), dtype=np.uint64, endpoint=True
        )
        return [Generator((int(a), int(b))) for a, b in words]

    def reset_from_seed(self, seed: int) -> None:
        """Restart this generator as ``Generator.from_seed(seed)``.

        >>> import tapegrad as tf
        >>> g = tf.random.Generator.from_seed(1)
        >>> a = g.normal([2]); g.reset_from_seed(1)
        >>> bool(tf.reduce_all(g.normal([2]) == a))
        True
        """
        fresh = Generator.from_seed(seed)
        self._key, self._stream = fresh._key, fresh._stream

    def skip(self, delta: int) -> None:
        """Advance the state as if ``delta`` draws of 256 bits had been made.

        >>> import tapegrad as tf
        >>> tf.random.Generator.from_seed(1).skip(10)
        """
        bits: Any = self._bits.bit_generator  # Philox has advance()
        bits.advance(int(delta))


_global_generator: list[Generator] = []


def get_global_generator() -> Generator:
    """The process-wide generator, made from OS entropy on first use.

    >>> import tapegrad as tf
    >>> tf.random.get_global_generator().normal([1]).shape
    TensorShape([1])
    """
    if not _global_generator:
        _global_generator.append(Generator.from_non_deterministic_state())
    return _global_generator[0]


def set_global_generator(generator: Generator) -> None:
    """Replace the process-wide generator.

    >>> import tapegrad as tf
    >>> tf.random.set_global_generator(tf.random.Generator.from_seed(0))
    """
    if not isinstance(generator, Generator):
        raise TypeError(
            f"set_global_generator expects a tf.random.Generator, got {type(generator)}"
        )
    _global_generator[:] = [generator]


class random_normal_initializer:  # noqa: N801 - TF's name
    """An initializer drawing from N(mean, stddev²) (``tf.random_normal_initializer``);
    calling it with a shape (and dtype) gives a tensor, seeded by ``seed``
    as ``tf.random.normal`` is.

    >>> import tapegrad as tf
    >>> init = tf.random_normal_initializer(mean=1.0, stddev=0.5, seed=3)
    >>> init([2, 2]).shape, init.get_config()
    (TensorShape([2, 2]), {'mean': 1.0, 'stddev': 0.5, 'seed': 3})
    """

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) -> None:
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, shape: ShapeLike, dtype: DTypeLike = float32, **kwargs: Any) -> Tensor:
        return normal(
            shape,
            self.mean,
            self.stddev,
            dtype=_float_dtype("random_normal_initializer", dtype),
            seed=self.seed,
        )

    def get_config(self) -> dict[str, Any]:
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class random_uniform_initializer:  # noqa: N801 - TF's name
    """An initializer drawing uniformly from ``[minval, maxval)``
    (``tf.random_uniform_initializer``).

    >>> import tapegrad as tf
    >>> init = tf.random_uniform_initializer(-1.0, 1.0, seed=0)
    >>> bool(tf.reduce_all(tf.abs(init([10])) <= 1.0))
    True
    """

    def __init__(
        self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None
    ) -> None:
        self.minval, self.maxval, self.seed = minval, maxval, seed

    def __call__(self, shape: ShapeLike, dtype: DTypeLike = float32, **kwargs: Any) -> Tensor:
        return uniform(shape, self.minval, self.maxval, dtype=dtype, seed=self.seed)

    def get_config(self) -> dict[str, Any]:
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}
