"""``tf.io``: ``decode_raw`` (the bytes of string tensors read as numbers)."""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from ._strings import decode_raw

__all__ = ["decode_raw"]

if not _TYPE_CHECKING:
    from ._compat import missing_names as _missing_names

    __getattr__ = _missing_names("tf.io")
