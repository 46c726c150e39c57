"""``tf.saved_model.save`` and ``load`` (private; ``tapegrad.saved_model``
holds the public names).

A tapegrad SavedModel is a directory laid out like TF's:

- ``variables/variables.index`` + ``.data-00000-of-00001``: the object's
  variables, written by ``tf.train.Checkpoint`` under TF's keys
  (``sub/w/.ATTRIBUTES/VARIABLE_VALUE``), so ``tf.train.load_variable`` and
  TensorFlow itself read them;
- ``constants/constants.index`` + ``.data-*``: the tensors the saved programs
  hold (constants, values guarded at trace time), in the same format;
- ``saved_model.json``: the object tree (submodules, variables, functions)
  and one *program* per saved function, written last (its presence marks a
  complete save).

A program is the trace of the function (``tf.function``'s capture, traced
anew for saving on zeros of its ``input_signature``) described step by step
(``src/trace/describe.rs``): each op by the public callable that made it and
its arguments (tensors as slots), variable reads and updates by the
variable's path, and the guards of values Python read while tracing. Loading
interprets the program with the same ops under a new ``tf.function`` with the
saved signature, so a loaded function computes bitwise what the original did,
is differentiable, and replays at ``tf.function`` speed.

>>> import tapegrad as tf, tempfile
>>> class Scale(tf.Module):
...     def __init__(self):
...         super().__init__()
...         self.w = tf.Variable(3.0)
...     @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
...     def __call__(self, x):
...         return x * self.w
>>> path = tempfile.mkdtemp()
>>> tf.saved_model.save(Scale(), path)
>>> loaded = tf.saved_model.load(path)
>>> print(loaded(tf.constant([1.0, 2.0])))
tapegrad.Tensor([3. 6.], shape=(2,), dtype=float32)
"""

from __future__ import annotations

import base64
import inspect
import json
import operator
import os
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from . import _core, _indexed_slices, _nest
from . import _trace as _engine
from ._function import ConcreteFunction, Function, _normalize_output, function
from ._module import Module
from .data import TensorSpec
from .dtypes import DType, as_dtype
from .errors import InvalidArgumentError
from .train._bundle import BundleReader, CheckpointFormatError, write_bundle
from .train._checkpoint import Checkpoint, _value_key, _Walker

__all__ = ["SaveOptions", "LoadOptions", "load", "save"]

PROGRAM_FILE = "saved_model.json"
_FORMAT = "tapegrad.saved_model"
_VERSION = 1
_VARIABLES = os.path.join("variables", "variables")
_CONSTANTS = os.path.join("constants", "constants")

Tensor = _core.Tensor
Variable = _core.Variable


class SaveOptions:
    """``tf.saved_model.SaveOptions``: accepted for compatibility; tapegrad's
    SavedModel has no option that changes what is written.

    >>> import tapegrad as tf
    >>> _ = tf.saved_model.SaveOptions(namespace_whitelist=None)
    """

    def __init__(self, **options: Any) -> None:
        self.options = options


class LoadOptions:
    """``tf.saved_model.LoadOptions``: accepted for compatibility.

    >>> import tapegrad as tf
    >>> _ = tf.saved_model.LoadOptions(allow_partial_checkpoint=False)
    """

    def __init__(self, **options: Any) -> None:
        self.options = options


# --------------------------------------------------------------------------
# Describing a trace: the bindings call `_describe` with each call's arguments


class _Recorder:
    """The calls described during one save trace, and what could not be."""

    def __init__(self) -> None:
        # (steps recorded before the call, op name, encoded arguments)
        self.calls: list[tuple[int, str, list[Any]]] = []
        self.problems: list[str] = []


_local = threading.local()


def _describe(name: str, args: Sequence[tuple[str, Any]]) -> None:
    """Called by the bindings (``src/py/mod.rs::describe``) while a save
    traces: record the call's arguments, tensors as the slots they are read
    from."""
    recorder: _Recorder | None = getattr(_local, "recorder", None)
    if recorder is None:
        return
    tensors: list[Tensor] = []
    problems: list[str] = []
    encoded = [[key, _encode(value, tensors, problems)] for key, value in args]
    info = _core._trace_slots(tensors)
    if info is None:
        return
    count, slots = info
    for i, slot in enumerate(slots):
        if slot is None:
            problems.append(f"tensor argument {i} was made by a path the trace did not capture")
    if problems:
        recorder.problems.extend(f"{name}: {p}" for p in problems)
        return
    recorder.calls.append((count, name, _fill_slots(encoded, slots)))


