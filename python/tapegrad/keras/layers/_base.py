"""The Keras ``Layer`` base class, symbolic ``KerasTensor``s and ``Input``.

A layer creates its weights on its first call (``build(input_shape)``),
inside a name scope of its own, so a weight's variable is named by its
Keras 3 path: ``dense/kernel:0``, ``sequential/dense/kernel:0``.

>>> import tapegrad as tf
>>> layer = tf.keras.layers.Dense(2, name="d")
>>> layer.built
False
>>> y = layer(tf.ones([1, 3]))
>>> [w.name for w in layer.weights]
['d/kernel:0', 'd/bias:0']
"""

from __future__ import annotations

import inspect
import operator
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from ... import _core, _nest, dtypes
from ..._core import Tensor, Variable
from ..._module import _current_name_scope, _swap_name_scope, name_scope
from .. import backend, initializers, regularizers

__all__ = ["Input", "InputLayer", "KerasTensor", "Layer", "call_context"]

Shape = tuple[int | None, ...]


# Bumped whenever any layer's structure may change (an attribute set, a
# weight added, a tracked list or dict mutated, `trainable` flipped): the
# cached sublayer/weight lists of every layer are rebuilt after it.
_structure_version = [0]


def _bump() -> None:
    _structure_version[0] += 1


def _mutating(name: str) -> Callable[..., Any]:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = getattr(super(type(self), self), name)(*args, **kwargs)
        _bump()
        return result

    method.__name__ = name
    return method


class _TrackedList(list):  # type: ignore[type-arg]
    """A list held by a layer: mutating it invalidates the layer caches
    (Keras wraps such attributes the same way)."""

    for _name in (
        "append",
        "extend",
        "insert",
        "pop",
        "remove",
        "clear",
        "sort",
        "reverse",
        "__setitem__",
        "__delitem__",
        "__iadd__",
    ):
        locals()[_name] = _mutating(_name)
    del _name


class _TrackedDict(dict):  # type: ignore[type-arg]
    """A dict held by a layer (see ``_TrackedList``)."""

    for _name in ("__setitem__", "__delitem__", "pop", "popitem", "clear", "update", "setdefault"):
        locals()[_name] = _mutating(_name)
    del _name


class _CallContext(threading.local):
    def __init__(self) -> None:
        self.depth = 0
        self.training: bool | None = None


call_context = _CallContext()


def _operator(symbol: str, fn: Callable[..., Any], reflected: bool = False) -> Any:
    """A KerasTensor operator method: records an ``_OperatorCall`` node."""

    def method(self: KerasTensor, *others: Any) -> Any:
        operands = [*others, self] if reflected else [self, *others]
        return _OperatorCall(symbol, fn)(operands)

    method.__name__ = symbol
    return method


class KerasTensor:
    """A symbolic tensor of the functional API: a shape (``None`` for the
    batch and other unknown sizes) and a dtype, and the layer call that made it.

    >>> import tapegrad as tf
    >>> x = tf.keras.Input(shape=(3,))
    >>> x.shape, x.dtype
    ((None, 3), 'float32')
    """

    def __init__(
        self, shape: Sequence[int | None], dtype: str = "float32", name: str | None = None
    ) -> None:
        self.shape: Shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = dtype
        self.name = name
        # (layer, node) of the call that produced this tensor; None for an Input
        self._history: Node | None = None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"

    __add__ = _operator("add", operator.add)
    __radd__ = _operator("add", operator.add, reflected=True)
    __sub__ = _operator("subtract", operator.sub)
    __rsub__ = _operator("subtract", operator.sub, reflected=True)
    __mul__ = _operator("multiply", operator.mul)
    __rmul__ = _operator("multiply", operator.mul, reflected=True)
    __truediv__ = _operator("divide", operator.truediv)
    __rtruediv__ = _operator("divide", operator.truediv, reflected=True)
    __matmul__ = _operator("matmul", operator.matmul)
    __rmatmul__ = _operator("matmul", operator.matmul, reflected=True)
    __pow__ = _operator("power", operator.pow)
    __neg__ = _operator("negative", operator.neg)

    def __array__(self, *args: object, **kwargs: object) -> None:
        raise TypeError(
            "A KerasTensor is symbolic: it has no value. Use it only as the input of Keras "
            "layers, then build a Model(inputs, outputs) and call the model on real data."
        )


