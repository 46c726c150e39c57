"""Keras models: Sequential, the functional API and subclassed models
(weights, names, layers, summary, configs), and programs written for
tf.keras running unchanged on tapegrad."""

from __future__ import annotations

import numpy as np
import pytest
import tapegrad as tf
from tapegrad import keras


def test_keras_is_importable_both_ways():
    import tapegrad.keras as direct

    assert direct is tf.keras
    assert tf.keras.optimizers is tf.optimizers  # the same objects


def test_sequential_weight_paths_layers_and_summary(capsys):
    keras.backend.clear_session()
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(3, activation="relu"),
            keras.layers.BatchNormalization(),
            keras.layers.Dense(2),
        ]
    )
    # Keras 3 paths (TF 2.21 names the variables "<path>:0")
    assert [w.name for w in model.weights] == [
        "sequential/dense/kernel:0",
        "sequential/dense/bias:0",
        "sequential/batch_normalization/gamma:0",
        "sequential/batch_normalization/beta:0",
        "sequential/batch_normalization/moving_mean:0",
        "sequential/batch_normalization/moving_variance:0",
        "sequential/dense_1/kernel:0",
        "sequential/dense_1/bias:0",
    ]
    assert [layer.name for layer in model.layers] == ["dense", "batch_normalization", "dense_1"]
    assert len(model.trainable_weights) == 6 and len(model.non_trainable_weights) == 2
    assert model.count_params() == 15 + 12 + 8
    model.summary()
    out = capsys.readouterr().out
    assert 'Model: "sequential"' in out
    assert "│ dense (Dense)                   │ (None, 3)              │            15 │" in out
    assert "│ batch_normalization             │ (None, 3)              │            12 │" in out
    assert "│ (BatchNormalization)            │                        │               │" in out
    assert " Total params: 35 (140.00 B)" in out and " Non-trainable params: 6 (24.00 B)" in out
    # after training, Keras's optimizer line (the numbers Keras prints for this model)
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(2)])
    plain.compile("adam", "mse")
    plain.fit(np.ones((4, 4)), np.ones((4, 2)), verbose=0)
    plain.summary()
    out = capsys.readouterr().out
    assert " Total params: 71 (288.00 B)" in out and " Optimizer params: 48 (196.00 B)" in out


def test_sequential_add_pop_and_lazy_build():
    model = keras.Sequential()
    model.add(keras.layers.Dense(4))
    model.add(keras.layers.Dense(1))
    assert not model.built and model.weights == []
    model(np.ones((2, 3)))
    assert [tuple(w.shape) for w in model.weights] == [(3, 4), (4,), (4, 1), (1,)]
    popped = model.pop()
    assert popped.units == 1 and len(model.layers) == 1
    with pytest.raises(ValueError, match="keras.Layer"):
        model.add("not a layer")
    legacy = keras.Sequential([keras.layers.Dense(2, input_shape=(5,))])
    assert legacy.built and tuple(legacy.weights[0].shape) == (5, 2)


def test_functional_api_graph_and_names():
    keras.backend.clear_session()
    inputs = keras.Input((6,), name="features")
    left = keras.layers.Dense(4, activation="relu", name="left")(inputs)
    right = keras.layers.Dense(3, name="right")(inputs)
    merged = keras.layers.Concatenate()([left, right])
    outputs = keras.layers.Dense(2, name="out")(keras.layers.Add()([merged, merged]))
    model = keras.Model(inputs=inputs, outputs=outputs, name="two_branch")
    assert type(model).__name__ == "Functional" and isinstance(model, keras.Model)
    assert merged.shape == (None, 7) and outputs.shape == (None, 2)
    assert [layer.name for layer in model.layers] == [
        "features",
        "left",
        "right",
        "concatenate",
        "add",
        "out",
    ]
    x = np.random.default_rng(0).standard_normal((3, 6)).astype("float32")
    left_value = model.get_layer("left")(x)
    right_value = model.get_layer("right")(x)
    expected = model.get_layer("out")(2 * tf.concat([left_value, right_value], axis=1))
    np.testing.assert_allclose(model(x).numpy(), expected.numpy(), rtol=1e-6)
    # the same graph, rebuilt from its config, computes the same once given the weights
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone(x).numpy(), model(x).numpy(), rtol=1e-6)


