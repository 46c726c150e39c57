"""``tf.autodiff``: forward-mode differentiation.

``ForwardAccumulator`` pushes tangents through ops as they run. It nests
with ``GradientTape`` both ways, so forward-over-reverse Hessian-vector
products work::

    with tf.autodiff.ForwardAccumulator(x, v) as acc:
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = f(x)
        g = tape.gradient(y, x)
    hvp = acc.jvp(g)
"""

# the imports are private (`_flatten`, …): `dir()` of this module is its API
import typing as _typing
from typing import TYPE_CHECKING as _TYPE_CHECKING

from . import _core
from ._nest import flatten as _flatten
from ._nest import pack_sequence_as as _pack_sequence_as
from ._tape import GradientTape, _unconnected_is_zero
from ._tape import UnconnectedGradients as _UnconnectedGradients

__all__ = ["ForwardAccumulator", "GradientTape"]


class ForwardAccumulator:
    """Computes Jacobian-vector products of ``primals`` along ``tangents``.

    JVPs come from each op's VJP by the transposition trick (the VJP is
    linear in its cotangent), so every differentiable op has one.

    >>> import tapegrad as tf
    >>> x = tf.constant([1.0, 2.0])
    >>> with tf.autodiff.ForwardAccumulator(x, tf.constant([1.0, 1.0])) as acc:
    ...     y = tf.reduce_sum(x * x)
    >>> float(acc.jvp(y))  # ⟨2x, (1, 1)⟩
    6.0
    """

    def __init__(self, primals: _typing.Any, tangents: _typing.Any) -> None:
        self._acc = _core.ForwardAccumulator()
        self._recording = False
        flat_p = _flatten(primals)
        flat_t = _flatten(tangents)
        if len(flat_p) != len(flat_t):
            raise ValueError(
                f"primals and tangents must have the same structure: {len(flat_p)} primals, "
                f"{len(flat_t)} tangents"
            )
        seen: set[int] = set()
        for p, t in zip(flat_p, flat_t, strict=True):
            if not isinstance(p, (_core.Tensor, _core.Variable)):
                raise TypeError(f"primals must be tensors or Variables; got {type(p).__name__}")
            key = p._handle_id if isinstance(p, _core.Variable) else p._id
            if key in seen:
                raise ValueError(
                    "Tensor {} was specified as a primal multiple times. This may indicate an "
                    "error. If it was intended, please sum the corresponding tangents."
                )
            seen.add(key)
            self._acc.watch(p, t)

    def __enter__(self) -> "ForwardAccumulator":
        if self._recording:
            raise ValueError("Accumulator is already recording.")
        self._acc.push()
        self._recording = True
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._recording:
            self._acc.pop()
            self._recording = False

    def jvp(
        self,
        primals: _typing.Any,
        unconnected_gradients: _UnconnectedGradients | str = _UnconnectedGradients.NONE,
    ) -> _typing.Any:
        """The tangent of each of ``primals`` (``None``, or zeros with
        ``'zero'``, for those that do not depend on the watched primals).

        >>> import tapegrad as tf
        >>> x, other = tf.constant(3.0), tf.constant(1.0)
        >>> with tf.autodiff.ForwardAccumulator(x, tf.constant(1.0)) as acc:
        ...     y = x * x
        >>> float(acc.jvp(y)), acc.jvp(other), float(acc.jvp(other, "zero"))
        (6.0, None, 0.0)
        """
        zero = _unconnected_is_zero(unconnected_gradients)
        out = []
        for p in _flatten(primals):
            t = self._acc.jvp(p)
            if t is None and zero:
                t = _core.zeros(list(p.shape), dtype=p.dtype)
            out.append(t)
        return _pack_sequence_as(primals, out)


if not _TYPE_CHECKING:
    from ._compat import missing_names as _missing_names

    __getattr__ = _missing_names("tf.autodiff")
