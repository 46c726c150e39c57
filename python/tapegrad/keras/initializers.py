"""``keras.initializers``: seeded weight initializers (Keras 3's names,
arguments and distributions).

Values come from numpy's generator: a seeded initializer returns the same
values on every call, an unseeded one draws from the stream that
``keras.utils.set_random_seed`` resets. The distributions are Keras's; the
numbers are not bit-identical to Keras's (docs/compat.md).

>>> import tapegrad as tf
>>> init = tf.keras.initializers.GlorotUniform(seed=0)
>>> w = init((3, 2))
>>> w.shape, bool(tf.reduce_max(tf.abs(w)) <= (6 / 5) ** 0.5)
(TensorShape([3, 2]), True)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NoReturn

import numpy as np

from .. import _core
from .._core import Tensor
from . import backend

__all__ = [
    "Constant",
    "GlorotNormal",
    "GlorotUniform",
    "HeNormal",
    "HeUniform",
    "Initializer",
    "LecunNormal",
    "LecunUniform",
    "Ones",
    "Orthogonal",
    "RandomNormal",
    "RandomUniform",
    "TruncatedNormal",
    "VarianceScaling",
    "Zeros",
    "get",
    "serialize",
]

_global_rng: list[np.random.Generator] = [np.random.default_rng()]


def reset_global_generator(seed: int | None) -> None:
    """Restart the stream unseeded initializers and layers draw from."""
    _global_rng[0] = np.random.default_rng(seed)


def generator(seed: int | None) -> np.random.Generator:
    """A fresh generator for ``seed``, or the global stream for ``None``."""
    return _global_rng[0] if seed is None else np.random.default_rng(seed)


def _shape(shape: Any) -> tuple[int, ...]:
    return tuple(int(d) for d in shape)


class Initializer:
    """Base class: ``init(shape, dtype=None)`` returns a tensor.

    >>> import tapegrad as tf
    >>> tf.keras.initializers.Ones()((2,)).numpy()
    array([1., 1.], dtype=float32)
    """

    def __call__(self, shape: Any, dtype: Any = None) -> Tensor:
        dtype_name = backend.standardize_dtype(dtype)
        return _core.constant(self._values(_shape(shape)).astype(dtype_name))

    def _values(self, shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
        raise NotImplementedError(f"{type(self).__name__} does not define its values")

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (Keras's config).

        >>> import tapegrad as tf
        >>> tf.keras.initializers.RandomNormal(stddev=0.1).get_config()
        {'mean': 0.0, 'stddev': 0.1, 'seed': None}
        """
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Initializer:
        """The initializer ``get_config`` describes.

        >>> import tapegrad as tf
        >>> tf.keras.initializers.Constant.from_config({"value": 2.0}).value
        2.0
        """
        config = dict(config)
        for key in ("input_axes", "output_axes"):  # Keras 3.12+'s axes options
            if config.pop(key, None) is not None:
                raise NotImplementedError(f"keras.initializers.{cls.__name__}: `{key}`")
        return cls(**config)


