"""tf.train checkpoints: TF's file format (CRC-32C, protobuf wire format,
the .index table, the tensor bundle), object-graph save/restore, restoring
TF-written fixtures, atomic writes (a killed writer), CheckpointManager."""

from __future__ import annotations

import gc
import json
import os
import pathlib
import shutil
import signal
import struct
import subprocess
import sys
import textwrap
import threading
import weakref

import numpy as np
import pytest
import tapegrad as tf
from tapegrad.train import _crc32c, _table, _wire
from tapegrad.train._bundle import BundleReader, CheckpointFormatError, write_bundle

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "checkpoints"
sys.path.insert(0, str(FIXTURES))
import tapegrad_written  # noqa: E402

# ---- format pieces -------------------------------------------------------------------


def slow_crc32c(data: bytes) -> int:
    register = 0xFFFFFFFF
    for byte in data:
        register ^= byte
        for _ in range(8):
            register = (register >> 1) ^ (0x82F63B78 if register & 1 else 0)
    return register ^ 0xFFFFFFFF


@pytest.mark.parametrize("size", [0, 1, 7, 4096, (1 << 14) + 3, 300_007])
def test_crc32c_matches_the_bitwise_definition(size: int) -> None:
    data = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    if size < 10_000:
        expected = slow_crc32c(data)
    else:  # the table-driven byte loop, itself checked against slow_crc32c below
        expected = _crc32c._update(0xFFFFFFFF, data) ^ 0xFFFFFFFF
    assert _crc32c.crc32c(data) == expected