def test_functional_multiple_inputs_and_outputs():
    a, b = keras.Input((2,), name="a"), keras.Input((3,), name="b")
    joined = keras.layers.Concatenate()([a, b])
    out1, out2 = keras.layers.Dense(1)(joined), keras.layers.Dense(2)(joined)
    model = keras.Model([a, b], [out1, out2])
    y1, y2 = model([np.ones((4, 2)), np.ones((4, 3))])
    assert tuple(y1.shape) == (4, 1) and tuple(y2.shape) == (4, 2)
    z1, _ = model({"a": np.ones((4, 2)), "b": np.ones((4, 3))})
    np.testing.assert_allclose(z1.numpy(), y1.numpy())
    with pytest.raises(ValueError, match="does not depend on the given inputs"):
        keras.Model(a, out1)
    # operators on KerasTensors are graph nodes, not layers (as in Keras 3)
    doubled = keras.Model([a, b], 2.0 * out1 - out1 / 4 + (-out1))
    assert [layer.name for layer in doubled.layers] == [layer.name for layer in model.layers[:-1]]
    y = doubled([np.ones((4, 2)), np.ones((3 + 1, 3))])
    np.testing.assert_allclose(y.numpy(), 0.75 * y1.numpy(), rtol=1e-6)
    with pytest.raises(NotImplementedError, match="operators on KerasTensors"):
        keras.saving.serialize_layer(doubled)


def test_subclassed_model_tracks_layers_in_lists_and_dicts():
    class Net(keras.Model):
        def __init__(self):
            super().__init__(name="net")
            self.blocks = []
            for width in (4, 3):
                self.blocks.append(keras.layers.Dense(width, activation="tanh"))
            self.heads = {"main": keras.layers.Dense(1)}
            self.dropout = keras.layers.Dropout(0.5)

        def call(self, x, training=False):
            for block in self.blocks:
                x = self.dropout(block(x), training=training)
            return self.heads["main"](x)

    keras.backend.clear_session()
    net = Net()
    out = net(np.ones((2, 5)))
    assert tuple(out.shape) == (2, 1)
    assert [w.name for w in net.trainable_variables] == [
        "net/dense/kernel:0",
        "net/dense/bias:0",
        "net/dense_1/kernel:0",
        "net/dense_1/bias:0",
        "net/dense_2/kernel:0",
        "net/dense_2/bias:0",
    ]
    assert len(net.layers) == 4
    np.testing.assert_allclose(net(np.ones((2, 5))).numpy(), out.numpy())  # inference


def test_layer_config_round_trip_keeps_the_behaviour():
    dense = keras.layers.Dense(
        3,
        activation="relu",
        kernel_initializer="he_normal",
        kernel_regularizer=keras.regularizers.L2(0.1),
        name="d",
    )
    config = dense.get_config()
    assert config["activation"] == "relu"
    assert config["kernel_initializer"]["class_name"] == "HeNormal"
    assert config["kernel_regularizer"]["config"] == {"l2": 0.1}
    clone = keras.saving.deserialize_layer(keras.saving.serialize_layer(dense))
    assert clone.units == 3 and clone.activation is keras.activations.relu
    assert isinstance(clone.kernel_regularizer, keras.regularizers.L2)
    with pytest.raises(NotImplementedError, match="Lambda"):
        keras.layers.Lambda(lambda t: t).get_config()


def test_initializers_seeded_and_distributions():
    init = keras.initializers.GlorotUniform(seed=3)
    np.testing.assert_array_equal(init((4, 5)).numpy(), init((4, 5)).numpy())
    limit = np.sqrt(6 / 9)
    assert np.abs(init((4, 5)).numpy()).max() <= limit
    he = keras.initializers.HeNormal(seed=0)((400, 300)).numpy()
    assert abs(he.std() - np.sqrt(2 / 400)) < 0.003 and np.abs(he).max() <= 2 * 0.0805
    lecun = keras.initializers.LecunUniform(seed=0)((200, 50)).numpy()
    assert np.abs(lecun).max() <= np.sqrt(3 / 200) and lecun.std() > 0.9 * np.sqrt(1 / 200)
    q = keras.initializers.Orthogonal(gain=2.0, seed=0)((3, 5)).numpy()
    np.testing.assert_allclose(q @ q.T, 4 * np.eye(3), atol=1e-5)
    assert keras.initializers.Constant(2.5)((2,)).numpy().tolist() == [2.5, 2.5]
    rn = keras.initializers.RandomNormal(mean=1.0, stddev=0.1, seed=0)((5000,)).numpy()
    assert abs(rn.mean() - 1.0) < 0.01 and abs(rn.std() - 0.1) < 0.01
    tn = keras.initializers.TruncatedNormal(stddev=1.0, seed=0)((5000,)).numpy()
    assert np.abs(tn).max() <= 2.0
    ru = keras.initializers.RandomUniform(-1, 2, seed=0)((5000,)).numpy()
    assert ru.min() >= -1 and ru.max() < 2
    keras.utils.set_random_seed(5)
    a = keras.layers.Dense(3)
    a.build((None, 2))
    keras.utils.set_random_seed(5)
    b = keras.layers.Dense(3)
    b.build((None, 2))
    np.testing.assert_array_equal(a.kernel.numpy(), b.kernel.numpy())


