"""tf.IndexedSlices and where tape.gradient returns it (recorded from TF 2.21)."""

import numpy as np
import pytest
import tapegrad as tf


def _table():
    return tf.Variable(np.arange(12.0).reshape(4, 3))


def _kind(f, source=None):
    v = _table() if source is None else source
    with tf.GradientTape() as tape:
        if source is not None:
            tape.watch(source)
        y = f(v)
    g = tape.gradient(y, v)
    if isinstance(g, tf.IndexedSlices):
        return (
            "IndexedSlices",
            g.indices.numpy().tolist(),
            list(g.values.shape),
            g.dense_shape.numpy().tolist(),
        )
    return type(g).__name__


def test_gradient_is_indexed_slices_exactly_where_tf_returns_it():
    rs = tf.reduce_sum
    assert _kind(lambda v: rs(tf.gather(v, [1, 1, 2]))) == (
        "IndexedSlices",
        [1, 1, 2],
        [3, 3],
        [4, 3],
    )
    assert _kind(lambda v: rs(tf.gather(v, [[1, 0]]))) == ("IndexedSlices", [1, 0], [2, 3], [4, 3])
    assert _kind(lambda v: rs(tf.nn.embedding_lookup(v, [3]))) == (
        "IndexedSlices",
        [3],
        [1, 3],
        [4, 3],
    )
    assert _kind(lambda v: rs(tf.gather(v, [1])) + rs(tf.gather(v, [2]))) == (
        "IndexedSlices",
        [1, 2],
        [2, 3],
        [4, 3],
    )
    assert _kind(lambda v: (rs(v * 2), rs(tf.gather(v, [1])))[1]) == (
        "IndexedSlices",
        [1],
        [1, 3],
        [4, 3],
    )
    assert _kind(lambda v: rs(tf.gather_nd(v, [[1]]))) == ("IndexedSlices", [1], [1, 3], [4, 3])
    assert _kind(lambda v: rs(v.sparse_read([1]))) == ("IndexedSlices", [1], [1, 3], [4, 3])
    x = tf.constant(np.arange(6.0).reshape(3, 2))
    assert _kind(lambda t: rs(tf.gather(t, [2])), x) == ("IndexedSlices", [2], [1, 2], [3, 2])
    # dense: another use on the way, another axis, batch dims, slicing, an op before
    assert _kind(lambda v: rs(tf.gather(v, [1])) + rs(v)) == "Tensor"
    assert _kind(lambda v: rs(tf.gather(v, [1], axis=1))) == "Tensor"
    assert _kind(lambda v: rs(tf.gather(v, [[1], [0], [2], [0]], batch_dims=1, axis=1))) == "Tensor"
    assert _kind(lambda v: rs(v[1])) == "Tensor"
    assert _kind(lambda v: rs(tf.gather(v * 1, [1]))) == "Tensor"


def test_values_and_densified_gradient_match_tf():
    v = _table()
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(tf.gather(v, [2, 0]) ** 2)
    g = tape.gradient(y, v)
    assert g.indices.dtype == tf.int32 and g.dense_shape.dtype == tf.int32
    np.testing.assert_array_equal(g.values.numpy(), [[12, 14, 16], [0, 2, 4]])
    dense = tf.convert_to_tensor(g)
    np.testing.assert_array_equal(dense.numpy(), [[0, 2, 4], [0, 0, 0], [12, 14, 16], [0, 0, 0]])
    assert dense.dtype == tf.float64
    assert g.dtype == tf.float64 and g.shape == (4, 3)
    assert str(g).startswith("IndexedSlices(indices=tapegrad.Tensor([2 0]")
    np.testing.assert_array_equal((-g).values.numpy(), -g.values.numpy())
    with pytest.raises(TypeError):
        g * 2  # noqa: B018 - TF has no arithmetic on IndexedSlices
    # duplicates add when densified
    s = tf.IndexedSlices(
        tf.constant([[1.0, 2.0], [3.0, 4.0]]), tf.constant([1, 1]), tf.constant([3, 2])
    )
    np.testing.assert_array_equal(tf.convert_to_tensor(s).numpy(), [[0, 0], [4, 6], [0, 0]])
    with pytest.raises(ValueError, match="without dense_shape"):
        tf.convert_to_tensor(tf.IndexedSlices(tf.constant([[1.0]]), tf.constant([0])))