def _encode(value: Any, tensors: list[Tensor], problems: list[str]) -> Any:
    """A call argument as JSON: tensors as ``{"tensor": i}`` (an index into
    ``tensors``, made a slot by ``_fill_slots``), other values tagged by kind."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, np.generic):
        return {"float": repr(value)} if isinstance(value, float) else value
    if isinstance(value, Tensor):
        tensors.append(value)
        return {"tensor": len(tensors) - 1}
    if isinstance(value, Variable):
        return {"variable": value._handle_id}
    if isinstance(value, (list, tuple)):
        kind = "list" if isinstance(value, list) else "tuple"
        return {kind: [_encode(v, tensors, problems) for v in value]}
    if isinstance(value, dict):
        return {"dict": [[k, _encode(v, tensors, problems)] for k, v in value.items()]}
    if isinstance(value, slice):
        return {
            "slice": [_encode(v, tensors, problems) for v in (value.start, value.stop, value.step)]
        }
    if value is Ellipsis:
        return {"ellipsis": True}
    if isinstance(value, DType):
        return {"dtype": value.name}
    if isinstance(value, (np.ndarray, np.generic)) and value.dtype.kind in "biufc":
        array = np.asarray(value, order="C")  # (ascontiguousarray makes a 0-d array 1-d)
        return {
            "array": base64.b64encode(array.tobytes()).decode(),
            "dtype": array.dtype.str,
            "shape": list(array.shape),
            "scalar": isinstance(value, np.generic),
        }
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        return {"np_dtype": np.dtype(value).str}
    if isinstance(value, bytes):
        return {"bytes": base64.b64encode(value).decode()}
    problems.append(f"an argument of type {type(value).__name__} cannot be saved")
    return None


def _fill_slots(encoded: Any, slots: Sequence[int | None]) -> Any:
    if isinstance(encoded, list):
        return [_fill_slots(e, slots) for e in encoded]
    if isinstance(encoded, dict):
        if set(encoded) == {"tensor"}:
            return {"slot": slots[encoded["tensor"]]}
        return {k: _fill_slots(v, slots) for k, v in encoded.items()}
    return encoded


def _decode(value: Any, slots: Mapping[int, Tensor], variables: Sequence[Variable]) -> Any:
    """The argument ``_encode`` described, with this run's tensors in place."""
    if not isinstance(value, dict):
        return value
    if "array" in value:
        array = np.frombuffer(base64.b64decode(value["array"]), dtype=np.dtype(value["dtype"]))
        array = array.reshape(value["shape"]).copy()
        return array[()] if value["scalar"] else array
    ((kind, body),) = value.items()
    if kind == "float":
        return float(body)
    if kind == "slot":
        return slots[body]
    if kind == "variable":
        return variables[body]
    if kind == "list":
        return [_decode(v, slots, variables) for v in body]
    if kind == "tuple":
        return tuple(_decode(v, slots, variables) for v in body)
    if kind == "dict":
        return {k: _decode(v, slots, variables) for k, v in body}
    if kind == "slice":
        return slice(*(_decode(v, slots, variables) for v in body))
    if kind == "ellipsis":
        return Ellipsis
    if kind == "dtype":
        return as_dtype(body)
    if kind == "np_dtype":
        return np.dtype(body).type
    if kind == "bytes":
        return base64.b64decode(body)
    raise ValueError(f"unknown argument kind {kind!r}")


# --------------------------------------------------------------------------
# Saving


