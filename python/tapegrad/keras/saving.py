"""Keras 3's file formats: ``.weights.h5`` (``save_weights``) and ``.keras``
(``model.save``: a zip of ``config.json``, ``metadata.json`` and
``model.weights.h5``), readable by Keras and written by Keras.

The weights file mirrors the object tree: a layer's own variables are
``<path>/vars/0, 1, …`` (trainable first, then non-trainable, each in
creation order); ``Sequential``/functional models keep their layers under
``layers/<class name in snake case>[_n]``; other sublayers are found under
the attribute that holds them (lists by class name, like the models'
layers). Needs ``h5py``.

>>> import os, tempfile, numpy as np, tapegrad as tf
>>> model = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(2)])
>>> path = os.path.join(tempfile.mkdtemp(), "model.weights.h5")
>>> model.save_weights(path)
>>> clone = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(2)])
>>> clone.load_weights(path)
>>> x = np.ones((1, 3))
>>> bool(np.allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0)))
True
"""

from __future__ import annotations

import datetime
import importlib
import inspect
import io
import json
import os
import warnings
import zipfile
from collections.abc import Iterator
from typing import Any

import numpy as np

from .. import optimizers
from .._core import Variable
from . import backend

__all__ = [
    "deserialize_layer",
    "load_model",
    "load_weights",
    "save_model",
    "save_weights",
    "serialize_layer",
]

KERAS_VERSION = "3.15.1"


def _h5py() -> Any:
    try:
        h5py = importlib.import_module("h5py")
    except ImportError as error:  # pragma: no cover - h5py is a dependency
        raise ImportError("Saving and loading Keras files needs h5py: pip install h5py") from error
    return h5py


# --- the object tree ---------------------------------------------------------------

# attributes of tapegrad's own bookkeeping, never children in the file
_INTERNAL = frozenset(
    (
        "_stack",
        "_functional_layers",
        "_input_layer",
        "_inbound_nodes",
        "_nodes",
        "_inputs_struct",
        "_outputs_struct",
        "_compile_metrics",
        "_loss_tracker",
        "_loss",
        "_metric_identifiers",
        "history",
        "optimizer",
    )
)


def _snake(obj: object) -> str:
    return backend.snake_case(type(obj).__name__)


def _children(obj: Any) -> Iterator[tuple[str, Any]]:
    """(path component, child) pairs in Keras's order: a model's layers
    first, then attributes in sorted name order; a container's layers named
    by class (``dense``, ``dense_1``, …)."""
    from .layers._base import Layer
    from .models import Functional, Sequential

    if isinstance(obj, (Sequential, Functional)):
        yield from _container("layers", obj.layers)
    for key in sorted(vars(obj)):
        if key in _INTERNAL or key.startswith("__"):
            continue
        value = vars(obj)[key]
        if isinstance(value, Layer):
            yield key, value
        elif isinstance(value, (list, tuple)):
            yield from _container(key, list(value))
        elif isinstance(value, dict):
            yield from _container(key, list(value.values()))


def _container(prefix: str, items: list[Any]) -> Iterator[tuple[str, Any]]:
    from .layers._base import Layer

    used: dict[str, int] = {}
    for item in items:
        if not isinstance(item, Layer):
            continue
        name = _snake(item)
        if name in used:
            used[name] += 1
            name = f"{name}_{used[name]}"
        else:
            used[name] = 0
        yield f"{prefix}/{name}", item


def _own_variables(layer: Any) -> list[Variable]:
    return list(layer._trainable_variables) + list(layer._non_trainable_variables)


def _walk(obj: Any, path: str, seen: set[int]) -> Iterator[tuple[str, Any]]:
    if id(obj) in seen:
        return
    seen.add(id(obj))
    yield path, obj
    for name, child in _children(obj):
        yield from _walk(child, f"{path}/{name}" if path else name, seen)


def _vars_group(path: str) -> str:
    return f"{path}/vars" if path else "vars"


# --- weights ----------------------------------------------------------------------------


def _write_weights(model: Any, h5file: Any, with_optimizer: bool) -> None:
    for path, obj in _walk(model, "", set()):
        group = h5file.create_group(_vars_group(path))
        group.attrs["name"] = obj.name
        for i, variable in enumerate(_own_variables(obj)):
            group.create_dataset(str(i), data=np.asarray(variable.numpy()))
    optimizer = getattr(model, "optimizer", None)
    if with_optimizer and optimizer is not None and optimizer.built:
        group = h5file.create_group("optimizer/vars")
        group.attrs["name"] = optimizer.name
        store: dict[str, Any] = {}
        optimizer.save_own_variables(store)
        for key, array in store.items():
            group.create_dataset(key, data=array)


