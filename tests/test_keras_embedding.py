"""keras.layers.Embedding's gradient is an IndexedSlices exactly where TF's
is, and everything that consumes gradients takes it: fit, train_on_batch,
optimizers, clipping, tf.function, the distributed tape (answers recorded
from TF 2.21 + Keras 3.15 by fixtures/keras/record_embedding.py)."""

import json
from pathlib import Path

import numpy as np
import pytest
import tapegrad as tf
import tapegrad.distribute as hvd
from _helpers import numeric_grad

keras = tf.keras
TF = json.loads((Path(__file__).parent / "fixtures" / "keras" / "embedding.json").read_text())
TABLE = np.array(TF["table"], dtype=np.float32)
VOCAB, DIM = TABLE.shape


def embedding(dtype="float32", **kwargs):
    return keras.layers.Embedding(
        VOCAB,
        DIM,
        embeddings_initializer=keras.initializers.Constant(TABLE),
        dtype=dtype,
        **kwargs,
    )


def model():
    kernel = np.array(TF["kernel"], dtype=np.float32)
    return keras.Sequential(
        [
            keras.Input((2,), dtype="int32"),
            embedding(),
            keras.layers.Flatten(),
            keras.layers.Dense(2, kernel_initializer=keras.initializers.Constant(kernel)),
        ]
    )


def assert_like_tf(got, expected, rtol=1e-6):
    """``got`` has TF's type, and for an IndexedSlices TF's indices, dtypes
    and dense_shape; the values agree to ``rtol``."""
    if expected["type"] == "IndexedSlices":
        assert isinstance(got, tf.IndexedSlices), type(got)
        assert got.indices.numpy().tolist() == expected["indices"]
        assert got.indices.dtype.name == expected["indices_dtype"]
        assert got.dense_shape.numpy().tolist() == expected["dense_shape"]
        assert got.dense_shape.dtype.name == expected["dense_shape_dtype"]
        np.testing.assert_allclose(got.values.numpy(), expected["values"], rtol=rtol, atol=1e-7)
    else:
        assert type(got) is tf.Tensor, type(got)
        np.testing.assert_allclose(got.numpy(), expected["values"], rtol=rtol, atol=1e-7)


@pytest.mark.parametrize(
    ("case", "ids", "dtype"),
    [
        ("ids_1d", [1, 3, 1], tf.int32),
        ("ids_2d", [[1, 2], [0, 1]], tf.int32),
        ("ids_int64", [[4, 0]], tf.int64),
        ("ids_float", [[4.0, 0.0]], tf.float32),
    ],
)
def test_gradient_is_tf_indexed_slices(case, ids, dtype):
    layer = embedding()
    with tf.GradientTape() as tape:
        rows = layer(tf.constant(ids, dtype=dtype))
        loss = tf.reduce_sum(rows * rows)
    assert_like_tf(tape.gradient(loss, layer.trainable_variables)[0], TF["gradients"][case])


def test_mask_zero_gives_tf_the_same_gradient_but_is_refused():
    # TF: mask_zero only adds a mask for the next layers; the gradient is
    # the same IndexedSlices. tapegrad has no masks (docs/compat.md).
    assert TF["gradients"]["ids_2d_mask_zero"] == TF["gradients"]["ids_2d"]
    with pytest.raises(NotImplementedError, match="mask_zero"):
        embedding(mask_zero=True)


def test_several_calls_concatenate_and_a_dense_use_densifies():
    layer = embedding()
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(tf.constant([2]))) + tf.reduce_sum(
            layer(tf.constant([3, 2]) * 2)
        )
    assert_like_tf(tape.gradient(loss, layer.embeddings), TF["gradients"]["called_twice"])
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(tf.constant([2]))) + tf.reduce_sum(layer.embeddings * 0.5)
    assert_like_tf(tape.gradient(loss, layer.embeddings), TF["gradients"]["plus_dense_use"])
    # the regularizer reads the whole table: dense, as in TF
    layer = embedding(embeddings_regularizer=keras.regularizers.L2(0.01))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(tf.constant([2, 5]))) + tf.add_n(layer.losses)
    assert_like_tf(tape.gradient(loss, layer.embeddings), TF["gradients"]["regularized"])


def test_sequential_model_gradients():
    m = model()
    x = tf.constant(np.array(TF["x_repeated"][:3], dtype=np.int32))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(m(x) ** 2)
    grads = tape.gradient(loss, m.trainable_variables)
    for got, expected in zip(grads, TF["gradients"]["sequential"], strict=True):
        assert_like_tf(got, expected, rtol=1e-5)