class _Graph:
    """The object tree under the saved root: each object node's children,
    variables and ``tf.function`` attributes, and each variable's checkpoint
    key (the walk of ``tf.train.Checkpoint``, so the keys match its file)."""

    def __init__(self, root: Any) -> None:
        walker = _Walker()
        self.nodes: list[dict[str, Any]] = []
        self.objects: list[Any] = []
        self.variables: list[Variable] = []
        self.variable_keys: list[str] = []
        self.variable_index: dict[int, int] = {}  # handle id → index
        ids: dict[int, int] = {id(root): 0}
        queue: deque[tuple[Any, list[str]]] = deque([(root, [])])
        while queue:
            obj, path = queue.popleft()
            node: dict[str, Any] = {"children": []}
            self.nodes.append(node)
            self.objects.append(obj)
            children = walker.children(obj) if walker.trackable(obj) or not path else []
            seen_names = {name for name, _ in children}
            if isinstance(obj, Module) or not path:
                # modules that hold no variable still carry functions
                children += [
                    (name, child)
                    for name, child in sorted(vars(obj).items())
                    if isinstance(child, Module) and name not in seen_names
                ]
            for name, child in children:
                if isinstance(child, Variable):
                    index = self._variable(child, path + [name])
                    node["children"].append([name, {"variable": index}])
                    continue
                if id(child) not in ids:
                    ids[id(child)] = len(ids)
                    queue.append((child, path + [name]))
                kind = (
                    "list"
                    if isinstance(child, (list, tuple))
                    else ("dict" if isinstance(child, dict) else "object")
                )
                node["children"].append([name, {kind: ids[id(child)]}])

    def _variable(self, variable: Variable, path: list[str]) -> int:
        handle = variable._handle_id
        if handle not in self.variable_index:
            self.variable_index[handle] = len(self.variables)
            self.variables.append(variable)
            self.variable_keys.append(_value_key(path))
        return self.variable_index[handle]


def _functions_of(obj: Any) -> list[tuple[str, Function]]:
    """The ``tf.function`` attributes of ``obj`` (methods bound to it)."""
    found: dict[str, Function] = {}
    for name in dir(type(obj)):
        if name.startswith("__") and name != "__call__":
            continue
        if isinstance(inspect.getattr_static(type(obj), name, None), Function):
            found[name] = getattr(obj, name)
    for name, value in vars(obj).items() if hasattr(obj, "__dict__") else ():
        if isinstance(value, Function):
            found[name] = value
    return sorted(found.items())


def _spec_json(spec: TensorSpec) -> dict[str, Any]:
    shape = spec.shape.as_list() if spec.shape.rank is not None else None
    return {"shape": shape, "dtype": spec.dtype.name, "name": spec.name}


def _spec_of(data: Mapping[str, Any]) -> TensorSpec:
    return TensorSpec(data["shape"], as_dtype(data["dtype"]), name=data["name"])


def _encode_structure(value: Any, outputs: list[Tensor], where: str) -> Any:
    """The output structure as JSON, each tensor ``{"output": i}``."""
    if isinstance(value, Tensor):
        outputs.append(value)
        return {"output": len(outputs) - 1}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (list, tuple)):
        kind = "list" if isinstance(value, list) else "tuple"
        return {kind: [_encode_structure(v, outputs, where) for v in value]}
    if isinstance(value, Mapping):
        return {"dict": [[str(k), _encode_structure(v, outputs, where)] for k, v in value.items()]}
    raise ValueError(f"{where} returns a {type(value).__name__}, which cannot be saved")


def _decode_structure(value: Any, outputs: Sequence[Tensor]) -> Any:
    if not isinstance(value, dict):
        return value
    ((kind, body),) = value.items()
    if kind == "output":
        return outputs[body]
    if kind == "list":
        return [_decode_structure(v, outputs) for v in body]
    if kind == "tuple":
        return tuple(_decode_structure(v, outputs) for v in body)
    return {k: _decode_structure(v, outputs) for k, v in body}


