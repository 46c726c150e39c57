"""The implementation behind ``tapegrad.module`` (see its docstring)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from . import _nest
from ._core import Variable

__all__ = ["Module", "name_scope", "current_name_scope", "scoped_name"]

_F = TypeVar("_F", bound=Callable[..., Any])
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# TF's rule for name-scope names: start with a letter, digit, '.' or '_'
_SCOPE_NAME = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.\-/>]*$")


# The active scope prefix lives in the Rust core (a thread-local), where the
# Variable constructor reads it; these swap it in and read it.
_swap_name_scope = Variable._swap_name_scope
_current_name_scope = Variable._current_name_scope


def current_name_scope() -> str:
    """The active name-scope prefix, ``""`` at top level, else ``"a/b/"``.

    >>> import tapegrad as tf
    >>> with tf.name_scope("a"):
    ...     with tf.name_scope("b"):
    ...         tf.module.current_name_scope()
    'a/b/'
    """
    return _current_name_scope()


def scoped_name(name: str) -> str:
    """``name`` prefixed by the active name scopes (TF's variable naming).

    >>> import tapegrad as tf
    >>> with tf.name_scope("layer"):
    ...     tf.module.scoped_name("kernel")
    'layer/kernel'
    """
    return _current_name_scope() + name


class name_scope:  # noqa: N801 - TF's name
    """``tf.name_scope(name)``: a context manager that prefixes the names of
    the variables created inside it (eager TF: no uniquifying). A name ending
    in ``/`` is absolute (it replaces the active scopes); ``__enter__``
    returns the full scope, ending in ``/``.

    Every variable created inside gets the prefix (``s/w:0``), as in TF; a
    variable name ending in ``/`` is absolute (``name="w/"`` gives ``w:0``).

    >>> import tapegrad as tf
    >>> with tf.name_scope("outer") as scope:
    ...     print(scope, tf.Variable(1.0, name="w").name)
    outer/ outer/w:0
    """

    def __init__(self, name: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"name_scope: name must be a string, got {type(name).__name__}")
        if name and not _SCOPE_NAME.match(name):
            raise ValueError(f"name_scope: {name!r} is not a valid scope name")
        self._name = name
        self._saved: list[str] = []

    @property
    def name(self) -> str:
        """The name this scope was made with.

        >>> import tapegrad as tf
        >>> tf.name_scope("abc").name
        'abc'
        """
        return self._name

    def __enter__(self) -> str:
        if not self._name:
            full = ""
        elif self._name.endswith("/"):
            full = self._name
        else:
            full = _current_name_scope() + self._name + "/"
        self._saved.append(_swap_name_scope(full))
        return full

    def __exit__(self, *exc: object) -> None:
        _swap_name_scope(self._saved.pop())


def _camel_to_snake(name: str) -> str:
    step = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", step).lower()


def _is_module(x: object) -> bool:
    return isinstance(x, Module)


def _is_variable(x: object) -> bool:
    return isinstance(x, Variable)


def _is_trainable_variable(x: object) -> bool:
    return isinstance(x, Variable) and x.trainable


def _is_non_trainable_variable(x: object) -> bool:
    return isinstance(x, Variable) and not x.trainable


class Module:
    """``tf.Module``: a named container of variables and submodules.

    ``variables``, ``trainable_variables``, ``non_trainable_variables`` and
    ``submodules`` walk the instance attributes in sorted name order,
    flattening lists, tuples and dicts (dicts by sorted key); a module's own
    leaves come before those of its submodules, each object once (TF's order).

    >>> import tapegrad as tf
    >>> class Dense(tf.Module):
    ...     def __init__(self, n_in, n_out, name=None):
    ...         super().__init__(name=name)
    ...         with self.name_scope:
    ...             self.w = tf.Variable(tf.ones([n_in, n_out]), name="w")
    ...             self.b = tf.Variable(tf.zeros([n_out]), name="b")
    ...     def __call__(self, x):
    ...         return tf.matmul(x, self.w) + self.b
    >>> class MLP(tf.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.layers = [Dense(2, 3, name="l1"), Dense(3, 1, name="l2")]
    >>> [v.name for v in MLP().variables]
    ['l1/b:0', 'l1/w:0', 'l2/b:0', 'l2/w:0']
    """

    # attributes the walk skips (TF skips its checkpoint bookkeeping)
    _TF_MODULE_IGNORED_PROPERTIES: frozenset[str] = frozenset()

    def __init__(self, name: str | None = None) -> None:
        if name is None:
            name = _camel_to_snake(type(self).__name__)
        elif not _IDENTIFIER.match(name):
            raise ValueError(
                f"{name!r} is not a valid module name. Module names must be valid Python "
                "identifiers (e.g. a valid class name)."
            )
        self._name = name
        with name_scope(name) as scope:
            self._scope_name = scope

    @property
    def name(self) -> str:
        """The module's name (its class name in snake case by default).

        >>> import tapegrad as tf
        >>> class MyModel(tf.Module): pass
        >>> MyModel().name
        'my_model'
        """
        return self._name

    @property
    def name_scope(self) -> name_scope:
        """A ``name_scope`` that re-enters this module's scope (absolute).

        >>> import tapegrad as tf
        >>> tf.Module(name="m").name_scope.name
        'm/'
        """
        return name_scope(self._scope_name)

    def scoped_variable(
        self, initial_value: Any, name: str, trainable: bool = True, dtype: Any = None
    ) -> Variable:
        """A ``Variable`` named ``<module scope>/<name>``, as ``tf.Variable``
        inside ``with self.name_scope:`` is named in TF.

        >>> import tapegrad as tf
        >>> tf.Module(name="m").scoped_variable(1.0, "w").name
        'm/w:0'
        """
        with self.name_scope:
            return Variable(initial_value, trainable=trainable, name=name, dtype=dtype)

    @property
    def variables(self) -> tuple[Variable, ...]:
        """Every variable of this module and its submodules (TF's order).

        >>> import tapegrad as tf
        >>> m = tf.Module()
        >>> m.v = [tf.Variable(1.0, name="a")]
        >>> [v.name for v in m.variables]
        ['a:0']
        """
        return tuple(self._flatten(_is_variable))

    @property
    def trainable_variables(self) -> tuple[Variable, ...]:
        """The variables with ``trainable=True``.

        >>> import tapegrad as tf
        >>> m = tf.Module()
        >>> m.a, m.b = tf.Variable(1.0, name="a"), tf.Variable(2.0, name="b", trainable=False)
        >>> [v.name for v in m.trainable_variables]
        ['a:0']
        """
        return tuple(self._flatten(_is_trainable_variable))

    @property
    def non_trainable_variables(self) -> tuple[Variable, ...]:
        """The variables with ``trainable=False``.

        >>> import tapegrad as tf
        >>> m = tf.Module()
        >>> m.a, m.b = tf.Variable(1.0, name="a"), tf.Variable(2.0, name="b", trainable=False)
        >>> [v.name for v in m.non_trainable_variables]
        ['b:0']
        """
        return tuple(self._flatten(_is_non_trainable_variable))

    @property
    def submodules(self) -> tuple[Module, ...]:
        """Every module reachable from this one (not itself), TF's order.

        >>> import tapegrad as tf
        >>> outer = tf.Module(name="outer")
        >>> outer.child = tf.Module(name="child")
        >>> [m.name for m in outer.submodules]
        ['child']
        """
        return tuple(self._flatten(_is_module))

    def _flatten(
        self, predicate: Callable[[object], bool], recursive: bool = True
    ) -> Iterator[Any]:
        return _walk(self, predicate, recursive, {id(self)}, [])

    @classmethod
    def with_name_scope(cls, method: _F) -> _F:
        """Decorator: run ``method`` inside ``self.name_scope``.

        >>> import tapegrad as tf
        >>> class M(tf.Module):
        ...     @tf.Module.with_name_scope
        ...     def scope(self):
        ...         return tf.module.current_name_scope()
        >>> M().scope()
        'm/'
        """

        @functools.wraps(method)
        def wrapped(self: Module, *args: Any, **kwargs: Any) -> Any:
            with self.name_scope:
                return method(self, *args, **kwargs)

        return wrapped  # type: ignore[return-value]


def _walk(
    module: Module,
    predicate: Callable[[object], bool],
    recursive: bool,
    seen: set[int],
    stack: list[int],
) -> Iterator[Any]:
    """TF's walk: this module's matching leaves (attributes in sorted order,
    containers flattened), then each submodule's, depth first; every object
    once; a module already on the recursion stack is not re-entered."""
    if id(module) in stack:
        recursive = False
    submodules: list[Module] = []
    ignored = type(module)._TF_MODULE_IGNORED_PROPERTIES
    for key in sorted(vars(module)):
        if key in ignored:
            continue
        for leaf in _nest.flatten(vars(module)[key]):
            if id(leaf) in seen:
                continue
            seen.add(id(leaf))
            if predicate(leaf):
                yield leaf
            if recursive and _is_module(leaf):
                submodules.append(leaf)
    stack.append(id(module))
    for sub in submodules:
        yield from _walk(sub, predicate, recursive, seen, stack)
    stack.pop()
