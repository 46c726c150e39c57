"""``tf.saved_model``: save a ``tf.Module`` with its variables and its
``tf.function`` methods to a directory, and load it back as an object whose
functions compute the same results (tapegrad's own program format beside
TF's variables checkpoint; see ``docs/compat.md``).

>>> import tapegrad as tf, tempfile
>>> m = tf.Module()
>>> m.w = tf.Variable([1.0, -1.0])
>>> m.f = tf.function(lambda x: tf.reduce_sum(x * m.w), input_signature=[tf.TensorSpec([2])])
>>> path = tempfile.mkdtemp()
>>> tf.saved_model.save(m, path)
>>> float(tf.saved_model.load(path).f(tf.constant([3.0, 1.0])))
2.0
"""

from .._compat import missing_names as _missing_names
from .._saved_model import LoadOptions, SaveOptions, load, save

__all__ = ["LoadOptions", "SaveOptions", "load", "save"]

__getattr__ = _missing_names("tf.saved_model")
