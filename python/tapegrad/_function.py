"""``tf.function``: trace the Python function once per input signature, then
replay the captured ops (``tf.function``, ``tf.config.run_functions_eagerly``).

A trace is one eager run of the Python function under ``_trace.Trace``; the
ops it ran become a ``Plan`` that later calls replay without Python. Which
calls share a trace follows TF's dispatch rules: the arguments are bound to
the function's parameters (defaults filled in), then reduced to a key in
which a tensor (or numpy array, or variable) is its shape and dtype, a Python
scalar, string or ``None`` is its value, a list/tuple/dict/namedtuple is its
structure, and any other object is its identity. With ``reduce_retracing``
(or an ``input_signature``, or ``get_concrete_function`` of a ``TensorSpec``)
a key may have unknown dimensions; a call then uses the most specific cached
trace whose key it fits.

A plan guards the Python decisions the trace took on tensor values (an
``if`` on a tensor) and the shapes it ran with: when a guard fails the Python
function runs again under a new trace, kept beside the old one in the same
cache entry (TF would have converted the branch with AutoGraph and traced
once, so these re-runs do not count as traces). When the engine cannot
replay a function (``TraceUnsupported``) that entry runs the Python function
eagerly on every call.
"""

from __future__ import annotations

import functools
import inspect
import operator
import threading
import types
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from . import _core, _indexed_slices, _nest
from ._core import Tensor, Variable
from ._indexed_slices import IndexedSlices
from .data import TensorSpec
from .dtypes import DType, as_dtype

try:  # the replay engine; without it every call runs the Python function
    from . import _trace as _engine
except (ImportError, AttributeError):  # pragma: no cover - an extension built without it
    _engine = None  # type: ignore[assignment]

__all__ = [
    "ConcreteFunction",
    "Function",
    "function",
    "functions_run_eagerly",
    "run_functions_eagerly",
]

_SINGLETON_VARIABLES = (
    "tf.function only supports singleton tf.Variables created on the first call. Make sure the "
    "tf.Variable is only created once or created outside tf.function. See "
    "https://www.tensorflow.org/guide/function#creating_tfvariables for more information."
)
_VARIABLES_ON_LATER_TRACE = (
    "Creating variables on a non-first call to a function decorated with tf.function."
)
_NO_REPLAY: Any = object()  # the fast path declined: take the general path
# plans kept per cache entry: one per branch pattern / shape a guard told apart
_PLANS_PER_ENTRY = 8

_run_eagerly = False


def run_functions_eagerly(run_eagerly: bool) -> None:
    """Make every ``tf.function`` call its Python function directly (for
    debugging: breakpoints and ``print`` run on every call), as
    ``tf.config.run_functions_eagerly``.

    >>> import tapegrad as tf
    >>> tf.config.run_functions_eagerly(True)
    >>> tf.config.functions_run_eagerly()
    True
    >>> tf.config.run_functions_eagerly(False)
    """
    global _run_eagerly
    _run_eagerly = bool(run_eagerly)


def functions_run_eagerly() -> bool:
    """Whether ``run_functions_eagerly(True)`` is in effect.

    >>> import tapegrad as tf
    >>> tf.config.functions_run_eagerly()
    False
    """
    return _run_eagerly


def _is_tracing() -> bool:
    return _engine is not None and _engine.is_tracing()


def every_call(fn: Callable[..., Any], tensors: Sequence[Tensor | Variable]) -> Any:
    """``fn(*tensors)`` now and, inside a trace, again at every replay
    (``tf.print``, ``tf.py_function``). A variable is passed as its value at
    that moment."""
    if not _is_tracing():
        return fn(*tensors)
    values = [_core.identity(t) if isinstance(t, Variable) else t for t in tensors]
    return _engine.trace_callback(fn, values)


# ---------------------------------------------------------------------------
# Trace keys. A key is a hashable tree of tuples; equal keys share a trace.


class _Identity:
    """An object keyed by identity (TF's rule for arbitrary Python objects),
    held weakly where it can be so the cache does not keep it alive."""

    __slots__ = ("_id", "_ref", "__weakref__")

    def __init__(self, obj: object) -> None:
        self._id = id(obj)
        try:
            self._ref: Any = weakref.ref(obj)
        except TypeError:  # not weakly referable: the entry keeps it alive
            self._ref = lambda obj=obj: obj

    def alive(self) -> bool:
        return self._ref() is not None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Identity) or other._id != self._id:
            return False
        mine = self._ref()
        return mine is not None and mine is other._ref()

    def __hash__(self) -> int:
        return self._id

    def __repr__(self) -> str:
        return f"<object at {self._id:#x}>"


def _tensor_key(kind: str, shape: Any, dtype: DType) -> tuple[Any, ...]:
    dims = None if shape is None else tuple(None if d is None else int(d) for d in shape)
    return (kind, dims, dtype.name)