def test_crc32c_known_values_and_mask() -> None:
    assert _crc32c.crc32c(b"123456789") == 0xE3069283  # the standard check value
    assert _crc32c.crc32c(bytes(32)) == 0x8A9136AA  # RFC 3720 B.4
    assert slow_crc32c(b"\xff" * 32) == _crc32c.crc32c(b"\xff" * 32) == 0x62A8AB43
    assert _crc32c._update(0xFFFFFFFF, b"\x01\x02" * 700) ^ 0xFFFFFFFF == slow_crc32c(
        b"\x01\x02" * 700
    )
    for crc in (0, 1, 0xFFFFFFFF, 0x12345678):
        assert _crc32c.unmask(_crc32c.mask(crc)) == crc
        assert _crc32c.mask(crc) != crc


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 2**32, 2**63 - 1, -1, -(2**63)])
def test_varint_round_trip(value: int) -> None:
    encoded = _wire.encode_varint(value)
    decoded, end = _wire.decode_varint(encoded, 0)
    assert end == len(encoded)
    assert _wire._signed64(decoded) == value
    assert len(encoded) == (10 if value < 0 else max(1, (value.bit_length() + 6) // 7))


def test_messages_round_trip_and_unknown_fields_are_skipped() -> None:
    entry = _wire.BundleEntry(dtype=1, shape=(2, 0, 5), shard_id=0, offset=12, size=40,
                              crc32c=0xDEADBEEF)
    assert _wire.BundleEntry.decode(entry.encode()) == entry
    scalar = _wire.BundleEntry(dtype=9, shape=(), offset=0, size=8, crc32c=1)
    assert _wire.BundleEntry.decode(scalar.encode()) == scalar
    header = _wire.BundleHeader(num_shards=1)
    # a field number tapegrad does not know (99, varint) is skipped
    assert _wire.BundleHeader.decode(header.encode() + b"\x98\x06\x01") == header
    graph = _wire.ObjectGraph([
        _wire.ObjectNode(children=[(1, "a/b"), (2, "list")], has_checkpoint_values=True),
        _wire.ObjectNode(attributes=[_wire.SerializedTensor("VARIABLE_VALUE", "v", "a.Sb/.A")],
                         slot_variables=[_wire.SlotReference(1, "momentum", 3)]),
        _wire.ObjectNode(),
    ])
    assert _wire.ObjectGraph.decode(graph.encode()) == graph
    with pytest.raises(_wire.WireError):
        _wire.fields(b"\x0a\x05ab")  # a length running past the end


def test_table_round_trip_over_many_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_table, "_BLOCK_SIZE", 200)
    entries = [(f"key/{i:04d}/x".encode(), bytes([i % 256]) * (i % 13)) for i in range(500)]
    data = _table.write_table(entries)
    assert list(_table.read_table(data)) == entries
    corrupt = bytearray(data)
    corrupt[10] ^= 0xFF
    with pytest.raises(_table.TableError, match="checksum"):
        list(_table.read_table(bytes(corrupt)))
    with pytest.raises(_table.TableError, match="magic"):
        list(_table.read_table(data[:-1] + b"\x00"))
    with pytest.raises(_table.TableError, match="increasing"):
        _table.write_table([(b"b", b""), (b"a", b"")])


def test_reads_the_index_tensorflow_wrote() -> None:
    raw = (FIXTURES / "tf_module" / "ckpt-3.index").read_bytes()
    entries = dict(_table.read_table(raw))
    header = _wire.BundleHeader.decode(entries.pop(b""))
    assert header.num_shards == 1 and header.endianness == 0
    w = _wire.BundleEntry.decode(entries[b"net/w/.ATTRIBUTES/VARIABLE_VALUE"])
    assert (w.dtype, w.shape, w.size) == (1, (2, 3), 24)


def test_bundle_round_trip_of_every_dtype_and_strings(tmp_path: pathlib.Path) -> None:
    tensors: dict[str, np.ndarray | bytes] = {
        "f32": np.arange(6, dtype=np.float32).reshape(2, 3),
        "f64": np.array(2.5),
        "i32": np.array([-1, 2], np.int32),
        "i64": np.array([[2**40]], np.int64),
        "bool": np.array([True, False]),
        "u8": np.array([1, 255], np.uint8),
        "f16": np.array([0.5], np.float16),
        "empty": np.zeros((0, 4), np.float32),
        "s": b"a string scalar",
        "strings": np.array([b"x", b"", b"yz" * 300], dtype=object),
    }
    write_bundle(str(tmp_path / "c"), tensors)
    reader = BundleReader(str(tmp_path / "c"))
    for key, value in tensors.items():
        got = reader.read(key)
        if isinstance(value, bytes):
            assert got == value
        else:
            assert isinstance(got, np.ndarray)
            np.testing.assert_array_equal(got, value)
            assert got.dtype == value.dtype and got.shape == value.shape
    assert reader.dtype_name("s") == "string"


def test_corrupt_data_is_detected(tmp_path: pathlib.Path) -> None:
    write_bundle(str(tmp_path / "c"), {"a": np.arange(10, dtype=np.float32), "s": b"text"})
    data_file = tmp_path / "c.data-00000-of-00001"
    raw = bytearray(data_file.read_bytes())
    raw[5] ^= 1
    raw[-1] ^= 1
    data_file.write_bytes(bytes(raw))
    reader = BundleReader(str(tmp_path / "c"))
    with pytest.raises(CheckpointFormatError, match="checksum"):
        reader.read("a")
    with pytest.raises(CheckpointFormatError, match="checksum"):
        reader.read("s")
    with pytest.raises(KeyError):
        reader.read("missing")
    with pytest.raises(FileNotFoundError):
        BundleReader(str(tmp_path / "nope"))


# ---- TF-written checkpoints restore into tapegrad -------------------------------------


# TF 2.21 restored tf_module/ckpt-3 into the same objects, then took one more Adam step
# on the gradient of sum(net(x)²) (make_fixtures.py's tf_module_next_step; the same with
# the optimizer built before or after restore()); float32: a few ulps apart, where fresh
# slots would move each weight by about the learning rate
TF_NEXT_W = [[0.1712723970413208, 0.2816140055656433, 0.39433279633522034],
             [0.1010434553027153, 0.20077131688594818, 0.3004560172557831]]
TF_NEXT_B = [-0.02886763960123062, 0.1292639821767807, 0.18734337389469147]


def _adam_step(net: tapegrad_written.Net, opt: tf.optimizers.Optimizer, x: object) -> None:
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(net(tf.constant(x)) ** 2)
    grads = tape.gradient(loss, [net.w, net.b])
    opt.apply_gradients(zip(grads, [net.w, net.b], strict=True))


def test_tensorflow_checkpoint_restores_into_the_equivalent_tapegrad_objects() -> None:
    expected = json.loads((FIXTURES / "tf_module" / "expected.json").read_text())
    net = tapegrad_written.Net()  # same attribute names as the tf.Module, other values
    net.w.assign(tf.zeros([2, 3]))
    opt = tf.optimizers.Adam(0.5)
    ckpt = tf.train.Checkpoint(
        v=tf.Variable(np.zeros(3, np.int64)), step=tf.Variable(0), net=net, optimizer=opt
    )
    path = tf.train.latest_checkpoint(str(FIXTURES / "tf_module"))
    assert path is not None and path.endswith(expected["path"])
    status = ckpt.restore(path)
    y = net(tf.constant(expected["x"]))
    np.testing.assert_allclose(y.numpy(), expected["y"], rtol=1e-6)
    assert ckpt.v.numpy().tolist() == [1, 2, 3] and int(ckpt.step) == 42
    assert int(ckpt.save_counter) == 3
    assert int(opt.iterations) == expected["iterations"]
    np.testing.assert_allclose(float(opt.learning_rate), 0.05)
    status.assert_existing_objects_matched()  # the optimizer is not built: no slots yet
    # the Adam slots wait in the checkpoint until the optimizer builds them
    with pytest.raises(AssertionError, match="_variables/2"):
        status.assert_consumed()
    _adam_step(net, opt, expected["x"])  # builds the slots: restored, then updated
    np.testing.assert_allclose(net.w.numpy(), TF_NEXT_W, rtol=1e-5, atol=2e-6)
    np.testing.assert_allclose(net.b.numpy(), TF_NEXT_B, rtol=1e-5, atol=2e-6)
    assert int(opt.iterations) == expected["iterations"] + 1
    status.assert_consumed()


def test_slots_restore_into_a_built_optimizer_and_training_continues_like_tf() -> None:
    expected = json.loads((FIXTURES / "tf_module" / "expected.json").read_text())
    net = tapegrad_written.Net()
    opt = tf.optimizers.Adam(0.1)
    opt.build([net.w, net.b])
    ckpt = tf.train.Checkpoint(
        v=tf.Variable(np.zeros(3, np.int64)), step=tf.Variable(0), net=net, optimizer=opt
    )
    status = ckpt.restore(str(FIXTURES / "tf_module" / "ckpt-3"))
    status.assert_consumed()
    # Keras's order: each variable's momentum and velocity in turn
    slots = [(net.w, "momentum"), (net.w, "velocity"), (net.b, "momentum"), (net.b, "velocity")]
    for (variable, name), tf_value in zip(slots, expected["slots"].values(), strict=True):
        np.testing.assert_allclose(opt.get_slot(variable, name).numpy(), tf_value, rtol=1e-6)
    _adam_step(net, opt, expected["x"])
    np.testing.assert_allclose(net.w.numpy(), TF_NEXT_W, rtol=1e-5, atol=2e-6)
    np.testing.assert_allclose(net.b.numpy(), TF_NEXT_B, rtol=1e-5, atol=2e-6)


def test_a_slot_of_another_shape_is_an_error_naming_it() -> None:
    net = tapegrad_written.Net()
    opt = tf.optimizers.Adam(0.1)
    opt.build([net.b, net.w])  # the other order: the first slots get w's values
    ckpt = tf.train.Checkpoint(net=net, optimizer=opt)
    with pytest.raises(ValueError, match=r"shape \(2, 3\).*adam/b_momentum"):
        ckpt.restore(str(FIXTURES / "tf_module" / "ckpt-3"))


def test_a_dropped_restoration_is_not_kept_alive_by_the_optimizer(tmp_path: pathlib.Path) -> None:
    ckpt, net, opt = tapegrad_written.build()
    path = ckpt.write(str(tmp_path / "c"))
    opt2 = tf.optimizers.Adam(0.1)
    status = tf.train.Checkpoint(optimizer=opt2).restore(path)
    restoration = weakref.ref(status._restoration)
    del status
    gc.collect()
    assert restoration() is None
    opt2.build([net.w, net.b])  # the pending hook finds nothing to run


def test_list_and_load_variable_on_a_tensorflow_checkpoint() -> None:
    directory = str(FIXTURES / "tf_module")
    names = dict(tf.train.list_variables(directory))
    assert names["net/w/.ATTRIBUTES/VARIABLE_VALUE"] == [2, 3]
    assert names["_CHECKPOINTABLE_OBJECT_GRAPH"] == []
    assert list(names) == sorted(names)
    step = tf.train.load_variable(directory, "step/.ATTRIBUTES/VARIABLE_VALUE")
    assert step.dtype == np.int32 and int(step) == 42
    graph = tf.train.load_variable(directory, "_CHECKPOINTABLE_OBJECT_GRAPH")
    assert isinstance(graph, bytes) and _wire.ObjectGraph.decode(graph).nodes
    expected = json.loads((FIXTURES / "tf_module" / "expected.json").read_text())
    key = "optimizer/_variables/2/.ATTRIBUTES/VARIABLE_VALUE"
    momentum = tf.train.load_variable(directory, key)
    np.testing.assert_allclose(momentum, expected["slots"]["adam/w_0_momentum"])


def test_reads_a_keras_model_checkpoint() -> None:
    # Keras 3's layout (for tf.keras models once tapegrad has them): the Dense layer's
    # kernel and bias reproduce the Keras model's outputs
    directory = FIXTURES / "keras_dense"
    expected = json.loads((directory / "expected.json").read_text())
    prefix = "model/_functional/_operations/1/"
    kernel = tf.train.load_variable(str(directory), prefix + "_kernel/.ATTRIBUTES/VARIABLE_VALUE")
    bias = tf.train.load_variable(str(directory), prefix + "bias/.ATTRIBUTES/VARIABLE_VALUE")
    y = tf.matmul(tf.constant(expected["x"]), kernel) + bias
    np.testing.assert_allclose(y.numpy(), expected["y"], rtol=1e-6)


def test_manager_continues_a_tensorflow_run(tmp_path: pathlib.Path) -> None:
    directory = tmp_path / "run"
    shutil.copytree(FIXTURES / "tf_module", directory)
    net = tapegrad_written.Net()
    ckpt = tf.train.Checkpoint(v=tf.Variable(np.zeros(3, np.int64)), step=tf.Variable(0),
                               net=net, optimizer=tf.optimizers.Adam(0.1))
    manager = tf.train.CheckpointManager(ckpt, str(directory), max_to_keep=2)
    assert [os.path.basename(p) for p in manager.checkpoints] == ["ckpt-2", "ckpt-3"]
    assert manager.restore_or_initialize() == str(directory / "ckpt-3")
    path = manager.save()
    assert path == str(directory / "ckpt-4")  # save_counter came back as 3
    assert not (directory / "ckpt-2.index").exists()
    assert [os.path.basename(p) for p in manager.checkpoints] == ["ckpt-3", "ckpt-4"]
    state = tf.train.get_checkpoint_state(str(directory))
    assert state is not None and state.all_model_checkpoint_paths == manager.checkpoints


# ---- tapegrad-written checkpoints ---------------------------------------------------------


def test_writes_the_checkpoint_tensorflow_was_checked_to_restore(tmp_path: pathlib.Path) -> None:
    # tapegrad_written/ckpt-1 was restored by TF 2.21 (check_in_tf.py, all values and slots)
    # (the same keys, values and object graph; variable names may differ: tapegrad makes
    # them unique per process, "Variable_3", and TF only reads them for display)
    tapegrad_written.write(tmp_path)
    written = BundleReader(str(tmp_path / "ckpt-1"))
    shipped = BundleReader(str(FIXTURES / "tapegrad_written" / "ckpt-1"))
    assert written.entries.keys() == shipped.entries.keys()

    def anonymous(reader: BundleReader) -> _wire.ObjectGraph:
        graph_bytes = reader.read("_CHECKPOINTABLE_OBJECT_GRAPH")
        assert isinstance(graph_bytes, bytes)
        graph = _wire.ObjectGraph.decode(graph_bytes)
        for node in graph.nodes:
            for attribute in node.attributes:
                attribute.full_name = ""
        return graph

    assert anonymous(written) == anonymous(shipped)
    for key in shipped.entries:
        if key != "_CHECKPOINTABLE_OBJECT_GRAPH":
            a, b = written.read(key), shipped.read(key)
            assert isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)


