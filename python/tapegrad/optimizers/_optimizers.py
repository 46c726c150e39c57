"""The implementation behind ``tapegrad.optimizers`` (see its docstring)."""

from __future__ import annotations

import inspect
import re
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from .. import _core
from .._core import Tensor, Variable
from .._indexed_slices import IndexedSlices, to_dense
from .._tape import GradientTape
from . import schedules
from ._schedules import LearningRateSchedule

__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "schedules"]

_LearningRate = float | LearningRateSchedule | Callable[..., Any]

# Keras options this implementation does not have; accepted at their defaults
# (so Keras configs load) and refused otherwise.
_UNSUPPORTED_DEFAULTS: dict[str, Any] = {
    "use_ema": False,
    "ema_momentum": 0.99,
    "ema_overwrite_frequency": None,
    "loss_scale_factor": None,
    "gradient_accumulation_steps": None,
}


def _takes_step(fn: Callable[..., Any]) -> bool:
    """Whether a learning-rate callable takes the step (``lr(step)``) or
    nothing (``lr()``, Keras' convention for plain callables)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature
        return True
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return any(
        p.kind is inspect.Parameter.VAR_POSITIONAL
        or (p.kind in positional and p.default is inspect.Parameter.empty)
        for p in params
    )


class _SlotVariable:
    """One slot (Adam's ``momentum``, …) of one variable, as
    ``Optimizer.variables`` lists it: the value lives in the optimizer's
    Rust core; ``numpy()`` reads a copy and ``assign`` overwrites it
    (Keras 3's ``opt.variables[i].assign(value)``).

    >>> import tapegrad as tf
    >>> w = tf.Variable([1.0, 2.0], name="w")
    >>> opt = tf.optimizers.SGD(0.1, momentum=0.9)
    >>> opt.build([w])
    >>> slot = opt.variables[-1]
    >>> slot.path, slot.numpy()
    ('SGD/w_momentum', array([0., 0.], dtype=float32))
    >>> _ = slot.assign([0.5, -0.5])
    >>> opt.get_slot(w, "momentum").numpy()
    array([ 0.5, -0.5], dtype=float32)
    """

    def __init__(self, optimizer: Optimizer, variable: Variable, slot_name: str) -> None:
        self.optimizer, self.variable, self.slot_name = optimizer, variable, slot_name

    @property
    def name(self) -> str:
        """``<variable>_<slot>`` (Keras's slot naming, ``/`` as ``_``)."""
        base = self.variable.name
        base = base[:-2] if base.endswith(":0") else base
        return f"{base.replace('/', '_')}_{self.slot_name}"

    @property
    def path(self) -> str:
        """``<optimizer>/<name>``, as Keras's ``variable.path``."""
        return f"{self.optimizer.name}/{self.name}"

    @property
    def shape(self) -> Any:
        return self.variable.shape

    @property
    def dtype(self) -> Any:
        return self.variable.dtype

    def value(self) -> Tensor:
        """A copy of the slot's current value."""
        return self.optimizer.get_slot(self.variable, self.slot_name)

    def numpy(self) -> np.ndarray:
        """A copy of the slot's current value, as a numpy array."""
        return self.value().numpy()

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        array = self.numpy()
        return array if dtype is None else array.astype(dtype)

    def assign(self, value: Any) -> _SlotVariable:
        """Overwrite the slot (same shape; converted to the variable's dtype)."""
        self.optimizer.set_slot(self.variable, self.slot_name, value)
        return self

    def __repr__(self) -> str:
        shape, dtype = tuple(self.shape), self.dtype.name
        return f"<optimizer slot path={self.path} shape={shape} dtype={dtype}>"


class Optimizer:
    """Base class of the optimizers: the Keras 3 ``Optimizer`` interface.

    Subclasses keep Keras's signatures and pass their hyperparameters to
    ``__init__`` as a ``rule`` (``_core._OptimizerRule``, from Rust), where
    they and the base arguments are checked. The learning rate is a float
    (held, as in Keras, in a float32 variable), a ``LearningRateSchedule``
    called with the step counter, or a callable: ``lr(step)`` if it takes an
    argument, ``lr()`` otherwise.

    Example (``apply(grads, variables)`` updates in place, Keras' order):

    >>> import tapegrad as tf
    >>> opt = tf.optimizers.SGD(learning_rate=0.1, momentum=0.9)
    >>> w = tf.Variable([0.0])
    >>> _ = opt.apply([tf.constant([1.0])], [w])
    >>> print(w.numpy(), int(opt.iterations))
    [-0.1] 1
    """

    def __init__(
        self,
        learning_rate: _LearningRate,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
        *,
        rule: _core._OptimizerRule,
        **kwargs: Any,
    ) -> None:
        cls = type(self).__name__
        if kwargs.pop("decay", None) is not None:
            warnings.warn(
                "Argument `decay` is no longer supported and will be ignored.", stacklevel=3
            )
        for key, default in _UNSUPPORTED_DEFAULTS.items():
            if key in kwargs and kwargs.pop(key) != default:
                raise NotImplementedError(f"{cls}: argument `{key}` is not supported by tapegrad.")
        if kwargs:
            raise ValueError(f"Argument(s) not recognized: {kwargs}")
        # every hyperparameter and option is checked here, once, in Rust
        self._fused = _core._FusedOptimizer(
            rule,
            weight_decay=weight_decay,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
        )
        self._rule = rule
        self.name = name if name is not None else cls.lower()
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        # Keras's public hyperparameter attributes (opt.beta_1, …) mirror the rule
        for key, value in rule.config().items():
            setattr(self, key, value)
        self._iterations = Variable(0, dtype="int64", trainable=False, name="iteration")
        self._lr_variable: Variable | None = None
        self._lr_callable: Callable[..., Any] | None = None
        self.learning_rate = learning_rate
        self._trainable_variables: list[Variable] = []
        self._excluded_handles: set[int] = set()
        self._excluded_pattern: re.Pattern[str] | None = None
        self._when_built: list[Callable[[], None]] = []
        self.built = False

    # --- state -------------------------------------------------------------

    @property
    def iterations(self) -> Variable:
        """The step counter (an int64 variable), incremented once per ``apply``."""
        return self._iterations

    @property
    def weight_decay(self) -> float | None:
        """The decoupled weight decay (``None``: none); settable."""
        return self._fused.weight_decay

    @weight_decay.setter
    def weight_decay(self, value: float | None) -> None:
        self._fused.weight_decay = value

    @property
    def learning_rate(self) -> Variable | Tensor:
        """The current learning rate: the float32 variable holding a float
        rate, or a schedule's value at the current step.

        Settable to a float (assigned) or to a new schedule or callable.
        """
        if self._lr_variable is not None:
            return self._lr_variable
        return _core.constant(self._current_learning_rate(), dtype="float32")

    @learning_rate.setter
    def learning_rate(self, value: _LearningRate) -> None:
        cls = type(self).__name__
        if callable(value) and not isinstance(value, (Tensor, Variable)):
            self._lr_callable = value
            self._lr_variable = None
            return
        if isinstance(self._lr_callable, LearningRateSchedule):
            raise TypeError(
                "This optimizer was created with a `LearningRateSchedule` object as its "
                "`learning_rate` constructor argument, hence its learning rate is not "
                "settable. If you need the learning rate to be settable, you should "
                "instantiate the optimizer with a float `learning_rate` argument."
            )
        try:
            if isinstance(value, bool):  # True is not a rate, though float() reads 1.0
                raise TypeError
            rate = float(value)
        except (TypeError, ValueError):
            raise ValueError(
                f"{cls}: `learning_rate` should be a float, a LearningRateSchedule or a "
                f"callable. Received: learning_rate={value!r}"
            ) from None
        self._fused.check_learning_rate(rate)
        if self._lr_variable is None:
            self._lr_variable = Variable(
                rate, dtype="float32", trainable=False, name="learning_rate"
            )
        else:
            self._lr_variable.assign(rate)
        self._lr_callable = None

    def _current_learning_rate(self) -> float:
        """The rate of the coming step, rounded to float32 as Keras computes it."""
        if self._lr_variable is not None:
            return float(self._lr_variable.numpy())
        fn = self._lr_callable
        assert fn is not None
        if isinstance(fn, LearningRateSchedule) or _takes_step(fn):
            value = fn(int(self._iterations.numpy()))
        else:
            value = fn()
        return float(np.float32(float(value)))

    # --- building and slots ------------------------------------------------

    def build(self, var_list: Sequence[Variable]) -> None:
        """Create the slots of ``var_list`` now and remember the list for
        ``apply(grads)`` without variables (Keras' ``build``); a no-op once built."""
        if self.built:
            return
        variables = list(var_list)
        self._check_variables(variables)
        self._fused.build(variables)
        self._trainable_variables = variables
        self.built = True
        # e.g. a checkpoint restored before the slots existed now fills them
        hooks, self._when_built = self._when_built, []
        for hook in hooks:
            hook()

    def _call_when_built(self, hook: Callable[[], None]) -> None:
        """Call ``hook()`` once this (not yet built) optimizer has its slots."""
        self._when_built.append(hook)

    def get_slot_names(self) -> list[str]:
        """Names of the slots kept per variable (``["momentum", "velocity"]`` for Adam)."""
        return self._rule.slot_names()

    def get_slot(self, var: Variable, slot_name: str) -> Tensor:
        """A copy of slot ``slot_name`` of ``var`` (``KeyError`` if it has none).

        Example::

            opt.get_slot(w, "momentum")
        """
        return self._fused.get_slot(var, slot_name)

    def set_slot(self, var: Variable, slot_name: str, value: Any) -> None:
        """Overwrite slot ``slot_name`` of ``var`` with ``value`` (``var``'s
        shape, converted to its dtype), creating ``var``'s slots first if it
        has none; restoring a saved optimizer's state. Atomic with respect
        to a concurrent ``apply``.

        >>> import tapegrad as tf
        >>> w = tf.Variable([1.0])
        >>> opt = tf.optimizers.SGD(0.1, momentum=0.5)
        >>> opt.set_slot(w, "momentum", [-0.2])
        >>> _ = opt.apply([tf.constant([1.0])], [w])   # m = 0.5·(-0.2) - 0.1·1
        >>> print(w.numpy())
        [0.8]
        """
        self._fused.set_slot(var, slot_name, value)

    # Keras's order of the slots in ``variables``: each group is created for
    # every variable in turn, the names of a group interleaved per variable.
    _slot_groups: tuple[tuple[str, ...], ...] = ()

    def _slot_variables(self) -> list[_SlotVariable]:
        names = self.get_slot_names()
        groups = self._slot_groups or (tuple(names),)
        slots: list[_SlotVariable] = []
        for group in groups:
            present = [n for n in group if n in names]
            for variable in self._trainable_variables:
                slots.extend(_SlotVariable(self, variable, n) for n in present)
        return slots

    @property
    def variables(self) -> list[Any]:
        """The optimizer's state in Keras 3's order: ``iterations``, the
        learning-rate variable (absent for a schedule or callable), then,
        once built, every slot (Keras's order). Slots are ``_SlotVariable``
        views: ``numpy()`` and ``assign(value)`` as on a variable.

        >>> import tapegrad as tf
        >>> opt = tf.optimizers.Adam(0.1)
        >>> opt.build([tf.Variable([1.0], name="w")])
        >>> [v.path if hasattr(v, "path") else v.name for v in opt.variables]
        ['iteration:0', 'learning_rate:0', 'adam/w_momentum', 'adam/w_velocity']
        """
        variables: list[Any] = [self._iterations]
        if self._lr_variable is not None:
            variables.append(self._lr_variable)
        if self.built:
            variables.extend(self._slot_variables())
        return variables

    def save_own_variables(self, store: dict[str, Any]) -> None:
        """Put ``variables``' values into ``store`` under "0", "1", …
        (Keras's ``.keras``/``.weights.h5`` layout)."""
        for i, variable in enumerate(self.variables):
            store[str(i)] = np.asarray(variable.numpy())

    def load_own_variables(self, store: Any) -> None:
        """Set ``variables`` from ``store`` (``save_own_variables``' layout,
        e.g. a Keras file's ``optimizer/vars`` group); build the optimizer
        first so its slots exist. A different number of values is skipped
        with a warning, as in Keras; a value of another shape is an error.
        Nothing is set unless every value fits.

        >>> import tapegrad as tf
        >>> w = tf.Variable([1.0])
        >>> opt = tf.optimizers.Adam(0.1)
        >>> _ = opt.apply([tf.constant([2.0])], [w])
        >>> store = {}
        >>> opt.save_own_variables(store)
        >>> again = tf.optimizers.Adam(0.1)
        >>> again.build([w])
        >>> again.load_own_variables(store)
        >>> int(again.iterations), again.get_slot(w, "momentum").numpy()
        (1, array([0.2], dtype=float32))
        """
        cls = type(self).__name__
        variables = self.variables
        if len(store) != len(variables):
            message = (
                f"Skipping variable loading for optimizer '{self.name}', because it has "
                f"{len(variables)} variables whereas the saved optimizer has {len(store)} "
                "variables."
            )
            if not self.built:
                message += " The optimizer is not built yet: call `optimizer.build(variables)`."
            warnings.warn(message, stacklevel=2)
            return
        values = []
        for i, variable in enumerate(variables):
            value = np.asarray(store[str(i)])
            if tuple(value.shape) != tuple(variable.shape):
                raise ValueError(
                    f"{cls}: saved optimizer variable {i} has shape {value.shape}; "
                    f"{getattr(variable, 'path', variable.name)} has shape {tuple(variable.shape)}"
                )
            values.append(value.astype(variable.dtype.name))
        for variable, value in zip(variables, values, strict=True):
            variable.assign(value)

    # --- weight decay ------------------------------------------------------

    def exclude_from_weight_decay(
        self, var_list: Sequence[Variable] | None = None, var_names: Sequence[str] | None = None
    ) -> None:
        """Exempt ``var_list``, and variables whose name contains one of
        ``var_names`` (a regular expression search), from weight decay.
        Only before the optimizer is built, as in Keras.

        Example::

            opt.exclude_from_weight_decay(var_names=["bias"])
        """
        if self.built:
            raise ValueError(
                "`exclude_from_weight_decay()` can only be configured before the optimizer "
                "is built."
            )
        self._excluded_handles = {v._handle_id for v in var_list or ()}
        names = sorted(set(var_names or ()))
        self._excluded_pattern = re.compile("|".join(names)) if names else None

    def _decays(self, var: Variable) -> bool:
        """Whether the weight decay applies to ``var`` (not excluded)."""
        if var._handle_id in self._excluded_handles:
            return False
        return self._excluded_pattern is None or not self._excluded_pattern.search(var.name)

    # --- applying gradients ------------------------------------------------

    def _check_variables(self, variables: Sequence[object]) -> None:
        for v in variables:
            if not isinstance(v, Variable):
                raise ValueError(
                    f"{type(self).__name__}: can only update tapegrad.Variable objects, "
                    f"got a {type(v).__name__}: {v!r}"
                )

    def apply_gradients(self, grads_and_vars: Iterable[tuple[Any, Variable]]) -> Variable:
        """Apply ``(gradient, variable)`` pairs (e.g. ``zip(grads, vars)``);
        returns ``iterations``.

        Example::

            grads = tape.gradient(loss, [w, b])
            opt.apply_gradients(zip(grads, [w, b]))
        """
        pairs = list(grads_and_vars)
        grads = [g for g, _ in pairs]
        variables = [v for _, v in pairs]
        self.apply(grads, variables)
        return self._iterations

    def apply(
        self, grads: Sequence[Any], trainable_variables: Sequence[Variable] | None = None
    ) -> None:
        """One step: ``grads[i]`` updates ``trainable_variables[i]``.

        ``None`` gradients are skipped with a warning (a ``ValueError`` if
        every gradient is ``None``); an empty ``grads`` is a no-op. Without
        ``trainable_variables`` the gradients follow the list the optimizer
        was built with. Variables met for the first time get their slots now.

        Example::

            opt.apply(tape.gradient(loss, [w, b]), [w, b])
        """
        # an IndexedSlices gradient updates as its dense sum would: Keras 3
        # applies sparse gradients with the dense update's values (moments
        # decay on every row), so densifying is exact (docs/compat.md)
        grads = [to_dense(g) if isinstance(g, IndexedSlices) else g for g in grads]
        if not grads:
            return
        cls = type(self).__name__
        if trainable_variables is None:
            if not self.built:
                raise ValueError(
                    "When passing `grads` without `variables`, the optimizer must already be "
                    "built on a list of variables. Call `optimizer.build(trainable_variables)` "
                    "first."
                )
            variables = self._trainable_variables
        else:
            variables = list(trainable_variables)
        if len(grads) != len(variables):
            raise ValueError(
                f"{cls}: received {len(grads)} gradients for {len(variables)} variables; "
                "they must match one to one."
            )
        self._check_variables(variables)
        if not self.built:
            self.build(variables)
        missing = [v.name for g, v in zip(grads, variables, strict=True) if g is None]
        kept = [(g, v) for g, v in zip(grads, variables, strict=True) if g is not None]
        if not kept:
            raise ValueError("No gradients provided for any variable.")
        if missing:
            warnings.warn(
                f"Gradients do not exist for variables {missing} when minimizing the loss.",
                stacklevel=2,
            )
        decaying = self.weight_decay is not None
        # the rate and the counter as variables, read when the step runs (a
        # traced step reads them at every replay); a schedule's rate is a number
        rate = self._lr_variable
        self._fused.apply(
            [(g, v, decaying and self._decays(v)) for g, v in kept],
            self._current_learning_rate() if rate is None else rate,
            self._iterations,
        )
        self._iterations.assign_add(1)

    def minimize(
        self,
        loss: Callable[[], Any] | Any,
        var_list: Sequence[Variable] | Callable[[], Sequence[Variable]],
        tape: GradientTape | None = None,
    ) -> Variable:
        """Compute the gradients of ``loss`` and apply them (tf.keras' ``minimize``).

        ``loss`` is a zero-argument callable, or a tensor computed under
        ``tape``. Returns ``iterations``.

        Example::

            opt.minimize(lambda: tf.reduce_sum(w * w), [w])
        """
        if tape is None:
            if not callable(loss):
                raise ValueError("`tape` is required when a `Tensor` loss is passed.")
            with GradientTape() as tape:
                variables = list(var_list() if callable(var_list) else var_list)
                value = loss()
        else:
            variables = list(var_list() if callable(var_list) else var_list)
            value = loss
        grads = tape.gradient(value, variables)
        return self.apply_gradients(zip(grads, variables, strict=True))

    # --- configuration -----------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (``from_config`` rebuilds an optimizer
        without its state)."""
        if self._lr_variable is not None:
            learning_rate: Any = float(self._lr_variable.numpy())
        else:
            learning_rate = self._lr_callable
        return {
            "name": self.name,
            "learning_rate": learning_rate,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
            **self._rule.config(),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Optimizer:
        """An optimizer built from ``get_config()``'s output."""
        return cls(**config)

    def __repr__(self) -> str:
        return f"<tapegrad.optimizers.{type(self).__name__} name={self.name!r}>"


class SGD(Optimizer):
    """Gradient descent, with optional (Nesterov) momentum (``keras.optimizers.SGD``).

    ``w ← w − lr·g``; with momentum: ``m ← momentum·m − lr·g``, then
    ``w ← w + m`` (or, Nesterov, ``w ← w + momentum·m − lr·g``).

    Example, one step on ``loss = Σ w²`` (gradient ``2w``):

    >>> import tapegrad as tf
    >>> w = tf.Variable([1.0, -2.0])
    >>> opt = tf.optimizers.SGD(learning_rate=0.1)
    >>> with tf.GradientTape() as tape:
    ...     loss = tf.reduce_sum(w * w)
    >>> _ = opt.apply_gradients(zip(tape.gradient(loss, [w]), [w]))
    >>> print(w.numpy())
    [ 0.8 -1.6]
    """

    momentum: float
    nesterov: bool

    _slot_groups = (("momentum",),)

    def __init__(
        self,
        learning_rate: _LearningRate = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = "SGD",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate,
            weight_decay,
            clipnorm,
            clipvalue,
            global_clipnorm,
            name,
            rule=_core._OptimizerRule("sgd", momentum=momentum, nesterov=bool(nesterov)),
            **kwargs,
        )


class Adam(Optimizer):
    """Adam, with optional AMSGrad (``keras.optimizers.Adam``).

    ``m ← m + (g − m)(1 − β₁)``, ``v ← v + (g² − v)(1 − β₂)``,
    ``w ← w − α·m / (√v + ε)`` with ``α = lr·√(1 − β₂ᵗ) / (1 − β₁ᵗ)`` and
    ``t = iterations + 1``; AMSGrad divides by ``√max(v̂, v)`` instead.

    Example: the first step moves each weight by about ``lr`` against the
    sign of its gradient, whatever the gradient's size:

    >>> import numpy as np
    >>> import tapegrad as tf
    >>> w = tf.Variable([1.0, -2.0])
    >>> opt = tf.optimizers.Adam(learning_rate=0.1)
    >>> _ = opt.apply([tf.constant([5.0, -0.01])], [w])
    >>> print(np.round(w.numpy(), 4))
    [ 0.9 -1.9]
    """

    beta_1: float
    beta_2: float
    epsilon: float
    amsgrad: bool

    _slot_groups = (("momentum", "velocity"), ("velocity_hat",))

    def __init__(
        self,
        learning_rate: _LearningRate = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = "adam",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate,
            weight_decay,
            clipnorm,
            clipvalue,
            global_clipnorm,
            name,
            rule=_core._OptimizerRule(
                "adam", beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, amsgrad=bool(amsgrad)
            ),
            **kwargs,
        )


class AdamW(Adam):
    """Adam with decoupled weight decay, 0.004 by default (``keras.optimizers.AdamW``).

    Before each Adam step, ``w ← w − w·weight_decay·lr``.

    Example: with a zero gradient only the decay acts, ``w·(1 − 0.5·0.1)``:

    >>> import numpy as np
    >>> import tapegrad as tf
    >>> w = tf.Variable([2.0])
    >>> opt = tf.optimizers.AdamW(learning_rate=0.1, weight_decay=0.5)
    >>> _ = opt.apply([tf.constant([0.0])], [w])
    >>> print(np.round(w.numpy(), 4))
    [1.9]
    """

    def __init__(
        self,
        learning_rate: _LearningRate = 0.001,
        weight_decay: float = 0.004,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = "adamw",
        **kwargs: Any,
    ) -> None:
        Optimizer.__init__(
            self,
            learning_rate,
            weight_decay,
            clipnorm,
            clipvalue,
            global_clipnorm,
            name,
            rule=_core._OptimizerRule(
                "adamw", beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, amsgrad=bool(amsgrad)
            ),
            **kwargs,
        )


class RMSprop(Optimizer):
    """RMSprop, optionally centered and with momentum (``keras.optimizers.RMSprop``).

    ``v ← ρ·v + (1 − ρ)·g²``; ``Δ = lr·g / √(v + ε)`` (centered:
    ``ḡ ← ρ·ḡ + (1 − ρ)·g`` and ``Δ = lr·g / √(v − ḡ² + ε)``); then
    ``w ← w − Δ``, or with momentum ``m ← momentum·m + Δ``, ``w ← w − m``.

    Example: the first step is ``lr·g / √((1 − ρ)·g²) = lr / √0.1`` for ρ = 0.9:

    >>> import numpy as np
    >>> import tapegrad as tf
    >>> w = tf.Variable([1.0])
    >>> opt = tf.optimizers.RMSprop(learning_rate=0.01)
    >>> _ = opt.apply([tf.constant([3.0])], [w])
    >>> print(np.round(w.numpy(), 4))
    [0.9684]
    """

    rho: float
    momentum: float
    epsilon: float
    centered: bool

    _slot_groups = (("velocity",), ("momentum",), ("average_gradient",))

    def __init__(
        self,
        learning_rate: _LearningRate = 0.001,
        rho: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-7,
        centered: bool = False,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = "rmsprop",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate,
            weight_decay,
            clipnorm,
            clipvalue,
            global_clipnorm,
            name,
            rule=_core._OptimizerRule(
                "rmsprop", rho=rho, momentum=momentum, epsilon=epsilon, centered=bool(centered)
            ),
            **kwargs,
        )


class Adagrad(Optimizer):
    """Adagrad (``keras.optimizers.Adagrad``).

    ``a ← a + g²`` (``a`` starts at ``initial_accumulator_value``), then
    ``w ← w − lr·g / √(a + ε)``.

    Example: with the accumulator starting at 0.1, the first step is
    ``0.1·2 / √(0.1 + 4)``:

    >>> import numpy as np
    >>> import tapegrad as tf
    >>> w = tf.Variable([1.0])
    >>> opt = tf.optimizers.Adagrad(learning_rate=0.1)
    >>> _ = opt.apply([tf.constant([2.0])], [w])
    >>> print(np.round(w.numpy(), 4))
    [0.9012]
    """

    initial_accumulator_value: float
    epsilon: float

    _slot_groups = (("accumulator",),)

    def __init__(
        self,
        learning_rate: _LearningRate = 0.001,
        initial_accumulator_value: float = 0.1,
        epsilon: float = 1e-7,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate,
            weight_decay,
            clipnorm,
            clipvalue,
            global_clipnorm,
            name,
            rule=_core._OptimizerRule(
                "adagrad", initial_accumulator_value=initial_accumulator_value, epsilon=epsilon
            ),
            **kwargs,
        )
