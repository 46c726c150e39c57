"""``tf.random``: seeded random tensors.

``set_seed(s)`` makes the sequence of random ops that follows reproducible;
an op's own ``seed=`` makes that op reproducible under a fixed global seed.
"""

from ._core import categorical, set_seed, shuffle, truncated_normal
from ._core import random_normal as normal
from ._core import random_uniform as uniform

__all__ = ["categorical", "normal", "set_seed", "shuffle", "truncated_normal", "uniform"]