def test_round_trip_of_objects_lists_dicts_and_optimizer(tmp_path: pathlib.Path) -> None:
    ckpt, net, opt = tapegrad_written.build()
    shared = tf.Variable(5.0)
    ckpt.pair = (shared, {"again": shared})  # one variable reached by two paths
    path = ckpt.save(str(tmp_path / "ckpt"))
    keys = dict(tf.train.list_variables(path))
    assert "pair/0/.ATTRIBUTES/VARIABLE_VALUE" in keys
    assert not any(k.startswith("pair/1") for k in keys)  # saved once, under its first path
    net2 = tapegrad_written.Net()
    opt2 = tf.optimizers.Adam(0.0)
    opt2.build([net2.w, net2.b])
    shared2 = tf.Variable(0.0)
    restored = tf.train.Checkpoint(v=tf.Variable(np.zeros(3, np.int64)), step=tf.Variable(0),
                                   net=net2, optimizer=opt2, pair=(shared2, {"again": shared2}))
    restored.restore(path).assert_existing_objects_matched()
    for a, b in ((net.w, net2.w), (net.b, net2.b), (net.extras[0], net2.extras[0])):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert float(net2.extras[1]["scale"]) == 3.0 and float(shared2) == 5.0
    assert int(opt2.iterations) == 3 and float(opt2.learning_rate) == pytest.approx(0.05)
    assert int(restored.save_counter) == 1
    for variable, variable2 in ((net.w, net2.w), (net.b, net2.b)):
        for slot in ("momentum", "velocity"):
            np.testing.assert_array_equal(
                opt.get_slot(variable, slot).numpy(), opt2.get_slot(variable2, slot).numpy()
            )


