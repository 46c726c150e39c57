"""tapegrad.distribute on MPI, in one run (``python benches/allreduce.py``):

1. allreduce bandwidth: ``hvd.allreduce`` of a float32 tensor against a bare
   mpi4py ``Allreduce`` on numpy buffers of the same size, 2 processes, and
   where the time of ``hvd.allreduce`` goes (its steps timed alone);
2. one data-parallel MLP training step (784-512-512-10, float32, global
   batch 512, SGD through ``DistributedGradientTape``) on 2 processes against
   the same step on 1 process with the whole batch, with the gradients
   reduced during the backward pass (the default) and after it
   (``TAPEGRAD_OVERLAP=0``);
3. tensor fusion: 100 gradients of 1,000 float32 each through
   ``DistributedGradientTape``, fused (default threshold) and one collective
   per gradient (``TAPEGRAD_FUSION_THRESHOLD=0``).

The driver measures the 1-process step itself, then runs this file again
under ``mpirun -n 2`` for the rest, and prints one markdown table of medians.
Needs Open MPI and mpi4py (``pip install '.[distributed]'``).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SIZES = [4 << 10, 64 << 10, 1 << 20, 16 << 20]  # bytes
STEPS = 15


def median_time(fn, reps: int, barrier=None) -> float:
    return median_times([fn], reps, barrier)[0]


def median_times(fns, reps: int, barrier=None) -> list[float]:
    """The median time of each function, run in turn within each repetition
    (so that a slow spell of this shared machine hits all of them alike)."""
    for fn in fns:
        fn()  # warm-up: buffers, pools, first-call costs
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(reps):
        for fn, record in zip(fns, times, strict=True):
            if barrier is not None:
                barrier()
            start = time.perf_counter()
            fn()
            record.append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def mlp(seed: int = 0):
    import tapegrad as tf

    rng = np.random.default_rng(seed)
    shapes = [(784, 512), (512,), (512, 512), (512,), (512, 10), (10,)]
    params = [tf.Variable(rng.normal(0, 0.05, s).astype(np.float32)) for s in shapes]
    x = rng.normal(size=(512, 784)).astype(np.float32)
    y = rng.integers(0, 10, 512).astype(np.int32)
    return params, x, y


def mlp_step(params, x, y, wrap=None) -> None:
    import tapegrad as tf

    w1, b1, w2, b2, w3, b3 = params
    with tf.GradientTape() as tape:
        h = tf.nn.relu(tf.matmul(x, w1) + b1)
        h = tf.nn.relu(tf.matmul(h, w2) + b2)
        logits = tf.matmul(h, w3) + b3
        loss = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
        )
    if wrap is not None:
        tape = wrap(tape)
    for p, g in zip(params, tape.gradient(loss, params), strict=True):
        p.assign_sub(0.01 * g)


def single_process_step() -> float:
    import tapegrad as tf

    params, x, y = mlp()
    xt, yt = tf.constant(x), tf.constant(y)
    return median_time(lambda: mlp_step(params, xt, yt), STEPS)


def piece_functions(tensor) -> list:
    """The steps of ``hvd.allreduce(tensor, op=hvd.Sum)`` alone, through its
    private parts: reading the tensor as an array, the negotiation header
    (one 48-byte allreduce), and a new tensor that MPI reduces into (the
    allocation, its zeroing, and the data ``MPI_Allreduce``). What they
    leave of the whole call is the Python around them."""
    import tapegrad.distribute as hvd
    from tapegrad import _core
    from tapegrad.distribute import _collectives, _state

    hvd.allreduce(tensor, op=hvd.Sum)  # prepares the plan: its digest
    engine = _state.engine()
    comm = _state.transport().comm
    array = _collectives.as_array(tensor)
    digest = next(
        plan.digest
        for plan in _collectives._ONE_PLANS.values()
        if plan.description[3] == array.size and plan.description[2] == "float32"
    )

    def header() -> None:
        engine._header(digest, False, "bench")

    def reduce_into_new() -> None:
        _core._fill_new("float32", array.shape, lambda out: comm.Allreduce(array, out))

    return [lambda: _collectives.as_array(tensor), header, reduce_into_new]


def worker() -> None:
    """Under mpirun: the bandwidth, distributed step and fusion measurements."""
    import tapegrad as tf
    import tapegrad.distribute as hvd
    from mpi4py import MPI

    hvd.init()
    comm = MPI.COMM_WORLD
    results: dict[str, object] = {"size": hvd.size()}
    bandwidth = []
    pieces = []
    for nbytes in SIZES:
        n = nbytes // 4
        reps = 300 if nbytes <= (1 << 20) else 30
        send = np.random.default_rng(comm.rank).normal(size=n).astype(np.float32)
        recv = np.empty_like(send)
        tensor = tf.constant(send)
        bare, ours, *parts = median_times(
            [
                lambda s=send, r=recv: comm.Allreduce(s, r),
                lambda t=tensor: hvd.allreduce(t, op=hvd.Sum),
                *piece_functions(tensor),
            ],
            reps,
            comm.Barrier,
        )
        bandwidth.append((nbytes, bare, ours))
        pieces.append((nbytes, bare, ours, *parts))
    results["bandwidth"] = bandwidth
    results["pieces"] = pieces

    params, x, y = mlp()
    part = hvd.shard(np.arange(512))
    xt, yt = tf.constant(x[part]), tf.constant(y[part])

    def step_with_overlap(overlap: str):
        def run() -> None:
            os.environ["TAPEGRAD_OVERLAP"] = overlap
            mlp_step(params, xt, yt, hvd.DistributedGradientTape)

        return run

    results["step_2"], results["step_2_after"] = median_times(
        [step_with_overlap("1"), step_with_overlap("0")], STEPS, comm.Barrier
    )
    os.environ.pop("TAPEGRAD_OVERLAP")

    rng = np.random.default_rng(1)
    small = [tf.Variable(rng.normal(size=1000).astype(np.float32)) for _ in range(100)]

    def hundred_gradients() -> None:
        with tf.GradientTape() as tape:
            loss = tf.add(tf.reduce_sum(small[0]), 0.0)
            for v in small[1:]:
                loss = loss + tf.reduce_sum(v)
        hvd.DistributedGradientTape(tape).gradient(loss, small)

    def with_threshold(threshold: str):
        def run() -> None:
            os.environ["TAPEGRAD_FUSION_THRESHOLD"] = threshold
            hundred_gradients()

        return run

    fused, unfused = median_times([with_threshold(""), with_threshold("0")], 20, comm.Barrier)
    results["fusion"] = {"fused": fused, "unfused": unfused}
    if hvd.rank() == 0:
        print("RESULTS " + json.dumps(results), flush=True)
    hvd.shutdown()


def size_label(nbytes: int) -> str:
    return f"{nbytes >> 20} MiB" if nbytes >= 1 << 20 else f"{nbytes >> 10} KiB"


def main() -> None:
    import tapegrad
    from tapegrad.distribute._launch import mpirun_command

    step_1 = single_process_step()
    # the ranks import the tapegrad this driver imported
    package_parent = str(Path(tapegrad.__file__).resolve().parent.parent)
    path = os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, PYTHONPATH=path)
    done = subprocess.run(
        mpirun_command(2, [__file__, "--worker"]),
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULTS ")]
    if done.returncode != 0 or not lines:
        sys.exit(f"mpirun failed:\n{done.stdout}\n{done.stderr}")
    results = json.loads(lines[0][len("RESULTS ") :])
    print(f"2 processes, Open MPI on one machine ({os.cpu_count()} cores); medians\n")
    print("allreduce (Sum) of float32 buffers, time and algorithm bandwidth (bytes / time):\n")
    print("| size | bare mpi4py `Allreduce` | `hvd.allreduce` | ratio |")
    print("|---|---|---|---|")
    for nbytes, bare, ours in results["bandwidth"]:
        cells = [f"{t * 1e6:.1f} µs ({nbytes / t / 1e9:.2f} GB/s)" for t in (bare, ours)]
        print(f"| {size_label(nbytes)} | {cells[0]} | {cells[1]} | {bare / ours:.2f}× |")
    print("\nwhere the time of `hvd.allreduce` goes (each step timed alone, µs):\n")
    print(
        "| size | bare `Allreduce` | `hvd.allreduce` | new tensor + data `Allreduce` "
        "| negotiation | tensor as array | the rest (Python) |"
    )
    print("|---|---|---|---|---|---|---|")
    for nbytes, bare, ours, as_array, header, into_new in results["pieces"]:
        rest = ours - as_array - header - into_new
        cells = " | ".join(f"{t * 1e6:.1f}" for t in (bare, ours, into_new, header, as_array, rest))
        print(f"| {size_label(nbytes)} | {cells} |")
    print("\n| measurement | reference | tapegrad.distribute | ratio |")
    print("|---|---|---|---|")
    step_2, step_2_after = results["step_2"], results["step_2_after"]
    print(
        f"| MLP step, global batch 512 (1 vs 2 processes) | {step_1 * 1e3:.1f} ms "
        f"| {step_2 * 1e3:.1f} ms | {step_1 / step_2:.2f}× speed-up |"
    )
    print(
        f"| MLP step on 2 processes: reduced after vs during the backward pass "
        f"| {step_2_after * 1e3:.1f} ms | {step_2 * 1e3:.1f} ms "
        f"| {step_2_after / step_2:.2f}× |"
    )
    fusion = results["fusion"]
    print(
        f"| 100 gradients × 1,000 float32: unfused vs fused | {fusion['unfused'] * 1e3:.1f} ms "
        f"| {fusion['fused'] * 1e3:.1f} ms | {fusion['unfused'] / fusion['fused']:.1f}× faster |"
    )


if __name__ == "__main__":
    if sys.argv[1:] == ["--worker"]:
        worker()
    else:
        main()