def test_densified_gradient_matches_central_differences_float64():
    rng = np.random.default_rng(0)
    layer = embedding(dtype="float64")
    ids = tf.constant([[0, 3, 3], [5, 0, 1]])
    layer(ids)
    layer.embeddings.assign(rng.normal(size=(VOCAB, DIM)))
    w = tf.constant(rng.normal(size=(2, 3, DIM)))

    def loss():
        return tf.reduce_sum(tf.sin(layer(ids)) * w)

    with tf.GradientTape() as tape:
        value = loss()
    grad = tape.gradient(value, layer.embeddings)
    assert isinstance(grad, tf.IndexedSlices) and grad.dtype == tf.float64
    original = layer.embeddings.numpy()

    def at(table):
        layer.embeddings.assign(table)
        return float(loss())

    expected = numeric_grad(at, original)
    layer.embeddings.assign(original)
    np.testing.assert_allclose(tf.convert_to_tensor(grad).numpy(), expected, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize(
    ("case", "make"),
    [
        ("sgd_unique", lambda: keras.optimizers.SGD(0.1)),
        ("sgd_repeated", lambda: keras.optimizers.SGD(0.1)),
        ("sgd_momentum_unique", lambda: keras.optimizers.SGD(0.1, momentum=0.9)),
        ("sgd_momentum_repeated", lambda: keras.optimizers.SGD(0.1, momentum=0.9)),
        ("adam_unique", lambda: keras.optimizers.Adam(0.05)),
        ("rmsprop_unique", lambda: keras.optimizers.RMSprop(0.05)),
        # distinct ids per batch: with repeated ids Keras clips each
        # occurrence, tapegrad the summed row (docs/compat.md)
        ("sgd_clipnorm_unique", lambda: keras.optimizers.SGD(0.1, clipnorm=0.1)),
        ("sgd_global_clipnorm_unique", lambda: keras.optimizers.SGD(0.1, global_clipnorm=0.1)),
        ("sgd_clipvalue_unique", lambda: keras.optimizers.SGD(0.1, clipvalue=0.01)),
    ],
)
def test_fit_trains_as_keras(case, make):
    m = model()
    m.compile(make(), "mse")
    x = np.array(TF["x_unique" if case.endswith("unique") else "x_repeated"], dtype=np.int32)
    y = np.array(TF["y"], dtype=np.float32)
    history = m.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0)
    expected = TF["fit"][case]
    np.testing.assert_allclose(history.history["loss"], expected["loss"], rtol=1e-5)
    # float32 rounding, compounded over six steps (Adam's sqrt and division)
    for got, want in zip(m.get_weights(), expected["weights"], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_train_on_batch_as_keras():
    m = model()
    m.compile(keras.optimizers.Adam(0.05), "mse")
    x = np.array(TF["x_unique"], dtype=np.int32)
    y = np.array(TF["y"], dtype=np.float32)
    losses = [float(m.train_on_batch(x[i : i + 4], y[i : i + 4])) for i in (0, 4, 0)]
    expected = TF["fit"]["train_on_batch_adam"]
    np.testing.assert_allclose(losses, expected["loss"], rtol=1e-5)
    for got, want in zip(m.get_weights(), expected["weights"], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_clip_by_global_norm_as_tf():
    m = model()
    x = tf.constant(np.array(TF["x_repeated"], dtype=np.int32))
    y = tf.constant(np.array(TF["y"], dtype=np.float32))
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean((m(x) - y) ** 2)
    clipped, norm = tf.clip_by_global_norm(tape.gradient(loss, m.trainable_variables), 0.5)
    expected = TF["clip_by_global_norm"]
    np.testing.assert_allclose(float(norm), expected["norm"], rtol=1e-6)
    for got, want in zip(clipped, expected["clipped"], strict=True):
        assert_like_tf(got, want, rtol=1e-5)


def test_tf_function_replays_the_sparse_gradient():
    layer = embedding()
    layer.build(None)
    opt = keras.optimizers.Adam(0.1)

    @tf.function
    def gradient(ids):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(ids) ** 2)
        return tape.gradient(loss, layer.embeddings)

    @tf.function
    def step(ids):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(ids) ** 2)
        grads = tape.gradient(loss, layer.trainable_variables)
        opt.apply_gradients(zip(grads, layer.trainable_variables, strict=True))
        return loss

    ids = tf.constant([[1, 2], [2, 4]])
    eager_table = tf.Variable(TABLE)
    eager_opt = keras.optimizers.Adam(0.1)
    for _ in range(3):
        step(ids)
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.gather(eager_table, ids) ** 2)
        eager_opt.apply_gradients([(tape.gradient(loss, eager_table), eager_table)])
        # a replayed gradient is rebuilt from the replay's tensors
        replayed = gradient(tf.constant([1, 4]))
        assert isinstance(replayed, tf.IndexedSlices)
        assert replayed.indices.numpy().tolist() == [1, 4]
        np.testing.assert_allclose(
            replayed.values.numpy(), 2 * layer.embeddings.numpy()[[1, 4]], rtol=1e-6
        )
    assert step.experimental_get_tracing_count() == 1
    assert gradient.experimental_get_tracing_count() == 1
    np.testing.assert_allclose(layer.embeddings.numpy(), eager_table.numpy(), rtol=1e-6)


