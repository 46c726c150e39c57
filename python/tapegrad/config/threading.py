"""``tf.config.threading``: how many threads tapegrad's kernels use.

tapegrad's kernels run on one pool of threads (rayon's global pool), which
plays TF's intra-op pool; there is no inter-op pool (ops run one after the
other on the calling thread). The pool starts with the first kernel large
enough to split across threads and reads ``RAYON_NUM_THREADS`` then, so
``set_intra_op_parallelism_threads`` takes effect only before that, at the
start of the program, as TF's must be called before its runtime starts.
"""

import os as _os
from typing import TYPE_CHECKING as _TYPE_CHECKING

from .._compat import missing_names as _missing_names

__all__ = [
    "get_inter_op_parallelism_threads",
    "get_intra_op_parallelism_threads",
    "set_inter_op_parallelism_threads",
    "set_intra_op_parallelism_threads",
]

_ENV = "RAYON_NUM_THREADS"
_inter_op_threads = 0


def get_intra_op_parallelism_threads() -> int:
    """The number of kernel threads asked for; 0 (TF's default) lets the
    system choose (one per core).

    >>> import tapegrad as tf
    >>> tf.config.threading.get_intra_op_parallelism_threads() >= 0
    True
    """
    value = _os.environ.get(_ENV, "")
    return int(value) if value.isdigit() else 0


def set_intra_op_parallelism_threads(num_threads: int) -> None:
    """Ask for ``num_threads`` kernel threads (0: one per core).

    Effective when called before tapegrad's first parallel kernel (at the
    start of the program): it sets ``RAYON_NUM_THREADS``, which the pool
    reads when it starts. Later calls change what ``get_…`` reports but not
    the running pool (TF raises ``RuntimeError`` then; tapegrad cannot tell
    whether its pool has started).

    >>> import tapegrad as tf
    >>> before = tf.config.threading.get_intra_op_parallelism_threads()
    >>> tf.config.threading.set_intra_op_parallelism_threads(2)
    >>> tf.config.threading.get_intra_op_parallelism_threads()
    2
    >>> tf.config.threading.set_intra_op_parallelism_threads(before)
    """
    count = _thread_count("set_intra_op_parallelism_threads", num_threads)
    if count == 0:
        _os.environ.pop(_ENV, None)
    else:
        _os.environ[_ENV] = str(count)


def get_inter_op_parallelism_threads() -> int:
    """The inter-op thread count asked for (0: system default).

    >>> import tapegrad as tf
    >>> tf.config.threading.get_inter_op_parallelism_threads()
    0
    """
    return _inter_op_threads


def set_inter_op_parallelism_threads(num_threads: int) -> None:
    """Record the inter-op thread count. tapegrad runs ops one after the other
    on the calling thread (eager, like TF's eager mode), so this changes nothing
    but what ``get_inter_op_parallelism_threads`` reports.

    >>> import tapegrad as tf
    >>> tf.config.threading.set_inter_op_parallelism_threads(0)
    """
    global _inter_op_threads
    _inter_op_threads = _thread_count("set_inter_op_parallelism_threads", num_threads)


def _thread_count(fn: str, num_threads: int) -> int:
    if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 0:
        raise ValueError(f"{fn} expects an int >= 0 (0: system default), got {num_threads!r}")
    return num_threads


if not _TYPE_CHECKING:
    __getattr__ = _missing_names("tf.config.threading")