class _Saver:
    def __init__(self, graph: _Graph) -> None:
        self.graph = graph
        self.constants: dict[str, np.ndarray] = {}

    def program(self, fn: Function, where: str) -> dict[str, Any]:
        """Trace ``fn`` on zeros of its signature and describe the trace."""
        specs = fn.input_signature
        if specs is None:
            raise ValueError(
                f"tf.saved_model.save: {where} has no input_signature; tapegrad saves the "
                "tf.functions that declare one (give it input_signature=[tf.TensorSpec(...)])"
            )
        if any(not isinstance(s, TensorSpec) for s in specs):
            raise ValueError(
                f"tf.saved_model.save: {where}'s input_signature is nested; tapegrad saves "
                "flat signatures of TensorSpecs"
            )
        inputs = [
            _core.zeros([1 if d is None else d for d in s.shape.as_list()], dtype=s.dtype)
            if s.shape.rank is not None
            else _core.zeros([], dtype=s.dtype)
            for s in specs
        ]
        parameters = [
            p.name
            for p in inspect.signature(fn.python_function).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ][: len(specs)]
        recorder = _Recorder()
        _local.recorder = recorder
        _core._trace_describe(True)
        try:
            with _engine.Trace(inputs) as trace:
                outputs = fn.python_function(*inputs)
                flat: list[Tensor] = []
                structure = _encode_structure(_normalize_output(outputs), flat, where)
                if trace.created_variables:
                    raise ValueError(
                        f"tf.saved_model.save: {where} creates variables when called; create "
                        "them once, outside the function"
                    )
                try:
                    plan = trace.finish(flat)
                except _engine.TraceUnsupported as error:
                    raise ValueError(f"tf.saved_model.save: cannot save {where}: {error}") from None
        finally:
            _core._trace_describe(False)
            _local.recorder = None
        if recorder.problems:
            raise ValueError(
                f"tf.saved_model.save: cannot save {where}: {'; '.join(recorder.problems)}"
            )
        text, held = plan._describe()
        program: dict[str, Any] = json.loads(text)
        self._attach(program, recorder, where)
        base = f"{where}/{len(self.constants)}"
        for i, tensor in enumerate(held):
            self.constants[f"{base}/{i}"] = tensor.numpy()
        program["tensors"] = base
        program["n_tensors"] = len(held)
        program["signature"] = [_spec_json(s) for s in specs]
        program["parameters"] = [
            s.name or (parameters[i] if i < len(parameters) else f"arg_{i}")
            for i, s in enumerate(specs)
        ]
        program["structure"] = structure
        return program

    def _attach(self, program: dict[str, Any], recorder: _Recorder, where: str) -> None:
        """Give each op step its call's arguments; map variables to indices."""
        calls = recorder.calls
        for index, step in enumerate(program["steps"]):
            kind = step["kind"]
            if kind == "unsupported":
                raise ValueError(
                    f"tf.saved_model.save: cannot save {where}: it uses {step['what']}"
                )
            if kind in ("read", "update"):
                step["var"] = self._variable(step["var"], where)
            if kind != "op":
                continue
            name = step["name"]
            matching = [c for c in calls if c[0] <= index and c[1] == name]
            if matching:
                step["args"] = self._variables_in(matching[-1][2], where)
                calls.remove(matching[-1])
            elif name == "trace_callback":
                raise ValueError(
                    f"tf.saved_model.save: cannot save {where}: it calls back into Python "
                    "(tf.py_function, tf.print or tf.numpy_function), which a SavedModel "
                    "cannot hold"
                )
            elif name not in _core.ops and name not in _OPERATORS and name != "unstack":
                raise ValueError(
                    f"tf.saved_model.save: cannot save {where}: the op {name} cannot be described"
                )

    def _variable(self, ref: Mapping[str, int], where: str) -> int:
        if "handle" not in ref:
            raise ValueError(
                f"tf.saved_model.save: cannot save {where}: a variable passed as an argument"
            )
        index = self.graph.variable_index.get(ref["handle"])
        if index is None:
            raise ValueError(
                f"tf.saved_model.save: {where} uses a variable that is not tracked by the object "
                "being saved (make it an attribute of the module, or of one of its submodules)"
            )
        return index

    def _variables_in(self, encoded: Any, where: str) -> Any:
        if isinstance(encoded, list):
            return [self._variables_in(e, where) for e in encoded]
        if isinstance(encoded, dict):
            if set(encoded) == {"variable"}:
                return {"variable": self._variable({"handle": encoded["variable"]}, where)}
            return {k: self._variables_in(v, where) for k, v in encoded.items()}
        return encoded


