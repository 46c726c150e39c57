"""``tf.nn``: neural-network ops."""

from . import sigmoid, tanh
from ._core import (
    bias_add,
    dropout,
    gelu,
    l2_loss,
    leaky_relu,
    log_softmax,
    moments,
    sigmoid_cross_entropy_with_logits,
    softmax,
    softmax_cross_entropy_with_logits,
    sparse_softmax_cross_entropy_with_logits,
)
from ._core import ops as _ops

relu = _ops["relu"]
relu6 = _ops["relu6"]
elu = _ops["elu"]
selu = _ops["selu"]
softplus = _ops["softplus"]

__all__ = [
    "bias_add",
    "dropout",
    "elu",
    "gelu",
    "l2_loss",
    "leaky_relu",
    "log_softmax",
    "moments",
    "relu",
    "relu6",
    "selu",
    "sigmoid",
    "sigmoid_cross_entropy_with_logits",
    "softmax",
    "softmax_cross_entropy_with_logits",
    "softplus",
    "sparse_softmax_cross_entropy_with_logits",
    "tanh",
]