def _read_weights(model: Any, h5file: Any, skip_mismatch: bool, source: str) -> None:
    assignments: list[tuple[Variable, Any]] = []
    for path, obj in _walk(model, "", set()):
        own = _own_variables(obj)
        group_path = _vars_group(path)
        if group_path not in h5file:
            if own:
                raise ValueError(
                    f"{source}: no weights for layer '{obj.name}' (expected group "
                    f"'{group_path}'); the file was saved from a different architecture"
                )
            continue
        group = h5file[group_path]
        if len(group) != len(own):
            message = (
                f"{source}: layer '{obj.name}' expects {len(own)} variables, but the file has "
                f"{len(group)} at '{group_path}'"
            )
            if skip_mismatch:
                warnings.warn(message + "; skipped", stacklevel=3)
                continue
            raise ValueError(message)
        for i, variable in enumerate(own):
            value = np.asarray(group[str(i)])
            if tuple(value.shape) != tuple(variable.shape):
                message = (
                    f"{source}: variable {variable.name} of layer '{obj.name}' has shape "
                    f"{tuple(variable.shape)}; the file has {value.shape}"
                )
                if skip_mismatch:
                    warnings.warn(message + "; skipped", stacklevel=3)
                    continue
                raise ValueError(message)
            assignments.append((variable, value))
    # nothing is assigned unless every weight matched
    for variable, value in assignments:
        variable.assign(value.astype(variable.dtype.name))
    _read_optimizer(model, h5file)


