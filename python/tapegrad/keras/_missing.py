"""Keras names tapegrad does not have: a clear error instead of a bare
``AttributeError``."""

from __future__ import annotations

from typing import NoReturn


class KerasFeatureMissing(AttributeError, NotImplementedError):
    """A Keras feature tapegrad does not implement (``hasattr`` still
    answers False: it is also an ``AttributeError``)."""


def missing(namespace: str, name: str) -> NoReturn:
    if name.startswith("_"):
        raise AttributeError(f"module {namespace!r} has no attribute {name!r}")
    raise KerasFeatureMissing(
        f"{namespace}.{name} is not implemented in tapegrad (see docs/compat.md, Keras)"
    )