class Zeros(Initializer):
    """All zeros.

    >>> import tapegrad as tf
    >>> tf.keras.initializers.Zeros()((2,)).numpy()
    array([0., 0.], dtype=float32)
    """

    def _values(self, shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
        return np.zeros(shape)


class Ones(Initializer):
    """All ones.

    >>> import tapegrad as tf
    >>> tf.keras.initializers.Ones()((1,)).numpy()
    array([1.], dtype=float32)
    """

    def _values(self, shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
        return np.ones(shape)


class Constant(Initializer):
    """Every element ``value``.

    >>> import tapegrad as tf
    >>> tf.keras.initializers.Constant(3.0)((2,)).numpy()
    array([3., 3.], dtype=float32)
    """

    def __init__(self, value: float = 0.0) -> None:
        self.value = value

    def _values(self, shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
        return np.broadcast_to(np.asarray(self.value, dtype=np.float64), shape).copy()

    def get_config(self) -> dict[str, Any]:
        return {"value": self.value}


class RandomNormal(Initializer):
    """Normal(``mean``, ``stddev``).

    >>> import tapegrad as tf
    >>> tf.keras.initializers.RandomNormal(seed=1)((1000,)).numpy().std().round(2)
    np.float32(0.05)
    """

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) -> None:
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def _values(self, shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
        return generator(self.seed).normal(self.mean, self.stddev, shape)

    def get_config(self) -> dict[str, Any]:
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class RandomUniform(Initializer):
    """Uniform on [``minval``, ``maxval``).

    >>> import tapegrad as tf
    >>> bool(tf.reduce_max(tf.keras.initializers.RandomUniform(0.0, 1.0, seed=0)((50,))) < 1)
    True
    """

    def __init__(
        self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None
    ) -> None:
        self.minval, self.maxval, self.seed = minval, maxval, seed

    def _values(self, shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
        return generator(self.seed).uniform(self.minval, self.maxval, shape)

    def get_config(self) -> dict[str, Any]:
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


def _truncated_normal(
    rng: np.random.Generator, mean: float, stddev: float, shape: tuple[int, ...]
) -> np.ndarray[Any, Any]:
    """Normal(mean, stddev) redrawn until within two standard deviations."""
    values = rng.standard_normal(shape)
    outside = np.abs(values) > 2.0
    while outside.any():
        values[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(values) > 2.0
    return mean + stddev * values


class TruncatedNormal(Initializer):
    """Normal(``mean``, ``stddev``) truncated at two standard deviations.

    >>> import tapegrad as tf
    >>> w = tf.keras.initializers.TruncatedNormal(stddev=1.0, seed=0)((1000,))
    >>> bool(tf.reduce_max(tf.abs(w)) <= 2.0)
    True
    """

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) -> None:
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def _values(self, shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
        return _truncated_normal(generator(self.seed), self.mean, self.stddev, shape)

    def get_config(self) -> dict[str, Any]:
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


def compute_fans(shape: tuple[int, ...]) -> tuple[float, float]:
    """(fan_in, fan_out) of a weight shape: dense ``(in, out)``, conv
    ``(*kernel, in, out)`` times the receptive field."""
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    receptive = math.prod(shape[:-2])
    return float(shape[-2] * receptive), float(shape[-1] * receptive)


class VarianceScaling(Initializer):
    """Variance ``scale / n`` with ``n`` the fan in, out or their mean;
    ``distribution`` ``"truncated_normal"``, ``"untruncated_normal"`` or
    ``"uniform"``.

    >>> import tapegrad as tf
    >>> init = tf.keras.initializers.VarianceScaling(2.0, "fan_in", "uniform", seed=0)
    >>> bool(tf.reduce_max(tf.abs(init((8, 4)))) <= (3 * 2.0 / 8) ** 0.5)
    True
    """

    def __init__(
        self,
        scale: float = 1.0,
        mode: str = "fan_in",
        distribution: str = "truncated_normal",
        seed: int | None = None,
    ) -> None:
        if scale <= 0.0:
            raise ValueError(f"VarianceScaling: scale must be positive, got {scale}")
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"VarianceScaling: invalid mode {mode!r}")
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform", "normal"):
            raise ValueError(f"VarianceScaling: invalid distribution {distribution!r}")
        self.scale, self.mode, self.seed = scale, mode, seed
        self.distribution = "truncated_normal" if distribution == "normal" else distribution

    def _values(self, shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, n)
        rng = generator(self.seed)
        if self.distribution == "truncated_normal":
            # the standard deviation of a unit normal truncated at ±2
            return _truncated_normal(rng, 0.0, math.sqrt(variance) / 0.87962566103423978, shape)
        if self.distribution == "untruncated_normal":
            return rng.normal(0.0, math.sqrt(variance), shape)
        limit = math.sqrt(3.0 * variance)
        return rng.uniform(-limit, limit, shape)

    def get_config(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "mode": self.mode,
            "distribution": self.distribution,
            "seed": self.seed,
        }


class _Preset(VarianceScaling):
    _preset: tuple[float, str, str] = (1.0, "fan_in", "uniform")

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(*self._preset, seed=seed)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}


class GlorotUniform(_Preset):
    """Uniform, limit ``sqrt(6 / (fan_in + fan_out))`` (Dense's default).

    >>> import tapegrad as tf
    >>> tf.keras.initializers.GlorotUniform(seed=0)((2, 3)).shape
    TensorShape([2, 3])
    """

    _preset = (1.0, "fan_avg", "uniform")


class GlorotNormal(_Preset):
    """Truncated normal, stddev ``sqrt(2 / (fan_in + fan_out))``.

    >>> import tapegrad as tf
    >>> tf.keras.initializers.GlorotNormal(seed=0)((2, 3)).shape
    TensorShape([2, 3])
    """

    _preset = (1.0, "fan_avg", "truncated_normal")


class HeNormal(_Preset):
    """Truncated normal, stddev ``sqrt(2 / fan_in)``.

    >>> import tapegrad as tf
    >>> tf.keras.initializers.HeNormal(seed=0)((2, 3)).shape
    TensorShape([2, 3])
    """

    _preset = (2.0, "fan_in", "truncated_normal")


class HeUniform(_Preset):
    """Uniform, limit ``sqrt(6 / fan_in)``.

    >>> import tapegrad as tf
    >>> tf.keras.initializers.HeUniform(seed=0)((2, 3)).shape
    TensorShape([2, 3])
    """

    _preset = (2.0, "fan_in", "uniform")


class LecunNormal(_Preset):
    """Truncated normal, stddev ``sqrt(1 / fan_in)``.

    >>> import tapegrad as tf
    >>> tf.keras.initializers.LecunNormal(seed=0)((2, 3)).shape
    TensorShape([2, 3])
    """

    _preset = (1.0, "fan_in", "truncated_normal")


class LecunUniform(_Preset):
    """Uniform, limit ``sqrt(3 / fan_in)``.

    >>> import tapegrad as tf
    >>> tf.keras.initializers.LecunUniform(seed=0)((2, 3)).shape
    TensorShape([2, 3])
    """

    _preset = (1.0, "fan_in", "uniform")


class Orthogonal(Initializer):
    """A (semi-)orthogonal matrix times ``gain`` (the QR of a normal draw,
    signs fixed by R's diagonal), reshaped to ``shape``.

    >>> import numpy as np, tapegrad as tf
    >>> q = tf.keras.initializers.Orthogonal(seed=0)((3, 3)).numpy()
    >>> bool(np.allclose(q.T @ q, np.eye(3), atol=1e-5))
    True
    """

    def __init__(self, gain: float = 1.0, seed: int | None = None) -> None:
        self.gain, self.seed = gain, seed

    def _values(self, shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
        if len(shape) < 2:
            raise ValueError(f"Orthogonal: the shape must have rank >= 2, got {shape}")
        rows = math.prod(shape[:-1])
        cols = shape[-1]
        flat = generator(self.seed).standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(flat)
        q = q * np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return self.gain * q.reshape(shape)

    def get_config(self) -> dict[str, Any]:
        return {"gain": self.gain, "seed": self.seed}


_BY_NAME: dict[str, type[Initializer]] = {
    "zeros": Zeros,
    "ones": Ones,
    "constant": Constant,
    "random_normal": RandomNormal,
    "random_uniform": RandomUniform,
    "truncated_normal": TruncatedNormal,
    "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal,
    "he_normal": HeNormal,
    "he_uniform": HeUniform,
    "lecun_normal": LecunNormal,
    "lecun_uniform": LecunUniform,
    "orthogonal": Orthogonal,
}
_BY_CLASS_NAME = {cls.__name__: cls for cls in _BY_NAME.values()}


def get(identifier: Any) -> Initializer | Callable[..., Any] | None:
    """An initializer from a name (``"he_normal"``), a config dict, an
    instance or a callable ``(shape, dtype) -> tensor``.

    >>> import tapegrad as tf
    >>> type(tf.keras.initializers.get("glorot_uniform")).__name__
    'GlorotUniform'
    """
    if identifier is None or isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier) or _BY_CLASS_NAME.get(identifier)
        if cls is None:
            raise NotImplementedError(f"keras.initializers: unknown initializer {identifier!r}")
        return cls()
    if isinstance(identifier, dict):
        cls = _BY_CLASS_NAME.get(identifier["class_name"])
        if cls is None:
            raise NotImplementedError(
                f"keras.initializers: unknown initializer {identifier['class_name']!r}"
            )
        return cls.from_config(identifier.get("config", {}))
    if callable(identifier):
        function: Callable[..., Any] = identifier
        return function
    raise ValueError(f"keras.initializers: cannot interpret {identifier!r} as an initializer")


def serialize(initializer: Any) -> Any:
    """Keras's config dict of an initializer.

    >>> import tapegrad as tf
    >>> tf.keras.initializers.serialize(tf.keras.initializers.Zeros())["class_name"]
    'Zeros'
    """
    if initializer is None:
        return None
    if isinstance(initializer, Initializer):
        return {
            "module": "keras.initializers",
            "class_name": type(initializer).__name__,
            "config": initializer.get_config(),
            "registered_name": None,
        }
    raise NotImplementedError(f"keras.initializers: cannot serialize {initializer!r}")


def __getattr__(name: str) -> NoReturn:
    from ._missing import missing

    missing("keras.initializers", name)
