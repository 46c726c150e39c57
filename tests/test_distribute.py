"""tapegrad.distribute: the one-process semantics and helpers in this process,
and the multi-process behaviour under ``mpirun -n 2`` and ``-n 3`` (small
scripts in tests/distributed/, each a subprocess with a time limit).

The MPI tests are skipped where mpirun or mpi4py is missing; CI installs
both and sets TAPEGRAD_REQUIRE_MPI=1, which turns that skip into a failure.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import tapegrad as tf
import tapegrad.distribute as hvd
from tapegrad.distribute._engine import describe_mismatch
from tapegrad.distribute._fusion import plan_buckets
from tapegrad.distribute._launch import have_mpirun, mpirun_command

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = Path(__file__).resolve().parent / "distributed"

if os.environ.get("TAPEGRAD_REQUIRE_MPI") == "1" and not have_mpirun():
    raise RuntimeError("TAPEGRAD_REQUIRE_MPI=1 but mpirun or mpi4py is missing")
needs_mpi = pytest.mark.skipif(not have_mpirun(), reason="needs mpirun and mpi4py")


def launch(
    processes: int, *argv: str, timeout: float = 240, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], float]:
    # the ranks import the tapegrad this test imported (the source tree or
    # an installed wheel)
    package_parent = str(Path(tf.__file__).resolve().parent.parent)
    path = os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")]))
    environment = dict(os.environ, PYTHONPATH=path, **(env or {}))
    environment.pop("TAPEGRAD_DISTRIBUTE_TIMEOUT", None)
    start = time.monotonic()
    done = subprocess.run(
        mpirun_command(processes, list(argv)),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment,
        cwd=ROOT,
    )
    return done, time.monotonic() - start


# -- one process: no launcher, no MPI -----------------------------------------


@pytest.fixture
def single():
    hvd.init()
    yield
    hvd.shutdown()


def test_one_process_job(single):
    assert (hvd.rank(), hvd.size(), hvd.local_rank(), hvd.local_size()) == (0, 1, 0, 1)
    assert hvd.is_initialized() and not hvd.mpi_enabled()
    x = tf.constant([[1.0, -2.0]])
    for op in (hvd.Average, hvd.Sum, hvd.Min, hvd.Max, hvd.Product):
        np.testing.assert_array_equal(hvd.allreduce(x, op=op).numpy(), x.numpy())
    assert hvd.allreduce(x, prescale_factor=2.0, postscale_factor=3.0).numpy().tolist() == [
        [6.0, -12.0]
    ]
    assert hvd.allgather(x).shape == (1, 2)
    assert hvd.broadcast_object([1, "a"]) == [1, "a"]
    assert hvd.allgather_object(3) == [3]
    assert hvd.join() == 0


def test_fp16_compression_rounds_through_half(single):
    x = tf.constant([1.0 + 2.0**-12, 3.0], dtype=tf.float64)
    out = hvd.allreduce(x, compression=hvd.Compression.fp16)
    assert out.dtype == tf.float64
    assert out.numpy().tolist() == [1.0, 3.0]  # 1 + 2**-12 is not a float16


def test_optimizer_and_tape_one_process(single):
    w = tf.Variable([1.0, -1.0], name="w")
    opt = hvd.DistributedOptimizer(tf.optimizers.SGD(learning_rate=0.25))
    assert isinstance(opt, tf.optimizers.SGD)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(w * w)
    grads = hvd.DistributedGradientTape(tape).gradient(loss, {"w": w})
    opt.apply_gradients([(grads["w"], w)])
    assert w.numpy().tolist() == [0.5, -0.5]


def test_not_initialized_is_a_clear_error():
    hvd.shutdown()
    with pytest.raises(ValueError, match="hvd.init"):
        hvd.rank()
    with pytest.raises(ValueError, match="hvd.init"):
        hvd.allreduce(tf.ones(2))


def test_bad_arguments(single):
    with pytest.raises(tf.errors.UnimplementedError, match="Adasum"):
        hvd.allreduce(tf.ones(2), op=hvd.Adasum)
    with pytest.raises(TypeError, match="bool"):
        hvd.allreduce(tf.constant([True]))
    with pytest.raises(TypeError, match="prescale"):
        hvd.allreduce(tf.constant([1]), prescale_factor=2.0)
    with pytest.raises(ValueError, match="root_rank 3"):
        hvd.broadcast(tf.ones(2), root_rank=3)
    with pytest.raises(ValueError, match="scalar"):
        hvd.allgather(tf.constant(1.0))
    with pytest.raises(ValueError, match="splits"):
        hvd.alltoall(tf.ones(4), splits=[3])
    with pytest.raises(tf.errors.UnimplementedError, match="backward_passes_per_step"):
        hvd.DistributedOptimizer(tf.optimizers.SGD(), backward_passes_per_step=2)
    with pytest.raises(TypeError, match="GradientTape"):
        hvd.DistributedGradientTape(object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="TAPEGRAD_DISTRIBUTE_TIMEOUT"):
        os.environ["TAPEGRAD_DISTRIBUTE_TIMEOUT"] = "soon"
        try:
            hvd.shutdown()
            hvd.init()
        finally:
            del os.environ["TAPEGRAD_DISTRIBUTE_TIMEOUT"]


def test_shard_follows_dataset_shard_rule():
    assert hvd.shard(list(range(7)), 3, 0) == [0, 3, 6]
    assert hvd.shard(list(range(7)), 3, 0, drop_remainder=True) == [0, 3]
    x, y = hvd.shard((np.arange(6), np.arange(6) * 2), 2, 1)
    assert x.tolist() == [1, 3, 5] and y.tolist() == [2, 6, 10]
    assert hvd.shard({"a": np.arange(4)}, 2, 0)["a"].tolist() == [0, 2]
    assert hvd.shard(tf.range(5), 2, 1).numpy().tolist() == [1, 3]
    assert list(hvd.shard((i * i for i in range(6)), 3, 2)) == [4, 25]

    class Dataset:  # anything with tf.data's shard method is asked to shard itself
        def shard(self, num_shards: int, index: int) -> tuple[str, int, int]:
            return ("sharded", num_shards, index)

    assert hvd.shard(Dataset(), 4, 3) == ("sharded", 4, 3)
    dataset = tf.data.Dataset.range(10)
    assert [int(x) for x in hvd.shard(dataset, 3, 1).as_numpy_iterator()] == [1, 4, 7]
    with pytest.raises(ValueError, match="index"):
        hvd.shard([1, 2], 2, 2)


def test_fusion_buckets_keep_order_and_split_by_dtype_and_size():
    f32, f64 = np.dtype("float32"), np.dtype("float64")
    arrays = [np.zeros(n, d) for n, d in [(4, f32), (2, f64), (4, f32), (100, f32), (1, f64)]]
    wires = [a.dtype for a in arrays]
    assert plan_buckets(arrays, wires, 1 << 20) == [[0, 2, 3], [1, 4]]
    assert plan_buckets(arrays, wires, 32) == [[0, 2], [1, 4], [3]]
    assert plan_buckets(arrays, wires, 0) == [[0], [1], [2], [3], [4]]


def test_mismatch_message_names_the_tensor():
    a = ("allreduce", "sum", "float32", 6, ("None gradients", ()), (("w", "float32", (2, 3)),))
    b = ("allreduce", "sum", "float32", 4, ("None gradients", ()), (("w", "float32", (2, 2)),))
    text = describe_mismatch([a, b], ["allreduce of 'w'", "allreduce of 'w'"])
    assert "tensor 'w' is float32[2, 3] on rank 0, tensor 'w' is float32[2, 2] on rank 1" in text


def test_the_tape_reports_each_gradient_once_as_soon_as_it_is_final():
    # the hook DistributedGradientTape overlaps communication with: each
    # source's gradient is reported once, when the reverse pass has run every
    # consumer of that source (the last layer's first), with the value the
    # result holds; a source nothing consumes is reported first
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(5, 3)))
    w1, b1, w2, b2 = (
        tf.Variable(rng.normal(size=s), name=n)
        for n, s in [("w1", (3, 4)), ("b1", (4,)), ("w2", (4, 2)), ("b2", (2,))]
    )
    unused = tf.Variable(1.0, dtype=tf.float64)
    events: list[object] = []

    @tf.custom_gradient
    def first_layer(h):
        def grad(upstream):
            events.append("first layer's backward")
            return upstream * (1 - tf.tanh(h) ** 2)

        return tf.tanh(h), grad

    def loss_and_tape():
        with tf.GradientTape(persistent=True) as tape:
            h = first_layer(tf.matmul(x, w1) + b1)
            loss = tf.reduce_sum(tf.matmul(h, w2) + b2)
        return loss, tape

    sources = [w1, b1, unused, w2, b2, w1]
    loss, tape = loss_and_tape()
    plain = tape.gradient(loss, sources, unconnected_gradients="zero")
    events.clear()
    loss, tape = loss_and_tape()
    tape._on_final = lambda k, g: events.append((k, g))
    grads = tape.gradient(loss, sources, unconnected_gradients="zero")
    order = [e[0] if isinstance(e, tuple) else e for e in events]
    assert order == [2, 4, 3, "first layer's backward", 1, 0, 5], order
    for k, g in (e for e in events if isinstance(e, tuple)):
        assert g.numpy().tobytes() == grads[k].numpy().tobytes() == plain[k].numpy().tobytes()
    assert events[0][1].numpy() == 0.0  # the unconnected source, as zeros


def test_a_new_tensor_can_be_written_only_before_it_exists():
    from tapegrad import _core

    def fill(array):
        array[...] = np.arange(6).reshape(2, 3)

    t = _core._fill_new(tf.float32, [2, 3], fill)
    assert t.dtype == tf.float32 and t.numpy().tolist() == [[0, 1, 2], [3, 4, 5]]
    tf.experimental.release_memory()  # no kept buffer: a new one is zeros
    assert _core._fill_new("int64", [3], lambda a: None).numpy().tolist() == [0, 0, 0]
    kept: list[object] = []
    for keep in (kept.append, lambda a: kept.append(a[1:]), lambda a: kept.append(memoryview(a))):
        with pytest.raises(ValueError, match="kept the array"):
            _core._fill_new("float64", [4], keep)
    with pytest.raises(ZeroDivisionError):
        _core._fill_new("float64", [4], lambda a: 1 / 0)


def test_a_result_buffer_is_reused_only_once_nothing_can_read_it():
    # (what hvd.allreduce receives into: MPI overwrites every element)
    from tapegrad import _core

    def address(t: tf.Tensor) -> int:
        return np.asarray(t).__array_interface__["data"][0]

    def fill_with(value: float):
        return lambda array: array.fill(value)

    tf.experimental.release_memory()
    first = _core._fill_new("float32", [1 << 16], fill_with(1.0))
    start = address(first)
    second = _core._fill_new("float32", [1 << 16], fill_with(2.0))
    assert address(second) != start and first.numpy()[0] == 1.0
    view = np.asarray(first)
    del first  # its numpy view still reads the buffer
    third = _core._fill_new("float32", [1 << 16], fill_with(3.0))
    assert address(third) != start and view[0] == 1.0
    del view
    fourth = _core._fill_new("float32", [1 << 16], lambda array: None)  # writes nothing
    assert address(fourth) == start and fourth.numpy()[0] == 1.0  # reused: its old values
    assert (second.numpy()[0], third.numpy()[0]) == (2.0, 3.0)
    assert tf.experimental.release_memory() >= 3 * 4 << 16


def test_mpirun_command_for_containers():
    command = mpirun_command(3, ["x.py", "--flag"])
    assert command[:3] == ["mpirun", "-n", "3"]
    assert "--oversubscribe" in command and command[-2:] == ["x.py", "--flag"]
    assert command[command.index("btl") + 1] == "self,vader"


# -- several processes, under mpirun ----------------------------------------


@needs_mpi
@pytest.mark.parametrize("processes", [2, 3])
@pytest.mark.parametrize("fusion", ["default", "64"], ids=["fused", "tiny-buckets"])
def test_gradients_match_single_process_and_variables_stay_identical(processes, fusion):
    env = {} if fusion == "default" else {"TAPEGRAD_FUSION_THRESHOLD": fusion}
    done, _ = launch(processes, "tests/distributed/check_correctness.py", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    # not anchored: mpirun may splice two ranks' lines into one
    assert sorted(re.findall(r"OK rank (\d+)", done.stdout)) == [
        str(r) for r in range(processes)
    ]


FAULT_BOUND_S = 60  # start-up included; each case below ends in a few seconds here


@needs_mpi
def test_a_rank_that_raises_stops_the_job():
    done, elapsed = launch(2, "tests/distributed/check_faults.py", "raise")
    output = done.stdout + done.stderr
    assert done.returncode != 0 and elapsed < FAULT_BOUND_S, output
    assert "ValueError: rank 1 found a bad batch" in output
    assert "rank 1 of 2 stopped with an uncaught ValueError; aborting the job" in output


@needs_mpi
def test_a_killed_rank_stops_the_job():
    done, elapsed = launch(2, "tests/distributed/check_faults.py", "kill")
    output = done.stdout + done.stderr
    assert done.returncode != 0 and elapsed < FAULT_BOUND_S, output
    assert re.search(r"rank 1 .* exited on signal 9", output), output


@needs_mpi
def test_a_rank_that_never_submits_times_out_the_others():
    done, elapsed = launch(
        2, "tests/distributed/check_faults.py", "hang", env={"FAULT_TIMEOUT": "4"}
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0 and elapsed < FAULT_BOUND_S, output
    assert (
        "CollectiveTimeoutError: rank 0: no collective completed for 4 s while waiting "
        "for allreduce of 'lonely' (float32[3])"
    ) in output
    assert "rank 0 of 2 stopped with an uncaught CollectiveTimeoutError" in output


@needs_mpi
def test_a_rank_that_exits_early_times_out_the_others():
    done, elapsed = launch(
        2, "tests/distributed/check_faults.py", "exit", env={"FAULT_TIMEOUT": "4"}
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0 and elapsed < FAULT_BOUND_S, output
    assert (
        "tapegrad.distribute.CollectiveTimeoutError: rank 0: no collective completed for 4 s "
        "while waiting for allreduce of 'abandoned' (float32[3])"
    ) in output


@needs_mpi
@pytest.mark.parametrize("processes", [2, 3])
def test_mismatched_tensors_raise_on_every_rank_naming_the_tensor(processes):
    done, _ = launch(processes, "tests/distributed/check_faults.py", "mismatch")
    assert done.returncode == 0, done.stdout + done.stderr
    for r in range(processes):
        assert f"rank {r} MISMATCH-SHAPE" in done.stdout
        assert f"rank {r} MISMATCH-OP" in done.stdout
        assert f"rank {r} RECOVERED" in done.stdout
    expected = "tensor 'weights' is float32[3] on rank 0, tensor 'weights' is float32[4] on rank 1"
    assert expected in done.stdout
    assert "tensor 'extra_bias:0' is only on rank 1" in done.stdout


@needs_mpi
@pytest.mark.parametrize("processes", [2, 3])
def test_the_guide_example_trains_to_the_single_process_accuracy(processes):
    done, _ = launch(processes, "examples/mlp_distributed.py", "--check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(rf"^{processes} processes: .*test accuracy", done.stdout, re.M), done.stdout