def test_names_with_slashes_and_dots_are_escaped(tmp_path: pathlib.Path) -> None:
    ckpt = tf.train.Checkpoint(model={"a/b": tf.Variable(1.0), "c.d": tf.Variable(2.0)})
    path = ckpt.write(str(tmp_path / "c"))
    assert {k for k, _ in tf.train.list_variables(path)} >= {
        "model/a.Sb/.ATTRIBUTES/VARIABLE_VALUE", "model/c..d/.ATTRIBUTES/VARIABLE_VALUE"}
    target = {"a/b": tf.Variable(0.0), "c.d": tf.Variable(0.0)}
    tf.train.Checkpoint(model=target).restore(path).assert_consumed()
    assert float(target["a/b"]) == 1.0 and float(target["c.d"]) == 2.0


def test_cycles_and_custom_children(tmp_path: pathlib.Path) -> None:
    class Node:
        def __init__(self) -> None:
            self.value = tf.Variable(1.0)
            self.me = self  # a cycle

    class Custom:
        def __init__(self) -> None:
            self.hidden = tf.Variable(7.0)

        def _trackable_children(self) -> dict[str, object]:
            return {"exposed": self.hidden}

    path = tf.train.Checkpoint(node=Node(), custom=Custom()).write(str(tmp_path / "c"))
    keys = {k for k, _ in tf.train.list_variables(path)}
    assert {"node/value/.ATTRIBUTES/VARIABLE_VALUE",
            "custom/exposed/.ATTRIBUTES/VARIABLE_VALUE"} <= keys