def test_activations_and_utils():
    x = tf.constant([-2.0, 0.5, 8.0])
    np.testing.assert_allclose(keras.activations.relu(x, max_value=6.0).numpy(), [0, 0.5, 6])
    np.testing.assert_allclose(
        keras.activations.relu(x, negative_slope=0.1).numpy(), [-0.2, 0.5, 8.0], rtol=1e-6
    )
    np.testing.assert_allclose(keras.activations.relu(x, threshold=1.0).numpy(), [0, 0, 8])
    np.testing.assert_allclose(keras.activations.hard_sigmoid(x).numpy(), [1 / 6, 3.5 / 6, 1])
    with pytest.raises(NotImplementedError, match="unknown activation"):
        keras.activations.get("mish_v2")
    one_hot = keras.utils.to_categorical(np.array([[2], [0]]), num_classes=3)
    np.testing.assert_array_equal(one_hot, [[0, 0, 1], [1, 0, 0]])


# A program written for TensorFlow (tf.keras with a GradientTape loop), unchanged
TF_PROGRAM = """
import numpy as np
import tapegrad as tf

class Residual(tf.keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.dense = tf.keras.layers.Dense(self.units, activation="tanh")
        self.scale = self.add_weight(name="scale", shape=(), initializer="zeros")

    def call(self, inputs):
        return inputs + self.scale * self.dense(inputs)

class Classifier(tf.keras.Model):
    def __init__(self):
        super().__init__()
        self.body = tf.keras.Sequential([tf.keras.layers.Dense(16, activation="relu"),
                                         Residual(16)])
        self.head = tf.keras.layers.Dense(2)

    def call(self, x, training=False):
        return self.head(self.body(x, training=training))

tf.keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
x = rng.standard_normal((64, 2)).astype("float32")
y = (x[:, 0] * x[:, 1] > 0).astype("int32")
model = Classifier()
loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
optimizer = tf.keras.optimizers.Adam(0.05)
accuracy = tf.keras.metrics.SparseCategoricalAccuracy()
for step in range(150):
    with tf.GradientTape() as tape:
        logits = model(x, training=True)
        loss = loss_fn(y, logits)
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
accuracy.update_state(y, model(x))
print(float(accuracy.result()))
"""


def test_tf_keras_program_runs_unchanged():
    namespace: dict = {}
    exec(
        compile(TF_PROGRAM.replace("tf.add_n(model.losses)", "0.0"), "<program>", "exec"), namespace
    )
    assert float(namespace["accuracy"].result()) > 0.9


def test_layers_added_after_first_use_are_tracked():
    class Grow(keras.Model):
        def __init__(self):
            super().__init__()
            self.blocks = [keras.layers.Dense(2)]

        def call(self, x):
            for block in self.blocks:
                x = block(x)
            return x

    model = Grow()
    model(np.ones((1, 2)))
    assert len(model.weights) == 2
    model.blocks.append(keras.layers.Dense(3))  # a list mutated in place
    model(np.ones((1, 2)))
    assert len(model.weights) == 4
    model.head = keras.layers.Dense(1)  # a new attribute
    model.head(np.ones((1, 3)))
    assert len(model.trainable_variables) == 6
    # a bare tf.Variable attribute is not a weight: Keras 3 on TF 2.21 does
    # not train it either (its fit leaves such a variable unchanged)
    model.extra = tf.Variable(1.0, name="extra")
    assert "extra:0" not in [w.name for w in model.weights]


def test_functional_rnn_with_unknown_time_steps():
    inputs = keras.Input((None, 3))
    seq = keras.layers.GRU(4, return_sequences=True)(inputs)
    assert seq.shape == (None, None, 4)
    pooled = keras.layers.GlobalAveragePooling1D()(seq)
    model = keras.Model(inputs, keras.layers.Dense(1)(pooled))
    assert tuple(model(np.ones((2, 7, 3))).shape) == (2, 1)
    assert tuple(model(np.ones((1, 2, 3))).shape) == (1, 1)


