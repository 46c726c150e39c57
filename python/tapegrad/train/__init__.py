"""``tf.train``: object-based checkpoints (``Checkpoint``,
``CheckpointManager``) in TensorFlow's own format, so checkpoints move
between TF and tapegrad both ways.

>>> import tapegrad as tf, tempfile
>>> w = tf.Variable([1.0, 2.0])
>>> ckpt = tf.train.Checkpoint(w=w)
>>> manager = tf.train.CheckpointManager(ckpt, tempfile.mkdtemp(), max_to_keep=3)
>>> path = manager.save()
>>> tf.train.load_variable(path, "w/.ATTRIBUTES/VARIABLE_VALUE")
array([1., 2.], dtype=float32)
"""

from ._bundle import CheckpointFormatError
from ._checkpoint import (
    Checkpoint,
    CheckpointLoadStatus,
    CheckpointManager,
    CheckpointOptions,
    CheckpointState,
    InitializationOnlyStatus,
    get_checkpoint_state,
    latest_checkpoint,
    list_variables,
    load_variable,
)

__all__ = [
    "Checkpoint",
    "CheckpointFormatError",
    "CheckpointLoadStatus",
    "CheckpointManager",
    "CheckpointOptions",
    "CheckpointState",
    "InitializationOnlyStatus",
    "get_checkpoint_state",
    "latest_checkpoint",
    "list_variables",
    "load_variable",
]