def test_delayed_restoration_of_objects_created_after_restore(tmp_path: pathlib.Path) -> None:
    class Lazy:
        """Creates its variable on first use, like a Keras layer's build."""

        def __call__(self) -> tf.Variable:
            if not hasattr(self, "kernel"):
                self.kernel = tf.Variable(tf.zeros([2]))
            return self.kernel

    source = Lazy()
    source().assign([3.0, 4.0])
    path = tf.train.Checkpoint(layer=source, extra=tf.Variable(9)).write(str(tmp_path / "c"))
    layer = Lazy()
    ckpt = tf.train.Checkpoint(layer=layer)
    status = ckpt.restore(path)
    ckpt.extra = tf.Variable(0)  # a new attribute of the Checkpoint: restored at once
    assert int(ckpt.extra) == 9
    layer()  # the kernel appears later: the status's next check restores it
    status.run_restore_ops()
    np.testing.assert_array_equal(layer.kernel.numpy(), [3.0, 4.0])
    status.assert_consumed()


def test_dataset_iterator_position_is_saved_and_restored(tmp_path: pathlib.Path) -> None:
    # the TF checkpoint guide's pattern: Checkpoint(..., iterator=iterator)
    def make() -> tf.data.Dataset:
        return tf.data.Dataset.range(20).shuffle(20, seed=5).batch(3).repeat()

    iterator = iter(make())
    consumed = [next(iterator).numpy().tolist() for _ in range(9)]  # into the second epoch
    path = tf.train.Checkpoint(iterator=iterator).write(str(tmp_path / "c"))
    expected_next = [next(iterator).numpy().tolist() for _ in range(3)]
    resumed = iter(make())  # a new process would rebuild the same pipeline
    tf.train.Checkpoint(iterator=resumed).restore(path).assert_consumed()
    assert [next(resumed).numpy().tolist() for _ in range(3)] == expected_next
    assert consumed[:7] != expected_next
    short = iter(tf.data.Dataset.range(3).shuffle(3, seed=5))
    with pytest.raises(tf.errors.InvalidArgumentError, match="only 3 elements"):
        tf.train.Checkpoint(iterator=short).restore(path)