def _literal_key(value: Any) -> tuple[Any, ...]:
    # TF keys Python scalars by value with Python's equality: 1, 1.0 and True
    # share a trace (they are == and hash alike), "1" does not.
    return ("literal", value)


def _key_of(value: Any) -> Any:
    """The trace key of one argument (see the module docstring)."""
    if type(value) is Tensor:  # the common case first: shape dims are ints already
        return ("tensor", tuple(value.shape), value.dtype.name)
    if isinstance(value, Variable):
        return _tensor_key("variable", value.shape, value.dtype)
    if isinstance(value, Tensor):
        return _tensor_key("tensor", value.shape, value.dtype)
    if isinstance(value, TensorSpec):
        return _tensor_key("tensor", _spec_dims(value), value.dtype)
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
        return _literal_key(value)
    if isinstance(value, (np.ndarray, np.generic)):
        return _tensor_key("tensor", np.shape(value), as_dtype(np.asarray(value).dtype))
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return ("namedtuple", type(value), tuple(_key_of(v) for v in value))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_key_of(v) for v in value))
    if isinstance(value, Mapping):
        keys = sorted(value)
        return ("dict", tuple(keys), tuple(_key_of(value[k]) for k in keys))
    return ("object", _Identity(value))


def _spec_dims(spec: TensorSpec) -> tuple[int | None, ...] | None:
    return None if isinstance(spec, _UnknownRankSpec) else tuple(spec.shape)


def _fits(specific: Any, general: Any) -> bool:
    """Whether a call with key ``specific`` may use a trace keyed ``general``:
    equal, except that a tensor fits a known-or-unknown dimension and any
    shape fits an unknown rank."""
    if specific == general:
        return True
    if not isinstance(specific, tuple) or not isinstance(general, tuple):
        return False
    if specific and specific[0] in ("tensor", "variable"):
        if general[0] != specific[0] or general[2] != specific[2]:
            return False
        dims, general_dims = specific[1], general[1]
        if general_dims is None:
            return True
        if dims is None or len(dims) != len(general_dims):
            return False
        return all(g is None or g == d for d, g in zip(dims, general_dims, strict=True))
    if len(specific) != len(general):
        return False
    return all(_fits(s, g) for s, g in zip(specific, general, strict=True))


def _generality(key: Any) -> int:
    """How many unknown dimensions a key has (an unknown rank counts most):
    the most specific fitting trace wins."""
    if not isinstance(key, tuple):
        return 0
    if key and key[0] in ("tensor", "variable"):
        return 1000 if key[1] is None else sum(d is None for d in key[1])
    return sum(_generality(k) for k in key)


def _common_supertype(a: Any, b: Any) -> Any | None:
    """The most specific key both ``a`` and ``b`` fit (``reduce_retracing``):
    unequal dimensions become unknown, unequal ranks an unknown rank; ``None``
    when they differ in anything else (a value, a dtype, a structure)."""
    if a == b:
        return a
    if not isinstance(a, tuple) or not isinstance(b, tuple) or len(a) != len(b):
        return None
    if a and a[0] in ("tensor", "variable"):
        if a[0] != b[0] or a[2] != b[2]:
            return None
        if a[1] is None or b[1] is None or len(a[1]) != len(b[1]):
            return (a[0], None, a[2])
        return (a[0], tuple(x if x == y else None for x, y in zip(a[1], b[1], strict=True)), a[2])
    if a and a[0] == "literal":
        return None
    merged = []
    for x, y in zip(a, b, strict=True):
        m = _common_supertype(x, y)
        if m is None:
            return None
        merged.append(m)
    return tuple(merged)


# ---------------------------------------------------------------------------
# Specs shown to users.


class _UnknownRankSpec(TensorSpec):
    """A ``TensorSpec`` of unknown rank (``reduce_retracing`` across ranks)."""

    __slots__ = ()

    def __init__(self, dtype: Any, name: str | None = None) -> None:
        super().__init__([], dtype, name)

    def is_compatible_with(self, other: Any) -> bool:
        dtype = other.dtype if isinstance(other, TensorSpec) else as_dtype(np.asarray(other).dtype)
        return bool(dtype == self.dtype)

    def __repr__(self) -> str:
        return f"TensorSpec(shape=<unknown>, dtype=tf.{self.dtype.name}, name={self.name!r})"


def _spec_from_key(key: Any, name: str | None) -> TensorSpec:
    dtype = as_dtype(key[2])
    if key[1] is None:
        return _UnknownRankSpec(dtype, name)
    return TensorSpec(list(key[1]), dtype, name)


