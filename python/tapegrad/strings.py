"""``tf.strings``: splitting, joining, case, parsing and formatting of string
tensors, Unicode decoding and regular expressions. String tensors are
``tf.string`` tensors (``tf.constant("text")``); none of these functions is
differentiable.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from ._strings import (
    as_string,
    bytes_split,
    format,  # noqa: A004 - TF's name
    join,
    length,
    lower,
    reduce_join,
    regex_full_match,
    regex_replace,
    split,
    strip,
    substr,
    to_hash_bucket_fast,
    to_number,
    unicode_decode,
    unicode_split,
    upper,
)

__all__ = [
    "as_string",
    "bytes_split",
    "format",
    "join",
    "length",
    "lower",
    "reduce_join",
    "regex_full_match",
    "regex_replace",
    "split",
    "strip",
    "substr",
    "to_hash_bucket_fast",
    "to_number",
    "unicode_decode",
    "unicode_split",
    "upper",
]

if not _TYPE_CHECKING:
    from ._compat import missing_names as _missing_names

    __getattr__ = _missing_names("tf.strings")