def _signature_functions(signatures: Any) -> dict[str, Function]:
    if signatures is None:
        return {}
    if isinstance(signatures, (Function, ConcreteFunction)):
        signatures = {"serving_default": signatures}
    if not isinstance(signatures, Mapping):
        raise ValueError(
            "Expected a TensorFlow function for which to generate a signature (a tf.function "
            f"with an input_signature, or a dict of them), got {signatures!r}"
        )
    found: dict[str, Function] = {}
    for key, value in signatures.items():
        fn = value.function if isinstance(value, ConcreteFunction) else value
        if not isinstance(fn, Function):
            raise ValueError(f"signatures[{key!r}] is not a tf.function: {value!r}")
        found[str(key)] = fn
    return found


def save(
    obj: Any, export_dir: str | os.PathLike[str], signatures: Any = None, options: Any = None
) -> None:
    """Write ``obj`` (a ``tf.Module`` or other object) to ``export_dir``: its
    tracked variables, its submodules, and its ``tf.function`` methods that
    declare an ``input_signature``; ``signatures`` (a function or a dict of
    them) become ``loaded.signatures``. Functions are traced once on zeros
    (variables are restored afterwards) and saved as programs of ops; an op
    that cannot be described (a Python callback, a tape) raises
    ``ValueError`` naming it and the function.

    >>> import tapegrad as tf, tempfile
    >>> m = tf.Module()
    >>> m.v = tf.Variable([1.0, 2.0])
    >>> m.f = tf.function(lambda x: x + m.v, input_signature=[tf.TensorSpec([2])])
    >>> path = tempfile.mkdtemp()
    >>> tf.saved_model.save(m, path)
    >>> tf.train.load_variable(path + "/variables/variables", "v/.ATTRIBUTES/VARIABLE_VALUE")
    array([1., 2.], dtype=float32)
    """
    export_dir = os.fspath(export_dir)
    graph = _Graph(obj)
    saver = _Saver(graph)
    snapshot = [(v, v.numpy()) for v in graph.variables]
    nodes = graph.nodes
    try:
        for node, owner in zip(nodes, graph.objects, strict=True):
            if isinstance(owner, (list, tuple, dict)):
                continue
            node["functions"] = {
                name: saver.program(fn, f"{type(owner).__name__}.{name}")
                for name, fn in _functions_of(owner)
                if fn.input_signature is not None
            }
        signature_programs = {
            key: saver.program(fn, f"signature {key!r}")
            for key, fn in _signature_functions(signatures).items()
        }
    finally:
        for variable, value in snapshot:
            variable.assign(value)
    for node, owner in zip(nodes, graph.objects, strict=True):
        node["kind"] = (
            "list"
            if isinstance(owner, list)
            else "tuple"
            if isinstance(owner, tuple)
            else "dict"
            if isinstance(owner, dict)
            else "object"
        )
    variables = [
        {
            "key": key,
            "name": v.name,
            "trainable": bool(v.trainable),
            "dtype": v.dtype.name,
            "shape": list(v.shape),
        }
        for key, v in zip(graph.variable_keys, graph.variables, strict=True)
    ]
    os.makedirs(os.path.join(export_dir, "variables"), exist_ok=True)
    os.makedirs(os.path.join(export_dir, "constants"), exist_ok=True)
    program_path = os.path.join(export_dir, PROGRAM_FILE)
    if os.path.exists(program_path):
        os.remove(program_path)  # a failed rewrite must not leave the old program beside new files
    Checkpoint(root=obj).write(os.path.join(export_dir, _VARIABLES))
    write_bundle(os.path.join(export_dir, _CONSTANTS), saver.constants)
    document = {
        "format": _FORMAT,
        "version": _VERSION,
        "variables": variables,
        "nodes": nodes,
        "signatures": signature_programs,
    }
    temporary = program_path + ".tmp"
    with open(temporary, "w") as f:
        json.dump(document, f)
    os.replace(temporary, program_path)


# --------------------------------------------------------------------------
# Loading


