"""Run under mpirun with a scenario name: one rank misbehaves, and the job
must end promptly with a clear message (tests/test_distribute.py checks the
exit code, the time and the output).

    raise     rank 1 raises while rank 0 waits in an allreduce
    kill      rank 1 is killed (SIGKILL) while rank 0 waits in an allreduce
    hang      rank 1 never submits the collective rank 0 waits for
    exit      rank 1 returns from the script (clean exit) while rank 0 waits
    mismatch  the ranks allreduce tensors of different shapes, then with
              different ops, then of different names inside a fused
              gradient, then carry on
"""

from __future__ import annotations

import os
import signal
import sys
import time

import tapegrad as tf
import tapegrad.distribute as hvd

scenario = sys.argv[1]
hvd.init(timeout=float(os.environ.get("FAULT_TIMEOUT", "300")))
rank, size = hvd.rank(), hvd.size()
hvd.allreduce(tf.ones(3), name="warm-up")

if scenario == "raise":
    if rank == 1:
        raise ValueError("rank 1 found a bad batch")
    hvd.allreduce(tf.ones(3), name="never-completed")

elif scenario == "kill":
    if rank == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    hvd.allreduce(tf.ones(3), name="never-completed")

elif scenario == "hang":
    if rank == 1:
        time.sleep(120)  # stuck: never submits "lonely"
    hvd.allreduce(tf.ones(3), name="lonely")

elif scenario == "exit":
    if rank == 1:
        hvd.shutdown()
        sys.exit(0)
    hvd.allreduce(tf.ones(3), name="abandoned")

elif scenario == "mismatch":
    try:
        hvd.allreduce(tf.ones(3 + rank), name="weights")
    except hvd.CollectiveMismatchError as err:
        message = str(err)
        assert "'weights'" in message and "float32[3]" in message, message
        assert "float32[4]" in message, message
        print(f"rank {rank} MISMATCH-SHAPE {message!r}", flush=True)
    else:
        raise AssertionError("no error for mismatched shapes")
    # the same tensor averaged on rank 0 and summed elsewhere: one MPI sum,
    # yet different results, so the ranks must agree on the op too
    try:
        hvd.allreduce(tf.ones(2), name="loss", op=hvd.Average if rank == 0 else hvd.Sum)
    except hvd.CollectiveMismatchError as err:
        expected = (
            "op, prescale, postscale: 'average', 1.0, 1.0 on rank 0, 'sum', 1.0, 1.0 on rank 1"
        )
        assert expected in str(err), str(err)
        print(f"rank {rank} MISMATCH-OP {str(err)!r}", flush=True)
    else:
        raise AssertionError("no error for mismatched ops")
    # a model with one variable more on rank 1: its name is reported
    variables = [tf.Variable(tf.ones(2), name="kernel")]
    if rank == 1:
        variables.append(tf.Variable(tf.ones(2), name="extra_bias"))
    with tf.GradientTape() as tape:
        loss = sum(tf.reduce_sum(v * v) for v in variables)
    try:
        hvd.DistributedGradientTape(tape).gradient(loss, variables)
    except hvd.CollectiveMismatchError as err:
        assert "extra_bias" in str(err), str(err)
        print(f"rank {rank} MISMATCH-NAME {str(err)!r}", flush=True)
    else:
        raise AssertionError("no error for mismatched variables")
    # nothing moved, so the ranks are still in step: collectives keep working
    total = hvd.allreduce(tf.constant([1.0]), op=hvd.Sum, name="after").numpy()
    assert total.tolist() == [float(size)], total
    print(f"rank {rank} RECOVERED", flush=True)

else:
    raise SystemExit(f"unknown scenario {scenario!r}")
hvd.shutdown()
