"""The error for a TF name tapegrad does not have.

Every namespace ends with ``__getattr__ = missing_names("tf.nn")``: looking up
a name it lacks raises ``AttributeError`` naming the TF symbol and pointing at
``docs/compat.md``, instead of Python's "did you mean" for a name that may
well be spelled right.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn

__all__ = ["missing_names"]


class _NoSuggestionAttributeError(AttributeError):
    """An ``AttributeError`` that Python's traceback does not extend with
    "Did you mean: …?": the interpreter fills ``name``/``obj`` in to compute
    that hint, and these properties drop what it writes. It prints as a plain
    ``AttributeError``."""

    name = property(lambda self: None, lambda self, value: None)
    obj = property(lambda self: None, lambda self, value: None)


_NoSuggestionAttributeError.__name__ = _NoSuggestionAttributeError.__qualname__ = "AttributeError"
_NoSuggestionAttributeError.__module__ = "builtins"


def missing_names(tf_namespace: str) -> Callable[[str], NoReturn]:
    """A module ``__getattr__`` for the namespace TF calls ``tf_namespace``.

    >>> import tapegrad as tf
    >>> try:
    ...     tf.nn.ctc_loss
    ... except AttributeError as e:
    ...     print(e)
    tapegrad does not implement tf.nn.ctc_loss; see docs/compat.md
    """

    def __getattr__(name: str) -> NoReturn:
        # dunders and private names are Python's protocol lookups, not TF names
        if name.startswith("_"):
            raise AttributeError(f"module {tf_namespace!r} has no attribute {name!r}")
        raise _NoSuggestionAttributeError(
            f"tapegrad does not implement {tf_namespace}.{name}; see docs/compat.md"
        )

    return __getattr__