_OPERATORS: dict[str, Callable[..., Any]] = {
    "__add__": operator.add,
    "__sub__": operator.sub,
    "__mul__": operator.mul,
    "__truediv__": operator.truediv,
    "__matmul__": operator.matmul,
    "__floordiv__": operator.floordiv,
    "__mod__": operator.mod,
    "__and__": operator.and_,
    "__or__": operator.or_,
    "__lt__": operator.lt,
    "__le__": operator.le,
    "__gt__": operator.gt,
    "__ge__": operator.ge,
    "__eq__": operator.eq,
    "__ne__": operator.ne,
    "__pow__": operator.pow,
    "__invert__": operator.invert,
    "__neg__": operator.neg,
    "__abs__": operator.abs,
}
# a reflected operator's step holds its operands in evaluation order
_OPERATORS.update(
    {
        "__r" + k[2:]: f
        for k, f in list(_OPERATORS.items())
        if k
        not in (
            "__lt__",
            "__le__",
            "__gt__",
            "__ge__",
            "__eq__",
            "__ne__",
            "__invert__",
            "__neg__",
            "__abs__",
        )
    }
)

# bindings whose Python name is not their Rust name
_RENAMED = {"where_": "where", "range_": "range"}


# a loaded function's gathers go through the recorded forms, so that a tape
# records them and the gradient is TF's IndexedSlices (as a replay gives)
_GATHERS: dict[str, Callable[..., Any]] = {
    "gather": _indexed_slices.gather,
    "gather_nd": _indexed_slices.gather_nd,
}


def _op_callable(step: Mapping[str, Any]) -> Callable[..., Any] | None:
    name = step["name"]
    if name == "getitem":
        return operator.getitem
    if "args" in step:
        if name in _GATHERS:
            return _GATHERS[name]
        return getattr(_core, _RENAMED.get(name, name), None)
    if name in _OPERATORS:
        return _OPERATORS[name]
    if name == "unstack":
        return list
    op: Callable[..., Any] | None = _core.ops.get(name)
    return op


def _flat(result: Any) -> list[Tensor]:
    if isinstance(result, Tensor):
        return [result]
    return list(result)


class _Program:
    """A saved function's program, checked at load, run by ``__call__``."""

    def __init__(
        self,
        data: Mapping[str, Any],
        where: str,
        constants: Sequence[Tensor],
        variables: Sequence[Variable],
        file: str,
    ) -> None:
        self.where = where
        self.data = data
        self.constants = constants
        self.variables = variables
        self.steps: list[tuple[Mapping[str, Any], Callable[..., Any] | None]] = []
        for step in data["steps"]:
            call = None
            if step["kind"] == "op":
                call = _op_callable(step)
                if call is None:
                    raise ValueError(
                        f"{file}: {where} uses the op {step['name']!r}, which this "
                        "tapegrad does not have"
                    )
            elif step["kind"] not in ("read", "update", "guard"):
                raise ValueError(f"{file}: {where} has a step of unknown kind {step['kind']!r}")
            self.steps.append((step, call))
        self.specs = [_spec_of(s) for s in data["signature"]]

    def __call__(self, *args: Tensor) -> Any:
        data = self.data
        slots: dict[int, Tensor] = {}
        for spec, value in zip(data["inputs"], args, strict=True):
            slots[spec["slot"]] = value
        for slot, index in data["constants"]:
            slots[slot] = self.constants[index]
        for step, call in self.steps:
            kind = step["kind"]
            if kind == "op":
                assert call is not None
                inputs = [slots[s] for s in step["inputs"]]
                if "args" in step:
                    kwargs = {k: _decode(v, slots, self.variables) for k, v in step["args"]}
                    if step["name"] == "einsum":
                        result = call(kwargs["equation"], *kwargs["inputs"])
                    elif step["name"] == "getitem":
                        result = inputs[0][kwargs["key"]]
                    else:
                        result = call(**kwargs)
                elif call is list:
                    result = list(inputs[0])
                else:
                    result = call(*inputs)
                for out, value in zip(step["outputs"], _flat(result), strict=True):
                    slots[out["slot"]] = value
            elif kind == "read":
                slots[step["outputs"][0]["slot"]] = self.variables[step["var"]].value()
            elif kind == "update":
                getattr(self.variables[step["var"]], step["how"])(slots[step["input"]])
            else:
                self._check(step, slots[step["slot"]])
        outputs = [slots[s] for s in data["outputs"]]
        return _decode_structure(data["structure"], outputs)

    def _check(self, step: Mapping[str, Any], value: Tensor) -> None:
        if "truth" in step:
            held = bool(value) == step["truth"]
        else:
            traced = self.constants[step["value"]["tensor"]]
            held = (
                value.dtype == traced.dtype
                and value.shape == traced.shape
                and value.numpy().tobytes() == traced.numpy().tobytes()
            )
        if not held:
            raise InvalidArgumentError(
                f"{self.where}: a value the Python code read when this function was traced for "
                "saving differs now (the saved program holds the branch taken then, and a loaded "
                "SavedModel has no Python code to trace again); save the function with the control "
                "flow in tensors (tf.where, tf.cond) instead",
            )


