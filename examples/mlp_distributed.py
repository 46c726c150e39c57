"""The digits MLP of ``mlp.py`` trained data-parallel on several processes
with Horovod's API (``docs/distributed.md``):

    mpirun -n 2 python examples/mlp_distributed.py [--check]
    python examples/mlp_distributed.py              # one process, same script

Each step takes the same global batch of 48 examples (same shuffle on every
rank), each rank differentiates the mean loss over its 48/N of them, and
``DistributedGradientTape`` averages the gradients, so N processes follow
the single-process trajectory up to float32 rounding. ``--check`` also
trains the single-process model inside every rank and asserts the same test
accuracy.
"""

from __future__ import annotations

import argparse

import numpy as np
import tapegrad as tf
import tapegrad.distribute as hvd
from _digits import accuracy, load

HIDDEN, EPOCHS, GLOBAL_BATCH, LEARNING_RATE = 64, 60, 48, 0.2


def make_parameters(seed: int) -> list[tf.Variable]:
    rng = np.random.default_rng(seed)
    return [
        tf.Variable(rng.normal(0, 0.1, (64, HIDDEN)).astype(np.float32), name="w1"),
        tf.Variable(np.zeros(HIDDEN, np.float32), name="b1"),
        tf.Variable(rng.normal(0, 0.1, (HIDDEN, 10)).astype(np.float32), name="w2"),
        tf.Variable(np.zeros(10, np.float32), name="b2"),
    ]


def logits_of(params: list[tf.Variable], x: tf.Tensor) -> tf.Tensor:
    w1, b1, w2, b2 = params
    return tf.matmul(tf.nn.relu(tf.matmul(x, w1) + b1), w2) + b2


def loss_of(params: list[tf.Variable], x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits_of(params, x))
    return tf.reduce_mean(ce)


def train(distributed: bool) -> tuple[list[tf.Variable], float, float]:
    x_train, y_train, x_test, y_test = load()
    n = x_train.shape[0]
    # each rank draws other weights (on purpose): broadcast_variables fixes it
    params = make_parameters(seed=hvd.rank() if distributed else 0)
    if distributed:
        hvd.broadcast_variables(params, root_rank=0)  # rank 0's initial weights everywhere
    optimizer = tf.optimizers.SGD(learning_rate=LEARNING_RATE)
    shuffle = np.random.default_rng(1)  # the same order on every rank
    for _epoch in range(EPOCHS):
        order = shuffle.permutation(n)
        for start in range(0, n, GLOBAL_BATCH):
            batch = order[start : start + GLOBAL_BATCH]
            if distributed:
                batch = hvd.shard(batch)  # this rank's part of the global batch
            x, y = tf.gather(x_train, batch), tf.gather(y_train, batch)
            with tf.GradientTape() as tape:
                loss = loss_of(params, x, y)
            if distributed:
                tape = hvd.DistributedGradientTape(tape)
            grads = tape.gradient(loss, params)
            optimizer.apply_gradients(zip(grads, params, strict=True))
    test_accuracy = accuracy(logits_of(params, x_test), y_test)
    return params, float(loss_of(params, x_train, y_train)), test_accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with one process")
    args = parser.parse_args()
    hvd.init()
    params, loss, test_acc = train(distributed=True)
    if hvd.rank() == 0:
        processes = f"{hvd.size()} process" + ("es" if hvd.size() > 1 else "")
        print(f"{processes}: final loss {loss:.4f}, test accuracy {test_acc:.3f}")
    if args.check:
        reference, ref_loss, ref_acc = train(distributed=False)
        if hvd.rank() == 0:
            print(f"1 process: final loss {ref_loss:.4f}, test accuracy {ref_acc:.3f}")
        assert abs(test_acc - ref_acc) <= 0.01, (test_acc, ref_acc)
        for p, q in zip(params, reference, strict=True):
            np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-3, atol=1e-4)
        everyone = hvd.allgather_object([p.numpy().tobytes() for p in params])
        assert all(e == everyone[0] for e in everyone), "parameters differ across ranks"
    hvd.shutdown()


if __name__ == "__main__":
    main()
