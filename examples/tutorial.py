"""The autograd tutorial the project grew from, unchanged but for the import.

Run: python examples/tutorial.py
"""

import tapegrad as tf

x = tf.reshape(tf.Variable(range(4), dtype=tf.float32), (4, 1))
with tf.GradientTape() as t:
    t.watch(x)
    y = 2 * tf.matmul(tf.transpose(x), x)
print(t.gradient(y, x))  # [[0], [4], [8], [12]]

with tf.GradientTape(persistent=True) as g:
    g.watch(x)
    y = x * x
    z = y * y
    dz_dx = g.gradient(z, x)  # 4x³: [[0], [4], [32], [108]]; logs the in-context warning once
    dy_dx = g.gradient(y, x)  # 2x:  [[0], [2], [4], [6]]
print(dz_dx)
print(dy_dx)


def f(a):
    b = a * 2
    while tf.norm(b) < 1000:  # a scalar bool tensor drives Python control flow
        b = b * 2
    if tf.reduce_sum(b) > 0:
        c = b
    else:
        c = 100 * b
    return c


# f(a) = k·a for a power of two k (times 100 when a < 0), so df/da = k = c / a.
# In float32, c / a can round away from k in the 100·b branch (TF prints False
# there too), so the seed is fixed to make the printed line known.
tf.random.set_seed(0)
a = tf.random.normal((1, 1), dtype=tf.float32)
with tf.GradientTape() as t:
    t.watch(a)
    c = f(a)
print(repr(t.gradient(c, a) == c / a))

try:
    t.gradient(c, a)
except RuntimeError as e:
    print(f"RuntimeError: {e}")