def _loaded_function(program: _Program, structured: bool) -> Any:
    """``program`` as a ``tf.function`` with its saved input signature."""
    parameters = [
        inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        for name in program.data["parameters"]
    ]

    def run(*args: Tensor) -> Any:
        return program(*args)

    run.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    run.__name__ = program.where.rsplit(".", 1)[-1]
    fn = function(run, input_signature=program.specs)
    if not structured:
        return fn
    return _SignatureFunction(fn, program)


class _SignatureFunction:
    """A ``signatures`` entry: keyword arguments by input name, a dict of
    outputs (``output_0``, … unless the function returned a dict)."""

    def __init__(self, fn: Function, program: _Program) -> None:
        self._fn = fn
        self._program = program
        self.structured_input_signature = ((), {s.name: s for s in program.specs})

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        names = self._program.data["parameters"]
        if args:
            raise TypeError(f"signature functions take keyword arguments only ({', '.join(names)})")
        values = []
        for i, (name, spec) in enumerate(zip(names, self._program.specs, strict=True)):
            if name not in kwargs:
                raise TypeError(f"signature function missing the argument {name!r}")
            value = kwargs[name]
            if isinstance(value, Tensor) and value.dtype != spec.dtype:
                raise InvalidArgumentError(
                    f"cannot compute {self._program.where} as input #{i}(zero-based) was expected "
                    f"to be a {spec.dtype.name} tensor but is a {value.dtype.name} tensor",
                )
            values.append(value)
        result = self._fn(*values)
        if isinstance(result, Mapping):
            return dict(result)
        flat = _nest.flatten(result)
        return {f"output_{i}": v for i, v in enumerate(flat)}


class _LoadedObject(Module):
    """An object restored by ``tf.saved_model.load``: its variables,
    submodules and functions as attributes."""

    def __init__(self) -> None:
        super().__init__(name="loaded")
        self.signatures: dict[str, Any] = {}

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        call = self.__dict__.get("__call__")
        if call is None:
            raise TypeError("this loaded object was not callable when saved")
        return call(*args, **kwargs)


def _read_document(export_dir: str) -> dict[str, Any]:
    path = os.path.join(export_dir, PROGRAM_FILE)
    if not os.path.exists(path):
        if os.path.exists(os.path.join(export_dir, "saved_model.pb")):
            raise ValueError(
                f"{export_dir} is a SavedModel written by TensorFlow (saved_model.pb): tapegrad "
                "reads the SavedModels it writes. Its variables can be read with "
                f"tf.train.load_variable({os.path.join(export_dir, _VARIABLES)!r}, key)"
            )
        raise OSError(f"SavedModel file does not exist at: {export_dir}/{{{PROGRAM_FILE}}}")
    try:
        with open(path) as f:
            document = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is corrupt or truncated: {error}") from None
    if not isinstance(document, dict) or document.get("format") != _FORMAT:
        raise ValueError(f"{path} is not a tapegrad SavedModel program")
    if document.get("version") != _VERSION:
        raise ValueError(
            f"{path} has format version {document.get('version')}; this tapegrad reads version "
            f"{_VERSION}"
        )
    return document