def _signature_from_key(value: Any, key: Any, name: str | None) -> Any:
    """The user-facing form of one argument: a ``TensorSpec`` per tensor (named
    after its parameter at the top level, as TF names them), values for
    Python literals, the containers rebuilt."""
    kind = key[0]
    if kind in ("tensor", "variable"):
        return _spec_from_key(key, name)
    if kind == "literal":
        return key[1]
    if kind == "object":
        return value
    if kind == "namedtuple":
        return type(value)(
            *(_signature_from_key(v, k, None) for v, k in zip(value, key[2], strict=True))
        )
    if kind in ("list", "tuple"):
        items = [_signature_from_key(v, k, None) for v, k in zip(value, key[1], strict=True)]
        return items if kind == "list" else tuple(items)
    if kind == "dict":
        return {
            k: _signature_from_key(value[k], sub, None)
            for k, sub in zip(key[1], key[2], strict=True)
        }
    return value


def _output_spec(value: Any) -> Any:
    if isinstance(value, (Tensor, Variable)):
        return TensorSpec(list(value.shape), value.dtype)
    return value


# ---------------------------------------------------------------------------
# Arguments.


def _as_argument(value: Any) -> Any:
    """numpy arrays and numpy scalars become tensors, as TF converts them."""
    if isinstance(value, (Tensor, Variable)):
        return value
    if isinstance(value, (np.ndarray, np.generic)) and not isinstance(value, np.str_):
        return _core.convert_to_tensor(np.asarray(value))
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*(_as_argument(v) for v in value))
    if isinstance(value, (list, tuple)):
        return type(value)(_as_argument(v) for v in value)
    if isinstance(value, dict):
        return type(value)((k, _as_argument(v)) for k, v in value.items())
    return value


def _tensor_leaves(values: list[Any]) -> list[Tensor | Variable]:
    """The tensors and variables among the arguments, depth first (the order
    the trace's inputs were given in)."""
    leaves: list[Tensor | Variable] = []
    for value in values:
        if isinstance(value, (Tensor, Variable)):
            leaves.append(value)
        elif _nest.is_nested(value):
            leaves.extend(v for v in _nest.flatten(value) if isinstance(v, (Tensor, Variable)))
    return leaves


def _binding_error(reason: str, args: Any, kwargs: Any, signature: str) -> TypeError:
    return TypeError(
        f"Binding inputs to tf.function failed due to `{reason}`. Received args: {args!r} and "
        f"kwargs: {kwargs!r} for signature: {signature}."
    )


def _convert_to_spec(value: Any, spec: TensorSpec) -> Tensor | Variable:
    """One ``input_signature`` argument: converted to the spec's dtype when it
    is not yet a tensor, then checked (TF's ``TypeError`` when it does not fit)."""
    if isinstance(value, TensorSpec):  # get_concrete_function(spec)
        if not spec.is_compatible_with(value):
            raise ValueError(f"Can not cast {value!r} to {spec!r}")
        return value  # type: ignore[return-value]
    if isinstance(value, (Tensor, Variable)):
        tensor = value
    else:
        try:
            tensor = _core.convert_to_tensor(value, dtype=spec.dtype)
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"Cannot convert {value!r} to EagerTensor of dtype {spec.dtype.name}"
            ) from error
    # by shape and dtype: no copy of the values (is_compatible_with reads them)
    given = _tensor_key("tensor", tensor.shape, tensor.dtype)
    if not _fits(given, _tensor_key("tensor", _spec_dims(spec), spec.dtype)):
        shown = TensorSpec(list(tensor.shape), tensor.dtype)
        raise ValueError(f"Can not cast {shown!r} to {spec!r}")
    return tensor


def _convert_to_signature(value: Any, spec: Any) -> Any:
    """An argument converted to its ``input_signature`` entry, structure by
    structure (a Python list where the spec is one ``TensorSpec`` becomes one
    tensor)."""
    if isinstance(spec, TensorSpec):
        return _convert_to_spec(value, spec)
    if not _nest.is_nested(value) or len(_nest.flatten(value)) != len(_nest.flatten(spec)):
        raise ValueError(f"{value!r} does not match the structure of {spec!r}")
    return _nest.pack_sequence_as(
        spec,
        [
            _convert_to_spec(v, s)
            for v, s in zip(_nest.flatten(value), _nest.flatten(spec), strict=True)
        ],
    )


class _FastBound:
    """A call bound without ``inspect`` (positional arguments to a function
    with only positional-or-keyword parameters): the per-call fast path."""

    __slots__ = ("arguments", "args")

    def __init__(self, names: tuple[str, ...], values: tuple[Any, ...]) -> None:
        self.arguments = dict(zip(names, values, strict=True))
        self.args = values

    @property
    def kwargs(self) -> dict[str, Any]:
        return {}


# inspect.BoundArguments or _FastBound: .arguments (in parameter order), .args, .kwargs
_Bound = Any


# ---------------------------------------------------------------------------
# Cache entries.