def test_distributed_tape_and_optimizer_on_one_process():
    hvd.init()
    layer = embedding()
    ids = tf.constant([[1, 2], [2, 4]])
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(ids))
    sparse = hvd.DistributedGradientTape(tape).gradient(loss, layer.embeddings)
    # Horovod skips the reduction on one process: the IndexedSlices as it is
    assert isinstance(sparse, tf.IndexedSlices)
    assert sparse.indices.numpy().tolist() == [1, 2, 2, 4]
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(ids))
    dense = hvd.DistributedGradientTape(tape, sparse_as_dense=True).gradient(
        loss, layer.embeddings
    )
    assert type(dense) is tf.Tensor
    np.testing.assert_array_equal(dense.numpy(), tf.convert_to_tensor(sparse).numpy())
    # hvd.allreduce of an IndexedSlices: allgathers of values and indices
    reduced = hvd.allreduce(sparse, op=hvd.Sum)
    assert isinstance(reduced, tf.IndexedSlices)
    np.testing.assert_array_equal(reduced.values.numpy(), sparse.values.numpy())
    with pytest.raises(tf.errors.UnimplementedError, match="IndexedSlices"):
        hvd.allreduce(sparse, op=hvd.Max)
    with pytest.raises(NotImplementedError, match="prescale_factor"):
        hvd.allreduce(sparse, prescale_factor=2.0)  # Horovod's NotImplementedError
    dense_sum, sparse_sum = hvd.grouped_allreduce([tf.ones(2), sparse], op=hvd.Sum)
    assert type(dense_sum) is tf.Tensor and isinstance(sparse_sum, tf.IndexedSlices)
    np.testing.assert_array_equal(sparse_sum.indices.numpy(), sparse.indices.numpy())
    m = model()
    m.compile(hvd.DistributedOptimizer(keras.optimizers.SGD(0.1)), "mse")
    x = np.array(TF["x_repeated"], dtype=np.int32)
    y = np.array(TF["y"], dtype=np.float32)
    m.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0)
    for got, want in zip(m.get_weights(), TF["fit"]["sgd_repeated"]["weights"], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_gradient_through_a_tf_function_forward_is_indexed_slices_on_every_call():
    # TF: a gather inside a tf.function still gives IndexedSlices to an
    # outer tape; here the plan returns its gathers' outputs and indices so
    # a replay remembers them as the traced run did
    m = model()
    forward = tf.function(lambda ids: tf.reduce_sum(m(ids) ** 2))
    x = np.array(TF["x_repeated"], dtype=np.int32)
    for start in (0, 3, 5):  # the first call traces, the others replay
        ids = tf.constant(x[start : start + 3])
        with tf.GradientTape() as tape:
            loss = forward(ids)
        got = tape.gradient(loss, m.trainable_variables)
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(m(ids) ** 2)
        eager = tape.gradient(loss, m.trainable_variables)
        assert isinstance(got[0], tf.IndexedSlices)
        assert got[0].indices.numpy().tolist() == x[start : start + 3].reshape(-1).tolist()
        for g, e in zip(got, eager, strict=True):
            np.testing.assert_allclose(
                tf.convert_to_tensor(g).numpy(), tf.convert_to_tensor(e).numpy(), rtol=1e-6
            )
    assert forward.experimental_get_tracing_count() == 1
    # with no tape recording, the replay returns just the result
    np.testing.assert_allclose(
        float(forward(tf.constant(x[:3]))), float(tf.reduce_sum(m(x[:3]) ** 2)), rtol=1e-6
    )


def test_a_function_traced_without_a_tape_replays_sparse_gradients_under_one():
    layer = embedding()
    layer.build(None)
    lookup = tf.function(lambda ids: tf.reduce_sum(layer(ids)))
    lookup(tf.constant([0, 1]))  # traced with no tape recording
    with tf.GradientTape() as tape:
        loss = lookup(tf.constant([4, 4]))
    g = tape.gradient(loss, layer.embeddings)
    assert isinstance(g, tf.IndexedSlices)
    assert g.indices.numpy().tolist() == [4, 4]
    np.testing.assert_array_equal(g.values.numpy(), np.ones((2, DIM)))
    assert lookup.experimental_get_tracing_count() == 1


def test_a_loaded_saved_model_gives_indexed_slices_as_tf(tmp_path):
    # TF 2.21: the gradient through a loaded function's gather w.r.t. the
    # loaded variable is an IndexedSlices
    module = tf.Module()
    module.layer = embedding()
    module.layer.build(None)
    module.lookup = tf.function(
        lambda ids: tf.reduce_sum(module.layer(ids) ** 2),
        input_signature=[tf.TensorSpec([None], tf.int32)],
    )
    tf.saved_model.save(module, str(tmp_path))
    loaded = tf.saved_model.load(str(tmp_path))
    table = loaded.layer.embeddings
    with tf.GradientTape() as tape:
        loss = loaded.lookup(tf.constant([5, 1, 5]))
    g = tape.gradient(loss, table)
    assert isinstance(g, tf.IndexedSlices)
    assert g.indices.numpy().tolist() == [5, 1, 5]
    np.testing.assert_allclose(g.values.numpy(), 2 * TABLE[[5, 1, 5]], rtol=1e-6)