def test_an_iterator_position_saved_as_a_scalar_still_restores(tmp_path: pathlib.Path) -> None:
    # earlier tapegrad versions saved the position alone, an int64 scalar
    key = "it/.ATTRIBUTES/TAPEGRAD_ITERATOR_POSITION"
    graph = _wire.ObjectGraph([
        _wire.ObjectNode(children=[(1, "it")]),
        _wire.ObjectNode(attributes=[_wire.SerializedTensor("TAPEGRAD_ITERATOR_POSITION", "it",
                                                            key)]),
    ])
    write_bundle(str(tmp_path / "c"), {"_CHECKPOINTABLE_OBJECT_GRAPH": graph.encode(),
                                       key: np.array(2, np.int64)})
    iterator = iter(tf.data.Dataset.range(5))
    tf.train.Checkpoint(it=iterator).restore(str(tmp_path / "c")).assert_consumed()
    assert int(next(iterator)) == 2


def test_values_tapegrad_cannot_restore_are_reported(tmp_path: pathlib.Path) -> None:
    # a TF dataset iterator is saved as an ITERATOR_STATE attribute, not a variable
    graph = _wire.ObjectGraph([
        _wire.ObjectNode(children=[(1, "it")]),
        _wire.ObjectNode(attributes=[_wire.SerializedTensor("ITERATOR_STATE", "it",
                                                            "it/.ATTRIBUTES/ITERATOR_STATE")]),
    ])
    write_bundle(str(tmp_path / "c"), {"_CHECKPOINTABLE_OBJECT_GRAPH": graph.encode(),
                                       "it/.ATTRIBUTES/ITERATOR_STATE": np.zeros(3, np.int64)})
    iterator = iter(tf.data.Dataset.range(3))
    status = tf.train.Checkpoint(it=iterator).restore(str(tmp_path / "c"))
    with pytest.raises(AssertionError, match="does not restore ITERATOR_STATE"):
        status.assert_consumed()
    with pytest.raises(AssertionError, match="not assigned a value"):
        status.assert_existing_objects_matched()


def test_restore_errors(tmp_path: pathlib.Path) -> None:
    path = tf.train.Checkpoint(v=tf.Variable([1.0, 2.0])).write(str(tmp_path / "c"))
    with pytest.raises(ValueError, match="incompatible tensor with shape"):
        tf.train.Checkpoint(v=tf.Variable([1.0, 2.0, 3.0])).restore(path)
    with pytest.raises(ValueError, match="dtype"):
        tf.train.Checkpoint(v=tf.Variable(np.zeros(2))).restore(path)
    with pytest.raises(ValueError, match="trackable"):
        tf.train.Checkpoint(v=3)
    with pytest.raises(FileNotFoundError):
        tf.train.Checkpoint().restore(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="latest_checkpoint"):
        tf.train.Checkpoint().restore(str(tmp_path))
    status = tf.train.Checkpoint(v=tf.Variable(0.0)).restore(None)
    assert status.expect_partial() is status
    with pytest.raises(AssertionError, match="No checkpoint"):
        status.assert_consumed()
    with pytest.raises(AssertionError, match="Nothing except the root"):
        tf.train.Checkpoint(other=tf.Variable(0.0)).restore(path).assert_nontrivial_match()