class _Entry:
    """One trace: its key, how its arguments looked, and the plans that replay
    it (several when guards told branch patterns or shapes apart)."""

    __slots__ = ("key", "signature", "plans", "eager", "outputs", "output_specs", "gathers")

    def __init__(self, key: Any, signature: tuple[tuple[Any, ...], dict[str, Any]]) -> None:
        self.key = key
        self.signature = signature
        self.plans: list[Any] = []
        self.eager = _engine is None  # no engine: the Python function runs each call
        self.outputs: Any = None  # flat replay outputs -> the returned structure
        self.output_specs: Any = None
        # id(plan) -> (how many outputs are returned ones, the shapes of the
        # sources of the gathers whose outputs and indices follow them)
        self.gathers: dict[int, tuple[int, list[tuple[int, ...]]]] = {}

    def replayed(self, plan: Any, results: list[Tensor]) -> Any:
        """The returned structure of a replay; under a recording tape, the
        plan's gathers remembered first, as the traced run did (so the
        gradient is an ``IndexedSlices`` on every call, as TF's)."""
        if self.gathers and _indexed_slices.RECORDING:
            visible, shapes = self.gathers.get(id(plan), (0, []))
            for k, shape in enumerate(shapes):
                out, rows = results[visible + 2 * k], results[visible + 2 * k + 1]
                _indexed_slices.remember(out, shape, rows)
        return self.outputs(results)


