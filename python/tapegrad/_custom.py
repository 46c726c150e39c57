"""``custom_gradient`` and ``recompute_grad``."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from . import _core
from ._nest import flatten, pack_sequence_as
from ._tape import GradientTape

__all__ = ["custom_gradient", "recompute_grad"]


def _accepts_variables(fn: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.kind is p.VAR_KEYWORD or p.name == "variables" for p in params)


def _as_input(x: Any) -> Any:
    if isinstance(x, _core.Tensor):
        return x
    return _core.convert_to_tensor(x)


def custom_gradient(f: Callable[..., Any] | None = None) -> Any:
    """Decorate ``f(*x) -> (y, grad_fn)`` to give ``y`` the gradient ``grad_fn``.

    ``grad_fn(*dy)`` returns one gradient per input of ``f``. If ``f`` reads
    trainable Variables, ``grad_fn`` must accept ``variables=`` and return
    ``(input_grads, variable_grads)``. ``grad_fn`` runs as ordinary tapegrad
    ops, so an outer tape differentiates it again (higher order works).

    >>> import tapegrad as tf
    >>> @tf.custom_gradient
    ... def clip_grad(x):
    ...     return tf.identity(x), lambda dy: tf.minimum(dy, 1.0)
    """
    if f is None:
        return custom_gradient

    @functools.wraps(f)
    def decorated(*args: Any, **kwargs: Any) -> Any:
        args = tuple(_as_input(a) for a in args)
        watcher = _core.Tape(False, True)
        with _core.Suspension():
            watcher.push()
            try:
                result, grad_fn = f(*args, **kwargs)
            finally:
                watcher.pop()
        variables = list(watcher.watched_variables())
        if variables and not _accepts_variables(grad_fn):
            names = [v.name for v in variables]
            raise TypeError(
                "@tf.custom_gradient grad_fn must accept keyword argument 'variables', since "
                f"function uses variables: {names}"
            )
        for v in variables:
            v.read_value()  # outer tapes watch what the suspended forward read
        inputs = [a for a in args if isinstance(a, _core.Tensor)]
        # fresh ids: an output that is an input must not become its own ancestor
        outputs = [_core.stop_gradient(y) for y in flatten(result)]

        def vjp(upstream: list[Any]) -> list[Any]:
            if variables:
                input_grads, variable_grads = grad_fn(*upstream, variables=variables)
                variable_grads = list(flatten(variable_grads))
                if len(variable_grads) != len(variables):
                    raise ValueError(
                        "Must return gradient for each variable from @custom_gradient grad_fn."
                    )
            else:
                input_grads, variable_grads = grad_fn(*upstream), []
            input_grads = flatten(input_grads)
            if len(input_grads) != len(inputs):
                raise ValueError(
                    f"custom_gradient function expected to return {len(inputs)} gradients, "
                    f"but returned {len(input_grads)} instead."
                )
            return list(input_grads) + variable_grads

        _core.record_custom(inputs + variables, outputs, vjp)
        return pack_sequence_as(result, outputs)

    return decorated


def recompute_grad(f: Callable[..., Any]) -> Callable[..., Any]:
    """Trade compute for memory: ``f``'s intermediates are not kept for the
    backward pass; ``f`` is run again under a fresh tape when its gradient
    is needed (``tf.recompute_grad``).

    >>> import tapegrad as tf
    >>> block = tf.recompute_grad(lambda h: tf.tanh(h) * 2.0)
    >>> x = tf.constant(0.0)
    >>> with tf.GradientTape() as tape:
    ...     tape.watch(x)
    ...     y = block(x)
    >>> float(tape.gradient(y, x))  # 2·(1 − tanh²(0))
    2.0
    """

    @functools.wraps(f)
    def inner(*args: Any, **kwargs: Any) -> Any:
        @custom_gradient
        def recomputed(*xs: Any) -> Any:
            result = f(*xs, **kwargs)

            def grad_fn(*dys: Any, variables: list[Any] | None = None) -> Any:
                variables = list(variables or [])
                with GradientTape() as tape:
                    tape.watch(list(xs))
                    again = f(*xs, **kwargs)
                grads = tape.gradient(
                    flatten(again), list(xs) + variables, output_gradients=list(dys)
                )
                return grads[: len(xs)], grads[len(xs) :]

            return result, grad_fn

        return recomputed(*args)

    return inner
