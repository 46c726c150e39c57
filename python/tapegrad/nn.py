"""``tf.nn``: neural-network ops."""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from . import sigmoid, tanh
from ._core import (
    avg_pool2d,
    bias_add,
    conv2d,
    dropout,
    gelu,
    l2_loss,
    leaky_relu,
    log_softmax,
    max_pool2d,
    moments,
    sigmoid_cross_entropy_with_logits,
    softmax,
    softmax_cross_entropy_with_logits,
    sparse_softmax_cross_entropy_with_logits,
)
from ._core import ops as _ops
from .math import top_k

relu = _ops["relu"]
relu6 = _ops["relu6"]
elu = _ops["elu"]
selu = _ops["selu"]
softplus = _ops["softplus"]
softsign = _ops["softsign"]
silu = _ops["silu"]
swish = silu
max_pool = max_pool2d
avg_pool = avg_pool2d

__all__ = [
    "avg_pool",
    "avg_pool2d",
    "bias_add",
    "conv2d",
    "dropout",
    "elu",
    "gelu",
    "l2_loss",
    "leaky_relu",
    "log_softmax",
    "max_pool",
    "max_pool2d",
    "moments",
    "relu",
    "relu6",
    "selu",
    "sigmoid",
    "sigmoid_cross_entropy_with_logits",
    "silu",
    "softmax",
    "softmax_cross_entropy_with_logits",
    "softplus",
    "softsign",
    "sparse_softmax_cross_entropy_with_logits",
    "swish",
    "tanh",
    "top_k",
]


if not _TYPE_CHECKING:
    from ._compat import missing_names as _missing_names

    __getattr__ = _missing_names("tf.nn")