class _Slot:
    """Where the i-th flat output tensor goes in the output structure."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index


def _normalize_output(value: Any) -> Any:
    """TF returns tensors: Python numbers and numpy values become tensors and a
    returned variable its current value; ``None`` and other objects stay."""
    if isinstance(value, Variable):
        return _core.identity(value)
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (bool, int, float, np.ndarray, np.generic)) and not isinstance(
        value, np.str_
    ):
        return _core.convert_to_tensor(value)
    if _nest.is_nested(value):
        return _nest.pack_sequence_as(value, [_normalize_output(v) for v in _nest.flatten(value)])
    return value


class _SlicesSlot:
    """Where a returned ``IndexedSlices``'s tensors go among the flat outputs
    (a gradient: replays must rebuild it from their own tensors)."""

    __slots__ = ("dense_shape", "indices", "values")

    def __init__(self, values: int, indices: int, dense_shape: int | None) -> None:
        self.values, self.indices, self.dense_shape = values, indices, dense_shape


def _split_outputs(outputs: Any) -> tuple[Any, list[Tensor]]:
    flat = _nest.flatten(outputs)
    tensors: list[Tensor] = []
    template: list[Any] = []
    for leaf in flat:
        if isinstance(leaf, Tensor):
            template.append(_Slot(len(tensors)))
            tensors.append(leaf)
        elif isinstance(leaf, IndexedSlices):
            shape_at = None if leaf.dense_shape is None else len(tensors) + 2
            template.append(_SlicesSlot(len(tensors), len(tensors) + 1, shape_at))
            tensors += [leaf.values, leaf.indices]
            if leaf.dense_shape is not None:
                tensors.append(leaf.dense_shape)
        else:
            template.append(leaf)
    structure = (
        _nest.pack_sequence_as(outputs, template) if _nest.is_nested(outputs) else template[0]
    )
    return structure, tensors


def _output_builder(structure: Any) -> Callable[[Sequence[Tensor]], Any]:
    """A function that rebuilds the output structure from a replay's flat
    tensors, compiled once per trace (the per-call path does no tree walk)."""
    if isinstance(structure, _Slot):
        index = structure.index
        return lambda tensors: tensors[index]
    if isinstance(structure, _SlicesSlot):
        values, indices, dense_shape = structure.values, structure.indices, structure.dense_shape
        return lambda tensors: IndexedSlices(
            tensors[values],
            tensors[indices],
            None if dense_shape is None else tensors[dense_shape],
        )
    if not _nest.is_nested(structure):
        return lambda tensors: structure
    if isinstance(structure, Mapping):
        keys = list(structure)  # the mapping's own order, as returned
        mapping_class: Any = type(structure)
        # (a dict of tensors, the common case: one itemgetter call for all keys)
        pick = _slot_getter([structure[k] for k in keys])
        if mapping_class is dict and pick is not None:
            picked = pick
            return lambda tensors: dict(zip(keys, picked(tensors), strict=True))
        parts = [_output_builder(structure[k]) for k in keys]
        if mapping_class is dict:
            return lambda tensors: {k: part(tensors) for k, part in zip(keys, parts, strict=True)}
        return lambda tensors: mapping_class(
            (k, part(tensors)) for k, part in zip(keys, parts, strict=True)
        )
    container: Any = type(structure)
    pick = _slot_getter(list(structure))
    if container in (list, tuple) and pick is not None:
        picked = pick
        return lambda tensors: container(picked(tensors))
    parts = [_output_builder(item) for item in structure]
    if isinstance(structure, tuple) and hasattr(structure, "_fields"):  # namedtuple
        return lambda tensors: container(*[part(tensors) for part in parts])
    return lambda tensors: container([part(tensors) for part in parts])


def _slot_getter(items: list[Any]) -> Callable[[Sequence[Tensor]], tuple[Tensor, ...]] | None:
    """For a structure level made only of flat outputs, one function that
    picks them all as a tuple (``operator.itemgetter``), else None."""
    if not items or not all(type(item) is _Slot for item in items):
        return None
    if len(items) == 1:
        index = items[0].index
        return lambda tensors: (tensors[index],)
    return operator.itemgetter(*(item.index for item in items))


# ---------------------------------------------------------------------------


class Function:
    """A Python function traced once per input signature and replayed
    (``tf.function``); see :func:`function`.

    >>> import tapegrad as tf
    >>> @tf.function
    ... def square(x):
    ...     return x * x
    >>> print(square(tf.constant(3.0)))
    tapegrad.Tensor(9.0, shape=(), dtype=float32)
    >>> square.experimental_get_tracing_count()
    1
    """

    def __init__(
        self,
        python_function: Callable[..., Any],
        name: str,
        input_signature: Sequence[Any] | None = None,
        reduce_retracing: bool = False,
        jit_compile: bool | None = None,
        autograph: bool = True,
    ) -> None:
        if not callable(python_function):
            raise TypeError(f"tf.function: expected a callable, got {python_function!r}")
        self._python_function = python_function
        self._name = name
        self._reduce_retracing = bool(reduce_retracing)
        self._jit_compile = jit_compile
        self._autograph = autograph
        self._signature = inspect.signature(python_function)
        parameters = list(self._signature.parameters.values())
        simple = input_signature is None and all(
            p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters
        )
        # the fast binder's facts: names, and the defaults of the trailing parameters
        self._simple_names = tuple(p.name for p in parameters) if simple else None
        self._defaults = tuple(p.default for p in parameters if p.default is not p.empty)
        self._required = len(parameters) - len(self._defaults)
        self._input_signature = (
            None if input_signature is None else self._check_signature(input_signature)
        )
        self._cache: dict[Any, _Entry] = {}
        self._generalized: list[_Entry] = []  # entries whose key has unknown dims
        self._tracing_count = 0
        self._traced_once = False  # whether a trace has run (TF's "first call")
        self._created_variables = False  # the first trace created variables
        self._check_singletons = False  # the next trace must create none (TF's second trace)
        self._instances: dict[int, tuple[weakref.ref[Any], Function]] = {}
        self._lock = threading.RLock()
        functools.update_wrapper(self, python_function)

    # -- TF's public surface -------------------------------------------------

    @property
    def python_function(self) -> Callable[..., Any]:
        """The wrapped Python function."""
        return self._python_function

    @property
    def input_signature(self) -> tuple[Any, ...] | None:
        """The ``input_signature`` given, or ``None``."""
        return self._input_signature

    @property
    def function_spec(self) -> inspect.Signature:
        """The Python signature calls are bound to."""
        return self._signature

    def experimental_get_tracing_count(self) -> int:
        """How many times the Python function has been traced.

        >>> import tapegrad as tf
        >>> f = tf.function(lambda x: x + 1)
        >>> _ = f(tf.constant(1.0)); _ = f(tf.constant(2.0)); _ = f(tf.constant([1.0]))
        >>> f.experimental_get_tracing_count()
        2
        """
        return self._tracing_count

    def get_concrete_function(self, *args: Any, **kwargs: Any) -> ConcreteFunction:
        """The trace for these arguments (traced now unless cached): tensors or
        ``tf.TensorSpec``s for the tensor parameters, values for the others;
        with an ``input_signature`` no arguments are needed.

        >>> import tapegrad as tf
        >>> f = tf.function(lambda x, n=2: x * n)
        >>> cf = f.get_concrete_function(tf.constant([1.0, 2.0]))
        >>> cf.structured_input_signature
        ((TensorSpec(shape=(2,), dtype=tf.float32, name='x'), 2), {})
        >>> print(cf(tf.constant([3.0, 4.0])))
        tapegrad.Tensor([6. 8.], shape=(2,), dtype=float32)
        """
        if self._input_signature is not None and not args and not kwargs:
            args = self._input_signature
        with self._lock:
            bound = self._bind(args, kwargs)
            entry = self._lookup(bound)
            if entry is None:
                entry = self._new_entry(bound)
                if any(
                    isinstance(leaf, TensorSpec)
                    for leaf in _nest.flatten(list(bound.arguments.values()))
                ):
                    # a spec has no values to run on: the trace runs at the first call
                    self._count_trace()
                else:
                    self._trace(entry, bound)
        return ConcreteFunction(self, entry)

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        """On a class: one ``Function`` per instance, ``self`` bound (TF's rule)."""
        if instance is None:
            return self
        with self._lock:
            found = self._instances.get(id(instance))
            if found is not None and found[0]() is instance:
                return found[1]
            bound = Function(
                types.MethodType(self._python_function, instance),
                self._name,
                self._input_signature,
                self._reduce_retracing,
                self._jit_compile,
                self._autograph,
            )
            key = id(instance)
            try:
                ref = weakref.ref(instance, functools.partial(self._forget_instance, key))
            except TypeError:
                return bound
            self._instances[key] = (ref, bound)
            return bound

    def _forget_instance(self, key: int, _: object) -> None:
        self._instances.pop(key, None)

    def __repr__(self) -> str:
        return f"<tapegrad.Function {self._name}>"

    # -- calling -------------------------------------------------------------

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if _run_eagerly:
            return self._python_function(*args, **kwargs)
        if not kwargs and self._simple_names is not None and len(args) == len(self._simple_names):
            outputs = self._replay_positional(args)
            if outputs is not _NO_REPLAY:
                return outputs
        with self._lock:
            bound = self._bind(args, kwargs)
            if _is_tracing():
                # called from another trace: runs inline and is captured there
                if self._lookup(bound) is None:
                    self._new_entry(bound)
                    self._count_trace()
                return self._python_function(*bound.args, **bound.kwargs)
            entry = self._lookup(bound)
            if entry is None:
                entry = self._new_entry(bound)
                return self._trace(entry, bound)
            if self._check_singletons:
                return self._trace(entry, bound)
            return self._call_entry(entry, bound)

    def _replay_positional(self, args: tuple[Any, ...]) -> Any:
        """The per-call fast path: tensors and Python scalars passed
        positionally to a traced signature replay its latest plan directly
        (anything else, or a failed guard, takes the general path)."""
        inputs: list[Tensor | Variable] = []
        for value in args:
            if isinstance(value, (Tensor, Variable)):
                inputs.append(value)
            elif not (value is None or isinstance(value, (bool, int, float, str))):
                return _NO_REPLAY
        with self._lock:
            # (no arguments, the common training step: no zip to build)
            names = self._simple_names or ()
            key = tuple(zip(names, map(_key_of, args), strict=True)) if args else ()
            entry = self._cache.get(key)
            if entry is None or not entry.plans or self._check_singletons or _is_tracing():
                return _NO_REPLAY
            plan = entry.plans[0]
            results = plan.run(inputs)
            if results is None:
                return _NO_REPLAY  # the general path tries the other plans, then retraces
            return entry.replayed(plan, results)

    def _call_entry(self, entry: _Entry, bound: _Bound) -> Any:
        if entry.eager:
            outputs = self._run_python(bound)
            if entry.output_specs is None:
                entry.output_specs = _output_specs(outputs)
            return outputs
        if not entry.plans:  # a get_concrete_function(spec) entry's first call
            return self._trace(entry, bound, count=False)
        inputs = _tensor_leaves(list(bound.arguments.values()))
        for position, plan in enumerate(entry.plans):
            results = plan.run(inputs)
            if results is not None:
                if position:  # most recently used first
                    entry.plans.insert(0, entry.plans.pop(position))
                return entry.replayed(plan, results)
        # a guard failed in every plan: a new branch pattern or shape
        return self._trace(entry, bound, count=False)

    def _bind(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> _Bound:
        """The call bound to the parameters, defaults filled in, numpy
        converted; with an ``input_signature``, checked against it."""
        if self._input_signature is not None:
            return self._bind_to_signature(args, kwargs)
        names = self._simple_names
        if names is not None and not kwargs and self._required <= len(args) <= len(names):
            missing = len(names) - len(args)
            defaults = self._defaults[len(self._defaults) - missing :] if missing else ()
            values = tuple(args) + defaults
            return _FastBound(names, tuple(_as_argument(v) for v in values))
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as error:
            raise _binding_error(
                str(error), tuple(args), dict(kwargs), str(self._signature)
            ) from None
        bound.apply_defaults()
        for name, value in bound.arguments.items():
            bound.arguments[name] = _as_argument(value)
        return bound

    def _bind_to_signature(
        self, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> _Bound:
        assert self._input_signature is not None
        specs = self._input_signature
        names = [p.name for p in self._signature.parameters.values()][: len(specs)]
        described = "(" + ", ".join(f"{n}: {s!r}" for n, s in zip(names, specs, strict=True)) + ")"
        try:
            bound = self._signature.bind(*args, **kwargs)
            if len(args) > len(specs):
                raise TypeError("too many positional arguments")
            bound.apply_defaults()
            for name, spec in zip(names, specs, strict=True):
                if name not in bound.arguments:
                    raise TypeError(f"missing a required argument: {name!r}")
                bound.arguments[name] = _convert_to_signature(bound.arguments[name], spec)
        except (TypeError, ValueError) as error:
            raise _binding_error(str(error), tuple(args), dict(kwargs), described) from None
        return bound

    def _check_signature(self, input_signature: Sequence[Any]) -> tuple[Any, ...]:
        specs = tuple(input_signature)
        for leaf in _nest.flatten(list(specs)):
            if not isinstance(leaf, TensorSpec):
                raise TypeError(
                    f"input_signature must be a possibly nested sequence of TensorSpec objects, "
                    f"got {leaf!r}"
                )
        positional = [
            p
            for p in self._signature.parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        if len(specs) > len(positional):
            raise TypeError(
                f"input_signature has {len(specs)} specs but {self._name} has only "
                f"{len(positional)} positional parameters"
            )
        return specs

    def _key(self, bound: _Bound) -> Any:
        return tuple((name, _key_of(value)) for name, value in bound.arguments.items())

    def _lookup(self, bound: _Bound) -> _Entry | None:
        key = self._key(bound)
        entry = self._cache.get(key)
        if entry is not None:
            return entry
        fitting = [e for e in self._generalized if _fits(key, e.key)]
        if fitting:
            return min(fitting, key=lambda e: _generality(e.key))
        return None

    def _new_entry(self, bound: _Bound) -> _Entry:
        key = self._key(bound)
        if self._input_signature is not None:
            # one trace for the signature: its unknown dims accept any size
            key = (
                tuple(
                    (name, _key_of(spec))
                    for name, spec in zip(bound.arguments, self._input_signature, strict=False)
                )
                + key[len(self._input_signature) :]
            )
        elif self._reduce_retracing:
            for other in list(self._cache):
                relaxed = _common_supertype(key, other)
                if relaxed is not None:
                    key = relaxed
        names = dict(zip(bound.arguments, key, strict=True))
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for parameter in self._signature.parameters.values():
            if parameter.name not in bound.arguments:
                continue
            value = bound.arguments[parameter.name]
            sub_key = names[parameter.name][1]
            if parameter.kind is parameter.VAR_POSITIONAL:
                args.extend(
                    _signature_from_key(v, k, None) for v, k in zip(value, sub_key[1], strict=True)
                )
            elif parameter.kind is parameter.VAR_KEYWORD:
                kwargs.update(
                    {
                        k: _signature_from_key(value[k], s, k)
                        for k, s in zip(sub_key[1], sub_key[2], strict=True)
                    }
                )
            elif parameter.kind is parameter.KEYWORD_ONLY:
                kwargs[parameter.name] = _signature_from_key(value, sub_key, parameter.name)
            else:
                args.append(_signature_from_key(value, sub_key, parameter.name))
        entry = _Entry(key, (tuple(args), kwargs))
        self._cache[key] = entry
        if _generality(key):
            self._generalized.append(entry)
        return entry

    def _run_python(self, bound: _Bound) -> Any:
        return _normalize_output(self._python_function(*bound.args, **bound.kwargs))

    def _count_trace(self) -> None:
        self._tracing_count += 1

    def _trace(self, entry: _Entry, bound: _Bound, count: bool = True) -> Any:
        """Run the Python function under a trace: this call's result, and the
        entry's new plan."""
        if count:
            self._count_trace()
        first = not self._traced_once
        singleton_check = self._check_singletons
        self._traced_once = True
        self._check_singletons = False
        try:
            return self._run_trace(entry, bound, first, singleton_check)
        except BaseException:
            # a trace that raised leaves the function as it found it
            self._traced_once = not first
            self._check_singletons = singleton_check
            raise

    def _run_trace(self, entry: _Entry, bound: _Bound, first: bool, singleton_check: bool) -> Any:
        if _engine is None or entry.eager:
            outputs = self._run_python(bound)
            entry.output_specs = _output_specs(outputs)
            return outputs
        inputs = _tensor_leaves(list(bound.arguments.values()))
        plan = None
        with _indexed_slices.collect_traced_gathers() as gathers, _engine.Trace(inputs) as trace:
            outputs = self._run_python(bound)
            structure, tensors = _split_outputs(outputs)
            created = trace.created_variables
            if created and not first:
                raise ValueError(
                    _SINGLETON_VARIABLES
                    if (singleton_check or self._created_variables)
                    else _VARIABLES_ON_LATER_TRACE
                )
            if not created:  # a trace that made variables is not replayed: see below
                hidden = [t for out, rows, _ in gathers for t in (out, rows)]
                try:
                    plan = trace.finish(tensors + hidden)
                except _engine.TraceUnsupported:
                    entry.eager = True
        if created:
            # TF traces again at once to check that a second run creates no
            # variables; here the next call's trace is that check
            self._created_variables = True
            self._check_singletons = True
        if plan is not None:
            entry.plans.insert(0, plan)
            del entry.plans[_PLANS_PER_ENTRY:]
            kept = {id(p) for p in entry.plans}
            entry.gathers = {k: v for k, v in entry.gathers.items() if k in kept}
            if gathers:
                entry.gathers[id(plan)] = (len(tensors), [shape for _, _, shape in gathers])
        entry.outputs = _output_builder(structure)
        entry.output_specs = _output_specs(outputs)
        return outputs


def _output_specs(outputs: Any) -> Any:
    if not _nest.is_nested(outputs):
        return _output_spec(outputs)
    return _nest.pack_sequence_as(outputs, [_output_spec(v) for v in _nest.flatten(outputs)])


class ConcreteFunction:
    """One trace of a ``tf.function`` (``Function.get_concrete_function``):
    callable with arguments that fit its signature.

    ``structured_outputs`` holds a ``TensorSpec`` where TF holds a symbolic
    tensor (tapegrad has no graph); it is known once the trace has run.
    """

    def __init__(self, function: Function, entry: _Entry) -> None:
        self._function = function
        self._entry = entry

    @property
    def structured_input_signature(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """``(args, kwargs)``: a ``TensorSpec`` per tensor argument, the value of
        each Python argument."""
        return self._entry.signature

    @property
    def structured_outputs(self) -> Any:
        """The outputs' structure, a ``TensorSpec`` per tensor."""
        if self._entry.output_specs is None:
            raise ValueError(
                "structured_outputs: this concrete function was made from TensorSpecs and has not "
                "run yet (tapegrad traces by running the function); call it once first"
            )
        return self._entry.output_specs

    @property
    def function(self) -> Function:
        return self._function

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        bound = self._bind(args, kwargs)
        function = self._function
        with function._lock:
            if function._check_singletons:
                return function._trace(self._entry, bound)
            return function._call_entry(self._entry, bound)

    def _bind(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> _Bound:
        """Tensor arguments positionally (TF's flat form) or the full call."""
        function = self._function
        sig_args, sig_kwargs = self._entry.signature
        try:
            bound = function._signature.bind(*args, **kwargs)
        except TypeError as error:
            raise _binding_error(str(error), tuple(args), dict(kwargs), repr(self)) from None
        bound.apply_defaults()
        for name, value in bound.arguments.items():
            bound.arguments[name] = _as_argument(value)
        key = function._key(bound)
        for (name, k), (_, expected) in zip(key, self._entry.key, strict=True):
            if k[0] in ("tensor", "variable") and expected[0] in ("tensor", "variable"):
                if k[2] != expected[2]:
                    raise _core_error(
                        f"cannot compute {function._name} as input {name!r} was expected to be a "
                        f"{expected[2]} tensor but is a {k[2]} tensor"
                    )
            elif not _fits(k, expected):
                raise _binding_error(
                    f"argument {name!r} does not match this concrete function",
                    tuple(args),
                    dict(kwargs),
                    repr(self),
                )
        return bound

    def __repr__(self) -> str:
        args, kwargs = self._entry.signature
        parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
        return f"<ConcreteFunction {self._function._name}({', '.join(parts)})>"


def _core_error(message: str) -> Exception:
    from .errors import InvalidArgumentError

    return InvalidArgumentError(message)


def function(
    func: Callable[..., Any] | None = None,
    input_signature: Sequence[Any] | None = None,
    autograph: bool = True,
    jit_compile: bool | None = None,
    reduce_retracing: bool = False,
    experimental_implements: str | None = None,
    experimental_autograph_options: Any = None,
    experimental_attributes: dict[str, Any] | None = None,
    experimental_relax_shapes: bool | None = None,
    experimental_compile: bool | None = None,
    experimental_follow_type_hints: bool | None = None,
) -> Any:
    """Trace ``func`` once per input signature and replay it (``tf.function``),
    as a decorator (with or without arguments) or a call.

    Python code in ``func`` runs when it is traced: once per new shape, dtype
    or Python argument value (TF's rules); the traced ops are replayed on
    later calls. ``tf.print`` and ``tf.py_function`` run on every call.
    ``jit_compile`` and ``autograph`` are accepted (see docs/compat.md).

    >>> import tapegrad as tf
    >>> traces = []
    >>> @tf.function
    ... def step(x, scale=2.0):
    ...     traces.append(1)          # Python: runs when a trace runs
    ...     return x * scale
    >>> print(step(tf.constant([1.0, 2.0])))
    tapegrad.Tensor([2. 4.], shape=(2,), dtype=float32)
    >>> print(step(tf.constant([3.0, 4.0])))   # same shape and dtype: replayed
    tapegrad.Tensor([6. 8.], shape=(2,), dtype=float32)
    >>> len(traces), step.experimental_get_tracing_count()
    (1, 1)
    >>> _ = step(tf.constant([1.0, 2.0]), scale=3.0)   # a new Python value: a new trace
    >>> step.experimental_get_tracing_count()
    2
    """
    del experimental_implements, experimental_autograph_options, experimental_attributes
    del experimental_compile, experimental_follow_type_hints
    if experimental_relax_shapes is not None:
        reduce_retracing = reduce_retracing or bool(experimental_relax_shapes)

    def decorate(inner: Callable[..., Any]) -> Function:
        if isinstance(inner, Function):
            inner = inner.python_function
        name = getattr(inner, "__name__", type(inner).__name__)
        return Function(inner, name, input_signature, reduce_retracing, jit_compile, autograph)

    if func is None:
        return decorate
    return decorate(func)
