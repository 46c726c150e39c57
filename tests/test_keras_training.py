"""Keras training: losses, metrics, compile/fit/evaluate/predict against
values recorded from Keras 3 (tests/fixtures/keras/reference.npz), the
callbacks, the progress display, and Keras's file formats (files written
by Keras load into tapegrad; tapegrad's files have Keras's layout)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import tapegrad as tf
from tapegrad import keras

FIXTURES = Path(__file__).parent / "fixtures" / "keras"
REF = np.load(FIXTURES / "reference.npz")

LOSSES = {
    "mse": (keras.losses.MeanSquaredError, {}, "reg0", "reg1"),
    "mae": (keras.losses.MeanAbsoluteError, {}, "reg0", "reg1"),
    "huber": (keras.losses.Huber, {"delta": 0.7}, "reg0", "reg1"),
    "scce_logits": (
        keras.losses.SparseCategoricalCrossentropy,
        {"from_logits": True},
        "labels0",
        "logits0",
    ),
    "scce_probs": (keras.losses.SparseCategoricalCrossentropy, {}, "labels0", "probs"),
    "cce_logits": (
        keras.losses.CategoricalCrossentropy,
        {"from_logits": True},
        "onehot",
        "logits0",
    ),
    "cce_probs_smooth": (
        keras.losses.CategoricalCrossentropy,
        {"label_smoothing": 0.1},
        "onehot",
        "probs",
    ),
    "bce_logits": (
        keras.losses.BinaryCrossentropy,
        {"from_logits": True},
        "bin_true",
        "bin_logits",
    ),
    "bce_probs": (keras.losses.BinaryCrossentropy, {}, "bin_true", "bin_probs"),
}


def loss_input(name: str) -> np.ndarray:
    logits = REF["loss_inputs/logits0"]
    if name == "probs":
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True)).astype("float32")
    if name == "onehot":
        return np.eye(5, dtype="float32")[REF["loss_inputs/labels0"]]
    if name == "bin_probs":
        return (1 / (1 + np.exp(-REF["loss_inputs/bin_logits"]))).astype("float32")
    return REF[f"loss_inputs/{name}"]


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "none"])
@pytest.mark.parametrize("key", sorted(LOSSES))
def test_losses_match_keras(key, reduction):
    cls, kwargs, true_name, pred_name = LOSSES[key]
    loss = cls(reduction=reduction, **kwargs)
    y_true, y_pred = loss_input(true_name), loss_input(pred_name)
    np.testing.assert_allclose(
        loss(y_true, y_pred).numpy(), REF[f"loss/{key}/{reduction}"], rtol=1e-5, atol=1e-6
    )
    weighted = loss(y_true, y_pred, sample_weight=REF["loss_inputs/weights"])
    np.testing.assert_allclose(
        weighted.numpy(), REF[f"loss/{key}/{reduction}/weighted"], rtol=1e-5, atol=1e-6
    )


def test_losses_compute_in_their_dtype():
    y64 = np.ones((2, 2))
    assert keras.losses.MeanSquaredError()(y64, y64 * 2).dtype == tf.float32  # floatx
    assert keras.losses.MeanSquaredError(dtype="float64")(y64, y64).dtype == tf.float64


def test_loss_functions_are_per_sample():
    y = np.array([[1.0, 2.0], [3.0, 5.0]], dtype="float32")
    np.testing.assert_allclose(keras.losses.mean_squared_error(y, y * 0).numpy(), [2.5, 17.0])
    assert keras.losses.get("mae") is keras.losses.mean_absolute_error
    with pytest.raises(ValueError, match="reduction"):
        keras.losses.MeanSquaredError(reduction="average")


def test_loss_gradients_float64():
    from _helpers import check_vjp, projected_grad

    rng = np.random.default_rng(0)
    logits = rng.standard_normal((4, 3))
    onehot = np.eye(3)[[0, 2, 1, 1]]
    targets = rng.standard_normal((4, 3))
    cce = keras.losses.CategoricalCrossentropy(from_logits=True, dtype="float64")
    huber = keras.losses.Huber(delta=0.5, dtype="float64")
    bce = keras.losses.BinaryCrossentropy(from_logits=True, dtype="float64")
    mse = keras.losses.MeanSquaredError(reduction="sum", dtype="float64")
    for fn in (
        lambda t: cce(tf.constant(onehot), t),
        lambda t: bce(tf.constant((targets > 0) * 1.0), t),
        lambda t: mse(tf.constant(targets), t),
    ):
        check_vjp(fn, [logits])
        check_vjp(projected_grad(fn, [logits]), [logits], unconnected="zero")
    check_vjp(lambda t: huber(tf.constant(targets), t), [logits * 0.3])


METRICS = {
    "sparse_categorical_accuracy": (keras.metrics.SparseCategoricalAccuracy, "labels0", "logits0"),
    "categorical_accuracy": (keras.metrics.CategoricalAccuracy, "onehot", "logits0"),
    "binary_accuracy": (keras.metrics.BinaryAccuracy, "bin_true", "bin_probs"),
    "mean_squared_error": (keras.metrics.MeanSquaredError, "reg0", "reg1"),
}


@pytest.mark.parametrize("key", sorted(METRICS))
def test_metrics_match_keras(key):
    cls, true_name, pred_name = METRICS[key]
    metric = cls()
    assert metric.name == key
    y_true, y_pred = loss_input(true_name), loss_input(pred_name)
    weights = REF["loss_inputs/weights"]
    metric.update_state(y_true, y_pred)
    metric.update_state(y_true[:2], y_pred[:2], sample_weight=weights[:2])
    np.testing.assert_allclose(metric.result().numpy(), REF[f"metric/{key}"], rtol=1e-6)
    metric.reset_state()
    assert float(metric.result()) == 0.0


def test_accuracy_mean_and_sum_metrics():
    accuracy = keras.metrics.Accuracy()
    accuracy.update_state(REF["loss_inputs/labels0"], np.array([0, 3, 0, 0]))
    accuracy.update_state(
        REF["loss_inputs/labels0"][:2],
        np.array([0, 3]),
        sample_weight=REF["loss_inputs/weights"][:2],
    )
    np.testing.assert_allclose(float(accuracy.result()), float(REF["metric/accuracy"]))
    mean, total = keras.metrics.Mean(), keras.metrics.Sum()
    for values in ([1.0, 2.0], [6.0]):
        mean.update_state(values)
        total.update_state(values)
    assert float(mean.result()) == 3.0 and float(total.result()) == 9.0


# --- fit / evaluate / predict --------------------------------------------------------------


def fit_model(optimizer):
    model = keras.Sequential(
        [
            keras.Input((5,)),
            keras.layers.Dense(
                8, activation="relu", kernel_regularizer=keras.regularizers.L2(0.01)
            ),
            keras.layers.Dense(3),
        ]
    )
    model.set_weights([REF[f"fit/{optimizer}/w{i}"] for i in range(4)])
    make = {
        "sgd": lambda: keras.optimizers.SGD(0.1, momentum=0.9),
        "adam": lambda: keras.optimizers.Adam(0.01),
    }[optimizer]
    model.compile(
        optimizer=make(),
        metrics=["accuracy"],
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_fit_history_evaluate_predict_match_keras(optimizer):
    model = fit_model(optimizer)
    x, y = REF["fit/x"], REF["fit/y"]
    history = model.fit(
        x, y, batch_size=5, epochs=3, shuffle=False, verbose=0, validation_data=(x[:6], y[:6])
    )
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    for key, values in history.history.items():
        np.testing.assert_allclose(
            values, REF[f"fit/{optimizer}/history/{key}"], rtol=1e-5, err_msg=key
        )
    assert history.epoch == [0, 1, 2]
    assert history.params == {"verbose": 0, "epochs": 3, "steps": 5}
    np.testing.assert_allclose(
        model.predict(x[:4], verbose=0),
        REF[f"fit/{optimizer}/final_prediction"],
        rtol=1e-4,
        atol=1e-5,
    )
    np.testing.assert_allclose(
        model.evaluate(x, y, verbose=0), REF[f"fit/{optimizer}/evaluate"], rtol=1e-5
    )
    assert set(model.evaluate(x, y, verbose=0, return_dict=True)) == {"loss", "accuracy"}


def test_fit_validation_split_takes_the_last_samples():
    model = fit_model("sgd")
    x, y = REF["fit/x"], REF["fit/y"]
    split = model.fit(x, y, batch_size=5, epochs=1, shuffle=False, verbose=0, validation_split=0.25)
    other = fit_model("sgd")
    data = other.fit(
        x[:18],
        y[:18],
        batch_size=5,
        epochs=1,
        shuffle=False,
        verbose=0,
        validation_data=(x[18:], y[18:]),
    )
    np.testing.assert_allclose(split.history["val_loss"], data.history["val_loss"], rtol=1e-6)


def test_train_on_batch_reports_each_batch_like_keras():
    # Keras 3.15 resets the metrics before each train_on_batch/test_on_batch
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, kernel_initializer="zeros")])
    model.compile(keras.optimizers.SGD(0.0), "mse", metrics=["mae"])
    x, y = np.ones((2, 1)), np.array([[1.0], [3.0]])
    assert model.train_on_batch(x, y) == [5.0, 2.0]
    assert model.train_on_batch(x, 2 * y) == pytest.approx([20.0, 4.0])
    assert model.test_on_batch(x, y, return_dict=True) == {"loss": 5.0, "mae": 2.0}
    assert model.predict_on_batch(x).shape == (2, 1)


def test_fit_shuffles_reproducibly_with_set_random_seed():
    x, y = REF["fit/x"], REF["fit/y"]
    losses = []
    for _ in range(2):
        keras.utils.set_random_seed(3)
        model = fit_model("sgd")
        losses.append(model.fit(x, y, batch_size=4, epochs=2, verbose=0).history["loss"])
    assert losses[0] == losses[1]
    unshuffled = fit_model("sgd").fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False)
    assert unshuffled.history["loss"] != losses[0]


def test_custom_train_step_is_used_by_fit():
    class Counting(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(1)
            self.steps = 0

        def call(self, x):
            return self.dense(x)

        def train_step(self, data):
            self.steps += 1
            return super().train_step(data)

    model = Counting()
    model.compile("sgd", "mse")
    model.fit(np.ones((10, 2)), np.ones((10, 1)), batch_size=4, epochs=2, verbose=0)
    assert model.steps == 6


def test_compile_errors():
    model = keras.Sequential([keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="compile"):
        model.fit(np.ones((2, 1)), np.ones((2, 1)), verbose=0)
    with pytest.raises(NotImplementedError, match="optimizer"):
        model.compile(optimizer="lbfgs", loss="mse")
    with pytest.raises(NotImplementedError, match="multi-output"):
        model.compile(optimizer="sgd", loss=["mse", "mae"])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="y sizes: \\[3\\]"):
        model.fit(np.ones((2, 1)), np.ones((3, 1)), verbose=0)
    with pytest.raises(NotImplementedError, match="class_weight"):
        model.fit(np.ones((2, 1)), np.ones((2, 1)), class_weight={0: 1.0}, verbose=0)


# --- callbacks and progress ------------------------------------------------------------------


def test_early_stopping_restores_best_weights():
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.5), "mse")  # diverges: the loss grows
    snapshots = []

    class Snapshot(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            snapshots.append(self.model.get_weights())

    stop = keras.callbacks.EarlyStopping(monitor="loss", patience=1, restore_best_weights=True)
    x = np.linspace(-3, 3, 16).reshape(-1, 1) * 4
    history = model.fit(x, 2 * x, epochs=20, batch_size=16, verbose=0, callbacks=[Snapshot(), stop])
    losses = history.history["loss"]
    assert len(losses) < 20
    assert stop.stopped_epoch == len(losses) - 1
    best = int(np.argmin(losses))
    assert stop.best == pytest.approx(losses[best]) and stop.best_epoch == best
    for restored, kept in zip(model.get_weights(), snapshots[best], strict=True):
        np.testing.assert_array_equal(restored, kept)


def test_model_checkpoint_saves_best_only(tmp_path):
    pytest.importorskip("h5py")
    model = fit_model("sgd")
    path = str(tmp_path / "epoch{epoch:02d}.weights.h5")
    checkpoint = keras.callbacks.ModelCheckpoint(
        path, monitor="loss", save_best_only=True, save_weights_only=True
    )
    x, y = REF["fit/x"], REF["fit/y"]
    model.fit(x, y, epochs=3, batch_size=5, shuffle=False, verbose=0, callbacks=[checkpoint])
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "epoch01.weights.h5",
        "epoch02.weights.h5",
        "epoch03.weights.h5",
    ]
    full = keras.callbacks.ModelCheckpoint(str(tmp_path / "model.keras"))
    model.fit(x, y, epochs=1, verbose=0, callbacks=[full])
    assert (tmp_path / "model.keras").exists()
    with pytest.raises(ValueError, match=".weights.h5"):
        keras.callbacks.ModelCheckpoint("x.h5", save_weights_only=True)


def test_custom_callback_hooks_order():
    events = []

    class Recorder(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            events.append("train_begin")

        def on_epoch_begin(self, epoch, logs=None):
            events.append(f"epoch_begin {epoch}")

        def on_train_batch_end(self, batch, logs=None):
            events.append(f"batch_end {batch} {sorted(logs)}")

        def on_epoch_end(self, epoch, logs=None):
            events.append(f"epoch_end {epoch} {sorted(logs)}")

        def on_train_end(self, logs=None):
            events.append("train_end")

    model = fit_model("sgd")
    model.fit(
        REF["fit/x"][:8],
        REF["fit/y"][:8],
        epochs=1,
        batch_size=4,
        verbose=0,
        callbacks=[Recorder()],
    )
    assert events == [
        "train_begin",
        "epoch_begin 0",
        "batch_end 0 ['accuracy', 'loss']",
        "batch_end 1 ['accuracy', 'loss']",
        "epoch_end 0 ['accuracy', 'loss']",
        "train_end",
    ]


def test_progress_output_formats(capsys):
    model = fit_model("sgd")
    x, y = REF["fit/x"], REF["fit/y"]
    model.fit(x, y, epochs=2, batch_size=8, verbose=2)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Epoch 1/2" and out[2] == "Epoch 2/2"
    assert re.fullmatch(
        r"3/3 - \d+s - \d+(ms|us|s)/step - accuracy: \d\.\d{4} - loss: \d\.\d{4}", out[1]
    ), out[1]
    model.fit(x, y, epochs=1, batch_size=8, verbose=1)
    out = capsys.readouterr().out.splitlines()  # not a terminal: the final bar only
    assert re.fullmatch(
        r"3/3 ━{20} \d+s \d+(ms|us|s)/step - accuracy: \d\.\d{4} - loss: \d\.\d{4}", out[1]
    ), out[1]
    model.evaluate(x, y, verbose=1)
    assert "1/1 ━━━━━━━━━━━━━━━━━━━━" in capsys.readouterr().out
    model.fit(x, y, epochs=1, verbose=0)
    model.predict(x, verbose=0)
    assert capsys.readouterr().out == ""


def test_small_values_print_in_scientific_notation(capsys):
    bar = keras.callbacks.ProgbarLogger()
    bar.set_params({"verbose": 2, "epochs": 1, "steps": 1})
    bar.on_epoch_begin(0)
    bar.on_epoch_end(0, {"loss": 0.0, "mae": 0.5})
    assert capsys.readouterr().out.splitlines()[1].endswith("loss: 0.0000e+00 - mae: 0.5000")


# --- Keras's files (h5py: the `test` extra installs it) ---------------------------------


def keras_mlp():
    return keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(6, activation="relu"),
            keras.layers.BatchNormalization(),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(3),
        ]
    )


def keras_rnn():
    return keras.Sequential(
        [
            keras.Input((5, 3)),
            keras.layers.LSTM(4, return_sequences=True),
            keras.layers.GRU(3, return_sequences=True),
            keras.layers.SimpleRNN(2),
            keras.layers.Dense(1),
        ]
    )


@pytest.mark.parametrize(("name", "make"), [("mlp", keras_mlp), ("rnn", keras_rnn)])
def test_weights_written_by_keras_load(name, make, tmp_path, recwarn):
    h5py = pytest.importorskip("h5py")
    model = make()
    model.load_weights(FIXTURES / f"{name}.weights.h5")
    np.testing.assert_allclose(
        model.predict(REF[f"{name}/x"], verbose=0), REF[f"{name}/y"], rtol=1e-5, atol=1e-6
    )
    # and tapegrad writes the same layout, which loads back
    path = tmp_path / f"{name}.weights.h5"
    model.save_weights(path)

    def layout(file):
        names = []
        file.visititems(lambda n, o: names.append((n, getattr(o, "shape", None))))
        return names

    with h5py.File(FIXTURES / f"{name}.weights.h5") as theirs, h5py.File(path) as ours:
        assert layout(ours) == [item for item in layout(theirs) if "optimizer" not in item[0]]
    clone = make()
    clone.load_weights(path)
    np.testing.assert_allclose(
        clone.predict(REF[f"{name}/x"], verbose=0), REF[f"{name}/y"], rtol=1e-5, atol=1e-6
    )


def test_keras_archive_written_by_keras_loads(tmp_path):
    pytest.importorskip("h5py")
    model = keras.models.load_model(FIXTURES / "cnn.keras")
    assert model.name == "cnn" and [layer.name for layer in model.layers] == [
        "pixels",
        "conv",
        "pool",
        "flat",
        "logits",
    ]
    np.testing.assert_allclose(
        model.predict(REF["cnn/x"], verbose=0), REF["cnn/y"], rtol=1e-5, atol=1e-6
    )
    assert type(model.optimizer).__name__ == "Adam" and int(model.optimizer.iterations) == 1
    assert model.optimizer.get_config()["learning_rate"] == pytest.approx(0.01)
    # train a step, save as .keras, load again: same outputs
    model.fit(REF["cnn/x"], np.array([1, 2]), verbose=0)
    path = tmp_path / "again.keras"
    model.save(path)
    again = keras.models.load_model(path)
    np.testing.assert_allclose(
        again.predict(REF["cnn/x"], verbose=0), model.predict(REF["cnn/x"], verbose=0), rtol=1e-6
    )
    fresh = keras.models.load_model(path, compile=False)
    fresh.load_weights(FIXTURES / "cnn.keras")
    np.testing.assert_allclose(
        fresh.predict(REF["cnn/x"], verbose=0), REF["cnn/y"], rtol=1e-5, atol=1e-6
    )


def test_load_weights_refuses_a_different_architecture(tmp_path):
    pytest.importorskip("h5py")
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5), keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="dense"):
        other.load_weights(FIXTURES / "mlp.weights.h5")
    with pytest.raises(NotImplementedError, match="weights.h5"):
        other.load_weights(tmp_path / "model.ckpt")


def test_subclassed_model_save_and_load_weights(tmp_path):
    h5py = pytest.importorskip("h5py")

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.stem = keras.layers.Dense(4, activation="relu")
            self.blocks = [keras.layers.Dense(4), keras.layers.Dense(2)]

        def call(self, x):
            x = self.stem(x)
            for block in self.blocks:
                x = block(x)
            return x

    net = Net()
    net(np.ones((1, 3)))
    path = tmp_path / "net.weights.h5"
    net.save_weights(path)
    with h5py.File(path) as f:
        groups = []
        f.visit(groups.append)
    # Keras's layout: attributes by name, list items by class name
    assert groups == [
        "blocks",
        "blocks/dense",
        "blocks/dense/vars",
        "blocks/dense/vars/0",
        "blocks/dense/vars/1",
        "blocks/dense_1",
        "blocks/dense_1/vars",
        "blocks/dense_1/vars/0",
        "blocks/dense_1/vars/1",
        "stem",
        "stem/vars",
        "stem/vars/0",
        "stem/vars/1",
        "vars",
    ]
    other = Net()
    other(np.ones((1, 3)))
    other.load_weights(path)
    np.testing.assert_allclose(other(np.ones((2, 3))).numpy(), net(np.ones((2, 3))).numpy())


def test_every_layer_type_in_a_keras_archive_round_trips(tmp_path):
    """zoo.keras: Keras wrote a functional model with dict inputs and every
    layer type; tapegrad rebuilds it from the config (same layer order as
    Keras, which fixes weights and file paths), predicts the same, trains,
    and writes it back."""
    pytest.importorskip("h5py")
    zoo = keras.models.load_model(FIXTURES / "zoo.keras")
    assert [layer.name for layer in zoo.layers] == REF["zoo/layers"].tolist()
    inputs = {"tokens": REF["zoo/tokens"], "image": REF["zoo/image"]}
    np.testing.assert_allclose(zoo.predict(inputs, verbose=0), REF["zoo/y"], rtol=1e-5, atol=1e-6)
    assert type(zoo.optimizer).__name__ == "RMSprop" and int(zoo.optimizer.iterations) == 1
    assert len(zoo.losses) == 1  # the Conv2D kernel's L2 penalty
    zoo.fit(inputs, np.ones((4, 4)), verbose=0)
    path = tmp_path / "zoo.keras"
    zoo.save(path)
    again = keras.models.load_model(path)
    np.testing.assert_allclose(
        again.predict(inputs, verbose=0), zoo.predict(inputs, verbose=0), rtol=1e-6
    )
    assert int(again.optimizer.iterations) == 2


def test_cnn_fit_with_batchnorm_matches_keras():
    model = keras.Sequential(
        [
            keras.Input((6, 6, 1)),
            keras.layers.Conv2D(3, 3, padding="same", activation="relu"),
            keras.layers.BatchNormalization(momentum=0.8),
            keras.layers.MaxPooling2D(),
            keras.layers.Dropout(0.0),
            keras.layers.Flatten(),
            keras.layers.Dense(4),
        ]
    )
    model.set_weights([REF[f"cnn_fit/w{i}"] for i in range(8)])
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        metrics=["accuracy"],
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    history = model.fit(
        REF["cnn_fit/x"], REF["cnn_fit/y"], batch_size=5, epochs=3, shuffle=False, verbose=0
    )
    for key, values in history.history.items():
        np.testing.assert_allclose(values, REF[f"cnn_fit/history/{key}"], rtol=1e-4, err_msg=key)
    final = np.concatenate([w.ravel() for w in model.get_weights()])
    np.testing.assert_allclose(final, REF["cnn_fit/final_weights"], rtol=1e-4, atol=1e-5)


RESUME = np.load(FIXTURES / "resume.npz")


@pytest.mark.parametrize("name", ["adam", "rmsprop"])
def test_a_model_saved_mid_training_by_keras_resumes_with_kerass_next_step(name):
    """resume_*.keras: Keras saved the model after two steps (make_resume_fixtures.py);
    the optimizer's iterations, learning rate and slots load, in Keras's order
    (RMSprop: every velocity, then every momentum, then every average gradient),
    and one more step gives Keras's loss and weights."""
    pytest.importorskip("h5py")
    model = keras.models.load_model(FIXTURES / f"resume_{name}.keras")
    variables = model.optimizer.variables
    keras_paths = RESUME[f"{name}/optimizer_paths"].tolist()
    assert len(variables) == len(keras_paths)
    for i, variable in enumerate(variables):
        np.testing.assert_array_equal(variable.numpy(), RESUME[f"{name}/optimizer/{i}"])
        if i >= 2:  # a slot: Keras's path ends with "<layer>_<weight>_<slot>" as ours
            assert keras_paths[i].endswith(variable.path.split("/", 1)[1]), (i, keras_paths[i])
    loss = model.train_on_batch(RESUME["x"], RESUME["y"])
    np.testing.assert_allclose(loss, RESUME[f"{name}/loss"], rtol=1e-5)
    for i, weight in enumerate(model.get_weights()):
        np.testing.assert_allclose(weight, RESUME[f"{name}/next/{i}"], rtol=1e-5, atol=1e-6)


def test_an_optimizer_state_of_another_size_is_skipped_with_kerass_warning(tmp_path):
    pytest.importorskip("h5py")
    model = keras.models.load_model(FIXTURES / "resume_adam.keras")
    path = tmp_path / "resume.weights.h5"
    model.save_weights(path)
    other = keras.models.load_model(FIXTURES / "resume_adam.keras")
    other.compile(optimizer=keras.optimizers.Adam(0.05, amsgrad=True), loss="mse")
    other.optimizer.build(other.trainable_variables)  # 4 more slots (velocity_hat)
    with pytest.warns(UserWarning, match="Skipping variable loading for optimizer 'adam'"):
        other.load_weights(path)
    assert int(other.optimizer.iterations) == 0
    np.testing.assert_array_equal(other.get_weights()[0], model.get_weights()[0])
