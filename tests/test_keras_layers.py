"""Keras layers: forward values against outputs recorded from Keras 3
(tests/fixtures/keras/reference.npz, written by make_fixtures.py), and
float64 gradient checks (first order for inputs and weights, second order
for the smooth layers) against central differences."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tapegrad as tf
from _helpers import check_vjp, numeric_grad, projected_grad
from tapegrad import keras

REF = np.load(Path(__file__).parent / "fixtures" / "keras" / "reference.npz")
layers = keras.layers


def weights_of(key: str) -> list[np.ndarray]:
    out = []
    while f"{key}/w{len(out)}" in REF:
        out.append(REF[f"{key}/w{len(out)}"])
    return out


RECORDED = {
    "dense": (lambda: layers.Dense(3, activation="tanh"), {}),
    "dense3d": (lambda: layers.Dense(2), {}),
    "conv2d_valid": (lambda: layers.Conv2D(3, (2, 3), strides=(1, 2)), {}),
    "conv2d_same": (lambda: layers.Conv2D(2, 3, padding="same", dilation_rate=2), {}),
    "conv1d_causal": (lambda: layers.Conv1D(2, 3, padding="causal"), {}),
    "conv1d_same_strided": (lambda: layers.Conv1D(2, 3, strides=2, padding="same"), {}),
    "maxpool_same": (lambda: layers.MaxPooling2D(3, strides=2, padding="same"), {}),
    "avgpool_same": (lambda: layers.AveragePooling2D(3, strides=2, padding="same"), {}),
    "gap2d": (lambda: layers.GlobalAveragePooling2D(), {}),
    "bn_infer": (lambda: layers.BatchNormalization(), {"training": False}),
    "bn_train": (lambda: layers.BatchNormalization(momentum=0.9), {"training": True}),
    "bn_conv_train": (lambda: layers.BatchNormalization(), {"training": True}),
    "layernorm": (lambda: layers.LayerNormalization(), {}),
    "layernorm_axes": (lambda: layers.LayerNormalization(axis=[1, 2]), {}),
    "embedding": (lambda: layers.Embedding(6, 3), {}),
    "simple_rnn": (lambda: layers.SimpleRNN(3, return_sequences=True), {}),
    "lstm": (lambda: layers.LSTM(3, return_state=True), {}),
    "gru": (lambda: layers.GRU(3, return_sequences=True), {}),
    "gru_v1": (lambda: layers.GRU(3, reset_after=False), {}),
    "lstm_backwards": (lambda: layers.LSTM(2, go_backwards=True), {}),
}


@pytest.mark.parametrize("key", sorted(RECORDED))
def test_forward_matches_keras(key):
    make, call_kwargs = RECORDED[key]
    layer = make()
    x = REF[f"{key}/x"]
    layer(x, **call_kwargs)
    layer.set_weights(weights_of(key))
    out = layer(x, **call_kwargs)
    if isinstance(out, list):
        for i, o in enumerate(out):
            np.testing.assert_allclose(o.numpy(), REF[f"{key}/y{i}"], rtol=2e-5, atol=2e-6)
    else:
        np.testing.assert_allclose(out.numpy(), REF[f"{key}/y"], rtol=2e-5, atol=2e-6)


def test_batchnorm_moving_statistics_match_keras():
    bn = layers.BatchNormalization(momentum=0.9)
    bn(REF["bn_moving/x"], training=True)
    np.testing.assert_allclose(bn.moving_mean.numpy(), REF["bn_moving/mean"], rtol=1e-6)
    np.testing.assert_allclose(bn.moving_variance.numpy(), REF["bn_moving/var"], rtol=1e-6)
    assert not bn.moving_mean.trainable and not bn.moving_variance.trainable
    assert [w.name.split("/")[-1] for w in bn.trainable_weights] == ["gamma:0", "beta:0"]


def test_frozen_batchnorm_runs_in_inference_mode():
    bn = layers.BatchNormalization()
    x = np.arange(6, dtype="float32").reshape(3, 2)
    bn(x)
    bn.trainable = False
    out = bn(x, training=True)
    np.testing.assert_allclose(out.numpy(), x / np.sqrt(1 + 1e-3), rtol=1e-6)
    np.testing.assert_allclose(bn.moving_mean.numpy(), [0.0, 0.0])


# --- gradients ---------------------------------------------------------------------------


def weight_gradient_check(layer, x, call_kwargs, rtol=1e-5, atol=1e-6):
    """Tape gradients of sum(layer(x) * w) for every trainable weight vs
    central differences (the weight perturbed in place)."""
    rng = np.random.default_rng(3)
    out = layer(x, **call_kwargs)
    projection = tf.constant(rng.standard_normal(tuple(out.shape)))
    with tf.GradientTape() as tape:
        s = tf.reduce_sum(layer(x, **call_kwargs) * projection)
    grads = tape.gradient(s, layer.trainable_weights)
    for variable, grad in zip(layer.trainable_weights, grads, strict=True):
        original = variable.numpy().copy()

        def scalar(value, variable=variable):
            variable.assign(value)
            return float(tf.reduce_sum(layer(x, **call_kwargs) * projection))

        expected = numeric_grad(scalar, original)
        variable.assign(original)
        # an IndexedSlices (Embedding's gradient) is checked densified
        dense = tf.convert_to_tensor(grad).numpy()
        np.testing.assert_allclose(dense, expected, rtol=rtol, atol=atol, err_msg=variable.name)


SMOOTH = {
    "dense": (lambda: layers.Dense(3, activation="tanh", dtype="float64"), (4, 5), {}),
    "dense3d": (lambda: layers.Dense(2, activation="sigmoid", dtype="float64"), (2, 3, 4), {}),
    "conv2d": (
        lambda: layers.Conv2D(2, (2, 3), strides=(1, 2), padding="same", dtype="float64"),
        (2, 5, 6, 2),
        {},
    ),
    "conv2d_dilated": (
        lambda: layers.Conv2D(2, 2, dilation_rate=2, dtype="float64"),
        (1, 5, 5, 2),
        {},
    ),
    "conv1d_causal": (
        lambda: layers.Conv1D(2, 3, padding="causal", dtype="float64"),
        (2, 5, 3),
        {},
    ),
    "avgpool": (
        lambda: layers.AveragePooling2D(2, strides=1, padding="same", dtype="float64"),
        (1, 3, 4, 2),
        {},
    ),
    "gap2d": (lambda: layers.GlobalAveragePooling2D(dtype="float64"), (2, 3, 3, 2), {}),
    "gap1d": (lambda: layers.GlobalAveragePooling1D(dtype="float64"), (2, 4, 3), {}),
    "conv1d_strided": (
        lambda: layers.Conv1D(2, 3, strides=2, padding="same", dtype="float64"),
        (2, 7, 3),
        {},
    ),
    "lstm_sequences_backwards": (
        lambda: layers.LSTM(2, return_sequences=True, go_backwards=True, dtype="float64"),
        (2, 3, 2),
        {},
    ),
    "bn_infer": (lambda: layers.BatchNormalization(dtype="float64"), (5, 3), {"training": False}),
    "simple_rnn": (
        lambda: layers.SimpleRNN(3, return_sequences=True, dtype="float64"),
        (2, 3, 2),
        {},
    ),
    "lstm": (lambda: layers.LSTM(2, dtype="float64"), (2, 3, 2), {}),
    "gru": (lambda: layers.GRU(2, dtype="float64"), (2, 3, 2), {}),
    "gru_v1": (lambda: layers.GRU(2, reset_after=False, dtype="float64"), (2, 3, 2), {}),
    "softmax": (lambda: layers.Softmax(dtype="float64"), (2, 4), {}),
    "activation_gelu": (lambda: layers.Activation("gelu", dtype="float64"), (2, 4), {}),
    "reshape": (lambda: layers.Reshape((2, 3), dtype="float64"), (2, 6), {}),
    "flatten": (lambda: layers.Flatten(dtype="float64"), (2, 2, 3), {}),
    "lambda": (lambda: layers.Lambda(lambda t: tf.sin(t) * t, dtype="float64"), (2, 3), {}),
}


def random_weights(layer, rng):
    for w in layer.weights:
        value = rng.standard_normal(tuple(w.shape)) * 0.5
        if w.name.endswith("moving_variance:0"):
            value = np.abs(value) + 0.5
        w.assign(value)


@pytest.mark.parametrize("key", sorted(SMOOTH))
def test_gradients_first_and_second_order(key):
    make, shape, call_kwargs = SMOOTH[key]
    rng = np.random.default_rng(1)
    layer = make()
    x = rng.standard_normal(shape)
    layer(x, **call_kwargs)
    random_weights(layer, rng)

    def f(t):
        return layer(t, **call_kwargs)

    check_vjp(f, [x])
    # a linear layer's gradient does not depend on x: its second derivative is zero
    check_vjp(projected_grad(f, [x]), [x], rtol=1e-4, atol=1e-5, unconnected="zero")
    weight_gradient_check(layer, tf.constant(x), call_kwargs)


def tf_moments_normalize(x, axes, gamma, beta, eps=1e-3):
    """TF's tf.nn.moments (the mean under stop_gradient inside the variance)
    and batch_normalization, composed by hand."""
    mean = tf.reduce_mean(x, axis=axes, keepdims=True)
    variance = tf.reduce_mean(
        tf.squared_difference(x, tf.stop_gradient(mean)), axis=axes, keepdims=True
    )
    inv = tf.math.rsqrt(variance + eps) * gamma
    return x * inv + (beta - mean * inv)


@pytest.mark.parametrize(
    ("make", "shape", "axes", "call_kwargs"),
    [
        (lambda: layers.BatchNormalization(dtype="float64"), (5, 3), [0], {"training": True}),
        (
            lambda: layers.BatchNormalization(dtype="float64"),
            (2, 3, 3, 2),
            [0, 1, 2],
            {"training": True},
        ),
        (lambda: layers.LayerNormalization(dtype="float64"), (3, 4), [1], {}),
    ],
    ids=["bn_train", "bn_train_conv", "layernorm"],
)
def test_normalization_gradients(make, shape, axes, call_kwargs):
    """First order against central differences; second order as TF's: Keras
    normalizes with tf.nn.moments, whose variance holds the mean under
    stop_gradient, so the second derivative drops that path (docs/compat.md)."""
    rng = np.random.default_rng(4)
    layer = make()
    x = rng.standard_normal(shape)
    layer(x, **call_kwargs)
    random_weights(layer, rng)

    def f(t):
        return layer(t, **call_kwargs)

    def reference(t):
        return tf_moments_normalize(t, axes, layer.gamma, layer.beta)

    check_vjp(f, [x])
    np.testing.assert_allclose(
        f(tf.constant(x)).numpy(), reference(tf.constant(x)).numpy(), rtol=1e-12, atol=1e-12
    )
    second = projected_grad(f, [x])(tf.constant(x))
    with tf.GradientTape() as tape:
        t = tf.constant(x)
        tape.watch(t)
        s = projected_grad(f, [x])(t)
    with tf.GradientTape() as ref_tape:
        t_ref = tf.constant(x)
        ref_tape.watch(t_ref)
        s_ref = projected_grad(reference, [x])(t_ref)
    np.testing.assert_allclose(float(second), float(s_ref), rtol=1e-12)
    np.testing.assert_allclose(
        tape.gradient(s, t).numpy(), ref_tape.gradient(s_ref, t_ref).numpy(), rtol=1e-10, atol=1e-12
    )
    weight_gradient_check(layer, tf.constant(x), call_kwargs)


NONSMOOTH = {
    "relu": (lambda: layers.ReLU(max_value=1.5, dtype="float64"), (3, 4)),
    "leaky": (lambda: layers.LeakyReLU(dtype="float64"), (3, 4)),
    "maxpool": (lambda: layers.MaxPooling2D(2, dtype="float64"), (1, 4, 4, 2)),
    "global_maxpool": (lambda: layers.GlobalMaxPooling2D(dtype="float64"), (2, 3, 3, 2)),
    "dense_relu": (lambda: layers.Dense(3, activation="relu", dtype="float64"), (4, 3)),
}


@pytest.mark.parametrize("key", sorted(NONSMOOTH))
def test_gradients_first_order_piecewise(key):
    make, shape = NONSMOOTH[key]
    rng = np.random.default_rng(2)
    layer = make()
    # away from the kinks and ties, where central differences are valid
    x = rng.choice([-1, 1], size=shape) * rng.uniform(0.2, 1.0, size=shape)
    x = x + np.arange(np.prod(shape)).reshape(shape) * 1e-3
    layer(x)
    random_weights(layer, rng)
    check_vjp(lambda t: layer(t), [x])
    weight_gradient_check(layer, tf.constant(x), {})


def test_embedding_gradient_is_a_scatter_of_rows():
    emb = layers.Embedding(5, 2, dtype="float64")
    ids = tf.constant([[0, 3], [3, 1]])
    emb(ids)
    random_weights(emb, np.random.default_rng(0))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(emb(ids))
    assert isinstance(tape.gradient(loss, emb.embeddings), tf.IndexedSlices)
    weight_gradient_check(emb, ids, {})


def test_merging_layers_gradients():
    a, b = np.random.default_rng(0).standard_normal((2, 3, 4))
    f64 = {"dtype": "float64"}
    check_vjp(lambda s, t: layers.Concatenate(axis=1, **f64)([s, t]), [a, b])
    check_vjp(lambda s, t: layers.Add(**f64)([s, t * t]), [a, b])
    check_vjp(projected_grad(lambda s, t: layers.Multiply(**f64)([s, t * s]), [a, b]), [a, b])
    check_vjp(lambda s, t: layers.Subtract(**f64)([s, t * t]), [a, b])
    check_vjp(lambda s, t: layers.Average(**f64)([s, t * s]), [a, b])
    # away from ties: the inputs differ by at least 0.1
    check_vjp(lambda s, t: layers.Maximum(**f64)([s, s + t]), [a, np.sign(b) * (abs(b) + 0.1)])
    check_vjp(lambda s, t: layers.Minimum(**f64)([s, s + t]), [a, np.sign(b) * (abs(b) + 0.1)])


def test_dropout_scales_survivors_and_passes_their_gradient():
    x = tf.constant(np.random.default_rng(0).standard_normal((50, 4)))
    drop = layers.Dropout(0.3, seed=1, dtype="float64")
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = drop(x, training=True)
    grad = tape.gradient(y, x).numpy()
    kept = y.numpy() != 0
    np.testing.assert_allclose(y.numpy()[kept], x.numpy()[kept] / 0.7)
    np.testing.assert_allclose(grad, kept / 0.7)
    assert 0.5 < kept.mean() < 0.9
    np.testing.assert_array_equal(drop(x).numpy(), x.numpy())  # inference: identity


# --- the Layer base -------------------------------------------------------------------------


def test_lazy_build_and_weight_paths():
    keras.backend.clear_session()
    dense = layers.Dense(4)
    assert not dense.built and dense.weights == []
    dense(np.ones((2, 3)))
    assert dense.built
    assert [w.name for w in dense.weights] == ["dense/kernel:0", "dense/bias:0"]
    assert tuple(dense.kernel.shape) == (3, 4)


def test_call_converts_inputs_to_the_layer_dtype():
    out = layers.Dense(2)(np.ones((1, 3), dtype="float64"))
    assert out.dtype == tf.float32
    out64 = layers.Dense(2, dtype="float64")(tf.ones([1, 3]))
    assert out64.dtype == tf.float64


def test_training_argument_propagates_to_inner_layers():
    class Block(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.drop = layers.Dropout(0.99, seed=0)

        def call(self, x):
            return self.drop(x)

    block = Block()
    x = tf.ones([10, 10])
    assert float(tf.reduce_sum(block(x))) == 100.0
    assert float(tf.reduce_sum(tf.cast(block(x, training=True) == 0, tf.float32))) > 50


def test_custom_layer_add_weight_regularizer_and_config():
    class Scale(keras.layers.Layer):
        def __init__(self, factor=1.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def build(self, input_shape):
            self.w = self.add_weight(
                shape=(input_shape[-1],),
                initializer="ones",
                regularizer=keras.regularizers.L1(0.5),
                name="w",
            )
            self.counter = self.add_weight(
                shape=(), initializer="zeros", trainable=False, name="counter"
            )

        def call(self, x):
            self.add_loss(tf.reduce_sum(x) * 0.0 + 1.0)
            return x * self.w * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    layer = Scale(2.0, name="scale")
    out = layer(tf.constant([[1.0, 2.0]]))
    np.testing.assert_allclose(out.numpy(), [[2.0, 4.0]])
    assert [w.name for w in layer.trainable_weights] == ["scale/w:0"]
    assert [w.name for w in layer.non_trainable_weights] == ["scale/counter:0"]
    assert [float(v) for v in layer.losses] == [1.0, 1.0]  # add_loss, then L1(0.5)·|w|
    layer(tf.constant([[1.0, 2.0]]))
    assert len(layer.losses) == 2  # add_loss terms are reset on each call
    clone = Scale.from_config(layer.get_config())
    assert clone.factor == 2.0 and clone.name == "scale"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: layers.Dense(2, kernel_constraint="non_neg"), "kernel_constraint"),
        (lambda: layers.Embedding(3, 2, mask_zero=True), "mask_zero"),
        (lambda: layers.Conv2D(2, 3, groups=2), "groups"),
        (lambda: layers.Conv2D(2, 3, data_format="channels_first"), "channels_first"),
        (lambda: layers.LSTM(2, dropout=0.5), "dropout"),
        (lambda: layers.Dense(2, activity_regularizer="l2"), "activity_regularizer"),
    ],
)
def test_unsupported_options_raise_not_implemented(make, message):
    with pytest.raises(NotImplementedError, match=message):
        make()


def test_rnn_cells_and_states():
    cell = layers.LSTMCell(3)
    rnn = layers.RNN(cell, return_sequences=True, return_state=True)
    seq, h, c = rnn(tf.ones([2, 4, 5]))
    assert tuple(seq.shape) == (2, 4, 3) and tuple(h.shape) == (2, 3) and tuple(c.shape) == (2, 3)
    np.testing.assert_allclose(seq.numpy()[:, -1], h.numpy())
    # the cell called step by step gives the same result
    states = [tf.zeros([2, 3]), tf.zeros([2, 3])]
    for _ in range(4):
        out, states = cell(tf.ones([2, 5]), states)
    np.testing.assert_allclose(out.numpy(), h.numpy(), rtol=1e-6)
    # initial_state
    lstm = layers.LSTM(3)
    first = lstm(tf.ones([2, 4, 5]), initial_state=[h, c])
    assert tuple(first.shape) == (2, 3)
    bias = layers.LSTM(2)
    bias.build((None, 3, 4))
    np.testing.assert_array_equal(bias.cell.bias.numpy(), [0, 0, 1, 1, 0, 0, 0, 0])