def test_structure_unconnected_and_persistent_tapes():
    v = _table()
    w = tf.Variable([1.0, 2.0])
    with tf.GradientTape(persistent=True) as tape:
        y = tf.reduce_sum(tf.gather(v, [2]))
    assert isinstance(tape.gradient(y, v, unconnected_gradients="zero"), tf.IndexedSlices)
    gv, gw = tape.gradient(y, [v, w])
    assert isinstance(gv, tf.IndexedSlices) and gw is None
    assert isinstance(tape.gradient(y, {"a": v})["a"], tf.IndexedSlices)
    g = tape.gradient(y, v, output_gradients=tf.constant(2.0, tf.float64))
    np.testing.assert_array_equal(g.values.numpy(), [[2, 2, 2]])
    # the jacobian stays dense, as in TF
    with tf.GradientTape() as tape:
        y = tf.gather(v, [2])
    assert type(tape.jacobian(y, v)) is tf.Tensor


def test_clipping_keeps_indexed_slices():
    v = _table()
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(tf.gather(v, [2, 0]) ** 2)
    g = tape.gradient(y, v)
    clipped, norm = tf.clip_by_global_norm([g, tf.constant([3.0, 4.0], tf.float64)], 1.0)
    assert isinstance(clipped[0], tf.IndexedSlices)
    np.testing.assert_allclose(norm.numpy(), 25.317977802344327)
    np.testing.assert_allclose(
        clipped[0].values.numpy()[0], [0.4739715, 0.55296675, 0.631962], rtol=1e-6
    )
    c = tf.clip_by_norm(g, 1.0)
    assert isinstance(c, tf.IndexedSlices)
    np.testing.assert_allclose(c.values.numpy()[0], [0.48349378, 0.56407607, 0.64465837], rtol=1e-6)


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (
            lambda: tf.keras.optimizers.SGD(0.1),
            [[0.9, 0.8], [0.9, 0.8], [1, 1], [0.8, 0.6], [1, 1]],
        ),
        (
            lambda: tf.keras.optimizers.SGD(0.1, momentum=0.9),
            [[0.9, 0.8], [0.81, 0.62], [1, 1], [0.71, 0.42], [1, 1]],
        ),
        (
            lambda: tf.keras.optimizers.Adam(0.1),
            [[0.925587, 0.925587], [0.832996, 0.832996], [1, 1], [0.800002, 0.800002], [1, 1]],
        ),
        (
            lambda: tf.keras.optimizers.RMSprop(0.1),
            [[0.683772, 0.683772], [0.683772, 0.683772], [1, 1], [0.454357, 0.454357], [1, 1]],
        ),
        (
            lambda: tf.keras.optimizers.Adagrad(0.1),
            [[0.904654, 0.901227], [0.904654, 0.901227], [1, 1], [0.835647, 0.830954], [1, 1]],
        ),
    ],
)
def test_optimizers_apply_indexed_slices_as_keras_3(make, expected):
    # Keras 3.15 updates with sparse gradients as with their dense sums: a
    # row touched only in step 1 keeps moving in step 2 under momentum
    # (duplicate indices differ for second moments: docs/compat.md)
    opt = make()
    e = tf.Variable(np.ones((5, 2)), dtype=tf.float32)
    for idx in ([1, 3], [0, 3]):
        with tf.GradientTape() as tape:
            y = tf.reduce_sum(tf.gather(e, idx) * tf.constant([[1.0, 2.0]]))
        g = tape.gradient(y, e)
        assert isinstance(g, tf.IndexedSlices)
        opt.apply_gradients([(g, e)])
    np.testing.assert_allclose(e.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_sgd_with_duplicate_indices_matches_keras_3():
    opt = tf.keras.optimizers.SGD(0.1, momentum=0.9)
    e = tf.Variable(np.ones((5, 2)), dtype=tf.float32)
    for idx in ([1, 1, 3], [0]):
        with tf.GradientTape() as tape:
            y = tf.reduce_sum(tf.gather(e, idx) * tf.constant([[1.0, 2.0]]))
        opt.apply_gradients([(tape.gradient(y, e), e)])
    np.testing.assert_allclose(
        e.numpy(), [[0.9, 0.8], [0.62, 0.24], [1, 1], [0.81, 0.62], [1, 1]], rtol=1e-5
    )


def test_the_tape_reports_an_indexed_slices_once_its_gathers_are_final():
    # the hook DistributedGradientTape overlaps communication with: a sparse
    # source is reported once, packed from all its gathers, as returned
    v, w = _table(), tf.Variable(np.ones(3))
    events = []
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(tf.gather(v, [2]) * w) + tf.reduce_sum(tf.gather(v, [0, 2]) ** 2)
    tape._on_final = lambda k, g: events.append((k, g))
    gv, gw = tape.gradient(y, [v, w])
    assert sorted(k for k, _ in events) == [0, 1]
    reported = dict(events)
    assert isinstance(reported[0], tf.IndexedSlices)
    assert reported[0].indices.numpy().tolist() == gv.indices.numpy().tolist() == [2, 0, 2]
    np.testing.assert_array_equal(reported[0].values.numpy(), gv.values.numpy())
    np.testing.assert_array_equal(reported[1].numpy(), gw.numpy())
