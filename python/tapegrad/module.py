"""``tf.Module`` and ``tf.name_scope``: containers of variables, found through
attributes, lists, tuples and dicts in TF's order, with scoped names.

>>> import tapegrad as tf
>>> class Scale(tf.Module):
...     def __init__(self, name=None):
...         super().__init__(name=name)
...         self.w = self.scoped_variable(2.0, name="w")
...     def __call__(self, x):
...         return self.w * x
>>> m = Scale()
>>> [v.name for v in m.variables]
['scale/w:0']
"""

from ._module import Module, current_name_scope, name_scope, scoped_name

__all__ = ["Module", "name_scope", "current_name_scope", "scoped_name"]
