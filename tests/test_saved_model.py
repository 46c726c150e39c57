"""tf.saved_model.save/load: a Module's variables, submodules and
tf.function methods round-trip; loaded functions reproduce the original's
results bitwise, stay differentiable, and bad files raise errors naming them.
Behaviour checked against TensorFlow 2.21 (error kinds and texts noted)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import tapegrad as tf


class Dense(tf.Module):
    def __init__(self, n_in: int, n_out: int, name: str | None = None) -> None:
        super().__init__(name=name)
        rng = np.random.default_rng(n_in * 10 + n_out)
        self.w = tf.Variable(rng.standard_normal((n_in, n_out)).astype(np.float32), name="w")
        self.b = tf.Variable(rng.standard_normal(n_out).astype(np.float32), name="b")

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32)])
    def __call__(self, x):  # type: ignore[no-untyped-def]
        return tf.nn.relu(tf.matmul(x, self.w) + self.b)


class Model(tf.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = tf.Variable(1.5, name="scale")
        self.steps = tf.Variable(0, trainable=False, name="steps")
        self.layer = Dense(3, 3, name="layer")
        self.heads = [Dense(3, 3, name="h0"), Dense(3, 3, name="h1")]

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
    def predict(self, x):  # type: ignore[no-untyped-def]
        h = self.layer(x) * self.scale
        h = tf.concat([self.heads[0](h), self.heads[1](h)], axis=1)
        return {"logits": h[:, 1:4], "total": tf.reduce_sum(h, axis=-1), "mean": tf.reduce_mean(h)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float64), tf.TensorSpec([], tf.int32)])
    def mixed(self, v, k):  # type: ignore[no-untyped-def]
        s = tf.cumsum(tf.exp(-v) ** 2, reverse=True) - 1.0
        return s, tf.cast(k * 2 + 1, tf.float64) * tf.reduce_max(s), tf.reverse(v, [0])[::2]

    @tf.function(input_signature=[tf.TensorSpec([], tf.int32)])
    def count(self, n):  # type: ignore[no-untyped-def]
        self.steps.assign_add(n)
        return self.steps.read_value()


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Model, str]:
    model = Model()
    path = str(tmp_path / "model")
    tf.saved_model.save(model, path, signatures=model.predict)
    return model, path


def _bits(t: tf.Tensor) -> bytes:
    return t.numpy().tobytes()


def test_directory_layout_like_tf_and_variables_readable_by_load_variable(saved) -> None:
    model, path = saved
    assert sorted(os.listdir(path)) == ["constants", "saved_model.json", "variables"]
    assert sorted(os.listdir(os.path.join(path, "variables"))) == [
        "variables.data-00000-of-00001",
        "variables.index",
    ]
    prefix = os.path.join(path, "variables", "variables")
    keys = dict(tf.train.list_variables(prefix))
    # TF's own keys for a SavedModel of this module (checked with TF 2.21)
    assert keys["scale/.ATTRIBUTES/VARIABLE_VALUE"] == []
    assert keys["layer/w/.ATTRIBUTES/VARIABLE_VALUE"] == [3, 3]
    assert keys["heads/1/b/.ATTRIBUTES/VARIABLE_VALUE"] == [3]
    np.testing.assert_array_equal(
        tf.train.load_variable(prefix, "heads/0/w/.ATTRIBUTES/VARIABLE_VALUE"),
        model.heads[0].w.numpy(),
    )


def test_round_trip_is_bitwise_with_nested_modules(saved) -> None:
    model, path = saved
    loaded = tf.saved_model.load(path)
    x = tf.constant(np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32))
    want, got = model.predict(x), loaded.predict(x)
    assert sorted(got) == ["logits", "mean", "total"]
    for key in want:
        assert _bits(got[key]) == _bits(want[key])
    # another batch size: the signature's unknown dimension
    x7 = tf.ones([7, 3])
    assert _bits(loaded.predict(x7)["total"]) == _bits(model.predict(x7)["total"])
    # nested submodules and their own functions
    assert _bits(loaded.layer(x)) == _bits(model.layer(x))
    assert _bits(loaded.heads[1](x)) == _bits(model.heads[1](x))
    assert float(loaded.scale) == 1.5
    v = tf.constant([0.5, -1.0, 2.0, 0.25], tf.float64)
    for a, b in zip(loaded.mixed(v, tf.constant(3)), model.mixed(v, tf.constant(3)), strict=True):
        assert a.dtype == b.dtype and _bits(a) == _bits(b)


def test_loaded_variables_are_tracked_and_updated_by_loaded_functions(saved) -> None:
    model, path = saved
    loaded = tf.saved_model.load(path)
    assert len(loaded.trainable_variables) == len(model.trainable_variables) == 7
    assert [v.name for v in loaded.non_trainable_variables] == ["steps:0"]
    assert int(loaded.count(tf.constant(2))) == 2
    assert int(loaded.count(tf.constant(3))) == 5
    assert int(loaded.steps) == 5
    assert int(model.steps) == 0  # saving traced `count` and put the variable back
    # the loaded functions read the loaded variables, not copies
    loaded.scale.assign(0.0)
    assert float(loaded.predict(tf.ones([1, 3]))["mean"]) == pytest.approx(
        float(tf.reduce_mean(tf.concat([tf.nn.relu(h.b) for h in model.heads], 0)))
    )


def test_signatures_return_dicts_of_outputs(saved) -> None:
    model, path = saved
    loaded = tf.saved_model.load(path)
    serving = loaded.signatures["serving_default"]
    out = serving(x=tf.ones([2, 3]))
    assert sorted(out) == ["logits", "mean", "total"]
    assert _bits(out["total"]) == _bits(model.predict(tf.ones([2, 3]))["total"])
    # TF: InvalidArgumentError "... was expected to be a float tensor but is a int32 tensor"
    with pytest.raises(tf.errors.InvalidArgumentError, match="expected to be a float32 tensor"):
        serving(x=tf.ones([2, 3], tf.int32))


def test_non_dict_signature_outputs_are_named_output_i(tmp_path: Path) -> None:
    m = tf.Module()
    m.v = tf.Variable(2.0)
    m.f = tf.function(lambda x: x * m.v, input_signature=[tf.TensorSpec([], tf.float32, name="x")])
    tf.saved_model.save(m, str(tmp_path), signatures={"double": m.f})
    loaded = tf.saved_model.load(str(tmp_path))
    assert list(loaded.signatures) == ["double"]
    assert float(loaded.signatures["double"](x=tf.constant(4.0))["output_0"]) == 8.0


def test_loaded_functions_are_differentiable(saved) -> None:
    model, path = saved
    loaded = tf.saved_model.load(path)
    x = tf.constant(np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3))
    grads = []
    for obj in (model, loaded):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = obj.predict(x)["mean"] * obj.scale
        grads.append(tape.gradient(y, [x, obj.scale, obj.layer.w]))
    for g_model, g_loaded in zip(*grads, strict=True):
        np.testing.assert_allclose(g_loaded.numpy(), g_model.numpy(), rtol=1e-6)


def test_unsupported_input_signature_raises_tf_errors(saved) -> None:
    _, path = saved
    loaded = tf.saved_model.load(path)
    # TF: TypeError "Binding inputs to tf.function failed ... Can not cast TensorSpec"
    with pytest.raises(TypeError):
        loaded.predict(tf.ones([2, 4]))
    with pytest.raises(TypeError):
        loaded.predict(tf.ones([2, 3], tf.int32))


def test_guards_of_the_trace_become_clear_errors(tmp_path: Path) -> None:
    m = tf.Module()

    @tf.function(input_signature=[tf.TensorSpec([], tf.float32)])
    def branch(x):  # type: ignore[no-untyped-def]
        if x > 0:  # a Python branch: traced for saving on zeros, so the else side
            return x * 2.0
        return x - 1.0

    m.branch = branch
    tf.saved_model.save(m, str(tmp_path))
    loaded = tf.saved_model.load(str(tmp_path))
    assert float(loaded.branch(tf.constant(-3.0))) == -4.0
    with pytest.raises(tf.errors.InvalidArgumentError, match="traced for saving"):
        loaded.branch(tf.constant(3.0))


def test_functions_that_cannot_be_saved_name_the_reason(tmp_path: Path) -> None:
    m = tf.Module()
    m.f = tf.function(
        lambda x: tf.py_function(lambda t: t * 2, [x], tf.float32),
        input_signature=[tf.TensorSpec([], tf.float32)],
    )
    with pytest.raises(ValueError, match="calls back into Python"):
        tf.saved_model.save(m, str(tmp_path / "a"))
    untracked = tf.Variable(1.0)
    m2 = tf.Module()
    m2.f = tf.function(lambda x: x * untracked, input_signature=[tf.TensorSpec([])])
    with pytest.raises(ValueError, match="not tracked"):
        tf.saved_model.save(m2, str(tmp_path / "b"))
    m3 = tf.Module()
    m3.w = tf.Variable(1.0)

    def with_tape(x):  # type: ignore[no-untyped-def]
        with tf.GradientTape() as t:
            t.watch(x)
            y = x * m3.w
        return t.gradient(y, x)

    m3.f = tf.function(with_tape, input_signature=[tf.TensorSpec([])])
    with pytest.raises(ValueError, match="GradientTape"):
        tf.saved_model.save(m3, str(tmp_path / "c"))


def _corrupt(path: str, name: str, how: str) -> None:
    target = os.path.join(path, name)
    data = Path(target).read_bytes()
    if how == "truncate":
        Path(target).write_bytes(data[: len(data) // 2])
    elif how == "flip":
        Path(target).write_bytes(data[:-9] + bytes([data[-9] ^ 0xFF]) + data[-8:])
    else:
        os.remove(target)


@pytest.mark.parametrize(
    ("name", "how", "error", "text"),
    [
        ("saved_model.json", "truncate", ValueError, "saved_model.json is corrupt or truncated"),
        ("saved_model.json", "remove", OSError, "SavedModel file does not exist"),
        ("variables/variables.index", "remove", FileNotFoundError, "variables.index"),
        ("variables/variables.index", "truncate", tf.train.CheckpointFormatError, "variables"),
        ("variables/variables.data-00000-of-00001", "remove", ValueError, "variables.data"),
        ("variables/variables.data-00000-of-00001", "truncate", ValueError, "truncated"),
        ("constants/constants.data-00000-of-00001", "remove", ValueError, "constants.data"),
    ],
)
def test_bad_files_raise_errors_naming_them(
    saved, name: str, how: str, error: type, text: str
) -> None:
    _, path = saved
    _corrupt(path, name, how)
    with pytest.raises(error, match=text):
        tf.saved_model.load(path)


def test_corrupt_data_is_caught_by_checksums(saved) -> None:
    _, path = saved
    target = os.path.join(path, "variables", "variables.data-00000-of-00001")
    data = bytearray(Path(target).read_bytes())
    data[-1] ^= 0x01  # the last variable's value (the object graph comes first)
    Path(target).write_bytes(bytes(data))
    with pytest.raises(tf.train.CheckpointFormatError, match="checksum mismatch"):
        tf.saved_model.load(path)


def test_program_of_another_version_or_kind_is_refused(saved) -> None:
    _, path = saved
    program = os.path.join(path, "saved_model.json")
    document = json.loads(Path(program).read_text())
    document["version"] = 99
    Path(program).write_text(json.dumps(document))
    with pytest.raises(ValueError, match="format version 99"):
        tf.saved_model.load(path)
    Path(program).write_text(json.dumps({"nodes": []}))
    with pytest.raises(ValueError, match="not a tapegrad SavedModel"):
        tf.saved_model.load(path)


def test_a_tensorflow_savedmodel_is_named_as_such(tmp_path: Path) -> None:
    (tmp_path / "saved_model.pb").write_bytes(b"\x08\x01")
    with pytest.raises(ValueError, match="written by TensorFlow"):
        tf.saved_model.load(str(tmp_path))
    with pytest.raises(OSError, match="SavedModel file does not exist"):
        tf.saved_model.load(str(tmp_path / "nowhere"))


class ManyOps(tf.Module):
    """One function reaching every kind of argument a binding takes."""

    def __init__(self) -> None:
        super().__init__()
        self.table = tf.Variable(np.arange(12, dtype=np.float32).reshape(4, 3), name="table")

    @tf.function(
        input_signature=[tf.TensorSpec([None, 3], tf.float32), tf.TensorSpec([2], tf.int32)]
    )
    def __call__(self, x, idx):  # type: ignore[no-untyped-def]
        outs = [
            2.0 - x,  # a reflected operator
            -abs(x) ** 2,  # unary operators and pow
            x @ tf.transpose(x),
            x[:, ::-1][..., None, 1],  # a key with slices, Ellipsis and None
            tf.gather(self.table, idx),  # a variable as a tensor-like
            self.table[1:3, ::2],  # a variable indexed
            tf.einsum("ij,kj->ik", x, self.table),
            tf.where(x > 0.5, x, tf.zeros_like(x)),
            tf.range(3, dtype=tf.float32),
            tf.norm(x, ord=np.inf, axis=1),
            tf.sort(x, axis=1, direction="DESCENDING"),
            tf.concat([x, x * 2], axis=-1),
            tf.stack(tf.unstack(x, axis=1), axis=0),
            tf.reshape(x, [-1]),
            tf.cast(tf.argmax(x, axis=1), tf.float32),
            tf.reduce_logsumexp(x, axis=[0, 1], keepdims=True),
            tf.one_hot(idx, 4, dtype=tf.float64),
            tf.clip_by_value(x, -0.5, np.float32(0.5)),
            tf.matmul(x, np.ones((3, 2), np.float32)),  # a numpy operand
            tf.math.top_k(x, k=2).values,
        ]
        rows = list(tf.transpose(x))  # iteration
        return outs + rows


def test_every_kind_of_argument_round_trips_bitwise(tmp_path: Path) -> None:
    module = ManyOps()
    tf.saved_model.save(module, str(tmp_path))
    loaded = tf.saved_model.load(str(tmp_path))
    rng = np.random.default_rng(1)
    for n in (1, 4):
        x = tf.constant(rng.standard_normal((n, 3)).astype(np.float32))
        idx = tf.constant([3, 1])
        want, got = module(x, idx), loaded(x, idx)
        assert len(want) == len(got)
        for i, (a, b) in enumerate(zip(want, got, strict=True)):
            assert a.dtype == b.dtype and a.shape == b.shape, i
            assert _bits(a) == _bits(b), i