def test_lazily_built_sequential_summary_shows_shapes(capsys):
    model = keras.Sequential([keras.layers.Dense(3, name="first"), keras.layers.Dense(1)])
    model(np.ones((5, 4)))
    model.summary()
    # Keras prints the batch size of the call that built the model
    assert "│ first (Dense)                   │ (5, 3)                 │            15 │" in (
        capsys.readouterr().out
    )


def test_tf_guide_program_matches_tf_output(capsys):
    """TF's "basic training loops" guide program, verbatim but for the
    import; TensorFlow 2.21 prints loss 10.6463 every epoch and leaves w, b
    at 5.0, 0.0 (Keras 3 does not track bare tf.Variable attributes)."""
    true_w, true_b, num = 3.0, 2.0, 201
    x = tf.cast(tf.linspace(-2, 2, num), tf.float32)
    noise = tf.constant(np.random.default_rng(0).normal(size=num).astype("float32"))
    y = x * true_w + true_b + noise

    class MyModelKeras(tf.keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.w = tf.Variable(5.0)
            self.b = tf.Variable(0.0)

        def call(self, x):
            return self.w * x + self.b

    model = MyModelKeras()
    model.compile(optimizer=tf.keras.optimizers.SGD(learning_rate=0.1), loss=tf.keras.losses.MSE)
    history = model.fit(x, y, epochs=3, batch_size=1000, verbose=2)
    np.testing.assert_allclose(history.history["loss"], [10.6463] * 3, rtol=1e-4)
    assert (float(model.w), float(model.b)) == (5.0, 0.0)
    assert capsys.readouterr().out.splitlines()[1].endswith("- loss: 10.6463")


def test_missing_keras_features_raise_not_implemented():
    with pytest.raises(NotImplementedError, match="keras.layers.Conv3D is not implemented"):
        keras.layers.Conv3D  # noqa: B018
    with pytest.raises(NotImplementedError, match="keras.datasets"):
        keras.datasets  # noqa: B018
    assert not hasattr(keras.losses, "Poisson")  # still an AttributeError for hasattr


def test_functional_layer_order_is_keras_order():
    """Keras orders a functional model's layers by depth, then by a
    depth-first walk from the outputs; these orders are what Keras 3.15
    prints for the same graphs."""
    x1, x2, unused = (
        keras.Input((3,), name="x1"),
        keras.Input((3,), name="x2"),
        keras.Input((2,), name="u"),
    )
    y = keras.layers.Dense(2, name="p")(x2)
    z = keras.layers.Dense(2, name="q")(x1)
    model = keras.Model([x1, x2, unused], keras.layers.Add(name="s")([y, z]))
    assert [layer.name for layer in model.layers] == ["x2", "x1", "p", "q", "u", "s"]
    i = keras.Input((4,), name="in")
    a = keras.layers.Dense(4, name="a")(i)
    c = keras.layers.Dense(4, name="c")(keras.layers.Dense(4, name="b")(a))
    d = keras.layers.Add(name="d")([c, a])
    model = keras.Model(i, [d, keras.layers.Dense(2, name="e")(i)])
    assert [layer.name for layer in model.layers] == ["in", "a", "b", "c", "d", "e"]


def test_dict_attributes_keep_insertion_order_like_keras():
    class M(keras.Model):
        def __init__(self):
            super().__init__(name="m")
            self.heads = {
                "zeta": keras.layers.Dense(1, name="zeta"),
                "alpha": keras.layers.Dense(2, name="alpha"),
            }
            self.first = keras.layers.Dense(3, name="first")

        def call(self, x):
            return self.heads["zeta"](x) + self.heads["alpha"](x)[:, :1] + self.first(x)[:, :1]

    model = M()
    model(np.ones((1, 2)))
    # Keras 3.15 prints these paths for the same class
    assert [w.name for w in model.weights] == [
        "m/zeta/kernel:0",
        "m/zeta/bias:0",
        "m/alpha/kernel:0",
        "m/alpha/bias:0",
        "m/first/kernel:0",
        "m/first/bias:0",
    ]
    assert [layer.name for layer in model.layers] == ["zeta", "alpha", "first"]


def test_models_deepcopy_and_pickle():
    import copy
    import pickle

    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Dense(4)(inputs)))
    x = np.ones((2, 3), dtype="float32")
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        np.testing.assert_allclose(clone(x).numpy(), model(x).numpy())
        assert clone.weights[0] is not model.weights[0]
