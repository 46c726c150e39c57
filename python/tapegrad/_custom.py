"""``custom_gradient`` and ``recompute_grad``."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
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


def _name(f: Callable[..., Any]) -> str:
    return getattr(f, "__qualname__", None) or repr(f)


def _check_shape(f: Callable[..., Any], index: int, grad: Any, source: Any) -> None:
    """A gradient must have its input's shape exactly: a user's rule is its
    answer, never something to sum down (that would hide a wrong rule)."""
    if grad is None:
        return
    shape = tuple(grad.shape if isinstance(grad, _core.Tensor) else _as_input(grad).shape)
    expected = tuple(source.shape)
    if shape != expected:
        raise ValueError(
            f"@tf.custom_gradient {_name(f)}: grad_fn returned a gradient of shape {shape} "
            f"for input {index}, which has shape {expected}; each gradient must have its "
            "input's shape"
        )


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
            if isinstance(input_grads, Mapping):
                raise TypeError(
                    f"@tf.custom_gradient {_name(f)}: grad_fn returned a dict; it must return "
                    "one gradient per input (a tensor, or a list or tuple of them)"
                )
            input_grads = flatten(input_grads)
            if len(input_grads) != len(inputs):
                raise ValueError(
                    f"custom_gradient function expected to return {len(inputs)} gradients, "
                    f"but returned {len(input_grads)} instead."
                )
            grads = list(input_grads) + variable_grads
            for i, (grad, source) in enumerate(zip(grads, [*inputs, *variables], strict=True)):
                _check_shape(f, i, grad, source)
            return grads

        _core.record_custom(inputs + variables, outputs, vjp)
        return pack_sequence_as(result, outputs)

    return decorated


def recompute_grad(f: Callable[..., Any]) -> Callable[..., Any]:
    """Trade compute for memory: ``f``'s intermediates are not kept for the
    backward pass; ``f`` is run again under a fresh tape when its gradient
    is needed (``tf.recompute_grad``). Unlike TF, the rerun replays the
    random numbers the forward drew (the same dropout mask), so the gradient
    is that of the function that ran.

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
            # the recomputation replays the forward's random numbers (its
            # dropout mask): the gradient is of the function that ran
            result, random_keys = _core.Tape.record_random(lambda: f(*xs, **kwargs))

            def grad_fn(*dys: Any, variables: list[Any] | None = None) -> Any:
                variables = list(variables or [])
                with GradientTape() as tape:
                    tape.watch(list(xs))
                    again = _core.Tape.replay_random(random_keys, lambda: f(*xs, **kwargs))
                grads = tape.gradient(
                    flatten(again), list(xs) + variables, output_gradients=list(dys)
                )
                return grads[: len(xs)], grads[len(xs) :]

            return result, grad_fn

        return recomputed(*args)

    return inner
