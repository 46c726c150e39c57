"""Public namespaces show their API and nothing else.

``dir(tf.math)`` lists what ``tf.math`` offers, not the ``np``, ``Any`` or
``annotations`` its code imported: every public attribute is in ``__all__``,
and everything in ``__all__`` exists. The registry ops keep their identity
through the typed ``_registry`` module: ``tf.exp`` is ``_core.ops["exp"]``.
"""

from __future__ import annotations

import importlib
import types

import pytest
import tapegrad as tf
from tapegrad._core import ops as OPS

PUBLIC_MODULES = [
    "tapegrad",
    "tapegrad.math",
    "tapegrad.nn",
    "tapegrad.linalg",
    "tapegrad.random",
    "tapegrad.dtypes",
    "tapegrad.errors",
    "tapegrad.autodiff",
    "tapegrad.experimental",
    "tapegrad.experimental.dlpack",
    "tapegrad.types",
    "tapegrad.data",
    "tapegrad.data.experimental",
    "tapegrad.train",
    "tapegrad.saved_model",
    "tapegrad.optimizers",
    "tapegrad.optimizers.schedules",
    "tapegrad.distribute",
    "tapegrad.keras",
    "tapegrad.config",
    "tapegrad.config.threading",
    "tapegrad.config.experimental",
    "tapegrad.debugging",
    "tapegrad.image",
    "tapegrad.signal",
    "tapegrad.io",
    "tapegrad.strings",
    "tapegrad.sparse",
    "tapegrad.ragged",
    "tapegrad.nest",
    "tapegrad.test",
    "tapegrad.module",
]


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_dir_shows_only_the_public_api(name: str) -> None:
    module = importlib.import_module(name)
    public = {attr for attr in dir(module) if not attr.startswith("_")}
    exported = set(module.__all__)
    assert public - exported == set(), f"{name} leaks names it imported or forgot to export"
    assert exported - public == set(), f"{name}.__all__ names attributes it does not have"


def test_every_public_namespace_is_checked() -> None:
    aliases = {"initializers", "losses"}  # TF's aliases of Keras namespaces (below)
    submodules = {
        f"tapegrad.{attr}"
        for attr in set(tf.__all__) - aliases
        if isinstance(getattr(tf, attr), types.ModuleType)
    }
    assert submodules <= set(PUBLIC_MODULES)


def test_keras_namespace_aliases_are_the_keras_modules() -> None:
    # as in TF 2.21: tf.initializers is tf.keras.initializers, tf.losses tf.keras.losses
    assert tf.initializers is tf.keras.initializers
    assert tf.losses is tf.keras.losses
    assert tf.losses.MeanSquaredError()([1.0], [3.0]).numpy() == 4.0
    assert isinstance(tf.initializers.GlorotUniform(), tf.keras.initializers.Initializer)


@pytest.mark.parametrize(
    ("public", "registry_name"),
    [
        (tf.exp, "exp"),
        (tf.math.exp, "exp"),
        (tf.add, "add"),
        (tf.math.mod, "floormod"),
        (tf.nn.swish, "silu"),
        (tf.nn.relu, "relu"),
        (tf.math.softplus, "softplus"),
    ],
)
def test_registry_ops_are_the_registry_objects(public: object, registry_name: str) -> None:
    assert public is OPS[registry_name]


def test_aliases_are_the_same_callables() -> None:
    assert tf.nn.max_pool is tf.nn.max_pool2d
    assert tf.random.normal is tf._core.random_normal
    assert tf.math.reduce_sum is tf.reduce_sum
    assert tf.linalg.matmul is tf.matmul
    assert tf.math.divide is tf.divide and tf.truediv is tf.divide