def test_manager_max_to_keep_interval_and_numbering(tmp_path: pathlib.Path) -> None:
    step = tf.Variable(0)
    ckpt = tf.train.Checkpoint(step=step)
    manager = tf.train.CheckpointManager(ckpt, str(tmp_path), max_to_keep=2, step_counter=step,
                                         checkpoint_interval=10)
    assert manager.latest_checkpoint is None and manager.restore_or_initialize() is None
    saved = []
    for _ in range(25):
        step.assign_add(1)
        saved.append(manager.save())
    kept = [p for p in saved if p is not None]
    assert [os.path.basename(p) for p in kept] == ["ckpt-1", "ckpt-2", "ckpt-3"]  # steps 1, 11, 21
    assert sorted(f.name for f in tmp_path.glob("*.index")) == ["ckpt-2.index", "ckpt-3.index"]
    assert tf.train.latest_checkpoint(str(tmp_path)) == kept[-1]
    numbered = tf.train.CheckpointManager(ckpt, str(tmp_path), max_to_keep=None)
    assert numbered.save(checkpoint_number=100) == str(tmp_path / "ckpt-100")
    with pytest.raises(ValueError, match="max_to_keep"):
        tf.train.CheckpointManager(ckpt, str(tmp_path), max_to_keep=0)


_WRITER = textwrap.dedent(
    """
    import os
    import sys
    import time

    import numpy as np
    import tapegrad as tf
    from tapegrad.train import _bundle
    from tapegrad.train import _checkpoint as checkpoint

    directory, stage = sys.argv[1], sys.argv[2]
    big = tf.Variable(np.zeros((1024, 1024), np.float32))
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(big=big), directory, max_to_keep=1)
    big.assign(tf.ones([1024, 1024]))
    manager.save()

    def stop_here(where):  # the parent kills us while we wait here
        print(where, flush=True)
        time.sleep(600)

    writes, renames = [], []
    real_write, real_replace, real_state = _bundle._fsync_write, os.replace, checkpoint._write_state

    def half_write(path, payload):
        writes.append(path)
        if stage == f"write{len(writes)}":  # write1: the data file, write2: the index
            with open(path, "wb") as f:
                f.write(payload[: len(payload) // 2])
            stop_here(stage)
        real_write(path, payload)

    def replace(src, dst):
        real_replace(src, dst)
        renames.append(dst)
        if stage == "rename1" and len(renames) == 1:  # the new data file is in place
            stop_here(stage)

    def state(*args, **kwargs):
        if stage == "state":  # both files complete, the state file still names ckpt-1
            stop_here(stage)
        real_state(*args, **kwargs)

    _bundle._fsync_write, _bundle.os.replace, checkpoint._write_state = half_write, replace, state
    big.assign_add(tf.ones([1024, 1024]))
    manager.save()
    print("finished", flush=True)
    """
)


@pytest.mark.parametrize("stage", ["write1", "write2", "rename1", "state"])
def test_a_writer_killed_mid_save_leaves_the_last_good_checkpoint(
    tmp_path: pathlib.Path, stage: str
) -> None:
    env = dict(os.environ, PYTHONPATH=str(pathlib.Path(tf.__file__).parent.parent))
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path), stage],
                              stdout=subprocess.PIPE, env=env)
    assert writer.stdout is not None
    watchdog = threading.Timer(120, writer.kill)  # a broken writer must not hang the suite
    watchdog.start()
    try:
        reached = writer.stdout.readline().strip()
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        writer.stdout.close()
        watchdog.cancel()
    assert reached == stage.encode()
    latest = tf.train.latest_checkpoint(str(tmp_path))
    assert latest == str(tmp_path / "ckpt-1")
    big = tf.Variable(np.zeros((1024, 1024), np.float32))
    tf.train.Checkpoint(big=big).restore(latest).assert_consumed()
    assert np.all(big.numpy() == 1.0)  # the first save's values, whole
    # no torn file under a final name: every index present reads back completely
    for index in tmp_path.glob("*.index"):
        reader = BundleReader(str(index)[: -len(".index")])
        for key in reader.entries:
            reader.read(key)


def test_write_is_deterministic_and_atomic_names(tmp_path: pathlib.Path) -> None:
    ckpt = tf.train.Checkpoint(a=tf.Variable([1.0]), b=[tf.Variable(2)])
    first = ckpt.write(str(tmp_path / "one"))
    second = ckpt.write(str(tmp_path / "two"))
    for suffix in (".index", ".data-00000-of-00001"):
        one, two = pathlib.Path(first + suffix), pathlib.Path(second + suffix)
        assert one.read_bytes() == two.read_bytes()
    assert not list(tmp_path.glob("*tempstate*"))
    raw = pathlib.Path(first + ".index").read_bytes()
    assert struct.unpack("<Q", raw[-8:])[0] == 0xDB4775248B80FB57
