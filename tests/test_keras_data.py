"""Keras fit/evaluate/predict on streams (tf.data datasets, generators,
PyDatasets) against Keras 3.15 with TF 2.21 (tests/fixtures/keras/
fit_streams.json, recorded by record_fit_streams.py): histories, weights,
callback events and the warnings and errors Keras gives."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import tapegrad as tf
from tapegrad import keras

REF = json.loads((Path(__file__).parent / "fixtures" / "keras" / "fit_streams.json").read_text())

X = np.arange(30, dtype="float32").reshape(10, 3) / 10.0
Y = (X @ np.array([[1.0], [-2.0], [0.5]], dtype="float32") + 0.3).astype("float32")
W = np.linspace(0.5, 2.0, 10).astype("float32")
K0 = np.array([[0.1], [0.2], [-0.1]], dtype="float32")
RAN_OUT = "Your input ran out of data"
SHUFFLE_IGNORED = "`shuffle=True` was passed, but will be ignored"


def model():
    m = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(
                1, kernel_initializer=keras.initializers.Constant(K0), bias_initializer="zeros"
            ),
        ]
    )
    m.compile(keras.optimizers.SGD(0.05), "mse", metrics=["mae"])
    return m


class Recorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.events = []

    def on_train_begin(self, logs=None):
        self.events.append(["params", dict(self.params)])

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append(["epoch", epoch])

    def on_train_batch_end(self, batch, logs=None):
        self.events.append(["batch", batch])

    def on_test_begin(self, logs=None):
        self.events.append(["test_begin"])

    def on_test_batch_end(self, batch, logs=None):
        self.events.append(["test_batch", batch])


def run(*args, **kwargs):
    """fit a fresh model like the recorder did: history, events, kernel,
    and the warnings about shuffling and running out of data."""
    m, recorder = model(), Recorder()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = m.fit(*args, callbacks=[recorder], verbose=0, **kwargs)
    seen = [str(w.message) for w in caught]
    return {
        "history": history.history,
        "events": recorder.events,
        "kernel": m.get_weights()[0].ravel(),
        "warnings": [w for w in seen if RAN_OUT in w or SHUFFLE_IGNORED in w],
    }


def check(name, result):
    expected = REF[name]
    assert sorted(result["history"]) == sorted(expected["history"])
    for key, values in expected["history"].items():
        np.testing.assert_allclose(result["history"][key], values, rtol=1e-5, err_msg=key)
    assert result["events"] == expected["events"]
    np.testing.assert_allclose(result["kernel"], expected["kernel"], rtol=1e-5, atol=1e-7)
    assert [w[:40] for w in result["warnings"]] == [w[:40] for w in expected["warnings"]]
    assert result["warnings"] == expected["warnings"]


def slices(*arrays):
    return tf.data.Dataset.from_tensor_slices(arrays)


def test_fit_on_arrays_is_the_reference():
    check("arrays", run(X, Y, batch_size=4, epochs=2, shuffle=False))
    check("arrays_weighted", run(X, Y, sample_weight=W, batch_size=4, epochs=2, shuffle=False))
    # arrays with steps and no batch size: Keras makes `steps` batches cover the data
    check("arrays_steps", run(X, Y, steps_per_epoch=2, epochs=2, shuffle=False))


def test_fit_on_a_dataset_equals_fit_on_its_arrays():
    check("dataset", run(slices(X, Y).batch(4), epochs=2))
    check("dataset_weighted", run(slices(X, Y, W).batch(4), epochs=2))
    np.testing.assert_allclose(REF["dataset"]["history"]["loss"], REF["arrays"]["history"]["loss"])


def test_steps_per_epoch_keeps_the_iterator_and_restarts_only_when_exhausted():
    # 3 batches, 2 steps an epoch: epoch 2 gets the last batch only, then a warning
    check("steps_lt_card", run(slices(X, Y).batch(4), epochs=3, steps_per_epoch=2))
    # more steps than batches: each epoch one pass, cut short with a warning
    check("steps_gt_card", run(slices(X, Y).batch(4), epochs=2, steps_per_epoch=5))


def test_an_infinite_dataset_needs_steps_and_continues_across_epochs():
    check("repeat_steps", run(slices(X, Y).batch(4).repeat(), epochs=2, steps_per_epoch=3))


def test_unknown_cardinality_runs_to_the_end_with_keras_warnings():
    ds = slices(X, Y).filter(lambda a, b: a[0] < 2.0).batch(3)
    assert int(ds.cardinality()) == tf.data.UNKNOWN_CARDINALITY
    check("unknown_card", run(ds, epochs=2))


def test_validation_dataset_and_validation_steps():
    val = slices(X[:5], Y[:5]).batch(2)
    check("validation", run(slices(X, Y).batch(4), epochs=2, validation_data=val))
    check(
        "validation_steps",
        run(slices(X, Y).batch(4), epochs=2, validation_data=val.repeat(), validation_steps=2),
    )


def test_batch_size_and_shuffle_are_ignored_with_a_dataset_as_in_keras():
    check("batch_size", run(slices(X, Y).batch(4), epochs=1, batch_size=4))
    check("shuffle_true_default", run(slices(X, Y).batch(4), epochs=1, shuffle=True))


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("y_given", {"y": Y}),
        ("sw_given", {"sample_weight": W}),
        ("val_split", {"validation_split": 0.2}),
    ],
)
def test_keras_errors_for_arguments_a_dataset_cannot_take(name, kwargs):
    kind, message = REF[name]["error"]
    assert kind == "ValueError"
    with pytest.raises(ValueError) as info:
        model().fit(slices(X, Y).batch(4), epochs=1, verbose=0, shuffle=False, **kwargs)
    # Keras names TF's dataset class in the validation_split message
    assert str(info.value).split("[<class")[0] == message.split("[<class")[0]


def test_an_iterator_is_not_data_as_in_keras():
    # Keras 3 takes datasets, not their iterators
    with pytest.raises(ValueError, match="Unrecognized data type: x=.*OwnedIterator"):
        model().fit(iter(slices(X, Y).batch(4)), epochs=1, verbose=0, shuffle=False)


def test_evaluate_and_predict_on_datasets():
    m = model()
    ds = slices(X, Y).batch(4)
    for name, result in [
        ("evaluate", m.evaluate(ds, verbose=0, return_dict=True)),
        ("evaluate_steps", m.evaluate(ds.repeat(), steps=2, verbose=0, return_dict=True)),
        ("evaluate_arrays", m.evaluate(X, Y, batch_size=4, verbose=0, return_dict=True)),
        ("evaluate_arrays_steps", m.evaluate(X, Y, steps=2, verbose=0, return_dict=True)),
    ]:
        assert result.keys() == REF[name].keys()
        for key, value in REF[name].items():
            assert result[key] == pytest.approx(value, rel=1e-6), (name, key)
    np.testing.assert_allclose(m.predict(ds, verbose=0).ravel(), REF["predict_xy"], rtol=1e-6)
    only_x = tf.data.Dataset.from_tensor_slices(X).batch(3)
    np.testing.assert_allclose(m.predict(only_x, verbose=0).ravel(), REF["predict_x"], rtol=1e-6)
    steps = m.predict(only_x.repeat(), steps=2, verbose=0).ravel()
    np.testing.assert_allclose(steps, REF["predict_steps"], rtol=1e-6)
    kind, message = REF["evaluate_y_error"]
    with pytest.raises(ValueError, match=message.replace("`", ".").replace("(", ".")[:60]):
        m.evaluate(ds, Y, verbose=0)


def test_dict_inputs_reach_the_named_inputs_of_a_functional_model():
    a, b = keras.Input((2,), name="a"), keras.Input((1,), name="b")
    dense = keras.layers.Dense(
        1, kernel_initializer=keras.initializers.Constant(K0), bias_initializer="zeros"
    )
    f = keras.Model({"a": a, "b": b}, dense(keras.layers.Concatenate()([a, b])))
    f.compile(keras.optimizers.SGD(0.05), "mse")
    ds = tf.data.Dataset.from_tensor_slices(({"a": X[:, :2], "b": X[:, 2:]}, Y)).batch(4)
    history = f.fit(ds, epochs=2, verbose=0, shuffle=False)
    np.testing.assert_allclose(history.history["loss"], REF["dict_inputs"], rtol=1e-5)


def test_a_generator_is_consumed_once_then_replays_the_peeked_batches():
    def batches():
        for i in range(0, 10, 4):
            yield X[i : i + 4], Y[i : i + 4]

    result = run(batches(), epochs=2)
    expected = REF["generator"]
    for key, values in expected["history"].items():
        np.testing.assert_allclose(result["history"][key], values, rtol=1e-5)
    assert result["events"] == expected["events"]
    assert result["warnings"] == expected["warnings"]


def test_a_pydataset_without_shuffling_is_the_dataset_fit():
    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return X[i * 4 : (i + 1) * 4], Y[i * 4 : (i + 1) * 4]

    result = run(Batches(), epochs=2, shuffle=False)
    unshuffled = REF["dataset"]["history"]["loss"]
    np.testing.assert_allclose(result["history"]["loss"], unshuffled, rtol=1e-5)
    assert result["events"] == REF["pydataset"]["events"]
    # shuffled (fit's default) the first epoch may differ in order but not in batches seen
    shuffled = run(Batches(), epochs=2)
    assert shuffled["events"] == REF["pydataset"]["events"]


def test_progress_bar_with_unknown_steps_shows_the_batches_done(capsys):
    ds = slices(X, Y).filter(lambda a, b: a[0] < 2.0).batch(3)
    m = model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.fit(ds, epochs=1, verbose=2, shuffle=False)
        m.evaluate(ds, verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/1"
    assert lines[1].startswith("3/3 - ")
    assert lines[2].startswith("3/3 ━")


def test_each_epoch_iterates_the_dataset_again_and_reshuffles():
    seen = []
    ds = tf.data.Dataset.range(12).shuffle(12, seed=3)
    ds = ds.map(lambda i: (tf.cast(tf.reshape(i, [1]), tf.float32), tf.zeros([1]))).batch(12)

    def record(batch):
        if batch.shape[0] == 12:  # not the model's build call
            seen.append(batch.numpy().ravel())
        return batch

    m = keras.Sequential([keras.Input((1,)), keras.layers.Lambda(record)])
    m.compile("sgd", "mse")
    with pytest.warns(UserWarning, match="shuffle"):
        m.fit(ds, epochs=3, verbose=0)
    assert len(seen) == 3
    assert all(sorted(epoch.tolist()) == list(range(12)) for epoch in seen)
    assert len({tuple(epoch.tolist()) for epoch in seen}) == 3