def _read_optimizer(model: Any, h5file: Any) -> None:
    """The optimizer's iterations, learning rate and slots (Keras's order;
    the optimizer must be built, so that its slots exist)."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or "optimizer/vars" not in h5file:
        return
    group = h5file["optimizer/vars"]
    optimizer.load_own_variables({key: np.asarray(group[key]) for key in group})


def save_weights(model: Any, filepath: str, overwrite: bool = True) -> None:
    """Write ``model``'s weights (and its optimizer's state, like Keras) to
    a ``.weights.h5`` file.

    >>> import tapegrad as tf
    >>> tf.keras.saving.save_weights.__name__
    'save_weights'
    """
    filepath = os.fspath(filepath)
    if not filepath.endswith(".weights.h5"):
        raise ValueError("The filename must end in `.weights.h5`. Received: filepath=" + filepath)
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"{filepath} exists and overwrite=False")
    h5py = _h5py()
    with h5py.File(filepath, "w") as h5file:
        _write_weights(model, h5file, with_optimizer=True)


def load_weights(model: Any, filepath: str, skip_mismatch: bool = False) -> None:
    """Load a ``.weights.h5`` file (tapegrad's or Keras's) or the weights
    inside a ``.keras`` file into ``model`` (same architecture).

    >>> import tapegrad as tf
    >>> tf.keras.saving.load_weights.__name__
    'load_weights'
    """
    filepath = os.fspath(filepath)
    h5py = _h5py()
    if filepath.endswith(".keras"):
        with zipfile.ZipFile(filepath) as archive:
            data = archive.read("model.weights.h5")
        with h5py.File(io.BytesIO(data), "r") as h5file:
            _read_weights(model, h5file, skip_mismatch, filepath)
        return
    if not filepath.endswith(".weights.h5"):
        raise NotImplementedError(
            f"load_weights({filepath!r}): tapegrad reads Keras 3's `.weights.h5` and `.keras` "
            "files only (not TF checkpoints or legacy `.h5`)"
        )
    with h5py.File(filepath, "r") as h5file:
        _read_weights(model, h5file, skip_mismatch, filepath)


# --- configs ------------------------------------------------------------------------------


def _registry() -> dict[str, Any]:
    from . import layers, models

    table: dict[str, Any] = {name: getattr(layers, name) for name in layers.__all__}
    table.update(
        {"Sequential": models.Sequential, "Functional": models.Functional, "Model": models.Model}
    )
    return table


def serialize_layer(layer: Any) -> dict[str, Any]:
    """Keras's ``{"module", "class_name", "config", ...}`` dict of a layer.

    >>> import tapegrad as tf
    >>> tf.keras.saving.serialize_layer(tf.keras.layers.Dense(2))["class_name"]
    'Dense'
    """
    from .models import Functional, Sequential

    if isinstance(layer, Functional):
        config = _functional_config(layer)
    else:
        config = layer.get_config()
    if isinstance(layer, Functional):
        module = "keras.src.models.functional"  # where Keras 3 looks the class up
    elif isinstance(layer, Sequential):
        module = "keras"
    else:
        module = "keras.layers"
    cls_name = type(layer).__name__
    out: dict[str, Any] = {
        "module": module,
        "class_name": cls_name,
        "config": config,
        "registered_name": None if cls_name in _registry() else f"Custom>{cls_name}",
    }
    if layer.built and layer._build_shapes is not None and not isinstance(layer, Functional):
        shapes = layer._build_shapes
        out["build_config"] = {"input_shape": _jsonable_shape(shapes)}
    return out


def _jsonable_shape(shape: Any) -> Any:
    if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple)):
        return [_jsonable_shape(s) for s in shape]
    return [None if d is None else int(d) for d in shape]


def _accepted_arguments(cls: type) -> set[str]:
    names: set[str] = set()
    cell_class = getattr(cls, "_cell_class", None)
    if cell_class is not None:  # SimpleRNN, GRU, LSTM pass options on to their cell
        names |= _accepted_arguments(cell_class)
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        for p in inspect.signature(init).parameters.values():
            if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                names.add(p.name)
    return names


# Keras config keys with no tapegrad counterpart, accepted at these values
_IGNORABLE = {
    "quantization_config": None,
    "renorm_clipping": None,
    "renorm_momentum": 0.99,
    "optional": False,
    "ragged": False,
    "sparse": False,
    "input_axes": None,
    "output_axes": None,
    "lora_rank": None,
    "lora_alpha": None,
    "use_cudnn": "auto",
    "activity_regularizer": None,
}


def _constructor_kwargs(cls: type, config: dict[str, Any]) -> dict[str, Any]:
    accepted = _accepted_arguments(cls)
    kwargs = {}
    for key, value in config.items():
        if key in accepted:
            kwargs[key] = value
        elif key in _IGNORABLE and value == _IGNORABLE[key]:
            continue
        else:
            raise NotImplementedError(
                f"keras: {cls.__name__} option {key}={value!r} is not supported by tapegrad"
            )
    return kwargs


def deserialize_layer(config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> Any:
    """The layer (or model) a ``serialize_layer`` dict describes, built when
    the dict has a ``build_config``.

    >>> import tapegrad as tf
    >>> layer = tf.keras.saving.deserialize_layer(
    ...     tf.keras.saving.serialize_layer(tf.keras.layers.Dense(2)))
    >>> layer.units
    2
    """
    from . import initializers, regularizers
    from .models import Functional, Sequential

    registry = {**_registry(), **(custom_objects or {})}
    class_name = config["class_name"]
    registered = config.get("registered_name")
    if registered and registered.split(">")[-1] in registry:
        class_name = registered.split(">")[-1]
    cls = registry.get(class_name)
    if cls is None:
        raise NotImplementedError(
            f"keras: layer class {class_name!r} is not available in tapegrad "
            "(pass custom classes in `custom_objects`)"
        )
    inner = dict(config.get("config", {}))
    if cls is Sequential:
        layer = Sequential.from_config(inner, custom_objects)
    elif cls is Functional or (class_name in ("Functional", "Model") and "input_layers" in inner):
        layer = _functional_from_config(inner, custom_objects)
    else:
        for key, value in inner.items():
            # nested initializer/regularizer configs become objects
            if isinstance(value, dict) and value.get("module") == "keras.initializers":
                inner[key] = initializers.get(value)
            elif isinstance(value, dict) and value.get("module") == "keras.regularizers":
                inner[key] = regularizers.get(value)
        if "cell" in inner and isinstance(inner["cell"], dict):
            inner["cell"] = deserialize_layer(inner["cell"], custom_objects)
        if hasattr(cls, "from_config") and cls.from_config.__func__ is not _base_from_config():
            layer = cls.from_config(inner)
        else:
            layer = cls(**_constructor_kwargs(cls, inner))
    build = config.get("build_config")
    if build and not layer.built and build.get("input_shape") is not None:
        layer._maybe_build(tuple(build["input_shape"]))
        _build_model(layer, build["input_shape"])
    return layer


def _base_from_config() -> Any:
    from .layers._base import Layer

    return Layer.from_config.__func__  # type: ignore[attr-defined]


def _build_model(layer: Any, input_shape: Any) -> None:
    """A subclassed model builds its weights by running on zeros."""
    from .models import Functional, Model, Sequential

    if isinstance(layer, Model) and not isinstance(layer, (Sequential, Functional)):
        if not layer.weights:
            layer.build(tuple(input_shape))


def _functional_config(model: Any) -> dict[str, Any]:
    from .layers._base import InputLayer, KerasTensor

    layer_entries = []
    node_index: dict[int, tuple[str, int]] = {}

    def history(tensor: KerasTensor) -> list[Any]:
        if hasattr(tensor, "_input_layer"):
            return [tensor._input_layer.name, 0, 0]
        node = tensor._history
        assert node is not None
        name, index = node_index[id(node)]
        position = [id(t) for t in _flat(node.outputs)].index(id(tensor))
        return [name, index, position]

    def encode(value: Any) -> Any:
        if isinstance(value, KerasTensor):
            return {
                "class_name": "__keras_tensor__",
                "config": {
                    "shape": list(value.shape),
                    "dtype": value.dtype,
                    "keras_history": history(value),
                },
            }
        if isinstance(value, (list, tuple)):
            return [encode(v) for v in value]
        if isinstance(value, dict):
            return {k: encode(v) for k, v in value.items()}
        return value

    nodes_by_layer: dict[int, list[Any]] = {}
    for node in model._nodes:
        if node.layer not in model.layers:
            node.layer.get_config()  # an operator node: refuses with its reason
        entries = nodes_by_layer.setdefault(id(node.layer), [])
        node_index[id(node)] = (node.layer.name, len(entries))
        entries.append({"args": encode(list(node.args)), "kwargs": encode(node.kwargs)})
    for layer in model.layers:
        entry = serialize_layer(layer)
        if isinstance(layer, InputLayer):
            entry.pop("build_config", None)
        entry["name"] = layer.name
        entry["inbound_nodes"] = nodes_by_layer.get(id(layer), [])
        layer_entries.append(entry)

    def refs(structure: Any) -> Any:
        if isinstance(structure, dict):
            return {key: history(value) for key, value in structure.items()}
        flat = [history(t) for t in _flat(structure)]
        return flat[0] if len(flat) == 1 and not isinstance(structure, (list, tuple)) else flat

    return {
        "name": model.name,
        "trainable": model.trainable,
        "layers": layer_entries,
        "input_layers": refs(model._inputs_struct),
        "output_layers": refs(model._outputs_struct),
    }


def _flat(structure: Any) -> list[Any]:
    from .. import _nest

    return _nest.flatten(structure)


def _functional_from_config(config: dict[str, Any], custom_objects: Any) -> Any:
    from .layers._base import InputLayer
    from .models import Functional

    created: dict[str, Any] = {}
    outputs: dict[tuple[str, int], list[Any]] = {}
    pending = list(config["layers"])

    def decode(value: Any) -> Any:
        if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
            name, index, position = value["config"]["keras_history"]
            return outputs[(name, index)][position]
        if isinstance(value, list):
            return [decode(v) for v in value]
        if isinstance(value, dict):
            return {k: decode(v) for k, v in value.items()}
        return value

    def ready(value: Any) -> bool:
        if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
            name, index, _ = value["config"]["keras_history"]
            return (name, index) in outputs
        if isinstance(value, list):
            return all(ready(v) for v in value)
        if isinstance(value, dict):
            return all(ready(v) for v in value.values())
        return True

    for entry in pending:
        entry = dict(entry)
        entry.pop("build_config", None)
        if entry["class_name"] == "InputLayer":
            c = entry["config"]
            layer = InputLayer(
                batch_shape=c.get("batch_shape") or c.get("batch_input_shape"),
                dtype=c.get("dtype"),
                name=c.get("name"),
            )
            outputs[(layer.name, 0)] = [layer.output]
        else:
            layer = deserialize_layer(
                {k: v for k, v in entry.items() if k not in ("inbound_nodes", "name")},
                custom_objects,
            )
        created[entry.get("name", layer.name)] = (layer, entry.get("inbound_nodes", []))
    remaining = [(name, 0, node) for name, (_, nodes) in created.items() for node in nodes]
    counters: dict[str, int] = {}
    while remaining:
        progressed = False
        for item in list(remaining):
            name, _, node = item
            if not ready([node["args"], node["kwargs"]]):
                continue
            layer = created[name][0]
            result = layer(*decode(node["args"]), **decode(node["kwargs"]))
            index = counters.get(name, 0)
            counters[name] = index + 1
            outputs[(name, index)] = _flat(result)
            remaining.remove(item)
            progressed = True
        if not progressed:
            raise ValueError("keras: the functional config has a cycle or a missing input")

    def resolve(refs: Any) -> Any:
        if isinstance(refs, dict):  # inputs or outputs by name
            return {key: resolve(value) for key, value in refs.items()}
        if refs and isinstance(refs[0], str):
            name, index, position = refs
            return outputs[(name, index)][position]
        return [resolve(r) for r in refs]

    return Functional(
        resolve(config["input_layers"]),
        resolve(config["output_layers"]),
        name=config.get("name"),
        trainable=config.get("trainable", True),
    )


# --- .keras archives ---------------------------------------------------------------------


def _compile_config(model: Any) -> dict[str, Any] | None:
    if not model.compiled:
        return None
    from . import losses

    optimizer = model.optimizer
    loss = model._loss
    if isinstance(loss, losses.LossFunctionWrapper) and type(loss) is losses.LossFunctionWrapper:
        loss_config: Any = loss.fn.__name__
    elif isinstance(loss, losses.Loss):
        loss_config = {
            "module": "keras.losses",
            "class_name": type(loss).__name__,
            "config": loss.get_config(),
            "registered_name": None,
        }
    else:
        loss_config = None
    metrics = [
        m if isinstance(m, str) else getattr(m, "name", None) for m in model._metric_identifiers
    ]
    return {
        "optimizer": {
            "module": "keras.optimizers",
            "class_name": type(optimizer).__name__,
            "config": optimizer.get_config(),
            "registered_name": None,
        },
        "loss": loss_config,
        "loss_weights": None,
        "metrics": metrics or None,
        "weighted_metrics": None,
        "run_eagerly": False,
        "steps_per_execution": 1,
        "jit_compile": False,
    }


def save_model(model: Any, filepath: str, overwrite: bool = True) -> None:
    """Write ``model`` as a Keras 3 ``.keras`` archive.

    >>> import tapegrad as tf
    >>> tf.keras.saving.save_model.__name__
    'save_model'
    """
    filepath = os.fspath(filepath)
    if not filepath.endswith(".keras"):
        raise ValueError(
            "Invalid filepath extension for saving. Please add the `.keras` extension "
            f"(tapegrad does not write the legacy .h5 or SavedModel formats): {filepath}"
        )
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"{filepath} exists and overwrite=False")
    config = serialize_layer(model)
    compile_config = _compile_config(model)
    if compile_config is not None:
        config["compile_config"] = compile_config
    metadata = {
        "keras_version": KERAS_VERSION,
        "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
    }
    buffer = io.BytesIO()
    h5py = _h5py()
    with h5py.File(buffer, "w") as h5file:
        _write_weights(model, h5file, with_optimizer=True)
    with zipfile.ZipFile(filepath, "w") as archive:
        archive.writestr("metadata.json", json.dumps(metadata))
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("model.weights.h5", buffer.getvalue())


def load_model(
    filepath: str, custom_objects: dict[str, Any] | None = None, compile: bool = True
) -> Any:
    """The model in a ``.keras`` archive (tapegrad's or Keras's): rebuilt
    from its config, weights loaded, compiled again if it was compiled.

    >>> import tapegrad as tf
    >>> tf.keras.saving.load_model.__name__
    'load_model'
    """
    filepath = os.fspath(filepath)
    if not filepath.endswith(".keras"):
        raise NotImplementedError(
            f"load_model({filepath!r}): tapegrad reads Keras 3's `.keras` files only"
        )
    with zipfile.ZipFile(filepath) as archive:
        config = json.loads(archive.read("config.json"))
        weights = archive.read("model.weights.h5")
    model = deserialize_layer(config, custom_objects)
    compile_config = config.get("compile_config")
    if compile and compile_config:
        optimizer_config = compile_config["optimizer"]
        optimizer_cls = getattr(optimizers, optimizer_config["class_name"], None)
        if optimizer_cls is None:
            raise NotImplementedError(
                f"load_model: optimizer {optimizer_config['class_name']!r} is not in tapegrad"
            )
        optimizer = optimizer_cls.from_config(optimizer_config["config"])
        model.compile(
            optimizer=optimizer,
            loss=compile_config.get("loss"),
            metrics=compile_config.get("metrics"),
        )
    h5py = _h5py()
    with h5py.File(io.BytesIO(weights), "r") as h5file:
        if compile and compile_config and "optimizer/vars" in h5file:
            # the optimizer's state needs its slots built first
            model.optimizer.build(model.trainable_variables)
        _read_weights(model, h5file, False, filepath)
    return model