def load(export_dir: str | os.PathLike[str], tags: Any = None, options: Any = None) -> Any:
    """Load what ``tf.saved_model.save`` wrote: an object with the saved
    variables (new ``tf.Variable``s holding the saved values), submodules and
    functions (each a ``tf.function`` with its saved input signature,
    computing bitwise what the original computed, differentiable), and
    ``signatures``. Everything is read and checked before any object is made:
    a missing, truncated or corrupt file raises naming it.

    >>> import tapegrad as tf, tempfile
    >>> m = tf.Module()
    >>> m.v = tf.Variable(2.0)
    >>> m.f = tf.function(lambda x: x * m.v, input_signature=[tf.TensorSpec([])])
    >>> path = tempfile.mkdtemp()
    >>> tf.saved_model.save(m, path, signatures=m.f)
    >>> loaded = tf.saved_model.load(path)
    >>> float(loaded.f(tf.constant(3.0)))
    6.0
    >>> loaded.signatures["serving_default"](x=tf.constant(1.0))["output_0"].numpy()
    2.0
    """
    export_dir = os.fspath(export_dir)
    document = _read_document(export_dir)
    file = os.path.join(export_dir, PROGRAM_FILE)
    try:
        return _build(export_dir, document, file)
    except (KeyError, TypeError, IndexError, AttributeError) as error:
        raise ValueError(f"{file} is malformed: {type(error).__name__}: {error}") from None


def _read_tensors(prefix: str, keys: Sequence[str]) -> list[np.ndarray]:
    reader = BundleReader(prefix)
    values = []
    for key in keys:
        if key not in reader.entries:
            raise CheckpointFormatError(f"{prefix}: the SavedModel's tensor {key} is missing")
        value = reader.read(key)
        if not isinstance(value, np.ndarray):
            raise CheckpointFormatError(f"{prefix}: {key} is not a numeric tensor")
        values.append(value)
    return values


def _build(export_dir: str, document: Mapping[str, Any], file: str) -> Any:
    saved_variables = document["variables"]
    values = _read_tensors(
        os.path.join(export_dir, _VARIABLES), [v["key"] for v in saved_variables]
    )
    for spec, value in zip(saved_variables, values, strict=True):
        if value.dtype.name != spec["dtype"] or list(value.shape) != spec["shape"]:
            raise CheckpointFormatError(
                f"{os.path.join(export_dir, _VARIABLES)}: {spec['key']} holds a "
                f"{value.dtype.name}{list(value.shape)} tensor, the program expects "
                f"{spec['dtype']}{spec['shape']}"
            )
    programs: list[tuple[str, Mapping[str, Any]]] = []
    for i, node in enumerate(document["nodes"]):
        for name, data in node.get("functions", {}).items():
            programs.append((f"node {i}.{name}", data))
    programs += [(f"signature {k!r}", d) for k, d in document["signatures"].items()]
    keys = [f"{d['tensors']}/{j}" for _, d in programs for j in range(d["n_tensors"])]
    constant_values = _read_tensors(os.path.join(export_dir, _CONSTANTS), keys)
    # all files read and checked: now make the objects
    variables = [
        _core.Variable(value, trainable=spec["trainable"], name=spec["name"].split(":")[0])
        for spec, value in zip(saved_variables, values, strict=True)
    ]
    constants = iter([_core.constant(c) for c in constant_values])

    def program(data: Mapping[str, Any], where: str) -> _Program:
        held = [next(constants) for _ in range(data["n_tensors"])]
        return _Program(data, where, held, variables, file)

    nodes = document["nodes"]
    made: list[Any] = []
    for node in nodes:
        kind = node["kind"]
        made.append([] if kind in ("list", "tuple") else {} if kind == "dict" else _LoadedObject())
    for node, obj in zip(nodes, made, strict=True):
        for name, ref in node["children"]:
            ((kind, index),) = ref.items()
            child = variables[index] if kind == "variable" else made[index]
            if isinstance(obj, list):
                obj.append(child)
            elif isinstance(obj, dict):
                obj[name] = child
            else:
                setattr(obj, name, child)
    for node, obj in zip(nodes, made, strict=True):
        for name, data in node.get("functions", {}).items():
            loaded = _loaded_function(program(data, name), structured=False)
            setattr(obj, name, loaded)
    root = made[0]
    signatures = {
        key: _loaded_function(program(data, f"signature_wrapper_{key}"), structured=True)
        for key, data in document["signatures"].items()
    }
    if isinstance(root, _LoadedObject):
        root.signatures = signatures
    return root