class Node:
    """One call of a layer on symbolic inputs: the layer, its arguments
    (KerasTensors inside nested structures) and its symbolic outputs."""

    def __init__(self, layer: Layer, args: tuple[Any, ...], kwargs: dict[str, Any], outputs: Any):
        self.layer = layer
        self.args = args
        self.kwargs = kwargs
        self.outputs = outputs

    @property
    def input_tensors(self) -> list[KerasTensor]:
        return [t for t in _nest.flatten([self.args, self.kwargs]) if isinstance(t, KerasTensor)]


def _shape_of(value: Any) -> Any:
    if isinstance(value, (Tensor, Variable, KerasTensor)):
        return tuple(value.shape)
    if isinstance(value, (list, tuple)):
        return [_shape_of(v) for v in value]
    if isinstance(value, dict):
        return {k: _shape_of(v) for k, v in value.items()}
    return tuple(np.shape(value))


def _dummy(tensor: KerasTensor, unknown: int) -> Tensor:
    shape = [unknown if d is None else d for d in tensor.shape]
    return _core.zeros(shape, dtype=tensor.dtype)


class Layer:
    """Base class of the Keras layers.

    Subclasses create weights in ``build(input_shape)`` with ``add_weight``
    and compute in ``call(inputs, ...)``; ``layer(x)`` builds on first use,
    converts float inputs to the layer's dtype and passes ``training`` down
    to the layers called inside.

    >>> import tapegrad as tf
    >>> class Scale(tf.keras.layers.Layer):
    ...     def build(self, input_shape):
    ...         self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")
    ...     def call(self, x):
    ...         return x * self.w
    >>> print(Scale()(tf.constant([[1.0, 2.0]])))
    tapegrad.Tensor([[1. 2.]], shape=(1, 2), dtype=float32)
    """

    _SKIP_TRACKING = frozenset(("_inbound_nodes", "_history"))

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        build = cls.__dict__.get("build")
        if build is not None and not getattr(build, "_marks_built", False):
            # Keras: a layer is built once its build() returns, called by
            # __call__ or by the user
            def build_and_mark(self: Layer, input_shape: Any = None) -> None:
                build(self, input_shape)
                self.built = True
                if self._build_shapes is None:
                    self._build_shapes = input_shape

            build_and_mark._marks_built = True  # type: ignore[attr-defined]
            build_and_mark.__doc__ = build.__doc__
            build_and_mark.__name__ = "build"
            build_and_mark.__qualname__ = build.__qualname__
            cls.build = build_and_mark  # type: ignore[method-assign]

    def __init__(
        self,
        trainable: bool = True,
        name: str | None = None,
        dtype: Any = None,
        autocast: bool = True,
        input_dim: int | None = None,
        input_shape: Sequence[int | None] | None = None,
        batch_input_shape: Sequence[int | None] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("dynamic", None)
        if kwargs.pop("activity_regularizer", None) is not None:
            raise NotImplementedError(
                f"{type(self).__name__}: activity_regularizer is not supported by tapegrad"
            )
        if kwargs:
            raise TypeError(
                f"{type(self).__name__}: unrecognized keyword arguments {sorted(kwargs)}"
            )
        self._tracking_ready = False
        self._scan_cache = None
        self.name = name or backend.unique_name(backend.snake_case(type(self).__name__))
        self.trainable = trainable
        self._dtype = backend.standardize_dtype(dtype)
        self.autocast = autocast
        self.built = False
        self._building = False
        self._trainable_variables: list[Variable] = []
        self._non_trainable_variables: list[Variable] = []
        self._regularizers: list[tuple[Callable[[Any], Tensor], Variable]] = []
        self._losses: list[Tensor] = []
        self._inbound_nodes: list[Node] = []
        self._build_shapes: Any = None
        self._output_shape: Any = None
        if input_shape is None and input_dim is not None:
            input_shape = (input_dim,)
        if batch_input_shape is not None:
            input_shape = tuple(batch_input_shape)[1:]
        # Keras 2's input_shape= on a Sequential's first layer
        self._declared_input_shape = None if input_shape is None else tuple(input_shape)
        parameters = inspect.signature(self.call).parameters
        self._call_has_training = "training" in parameters
        # call()'s own default for `training` when no outer call sets it
        default = parameters["training"].default if self._call_has_training else None
        self._call_training_default = None if default is inspect.Parameter.empty else default
        self._tracking_ready = True

    # --- attributes and tracking --------------------------------------------

    @property
    def trainable(self) -> bool:
        """Whether training updates the weights; setting it sets it on every sublayer.

        >>> import tapegrad as tf
        >>> tf.keras.layers.Dense(1, trainable=False).trainable
        False
        """
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        _bump()
        if getattr(self, "_tracking_ready", False):
            for layer in self._sublayers():
                layer.trainable = value

    @property
    def dtype(self) -> str:
        """The dtype of the layer's weights and computations (``"float32"``).

        >>> import tapegrad as tf
        >>> tf.keras.layers.Dense(2, dtype="float64").dtype
        'float64'
        """
        return self._dtype

    @property
    def compute_dtype(self) -> str:
        return self._dtype

    @property
    def variable_dtype(self) -> str:
        return self._dtype

    # bookkeeping attributes that never hold sublayers or tracked variables
    _UNTRACKED = frozenset(
        (
            "_trainable_variables",
            "_non_trainable_variables",
            "_regularizers",
            "_losses",
            "_inbound_nodes",
            "_build_shapes",
            "_output_shape",
            "_call_training_default",
            "_declared_input_shape",
            "_scan_cache",
            "_weights_cache",
            "_compile_metrics",
            "_metric_identifiers",
            "_nodes",
            "_inputs_struct",
            "_outputs_struct",
            "_history",
        )
    )

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in Layer._UNTRACKED:
            if type(value) is list:
                value = _TrackedList(value)
            elif type(value) is dict:
                value = _TrackedDict(value)
            _bump()
        object.__setattr__(self, name, value)

    def _scan(self) -> list[Layer]:
        """The sublayers: layers in the order their attributes were set,
        lists/tuples/dicts (in insertion order) looked into; each once. A bare
        ``tf.Variable`` attribute is not a weight (Keras 3 does not track it
        either: use ``add_weight``). Cached until the structure changes."""
        cache = self.__dict__.get("_scan_cache")
        version = _structure_version[0]
        if cache is not None and cache[1] == version:
            cached: list[Layer] = cache[0]
            return cached
        layers: list[Layer] = []
        seen: set[int] = {id(self)}

        def visit(value: Any) -> None:
            if isinstance(value, Layer):
                if id(value) not in seen:
                    seen.add(id(value))
                    layers.append(value)
            elif isinstance(value, (list, tuple)):
                for item in value:
                    visit(item)
            elif isinstance(value, dict):
                for item in value.values():  # insertion order, as Keras tracks dicts
                    visit(item)

        for key, value in vars(self).items():
            if key in self._SKIP_TRACKING or key in Layer._UNTRACKED or key.startswith("__"):
                continue
            visit(value)
        self.__dict__["_scan_cache"] = (layers, version)
        return layers

    def _sublayers(self) -> Iterator[Layer]:
        """The layers held in attributes (also inside lists, tuples and
        dicts), in the order the attributes were set; each once."""
        return iter(self._scan())

    @property
    def _layers(self) -> list[Layer]:
        return list(self._sublayers())

    def _weight_lists(self) -> tuple[list[Variable], list[Variable]]:
        """(weights, trainable weights), cached until the structure changes."""
        cache = self.__dict__.get("_weights_cache")
        version = _structure_version[0]
        if cache is not None and cache[2] == version:
            return cache[0], cache[1]
        weights: list[Variable] = []
        seen: set[int] = set()
        own = self._trainable_variables + self._non_trainable_variables
        for w in own:
            if id(w) not in seen:
                seen.add(id(w))
                weights.append(w)
        trainable: list[Variable] = []
        if self.trainable:
            trainable = [w for w in weights if w.trainable]
        trainable_ids = {id(w) for w in trainable}
        for layer in self._sublayers():
            sub_weights, sub_trainable = layer._weight_lists()
            for w in sub_weights:
                if id(w) not in seen:
                    seen.add(id(w))
                    weights.append(w)
            if self.trainable:
                for w in sub_trainable:
                    if id(w) not in trainable_ids:
                        trainable_ids.add(id(w))
                        trainable.append(w)
        self.__dict__["_weights_cache"] = (weights, trainable, version)
        return weights, trainable

    @property
    def weights(self) -> list[Variable]:
        """Own weights (trainable first, then non-trainable, each in creation
        order), then each sublayer's (Keras 3's order).

        >>> import tapegrad as tf
        >>> bn = tf.keras.layers.BatchNormalization()
        >>> _ = bn(tf.ones([2, 3]))
        >>> [w.name.split("/")[-1] for w in bn.weights]
        ['gamma:0', 'beta:0', 'moving_mean:0', 'moving_variance:0']
        """
        return list(self._weight_lists()[0])

    @property
    def variables(self) -> list[Variable]:
        return self.weights

    @property
    def trainable_weights(self) -> list[Variable]:
        """The trainable weights; none when ``layer.trainable`` is False.

        >>> import tapegrad as tf
        >>> d = tf.keras.layers.Dense(1); _ = d(tf.ones([1, 2])); d.trainable = False
        >>> d.trainable_weights
        []
        """
        return list(self._weight_lists()[1])

    @property
    def non_trainable_weights(self) -> list[Variable]:
        """The weights that training does not update (all of them when
        ``layer.trainable`` is False).

        >>> import tapegrad as tf
        >>> bn = tf.keras.layers.BatchNormalization(); _ = bn(tf.ones([2, 3]))
        >>> len(bn.non_trainable_weights)
        2
        """
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    @property
    def trainable_variables(self) -> list[Variable]:
        return self.trainable_weights

    @property
    def non_trainable_variables(self) -> list[Variable]:
        return self.non_trainable_weights

    def count_params(self) -> int:
        """The number of scalars in the weights.

        >>> import tapegrad as tf
        >>> d = tf.keras.layers.Dense(3); d.build((None, 4)); d.count_params()
        15
        """
        if not self.built:
            raise ValueError(
                f"You tried to call `count_params` on layer '{self.name}', but the layer isn't "
                "built. You can build it manually via: `layer.build(input_shape)`."
            )
        return int(sum(int(np.prod(w.shape)) for w in self.weights))

    def add_weight(
        self,
        shape: Sequence[int | None] | None = None,
        initializer: Any = None,
        dtype: Any = None,
        trainable: bool = True,
        autocast: bool = True,
        regularizer: Any = None,
        constraint: Any = None,
        aggregation: str = "none",
        overwrite_with_gradient: bool = False,
        name: str | None = None,
    ) -> Variable:
        """Create a weight (a ``Variable`` named ``<layer path>/<name>``).

        ``initializer`` defaults to Glorot uniform for floats and zeros for
        integers; ``regularizer``'s penalty joins ``layer.losses``.

        >>> import tapegrad as tf
        >>> layer = tf.keras.layers.Layer(name="lyr")
        >>> w = layer.add_weight(shape=(2,), initializer="zeros", name="w")
        >>> w.name, w.numpy()
        ('lyr/w:0', array([0., 0.], dtype=float32))
        """
        if isinstance(shape, str):
            raise ValueError(
                "`name` must be passed as a keyword argument. "
                f"Received: add_weight('{shape}', ...). Use: add_weight(shape=..., name='{shape}')."
            )
        if constraint is not None:
            raise NotImplementedError(
                f"{type(self).__name__}.add_weight: constraints are not supported by tapegrad"
            )
        if overwrite_with_gradient:
            raise NotImplementedError(
                f"{type(self).__name__}.add_weight: overwrite_with_gradient is not supported"
            )
        dtype_name = backend.standardize_dtype(dtype or self._dtype)
        shape = () if shape is None else tuple(shape)
        if any(d is None for d in shape):
            raise ValueError(
                f"{type(self).__name__}.add_weight: the shape {shape} of weight {name!r} "
                "must be fully defined"
            )
        if initializer is None:
            initializer = "glorot_uniform" if dtype_name.startswith("float") else "zeros"
        init = initializers.get(initializer)
        assert init is not None
        name = (
            name
            or f"variable_{len(self._trainable_variables) + len(self._non_trainable_variables)}"
        )
        value = _core.cast(init(shape, dtype=dtype_name), dtype_name)
        # the weight's path is "<scopes>/<layer>/<name>", as in Keras
        saved_scope = _swap_name_scope(self._weight_scope())
        try:
            variable = Variable(value, trainable=trainable, name=name)
        finally:
            _swap_name_scope(saved_scope)
        (self._trainable_variables if trainable else self._non_trainable_variables).append(variable)
        reg = regularizers.get(regularizer)
        if reg is not None:
            self._regularizers.append((reg, variable))
        return variable

    def _weight_scope(self) -> str:
        """The absolute scope (ending in ``/``) of this layer's weights."""
        scope = _current_name_scope()
        # outside __call__/build (a manual add_weight), the path is the layer's own
        if not scope.endswith(self.name + "/"):
            scope = scope + self.name + "/"
        return scope

    def add_loss(self, loss: Any) -> None:
        """Add a loss term (collected in ``layer.losses``, reset on each call).

        >>> import tapegrad as tf
        >>> class L(tf.keras.layers.Layer):
        ...     def call(self, x):
        ...         self.add_loss(tf.reduce_sum(x))
        ...         return x
        >>> layer = L(); _ = layer(tf.ones([2])); print(layer.losses)
        [<tapegrad.Tensor: shape=(), dtype=float32, numpy=2.0>]
        """
        self._losses.append(_core.convert_to_tensor(loss))

    @property
    def losses(self) -> list[Tensor]:
        """The losses added in the last call, then the weight regularizers'
        penalties (computed now), then the sublayers'.

        >>> import tapegrad as tf
        >>> d = tf.keras.layers.Dense(1, kernel_initializer="ones", kernel_regularizer="l2")
        >>> _ = d(tf.ones([1, 2])); print(d.losses)
        [<tapegrad.Tensor: shape=(), dtype=float32, numpy=0.02>]
        """
        out = list(self._losses)
        out += [reg(variable) for reg, variable in self._regularizers]
        for layer in self._sublayers():
            out += layer.losses
        return out

    def _clear_losses(self) -> None:
        self._losses = []
        for layer in self._sublayers():
            layer._clear_losses()

    # --- building and calling ----------------------------------------------

    def build(self, input_shape: Any) -> None:
        """Create the weights for inputs of ``input_shape`` (the default
        creates none).

        >>> import tapegrad as tf
        >>> d = tf.keras.layers.Dense(2); d.build((None, 3)); d.kernel.shape
        TensorShape([3, 2])
        """
        self.built = True

    def call(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            f"Layer {type(self).__name__} does not have a `call()` method implemented."
        )

    def _maybe_build(self, shapes: Any) -> None:
        if self.built:
            return
        self._building = True
        try:
            with name_scope(self.name):
                self.build(shapes)
        finally:
            self._building = False
        self.built = True
        self._build_shapes = shapes

    def _convert_input(self, value: Any) -> Any:
        if isinstance(value, (Tensor, Variable)):
            tensor: Tensor | Variable = value
        elif isinstance(value, (np.ndarray, np.generic, list, float, int)) and not isinstance(
            value, bool
        ):
            tensor = _core.convert_to_tensor(np.asarray(value))
        else:
            return value
        if (
            self.autocast
            and tensor.dtype in (dtypes.float32, dtypes.float64)
            and tensor.dtype.name != self._dtype
            and self._dtype.startswith("float")
        ):
            return _core.cast(tensor, self._dtype)
        return tensor

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not args:
            raise TypeError(f"{type(self).__name__}: call() needs the inputs as first argument")
        first = args[0]
        # the common case, one tensor of the layer's dtype, skips the walk
        simple = (
            len(args) == 1
            and type(first) is Tensor
            and (first.dtype.name == self._dtype or not self.autocast)
            and all(type(v) is bool or v is None for v in kwargs.values())
        )
        if not simple:
            if any(isinstance(t, KerasTensor) for t in _nest.flatten([args, kwargs])):
                return self._symbolic_call(args, kwargs)
            # every positional input, and array/tensor keyword inputs
            # (initial_state=...), are converted and autocast like Keras's
            args = tuple(_map_structure(self._convert_input, a) for a in args)
            first = args[0]
            for key, value in kwargs.items():
                if isinstance(value, (np.ndarray, Tensor, Variable, list, tuple)) and key != "mask":
                    kwargs[key] = _map_structure(
                        lambda v: (
                            self._convert_input(v)
                            if isinstance(v, (np.ndarray, Tensor, Variable))
                            else v
                        ),
                        value,
                    )
            if kwargs.get("mask") is not None:
                raise NotImplementedError(
                    f"{type(self).__name__}: masks are not supported by tapegrad"
                )
        kwargs.pop("mask", None)
        context = call_context
        outer = context.depth == 0
        saved_training = context.training
        if "training" in kwargs:
            if kwargs["training"] is not None:
                context.training = bool(kwargs["training"])
            else:
                kwargs.pop("training")
        if self._call_has_training:
            if "training" not in kwargs:
                if context.training is not None:
                    kwargs["training"] = context.training
                elif self._call_training_default is not None:
                    kwargs["training"] = self._call_training_default
        else:
            kwargs.pop("training", None)
        if outer:
            self._clear_losses()
        context.depth += 1
        # this layer's name scope, entered by hand (the hot path)
        saved_scope = _current_name_scope()
        first_call = not self.built
        try:
            if first_call:
                self._maybe_build(_shape_of(first))
            _swap_name_scope(saved_scope + self.name + "/")
            outputs = self.call(*args, **kwargs)
        finally:
            _swap_name_scope(saved_scope)
            context.depth -= 1
            context.training = saved_training
        if first_call and self._output_shape is None:
            # for summary(): the output shape with the batch size unknown
            self._output_shape = _map_structure(
                lambda t: (
                    (None, *tuple(t.shape)[1:]) if isinstance(t, (Tensor, Variable)) else None
                ),
                outputs,
            )
        return outputs

    def _symbolic_call(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Record a call on KerasTensors; the output shapes come from running
        the layer on zeros (batch 1 and 2 tell unknown sizes apart)."""

        def run(unknown: int) -> Any:
            concrete = _map_structure(
                lambda t: _dummy(t, unknown) if isinstance(t, KerasTensor) else t, (args, kwargs)
            )
            saved = call_context.depth
            call_context.depth = 0
            try:
                return self(*concrete[0], **concrete[1])
            finally:
                call_context.depth = saved

        first = run(1)
        inputs_unknown = any(
            d is None
            for t in _nest.flatten([args, kwargs])
            if isinstance(t, KerasTensor)
            for d in t.shape
        )
        second = run(2) if inputs_unknown else first

        def symbolic(a: Any, b: Any) -> KerasTensor:
            shape = tuple(da if da == db else None for da, db in zip(a.shape, b.shape, strict=True))
            return KerasTensor(shape, a.dtype.name)

        flat_a, flat_b = _nest.flatten(first), _nest.flatten(second)
        flat_out = [symbolic(a, b) for a, b in zip(flat_a, flat_b, strict=True)]
        outputs = _nest.pack_sequence_as(first, flat_out)
        node = Node(self, args, kwargs, outputs)
        for i, tensor in enumerate(flat_out):
            tensor._history = node
            tensor.name = self.name if len(flat_out) == 1 else f"{self.name}_{i}"
        self._inbound_nodes.append(node)
        self._output_shape = _map_structure(lambda t: t.shape, outputs)
        return outputs

    def compute_output_shape(self, input_shape: Any) -> Any:
        """The output shape for ``input_shape`` (found by running the layer on zeros).

        >>> import tapegrad as tf
        >>> tf.keras.layers.Dense(4).compute_output_shape((None, 3))
        (None, 4)
        """
        out = self._symbolic_call((KerasTensor(input_shape, self._dtype),), {})
        self._inbound_nodes.pop()
        return _map_structure(lambda t: t.shape, out)

    # --- configuration -------------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (Keras 3's config).

        >>> import tapegrad as tf
        >>> tf.keras.layers.Dropout(0.5, name="drop").get_config()["rate"]
        0.5
        """
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": {
                "module": "keras",
                "class_name": "DTypePolicy",
                "config": {"name": self._dtype},
                "registered_name": None,
            },
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        """The layer ``get_config`` describes (new weights).

        >>> import tapegrad as tf
        >>> d = tf.keras.layers.Dense.from_config(tf.keras.layers.Dense(3, name="x").get_config())
        >>> d.units, d.name
        (3, 'x')
        """
        return cls(**config)

    def get_weights(self) -> list[np.ndarray[Any, Any]]:
        """The weights' values as numpy arrays.

        >>> import tapegrad as tf
        >>> d = tf.keras.layers.Dense(1, kernel_initializer="ones"); d.build((None, 2))
        >>> d.get_weights()[0].ravel()
        array([1., 1.], dtype=float32)
        """
        return [np.array(w.numpy()) for w in self.weights]

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Assign the weights from arrays (same order and shapes as ``get_weights``).

        >>> import tapegrad as tf
        >>> d = tf.keras.layers.Dense(1); d.build((None, 1)); d.set_weights([[[2.0]], [0.5]])
        >>> print(d(tf.constant([[1.0]])))
        tapegrad.Tensor([[2.5]], shape=(1, 1), dtype=float32)
        """
        own = self.weights
        if len(weights) != len(own):
            raise ValueError(
                f"Layer {self.name} expected {len(own)} weights, but received {len(weights)}."
            )
        for variable, value in zip(own, weights, strict=True):
            array = np.asarray(value, dtype=variable.dtype.name)
            if tuple(array.shape) != tuple(variable.shape):
                raise ValueError(
                    f"Layer {self.name} weight {variable.name} has shape {tuple(variable.shape)}; "
                    f"received a value of shape {array.shape}"
                )
            variable.assign(array)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"

    @property
    def input_shape(self) -> Any:
        return self._build_shapes

    @property
    def output_shape(self) -> Any:
        return self._output_shape


def _map_structure(fn: Callable[[Any], Any], structure: Any) -> Any:
    if isinstance(structure, (list, tuple)) and not (
        isinstance(structure, list) and structure and _is_numeric_leaf_list(structure)
    ):
        mapped = [_map_structure(fn, s) for s in structure]
        return (
            type(structure)(mapped)
            if not hasattr(structure, "_fields")
            else type(structure)(*mapped)
        )
    if isinstance(structure, dict):
        return {k: _map_structure(fn, v) for k, v in structure.items()}
    return fn(structure)


def _is_numeric_leaf_list(value: list[Any]) -> bool:
    """A plain nested list of numbers is one input, not a list of inputs."""
    return all(
        _is_numeric_leaf_list(item)
        if isinstance(item, list) and item
        else isinstance(item, (int, float, np.generic)) and not isinstance(item, bool)
        for item in value
    )


class _OperatorCall(Layer):
    """The node that ``x + y``, ``2 * x``, ``-x``, ``x @ w``, … on KerasTensors
    add to a functional graph (Keras 3 records them as operations: they are
    not in ``model.layers`` and have no weights)."""

    def __init__(self, symbol: str, fn: Callable[..., Any]) -> None:
        super().__init__(name=backend.unique_name(symbol))
        self._fn = fn

    def _convert_input(self, value: Any) -> Any:
        # Python numbers stay weakly typed: they adopt the tensor's dtype
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        return super()._convert_input(value)

    def call(self, operands: list[Any]) -> Any:
        return self._fn(*operands)

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError(
            "tapegrad cannot save operators on KerasTensors (x + y, …) in a model config: "
            "use keras.layers.Add/Subtract/Multiply, or save_weights and rebuild the model in code"
        )


class InputLayer(Layer):
    """The layer behind ``keras.Input``: it holds the symbolic input.

    >>> import tapegrad as tf
    >>> tf.keras.layers.InputLayer(shape=(4,)).output.shape
    (None, 4)
    """

    def __init__(
        self,
        shape: Sequence[int | None] | None = None,
        batch_size: int | None = None,
        dtype: Any = None,
        sparse: bool | None = None,
        batch_shape: Sequence[int | None] | None = None,
        input_tensor: Any = None,
        optional: bool = False,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        if sparse or input_tensor is not None or optional:
            raise NotImplementedError(
                "keras.Input: sparse, input_tensor and optional are not supported"
            )
        if "input_shape" in kwargs:
            shape = kwargs.pop("input_shape")
        if batch_shape is None:
            if shape is None:
                raise ValueError("keras.Input: give `shape` or `batch_shape`")
            batch_shape = (batch_size, *tuple(shape))
        super().__init__(name=name or backend.unique_name("input_layer"), dtype=dtype, **kwargs)
        self.batch_shape = tuple(batch_shape)
        self.output = KerasTensor(self.batch_shape, self._dtype, name=self.name)
        self.output._input_layer = self  # type: ignore[attr-defined]
        self.built = True
        self._output_shape = self.batch_shape

    def call(self, inputs: Any) -> Any:
        return inputs

    def get_config(self) -> dict[str, Any]:
        return {
            "batch_shape": list(self.batch_shape),
            "dtype": self._dtype,
            "sparse": False,
            "ragged": False,
            "name": self.name,
        }


def Input(  # noqa: N802 - Keras's name
    shape: Sequence[int | None] | None = None,
    batch_size: int | None = None,
    dtype: Any = None,
    sparse: bool | None = None,
    batch_shape: Sequence[int | None] | None = None,
    name: str | None = None,
    tensor: Any = None,
    optional: bool = False,
) -> KerasTensor:
    """A symbolic input of ``shape`` (without the batch size) for the functional API.

    >>> import tapegrad as tf
    >>> inputs = tf.keras.Input(shape=(3,))
    >>> outputs = tf.keras.layers.Dense(2)(inputs)
    >>> outputs.shape
    (None, 2)
    """
    layer = InputLayer(
        shape=shape,
        batch_size=batch_size,
        dtype=dtype,
        sparse=sparse,
        batch_shape=batch_shape,
        input_tensor=tensor,
        optional=optional,
        name=name,
    )
    return layer.output
